"""distalign steps: rule ``distalign__<step>`` = ``<step>_step`` = numbers prefix ``<step>.``.

Exact tier (released data): cells -> replay, leaderboard -> k2s_gap, baselines,
fewshot_beats_persona. End-to-end tiny tier: tiny_corpus -> tiny_train -> tiny.
Model and method names are those of the released files (``gpt-4``, ``anthropic_opus``,
``llama3-70b``, ...; methods verbalize, sequence, logprobs, logprobs_ts).

This module holds the step functions only: their typed configs are in :mod:`repro.distalign.config`,
the method in :mod:`.exact` (released tables, replay, leaderboard pooling), :mod:`.baselines`,
:mod:`.tiny` (rendering and training the tiny model), :mod:`.live` and :mod:`.metrics`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from repro.common.declarations import step
from repro.common.steps import StepResult
from repro.distalign import baselines as bl
from repro.distalign.config import (
    BaselinesConfig,
    CellsConfig,
    LeaderboardConfig,
    LiveConfig,
    ReplayConfig,
    TinyConfig,
)
from repro.distalign.data import DATASETS, load_truth, released_inputs
from repro.distalign.exact import (
    LB_METHODS,
    LB_STEERINGS,
    LLM_MODELS,
    VerbalPolicy,
    bl_boot,
    pooled,
    raw_cells,
    released_tvs,
    replay_cells,
)
from repro.distalign.tiny import load_oqa, render_config, train_tiny

log = logging.getLogger("repro.distalign")


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


# --- cells ------------------------------------------------------------------------------------


@step()
def cells_step(inputs: Mapping[str, Path], config: CellsConfig) -> StepResult:
    """Sec. 4, Table 6 (App.): mean TV per (dataset, model, steering, method), nan-mean over groups."""
    table = released_tvs(inputs["tvs_csv"])
    llm = table[table.model.isin(LLM_MODELS)]
    cells = (
        llm.groupby(["dataset", "model", "steering", "method"])
        .tv.agg(tv="mean", n="size", n_nan=lambda s: int(s.isna().sum()))
        .reset_index()
    )
    numbers: dict = {}
    for r in cells.itertuples(index=False):
        numbers[f"{r.dataset}.{r.model}.{r.steering}.{r.method}.tv"] = _r(r.tv)
        numbers[f"{r.dataset}.{r.model}.{r.steering}.{r.method}.n"] = int(r.n)
    # Agreement with the released per-cell table (bootstrap means, so not bit-exact).
    rel = pd.read_csv(inputs["cells_csv"]).dropna(subset=["Alignment Mean"])
    method_of = {"V": "verbalize", "Seq": "sequence", "Log-p": "logprobs", "TS-Log-p": "logprobs_ts"}
    steer_of = {"task0": "none", "task1": "persona", "task3_easy_hard": "fewshot"}
    diffs = []
    for r in rel.itertuples(index=False):
        if r[2] not in steer_of:  # simulated rows: see the baselines step
            continue
        name, _, m = r[0].rpartition(" (")
        key = (r[1], name, steer_of[r[2]], method_of[m.rstrip(")")])
        mine = cells.set_index(["dataset", "model", "steering", "method"]).tv.get(key)
        if mine is not None:
            diffs.append(abs(mine - r[3]))
    numbers["released_table.max_abs_diff"] = float(max(diffs))
    numbers["released_table.n_cells"] = len(diffs)
    numbers["released_table.n_within_tolerance"] = int(sum(d <= config.compare_tolerance for d in diffs))
    log.info("cells: %d cells, max |diff| to the released table %.2e", len(cells), max(diffs))
    return StepResult(numbers={"cells": numbers}, tables={"tvs": table, "table": cells})


# --- replay -----------------------------------------------------------------------------------


@step()
def replay_step(inputs: Mapping[str, Path], config: ReplayConfig) -> StepResult:
    """Sec. 3.2: V/Seq/Log-p answers of GPT-4 replayed, parsed, scored; TS-Log-p refitted."""
    files = released_inputs(inputs)
    cells = [c for c in raw_cells(files) if c.model == "gpt-4" and c.task != "task0"]
    policy = VerbalPolicy(config.unknown_option, config.sum_tol, config.integer_percent)
    table, temps, fails = replay_cells(cells, policy, t_max=config.t_max)
    released = released_tvs(inputs["tvs_csv"])
    released = released[released.model == "gpt-4"]
    merged = table.merge(
        released, on=["dataset", "model", "steering", "method", "group", "q"], suffixes=("", "_released"), how="left"
    )
    numbers: dict = {}
    for method, grp in merged.groupby("method"):
        both = grp.dropna(subset=["tv", "tv_released"])
        diff = (both.tv - both.tv_released).abs()
        numbers[f"{method}.max_abs_diff"] = float(diff.max())
        numbers[f"{method}.n_questions"] = int(len(grp))
        numbers[f"{method}.n_exact"] = int((diff <= 1e-9).sum())
        numbers[f"{method}.nan_mismatch"] = int((grp.tv.isna() != grp.tv_released.isna()).sum())
        numbers[f"{method}.mean_abs_diff_of_means"] = float(
            abs(grp.groupby(["dataset"]).tv.mean() - grp.groupby(["dataset"]).tv_released.mean()).max()
        )
    for r in temps.itertuples(index=False):
        numbers[f"ts.{r.dataset}.{r.steering}.temperature"] = float(r.temperature)
        numbers[f"ts.{r.dataset}.{r.steering}.tv_before"] = float(r.tv_before)
        numbers[f"ts.{r.dataset}.{r.steering}.tv_after"] = float(r.tv_after)
    n_v = int((table.method == "verbalize").sum())
    for (method, reason), count in sorted(fails.items()):
        numbers[f"parse.{method}.{reason}"] = int(count)
    # The same answers under the strict policy: what a strict parser would count as failures.
    strict_table, _, strict_fails = replay_cells(
        [c for c in cells if c.output_type == "express_distribution"],
        VerbalPolicy("fail", config.strict_sum_tol, False),
        t_max=config.t_max,
    )
    numbers["parse.verbalize.strict_fail_rate"] = float(strict_table.tv.isna().mean()) if n_v else None
    for (method, reason), count in sorted(strict_fails.items()):
        if not reason.startswith("note_"):
            numbers[f"parse.strict.{reason}"] = int(count)
    log.info("replay: %d questions re-scored", len(table))
    return StepResult(numbers={"replay": numbers}, tables={"table": merged, "temperatures": temps})


# --- leaderboard ------------------------------------------------------------------------------


@step()
def leaderboard_step(inputs: Mapping[str, Path], config: LeaderboardConfig) -> StepResult:
    """Sec. 4, Fig. 2: TV per model and method, 95% bootstrap CI; per dataset and 'both'."""
    table = pd.read_csv(inputs["tvs"])
    rng = np.random.default_rng(config.seed)
    numbers: dict = {}
    rows = []
    for model in LLM_MODELS:
        for method in LB_METHODS:
            samples = [pooled(table, model, method, ds, LB_STEERINGS) for ds in DATASETS]
            if any(s.size == 0 for s in samples):
                continue
            plain, mean, lo, hi = bl_boot(samples, config, rng)
            key = f"{model}.{method}"
            numbers[f"{key}.tv"] = mean
            numbers[f"{key}.plain_mean"] = plain
            numbers[f"{key}.ci_low"], numbers[f"{key}.ci_high"] = lo, hi
            numbers[f"{key}.err"] = (hi - lo) / 2
            for ds, s in zip(DATASETS, samples):
                numbers[f"{key}.{ds}.tv"] = float(np.nanmean(s))
            numbers[f"{key}.both.tv"] = float(np.mean([np.nanmean(s) for s in samples[:2]]))
            rows.append((model, method, mean, lo, hi, plain))
    lb = pd.DataFrame(rows, columns=["model", "method", "tv", "ci_low", "ci_high", "plain_mean"])
    return StepResult(numbers={"leaderboard": numbers}, tables={"table": lb})


# --- k2s gap ----------------------------------------------------------------------------------


@step(reads=())
def k2s_gap_step(inputs: Mapping[str, Path]) -> StepResult:
    """Sec. 4.2: knowledge-to-simulation gap TV(Seq) / TV(V) - 1 on the main leaderboard."""
    lb = pd.read_csv(inputs["leaderboard"]).set_index(["model", "method"]).tv
    numbers = {m: float(lb[(m, "sequence")] / lb[(m, "verbalize")] - 1.0) for m in LLM_MODELS}
    table = pd.DataFrame({"model": list(numbers), "k2s_gap": list(numbers.values())})
    return StepResult(numbers={"k2s_gap": numbers}, tables={"table": table})


# --- baselines --------------------------------------------------------------------------------


@step()
def baselines_step(inputs: Mapping[str, Path], config: BaselinesConfig) -> StepResult:
    """Sec. 4, Fig. 2: human (OQA + NYT), uniform, 30-sample floor, few-shot average."""
    files = released_inputs(inputs)
    rng = np.random.default_rng(config.seed)
    numbers: dict = {}
    rows = []
    per_ds: dict[str, dict[str, float]] = {"uniform": {}, "floor30": {}, "fewshot_avg": {}}
    truths = {ds: load_truth(ds, files) for ds in DATASETS}
    pool = load_truth("opinionqa_pool", files)
    evaluated = {q.qid for q in truths["opinionqa"]}
    sims = {
        "opinionqa": json.loads(
            Path(
                files[
                    "opinions_qa/data/human_resp/Pew_American_Trends_Panel_disagreement_500/"
                    "question_similarity_top10.json"
                ]
            ).read_text()
        ),
        "nytimes": json.loads(Path(files["nytimes/question_similarity_top10.json"]).read_text()),
    }
    for ds in DATASETS:
        qs = truths[ds]
        per_ds["uniform"][ds] = float(bl.uniform_tvs(qs).mean())
        per_ds["floor30"][ds] = float(bl.floor_tvs(qs, config.floor_samples, config.floor_reps, rng).mean())
        if ds in sims:
            src = pool if ds == "opinionqa" else qs
            excl = evaluated if ds == "opinionqa" else set()
            per_ds["fewshot_avg"][ds] = float(bl.fewshot_average_tvs(qs, src, sims[ds], config.fewshot_k, excl).mean())
    for name, vals in per_ds.items():
        for ds, v in vals.items():
            numbers[f"{name}.{ds}.tv"] = v
            rows.append((name, ds, v))
        if len(vals) == 3:
            numbers[f"{name}.tv"] = float(np.mean(list(vals.values())))
        numbers[f"{name}.both.tv"] = float(np.mean([vals["opinionqa"], vals["nytimes"]]))
    # Human: annotators' averaged estimates, OQA and NYT only ("both" = 1/2 OQA + 1/2 NYT).
    human = {}
    for ds, fname in (("opinionqa", "OQA"), ("nytimes", "NYT")):
        h = json.loads(Path(files[f"results/human_annotations/{fname}_human_tv_data.json"]).read_text())
        for key, steer in (("nosteer", "none"), ("persona", "persona"), ("fewshot", "fewshot")):
            numbers[f"human.{ds}.{steer}.tv"] = float(np.nanmean(h[key]))
            rows.append(("human_" + steer, ds, float(np.nanmean(h[key]))))
        human[ds] = float(np.nanmean(np.concatenate([h["persona"], h["fewshot"]])))
        numbers[f"human.{ds}.tv"] = human[ds]
    numbers["human.tv"] = float(np.mean(list(human.values())))
    # Simulated rows as released (for the comparison; the floor of OQA there covers 215 of 600).
    rel = released_tvs(inputs["tvs_csv"])
    sim = rel[rel.model == "simulated"]
    for name, grp in sim.groupby("steering"):
        means = [float(np.nanmean(grp[grp.dataset == ds].tv)) for ds in DATASETS]
        numbers[f"released.{name}.tv"] = float(np.mean(means))
        numbers[f"released.{name}.n"] = int(grp.tv.notna().sum())
    table = pd.DataFrame(rows, columns=["baseline", "dataset", "tv"])
    return StepResult(numbers={"baselines": numbers}, tables={"table": table})


# --- few-shot vs persona ----------------------------------------------------------------------


@step(reads=())
def fewshot_beats_persona_step(inputs: Mapping[str, Path]) -> StepResult:
    """Sec. 4.3: over the released per-cell table, in how many cells few-shot < persona TV."""
    rel = pd.read_csv(inputs["cells_csv"]).dropna(subset=["Alignment Mean"])
    wide = rel.pivot_table(index=["Model Name", "Dataset"], columns="Task Type", values="Alignment Mean")
    both = wide.dropna(subset=["task1", "task3_easy_hard"])
    numbers = {
        "count": int((both["task3_easy_hard"] < both["task1"]).sum()),
        "cells": int(len(both)),
        "mean_tv.none": float(wide["task0"].mean()),
        "mean_tv.persona": float(both["task1"].mean()),
        "mean_tv.fewshot": float(both["task3_easy_hard"].mean()),
    }
    # The same count recomputed from our cells table (plain means of the released TVs).
    cells = pd.read_csv(inputs["cells"])
    w2 = cells.pivot_table(index=["dataset", "model", "method"], columns="steering", values="tv").dropna(
        subset=["persona", "fewshot"]
    )
    numbers["recomputed.count"] = int((w2["fewshot"] < w2["persona"]).sum())
    numbers["recomputed.cells"] = int(len(w2))
    table = both.reset_index()
    return StepResult(numbers={"fewshot_beats_persona": numbers}, tables={"table": table})


# --- tiny tier --------------------------------------------------------------------------------


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
    """The paper's evaluation through the ``tiny`` backend, once per seed of ``config.seeds``.

    Per seed s the model is trained with ``train.seed + s`` and answers are sampled with ``seed + s``
    (s = 0 is the single run of before). Numbers: TV per steering and method, parse failures, TS-Log-p
    fitted in-sample (the paper's oracle calibration) and cross-fitted (``logprobs_ts_cv``: T fitted
    on one half of the questions, scored on the other), each as the mean over seeds under its old key
    and as ``<key>.per_seed`` (seeds in ``tiny.seeds``); the sanity floors (uniform = random baseline;
    group prior = count-based: the mean training distribution of the same group over training
    questions with as many options) do not depend on the seed.
    """
    evaluated, train_pool, eval_ids, sim = load_oqa(inputs)
    if config.max_questions is not None:
        keep = sorted({q.qid for q in evaluated})[: config.max_questions]
        evaluated = [q for q in evaluated if q.qid in keep]
    runs, rows = [], []
    for s in config.seeds:
        numbers, seed_rows = _tiny_run(inputs, config, s, evaluated, train_pool, eval_ids, sim)
        runs.append(numbers)
        rows.extend((s, *r) for r in seed_rows)
    numbers = _over_seeds(runs)
    numbers["seeds"] = list(config.seeds)
    numbers.update(_tiny_floors(evaluated, train_pool))
    numbers["n_questions"] = len({q.qid for q in evaluated})
    table = pd.DataFrame(rows, columns=["seed", "steering", "method", "tv"])
    return StepResult(numbers={"tiny": numbers}, tables={"table": table})


def _over_seeds(runs: list[dict]) -> dict:
    """Mean over seeds under each key (None where no seed has a value) and ``<key>.per_seed`` lists.

    A parse-failure count missing in a seed is 0; any other missing value is None in its list.
    """
    out: dict = {}
    keys = sorted({k for r in runs for k in r})
    for k in keys:
        default = 0 if ".parse_fail." in k else None
        vals = [r.get(k, default) for r in runs]
        finite = [float(v) for v in vals if v is not None and np.isfinite(v)]
        out[k] = float(np.mean(finite)) if finite else None
        out[f"{k}.per_seed"] = [None if v is None or not np.isfinite(v) else float(v) for v in vals]
    return out


def _tiny_floors(evaluated: list, train_pool: list) -> dict:
    """Random (uniform) and count-based (group prior) floors on the evaluated questions."""
    from repro.distalign.metrics import tv

    prior: dict = {}
    for q in train_pool:
        prior.setdefault((q.group, len(q.p)), []).append(q.p)

    def group_prior(q) -> np.ndarray:
        key = (q.group, len(q.p))
        return np.mean(prior[key], axis=0) if key in prior else np.full(len(q.p), 1 / len(q.p))

    return {
        "floor.uniform.tv": float(np.mean([tv(np.full(len(q.p), 1 / len(q.p)), q.p) for q in evaluated])),
        "floor.group_prior.tv": float(np.mean([tv(group_prior(q), q.p) for q in evaluated])),
    }


def _cross_fitted_ts(pairs: list, t_max: float) -> float | None:
    """TS-Log-p without the oracle: questions split in two halves (by sorted question id); T is fitted
    on one half and the other half is scored with it, and the reverse; the mean TV over all scored."""
    from repro.distalign.metrics import fit_temperature, temperature_scale, tv

    qids = sorted({qid for qid, _, _ in pairs})
    half = {qid: i % 2 for i, qid in enumerate(qids)}
    scored = []
    for h in (0, 1):
        fit = [(a, b) for qid, a, b in pairs if half[qid] != h]
        test = [(a, b) for qid, a, b in pairs if half[qid] == h]
        if not fit or not test:
            return None
        t, _ = fit_temperature([a for a, _ in fit], [b for _, b in fit], t_max=t_max)
        scored += [tv(temperature_scale(a, t), b) for a, b in test]
    return float(np.mean(scored))


def _tiny_run(
    inputs: Mapping[str, Path],
    config: TinyConfig,
    s: int,
    evaluated: list,
    train_pool: list,
    eval_ids: set,
    sim: Mapping,
) -> tuple[dict, list]:
    """One seed of the tiny tier: train (``train.seed + s``), ask every prompt (``seed + s``), score."""
    import dataclasses
    import tempfile

    from repro.common.llm import get_llm
    from repro.distalign.metrics import (
        fit_temperature,
        parse_logprobs,
        parse_sequence,
        parse_verbalized,
        temperature_scale,
        tv,
    )
    from repro.distalign.tiny import FORMATS, render_answer, render_prompt, shots_for

    train_cfg = dataclasses.replace(config.train, seed=config.train.seed + s)
    seed = config.seed + s
    tmp = tempfile.TemporaryDirectory(prefix="distalign_tiny_")
    train_numbers = train_tiny(inputs, train_cfg, Path(tmp.name) / "model")
    rcfg = render_config(train_cfg)
    rng = np.random.default_rng(seed)
    llm = get_llm("tiny", path=str(Path(tmp.name) / "model"), device="cpu")
    by_key = {(q.qid, q.group): q for q in train_pool}
    numbers: dict = {}
    rows = []
    fails: dict[str, dict[str, int]] = {f: {} for f in FORMATS}
    lp_store: dict[str, list] = {"persona": [], "fewshot": []}
    for steering in ("persona", "fewshot"):
        for fmt in FORMATS:
            prompts = []
            for q in evaluated:
                shots = []
                if steering == "fewshot":
                    shots = [
                        render_answer(fmt, sq.p, rng, rcfg)
                        for sq in shots_for(q, by_key, sim.get(q.qid, []), rcfg.shots, eval_ids)
                    ]
                prompts.append(render_prompt(q, fmt, shots, rcfg))
            if fmt == "logprobs":
                answers = [llm.top_logprobs(p, k=20) for p in prompts]
            else:
                max_tokens = 3 + 9 * 8 if fmt == "verbalize" else rcfg.n_samples
                answers = [
                    a[0]
                    for a in llm.generate(
                        prompts,
                        n=1,
                        temperature=config.temperature,
                        max_tokens=max_tokens,
                        stop=["\n"],
                        seed=seed,
                    )
                ]
            tvs = []
            if fmt == "verbalize":  # the paper's lenient parser, for comparison (no sum check, unknown keys dropped)
                lenient = [
                    parse_verbalized(a, q.letters, unknown_option="drop", sum_tol=None, integer_percent=True)
                    for q, a in zip(evaluated, answers)
                ]
                lt = [tv(r.p, q.p) for r, q in zip(lenient, evaluated) if r.ok]
                numbers[f"{steering}.verbalize_lenient.tv"] = float(np.mean(lt)) if lt else None
                fails.setdefault("verbalize_lenient", {})
                fails["verbalize_lenient"]["any"] = fails["verbalize_lenient"].get("any", 0) + sum(
                    not r.ok for r in lenient
                )
            for q, a in zip(evaluated, answers):
                if fmt == "verbalize":
                    parsed = parse_verbalized(a, q.letters)  # strict: unknown option / sum / JSON fail
                elif fmt == "sequence":
                    parsed = parse_sequence(a, q.letters)
                else:
                    parsed = parse_logprobs(a, q.letters)
                if not parsed.ok:
                    fails[fmt][parsed.failure] = fails[fmt].get(parsed.failure, 0) + 1
                tvs.append(tv(parsed.p, q.p) if parsed.ok else np.nan)
                if fmt == "logprobs" and parsed.ok:
                    lp_store[steering].append((q.qid, parsed.p, q.p))
            numbers[f"{steering}.{fmt}.tv"] = float(np.nanmean(tvs)) if np.isfinite(tvs).any() else None
            numbers[f"{steering}.{fmt}.n"] = len(tvs)
            rows.extend((steering, fmt, t) for t in tvs)
        pairs = lp_store[steering]
        t, mean_ts = fit_temperature([a for _, a, _ in pairs], [b for _, _, b in pairs], t_max=config.t_max)
        numbers[f"{steering}.logprobs_ts.tv"] = mean_ts
        numbers[f"{steering}.logprobs_ts.temperature"] = t
        numbers[f"{steering}.logprobs_ts_cv.tv"] = _cross_fitted_ts(pairs, config.t_max)
        rows.extend((steering, "logprobs_ts", tv(temperature_scale(a, t), b)) for _, a, b in pairs)
    n_eval = 2 * len(evaluated)
    numbers["verbalize_lenient.parse_fail_rate"] = float(fails["verbalize_lenient"]["any"] / n_eval)
    for fmt in FORMATS:
        numbers[f"{fmt}.parse_fail_rate"] = float(sum(fails[fmt].values()) / n_eval)
        for reason, c in sorted(fails[fmt].items()):
            numbers[f"{fmt}.parse_fail.{reason}"] = int(c)
    numbers.update({f"train.{k}": v for k, v in train_numbers.items()})
    tmp.cleanup()
    return numbers, rows


# --- paper scale: live models -------------------------------------------------------------------


@step(scales=("paper",))
def live_step(inputs: Mapping[str, Path], config: LiveConfig) -> StepResult:
    """Paper scale: query each model through its backend and score it like the released outputs.

    Numbers ``live.<model>.<dataset>.<steering>.<method>.{tv,parse_fail_rate}``; Log-p is skipped
    for backends without log-probs (the Anthropic API), as in the paper.
    """
    from repro.common.llm import from_params
    from repro.common.llm.base import LLMError
    from repro.distalign.live import OUTPUT_TYPE, PROMPT_DIR, TASK, ask, backend_params, build_prompt, score

    files = released_inputs(inputs)
    rng = np.random.default_rng(config.seed)
    numbers: dict = {}
    rows = []
    for m in config.models:
        llm = from_params(backend_params(m, config.cache))
        for ds in config.datasets:
            qs = load_truth(ds, files)
            by_key = {(q.qid, q.group): q for q in qs}
            for steering in config.steering:
                sel = [q for q in qs if q.group == qs[0].group] if steering == "none" else qs
                sel = sel[: config.max_questions] if config.max_questions is not None else sel
                for method in config.methods:
                    if method == "logprobs" and m.name.startswith("anthropic"):
                        continue
                    block = Path(
                        files[
                            config.prompts.format(
                                dataset=PROMPT_DIR[ds], output_type=OUTPUT_TYPE[method], task=TASK[steering]
                            )
                        ]
                    ).read_text(encoding="utf-8")
                    prompts = []
                    for q in sel:
                        shots = (
                            [
                                by_key[(o.qid, q.group)]
                                for o in qs
                                if o.qid != q.qid and o.group == q.group and len(o.p) == len(q.p)
                            ][: config.shots]
                            if steering == "fewshot"
                            else []
                        )
                        prompts.append(build_prompt(block, q, method, steering, shots, rng))
                    try:
                        answers = ask(
                            llm,
                            prompts,
                            method,
                            config.temperature,
                            config.top_logprobs,
                            config.system_prompt,
                            m.mode,
                        )
                    except LLMError as err:
                        raise LLMError(f"distalign live: {m.name} on {ds}/{steering}/{method}: {err}") from err
                    tvs, fails = score(sel, answers, method)
                    key = f"{m.name}.{ds}.{steering}.{method}"
                    numbers[f"{key}.tv"] = _r(float(np.nanmean(tvs))) if np.isfinite(tvs).any() else None
                    numbers[f"{key}.parse_fail_rate"] = float(sum(fails.values()) / max(1, len(sel)))
                    rows.extend((m.name, ds, steering, method, q.group, q.qid, t) for q, t in zip(sel, tvs))
    table = pd.DataFrame(rows, columns=["model", "dataset", "steering", "method", "group", "qid", "tv"])
    return StepResult(numbers={"live": numbers}, tables={"table": table})
