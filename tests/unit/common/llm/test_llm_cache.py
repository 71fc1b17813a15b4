"""The sqlite cache: hits never reach the model; keys cover sampling; safe across processes."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from repro.common.llm.base import LLM
from repro.common.llm.cache import CachedLLM


class CountingLLM(LLM):
    """A fake backend that records every call and answers deterministically from its inputs."""

    backend = "counting"

    def __init__(self, model: str = "fake-1") -> None:
        self.model = model
        self.calls: list[tuple] = []

    def generate(self, prompts, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        self.calls.append(("generate", tuple(prompts), n, temperature, seed))
        return [[f"{p}|{j}|t={temperature}|s={seed}" for j in range(n)] for p in prompts]

    def chat(self, messages, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        self.calls.append(("chat", len(messages)))
        return [f"reply to {messages[-1]['content']}"] * n

    def logprobs(self, prompt, continuations):
        self.calls.append(("logprobs", tuple(continuations)))
        return [-float(len(c)) for c in continuations]

    def top_logprobs(self, prompt, k):
        self.calls.append(("top", k))
        return {f"t{i}": -float(i) for i in range(k)}


def test_hits_never_call_the_model(tmp_path):
    inner = CountingLLM()
    llm = CachedLLM(inner, tmp_path / "c.sqlite")
    first = llm.generate(["a", "b"], max_tokens=5)
    assert len(inner.calls) == 1
    assert llm.generate(["a", "b"], max_tokens=5) == first
    assert len(inner.calls) == 1 and llm.hits == 2 and llm.misses == 2
    # A partly cached batch sends only the new prompt (once, even if repeated).
    assert llm.generate(["b", "c", "c"], max_tokens=5)[1:] == [["c|0|t=0.0|s=None"]] * 2
    assert inner.calls[-1] == ("generate", ("c",), 1, 0.0, None)
    for _ in range(2):
        assert llm.logprobs("p", [" x", " yy"]) == [-2.0, -3.0]
        assert llm.top_logprobs("p", 3) == {"t0": 0.0, "t1": -1.0, "t2": -2.0}
        assert llm.chat([{"role": "user", "content": "hi"}]) == ["reply to hi"]
    assert [c[0] for c in inner.calls].count("logprobs") == 1
    assert [c[0] for c in inner.calls].count("top") == 1
    assert [c[0] for c in inner.calls].count("chat") == 1
    # Persistent: a new wrapper over a new backend instance still hits.
    inner2 = CountingLLM()
    assert CachedLLM(inner2, tmp_path / "c.sqlite").generate(["a"], max_tokens=5) == [first[0]]
    assert inner2.calls == []


def test_sampling_params_are_part_of_the_key(tmp_path):
    inner = CountingLLM()
    llm = CachedLLM(inner, tmp_path / "c.sqlite")
    a = llm.generate(["p"], n=3, temperature=0.8, seed=1)
    b = llm.generate(["p"], n=3, temperature=0.8, seed=2)
    c = llm.generate(["p"], n=2, temperature=0.8, seed=1)
    d = llm.generate(["p"], n=3, temperature=0.8, seed=1, stop=["\n"])
    assert len(inner.calls) == 4 and a != b and len(c[0]) == 2 and len(d[0]) == 3
    assert llm.generate(["p"], n=3, temperature=0.8, seed=1) == a  # sampled outputs are cached too
    assert len(inner.calls) == 4
    # Another model behind the same backend never shares entries.
    other = CountingLLM("fake-2")
    CachedLLM(other, tmp_path / "c.sqlite").generate(["p"], n=3, temperature=0.8, seed=1)
    assert len(other.calls) == 1


def test_errors_are_not_cached(tmp_path):
    class Flaky(CountingLLM):
        fail = True

        def generate(self, prompts, **kw):
            if self.fail:
                self.fail = False
                raise RuntimeError("boom")
            return super().generate(prompts, **kw)

    inner = Flaky()
    llm = CachedLLM(inner, tmp_path / "c.sqlite")
    with pytest.raises(RuntimeError):
        llm.generate(["x"])
    assert llm.generate(["x"]) == [["x|0|t=0.0|s=None"]]


def _worker(path: str, worker: int, out) -> None:
    inner = CountingLLM()
    llm = CachedLLM(inner, path, timeout=30)
    got = []
    for i in range(40):
        # Overlapping keys across workers: every process asks for every key.
        got.append(llm.generate([f"p{(i + worker * 7) % 40}"], temperature=0.5, seed=0)[0][0])
    out.put((worker, len(inner.calls), sorted(got)))


def test_concurrent_processes_share_one_cache(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(path, w, q)) for w in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    answers = {tuple(r[2]) for r in results}
    assert len(answers) == 1  # every process saw the same 40 answers
    assert sum(r[1] for r in results) >= 40  # each key computed at least once overall
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0] == 40
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
