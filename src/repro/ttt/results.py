"""numbers.json entries and figure tables of the ttt training runs (Sun et al. 2024, Sec. 3).

From every run's evaluation (per-position held-out loss, :func:`repro.ttt.experiments`) and
training history: the LM comparison (``text.*``, a secondary table since the recall study) and the
latency rows. The mini-batch and ladder studies run on the recall task (:mod:`repro.ttt.recall_results`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if xs else math.nan


def run_rows(
    specs: Mapping[str, Mapping[str, Any]],
    histories: Mapping[str, Mapping[str, Any]],
    evals: Mapping[str, Mapping[str, Any]],
    group: str,
) -> list[dict[str, Any]]:
    """One row per (run, role) of ``group`` (main | minibatch | ladder): the run's size, loss, FLOPs, time."""
    rows = []
    for name, spec in specs.items():
        ev, hist = evals[name], histories[name]
        last = hist["history"][-1] if hist["history"] else {"tokens": 0, "elapsed": 0.0}
        for role in spec["roles"]:
            if role["group"] != group:
                continue
            rows.append(
                {
                    "run": name,
                    "group": group,
                    "label": spec["label"],
                    "size": role["size"],
                    "seed": role["seed"],
                    "arch": role.get("arch", ""),
                    "b": role.get("b", ""),
                    "row": role.get("row", ""),
                    "title": role.get("title", ""),
                    "n_params": hist["n_params"],
                    "train_tokens": last["tokens"],
                    "train_flops": float(hist["flops_per_token"]) * last["tokens"],
                    "final_eval_loss": ev["final_eval_loss"],
                    "late_minus_early_loss": ev["late_minus_early_loss"],
                    "loss_slope": ev["loss_slope"],
                    "loss_early": ev["loss_early"],
                    "loss_late": ev["loss_late"],
                    "train_seconds": last["elapsed"],
                }
            )
    return rows


def text_results(
    specs: Mapping[str, Mapping[str, Any]],
    histories: Mapping[str, Mapping[str, Any]],
    evals: Mapping[str, Mapping[str, Any]],
    sizes: Sequence[str],
) -> dict[str, Any]:
    """The LM comparison at equal parameter count: ``text.<arch>.<size>.*`` (mean over seeds, ``.seed<k>``),
    ``text.<arch>.*`` at the largest size; tables: runs, loss-vs-position curves, loss-vs-FLOPs."""
    nums: dict[str, Any] = {}
    rows = run_rows(specs, histories, evals, "main")
    curves, flops = [], []
    main: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        main.setdefault((row["arch"], row["size"]), []).append(row)
        ev, hist = evals[row["run"]], histories[row["run"]]
        for pos, loss in zip(ev["binned"]["position"], ev["binned"]["loss"]):
            curves.append(
                {
                    "arch": row["arch"],
                    "label": row["label"],
                    "size": row["size"],
                    "seed": row["seed"],
                    "position": pos,
                    "loss": loss,
                }
            )
        fpt = float(hist["flops_per_token"])
        for h in hist["history"]:
            if h.get("eval_loss") is not None:
                flops.append(
                    {
                        "arch": row["arch"],
                        "label": row["label"],
                        "size": row["size"],
                        "seed": row["seed"],
                        "tokens": h["tokens"],
                        "flops": fpt * h["tokens"],
                        "eval_loss": h["eval_loss"],
                    }
                )
    for (arch, size), group in main.items():
        for key in ("final_eval_loss", "late_minus_early_loss", "loss_slope", "loss_early", "loss_late"):
            nums[f"text.{arch}.{size}.{key}"] = _mean([r[key] for r in group])
            if size == sizes[-1] and key in ("final_eval_loss", "late_minus_early_loss", "loss_slope"):
                nums[f"text.{arch}.{key}"] = nums[f"text.{arch}.{size}.{key}"]
        for r in group:
            nums[f"text.{arch}.{size}.seed{r['seed']}.final_eval_loss"] = r["final_eval_loss"]
        nums[f"text.{arch}.{size}.n_params"] = group[0]["n_params"]
        nums[f"text.{arch}.{size}.train_flops"] = group[0]["train_flops"]
    return {"numbers": nums, "runs": rows, "curves": curves, "flops": flops}


def latency_numbers(rows: Sequence[Mapping[str, Any]], device: str) -> dict[str, float]:
    """``latency.<device>.ctx<T>.<arch>.{prefill,decode}_ms_per_token`` from :func:`repro.ttt.latency.measure_latency`."""
    out = {}
    for r in rows:
        for key in ("prefill_ms_per_token", "decode_ms_per_token"):
            out[f"latency.{device}.ctx{int(r['ctx'])}.{r['arch']}.{key}"] = float(r[key])
    return out
