"""Tiny end-to-end run: train the LM, sample biographies, build graphs, score claims, decode (Secs. 3-5).

:func:`run_seed` runs one seed of the tiny tier (see :mod:`repro.graphunc.world` for the
design) and returns one row per merged claim of every person plus the greedy claims, so
that :func:`summarise` can pool seeds, bootstrap over (seed, person) and run
uncertainty-aware decoding with a threshold chosen on held-out people. Its settings are
:class:`repro.graphunc.config.TinyConfig`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from repro.common.lm.evaluate import next_token_logprobs
from repro.common.lm.recipe import TinyLMSpec, train_tiny_lm
from repro.common.lm.sampling import generate
from repro.common.seeds import seed_everything
from repro.graphunc.config import TinyConfig
from repro.graphunc.graph import claim_centralities
from repro.graphunc.metrics import bootstrap_metrics, claim_metrics, uad_summary
from repro.graphunc.world import (
    Vocab,
    bio_prompt,
    claim_prefix,
    entailment_matrix,
    majority_values,
    make_corpus,
    make_kb,
    merge_claims,
    parse_claims,
)

log = logging.getLogger(__name__)

__all__ = ["run_seed", "summarise", "TINY_METHODS"]

TINY_METHODS = ("sc", "closeness", "betweenness", "eigenvector", "pagerank", "vc", "closeness_vc", "sc_vc")


def _value_confidence(model: torch.nn.Module, vocab: Vocab, person, claims) -> np.ndarray:
    """The LM's probability of each claim's value after the claim's template prefix."""
    if not claims:
        return np.zeros(0)
    prompts = [vocab.encode(claim_prefix(person, attr)) for attr, _ in claims]
    logp = next_token_logprobs(model, prompts)
    ids = torch.tensor(vocab.encode([v for _, v in claims]))
    return logp[torch.arange(len(claims)), ids].exp().double().numpy()


