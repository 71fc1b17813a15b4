"""The ttt training runs (Sun et al. 2024, Sec. 3 and Table 1): which models are trained, with what.

:func:`run_specs` expands archs x sizes x seeds (the LM comparison at equal parameter
counts), the mini-batch ablation and the Table-1 ladder into named runs, each a model
config (:class:`repro.ttt.models.LMConfig`) and a :class:`repro.common.lm.trainer.TrainConfig`.
Identical runs are shared (e.g. ablation b = 16 is the main TTT-Linear run), so no
run is trained twice. Run names: ``<arch>-<size>-s<seed>``, ``minibatch-b<b>``,
``ladder-<row>``.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from collections.abc import Mapping
from typing import Any

from repro.common.lm.models import flops_per_token
from repro.common.lm.trainer import TrainConfig
from repro.ttt.archs import get_arch
from repro.ttt.config import SizeSpec, TttParams
from repro.ttt.models import LMConfig, count_parameters, equal_parameter_configs, ladder_configs

#: Table-1 rows of :func:`repro.ttt.models.ladder_configs` -> numbers.json slug. The paper's perplexities
#: (125M, Pile 2k) live in workflow/expected/ttt.yaml (``ladder.<slug>.perplexity``). Our row 1 is the
#: paper's "TTT equivalence" row (= linear attention, Theorem 1); the paper's plain "linear attention"
#: baseline (15.91) and "improved linear attention" (15.23) rows have no separate run here.
LADDER_ROWS: dict[str, str] = {
    "linear attention (TTT equivalence)": "linear_attention",
    "+ learnable W0": "learnable_w0",
    "+ LN and residual": "ln_residual",
    "+ mini-batch TTT": "minibatch",
    "+ learnable eta": "learnable_eta",
    "+ Mamba backbone": "mamba_backbone",
}


def transformer_config(size: SizeSpec, vocab_size: int, context: int, mini_batch_size: int) -> LMConfig:
    """The Transformer of a size: the reference for equal parameter counts."""
    return LMConfig(
        variant="transformer",
        vocab_size=vocab_size,
        d_model=size.d_model,
        n_layer=size.n_layer,
        n_head=size.n_head,
        context=context,
        mini_batch_size=mini_batch_size,
    )


def base_config(params: TttParams, size: str) -> LMConfig:
    """The Transformer config of a named size of ``params``."""
    return transformer_config(params.size(size), params.tokenizer.vocab_size, params.context, params.mini_batch_size)


def arch_configs(params: TttParams, size: str) -> dict[str, LMConfig]:
    """arch name (repro.ttt.archs) -> config with the Transformer's parameter count at ``size``
    (the comparison's archs, the ablation's arch and TTT-Linear, the base of the Table-1 ladder)."""
    base = base_config(params, size)
    archs = list(dict.fromkeys([*params.archs, params.ablation.arch, "ttt_linear"]))
    pairs = [(get_arch(a).variant, get_arch(a).backbone) for a in archs]
    by_name = equal_parameter_configs(base, pairs, mamba_layers_per_block=params.mamba_layers_per_block)
    return {a: by_name[replace(base, variant=get_arch(a).variant, backbone=get_arch(a).backbone).name] for a in archs}


def train_config(params: TttParams, size: str, seed: int) -> TrainConfig:
    """Table 3 recipe: AdamW (0.9, 0.95), cosine to ``min_lr``, ``warmup_frac`` warm-up, wd 0.1, clip 1."""
    t, s = params.train, params.size(size)
    return TrainConfig(
        steps=s.steps,
        batch_size=t.batch_size,
        grad_accum=t.grad_accum,
        context=params.context,
        lr=s.lr,
        min_lr=t.min_lr,
        warmup=max(1, int(round(t.warmup_frac * s.steps))),
        weight_decay=t.weight_decay,
        betas=t.betas,
        grad_clip=t.grad_clip,
        eval_every=t.eval_every,
        eval_batches=t.eval_batches,
        log_every=t.log_every,
        ckpt_every=t.ckpt_every,
        seed=seed,
        threads=t.threads,
        device=t.device,
    )


def minibatch_label(b: int | None) -> str:
    """numbers.json label of a mini-batch size: the integer, or ``T`` for full-batch GD (b = context)."""
    return "T" if b is None else str(int(b))


def run_specs(params: TttParams) -> dict[str, dict[str, Any]]:
    """Every training run, by name: ``{name, label, model, train, roles}`` (configs as dicts).

    ``roles`` lists every part a run plays (e.g. the main TTT-Linear run at the ablation size and seed 0
    is also ablation b = 16 and ladder row "+ learnable eta").
    """
    specs: dict[str, dict[str, Any]] = {}
    by_key: dict[str, str] = {}

    def add(name: str, role: dict[str, Any], model: LMConfig, tcfg: TrainConfig) -> None:
        mdict = asdict(model)
        if model.variant.startswith("ttt"):  # eta_base None means the default: compare the resolved value
            mdict["eta_base"] = model.ttt_layer_config().eta_base
        key = repr((mdict, tcfg.to_dict()))
        if key in by_key:
            specs[by_key[key]]["roles"].append(role)
            return
        by_key[key] = name
        specs[name] = {
            "name": name,
            "model": asdict(model),
            "train": tcfg.to_dict(),
            "roles": [role],
            "label": model.name,
        }

    cfgs = {s.name: arch_configs(params, s.name) for s in params.sizes}
    for s in params.sizes:
        for arch in params.archs:
            for seed in params.seeds:
                role = {"group": "main", "arch": arch, "size": s.name, "seed": seed}
                add(f"{arch}-{s.name}-s{seed}", role, cfgs[s.name][arch], train_config(params, s.name, seed))
    ab = params.ablation
    seed0 = params.seeds[0]
    for b in ab.minibatch_sizes:
        model = replace(cfgs[ab.size][ab.arch], mini_batch_size=b)
        role = {"group": "minibatch", "b": minibatch_label(b), "size": ab.size, "seed": seed0}
        add(f"minibatch-b{minibatch_label(b)}", role, model, train_config(params, ab.size, seed0))
    lad = params.ladder
    ladder_cfgs = cfgs[lad.size] if lad.size in cfgs else arch_configs(params, lad.size)
    for title, model in ladder_configs(ladder_cfgs["ttt_linear"]).items():
        slug = LADDER_ROWS[title]
        if slug in lad.rows:
            role = {"group": "ladder", "row": slug, "title": title, "size": lad.size, "seed": seed0}
            add(f"ladder-{slug}", role, model, train_config(params, lad.size, seed0))
    return specs


def training_flops_per_token(cfg: LMConfig) -> float:
    """Approximate training FLOPs per token (:func:`repro.common.lm.models.flops_per_token`, ``6N + 12 L d T``).

    ``N`` counts the non-embedding parameters plus the LM head's ``V d``; the attention term applies to the
    Transformer only. The TTT inner loop (``O(b d + d^2)`` per token and head) and the Mamba scan are small
    next to ``6N`` at these widths and are not counted (the paper's FLOPs axis counts them; an approximation
    stated in the figure caption).
    """
    n = count_parameters(cfg) - (0 if cfg.tie_embeddings else cfg.vocab_size * cfg.d_model)
    context = cfg.context if cfg.variant == "transformer" else 0
    return flops_per_token(n, cfg.n_layer, cfg.d_model, context)


def run_specs_from_params(block: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """:func:`run_specs` of a resolved ``ttt`` params block (the rules file calls this through its parse cache)."""
    from repro.common.steps import build_config

    return run_specs(build_config(TttParams, block, "ttt"))
