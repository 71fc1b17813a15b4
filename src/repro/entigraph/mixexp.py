"""The mixture-of-exponentials scaling form (Sec. 6.2) and its least-squares fit.

``Acc(t) = p + C (1 - sum_k mu_k (1 - a_k)^t)`` with ``mu`` on the simplex and rates ``a_k`` in (0, 1):
fast growth, a log-linear middle and a plateau ``p + C`` (the deductive closure). The paper fits this form
to the EntiGraph scaling curve; how many terms and how tokens are normalised is not stated in the
notes, so both are parameters here (``n_terms``; ``t`` in units of the caller's choosing).

``max_plateau`` bounds the plateau ``p + c`` from above (an accuracy cannot exceed 1: an unbounded fit of a
curve that is still rising can place its plateau above 100%, as the tiny tier's one-seed fit did at 1.365).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

__all__ = ["MixExpFit", "fit_mixexp", "loglinear_fit", "mixexp_curve"]


def mixexp_curve(t: np.ndarray, p: float, c: float, mu: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``p + c (1 - sum_k mu_k (1 - a_k)^t)`` evaluated at ``t`` (any shape)."""
    t = np.asarray(t, dtype=float)
    decay = np.exp(np.multiply.outer(t, np.log1p(-np.asarray(a, dtype=float))))
    return p + c * (1.0 - decay @ np.asarray(mu, dtype=float))


@dataclass(frozen=True)
class MixExpFit:
    """A fitted mixture of exponentials: ``p`` (value at t = 0), ``c`` (gain to the plateau), weights, rates."""

    p: float
    c: float
    mu: np.ndarray
    a: np.ndarray
    rmse: float

    @property
    def plateau(self) -> float:
        return self.p + self.c

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return mixexp_curve(t, self.p, self.c, self.mu, self.a)


def _unpack(
    theta: np.ndarray, n_terms: int, p_fixed: float | None, bounded: bool = False
) -> tuple[float, float, np.ndarray, np.ndarray]:
    i = 0
    if p_fixed is None:
        p = float(theta[0])
        i = 1
    else:
        p = p_fixed
    c = float(theta[i]) - p if bounded else float(theta[i])  # bounded: the parameter is the plateau p + c
    logits = np.concatenate([[0.0], theta[i + 1 : i + n_terms]])
    mu = np.exp(logits - logits.max())
    mu /= mu.sum()
    log_rates = theta[i + n_terms : i + 2 * n_terms]
    a = -np.expm1(-np.exp(log_rates))  # a in (0, 1): (1 - a)^t = exp(-exp(log_rate) t)
    return p, c, mu, a


def fit_mixexp(
    t: np.ndarray,
    y: np.ndarray,
    n_terms: int = 2,
    p_fixed: float | None = None,
    max_plateau: float | None = None,
) -> MixExpFit:
    """Least-squares fit of the mixture-of-exponentials form to ``(t, y)``.

    Deterministic multi-start: the rates start log-spaced over ``[1 / max(t), 10 / min(t > 0)]`` (and shifted
    by half a decade); the best residual wins. ``p_fixed`` pins the value at ``t = 0`` (e.g. to the base
    model's accuracy). ``max_plateau`` constrains the plateau ``p + c`` to at most that value (box-bounded
    least squares on the plateau; e.g. 1 for an accuracy). Needs at least as many points as free parameters.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError("t and y must be 1-d arrays of the same length")
    if np.any(t < 0) or not np.all(np.isfinite(y)):
        raise ValueError("t must be >= 0 and y finite")
    n_terms = int(n_terms)
    n_free = 2 * n_terms + (1 if p_fixed is None else 0)
    if n_terms < 1 or len(t) < n_free:
        raise ValueError(f"{len(t)} points cannot fit {n_terms} term(s) ({n_free} free parameters)")
    pos = t[t > 0]
    lo = np.log(1.0 / max(t.max(), 1e-12))
    hi = np.log(10.0 / max(pos.min() if pos.size else 1.0, 1e-12))
    p0 = float(y[np.argmin(t)])
    c0 = max(float(y.max()) - p0, 1e-3)
    bounded = max_plateau is not None
    lower, upper = np.full(n_free, -np.inf), np.full(n_free, np.inf)
    i_c = 0 if p_fixed is not None else 1
    if bounded:
        if p_fixed is not None and p_fixed >= max_plateau:
            raise ValueError(f"p_fixed = {p_fixed} is not below max_plateau = {max_plateau}")
        upper[i_c] = float(max_plateau)
        start = (p0 if p_fixed is None else float(p_fixed)) + c0  # the plateau parameter's start, strictly inside
        c0 = min(start, float(max_plateau) - 1e-6 * max(1.0, abs(float(max_plateau))))
    best = None
    for shift in (0.0, 0.5 * np.log(10.0), -0.5 * np.log(10.0)):
        rates = np.clip(np.linspace(lo, hi, n_terms) + shift, lo - 5, hi + 5)
        theta0 = np.concatenate(([p0] if p_fixed is None else [], [c0], np.zeros(n_terms - 1), rates))

        def resid(theta: np.ndarray) -> np.ndarray:
            p, c, mu, a = _unpack(theta, n_terms, p_fixed, bounded)
            return mixexp_curve(t, p, c, mu, a) - y

        sol = least_squares(resid, theta0, bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=4000)
        if best is None or sol.cost < best.cost:
            best = sol
    p, c, mu, a = _unpack(best.x, n_terms, p_fixed, bounded)
    rmse = float(np.sqrt(np.mean((mixexp_curve(t, p, c, mu, a) - y) ** 2)))
    return MixExpFit(p=p, c=c, mu=mu, a=a, rmse=rmse)


def loglinear_fit(tokens: np.ndarray, acc: np.ndarray) -> tuple[float, float]:
    """Least-squares line of accuracy on ``log10(tokens)`` (Fig. 2's log-linear trend): (slope per decade, R^2).

    R^2 = 1 - SS_res / SS_tot of that line; a curve bending up or down over the range lowers it.
    """
    x = np.log10(np.asarray(tokens, dtype=float))
    y = np.asarray(acc, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError("loglinear_fit needs at least 3 (tokens, accuracy) points of equal length")
    slope, intercept = np.polyfit(x, y, 1)
    ss_res = float(np.sum((y - (slope * x + intercept)) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return float(slope), (1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")
