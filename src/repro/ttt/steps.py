"""Workflow steps of the ttt paper: typed config + files -> numbers, tables, records (the paper contract).

Rule ``ttt__<step>`` runs ``<step>_step`` through ``workflow/scripts/common/step.py``; its numbers
land under ``<step>.`` in numbers.json (:mod:`repro.common.steps`). The per-run rules (``train``,
``evaluate``) produce records, not numbers: ``text``, ``ablation`` and ``ladder`` gather them.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from repro.common.declarations import step
from repro.common.devices import resolve_device
from repro.common.io import fingerprint, read_json
from repro.common.lm.evaluate import position_loss_curve
from repro.common.lm.launch import ranks_here, run_ranks
from repro.common.lm.ngram import bigram_heldout_loss, unigram_heldout_loss
from repro.common.lm.shards import encode_parallel, write_shards
from repro.common.lm.tokenizer import unigram_entropy
from repro.common.lm.trainer import CHECKPOINT_FILE, load_tokens
from repro.common.machine import speed_probe
from repro.common.steps import StepResult, build_config
from repro.ttt import latency as lat
from repro.ttt import recall
from repro.ttt.config import (
    DataConfig,
    EquivalenceConfig,
    EvaluateConfig,
    LatencyStepConfig,
    RecallResultsConfig,
    RecallRunSpec,
    ResultsConfig,
    RunSpec,
    SpeedConfig,
    TokenizerConfig,
)
from repro.ttt.data import corpora_root, load_tokenizer, make_tokenizer, split_texts
from repro.ttt.equivalence import equivalence_numbers
from repro.ttt.experiments import binned_curve, late_minus_early_loss
from repro.ttt.models import build_model
from repro.ttt.recall_results import inner_loss_results, ladder_results, minibatch_results, recall_results
from repro.ttt.results import latency_numbers, text_results
from repro.ttt.runs import load_trained, train_ranks, training_flops_per_token, transformer_config
from repro.ttt.speed import dual_vs_primal

log = logging.getLogger(__name__)
Inputs = Mapping[str, Any]  # name -> Path (or list of Paths, e.g. the corpora manifests)


@step(reads=("data", "tokenizer"))
def tokenizer_step(inputs: Inputs, config: TokenizerConfig, outputs: Mapping[str, Path]) -> StepResult:
    """Train (or fetch) the tokenizer on the training split only and save it to the ``tokenizer`` output."""
    # A hub tokenizer is fetched, not trained: reading the training split for it would stream the whole Pile.
    train_texts = [] if config.tokenizer.kind == "hf" else split_texts(config.data, corpora_root(inputs["corpora"]))[0]
    tk = make_tokenizer(config.tokenizer, train_texts)
    if tk.vocab_size > config.tokenizer.vocab_size:
        raise ValueError(f"tokenizer has {tk.vocab_size} ids > ttt.tokenizer.vocab_size {config.tokenizer.vocab_size}")
    tmp = outputs["tokenizer"].with_name(outputs["tokenizer"].name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tk.save(tmp)
    shutil.rmtree(outputs["tokenizer"], ignore_errors=True)
    os.replace(tmp, outputs["tokenizer"])
    return StepResult(numbers={"tokenizer": {"kind": tk.kind, "vocab_size": int(tk.vocab_size)}}, files=("tokenizer",))


@step(reads=("data", "tokenizer", "context"))
def data_step(inputs: Inputs, config: DataConfig, outputs: Mapping[str, Path]) -> StepResult:
    """Encode the train / held-out documents (EOS between documents) into token shard folders (issue 29, item 3):
    streamed, tokenised by ``data.workers`` processes, written shard by shard, so the paper's corpus (the Pile) is
    never held in memory; :func:`repro.common.lm.trainer.load_tokens` reads a folder as one flat array."""
    train_texts, held_texts = split_texts(config.data, corpora_root(inputs["corpora"]))
    tk = load_tokenizer(inputs["tokenizer"], config.tokenizer)
    documents = {"train": 0, "heldout": 0}

    def counted(texts: Iterable[str], split: str) -> Iterator[str]:
        for text in texts:
            documents[split] += 1
            yield text

    n_tokens = {}
    for split, texts in (("train", train_texts), ("heldout", held_texts)):
        chunks = encode_parallel(tk, counted(texts, split), workers=config.data.workers)
        index = write_shards(outputs[split], chunks, tk.token_dtype, shard_tokens=config.data.shard_tokens)
        n_tokens[split] = index.total_tokens
        log.info(
            "%s: %d documents, %d tokens in %d shard(s)", split, documents[split], n_tokens[split], len(index.files)
        )
    need = config.context + 1
    if n_tokens["heldout"] < need or n_tokens["train"] < need:
        for split in n_tokens:  # nothing half-written
            shutil.rmtree(outputs[split], ignore_errors=True)
        raise ValueError(
            f"too few tokens for ttt.context {config.context}: train {n_tokens['train']}, "
            f"held-out {n_tokens['heldout']}"
        )
    held_ids = load_tokens(outputs["heldout"])
    stats = {
        "train_tokens": int(n_tokens["train"]),
        "heldout_tokens": int(n_tokens["heldout"]),
        "train_documents": documents["train"],
        "heldout_documents": documents["heldout"],
        "vocab_size": int(tk.vocab_size),
        "heldout_unigram_entropy": unigram_entropy(held_ids, int(tk.vocab_size)),
    }
    return StepResult(numbers={"data": stats}, files=("train", "heldout"))


@step(reads=(), merged=False)
def train_step(inputs: Inputs, config: RunSpec, outputs: Mapping[str, Path]) -> StepResult:
    """Train one run with the shared trainer in ``<run>/train`` (a killed job resumes exactly), then publish
    the final checkpoint at the ``weights`` output (hard link, else copy) and its history record.

    ``config.ranks`` data-parallel ranks (issue 29): the rule's GPUs at paper scale, CPU processes on gloo
    otherwise; more than one are started by torchrun (:func:`repro.common.lm.launch.run_ranks`), each running
    :func:`train_ranks`. The resume key fingerprints the run spec, the token files and the library code
    (``code``): after a parameter, data or code change an old checkpoint is not resumed and the run trains afresh.
    """
    work_dir = outputs["weights"].parent / "train"
    code = [str(p) for p in inputs.get("code", [])]
    spec = {"name": config.name, "label": config.label, "model": asdict(config.model), "train": config.train.to_dict()}
    resume_key = fingerprint([str(inputs["train"]), str(inputs["heldout"]), *code], extra=spec)
    train_tokens = load_tokens(inputs["train"])
    top = int(train_tokens.max()) if len(train_tokens) else 0  # .max(): a shard folder is not copied whole
    if top >= config.model.vocab_size:
        raise ValueError(f"token id {top} >= model vocab_size {config.model.vocab_size}")
    work_dir.mkdir(parents=True, exist_ok=True)
    ranks = ranks_here(config.ranks)
    log.info("run %s: %s (%d rank%s)", config.name, config.label, ranks, "s" if ranks > 1 else "")
    run = {"train_path": inputs["train"], "heldout_path": inputs["heldout"], "config": config, "work_dir": work_dir}
    history, n_params = run_ranks(ranks, train_ranks, {**run, "resume_key": resume_key}, threads=config.train.threads)
    tmp = outputs["weights"].with_name(outputs["weights"].name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(work_dir / CHECKPOINT_FILE, tmp)
    except OSError:
        shutil.copy2(work_dir / CHECKPOINT_FILE, tmp)
    os.replace(tmp, outputs["weights"])
    record = {
        "name": config.name,
        "label": config.label,
        "n_params": n_params,
        "ranks": ranks,
        "flops_per_token": training_flops_per_token(config.model),
        "tokens_per_step": config.train.tokens_per_step,
        "history": history,
    }
    return StepResult(records={"history": record}, files=("weights",))


@step(
    reads=("eval", "context"),
    merged=False,
)
def evaluate_step(inputs: Inputs, config: EvaluateConfig) -> StepResult:
    """Per-position held-out loss at the training context (non-overlapping windows, evenly spaced): the curve,
    its mean (``final_eval_loss``), the late-minus-early difference and a log-binned curve for plotting."""
    torch.set_num_threads(1)
    spec = build_config(RunSpec, read_json(inputs["run"]), "ttt run")
    model = load_trained(spec, inputs["weights"])
    ev = config.eval
    curve = position_loss_curve(
        model, load_tokens(inputs["heldout"]), config.context, max_windows=ev.max_windows, batch_size=ev.batch_size
    ).astype(np.float64)
    tail = curve[ev.min_position :]  # positions >= min_position: the first tokens' loss is not about context
    k = max(1, int(round(len(tail) * ev.fraction)))
    record = {
        "final_eval_loss": float(curve.mean()),
        "late_minus_early_loss": late_minus_early_loss(tail, ev.fraction),
        "loss_slope": recall.gap_slope(np.arange(ev.min_position, len(curve)), tail),
        "loss_early": float(tail[:k].mean()),
        "loss_late": float(tail[-k:].mean()),
        "curve": [float(x) for x in curve],
        "binned": binned_curve(curve, ev.curve_bins),
    }
    log.info("%s", {key: v for key, v in record.items() if key not in ("curve", "binned")})
    return StepResult(records={"eval": record})


@step(reads=("equivalence",))
def equivalence_step(inputs: Inputs, config: EquivalenceConfig) -> StepResult:
    """Sec. 2.5 / Theorem 1: primal = dual form, and TTT (b = T, W0 = 0, eta = 1/2) = causal linear attention."""
    return StepResult(numbers=equivalence_numbers(seed=config.equivalence.seed))


@step(
    reads=("latency", "sizes", "tokenizer", "context", "mini_batch_size", "mamba_layers_per_block"),
    not_run={"paper_toy": "times the paper-size models on CUDA in bf16; no CPU rehearsal of it yet (issue 35)"},
)
def latency_step(inputs: Inputs, config: LatencyStepConfig) -> StepResult:
    """Prefill (dual form / SDPA / scan) and decode (primal / KV cache / state) ms per token vs context."""
    s = config.latency
    sizes = {z.name: z for z in config.sizes}
    if s.size not in sizes:
        raise KeyError(f"ttt.latency.size {s.size!r} is not one of ttt.sizes {sorted(sizes)}")
    model = transformer_config(sizes[s.size], config.tokenizer.vocab_size, config.context, config.mini_batch_size)
    cfg = lat.LatencyConfig(
        archs=s.archs,
        contexts=s.contexts,
        model=model,
        mamba_layers_per_block=config.mamba_layers_per_block,
        batch=s.batch,
        warmup=s.warmup,
        repeats=s.repeats,
        decode_steps=s.decode_steps,
        threads=s.threads,
        device=s.device,
        dtype=s.dtype,
    )
    rows = lat.measure_latency(cfg, progress=lambda row: log.info("%s", row))
    log.info("\n%s", lat.format_table(rows))
    numbers = latency_numbers(rows, s.device.split(":")[0])
    # the machine's speed next to its timings (repro.common.machine): a slower CPU's ms/token can be read
    numbers["latency.probe"] = speed_probe()
    return StepResult(numbers=numbers, tables={"table": pd.DataFrame(rows)})


def _runs(inputs: Inputs) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(specs, histories, evals) of the runs given as inputs, keyed by run name (the run's folder)."""
    histories = {Path(p).parent.name: read_json(p) for p in inputs["histories"]}
    evals = {Path(p).parent.name: read_json(p) for p in inputs["evals"]}
    if set(histories) != set(evals):
        raise ValueError(f"ttt: runs with a history but no evaluation or back: {sorted(set(histories) ^ set(evals))}")
    specs = {name: spec for name, spec in read_json(inputs["specs"]).items() if name in histories}
    unknown = sorted(set(histories) - set(specs))
    if unknown:
        raise ValueError(f"ttt: runs not in runs.json: {unknown}")
    return specs, histories, evals


