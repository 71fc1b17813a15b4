"""Typed configs of the maskembed steps, built once from params.yaml at the adapter.

One config per step that takes one (``repro.common.steps.build_config`` builds it with named-key errors):
the data spec, the per-seed pretrain and align runs, the probe and spatial-QA evaluations and the
paper-scale VLM stage, with the backbone spec they share. The method-level configs they nest stay with
their method (:class:`~repro.maskembed.vit.ViTConfig`, :class:`~repro.maskembed.scenes.SceneConfig`,
:class:`~repro.maskembed.pretrain.PretrainConfig`, :class:`~repro.maskembed.maskembed.AlignConfig`,
:class:`~repro.maskembed.probes.ProbeConfig`, :class:`~repro.maskembed.spatial.QAConfig`,
:class:`~repro.maskembed.runtime.Runtime`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from repro.maskembed.maskembed import AlignConfig
from repro.maskembed.pretrain import PretrainConfig
from repro.maskembed.probes import ProbeConfig
from repro.maskembed.runtime import Runtime
from repro.maskembed.scenes import SceneConfig
from repro.maskembed.spatial import QAConfig
from repro.maskembed.vit import ViTConfig

__all__ = [
    "AlignStepConfig",
    "BackboneSpec",
    "DataSpec",
    "PretrainStepConfig",
    "ProbeStepConfig",
    "SpatialStepConfig",
    "VlmSpec",
    "VlmStepConfig",
]


@dataclass(frozen=True)
class BackboneSpec:
    """Which backbone (params ``backbone``): the tiny ViT trained here, or a timm model by id (paper scale)."""

    source: str = "tiny"  # tiny | timm
    timm_ids: tuple[str, ...] = ()  # paper scale: the backbones aligned and probed
    arch: ViTConfig = field(default_factory=ViTConfig)


@dataclass(frozen=True)
class DataSpec:
    """Data source (params ``data``): the synthetic scenes here; named datasets at paper scale."""

    source: str = "synthetic"  # synthetic | imagenet21k (paper scale)
    scenes: SceneConfig = field(default_factory=SceneConfig)
    align_dataset: str = ""  # paper scale: alignment data (ImageNet-21k)
    probe_datasets: tuple[str, ...] = ()  # paper scale: COCO-Stuff, ADE20k


@dataclass(frozen=True)
class PretrainStepConfig:
    seed: int
    backbone: BackboneSpec
    pretrain: PretrainConfig
    runtime: Runtime


@dataclass(frozen=True)
class AlignStepConfig:
    seed: int
    arm: str  # maskembed | control
    backbone: BackboneSpec
    align: AlignConfig
    runtime: Runtime


@dataclass(frozen=True)
class ProbeStepConfig:
    seeds: tuple[int, ...]
    backbone: BackboneSpec
    align: AlignConfig
    probe: ProbeConfig
    runtime: Runtime


@dataclass(frozen=True)
class SpatialStepConfig:
    seeds: tuple[int, ...]
    backbone: BackboneSpec
    align: AlignConfig
    spatial_qa: QAConfig
    runtime: Runtime


@dataclass(frozen=True)
class VlmSpec:
    """Paper Sec. 5: the Prismatic VLM stage (params ``vlm``; paper scale only)."""

    llm: str
    recipe: str
    arms: tuple[str, ...]
    benchmarks: tuple[str, ...]


@dataclass(frozen=True)
class VlmStepConfig:
    backbone: BackboneSpec
    vlm: VlmSpec
