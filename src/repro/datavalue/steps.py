"""The workflow steps of datavalue (rule datavalue__<step> -> <step>_step; numbers under ``<step>.``).

This module holds the step functions only. Steps split by wildcard read one resolved-params JSON per
(dataset[, model]) written at parse time by :func:`repro.datavalue.plan.step_params_files`; their typed
configs (:mod:`repro.datavalue.config`) are built from it (repro.common.steps.build_config). The method
is in :mod:`.contributions`, :mod:`.laws`, :mod:`.amortized`, :mod:`.experiments` and :mod:`.solvers`.

* samples (dataset, model): marginal contributions on the size grid (Sec. 3) + leave-one-out + the model on
  the whole pool beside its majority floor.
* fit (dataset, model): MLE and log-space laws on the fit sizes, R^2 on held-out sizes, alpha, valuation
  accuracy at equal sample budgets (Sec. 4.1-4.3).
* amortized (dataset): the amortised estimator from a few samples per point vs the full-sample MLE (Sec. 4.2).
* noisy (dataset with flipped labels): AUROC of -value for the corrupted labels.
* addition / removal (dataset): curves per method (random, MC, LOO, law, amortised) (Sec. 4.4).
* matching (dataset): points scored by psi at the matching size help most (small vs large base, Sec. 4.4).
* speed: batched torch solver vs a loop of scikit-learn fits (same fitted values to a stated tolerance).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from repro.common.declarations import step
from repro.common.machine import speed_probe
from repro.common.seeds import seed_everything
from repro.common.steps import StepResult
from repro.datavalue.amortized import fit_amortized
from repro.datavalue.config import (
    AmortizedStepConfig,
    CurveConfig,
    FitConfig,
    MatchingConfig,
    NoisyConfig,
    SamplesConfig,
    SpeedConfig,
)
from repro.datavalue.contributions import (
    choose_points,
    full_fit,
    heldout_split,
    leave_one_out,
    load_samples,
    marginal_contributions,
    pool_margins,
)
from repro.datavalue.data import SubsetError, load_dataset, sample_balanced
from repro.datavalue.experiments import addition_curves, auroc, load_values, removal_curves
from repro.datavalue.laws import Law, bootstrap_r2, fit_log, fit_mle, grid_value, predict, r2
from repro.datavalue.plan import check_grid
from repro.datavalue.solvers import ModelSpec, Problems, fit_logreg, fit_logreg_sklearn, val_cross_entropy

log = logging.getLogger(__name__)

# --- steps -----------------------------------------------------------------------------------------


@step(
    reads=(),
    not_run={
        "paper_toy": (
            "the paper's remote datasets (IMDB with distilbert features, MiniBooNE "
            "and adult from opendataval, CIFAR-10 with ResNet50 features) have no "
            "loader and no local stand-in yet (issue 37)"
        )
    },
)
def samples_step(inputs: Mapping[str, Path], config: SamplesConfig) -> StepResult:
    """Sec. 3: sampled marginal contributions of the valued points on the size grid (+ LOO, full-pool model).

    Tables: ``contributions`` (point, k, subset, delta) and ``points`` (point, label, noisy, loo, x_0..x_{d-1}).
    """
    e = config.experiment
    sizes = check_grid(e, config.dataset, config.seed)
    rng = seed_everything(config.seed, torch_threads=1)
    ds = load_dataset(e.dataset, config.dataset)
    points = choose_points(ds, e.n_points, rng)
    con = marginal_contributions(ds, config.model, points, sizes, e.n_samples, rng, config.budget)
    loo = leave_one_out(ds, config.model, points)
    floor = full_fit(ds, config.model)
    P, J, S = con.delta.shape
    contributions = pd.DataFrame(
        {
            "point": np.repeat(points, J * S),
            "k": np.tile(np.repeat(sizes, S), P),
            "subset": np.tile(np.arange(S), P * J),
            "delta": con.delta.ravel(),
        }
    )
    pts = pd.DataFrame(
        {
            "point": points,
            "label": ds.y_pool[points],
            "noisy": ds.noisy[points].astype(int),
            "loo": loo,
            "margin": pool_margins(ds, config.model, points),
        }
    )
    pts = pd.concat(
        [pts, pd.DataFrame(ds.x_pool[points], columns=[f"x_{i}" for i in range(ds.x_pool.shape[1])])], axis=1
    )
    numbers = {
        "n_fits": con.n_fits,
        "n_points": P,
        "n_samples": S,
        "n_noisy": int(ds.noisy[points].sum()),
        "k_min": int(sizes[0]),
        "k_max": int(sizes[-1]),
        **floor,
    }
    return StepResult(
        numbers={"samples": {e.dataset: {e.model: numbers}}}, tables={"contributions": contributions, "points": pts}
    )


@step(
    reads=(),
    not_run={
        "paper_toy": (
            "the paper's remote datasets (IMDB with distilbert features, MiniBooNE "
            "and adult from opendataval, CIFAR-10 with ResNet50 features) have no "
            "loader and no local stand-in yet (issue 37)"
        )
    },
)
def fit_step(inputs: Mapping[str, Path], config: FitConfig) -> StepResult:
    """Sec. 4.1-4.3: per-point laws on the fit sizes, R^2 on held-out sizes, alpha, equal-budget valuation."""
    e, fp = config.experiment, config.fit
    z = load_samples(inputs)
    sizes, delta = z["sizes"], z["delta"]
    fit_j, held_j = heldout_split(len(sizes), fp.heldout_every)
    means = delta.mean(2)
    sem = delta.std(2, ddof=1) / np.sqrt(delta.shape[2])
    mle = fit_mle(sizes[fit_j], delta[:, fit_j], fp.max_steps, fp.patience, fp.lr)
    lg = fit_log(sizes[fit_j], means[:, fit_j])
    pred, pred_log = predict(mle, sizes), predict(lg, sizes)
    nums: dict[str, Any] = {
        "r2_heldout_sizes": r2(means[:, held_j], pred[:, held_j]),
        "r2_heldout_sizes_log": r2(means[:, held_j], pred_log[:, held_j]),
        "r2_fit_sizes": r2(means[:, fit_j], pred[:, fit_j]),
        "alpha_median": float(np.median(mle.alpha)),
        "alpha_q10": float(np.quantile(mle.alpha, 0.1)),
        "alpha_q90": float(np.quantile(mle.alpha, 0.9)),
        "alpha_median_log": float(np.median(lg.alpha)),
        "beta_median": float(np.median(mle.beta)),
        "frac_negative_c": float(np.mean(mle.c < 0)),
        "log_r2_median": float(np.nanmedian(lg.log_r2)),
        "r2_by_size": {str(int(sizes[j])): r2(means[:, j], pred[:, j]) for j in range(len(sizes))},
    }
    # equal-budget valuation (Sec. 4.3): truth = MC grid value from the second half of the subsets;
    # estimators see the first m subsets per size of the first half
    S = delta.shape[2]
    truth = delta[:, :, S // 2 :].mean((1, 2))
    val = {}
    for m in fp.valuation_m:
        if m > S // 2:
            continue
        sub = delta[:, :, :m]
        law_m = fit_mle(sizes, sub, fp.max_steps, fp.patience, fp.lr)
        est = {"mc": sub.mean((1, 2)), "law": grid_value(law_m, sizes)}
        boot, halves = bootstrap_r2(truth, est, fp.bootstrap, fp.bootstrap_seed)
        val[f"m{m}"] = {f"{name}_r2": r2(truth, v) for name, v in est.items()}
        for name in est:  # the noise over the valued points (issue 27): paired replicates, two disjoint halves
            val[f"m{m}"][f"{name}_r2_boot"] = boot[name]
            val[f"m{m}"][f"{name}_r2_half_a"], val[f"m{m}"][f"{name}_r2_half_b"] = halves[name]
    nums["valuation"] = val
    # alpha vs distance to the decision boundary (Sec. 5): clean points with a positive law
    ok = (z["noisy"] == 0) & (mle.c > 0)
    nums["spearman_alpha_abs_margin"] = (
        float(spearmanr(mle.alpha[ok], np.abs(z["margin"][ok])).statistic) if ok.sum() > 2 else float("nan")
    )
    laws = pd.DataFrame(
        {
            "point": z["points"],
            "label": z["labels"],
            "noisy": z["noisy"].astype(int),
            "c": mle.c,
            "alpha": mle.alpha,
            "sigma": mle.sigma,
            "beta": mle.beta,
            "c_log": lg.c,
            "alpha_log": lg.alpha,
            "log_r2": lg.log_r2,
            "value_law": grid_value(mle, sizes),
            "value_mc": means.mean(1),
            "value_loo": z["loo"],
            "margin": z["margin"],
        }
    )
    rows = []
    for i, p in enumerate(z["points"]):
        for j, k in enumerate(sizes):
            rows.append(
                (
                    int(p),
                    int(k),
                    means[i, j],
                    sem[i, j],
                    pred[i, j],
                    pred_log[i, j],
                    "heldout" if j in held_j else "fit",
                )
            )
    curves = pd.DataFrame(rows, columns=["point", "k", "mean", "sem", "pred_mle", "pred_log", "split"])
    return StepResult(numbers={"fit": {e.dataset: {e.model: nums}}}, tables={"laws": laws, "curves": curves})


@step(
    reads=(),
    not_run={
        "paper_toy": (
            "the paper's remote datasets (IMDB with distilbert features, MiniBooNE "
            "and adult from opendataval, CIFAR-10 with ResNet50 features) have no "
            "loader and no local stand-in yet (issue 37)"
        )
    },
)
def amortized_step(inputs: Mapping[str, Path], config: AmortizedStepConfig) -> StepResult:
    """Sec. 4.2: amortised laws from a few samples per point, compared with the full-sample MLE."""
    e, ap = config.experiment, config.amortized
    seed_everything(config.seed, torch_threads=1)
    z = load_samples(inputs)
    laws = pd.read_csv(inputs["laws"])
    sizes, delta = z["sizes"], z["delta"]
    fit_j, held_j = heldout_split(len(sizes), 2)
    m = ap.samples_per_size
    if m > delta.shape[2]:
        raise SubsetError(
            f"datavalue.amortized.samples_per_size {m} > n_samples {delta.shape[2]} of {e.dataset}-{e.model}"
        )
    sub = delta[:, fit_j, :m]
    P = len(sub)
    k = np.broadcast_to(sizes[fit_j][None, :, None], sub.shape).reshape(P, -1)
    ds = load_dataset(e.dataset, config.dataset)
    am = fit_amortized(
        z["x"], z["labels"], ds.n_classes, k, sub.reshape(P, -1), ap.net, config.seed, ds.x_pool, ds.y_pool
    )
    mle = Law(*(laws[c].to_numpy() for c in ("c", "alpha", "sigma", "beta")))
    ref = predict(mle, sizes)
    mle_m = fit_mle(sizes[fit_j], sub)
    means = delta.mean(2)
    est = {"r2_vs_mle": predict(am, sizes), "mle_subsample_r2_vs_mle": predict(mle_m, sizes)}
    boot, halves = bootstrap_r2(ref, est, ap.bootstrap, ap.bootstrap_seed)
    nums = {
        "r2_vs_mle": r2(ref, est["r2_vs_mle"]),
        "mle_subsample_r2_vs_mle": r2(ref, est["mle_subsample_r2_vs_mle"]),
        "r2_heldout_sizes": r2(means[:, held_j], predict(am, sizes)[:, held_j]),
        "samples_per_point": int(sub.shape[1] * sub.shape[2]),
        "alpha_median": float(np.median(am.alpha)),
        "zero_floor_r2_vs_mle": r2(ref, np.zeros_like(ref)),
    }
    for name in est:  # the noise over the valued points (issue 27): paired replicates, two disjoint halves
        nums[f"{name}_boot"] = boot[name]
        nums[f"{name}_half_a"], nums[f"{name}_half_b"] = halves[name]
    table = pd.DataFrame(
        {
            "point": z["points"],
            "c": am.c,
            "alpha": am.alpha,
            "sigma": am.sigma,
            "beta": am.beta,
            "value_amortized": grid_value(am, sizes),
            "value_law_subsample": grid_value(mle_m, sizes),
        }
    )
    return StepResult(numbers={"amortized": {e.dataset: nums}}, tables={"values": table})


@step(
    reads=(),
    not_run={
        "paper_toy": (
            "the paper's remote datasets (IMDB with distilbert features, MiniBooNE "
            "and adult from opendataval, CIFAR-10 with ResNet50 features) have no "
            "loader and no local stand-in yet (issue 37)"
        )
    },
)
def noisy_step(inputs: Mapping[str, Path], config: NoisyConfig) -> StepResult:
    """Noisy-label detection: AUROC of -value for the flipped labels, per method (random floor 0.5)."""
    laws, values = load_values(inputs)
    noisy = laws["noisy"].to_numpy().astype(bool)
    per = {m: {"auroc": auroc(-v, noisy)} for m, v in values.items()}
    nums = {
        "auroc": per[config.method]["auroc"],
        **per,
        "n_noisy": int(noisy.sum()),
        "n_points": len(noisy),
        "random_floor_auroc": 0.5,
        "negative_c_rate_noisy": float(np.mean(laws["c"].to_numpy()[noisy] < 0)),
        "negative_c_rate_clean": float(np.mean(laws["c"].to_numpy()[~noisy] < 0)),
    }
    rows = [(m, int(p), bool(n), float(v)) for m, vals in values.items() for p, n, v in zip(laws["point"], noisy, vals)]
    return StepResult(
        numbers={"noisy": {config.dataset_name: nums}},
        tables={"scores": pd.DataFrame(rows, columns=["method", "point", "noisy", "value"])},
    )


def _curve_step(inputs: Mapping[str, Path], config: CurveConfig, kind: str) -> StepResult:
    laws, values = load_values(inputs)
    rng = seed_everything(config.seed + (1 if kind == "addition" else 2), torch_threads=1)
    ds = load_dataset(config.dataset_name, config.dataset)
    points = laws["point"].to_numpy()
    steps = np.unique(np.round(np.asarray(config.curve.fractions) * len(points)).astype(int))
    fn = addition_curves if kind == "addition" else removal_curves
    curves = fn(ds, config.model, points, values, config.curve.base_size, steps, config.curve.repeats, rng)
    # auc_per_seed: the AUC of each repeat (a random base, and a random order for "random"), paired across
    # methods: the same bases, so per-repeat differences are the units of a comparison (issue 27)
    nums: dict[str, Any] = {
        m: {
            "auc": float(acc.mean()),
            "final_accuracy": float(acc[:, -1].mean()),
            "auc_per_seed": [float(a) for a in acc.mean(1)],
        }
        for m, acc in curves.items()
    }
    nums["seeds"] = list(range(config.curve.repeats))
    rows = [
        (m, int(n), float(acc[:, j].mean()), float(acc[:, j].std()))
        for m, acc in curves.items()
        for j, n in enumerate(steps)
    ]
    return StepResult(
        numbers={kind: {config.dataset_name: nums}},
        tables={"curves": pd.DataFrame(rows, columns=["method", "n", "accuracy", "std"])},
    )


@step(
    reads=(),
    not_run={
        "paper_toy": (
            "the paper's remote datasets (IMDB with distilbert features, MiniBooNE "
            "and adult from opendataval, CIFAR-10 with ResNet50 features) have no "
            "loader and no local stand-in yet (issue 37)"
        )
    },
)
def addition_step(inputs: Mapping[str, Path], config: CurveConfig) -> StepResult:
    """Sec. 4.4: add valued points by decreasing value to a random base; test accuracy (higher AUC = better)."""
    return _curve_step(inputs, config, "addition")


@step(
    reads=(),
    not_run={
        "paper_toy": (
            "the paper's remote datasets (IMDB with distilbert features, MiniBooNE "
            "and adult from opendataval, CIFAR-10 with ResNet50 features) have no "
            "loader and no local stand-in yet (issue 37)"
        )
    },
)
def removal_step(inputs: Mapping[str, Path], config: CurveConfig) -> StepResult:
    """Removal: drop valued points by decreasing value; test accuracy (lower AUC = better valuation)."""
    return _curve_step(inputs, config, "removal")


@step(
    reads=(),
    not_run={
        "paper_toy": (
            "the paper's remote datasets (IMDB with distilbert features, MiniBooNE "
            "and adult from opendataval, CIFAR-10 with ResNet50 features) have no "
            "loader and no local stand-in yet (issue 37)"
        )
    },
)
def matching_step(inputs: Mapping[str, Path], config: MatchingConfig) -> StepResult:
    """Sec. 4.4: points scored by psi at the base size that is used help most (small vs large base).

    For each base size b in (small, large): add the class-balanced top ``n_add`` points by psi_k = c k^-alpha at
    k = small and at k = large (and random points) to R random bases of size b; gain = test accuracy after -
    before, mean over the bases (paired: the same bases for every method).
    """
    mp = config.matching
    laws = pd.read_csv(inputs["laws"])
    rng = seed_everything(config.seed + 3, torch_threads=1)
    ds = load_dataset(config.dataset_name, config.dataset)
    points = laws["point"].to_numpy()
    c, a = laws["c"].to_numpy(), laws["alpha"].to_numpy()
    values = {"psi_small": c * float(mp.small_base) ** -a, "psi_large": c * float(mp.large_base) ** -a}
    nums: dict[str, Any] = {}
    rows = []
    for name, base in (("small_base", mp.small_base), ("large_base", mp.large_base)):
        acc = addition_curves(ds, config.model, points, values, base, np.array([0, mp.n_add]), mp.repeats, rng)
        nums[name] = {}
        for method, curve in acc.items():
            gain = curve[:, 1] - curve[:, 0]
            nums[name][method] = {
                "gain": float(gain.mean()),
                "gain_sem": float(gain.std(ddof=1) / np.sqrt(len(gain))),
                "gain_per_seed": [float(g) for g in gain],  # per random base, paired across methods
            }
            rows.append((name, base, method, float(gain.mean()), nums[name][method]["gain_sem"]))
    rank = float(spearmanr(values["psi_small"], values["psi_large"]).statistic)
    nums["spearman_psi_small_large"] = rank
    nums["seeds"] = list(range(mp.repeats))
    table = pd.DataFrame(rows, columns=["base", "base_size", "method", "gain", "gain_sem"])
    return StepResult(numbers={"matching": {config.dataset_name: nums}}, tables={"gains": table})


@step(reads=())
def speed_step(inputs: Mapping[str, Path], config: SpeedConfig) -> StepResult:
    """The batched solver vs a naive loop of scikit-learn fits on the same (1 + P) problems of a subset."""
    rng = seed_everything(config.seed, torch_threads=1)
    ds = load_dataset(config.dataset_name, config.dataset)
    points = choose_points(ds, config.n_points, rng)
    others = np.setdiff1d(np.arange(len(ds.y_pool)), points)
    subs = others[sample_balanced(ds.y_pool[others], config.k, ds.n_classes, rng, config.n_repeats)]
    spec = ModelSpec(kind="logreg", C=config.C)
    P, d = len(points), ds.x_pool.shape[1]
    t0 = time.perf_counter()
    x, y = ds.x_pool[subs], ds.y_pool[subs]
    G = len(subs)
    base = Problems.build(x, y, np.ones((G, 1, config.k)))
    w0, _ = fit_logreg(base, spec)
    aug = Problems.build(
        x,
        y,
        np.ones((G, P, config.k)),
        np.broadcast_to(ds.x_pool[points], (G, P, d)),
        np.broadcast_to(ds.y_pool[points], (G, P)),
        np.ones((G, P)),
    )
    w1, _ = fit_logreg(aug, spec, init=w0.expand(G, P, -1))
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = np.zeros((G, P + 1, d + 1))
    for g in range(G):
        ref[g, 0] = fit_logreg_sklearn(x[g], y[g], C=config.C)
        for i, p in enumerate(points):
            ref[g, i + 1] = fit_logreg_sklearn(
                np.vstack([x[g], ds.x_pool[p]]), np.append(y[g], ds.y_pool[p]), C=config.C
            )
    t_naive = time.perf_counter() - t0
    # the stated tolerance is checked against tight scikit-learn fits (newton-cholesky, tol 1e-10)
    tight = np.array(
        [
            fit_logreg_sklearn(
                np.vstack([x[0], ds.x_pool[p]]),
                np.append(y[0], ds.y_pool[p]),
                C=config.C,
                tol=1e-10,
                solver="newton-cholesky",
            )
            for p in points
        ]
    )
    ours = torch.cat([w0, w1], 1).numpy()
    diff_tight = float(np.abs(ours[0, 1:] - tight).max())
    diff_default = float(np.abs(ours - ref).max())
    xv, yv = torch.as_tensor(ds.x_val), torch.as_tensor(ds.y_val)
    n = G * (P + 1)
    nums = {
        "batched_vs_naive": t_naive / t_batched,
        "n_fits": n,
        "batched_fits_per_s": n / t_batched,
        "naive_fits_per_s": n / t_naive,
        "max_abs_coef_diff_vs_sklearn_tight": diff_tight,
        "max_abs_coef_diff_vs_sklearn_default": diff_default,
        "tolerance_coef": config.tol_coef,
        "within_tolerance": bool(diff_tight <= config.tol_coef),
        "val_ce_check": float(val_cross_entropy(w0, xv, yv).mean()),
        "probe": speed_probe(),  # the machine's speed next to its timings (repro.common.machine)
    }
    if diff_tight > config.tol_coef:
        log.warning("batched solver differs from scikit-learn by %.3g > %.3g", diff_tight, config.tol_coef)
    return StepResult(numbers={"speed": nums})