@step(reads=("sizes",))
def text_step(inputs: Inputs, config: ResultsConfig) -> StepResult:
    """Sec. 3.2: the LM comparison at equal parameter count (loss, loss by token index, loss vs FLOPs), with the
    count-based bigram floor fitted on the same training tokens (``text.ngram_floor.loss``)."""
    out = text_results(*_runs(inputs), [s.name for s in config.sizes])
    # The sanity floor: what counting does on the same training tokens (repro.common.lm.ngram).
    train, held = load_tokens(inputs["train"]), load_tokens(inputs["heldout"])
    vocab = int(max(train.max(), held.max())) + 1
    out["numbers"]["text.ngram_floor.loss"] = bigram_heldout_loss(train, held, vocab)
    out["numbers"]["text.ngram_floor.unigram_loss"] = unigram_heldout_loss(train, held, vocab)
    best = min(v for k, v in out["numbers"].items() if k.count(".") == 2 and k.endswith(".final_eval_loss"))
    out["numbers"]["text.best_model.final_eval_loss"] = best
    return StepResult(numbers=out["numbers"], tables={k: pd.DataFrame(out[k]) for k in ("runs", "curves", "flops")})


def _recall_runs(inputs: Inputs) -> tuple[dict[str, Any], dict[str, Any]]:
    """(specs, records) of the recall runs given as inputs (``results``), keyed by run name (the folder)."""
    records = {Path(p).parent.name: read_json(p) for p in inputs["results"]}
    specs = {name: spec for name, spec in read_json(inputs["specs"]).items() if name in records}
    unknown = sorted(set(records) - set(specs))
    if unknown:
        raise ValueError(f"ttt: recall runs not in recall_runs.json: {unknown}")
    return specs, records


