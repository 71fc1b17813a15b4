"""Verdicts a referee would sign (issue 27): comparisons beyond noise, arms above their floors, the other
statuses, versions, disclosures, and EXPLAINED only with evidence."""

import json

import pytest

from repro.common.scorecard import (
    BY_CONSTRUCTION,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    UNTESTABLE,
    ExpectedError,
    claim_verdict,
    effect_stats,
    evaluate_expression,
    evaluate_scorecard,
    load_expected,
    version_verdict,
)

CLAIMS = """
paper: demo
disclosures:
  - id: epochs_after_pilot
    what: "epochs 4 -> 8 after a pilot"
    when: "commit abc1234"
    claims: [method_beats_baseline]
claims:
  - name: method_beats_baseline
    claim: the method beats the baseline
    source: Table 1
    scales: [tiny]
    version: 2
    revision: "one seed was inside the noise"
    disclosures: [epochs_after_pilot]
    comparison:
      effects: ["{baseline.loss.per_seed} - {method.loss.per_seed}"]
      arms:
        - {arm: method, check: "{method.loss} < {floor.loss}"}
        - {arm: baseline, check: "{baseline.loss} < {floor.loss}"}
    history:
      - version: 1
        scales: [tiny]
        criterion: "{method.loss} < {baseline.loss}"
  - name: two_domains
    claim: the method wins on both domains
    source: Table 2
    scales: [tiny]
    comparison:
      effects: ["{a.per_seed}", "{b.per_seed}"]
  - name: bootstrapped
    claim: closeness beats self-consistency
    source: Table 3
    scales: [tiny]
    comparison:
      unit: bootstrap
      effects: ["{gap.replicates}"]
      halves: [["{gap.half_a}", "{gap.half_b}"]]
  - {name: adapter, claim: x, source: s, scales: [tiny], not_run: "the decoder adapter is not implemented"}
  - {name: saturates, claim: x, source: s, scales: [tiny], by_construction: "an n-gram generator has finitely many ideas"}
"""

NUMBERS = {
    "method.loss": 1.0,
    "baseline.loss": 1.5,
    "floor.loss": 2.0,
    "method.loss.per_seed": [1.0, 1.1, 0.9, 1.0],
    "baseline.loss.per_seed": [1.6, 1.5, 1.5, 1.4],
    "a.per_seed": [0.3, 0.31, 0.29],
    "b.per_seed": [0.2, 0.21, 0.19],
    "gap.replicates": [0.1, 0.12, 0.08, 0.11, 0.09],
    "gap.half_a": 0.09,
    "gap.half_b": 0.11,
}


