"""A small, exact-resume trainer for causal LMs (nanoGPT-style loop).

Trains any module following the contract of :mod:`repro.common.lm.models`
(``forward(input_ids[B, T]) -> logits[B, T, V]``) on a flat array of token ids:

* batches are random contiguous windows of ``context + 1`` tokens; the offsets of step
  ``s`` are drawn from ``numpy.random.default_rng((seed, 0, s, micro))``, so the data
  order depends only on the seed and the step, never on where a run was resumed;
* AdamW (Loshchilov & Hutter 2019) with weight decay on matrices and embeddings only,
  linear warmup then cosine decay to ``min_lr`` (the GPT-3 / Chinchilla recipe);
* gradient accumulation (``batch_size`` sequences per micro-batch, ``grad_accum``
  micro-batches per optimizer step) and global-norm gradient clipping;
* bf16 autocast on CUDA only (CPU runs stay in fp32 so they are deterministic and
  comparable across machines);
* periodic held-out loss on a fixed set of windows (same windows at every eval);
* checkpoints in safetensors (model, optimizer, step, history, torch RNG states)
  written atomically; an interrupted run resumes to bit-identical weights on CPU;
* data parallelism under ``torchrun`` (:mod:`repro.common.lm.distributed`, issue 29): each rank
  takes an equal block of every global micro-batch, DDP averages the gradients, so the global
  batch and the optimizer steps do not depend on the number of ranks;
* FSDP2 (``parallel="fsdp"``) for models whose weights and optimizer state do not fit on one device:
  sharded checkpoints (:mod:`torch.distributed.checkpoint`, one file set per rank plus ``meta.json``)
  that reload on any number of ranks, and at the end a consolidated checkpoint in the one-file format;
* activation checkpointing (``activation_checkpointing=True``): block activations recomputed in backward.

DESIGN.md, "Determinism": one torch thread per job by default (``threads=1``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from repro.common.devices import resolve_device  # the one device resolver; re-exported for callers here
from repro.common.io import atomic_open, atomic_write_bytes
from repro.common.lm import distributed
from repro.common.lm.shards import TokenShards, open_shards, raw_to_npy
from repro.common.seeds import seed_everything

CHECKPOINT_FILE = "checkpoint.safetensors"
SHARDED_CHECKPOINT = "checkpoint.dcp"  # FSDP: a torch.distributed.checkpoint folder (every rank's shards, meta.json)
_SHARDED_META = "meta.json"
# Independent random streams derived from the seed (numpy SeedSequence entropy).
_TRAIN_STREAM = 0
_EVAL_STREAM = 1


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Defaults suit the ~1M-parameter tiny model on CPU."""

    steps: int = 1000  # optimizer steps
    batch_size: int = 16  # sequences per micro-batch
    context: int = 256  # tokens per training sequence (<= the model's context)
    lr: float = 1e-3  # peak learning rate (small models tolerate a high lr)
    warmup: int = 100  # linear warmup steps
    min_lr: float = 1e-4  # cosine floor (lr/10, as in Chinchilla)
    weight_decay: float = 0.1  # decoupled AdamW decay on matrices/embeddings only
    betas: tuple[float, float] = (0.9, 0.95)  # beta2=0.95 is the usual LM choice for stability
    eps: float = 1e-8
    grad_clip: float = 1.0  # global grad-norm clip; 0 disables
    grad_accum: int = 1  # micro-batches per optimizer step
    eval_every: int = 100  # steps between held-out evals (and at the last step); 0 disables
    eval_batches: int = 10  # held-out micro-batches per eval
    log_every: int = 10  # steps between history entries
    ckpt_every: int = 0  # steps between checkpoints (0: only at the end / at stop_at)
    seed: int = 0
    threads: int = 1  # torch CPU threads (one per job; measure before raising)
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "fp32", "bf16"
    parallel: str = "ddp"  # "ddp" (whole model per rank) or "fsdp" (FSDP2: parameters, grads, optimizer sharded)
    activation_checkpointing: bool = False  # recompute block activations in backward (memory for compute)

    def __post_init__(self) -> None:
        bad = [
            f"{k}={getattr(self, k)}" for k in ("steps", "batch_size", "context", "grad_accum") if getattr(self, k) < 1
        ]
        if bad:
            raise ValueError(f"steps, batch_size, context and grad_accum must be positive; got {', '.join(bad)}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, not {self.precision!r}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError("need 0 <= min_lr <= lr")
        if self.parallel not in distributed.STRATEGIES:
            raise ValueError(f"parallel must be one of {', '.join(distributed.STRATEGIES)}, not {self.parallel!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum * self.context


# Fields that do not change the trajectory of the weights: a resumed run may differ in them.
# parallel and activation_checkpointing change where tensors live and what is recomputed, not the maths: a run
# may resume under another strategy (the checkpoint formats convert; see train()).
_RESUME_FREE = {
    "threads",
    "device",
    "eval_every",
    "eval_batches",
    "log_every",
    "ckpt_every",
    "parallel",
    "activation_checkpointing",
}


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warmup, cosine decay."""
    if cfg.warmup > 0 and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast only on CUDA (``precision`` auto or bf16); CPU always runs fp32."""
    return device.type == "cuda" and cfg.precision in ("auto", "bf16")


# ---------------------------------------------------------------------------------------
# Token data


def save_tokens(path: str | os.PathLike[str], tokens: np.ndarray) -> np.ndarray:
    """Write ``tokens`` as ``.npy`` atomically and return a read-only memory map of it."""
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(tokens))
    return load_tokens(path)


def save_token_stream(path: str | os.PathLike[str], chunks: Iterable[np.ndarray], dtype: np.dtype) -> int:
    """Write the concatenation of ``chunks`` as ``.npy`` without holding it (a paper-scale corpus; issue 28, bounded
    memory): the chunks go to a raw file beside ``path``, then into a memory-mapped ``.npy`` in slices, renamed into
    place when whole. Returns the number of tokens. :func:`load_tokens` reads the file like one from
    :func:`save_tokens`."""
    path = Path(path)
    raw, tmp = path.with_name(path.name + ".raw.tmp"), path.with_name(path.name + ".tmp.npy")
    n = 0
    try:
        with open(raw, "wb") as fh:
            for chunk in chunks:
                block = np.ascontiguousarray(chunk, dtype=dtype)
                fh.write(block.tobytes())
                n += len(block)
        raw_to_npy(raw, tmp, dtype, n)
        os.replace(tmp, path)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return n


def load_tokens(path: str | os.PathLike[str]) -> np.ndarray | TokenShards:
    """Memory-map a token file written by :func:`save_tokens` (no copy into RAM), or a directory of token shards
    written by :func:`repro.common.lm.shards.write_shards` (a :class:`~repro.common.lm.shards.TokenShards`, indexed
    like the flat array by every reader here)."""
    if Path(path).is_dir():
        return open_shards(path)
    try:
        return np.load(path, mmap_mode="r")
    except (ValueError, EOFError) as exc:  # numpy's errors for a truncated or corrupted .npy
        raise ValueError(
            f"{path}: not a readable token file ({exc}); delete it and rerun the rule that writes it"
        ) from exc


def sample_windows(
    tokens: np.ndarray, n: int, context: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random contiguous windows: inputs ``x[n, context]`` and targets ``y = x`` shifted by one."""
    if len(tokens) < context + 1:
        raise ValueError(f"need at least context+1={context + 1} tokens, have {len(tokens)}")
    offsets = rng.integers(0, len(tokens) - context, size=n)
    idx = offsets[:, None] + np.arange(context + 1)[None, :]
    block = torch.from_numpy(np.asarray(tokens[idx], dtype=np.int64))
    return block[:, :-1], block[:, 1:]


def _batch_rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, *key]))


def eval_windows(tokens: np.ndarray, cfg: TrainConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed held-out batches used at every eval (depend on the seed only)."""
    rng = _batch_rng(cfg.seed, _EVAL_STREAM)
    return [sample_windows(tokens, cfg.batch_size, cfg.context, rng) for _ in range(cfg.eval_batches)]


def lm_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (nats); logits upcast to fp32 for a stable softmax."""
    logits = model(x)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    bf16: bool = False,
) -> float:
    """Mean loss over ``batches`` in eval mode (restores the previous mode)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for x, y in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            total += lm_loss(model, x.to(device), y.to(device)).item()
    model.train(was_training)
    return total / max(1, len(batches))


# ---------------------------------------------------------------------------------------
# Optimizer


def _decay_groups(model: nn.Module) -> tuple[list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]]]:
    """(decayed, not decayed) named parameters: >=2-D tensors (matrices, embeddings) vs biases and norms."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append((name, p))
    return decay, no_decay


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with decay on >=2-D tensors (matrices, embeddings) and none on biases/norms."""
    decay, no_decay = _decay_groups(model)
    groups = [
        {"params": [p for _, p in decay], "weight_decay": cfg.weight_decay},
        {"params": [p for _, p in no_decay], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


def optimizer_names(model: nn.Module) -> list[str]:
    """Parameter names in :func:`make_optimizer`'s order: name ``i`` is parameter id ``i`` of
    ``optimizer.state_dict()`` (the one-file checkpoint), the key of the same state in a sharded checkpoint."""
    decay, no_decay = _decay_groups(model)
    return [name for name, _ in decay + no_decay]


# ---------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    cfg: TrainConfig,
    history: list[dict[str, Any]],
    elapsed: float = 0.0,
    pending_losses: Sequence[float] = (),
    resume_key: str = "",
    *,
    gathered: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
) -> Path:
    """Write model, optimizer state, step, history and RNG states to one safetensors file.

    Tensors go in the safetensors payload (``model.*``, ``optim.<i>.<key>``,
    ``rng.*``); everything else is JSON in its string metadata. The write is atomic.
    ``gathered``: (model state without aliases, ``optimizer.state_dict()``-shaped state) gathered elsewhere (an FSDP
    model's full state, :func:`_gathered_state`); by default they are read from ``model`` and ``optimizer``.
    """
    from safetensors.torch import save

    from repro.common.lm.models import unique_state_dict

    model_state, opt_state = gathered if gathered is not None else (unique_state_dict(model), optimizer.state_dict())
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v.cpu() for k, v in model_state.items()}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in opt_state["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    tensors["rng.torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    metadata = {
        **_run_metadata(step, cfg, history, elapsed, pending_losses, resume_key),
        "param_groups": json.dumps(opt_state["param_groups"]),
        "optim_scalars": json.dumps(scalars),
    }
    path = Path(path)
    atomic_write_bytes(path, save(tensors, metadata=metadata))
    return path


def _run_metadata(
    step: int,
    cfg: TrainConfig,
    history: list[dict[str, Any]],
    elapsed: float,
    pending_losses: Sequence[float],
    resume_key: str,
) -> dict[str, str]:
    """What every checkpoint records beside the tensors (string values: safetensors metadata, meta.json)."""
    return {
        "step": str(step),
        "elapsed": repr(float(elapsed)),
        "config": json.dumps(cfg.to_dict(), sort_keys=True),
        "history": json.dumps(history),
        # Step losses not yet averaged into a history entry, so that an interrupted run
        # logs exactly what an uninterrupted one does.
        "pending_losses": json.dumps([float(x) for x in pending_losses]),
        # Fingerprint of the run's inputs (see train(resume_key=...)).
        "resume_key": resume_key,
    }


def _checkpoint_of(metadata: dict[str, str]) -> Checkpoint:
    return Checkpoint(
        step=int(metadata["step"]),
        config=json.loads(metadata["config"]),
        history=json.loads(metadata["history"]),
        elapsed=float(metadata["elapsed"]),
        pending_losses=json.loads(metadata.get("pending_losses", "[]")),
    )


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` restored."""

    step: int
    config: dict[str, Any]
    history: list[dict[str, Any]]
    elapsed: float
    pending_losses: list[float] = dataclasses.field(default_factory=list)


def checkpoint_resume_key(path: str | os.PathLike[str]) -> str:
    """The ``resume_key`` a checkpoint was written with ("" if none), read from its metadata only."""
    return _file_metadata(Path(path)).get("resume_key", "")


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    restore_rng: bool = True,
) -> Checkpoint:
    """Restore model (and optimizer, RNG states) in place from :func:`save_checkpoint`. An FSDP-sharded model
    takes the whole tensors of the file and keeps its shard of them (a run that changed strategy)."""
    from safetensors import SafetensorError, safe_open

    from repro.common.lm.models import WeightsFileError, load_unique_state_dict

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as exc:  # a truncated or corrupted file
        raise WeightsFileError(path, exc) from exc
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    opt_state: dict[str, Any] | None = None
    if optimizer is not None:
        state: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, key = k.split(".", 2)
                state.setdefault(int(idx), {})[key] = v
        for idx, extra in json.loads(metadata["optim_scalars"]).items():
            state.setdefault(int(idx), {}).update(extra)
        opt_state = {"state": state, "param_groups": json.loads(metadata["param_groups"])}
    if distributed.is_sharded(model):
        _set_full_state(model, optimizer, model_state, opt_state)
    else:
        load_unique_state_dict(model, model_state)
        if optimizer is not None:
            optimizer.load_state_dict(opt_state)
    if restore_rng:
        _restore_rng(tensors["rng.torch_cpu"], [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")])
    return _checkpoint_of(metadata)


def _restore_rng(cpu: torch.Tensor, cuda: Sequence[torch.Tensor]) -> None:
    torch.set_rng_state(cpu)
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(cuda)[: torch.cuda.device_count()])


# Sharded checkpoints (FSDP2). The optimizer state of a sharded checkpoint is keyed by parameter name; the one-file
# format keys it by position in make_optimizer's groups (optimizer_names gives the names of the positions).


def _by_name(opt_state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``optimizer.state_dict()`` (positions) -> the same state keyed by parameter name."""
    groups = [{**g, "params": [names[i] for i in g["params"]]} for g in opt_state["param_groups"]]
    return {"state": {names[int(i)]: v for i, v in opt_state["state"].items()}, "param_groups": groups}


def _by_position(opt_state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The inverse of :func:`_by_name`."""
    index = {n: i for i, n in enumerate(names)}
    groups = [{**g, "params": [index[n] for n in g["params"]]} for g in opt_state["param_groups"]]
    return {"state": {index[n]: v for n, v in opt_state["state"].items()}, "param_groups": groups}


def _alias_names(model: nn.Module) -> set[str]:
    """Names of parameters that repeat an earlier one (tied embeddings): one-file checkpoints store each once."""
    seen: set[int] = set()
    aliases = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            aliases.add(name)
        seen.add(id(p))
    return aliases


def _set_full_state(
    model: nn.Module, optimizer: torch.optim.Optimizer | None, model_state: dict[str, Any], opt_state: Any
) -> None:
    """Load whole (unsharded) tensors into an FSDP model and its optimizer; every rank keeps its shard."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, strict=False)
    full = dict(model_state)
    for name in _alias_names(model):  # the file keeps a tied tensor once; FSDP wants every name
        first = next(n for n, p in model.named_parameters() if p is model.get_parameter(name))
        full[name] = full[first]
    set_model_state_dict(model, full, options=options)
    if optimizer is not None:
        set_optimizer_state_dict(model, optimizer, _by_name(opt_state, optimizer_names(model)), options=options)


def _gathered_state(
    model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The whole model and optimizer state of an FSDP model, on rank 0's CPU (None on the other ranks), in the
    one-file checkpoint's layout. A collective: every rank calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_state, opt_state = get_state_dict(model, optimizer, options=options)
    if not model_state:  # not rank 0: cpu_offload gathers to rank 0 only
        return None
    aliases = _alias_names(model)
    model_state = {k: v for k, v in model_state.items() if k not in aliases}
    return model_state, _by_position(opt_state, optimizer_names(model))


def save_sharded_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    cfg: TrainConfig,
    history: list[dict[str, Any]],
    elapsed: float = 0.0,
    pending_losses: Sequence[float] = (),
    resume_key: str = "",
    *,
    ranks: distributed.Ranks,
) -> Path:
    """Every rank writes its shards of the model and optimizer state (:func:`torch.distributed.checkpoint.save`);
    rank 0 adds ``meta.json`` (step, history, config, RNG state: the one-file checkpoint's metadata). Written to a
    temporary folder renamed into place when whole, so a run killed mid-save keeps its previous checkpoint. A
    collective: every rank calls it."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if ranks.main and tmp.exists():
        shutil.rmtree(tmp)  # left by a killed save
    distributed.barrier(ranks)
    model_state, opt_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optim": opt_state}, checkpoint_id=tmp)
    if ranks.main:
        meta = {**_run_metadata(step, cfg, history, elapsed, pending_losses, resume_key), "world": str(ranks.world)}
        meta["rng_torch_cpu"] = json.dumps(torch.get_rng_state().tolist())
        with atomic_open(tmp / _SHARDED_META, "w") as fh:
            json.dump(meta, fh)
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)  # left by a save killed between the two renames below
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    distributed.barrier(ranks)
    return path


def sharded_checkpoint_meta(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """``meta.json`` of a sharded checkpoint, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(path) / _SHARDED_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_sharded_checkpoint(
    path: str | os.PathLike[str], model: nn.Module, optimizer: torch.optim.Optimizer, *, restore_rng: bool = True
) -> Checkpoint:
    """Restore a :func:`save_sharded_checkpoint` into ``model`` and ``optimizer`` whatever the number of ranks now
    (torch.distributed.checkpoint reshards on load; a plain model in one process takes the whole tensors)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    meta = sharded_checkpoint_meta(path)
    if meta is None:
        raise ValueError(f"{path}: not a sharded checkpoint ({_SHARDED_META} missing or unreadable)")
    model_state, opt_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": opt_state}
    dcp.load(state, checkpoint_id=Path(path))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    if restore_rng:
        _restore_rng(torch.tensor(json.loads(meta["rng_torch_cpu"]), dtype=torch.uint8), ())
    return _checkpoint_of(meta)


# ---------------------------------------------------------------------------------------
# The loop


def train(
    model: nn.Module,
    train_tokens: np.ndarray,
    cfg: TrainConfig,
    *,
    eval_tokens: np.ndarray | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    stop_at: int | None = None,
    progress: bool = True,
    callback: Callable[[dict[str, Any]], None] | None = None,
    resume_key: str = "",
) -> list[dict[str, Any]]:
    """Train ``model`` in place on ``train_tokens``; return the history.

    History entries (every ``log_every`` steps, at evals and at the end) are dicts with
    ``step`` (optimizer steps done), ``train_loss`` (mean over the steps since the last
    entry), ``eval_loss`` (``None`` between evals), ``lr``, ``tokens`` (seen so far) and
    ``elapsed`` (seconds of training, summed over resumed segments).

    With ``out_dir``, a checkpoint is written every ``ckpt_every`` steps, at
    ``stop_at`` and at the end; with ``resume=True`` an existing checkpoint there is
    loaded first (the trajectory-relevant config must match) and training continues
    from its step. ``stop_at`` ends the run early after that many steps, as an
    interruption would (used to test exact resume).

    ``resume_key`` fingerprints everything the run depends on beyond ``cfg`` (data,
    model code, the caller's config). A checkpoint written under another key belongs to
    a run with different inputs: it is ignored and training starts over, so resuming
    after an interruption never passes off an old run's weights as a new one's.
    """
    model_ctx = getattr(model, "context", None)
    if isinstance(model_ctx, int) and cfg.context > model_ctx:
        raise ValueError(f"TrainConfig.context={cfg.context} exceeds the model's context {model_ctx}")
    seed_everything(cfg.seed, torch_threads=cfg.threads)
    ranks = distributed.from_environ()  # torchrun's ranks; one process when it did not start this one
    if cfg.batch_size % ranks.world:
        raise ValueError(f"TrainConfig.batch_size={cfg.batch_size} does not split over {ranks.world} ranks")
    device = distributed.device_of(ranks, resolve_device(cfg.device))
    sharded = cfg.parallel == "fsdp"
    created_group = distributed.join(ranks, device, alone=sharded)
    bf16 = use_bf16(cfg, device)
    model.to(device)
    model.train()
    if cfg.activation_checkpointing:
        distributed.checkpoint_blocks(model)
    # FSDP replaces the parameters by sharded ones, so the optimizer is built after wrapping (DDP keeps them).
    net = distributed.wrap(model, ranks, device, strategy=cfg.parallel, bf16=bf16)
    optimizer = make_optimizer(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]

    ckpt_path = Path(out_dir) / CHECKPOINT_FILE if out_dir is not None else None
    sharded_path = Path(out_dir) / SHARDED_CHECKPOINT if out_dir is not None else None
    start, history, elapsed_before, losses = 0, [], 0.0, []
    if out_dir is not None and resume:
        ck = _resume(ckpt_path, sharded_path, resume_key, model, optimizer)
        if ck is not None:
            _check_resume_config(ck.config, cfg, Path(out_dir))
            start, history, elapsed_before, losses = ck.step, ck.history, ck.elapsed, ck.pending_losses
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)

    eval_batches = eval_windows(eval_tokens, cfg) if eval_tokens is not None and cfg.eval_every else None
    t0 = time.perf_counter()

    def checkpoint(step_done: int) -> None:
        """The checkpoint after ``step_done`` steps. DDP or one process: rank 0 writes one file, every rank waits.
        FSDP: every rank writes its shards; after the last step the whole state is gathered into the one-file
        format instead (what the run's consumers read), and the sharded folder is removed."""
        elapsed = elapsed_before + time.perf_counter() - t0
        args = (step_done, cfg, history, elapsed, losses, resume_key)
        if sharded and step_done < cfg.steps:
            save_sharded_checkpoint(sharded_path, model, optimizer, *args, ranks=ranks)
            return
        state = _gathered_state(model, optimizer) if sharded else None  # a collective: every rank gathers
        if ranks.main:
            save_checkpoint(ckpt_path, model, optimizer, *args, gathered=state)
            if sharded:
                shutil.rmtree(sharded_path, ignore_errors=True)
        distributed.barrier(ranks)

    bar = tqdm(total=cfg.steps, initial=start, disable=not progress or not ranks.main, desc="train", dynamic_ncols=True)
    try:
        for step in range(start, end):
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                x, y = sample_windows(
                    train_tokens, cfg.batch_size, cfg.context, _batch_rng(cfg.seed, _TRAIN_STREAM, step, micro)
                )
                x, y = distributed.shard(x, ranks), distributed.shard(y, ranks)  # this rank's rows of the batch
                x, y = _to_device(x, device), _to_device(y, device)
                with distributed.no_sync(net, sync=micro == cfg.grad_accum - 1):
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                        loss = lm_loss(net, x, y)
                    (loss / cfg.grad_accum).backward()
                step_loss += loss.detach() / cfg.grad_accum
            step_loss = distributed.mean_over_ranks(step_loss, ranks)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(step_loss.item())  # one device sync per step, not per micro-batch
            done = step + 1
            bar.update(1)

            is_eval = eval_batches is not None and (done % cfg.eval_every == 0 or done == cfg.steps)
            is_log = done % max(1, cfg.log_every) == 0 or done == cfg.steps or is_eval
            if is_log:
                entry = {
                    "step": done,
                    "train_loss": float(np.mean(losses)),
                    "eval_loss": estimate_loss(model, eval_batches, device, bf16) if is_eval else None,
                    "lr": lr,
                    "tokens": done * cfg.tokens_per_step,
                    "elapsed": elapsed_before + time.perf_counter() - t0,
                }
                losses = []
                history.append(entry)
                bar.set_postfix(
                    loss=f"{entry['train_loss']:.3f}",
                    **({"eval": f"{entry['eval_loss']:.3f}"} if entry["eval_loss"] is not None else {}),
                )
                if callback is not None and ranks.main:
                    callback(entry)
            if ckpt_path is not None and cfg.ckpt_every and done % cfg.ckpt_every == 0 and done < end:
                checkpoint(done)
        if ckpt_path is not None and end > start:
            checkpoint(end)
    finally:
        bar.close()
        if created_group:
            distributed.leave()
    model.eval()
    return history


def _file_metadata(path: Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    from repro.common.lm.models import WeightsFileError

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError) as exc:  # a truncated or corrupted file
        raise WeightsFileError(path, exc) from exc


def _resume(
    file: Path, sharded: Path, resume_key: str, model: nn.Module, optimizer: torch.optim.Optimizer
) -> Checkpoint | None:
    """Load the latest checkpoint of this run (same ``resume_key``) from the one-file or the sharded format,
    whichever holds more steps (a run may have changed strategy between segments); None when there is none."""
    found: list[tuple[int, str]] = []
    if file.is_file():
        meta = _file_metadata(file)
        if meta.get("resume_key", "") == resume_key:
            found.append((int(meta["step"]), "file"))
    # A save killed between its two renames leaves the new checkpoint whole in .tmp (meta.json is written last)
    # and the previous one in .old: both are candidates.
    for folder in (sharded, sharded.with_name(sharded.name + ".tmp"), sharded.with_name(sharded.name + ".old")):
        meta = sharded_checkpoint_meta(folder)
        if meta is not None and meta.get("resume_key", "") == resume_key:
            found.append((int(meta["step"]), str(folder)))
    if not found:
        return None
    _, where = max(found, key=lambda f: f[0])
    if where == "file":
        return load_checkpoint(file, model, optimizer)
    return load_sharded_checkpoint(Path(where), model, optimizer)


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    # Pinned host memory lets the copy to the GPU overlap with compute.
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _check_resume_config(saved: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    now = cfg.to_dict()
    diff = sorted(k for k in set(saved) | set(now) if k not in _RESUME_FREE and saved.get(k) != now.get(k))
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in diff)
        raise ValueError(
            f"cannot resume from {path}: the training config changed ({details}); "
            "delete the checkpoint or pass resume=False to start over"
        )


__all__ = [
    "CHECKPOINT_FILE",
    "Checkpoint",
    "TrainConfig",
    "estimate_loss",
    "eval_windows",
    "lm_loss",
    "load_checkpoint",
    "load_tokens",
    "lr_at",
    "make_optimizer",
    "resolve_device",
    "sample_windows",
    "save_checkpoint",
    "save_tokens",
    "train",
    "use_bf16",
]
