"""repro.common.scorecard: statuses, EXPLAINED entries, set references, claims and their verdicts."""

import json

import pytest

from repro.common.scorecard import (
    EXPLAINED,
    MATCH,
    MISMATCH,
    MISSING,
    NOT_AT_SCALE,
    NOT_REPRODUCED,
    REPORTED,
    REPRODUCED,
    UNTESTABLE,
    ExpectedError,
    build_scorecard,
    check_partial,
    check_scorecard,
    claim_verdict,
    evaluate_expression,
    evaluate_scorecard,
    load_expected,
    status,
)

EXPECTED = """
paper: demo
entries:
  - {key: a, published: 1.0, tolerance: {abs: 0.01}, origin: paper, source: Table 1, scales: [tiny, paper]}
  - {key: b, published: 2.0, tolerance: {rtol: 0.1}, origin: authors_code, source: Fig. 2, scales: [tiny]}
  - {key: c, published: 3.0, tolerance: {rtol: 0.1}, origin: paper, source: Fig. 3, scales: [paper],
     note: only meaningful at paper scale}
  - {key: d, published: null, source: App. C, scales: [tiny]}
  - {key: e, published: 1.0, tolerance: {abs: 0.1}, origin: paper, source: Table 9, scales: [tiny]}
  - key: f
    published: 5.0
    tolerance: {rtol: 0.01}
    origin: authors_code
    source: Table 4
    scales: [tiny]
    explained: {reason: "the optimiser stops early; converged fit matches", evidence: f_converged}
  - key: g
    published: 5.0
    tolerance: {rtol: 0.01}
    origin: authors_code
    source: Table 4
    scales: [tiny]
    explained: {reason: "claims a cause, but the evidence does not match", evidence: g_converged}
  - {key: h, published: [x, y], tolerance: {set: true}, origin: authors_code, source: nb, scales: [tiny]}
claims:
  - name: beats_floor
    claim: the model beats the floor
    source: Sec. 3
    scales: [tiny]
    criterion: "{model.loss} < {floor.loss}"
  - name: needs_learning
    claim: a beats b
    source: Sec. 4
    scales: [tiny]
    criterion: "{a} > 2 * {b}"
    requires:
      - {check: "{model.loss} < 0.9 * {floor.loss}", reason: the model does not clearly beat its floor}
  - name: long_context
    claim: keeps improving at 16k
    source: Fig. 1
    scales: [tiny]
    untestable: needs 16k contexts
"""
# The registry's titles (repro.common.registry.Registry.titles), the only place a title is typed.
TITLES = {"demo": "Demo paper (Doe 2024)"}
NUMBERS = {
    "a": 1.005,
    "b": 2.5,
    "c": 3.0,
    "d": 0.7,
    "f": 4.0,
    "f_converged": 5.02,
    "g": 4.0,
    "g_converged": 4.0,
    "h": ["y", "x"],
    "model.loss": 3.0,
    "floor.loss": 3.2,
}


@pytest.fixture
def files(tmp_path):
    exp = tmp_path / "demo.yaml"
    exp.write_text(EXPECTED)
    num = tmp_path / "numbers.json"
    num.write_text(json.dumps(NUMBERS))
    return exp, num


def test_statuses(files):
    exp, _ = files
    pe = load_expected(exp)
    got = {e.key: status(e, NUMBERS, "tiny")[0] for e in pe.entries}
    assert got == {
        "a": MATCH,
        "b": MISMATCH,
        "c": NOT_AT_SCALE,
        "d": REPORTED,
        "e": MISSING,
        "f": EXPLAINED,
        "g": MISMATCH,
        "h": MATCH,
    }


def test_claim_verdicts(files):
    exp, _ = files
    claims = {c.name: c for c in load_expected(exp).claims}
    assert claim_verdict(claims["beats_floor"], NUMBERS, "tiny")[0] == REPRODUCED
    assert claim_verdict(claims["beats_floor"], {**NUMBERS, "model.loss": 4.0}, "tiny")[0] == NOT_REPRODUCED
    verdict, detail = claim_verdict(claims["needs_learning"], NUMBERS, "tiny")
    assert verdict == UNTESTABLE and "does not clearly beat its floor" in detail and "floor.loss = 3.2" in detail
    assert claim_verdict(claims["long_context"], NUMBERS, "tiny") == (UNTESTABLE, "needs 16k contexts")
    assert claim_verdict(claims["beats_floor"], NUMBERS, "paper")[0] == NOT_AT_SCALE
    assert claim_verdict(claims["beats_floor"], {"model.loss": 1.0}, "tiny")[0] == MISSING


def test_scorecard_lists_every_row_and_fails_on_mismatch_and_missing(files):
    exp, num = files
    card = evaluate_scorecard("tiny", {"demo": num}, [exp], titles=TITLES)
    md = card.markdown
    assert "# Scorecard (tiny scale)" in md and md.count("| `") == 8
    assert "EXPLAINED: the optimiser stops early" in md and "f_converged" in md
    assert "authors' code on released data" in md and "REPRODUCED" in md and "UNTESTABLE" in md
    assert sorted(f.split(":")[1].strip() for f in card.failures) == ["b", "e", "g"]
    with pytest.raises(AssertionError, match="3 scorecard failure"):
        check_scorecard(card)
    assert build_scorecard("tiny", {"demo": num}, [exp], titles=TITLES) == md
    assert "## demo: Demo paper (Doe 2024)" in md  # the heading's title is the registry's