@pytest.fixture
def claims(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(CLAIMS)
    return {c.name: c for c in load_expected(path).claims}


def test_a_clear_effect_on_enough_seeds_is_reproduced_and_shown_with_its_noise(claims):
    verdict, detail = claim_verdict(claims["method_beats_baseline"], NUMBERS, "tiny")
    assert verdict == REPRODUCED
    assert "effect +0.5 ± 0.058 SE (n=4 seeds; t = 8.7, 3 df), margin 2 SE = 0.12, halves +0.5 / +0.5" in detail
    assert "halves +0.5 / +0.5" in detail


def test_an_effect_inside_two_standard_errors_is_inconclusive(claims):
    noisy = {**NUMBERS, "method.loss.per_seed": [1.0, 1.9, 0.9, 1.6], "baseline.loss.per_seed": [1.5, 1.0, 1.4, 1.2]}
    verdict, detail = claim_verdict(claims["method_beats_baseline"], noisy, "tiny")
    assert verdict == INCONCLUSIVE and "inside the margin" in detail


def test_halves_that_disagree_make_it_inconclusive():
    from repro.common.scorecard import Comparison

    cmp = Comparison(effects=("{e}",), margin=0.0)
    # mean > 0 beyond a zero margin, but the first half is negative
    stats = effect_stats("{e}", cmp, {"e": [-0.1, -0.1, 0.5, 0.5]})
    assert stats.halves == pytest.approx((-0.1, 0.5)) and stats.verdict == INCONCLUSIVE


def test_a_clear_effect_the_wrong_way_is_not_reproduced(claims):
    worse = {**NUMBERS, "method.loss.per_seed": [2.0, 2.1, 1.9, 2.0]}
    assert claim_verdict(claims["method_beats_baseline"], worse, "tiny")[0] == NOT_REPRODUCED


def test_one_or_two_seeds_are_inconclusive_whatever_the_effect(claims):
    one = {**NUMBERS, "method.loss.per_seed": 1.0, "baseline.loss.per_seed": 1.5}
    verdict, detail = claim_verdict(claims["method_beats_baseline"], one, "tiny")
    assert verdict == INCONCLUSIVE and "1 seed < 3" in detail
    two = {**NUMBERS, "method.loss.per_seed": [1.0, 1.0], "baseline.loss.per_seed": [1.5, 1.6]}
    assert claim_verdict(claims["method_beats_baseline"], two, "tiny")[0] == INCONCLUSIVE


def test_every_arm_must_beat_its_own_floor(claims):
    """The gate min(method, baseline) < floor let one arm pass for two; each arm is checked separately."""
    baseline_fails = {**NUMBERS, "baseline.loss": 2.1}
    verdict, detail = claim_verdict(claims["method_beats_baseline"], baseline_fails, "tiny")
    assert verdict == UNTESTABLE and "arm baseline does not beat its floor" in detail


def test_several_effects_combine_as_a_conjunction(claims):
    assert claim_verdict(claims["two_domains"], NUMBERS, "tiny")[0] == REPRODUCED
    b_noisy = {**NUMBERS, "b.per_seed": [0.2, -0.3, 0.25]}
    assert claim_verdict(claims["two_domains"], b_noisy, "tiny")[0] == INCONCLUSIVE
    b_wrong = {**NUMBERS, "b.per_seed": [-0.2, -0.21, -0.19]}
    assert claim_verdict(claims["two_domains"], b_wrong, "tiny")[0] == NOT_REPRODUCED


def test_a_bootstrap_uses_the_replicates_spread_and_the_named_halves(claims):
    verdict, detail = claim_verdict(claims["bootstrapped"], NUMBERS, "tiny")
    assert verdict == REPRODUCED and "bootstrap replicates" in detail
    split = {**NUMBERS, "gap.half_b": -0.01}
    assert claim_verdict(claims["bootstrapped"], split, "tiny")[0] == INCONCLUSIVE


def test_not_run_and_by_construction_carry_their_reason(claims):
    assert claim_verdict(claims["adapter"], NUMBERS, "tiny") == (NOT_RUN, "the decoder adapter is not implemented")
    verdict, reason = claim_verdict(claims["saturates"], NUMBERS, "tiny")
    assert verdict == BY_CONSTRUCTION and "finitely many" in reason


def test_earlier_versions_are_kept_and_evaluated(claims):
    c = claims["method_beats_baseline"]
    assert [v.version for v in c.versions] == [1, 2]
    assert version_verdict(c.history[0], NUMBERS, "tiny")[0] == REPRODUCED  # v1: one number each, no noise


def test_the_scorecard_shows_versions_disclosures_and_the_new_statuses(tmp_path):
    exp = tmp_path / "demo.yaml"
    exp.write_text(CLAIMS)
    num = tmp_path / "numbers.json"
    num.write_text(json.dumps(NUMBERS))
    card = evaluate_scorecard("tiny", {"demo": num}, [exp], titles={"demo": "Demo"})
    md = card.markdown
    assert "| v2 (one seed was inside the noise) | REPRODUCED |" in md
    assert "↳ method_beats_baseline, superseded | v1 | REPRODUCED |" in md
    assert (
        "### Disclosures (choices made after seeing results)" in md and "**epochs_after_pilot** (commit abc1234)" in md
    )
    assert "disclosed: epochs_after_pilot" in md
    assert card.totals[NOT_RUN] == 1 and card.totals[BY_CONSTRUCTION] == 1
    assert card.claims["demo.method_beats_baseline"]["history"] == [{"version": 1, "verdict": REPRODUCED}]


def test_elementwise_effects_need_lists_of_equal_length():
    assert list(evaluate_expression("{a} - {b}", {"a": [1, 2], "b": [0.5, 0.5]}, elementwise=True)) == [0.5, 1.5]
    assert list(evaluate_expression("{a} - {b}", {"a": [1, 2], "b": 1}, elementwise=True)) == [0.0, 1.0]
    with pytest.raises(ExpectedError, match="unequal length"):
        evaluate_expression("{a} - {b}", {"a": [1, 2], "b": [1, 2, 3]}, elementwise=True)


@pytest.mark.parametrize(
    "claim, match",
    [
        # two kinds at once
        ("{name: c, claim: x, source: s, scales: [tiny], criterion: '{a} > 0', not_run: later}", "exactly one of"),
        # a version >= 2 without its reason
        ("{name: c, claim: x, source: s, scales: [tiny], version: 2, criterion: '{a} > 0'}", "revision"),
        # versions that do not run 1, 2, ...
        (
            "{name: c, claim: x, source: s, scales: [tiny], version: 3, revision: r, criterion: '{a} > 0', "
            "history: [{version: 1, scales: [tiny], criterion: '{a} > 1'}]}",
            "versions must run",
        ),
        # fewer than three units can never split into two halves with noise
        (
            "{name: c, claim: x, source: s, scales: [tiny], comparison: {effects: ['{a}'], min_units: 2}}",
            "min_units",
        ),
        ("{name: c, claim: x, source: s, scales: [tiny], comparison: {effects: ['{a}'], unit: bootstrap}}", "halves"),
        (
            "{name: c, claim: x, source: s, scales: [tiny], comparison: {effects: ['{a}'], arms: [{check: '{a}'}]}}",
            "arm",
        ),
        ("{name: c, claim: x, source: s, scales: [tiny], disclosures: [nope], criterion: '{a} > 0'}", "nope"),
    ],
)
def test_malformed_versions_and_comparisons_are_named_errors(tmp_path, claim, match):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"paper: x\nclaims:\n  - {claim}\n")
    with pytest.raises(ExpectedError, match=match):
        load_expected(bad)


