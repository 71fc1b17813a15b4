"""Exact tier: the paper's tables from the released per-question TVs and model outputs (Sec. 4).

* :func:`released_tvs` - the long table of per-question TVs in the authors'
  ``eval_disagreement_bootstrapping.csv`` (every model, dataset, steering, method, group);
  NYT rows, written twice by the authors' eval loop, are kept once.
* :func:`replay_cells` - the GPT-4 outputs released verbatim, answered through the
  ``replay`` backend of :mod:`repro.common.llm`, parsed by :mod:`repro.distalign.metrics`
  and scored against the released truth; TS-Log-p temperatures refitted.
* :func:`leaderboard` - pool over persona + few-shot steering and groups per dataset,
  score = mean of the three dataset means, 95% bootstrap interval (Sec. 4, Fig. 2).
"""

from __future__ import annotations

import ast
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from repro.common.llm.replay import ReplayLLM, ReplayStore
from repro.distalign.data import DATASETS, DataError, GROUPS
from repro.distalign.metrics import (
    bootstrap_mean,
    fit_temperature,
    parse_logprobs,
    parse_sequence,
    parse_verbalized,
    temperature_scale,
    tv,
)

__all__ = [
    "STEERING",
    "METHODS",
    "released_tvs",
    "RawCell",
    "raw_cells",
    "replay_cells",
    "pooled",
    "LB_METHODS",
    "LB_STEERINGS",
    "bl_boot",
]

# Released task names -> steering (Sec. 3.1): task0 no steering, task1 persona, task3 few-shot.
STEERING = {"task0": "none", "task1": "persona", "task3_easy_hard": "fewshot"}
# Released output types -> method (Sec. 3.2).
METHODS = {
    "express_distribution": "verbalize",
    "sequence": "sequence",
    "model_logprobs": "logprobs",
    "rescaled_model_logprobs": "logprobs_ts",
}
LLM_MODELS = ("gpt-3.5-turbo-0125", "gpt-4", "anthropic_haiku", "anthropic_opus", "llama3-70b")
STEERINGS = ("none", "persona", "fewshot")
LB_METHODS = ("verbalize", "sequence", "logprobs", "logprobs_ts")
LB_STEERINGS = ("persona", "fewshot")  # the main leaderboard pools task1 + task3


def _tv_list(cell: object, where: str) -> list[float]:
    if not isinstance(cell, str):
        raise DataError(f"{where}: all_tvs is empty")
    try:
        return [
            float("nan") if v is None else float(v)
            for v in json.loads(cell.replace("NaN", "null").replace("nan", "null"))
        ]
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: all_tvs is not a list ({err})") from None


