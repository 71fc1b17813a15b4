"""Workflow steps of the obsscaling paper: params dict + data files -> numbers + small tables.

Each ``*_step`` function corresponds to one Snakemake compute rule
(``obsscaling__<step>``). It reads the resolved parameters of that step (the
JSON written by ``step_params``; keys are the dotted params.yaml keys the step
reads), loads and validates the CSVs it needs, runs the paper's analysis from
:mod:`capability`, :mod:`predict` and :mod:`selection`, and returns a
:class:`StepResult`: nested numbers (flattened later into numbers.json) and the
small tables the figure rules plot. Nothing is written until everything has
been computed (:func:`write_step_outputs`), so a failing step leaves no output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import gmean
from tqdm import tqdm

from repro.common.io import atomic_open, write_json
from repro.common.lowrank import fit_pca, fit_pca_imputer
from repro.obsscaling.capability import capability_space, complete_case_pca, family_loglinearity
from repro.obsscaling.data import (
    FAMILY,
    FLOPS,
    META_COLUMNS,
    MODEL,
    PREREGISTERED_MODELS,
    bbh_chance,
    family_list,
    merge_on_model,
    read_table,
    select_models,
    slug,
)
from repro.obsscaling.predict import (
    FitConfig,
    Prediction,
    Preprocess,
    Splitter,
    Target,
    cutoff_split,
    models_split,
    run_prediction,
    top_fraction_split,
)
from repro.obsscaling.selection import best_subset, random_subsets, search_family_subsets

__all__ = [
    "StepResult",
    "nest",
    "write_step_outputs",
    "capability_step",
    "family_loglinear_step",
    "post_training_step",
    "agents_step",
    "lbv2_step",
    "preregistered_step",
    "emergent_step",
    "subset_selection_step",
    "merge_numbers",
]

log = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]
Params = Mapping[str, Any]


@dataclass
class StepResult:
    """What a compute step produces: nested numbers and named tables."""

    numbers: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def write_step_outputs(result: StepResult, outputs: Mapping[str, PathLike]) -> None:
    """Write ``numbers`` (JSON) and every table (CSV) to the named output paths, atomically."""
    expected = {"numbers", *result.tables}
    if set(outputs) != expected:
        raise ValueError(f"step outputs {sorted(outputs)} do not match the results {sorted(expected)}")
    for name, table in result.tables.items():
        with atomic_open(outputs[name], "w", newline="", encoding="utf-8") as fh:
            table.to_csv(fh, index=False, float_format="%.10g")
    write_json(outputs["numbers"], result.numbers)


# --- params helpers ------------------------------------------------------------------


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a step-params JSON (dotted keys, e.g. ``{"capability.benchmarks": ...}``) into nested dicts."""
    out: dict[str, Any] = {}
    for key in sorted(flat, key=lambda k: k.count(".")):
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(node.get(leaf), dict) and isinstance(flat[key], Mapping):
            node[leaf].update(flat[key])
        else:
            node[leaf] = flat[key]
    return out


def _bounds(imp: Mapping[str, Any]) -> tuple[float, float] | None:
    b = imp["bounds"]
    return None if b is None else (float(b[0]), float(b[1]))


def _preprocess(params: Params, benchmark_set: str, pca_components: int | None = None) -> Preprocess:
    imp = params["imputation"]
    return Preprocess(
        benchmarks=tuple(params["benchmarks"][benchmark_set]),
        impute_components=int(imp["n_components"]),
        impute_max_iter=int(imp["max_iter"]),
        impute_tol=float(imp["tol"]),
        bounds=_bounds(imp),
        pca_components=int(pca_components if pca_components is not None else params["pca"]["n_components"]),
    )


