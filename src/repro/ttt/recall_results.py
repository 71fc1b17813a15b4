"""numbers.json entries and figure tables of the recall study (the tiny-scale test of Sun et al. 2024, Sec. 3).

From every recall run's record (:func:`repro.ttt.steps.recall_run_step`): the architecture comparison at
matched state size (``recall.*``, ``inner_loss.*``), the mini-batch trade-off (``minibatch.*``) and the
Table-1 ladder with eta_base picked on the validation split (``ladder.*``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from repro.ttt.recall import gap_summary


def _stats(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) over seeds."""
    a = np.asarray(xs, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _roles(specs: Mapping[str, Mapping[str, Any]], group: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, role) for name, spec in specs.items() for role in spec["roles"] if role["group"] == group]


def _seed_order(specs: Mapping[str, Mapping[str, Any]], group: str) -> list[int]:
    """The seeds of a group's runs, ascending: the order of every ``.per_seed`` list of that group."""
    return sorted({int(role["seed"]) for _, role in _roles(specs, group)})


def _per_seed(
    nums: dict[str, Any],
    prefix: str,
    by_seed: Mapping[int, Mapping[str, Any]],
    seeds: Sequence[int],
    keys: Sequence[str],
) -> None:
    """``<prefix>.<key>`` = mean over seeds, ``<prefix>.<key>_std`` (ddof 1) and ``<prefix>.<key>.per_seed``."""
    if sorted(by_seed) != list(seeds):
        raise ValueError(f"ttt: {prefix} has seeds {sorted(by_seed)}, not {list(seeds)}")
    for key in keys:
        values = [float(by_seed[s][key]) for s in seeds]
        nums[f"{prefix}.{key}"], nums[f"{prefix}.{key}_std"] = _stats(values)
        nums[f"{prefix}.{key}.per_seed"] = values


def run_summary(record: Mapping[str, Any], min_position: int) -> dict[str, float]:
    """Test loss (mean over positions), gap to the Bayes curve and its slope, accuracy, throughput."""
    test = record["test"]
    return {
        "loss": float(np.mean(test["loss"])),
        **gap_summary(test["loss"], test["bayes"], min_position),
        "accuracy": float(test["accuracy"]),
        "val_loss": float(record["val_loss"]),
        "tokens_per_s": float(record["train"]["tokens_per_s"]),
        "n_params": int(record["n_params"]),
        "state_size": int(record["state_size"]),
    }


def recall_results(
    specs: Mapping[str, Mapping[str, Any]], records: Mapping[str, Mapping[str, Any]], min_position: int
) -> dict[str, Any]:
    """``recall.<arch>.<pairs>.{gap_to_bayes,accuracy,gap_slope,loss}`` (+ ``_std`` over seeds),
    ``.n_params``, ``.state_size``; the Bayes and no-memory floors per pairs; tables of the runs, the curves and
    the accuracy by keys seen."""
    nums: dict[str, Any] = {}
    runs, curves, acc_rows = [], [], []
    groups: dict[tuple[str, int], list[str]] = {}
    for name, role in _roles(specs, "recall"):
        groups.setdefault((role["arch"], int(role["pairs"])), []).append(name)
        rec = records[name]
        summ = run_summary(rec, min_position)
        runs.append({"run": name, "arch": role["arch"], "pairs": role["pairs"], "seed": role["seed"], **summ})
        test = rec["test"]
        for t, (lo, ba) in enumerate(zip(test["loss"], test["bayes"])):
            curves.append(
                {
                    "arch": role["arch"],
                    "pairs": role["pairs"],
                    "seed": role["seed"],
                    "position": t,
                    "loss": lo,
                    "bayes": ba,
                    "no_memory": test["no_memory"][t],
                }
            )
        for m, (a, c) in enumerate(zip(test["accuracy_by_seen"], test["count_by_seen"])):
            if c > 0:
                acc_rows.append(
                    {
                        "arch": role["arch"],
                        "pairs": role["pairs"],
                        "seed": role["seed"],
                        "seen": m,
                        "accuracy": a,
                        "count": c,
                    }
                )
    if not groups:
        raise ValueError("ttt recall: no runs of the recall group")
    seeds = _seed_order(specs, "recall")
    nums["recall.seeds"] = seeds
    for (arch, pairs), names in sorted(groups.items()):
        rows = sorted((r for r in runs if r["arch"] == arch and r["pairs"] == pairs), key=lambda r: r["seed"])
        if [r["seed"] for r in rows] != seeds:
            raise ValueError(f"ttt recall: {arch} at {pairs} pairs has seeds {[r['seed'] for r in rows]}, not {seeds}")
        for key in ("gap_to_bayes", "accuracy", "gap_slope", "loss"):
            mean, std = _stats([r[key] for r in rows])
            nums[f"recall.{arch}.{pairs}.{key}"] = mean
            nums[f"recall.{arch}.{pairs}.{key}_std"] = std
            nums[f"recall.{arch}.{pairs}.{key}.per_seed"] = [r[key] for r in rows]
        nums[f"recall.{arch}.{pairs}.n_params"] = rows[0]["n_params"]
        nums[f"recall.{arch}.{pairs}.state_size"] = rows[0]["state_size"]
        nums[f"recall.{arch}.{pairs}.seeds"] = len(rows)
        test = records[names[0]]["test"]  # every run is scored on the same test sequences
        floor = gap_summary(test["no_memory"], test["bayes"], min_position)
        nums[f"recall.bayes.{pairs}.loss"] = float(np.mean(test["bayes"]))
        nums[f"recall.no_memory.{pairs}.gap_to_bayes"] = floor["gap_to_bayes"]
    return {"numbers": nums, "runs": runs, "curves": curves, "accuracy": acc_rows}


