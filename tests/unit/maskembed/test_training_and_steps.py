"""Trainers on the CPU in float32 and bf16 autocast, device errors, spatial questions, configs from params.yaml."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from repro.common.steps import build_config
from repro.maskembed.config import (
    AlignStepConfig,
    BackboneSpec,
    DataSpec,
    ProbeStepConfig,
    SpatialStepConfig,
)
from repro.maskembed.maskembed import AlignConfig, align
from repro.maskembed.pretrain import PretrainConfig, image_labels, train_backbone
from repro.maskembed.probes import ProbeConfig, extract_tokens, predict, train_probe
from repro.maskembed.runtime import PaperScaleError, Runtime, RuntimeConfigError
from repro.maskembed.scenes import CLASSES, SceneConfig, make_split
from repro.maskembed.spatial import (
    ANSWERS,
    TEMPLATES,
    WORDS,
    QAConfig,
    answer,
    floor_predictions,
    make_questions,
    train_vlm,
)
from repro.maskembed.steps import data_step, pretrain_step
from repro.maskembed.vit import ViTConfig

ARCH = ViTConfig(image_size=32, patch_size=8, dim=16, depth=2, heads=2, stem_width=8)
SCENES = SceneConfig(image_size=32, patch_size=8, max_objects=3)


@pytest.fixture(scope="module")
def data():
    return make_split(SCENES, 24, seed=3)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_pipeline_runs_on_cpu_in_both_precisions(data, dtype):
    """The GPU path's bf16 autocast, exercised on the CPU (the GPU itself is not checked here)."""
    rt = Runtime(device="cpu", dtype=dtype)
    torch.set_num_threads(1)
    bb, hist = train_backbone(
        data["images"], image_labels(data["labels"]), ARCH, PretrainConfig(epochs=1, batch_size=8), rt, 0
    )
    assert len(hist) == 1 and math.isfinite(hist[0])
    me, info = align(
        bb, data["images"], data["images"], AlignConfig(epochs=1, batch_size=8, scale_images=8), "uniform", rt, 0
    )
    assert all(math.isfinite(v) for v in info["loss"]) and info["scale"] > 0 and info["steps"] == 3
    tok = extract_tokens(me.encoder, data["images"], rt)
    assert tok.shape == (24, 17, 16) and tok.dtype == torch.float32
    head = train_probe("transformer", tok, data["labels"], 2, ProbeConfig(epochs=1, warmup_steps=1), rt, 0)
    assert predict(head, tok, rt).shape == data["labels"].shape
    q = make_questions(data["objects"], 32, QAConfig(), 0)
    vlm = train_vlm(tok, *q[:3], QAConfig(epochs=1, dim=16, depth=1, heads=2), rt, 0)
    assert answer(vlm, tok, q[0], q[1], rt).shape == q[2].shape


def test_training_is_deterministic(data):
    rt = Runtime()
    a, _ = train_backbone(
        data["images"], image_labels(data["labels"]), ARCH, PretrainConfig(epochs=1, batch_size=8), rt, 4
    )
    b, _ = train_backbone(
        data["images"], image_labels(data["labels"]), ARCH, PretrainConfig(epochs=1, batch_size=8), rt, 4
    )
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_bad_runtime_is_named():
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeConfigError, match="runtime.device"):
            Runtime(device="cuda").torch_device()
    with pytest.raises(RuntimeConfigError, match="runtime.dtype"):
        Runtime(dtype="float16").autocast()


def test_spatial_questions_follow_the_scene_graph():
    # one scene (is_above is skipped: same row, no pair passes the margin): red square (class 0) at x=5, blue disk (class 7) at x=25 (both y=5, i.e. row 0)
    objs = np.full((1, 3, 5), -1.0, dtype=np.float32)
    objs[0, 0] = (0, 5.0, 5.0, 4.0, 60.0)
    objs[0, 1] = (7, 25.0, 5.0, 4.0, 50.0)
    _idx, words, answers, tmpl = make_questions(objs, 32, QAConfig(questions_per_image=5), 0)
    assert len(answers) == 4 and set(tmpl) == set(range(len(TEMPLATES))) - {TEMPLATES.index("is_above")}
    for w, a, t in zip(words, answers, tmpl):
        q, ans = [WORDS[i] for i in w], ANSWERS[a]
        if TEMPLATES[t] == "what_left":
            assert ans == ("red square" if q[1:3] == ["blue", "disk"] else "nothing")
        elif TEMPLATES[t] == "is_left":
            assert ans == ("yes" if q[1:3] == ["red", "square"] else "no")
        elif TEMPLATES[t] == "where":
            assert ans == ("cell0" if q[1:3] == ["red", "square"] else "cell2")
        else:
            assert ans == str({"red": 1, "green": 0, "blue": 1}[q[1]])
    assert len(CLASSES) == 9
    # the count-based floor answers the most frequent training answer of the same question
    tw = np.array([[1, 6, 9, 0, 0], [1, 6, 9, 0, 0], [1, 6, 9, 0, 0]])
    assert floor_predictions(tw, np.array([3, 3, 5]), tw[:1]).tolist() == [3]


def test_configs_build_from_params_yaml_at_every_scale(paper_params):
    for scale in ("smoke", "tiny", "paper"):
        p = paper_params("maskembed", scale)
        build_config(DataSpec, p["data"], "maskembed.data")
        build_config(ProbeStepConfig, {k: p[k] for k in ("seeds", "backbone", "align", "probe", "runtime")})
        build_config(SpatialStepConfig, {k: p[k] for k in ("seeds", "backbone", "align", "spatial_qa", "runtime")})
        build_config(
            AlignStepConfig, {"seed": 0, "arm": "maskembed", **{k: p[k] for k in ("backbone", "align", "runtime")}}
        )
    tiny = paper_params("maskembed", "tiny")
    assert len(tiny["seeds"]) >= 3 and tiny["backbone"]["source"] == "tiny"
    paper = paper_params("maskembed", "paper")
    assert paper["runtime"]["dtype"] == "bfloat16" and any("clip" in i for i in paper["backbone"]["timm_ids"])


def test_paper_scale_paths_raise_a_named_error(tmp_path):
    with pytest.raises(PaperScaleError, match="imagenet21k"):
        data_step({}, DataSpec(source="imagenet21k"), {"train": tmp_path / "a", "test": tmp_path / "b"})
    cfg = build_config(
        __import__("repro.maskembed.config", fromlist=["PretrainStepConfig"]).PretrainStepConfig,
        {
            "seed": 0,
            "backbone": {"source": "timm", "timm_ids": ["vit_base_patch16_clip_224.openai"]},
            "pretrain": {},
            "runtime": {},
        },
    )
    with pytest.raises(PaperScaleError, match="vit_base_patch16_clip_224"):
        pretrain_step({}, cfg, {})
    assert isinstance(BackboneSpec().arch, ViTConfig)
    assert not list(tmp_path.iterdir())  # nothing half-written
