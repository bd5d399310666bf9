"""`pupilpost classify` and `pupilpost classify-eval`: the classifier from the command line."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import click

# The classifier itself is imported inside the commands: compiling its lexicons takes a few hundred
# milliseconds, which every other `pupilpost` command should not pay.


class BadLine(ValueError):
    """A JSON line that cannot be classified; `message_id` is its id when one could be read."""

    def __init__(self, problem: str, message_id: Any = None) -> None:
        super().__init__(problem)
        self.message_id = message_id


def parse_line(line: str) -> dict[str, Any]:
    """Validate one input line: an object with a string `text` (other fields optional and typed)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(row, dict):
        raise BadLine("expected a JSON object")
    mid = row.get("id")
    if not isinstance(row.get("text"), str):
        raise BadLine("missing or non-string field 'text'", mid)
    if not isinstance(row.get("subject", ""), str | None):
        raise BadLine("field 'subject' must be a string", mid)
    recipient = row.get("recipient_pupil")
    if recipient is not None and not isinstance(recipient, str):
        raise BadLine("field 'recipient_pupil' must be a string or null", mid)
    roster = row.get("roster")
    if roster is not None and (not isinstance(roster, list) or not all(isinstance(n, str) for n in roster)):
        raise BadLine("field 'roster' must be a list of strings or null", mid)
    return row


def classify_row(row: dict[str, Any]) -> dict[str, Any]:
    """The output object for one valid input row."""
    from services.classifier.classify import classify, combined_text

    subject, text = row.get("subject") or "", row["text"]
    result = classify(subject, text, recipient_pupil=row.get("recipient_pupil"), roster=row.get("roster"))
    return {"id": row.get("id"), **result.as_dict(combined_text(subject, text))}


def run_lines(lines: Iterable[str], out: TextIO) -> int:
    """Classify JSON lines to `out`; return how many lines were bad (each reported, processing goes on)."""
    bad = 0
    for line in _non_blank(lines):
        try:
            record = classify_row(parse_line(line))
        except BadLine as exc:
            bad += 1
            record = {"id": exc.message_id, "error": str(exc)}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return bad


def _non_blank(lines: Iterable[str]) -> Iterator[str]:
    return (line for line in lines if line.strip())


@click.command("classify")
def classify_command() -> None:
    """Classify messages: JSON Lines on stdin (id, subject, text[, recipient_pupil, roster]) -> JSON Lines."""
    bad = run_lines(sys.stdin, sys.stdout)
    sys.stdout.flush()
    if bad:
        click.echo(f"classify: {bad} bad line(s)", err=True)
        sys.exit(1)


@click.command("classify-eval")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False))
@click.option("--passes", default=5, show_default=True, type=click.IntRange(1, 100),
              help="Timing passes over the corpus (after one warm-up pass).")
@click.option("--show-errors/--no-show-errors", default=True, show_default=True,
              help="List the ids whose level or categories differ from the labels.")
def classify_eval_command(corpus: str, passes: int, show_errors: bool) -> None:
    """Score the classifier on a labelled corpus: per-level/category P/R/F1, confusion, PII, speed."""
    from services.classifier.evaluate import evaluate, format_report, load_jsonl

    try:
        report = evaluate(load_jsonl(corpus), passes=passes)
    except (ValueError, KeyError, TypeError) as exc:  # json errors are ValueErrors too
        raise click.ClickException(f"{corpus}: {exc}") from None
    click.echo(format_report(report, corpus))
    if show_errors and report.errors:
        click.echo("")
        click.echo("Differences from the labels:")
        for err in report.errors:
            click.echo(f"  {err['id']}: {err['problem']}")
