"""Expression methods, TV, temperature scaling, bootstrap: known answers, invariants and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from repro.distalign import metrics as M

L4 = ["A", "B", "C", "D"]


def test_tv_known_answer_and_no_renormalisation():
    assert M.tv([1, 0], [0, 1]) == 1.0
    assert M.tv([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert M.tv([0.2, 0.2], [0.5, 0.5]) == pytest.approx(0.3)  # p_hat sums to 0.4: not renormalised
    with pytest.raises(ValueError, match="shapes"):
        M.tv([1, 0], [1, 0, 0])


def test_verbalized_percent_strings_and_missing_letters():
    r = M.parse_verbalized("Sure: {'A': '15%', 'B': '35%', 'C': '50%'}", L4)
    assert r.ok and np.allclose(r.p, [0.15, 0.35, 0.5, 0.0])
    r = M.parse_verbalized('{"a": 0.25, "B": 0.75}', ["A", "B"])
    assert r.ok and np.allclose(r.p, [0.25, 0.75])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", M.FAIL_EMPTY),
        ("no dict here", M.FAIL_INVALID_JSON),
        ("{'A': '15%', 'B': }", M.FAIL_INVALID_JSON),
        ("{'A': '50%', 'E': '50%'}", M.FAIL_UNKNOWN_OPTION),
        ("{'A': 'lots', 'B': '50%'}", M.FAIL_BAD_VALUE),
        ("{'A': '-5%', 'B': '50%'}", M.FAIL_BAD_VALUE),
        ("{'A': '10%', 'B': '20%'}", M.FAIL_SUM),
    ],
)
def test_verbalized_failures_are_counted_with_a_reason(text, reason):
    r = M.parse_verbalized(text, L4)
    assert not r.ok and r.p is None and r.failure == reason


def test_verbalized_authors_policy_drops_unknown_and_truncates_percent():
    # the released GPT-4 TVs show both: 'E' is dropped and '0.5%' counts as 0
    text = "{'A': '30%', 'B': '69.5%', 'C': '0.5%', 'E': '5%'}"
    r = M.parse_verbalized(text, ["A", "B", "C"], unknown_option="drop", sum_tol=None, integer_percent=True)
    assert r.ok and np.allclose(r.p, [0.30, 0.69, 0.0]) and "dropped:E" in r.detail
    with pytest.raises(ValueError, match="unknown_option"):
        M.parse_verbalized(text, L4, unknown_option="ignore")


def test_sequence_divides_by_total_length():
    r = M.parse_sequence("A A B b C", L4)  # spaces removed -> 5 characters, either case counts
    assert np.allclose(r.p, [0.4, 0.4, 0.2, 0.0])
    r = M.parse_sequence("AAB,", ["A", "B"])  # stray character lowers every share
    assert np.allclose(r.p, [0.5, 0.25])
    assert M.parse_sequence("   ", L4).failure == M.FAIL_EMPTY


def test_logprobs_merge_stripped_lowercased_tokens():
    top = {"A": np.log(0.5), " a": np.log(0.1), "B": np.log(0.3), "xyz": np.log(0.1)}
    r = M.parse_logprobs(top, ["A", "B", "C"])
    assert np.allclose(r.p, [0.6, 0.3, 0.0])
    assert M.parse_logprobs({}, L4).failure == M.FAIL_EMPTY


def test_temperature_scaling_invariants_and_fit():
    p = np.array([0.7, 0.2, 0.1, 0.0])
    assert np.allclose(M.temperature_scale(p, 1.0), p / p.sum())
    flat = M.temperature_scale(p, 1e6)
    assert np.allclose(flat[:3], 1 / 3, atol=1e-4) and flat[3] == 0.0
    rng = np.random.default_rng(0)
    truths = [rng.dirichlet(np.ones(4)) for _ in range(50)]
    preds = [M.temperature_scale(t, 1 / 3.0) for t in truths]  # sharpened by T = 1/3
    t, mean_tv = M.fit_temperature(preds, truths)
    assert t == pytest.approx(3.0, rel=1e-3) and mean_tv < 1e-4
    with pytest.raises(ValueError):
        M.fit_temperature([], [])


def test_bootstrap_and_floor_are_deterministic_and_sensible():
    rng = np.random.default_rng(0)
    a, b = np.tile([0.1, 0.2, np.nan, 0.3], 10), np.array([0.5, 0.5])
    plain, mean, lo, hi = M.bootstrap_mean([a, b], 200, np.random.default_rng(1))
    assert plain == pytest.approx((0.2 + 0.5) / 2) and lo <= mean <= hi
    assert M.bootstrap_mean([a, b], 200, np.random.default_rng(1)) == (plain, mean, lo, hi)
    assert M.sample_floor(np.array([1.0, 0.0]), 30, 10, rng) == 0.0
    # E|Bin(30, .5)/30 - .5| ~ 0.0722 -> TV of two options = that
    assert M.sample_floor(np.array([0.5, 0.5]), 30, 4000, rng) == pytest.approx(0.0722, abs=4e-3)
