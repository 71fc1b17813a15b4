"""A sqlite disk cache in front of any :class:`~repro.common.llm.base.LLM`.

Every LLM call of the workflow goes through it (DESIGN.md, "LLM backends"), so reruns
are free and a cache file can be shared (DVC) to reproduce a paper's numbers without
the model. Keys are the sha256 of a canonical JSON of

``(backend identity, method, request, sampling params)``

where the identity is the backend's :meth:`~LLM.describe` (backend name, model id
and, for local models, a weights fingerprint). Requests are cached one prompt (or one
continuation) at a time, so a batch with some cached prompts only sends the rest.

Sampled outputs are cached too: ``temperature``, ``n`` and ``seed`` are part of the
key, so asking again for the same samples returns the same samples (``seed=None``
included: the first answer is kept). Use distinct seeds for fresh samples.

Concurrency: the database is opened in WAL mode with a busy timeout, one connection
per thread and process; writes are ``INSERT OR IGNORE``, so when two processes race
on one key the first answer wins and both return the stored one. Errors are never
cached. (WAL needs a local filesystem; do not put the file on NFS.)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repro.common.llm.base import LLM, LLMError, Message
from repro.common.llm.budget import answer_tokens, guard_from_environ, request_tokens

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    method TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
)
"""
_CHUNK = 500  # sqlite's default limit on bound parameters is 999


def canonical_json(obj: Any) -> str:
    """Compact, key-sorted JSON: the byte string that is hashed into a cache key."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_COLUMNS = ("key", "backend", "model", "method", "request", "response", "created")


class CacheError(LLMError):
    """The cache file is not a usable LLM cache (corrupted, truncated, another table); the message names it."""


class CacheStore:
    """Thread- and process-safe key -> JSON store in one sqlite file."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self._local = threading.local()
        try:
            with self._conn() as conn:
                conn.execute(_SCHEMA)
                columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(llm_cache)"))
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from exc
        if columns != _COLUMNS:
            raise self._unusable(f"table llm_cache has columns {list(columns)}, expected {list(_COLUMNS)}")

    def _unusable(self, why: object) -> CacheError:
        self.close()
        return CacheError(
            f"{self.path}: not a usable LLM cache ({why}); it is only a cache: move it away or delete it "
            "(or restore it with `dvc pull`) and rerun"
        )

    def _conn(self) -> sqlite3.Connection:
        # sqlite connections must not cross threads or a fork: one per (thread, pid).
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.timeout)
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Cached values of those ``keys`` that are present."""
        out: dict[str, Any] = {}
        conn = self._conn()
        uniq = list(dict.fromkeys(keys))
        try:
            for i in range(0, len(uniq), _CHUNK):
                chunk = uniq[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, resp in conn.execute(f"SELECT key, response FROM llm_cache WHERE key IN ({marks})", chunk):
                    out[key] = json.loads(resp)
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            raise self._unusable(exc) from exc
        return out

    def put_many(self, rows: Sequence[tuple[str, str, str, str, str, Any]]) -> None:
        """Insert ``(key, backend, model, method, request_json, value)`` rows; existing keys win."""
        if not rows:
            return
        now = time.time()
        conn = self._conn()
        with conn:  # one transaction
            conn.executemany(
                "INSERT OR IGNORE INTO llm_cache (key, backend, model, method, request, response, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(k, b, m, meth, req, canonical_json(v), now) for k, b, m, meth, req, v in rows],
            )

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class CachedLLM(LLM):
    """Wrap ``inner`` so that each distinct request reaches it at most once.

    ``hits``/``misses`` count per-item lookups (a prompt, a continuation, a chat).
    """

    def __init__(self, inner: LLM, path: str | os.PathLike[str], *, timeout: float = 60.0) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.model = inner.model
        self.store = CacheStore(path, timeout=timeout)
        self.identity = inner.describe()
        self.hits = 0
        self.misses = 0
        self._count_lock = threading.Lock()
        # The paper's API budget (repro.common.llm.budget), when the workflow turned metering on: every miss of a
        # priced model is reserved at its worst case before it is sent, and refused past the budget.
        self.guard = guard_from_environ()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def key(self, method: str, request: Any, sampling: Any) -> str:
        """The cache key of one item (hex sha256)."""
        blob = canonical_json({"identity": self.identity, "method": method, "request": request, "sampling": sampling})
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _cached(self, method: str, requests: list[Any], sampling: Any, compute) -> list[Any]:
        """Look up each request; call ``compute(missing_requests) -> values`` once for the misses."""
        keys = [self.key(method, r, sampling) for r in requests]
        found = self.store.get_many(keys)
        missing: dict[str, Any] = {}
        for k, r in zip(keys, requests, strict=True):
            if k not in found and k not in missing:
                missing[k] = r
        with self._count_lock:
            self.hits += len(keys) - sum(1 for k in keys if k in missing)
            self.misses += len(missing)
        if missing:
            batch = list(missing.values())
            reservation = None
            if self.guard is not None:
                in_tokens, max_out = request_tokens(method, batch, sampling)
                reservation = self.guard.reserve(str(self.model), method, len(batch), in_tokens, max_out)
            try:
                values = compute(batch)
            except BaseException:
                if self.guard is not None:
                    self.guard.release(reservation)
                raise
            if self.guard is not None:
                self.guard.settle(reservation, answer_tokens(method, values))
            if len(values) != len(missing):
                raise RuntimeError(f"{self.backend} returned {len(values)} answers for {len(missing)} requests")
            ident = self.identity
            self.store.put_many(
                [
                    (k, str(ident.get("backend")), str(ident.get("model")), method, canonical_json(r), v)
                    for (k, r), v in zip(missing.items(), values, strict=True)
                ]
            )
            # Re-read: if another process stored the key first, everyone returns its answer.
            found.update(self.store.get_many(list(missing)))
        return [found[k] for k in keys]

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        sampling = {
            "n": n,
            "temperature": float(temperature),
            "max_tokens": max_tokens,
            "stop": list(stop) if stop else None,
            "seed": seed,
        }
        return self._cached(
            "generate",
            [{"prompt": p} for p in prompts],
            sampling,
            lambda reqs: self.inner.generate(
                [r["prompt"] for r in reqs], n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, seed=seed
            ),
        )

    def chat(self, messages: Sequence[Message], n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        sampling = {
            "n": n,
            "temperature": float(temperature),
            "max_tokens": max_tokens,
            "stop": list(stop) if stop else None,
            "seed": seed,
        }
        req = {"messages": [dict(m) for m in messages]}
        return self._cached(
            "chat",
            [req],
            sampling,
            lambda reqs: [
                self.inner.chat(messages, n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, seed=seed)
            ],
        )[0]

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        return self._cached(
            "logprobs",
            [{"prompt": prompt, "continuation": c} for c in continuations],
            {},
            lambda reqs: self.inner.logprobs(prompt, [r["continuation"] for r in reqs]),
        )

    def top_logprobs(self, prompt: str, k: int) -> dict[str, float]:
        return self._cached(
            "top_logprobs",
            [{"prompt": prompt}],
            {"k": k},
            lambda reqs: [self.inner.top_logprobs(prompt, k)],
        )[0]

    def close(self) -> None:
        self.inner.close()
        self.store.close()
        if self.guard is not None:
            self.guard.close()


__all__ = ["CacheError", "CacheStore", "CachedLLM", "canonical_json"]
