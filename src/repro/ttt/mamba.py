"""Mamba (selective state-space) block in plain PyTorch: the paper's RNN baseline.

Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", Sec. 3 (Algorithm 2,
the selective SSM) and Sec. 3.4 (the block): input projection to ``2E`` (x and gate z), causal depthwise
convolution (width 4) and SiLU on x, input-dependent ``Δ, B, C`` (selection), a diagonal ``A`` with S4D-real
initialisation ``A_n = −(n + 1)``, zero-order-hold discretisation ``Ā = exp(ΔA)``, ``B̄ = ΔB`` (the
simplified Euler form used by the reference implementation), skip ``D``, SiLU gate, output projection.

Two scans compute the same recurrence ``h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t x_t``, ``y_t = C_t · h_t``:

* ``selective_scan_sequential``: one step per token (the reference; also what decoding does);
* ``selective_scan_chunked``: within chunks of L tokens, a log-depth parallel (doubling) scan of the
  associative affine maps ``h ↦ a_t h + b_t`` (all chunks at once), then the state is carried
  sequentially across the ``T / L`` chunk boundaries.

On a 2-core CPU the sequential scan is the faster of the two at the toy widths (its per-token work is a
few thousand elements, so interpreter overhead is small); the chunked scan is the GPU-shaped one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from repro.ttt.blocks import CausalDepthwiseConv1d


def selective_scan_sequential(
    u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, C: Tensor, h0: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Selective scan, one token at a time.

    Args:
        u, delta: input and step sizes ``[B, T, E]``; A: ``[E, N]`` (negative); Bm, C: ``[B, T, N]``;
        h0: initial state ``[B, E, N]`` (zeros if None).
    Returns:
        ``y [B, T, E]`` (without the D skip) and the final state ``[B, E, N]``.
    """
    Bsz, T, E = u.shape
    h = u.new_zeros(Bsz, E, A.shape[1]) if h0 is None else h0
    ys = []
    # discretising inside the loop (not all T steps up front) keeps the working set at [B, E, N]; measured
    # 1.6x faster for forward + backward on CPU than precomputing the [B, T, E, N] decays and inputs
    for t in range(T):
        d = delta[:, t, :, None]
        h = torch.exp(d * A) * h + d * Bm[:, t, None, :] * u[:, t, :, None]
        ys.append((h * C[:, t, None, :]).sum(-1))
    return torch.stack(ys, dim=1), h


