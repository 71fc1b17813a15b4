import json

import pytest

from repro.common.scorecard import MATCH, MISMATCH, MISSING, NOT_AT_SCALE, REPORTED, ExpectedError, build_scorecard, load_expected, status

EXPECTED = """
paper: demo
title: Demo paper
entries:
  - key: a
    published: 1.0
    tolerance: {abs: 0.01}
    source: Table 1
    scales: [tiny, paper]
  - key: b
    published: 2.0
    tolerance: {rtol: 0.1}
    source: Fig. 2
    scales: [tiny]
  - key: c
    published: 3.0
    tolerance: {rtol: 0.1}
    source: Fig. 3
    scales: [paper]
    note: only meaningful at paper scale
  - key: d
    published: null
    source: App. C
    scales: [tiny]
  - key: e
    published: 1.0
    tolerance: {abs: 0.1}
    source: Table 9
    scales: [tiny]
"""


@pytest.fixture
def files(tmp_path):
    exp = tmp_path / "demo.yaml"
    exp.write_text(EXPECTED)
    num = tmp_path / "numbers.json"
    num.write_text(json.dumps({"a": 1.005, "b": 2.5, "c": 3.0, "d": 0.7}))
    return exp, num


def test_statuses(files):
    exp, num = files
    pe = load_expected(exp)
    numbers = json.loads(num.read_text())
    got = {e.key: status(e, numbers, "tiny")[0] for e in pe.entries}
    assert got == {"a": MATCH, "b": MISMATCH, "c": NOT_AT_SCALE, "d": REPORTED, "e": MISSING}


def test_build_scorecard_lists_every_entry(files):
    exp, num = files
    md = build_scorecard("tiny", {"demo": num}, [exp])
    assert "# Scorecard (tiny scale)" in md
    assert md.count("| `") == 5
    assert "MISMATCH" in md and "only meaningful at paper scale" in md
    assert "Totals: 1 MISMATCH, 1 match, 1 missing, 1 n/a at this scale, 1 reported." in md


def test_paper_without_numbers_is_reported_not_dropped(files):
    exp, _ = files
    assert "Not run at tiny scale" in build_scorecard("tiny", {}, [exp])


def test_published_value_without_tolerance_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("paper: x\ntitle: t\nentries:\n  - {key: a, published: 1.0, source: s, scales: [tiny]}\n")
    with pytest.raises(ExpectedError, match="tolerance"):
        load_expected(bad)
