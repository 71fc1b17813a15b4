"""Step configs from params.yaml (never retyped), parse-time grid checks and small experiment invariants."""

from __future__ import annotations

import numpy as np
import pytest

from repro.common.steps import build_config, step_function
from repro.datavalue.data import DatasetSpec, SubsetError, load_dataset
from repro.datavalue.experiments import addition_curves, auroc, removal_curves
from repro.datavalue.solvers import ModelSpec
from repro.datavalue.plan import Experiment, check_grid, step_params_files


@pytest.mark.parametrize("scale", ["smoke", "tiny", "paper"])
def test_every_step_config_builds_from_params(scale, paper_params):
    import typing

    files = step_params_files(paper_params("datavalue", scale))
    assert {"speed"} <= set(files) and any(k.startswith("samples-") for k in files)
    for stem, cfg in files.items():
        fn = step_function("datavalue", stem.split("-")[0])
        build_config(typing.get_type_hints(fn)["config"], cfg, stem)


def test_tiny_has_a_noisy_setting_with_5_to_10_percent_flips(paper_params):
    p = paper_params("datavalue", "tiny")
    assert any(0.05 <= d["flip_fraction"] <= 0.1 for d in p["datasets"].values())
    assert any(k.startswith("noisy-") for k in step_params_files(p))


def test_grid_larger_than_dataset_or_class_too_small_is_a_named_error():
    spec = DatasetSpec(source="sklearn", n_pool=0, n_val=100, n_test=100, name="breast_cancer")
    check_grid(Experiment("breast_cancer", "logreg", 60, 20, 200, 8, 4), spec, 0)
    with pytest.raises(SubsetError, match=r"breast_cancer-logreg.*larger than"):
        check_grid(Experiment("breast_cancer", "logreg", 60, 20, 400, 8, 4), spec, 0)
    with pytest.raises(SubsetError, match=r"class 0 has \d+ points, too few"):
        check_grid(Experiment("breast_cancer", "logreg", 60, 20, 280, 8, 4), spec, 0)


def test_auroc_and_curves():
    assert auroc(np.array([0.1, 0.9, 0.8]), np.array([False, True, True])) == 1.0
    ds = load_dataset("lm_clf", DatasetSpec(source="synthetic", n_pool=300, n_val=100, n_test=100, dim=5))
    pts = np.arange(20)
    vals = {"law": np.linspace(1, 0, 20)}
    steps = np.array([0, 5, 10])
    add = addition_curves(ds, ModelSpec(kind="logreg"), pts, vals, 10, steps, 3, np.random.default_rng(0))
    rm = removal_curves(ds, ModelSpec(kind="logreg"), pts, vals, 0, steps, 3, np.random.default_rng(0))
    assert set(add) == set(rm) == {"law", "random"}
    assert add["law"].shape == (3, 3)
    # step 0 trains on the same base for every method
    assert np.allclose(add["law"][:, 0], add["random"][:, 0]) and np.allclose(rm["law"][:, 0], rm["random"][:, 0])


def test_balanced_order_interleaves_classes_by_rank():
    from repro.datavalue.experiments import balanced_order

    labels = np.array([0, 0, 0, 1, 1, 1])
    order = np.array([0, 1, 2, 3, 4, 5])  # all of class 0 first
    out = balanced_order(order, labels)
    assert sorted(out.tolist()) == list(range(6))
    assert labels[out[:2]].tolist() in ([0, 1], [1, 0]) and out[:2].tolist() == [0, 3]