def inner_loss_results(
    specs: Mapping[str, Mapping[str, Any]], records: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``inner_loss.<arch>.{w0,before,after}.mean`` of the TTT archs of the recall group at the smallest pairs
    value (mean over positions and seeds), and the per-position table of the inner-loss figure."""
    chosen = [(n, r) for n, r in _roles(specs, "recall") if records[n].get("inner")]
    if not chosen:
        raise ValueError("ttt inner_loss: no recall run with inner-loop losses (TTT archs, eval.inner_sequences > 0)")
    first = min(int(r["pairs"]) for _, r in chosen)
    nums: dict[str, Any] = {}
    rows = []
    by_arch: dict[str, list[str]] = {}
    for name, role in chosen:
        if int(role["pairs"]) != first:
            continue
        by_arch.setdefault(role["arch"], []).append(name)
        inner = records[name]["inner"]
        for t in range(len(inner["w0"])):
            rows.append(
                {
                    "arch": role["arch"],
                    "pairs": role["pairs"],
                    "seed": role["seed"],
                    "position": t,
                    **{k: inner[k][t] for k in ("w0", "before", "after")},
                }
            )
    for arch, names in by_arch.items():
        for k in ("w0", "before", "after"):
            nums[f"inner_loss.{arch}.{k}.mean"] = float(np.mean([np.mean(records[n]["inner"][k]) for n in names]))
    return {"numbers": nums, "inner": rows}


def minibatch_results(
    specs: Mapping[str, Mapping[str, Any]], records: Mapping[str, Mapping[str, Any]], min_position: int
) -> dict[str, Any]:
    """``minibatch.b<b>.{loss,gap_to_bayes,accuracy,tokens_per_s}`` (b = ``T``: batch GD over the context): mean
    over seeds, ``_std`` and ``.per_seed`` (seed order: ``minibatch.seeds``)."""
    seeds = _seed_order(specs, "minibatch")
    nums: dict[str, Any] = {"minibatch.seeds": seeds}
    rows = []
    by_b: dict[str, dict[int, dict[str, Any]]] = {}
    for name, role in _roles(specs, "minibatch"):
        summ = run_summary(records[name], min_position)
        rows.append({"run": name, "b": role["b"], "pairs": role["pairs"], "seed": role["seed"], **summ})
        by_b.setdefault(str(role["b"]), {})[int(role["seed"])] = summ
    for b, by_seed in by_b.items():
        _per_seed(nums, f"minibatch.b{b}", by_seed, seeds, ("loss", "gap_to_bayes", "accuracy", "tokens_per_s"))
    return {"numbers": nums, "runs": rows}


def ladder_results(
    specs: Mapping[str, Mapping[str, Any]], records: Mapping[str, Mapping[str, Any]], min_position: int
) -> dict[str, Any]:
    """``ladder.<row>.{loss,gap_to_bayes,accuracy,eta_base,val_loss}``: per row and seed, the eta_base of the
    grid with the lowest validation loss (the procedure is repeated on every seed), scored on the test
    sequences; mean over seeds, ``_std`` and ``.per_seed`` (seed order: ``ladder.seeds``). ``eta_base`` is the
    value chosen on the most seeds (ties: the smallest); ``eta_base.per_seed`` lists every seed's choice."""
    seeds = _seed_order(specs, "ladder")
    by_row: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for name, role in _roles(specs, "ladder"):
        summ = run_summary(records[name], min_position)
        by_row.setdefault(role["row"], {}).setdefault(int(role["seed"]), []).append(
            {"run": name, "row": role["row"], "eta_base": role["eta_base"], "seed": role["seed"], **summ}
        )
    nums: dict[str, Any] = {"ladder.seeds": seeds}
    rows = []
    for row, per_seed in by_row.items():
        chosen: dict[int, dict[str, Any]] = {}
        for seed, cands in per_seed.items():
            finite = [c for c in cands if math.isfinite(c["val_loss"])]
            best = min(finite or cands, key=lambda c: c["val_loss"])
            chosen[seed] = best
            for c in cands:
                rows.append({**c, "chosen": c is best})
        _per_seed(nums, f"ladder.{row}", chosen, seeds, ("loss", "gap_to_bayes", "accuracy", "val_loss"))
        etas = [float(chosen[s]["eta_base"]) for s in seeds]
        nums[f"ladder.{row}.eta_base"] = min(set(etas), key=lambda e: (-etas.count(e), e))
        nums[f"ladder.{row}.eta_base.per_seed"] = etas
    return {"numbers": nums, "runs": rows}
