"""Small causal LMs built from scratch, and the module contract the trainer relies on.

THE CONTRACT (shared with paper-specific models such as TTT layers or Mamba): the
trainer, the evaluators and the ``tiny`` LLM backend accept any ``torch.nn.Module``
whose ``forward(input_ids: LongTensor[B, T]) -> FloatTensor[B, T, V]`` returns
next-token logits (position ``t`` predicts token ``t + 1``). A module may optionally
expose ``num_parameters() -> int`` and ``context: int`` (its maximum length). Hugging
Face models are wrapped by :func:`wrap_hf` to satisfy the same contract; the wrapper
also offers an incremental (KV-cache) ``step`` that :mod:`repro.common.lm.sampling` uses
for fast sampling (a custom module may opt in with ``supports_kv_cache = True`` and the
same ``step``/``forward_padded`` methods; otherwise sampling runs without a cache).

GPT-2 (Radford et al. 2019), Llama (Touvron et al. 2023) and GPT-NeoX as in Pythia
(Biderman et al. 2023) are built from ``transformers`` configs with
``AutoModelForCausalLM.from_config`` (random init, no download); :data:`HF_ARCHS` lists
them. A paper supplies its own architecture with :func:`register_model`::

    @register_model("ttt_linear")
    def build_ttt(cfg: ModelConfig) -> nn.Module: ...

after which ``build_model(ModelConfig(arch="ttt_linear", ...))`` and
:func:`load_model_dir` work for it like for the built-in architectures.

A *model directory* (:func:`save_model_dir`) holds ``repro_lm.json`` (the
:class:`ModelConfig`), ``model.safetensors`` and the tokenizer; for the
``transformers`` architectures it is also a valid Hugging Face checkpoint
(``config.json``), so the ``hf`` backend and ``AutoModelForCausalLM.from_pretrained``
can read it.

Released checkpoints come in and go out in plain Hugging Face format (issue 29, item 2):
:func:`load_pretrained` reads any causal LM that ``transformers`` knows, from a hub id or
a local folder, wrapped to the contract above (so the trainer fine-tunes it), and
:func:`save_pretrained` writes an HF folder (``config.json``, safetensors weights,
tokenizer) that ``AutoModelForCausalLM.from_pretrained`` and vLLM read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from repro.common.devices import resolve_device
from repro.common.io import atomic_dir, atomic_write_bytes, write_json

# Architectures built from transformers configs (hf_config); everything else comes from register_model.
HF_ARCHS = ("gpt2", "llama", "gpt_neox")

# ---------------------------------------------------------------------------------------
# Config


@dataclass(frozen=True)
class ModelConfig:
    """Size and architecture of a small causal LM (nanoGPT-style defaults: ~1M params)."""

    arch: str = "gpt2"  # "gpt2", "llama", "gpt_neox", or a name registered with register_model
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads (d_model must be divisible)
    d_model: int = 128  # residual width
    context: int = 256  # maximum sequence length (position embeddings / RoPE range)
    vocab_size: int = 2048  # set from the tokenizer
    d_ff: int | None = None  # MLP width; None -> 4*d_model (gpt2, gpt_neox) or ~8/3*d_model (llama)
    n_kv_head: int | None = None  # llama grouped-query attention; None -> n_head
    dropout: float = 0.0  # tiny runs are data-rich relative to size; keep 0 unless overfitting
    tie_embeddings: bool = True  # share input embedding and output projection (saves V*d params)
    rope_theta: float = 10_000.0  # rotary base (llama, gpt_neox)
    extra: dict[str, Any] = field(default_factory=dict)  # arch-specific options for registered builders

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if self.n_kv_head is not None and self.n_head % self.n_kv_head:
            raise ValueError("n_head must be a multiple of n_kv_head")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def _llama_ff(d_model: int) -> int:
    # SwiGLU keeps the MLP's parameter count close to a 4*d GELU MLP with 2/3 of the
    # width (Shazeer 2020); round up to a multiple of 32 for matmul-friendly shapes.
    return ((8 * d_model // 3 + 31) // 32) * 32


def hf_config(cfg: ModelConfig):
    """The ``transformers`` config for a GPT-2, Llama or GPT-NeoX :class:`ModelConfig`."""
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig

    if cfg.arch == "gpt2":
        return GPT2Config(
            vocab_size=cfg.vocab_size,
            n_positions=cfg.context,
            n_embd=cfg.d_model,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            n_inner=cfg.d_ff,
            resid_pdrop=cfg.dropout,
            embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout,
            tie_word_embeddings=cfg.tie_embeddings,
            # GPT-2's default ids (50256) are outside a small vocabulary; token 0 is our EOS.
            bos_token_id=0,
            eos_token_id=0,
            # No pad id: EOS (0) occurs inside training windows, and a pad id equal to it
            # makes transformers warn about unmasked padding on every forward.
            pad_token_id=None,
        )
    if cfg.arch == "llama":
        return LlamaConfig(
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.d_model,
            intermediate_size=cfg.d_ff or _llama_ff(cfg.d_model),
            num_hidden_layers=cfg.n_layer,
            num_attention_heads=cfg.n_head,
            num_key_value_heads=cfg.n_kv_head or cfg.n_head,
            max_position_embeddings=cfg.context,
            rope_theta=cfg.rope_theta,
            attention_dropout=cfg.dropout,
            tie_word_embeddings=cfg.tie_embeddings,
            bos_token_id=0,
            eos_token_id=0,
            # No pad id: EOS (0) occurs inside training windows, and a pad id equal to it
            # makes transformers warn about unmasked padding on every forward.
            pad_token_id=None,
        )
    if cfg.arch == "gpt_neox":
        # Pythia (Biderman et al. 2023): rotary embeddings on a quarter of each head's dimensions, attention and
        # MLP in parallel off one residual stream, GELU MLP of width 4*d.
        if cfg.n_kv_head not in (None, cfg.n_head):
            raise ValueError("gpt_neox has no grouped-query attention: leave n_kv_head unset (or equal to n_head)")
        return GPTNeoXConfig(
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.d_model,
            num_hidden_layers=cfg.n_layer,
            num_attention_heads=cfg.n_head,
            intermediate_size=cfg.d_ff or 4 * cfg.d_model,
            max_position_embeddings=cfg.context,
            # transformers 5 folds these two into rope_parameters but still reads the 4.x names.
            rotary_pct=0.25,
            rotary_emb_base=cfg.rope_theta,
            use_parallel_residual=True,
            attention_dropout=cfg.dropout,
            hidden_dropout=cfg.dropout,
            tie_word_embeddings=cfg.tie_embeddings,
            bos_token_id=0,
            eos_token_id=0,
            # No pad id: EOS (0) occurs inside training windows, and a pad id equal to it
            # makes transformers warn about unmasked padding on every forward.
            pad_token_id=None,
        )
    raise ValueError(f"{cfg.arch!r} is not a transformers architecture ({', '.join(HF_ARCHS)})")


# ---------------------------------------------------------------------------------------
# The HF wrapper


def _cache_kwarg(model: nn.Module) -> str:
    """Name of the KV-cache argument of an HF model's forward.

    transformers renamed ``past_key_values`` to ``cache`` in 5.x; support both so the
    toolkit works across the versions pyproject allows.
    """
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class HFCausalLM(nn.Module):
    """An HF ``*ForCausalLM`` behind the toolkit contract: ``forward(ids) -> logits``.

    ``self.hf`` is the wrapped model (its state dict keys are prefixed ``hf.``). The
    extra method :meth:`step` runs one incremental decoding step with a KV cache.
    """

    supports_kv_cache = True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.hf = model
        self._cache_arg = _cache_kwarg(model)

    @property
    def config(self):
        return self.hf.config

    @property
    def context(self) -> int | None:
        c = self.hf.config
        return getattr(c, "n_positions", None) or getattr(c, "max_position_embeddings", None)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``[B, T, V]`` for ``input_ids`` ``[B, T]`` (the contract in the module docstring)."""
        return self.hf(input_ids=input_ids, use_cache=False).logits

    def forward_padded(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits for a left- or right-padded batch (``attention_mask`` 0 on padding).

        Positions are counted over real tokens only, so a left-padded prompt gets the
        same position ids as it would alone.
        """
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return self.hf(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).logits

    def step(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Any = None,
    ) -> tuple[torch.Tensor, Any]:
        """One decoding step: logits ``[B, T_new, V]`` for the new tokens and the new cache.

        ``attention_mask`` covers past and new tokens (``[B, T_past + T_new]``, 0 for
        left padding); ``position_ids`` are the new tokens' positions (padding-aware).
        """
        kwargs = {self._cache_arg: cache}
        out = self.hf(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **kwargs,
        )
        new_cache = getattr(out, "cache", None)
        if new_cache is None:
            new_cache = getattr(out, "past_key_values", None)
        return out.logits, new_cache

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        return int(self.hf.num_parameters(exclude_embeddings=exclude_embeddings))


def wrap_hf(model: nn.Module) -> HFCausalLM:
    """Wrap an HF causal LM so that ``forward(input_ids) -> logits`` (idempotent)."""
    if isinstance(model, HFCausalLM):
        return model
    return HFCausalLM(model)


def unwrap(model: nn.Module) -> nn.Module:
    """The HF model inside an :class:`HFCausalLM`, else ``model`` itself."""
    return model.hf if isinstance(model, HFCausalLM) else model


# ---------------------------------------------------------------------------------------
# Building and the registry of custom architectures

ModelBuilder = Callable[[ModelConfig], nn.Module]
_BUILDERS: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering ``builder(cfg) -> nn.Module`` under architecture ``name``.

    The module must follow the contract in the module docstring. Registration is
    remembered by the builder's module, which :func:`load_model_dir` imports when it
    meets an architecture that is not registered yet.
    """

    def deco(fn: ModelBuilder) -> ModelBuilder:
        if name in HF_ARCHS:
            raise ValueError(f"{name!r} is a built-in architecture")
        existing = _BUILDERS.get(name)
        if (
            existing is not None
            and existing is not fn
            and (
                existing.__module__,
                existing.__qualname__,
            )
            != (fn.__module__, fn.__qualname__)
        ):
            raise ValueError(f"architecture {name!r} is already registered by {existing.__module__}")
        _BUILDERS[name] = fn
        return fn

    return deco


def registered_models() -> list[str]:
    """All architecture names :func:`build_model` accepts."""
    return [*HF_ARCHS, *sorted(_BUILDERS)]


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Run with torch's CPU RNG seeded, restoring the caller's RNG state afterwards."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Keep transformers' harmless notes (generation defaults, missing pad ids) out of the logs while building or
    saving a model (also used by repro.common.standins.hf)."""
    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_model(cfg: ModelConfig, *, seed: int | None = 0) -> nn.Module:
    """A randomly initialised model for ``cfg`` following the toolkit contract.

    ``seed`` makes the initialisation reproducible without touching the global RNG
    (``None`` uses the global RNG as is).
    """
    with _seeded(seed):
        if cfg.arch in HF_ARCHS:
            from transformers import AutoModelForCausalLM

            with quiet_transformers():
                # sdpa is exact attention (no approximation) and faster than eager on CPU.
                model = AutoModelForCausalLM.from_config(hf_config(cfg), attn_implementation="sdpa")
            return wrap_hf(model)
        builder = _BUILDERS.get(cfg.arch)
        if builder is None:
            raise ValueError(f"unknown architecture {cfg.arch!r}; registered: {registered_models()}")
        return builder(cfg)


# ---------------------------------------------------------------------------------------
# Size and compute


def count_params(module: nn.Module, *, exclude_embeddings: bool = False) -> int:
    """Number of distinct parameters (tied weights counted once).

    Uses the module's ``num_parameters()`` when it has one. ``exclude_embeddings``
    drops ``nn.Embedding`` tables (token and learned position embeddings): Kaplan et
    al. (2020, Sec. 2) count non-embedding parameters in scaling laws.
    """
    fn = getattr(module, "num_parameters", None)
    if callable(fn):
        try:
            return int(fn(exclude_embeddings=exclude_embeddings))
        except TypeError:
            if not exclude_embeddings:
                return int(fn())
    seen: set[int] = set()
    skip: set[int] = set()
    if exclude_embeddings:
        for m in module.modules():
            if isinstance(m, nn.Embedding):
                skip.add(id(m.weight))
    total = 0
    for p in module.parameters():  # parameters() already yields a shared tensor once
        if id(p) in seen or id(p) in skip:
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def flops_per_token(
    n_params: int,
    n_layer: int,
    d_model: int,
    context: int,
    *,
    training: bool = True,
) -> float:
    """Approximate FLOPs per token of a decoder-only transformer.

    ``2N + 4·L·d·T`` forward, three times that for training (forward + backward):
    ``6N + 12·L·d·T``. ``N`` is the number of parameters taking part in matrix
    multiplications: the non-embedding parameters plus the output projection
    (``V·d``, tied or not), see :func:`model_flops_per_token`. The attention term
    counts ``QKᵀ`` and ``AV`` (``2·T·d`` multiply-adds per layer per token) over the
    full context ``T``, ignoring the causal mask. This is the convention of PaLM's
    model-FLOPs utilisation (Chowdhery et al. 2022, App. B) and of nanoGPT's MFU; Kaplan
    et al. (2020, Table 1) count ``6N + 6·L·d·T``, i.e. one of the two attention matmuls.
    """
    fwd = 2.0 * n_params + 4.0 * n_layer * d_model * context
    return 3.0 * fwd if training else fwd


def model_flops_per_token(cfg: ModelConfig, module: nn.Module | None = None, *, training: bool = True) -> float:
    """:func:`flops_per_token` for a :class:`ModelConfig` (N = non-embedding + V·d).

    With ``module`` given, N is counted from it (non-embedding parameters), which also
    covers registered architectures; otherwise the module is built.
    """
    if module is None:
        module = build_model(cfg, seed=0)
    n = count_params(module, exclude_embeddings=True)
    # The output projection is a V x d matmul per token whether or not it is tied to
    # the (excluded) input embedding; when untied it was already counted in n.
    if cfg.tie_embeddings:
        n += cfg.vocab_size * cfg.d_model
    return flops_per_token(n, cfg.n_layer, cfg.d_model, cfg.context, training=training)


# ---------------------------------------------------------------------------------------
# State dicts with tied weights, and model directories

CONFIG_FILE = "repro_lm.json"
WEIGHTS_FILE = "model.safetensors"


class WeightsFileError(ValueError):
    """A safetensors file (model weights, training checkpoint) cannot be read; the message names it."""

    def __init__(self, path: str | os.PathLike[str], cause: object) -> None:
        super().__init__(
            f"{path}: cannot read the safetensors file ({cause}): it is truncated or corrupted; "
            "delete it (and rerun the rule that writes it) or restore it"
        )


def unique_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with shared storage kept once (safetensors refuses aliased tensors).

    The first name of an aliased tensor wins; :func:`load_unique_state_dict` restores
    the aliases because it copies into the module's own (shared) tensors.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    for name, t in module.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key in seen:
            continue
        seen.add(key)
        out[name] = t.detach().contiguous().clone()
    return out


def load_unique_state_dict(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy ``tensors`` into ``module`` in place; every state entry must be covered."""
    own = module.state_dict()
    unknown = set(tensors) - set(own)
    if unknown:
        raise KeyError(f"unexpected tensors in checkpoint: {sorted(unknown)[:5]}")
    covered = set()
    by_storage = {}
    for name, t in own.items():
        by_storage.setdefault((t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape)), []).append(name)
    with torch.no_grad():
        for name, value in tensors.items():
            target = own[name]
            if target.shape != value.shape:
                raise ValueError(f"shape mismatch for {name}: {tuple(target.shape)} vs {tuple(value.shape)}")
            target.copy_(value.to(target.dtype))
            key = (target.untyped_storage().data_ptr(), target.storage_offset(), tuple(target.shape))
            covered.update(by_storage[key])
    missing = set(own) - covered
    if missing:
        raise KeyError(f"checkpoint lacks tensors: {sorted(missing)[:5]}")


