"""Distribution expression methods, the TV metric and the aggregation of the paper (Sec. 2-4).

* :func:`tv` - total variation distance 1/2 sum_k |p_hat_k - p_k| (Sec. 2). ``p_hat`` is not
  renormalised for the verbalized and log-prob methods, as in the paper.
* :func:`parse_verbalized` (V, "express the distribution" as JSON), :func:`parse_sequence`
  (Seq, 30 samples serialised as one string), :func:`parse_logprobs` (Log-p, first-token
  top-20 log-probs) turn a model's answer into ``p_hat``; a malformed answer is a
  :class:`Parsed` with ``p=None`` and a ``failure`` reason (counted, never a crash and never
  a silent zero).
* :func:`temperature_scale` / :func:`fit_temperature` - TS-Log-p (Sec. 3.2): one temperature
  per (model, dataset, steering), a bounded scalar search on (0, T_max] minimising summed TV.
* :func:`bootstrap_mean` - the leaderboard's mean and 95% percentile interval (Sec. 4).
* :func:`sample_floor` - the 30-sample floor: TV of the empirical distribution of 30 draws
  from the truth (the best a perfect simulator can do with 30 samples).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = [
    "Parsed",
    "tv",
    "parse_verbalized",
    "parse_sequence",
    "parse_logprobs",
    "temperature_scale",
    "fit_temperature",
    "bootstrap_mean",
    "sample_floor",
    "FAIL_INVALID_JSON",
    "FAIL_UNKNOWN_OPTION",
    "FAIL_BAD_VALUE",
    "FAIL_SUM",
    "FAIL_EMPTY",
]

FAIL_INVALID_JSON = "invalid_json"
FAIL_UNKNOWN_OPTION = "unknown_option"
FAIL_BAD_VALUE = "bad_value"
FAIL_SUM = "sum_not_one"
FAIL_EMPTY = "empty"


@dataclass(frozen=True)
class Parsed:
    """A parsed answer: ``p`` (option order) or ``None`` with the ``failure`` reason."""

    p: np.ndarray | None
    failure: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.p is not None


def tv(p_hat: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray) -> float:
    """Total variation distance between two vectors over the same options (no renormalisation)."""
    a, b = np.asarray(p_hat, dtype=float), np.asarray(p, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"tv: shapes differ ({a.shape} vs {b.shape})")
    return 0.5 * float(np.sum(np.abs(a - b)))


_BRACES = re.compile(r"\{[^{}]*\}", re.S)


def _value(v: object, integer_percent: bool) -> float:
    if isinstance(v, bool):
        raise ValueError(f"boolean {v!r}")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s.endswith("%"):
            x = float(s[:-1].strip())
            return (int(x) if integer_percent else x) / 100.0
        return float(s)
    raise ValueError(f"{type(v).__name__} {v!r}")


def parse_verbalized(
    text: str,
    letters: Sequence[str],
    *,
    unknown_option: str = "fail",
    sum_tol: float | None = 0.05,
    integer_percent: bool = False,
) -> Parsed:
    """V: parse a JSON-like dict ``{letter: value}`` (Sec. 3.2, "verbalize").

    Quotes are repaired (single -> double), ``'NN%'`` strings mean NN/100, letters the
    answer omits get 0 (as in the paper). Failures (``Parsed.failure``): no dict or invalid
    JSON, a value that is not a non-negative number, a key that is not an option letter
    (``unknown_option="fail"``; ``"drop"`` ignores it, which is what the authors' parser
    did), and values whose sum is farther than ``sum_tol`` from 1 (``None``: no check, the
    authors' setting). ``integer_percent`` truncates ``'0.5%'`` to 0, as the released TVs
    show the authors' parser did. ``Parsed.detail`` notes a dropped key or an off sum.
    """
    if unknown_option not in ("fail", "drop"):
        raise ValueError(f"unknown_option must be 'fail' or 'drop', not {unknown_option!r}")
    if not text or not text.strip():
        return Parsed(None, FAIL_EMPTY)
    m = _BRACES.search(text)
    if m is None:
        return Parsed(None, FAIL_INVALID_JSON, text[:60])
    raw = m.group(0).replace("'", '"')
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as err:
        return Parsed(None, FAIL_INVALID_JSON, f"{err.msg}: {raw[:60]}")
    if not isinstance(obj, dict) or not obj:
        return Parsed(None, FAIL_INVALID_JSON, raw[:60])
    index = {k: i for i, k in enumerate(letters)}
    p = np.zeros(len(letters))
    notes = []
    for key, val in obj.items():
        k = str(key).strip().upper()
        if k not in index:
            if unknown_option == "fail":
                return Parsed(None, FAIL_UNKNOWN_OPTION, f"{key!r} not in {list(letters)}")
            notes.append(f"dropped:{k}")
            continue
        try:
            x = _value(val, integer_percent)
        except (ValueError, TypeError) as err:
            return Parsed(None, FAIL_BAD_VALUE, f"{key!r}: {err}")
        if not math.isfinite(x) or x < 0:
            return Parsed(None, FAIL_BAD_VALUE, f"{key!r}: {val!r}")
        p[index[k]] = x
    total = float(p.sum())
    if sum_tol is not None and abs(total - 1.0) > sum_tol:
        return Parsed(None, FAIL_SUM, f"sum {total:.4f}")
    if abs(total - 1.0) > 0.05:
        notes.append(f"sum:{total:.3f}")
    return Parsed(p, None, ";".join(notes))


def parse_sequence(text: str, letters: Sequence[str]) -> Parsed:
    """Seq: the share of each option letter (either case) in a serialised sample sequence.

    Spaces are removed and each count is divided by the **total** response length (as in
    the paper), so stray characters lower every share instead of being dropped. An empty
    answer is a failure.
    """
    s = (text or "").replace(" ", "")
    if not s:
        return Parsed(None, FAIL_EMPTY)
    up = s.upper()
    return Parsed(np.array([up.count(k) / len(s) for k in letters]))


def parse_logprobs(top: Mapping[str, float], letters: Sequence[str]) -> Parsed:
    """Log-p: first-token top-k log-probs -> option probabilities (Sec. 3.2).

    Token strings are stripped and lower-cased, probabilities of equal strings summed,
    and the option letters kept (letters absent from the top-k get 0; no renormalisation).
    """
    if not top:
        return Parsed(None, FAIL_EMPTY)
    acc: dict[str, float] = {}
    for tok, lp in top.items():
        key = str(tok).strip().lower()
        acc[key] = acc.get(key, 0.0) + math.exp(float(lp))
    return Parsed(np.array([acc.get(k.lower(), 0.0) for k in letters]))


def temperature_scale(p: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T) / sum p^(1/T) (zeros stay zero)."""
    p = np.asarray(p, dtype=float)
    if p.sum() <= 0:
        return p.copy()
    with np.errstate(divide="ignore"):
        logp = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf)
    z = logp / temperature
    z = z - np.max(z)
    q = np.exp(z)
    return q / q.sum()


