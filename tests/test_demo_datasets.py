"""Sanity checks for the built-in demo datasets in resources/datasets/."""
from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "resources" / "datasets"
MAX_BYTES = 200 * 1024


def _read_csv(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["text", "label"]
        return list(reader)


def _check_texts(rows: list[dict[str, str]], key: str) -> None:
    for row in rows:
        for k, v in row.items():
            assert k is not None and v is not None, f"malformed row: {row!r}"
            assert v.strip(), f"empty field {k!r} in {row!r}"
    texts = [r[key].strip().lower() for r in rows]
    dupes = [t for t, n in Counter(texts).items() if n > 1]
    assert not dupes, f"duplicate texts: {dupes[:5]}"


@pytest.mark.parametrize("name", ["sentiment.csv", "topics.csv", "instructions.jsonl",
                                  "README.md", "make_demo_data.py"])
def test_files_exist_and_small(name):
    path = DATA / name
    assert path.is_file()
    assert path.stat().st_size < MAX_BYTES


def test_sentiment():
    rows = _read_csv("sentiment.csv")
    assert len(rows) >= 400
    _check_texts(rows, "text")
    counts = Counter(r["label"] for r in rows)
    assert set(counts) == {"positive", "negative"}
    for label, n in counts.items():
        assert 0.40 <= n / len(rows) <= 0.60, (label, n)
    for r in rows:
        assert 5 <= len(r["text"].split()) <= 30, r["text"]


def test_topics():
    rows = _read_csv("topics.csv")
    assert len(rows) >= 400
    _check_texts(rows, "text")
    counts = Counter(r["label"] for r in rows)
    assert set(counts) == {"sports", "business", "science", "world"}
    for label, n in counts.items():
        assert n / len(rows) >= 0.20, (label, n)


def test_instructions():
    rows = []
    with (DATA / "instructions.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    assert len(rows) >= 120
    for r in rows:
        assert isinstance(r, dict) and set(r) == {"instruction", "response"}, r
        assert isinstance(r["instruction"], str) and isinstance(r["response"], str)
    _check_texts(rows, "instruction")
