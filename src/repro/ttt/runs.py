"""The ttt training runs (Sun et al. 2024, Sec. 3 and Table 1): which models are trained, with what.

:func:`run_specs` expands archs x sizes x seeds (the LM comparison at equal parameter
counts), the mini-batch ablation and the Table-1 ladder into named runs, each a model
config (:class:`repro.ttt.models.LMConfig`) and a :class:`repro.common.lm.trainer.TrainConfig`.
Identical runs are shared (e.g. ablation b = 16 is the main TTT-Linear run), so no
run is trained twice. Run names: ``<arch>-<size>-s<seed>`` (text), ``recall-<arch>-p<pairs>-s<seed>``,
``mb-b<b>-s<seed>``, ``ladder-<row>-eta<eta>-s<seed>`` (recall). :func:`load_trained` loads a finished
run's model from its checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from repro.common.lm.models import flops_per_token
from repro.common.lm.trainer import TrainConfig, load_checkpoint, load_tokens, train
from repro.ttt.archs import get_arch
from repro.ttt.config import RunSpec, SizeSpec, TttParams
from repro.ttt.models import LMConfig, build_model, count_parameters, equal_parameter_configs
from repro.ttt.recall import ladder_row_config, recall_model_config


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
    """arch name (repro.ttt.archs) -> config with the Transformer's parameter count at ``size``."""
    base = base_config(params, size)
    archs = list(dict.fromkeys(params.archs))
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
        parallel=t.parallel,
        activation_checkpointing=t.activation_checkpointing,
    )


def minibatch_label(b: int | None) -> str:
    """numbers.json label of a mini-batch size: the integer, or ``T`` for full-batch GD (b = context)."""
    return "T" if b is None else str(int(b))


def run_specs(params: TttParams) -> dict[str, dict[str, Any]]:
    """Every training run, by name: ``{name, label, model, train, roles}`` (configs as dicts).

    ``roles`` lists every part a run plays (the text study has one group, ``main``; the mini-batch and
    ladder studies run on the recall task, :func:`recall_run_specs`).
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
            "ranks": params.train.ranks,
            "roles": [role],
            "label": model.name,
        }

    cfgs = {s.name: arch_configs(params, s.name) for s in params.sizes}
    for s in params.sizes:
        for arch in params.archs:
            for seed in params.seeds:
                role = {"group": "main", "arch": arch, "size": s.name, "seed": seed}
                add(f"{arch}-{s.name}-s{seed}", role, cfgs[s.name][arch], train_config(params, s.name, seed))
    return specs


def eta_label(eta: float) -> str:
    """numbers.json-safe label of a learning rate: ``0.3`` -> ``0p3``."""
    return f"{eta:g}".replace(".", "p").replace("-", "m")


def recall_run_specs(params: TttParams) -> dict[str, dict[str, Any]]:
    """Every recall run, by name: ``{name, label, arch, model, task, train, eval, roles}`` (configs as dicts).

    Groups: ``recall`` (arch x pairs x seed: ``recall-<arch>-p<pairs>-s<seed>``), ``minibatch``
    (TTT-Linear (M) per b and seed: ``mb-b<b>-s<seed>``) and ``ladder`` (row x eta_base on the grid x seed:
    ``ladder-<row>-eta<eta>-s<seed>``; row 1 only with its Theorem-1 eta = 1/2). Every group runs on every
    seed of ``recall.seeds``, so comparisons are paired by seed. Identical runs are trained once (e.g. b = 16
    is the main TTT-Linear (M) run of the same seed) and carry every role.
    """
    rc = params.recall
    specs: dict[str, dict[str, Any]] = {}
    by_key: dict[str, str] = {}

    def add(name: str, arch: str, role: dict[str, Any], model: LMConfig, pairs: int, seed: int) -> None:
        task = replace(rc.task, pairs=pairs)
        tcfg = replace(rc.train, seed=seed)
        mdict = asdict(model)
        if model.variant.startswith("ttt"):
            mdict["eta_base"] = model.ttt_layer_config().eta_base
        key = repr((mdict, asdict(task), asdict(tcfg)))
        if key in by_key:
            specs[by_key[key]]["roles"].append(role)
            return
        by_key[key] = name
        specs[name] = {
            "name": name,
            "label": model.name,
            "arch": arch,
            "model": asdict(model),
            "task": asdict(task),
            "train": asdict(tcfg),
            "eval": asdict(rc.eval),
            "roles": [role],
        }

    vocab, T = rc.task.vocab_size, rc.task.context
    for pairs in rc.pairs:
        for arch in rc.archs:
            for seed in rc.seeds:
                role = {"group": "recall", "arch": arch, "pairs": pairs, "seed": seed}
                add(
                    f"recall-{arch}-p{pairs}-s{seed}",
                    arch,
                    role,
                    recall_model_config(arch, rc.model, vocab, T),
                    pairs,
                    seed,
                )
    ttt = recall_model_config("ttt_linear_m", rc.model, vocab, T)
    for seed in rc.seeds:  # the mini-batch and ladder studies run on every recall seed (paired by seed)
        for b in params.minibatch.sizes:
            role = {"group": "minibatch", "b": minibatch_label(b), "pairs": params.minibatch.pairs, "seed": seed}
            add(
                f"mb-b{minibatch_label(b)}-s{seed}",
                "ttt_linear_m",
                role,
                replace(ttt, mini_batch_size=b),
                params.minibatch.pairs,
                seed,
            )
    lad = params.ladder
    for seed in rc.seeds:
        for row in lad.rows:
            grid = (0.5,) if row == "linear_attention" else lad.eta_grid
            for eta in grid:
                model = ladder_row_config(row, rc.model, vocab, T, eta)
                role = {"group": "ladder", "row": row, "eta_base": eta, "pairs": lad.pairs, "seed": seed}
                add(f"ladder-{row}-eta{eta_label(eta)}-s{seed}", "ttt_linear_m", role, model, lad.pairs, seed)
    return specs


def recall_run_specs_from_params(block: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """:func:`recall_run_specs` of a resolved ``ttt`` params block (called through the rules' parse cache)."""
    from repro.common.steps import build_config

    return recall_run_specs(build_config(TttParams, block, "ttt"))


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


def load_trained(spec: RunSpec, weights: str | os.PathLike[str]) -> torch.nn.Module:
    """The trained model of a run from its checkpoint (no optimizer, RNG untouched)."""
    model = build_model(spec.model)
    load_checkpoint(Path(weights), model, restore_rng=False)
    return model.eval()


def train_ranks(
    train_path: Path, heldout_path: Path, config: RunSpec, work_dir: Path, resume_key: str
) -> tuple[list[dict[str, Any]], int]:
    """One rank of a run (or the whole run in one process): build the model from the run's seed (every rank the
    same initial weights) and train it; returns (history, parameter count)."""
    torch.manual_seed(config.train.seed)  # the initial weights depend on the run's seed only
    model = build_model(config.model)
    n_params = model.num_parameters()  # before training: an FSDP model's parameters are shards afterwards
    history = train(
        model,
        load_tokens(train_path),
        config.train,
        eval_tokens=load_tokens(heldout_path),
        out_dir=work_dir,
        progress=True,
        resume_key=resume_key,
    )
    return history, n_params
