"""The per-paper API budget the cache layer enforces while a run goes (repro.common.llm.budget, issue 28 item 4):
a call whose worst case would cross the budget is not sent; answers are charged at what they returned; cached
answers and failed calls cost nothing; concurrent processes cannot overspend together."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from repro.common.llm.base import LLM
from repro.common.llm.budget import (
    BUDGET_ENV,
    BudgetExceeded,
    BudgetGuard,
    Price,
    approx_tokens,
    guard_from_environ,
)
from repro.common.llm.cache import CachedLLM

PRICE = Price(input=1_000_000.0, output=2_000_000.0)  # $1 per input token, $2 per output token: easy arithmetic


class Echo(LLM):
    """A fake paid model: answers each prompt with 8 bytes (2 tokens); counts what reached it."""

    backend, model = "fake", "gpt-4"

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        if self.fail:
            raise RuntimeError("HTTP 500")
        self.sent += list(prompts)
        return [["abcdefgh"] * n for _ in prompts]

    def logprobs(self, prompt, continuations):  # pragma: no cover - not used
        raise NotImplementedError

    def top_logprobs(self, prompt, k):
        self.sent.append(prompt)
        return {"A": -0.1}

    def describe(self):
        return {"backend": self.backend, "model": self.model}


def _env(tmp_path, monkeypatch, budget: float) -> None:
    spec = {
        "ledger": str(tmp_path / "spend.sqlite"),
        "budgets": {"distalign": budget},
        "prices": {"gpt-4": {"input": PRICE.input, "output": PRICE.output}},
    }
    (tmp_path / "budget.json").write_text(json.dumps(spec))
    monkeypatch.setenv(BUDGET_ENV, str(tmp_path / "budget.json"))
    monkeypatch.setenv("REPRO_PAPER", "distalign")


def test_a_call_that_could_cross_the_budget_is_not_sent(tmp_path, monkeypatch):
    _env(tmp_path, monkeypatch, budget=30.0)
    inner = Echo()
    llm = CachedLLM(inner, tmp_path / "cache.sqlite")
    # "12345678" = 2 input tokens ($2) + worst case 1 x 4 output tokens ($8) = $10 reserved, $2 + $4 charged.
    assert llm.generate(["12345678"], max_tokens=4) == [["abcdefgh"]]
    assert llm.guard.totals() == {"calls": 1, "in_tokens": 2, "out_tokens": 2, "usd": 6.0}
    assert llm.generate(["12345678"], max_tokens=4) == [["abcdefgh"]]  # cached: free, not sent again
    assert inner.sent == ["12345678"] and llm.guard.spent() == 6.0
    with pytest.raises(BudgetExceeded, match=r"could cost up to \$25.*spent \$6.0000 of its budget \$30.00"):
        llm.generate(["abcd"], max_tokens=12)  # $1 + $24 worst case: 6 + 25 > 30
    assert inner.sent == ["12345678"], "the refused call reached the model"
    assert llm.generate(["abcd"], max_tokens=2) == [["abcdefgh"]]  # $1 + $4 worst case fits: 6 + 5 <= 30
    assert llm.top_logprobs("abcd", 5) == {"A": -0.1}  # $1 in + 1 token out
    assert llm.guard.totals()["calls"] == 3


def test_failed_calls_cost_nothing_and_unpriced_models_are_not_metered(tmp_path, monkeypatch):
    _env(tmp_path, monkeypatch, budget=100.0)
    llm = CachedLLM(Echo(fail=True), tmp_path / "cache.sqlite")
    with pytest.raises(RuntimeError, match="HTTP 500"):
        llm.generate(["abcd"], max_tokens=4)
    assert llm.guard.spent() == 0.0
    local = Echo()
    local.model = "my-local-model"
    llm = CachedLLM(local, tmp_path / "cache2.sqlite")
    assert llm.generate(["x" * 4000], max_tokens=1000) and llm.guard.spent() == 0.0


def test_no_metering_without_the_workflow_and_budget_zero_for_an_unbudgeted_paper(tmp_path, monkeypatch):
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert guard_from_environ() is None
    _env(tmp_path, monkeypatch, budget=100.0)
    monkeypatch.setenv("REPRO_PAPER", "ideagen")
    guard = guard_from_environ()
    assert guard is not None and guard.budget == 0.0
    with pytest.raises(BudgetExceeded, match="ideagen"):
        guard.reserve("gpt-4", "chat", 1, 1, 1)


def _reserve_one(args):
    ledger, n = args
    guard = BudgetGuard(ledger, "p", 10.0, {"m": Price(1_000_000.0, 0.0)})
    got = 0
    for _ in range(n):
        try:
            guard.reserve("m", "chat", 1, 1, 0)  # $1 each
            got += 1
        except BudgetExceeded:
            pass
    return got


def test_concurrent_processes_cannot_overspend_together(tmp_path):
    ledger = str(tmp_path / "spend.sqlite")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.map(_reserve_one, [(ledger, 8), (ledger, 8)])
    assert sum(got) == 10
    assert BudgetGuard(ledger, "p", 10.0, {}).spent() == 10.0


def test_token_count_is_utf8_bytes_over_four():
    assert approx_tokens("") == 0 and approx_tokens("abcd") == 1 and approx_tokens("abcde") == 2
    assert approx_tokens("日本") == 2  # 6 bytes
