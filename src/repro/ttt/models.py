"""Causal LMs for the TTT comparison: Transformer, Mamba, TTT-Linear / TTT-MLP in two backbones.

Sun et al. 2024, Sec. 3 ("Experiments") and App. on backbones: the three families are compared with the same
embedding, residual-block layout and LM head:

* ``transformer``: Llama-style pre-norm blocks, RMSNorm, SwiGLU MLP, RoPE, causal SDPA; KV-cache decode;
* ``mamba``: a stack of Mamba mixers (no separate MLP, as in Gu & Dao 2023);
* ``ttt_linear`` / ``ttt_mlp`` with ``backbone="T"``: the Transformer block with the TTT layer replacing
  attention; ``backbone="M"``: the Mamba-style TTT sublayer (θ_K = θ_Q shared, causal conv width 4 on
  Q and K, GELU output gate, post-LN), still followed by the SwiGLU MLP as in the paper's residual block.

Every model implements the contract of the shared trainer: ``forward(input_ids [B, T]) -> logits [B, T, V]``,
``num_parameters() -> int``, and decoding ``init_cache(batch)`` / ``step(token_ids [B], cache) ->
(logits [B, V], cache)``; ``prefill(input_ids) -> (logits, cache)`` fills the cache in one pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from repro.ttt.blocks import RMSNorm, SwiGLU, apply_rope, default_d_ff, rope_cos_sin
from repro.ttt.layers import TTTLayer, TTTLayerConfig
from repro.ttt.mamba import MambaConfig, MambaMixer

VARIANTS = ("transformer", "mamba", "ttt_linear", "ttt_mlp")


@dataclass
class LMConfig:
    """Architecture of one causal LM (defaults: the notes' toy scale, Sec. 6 of papers/ttt.md)."""

    variant: str = "transformer"  # one of VARIANTS
    backbone: str = "T"  # TTT only: "T" (Transformer backbone) or "M" (Mamba backbone)
    vocab_size: int = 256
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    context: int = 512  # training context; RoPE is computed on the fly, so decoding may go past it
    d_ff: int | None = None  # SwiGLU width; None = Llama's 8/3 d rounded to 32
    tie_embeddings: bool = True
    norm_eps: float = 1e-6
    init_std: float = 0.02
    rope_theta: float = 10_000.0
    # TTT layer (Table 1 ladder switches; see TTTLayerConfig for their meaning)
    mini_batch_size: int | None = 16
    use_ln_residual: bool = True
    learnable_eta: bool = True
    learnable_w0: bool = True
    inner_bias: bool = True
    eta_base: float | None = None  # None = paper default: 1.0 for TTT-Linear, 0.1 for TTT-MLP
    eta_head_dim_norm: bool = True
    eta_position_scale: bool = True
    ttt_form: str = "dual"
    # Mamba mixer
    mamba_d_state: int = 16
    mamba_d_inner: int | None = None  # None = mamba_expand * d_model
    mamba_expand: float = 2.0
    mamba_d_conv: int = 4
    mamba_scan: str = "sequential"  # fastest on a 2-core CPU; "chunked" computes the same
    mamba_chunk_size: int = 32

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.backbone not in ("T", "M"):
            raise ValueError(f"backbone must be 'T' or 'M', got {self.backbone!r}")

    @property
    def name(self) -> str:
        """Human-readable label, e.g. ``TTT-Linear (M)``."""
        base = {"transformer": "Transformer", "mamba": "Mamba", "ttt_linear": "TTT-Linear", "ttt_mlp": "TTT-MLP"}
        label = base[self.variant]
        return f"{label} ({self.backbone})" if self.variant.startswith("ttt") else label

    def ttt_layer_config(self) -> TTTLayerConfig:
        inner = "mlp" if self.variant == "ttt_mlp" else "linear"
        eta_base = self.eta_base if self.eta_base is not None else (0.1 if inner == "mlp" else 1.0)
        return TTTLayerConfig(
            d_model=self.d_model,
            n_head=self.n_head,
            inner=inner,
            mini_batch_size=self.mini_batch_size,
            use_ln_residual=self.use_ln_residual,
            learnable_eta=self.learnable_eta,
            learnable_w0=self.learnable_w0,
            inner_bias=self.inner_bias,
            eta_base=eta_base,
            eta_head_dim_norm=self.eta_head_dim_norm,
            eta_position_scale=self.eta_position_scale,
            backbone=self.backbone,
            form=self.ttt_form,
            init_std=self.init_std,
        )

    def mamba_config(self) -> MambaConfig:
        return MambaConfig(
            d_model=self.d_model,
            d_state=self.mamba_d_state,
            d_conv=self.mamba_d_conv,
            expand=self.mamba_expand,
            d_inner=self.mamba_d_inner,
            scan=self.mamba_scan,
            chunk_size=self.mamba_chunk_size,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------
# Attention with a KV cache
# ---------------------------------------------------------------------------------------------------


@dataclass
class KVCache:
    """Keys/values ``[B, H, capacity, d]`` of the tokens so far; capacity doubles when full."""

    k: Tensor
    v: Tensor
    length: int = 0

    def append(self, k: Tensor, v: Tensor) -> None:
        n = k.shape[2]
        need = self.length + n
        if need > self.k.shape[2]:
            cap = max(need, 2 * self.k.shape[2])
            grow = (0, 0, 0, cap - self.k.shape[2])
            self.k, self.v = F.pad(self.k, grow), F.pad(self.v, grow)
        self.k[:, :, self.length : need] = k
        self.v[:, :, self.length : need] = v
        self.length = need


class Attention(nn.Module):
    """Multi-head causal self-attention with RoPE (Llama), SDPA kernels, KV-cache decoding."""

    def __init__(self, d_model: int, n_head: int, rope_theta: float) -> None:
        super().__init__()
        self.n_head, self.head_dim, self.rope_theta = n_head, d_model // n_head, rope_theta
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def _qkv(self, x: Tensor, start: int) -> tuple[Tensor, Tensor, Tensor]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)
        pos = torch.arange(start, start + T, device=x.device)
        cos, sin = rope_cos_sin(pos, self.head_dim, self.rope_theta, x.dtype)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def init_state(self, batch: int, capacity: int = 256) -> KVCache:
        w = self.o_proj.weight
        shape = (batch, self.n_head, capacity, self.head_dim)
        return KVCache(
            torch.zeros(shape, dtype=w.dtype, device=w.device), torch.zeros(shape, dtype=w.dtype, device=w.device), 0
        )

    def prefill(self, x: Tensor, state: KVCache | None = None) -> tuple[Tensor, KVCache]:
        B, T, D = x.shape
        if state is None:
            state = self.init_state(B, capacity=max(256, T))
        start = state.length
        q, k, v = self._qkv(x, start)
        state.append(k, v)
        if start == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # continuing a sequence: query i sees all cached keys and the new keys up to i
            keys, vals = state.k[:, :, : state.length], state.v[:, :, : state.length]
            mask = torch.ones(T, state.length, dtype=torch.bool, device=x.device).tril(diagonal=start)
            y = F.scaled_dot_product_attention(q, keys, vals, attn_mask=mask)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, D)), state

    def forward(self, x: Tensor) -> Tensor:
        B, T, D = x.shape
        q, k, v = self._qkv(x, 0)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, D))

    def step(self, x: Tensor, state: KVCache) -> tuple[Tensor, KVCache]:
        """One token ``x [B, D]`` attends to every cached key: ``O(context)`` per token."""
        B, D = x.shape
        q, k, v = self._qkv(x[:, None], state.length)
        state.append(k, v)
        y = F.scaled_dot_product_attention(q, state.k[:, :, : state.length], state.v[:, :, : state.length])
        return self.o_proj(y.reshape(B, D)), state