def _fit_config(params: Params, section: Mapping[str, Any], **override: Any) -> FitConfig:
    """The fit settings of a section: its link/loss/delta plus the shared ``fit`` block."""
    fit = params["fit"]
    floor = (float(fit["floor_bounds"][0]), float(fit["floor_bounds"][1]))
    cfg = {
        "loss": section["loss"],
        "delta": float(section["delta"]),
        "floor_bounds": floor if section["link"] == "sigmoid_floor" else None,
        "init_coef": float(fit["init_coef"]),
        "max_nfev": int(fit["max_nfev"]),
        "gradient": fit["gradient"],
        "tol": fit["tol"],
    }
    cfg.update(override)
    return FitConfig(**cfg)


def _target(spec: Mapping[str, Any], value_range: Sequence[float] | None = None) -> Target:
    rng = value_range if value_range is not None else spec.get("value_range")
    return Target(
        column=spec["column"],
        value_range=None if rng is None else (float(rng[0]), float(rng[1])),
        func=spec.get("func", "none"),
    )


def _base_models(path: PathLike, params: Params, *, family_filter: str, include_preregistered: bool = False):
    bench = params["benchmarks"]
    needed = list(META_COLUMNS) + sorted({b for key in ("default", "nongsm") for b in bench[key]})
    df = read_table(path, needed)
    return select_models(df, family_list(family_filter), include_preregistered=include_preregistered)


def _predictions_table(label: str, preds: Mapping[str, Prediction]) -> pd.DataFrame:
    frames = []
    for predictor, p in preds.items():
        rows = p.rows.copy()
        rows.insert(0, "predictor", predictor)
        rows.insert(0, "target", label)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def _fits_row(label: str, predictor: str, p: Prediction) -> dict[str, Any]:
    eq = p.equivalence
    return {
        "target": label,
        "predictor": predictor,
        "intercept": p.fit.intercept,
        "floor": p.fit.floor,
        "equiv_slope": np.nan if eq is None else eq.slope,
        "equiv_intercept": np.nan if eq is None else eq.intercept,
        "train_mse": p.metrics["train_mse"],
        "test_mse": p.metrics["test_mse"],
        "converged": p.fit.converged,
    }


# --- (a) capability space --------------------------------------------------------------


def capability_step(paths: Mapping[str, PathLike], params: Params) -> StepResult:
    """Sec. 3.2: explained variance and loadings of the benchmark PCA (all default-scope models)."""
    cfg = params["capability"]
    imp = params["imputation"]
    bench = list(params["benchmarks"][cfg["benchmarks"]])
    df = _base_models(paths["base_eval"], params, family_filter=cfg["family_filter"])
    space = capability_space(
        df,
        bench,
        n_components=int(params["pca"]["n_components"]),
        impute_components=int(imp["n_components"]),
        impute_max_iter=int(imp["max_iter"]),
        impute_tol=float(imp["tol"]),
        bounds=_bounds(imp),
    )
    evr = space.pca.explained_variance_ratio
    cc_pca, n_complete = complete_case_pca(df, bench, int(params["pca"]["n_components"]))
    loadings = space.loadings()
    numbers: dict[str, Any] = {
        "n_models": int(len(df)),
        "n_families": int(df[FAMILY].nunique()),
        "n_models_with_flops": int(df[FLOPS].notna().sum()),
        "explained_variance": {f"pc{i + 1}": float(v) for i, v in enumerate(evr)},
        "complete_cases": {
            "n_models": n_complete,
            "explained_variance": {f"pc{i + 1}": float(v) for i, v in enumerate(cc_pca.explained_variance_ratio)},
        },
        "loadings": {
            f"pc{i + 1}": {slug(b): float(loadings.iloc[i][b]) for b in bench} for i in range(min(3, len(loadings)))
        },
    }
    numbers["explained_variance"]["top3"] = float(evr[:3].sum())
    scree = pd.DataFrame(
        {"pc": np.arange(1, len(evr) + 1), "explained_variance_ratio": evr, "cumulative": np.cumsum(evr)}
    )
    loadings_table = loadings.T.rename_axis("benchmark").reset_index()
    return StepResult({"pca": numbers}, {"scree": scree, "loadings": loadings_table, "scores": space.scores})


# --- (b) per-family log-linearity ---------------------------------------------------------


