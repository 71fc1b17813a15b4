"""A per-paper cap on API spend, enforced by the cache layer before each paid call (issue 28, item 4).

The preflight compares each paper's *estimated* spend with ``preflight.budget_usd.<slug>`` before a paper-scale run
starts; this module holds the run to it while it goes. Every call that misses the cache
(:class:`repro.common.llm.cache.CachedLLM`) first reserves its worst case in a ledger: input tokens plus
``n x max_tokens`` output tokens at the model's list price (``preflight.prices``). A reservation that would take the
paper's total past its budget raises :class:`BudgetExceeded` and nothing is sent, so the run stops before crossing
the budget, never after. When the answer arrives the reservation is settled at the tokens actually returned. Cached
answers cost nothing; a rerun after a crash repeats no paid call and its spend so far stays in the ledger.

Tokens are counted from text: ``ceil(UTF-8 bytes / 4)``, about the English rate of the GPT and Claude tokenizers
(the backends do not pass the APIs' ``usage`` through). So the ledger is an estimate; the cap is on that estimate.
Models without a list price (local models, vLLM servers) are not metered.

The workflow turns metering on at paper scale and at the rehearsal (``paper_toy``, where it counts the stand-ins'
calls and tokens): it writes the budgets and prices to a JSON file named by ``$REPRO_LLM_BUDGET``, and
:func:`repro.common.steps.run_step` names the running paper in ``$REPRO_PAPER``. The ledger is a sqlite file shared
by every job of the run (one transaction per reservation, so concurrent jobs cannot overspend together).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.common.config import PAPER_ENV
from repro.common.llm.base import LLMError

BUDGET_ENV = "REPRO_LLM_BUDGET"  # path of the JSON {"ledger", "budgets": {slug: usd}, "prices": {model: {...}}}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    paper TEXT NOT NULL,
    model TEXT NOT NULL,
    method TEXT NOT NULL,
    calls INTEGER NOT NULL,
    in_tokens INTEGER NOT NULL,
    out_tokens INTEGER NOT NULL,
    usd REAL NOT NULL,
    settled INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


def ledger_path(scale: str) -> str:
    """The ledger of a run at ``scale`` (paper, or the rehearsal paper_toy), relative to the checkout."""
    return f"resources/llm_cache/spend-{scale}.sqlite"


def ledger_rates(path: str | os.PathLike[str], paper: str) -> dict[tuple[str, str], dict[str, int]]:
    """(model, method) -> calls, in_tokens, out_tokens of the paper's settled calls in the ledger at ``path``
    (the preflight scales the rehearsal's per-call tokens to the paper's calls)."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT model, method, SUM(calls), SUM(in_tokens), SUM(out_tokens) FROM spend "
            "WHERE paper = ? AND settled = 1 GROUP BY model, method",
            (paper,),
        ).fetchall()
    return {(m, meth): {"calls": int(c), "in_tokens": int(i), "out_tokens": int(o)} for m, meth, c, i, o in rows}


class BudgetExceeded(LLMError):
    """The next paid call could take the paper past its budget; it was not sent."""


def approx_tokens(text: str) -> int:
    """Tokens of ``text`` as the ledger counts them: ceil(UTF-8 bytes / 4)."""
    return math.ceil(len(text.encode("utf-8")) / 4)


@dataclass(frozen=True)
class Price:
    """List price of one model, USD per 1M tokens."""

    input: float
    output: float

    def usd(self, in_tokens: int, out_tokens: int) -> float:
        return (in_tokens * self.input + out_tokens * self.output) / 1e6


