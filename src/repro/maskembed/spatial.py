"""Spatial-reasoning VLM stand-in (paper Sec. 5: Prismatic VLMs on RefCOCO, VSR, TallyQA, ...; notes Sec. 6).

Templated questions are generated from each scene graph (objects with class and centre):

* ``what_left``: "what is left of the red disk?" -> the class of the nearest object to its left, or "nothing";
* ``is_left`` / ``is_above``: "is the A left of (above) the B?" -> yes / no (VSR-like; pairs closer than a
  margin are skipped);
* ``where``: "which cell of the 3x3 grid holds the A?" -> cell 0..8 (RefCOCO-like localisation);
* ``count``: "how many red things?" -> 0..max_objects (TallyQA-like).

The VLM: the frozen backbone's tokens through a linear projector, the question's word embeddings and an answer
token, a tiny transformer (the "language model") and an answer head over the answer vocabulary. The sanity
floor is count-based: the most frequent training answer of the same question (backing off to the template).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from repro.maskembed.runtime import Runtime, batches, cosine_lr, set_lr
from repro.maskembed.scenes import CLASSES, COLOURS, SHAPES
from repro.maskembed.vit import Block

log = logging.getLogger(__name__)

TEMPLATES = ("what_left", "is_left", "is_above", "where", "count")
PAD = "<pad>"
WORDS = (PAD, *TEMPLATES, *COLOURS, *SHAPES)
ANSWERS = (*CLASSES, "nothing", "yes", "no", *(f"cell{i}" for i in range(9)), *(str(i) for i in range(10)))
Q_LEN = 5  # template, colour A, shape A, colour B, shape B


class QAError(ValueError):
    """Bad question settings; the message names the key."""


@dataclass(frozen=True)
class QAConfig:
    """Spatial QA data and VLM training (params ``spatial_qa``)."""

    questions_per_image: int = 2  # templates drawn per image (without replacement)
    min_visible: int = 12  # an object counts as present when this many of its pixels are visible
    margin: float = 3.0  # pixels: relation pairs closer than this are skipped
    dim: int = 64  # VLM width
    depth: int = 2  # VLM transformer blocks
    heads: int = 4
    epochs: int = 6
    batch_size: int = 64
    lr: float = 1.0e-3
    final_lr: float = 1.0e-5
    warmup_steps: int = 50
    weight_decay: float = 0.01
    seed: int = 0  # question sampling seed (data); model seeds are the run seeds


def _name_tokens(cls: int) -> tuple[str, str]:
    return COLOURS[cls // len(SHAPES)], SHAPES[cls % len(SHAPES)]


def make_questions(
    objects: np.ndarray, image_size: int, cfg: QAConfig, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Questions for each image: (image index [Q], word ids [Q, Q_LEN], answer ids [Q], template ids [Q])."""
    if cfg.questions_per_image < 1 or cfg.questions_per_image > len(TEMPLATES):
        raise QAError(f"spatial_qa.questions_per_image must be in [1, {len(TEMPLATES)}]")
    rng = np.random.default_rng(seed)
    wid = {w: i for i, w in enumerate(WORDS)}
    aid = {a: i for i, a in enumerate(ANSWERS)}
    img_idx, words, answers, tmpl = [], [], [], []
    for i, objs in enumerate(objects):
        present = [o for o in objs if o[0] >= 0 and o[4] >= cfg.min_visible]
        if not present:
            continue
        for t in rng.permutation(len(TEMPLATES))[: cfg.questions_per_image]:
            name = TEMPLATES[t]
            q = [name, PAD, PAD, PAD, PAD]
            a = present[int(rng.integers(len(present)))]
            if name == "what_left":
                q[1:3] = _name_tokens(int(a[0]))
                left = [o for o in present if o[1] < a[1] - cfg.margin]
                ans = CLASSES[int(max(left, key=lambda o: o[1])[0])] if left else "nothing"
            elif name in ("is_left", "is_above"):
                axis = 1 if name == "is_left" else 2
                pairs = [(x, y) for x in present for y in present if abs(x[axis] - y[axis]) >= cfg.margin]
                if not pairs:
                    continue
                x, y = pairs[int(rng.integers(len(pairs)))]
                q[1:3], q[3:5] = _name_tokens(int(x[0])), _name_tokens(int(y[0]))
                ans = "yes" if x[axis] < y[axis] else "no"
            elif name == "where":
                q[1:3] = _name_tokens(int(a[0]))
                col = min(int(3 * a[1] / image_size), 2)
                row = min(int(3 * a[2] / image_size), 2)
                ans = f"cell{row * 3 + col}"
            else:  # count
                colour = int(rng.integers(len(COLOURS)))
                q[1] = COLOURS[colour]
                ans = str(sum(int(o[0]) // len(SHAPES) == colour for o in present))
            img_idx.append(i)
            words.append([wid[w] for w in q])
            answers.append(aid[ans])
            tmpl.append(int(t))
    return np.array(img_idx), np.array(words), np.array(answers), np.array(tmpl)


def floor_predictions(train_words: np.ndarray, train_answers: np.ndarray, test_words: np.ndarray) -> np.ndarray:
    """Count-based floor: the most frequent training answer of the same question, else of the same template."""
    by_q: dict[tuple[int, ...], Counter] = defaultdict(Counter)
    by_t: dict[int, Counter] = defaultdict(Counter)
    for w, a in zip(train_words, train_answers):
        by_q[tuple(w)][int(a)] += 1
        by_t[int(w[0])][int(a)] += 1
    overall = Counter(int(a) for a in train_answers)
    out = []
    for w in test_words:
        c = by_q.get(tuple(w)) or by_t.get(int(w[0])) or overall
        out.append(min(c, key=lambda k: (-c[k], k)))  # ties: the smallest answer id
    return np.array(out)


class TinyVLM(nn.Module):
    """Projector(frozen visual tokens) + question embeddings + answer token -> transformer -> answer logits."""

    def __init__(self, vis_dim: int, n_vis: int, cfg: QAConfig) -> None:
        super().__init__()
        self.projector = nn.Sequential(nn.Linear(vis_dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))
        self.word = nn.Embedding(len(WORDS), cfg.dim)
        self.ans_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos = nn.Parameter(torch.randn(1, n_vis + Q_LEN + 1, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, 2.0) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.out = nn.Linear(cfg.dim, len(ANSWERS))

    def forward(self, vis: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        t = torch.cat([self.projector(vis), self.word(words), self.ans_token.expand(vis.shape[0], -1, -1)], 1)
        t = t + self.pos
        for blk in self.blocks:
            t = blk(t)
        return self.out(self.norm(t[:, -1]))


def train_vlm(
    tokens: torch.Tensor,
    img_idx: np.ndarray,
    words: np.ndarray,
    answers: np.ndarray,
    cfg: QAConfig,
    runtime: Runtime,
    seed: int,
) -> TinyVLM:
    """Train the VLM on frozen visual tokens [n_images, 1+P, d] and questions (image index, words, answers)."""
    torch.manual_seed(seed)
    dev = runtime.torch_device()
    model = TinyVLM(tokens.shape[-1], tokens.shape[1], cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    w_all, a_all = torch.as_tensor(words), torch.as_tensor(answers)
    rng = np.random.default_rng(seed)
    total = cfg.epochs * -(-len(answers) // cfg.batch_size)
    step = 0
    for epoch in range(cfg.epochs):
        losses = []
        for idx in batches(len(answers), cfg.batch_size, rng):
            set_lr(opt, cosine_lr(step, total, cfg.lr, cfg.final_lr, cfg.warmup_steps))
            with runtime.autocast():
                logits = model(tokens[img_idx[idx]].to(dev), w_all[idx].to(dev))
            loss = F.cross_entropy(logits.float(), a_all[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        log.info("vlm epoch %d loss %.4f", epoch, float(np.mean(losses)))
    return model.eval()


@torch.no_grad()
def answer(
    model: TinyVLM, tokens: torch.Tensor, img_idx: np.ndarray, words: np.ndarray, runtime: Runtime
) -> np.ndarray:
    """Predicted answer ids."""
    dev = runtime.torch_device()
    w_all, out = torch.as_tensor(words), []
    for idx in batches(len(words), 512):
        with runtime.autocast():
            out.append(model(tokens[img_idx[idx]].to(dev), w_all[idx].to(dev)).float().argmax(-1).cpu())
    return torch.cat(out).numpy()


def accuracy_by_template(pred: np.ndarray, answers: np.ndarray, tmpl: np.ndarray) -> dict[str, float]:
    """Overall accuracy and per-template accuracies."""
    out = {"accuracy": float((pred == answers).mean())}
    for t, name in enumerate(TEMPLATES):
        sel = tmpl == t
        if sel.any():
            out[f"{name}.accuracy"] = float((pred[sel] == answers[sel]).mean())
    return out
