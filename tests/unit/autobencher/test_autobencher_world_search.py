"""The synthetic world, the panel's mixtures and the search loop (with a scripted panel)."""

from __future__ import annotations

import numpy as np
import pytest

from repro.autobencher.panel import ModelSpec, PanelConfig, build_corpus, mixture_weights
from repro.autobencher.roles import questions_from_facts
from repro.autobencher.search import (
    Panel,
    SearchConfig,
    existing_benchmark,
    human_results,
    run_domain,
    salience_threshold,
)
from repro.autobencher.world import WorldConfig, build_world
from repro.common.steps import ConfigError, build_config


def test_world_is_seeded_and_well_formed(ab_params):
    cfg = build_config(WorldConfig, ab_params["world"])
    w0, w0b, w1 = build_world(cfg, 0), build_world(cfg, 0), build_world(cfg, 1)
    assert w0 == w0b and w0 != w1
    n = len(cfg.domains) * cfg.subdomains_per_domain * cfg.topics_per_subdomain
    assert len(w0.topics) == n and len({t.name for t in w0.topics}) == n
    assert len(w0.facts) == n * cfg.entities_per_topic * len(cfg.relations)
    assert max(t.pageviews for t in w0.topics) == cfg.max_pageviews
    assert all(f.value in w0.values[f.relation] for f in w0.facts)
    with pytest.raises(ValueError, match="values_per_relation"):
        build_world(WorldConfig(values_per_relation=3), 0)


def test_mixtures_follow_salience_and_specialties():
    w = build_world(WorldConfig(), 0)
    flat = mixture_weights(w, ModelSpec("m", alpha=0.0, sigma=0.0), 0)
    assert np.allclose(list(flat.values()), 1 / len(w.topics))
    sal = mixture_weights(w, ModelSpec("m", alpha=1.0, sigma=0.0), 0)
    top = max(w.topics, key=lambda t: t.pageviews).name
    assert max(sal, key=sal.get) == top
    a = mixture_weights(w, ModelSpec("a", alpha=1.0, sigma=1.5), 0)
    b = mixture_weights(w, ModelSpec("b", alpha=1.0, sigma=1.5), 0)
    assert a != b  # specialties differ by model
    corpus = build_corpus(w, ModelSpec("m", alpha=1.0), 3000, 0)
    assert sum(s.split()[3] in {e for e in w.topic(top).entities} for s in corpus) > 3000 * sal[top] * 0.7


def test_panel_config_errors(ab_params):
    with pytest.raises(ConfigError, match="at least 3"):
        build_config(PanelConfig, {**ab_params["panel"], "models": ab_params["panel"]["models"][:2]})
    with pytest.raises(ConfigError, match="panel.models.*unknown"):
        build_config(PanelConfig, {**ab_params["panel"], "models": [{"name": "a", "size": 1}]}, "panel")


def _scripted_panel(world, n_models=5, seed=0):
    """Accuracy falls with salience rank; model 0 specialises in the first subdomain of each domain."""
    rank = {t.name: r for r, t in enumerate(sorted(world.topics, key=lambda t: -t.pageviews))}
    first = {world.topics_in(d)[0].subdomain for d in world.config.domains}
    rng = np.random.default_rng(seed)
    noise = {(m, t.name): rng.random() for m in range(n_models) for t in world.topics}

    def ask(model, qs):
        return [ask_one(model, q) for q in qs]

    def ask_one(model, q):
        t = world.topic(q.topic)
        p = 0.95 - 0.7 * rank[q.topic] / len(rank) + (0.3 if model == "m0" and t.subdomain in first else 0.0)
        return (hash(q.qid) % 97) / 97 < min(1.0, p * (0.8 + 0.4 * noise[(int(model[1:]), q.topic)]))

    return Panel([f"m{i}" for i in range(n_models)], ask, lambda t: questions_from_facts(world, t, 0))


def test_search_contract():
    world = build_world(WorldConfig(), 0)
    cfg = SearchConfig(iterations=3, n_propose=3, n_keep=2, n_select=2, existing_per_domain=3)
    panel = _scripted_panel(world)
    existing = existing_benchmark(world, 3)
    thr = salience_threshold(world, cfg.salient_fraction)
    for method in ("adaptive", "random"):
        res = run_domain(world, "history", method, panel, cfg, seed=0)
        assert len(res) == 6 and len({r.topic for r in res}) == 6
        assert not {r.topic for r in res} & set(existing["history"])
        sel = [r for r in res if r.selected]
        assert 1 <= len(sel) <= 2 and all(r.salient and r.pageviews >= thr for r in sel)
        best = max((r for r in res if r.salient), key=lambda r: r.objective)
        assert best.selected
        assert res == run_domain(world, "history", method, panel, cfg, seed=0)  # deterministic
    hum = human_results(world, panel, cfg)
    assert len(hum) == 9 and all(r.selected for r in hum)
    with pytest.raises(ValueError, match="unknown search method"):
        run_domain(world, "history", "greedy", panel, cfg, seed=0)
    with pytest.raises(ValueError, match="n_keep"):
        SearchConfig(n_keep=5, n_propose=4)