def run_seed(cfg: TinyConfig, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """One seed: train, generate, build graphs; (claims table, greedy table, training info).

    The LM (Sec. 3.1's generator) is the shared tiny-LM recipe, :func:`repro.common.lm.recipe.train_tiny_lm`.
    """
    people = make_kb(cfg.kb.n_people, cfg.kb.max_count, cfg.kb.zipf, cfg.kb.seed)
    vocab = Vocab(people)
    docs = make_corpus(people, seed)
    tokens = np.array([i for d in docs for i in vocab.encode(d)], dtype=np.int64)
    seed_everything(seed, torch_threads=cfg.threads)
    spec = TinyLMSpec(
        vocab_size=len(vocab),
        arch=cfg.lm.arch,
        n_layer=cfg.lm.n_layer,
        n_head=cfg.lm.n_head,
        d_model=cfg.lm.d_model,
        context=cfg.lm.context,
        steps=cfg.lm.steps,
        batch_size=cfg.lm.batch_size,
        lr=cfg.lm.lr,
        warmup=min(cfg.lm.warmup, cfg.lm.steps - 1),  # a smoke run of a few steps still reaches the peak rate
        eval_every=0,  # the model is judged by its claims, not by held-out loss
        log_every=max(1, cfg.lm.steps // 10),
        seed=seed,
        threads=cfg.threads,
    )
    lm = train_tiny_lm(spec, tokens, progress=True)
    model, history = lm.model, lm.history
    final_loss = float(history[-1]["train_loss"])

    prompts = [vocab.encode(bio_prompt(p)) for p in people]
    eos = vocab.stoi["<eos>"]
    n_gen = 1 + cfg.gen.n_samples
    greedy = generate(model, prompts, cfg.gen.max_new_tokens, temperature=0.0, stop_ids=[eos])
    sampled = generate(
        model,
        [p for p in prompts for _ in range(cfg.gen.n_samples)],
        cfg.gen.max_new_tokens,
        temperature=cfg.gen.temperature,
        stop_ids=[eos],
        seed=seed,
    )
    rows, greedy_rows = [], []
    for k, person in enumerate(tqdm_people(people)):
        texts = [greedy[k]] + sampled[k * cfg.gen.n_samples : (k + 1) * cfg.gen.n_samples]
        per_gen = [parse_claims(vocab.decode(t)) for t in texts]
        claims = merge_claims(per_gen[: cfg.gen.n_claim_texts])
        truth = person.facts
        for attr, value in per_gen[0]:
            greedy_rows.append(
                {"seed": seed, "person": k, "attr": attr, "value": value, "true": int(truth[attr] == value)}
            )
        if not claims:
            continue
        m = entailment_matrix(per_gen[:n_gen], claims)
        vc = _value_confidence(model, vocab, person, claims)
        c = claim_centralities(m, vc)
        eigen = c.eigenvector if c.eigenvector is not None else -np.ones(len(claims))
        for i, (attr, value) in enumerate(claims):
            rows.append(
                {
                    "seed": seed,
                    "person": k,
                    "count": person.count,
                    "attr": attr,
                    "value": value,
                    "true": int(truth[attr] == value),
                    "in_greedy": int(m[0, i] == 1),
                    "sc": c.sc[i],
                    "closeness": c.closeness[i],
                    "betweenness": c.betweenness[i],
                    "eigenvector": eigen[i],
                    "pagerank": c.pagerank[i],
                    "vc": vc[i],
                    "closeness_vc": c.closeness_vc[i],
                    "sc_vc": c.sc[i] + vc[i],
                }
            )
    majority = majority_values(people)
    hits = [[p.facts[a] == v for a, v in majority.items()] for p in people]
    floor = float(np.mean([np.mean(h) for h in hits]))
    # a bio that states every attribute's majority value: its true claims per bio (the true-claims floor)
    floor_true = float(np.mean([np.sum(h) for h in hits]))
    info = {"final_train_loss": final_loss, "majority_precision_all": floor, "majority_true_claims_all": floor_true}
    return pd.DataFrame(rows), pd.DataFrame(greedy_rows), info


def tqdm_people(people):
    """Progress over people in the log."""
    from tqdm.auto import tqdm

    return tqdm(people, desc="graphs", dynamic_ncols=True)


def _heldout_people(n_people: int, frac: float, seed: int) -> set[int]:
    rng = np.random.default_rng((seed, 17))
    k = max(1, round(frac * n_people))
    return set(int(i) for i in rng.choice(n_people, size=k, replace=False))


def summarise(
    cfg: TinyConfig, claims: pd.DataFrame, greedy: pd.DataFrame, people: int
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Pooled metrics with bootstrap CIs, per-seed metrics, UAD vs greedy on test people, and floors."""
    numbers: dict[str, float] = {}
    y = claims["true"].to_numpy()
    groups = (claims["seed"].astype(str) + ":" + claims["person"].astype(str)).to_numpy()
    table = []
    for j, method in enumerate(TINY_METHODS):
        s = claims[method].to_numpy(dtype=float)
        keep = np.isfinite(s) & (s != -1)
        met = claim_metrics(y[keep], s[keep])
        ci = bootstrap_metrics(y[keep], s[keep], groups[keep], cfg.n_boot, seed=j)
        for k in ("auroc", "auprc", "auprc_n"):
            numbers[f"{method}.{k}"] = met[k]
            numbers[f"{method}.{k}_ci_low"], numbers[f"{method}.{k}_ci_high"] = ci[k]
        per_seed = []
        for seed in cfg.seeds:
            sel = keep & (claims["seed"].to_numpy() == seed)
            ms = claim_metrics(y[sel], s[sel])
            table.append({"seed": seed, "method": method, **ms})
            per_seed.append(ms)
        for k in ("auroc", "auprc", "auprc_n"):  # one value per seed, in the order of tiny.seeds
            numbers[f"{method}.{k}.per_seed"] = [ms[k] for ms in per_seed]
        table.append(
            {
                "seed": "pooled",
                "method": method,
                **met,
                **{f"{k}_ci_low": ci[k][0] for k in met},
                **{f"{k}_ci_high": ci[k][1] for k in met},
            }
        )
    numbers["seeds"] = [int(seed) for seed in cfg.seeds]  # the order of every *.per_seed list
    numbers["n_claims"] = int(len(claims))
    numbers["frac_true"] = float(y.mean())
    numbers["frac_true.per_seed"] = [float(y[claims["seed"].to_numpy() == seed].mean()) for seed in cfg.seeds]
    numbers["floor.random.auroc"] = 0.5
    numbers["floor.random.auprc"] = float(y.mean())  # a random score's expected average precision

    # UAD (Sec. 5.2): threshold from held-out people, applied to the other people; vs greedy decoding.
    res: dict[str, list[dict[str, float]]] = {"greedy": [], "uad": [], "uad_sc": [], "floor": []}
    for seed in cfg.seeds:
        held = _heldout_people(people, cfg.uad.heldout_frac, seed)
        cs = claims[claims["seed"] == seed]
        gs = greedy[greedy["seed"] == seed]
        test = [k for k in range(people) if k not in held]
        for name, method in (("uad", cfg.uad.method), ("uad_sc", "sc")):
            thr = float(np.percentile(cs[cs["person"].isin(held)][method].to_numpy(), cfg.uad.percentile))
            kept = cs[cs[method] >= thr]
            res[name].append(uad_summary([tuple(bool(t) for t in kept[kept["person"] == k]["true"]) for k in test]))
        res["greedy"].append(uad_summary([tuple(bool(t) for t in gs[gs["person"] == k]["true"]) for k in test]))
    for name, key in (("greedy", "greedy"), ("uad", cfg.uad.method), ("uad_sc", "sc")):
        for stat in ("precision", "true_claims", "false_claims", "respond_ratio"):
            numbers[f"uad.{key}.{stat}"] = float(np.mean([r[stat] for r in res[name]]))
            numbers[f"uad.{key}.{stat}.per_seed"] = [float(r[stat]) for r in res[name]]
    numbers["uad.percentile"] = cfg.uad.percentile

    # the trade-off curve of Fig. 4: every percentile, closeness and SC, mean over seeds
    sweep = []
    for method in ("closeness", "sc"):
        for pct in cfg.uad.sweep:
            stats = []
            for seed in cfg.seeds:
                held = _heldout_people(people, cfg.uad.heldout_frac, seed)
                cs = claims[claims["seed"] == seed]
                thr = float(np.percentile(cs[cs["person"].isin(held)][method].to_numpy(), pct))
                kept = cs[cs[method] >= thr]
                test = [k for k in range(people) if k not in held]
                stats.append(uad_summary([tuple(bool(t) for t in kept[kept["person"] == k]["true"]) for k in test]))
            row = {"method": method, "percentile": pct, **{k: float(np.mean([r[k] for r in stats])) for k in stats[0]}}
            sweep.append(row)
            for k in ("precision", "true_claims"):
                numbers[f"uad_sweep.{method}.p{pct:g}.{k}"] = row[k]
    for name, key in (("greedy", "greedy"),):
        sweep.append(
            {
                "method": "greedy",
                "percentile": None,
                **{k: numbers[f"uad.{key}.{k}"] for k in ("precision", "true_claims", "false_claims", "respond_ratio")},
            }
        )
    return numbers, pd.DataFrame(table), pd.DataFrame(sweep)