def family_loglinear_step(paths: Mapping[str, PathLike], params: Params) -> StepResult:
    """Sec. 3.2, Fig. 3: PC-1 vs log10 FLOPs within each family (OLS R^2 and slope)."""
    scores = read_table(paths["scores"], [MODEL, FAMILY, FLOPS, "PC-1"])
    fits = family_loglinearity(scores, min_models=int(params["capability"]["min_family_models"]))
    numbers: dict[str, Any] = {
        "mean_r2": float(fits["r2"].mean()),
        "n_families": int(len(fits)),
    }
    for row in fits.itertuples(index=False):
        numbers[slug(row.family)] = {"n": int(row.n), "r2": float(row.r2), "slope": float(row.slope)}
    return StepResult({"family_loglinear": numbers}, {"fits": fits})



def _predict_each(
    df: pd.DataFrame,
    target: Target,
    predictors: Sequence[str],
    split: Splitter,
    pre: Preprocess,
    fit: FitConfig,
    reference_family: str | None,
) -> dict[str, Prediction]:
    """One held-out prediction per predictor (x = log size, log FLOPs, PC-1..k) for one target."""
    return {
        x: run_prediction(df, target, x, split, preprocess=pre, fit=fit, reference_family=reference_family)
        for x in predictors
    }


# --- (c) post-training interventions -----------------------------------------------------


def _post_training_frame(paths: Mapping[str, PathLike], params: Params, columns: Sequence[str], **kw) -> pd.DataFrame:
    base = _base_models(paths["base_eval"], params, **kw)
    post = read_table(paths["post_training"], [MODEL, *columns])
    return merge_on_model(base, post)


def post_training_step(paths: Mapping[str, PathLike], params: Params) -> StepResult:
    """Sec. 4.2: GSM8K (naive / CoT / CoT+SC) and BBH (few-shot / CoT) from models below a FLOPs cutoff."""
    cfg = params["post_training"]
    targets = cfg["targets"]
    df = _post_training_frame(
        paths, params, [t["column"] for t in targets.values()], family_filter=cfg["family_filter"]
    )
    split = cutoff_split(FLOPS, float(cfg["cutoff_flops"]))
    fit = _fit_config(params, cfg)
    numbers: dict[str, Any] = {"cutoff_flops": float(cfg["cutoff_flops"])}
    tables, fit_rows = [], []
    for name, spec in targets.items():
        target = _target(spec)
        pre = _preprocess(params, spec["benchmarks"])
        preds: dict[str, Prediction] = {}
        out: dict[str, Any] = {}
        for predictor in cfg["predictors"]:
            p = run_prediction(
                df, target, predictor, split, preprocess=pre, fit=fit, reference_family=cfg["reference_family"]
            )
            preds[predictor] = p
            out[predictor] = dict(p.metrics)
            if p.equivalence is not None and predictor.startswith("pc"):
                out[predictor]["equiv_slope"] = p.equivalence.slope
            if cfg["converged_tol"] is not None:
                conv = _fit_config(params, cfg, gradient="analytic", tol=cfg["converged_tol"])
                pc = run_prediction(df, target, predictor, split, preprocess=pre, fit=conv, reference_family=None)
                out[predictor]["test_mse_converged"] = pc.metrics["test_mse"]
            fit_rows.append(_fits_row(name, predictor, p))
        if cfg["notebook_pca_components"] is not None:
            pre_nb = _preprocess(params, spec["benchmarks"], cfg["notebook_pca_components"])
            p = run_prediction(df, target, "pc3", split, preprocess=pre_nb, fit=fit, reference_family=None)
            out["pc3_notebook_pca"] = dict(p.metrics)
        numbers[name] = out
        tables.append(_predictions_table(name, preds))
        log.info("post_training %s: %s", name, {k: f"{v['test_mse']:.3e}" for k, v in out.items()})
    return StepResult(
        {"post_training": numbers},
        {"predictions": pd.concat(tables, ignore_index=True), "fits": pd.DataFrame(fit_rows)},
    )


# --- (d) agents ---------------------------------------------------------------------------


