"""Scoring the classifier against a labelled corpus: precision/recall/F1, confusion, PII, other-pupil, speed."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.classifier.classify import classify
from services.classifier.model import PII_ORDER, Category, Classification, Level

LEVELS = [str(lv) for lv in Level]
CATEGORIES = [str(c) for c in Category]


@dataclass
class Counts:
    """True positives, false positives and false negatives of one label."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: bool, expected: bool) -> None:
        self.tp += predicted and expected
        self.fp += predicted and not expected
        self.fn += expected and not predicted

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        return self.tp + self.fn


@dataclass
class Report:
    """Everything `classify-eval` prints."""

    n: int = 0
    levels: dict[str, Counts] = field(default_factory=lambda: {lv: Counts() for lv in LEVELS})
    categories: dict[str, Counts] = field(default_factory=lambda: {c: Counts() for c in CATEGORIES})
    pii: dict[str, Counts] = field(default_factory=lambda: {k: Counts() for k in PII_ORDER})
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    other_pupil: Counts = field(default_factory=Counts)
    personal: Counts = field(default_factory=Counts)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)

    def add(self, row: Mapping[str, Any], result: Classification) -> None:
        self.n += 1
        want_level, got_level = row["level"], str(result.level)
        for lv in LEVELS:
            self.levels[lv].add(got_level == lv, want_level == lv)
        self.confusion[(want_level, got_level)] = self.confusion.get((want_level, got_level), 0) + 1
        got_cats = {str(c) for c in result.categories}
        for c in CATEGORIES:
            self.categories[c].add(c in got_cats, c in row["categories"])
        for k in PII_ORDER:
            self.pii[k].add(k in result.pii, k in row["pii"])
        self.personal.add(result.personal, bool(row["personal"]))
        if row.get("other_pupil_named") is not None:
            self.other_pupil.add(bool(result.other_pupil_named), bool(row["other_pupil_named"]))
        problems = _differences(row, result, got_cats)
        if problems:
            self.errors.append({"id": row.get("id"), "problem": "; ".join(problems)})


def _differences(row: Mapping[str, Any], result: Classification, got_cats: set[str]) -> list[str]:
    out = []
    if str(result.level) != row["level"]:
        out.append(f"level {row['level']} -> {result.level}")
    if got_cats != set(row["categories"]):
        out.append(f"categories {sorted(row['categories'])} -> {sorted(got_cats)}")
    if row.get("other_pupil_named") is not None and bool(result.other_pupil_named) != row["other_pupil_named"]:
        out.append(f"other_pupil_named {row['other_pupil_named']} -> {result.other_pupil_named}")
    if list(result.pii) != list(row["pii"]):
        out.append(f"pii {row['pii']} -> {list(result.pii)}")
    return out


def evaluate(rows: Sequence[Mapping[str, Any]], *, passes: int = 5) -> Report:
    """Score every row, then time `passes` more passes over the corpus on this thread.

    The scoring pass doubles as the warm-up (rosters are built and cached, as the service keeps
    one per school). Latency is per message: CPU time of this thread (what one core spends, not
    inflated by other processes on a shared machine) and wall-clock time.
    """
    report = Report()
    for row in rows:
        missing = [f for f in ("text", "level", "categories", "pii", "personal") if f not in row]
        if missing:
            raise ValueError(f"row {row.get('id')!r} lacks labelled field(s): {', '.join(missing)}")
    calls = [((row.get("subject") or "", row["text"]),
              {"recipient_pupil": row.get("recipient_pupil"), "roster": row.get("roster")}) for row in rows]
    for row, (args, kwargs) in zip(rows, calls, strict=True):
        report.add(row, classify(*args, **kwargs))
    cpu, wall = time.thread_time_ns, time.perf_counter_ns
    for _ in range(passes):
        for args, kwargs in calls:
            c0, w0 = cpu(), wall()
            classify(*args, **kwargs)
            report.cpu_ms.append((cpu() - c0) / 1e6)
            report.wall_ms.append((wall() - w0) / 1e6)
    return report


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def format_report(report: Report, title: str = "") -> str:
    """The human-readable evaluation report."""
    lines = [f"== {title} ({report.n} messages) ==" if title else f"== {report.n} messages =="]
    lines += _table("Level", report.levels)
    lines.append("")
    lines.append("Confusion (rows = labelled, columns = predicted)")
    lines.append(f"{'':>20}" + "".join(f"{lv:>20}" for lv in LEVELS))
    for want in LEVELS:
        lines.append(f"{want:>20}" + "".join(f"{report.confusion.get((want, got), 0):>20}" for got in LEVELS))
    lines.append("")
    lines += _table("Category", report.categories)
    lines.append("")
    lines += _table("PII kind", report.pii)
    lines.append("")
    lines += _table("Flag", {"personal": report.personal, "other_pupil_named": report.other_pupil})
    lines.append("")
    for name, lat in (("CPU time (one core)", report.cpu_ms), ("wall clock", report.wall_ms)):
        total_s = sum(lat) / 1000
        rate = len(lat) / total_s if total_s else 0.0
        lines.append(f"Throughput, {name}: {rate:,.0f} messages/s; latency per message p50 "
                     f"{percentile(lat, 50):.3f} ms, p99 {percentile(lat, 99):.3f} ms, "
                     f"max {max(lat, default=0):.3f} ms "
                     f"({len(lat)} timed classifications)")
    return "\n".join(lines)


def _table(name: str, counts: Mapping[str, Counts]) -> list[str]:
    out = [f"{name:<20}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}{'predicted':>10}"]
    for label, c in counts.items():
        out.append(f"{label:<20}{c.precision:>10.3f}{c.recall:>10.3f}{c.f1:>10.3f}{c.support:>10}{c.tp + c.fp:>10}")
    return out


def load_jsonl(path: str) -> list[dict[str, Any]]:
    """Rows of a JSON Lines corpus (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
