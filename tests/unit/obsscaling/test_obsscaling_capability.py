"""repro.obsscaling.capability: known answers on the released base-model table (notes Sec. 5(a)-(b))."""

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


def test_explained_variance(space):
    np.testing.assert_allclose(
        space.pca.explained_variance_ratio, [0.8016, 0.1190, 0.0463, 0.0136, 0.0113], atol=5e-5
    )
    assert space.pca.explained_variance_ratio[:3].sum() == pytest.approx(0.967, abs=5e-4)


def test_complete_case_pca(base, obs_params):
    pca, n = complete_case_pca(base, obs_params["benchmarks"]["default"])
    assert n == 71
    np.testing.assert_allclose(pca.explained_variance_ratio[:3], [0.7865, 0.1284, 0.0505], atol=5e-5)


def test_loadings(space):
    load = space.loadings()
    np.testing.assert_allclose(
        load.loc["PC-1"].to_numpy(), [0.448, 0.344, 0.379, 0.242, 0.085, 0.552, 0.214, 0.347], atol=5e-4
    )
    assert (load.loc["PC-1"] > 0).all()
    # PC-2 contrasts HellaSwag/Winograd/ARC-C with GSM8K/HumanEval; PC-3 is HumanEval.
    assert min(load.loc["PC-2", ["HellaSwag", "Winograd", "ARC-C"]]) > 0 > max(load.loc["PC-2", ["GSM8K", "HumanEval"]])
    assert load.loc["PC-3", "HumanEval"] == pytest.approx(0.826, abs=5e-4)


def test_scores_and_imputation(space, base):
    assert list(space.scores.columns[-5:]) == [f"PC-{i}" for i in range(1, 6)]
    assert len(space.scores) == 77
    assert not space.imputed.isna().any().any()
    assert space.imputed.iloc[:, 1:].to_numpy().min() >= 0 and space.imputed.iloc[:, 1:].to_numpy().max() <= 1


def test_family_loglinearity_table(space):
    fits = family_loglinearity(space.scores).set_index("family")
    expected = {  # family: (n, R^2, slope), notes Sec. 5(b)
        "BLOOM": (5, 0.981, 0.167), "OPT": (8, 0.984, 0.134), "CodeLlama": (4, 0.959, 0.580),
        "Pythia": (8, 0.985, 0.166), "DeepSeek-Coder": (3, 0.959, 0.336), "Qwen": (3, 0.964, 0.322),
        "Falcon": (4, 0.940, 0.290), "Qwen1.5": (7, 0.972, 0.426), "GPT-Neo/J": (5, 0.945, 0.168),
        "StarCoder": (4, 0.974, 0.189), "Llama": (4, 0.981, 0.378), "StarCoder2": (3, 0.899, 0.542),
        "Llama-2": (3, 1.00, 0.520), "XGLM": (4, 0.988, 0.158),
    }  # fmt: skip
    assert set(fits.index) == set(expected)
    for fam, (n, r2, slope) in expected.items():
        assert fits.loc[fam, "n"] == n
        assert fits.loc[fam, "r2"] == pytest.approx(r2, abs=5e-3 if fam == "Llama-2" else 5e-4)
        assert fits.loc[fam, "slope"] == pytest.approx(slope, abs=5e-4)
    assert fits["r2"].mean() == pytest.approx(0.966, abs=5e-4)
    assert len(family_loglinearity(space.scores, min_models=8)) == 2  # Pythia and OPT
