"""repro.obsscaling.figures: every figure builds from the steps' tables and saves as PNG+PDF."""

from __future__ import annotations

import pytest

from repro.common.plotting import savefig
from repro.obsscaling import figures, steps


@pytest.fixture(scope="module")
def tables(obs_data, obs_params):
    import copy

    params = copy.deepcopy(obs_params)
    params["post_training"].update(converged_tol=None, notebook_pca_components=None)
    cap = steps.capability_step(obs_data, params)
    from repro.obsscaling.capability import family_loglinearity

    return {
        "cap": cap.tables,
        "fam": family_loglinearity(cap.tables["scores"]),
        "post": steps.post_training_step(obs_data, params).tables,
        "agents": steps.agents_step(obs_data, params).tables,
    }


def test_figures_build_and_save(tables, tmp_path):
    figs = {
        "pca": figures.plot_capability_space(tables["cap"]["scree"], tables["cap"]["loadings"]),
        "family": figures.plot_family_loglinear(tables["cap"]["scores"], tables["fam"]),
        "post": figures.plot_predicted_vs_equivalent_compute(
            tables["post"]["predictions"], tables["post"]["fits"], ["gsm8k_naive", "gsm8k_cot"], "pc3",
            cutoff_log10=1.924,
        ),  # fmt: skip
        "agents": figures.plot_predicted_vs_equivalent_compute(
            tables["agents"]["predictions"], tables["agents"]["fits"], ["agentbench"], "pc3", heldout_top=True,
            reference_family="Llama-2-Chat",
        ),  # fmt: skip
    }
    assert len(figs["pca"].axes) == 2 and len(figs["post"].axes) == 2
    for name, fig in figs.items():
        out = savefig(fig, tmp_path / f"{name}.png")
        assert out.stat().st_size > 1000 and out.with_suffix(".pdf").exists()


def test_subset_curve_figure(tmp_path):
    import pandas as pd

    curve = pd.DataFrame(
        {
            "budget": [4, 8, 4, 8, 4, 8],
            "method": ["vopt", "vopt", "random", "random", "all", "all"],
            "gmean_test_mse": [1e-2, 5e-3, 3e-2, 2e-2, 3e-3, 3e-3],
            "low": [1e-2, 5e-3, 2e-2, 1e-2, 3e-3, 3e-3],
            "high": [1e-2, 5e-3, 4e-2, 3e-2, 3e-3, 3e-3],
        }
    )
    fig = figures.plot_subset_curve(curve, n_all=47)
    assert fig.axes[0].get_yscale() == "log"
    savefig(fig, tmp_path / "subset.png")