@step(
    reads=(),
    merged=False,
    not_run={
        "paper_toy": (
            "rehearsal sizes for the 93 paper-size recall runs (d768, 12 layers, T 2048) are not set yet (issue 35)"
        )
    },
)
def recall_run_step(inputs: Inputs, config: RecallRunSpec) -> StepResult:
    """Train one model on fresh recall sequences, then score it on the shared validation and test sequences
    (per-position loss vs the Bayes curve, recall accuracy by keys seen) and, for TTT layers, measure the
    inner-loop losses per position (Sec. 2, inner-loss figure)."""
    device = resolve_device("auto")  # the job's GPU at paper scale (the rule requests gpus()); else the CPU
    if device.type == "cpu":  # one thread: small-scale recall runs go side by side, one per core
        torch.set_num_threads(1)
    torch.manual_seed(config.train.seed)
    model = build_model(config.model).to(device)
    log.info("recall run %s: %s, %d parameters on %s", config.name, config.label, model.num_parameters(), device)
    train = recall.train_recall(model, config.task, config.train)
    ev = config.eval
    test = recall.evaluate_recall(model, config.task, ev.sequences, ev.test_seed)
    val = recall.evaluate_recall(model, config.task, ev.val_sequences, ev.val_seed)
    record: dict[str, Any] = {
        "name": config.name,
        "arch": config.arch,
        "label": config.label,
        "n_params": model.num_parameters(),
        "state_size": recall.state_size(config.model),
        "train": train,
        "test": test,
        "val_loss": float(np.mean(val["loss"])),
    }
    if config.model.variant.startswith("ttt") and ev.inner_sequences > 0:
        tokens = recall.sample_batch(config.task, ev.inner_sequences, np.random.default_rng(ev.test_seed)).tokens
        record["inner"] = recall.inner_losses(model, tokens[:, :-1])
    log.info(
        "%s: test loss %.4f, accuracy %.3f, %.0f tokens/s",
        config.name,
        float(np.mean(test["loss"])),
        test["accuracy"],
        train["tokens_per_s"],
    )
    return StepResult(records={"result": record})