def fit_temperature(
    preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], t_max: float = 10.0, xatol: float = 1e-5
) -> tuple[float, float]:
    """The T in (0, t_max] minimising the summed TV of the scaled predictions; returns (T, mean TV).

    In-sample, as in the paper (an oracle calibration: the truth it is scored on fits T).
    """
    pairs = [(np.asarray(a), np.asarray(b)) for a, b in zip(preds, truths) if a is not None]
    if not pairs:
        raise ValueError("fit_temperature: no predictions")

    def loss(t: float) -> float:
        return float(sum(tv(temperature_scale(a, t), b) for a, b in pairs))

    res = minimize_scalar(loss, bounds=(1e-3, t_max), method="bounded", options={"xatol": xatol})
    t = float(res.x)
    return t, loss(t) / len(pairs)


def bootstrap_mean(
    samples: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float, float, float]:
    """Bootstrap the mean of per-dataset means: (plain mean, bootstrap mean, low, high).

    Each of ``samples`` (one array of per-question TVs per dataset, NaN = parse failure,
    ignored) is resampled with replacement independently; a replicate is the mean of the
    datasets' nan-means. The interval is the ``level`` percentile interval.
    """
    arrays = [np.asarray(s, dtype=float) for s in samples]
    if any(a.size == 0 for a in arrays):
        raise ValueError("bootstrap_mean: empty sample")
    plain = float(np.mean([np.nanmean(a) for a in arrays]))
    reps = np.zeros(n_boot)
    for a in arrays:
        idx = rng.integers(0, a.size, size=(n_boot, a.size))
        reps += np.nanmean(a[idx], axis=1)
    reps /= len(arrays)
    lo, hi = np.percentile(reps, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return plain, float(reps.mean()), float(lo), float(hi)


def sample_floor(p: np.ndarray, n_samples: int, n_reps: int, rng: np.random.Generator) -> float:
    """Mean TV between ``p`` and the empirical distribution of ``n_samples`` draws from it."""
    p = np.asarray(p, dtype=float)
    counts = rng.multinomial(n_samples, p / p.sum(), size=n_reps)
    return float(np.mean(0.5 * np.abs(counts / n_samples - p).sum(axis=1)))
