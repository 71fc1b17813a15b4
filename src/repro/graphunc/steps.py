"""The steps of graphunc (one rule ``graphunc__<step>`` each; numbers under ``<step>.``).

* ``exact``: Sec. 4 tables from the released matrices (centralities bit-exact with the
  stored scores, AUROC / AUPRC / AUPRC-n per method), the abstract's average relative
  AUPRC gain, and the uncertainty-aware-decoding curves of Sec. 5.2 from the released
  FActScore outputs.
* ``authors``: the authors' cached metrics (``plot_roc_curve_*.json``) of all twelve settings.
* ``tiny``: the end-to-end tiny tier (:mod:`repro.graphunc.tiny`).

Input names (rule inputs): ``matrix_<setting>_s<S>``, ``authors_<setting>_s<S>``,
``uad_<method>_p<percentile>``, ``uad_greedy``, ``uad_cove`` (parsed by :mod:`repro.graphunc.data`).

This module holds the step functions only; their typed configs are in :mod:`repro.graphunc.config`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from repro.common.declarations import step
from repro.common.steps import StepError, StepResult
from repro.graphunc.config import ExactConfig, PaperPlanConfig, TinyConfig
from repro.graphunc.data import (
    METHODS,
    UAD_INPUT,
    load_all_author_metrics,
    load_prompts,
    load_uad_output,
    setting_inputs,
)
from repro.graphunc.tiny import run_seed, summarise
from repro.graphunc.exact import evaluate_setting
from repro.graphunc.graph import bipartite_closeness
from repro.graphunc.metrics import relative_gain, uad_summary
from repro.graphunc.paper import plan_rows

log = logging.getLogger(__name__)

__all__ = ["paper_plan_step", "exact_step", "authors_step", "tiny_step"]


@step()
def exact_step(inputs: Mapping[str, Path], config: ExactConfig) -> StepResult:
    """Recompute Table 1 / Fig. 3 on every available matrix; relative gain; UAD curves (Fig. 4)."""
    matrices = setting_inputs(inputs, "matrix")
    if not matrices:
        raise StepError("exact: no matrix_<setting>_s<S> inputs")
    for m in (config.gain_new, config.gain_old):
        if m not in METHODS:
            raise StepError(f"exact.gain_new/gain_old: unknown method {m!r}; methods: {list(METHODS)}")
    numbers: dict[str, float] = {}
    rows = []
    max_diff, n_compared = 0.0, 0
    example = None
    for (setting, s), path in matrices.items():
        prompts = load_prompts(path, s)
        res = evaluate_setting(prompts)
        log.info("%s s%d: %d claims, max |diff| %.3g", setting, s, res.n_claims, res.max_abs_diff)
        key = f"{setting}.s{s}"
        numbers[f"{key}.n_claims"] = res.n_claims
        numbers[f"{key}.frac_true"] = res.n_true / res.n_claims
        numbers[f"{key}.eigenvector_failures"] = res.eigen_failures
        max_diff = max(max_diff, res.max_abs_diff)
        n_compared += res.n_compared
        for method, met in res.metrics.items():
            for k, v in met.items():
                numbers[f"{key}.{method}.{k}"] = v
            rows.append({"setting": setting, "samples": s, "method": method, **met, "n_claims": res.n_claims})
        if f"{setting}_s{s}" == config.example:
            example = prompts
    numbers["centrality_max_abs_diff"] = max_diff
    numbers["centrality_n_compared"] = n_compared

    # the abstract's average relative AUPRC gain, over the settings' cached (authors) and recomputed values
    authors = load_all_author_metrics(inputs)
    if authors:
        for new, old in ((config.gain_new, config.gain_old), ("closeness", "sc"), ("closeness_vc", "sc_vc")):
            for metric in ("auprc", "auprc_n", "auroc"):
                g = relative_gain(
                    [a[new][metric] for a in authors.values()], [a[old][metric] for a in authors.values()]
                )
                for agg, v in g.items():
                    numbers[f"relative_gain.{new}_over_{old}.{metric}.{agg}"] = v
        numbers["relative_gain.n_settings"] = len(authors)
        numbers["relative_auprc_gain"] = numbers[
            f"relative_gain.{config.gain_new}_over_{config.gain_old}.auprc.mean_of_ratios"
        ]
    ours = [r for r in rows if r["method"] in (config.gain_new, config.gain_old)]
    new_v = [r["auprc"] for r in ours if r["method"] == config.gain_new]
    old_v = [r["auprc"] for r in ours if r["method"] == config.gain_old]
    numbers["relative_auprc_gain_recomputed_settings"] = relative_gain(new_v, old_v)["mean_of_ratios"]

    # uncertainty-aware decoding (Sec. 5.2) from the released FActScore outputs
    uad_rows = []
    init_diff = 0.0
    for name, path in sorted(inputs.items()):
        m = UAD_INPUT.match(name)
        if not m or name.startswith(("matrix_", "authors_")):
            continue
        out = load_uad_output(path)
        summ = uad_summary(out.decisions)
        if out.stored_init_score is not None:
            init_diff = max(init_diff, abs(summ["precision"] - out.stored_init_score))
        method, p = m.group("method"), m.group("p")
        key = f"uad.{method}" + (f".p{p}" if p else "")
        for k, v in summ.items():
            numbers[f"{key}.{k}"] = v
        numbers[f"{key}.n_outputs"] = len(out.decisions)
        uad_rows.append(
            {"method": method, "percentile": int(p) if p else None, **summ, "n_outputs": len(out.decisions)}
        )
    if uad_rows:
        numbers["uad.init_score_max_abs_diff"] = init_diff

    tables = {"table": pd.DataFrame(rows), "uad": pd.DataFrame(uad_rows)}
    if example is None:
        raise StepError(f"exact.example: setting {config.example!r} is not among the matrices {list(matrices)}")
    if not 0 <= config.example_prompt < len(example):
        raise StepError(f"exact.example_prompt: {config.example_prompt} outside 0..{len(example) - 1}")
    p = example[config.example_prompt]
    close = bipartite_closeness(p.matrix)
    tables["example"] = pd.DataFrame(
        [
            {
                "generation": j,
                "claim": i,
                "edge": int(p.matrix[j, i]),
                "label": p.labels[i],
                "closeness": close[i],
                "sc": p.matrix[:, i].mean(),
                "text": p.claims[i],
            }
            for i in range(p.matrix.shape[1])
            for j in range(p.matrix.shape[0])
        ]
    )
    return StepResult(numbers={"exact": numbers}, tables=tables)


@step(reads=())
def authors_step(inputs: Mapping[str, Path]) -> StepResult:
    """The authors' cached AUROC / AUPRC / AUPRC-n and claim counts of every setting (Table 1, Fig. 3)."""
    authors = load_all_author_metrics(inputs)
    if not authors:
        raise StepError("authors: no authors_<setting>_s<S> inputs")
    numbers: dict[str, float] = {}
    rows = []
    for (setting, s), met in authors.items():
        numbers[f"{setting}.s{s}.n_claims"] = met["data_size"]["n"]
        for method in METHODS:
            for k, v in met[method].items():
                numbers[f"{setting}.s{s}.{method}.{k}"] = v
            rows.append(
                {"setting": setting, "samples": s, "method": method, **met[method], "n_claims": met["data_size"]["n"]}
            )
    return StepResult(numbers={"authors": numbers}, tables={"table": pd.DataFrame(rows)})