def save_model_dir(
    path: str | os.PathLike[str],
    model: nn.Module,
    cfg: ModelConfig,
    tokenizer: Any | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a model directory atomically (config, safetensors weights, tokenizer).

    ``extra`` is stored in ``repro_lm.json`` under ``"extra"`` (e.g. training
    summary). Directories of the :data:`HF_ARCHS` also get an HF ``config.json``.
    """
    from safetensors.torch import save

    path = Path(path)
    with atomic_dir(path) as tmp:
        meta: dict[str, Any] = {"model": cfg.to_dict(), "format": 1, "extra": extra or {}}
        if cfg.arch not in HF_ARCHS:
            builder = _BUILDERS.get(cfg.arch)
            meta["builder_module"] = builder.__module__ if builder else None
        write_json(tmp / CONFIG_FILE, meta)
        inner = unwrap(model)
        tensors = {k: v.cpu() for k, v in unique_state_dict(inner).items()}
        atomic_write_bytes(tmp / WEIGHTS_FILE, save(tensors, metadata={"format": "pt"}))
        if isinstance(model, HFCausalLM):
            model.hf.config.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save(tmp)
    return path


def load_model_dir(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelConfig]:
    """Load a model directory written by :func:`save_model_dir` (model in eval mode)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta_path = path / CONFIG_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path} is not a repro model directory (no {CONFIG_FILE})")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    try:
        cfg = ModelConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{meta_path}: not a valid model config: {exc}") from exc
    if cfg.arch not in HF_ARCHS and cfg.arch not in _BUILDERS and meta.get("builder_module"):
        importlib.import_module(meta["builder_module"])  # registers the architecture
    try:  # read the weights before building the model: a bad file fails fast
        tensors = load_file(str(path / WEIGHTS_FILE))
    except (SafetensorError, OSError) as exc:
        raise WeightsFileError(path / WEIGHTS_FILE, exc) from exc
    model = build_model(cfg, seed=None)
    load_unique_state_dict(unwrap(model), tensors)
    return model.to(device).eval(), cfg


