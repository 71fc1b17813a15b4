"""The workflow steps of maskembed (rule maskembed__<step> -> <step>_step; numbers under ``<step>.``).

* data: the seeded synthetic scenes (train / test npz) (notes Sec. 6).
* pretrain (seed): the image-level-supervised backbone, the "CLIP stand-in" (paper Sec. 3).
* align (seed, arm): MaskEmbed post-training (arm ``maskembed``, the paper's uniform antithetical masks + null
  mask) or the control (arm ``control``: the same training with the all-ones mask only) (paper Sec. 3, Alg. 1).
* probe: patch-level segmentation probes (linear, transformer) on the frozen backbone before alignment, after
  MaskEmbed and after the control, over the seeds (paper Sec. 4.1, Fig. 3), beside no-image floors.
* spatial_qa: the VLM stand-in on templated spatial questions, same backbones and seeds (paper Sec. 5), beside a
  count-based floor.

Paper scale names the real backbones (timm ids), datasets and the Prismatic VLM stage; its compute needs timm,
torchvision, the datasets and GPUs, none of which exist here: those paths raise
:class:`~repro.maskembed.runtime.PaperScaleError`.

This module holds the step functions only; their typed configs are in :mod:`repro.maskembed.config`, the
method in :mod:`.vit`, :mod:`.pretrain`, :mod:`.maskembed` (alignment, loading the trained encoders),
:mod:`.probes`, :mod:`.spatial` and :mod:`.scenes` (the data and its npz splits).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from repro.common.declarations import step
from repro.common.io import atomic_open
from repro.common.seeds import seed_everything
from repro.common.steps import StepResult
from repro.maskembed.config import (
    AlignStepConfig,
    BackboneSpec,
    DataSpec,
    PretrainStepConfig,
    ProbeStepConfig,
    SpatialStepConfig,
    VlmStepConfig,
)
from repro.maskembed.maskembed import SAMPLER, align, load_encoders
from repro.maskembed.pretrain import image_labels, predict_images, train_backbone
from repro.maskembed.probes import (
    extract_tokens,
    floor_metrics,
    predict,
    segmentation_metrics,
    train_probe,
)
from repro.maskembed.runtime import PaperScaleError
from repro.maskembed.scenes import CLASSES, load_npz, make_dataset
from repro.maskembed.spatial import (
    ANSWERS,
    TEMPLATES,
    accuracy_by_template,
    answer,
    floor_predictions,
    make_questions,
    train_vlm,
)
from repro.maskembed.vit import load_backbone, save_weights

log = logging.getLogger(__name__)


# --- glue ------------------------------------------------------------------------------------------


def _require_tiny(backbone: BackboneSpec, what: str) -> None:
    if backbone.source != "tiny":
        raise PaperScaleError(
            f"maskembed {what}: backbone.source={backbone.source!r} ({', '.join(backbone.timm_ids)}) needs timm "
            "with torchvision, pretrained weights, the paper's datasets and GPUs; only backbone.source='tiny' "
            "runs offline here (params.yaml maskembed.base names the paper-scale settings)"
        )


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _seed_stats(numbers: dict, key: str, grp: pd.DataFrame, metric: str) -> None:
    """``key`` (mean over seeds), ``key_std`` (ddof=1) and ``key.per_seed`` (one value per seed, seed order)."""
    values = [float(v) for v in grp.sort_values("seed")[metric]]
    numbers[key], numbers[f"{key}_std"] = _mean_std(values)
    numbers[f"{key}.per_seed"] = values


# --- steps -----------------------------------------------------------------------------------------


@step(
    not_run={
        "paper": (
            "timm CLIP/SigLIP backbones and the ImageNet-21k, COCO-Stuff and ADE20k"
            " loaders are not implemented (issue 38); only backbone.source='tiny' "
            "and data.source='synthetic' run"
        )
    }
)
def data_step(inputs: Mapping[str, Path], config: DataSpec, outputs: Mapping[str, Path]) -> StepResult:
    """Notes Sec. 6: the seeded scenes (paper: ImageNet-21k for alignment, COCO-Stuff / ADE20k for probes)."""
    if config.source != "synthetic":
        raise PaperScaleError(
            f"maskembed data: source={config.source!r} ({config.align_dataset}; probes on "
            f"{', '.join(config.probe_datasets)}) is not available offline; use data.source=synthetic"
        )
    data = make_dataset(config.scenes)
    for split in ("train", "test"):
        with atomic_open(outputs[split], "wb") as fh:
            np.savez_compressed(fh, **data[split])
    lab = data["train"]["labels"]
    objs = data["train"]["objects"]
    return StepResult(
        numbers={
            "data": {
                "n_train": len(lab),
                "n_test": len(data["test"]["labels"]),
                "n_classes": len(CLASSES),
                "n_patches": lab.shape[1],
                "patch_positive_rate": float(lab.mean()),
                "objects_per_image": float((objs[..., 0] >= 0).sum(1).mean()),
                "classes_per_image": float(image_labels(lab).sum(1).mean()),
            }
        },
        files=("train", "test"),
    )


@step(
    reads=(),
    merged=False,
    not_run={
        "paper": (
            "timm CLIP/SigLIP backbones and the ImageNet-21k, COCO-Stuff and ADE20k"
            " loaders are not implemented (issue 38); only backbone.source='tiny' "
            "and data.source='synthetic' run"
        )
    },
)
def pretrain_step(inputs: Mapping[str, Path], config: PretrainStepConfig, outputs: Mapping[str, Path]) -> StepResult:
    """Paper Sec. 3: the image-level-supervised backbone (multi-label BCE on the CLS token)."""
    _require_tiny(config.backbone, "pretrain")
    seed_everything(config.seed, torch_threads=config.runtime.threads)
    train = load_npz(inputs["train"])
    model, history = train_backbone(
        train["images"],
        image_labels(train["labels"]),
        config.backbone.arch,
        config.pretrain,
        config.runtime,
        config.seed,
    )
    save_weights(model.cpu(), outputs["weights"])
    return StepResult(records={"history": {"loss": history, "seed": config.seed}}, files=("weights",))


@step(
    reads=(),
    merged=False,
    not_run={
        "paper": (
            "timm CLIP/SigLIP backbones and the ImageNet-21k, COCO-Stuff and ADE20k"
            " loaders are not implemented (issue 38); only backbone.source='tiny' "
            "and data.source='synthetic' run"
        )
    },
)
def align_step(inputs: Mapping[str, Path], config: AlignStepConfig, outputs: Mapping[str, Path]) -> StepResult:
    """Paper Sec. 3, Alg. 1: MaskEmbed (arm maskembed) or the null-mask control (arm control)."""
    _require_tiny(config.backbone, "align")
    if config.arm not in SAMPLER:
        raise ValueError(f"maskembed align: unknown arm {config.arm!r}; known: {sorted(SAMPLER)}")
    seed_everything(config.seed, torch_threads=config.runtime.threads)
    train, test = load_npz(inputs["train"]), load_npz(inputs["test"])
    backbone = load_backbone(inputs["backbone"], config.backbone.arch)
    # the teacher's output scale is estimated on held-out images (the test split's images; no labels are used)
    model, history = align(
        backbone, train["images"], test["images"], config.align, SAMPLER[config.arm], config.runtime, config.seed
    )
    save_weights(model.cpu(), outputs["weights"])
    return StepResult(records={"history": {**history, "seed": config.seed, "arm": config.arm}}, files=("weights",))


@step(
    reads=("seeds", "backbone", "align", "probe", "runtime"),
    not_run={
        "paper": (
            "timm CLIP/SigLIP backbones and the ImageNet-21k, COCO-Stuff and ADE20k"
            " loaders are not implemented (issue 38); only backbone.source='tiny' "
            "and data.source='synthetic' run"
        )
    },
)
def probe_step(inputs: Mapping[str, Path], config: ProbeStepConfig) -> StepResult:
    """Paper Sec. 4.1, Fig. 3: patch-level segmentation probes before / after alignment and after the control."""
    _require_tiny(config.backbone, "probe")
    train, test = load_npz(inputs["train"]), load_npz(inputs["test"])
    arch, rt = config.backbone.arch, config.runtime
    encoders = load_encoders(inputs, config.seeds, arch, config.align)
    rows, examples = [], []
    n_ex = min(config.probe.n_examples, len(test["labels"]))
    for (arm, seed), enc in encoders.items():
        seed_everything(seed, torch_threads=rt.threads)
        ftr, fte = extract_tokens(enc, train["images"], rt), extract_tokens(enc, test["images"], rt)
        for kind in config.probe.heads:
            head = train_probe(kind, ftr, train["labels"], arch.heads, config.probe, rt, seed)
            pred = predict(head, fte, rt) > config.probe.threshold
            rows.append({"arm": arm, "head": kind, "seed": seed, **segmentation_metrics(pred, test["labels"])})
            log.info("probe %s %s seed %d: %s", arm, kind, seed, rows[-1])
            if seed == config.seeds[0]:
                for i in range(n_ex):
                    for p, c in zip(*np.nonzero(pred[i])):
                        examples.append({"image": i, "arm": arm, "head": kind, "patch": int(p), "cls": int(c)})
    for i in range(n_ex):
        for p, c in zip(*np.nonzero(test["labels"][i])):
            examples.append({"image": i, "arm": "truth", "head": "truth", "patch": int(p), "cls": int(c)})
    scores = pd.DataFrame(rows)
    numbers: dict[str, float] = {}
    for (kind, arm), grp in scores.groupby(["head", "arm"]):
        for metric in ("macro_f1", "macro_precision", "macro_recall", "accuracy"):
            _seed_stats(numbers, f"{kind}.{arm}.{metric}", grp, metric)
    floors = floor_metrics(train["labels"], test["labels"], config.seeds[0])
    for name, met in floors.items():
        for metric in ("macro_f1", "macro_precision", "macro_recall"):
            numbers[f"floor.{name}.{metric}"] = met[metric]
    numbers["floor.best.macro_f1"] = max(m["macro_f1"] for m in floors.values())
    # sanity of the backbone itself: its own image-level head on the test images vs the all-positive floor
    img_f1 = []
    for path in inputs["backbones"] if isinstance(inputs["backbones"], list) else [inputs["backbones"]]:
        probs = predict_images(load_backbone(path, arch), test["images"], rt)
        img_f1.append(segmentation_metrics(probs > 0.5, image_labels(test["labels"]))["macro_f1"])
    numbers["image_level.backbone.macro_f1"], numbers["image_level.backbone.macro_f1_std"] = _mean_std(img_f1)
    numbers["image_level.backbone.macro_f1.per_seed"] = [float(v) for v in img_f1]
    y_img = image_labels(test["labels"])
    numbers["image_level.floor.all_positive.macro_f1"] = segmentation_metrics(np.ones_like(y_img), y_img)["macro_f1"]
    numbers["n_seeds"] = len(config.seeds)
    numbers["seeds"] = sorted(config.seeds)
    return StepResult(numbers={"probe": numbers}, tables={"scores": scores, "examples": pd.DataFrame(examples)})


@step(
    reads=("seeds", "backbone", "align", "spatial_qa", "runtime"),
    not_run={
        "paper": (
            "timm CLIP/SigLIP backbones and the ImageNet-21k, COCO-Stuff and ADE20k"
            " loaders are not implemented (issue 38); only backbone.source='tiny' "
            "and data.source='synthetic' run"
        )
    },
)
def spatial_qa_step(inputs: Mapping[str, Path], config: SpatialStepConfig) -> StepResult:
    """Paper Sec. 5: a VLM on a frozen backbone (before / after / control) answering spatial questions."""
    _require_tiny(config.backbone, "spatial_qa")
    train, test = load_npz(inputs["train"]), load_npz(inputs["test"])
    arch, rt, qa = config.backbone.arch, config.runtime, config.spatial_qa
    size = arch.image_size
    qtr = make_questions(train["objects"], size, qa, qa.seed * 2 + 1)
    qte = make_questions(test["objects"], size, qa, qa.seed * 2 + 2)
    encoders = load_encoders(inputs, config.seeds, arch, config.align)
    rows = []
    for (arm, seed), enc in encoders.items():
        seed_everything(seed, torch_threads=rt.threads)
        ftr, fte = extract_tokens(enc, train["images"], rt), extract_tokens(enc, test["images"], rt)
        model = train_vlm(ftr, *qtr[:3], qa, rt, seed)
        acc = accuracy_by_template(answer(model, fte, qte[0], qte[1], rt), qte[2], qte[3])
        rows.append({"arm": arm, "seed": seed, **acc})
        log.info("spatial_qa %s seed %d: %s", arm, seed, acc)
    floor = accuracy_by_template(floor_predictions(qtr[1], qtr[2], qte[1]), qte[2], qte[3])
    rows.append({"arm": "floor", "seed": -1, **floor})
    scores = pd.DataFrame(rows)
    numbers: dict[str, float] = {}
    keys = ["accuracy"] + [f"{t}.accuracy" for t in TEMPLATES if f"{t}.accuracy" in scores]
    for arm, grp in scores[scores.arm != "floor"].groupby("arm"):
        for key in keys:
            _seed_stats(numbers, f"{arm}.{key}", grp, key)
    for key in keys:
        numbers[f"floor.count_based.{key}"] = floor[key]
    numbers.update({"n_train_questions": len(qtr[2]), "n_test_questions": len(qte[2]), "n_answers": len(ANSWERS)})
    numbers["seeds"] = sorted(config.seeds)
    return StepResult(numbers={"spatial_qa": numbers}, tables={"scores": scores})


@step(
    reads=("backbone", "vlm"),
    scales=("paper",),
    not_run={
        "paper": "the Prismatic VLM stage (LLaVA-1.5 data, Llama-2 7B, vlm-evaluation) is not implemented (issue 38)"
    },
)
def vlm_step(inputs: Mapping[str, Path], config: VlmStepConfig) -> StepResult:
    """Paper Sec. 5, Tables 1-2: Prismatic VLMs on the baseline / aligned backbones (paper scale only)."""
    raise PaperScaleError(
        f"maskembed vlm: training {config.vlm.arms} VLMs with {config.vlm.llm} ({config.vlm.recipe}) and "
        f"evaluating {', '.join(config.vlm.benchmarks)} needs the Prismatic / vlm-evaluation stack, the LLaVA-1.5 "
        "data, gated weights and 8 GPUs; it is declared for networked users and not implemented offline"
    )
