"""Released data of *Benchmarking Distributional Alignment of LLMs* (Meister et al., NAACL 2025).

Everything is read from the authors' repository at a pinned commit (params.yaml:
``distalign.data``), through :mod:`repro.common.fetch` (sha256-checked; ``$REPRO_MIRROR``
offline). The list of files and their checksums is ``released_files.tsv`` beside this
module (a fact about the release, not an experiment value).

Ground truth (paper Sec. 3): a group's distribution over a question's options is its
normalised answer counts, in ``MC_options`` order (letters A, B, ...):

* OpinionQA (Pew ATP, 100 contentious questions; 500-question pool for few-shot): raw counts
  per option text (the group's answer keys are the options); groups Democrat, Republican (POLPARTY), Male, Female (SEX), Black, White (RACE).
* NYT book preferences (235 books): counts per 4-point Likert option; Democrat, Republican,
  Male, Female.
* GlobalOpinionQA (100 questions, 3 countries each): proportions per option; groups '0', '1',
  '2' index the question's ``countries``.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repro.common.io import DataError

__all__ = [
    "DataError",
    "DATASETS",
    "GROUPS",
    "OQA_GROUP_FILE",
    "released_files",
    "file_name",
    "pinned_files",
    "released_inputs",
    "Question",
    "load_truth",
    "letters",
]

DATASETS = ("opinionqa", "nytimes", "globalvalues")
# The evaluated groups of each dataset (paper Sec. 3.1; the leaderboard pools these).
GROUPS: dict[str, tuple[str, ...]] = {
    "opinionqa": ("Democrat", "Republican", "Male", "Female", "Black", "White"),
    "nytimes": ("Democrat", "Republican", "Male", "Female"),
    "globalvalues": ("0", "1", "2"),
}
OQA_GROUP_FILE = {
    "Democrat": "POLPARTY",
    "Republican": "POLPARTY",
    "Male": "SEX",
    "Female": "SEX",
    "Black": "RACE",
    "White": "RACE",
}
OQA_DIR = "opinions_qa/data/human_resp/Pew_American_Trends_Panel_disagreement_{pool}"
MANIFEST = Path(__file__).with_name("released_files.tsv")


def released_files() -> dict[str, str]:
    """Repository path -> sha256 of every released file the pipeline reads."""
    out = {}
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        if line.strip():
            sha, path = line.split("\t")
            out[path] = sha
    return out


def file_name(path: str) -> str:
    """A rule-output name for a repository path (letters, digits and underscores)."""
    name = path
    for prefix in ("results/", "opinions_qa/data/human_resp/Pew_American_Trends_Panel_"):
        name = name.removeprefix(prefix)
    name = name.replace("Pew_American_Trends_Panel_disagreement_100/", "").replace("express_distribution", "verbalize")
    name = re.sub(r"\.(json|csv)$", "", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def pinned_files(params: Mapping[str, Any], folder: str) -> dict[str, dict[str, str]]:
    """name (:func:`file_name`) -> {url, sha256, path} of every released file the pipeline reads.

    ``params``: the resolved distalign block of params.yaml; its ``data`` section holds the repository URL with
    ``{commit}`` and the commit. The files and their sha256 are :func:`released_files` (``released_files.tsv``).
    ``folder``: the download folder of the paper's registry group (workflow/papers.yaml), standing for the
    repository; each file lands at ``<folder>/<path in the repository>``.
    """
    data = params["data"]
    if "{commit}" not in data["url"]:
        raise DataError(f"params.yaml: distalign data.url {data['url']!r} has no {{commit}} to pin")
    base = data["url"].replace("{commit}", data["commit"])
    return {
        file_name(path): {"url": f"{base}/{path}", "sha256": sha, "path": f"{folder}/{path}"}
        for path, sha in released_files().items()
    }


def released_inputs(inputs: Mapping[str, Path]) -> dict[str, Path]:
    """Repository path -> local file, for the released files among the inputs."""
    by_name = {file_name(p): p for p in released_files()}
    return {by_name[k]: v for k, v in inputs.items() if k in by_name}


def letters(n: int) -> list[str]:
    """Option letters A, B, ... for ``n`` options."""
    return [chr(ord("A") + i) for i in range(n)]


@dataclass(frozen=True)
class Question:
    """One question and one group's true answer distribution."""

    dataset: str
    qid: str
    group: str
    text: str
    options: tuple[str, ...]
    p: np.ndarray  # proportions in option order, sums to 1

    @property
    def letters(self) -> list[str]:
        return letters(len(self.options))


