"""The released ideation-study reviews (NoviScl/AI-Researcher, ``reviews_ideation/``).

``data_points_all_anonymized.json`` is a dict of parallel lists, one entry per review
(337 rows: Human 119, AI 109, AI_Rerank 109; 49 ideas per condition; 7 topics). Reviewer
ids are not released. ``id_title_mapping.csv`` names the 49 Human and 49 AI ideas (AI
ideas by their proposal file name); AI_Rerank ideas have no title.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from repro.common.fetch import pins_from_template
from repro.common.io import DataError, read_csv

METRICS: tuple[str, ...] = ("novelty", "excitement", "feasibility", "effectiveness", "overall")
CONDITIONS: tuple[str, ...] = ("Human", "AI", "AI_Rerank")
TOPICS: tuple[str, ...] = ("Bias", "Coding", "Safety", "Multilingual", "Factuality", "Math", "Uncertainty")
CONDITION_KEY = {"Human": "human", "AI": "ai", "AI_Rerank": "ai_rerank"}  # numbers.json spelling
REQUIRED_COLUMNS = ("topic", "condition", "idea_id") + tuple(f"{m}_score" for m in METRICS)


def normalise_idea_id(raw: str) -> str:
    """``"Bias_1 _AI_Rerank"`` -> ``"Bias_1_AI_Rerank"`` (the released ids contain stray spaces)."""
    return re.sub(r"\s+", "", str(raw))


def load_reviews(path: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per review: topic, condition, idea_id (normalised) and the five integer scores.

    Columns ``<metric>`` hold the 1-10 scores (renamed from ``<metric>_score``); the
    rationales are kept as ``<metric>_rationale``. Raises :class:`DataError` naming the
    missing field or the bad value.
    """
    with open(path, encoding="utf-8") as fh:
        try:
            raw = json.load(fh)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object of parallel lists, got {type(raw).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in raw]
    if missing:
        raise DataError(f"{path}: missing field(s) {missing}")
    lengths = {k: len(v) for k, v in raw.items() if isinstance(v, list)}
    if len(set(lengths.values())) != 1:
        raise DataError(f"{path}: fields have different lengths {lengths}")
    df = pd.DataFrame(raw)
    bad = sorted(set(df["condition"]) - set(CONDITIONS))
    if bad:
        raise DataError(f"{path}: unknown condition(s) {bad}; expected {list(CONDITIONS)}")
    for m in METRICS:
        col = pd.to_numeric(df[f"{m}_score"], errors="coerce")
        if col.isna().any() or ((col < 1) | (col > 10)).any():
            raise DataError(f"{path}: field {m}_score must hold scores 1..10")
        df[m] = col.astype(float)
    df["idea_id"] = df["idea_id"].map(normalise_idea_id)
    keep = ["topic", "condition", "idea_id", *METRICS] + [f"{m}_rationale" for m in METRICS if f"{m}_rationale" in df]
    return df[keep].reset_index(drop=True)


def idea_means(reviews: pd.DataFrame) -> pd.DataFrame:
    """Test 2 units: each metric averaged over the reviews of one (idea_id, condition)."""
    return reviews.groupby(["idea_id", "condition", "topic"], as_index=False)[list(METRICS)].mean()


def title_from_entry(entry: str) -> str:
    """A readable title: AI ideas are named by file (``entropy-guided_prompt_mutation.json``)."""
    text = str(entry).strip()
    if text.endswith(".json"):
        text = text[: -len(".json")].replace("_", " ").replace("-", " ")
    return re.sub(r"\s+", " ", text).strip()


def load_titles(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``id_title_mapping.csv`` -> columns idea_id (normalised), topic, condition, title."""
    df = read_csv(path)
    if list(df.columns[:2]) != ["ID", "Title / Filename"]:
        raise DataError(f"{path}: expected columns 'ID', 'Title / Filename', got {list(df.columns)}")
    out = pd.DataFrame(
        {"idea_id": df["ID"].map(normalise_idea_id), "title": df["Title / Filename"].map(title_from_entry)}
    )
    parts = out["idea_id"].str.extract(r"^(?P<topic>[A-Za-z]+)_\d+_(?P<condition>.+)$")
    if parts.isna().any().any():
        raise DataError(f"{path}: ids must look like <Topic>_<n>_<Condition>")
    return pd.concat([out, parts], axis=1)[["idea_id", "topic", "condition", "title"]]


def pinned_files(params: Mapping[str, Any], folder: str) -> dict[str, dict[str, str]]:
    """name -> {url, sha256, path} of the released study files (the blind reviews of the human study, ``reviews_ideation/``).

    ``params``: the resolved ideagen block of params.yaml; its ``data`` section holds the URL template (with
    ``{commit}`` and ``{file}``), the commit and ``files: {name: {file, sha256}}``. ``folder``: the download
    folder of the paper's registry group (workflow/papers.yaml), standing for the repository; each file lands at
    ``<folder>/<commit>/<path in the repository>``, the mirror layout (``repro.common.fetch.local_path``).
    """
    return pins_from_template(params["data"], folder, "ideagen data")
