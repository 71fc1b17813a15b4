"""Readers for the authors' released artifacts (Jiang et al. 2024, official repo at a pinned commit).

Three kinds of files are read:

* ``<ds>_<model>_bipartite_sc_<S>samples_4matches.json``: per prompt the merged claims
  (``pointwise_dict``: label ``gpt-score``, verbalised confidences and the stored
  per-claim scores) and the 0/1 entailment matrix ``sc_match_<S-1>samples``
  (``S`` generations x claims) -> :class:`Prompt`.
* ``plot_roc_curve_<model>_4matches_<S>samples.json``: the authors' cached AUROC /
  AUPRC / AUPRC-n per method and the filtered claim count ``data_size``.
* ``merged_output_*_factscore_output.json``: FActScore evaluations of the uncertainty-
  aware-decoding outputs (Sec. 5.2).

Setting names are ``<dataset>_<model>`` with dataset in {factscore, popqa} and model in
{gpt35, gpt4, llama3_70b}; the released folders use the long names in :data:`DATASETS`
and :data:`MODELS`. :func:`setting_inputs` and :data:`UAD_INPUT` read the steps' rule-input names.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repro.common.fetch import pins_from_base
from repro.common.io import DataError

__all__ = [
    "DATASETS",
    "MODELS",
    "METHODS",
    "STORED_KEYS",
    "AUTHOR_KEYS",
    "Prompt",
    "DataError",
    "setting_name",
    "parse_setting",
    "released_paths",
    "pinned_files",
    "load_prompts",
    "load_author_metrics",
    "UadOutput",
    "load_uad_output",
    "uad_file_info",
    "SETTING_INPUT",
    "UAD_INPUT",
    "setting_inputs",
    "load_all_author_metrics",
]

DATASETS = {"factscore": "factscore", "popqa": "pop_qa_filtered"}
MODELS = {"gpt35": "gpt-3.5-turbo", "gpt4": "gpt-4", "llama3_70b": "llama-3-70b-instruct"}

# Our method names (numbers.json) in the paper's order; Sec. 3.2-3.3 and the baselines of Sec. 4.
METHODS = ("sc", "closeness", "betweenness", "eigenvector", "pagerank", "vc", "closeness_vc", "sc_vc", "ilvc")

# The stored per-claim score of each graph method in the released files (``{k}`` = samples - 1).
STORED_KEYS = {
    "sc": "sc_score_{k}samples",
    "closeness": "breakdown_closeness_centrality_{k}samples",
    "betweenness": "breakdown_betweenness_centrality_{k}samples",
    "eigenvector": "breakdown_eigenvector_centrality_{k}samples",
    "pagerank": "breakdown_pagerank_{k}samples",
    "closeness_vc": "breakdown_closeness_centrality_with_node_confidence_{k}samples",
}

# The authors' cached metrics (plot_roc_curve_*.json) of each of our methods.
AUTHOR_KEYS = {
    **STORED_KEYS,
    "vc": "verbalized_confidence_with_options",
    "sc_vc": "sc_plus_vc",
    "ilvc": "inline_verbalized_confidence",
}


def setting_name(dataset: str, model: str) -> str:
    """``factscore_gpt4`` from (``factscore``, ``gpt4``), checking both names."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)}")
    if model not in MODELS:
        raise DataError(f"unknown model {model!r}; known: {sorted(MODELS)}")
    return f"{dataset}_{model}"


def parse_setting(setting: str) -> tuple[str, str]:
    """(dataset, model) of a setting name such as ``popqa_llama3_70b``."""
    dataset, _, model = setting.partition("_")
    setting_name(dataset, model)
    return dataset, model