def _read(path: str | os.PathLike[str]) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"released file missing: {path}") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None


def _field(q: object, key: str, where: str) -> object:
    if not isinstance(q, Mapping) or key not in q:
        raise DataError(f"{where}: missing field {key!r}")
    return q[key]


def _literal(value: object, where: str) -> object:
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise DataError(f"{where}: cannot parse {value[:80]!r}") from None
    return value


def _normalise(counts: np.ndarray, where: str) -> np.ndarray:
    total = float(np.sum(counts))
    if not np.all(np.isfinite(counts)) or total <= 0 or np.any(counts < 0):
        raise DataError(f"{where}: counts must be finite, non-negative and not all zero; got {counts.tolist()}")
    return counts / total


def load_truth(dataset: str, files: Mapping[str, str | os.PathLike[str]]) -> list[Question]:
    """Every (question, group) of ``dataset`` with its true distribution, in file order.

    ``files`` maps the released repository path to the local copy (the fetch rule's output).
    OpinionQA reads the 100-question set; pass ``dataset="opinionqa_pool"`` for the
    500-question few-shot pool.
    """
    out: list[Question] = []
    if dataset in ("opinionqa", "opinionqa_pool"):
        pool = "100" if dataset == "opinionqa" else "500"
        for stem in ("POLPARTY", "SEX", "RACE"):
            path = f"{OQA_DIR.format(pool=pool)}/{stem}_data.json"
            if path not in files:
                raise DataError(f"load_truth({dataset}): no local copy of {path}")
            data = _read(files[path])
            groups = [g for g, s in OQA_GROUP_FILE.items() if s == stem]
            for qid, q in data.items():
                for g in groups:
                    if g not in q:
                        raise DataError(f"{path}: question {qid} has no group {g!r}")
                    # The options are the group's answer keys, in file order: MC_options is
                    # split at commas inside option texts ("Yes, frequently") and loses quotes,
                    # and the authors' truth (expected_results) is this counts dict.
                    options = tuple(q[g])
                    counts = np.array([float(q[g][o]) for o in options])
                    if not counts.any():  # nobody of this group answered (FEM2_W29, Male): not evaluated
                        continue
                    out.append(
                        Question(
                            "opinionqa", qid, g, q["question_text"], options, _normalise(counts, f"{path}:{qid}:{g}")
                        )
                    )
        return out
    if dataset == "nytimes":
        path = "nytimes/data.json"
        data = _read(files[path])
        for title, q in data.items():
            options = tuple(_literal(_field(q, "MC_options", f"{path}:{title}"), f"{path}:{title}:MC_options"))
            for g in GROUPS["nytimes"]:
                counts_map = _literal(_field(q, g, f"{path}:{title}"), f"{path}:{title}:{g}")
                counts = np.array([float(counts_map.get(o, 0.0)) for o in options])
                text = f"{title} ({q.get('genre', '')}): {q.get('summary', '')}"
                out.append(Question("nytimes", title, g, text, options, _normalise(counts, f"{path}:{title}:{g}")))
        return out
    if dataset == "globalvalues":
        path = "Global_Values/data/data.json"
        data = _read(files[path])
        for text, q in data.items():
            options = tuple(_literal(_field(q, "MC_options", f"{path}:{text[:40]}"), f"{path}:{text[:40]}:MC_options"))
            for i, country in enumerate(_field(q, "countries", f"{path}:{text[:40]}")):
                p = np.array(_field(q, country, f"{path}:{text[:40]}"), dtype=float)
                if len(p) != len(options):
                    raise DataError(f"{path}: {len(p)} proportions for {len(options)} options ({text[:40]})")
                out.append(
                    Question(
                        "globalvalues", text, str(i), text, options, _normalise(p, f"{path}:{text[:40]}:{country}")
                    )
                )
        return out
    raise DataError(f"unknown dataset {dataset!r}; known: {list(DATASETS) + ['opinionqa_pool']}")
