"""Steps of pplcorr (Thrush, Potts, Hashimoto 2024): rule ``pplcorr__<step>`` = ``<step>_step``.

* :func:`crosscheck_step` - our estimators/projections vs the authors' PyPI package (test oracle).
* :func:`exact_step` - released BPB + error CSVs -> per-target estimates, top-ten lists vs the
  released ``fasttext_info`` YAMLs, and Fig. 4's 5-fold held-out rank prediction.
* :func:`rpjv2_step` - (paper scale) the RedPajama-v2 domain matrix, git-blob-checked.
* :func:`pages_step`, :func:`population_step` - the live tier's pages, cloze targets and LM population.
* :func:`live_step` - estimate -> project -> classify -> select -> pretrain -> target error per arm.

This module holds the step functions only; their typed configs are in :mod:`repro.pplcorr.config`, the
method in :mod:`.estimators`, :mod:`.exact` (incl. the crosscheck's cases and oracle), :mod:`.live`,
:mod:`.ngram` and :mod:`.tiny_lm`.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from repro.common.declarations import step
from repro.common.fetch import DEFAULT_RESOURCES
from repro.common.gitblob import fetch_git_blob
from repro.common.lm.corpora import load_mix
from repro.common.steps import StepResult
from repro.pplcorr import data, exact, live
from repro.pplcorr.config import (
    CrosscheckConfig,
    ExactConfig,
    LiveConfig,
    PagesConfig,
    PaperConfig,
    PopulationConfig,
    Rpjv2Config,
)
from repro.pplcorr.estimators import ESTIMATORS, l2, linear
from repro.pplcorr.ngram import train_ngram
from repro.pplcorr.tiny_lm import char_tokenizer, train_transformer

log = logging.getLogger(__name__)

# --- crosscheck ----------------------------------------------------------------------------------


@step()
def crosscheck_step(inputs: Mapping[str, Path], config: CrosscheckConfig) -> StepResult:
    """Max |ours - oracle| per function over all cases (Sec. 3 estimators; Sec. 3.4 projections)."""
    est_o, proj_o = exact.crosscheck_oracle()
    X = data.load_bpb(inputs["bpb"])
    E = data.load_errors(inputs["errors"])
    ys = {t: data.target_errors(E, X.index, t) for t in config.targets}
    rows = []
    for name, Xc, yc in exact.crosscheck_cases(config, X.to_numpy(), ys):
        for fn in ESTIMATORS:
            ours = ESTIMATORS[fn](Xc, yc)
            theirs = getattr(est_o, fn)(Xc, yc)
            rows.append((name, fn, float(np.max(np.abs(ours - theirs))), True))
        est = ESTIMATORS["spearmanr"](Xc, yc)
        tau = np.full(est.size, 1.0 / (config.filter_ratio * est.size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the oracle's spurious "violation of tau bounds" warning
            p_lin = proj_o.linear(est, tau)
            p_l2 = proj_o.l2(est, tau)
        ours_lin = linear(est, tau)
        rows.append(
            (
                name,
                "linear",
                float(np.max(np.abs(ours_lin - p_lin))),
                bool(np.array_equal(ours_lin > 1e-6, p_lin > 1e-6)),
            )
        )
        rows.append((name, "l2", float(np.max(np.abs(l2(est, tau) - p_l2))), True))
    table = pd.DataFrame(rows, columns=["case", "function", "max_abs_diff", "same_support"])
    f64 = table[table["function"] != "linear"]
    lin = table[table["function"] == "linear"]
    numbers = {
        "crosscheck": {
            "max_abs_diff": float(f64["max_abs_diff"].max()),
            "linear_max_abs_diff": float(lin["max_abs_diff"].max()),
            "linear_same_support": int(lin["same_support"].all()),  # support: p > 1e-6 (float32 oracle)
            "n_cases": int(table["case"].nunique()),
            **{f"{fn}.max_abs_diff": float(g["max_abs_diff"].max()) for fn, g in table.groupby("function")},
        }
    }
    return StepResult(numbers=numbers, tables={"table": table})


# --- exact ---------------------------------------------------------------------------------------


@step()
def exact_step(inputs: Mapping[str, Path], config: ExactConfig) -> StepResult:
    """Top-ten texts per target vs ``top_ten_from_estimate``; Fig. 4 held-out Spearman per target."""
    E = data.load_errors(inputs["errors"])
    numbers: dict = {}
    bars, scatter = [], []
    for variant in config.variants:
        X = data.load_bpb(inputs[f"bpb_{variant}"], id_column="id" if variant == "synthetic" else "domain")
        for t in config.targets:
            suffix = "_synthetic" if variant == "synthetic" else ""
            ref = exact.reference_top_ten(inputs[f"info_{t}{suffix}"])
            nums, b, s = exact.exact_target(X, E, t, ref, config)
            key = t if variant == "synthetic" else f"rpjv2.{t}"
            numbers[key] = nums
            if variant == "synthetic":
                bars.append(b)
                scatter.append(s)
    numbers["n_llms"] = len(data.load_bpb(inputs["bpb_synthetic"]).index)
    return StepResult(numbers={"exact": numbers}, tables={"top10": pd.concat(bars), "heldout": pd.concat(scatter)})


# --- rpjv2 (paper scale) -------------------------------------------------------------------------


@step(scales=("paper",), merged=False)
def rpjv2_step(inputs: Mapping[str, Path], config: Rpjv2Config) -> StepResult:
    """Fetch the matrix (``$REPRO_MIRROR`` when it holds it, else the network; at the rehearsal a stand-in server,
    standins.servers.github-raw), check its git blob id, count LLMs and domains."""
    path = fetch_git_blob(config.url, config.git_blob, config.dest)
    X = data.load_bpb(path, id_column="domain")
    return StepResult(numbers={"rpjv2": {"n_llms": len(X.index), "n_domains": len(X.columns)}}, files=("matrix",))


# --- live tier -----------------------------------------------------------------------------------


@step(merged=False)
def pages_step(inputs: Mapping[str, Path], config: PagesConfig) -> StepResult:
    """Sec. 4 in miniature: pages of >= 20 domains and LAMBADA-like cloze targets."""
    names = config.corpora[0] if config.corpora == ("all",) else config.corpora
    manifests = [p for k, p in inputs.items() if k.startswith("corpus_")]
    resources = manifests[0].parent if manifests else Path(DEFAULT_RESOURCES) / "corpora"
    docs = load_mix(names, resources, allow_opt_in=True)
    pages = live.make_pages(
        docs,
        page_bytes=config.page_bytes,
        max_bytes_per_domain=config.max_bytes_per_domain,
        eval_pages=config.eval_pages,
        task_pages=config.task_pages,
        target_sample_pages=config.target_sample_pages,
        pool_frac=config.pool_frac,
        target_domains=list(config.targets.values()),
        seed=config.seed,
    )
    cloze = pd.concat(
        [
            live.make_cloze(
                pages,
                t,
                d,
                n_items=config.n_items,
                context_bytes=config.context_bytes,
                n_choices=config.n_choices,
                seed=config.seed,
            )
            for t, d in sorted(config.targets.items())
        ]
    )
    split_bytes = pages.groupby("split")["bytes"].sum()
    numbers = {
        "pages": {
            "n_domains": int(pages["domain"].nunique()),
            "n_pages": len(pages),
            **{f"bytes.{k}": int(v) for k, v in split_bytes.items()},
            "n_cloze_items": len(cloze),
        }
    }
    return StepResult(numbers=numbers, tables={"pages": pages, "cloze": cloze})


@step(
    merged=False,
    not_run={
        "paper_toy": (
            "the tiny tier's own CPU experiment (it runs at tiny scale); at the "
            "paper block's settings it takes CPU-hours, and no rehearsal sizes are "
            "set for it"
        )
    },
)
def population_step(inputs: Mapping[str, Path], config: PopulationConfig) -> StepResult:
    """Train the population; BPB per domain on held-out pages (X) and cloze errors (y) per model."""
    pages = pd.read_csv(inputs["pages"], keep_default_na=False)
    cloze = pd.read_csv(inputs["cloze"], keep_default_na=False)
    domains = sorted(pages["domain"].unique())
    members = live.population_specs(
        domains,
        size=config.size,
        orders=config.orders,
        smoothings=config.smoothings,
        dirichlet_alpha=config.dirichlet_alpha,
        min_bytes=config.min_bytes,
        max_bytes=config.max_bytes,
        seed=config.seed,
        transformers=config.transformers,
        transformer_steps=config.transformer_steps,
    )
    tokenizer = char_tokenizer(pages["text"].tolist()) if config.transformers else None
    X, E = live.train_population(
        pages, cloze, members, config.seed, transformer=config.transformer, tokenizer=tokenizer
    )
    bpb = X.reset_index(names="model")
    errors = E.reset_index(names="model")
    info = pd.DataFrame(
        [(m.name, m.kind, m.order, m.smoothing, m.steps, m.train_bytes) for m in members],
        columns=["model", "kind", "order", "smoothing", "steps", "train_bytes"],
    )
    errors = errors.merge(info, on="model")
    kinds = info.set_index("model")["kind"].reindex(X.index)
    numbers = {
        "population": {
            "size": len(members),
            "n_transformers": int((kinds == "transformer").sum()),
            "mean_bpb": float(X.to_numpy().mean()),
            **{f"{k}_mean_bpb": float(X[kinds == k].to_numpy().mean()) for k in sorted(set(kinds))},
        }
    }
    return StepResult(numbers=numbers, tables={"bpb": bpb, "errors": errors})


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"error_mean": float(np.mean(values)), "error_std": float(np.std(values))}


@step(
    not_run={
        "paper_toy": (
            "the tiny tier's own CPU experiment (it runs at tiny scale); at the "
            "paper block's settings it takes CPU-hours, and no rehearsal sizes are "
            "set for it"
        )
    }
)
def live_step(inputs: Mapping[str, Path], config: LiveConfig) -> StepResult:
    """Target error per arm (mean, std over seeds) of the fresh transformer, beside its floors.

    Per (target, arm, seed): the arm's pages at the equal byte budget; a fresh tiny transformer
    pretrained on them (``live.<t>.<arm>.error_mean``/``.error_std``); on the same pages the byte
    n-gram cross-check (``.ngram_error_mean``/``.ngram_error_std``) and the count-based bigram
    floor (``.bigram_floor_error_mean``); ``live.floor.cloze_error`` is the random-guess error.
    The per-seed values are kept as lists (``.error.per_seed``, ``.ngram_error.per_seed``,
    ``.bigram_floor_error.per_seed``, seeds in the order of ``live.seeds``).
    Identical page sets (the random arm is target-independent) train one model, scored on
    every target.
    """
    pages = pd.read_csv(inputs["pages"], keep_default_na=False)
    cloze = pd.read_csv(inputs["cloze"], keep_default_na=False)
    X = pd.read_csv(inputs["bpb"]).set_index("model")
    E = pd.read_csv(inputs["errors"]).set_index("model")
    missing = [m for m in X.index if m not in E.index]
    if missing:
        raise data.DataError(f"model(s) {missing[:5]} of the BPB matrix missing from the error table")
    data.check_bpb(X)
    pool = pages[pages["split"] == "pool"].reset_index(drop=True)
    pool_bytes = pool.groupby("domain")["bytes"].sum()
    floor = 1.0 - 1.0 / config.n_choices
    kinds = E["kind"].reindex(X.index) if "kind" in E.columns else pd.Series("ngram", index=X.index)
    is_tf = (kinds == "transformer").to_numpy()
    tokenizer = char_tokenizer(pages["text"].tolist())
    pre = config.pretrain
    nums: dict = {
        "population": {"size": len(X.index), "n_transformers": int(is_tf.sum()), "n_ngrams": int((~is_tf).sum())},
        "floor": {"cloze_error": floor},
        "seeds": [int(s) for s in config.seeds],  # the order of every ``.per_seed`` list
    }
    trained: dict[tuple[int, bytes], tuple] = {}  # (seed, page ids) -> (transformer, n-gram, floor)
    n_params = 0
    arm_rows, est_rows = [], []
    for target, domain in sorted(config.targets.items()):
        y = E.loc[X.index, target].to_numpy(dtype=np.float64)
        items = cloze[cloze["target"] == target]
        est, w = live.pplcorr_domains(
            X, y, pool_bytes, estimator_name=config.estimator, filter_ratio=config.filter_ratio
        )
        rank = int((est > est[domain]).sum()) + 1
        held = exact.heldout_rank_prediction(
            X.to_numpy(), y, folds=config.folds, estimator_name=config.estimator, filter_ratio=config.filter_ratio
        )
        mean_bpb = X.mean(axis=1).to_numpy()
        pop: dict = {
            "error_min": float(y.min()),
            "error_mean": float(y.mean()),
            "frac_beat_floor": float(np.mean(y < floor)),
        }
        if is_tf.any():
            pop["transformer_error_min"] = float(y[is_tf].min())
            pop["transformer_error_mean"] = float(y[is_tf].mean())
        t_nums: dict = {
            "target_domain_rank": rank,
            "n_domains_selected": int((w > 0).sum()),
            "heldout_spearman": held.spearman,
            "bpb_error_spearman": float(stats.spearmanr(mean_bpb, y).statistic),
            "population": pop,
        }
        for dom in X.columns:
            est_rows.append((target, dom, float(est[dom]), float(w[dom]), int(dom == domain)))
        coarse = domain.split(":", 1)[1]
        for arm in config.arms:
            errs, ngram_errs, floor_errs, f1s = [], [], [], []
            for seed in config.seeds:
                chosen, info = live.select_pages(
                    arm,
                    pages,
                    budget_bytes=config.budget_bytes,
                    seed=seed,
                    weights=w,
                    target_coarse=coarse,
                    target_domain=domain,
                    n_features=config.classifier_features,
                    dsir_features=config.dsir_features,
                )
                sel = pool.iloc[chosen]
                texts = sel["text"].tolist()
                key = (seed, np.sort(chosen).tobytes())
                if key not in trained:
                    tf = train_transformer(texts, tokenizer, pre.transformer, seed=seed)
                    n_params = tf.n_params
                    trained[key] = (
                        tf,
                        train_ngram(texts, pre.ngram_order, pre.smoothing),
                        train_ngram(texts, pre.floor_order, "witten_bell"),
                    )
                tf, ng, fl = trained[key]
                err, ng_err, fl_err = (live.cloze_error(m, items) for m in (tf, ng, fl))
                errs.append(err)
                ngram_errs.append(ng_err)
                floor_errs.append(fl_err)
                if "classifier_f1" in info:
                    f1s.append(info["classifier_f1"])
                frac_target = float(sel.loc[sel["domain"] == domain, "bytes"].sum() / sel["bytes"].sum())
                arm_rows.append(
                    (target, arm, seed, err, ng_err, fl_err, int(sel["bytes"].sum()), frac_target, json.dumps(info))
                )
                log.info(
                    "%s %s seed %d: transformer error %.4f, %d-gram %.4f, bigram floor %.4f; %.1f%% target-domain bytes",
                    target,
                    arm,
                    seed,
                    err,
                    pre.ngram_order,
                    ng_err,
                    fl_err,
                    100 * frac_target,
                )
            ng = _mean_std(ngram_errs)
            t_nums[arm] = {
                **_mean_std(errs),
                "ngram_error_mean": ng["error_mean"],
                "ngram_error_std": ng["error_std"],
                "bigram_floor_error_mean": float(np.mean(floor_errs)),
                # per seed, in the order of ``live.seeds`` (the unit of the scorecard's comparisons)
                "error": {"per_seed": [float(e) for e in errs]},
                "ngram_error": {"per_seed": [float(e) for e in ngram_errs]},
                "bigram_floor_error": {"per_seed": [float(e) for e in floor_errs]},
                # the fresh transformer beats both sanity floors: random guessing and the count-based bigram
                "beats_floor": int(np.mean(errs) < floor and np.mean(errs) < np.mean(floor_errs)),
            }
            if f1s:
                t_nums[arm]["classifier_f1"] = float(np.mean(f1s))
        nums[target] = t_nums
    nums["pretrain"] = {"n_params": int(n_params), "n_models": len(trained)}
    arms = pd.DataFrame(
        arm_rows,
        columns=[
            "target",
            "arm",
            "seed",
            "error",
            "ngram_error",
            "bigram_floor_error",
            "bytes",
            "frac_target_domain",
            "info",
        ],
    )
    estimates = pd.DataFrame(est_rows, columns=["target", "domain", "estimate", "weight", "is_target_domain"])
    return StepResult(numbers={"live": nums}, tables={"arms": arms, "estimates": estimates})


@step(
    scales=("paper",),
    merged=False,
    not_run={
        "paper": "pretraining 160M models on the selected RedPajama-V2 tokens and their downstream evaluation "
        "are not implemented (issue 36; multi-GPU training is issue 29)"
    },
)
def paper_pretrain_step(inputs: Mapping[str, Path], config: PaperConfig) -> StepResult:
    """Paper scale only: pretraining 160M models on 3.2B selected tokens needs GPUs and the hub.

    Not implemented in this repository; the rule exists so that the paper-scale DAG (and its
    resources) dry-runs. Refuses to run rather than write placeholder numbers.
    """
    raise NotImplementedError(
        f"pplcorr paper-scale pretraining ({config.model.get('config')}, {config.model.get('tokens')} tokens on "
        f"{config.pool.get('dataset')}, {config.gpus} GPUs) is not implemented here; "
        "run the authors' training configs on a GPU cluster"
    )