def released_paths(setting: str, samples: int) -> dict[str, str]:
    """Repository paths of one setting's matrix file and cached-metrics file."""
    if samples not in (5, 10):
        raise DataError(f"samples must be 5 or 10, got {samples}")
    dataset, model = parse_setting(setting)
    ds, mo = DATASETS[dataset], MODELS[model]
    folder = f"experiments/{ds}/{mo}"
    return {
        "matrix": f"{folder}/{ds}_{mo}_bipartite_sc_{samples}samples_4matches.json",
        "authors": f"{folder}/plot_roc_curve_{mo}_4matches_{samples}samples.json",
    }


def pinned_files(params: Mapping[str, Any], folder: str) -> dict[str, dict[str, str]]:
    """Rule input name -> {url, sha256, path} of every released artifact read (matrices, cached metrics, UAD).

    ``params``: the resolved graphunc block of params.yaml; its ``release`` section holds ``base_url`` (the
    repository at the pinned commit) and ``files: {name: {path, sha256}}``. ``folder``: the download folder of
    the paper's registry group (workflow/papers.yaml), standing for the repository; each file lands at
    ``<folder>/<path in the repository>``.
    """
    return pins_from_base(params["release"], folder, "graphunc release")


@dataclass(frozen=True)
class Prompt:
    """One prompt's graph inputs: entailment matrix, confidences, labels and stored scores."""

    entity: str
    matrix: np.ndarray  # generations x claims, 0/1
    vc: np.ndarray  # verbalised confidence with options (0..1; -1 = parse failure)
    ilvc: np.ndarray  # inline verbalised confidence from decomposition
    labels: tuple[str, ...]  # gpt-score per claim: Y / N / S / ...
    claims: tuple[str, ...]
    stored: dict[str, np.ndarray]  # method -> stored per-claim score


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DataError(f"{where}: expected a number, got {value!r}") from None
    return float(value)


def _read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON ({err})") from None


def load_prompts(path: str | os.PathLike[str], samples: int) -> list[Prompt]:
    """Read a ``*_bipartite_sc_<samples>samples_4matches.json`` file.

    ``samples`` is the number of generations (greedy + samples - 1) whose entailment
    matrix ``sc_match_<samples-1>samples`` the file holds.
    """
    path = Path(path)
    k = samples - 1
    mkey = f"sc_match_{k}samples"
    rows = _read_json(path)
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a list of prompts")
    out = []
    for p, row in enumerate(rows):
        where = f"{path.name}[{p}]"
        if mkey not in row or "pointwise_dict" not in row:
            raise DataError(f"{where}: missing {mkey!r} or 'pointwise_dict'")
        points = row["pointwise_dict"]
        matrix = np.asarray(row[mkey], dtype=float)
        if matrix.ndim != 2 or matrix.shape != (samples, len(points)):
            raise DataError(f"{where}: {mkey} has shape {matrix.shape}, expected ({samples}, {len(points)})")
        stored = {}
        for method, key in STORED_KEYS.items():
            key = key.format(k=k)
            stored[method] = np.array([_number(pt.get(key), f"{where}.{key}") for pt in points])
        out.append(
            Prompt(
                entity=str(row.get("entity", "")),
                matrix=matrix,
                vc=np.array([_number(pt["verbalized_confidence_with_options"], f"{where}.vc") for pt in points]),
                ilvc=np.array([_number(pt["inline_verbalized_confidence"], f"{where}.ilvc") for pt in points]),
                labels=tuple(str(pt.get("gpt-score", "")) for pt in points),
                claims=tuple(str(pt.get("claim", "")) for pt in points),
                stored=stored,
            )
        )
    return out


