"""The development corpus targets, the same targets on the hand-written hold-out set, and its
well-formedness.

Speed is reported by `pupilpost classify-eval`, never asserted here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.classifier.evaluate import evaluate, load_jsonl

REPO = Path(__file__).resolve().parents[3]
DEV = REPO / ".." / "shared" / "data" / "classifier" / "dev.jsonl"
HOLDOUT = REPO / "tests" / "fixtures" / "classifier_holdout.jsonl"
PII_ORDER = ["person_name", "date_of_birth", "email", "phone", "address", "upn", "nhs_number", "ni_number",
             "bank_account"]


@pytest.mark.skipif(not DEV.exists(), reason=f"development corpus not found at {DEV} (shared data not checked out)")
def test_development_corpus_targets() -> None:
    report = evaluate(load_jsonl(str(DEV)), passes=0)
    sensitive = report.levels["official-sensitive"]
    assert sensitive.recall >= 0.97, report.errors
    assert sensitive.precision >= 0.90, report.errors
    assert report.other_pupil.recall >= 0.99, report.errors
    assert report.other_pupil.precision >= 0.98, report.errors


def test_holdout_meets_the_same_targets() -> None:
    """Messages written apart from the development corpus: the classifier must generalise to them."""
    report = evaluate(load_jsonl(str(HOLDOUT)), passes=0)
    sensitive = report.levels["official-sensitive"]
    assert sensitive.support >= 40 and report.other_pupil.support >= 10
    assert sensitive.recall >= 0.97, report.errors
    assert sensitive.precision >= 0.90, report.errors
    assert report.other_pupil.recall >= 0.99, report.errors
    assert report.other_pupil.precision >= 0.98, report.errors


def test_holdout_set_is_well_formed() -> None:
    rows = [json.loads(line) for line in HOLDOUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 80
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["level"] in ("public", "official", "official-sensitive")
        assert (r["level"] == "official-sensitive") == (bool(r["categories"]) and r["personal"]), r["id"]
        assert (r["level"] == "public") == (not r["personal"]), r["id"]
        assert r["pii"] == [k for k in PII_ORDER if k in r["pii"]], r["id"]
        if r["recipient_pupil"] is None:
            assert r["roster"] is None and r["other_pupil_named"] is None, r["id"]
        else:
            assert r["recipient_pupil"] in r["roster"] and 6 <= len(r["roster"]) <= 12, r["id"]
            assert isinstance(r["other_pupil_named"], bool), r["id"]
