"""The one registry of the ttt architectures (Sun et al. 2024, Sec. 3: the compared models).

Every place that names an architecture reads this table: the experiment runs
(:mod:`repro.ttt.runs`), the latency sweep (:mod:`repro.ttt.latency`), the shared
toolkit's model registry (:mod:`repro.ttt.models`), the figures' colours, and the
``archs`` enums of ``workflow/schemas/ttt.schema.yaml`` (a test checks they match).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    """One architecture: the :class:`repro.ttt.models.LMConfig` variant and backbone, its name in the
    shared toolkit's model registry, and its plot colour."""

    variant: str  # LMConfig.variant: transformer | mamba | ttt_linear | ttt_mlp
    backbone: str  # "T" (Transformer backbone) or "M" (Mamba backbone: TTT layer + temporal conv)
    toolkit: str  # name in repro.common.lm.models' registry (build_model(ModelConfig(arch=...)))
    color: str  # matplotlib colour of the figures


ARCHS: dict[str, Arch] = {
    "transformer": Arch("transformer", "T", "ttt_transformer", "C0"),
    "mamba": Arch("mamba", "T", "ttt_mamba", "C1"),
    "ttt_linear": Arch("ttt_linear", "T", "ttt_linear", "C2"),
    "ttt_mlp": Arch("ttt_mlp", "T", "ttt_mlp", "C3"),
    "ttt_linear_m": Arch("ttt_linear", "M", "ttt_linear_m", "C4"),  # TTT-Linear (M)
    "ttt_mlp_m": Arch("ttt_mlp", "M", "ttt_mlp_m", "C5"),  # TTT-MLP (M)
}


def get_arch(name: str) -> Arch:
    """The registered architecture ``name``; an unknown name lists those that exist."""
    try:
        return ARCHS[name]
    except KeyError:
        raise KeyError(f"unknown ttt architecture {name!r}; registered: {sorted(ARCHS)}") from None


def toolkit_arch(name: str) -> Arch:
    """The architecture registered in the shared toolkit under ``name`` (e.g. ``ttt_transformer``)."""
    for arch in ARCHS.values():
        if arch.toolkit == name:
            return arch
    raise KeyError(f"unknown ttt toolkit model {name!r}; registered: {sorted(a.toolkit for a in ARCHS.values())}")