def released_tvs(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Per-question TVs of ``eval_disagreement_bootstrapping.csv`` as a long table.

    Columns: dataset, model, steering (none/persona/fewshot, or the simulated baseline's
    name), method, group, q (index within the released list), tv (NaN = parse failure).
    """
    raw = pd.read_csv(path)
    need = {"Task Type", "Model", "Dataset", "Demographic/Avg", "Output Type", "all_tvs"}
    if need - set(raw.columns):
        raise DataError(f"{path}: missing columns {sorted(need - set(raw.columns))}")
    rows = []
    seen: set[tuple] = set()
    for r in raw.itertuples(index=False):
        task, model, dataset = r[0], r[1], r[2]
        group, otype = str(r[5]), r[6]
        key = (task, model, dataset, group, otype)
        if key in seen:  # NYT rows are written twice by the authors' eval loop
            continue
        seen.add(key)
        steering = STEERING.get(task, task)
        method = METHODS.get(otype, otype) if model != "human" else "human"
        for q, v in enumerate(_tv_list(r[8], f"{path}: {key}")):
            rows.append((dataset, model, steering, method, group, q, v))
    return pd.DataFrame(rows, columns=["dataset", "model", "steering", "method", "group", "q", "tv"])


def pooled(table: pd.DataFrame, model: str, method: str, dataset: str, steerings: Sequence[str]) -> np.ndarray:
    """Per-question TVs of one model/method/dataset pooled over ``steerings`` and groups."""
    sel = table[
        (table.model == model) & (table.method == method) & (table.dataset == dataset) & table.steering.isin(steerings)
    ]
    return sel.tv.to_numpy(dtype=float)


def bl_boot(samples, config, rng):
    """The leaderboard's mean and percentile interval (``config.n_boot`` resamples, ``config.level``)."""
    return bootstrap_mean(samples, config.n_boot, rng, config.level)


# --- replay of the released GPT-4 outputs ----------------------------------------------------


@dataclass(frozen=True)
class RawCell:
    """One released raw-output file: dataset, method, steering, group and its path."""

    dataset: str
    output_type: str
    model: str
    task: str
    group: str
    path: Path


def raw_cells(files: Mapping[str, str | os.PathLike[str]]) -> list[RawCell]:
    """The raw-output files among ``files`` (repository path -> local path)."""
    out = []
    for repo_path, local in sorted(files.items()):
        parts = repo_path.split("/")
        if len(parts) < 6 or parts[0] != "results" or parts[1] not in DATASETS:
            continue
        out.append(RawCell(parts[1], parts[2], parts[3], parts[4], parts[-1].removesuffix(".json"), Path(local)))
    return out


def _lit(x: object) -> object:
    return ast.literal_eval(x) if isinstance(x, str) else x


@dataclass(frozen=True)
class VerbalPolicy:
    """How verbalized answers are parsed (see :func:`parse_verbalized`)."""

    unknown_option: str = "drop"
    sum_tol: float | None = None
    integer_percent: bool = True


def replay_cells(
    cells: Sequence[RawCell], policy: VerbalPolicy, t_max: float = 10.0
) -> tuple[pd.DataFrame, pd.DataFrame, Counter]:
    """Re-score released raw outputs through the replay backend.

    Each file is loaded as replay records keyed (dataset, model, qID, method): the
    verbalized and sequence answers as ``output``, the log-prob answers as
    ``top_logprobs`` (the released per-letter probabilities of the first token; the raw
    top-20 token list was not released). Questions whose released truth is empty (a
    group with no respondents) are skipped, as in the authors' evaluation. TS-Log-p is
    refitted per (dataset, steering) from the Log-p answers (in-sample, T in (0, t_max]).

    Returns (per-question table, temperature table, parse-failure counter).
    """
    rows, fails = [], Counter()
    for cell in cells:
        if cell.output_type == "rescaled_model_logprobs":
            continue
        data = json.loads(cell.path.read_text(encoding="utf-8"))
        method = METHODS[cell.output_type]
        records, truths = [], {}
        for qid, v in data.items():
            truth = _lit(v["expected_results"])
            if not truth:
                continue
            truths[qid] = truth
            rec = {"dataset": cell.dataset, "model": cell.model, "prompt_id": qid, "method": method}
            if method == "logprobs":
                probs = _lit(v["avg_actual_results"])
                rec["top_logprobs"] = {k: float(np.log(p)) for k, p in probs.items() if p > 0}
                if not rec["top_logprobs"]:
                    rec["top_logprobs"] = {"<none>": 0.0}
            else:
                rec["outputs"] = [str(o) for o in _lit(v["response"])]
            records.append(rec)
        llm = ReplayLLM(dataset=cell.dataset, model=cell.model, method=method, records=ReplayStore(records))
        for q, (qid, truth) in enumerate(truths.items()):
            letters = list(truth)
            p = np.array([float(truth[k]) for k in letters])
            if method == "logprobs":
                parsed = parse_logprobs(llm.top_logprobs(qid, k=len(llm.record(qid).top_logprobs)), letters)
            else:
                answer = llm.generate([qid], n=1)[0][0]
                if method == "verbalize":
                    parsed = parse_verbalized(
                        answer,
                        letters,
                        unknown_option=policy.unknown_option,
                        sum_tol=policy.sum_tol,
                        integer_percent=policy.integer_percent,
                    )
                else:
                    parsed = parse_sequence(answer, letters)
            if not parsed.ok:
                fails[(method, parsed.failure)] += 1
            elif parsed.detail:
                for note in parsed.detail.split(";"):
                    fails[(method, "note_" + note.split(":")[0])] += 1
            rows.append(
                (
                    cell.dataset,
                    cell.model,
                    STEERING[cell.task],
                    method,
                    cell.group,
                    q,
                    qid,
                    tv(parsed.p, p) if parsed.ok else float("nan"),
                    parsed.p,
                    p,
                )
            )
    table = pd.DataFrame(
        rows, columns=["dataset", "model", "steering", "method", "group", "q", "qid", "tv", "p_hat", "p"]
    )
    # TS-Log-p: one temperature per (model, dataset, steering), fitted on the pooled groups.
    temps = []
    lp = table[table.method == "logprobs"]
    for (model, dataset, steering), grp in lp.groupby(["model", "dataset", "steering"], sort=True):
        ok = grp[grp.tv.notna()]
        t, mean_tv = fit_temperature(list(ok.p_hat), list(ok.p), t_max=t_max)
        temps.append((model, dataset, steering, t, float(ok.tv.mean()), mean_tv))
        for r in grp.itertuples(index=False):
            tvs = tv(temperature_scale(r.p_hat, t), r.p) if r.p_hat is not None else float("nan")
            rows.append((r.dataset, r.model, r.steering, "logprobs_ts", r.group, r.q, r.qid, tvs, None, None))
    table = pd.DataFrame(rows, columns=table.columns).drop(columns=["p_hat", "p"])
    temps_df = pd.DataFrame(temps, columns=["model", "dataset", "steering", "temperature", "tv_before", "tv_after"])
    return table, temps_df, fails


def groups_of(dataset: str) -> tuple[str, ...]:
    """The evaluated groups of a dataset."""
    return GROUPS[dataset]