# ---------------------------------------------------------------------------------------
# Hugging Face checkpoints (issue 29, item 2)

HF_CONFIG_FILE = "config.json"
# The dtypes a checkpoint may be loaded in; "auto" picks by device (see resolve_dtype).
PRETRAINED_DTYPES = ("auto", "float32", "bfloat16", "float16")


class PretrainedLoadError(OSError):
    """A Hugging Face checkpoint cannot be loaded; the message names it and says what to do (issue 29, item 2).

    An ``OSError`` because that is what ``from_pretrained`` raises for a checkpoint it cannot find, so a caller
    that already handles those handles this too; the ``hf`` LLM backend turns it into its ``LLMError``.
    """


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the HF endpoint accepts a TCP connection (honours ``HF_ENDPOINT``; ``False`` when offline is set).

    Asked only after the local cache came up empty, so that an unreachable hub fails in seconds instead of
    transformers' minute of retries.
    """
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    u = urlparse(endpoint)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_like_path(name: str) -> bool:
    # A hub id is "name" or "owner/name"; more slashes, or a leading "/", "." or "~", can only mean a folder.
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def pretrained_source_kwargs(
    model: str | os.PathLike[str],
    *,
    revision: str | None = None,
    allow_download: bool = True,
    trust_remote_code: bool = False,
    probe: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """The ``from_pretrained`` keyword arguments that read ``model`` without surprises (issue 29, item 2).

    ``model`` is a local HF folder (it must hold ``config.json``) or a hub id. A hub id is read from the local
    Hugging Face cache when ``probe(model, local_files_only=True, ...)`` finds it there (``probe`` defaults to
    ``AutoConfig.from_pretrained``; the ``hf`` backend probes with its tokenizer, the first thing it loads); else
    the hub is used only when ``allow_download`` and it is reachable. Otherwise :class:`PretrainedLoadError`
    names the id and what to do, at once and without a network call when offline (``HF_HUB_OFFLINE``).
    """
    name = os.fspath(model)
    path = Path(name)
    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    if path.is_dir():
        if not (path / HF_CONFIG_FILE).is_file():
            hint = (
                "; it is a repro model directory, which load_model_dir reads" if (path / CONFIG_FILE).is_file() else ""
            )
            raise PretrainedLoadError(
                f"cannot load HF model {name!r}: the folder {path} has no {HF_CONFIG_FILE}, so it is not a "
                f"Hugging Face checkpoint{hint}"
            )
        return kwargs
    if path.exists() or _looks_like_path(name):
        raise PretrainedLoadError(
            f"cannot load HF model {name!r}: {path} is not a folder, and not a hub id (owner/name); "
            "pass a Hugging Face checkpoint folder or a hub id"
        )
    if probe is None:
        from transformers import AutoConfig

        probe = AutoConfig.from_pretrained
    try:
        probe(name, local_files_only=True, **kwargs)
        kwargs["local_files_only"] = True
    except OSError:
        if not allow_download or not hub_reachable():
            raise PretrainedLoadError(
                f"cannot load HF model {name!r}: it is not a local directory, not in the local "
                "Hugging Face cache, and the hub is unreachable or downloads are disabled "
                "(offline). Pass a local checkpoint path, or pre-download it on a machine with "
                "network access (huggingface-cli download) and set HF_HOME."
            ) from None
    return kwargs


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device = "cpu") -> torch.dtype:
    """``"auto"`` -> bf16 on CUDA, fp32 elsewhere; else the named floating-point dtype (``"bfloat16"``, ...).

    Unlike transformers' ``dtype="auto"`` (the checkpoint's own dtype) this depends on the device only: bf16 is
    the fast CUDA format, and CPUs compute fp32 fastest and most accurately.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if resolve_device(str(device)).type == "cuda" else torch.float32
    out = getattr(torch, dtype, None) if isinstance(dtype, str) else None
    if not isinstance(out, torch.dtype) or not out.is_floating_point:
        raise ValueError(
            f"dtype must be 'auto' or a floating-point torch dtype ({', '.join(PRETRAINED_DTYPES[1:])}), not {dtype!r}"
        )
    return out