@step(reads=("recall",))  # at paper_toy: not run while recall_run is not (derived through the DAG)
def recall_step(inputs: Inputs, config: RecallResultsConfig) -> StepResult:
    """The recall comparison at matched state size: gap to the Bayes curve, recall accuracy, inner losses."""
    out = recall_results(*_recall_runs(inputs), config.recall.eval.min_position)
    tables = {k: pd.DataFrame(out[k]) for k in ("runs", "curves", "accuracy")}
    return StepResult(numbers=out["numbers"], tables=tables)


@step(reads=())  # at paper_toy: not run while recall_run is not (derived through the DAG)
def inner_loss_step(inputs: Inputs) -> StepResult:
    """Sec. 2 (inner-loss figure): l(W0; x_t), l(W_{t-1}; x_t), l(W_t; x_t) of the trained TTT layers."""
    out = inner_loss_results(*_recall_runs(inputs))
    return StepResult(numbers=out["numbers"], tables={"table": pd.DataFrame(out["inner"])})


@step(reads=("recall",))  # at paper_toy: not run while recall_run is not (derived through the DAG)
def minibatch_step(inputs: Inputs, config: RecallResultsConfig) -> StepResult:
    """Sec. 2.4: TTT-Linear (M) loss and recall against training tokens per second, per mini-batch size b."""
    out = minibatch_results(*_recall_runs(inputs), config.recall.eval.min_position)
    return StepResult(numbers=out["numbers"], tables={"runs": pd.DataFrame(out["runs"])})


@step(reads=("recall",))  # at paper_toy: not run while recall_run is not (derived through the DAG)
def ladder_step(inputs: Inputs, config: RecallResultsConfig) -> StepResult:
    """Table 1 on the recall task: one change per row, eta_base per row picked on the validation split."""
    out = ladder_results(*_recall_runs(inputs), config.recall.eval.min_position)
    return StepResult(numbers=out["numbers"], tables={"runs": pd.DataFrame(out["runs"])})


@step(reads=("speed",))
def speed_step(inputs: Inputs, config: SpeedConfig) -> StepResult:
    """Sec. 2.5: dual vs primal form of the TTT-Linear inner loop, forward + backward (median paired ratio)."""
    s = config.speed
    res = dual_vs_primal(s.batch, s.heads, s.head_dim, s.seq_len, s.mini_batch_size, s.repeats, s.threads)
    log.info("%s", res)
    return StepResult(numbers={"speed": {**res, "probe": speed_probe()}})


__all__ = [
    "tokenizer_step",
    "data_step",
    "train_step",
    "evaluate_step",
    "equivalence_step",
    "latency_step",
    "text_step",
    "recall_run_step",
    "recall_step",
    "inner_loss_step",
    "minibatch_step",
    "ladder_step",
    "speed_step",
]
