"""Seeded synthetic scenes: the tiny stand-in for ImageNet-21k (alignment) and COCO-Stuff (patch probe).

Notes Sec. 6 (paper Sec. 4 uses natural images; none can be downloaded here). Each image holds 1..``max_objects``
objects of distinct classes (class = shape x colour), drawn at continuous pixel offsets so that they straddle the
patch grid, over a noisy grey background with grey clutter. Per-patch labels follow the patch-seg "union"
reduction (a class is present in a patch when at least ``min_pixels`` of its visible pixels fall in the patch);
the image-level label (the "caption") is the union over patches, the only supervision the backbone ever sees.
:func:`load_npz` reads a split back from the npz file the data step writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHAPES = ("square", "disk", "cross")
COLOURS = ("red", "green", "blue")
RGB = {"red": (0.85, 0.15, 0.15), "green": (0.15, 0.75, 0.2), "blue": (0.2, 0.3, 0.9)}
CLASSES = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)  # class id = colour * 3 + shape
OBJ_FIELDS = ("cls", "cx", "cy", "size", "visible")  # columns of the per-object array (cls = -1: no object)


class SceneError(ValueError):
    """Invalid scene settings; the message names the field."""


@dataclass(frozen=True)
class SceneConfig:
    """Synthetic scene settings (params ``data``)."""

    image_size: int = 48  # pixels per side
    patch_size: int = 8  # ViT patch size: a (image_size / patch_size)^2 patch grid
    min_objects: int = 1  # objects per image, uniform in [min_objects, max_objects], distinct classes
    max_objects: int = 4
    sizes: tuple[float, ...] = (4.0, 6.0, 8.5)  # object half-extents in pixels (one drawn per object)
    min_pixels: int = 4  # visible pixels of a class in a patch for the patch to carry that label
    colour_jitter: float = 0.08  # per-object RGB jitter
    noise: float = 0.06  # per-pixel Gaussian noise std
    clutter: int = 3  # grey distractor strokes per image (never a class)
    n_train: int = 4000
    n_test: int = 1000
    seed: int = 0  # the data seed (models use their own seeds)

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise SceneError(f"data.image_size={self.image_size} is not a multiple of patch_size={self.patch_size}")
        if not 1 <= self.min_objects <= self.max_objects <= len(CLASSES):
            raise SceneError(f"data: need 1 <= min_objects <= max_objects <= {len(CLASSES)}")
        if not self.sizes or min(self.sizes) <= 0:
            raise SceneError("data.sizes: need positive half-extents")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


def _shape_mask(shape: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    dx, dy = xx - cx, yy - cy
    if shape == "square":
        return (np.abs(dx) <= r) & (np.abs(dy) <= r)
    if shape == "disk":
        return dx**2 + dy**2 <= r**2
    if shape == "cross":
        w = max(r / 3.0, 1.0)
        return ((np.abs(dx) <= r) & (np.abs(dy) <= w)) | ((np.abs(dy) <= r) & (np.abs(dx) <= w))
    raise SceneError(f"unknown shape {shape!r}; known: {SHAPES}")


def render_scene(cfg: SceneConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: (image float32 [3, H, W] in [0, 1], class map int [H, W] (-1 = background), objects [K, 5])."""
    s = cfg.image_size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    bg = rng.uniform(0.3, 0.6)
    img = np.full((3, s, s), bg, dtype=np.float32)
    for _ in range(cfg.clutter):  # grey strokes: thin lines that are not objects
        x0, y0 = rng.uniform(0, s, 2)
        ang = rng.uniform(0, np.pi)
        length = rng.uniform(4, 12)
        t = (xx - x0) * np.cos(ang) + (yy - y0) * np.sin(ang)
        d = np.abs(-(xx - x0) * np.sin(ang) + (yy - y0) * np.cos(ang))
        img[:, (d <= 0.7) & (t >= 0) & (t <= length)] = rng.uniform(0.1, 0.9)
    cmap = np.full((s, s), -1, dtype=np.int64)
    k = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    classes = rng.choice(len(CLASSES), size=k, replace=False)
    objs = np.full((cfg.max_objects, len(OBJ_FIELDS)), -1.0, dtype=np.float32)
    for i, c in enumerate(classes):
        r = float(rng.choice(cfg.sizes))
        cx, cy = rng.uniform(r, s - r, 2)
        colour, shape = COLOURS[c // len(SHAPES)], SHAPES[c % len(SHAPES)]
        m = _shape_mask(shape, xx, yy, cx, cy, r)
        rgb = np.clip(np.array(RGB[colour]) + rng.normal(0, cfg.colour_jitter, 3), 0, 1)
        img[:, m] = rgb[:, None]
        cmap[m] = c
        objs[i, :4] = (c, cx, cy, r)
    for i in range(k):
        objs[i, 4] = float((cmap == int(objs[i, 0])).sum())
    img = np.clip(img + rng.normal(0, cfg.noise, img.shape).astype(np.float32), 0, 1)
    return img, cmap, objs


def patch_labels(cmap: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    """Union reduction (patch-seg): bool [grid*grid, n_classes], class c present where >= min_pixels pixels."""
    g, p = cfg.grid, cfg.patch_size
    onehot = np.zeros((len(CLASSES), cmap.shape[0], cmap.shape[1]), dtype=np.int32)
    fg = cmap >= 0
    onehot[cmap[fg], np.nonzero(fg)[0], np.nonzero(fg)[1]] = 1
    counts = onehot.reshape(len(CLASSES), g, p, g, p).sum(axis=(2, 4))  # [C, g, g]
    return (counts >= cfg.min_pixels).reshape(len(CLASSES), g * g).T


def caption(labels: np.ndarray) -> str:
    """The image-level caption: the classes present anywhere (union over patches), in class order."""
    names = [CLASSES[c] for c in np.nonzero(labels.any(axis=0))[0]]
    return "a " + ", a ".join(names) if names else "nothing"


def make_split(cfg: SceneConfig, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` scenes from ``seed``: images uint8 [n,3,H,W], labels bool [n,P,C], objects [n,K,5], captions."""
    if n < 1:
        raise SceneError(f"data: need at least one scene, got n={n}")
    rng = np.random.default_rng(seed)
    imgs, labs, objs, caps = [], [], [], []
    for _ in range(n):
        img, cmap, obj = render_scene(cfg, rng)
        lab = patch_labels(cmap, cfg)
        imgs.append(np.round(img * 255).astype(np.uint8))
        labs.append(lab)
        objs.append(obj)
        caps.append(caption(lab))
    return {
        "images": np.stack(imgs),
        "labels": np.stack(labs),
        "objects": np.stack(objs),
        "captions": np.array(caps),
    }


def make_dataset(cfg: SceneConfig) -> dict[str, dict[str, np.ndarray]]:
    """Train and test splits from independent streams of the data seed."""
    return {
        "train": make_split(cfg, cfg.n_train, cfg.seed * 1000 + 1),
        "test": make_split(cfg, cfg.n_test, cfg.seed * 1000 + 2),
    }


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """A split written by the data step (``np.savez_compressed`` of :func:`make_dataset`'s arrays)."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
