"""The individualised scaling law psi_k(z) ~ c(z) k^-alpha(z) and its estimators (paper Sec. 4.1-4.2).

* :func:`fit_log` -- the log-space estimator (the paper's validation fits, Fig. 1): regress
  log|mean_k Delta| on log k (slope -alpha), then c by least squares through the origin on k^-alpha.
* :func:`fit_mle` -- the maximum-likelihood estimator with the paper's noise model (Sec. 4.2):
  Delta ~ N(c k^-alpha, sigma^2 k^-beta). For fixed (alpha, beta), c and sigma have closed forms
  (c = mean(Delta k^(beta - alpha)) / mean(k^(beta - 2 alpha)), sigma^2 = mean((Delta - c k^-alpha)^2 k^beta));
  log alpha and log beta are optimised with Adam (lr 0.05, init alpha 1, beta 2, both logs clamped <= 2, at
  most ``max_steps`` steps, stop after ``patience`` steps without improvement, keep the best NLL), batched over
  every point at once.
* :func:`predict`, :func:`r2`, :func:`grid_value` (the distributional value over the size grid).
* :func:`bootstrap_r2` -- the noise of an R^2 comparison between estimators: R^2 on bootstrap resamples of the
  valued points (paired: the same resamples for every estimator) and on two disjoint halves of the points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Law", "fit_log", "fit_mle", "predict", "r2", "grid_value", "bootstrap_r2"]


@dataclass
class Law:
    """Fitted per-point laws: psi_k = c k^-alpha (noise sigma^2 k^-beta for the MLE; NaN for the log fit)."""

    c: np.ndarray
    alpha: np.ndarray
    sigma: np.ndarray
    beta: np.ndarray
    log_r2: np.ndarray | None = None  # per-point R^2 of the log-space regression (log fit only)


def predict(law: Law, sizes: np.ndarray) -> np.ndarray:
    """psi_k = c k^-alpha for every point (rows) and size (columns)."""
    k = np.asarray(sizes, dtype=float)
    return law.c[:, None] * k[None, :] ** (-law.alpha[:, None])


def r2(y: np.ndarray, yhat: np.ndarray) -> float:
    """Coefficient of determination of predictions ``yhat`` for ``y`` (pooled over all entries)."""
    y, yhat = np.asarray(y, float).ravel(), np.asarray(yhat, float).ravel()
    ss = np.sum((y - y.mean()) ** 2)
    return float(1.0 - np.sum((y - yhat) ** 2) / ss) if ss > 0 else float("nan")


def bootstrap_r2(
    y: np.ndarray, preds: dict[str, np.ndarray], n_boot: int, seed: int
) -> tuple[dict[str, list[float]], dict[str, tuple[float, float]]]:
    """R^2 of each estimator's predictions against ``y`` on resamples of the valued points (rows).

    Returns ({name: R^2 per bootstrap replicate}, {name: (R^2 on half a, R^2 on half b)}). The replicates
    resample the rows with replacement, the same rows for every estimator (a paired comparison); the
    halves are two disjoint random halves of the rows (issue 27: a verdict must hold on both). Columns
    (dataset sizes) stay with their row. Only the points are resampled: the noise of the sampled
    subsets behind each point's estimate is inside each point's error, not resampled separately.
    """
    y = np.asarray(y, float)
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    rows = rng.integers(0, n, size=(n_boot, n))
    perm = rng.permutation(n)
    half_a, half_b = np.sort(perm[: n // 2]), np.sort(perm[n // 2 :])
    boot, halves = {}, {}
    for name, p in preds.items():
        p = np.asarray(p, float)
        boot[name] = [r2(y[i], p[i]) for i in rows]
        halves[name] = (r2(y[half_a], p[half_a]), r2(y[half_b], p[half_b]))
    return boot, halves


def grid_value(law: Law, sizes: np.ndarray) -> np.ndarray:
    """Distributional value over the size grid: the mean over grid sizes of c k^-alpha (paper Sec. 4.3)."""
    return predict(law, sizes).mean(axis=1)


def fit_log(sizes: np.ndarray, means: np.ndarray) -> Law:
    """Log-space estimator from per-size means (P, J): alpha = -slope of log|mean| on log k; c through the origin."""
    k = np.asarray(sizes, float)
    lk = np.log(k)
    P = means.shape[0]
    alpha, c, lr2 = np.zeros(P), np.zeros(P), np.zeros(P)
    for i in range(P):
        m = means[i]
        ok = m != 0
        ly = np.log(np.abs(m[ok]))
        x = lk[ok] - lk[ok].mean()
        slope = float(np.sum(x * (ly - ly.mean())) / np.sum(x**2))
        alpha[i] = -slope
        resid = ly - (ly.mean() + slope * x)
        tot = np.sum((ly - ly.mean()) ** 2)
        lr2[i] = 1 - np.sum(resid**2) / tot if tot > 0 else float("nan")
        basis = k ** (-alpha[i])
        c[i] = float(np.sum(m * basis) / np.sum(basis**2))
    nan = np.full(P, np.nan)
    return Law(c, alpha, nan, nan.copy(), lr2)


def fit_mle(
    sizes: np.ndarray,
    delta: np.ndarray,
    max_steps: int = 1000,
    patience: int = 100,
    lr: float = 0.05,
) -> Law:
    """MLE of (c, alpha, sigma, beta) per point from samples ``delta`` (P, J, S) at ``sizes`` (J,).

    Sizes are rescaled by the smallest one for conditioning and the results mapped back, so the law is
    psi_k = c k^-alpha in the original k.
    """
    k_ref = float(np.min(sizes))
    P, J, S = delta.shape
    k = torch.as_tensor(np.repeat(np.asarray(sizes, float) / k_ref, S), dtype=torch.float64)  # (J*S,)
    d = torch.as_tensor(delta.reshape(P, J * S), dtype=torch.float64)
    scale = d.abs().mean(1, keepdim=True).clamp_min(1e-300)  # per-point units (c and sigma scale with it)
    d = d / scale
    logk = torch.log(k)
    theta = torch.zeros(P, 2, dtype=torch.float64)
    theta[:, 1] = np.log(2.0)
    theta.requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)

    def closed_form(th: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a, b = torch.exp(th[:, :1]), torch.exp(th[:, 1:])
        ka, kb = torch.exp(-a * logk), torch.exp(b * logk)
        c = (d * kb * ka).mean(1, keepdim=True) / (kb * ka**2).mean(1, keepdim=True)
        s2 = ((d - c * ka) ** 2 * kb).mean(1, keepdim=True).clamp_min(1e-300)
        nll = 0.5 * (torch.log(s2) - b * logk.mean()).squeeze(1)  # per-sample NLL up to a constant
        return nll, c, s2, a, b

    best = torch.full((P,), float("inf"), dtype=torch.float64)
    best_theta = theta.detach().clone()
    stale = 0
    for _ in range(max_steps):
        opt.zero_grad()
        nll, *_ = closed_form(theta)
        with torch.no_grad():
            improved = nll < best - 1e-12
            best = torch.where(improved, nll, best)
            best_theta[improved] = theta.detach()[improved]
        stale = 0 if bool(improved.any()) else stale + 1
        if stale >= patience:
            break
        nll.sum().backward()
        opt.step()
        with torch.no_grad():
            theta.clamp_(max=2.0)
    with torch.no_grad():
        _, c, s2, a, b = closed_form(best_theta)
    a, b = a[:, 0].numpy(), b[:, 0].numpy()
    c = (c[:, 0] * scale[:, 0]).numpy() * k_ref**a
    sigma = (torch.sqrt(s2[:, 0]) * scale[:, 0]).numpy() * k_ref ** (b / 2)
    return Law(c, a, sigma, b)
