"""Released data of Thrush et al. (2024): the BPB matrix and the benchmark-error CSV (Sec. 4, App.).

* BPB CSV (``examples/get_error_and_bpb/bpb_csvs/*.csv``): one row per text (domain, page or
  synthetic document), an id column, and one column per LLM named ``"('family', 'hf/name')"``.
* Error CSV (``error_csvs/error.csv``): one row per benchmark (column ``benchmark``), one column
  per LLM. arc_easy / piqa / sciq hold 1 - accuracy; the LAMBADA rows hold perplexity.

:func:`load_bpb` transposes the BPB CSV (rows = LLMs) and sorts LLMs alphabetically,
:func:`target_errors` averages a benchmark group into the target ``y`` and aligns it with
the LLMs of ``X``; a missing LLM or a NaN value is an error that names the LLM.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from repro.common.fetch import pins_from_template
from repro.common.io import DataError, read_csv

__all__ = ["TARGET_GROUPS", "DataError", "check_bpb", "load_bpb", "load_errors", "pinned_files", "target_errors"]

#: Target -> benchmark rows of the error CSV averaged into ``y`` (the paper's eight targets
#: as named in the released ``fasttext_info`` files; LAMBADA averages two variants).
TARGET_GROUPS: dict[str, tuple[str, ...]] = {
    "arc_easy": ("arc_easy",),
    "piqa": ("piqa",),
    "sciq": ("sciq",),
    "lambada": ("lambada_openai", "lambada_standard"),
    "lambada_de": ("lambada_openai_mt_de",),
    "lambada_es": ("lambada_openai_mt_es",),
    "lambada_fr": ("lambada_openai_mt_fr",),
    "lambada_it": ("lambada_openai_mt_it",),
}


def check_bpb(bpb: pd.DataFrame) -> None:
    """Refuse a BPB matrix (rows = models) with NaN/inf values, naming the first bad models."""
    values = bpb.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.nonzero(bad.any(axis=1))[0]
        names = [str(bpb.index[i]) for i in rows[:5]]
        cols = [str(bpb.columns[j]) for j in np.nonzero(bad[rows[0]])[0][:3]]
        raise DataError(
            f"BPB matrix has NaN/inf values for {len(rows)} model(s), e.g. {names} (texts {cols}); "
            "drop the texts or models explicitly before estimating"
        )


def _as_float(table: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
    """The table as float64, naming the file and the first model with a non-numeric cell."""
    try:
        return table.astype(np.float64)
    except ValueError:
        numeric = table.apply(pd.to_numeric, errors="coerce")
        bad = numeric.isna() & table.notna()
        row = bad.any(axis=1).idxmax()
        col = bad.loc[row].idxmax()
        raise DataError(f"{path}: non-numeric value {table.loc[row, col]!r} for model {row!r} at {col!r}") from None


def load_bpb(path: str | os.PathLike[str], id_column: str = "id") -> pd.DataFrame:
    """The BPB matrix with rows = LLMs (sorted by name) and columns = text ids (file order)."""
    df = read_csv(path)
    if id_column not in df.columns:
        raise DataError(f"{path}: no id column {id_column!r}; columns start with {list(df.columns[:3])}")
    if df[id_column].duplicated().any():
        raise DataError(f"{path}: duplicate text ids, e.g. {df[id_column][df[id_column].duplicated()].iloc[0]!r}")
    X = df.set_index(id_column).T
    X.index = X.index.astype(str)
    X = _as_float(X.sort_index(), path)
    try:
        check_bpb(X)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return X


def load_errors(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The error CSV with rows = LLMs (sorted) and columns = benchmarks."""
    df = read_csv(path)
    if "benchmark" not in df.columns:
        raise DataError(f"{path}: no 'benchmark' column")
    E = df.set_index("benchmark").T
    E.index = E.index.astype(str)
    return _as_float(E.sort_index(), path)


def target_errors(errors: pd.DataFrame, models: Sequence[str], target: str) -> np.ndarray:
    """``y`` for ``target`` (mean over its benchmark group), in the order of ``models``.

    Every model of the BPB matrix must have a finite error for every benchmark of the group.
    """
    if target not in TARGET_GROUPS:
        raise DataError(f"unknown target {target!r}; known: {sorted(TARGET_GROUPS)}")
    group = TARGET_GROUPS[target]
    missing_b = [b for b in group if b not in errors.columns]
    if missing_b:
        raise DataError(f"error CSV has no benchmark(s) {missing_b} needed by target {target!r}")
    missing = [m for m in models if m not in errors.index]
    if missing:
        raise DataError(f"model(s) {missing[:5]} of the BPB matrix missing from the error CSV ({len(missing)} in all)")
    sub = errors.loc[list(models), list(group)]
    bad = sub.index[~np.isfinite(sub.to_numpy()).all(axis=1)]
    if len(bad):
        raise DataError(f"model(s) {list(bad[:5])} have NaN errors for target {target!r}")
    return sub.mean(axis=1).to_numpy(dtype=np.float64)


def pinned_files(params: Mapping[str, Any], folder: str) -> dict[str, dict[str, str]]:
    """``{name: {url, sha256, path}}`` of the released files (Sec. 4 / App.: BPB and error CSVs, fasttext_info).

    ``params``: the resolved pplcorr block of params.yaml; its ``data`` section is
    ``{url: ".../{commit}/{file}", commit, files: {name: {file, sha256}}}``. ``folder``: the download folder of
    the paper's registry group (workflow/papers.yaml), standing for the repository; each file lands at
    ``<folder>/<commit>/<file>``.
    """
    return pins_from_template(params["data"], folder, "pplcorr data")