@step(
    not_run={
        "paper_toy": (
            "the tiny tier's own CPU experiment (it runs at tiny scale); at the "
            "paper block's settings it takes CPU-hours, and no rehearsal sizes are "
            "set for it"
        )
    }
)
def tiny_step(inputs: Mapping[str, Path], config: TinyConfig) -> StepResult:
    """The end-to-end tiny tier over every seed: claim metrics with bootstrap CIs, UAD vs greedy, floors."""
    if not config.seeds:
        raise StepError("tiny.seeds: at least one seed")
    claims, greedy, infos = [], [], []
    for seed in config.seeds:
        c, g, info = run_seed(config, seed)
        log.info(
            "seed %d: %d merged claims, %d greedy claims, final loss %.3f",
            seed,
            len(c),
            len(g),
            info["final_train_loss"],
        )
        claims.append(c)
        greedy.append(g)
        infos.append(info)
    cl, gr = pd.concat(claims, ignore_index=True), pd.concat(greedy, ignore_index=True)
    if cl.empty or cl["true"].nunique() < 2:
        raise StepError(
            f"tiny: the generations gave {len(cl)} parsable claims "
            f"({'none' if cl.empty else 'one class only'}): train longer (tiny.lm.steps) or use a larger model"
        )
    numbers, table, sweep = summarise(config, cl, gr, config.kb.n_people)
    numbers["lm.final_train_loss"] = float(np.mean([i["final_train_loss"] for i in infos]))
    numbers["floor.majority.precision"] = float(np.mean([i["majority_precision_all"] for i in infos]))
    numbers["floor.majority.true_claims"] = float(np.mean([i["majority_true_claims_all"] for i in infos]))
    numbers["greedy.precision_all_people"] = float(gr["true"].mean()) if len(gr) else float("nan")
    numbers["n_seeds"] = len(config.seeds)
    return StepResult(numbers={"tiny": numbers}, tables={"table": table, "claims": cl, "uad": sweep})


@step(scales=("paper",), merged=False)
def paper_plan_step(inputs: Mapping[str, Path], config: PaperPlanConfig) -> StepResult:
    """Paper scale: the LLM job plan (stage x setting, backend, model, estimated calls)."""
    if not config.datasets or not config.models:
        raise StepError("paper_plan: datasets and models must not be empty")
    rows = plan_rows(config)
    table = pd.DataFrame(rows)
    numbers = {f"{r['setting']}.{r['stage']}.calls": r["calls"] for r in rows}
    numbers["total_calls"] = int(table["calls"].sum())
    return StepResult(numbers={"paper_plan": numbers}, tables={"plan": table})
