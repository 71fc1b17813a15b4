"""Workflow steps of the obsscaling paper: typed config + data files -> numbers + small tables.

Each ``<step>_step`` function is one Snakemake compute rule (``obsscaling__<step>``,
the paper contract in :mod:`repro.common.steps`). It takes the rule's named input
files and its typed config (:mod:`repro.obsscaling.config`, built from the step's
resolved params), loads and validates the CSVs it needs, runs the paper's analysis
from :mod:`capability`, :mod:`predict` and :mod:`selection`, and returns a
:class:`~repro.common.steps.StepResult`: numbers under the ``<step>.`` prefix and the
small tables the figure rules plot. The shared writer writes nothing until the
whole step succeeded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import gmean
from tqdm import tqdm

from repro.common.declarations import step
from repro.common.steps import StepResult
from repro.obsscaling.capability import capability_space, complete_case_pca, family_loglinearity
from repro.obsscaling.config import (
    AgentsConfig,
    EmergentConfig,
    FamilyLoglinearConfig,
    FitContext,
    FitSettings,
    Imputation,
    Lbv2Config,
    LinkFit,
    PcaConfig,
    PostTrainingConfig,
    PreregisteredConfig,
    SubsetSelectionConfig,
    TargetSpec,
)
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
    RoundoffStudy,
    Splitter,
    Target,
    capability_features,
    cutoff_split,
    models_split,
    run_prediction,
    top_fraction_split,
)
from repro.obsscaling.selection import best_subset, random_subsets, search_family_subsets

__all__ = [
    "pca_step",
    "family_loglinear_step",
    "post_training_step",
    "agents_step",
    "lbv2_step",
    "preregistered_step",
    "emergent_step",
    "subset_selection_step",
]

log = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]
Inputs = Mapping[str, Path]


def _preprocess(ctx: FitContext | PcaConfig, benchmark_set: str, pca_components: int | None = None) -> Preprocess:
    imp: Imputation = ctx.imputation
    return Preprocess(
        benchmarks=tuple(ctx.benchmarks[benchmark_set]),
        impute_components=imp.n_components,
        impute_max_iter=imp.max_iter,
        impute_tol=imp.tol,
        bounds=imp.bounds,
        pca_components=pca_components if pca_components is not None else ctx.pca.n_components,
    )


def _fit_config(fit: FitSettings, section: LinkFit, **override: Any) -> FitConfig:
    """The fit settings of a section: its link/loss/delta plus the shared ``fit`` block."""
    cfg: dict[str, Any] = {
        "loss": section.loss,
        "delta": section.delta,
        "floor_bounds": fit.floor_bounds if section.link == "sigmoid_floor" else None,
        "init_coef": fit.init_coef,
        "max_nfev": fit.max_nfev,
        "gradient": fit.gradient,
        "tol": fit.tol,
    }
    cfg.update(override)
    return FitConfig(**cfg)


def _target(spec: TargetSpec, value_range: tuple[float, float] | None = None) -> Target:
    rng = value_range if value_range is not None else spec.value_range
    return Target(column=spec.column, value_range=rng, func=spec.func)


def _base_models(
    path: PathLike,
    benchmarks: Mapping[str, Sequence[str]],
    *,
    family_filter: str,
    include_preregistered: bool = False,
) -> pd.DataFrame:
    needed = list(META_COLUMNS) + sorted({b for key in ("default", "nongsm") for b in benchmarks[key]})
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


@step(reads=("benchmarks", "imputation", "pca.n_components", "capability.benchmarks", "capability.family_filter"))
def pca_step(inputs: Inputs, config: PcaConfig) -> StepResult:
    """Sec. 3.2: explained variance and loadings of the benchmark PCA (all default-scope models)."""
    imp = config.imputation
    bench = list(config.benchmarks[config.capability.benchmarks])
    df = _base_models(inputs["base_eval"], config.benchmarks, family_filter=config.capability.family_filter)
    space = capability_space(
        df,
        bench,
        n_components=config.pca.n_components,
        impute_components=imp.n_components,
        impute_max_iter=imp.max_iter,
        impute_tol=imp.tol,
        bounds=imp.bounds,
    )
    evr = space.pca.explained_variance_ratio
    cc_pca, n_complete = complete_case_pca(df, bench, config.pca.n_components)
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


@step(reads=("capability.min_family_models",))
def family_loglinear_step(inputs: Inputs, config: FamilyLoglinearConfig) -> StepResult:
    """Sec. 3.2, Fig. 3: PC-1 vs log10 FLOPs within each family (OLS R^2 and slope)."""
    scores = read_table(inputs["scores"], [MODEL, FAMILY, FLOPS, "PC-1"])
    fits = family_loglinearity(scores, min_models=config.capability.min_family_models)
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


def _post_training_frame(
    inputs: Inputs, benchmarks: Mapping[str, Sequence[str]], columns: Sequence[str], **kw: Any
) -> pd.DataFrame:
    base = _base_models(inputs["base_eval"], benchmarks, **kw)
    post = read_table(inputs["post_training"], [MODEL, *columns])
    return merge_on_model(base, post)


@step(reads=("benchmarks", "imputation", "pca", "fit", "post_training"))
def post_training_step(inputs: Inputs, config: PostTrainingConfig) -> StepResult:
    """Sec. 4.2: GSM8K (naive / CoT / CoT+SC) and BBH (few-shot / CoT) from models below a FLOPs cutoff."""
    cfg = config.post_training
    targets = cfg.targets
    df = _post_training_frame(
        inputs, config.benchmarks, [t.column for t in targets.values()], family_filter=cfg.family_filter
    )
    split = cutoff_split(FLOPS, cfg.cutoff_flops)
    fit = _fit_config(config.fit, cfg)
    known = {f"{t}.{x}" for t in targets for x in (*cfg.predictors, "pc3_notebook_pca")}
    unknown = sorted(set(cfg.roundoff.fits) - known)
    if unknown:
        raise ValueError(
            f"obsscaling.post_training.roundoff.fits: {unknown} are not fits of this step; fits: {sorted(known)}"
        )
    study = RoundoffStudy(draws=cfg.roundoff.draws, rel=cfg.roundoff.rel)

    def roundoff(name: str, predictor: str) -> RoundoffStudy | None:
        return study if f"{name}.{predictor}" in cfg.roundoff.fits else None

    numbers: dict[str, Any] = {"cutoff_flops": cfg.cutoff_flops}
    tables, fit_rows = [], []
    for name, spec in targets.items():
        target = _target(spec)
        pre = _preprocess(config, spec.benchmarks)
        preds: dict[str, Prediction] = {}
        out: dict[str, Any] = {}
        for predictor in cfg.predictors:
            p = run_prediction(
                df,
                target,
                predictor,
                split,
                preprocess=pre,
                fit=fit,
                reference_family=cfg.reference_family,
                roundoff=roundoff(name, predictor),
            )
            preds[predictor] = p
            out[predictor] = dict(p.metrics)
            if p.equivalence is not None and predictor.startswith("pc"):
                out[predictor]["equiv_slope"] = p.equivalence.slope
            if cfg.converged_tol is not None:
                conv = _fit_config(config.fit, cfg, gradient="analytic", tol=cfg.converged_tol)
                pc = run_prediction(df, target, predictor, split, preprocess=pre, fit=conv, reference_family=None)
                out[predictor]["test_mse_converged"] = pc.metrics["test_mse"]
            fit_rows.append(_fits_row(name, predictor, p))
        if cfg.notebook_pca_components is not None:
            pre_nb = _preprocess(config, spec.benchmarks, cfg.notebook_pca_components)
            p = run_prediction(
                df,
                target,
                "pc3",
                split,
                preprocess=pre_nb,
                fit=fit,
                reference_family=None,
                roundoff=roundoff(name, "pc3_notebook_pca"),
            )
            out["pc3_notebook_pca"] = dict(p.metrics)
        numbers[name] = out
        tables.append(_predictions_table(name, preds))
        log.info("post_training %s: %s", name, {k: f"{v['test_mse']:.3e}" for k, v in out.items()})
    return StepResult(
        {"post_training": numbers},
        {"predictions": pd.concat(tables, ignore_index=True), "fits": pd.DataFrame(fit_rows)},
    )


# --- (d) agents ---------------------------------------------------------------------------


@step(reads=("benchmarks", "imputation", "pca", "fit", "agents"))
def agents_step(inputs: Inputs, config: AgentsConfig) -> StepResult:
    """Sec. 4.3: AgentBench / AgentBoard from instruct-model benchmarks, top 10% held out."""
    cfg = config.agents
    bench = list(config.benchmarks[cfg.benchmarks])
    inst = read_table(inputs["instruct_eval"], [*META_COLUMNS, *bench])
    agent = read_table(inputs["agent_eval"], [MODEL, *(t.column for t in cfg.targets.values())])
    df = merge_on_model(inst, agent)
    pre = _preprocess(config, cfg.benchmarks)
    fit = _fit_config(config.fit, cfg)
    split = top_fraction_split(cfg.test_fraction)
    numbers: dict[str, Any] = {}
    tables, fit_rows = [], []
    for name, spec in cfg.targets.items():
        predictors = [f"pc{k}" for k in cfg.n_pcs]
        preds = _predict_each(df, _target(spec), predictors, split, pre, fit, cfg.reference_family)
        fit_rows.extend(_fits_row(name, predictor, p) for predictor, p in preds.items())
        numbers[name] = {k: dict(p.metrics) for k, p in preds.items()}
        tables.append(_predictions_table(name, preds))
    return StepResult(
        {"agents": numbers}, {"predictions": pd.concat(tables, ignore_index=True), "fits": pd.DataFrame(fit_rows)}
    )


# --- (e) Open LLM Leaderboard v2 -------------------------------------------------------------


@step(reads=("benchmarks", "imputation", "pca", "fit", "lbv2"))
def lbv2_step(inputs: Inputs, config: Lbv2Config) -> StepResult:
    """App. C.3: GPQA, MATH-hard, BBH (Leaderboard v2), min-maxed from chance, per-target FLOPs cutoffs."""
    cfg = config.lbv2
    base = _base_models(
        inputs["base_eval"],
        config.benchmarks,
        family_filter=cfg.family_filter,
        include_preregistered=cfg.include_preregistered,
    )
    lb = read_table(inputs["leaderboard_v2"], [MODEL, *(t.column for t in cfg.targets.values())])
    df = merge_on_model(base, lb)
    pre = _preprocess(config, cfg.benchmarks)
    fit = _fit_config(config.fit, cfg)
    numbers: dict[str, Any] = {"n_models": int(len(df))}
    tables = []
    for name, spec in cfg.targets.items():
        chance = bbh_chance() if spec.chance == "bbh_subtask_mean" else float(spec.chance)  # type: ignore[arg-type]
        target = _target(spec, (chance, 1.0))
        split = cutoff_split(FLOPS, float(spec.cutoff_flops))  # type: ignore[arg-type]
        preds = _predict_each(df, target, cfg.predictors, split, pre, fit, cfg.reference_family)
        numbers[name] = {x: dict(p.metrics) for x, p in preds.items()}
        numbers[name]["chance"] = chance
        tables.append(_predictions_table(name, preds))
    return StepResult({"lbv2": numbers}, {"predictions": pd.concat(tables, ignore_index=True)})


# --- (f) preregistered models --------------------------------------------------------------


@step(reads=("benchmarks", "imputation", "pca", "fit", "post_training.targets", "preregistered"))
def preregistered_step(inputs: Inputs, config: PreregisteredConfig) -> StepResult:
    """README update (2024-10): predict the preregistered post-paper models from all earlier ones."""
    cfg = config.preregistered
    targets = {name: config.post_training.targets[name] for name in cfg.targets}
    df = _post_training_frame(
        inputs,
        config.benchmarks,
        [t.column for t in targets.values()],
        family_filter=cfg.family_filter,
        include_preregistered=True,
    )
    split = models_split(PREREGISTERED_MODELS)
    fit = _fit_config(config.fit, cfg)
    numbers: dict[str, Any] = {}
    tables = []
    for name, spec in targets.items():
        pre = _preprocess(config, spec.benchmarks)
        preds = _predict_each(df, _target(spec), cfg.predictors, split, pre, fit, cfg.reference_family)
        numbers[name] = {x: dict(p.metrics) for x, p in preds.items()}
        tables.append(_predictions_table(name, preds))
    return StepResult({"preregistered": numbers}, {"predictions": pd.concat(tables, ignore_index=True)})


# --- (g) emergent capabilities ------------------------------------------------------------


@step(reads=("benchmarks", "imputation", "pca", "fit", "emergent"))
def emergent_step(inputs: Inputs, config: EmergentConfig) -> StepResult:
    """Sec. 4.1: BIG-bench tasks with per-task cutoff and transform (settings unverified, see notes)."""
    cfg = config.emergent
    base = _base_models(inputs["base_eval"], config.benchmarks, family_filter=cfg.family_filter)
    em = read_table(inputs["emergent"], [MODEL, *(t.column for t in cfg.tasks.values())])
    df = merge_on_model(base, em)
    fit = _fit_config(config.fit, cfg)
    numbers: dict[str, Any] = {}
    tables = []
    for name, spec in cfg.tasks.items():
        pre = _preprocess(config, spec.benchmarks)
        split = cutoff_split(FLOPS, float(spec.cutoff_flops))  # type: ignore[arg-type]
        preds = _predict_each(df, _target(spec), cfg.predictors, split, pre, fit, cfg.reference_family)
        numbers[name] = {x: dict(p.metrics) for x, p in preds.items()}
        tables.append(_predictions_table(name, preds))
    return StepResult({"emergent": numbers}, {"predictions": pd.concat(tables, ignore_index=True)})


# --- (h) subset selection ------------------------------------------------------------------


def _selection_scores(pool: pd.DataFrame, config: FitContext, benchmark_set: str, n_pcs: int) -> np.ndarray:
    """The first ``n_pcs`` PC scores of the pool, imputation and PCA fitted on the whole pool."""
    scores, _, _ = capability_features(pool, pool.iloc[:0], _preprocess(config, benchmark_set))
    return scores[:, :n_pcs]


@step(reads=("benchmarks", "imputation", "pca", "fit", "post_training.targets", "subset_selection"))
def subset_selection_step(inputs: Inputs, config: SubsetSelectionConfig) -> StepResult:
    """Sec. 5: V-optimal family subsets by model budget vs random subsets, scored on the GSM8K targets."""
    cfg = config.subset_selection
    ev = cfg.eval
    targets = {name: config.post_training.targets[name] for name in ev.targets}
    families = family_list(cfg.family_filter)
    df = _post_training_frame(
        inputs, config.benchmarks, [t.column for t in targets.values()], family_filter=cfg.family_filter
    )
    pool = df[df[FLOPS] <= cfg.cutoff_flops]
    if cfg.drop_missing:
        pool = pool.dropna(subset=list(config.benchmarks[cfg.benchmarks]))
    pool = pool.reset_index(drop=True)
    scores = _selection_scores(pool, config, cfg.benchmarks, cfg.n_pcs)
    search = search_family_subsets(scores, pool[FAMILY].tolist(), families, max_families=cfg.max_families)
    log.info("subset search: %d family subsets of %d families", search.n_subsets, len(search.families))

    split = cutoff_split(FLOPS, cfg.cutoff_flops)
    fit = _fit_config(config.fit, ev)

    def gmean_test_mse(train_models: Sequence[str] | None) -> float:
        mses = []
        for spec in targets.values():
            pre = _preprocess(config, spec.benchmarks, ev.pca_components)
            p = run_prediction(
                df,
                _target(spec),
                ev.predictor,
                split,
                preprocess=pre,
                fit=fit,
                train_models=train_models,
                reference_family=None,
            )
            mses.append(p.metrics["test_mse"])
        return float(gmean(mses))

    def models_of(fams: Sequence[str]) -> list[str]:
        return pool.loc[pool[FAMILY].isin(list(fams)), MODEL].tolist()

    n_train_all = int((df[FLOPS] <= cfg.cutoff_flops).sum())
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
    for budget in tqdm(cfg.budgets, desc="subset budgets", mininterval=1.0):
        key = f"budget{budget}"
        best = best_subset(search, budget)
        draws = random_subsets(
            search, budget, cfg.random_draws, grace=cfg.random_grace, min_models=cfg.random_min_models, seed=cfg.seed
        )
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
            {
                "budget": budget,
                "method": "random",
                "gmean_test_mse": float(rand.mean()),
                "low": float(np.exp(lm - ls)),
                "high": float(np.exp(lm + ls)),
            }
        )
        choices.append(
            {
                "budget": budget,
                "method": "vopt",
                "draw": 0,
                "objective": best.objective,
                "n_models": best.n_models,
                "families": ";".join(best.families),
                "gmean_test_mse": vopt,
            }
        )
        for i, (d, m) in enumerate(zip(draws, rand)):
            choices.append(
                {
                    "budget": budget,
                    "method": "random",
                    "draw": i,
                    "objective": d.objective,
                    "n_models": d.n_models,
                    "families": ";".join(d.families),
                    "gmean_test_mse": float(m),
                }
            )
    all_val = numbers["eval"]["all"]["gmean_test_mse"]
    curve.extend(
        {"budget": b, "method": "all", "gmean_test_mse": all_val, "low": all_val, "high": all_val} for b in cfg.budgets
    )

    guide = cfg.guide
    if guide.enabled:
        gdf = _base_models(inputs["base_eval"], config.benchmarks, family_filter=cfg.family_filter)
        if guide.drop_missing:
            gdf = gdf.dropna(subset=list(config.benchmarks[cfg.benchmarks]))
        gscores = _selection_scores(gdf.reset_index(drop=True), config, cfg.benchmarks, cfg.n_pcs)
        gsearch = search_family_subsets(
            gscores, gdf[FAMILY].tolist(), families, max_families=guide.max_families, include=guide.include_families
        )
        numbers["guide"] = {"n_subsets": gsearch.n_subsets}
        for budget in guide.budgets:
            g = best_subset(gsearch, budget)
            numbers["guide"][f"budget{budget}"] = {
                "objective": g.objective,
                "families": list(g.families),
                "n_models": g.n_models,
            }
    return StepResult({"subset_selection": numbers}, {"curve": pd.DataFrame(curve), "choices": pd.DataFrame(choices)})
