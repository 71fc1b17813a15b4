"""The live tier: the paper's data-selection experiment in miniature (Thrush et al. 2024, Sec. 4-5).

1. :func:`make_pages` - mirrored corpora (``repro.common.lm.corpora``) cut into ~1 KB pages,
   one *domain* per (corpus, domain label); each domain's pages are split into ``eval``
   (the BPB matrix), ``task`` (cloze items of target domains), ``target_sample`` (DSIR's
   target text), ``pool`` (what is selected for pretraining) and ``train`` (population
   training text and the page classifier's training set).
2. :func:`make_cloze` - LAMBADA-like targets: pick the true next word among 4 length-matched
   words by LM likelihood; error = 1 - accuracy (random floor 0.75).
3. :func:`train_population` - heterogeneous byte n-gram LMs (orders, smoothings) plus a few
   tiny character-level transformers from the shared toolkit (:mod:`repro.pplcorr.tiny_lm`),
   each trained on a Dirichlet mixture of domains of random size; their token-weighted BPB per
   domain (``X``) and cloze errors (``y``).
4. :func:`select_pages` - the four arms at an equal byte budget: ``random``, ``pplcorr``
   (estimate -> ``linear`` projection with ``tau_j = bytes_j / sum bytes / filter_ratio`` ->
   hashed-n-gram logistic-regression page classifier -> top pages by P(include)),
   ``domain_filter`` (pages of the target's coarse domain label: the analogue of the paper's
   language filter) and ``dsir`` (hashed-n-gram importance resampling towards target text).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from repro.common.lm.corpora import Document
from repro.pplcorr.estimators import estimator, linear
from repro.pplcorr.ngram import NGramLM, logprobs_many, train_ngram
from repro.pplcorr.tiny_lm import TinyTransformerLM, TransformerSpec, train_transformer

log = logging.getLogger(__name__)

__all__ = [
    "SelectionError",
    "make_pages",
    "make_cloze",
    "cloze_error",
    "PopulationMember",
    "population_specs",
    "train_population",
    "domain_bpb",
    "hashed_features",
    "select_pages",
]

ARMS = ("random", "pplcorr", "domain_filter", "dsir")
RANDOM_CLOZE_FLOOR = "random-guess error 1 - 1/n_choices"


class SelectionError(ValueError):
    """A selection arm cannot produce pages (e.g. every page filtered out)."""


def _rng(seed: int, *key: object) -> np.random.Generator:
    h = hashlib.sha256(repr((seed, *key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def _cut(text: str, page_bytes: int) -> list[str]:
    """Cut ``text`` at whitespace into pages of about ``page_bytes`` characters."""
    words = text.split()
    pages, cur, size = [], [], 0
    for w in words:
        cur.append(w)
        size += len(w) + 1
        if size >= page_bytes:
            pages.append(" ".join(cur))
            cur, size = [], 0
    if size >= page_bytes // 2:
        pages.append(" ".join(cur))
    return pages


def make_pages(
    docs: Sequence[Document],
    *,
    page_bytes: int,
    max_bytes_per_domain: int,
    eval_pages: int,
    task_pages: int,
    target_sample_pages: int,
    pool_frac: float,
    target_domains: Sequence[str],
    seed: int,
) -> pd.DataFrame:
    """Pages with columns ``page_id, domain, coarse, split, bytes, text`` (deterministic)."""
    by_domain: dict[str, list[tuple[str, str]]] = {}
    for d in docs:
        dom = f"{d.corpus}:{d.domain}"
        for i, page in enumerate(_cut(d.text, page_bytes)):
            by_domain.setdefault(dom, []).append((f"{d.doc_id}#{i}", page))
    missing = [t for t in target_domains if t not in by_domain]
    if missing:
        raise ValueError(f"target domain(s) {missing} not in the corpora; domains: {sorted(by_domain)}")
    rows = []
    for dom in sorted(by_domain):
        pages = by_domain[dom]
        order = _rng(seed, "pages", dom).permutation(len(pages))
        pages = [pages[i] for i in order]
        kept, total = [], 0
        for pid, text in pages:
            if total >= max_bytes_per_domain:
                break
            kept.append((pid, text))
            total += len(text.encode())
        n_task = (task_pages + target_sample_pages) if dom in target_domains else 0
        if len(kept) < eval_pages + n_task + 4:
            raise ValueError(f"domain {dom} has only {len(kept)} pages; need > {eval_pages + n_task + 4}")
        splits = ["eval"] * eval_pages
        if dom in target_domains:
            splits += ["task"] * task_pages + ["target_sample"] * target_sample_pages
        rest = len(kept) - len(splits)
        n_pool = int(round(pool_frac * rest))
        splits += ["pool"] * n_pool + ["train"] * (rest - n_pool)
        coarse = dom.split(":", 1)[1]
        for (pid, text), split in zip(kept, splits, strict=True):
            rows.append((pid, dom, coarse, split, len(text.encode()), text))
    return pd.DataFrame(rows, columns=["page_id", "domain", "coarse", "split", "bytes", "text"])


_WORD = re.compile(r"[A-Za-z]{4,12}")


def make_cloze(
    pages: pd.DataFrame, target: str, domain: str, *, n_items: int, context_bytes: int, n_choices: int, seed: int
) -> pd.DataFrame:
    """LAMBADA-like items from the ``task`` pages of ``domain``: columns ``target, context, choices, answer``.

    The answer is a word (4-12 letters) preceded by ``context_bytes`` characters of the page;
    distractors are other words of the same task pages with the same length.
    """
    texts = pages.loc[(pages["domain"] == domain) & (pages["split"] == "task"), "text"].tolist()
    if not texts:
        raise ValueError(f"no task pages for target {target!r} (domain {domain})")
    rng = _rng(seed, "cloze", target)
    vocab: dict[int, list[str]] = {}
    spots = []
    for ti, text in enumerate(texts):
        for m in _WORD.finditer(text):
            w = m.group(0)
            vocab.setdefault(len(w), []).append(w)
            if m.start() >= context_bytes and text[m.start() - 1] == " ":
                spots.append((ti, m.start(), w))
    vocab = {k: sorted(set(v)) for k, v in vocab.items()}
    order = rng.permutation(len(spots))
    items = []
    for i in order:
        ti, start, w = spots[i]
        cands = [v for v in vocab[len(w)] if v.lower() != w.lower()]
        if len(cands) < n_choices - 1:
            continue
        distract = list(rng.choice(cands, size=n_choices - 1, replace=False))
        choices = [w, *distract]
        perm = rng.permutation(n_choices)
        choices = [choices[j] for j in perm]
        items.append((target, texts[ti][start - context_bytes : start], "|".join(choices), int(np.argmax(perm == 0))))
        if len(items) == n_items:
            break
    if len(items) < n_items:
        raise ValueError(f"target {target!r}: only {len(items)} cloze items from {len(texts)} task pages")
    return pd.DataFrame(items, columns=["target", "context", "choices", "answer"])


LM = NGramLM | TinyTransformerLM


def cloze_error(model: LM, items: pd.DataFrame) -> float:
    """1 - accuracy: an item is right when the answer is the most likely continuation.

    n-grams sum the answer's byte log-probs, transformers its character log-probs, after the
    item's context.
    """
    if items.empty:
        raise ValueError("no cloze items to score")
    ctxs, conts = [], []
    for ctx, choices in zip(items["context"], items["choices"], strict=True):
        for c in choices.split("|"):
            ctxs.append(ctx)
            conts.append(c)
    if isinstance(model, TinyTransformerLM):
        scores = model.continuation_logprobs(ctxs, conts)
    else:
        lps = logprobs_many(model, [a + b for a, b in zip(ctxs, conts, strict=True)])
        spans = [len(a.encode()) for a in ctxs]
        scores = np.array([lp[s:].sum() for lp, s in zip(lps, spans, strict=True)])
    k = len(items["choices"].iloc[0].split("|"))
    pred = scores.reshape(-1, k).argmax(axis=1)
    return float(np.mean(pred != items["answer"].to_numpy()))


@dataclass(frozen=True)
class PopulationMember:
    """One population LM: kind, order/smoothing (n-gram) or steps (transformer), bytes, mixture."""

    name: str
    order: int  # n-gram order (0 for a transformer)
    smoothing: str  # n-gram smoothing ("" for a transformer)
    train_bytes: int
    mixture: tuple[float, ...]
    kind: str = "ngram"  # "ngram" or "transformer"
    steps: int = 0  # transformer optimizer steps (0 for an n-gram)


def population_specs(
    domains: Sequence[str],
    *,
    size: int,
    orders: Sequence[int],
    smoothings: Sequence[str],
    dirichlet_alpha: float,
    min_bytes: int,
    max_bytes: int,
    seed: int,
    transformers: int = 0,
    transformer_steps: Sequence[int] = (200,),
) -> list[PopulationMember]:
    """``size`` random members: ``size - transformers`` n-grams (order x smoothing cycled) and
    ``transformers`` tiny transformers (``transformer_steps`` cycled); each with its own
    Dirichlet mixture and log-uniform training size."""
    if not 0 <= transformers <= size:
        raise ValueError(f"population: transformers={transformers} must lie in 0..size={size}")
    out = []
    combos = [(o, s) for s in smoothings for o in orders]
    for i in range(size):
        rng = _rng(seed, "member", i)
        mix = rng.dirichlet(np.full(len(domains), dirichlet_alpha))
        nbytes = int(np.exp(rng.uniform(np.log(min_bytes), np.log(max_bytes))))
        t = i - (size - transformers)
        if t >= 0:
            steps = int(transformer_steps[t % len(transformer_steps)])
            out.append(
                PopulationMember(f"t{t:03d}_transformer_s{steps}", 0, "", nbytes, tuple(mix), "transformer", steps)
            )
        else:
            order, smoothing = combos[i % len(combos)]
            out.append(PopulationMember(f"m{i:03d}_{smoothing}_o{order}", order, smoothing, nbytes, tuple(mix)))
    return out


def _sample_texts(train: pd.DataFrame, domains: Sequence[str], member: PopulationMember, seed: int) -> list[str]:
    rng = _rng(seed, "data", member.name)
    texts = []
    for dom, w in zip(domains, member.mixture, strict=True):
        want = w * member.train_bytes
        if want < 1:
            continue
        sub = train[train["domain"] == dom]
        got = 0
        for j in rng.permutation(len(sub)):
            if got >= want:
                break
            texts.append(sub["text"].iloc[j])
            got += sub["bytes"].iloc[j]
    return texts


def domain_bpb(model: LM, pages: pd.DataFrame) -> pd.Series:
    """Token-weighted BPB per domain: total bits over its pages / total UTF-8 bytes."""
    if isinstance(model, TinyTransformerLM):
        bits, nbytes = model.text_bits(pages["text"].tolist())
    else:
        lps = logprobs_many(model, pages["text"].tolist())
        bits = np.array([-lp.sum() for lp in lps])
        nbytes = np.array([lp.size for lp in lps], dtype=np.float64)
    df = pd.DataFrame({"domain": pages["domain"].to_numpy(), "bits": bits, "bytes": nbytes})
    agg = df.groupby("domain", sort=True)[["bits", "bytes"]].sum()
    return agg["bits"] / agg["bytes"]


def train_population(
    pages: pd.DataFrame,
    cloze: pd.DataFrame,
    members: Sequence[PopulationMember],
    seed: int,
    *,
    transformer: TransformerSpec | None = None,
    tokenizer=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(BPB matrix: models x domains, errors: models x targets) of the trained population.

    Transformer members use ``transformer`` (with their own ``steps``) and the run's
    character ``tokenizer`` (:func:`repro.pplcorr.tiny_lm.char_tokenizer`).
    """
    domains = sorted(pages["domain"].unique())
    train = pages[pages["split"] == "train"]
    evalp = pages[pages["split"] == "eval"]
    targets = sorted(cloze["target"].unique())
    bpb, err = {}, {}
    for i, m in enumerate(tqdm(members, desc="population", mininterval=5)):
        texts = _sample_texts(train, domains, m, seed)
        if m.kind == "transformer":
            if transformer is None or tokenizer is None:
                raise ValueError(f"member {m.name}: a transformer member needs the transformer spec and tokenizer")
            spec = dataclasses.replace(transformer, steps=m.steps)
            lm = train_transformer(texts, tokenizer, spec, seed=seed * 1000 + i)
        else:
            lm = train_ngram(texts, m.order, m.smoothing)
        bpb[m.name] = domain_bpb(lm, evalp)
        err[m.name] = {t: cloze_error(lm, cloze[cloze["target"] == t]) for t in targets}
    X = pd.DataFrame(bpb).T.sort_index()
    E = pd.DataFrame(err).T.sort_index()
    return X, E


