"""Curve fits shared by the scaling-law papers.

* :func:`fit_sigmoid_link` -- the "sigmoid with a learnable floor" link
  ``y = (1 - b) * sigmoid(alpha + beta @ x) + b`` (ceiling fixed at 1, floor
  ``b`` in bounds), fitted by bounded least squares ("ols") or by a Huber(delta)
  loss with L-BFGS-B ("huber"). Observational scaling laws (Ruan et al. 2024,
  Eq. 3 / App. B.2) use it with x = principal components or log compute.
* :func:`fit_line` -- ordinary least-squares line with R^2.
* :func:`huber_loss`, :func:`mse`, :func:`mae`.
* Target transforms: :func:`minmax`, :func:`log_transform`, :func:`logit_transform`
  and :func:`transform_target` which chains them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import least_squares, minimize

__all__ = [
    "SigmoidLinkFit",
    "LineFit",
    "sigmoid",
    "huber_loss",
    "fit_sigmoid_link",
    "fit_line",
    "mse",
    "mae",
    "minmax",
    "log_transform",
    "logit_transform",
    "transform_target",
]

Loss = Literal["ols", "huber"]
Gradient = Literal["numeric", "analytic"]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function, numerically stable for large |z|."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def huber_loss(residual: np.ndarray, delta: float) -> np.ndarray:
    """Elementwise Huber loss: r^2/2 for |r| <= delta, delta*(|r| - delta/2) beyond."""
    r = np.abs(np.asarray(residual, dtype=float))
    return np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error (NaN for empty inputs)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.mean((y_true - y_pred) ** 2)) if y_true.size else float("nan")


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error (NaN for empty inputs)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.mean(np.abs(y_true - y_pred))) if y_true.size else float("nan")


@dataclass(frozen=True)
class SigmoidLinkFit:
    """Fitted ``y = (1 - floor) * sigmoid(intercept + x @ coef) + floor``.

    Without a learnable floor (``has_floor`` False) ``floor`` is 0: a plain sigmoid.
    """

    intercept: float  # alpha
    coef: np.ndarray  # beta, one weight per predictor column
    floor: float  # b, the learnable floor (ceiling is 1); 0 without a floor
    has_floor: bool
    loss: str
    converged: bool
    n_eval: int

    def linear(self, x: np.ndarray) -> np.ndarray:
        """The sigmoid's argument ``alpha + x @ beta``."""
        return self.intercept + _as_design(x) @ self.coef

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (1.0 - self.floor) * sigmoid(self.linear(x)) + self.floor

    @property
    def params(self) -> np.ndarray:
        """Parameter vector ``[alpha, beta..., b]`` (``b`` only with a floor)."""
        tail = [self.floor] if self.has_floor else []
        return np.concatenate([[self.intercept], self.coef, tail])