def test_an_explanation_without_evidence_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "paper: x\nentries:\n  - {key: a, published: 1.0, tolerance: {abs: 0.1}, origin: paper, source: s, "
        "scales: [tiny], explained: {reason: settings guessed}}\n"
    )
    with pytest.raises(ExpectedError, match=r"entries\[0\] \(a\): explained needs `evidence:`"):
        load_expected(bad)


def test_notes_origin_is_shown_as_unverified(tmp_path):
    exp = tmp_path / "demo.yaml"
    exp.write_text(
        "paper: demo\nentries:\n  - {key: a, published: 1.0, tolerance: {abs: 0.1}, origin: notes, "
        "source: Table 7 (recalled), scales: [tiny]}\n"
    )
    num = tmp_path / "numbers.json"
    num.write_text(json.dumps({"a": 1.0}))
    card = evaluate_scorecard("tiny", {"demo": num}, [exp], titles={"demo": "Demo"})
    assert "| match | notes - unverified |" in card.markdown


def test_the_readme_block_is_generated_from_the_scorecard(tmp_path):
    from repro.common.scorecard import README_BEGIN, README_END, replace_readme_block, verdict_summary

    exp = tmp_path / "demo.yaml"
    exp.write_text(CLAIMS)
    num = tmp_path / "numbers.json"
    num.write_text(json.dumps(NUMBERS))
    block = verdict_summary(evaluate_scorecard("tiny", {"demo": num}, [exp], titles={"demo": "Demo"}))
    assert block.startswith(README_BEGIN) and block.endswith(README_END)
    assert "| `demo` | 3 | 0 | 0 | 0 | 1 | 1 | 0 of 0 |" in block
    assert "- **demo**: REPRODUCED: `method_beats_baseline`, `two_domains`, `bootstrapped`; NOT RUN: `adapter`" in block
    assert "- **demo** `epochs_after_pilot` (commit abc1234): epochs 4 -> 8 after a pilot. Claims:" in block
    readme = f"intro\n{README_BEGIN}\nold\n{README_END}\nrest\n"
    assert replace_readme_block(readme, block) == f"intro\n{block}\nrest\n"
    with pytest.raises(ExpectedError, match="no verdict block"):
        replace_readme_block("no markers", block)
