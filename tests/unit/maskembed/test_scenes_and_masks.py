"""Scenes (determinism, union labels, bad settings), mask samplers, the MaskEmbed decoder contract, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, precision_score, recall_score

from repro.maskembed.maskembed import AlignConfig, MaskEmbed, MaskError, sample_masks, teacher_tokens
from repro.maskembed.probes import ProbeError, floor_metrics, segmentation_metrics
from repro.maskembed.scenes import CLASSES, SceneConfig, SceneError, make_split, patch_labels
from repro.maskembed.vit import ViT, ViTConfig, patch_mask_to_pixels, truncated

CFG = SceneConfig(image_size=32, patch_size=8, max_objects=3, n_train=8, n_test=8)
ARCH = ViTConfig(image_size=32, patch_size=8, dim=16, depth=3, heads=2)


def test_scenes_are_deterministic_and_labels_are_unions():
    a, b = make_split(CFG, 20, seed=5), make_split(CFG, 20, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["images"], make_split(CFG, 20, seed=6)["images"])
    assert a["images"].shape == (20, 3, 32, 32) and a["images"].dtype == np.uint8
    assert a["labels"].shape == (20, 16, len(CLASSES))
    for objs, lab, cap in zip(a["objects"], a["labels"], a["captions"]):
        present = objs[objs[:, 0] >= 0, 0].astype(int)
        assert len(set(present)) == len(present)  # distinct classes per image
        # a labelled class is one of the drawn objects; the caption names exactly the labelled classes
        assert set(np.nonzero(lab.any(0))[0]) <= set(present)
        assert all((CLASSES[c] in cap) == bool(lab[:, c].any()) for c in range(len(CLASSES)))


def test_patch_labels_union_threshold():
    cfg = SceneConfig(image_size=16, patch_size=8, min_pixels=4)
    cmap = np.full((16, 16), -1)
    cmap[0:2, 0:2] = 3  # 4 pixels of class 3 in patch 0 -> labelled
    cmap[8:9, 8:11] = 5  # 3 pixels of class 5 in patch 3 -> below min_pixels
    lab = patch_labels(cmap, cfg)
    assert lab.shape == (4, len(CLASSES))
    assert lab[0, 3] and lab.sum() == 1


def test_bad_scene_settings_are_named():
    with pytest.raises(SceneError, match="image_size"):
        SceneConfig(image_size=30, patch_size=8)
    with pytest.raises(SceneError, match="max_objects"):
        SceneConfig(min_objects=3, max_objects=2)


def test_uniform_masks_are_antithetical_with_null():
    gen = torch.Generator().manual_seed(0)
    m = sample_masks(50, 16, "uniform", gen)
    assert m.shape == (150, 16)
    assert torch.equal(m[:50] + m[50:100], torch.ones(50, 16))
    assert torch.equal(m[100:], torch.ones(50, 16))
    # the kept count is spread over the whole range (u ~ U(0, 1)), not concentrated at 1/2
    kept = m[:50].sum(1)
    assert kept.min() <= 4 and kept.max() >= 12
    assert torch.equal(sample_masks(4, 16, "none", gen), torch.ones(4, 16))
    assert sample_masks(4, 16, "bernoulli", gen, antithetical=False, null=False).shape == (4, 16)
    with pytest.raises(MaskError, match="uniform"):
        sample_masks(4, 16, "blockwise", gen)


def test_teacher_sees_only_kept_pixels():
    torch.manual_seed(0)
    teacher = truncated(ViT(ARCH), 1).eval()
    x = torch.randn(2, 3, 32, 32)
    mask = torch.ones(2, 16)
    mask[:, 5] = 0
    y = x.clone()
    pix = patch_mask_to_pixels(mask, 4, 8)
    y[pix.expand_as(y) == 0] = 7.0  # change only the dropped patch's pixels
    assert torch.allclose(teacher_tokens(teacher, x, mask), teacher_tokens(teacher, y, mask))


def test_decoder_ignores_masked_tokens_and_zero_head_starts_constant():
    torch.manual_seed(0)
    me = MaskEmbed(ViT(ARCH), AlignConfig(decoder_depth=2, layerscale=1.0)).eval()  # visible effects
    x = torch.randn(3, 3, 32, 32)
    masks = torch.ones(3, 16)
    with torch.no_grad():
        out = me(x, masks)
    # zero-initialised head: the first predictions do not depend on the image
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])
    assert len(me.encoder.blocks) == ARCH.depth - 1 and me.encoder.blocks[0].attn.softcap == 30.0
    torch.nn.init.normal_(me.head.weight)
    z = torch.randn(1, 17, 16)
    mask = torch.ones(1, 16)
    mask[0, 3] = 0
    z2 = z.clone()
    z2[0, 4] += 5.0  # patch 3 = token 4 (token 0 is the prefix)
    z2[0, 0] -= 5.0  # the prefix is always zeroed
    with torch.no_grad():
        assert torch.equal(me.decoder(z, mask), me.decoder(z2, mask))
        z2[0, 5] += torch.randn(16)  # a kept patch matters (not a constant shift: LayerNorm removes those)
        assert not torch.allclose(me.decoder(z, mask), me.decoder(z2, mask), atol=1e-6)


def test_metrics_match_scikit_learn_and_floors():
    rng = np.random.default_rng(0)
    y = rng.random((40, 16, 9)) < 0.2
    y[..., 8] = False  # a class without positives is excluded from the macro average
    p = rng.random((40, 16, 9)) < 0.3
    m = segmentation_metrics(p, y)
    yy, pp = y.reshape(-1, 9)[:, :8], p.reshape(-1, 9)[:, :8]
    assert m["macro_f1"] == pytest.approx(f1_score(yy, pp, average="macro", zero_division=0))
    assert m["macro_precision"] == pytest.approx(precision_score(yy, pp, average="macro", zero_division=0))
    assert m["macro_recall"] == pytest.approx(recall_score(yy, pp, average="macro", zero_division=0))
    assert segmentation_metrics(y, y)["macro_f1"] == 1.0
    floors = floor_metrics(y, y, 0)
    assert floors["all_positive"]["macro_recall"] == 1.0 and floors["all_positive"]["macro_f1"] < 0.5
    with pytest.raises(ProbeError, match="shape"):
        segmentation_metrics(p[:2], y)