def agents_step(paths: Mapping[str, PathLike], params: Params) -> StepResult:
    """Sec. 4.3: AgentBench / AgentBoard from instruct-model benchmarks, top 10% held out."""
    cfg = params["agents"]
    bench = list(params["benchmarks"][cfg["benchmarks"]])
    inst = read_table(paths["instruct_eval"], [*META_COLUMNS, *bench])
    agent = read_table(paths["agent_eval"], [MODEL, *(t["column"] for t in cfg["targets"].values())])
    df = merge_on_model(inst, agent)
    pre = _preprocess(params, cfg["benchmarks"])
    fit = _fit_config(params, cfg)
    split = top_fraction_split(float(cfg["test_fraction"]))
    numbers: dict[str, Any] = {}
    tables, fit_rows = [], []
    for name, spec in cfg["targets"].items():
        predictors = [f"pc{k}" for k in cfg["n_pcs"]]
        preds = _predict_each(df, _target(spec), predictors, split, pre, fit, cfg["reference_family"])
        fit_rows.extend(_fits_row(name, predictor, p) for predictor, p in preds.items())
        numbers[name] = {k: dict(p.metrics) for k, p in preds.items()}
        tables.append(_predictions_table(name, preds))
    return StepResult(
        {"agents": numbers}, {"predictions": pd.concat(tables, ignore_index=True), "fits": pd.DataFrame(fit_rows)}
    )


# --- (e) Open LLM Leaderboard v2 -------------------------------------------------------------


def lbv2_step(paths: Mapping[str, PathLike], params: Params) -> StepResult:
    """App. C.3: GPQA, MATH-hard, BBH (Leaderboard v2), min-maxed from chance, per-target FLOPs cutoffs."""
    cfg = params["lbv2"]
    base = _base_models(
        paths["base_eval"], params, family_filter=cfg["family_filter"], include_preregistered=cfg["include_preregistered"]
    )
    lb = read_table(paths["leaderboard_v2"], [MODEL, *(t["column"] for t in cfg["targets"].values())])
    df = merge_on_model(base, lb)
    pre = _preprocess(params, cfg["benchmarks"])
    fit = _fit_config(params, cfg)
    numbers: dict[str, Any] = {"n_models": int(len(df))}
    tables = []
    for name, spec in cfg["targets"].items():
        chance = bbh_chance() if spec["chance"] == "bbh_subtask_mean" else float(spec["chance"])
        target = _target(spec, (chance, 1.0))
        split = cutoff_split(FLOPS, float(spec["cutoff_flops"]))
        preds = _predict_each(df, target, cfg["predictors"], split, pre, fit, cfg["reference_family"])
        numbers[name] = {x: dict(p.metrics) for x, p in preds.items()}
        numbers[name]["chance"] = chance
        tables.append(_predictions_table(name, preds))
    return StepResult({"lbv2": numbers}, {"predictions": pd.concat(tables, ignore_index=True)})


# --- (f) preregistered models --------------------------------------------------------------


def preregistered_step(paths: Mapping[str, PathLike], params: Params) -> StepResult:
    """README update (2024-10): predict the preregistered post-paper models from all earlier ones."""
    cfg = params["preregistered"]
    targets = {name: params["post_training"]["targets"][name] for name in cfg["targets"]}
    df = _post_training_frame(
        paths,
        params,
        [t["column"] for t in targets.values()],
        family_filter=cfg["family_filter"],
        include_preregistered=True,
    )
    split = models_split(PREREGISTERED_MODELS)
    fit = _fit_config(params, cfg)
    numbers: dict[str, Any] = {}
    tables = []
    for name, spec in targets.items():
        pre = _preprocess(params, spec["benchmarks"])
        preds = _predict_each(df, _target(spec), cfg["predictors"], split, pre, fit, cfg["reference_family"])
        numbers[name] = {x: dict(p.metrics) for x, p in preds.items()}
        tables.append(_predictions_table(name, preds))
    return StepResult({"preregistered": numbers}, {"predictions": pd.concat(tables, ignore_index=True)})