def hashed_features(texts: Sequence[str], n_features: int):
    """The shared featuriser (a ``HashingVectorizer``): word 1-2-grams hashed into ``n_features`` buckets."""
    from sklearn.feature_extraction.text import HashingVectorizer  # lazy: steps without a classifier skip sklearn

    return HashingVectorizer(n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm=None, lowercase=True)


def _take_budget(order: np.ndarray, nbytes: np.ndarray, budget: int, arm: str) -> np.ndarray:
    if order.size == 0:
        raise SelectionError(f"arm {arm!r}: every page was filtered out; refusing an empty training run")
    cum = np.cumsum(nbytes[order])
    n = int(np.searchsorted(cum, budget)) + 1
    return order[: min(n, order.size)]


@dataclass(frozen=True)
class PplcorrSelection:
    """The projected domain weights and the page classifier's include-class scores."""

    estimate: pd.Series
    weights: pd.Series
    precision: float
    recall: float
    f1: float


def pplcorr_domains(
    X: pd.DataFrame, y: np.ndarray, pool_bytes: pd.Series, *, estimator_name: str, filter_ratio: float
) -> tuple[pd.Series, pd.Series]:
    """Estimate (Sec. 3) and ``linear`` projection with ``tau_j = bytes_j / sum bytes / filter_ratio``."""
    est = pd.Series(estimator(estimator_name)(X.to_numpy(), y), index=X.columns)
    b = pool_bytes.reindex(X.columns).fillna(0.0).to_numpy()
    tau = np.maximum(b / b.sum() / filter_ratio, 1e-12)
    return est, pd.Series(linear(est.to_numpy(), tau), index=X.columns)