def hf_from_pretrained(model: str | os.PathLike[str], dtype: torch.dtype, **kwargs: Any) -> nn.Module:
    """``AutoModelForCausalLM.from_pretrained(model, ...)`` in ``dtype`` on transformers 4 and 5.

    transformers 5 renamed ``torch_dtype=`` to ``dtype=``; pyproject allows both majors.
    """
    import transformers
    from transformers import AutoModelForCausalLM

    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    return AutoModelForCausalLM.from_pretrained(model, **{dtype_kw: dtype}, **kwargs)


def load_pretrained(
    model: str | os.PathLike[str],
    *,
    revision: str | None = None,
    dtype: str = "auto",
    device: str | torch.device = "cpu",
    allow_download: bool = True,
    trust_remote_code: bool = False,
) -> HFCausalLM:
    """A released (or :func:`save_pretrained`) Hugging Face causal LM, wrapped to the toolkit contract.

    Issue 29, item 2. ``model`` is a hub id (``"EleutherAI/pythia-160m"``) or a local HF folder; any causal-LM
    architecture ``transformers`` knows loads (``trust_remote_code`` admits the hub's own model code). A hub id
    comes from the local HF cache when it is there, and is downloaded only with ``allow_download`` and a
    reachable hub; otherwise, and for a folder without ``config.json``, :class:`PretrainedLoadError` says why.
    ``dtype``: ``"auto"`` (bf16 on CUDA, fp32 on CPU), ``"float32"``, ``"bfloat16"``, ``"float16"``;
    ``device``: ``"cpu"``, ``"cuda"``, ``"auto"``, ... The model comes back in eval mode on ``device``;
    :func:`repro.common.lm.trainer.train` fine-tunes it like a model from :func:`build_model`.
    """
    dev = resolve_device(str(device))
    torch_dtype = resolve_dtype(dtype, dev)
    kwargs = pretrained_source_kwargs(
        model, revision=revision, allow_download=allow_download, trust_remote_code=trust_remote_code
    )
    try:
        hf = hf_from_pretrained(model, torch_dtype, **kwargs)
    except OSError as exc:
        raise PretrainedLoadError(f"cannot load HF model {os.fspath(model)!r}: {exc}") from exc
    return wrap_hf(hf).to(dev).eval()