# --- (g) emergent capabilities ------------------------------------------------------------


def emergent_step(paths: Mapping[str, PathLike], params: Params) -> StepResult:
    """Sec. 4.1: BIG-bench tasks with per-task cutoff and transform (settings unverified, see notes)."""
    cfg = params["emergent"]
    base = _base_models(paths["base_eval"], params, family_filter=cfg["family_filter"])
    em = read_table(paths["emergent"], [MODEL, *(t["column"] for t in cfg["tasks"].values())])
    df = merge_on_model(base, em)
    fit = _fit_config(params, cfg)
    numbers: dict[str, Any] = {}
    tables = []
    for name, spec in cfg["tasks"].items():
        pre = _preprocess(params, spec["benchmarks"])
        split = cutoff_split(FLOPS, float(spec["cutoff_flops"]))
        preds = _predict_each(df, _target(spec), cfg["predictors"], split, pre, fit, cfg["reference_family"])
        numbers[name] = {x: dict(p.metrics) for x, p in preds.items()}
        tables.append(_predictions_table(name, preds))
    return StepResult({"emergent": numbers}, {"predictions": pd.concat(tables, ignore_index=True)})


# --- (h) subset selection ------------------------------------------------------------------


def _selection_scores(pool: pd.DataFrame, params: Params, benchmark_set: str, n_pcs: int) -> np.ndarray:
    pre = _preprocess(params, benchmark_set)
    _, x = fit_pca_imputer(
        pool[list(pre.benchmarks)].to_numpy(float),
        pre.impute_components,
        max_iter=pre.impute_max_iter,
        tol=pre.impute_tol,
        bounds=pre.bounds,
    )
    pca = fit_pca(x, min(pre.pca_components, *x.shape))
    return pca.transform(x)[:, :n_pcs]


