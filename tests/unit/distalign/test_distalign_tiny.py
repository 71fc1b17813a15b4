"""Tiny-tier rendering: held-out safety and answer formats that the paper's parsers read back."""

from __future__ import annotations

import numpy as np

from repro.distalign.data import load_truth
from repro.distalign.metrics import parse_sequence, parse_verbalized
from repro.distalign.tiny import RenderConfig, build_corpus, render_answer, render_prompt


def test_rendered_answers_parse_back(da_files):
    q = load_truth("opinionqa", da_files)[0]
    rng, cfg = np.random.default_rng(0), RenderConfig()
    v = parse_verbalized(render_answer("verbalize", q.p, rng, cfg), q.letters)
    assert v.ok and abs(v.p.sum() - 1) < 1e-9 and np.abs(v.p - q.p).max() <= 0.01 * len(q.p)
    s = render_answer("sequence", q.p, rng, cfg)
    assert len(s) == 30 and abs(parse_sequence(s, q.letters).p.sum() - 1.0) < 1e-9
    assert render_answer("logprobs", q.p, rng, cfg) in q.letters
    assert render_prompt(q, "sequence", [], cfg).startswith(f"[{q.group}]")


def test_corpus_never_contains_evaluated_questions(da_files):
    evaluated = {q.qid for q in load_truth("opinionqa", da_files)}
    pool = [q for q in load_truth("opinionqa_pool", da_files) if q.qid not in evaluated][:60]
    sim = {q.qid: sorted(evaluated)[:5] + [p.qid for p in pool[:5]] for q in pool}  # evaluated ids offered as shots
    docs = build_corpus(pool, sim, evaluated, 1, 1.0, np.random.default_rng(0), RenderConfig())
    assert len(docs) == 3 * len(pool)
    texts = {q.text[:60] for q in load_truth("opinionqa", da_files)} - {q.text[:60] for q in pool}
    assert not any(t in d for d in docs for t in texts)


def test_over_seeds_means_and_lists():
    """Issue 27: every seed-dependent key becomes the mean over seeds plus its .per_seed list (seed order)."""
    from repro.distalign.steps import _over_seeds

    out = _over_seeds(
        [
            {"persona.verbalize.tv": None, "persona.logprobs.tv": 0.4, "verbalize.parse_fail.sum_not_one": 3},
            {"persona.verbalize.tv": 0.3, "persona.logprobs.tv": 0.2},
        ]
    )
    assert out["persona.verbalize.tv"] == 0.3 and out["persona.verbalize.tv.per_seed"] == [None, 0.3]
    assert abs(out["persona.logprobs.tv"] - 0.3) < 1e-12 and out["persona.logprobs.tv.per_seed"] == [0.4, 0.2]
    assert out["verbalize.parse_fail.sum_not_one.per_seed"] == [3.0, 0.0]


def test_cross_fitted_temperature_recovers_a_known_temperature():
    """Truth = the prediction sharpened by a known T: T fitted on one half of the questions scores the other."""
    from repro.distalign.metrics import temperature_scale
    from repro.distalign.steps import _cross_fitted_ts

    rng = np.random.default_rng(0)
    pairs = []
    for i in range(20):
        p = rng.dirichlet(np.ones(4))
        pairs.append((f"q{i}", p, temperature_scale(p, 0.5)))
    assert _cross_fitted_ts(pairs, 10.0) < 1e-3
    assert _cross_fitted_ts(pairs[:1], 10.0) is None  # one question: no second half to score