def _as_design(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[:, None] if x.ndim == 1 else x


def _link(theta: np.ndarray, x: np.ndarray, has_floor: bool) -> np.ndarray:
    d = x.shape[1]
    s = sigmoid(theta[0] + x @ theta[1 : d + 1])
    if not has_floor:
        return s
    b = theta[d + 1]
    return (1.0 - b) * s + b


def _link_jacobian(theta: np.ndarray, x: np.ndarray, has_floor: bool) -> np.ndarray:
    """d link / d theta, shape (n, n_params)."""
    d = x.shape[1]
    b = theta[d + 1] if has_floor else 0.0
    s = sigmoid(theta[0] + x @ theta[1 : d + 1])
    ds = (1.0 - b) * s * (1.0 - s)
    cols = [ds, ds[:, None] * x]
    if has_floor:
        cols.append(1.0 - s)
    return np.column_stack(cols)


def fit_sigmoid_link(
    x: np.ndarray,
    y: np.ndarray,
    *,
    loss: Loss = "ols",
    delta: float = 1.0,
    floor_bounds: tuple[float, float] | None = (0.0, 0.2),
    init_coef: float = 0.03,
    max_nfev: int = 10000,
    gradient: Gradient = "numeric",
    tol: float | None = None,
) -> SigmoidLinkFit:
    """Fit the sigmoid link to predictors ``x`` (n, d) and targets ``y`` (n,).

    With ``floor_bounds=(lo, hi)`` the link is ``(1 - b) sigmoid(alpha + x @ beta) + b``
    with ``lo <= b <= hi``; with ``floor_bounds=None`` it is a plain sigmoid.
    Start: alpha = 0, beta = ``init_coef`` for every predictor, b = ``lo``.

    * ``loss="ols"``: nonlinear least squares -- trust-region reflective with the
      floor bounded, Levenberg-Marquardt without a floor (what ``curve_fit``
      does), at most ``max_nfev`` evaluations.
    * ``loss="huber"``: minimise the summed Huber(``delta``) loss with L-BFGS-B
      (floor bounded) or BFGS (no floor). With targets in [0, 1] and
      ``delta >= 1`` this is least squares again.

    ``gradient="numeric"`` uses scipy's finite differences (the default
    behaviour of ``curve_fit``/``minimize``, which the published results were
    made with); ``"analytic"`` supplies exact derivatives. ``tol`` (None: scipy's
    defaults) tightens the stopping tolerances of either optimiser.
    """
    x = _as_design(x)
    y = np.asarray(y, dtype=float)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise ValueError("fit_sigmoid_link: x and y must be finite")
    if loss not in ("ols", "huber"):
        raise ValueError(f"unknown loss {loss!r}; expected 'ols' or 'huber'")
    if gradient not in ("numeric", "analytic"):
        raise ValueError(f"unknown gradient {gradient!r}; expected 'numeric' or 'analytic'")
    has_floor = floor_bounds is not None
    d = x.shape[1]
    theta0 = np.concatenate([[0.0], np.full(d, float(init_coef))])
    if has_floor:
        lo, hi = (float(v) for v in floor_bounds)  # type: ignore[union-attr]
        theta0 = np.append(theta0, lo)
    analytic = gradient == "analytic"

    def residual(t: np.ndarray) -> np.ndarray:
        return _link(t, x, has_floor) - y

    def jac(t: np.ndarray) -> np.ndarray:
        return _link_jacobian(t, x, has_floor)

    if loss == "ols":
        tols = {} if tol is None else {"ftol": tol, "xtol": tol, "gtol": tol}
        if has_floor:
            lower = np.append(np.full(d + 1, -np.inf), lo)
            upper = np.append(np.full(d + 1, np.inf), hi)
            res = least_squares(
                residual,
                theta0,
                jac=jac if analytic else "2-point",
                bounds=(lower, upper),
                method="trf",
                max_nfev=max_nfev,
                **tols,
            )
        else:
            res = least_squares(
                residual, theta0, jac=jac if analytic else "2-point", method="lm", max_nfev=max_nfev, **tols
            )
        theta, ok, nfev = res.x, bool(res.success), int(res.nfev)
    else:

        def objective(t: np.ndarray) -> float:
            return float(huber_loss(residual(t), delta).sum())

        def grad(t: np.ndarray) -> np.ndarray:
            return np.clip(residual(t), -delta, delta) @ jac(t)  # d huber / d prediction, chained

        if has_floor:
            options = {} if tol is None else {"ftol": tol, "gtol": tol, "maxiter": max_nfev, "maxfun": max_nfev}
            res = minimize(
                objective,
                theta0,
                jac=grad if analytic else None,
                method="L-BFGS-B",
                bounds=[(None, None)] * (d + 1) + [(lo, hi)],
                options=options,
            )
        else:
            options = {} if tol is None else {"gtol": tol, "maxiter": max_nfev}
            res = minimize(objective, theta0, jac=grad if analytic else None, method="BFGS", options=options)
        theta, ok, nfev = res.x, bool(res.success), int(res.nfev)
    return SigmoidLinkFit(
        intercept=float(theta[0]),
        coef=np.asarray(theta[1 : d + 1], dtype=float),
        floor=float(theta[d + 1]) if has_floor else 0.0,
        has_floor=has_floor,
        loss=loss,
        converged=ok,
        n_eval=nfev,
    )


@dataclass(frozen=True)
class LineFit:
    """``y = slope * x + intercept`` fitted by ordinary least squares."""

    slope: float
    intercept: float
    r2: float
    n: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.slope * np.asarray(x, dtype=float) + self.intercept


def fit_line(x: np.ndarray, y: np.ndarray) -> LineFit:
    """OLS line through (x, y) with the coefficient of determination R^2."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("fit_line: x and y must be 1-D arrays of the same length")
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError("fit_line: needs at least two distinct x values")
    xm, ym = x.mean(), y.mean()
    slope = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    intercept = float(ym - slope * xm)
    ss_res = float(((y - (slope * x + intercept)) ** 2).sum())
    ss_tot = float(((y - ym) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return LineFit(slope=slope, intercept=intercept, r2=r2, n=int(x.size))


# --- target transforms -------------------------------------------------------------

_EPS = 1e-9


def minmax(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Rescale ``y`` so that ``lo`` -> 0 and ``hi`` -> 1 (e.g. chance level -> 0)."""
    if hi == lo:
        raise ValueError("minmax: hi must differ from lo")
    return (np.asarray(y, dtype=float) - lo) / (hi - lo)


def log_transform(y: np.ndarray, eps: float = _EPS) -> np.ndarray:
    """Natural log of ``y + eps``."""
    return np.log(np.asarray(y, dtype=float) + eps)


def logit_transform(y: np.ndarray, eps: float = _EPS) -> np.ndarray:
    """``log((y + eps) / (1 - y + eps))``."""
    y = np.asarray(y, dtype=float)
    return np.log((y + eps) / (1.0 - y + eps))


def transform_target(y: np.ndarray, value_range: Sequence[float] | None = None, func: str = "none") -> np.ndarray:
    """Min-max to ``value_range`` (if given), then apply ``func`` in {none, log, logit}."""
    out = np.asarray(y, dtype=float)
    if value_range is not None:
        out = minmax(out, float(value_range[0]), float(value_range[1]))
    if func == "log":
        out = log_transform(out)
    elif func == "logit":
        out = logit_transform(out)
    elif func != "none":
        raise ValueError(f"unknown target transform {func!r}; expected none, log or logit")
    return out