def select_pages(
    arm: str,
    pages: pd.DataFrame,
    *,
    budget_bytes: int,
    seed: int,
    weights: pd.Series | None = None,
    target_coarse: str | None = None,
    target_domain: str | None = None,
    n_features: int = 2**18,
    dsir_features: int = 10_000,
    test_frac: float = 0.05,
) -> tuple[np.ndarray, dict[str, float]]:
    """Row positions of the ``pool`` pages one arm selects (equal byte budget) and arm diagnostics."""
    pool = pages[pages["split"] == "pool"].reset_index(drop=True)
    nbytes = pool["bytes"].to_numpy()
    # random pages do not depend on the target: the same pages (and fresh LM) serve every target
    rng = _rng(seed, "select", arm, None if arm == "random" else target_domain)
    info: dict[str, float] = {}
    if arm == "random":
        order = rng.permutation(len(pool))
    elif arm == "domain_filter":
        idx = np.nonzero(pool["coarse"].to_numpy() == target_coarse)[0]
        order = idx[rng.permutation(idx.size)]
    elif arm == "pplcorr":
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import precision_recall_fscore_support

        if weights is None:
            raise ValueError("arm 'pplcorr' needs the projected domain weights")
        train = pages[pages["split"] == "train"].reset_index(drop=True)
        label = (weights.reindex(train["domain"]).fillna(0.0).to_numpy() > 0).astype(int)
        if label.sum() == 0:
            raise SelectionError("arm 'pplcorr': no domain has positive projected weight")
        vec = hashed_features(train["text"], n_features)
        F = vec.transform(train["text"])
        F.data = np.log1p(F.data)
        perm = rng.permutation(len(train))
        n_test = max(1, int(round(test_frac * len(train))))
        te, tr = perm[:n_test], perm[n_test:]
        clf = LogisticRegression(max_iter=1000, C=1.0)
        clf.fit(F[tr], label[tr])
        p, r, f, _ = precision_recall_fscore_support(label[te], clf.predict(F[te]), average="binary", zero_division=0)
        info = {"classifier_precision": float(p), "classifier_recall": float(r), "classifier_f1": float(f)}
        Fp = vec.transform(pool["text"])
        Fp.data = np.log1p(Fp.data)
        score = clf.predict_proba(Fp)[:, 1]
        order = np.argsort(-score, kind="stable")
    elif arm == "dsir":
        target = pages[(pages["split"] == "target_sample") & (pages["domain"] == target_domain)]
        if target.empty:
            raise SelectionError(f"arm 'dsir': no target_sample pages for domain {target_domain!r}")
        vec = hashed_features(pool["text"], dsir_features)
        Fp = vec.transform(pool["text"])
        ft = np.asarray(vec.transform(target["text"]).sum(axis=0)).ravel() + 1.0
        fr = np.asarray(Fp.sum(axis=0)).ravel() + 1.0
        logw = Fp @ (np.log(ft / ft.sum()) - np.log(fr / fr.sum()))
        gumbel = rng.gumbel(size=len(pool))
        order = np.argsort(-(logw + gumbel), kind="stable")
    else:
        raise ValueError(f"unknown arm {arm!r}; arms: {list(ARMS)}")
    chosen = _take_budget(order, nbytes, budget_bytes, arm)
    return chosen, info
