"""The round-off study covers exactly the references a CPU can move out of tolerance (issue 25).

benchmarks/results/float_spread.json measures how far each obsscaling number moves when only the float
kernels change. Where that spread exceeds a reference's tolerance, the scorecard's verdict would depend on
the CPU, so the fit must be in ``post_training.roundoff.fits`` and its row must be EXPLAINED by the study's
outcomes (or, like gsm8k_naive.pc3, by a converged fit that reaches the reference on every CPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.common.scorecard import load_expected
from repro.obsscaling import steps

ROOT = Path(__file__).resolve().parents[3]


def test_fits_whose_float_spread_exceeds_their_tolerance_are_studied(paper_params):
    spread = json.loads((ROOT / "benchmarks/results/float_spread.json").read_text())["exact"]["papers"]["obsscaling"]
    # the paper scale is the base block itself, as params.yaml writes it
    studied = set(paper_params("obsscaling", "paper")["post_training"]["roundoff"]["fits"])
    sensitive, rows = set(), {}
    for entry in load_expected(ROOT / "workflow/expected/obsscaling.yaml").entries:
        moved = spread["keys"].get(entry.key)
        if entry.published is None or entry.rtol is None or moved is None or isinstance(entry.published, tuple):
            continue
        if moved["rel"] > entry.rtol:
            sensitive.add(entry.key)
            rows[entry.key] = entry
    assert sensitive, "the spread record shows no CPU-sensitive reference: is it stale?"
    for key in sorted(sensitive):
        entry = rows[key]
        assert entry.explained is not None and entry.explained.evidence is not None, key
        fit = key.removeprefix("post_training.").removesuffix(".test_mse")
        converged = entry.explained.evidence == f"{key}_converged"
        assert converged or (fit in studied and entry.explained.evidence == f"{key}_roundoff"), key
    # ... and nothing else is studied (each study costs 64 refits)
    assert studied == {k.removeprefix("post_training.").removesuffix(".test_mse") for k in sensitive}


def test_an_unknown_roundoff_fit_is_named(obs_data, params, step_config):
    params["post_training"]["roundoff"]["fits"] = ["gsm8k_naive.pc9"]
    with pytest.raises(ValueError, match=r"roundoff.fits: \['gsm8k_naive.pc9'\] are not fits of this step"):
        steps.post_training_step(obs_data, step_config("post_training", params))


def test_the_study_reaches_both_outcomes_of_a_bistable_fit(obs_data, params, step_config):
    """gsm8k_naive.pc3 under the authors' optimiser: 6.88e-4 or ~7.25e-4, whichever this CPU's rounding gives."""
    params["post_training"].update(converged_tol=None, notebook_pca_components=None, predictors=["pc3"])
    params["post_training"]["targets"] = {"gsm8k_naive": params["post_training"]["targets"]["gsm8k_naive"]}
    params["post_training"]["roundoff"]["fits"] = ["gsm8k_naive.pc3"]
    out = steps.post_training_step(obs_data, step_config("post_training", params)).numbers["post_training"]
    draws = out["gsm8k_naive"]["pc3"]["test_mse_roundoff"]
    assert len(draws) == params["post_training"]["roundoff"]["draws"] and draws == sorted(draws)
    assert any(abs(d - 6.88e-4) < 7e-6 for d in draws) and any(abs(d - 7.25e-4) < 7e-6 for d in draws)