def selective_scan_chunked(
    u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, C: Tensor, h0: Tensor | None = None, chunk_size: int = 32
) -> tuple[Tensor, Tensor]:
    """Selective scan, parallel inside chunks of ``chunk_size`` tokens, sequential across chunks.

    Same signature and result as ``selective_scan_sequential``. The recurrence ``h_t = a_t h_{t−1} + b_t``
    is a composition of affine maps, which is associative, so inside every chunk (all chunks at once) a
    log-depth doubling scan (Hillis & Steele 1986) gives the states from a zero start and the cumulative
    decays ``Π a``; only multiplications by decays ≤ 1 occur, so nothing overflows. A short loop over the
    ``T / L`` chunk boundaries then carries the true state in: ``h_t = h^loc_t + (Π_{r≤t} a_r) h_start``.
    Work ``O(T E N log L)``, Python iterations ``log L + T / L`` instead of ``T``.
    """
    Bsz, T, E = u.shape
    N = A.shape[1]
    L = max(1, min(chunk_size, T))
    n_chunks = -(-T // L)
    pad = n_chunks * L - T
    d = delta[..., None]
    log_a = d * A  # [B, T, E, N]
    b = d * Bm[:, :, None, :] * u[..., None]
    if pad:  # padded steps are identities: decay 1 (log 0), no input
        log_a = F.pad(log_a, (0, 0, 0, 0, 0, pad))
        b = F.pad(b, (0, 0, 0, 0, 0, pad))
    a = torch.exp(log_a).reshape(Bsz, n_chunks, L, E, N)
    b = b.reshape(Bsz, n_chunks, L, E, N)
    k = 1
    while k < L:  # after the pass with offset k, position t combines steps (t − 2k, t]
        b = torch.cat([b[:, :, :k], b[:, :, k:] + a[:, :, k:] * b[:, :, :-k]], dim=2)
        a = torch.cat([a[:, :, :k], a[:, :, k:] * a[:, :, :-k]], dim=2)
        k *= 2
    h = u.new_zeros(Bsz, E, N) if h0 is None else h0
    starts = []
    for c in range(n_chunks):
        starts.append(h)
        h = b[:, c, -1] + a[:, c, -1] * h
    hs = (b + a * torch.stack(starts, dim=1)[:, :, None]).reshape(Bsz, n_chunks * L, E, N)[:, :T]
    # final state: the last real token's state (padding steps are identities, so h equals it too)
    return (hs * C[:, :, None, :]).sum(-1), hs[:, -1]


@dataclass
class MambaConfig:
    """One Mamba mixer (defaults follow the Mamba paper's block)."""

    d_model: int = 128
    d_state: int = 16  # N
    d_conv: int = 4  # causal conv width
    expand: float = 2.0  # E = expand * d_model unless d_inner is given
    d_inner: int | None = None
    dt_rank: int | None = None  # None = ceil(d_model / 16)
    dt_min: float = 1e-3  # Δ initialised log-uniformly in [dt_min, dt_max]
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    scan: str = "chunked"  # prefill scan: "chunked" | "sequential"
    chunk_size: int = 32

    @property
    def inner(self) -> int:
        return self.d_inner if self.d_inner is not None else int(round(self.expand * self.d_model))

    @property
    def rank(self) -> int:
        return self.dt_rank if self.dt_rank is not None else math.ceil(self.d_model / 16)


@dataclass
class MambaState:
    """Decode cache: the last ``d_conv − 1`` conv inputs ``[B, E, k−1]`` and the SSM state ``[B, E, N]``."""

    conv: Tensor
    ssm: Tensor


class MambaMixer(nn.Module):
    """The Mamba block's mixer (Gu & Dao 2023, Fig. 3): ``[B, T, D] -> [B, T, D]``."""

    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D, E, N, R = cfg.d_model, cfg.inner, cfg.d_state, cfg.rank
        self.in_proj = nn.Linear(D, 2 * E, bias=False)
        self.conv = CausalDepthwiseConv1d(E, cfg.d_conv)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.out_proj = nn.Linear(E, D, bias=False)
        # Δ projection: weights ~ U(±R^-1/2); bias = softplus⁻¹(Δ0) with Δ0 log-uniform in [dt_min, dt_max]
        nn.init.uniform_(self.dt_proj.weight, -(R**-0.5), R**-0.5)
        dt = torch.exp(torch.rand(E) * (math.log(cfg.dt_max) - math.log(cfg.dt_min)) + math.log(cfg.dt_min))
        dt = dt.clamp(min=cfg.dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        # S4D-real: A_n = −(n + 1), stored as log(−A) so that A stays negative during training
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1))
        self.D = nn.Parameter(torch.ones(E))

    def _ssm_inputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Selection: ``Δ = softplus(dt_proj(x W_Δ))``, ``B``, ``C`` from the conv output; and ``A``."""
        cfg = self.cfg
        dbc = self.x_proj(x)
        dt, Bm, C = torch.split(dbc, [cfg.rank, cfg.d_state, cfg.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        return delta, Bm, C, -torch.exp(self.A_log.to(x.dtype))

    def init_state(self, batch: int) -> MambaState:
        p = self.D
        return MambaState(
            self.conv.init_state(batch),
            torch.zeros(batch, self.cfg.inner, self.cfg.d_state, device=p.device, dtype=p.dtype),
        )

    def prefill(self, x: Tensor, state: MambaState | None = None, scan: str | None = None) -> tuple[Tensor, MambaState]:
        """``x [B, T, D]`` from ``state`` (fresh if None) -> ``(y [B, T, D], state)``."""
        xs, z = self.in_proj(x).chunk(2, dim=-1)
        xs, conv_state = self.conv(xs, None if state is None else state.conv)
        xs = F.silu(xs)
        delta, Bm, C, A = self._ssm_inputs(xs)
        h0 = None if state is None else state.ssm
        scan = scan or self.cfg.scan
        if scan == "sequential":
            y, h = selective_scan_sequential(xs, delta, A, Bm, C, h0)
        elif scan == "chunked":
            y, h = selective_scan_chunked(xs, delta, A, Bm, C, h0, self.cfg.chunk_size)
        else:
            raise ValueError(f"scan must be 'sequential' or 'chunked', got {scan!r}")
        y = (y + self.D * xs) * F.silu(z)
        return self.out_proj(y), MambaState(conv_state, h)

    def forward(self, x: Tensor) -> Tensor:
        return self.prefill(x)[0]

    def step(self, x: Tensor, state: MambaState) -> tuple[Tensor, MambaState]:
        """Decode one token ``x [B, D]``: ``O(E · N)`` work, independent of the context length."""
        xs, z = self.in_proj(x).chunk(2, dim=-1)
        xs, conv_state = self.conv.step(xs, state.conv)
        xs = F.silu(xs)
        delta, Bm, C, A = self._ssm_inputs(xs)
        d = delta[..., None]
        h = torch.exp(d * A) * state.ssm + d * Bm[:, None, :] * xs[..., None]
        y = (h * C[:, None, :]).sum(-1) + self.D * xs
        return self.out_proj(y * F.silu(z)), MambaState(conv_state, h)