def subset_selection_step(paths: Mapping[str, PathLike], params: Params) -> StepResult:
    """Sec. 5: V-optimal family subsets by model budget vs random subsets, scored on the GSM8K targets."""
    cfg = params["subset_selection"]
    ev = cfg["eval"]
    targets = {name: params["post_training"]["targets"][name] for name in ev["targets"]}
    families = family_list(cfg["family_filter"])
    df = _post_training_frame(paths, params, [t["column"] for t in targets.values()], family_filter=cfg["family_filter"])
    pool = df[df[FLOPS] <= float(cfg["cutoff_flops"])]
    if cfg["drop_missing"]:
        pool = pool.dropna(subset=list(params["benchmarks"][cfg["benchmarks"]]))
    pool = pool.reset_index(drop=True)
    scores = _selection_scores(pool, params, cfg["benchmarks"], int(cfg["n_pcs"]))
    search = search_family_subsets(scores, pool[FAMILY].tolist(), families, max_families=int(cfg["max_families"]))
    log.info("subset search: %d family subsets of %d families", search.n_subsets, len(search.families))

    split = cutoff_split(FLOPS, float(cfg["cutoff_flops"]))
    fit = _fit_config(params, ev)

    def gmean_test_mse(train_models: Sequence[str] | None) -> float:
        mses = []
        for spec in targets.values():
            pre = _preprocess(params, spec["benchmarks"], ev["pca_components"])
            p = run_prediction(
                df, _target(spec), ev["predictor"], split, preprocess=pre, fit=fit,
                train_models=train_models, reference_family=None,
            )  # fmt: skip
            mses.append(p.metrics["test_mse"])
        return float(gmean(mses))

    def models_of(fams: Sequence[str]) -> list[str]:
        return pool.loc[pool[FAMILY].isin(list(fams)), MODEL].tolist()

    n_train_all = int((df[FLOPS] <= float(cfg["cutoff_flops"])).sum())
    numbers: dict[str, Any] = {
        "n_subsets": search.n_subsets,
        "pool": {"n_models": int(len(pool)), "n_families": int(len(search.families))},
        "random": {},
        "eval": {
            "vopt": {},
            "random": {},
            "all": {"gmean_test_mse": gmean_test_mse(None), "n_train_models": n_train_all},
        },
    }
    curve, choices = [], []
    for budget in tqdm(cfg["budgets"], desc="subset budgets", mininterval=1.0):
        key = f"budget{budget}"
        best = best_subset(search, int(budget))
        draws = random_subsets(
            search, int(budget), int(cfg["random_draws"]), grace=int(cfg["random_grace"]),
            min_models=int(cfg["random_min_models"]), seed=int(cfg["seed"]),
        )  # fmt: skip
        numbers[key] = {
            "objective": best.objective,
            "families": list(best.families),
            "n_models": best.n_models,
            "n_families": len(best.families),
        }
        numbers["random"][key] = {
            "objective_mean": float(np.mean([d.objective for d in draws])),
            "objective_draw0": draws[0].objective,
            "families_draw0": list(draws[0].families),
        }
        vopt = gmean_test_mse(models_of(best.families))
        rand = np.array([gmean_test_mse(models_of(d.families)) for d in draws])
        numbers["eval"]["vopt"][key] = {"gmean_test_mse": vopt}
        numbers["eval"]["random"][key] = {
            "gmean_test_mse": float(rand.mean()),
            "log_mean": float(np.log(rand).mean()),
            "log_std": float(np.log(rand).std()),
        }
        curve.append({"budget": budget, "method": "vopt", "gmean_test_mse": vopt, "low": vopt, "high": vopt})
        lm, ls = np.log(rand).mean(), np.log(rand).std()
        curve.append(
            {"budget": budget, "method": "random", "gmean_test_mse": float(rand.mean()),
             "low": float(np.exp(lm - ls)), "high": float(np.exp(lm + ls))}
        )  # fmt: skip
        choices.append({"budget": budget, "method": "vopt", "draw": 0, "objective": best.objective,
                        "n_models": best.n_models, "families": ";".join(best.families), "gmean_test_mse": vopt})  # fmt: skip
        for i, (d, m) in enumerate(zip(draws, rand)):
            choices.append({"budget": budget, "method": "random", "draw": i, "objective": d.objective,
                            "n_models": d.n_models, "families": ";".join(d.families), "gmean_test_mse": float(m)})  # fmt: skip
    all_val = numbers["eval"]["all"]["gmean_test_mse"]
    curve.extend({"budget": b, "method": "all", "gmean_test_mse": all_val, "low": all_val, "high": all_val}
                 for b in cfg["budgets"])  # fmt: skip

    guide = cfg["guide"]
    if guide["enabled"]:
        gdf = _base_models(paths["base_eval"], params, family_filter=cfg["family_filter"])
        if guide["drop_missing"]:
            gdf = gdf.dropna(subset=list(params["benchmarks"][cfg["benchmarks"]]))
        gscores = _selection_scores(gdf.reset_index(drop=True), params, cfg["benchmarks"], int(cfg["n_pcs"]))
        gsearch = search_family_subsets(
            gscores, gdf[FAMILY].tolist(), families, max_families=int(guide["max_families"]),
            include=tuple(guide["include_families"]),
        )  # fmt: skip
        numbers["guide"] = {"n_subsets": gsearch.n_subsets}
        for budget in guide["budgets"]:
            g = best_subset(gsearch, int(budget))
            numbers["guide"][f"budget{budget}"] = {
                "objective": g.objective, "families": list(g.families), "n_models": g.n_models,
            }  # fmt: skip
    return StepResult(
        {"subset": numbers}, {"curve": pd.DataFrame(curve), "choices": pd.DataFrame(choices)}
    )


# --- numbers.json -----------------------------------------------------------------------------


def merge_numbers(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Flatten and merge the per-step numbers; a key produced twice is an error."""
    from repro.common.io import flatten

    out: dict[str, Any] = {}
    for part in parts:
        for key, value in flatten(part).items():
            if key in out:
                raise ValueError(f"numbers key {key!r} produced by two steps")
            out[key] = value
    return dict(sorted(out.items()))
