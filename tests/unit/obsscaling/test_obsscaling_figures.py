"""repro.obsscaling.figures: every registered figure builds from the steps' tables and saves as PNG+PDF."""

from __future__ import annotations

import pytest

from repro.common.figures import FigureError, figure_function
from repro.common.io import write_json
from repro.common.plotting import savefig
from repro.obsscaling import figures, steps


@pytest.fixture(scope="module")
def step_files(obs_data, obs_params, tmp_path_factory, step_config):
    """Each step's outputs written as the workflow writes them (reduced subset search, no refits)."""
    import copy

    params = copy.deepcopy(obs_params)
    params["post_training"].update(converged_tol=None, notebook_pca_components=None)
    sub = params["subset_selection"]
    sub.update(max_families=3, budgets=[4, 8], random_draws=2)
    sub["guide"]["enabled"] = False
    out = tmp_path_factory.mktemp("obs_steps")
    files = {}
    results = {
        "pca": steps.pca_step(obs_data, step_config("pca", params)),
        "post_training": steps.post_training_step(obs_data, step_config("post_training", params)),
        "agents": steps.agents_step(obs_data, step_config("agents", params)),
        "subset_selection": steps.subset_selection_step(obs_data, step_config("subset_selection", params)),
    }
    for step, res in results.items():
        files[step] = {name: out / f"{step}_{name}.csv" for name in res.tables}
        for name, table in res.tables.items():
            table.to_csv(files[step][name], index=False)
        files[step]["numbers"] = out / f"{step}_numbers.json"
        write_json(files[step]["numbers"], res.numbers)
    fam = steps.family_loglinear_step({"scores": files["pca"]["scores"]}, step_config("family_loglinear", params))
    files["family_loglinear"] = {"fits": out / "fam_fits.csv", "scores": files["pca"]["scores"]}
    fam.tables["fits"].to_csv(files["family_loglinear"]["fits"], index=False)
    return files, params


def test_every_registered_figure_builds_and_saves(step_files, tmp_path):
    files, params = step_files
    labels = {
        "post_training": dict(
            params["figures"]["post_training"],
            targets=["gsm8k_naive"],
            titles={"gsm8k_naive": "GSM8K"},
            reference_family=params["post_training"]["reference_family"],
        ),
        "agents": dict(
            params["figures"]["agents"],
            targets=["agentbench"],
            titles={"agentbench": "AgentBench"},
            reference_family=params["agents"]["reference_family"],
        ),
    }
    inputs = {
        "pca": {k: files["pca"][k] for k in ("scree", "loadings")},
        "family_loglinear": files["family_loglinear"],
        "post_training": files["post_training"],
        "agents": files["agents"],
        "subset_selection": {k: files["subset_selection"][k] for k in ("curve", "numbers")},
    }
    assert set(inputs) == set(figures.FIGURES)
    for name, fig_inputs in inputs.items():
        fig = figure_function("obsscaling", name)(fig_inputs, labels.get(name, {}))
        png = savefig(fig, tmp_path / f"{name}.png")
        assert png.stat().st_size > 10_000 and png.with_suffix(".pdf").exists(), name


def test_unknown_figure_lists_the_registered_ones():
    with pytest.raises(FigureError, match="registered: .*'pca'"):
        figure_function("obsscaling", "nope")


def test_prediction_panels_follow_the_params_target_order(step_files):
    """Fig. 5's panels come in params.yaml's target order (the labels' ``targets`` list), not sorted: the
    labels reach the figure rule as key-sorted JSON, so a mapping's order would be alphabetical."""
    files, params = step_files
    order = list(params["post_training"]["targets"])
    assert order != sorted(order), "params.yaml's post_training targets are sorted: this test shows nothing"
    titles = {t: f"title of {t}" for t in sorted(order)}
    labels = dict(
        params["figures"]["post_training"],
        targets=order,
        titles=titles,
        reference_family=params["post_training"]["reference_family"],
    )
    fig = figure_function("obsscaling", "post_training")(files["post_training"], labels)
    shown = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert shown == [titles[t] for t in order]
