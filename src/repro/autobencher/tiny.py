"""The tiny tier's per-seed run (notes Sec. 6): search, metrics, ablation and floors on one seed's world.

Kept apart from :mod:`repro.autobencher.steps` so that the panel rule (whose code inputs are the world,
panel and steps modules) does not retrain when only the evaluation changes. Its config
(:class:`~repro.autobencher.config.TinyStepConfig`) lives in :mod:`repro.autobencher.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from repro.autobencher.config import TinyStepConfig
from repro.autobencher.metrics import mean_gain
from repro.autobencher.panel import WRITER
from repro.autobencher.roles import answer_multiple_choice, judge_exact, questions_from_beliefs, questions_from_facts
from repro.autobencher.search import METHODS, Panel, existing_benchmark, human_results, run_domain
from repro.autobencher.world import World
from repro.common.io import read_json
from repro.common.steps import StepError

__all__ = ["METRICS", "PANEL_INFO", "panel_dirs", "run_seed"]

METRICS = ("novelty", "difficulty", "separability", "objective", "mean_error")
PANEL_INFO = "panel.json"


def panel_dirs(inputs: Mapping[str, Path], seeds) -> dict[int, Path]:
    out = {}
    for s in seeds:
        p = inputs.get(f"panel_s{s}")
        if p is None or not (Path(p) / PANEL_INFO).is_file():
            raise StepError(f"tiny: missing input panel_s{s} (a trained panel directory with {PANEL_INFO})")
        out[s] = Path(p)
    return out


def _floor_accuracy(world: World, counts: Mapping[str, int], seed: int) -> float:
    """Unigram-majority floor: pick the option whose value is most frequent in the model's corpus."""
    hits = []
    for t in world.topics:
        for q in questions_from_facts(world, t.name, seed):
            best = max(q.options, key=lambda o: (counts.get(o, 0), o))
            hits.append(best == q.gold)
    return float(np.mean(hits))


def run_seed(world: World, panel_dir: Path, cfg: TinyStepConfig, seed: int) -> tuple[list[dict], dict[str, float]]:
    """Everything of one seed: datasets (rows) and per-seed numbers."""
    from repro.common.llm.tiny import TinyLLM

    info = read_json(panel_dir / PANEL_INFO)["models"]
    names = [m.name for m in cfg.panel.models]
    llms = {n: TinyLLM(panel_dir / n, device="cpu") for n in [*names, WRITER]}
    qcache: dict[str, list] = {}

    def questions(topic: str):
        if topic not in qcache:
            qcache[topic] = questions_from_facts(world, topic, seed)
        return qcache[topic]

    def ask(model: str, qs) -> list[bool]:
        return [judge_exact(a, q.gold) for a, q in zip(answer_multiple_choice(llms[model], qs), qs, strict=True)]

    panel = Panel(names, ask, questions)
    sc = cfg.tiny.search
    rows = [asdict(r) for r in human_results(world, panel, sc)]
    for method in METHODS:
        for d in world.config.domains:
            rows.extend(asdict(r) for r in run_domain(world, d, method, panel, sc, seed))
    for r in rows:
        r["seed"] = seed
        r["accuracies"] = " ".join(f"{a:.4f}" for a in r["accuracies"])
    num: dict[str, float] = {}
    frame = pd.DataFrame(rows)
    for method in ("human", *METHODS):
        sel = frame[(frame["method"] == method) & frame["selected"]]
        per_domain = sel.groupby("domain")[list(METRICS)].mean()
        for m in METRICS:
            num[f"{method}.{m}"] = float(per_domain[m].mean()) if len(per_domain) else float("nan")
            num[f"{method}.{m}.by_domain"] = per_domain[m].to_dict()
        num[f"{method}.n_explored"] = int((frame["method"] == method).sum())
        num[f"{method}.salient_share"] = float(frame.loc[frame["method"] == method, "salient"].mean())
    for base in ("human", "random"):
        for m in METRICS:
            num[f"gain_vs_{base}.{m}"] = mean_gain(num[f"adaptive.{m}.by_domain"], num[f"{base}.{m}.by_domain"])

    # No privileged information: the writer LM's own beliefs as gold (Sec. 4 ablation).
    def wrong_rate(topics) -> float:
        qs = [q for t in topics for q in questions_from_beliefs(world, t, llms[WRITER], seed)]
        return float(np.mean([not judge_exact(q.gold, q.truth) for q in qs]))

    auto_sel = sorted(set(frame.loc[(frame["method"] == "adaptive") & frame["selected"], "topic"]))
    human = [t for ts in existing_benchmark(world, sc.existing_per_domain).values() for t in ts]
    num["no_privileged_info.wrong_gold_rate"] = wrong_rate(auto_sel)
    num["no_privileged_info.wrong_gold_rate_human"] = wrong_rate(human)
    num["privileged_info.wrong_gold_rate"] = float(
        np.mean([not judge_exact(q.gold, q.truth) for t in auto_sel for q in questions(t)])
    )

    # The panel beside its floors, on every topic of the world.
    accs = {n: np.array([panel.accuracies(t.name) for t in world.topics])[:, i] for i, n in enumerate(names)}
    for n in names:
        num[f"panel.{n}.accuracy"] = float(accs[n].mean())
        num[f"panel.{n}.floor_unigram"] = _floor_accuracy(world, info[n]["value_counts"], seed)
    writer_hits = [h for t in world.topics for h in ask(WRITER, questions(t.name))]
    num[f"panel.{WRITER}.accuracy"] = float(np.mean(writer_hits))
    num[f"panel.{WRITER}.floor_unigram"] = _floor_accuracy(world, info[WRITER]["value_counts"], seed)
    n_opts = len(questions(world.topics[0].name)[0].options)
    num["panel.floor_random"] = 1.0 / n_opts
    for n in [*names, WRITER]:  # each model against its own floors (random 1/4, its corpus' majority option)
        floor = max(num[f"panel.{n}.floor_unigram"], num["panel.floor_random"])
        num[f"panel.{n}.margin_over_floor"] = num[f"panel.{n}.accuracy"] - floor
    num["panel.min_margin_over_floor"] = min(num[f"panel.{n}.margin_over_floor"] for n in names)
    rhos = [spearmanr(accs[a], accs[b]).statistic for i, a in enumerate(names) for b in names[i + 1 :]]
    num["panel.mean_pairwise_topic_spearman"] = float(np.nanmean(rhos))
    return rows, num
