"""entigraph smoke run: every rule on the smoke config, the numbers.json contract, figures and the scorecard."""

from __future__ import annotations

from workflow_helpers import smoke_run


def test_entigraph_smoke_run(smoke_repo):
    required = (
        ["math.plateau", "math.reachable_fraction", "math.fit_rmse", "math.c_lambda", "math.rho"]
        + [f"tiny.{m}.{b}.qa_accuracy" for m in ("raw", "rephrase", "entigraph") for b in (500, 1000)]
        + [f"tiny.{m}.{b}.count_floor_qa_accuracy" for m in ("raw", "rephrase", "entigraph") for b in (500, 1000)]
        + ["tiny.entigraph.fit_rmse", "tiny.rag.base.qa_accuracy", "tiny.rag.entigraph.qa_accuracy"]
        + ["tiny.base.qa_accuracy", "tiny.floor.random.qa_accuracy", "data.tokens.entigraph", "synth.n_calls"]
    )
    numbers, _ = smoke_run(smoke_repo, "entigraph", required, ("toy_model", "scaling"), cores=2, timeout=600)
    assert numbers["math.plateau"] == numbers["math.reachable_fraction"]
    assert numbers["tiny.floor.random.qa_accuracy"] == 0.25
    assert numbers["synth.backend"] == "entigraph_template"
    # one CPT run per seed (smoke: 2): per-seed lists in seed order, their mean under the plain key
    assert numbers["tiny.seeds"] == [0, 1]
    for key in ("tiny.entigraph.max.qa_accuracy", "tiny.raw.1000.qa_accuracy", "tiny.rag.entigraph.qa_accuracy"):
        per_seed = numbers[f"{key}.per_seed"]
        assert len(per_seed) == 2
        assert abs(numbers[key] - sum(per_seed) / 2) < 1e-12
    assert numbers["tiny.entigraph.loglinear_slope"] is None  # 2 budgets: no log-linear line (it needs 3)
    assert numbers["tiny.entigraph.fit_bounded.plateau"] <= 1.0