def _aligned_state_dict(hf: nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` checked against ``hf``'s own, with ``hf``'s tied names pointing at one tensor.

    Names that share a tensor in ``hf`` (tied input and output embeddings) get the caller's tensor for the first
    of them given, so that transformers drops the aliases as it does when it saves the model's own state; a
    gathered (e.g. FSDP full) state dict may hold them as separate copies, or only one of them.
    """
    own = hf.state_dict()
    unexpected = sorted(set(state_dict) - set(own))
    if unexpected:
        raise ValueError(
            f"state_dict has names the model lacks: {unexpected[:5]}; give the keys of the HF model's own "
            "state_dict (model.hf.state_dict() of a wrapped model, no 'hf.' prefix)"
        )
    groups: dict[tuple[int, int, tuple[int, ...]], list[str]] = {}
    for name, t in own.items():
        groups.setdefault((t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape)), []).append(name)
    out: dict[str, torch.Tensor] = {}
    for names in groups.values():
        given = [n for n in names if n in state_dict]
        if not given:
            raise ValueError(f"state_dict lacks {names[0]!r} (a full state dict is needed)")
        value = state_dict[given[0]]
        for n in given[1:]:
            if not torch.equal(state_dict[n].to(value.device), value):
                raise ValueError(f"state_dict: {n!r} differs from {given[0]!r}, but the model ties them")
        for n in names:
            if tuple(value.shape) != tuple(own[n].shape):
                raise ValueError(
                    f"state_dict: shape of {n!r} is {tuple(value.shape)}, the model's {tuple(own[n].shape)}"
                )
            out[n] = value
    return out


def save_pretrained(
    path: str | os.PathLike[str],
    model: nn.Module,
    tokenizer: Any | None = None,
    *,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model`` as a Hugging Face checkpoint folder, atomically; return ``path``.

    Issue 29, item 2. The folder holds ``config.json``, ``model.safetensors`` (or shards), the generation config
    when the model has one, and the tokenizer when given (an HF tokenizer's ``save_pretrained``, or the project
    tokenizer's ``save``), and loads with ``AutoModelForCausalLM.from_pretrained(path)`` (and so in vLLM) and
    :func:`load_pretrained`. A folder already at ``path`` is replaced whole. ``model`` is an HF model or one
    wrapped by :func:`wrap_hf`. ``state_dict`` replaces the model's weights in the file, e.g. the full weights
    gathered from a sharded (FSDP) model, under the keys of the HF model's own ``state_dict`` (no ``hf.``
    prefix).
    """
    from transformers import PreTrainedModel

    hf = unwrap(model)
    if not isinstance(hf, PreTrainedModel):
        raise TypeError(
            f"save_pretrained needs a Hugging Face model, not {type(hf).__name__}: a custom (register_model) "
            "architecture has no Hugging Face format; write it with save_model_dir (a repro model directory) instead"
        )
    if state_dict is not None:
        state_dict = _aligned_state_dict(hf, state_dict)
    save_tokenizer = None
    if tokenizer is not None:
        save_tokenizer = getattr(tokenizer, "save_pretrained", None) or getattr(tokenizer, "save", None)
        if not callable(save_tokenizer):
            raise TypeError(f"cannot save the tokenizer: {type(tokenizer).__name__} has no save_pretrained or save")
    kwargs: dict[str, Any] = {"state_dict": state_dict}
    # transformers 4 also writes pickled .bin files on request; 5 writes safetensors only and has no such option.
    if "safe_serialization" in inspect.signature(hf.save_pretrained).parameters:
        kwargs["safe_serialization"] = True
    path = Path(path)
    with atomic_dir(path) as tmp, quiet_transformers():
        hf.save_pretrained(tmp, **kwargs)
        if save_tokenizer is not None:
            save_tokenizer(tmp)
    return path


__all__ = [
    "HF_ARCHS",
    "HFCausalLM",
    "ModelConfig",
    "PretrainedLoadError",
    "WeightsFileError",
    "build_model",
    "count_params",
    "flops_per_token",
    "hf_config",
    "hf_from_pretrained",
    "hub_reachable",
    "load_model_dir",
    "load_pretrained",
    "load_unique_state_dict",
    "model_flops_per_token",
    "pretrained_source_kwargs",
    "register_model",
    "registered_models",
    "resolve_dtype",
    "save_model_dir",
    "save_pretrained",
    "unique_state_dict",
    "unwrap",
    "wrap_hf",
]
