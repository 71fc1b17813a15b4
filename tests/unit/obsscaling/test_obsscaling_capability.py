"""repro.obsscaling.capability: structure of the capability space on the released base-model table.

The known answers (explained variance, loadings, per-family fits) are checked against
workflow/expected/obsscaling.yaml by test_obsscaling_steps.py; nothing is retyped here.
"""

from __future__ import annotations

import numpy as np
import pytest

from repro.obsscaling.capability import capability_space, complete_case_pca, family_loglinearity
from repro.obsscaling.data import read_table, select_models


@pytest.fixture(scope="module")
def base(obs_data):
    return select_models(read_table(obs_data["base_eval"]))


@pytest.fixture(scope="module")
def space(base, obs_params):
    return capability_space(base, obs_params["benchmarks"]["default"])


def test_explained_variance_is_sorted_and_dominated_by_pc1(space):
    evr = space.pca.explained_variance_ratio
    assert (np.diff(evr) <= 0).all() and evr[0] > 0.5 and evr.sum() <= 1 + 1e-12


def test_loadings(space):
    load = space.loadings()
    assert (load.loc["PC-1"] > 0).all()
    # PC-2 contrasts HellaSwag/Winograd/ARC-C with GSM8K/HumanEval; PC-3 is HumanEval.
    assert min(load.loc["PC-2", ["HellaSwag", "Winograd", "ARC-C"]]) > 0 > max(load.loc["PC-2", ["GSM8K", "HumanEval"]])
    assert load.loc["PC-3"].abs().idxmax() == "HumanEval"


def test_scores_and_imputation(space, base):
    assert list(space.scores.columns[-5:]) == [f"PC-{i}" for i in range(1, 6)]
    assert len(space.scores) == 77
    assert not space.imputed.isna().any().any()
    assert space.imputed.iloc[:, 1:].to_numpy().min() >= 0 and space.imputed.iloc[:, 1:].to_numpy().max() <= 1


def test_family_loglinearity_table(space):
    fits = family_loglinearity(space.scores).set_index("family")
    assert len(fits) > 10 and (fits["n"] >= 3).all() and (fits["slope"] > 0).all() and (fits["r2"] > 0.8).all()
    assert len(family_loglinearity(space.scores, min_models=8)) == 2  # Pythia and OPT
