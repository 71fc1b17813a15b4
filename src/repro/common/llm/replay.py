"""Replay backend: answers from released model outputs (the exact tier, DESIGN.md).

Several papers released what their models said (distalign's GPT-4 outputs,
AutoBencher's judged answers, graphunc's claims). The exact-tier tables are
recomputed from those records offline by asking this backend, through the same
:class:`~repro.common.llm.base.LLM` interface the end-to-end tier uses for live models.

A record is keyed by ``(dataset, model, prompt_id, method)`` and carries at least one
of:

* ``output`` (str) or ``outputs`` (list of str): completions; several records with the
  same key are several samples, in file order;
* ``logprobs``: ``{continuation: summed log-prob}`` for :meth:`ReplayLLM.logprobs`
  (or one ``continuation``/``logprob`` pair per row in CSV);
* ``top_logprobs``: ``{token: log-prob}`` for :meth:`ReplayLLM.top_logprobs`;
* ``prompt`` (optional): the prompt text, so callers may look records up by text.

Nothing is ever made up: a key without a record, or a request for more samples than
were released, raises :class:`ReplayMissingError` (a ``KeyError``) naming the key.
Sampling arguments (temperature, max_tokens, stop, seed) are ignored: released
outputs are returned verbatim.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.common.llm.base import LLM, Message, register

KEY_FIELDS = ("dataset", "model", "prompt_id", "method")


@dataclass(frozen=True)
class ReplayKey:
    """Identity of one released answer."""

    dataset: str
    model: str
    prompt_id: str
    method: str

    def __str__(self) -> str:
        return f"(dataset={self.dataset!r}, model={self.model!r}, prompt_id={self.prompt_id!r}, method={self.method!r})"


class ReplayMissingError(KeyError):
    """No released record answers this request (never replaced by a made-up answer)."""

    def __init__(self, message: str, key: ReplayKey | None = None) -> None:
        super().__init__(message)
        self.key = key

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0])


@dataclass
class ReplayRecord:
    """Everything released for one key."""

    key: ReplayKey
    outputs: list[str] = field(default_factory=list)
    logprobs: dict[str, float] = field(default_factory=dict)
    top_logprobs: dict[str, float] = field(default_factory=dict)
    prompt: str | None = None


def _float(v: Any) -> float:
    x = float(v)
    if math.isnan(x):
        raise ValueError("NaN log-prob in a replay record")
    return x


class ReplayStore:
    """Released records indexed by key (and by prompt text where given)."""

    def __init__(self, rows: Iterable[Mapping[str, Any]] = ()) -> None:
        self._records: dict[ReplayKey, ReplayRecord] = {}
        for row in rows:
            self.add(row)

    def add(self, row: Mapping[str, Any]) -> None:
        """Add one row (a dict with the key fields and at least one answer field)."""
        missing = [f for f in KEY_FIELDS if row.get(f) in (None, "")]
        if missing:
            raise ValueError(f"replay row lacks key field(s) {missing}: {dict(row)!r:.200}")
        key = ReplayKey(*(str(row[f]) for f in KEY_FIELDS))
        rec = self._records.setdefault(key, ReplayRecord(key))
        found = False
        if row.get("output") not in (None, ""):
            rec.outputs.append(str(row["output"]))
            found = True
        outs = row.get("outputs")
        if isinstance(outs, str) and outs.startswith("["):
            outs = json.loads(outs)  # a JSON list in a CSV cell
        if outs not in (None, ""):
            if isinstance(outs, str) or not isinstance(outs, Sequence):
                raise ValueError(f"'outputs' must be a list of strings for key {key}")
            rec.outputs.extend(str(o) for o in outs)
            found = True
        lps = row.get("logprobs")
        if isinstance(lps, str) and lps.startswith("{"):
            lps = json.loads(lps)
        if isinstance(lps, Mapping):
            rec.logprobs.update({str(k): _float(v) for k, v in lps.items()})
            found = True
        if row.get("continuation") is not None and row.get("logprob") not in (None, ""):
            rec.logprobs[str(row["continuation"])] = _float(row["logprob"])
            found = True
        top = row.get("top_logprobs")
        if isinstance(top, str) and top.startswith("{"):
            top = json.loads(top)
        if isinstance(top, Mapping):
            rec.top_logprobs.update({str(k): _float(v) for k, v in top.items()})
            found = True
        if row.get("prompt") not in (None, ""):
            rec.prompt = str(row["prompt"])
        if not found:
            raise ValueError(f"replay row for key {key} has no output, outputs, logprobs or top_logprobs")

    def get(self, key: ReplayKey) -> ReplayRecord:
        try:
            return self._records[key]
        except KeyError:
            raise ReplayMissingError(f"no released record for {key}", key) from None

    def find_prompt(self, dataset: str, model: str, method: str, prompt: str) -> ReplayRecord | None:
        """The record of ``(dataset, model, method)`` whose prompt text is ``prompt``, if any."""
        for key, rec in self._records.items():
            if rec.prompt == prompt and (key.dataset, key.model, key.method) == (dataset, model, method):
                return rec
        return None

    def keys(self) -> list[ReplayKey]:
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records


def _rename(row: Mapping[str, Any], mapping: Mapping[str, str] | None, defaults: Mapping[str, Any] | None) -> dict:
    out = dict(defaults or {})
    for k, v in row.items():
        out[(mapping or {}).get(k, k)] = v
    return out


def load_records(
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    *,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> ReplayStore:
    """Load records from a ``.jsonl``/``.json``/``.csv`` file or an iterable of dicts.

    ``mapping`` renames source columns (e.g. ``{"qid": "prompt_id", "response":
    "output"}``); ``defaults`` fills fields the source lacks (e.g. ``{"dataset":
    "opinionqa", "method": "zero_shot"}``).
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            with open(path, encoding="utf-8") as fh:
                rows: Iterable[Mapping[str, Any]] = [json.loads(line) for line in fh if line.strip()]
        elif suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(rows, Mapping):
                raise ValueError(f"{path}: expected a JSON list of records")
        elif suffix in (".csv", ".tsv"):
            with open(path, encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
        else:
            raise ValueError(f"{path}: unsupported replay file type {suffix!r} (jsonl, json, csv, tsv)")
    else:
        rows = source
    return ReplayStore(_rename(r, mapping, defaults) for r in rows)


@register("replay")
class ReplayLLM(LLM):
    """Serve one (dataset, model, method) slice of released records.

    Prompts passed to :meth:`generate`/:meth:`logprobs`/:meth:`top_logprobs` are
    prompt ids; when no record has that id, a record whose ``prompt`` text equals the
    string is used instead. Anything else raises :class:`ReplayMissingError`.
    """

    def __init__(
        self,
        *,
        dataset: str,
        model: str,
        method: str = "default",
        records: ReplayStore | Iterable[Mapping[str, Any]] | None = None,
        path: str | os.PathLike[str] | None = None,
        mapping: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        if (records is None) == (path is None):
            raise ValueError("give exactly one of records= or path=")
        if isinstance(records, ReplayStore):
            self.store = records
        else:
            self.store = load_records(path if path is not None else records, mapping=mapping, defaults=defaults)
        self.dataset, self.model, self.method = str(dataset), str(model), str(method)

    def record(self, prompt: str) -> ReplayRecord:
        """The record answering ``prompt`` (a prompt id, else a prompt text)."""
        key = ReplayKey(self.dataset, self.model, str(prompt), self.method)
        if key in self.store:
            return self.store.get(key)
        rec = self.store.find_prompt(self.dataset, self.model, self.method, str(prompt))
        if rec is not None:
            return rec
        raise ReplayMissingError(f"no released record for {key}", key)

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        out = []
        for p in prompts:
            rec = self.record(p)
            if len(rec.outputs) < n:
                raise ReplayMissingError(f"{len(rec.outputs)} released output(s) for {rec.key}, {n} requested", rec.key)
            out.append(rec.outputs[:n])
        return out

    def chat(self, messages: Sequence[Message], n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        # A conversation is identified by its last user message (the prompt id or text).
        users = [m for m in messages if m.get("role") == "user"]
        if not users:
            raise ReplayMissingError("chat request without a user message cannot be replayed")
        return self.generate([users[-1]["content"]], n=n)[0]

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        rec = self.record(prompt)
        out = []
        for c in continuations:
            if c not in rec.logprobs:
                raise ReplayMissingError(f"no released log-prob for continuation {c!r} of {rec.key}", rec.key)
            out.append(rec.logprobs[c])
        return out

    def top_logprobs(self, prompt: str, k: int) -> dict[str, float]:
        rec = self.record(prompt)
        if not rec.top_logprobs:
            raise ReplayMissingError(f"no released top log-probs for {rec.key}", rec.key)
        if k > len(rec.top_logprobs):
            raise ReplayMissingError(
                f"{len(rec.top_logprobs)} released top log-probs for {rec.key}, {k} requested", rec.key
            )
        items = sorted(rec.top_logprobs.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return dict(items)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "dataset": self.dataset, "method": self.method}


__all__ = ["KEY_FIELDS", "ReplayKey", "ReplayLLM", "ReplayMissingError", "ReplayRecord", "ReplayStore", "load_records"]
