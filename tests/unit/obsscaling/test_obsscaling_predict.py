"""repro.obsscaling.predict: splits and the post-training / agent tables (notes Sec. 5(c)-(d))."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repro.obsscaling.data import FAMILY, FLOPS, MODEL, SIZE, merge_on_model, read_table, select_models
from repro.obsscaling.predict import (
    FitConfig,
    Preprocess,
    Target,
    capability_features,
    cutoff_split,
    models_split,
    predictor_label,
    run_prediction,
    top_fraction_split,
)

GSM = {
    "gsm8k_naive": "gsm8k_5_exact_match,flexible-extract",
    "gsm8k_cot": "gsm8k_cot_8_exact_match,flexible-extract",
    "gsm8k_cot_sc": "gsm8k_cot_self_consistency_8_exact_match,maj@5-flexible-extract",
}
# notes Sec. 5(c): test MSE, rows = predictor, columns = naive, CoT, CoT+SC
POST_TRAINING = {
    "log_size": (1.26e-2, 1.86e-1, 2.16e-1),
    "log_flops": (3.67e-3, 3.71e-2, 3.77e-2),
    "pc1": (2.13e-3, 2.08e-2, 2.45e-2),
    "pc2": (6.69e-4, 7.88e-3, 9.46e-3),
    "pc3": (7.24e-4, 4.72e-3, 5.62e-3),
}
ROBUST = FitConfig(loss="huber", delta=1.0)


@pytest.fixture(scope="module")
def post(obs_data):
    return merge_on_model(select_models(read_table(obs_data["base_eval"])), read_table(obs_data["post_training"]))


@pytest.fixture(scope="module")
def agents_df(obs_data):
    return merge_on_model(read_table(obs_data["instruct_eval"]), read_table(obs_data["agent_eval"]))


def test_cutoff_split_sends_missing_compute_to_test():
    df = pd.DataFrame({FLOPS: [10.0, 84.0, 85.0, np.nan]})
    assert cutoff_split(FLOPS, 84)(df, np.zeros(4)).tolist() == [False, False, True, True]


def test_top_fraction_split_holds_out_the_best():
    y = np.array([0.1, 0.9, 0.5, 0.7, 0.2, 0.3, 0.4, 0.0, 0.6, 0.8, 0.05])
    test = top_fraction_split(0.2)(pd.DataFrame(index=range(11)), y)
    assert np.flatnonzero(test).tolist() == [1, 9]  # floor(0.2 * 11) = 2 best models


def test_models_split():
    df = pd.DataFrame({MODEL: ["a", "b", "c"]})
    assert models_split(["c", "x"])(df, np.zeros(3)).tolist() == [False, False, True]


def test_predictor_label():
    assert predictor_label("pc1") == "PC-1" and predictor_label("pc3") == "PC-1..3"
    with pytest.raises(ValueError):
        run_prediction(pd.DataFrame({"y": [1.0]}), Target("y"), "pcx", cutoff_split("y", 0))


def test_capability_features_fit_on_train_only(post, obs_params):
    pre = Preprocess(tuple(obs_params["benchmarks"]["nongsm"]))
    train, test = post[post[FLOPS] <= 84], post[~(post[FLOPS] <= 84)]
    s_train, s_test, pca = capability_features(train, test, pre)
    assert s_train.shape == (len(train), 5) and s_test.shape == (len(test), 5)
    np.testing.assert_allclose(s_train.mean(axis=0), 0.0, atol=1e-12)  # centred on train rows
    assert abs(s_test[:, 0].mean()) > 0.1  # test rows (larger models) are not


@pytest.mark.parametrize("target", list(GSM))
def test_post_training_table(post, obs_params, target):
    pre = Preprocess(tuple(obs_params["benchmarks"]["nongsm"]))
    col = list(GSM).index(target)
    for predictor, row in POST_TRAINING.items():
        p = run_prediction(post, Target(GSM[target]), predictor, cutoff_split(FLOPS, 84), preprocess=pre, fit=ROBUST)
        if (target, predictor) == ("gsm8k_naive", "pc3"):
            # L-BFGS-B (finite differences, default tolerances) stops on a flat objective here: round-off
            # decides between two stopping points, and the notes list both (7.24e-4 with PCA(5), 6.88e-4 with
            # PCA(3), although the PC-1..3 scores are identical). Either is the authors' procedure.
            assert any(p.metrics["test_mse"] == pytest.approx(v, rel=1e-2) for v in (7.24e-4, 6.88e-4))
            continue
        assert p.metrics["test_mse"] == pytest.approx(row[col], rel=1e-2), (target, predictor)
        n_train = 45 if target == "gsm8k_naive" else 47  # two Falcon models lack naive GSM8K
        assert p.metrics["n_train"] == n_train
        assert p.metrics["n_test"] == (26 if predictor == "log_flops" else 28)  # no FLOPs: Mistral, Mixtral


def test_cot_rises_more_steeply_than_naive(post, obs_params):
    pre = Preprocess(tuple(obs_params["benchmarks"]["nongsm"]))
    slopes = {
        t: run_prediction(post, Target(c), "pc3", cutoff_split(FLOPS, 84), preprocess=pre, fit=ROBUST).equivalence.slope
        for t, c in GSM.items()
    }
    assert slopes["gsm8k_cot"] > 1.5 * slopes["gsm8k_naive"]
    assert slopes["gsm8k_cot_sc"] > 1.5 * slopes["gsm8k_naive"]


def test_equivalent_compute_axis_is_exact_for_log_flops(post):
    p = run_prediction(post, Target(GSM["gsm8k_cot"]), "log_flops", cutoff_split(FLOPS, 84), fit=ROBUST)
    rows = p.rows[np.isfinite(p.rows["compute"])]
    np.testing.assert_allclose(rows["equiv_log10_compute"], np.log10(rows["compute"]), atol=1e-8)
    assert set(p.rows.columns) >= {MODEL, FAMILY, "split", "y", "y_hat", "z", "equiv_log10_compute"}


def test_train_models_restricts_the_training_side_only(post, obs_params):
    pre = Preprocess(tuple(obs_params["benchmarks"]["nongsm"]), pca_components=3)
    keep = ["microsoft/phi-2", "microsoft/phi-1_5", "mosaicml/mpt-7b", "bigcode/starcoder2-3b"]
    p = run_prediction(
        post, Target(GSM["gsm8k_cot"]), "pc3", cutoff_split(FLOPS, 84), preprocess=pre, fit=ROBUST, train_models=keep
    )
    assert sorted(p.rows.loc[p.rows["split"] == "train", MODEL]) == sorted(keep)
    assert p.metrics["n_test"] == 28


AGENTS = {  # notes Sec. 5(d): (train MSE, test MSE) for #PCs = 1..4
    "agentbench": ("ABench-OA", (0.0, 10.0), [(6.80e-4, 5.72e-3), (4.62e-4, 2.62e-4), (3.68e-4, 2.24e-4), (3.52e-4, 1.03e-3)]),
    "agentboard": ("ABoard-Avg_SR", (0.0, 100.0), [(5.89e-4, 1.99e-2), (3.23e-4, 1.31e-3), (2.92e-4, 3.58e-3), (9.07e-5, 1.82e-2)]),
}  # fmt: skip


@pytest.mark.parametrize("bench", list(AGENTS))
def test_agent_table(agents_df, obs_params, bench):
    col, rng, rows = AGENTS[bench]
    pre = Preprocess(tuple(obs_params["benchmarks"]["instruct"]))
    for k, (train_mse, test_mse) in enumerate(rows, start=1):
        p = run_prediction(
            agents_df, Target(col, rng), f"pc{k}", top_fraction_split(0.1), preprocess=pre,
            fit=FitConfig(loss="ols"), reference_family="Llama-2-Chat",
        )  # fmt: skip
        assert p.metrics["train_mse"] == pytest.approx(train_mse, rel=1e-2)
        assert p.metrics["test_mse"] == pytest.approx(test_mse, rel=1e-2)
    assert (p.metrics["n_train"], p.metrics["n_test"]) == ((20, 2) if bench == "agentbench" else (10, 1))


def test_log_size_predictor_needs_no_benchmarks(post):
    p = run_prediction(post, Target(GSM["gsm8k_naive"]), "log_size", cutoff_split(FLOPS, 84), fit=ROBUST)
    assert p.pca is None and p.metrics["n_test"] == 28
    np.testing.assert_allclose(p.rows["z"], p.fit.linear(np.log(post.set_index(MODEL).loc[p.rows[MODEL], SIZE].to_numpy())[:, None]))


def test_converged_fit_is_the_stable_reference(post, obs_params):
    """With exact gradients and tight tolerances the naive PC-1..3 fit has one answer."""
    pre = Preprocess(tuple(obs_params["benchmarks"]["nongsm"]))
    tight = FitConfig(loss="huber", delta=1.0, gradient="analytic", tol=1e-12)
    values = [
        run_prediction(post, Target(GSM["gsm8k_naive"]), "pc3", cutoff_split(FLOPS, 84),
                       preprocess=Preprocess(pre.benchmarks, pca_components=n), fit=tight).metrics["test_mse"]
        for n in (3, 5)
    ]  # fmt: skip
    assert values[0] == pytest.approx(values[1], rel=1e-6)
    assert values[0] == pytest.approx(7.245e-4, rel=1e-3)