# ---------------------------------------------------------------------------------------------------
# Blocks and the LM
# ---------------------------------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """Pre-norm residual block ``x + mixer(norm(x))`` (+ ``x + MLP(norm(x))`` unless ``d_ff`` is 0)."""

    def __init__(self, mixer: nn.Module, d_model: int, d_ff: int, eps: float) -> None:
        super().__init__()
        self.mixer_norm = RMSNorm(d_model, eps)
        self.mixer = mixer
        self.mlp: SwiGLU | None = None
        if d_ff > 0:
            self.mlp_norm = RMSNorm(d_model, eps)
            self.mlp = SwiGLU(d_model, d_ff)

    def _mlp(self, x: Tensor) -> Tensor:
        return x if self.mlp is None else x + self.mlp(self.mlp_norm(x))

    def forward(self, x: Tensor) -> Tensor:
        return self._mlp(x + self.mixer(self.mixer_norm(x)))

    def prefill(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        y, state = self.mixer.prefill(self.mixer_norm(x), state)
        return self._mlp(x + y), state

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        y, state = self.mixer.step(self.mixer_norm(x), state)
        return self._mlp(x + y), state


@dataclass
class LMCache:
    """Per-layer decode states and the number of tokens consumed."""

    layers: list[Any] = field(default_factory=list)
    length: int = 0


class CausalLM(nn.Module):
    """Token embedding -> residual blocks -> RMSNorm -> (tied) LM head."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, D)
        d_ff = cfg.d_ff if cfg.d_ff is not None else default_d_ff(D)
        blocks = []
        for _ in range(cfg.n_layer):
            if cfg.variant == "transformer":
                blocks.append(ResidualBlock(Attention(D, cfg.n_head, cfg.rope_theta), D, d_ff, cfg.norm_eps))
            elif cfg.variant == "mamba":
                blocks.append(ResidualBlock(MambaMixer(cfg.mamba_config()), D, 0, cfg.norm_eps))
            else:
                blocks.append(ResidualBlock(TTTLayer(cfg.ttt_layer_config()), D, d_ff, cfg.norm_eps))
        self.blocks = nn.ModuleList(blocks)
        self.norm = RMSNorm(D, cfg.norm_eps)
        self.lm_head = nn.Linear(D, cfg.vocab_size, bias=False)
        self._init_weights()
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed.weight

    def _init_weights(self) -> None:
        """GPT-2/Llama init: N(0, 0.02) for embeddings and the attention/MLP projections.

        TTT and Mamba mixers initialise their own parameters (η gate, W0, Δ bias, A) in their constructors.
        """
        std = self.cfg.init_std
        nn.init.normal_(self.embed.weight, std=std)
        nn.init.normal_(self.lm_head.weight, std=std)
        for mod in self.modules():
            if isinstance(mod, (Attention, SwiGLU)):
                for lin in mod.modules():
                    if isinstance(lin, nn.Linear):
                        nn.init.normal_(lin.weight, std=std)

    @property
    def context(self) -> int:
        """Training context length (the shared toolkit's optional ``context`` attribute)."""
        return self.cfg.context

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of trainable parameters (a tied embedding counted once)."""
        n = sum(p.numel() for p in self.parameters() if p.requires_grad)
        if exclude_embeddings:
            n -= self.embed.weight.numel()
            if not self.cfg.tie_embeddings:
                n -= self.lm_head.weight.numel()
        return n

    def forward(self, input_ids: Tensor) -> Tensor:
        """``input_ids [B, T]`` -> next-token logits ``[B, T, V]``."""
        x = self.embed(input_ids)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.norm(x))

    def init_cache(self, batch: int) -> LMCache:
        """Decode cache of an empty sequence."""
        return LMCache([block.mixer.init_state(batch) for block in self.blocks], 0)

    def prefill(self, input_ids: Tensor, cache: LMCache | None = None) -> tuple[Tensor, LMCache]:
        """Like ``forward`` but also returns the cache after the last token (TTT: dual form prefill)."""
        states = [None] * len(self.blocks) if cache is None else cache.layers
        x = self.embed(input_ids)
        new_states = []
        for block, state in zip(self.blocks, states):
            x, state = block.prefill(x, state)
            new_states.append(state)
        length = (0 if cache is None else cache.length) + input_ids.shape[1]
        return self.lm_head(self.norm(x)), LMCache(new_states, length)

    def step(self, token_ids: Tensor, cache: LMCache) -> tuple[Tensor, LMCache]:
        """One decoding step: ``token_ids [B]`` -> ``(logits [B, V], cache)`` (TTT: primal form)."""
        x = self.embed(token_ids)
        new_states = []
        for block, state in zip(self.blocks, cache.layers):
            x, state = block.step(x, state)
            new_states.append(state)
        return self.lm_head(self.norm(x)), LMCache(new_states, cache.length + 1)


def build_model(cfg: LMConfig) -> CausalLM:
    """The factory used by the trainer and the benchmarks."""
    return CausalLM(cfg)


# ---------------------------------------------------------------------------------------------------
# Equal parameter counts, Table-1 ladder
# ---------------------------------------------------------------------------------------------------


def count_parameters(cfg: LMConfig) -> int:
    """Parameters of ``build_model(cfg)``, counted without allocating weights (meta device).

    The blocks are identical, so the count is linear in ``n_layer``: two one- and two-layer builds give it
    exactly (building a 24-layer paper-scale model dozens of times during width matching is slow).
    """
    if cfg.n_layer <= 2:
        with torch.device("meta"):
            return build_model(cfg).num_parameters()
    one, two = count_parameters(replace(cfg, n_layer=1)), count_parameters(replace(cfg, n_layer=2))
    return one + (cfg.n_layer - 1) * (two - one)


def match_parameters(cfg: LMConfig, target: int, knob: str | None = None, multiple_of: int = 8) -> LMConfig:
    """Adjust one width of ``cfg`` so that its parameter count is as close as possible to ``target``.

    ``knob`` is ``"d_ff"`` (default for Transformer/TTT: the SwiGLU width) or ``"mamba_d_inner"`` (default
    for Mamba: the SSM expansion width). The parameter count is monotone in either, so a bisection over
    multiples of ``multiple_of`` finds the best value. This is how the paper compares architectures at
    equal parameter count (Sec. 3: "the same number of parameters" per size).
    """
    knob = knob or ("mamba_d_inner" if cfg.variant == "mamba" else "d_ff")
    if knob not in ("d_ff", "mamba_d_inner"):
        raise ValueError(f"knob must be 'd_ff' or 'mamba_d_inner', got {knob!r}")
    lo, hi = 1, 1
    while count_parameters(replace(cfg, **{knob: hi * multiple_of})) < target:
        hi *= 2
        if hi > 1 << 20:
            raise ValueError(f"cannot reach {target} parameters by growing {knob}")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count_parameters(replace(cfg, **{knob: mid * multiple_of})) < target:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda m: abs(count_parameters(replace(cfg, **{knob: m * multiple_of})) - target))
    return replace(cfg, **{knob: best * multiple_of})


def equal_parameter_configs(
    base: LMConfig, variants: list[tuple[str, str]] | None = None, mamba_layers_per_block: int = 2
) -> dict[str, LMConfig]:
    """Configs of the three families with the parameter count of ``base`` (a Transformer config).

    ``variants`` lists ``(variant, backbone)`` pairs; by default the paper's six: Transformer, Mamba,
    TTT-Linear (T/M), TTT-MLP (T/M). A Mamba layer has about half the parameters of a Transformer block, so
    Mamba gets ``mamba_layers_per_block`` layers per block (as in Gu & Dao 2023) before its width is matched.
    """
    variants = variants or [
        ("transformer", "T"),
        ("mamba", "T"),
        ("ttt_linear", "T"),
        ("ttt_linear", "M"),
        ("ttt_mlp", "T"),
        ("ttt_mlp", "M"),
    ]
    target_cfg = replace(base, variant="transformer", backbone="T")
    target = count_parameters(target_cfg)
    out: dict[str, LMConfig] = {}
    for variant, backbone in variants:
        cfg = replace(base, variant=variant, backbone=backbone)
        if variant == "transformer":
            out[cfg.name] = target_cfg
            continue
        if variant == "mamba":
            cfg = replace(cfg, n_layer=base.n_layer * mamba_layers_per_block)
        out[cfg.name] = match_parameters(cfg, target)
    return out


def ladder_configs(base: LMConfig) -> dict[str, LMConfig]:
    """The Table-1 ladder (Sec. 3.1 of the paper's ablation), each row adding one component.

    1. "Linear attention (TTT equivalence)": TTT-Linear with ``f = W x``, ``W0 = 0``, batch GD (b = T),
       constant ``η = 1/2`` (Theorem 1: exactly causal linear attention);
    2. "+ learnable W0"; 3. "+ LN and residual"; 4. "+ mini-batch TTT" (b = ``base.mini_batch_size``);
    5. "+ learnable η"; 6. "+ Mamba backbone".
    Rows 1-4 use the paper's plain equations (no 1/head_dim or 1/(i+1) factors); rows 5-6 turn on the
    learnable η gate together with the official code's normalisations, which is how the full model trains.
    """
    b = base.mini_batch_size
    row1 = replace(
        base,
        variant="ttt_linear",
        backbone="T",
        mini_batch_size=None,
        use_ln_residual=False,
        learnable_eta=False,
        learnable_w0=False,
        inner_bias=False,
        eta_base=0.5,
        eta_head_dim_norm=False,
        eta_position_scale=False,
    )
    row2 = replace(row1, learnable_w0=True)
    row3 = replace(row2, use_ln_residual=True, inner_bias=True)
    row4 = replace(row3, mini_batch_size=b)
    row5 = replace(row4, learnable_eta=True, eta_base=1.0, eta_head_dim_norm=True, eta_position_scale=True)
    row6 = replace(row5, backbone="M")
    return {
        "linear attention (TTT equivalence)": row1,
        "+ learnable W0": row2,
        "+ LN and residual": row3,
        "+ mini-batch TTT": row4,
        "+ learnable eta": row5,
        "+ Mamba backbone": row6,
    }


# ---------------------------------------------------------------------------------------------------
# Registration with the shared toolkit (repro.common.lm): build_model(ModelConfig(arch="ttt_linear", ...))
# ---------------------------------------------------------------------------------------------------


def lm_config_from_toolkit(mc: Any) -> LMConfig:
    """``LMConfig`` from a ``repro.common.lm.ModelConfig``: shared fields map one to one, ``mc.extra`` holds
    the TTT/Mamba-specific ones (e.g. ``{"mini_batch_size": 16, "learnable_eta": False}``)."""
    from repro.ttt.archs import toolkit_arch

    arch = toolkit_arch(mc.arch)
    variant, backbone = arch.variant, arch.backbone
    if mc.dropout or (mc.n_kv_head is not None and mc.n_kv_head != mc.n_head):
        raise ValueError("the ttt models have no dropout and no grouped-query attention")
    known = set(LMConfig.__dataclass_fields__) - {"variant", "backbone"}
    unknown = set(mc.extra) - known
    if unknown:
        raise ValueError(f"unknown extra keys for {mc.arch}: {sorted(unknown)}")
    return LMConfig(
        variant=variant,
        backbone=backbone,
        vocab_size=mc.vocab_size,
        d_model=mc.d_model,
        n_layer=mc.n_layer,
        n_head=mc.n_head,
        context=mc.context,
        d_ff=mc.d_ff,
        tie_embeddings=mc.tie_embeddings,
        rope_theta=mc.rope_theta,
        **dict(mc.extra),
    )


def _register_with_toolkit() -> None:
    try:
        from repro.common.lm.models import register_model
    except ImportError:  # the shared toolkit is optional for this library
        return
    from repro.ttt.archs import ARCHS

    for arch in ARCHS.values():
        register_model(arch.toolkit)(_toolkit_builder)


def _toolkit_builder(mc: Any) -> CausalLM:
    return build_model(lm_config_from_toolkit(mc))


_register_with_toolkit()