class BudgetGuard:
    """The ledger of one paper: :meth:`reserve` before a paid call, :meth:`settle` (or :meth:`release`) after."""

    def __init__(self, ledger: str | os.PathLike[str], paper: str, budget_usd: float, prices: Mapping[str, Price]):
        self.path, self.paper, self.budget = Path(ledger), paper, float(budget_usd)
        self.prices = dict(prices)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the threads of this process (a lock orders them); processes meet in sqlite.
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def metered(self, model: str) -> bool:
        return model in self.prices

    def spent(self) -> float:
        """USD the paper has spent or reserved so far."""
        row = self._db.execute("SELECT COALESCE(SUM(usd), 0) FROM spend WHERE paper = ?", (self.paper,)).fetchone()
        return float(row[0])

    def totals(self) -> dict[str, float]:
        """calls, in_tokens, out_tokens and usd of the paper (settled calls only)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(calls),0), COALESCE(SUM(in_tokens),0), COALESCE(SUM(out_tokens),0), "
            "COALESCE(SUM(usd),0) FROM spend WHERE paper = ? AND settled = 1",
            (self.paper,),
        ).fetchone()
        return {"calls": int(row[0]), "in_tokens": int(row[1]), "out_tokens": int(row[2]), "usd": float(row[3])}

    def reserve(self, model: str, method: str, calls: int, in_tokens: int, max_out_tokens: int) -> int | None:
        """Book the worst case of ``calls`` calls to ``model``; :class:`BudgetExceeded` (nothing booked) when the
        paper's total would pass its budget. Returns the reservation id (None: an unmetered model)."""
        if not self.metered(model):
            return None
        cost = self.prices[model].usd(in_tokens, max_out_tokens)
        with self._lock:
            return self._reserve(model, method, calls, in_tokens, max_out_tokens, cost)

    def _reserve(self, model: str, method: str, calls: int, in_tokens: int, max_out_tokens: int, cost: float) -> int:
        self._db.execute("BEGIN IMMEDIATE")  # one reservation at a time across processes
        try:
            spent = float(
                self._db.execute("SELECT COALESCE(SUM(usd), 0) FROM spend WHERE paper = ?", (self.paper,)).fetchone()[0]
            )
            if spent + cost > self.budget:
                raise BudgetExceeded(
                    f"{self.paper}: {calls} more {method} call(s) to {model} could cost up to ${cost:.4f}, and the "
                    f"paper has spent ${spent:.4f} of its budget ${self.budget:.2f} (params.yaml "
                    f"preflight.budget_usd.{self.paper}); not sent. Ledger: {self.path}"
                )
            cur = self._db.execute(
                "INSERT INTO spend (paper, model, method, calls, in_tokens, out_tokens, usd, settled, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (self.paper, model, method, calls, in_tokens, max_out_tokens, cost, time.time()),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return int(cur.lastrowid)

    def settle(self, reservation: int | None, out_tokens: int) -> None:
        """Charge a reserved call at the output tokens it returned."""
        if reservation is None:
            return
        with self._lock:
            row = self._db.execute("SELECT model, in_tokens FROM spend WHERE id = ?", (reservation,)).fetchone()
            usd = self.prices[row[0]].usd(int(row[1]), out_tokens)
            self._db.execute(
                "UPDATE spend SET out_tokens = ?, usd = ?, settled = 1 WHERE id = ?", (out_tokens, usd, reservation)
            )

    def release(self, reservation: int | None) -> None:
        """Drop a reservation whose call failed (errors are not charged: the APIs do not bill refused calls)."""
        if reservation is not None:
            with self._lock:
                self._db.execute("DELETE FROM spend WHERE id = ?", (reservation,))

    def close(self) -> None:
        self._db.close()


def guard_from_environ(environ: Mapping[str, str] | None = None) -> BudgetGuard | None:
    """The guard of the running paper when the workflow turned metering on ($REPRO_LLM_BUDGET and $REPRO_PAPER),
    else None. A metered paper without a budget gets budget 0: no paid call goes out unbudgeted."""
    environ = os.environ if environ is None else environ
    path, paper = environ.get(BUDGET_ENV), environ.get(PAPER_ENV)
    if not path or not paper:
        return None
    spec = json.loads(Path(path).read_text())
    prices = {m: Price(float(p["input"]), float(p["output"])) for m, p in (spec.get("prices") or {}).items()}
    return BudgetGuard(spec["ledger"], paper, float((spec.get("budgets") or {}).get(paper, 0.0)), prices)


def request_tokens(method: str, requests: Sequence[Mapping[str, Any]], sampling: Mapping[str, Any]) -> tuple[int, int]:
    """(input tokens, worst-case output tokens) of the requests of one cache miss batch (CachedLLM's methods)."""
    n, max_tokens = int(sampling.get("n", 1) or 1), int(sampling.get("max_tokens", 0) or 0)
    if method == "chat":
        ins = sum(approx_tokens(str(m.get("content", ""))) for r in requests for m in r["messages"])
        return ins, len(requests) * n * max_tokens
    if method == "generate":
        return sum(approx_tokens(r["prompt"]) for r in requests), len(requests) * n * max_tokens
    if method == "top_logprobs":
        return sum(approx_tokens(r["prompt"]) for r in requests), len(requests)
    if method == "logprobs":  # the continuation is scored as part of the prompt (echo), nothing is generated
        return sum(approx_tokens(r["prompt"] + r["continuation"]) for r in requests), 0
    raise ValueError(f"unknown LLM method {method!r}")


def answer_tokens(method: str, values: Sequence[Any]) -> int:
    """Output tokens of the answers of one miss batch (text answers counted like the input; log-probs: 1 or 0)."""
    if method == "chat":
        return sum(approx_tokens(str(t)) for v in values for t in (v if isinstance(v, list) else [v]))
    if method == "generate":
        return sum(approx_tokens(str(t)) for v in values for t in v)
    if method == "top_logprobs":
        return len(values)
    return 0