def test_check_partial_compares_only_present_keys(files):
    exp, _ = files
    compared, failures = check_partial(load_expected(exp), {"a": 1.0, "b": 9.0}, "tiny")
    assert compared == 2 and len(failures) == 1 and failures[0].startswith("b:")


def test_paper_without_numbers_is_reported_not_dropped(files):
    exp, _ = files
    assert "Not run at tiny scale" in build_scorecard("tiny", {}, [exp], titles=TITLES)


@pytest.mark.parametrize(
    "entry, match",
    [
        ("{key: a, published: 1.0, source: s, scales: [tiny], origin: paper}", "tolerance"),
        ("{key: a, published: 1.0, tolerance: {abs: 1}, source: s, scales: [tiny]}", "origin"),
        ("{key: a, published: [x], tolerance: {abs: 1}, origin: paper, source: s, scales: [tiny]}", "set: true"),
        (
            "{key: a, published: 1.0, tolerance: {abs: 1}, origin: paper, source: s, scales: [tiny], explained: oops}",
            "explained",
        ),
        ("{key: a, publishd: 1.0, source: s, scales: [tiny]}", "published"),
    ],
)
def test_malformed_entries_are_named_errors(tmp_path, entry, match):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"paper: x\nentries:\n  - {entry}\n")
    with pytest.raises(ExpectedError, match=match):
        load_expected(bad)


@pytest.mark.parametrize(
    "claim, match",
    [
        ("{name: c, claim: x, source: s, scales: [tiny]}", "criterion"),
        ("{name: c, claim: x, source: s, scales: [tiny], criterion: '{a} <'}", "criterion"),
        ("{name: c, claim: x, source: s, scales: [tiny], criterion: '__import__(\"os\")'}", "unsupported"),
        ("{name: C-1, claim: x, source: s, scales: [tiny], criterion: '{a} < 1'}", "lower-case"),
    ],
)
def test_malformed_claims_are_named_errors(tmp_path, claim, match):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"paper: x\nclaims:\n  - {claim}\n")
    with pytest.raises(ExpectedError, match=match):
        load_expected(bad)


def test_expression_evaluator_is_restricted_and_names_missing_keys():
    assert evaluate_expression("abs({a.b} - 1) < 0.5 and not {c} > 2", {"a.b": 1.2, "c": 1}) is True
    assert evaluate_expression("min({a}, {b}) * 2", {"a": 1.0, "b": 3.0}) == 2.0
    with pytest.raises(KeyError, match="zz"):
        evaluate_expression("{zz} > 0", {})


def test_list_valued_evidence_needs_one_matching_value(tmp_path):
    """A round-off study's outcomes as evidence: EXPLAINED only if one of them reaches the reference."""
    exp = tmp_path / "demo.yaml"
    exp.write_text(
        "paper: demo\nentries:\n"
        "  - key: fit\n    published: 0.0107\n    tolerance: {rtol: 0.01}\n    origin: authors_code\n"
        "    source: notes\n    scales: [tiny]\n"
        "    explained: {reason: bistable under round-off, evidence: fit_roundoff}\n"
    )
    entry = load_expected(exp).entries[0]
    reached = {"fit": 0.00998, "fit_roundoff": [0.00965, 0.00998, 0.01073]}
    assert status(entry, reached, "tiny")[0] == EXPLAINED
    assert status(entry, {**reached, "fit_roundoff": [0.00965, 0.00998, 0.0113]}, "tiny")[0] == MISMATCH
    assert status(entry, {**reached, "fit_roundoff": []}, "tiny")[0] == MISMATCH
    card = evaluate_scorecard("tiny", {"demo": _write(tmp_path, reached)}, [exp], titles=TITLES)
    assert "1 of 3 within tolerance, range 9.650e-03-0.0107" in card.markdown


def _write(tmp_path, numbers):
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps(numbers))
    return path


def test_a_title_in_an_expected_file_is_refused_naming_the_file(files, tmp_path):
    """A title typed in an expected file could disagree with the registry's (two did): the loader refuses it."""
    exp, _ = files
    bad = tmp_path / "titled.yaml"
    bad.write_text(exp.read_text().replace("paper: demo\n", "paper: demo\ntitle: Demo paper\n"))
    with pytest.raises(ExpectedError, match=r"titled\.yaml: top-level key 'title' is not allowed.*papers\.demo\.title"):
        load_expected(bad)


def test_a_paper_without_a_registry_title_is_refused(files):
    exp, num = files
    with pytest.raises(ExpectedError, match=r"demo\.yaml: paper 'demo' has no title in the registry"):
        evaluate_scorecard("tiny", {"demo": num}, [exp], titles={"other": "Another paper"})
