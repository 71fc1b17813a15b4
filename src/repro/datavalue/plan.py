"""What the datavalue workflow runs, decided at parse time (light: numpy only, no torch).

The rules file expands the experiments and writes each wildcard step's params file from here, and
checks every size grid against its dataset so that a grid larger than the dataset, or a class too small
for a balanced subset, is a named error before anything runs (the steps repeat the check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from repro.datavalue.data import DatasetSpec, SubsetError, check_sizes, choose_points, geometric_sizes, load_dataset


@dataclass(frozen=True)
class Experiment:
    """One (dataset, model) pair of the samples step (params ``samples.experiments[i]``)."""

    dataset: str  # key of params ``datasets``
    model: str  # key of params ``models``
    n_points: int  # valued points (drawn at random from the pool)
    k_min: int  # smallest dataset size of the geometric grid
    k_max: int  # largest dataset size
    n_sizes: int  # grid points (every other one is held out of the fits)
    n_samples: int  # random subsets per size (shared by all valued points: common random numbers)


def experiment_key(e: Mapping[str, Any]) -> str:
    return f"{e['dataset']}-{e['model']}"


def step_params_files(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{file stem: config mapping} of every wildcard step (written at parse time by the rules file).

    Also checks the size grids against the datasets' declared sizes, so a grid larger than the
    dataset or a class too small is a named error at parse time (offline datasets only).
    """
    out: dict[str, dict[str, Any]] = {}
    exps = {experiment_key(e): e for e in params["samples"]["experiments"]}
    for key, e in exps.items():
        for name, section in (("dataset", "datasets"), ("model", "models")):
            if e[name] not in params[section]:
                raise SubsetError(
                    f"datavalue.samples.experiments: {name} {e[name]!r} not in datavalue.{section} {sorted(params[section])}"
                )
        out[f"samples-{key}"] = {
            "experiment": e,
            "dataset": params["datasets"][e["dataset"]],
            "model": params["models"][e["model"]],
            "budget": params["samples"]["budget"],
            "seed": params["seed"],
        }
        out[f"fit-{key}"] = {"experiment": e, "fit": params["fit"]}
    for ds in datasets_for(params, "amortized"):
        e = exps[f"{ds}-{params['amortized']['model']}"]
        out[f"amortized-{ds}"] = {
            "experiment": e,
            "dataset": params["datasets"][ds],
            "amortized": params["amortized"],
            "seed": params["seed"],
        }
    for ds in datasets_for(params, "noisy"):
        out[f"noisy-{ds}"] = {"dataset_name": ds, **params["noisy"]}
    for step in ("addition", "removal"):
        for ds in datasets_for(params, step):
            out[f"{step}-{ds}"] = {
                "dataset_name": ds,
                "dataset": params["datasets"][ds],
                "model": params["models"][params[step]["model"]],
                "curve": params[step],
                "seed": params["seed"],
            }
    for ds in params["matching"]["datasets"]:
        if ds not in datasets_for(params, "matching"):
            raise SubsetError(
                f"datavalue.matching.datasets: {ds!r} has no experiment with model {params['matching']['model']!r}"
            )
        out[f"matching-{ds}"] = {
            "dataset_name": ds,
            "dataset": params["datasets"][ds],
            "model": params["models"][params["matching"]["model"]],
            "matching": params["matching"],
            "seed": params["seed"],
        }
    sp = dict(params["speed"])
    out["speed"] = {**sp, "dataset_name": sp["dataset"], "dataset": params["datasets"][sp["dataset"]]}
    return out


def datasets_for(params: Mapping[str, Any], step: str) -> list[str]:
    """Datasets a per-dataset step runs on: those with an experiment of the step's model (noisy: with flips)."""
    exps = params["samples"]["experiments"]
    if step == "noisy":
        model = params["amortized"]["model"]
        return sorted(
            {
                e["dataset"]
                for e in exps
                if e["model"] == model and params["datasets"][e["dataset"]]["flip_fraction"] > 0
            }
        )
    model = params[step]["model"]
    return sorted({e["dataset"] for e in exps if e["model"] == model})


def without_loader(params: Mapping[str, Any]) -> dict[str, str]:
    """dataset -> what is missing, for each dataset of the experiments that this code cannot load yet: the paper's
    remote datasets (IMDB with DistilBERT features, MiniBooNE and adult from opendataval, CIFAR-10 with ResNet-50
    features) have no loader (issue 37). The rules file leaves their jobs out of the DAG and lists them as not run
    (issue 28: at paper scale nothing raises for being missing)."""
    used = {e["dataset"] for e in params["samples"]["experiments"]}
    return {
        d: f"no loader yet for the remote dataset {d} ({params['datasets'][d].get('name') or d}; issue 37)"
        for d in sorted(used)
        if params["datasets"][d]["source"] == "remote"
    }


def not_run_jobs(params: Mapping[str, Any]) -> dict[str, str]:
    """``not_run.<step>.<dataset>[.<model>]`` -> what is missing, for every job on a dataset without a loader
    (:func:`without_loader`); the prefix of the numbers keys the job would write, so the scorecard marks those
    numbers as not run (repro.common.scorecard.not_run_reason)."""
    missing = without_loader(params)
    out: dict[str, str] = {}
    for e in params["samples"]["experiments"]:
        if e["dataset"] in missing:
            for step in ("samples", "fit"):
                out[f"not_run.{step}.{e['dataset']}.{e['model']}"] = missing[e["dataset"]]
    for step in ("amortized", "noisy", "addition", "removal"):
        for d in datasets_for(params, step):
            if d in missing:
                out[f"not_run.{step}.{d}"] = missing[d]
    for d in params["matching"]["datasets"]:
        if d in missing:
            out[f"not_run.matching.{d}"] = missing[d]
    return out


def check_grid(e: Experiment, spec: DatasetSpec, seed: int) -> np.ndarray:
    """The experiment's size grid, checked against the dataset (named errors; parse and step time).

    The valued points are drawn exactly as the samples step draws them (first use of the seeded
    generator), so the check is exact: every size must be drawable class-balanced from the pool
    without the valued points.
    """
    sizes = geometric_sizes(e.k_min, e.k_max, e.n_sizes)
    if spec.source in ("synthetic", "sklearn"):
        ds = load_dataset(e.dataset, spec)
        where = f"datavalue.samples.experiments[{e.dataset}-{e.model}]"
        if e.n_points >= len(ds.y_pool):
            raise SubsetError(f"{where}: n_points {e.n_points} >= pool size {len(ds.y_pool)}")
        points = choose_points(ds, e.n_points, np.random.default_rng(seed))
        others = np.setdiff1d(np.arange(len(ds.y_pool)), points)
        check_sizes(sizes, np.bincount(ds.y_pool[others], minlength=ds.n_classes), where)
    return sizes


def checked_params_files(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """:func:`step_params_files` after checking every experiment's size grid against its dataset (parse time)."""
    files = step_params_files(params)
    for e in params["samples"]["experiments"]:
        check_grid(Experiment(**e), DatasetSpec(**params["datasets"][e["dataset"]]), params["seed"])
    return files