def load_author_metrics(path: str | os.PathLike[str], samples: int) -> dict[str, dict[str, float]]:
    """The authors' cached ``{method: {auroc, auprc, auprc_n}}`` plus ``{"data_size": {"n": ...}}``."""
    doc = _read_json(path)
    if not isinstance(doc, dict) or "data_size" not in doc:
        raise DataError(f"{path}: no 'data_size'")
    out: dict[str, dict[str, float]] = {"data_size": {"n": _number(doc["data_size"], f"{path}:data_size")}}
    for method, key in AUTHOR_KEYS.items():
        key = key.format(k=samples - 1)
        if key not in doc:
            raise DataError(f"{path}: no cached metrics {key!r} for method {method}")
        missing = [m for m in ("auroc", "auprc", "auprc_n") if m not in doc[key]]
        if missing:
            raise DataError(f"{path}: cached metrics {key!r} lack {missing}")
        out[method] = {m: _number(doc[key][m], f"{path}:{key}.{m}") for m in ("auroc", "auprc", "auprc_n")}
    return out


# --- uncertainty-aware decoding outputs (Sec. 5.2) ------------------------------------------


@dataclass(frozen=True)
class UadOutput:
    """FActScore decisions of one decoding run: per response a list of supported flags (None: abstained)."""

    decisions: tuple[tuple[bool, ...] | None, ...]
    stored_init_score: float | None
    stored_respond_ratio: float | None


_UAD_NAME = re.compile(r"merged_output_threshold(?P<t>[0-9.]+)_percentile(?P<p>\d+)_factscor?e?_output\.json$")
UAD_METHOD_DIRS = {
    "closeness": "closeness",
    "sc": "scgpt",
    "sc_vc": "scgpt+vc",
    "sc_ilvc": "scgpt+ilvc",
    "sc_ml": "scgpt_ml",
}


def uad_file_info(path: str) -> tuple[str, int, float]:
    """(method, percentile, threshold) from a released UAD output path."""
    parts = path.split("/")
    inverse = {v: k for k, v in UAD_METHOD_DIRS.items()}
    if len(parts) < 2 or parts[-2] not in inverse:
        raise DataError(f"{path}: not under a UAD method folder {sorted(inverse)}")
    m = _UAD_NAME.search(parts[-1])
    if m is None:
        raise DataError(f"{path}: file name does not give threshold and percentile")
    return inverse[parts[-2]], int(m.group("p")), float(m.group("t"))


def load_uad_output(path: str | os.PathLike[str]) -> UadOutput:
    """Read a FActScore output file of a UAD / greedy / CoVe run."""
    doc = _read_json(path)
    if not isinstance(doc, dict) or "decisions" not in doc:
        raise DataError(f"{path}: no 'decisions'")
    decisions = []
    for d in doc["decisions"]:
        if d is None:
            decisions.append(None)
        else:
            decisions.append(tuple(bool(a["is_supported"]) for a in d))

    def _opt(key: str) -> float | None:
        v = doc.get(key)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    return UadOutput(tuple(decisions), _opt("init_score"), _opt("respond_ratio"))


# --- rule inputs: matrix_<setting>_s<S>, authors_<setting>_s<S>, uad_<method>_p<percentile> ------------

SETTING_INPUT = re.compile(r"^(?P<kind>matrix|authors)_(?P<setting>[a-z0-9_]+)_s(?P<s>5|10)$")
UAD_INPUT = re.compile(r"^uad_(?P<method>[a-z_]+?)(?:_p(?P<p>\d+))?$")


def setting_inputs(inputs: Mapping[str, Path], kind: str) -> dict[tuple[str, int], Path]:
    """(setting, samples) -> file of the rule inputs named ``<kind>_<setting>_s<S>`` (kind: matrix | authors)."""
    out = {}
    for name, path in inputs.items():
        m = SETTING_INPUT.match(name)
        if m and m.group("kind") == kind:
            parse_setting(m.group("setting"))
            out[(m.group("setting"), int(m.group("s")))] = path
    return dict(sorted(out.items()))


def load_all_author_metrics(inputs: Mapping[str, Path]) -> dict[tuple[str, int], dict[str, dict[str, float]]]:
    """The authors' cached metrics of every ``authors_<setting>_s<S>`` rule input, by (setting, samples)."""
    return {key: load_author_metrics(path, key[1]) for key, path in setting_inputs(inputs, "authors").items()}
