"""Batched model fits: many subsets' models solved at once in torch (the cost of the paper's Sec. 3 estimates).

The paper trains one model per sampled subset, ~10^7 fits per dataset/model pair. Here a batch of
problems shares one data matrix per group: problem (g, p) fits the rows of ``x[g]`` with weights
``weights[g, p]`` (0/1 selects a subset) plus optionally one extra row ``extra_x[g, p]`` (the point z whose
marginal contribution is measured). So the (1 + P) fits of one sampled subset D -- D itself and D + {z}
for every valued point z -- are one group, solved together, and D + {z} starts from D's solution
(warm start).

* :func:`fit_logreg` -- L2-regularised binary logistic regression, the objective of scikit-learn's
  ``LogisticRegression(C=C)`` (0.5 |w|^2 + C sum_i l_i; intercept not penalised), solved by damped
  Newton steps (backtracking line search) to a Newton decrement below ``tol``; float64.
* :func:`fit_mlp` -- one-hidden-layer ReLU MLP trained full batch with Adam from a fixed initialisation
  (seed), shared by every problem so that model randomness is fixed (the paper: init seed 0).
* :func:`val_cross_entropy` / :func:`accuracy` -- the utilities.
* :func:`fit_logreg_sklearn` -- the scikit-learn reference (tests and the speed benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "ModelSpec",
    "Problems",
    "fit_logreg",
    "fit_mlp",
    "fit",
    "predict_logits",
    "val_cross_entropy",
    "accuracy",
    "fit_logreg_sklearn",
]


@dataclass(frozen=True)
class ModelSpec:
    """One model family (params.yaml ``datavalue.models.<name>``)."""

    kind: str  # logreg | mlp
    C: float = 1.0  # logreg: inverse L2 strength (scikit-learn's C)
    tol: float = 1e-10  # logreg: stop when every problem's Newton decrement is below tol
    max_iter: int = 50  # logreg: Newton steps at most
    hidden: int = 32  # mlp: hidden units (one ReLU layer)
    steps: int = 200  # mlp: full-batch Adam steps
    lr: float = 0.01  # mlp: Adam learning rate
    weight_decay: float = 1e-4  # mlp: L2 penalty on the weights (added to the mean loss)
    init_seed: int = 0  # mlp: seed of the one initialisation every fit starts from


@dataclass
class Problems:
    """A batch of weighted fits: G groups of shared rows, P problems per group.

    x: (G, n, d); y: (G, n) int; weights: (G, P, n); extra_x: (G, P, d) or None; extra_y: (G, P);
    extra_w: (G, P) weight of the extra row (0 = no extra row).
    """

    x: torch.Tensor
    y: torch.Tensor
    weights: torch.Tensor
    extra_x: torch.Tensor | None = None
    extra_y: torch.Tensor | None = None
    extra_w: torch.Tensor | None = None

    @staticmethod
    def build(
        x: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray,
        extra_x: np.ndarray | None = None,
        extra_y: np.ndarray | None = None,
        extra_w: np.ndarray | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> "Problems":
        t = lambda a, dt=dtype: None if a is None else torch.as_tensor(np.array(a), dtype=dt)  # noqa: E731
        return Problems(t(x), t(y, torch.long), t(weights), t(extra_x), t(extra_y, torch.long), t(extra_w))


def _with_bias(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype)], dim=-1)


def _logreg_objective(
    pr: Problems, xa: torch.Tensor, ea: torch.Tensor | None, w: torch.Tensor, C: float
) -> torch.Tensor:
    """0.5 |coef|^2 + C sum_i s_i l_i per problem; w: (G, P, d+1)."""
    z = torch.einsum("gnd,gpd->gpn", xa, w)
    yf = pr.y.to(z.dtype)[:, None, :]
    loss = torch.nn.functional.softplus(z) - yf * z
    obj = C * (pr.weights * loss).sum(-1) + 0.5 * (w[..., :-1] ** 2).sum(-1)
    if ea is not None:
        ze = (ea * w).sum(-1)
        ye = pr.extra_y.to(z.dtype)
        obj = obj + C * pr.extra_w * (torch.nn.functional.softplus(ze) - ye * ze)
    return obj


def fit_logreg(pr: Problems, spec: ModelSpec, init: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """Solve every problem's logistic regression; returns (weights (G, P, d+1) with the bias last, Newton steps)."""
    if int(pr.y.max()) > 1:
        raise ValueError("fit_logreg: binary labels only (use the mlp model for more classes)")
    xa = _with_bias(pr.x)
    ea = None if pr.extra_x is None else _with_bias(pr.extra_x)
    G, n, d1 = xa.shape
    P = pr.weights.shape[1]
    w = torch.zeros(G, P, d1, dtype=xa.dtype) if init is None else init.clone().to(xa.dtype)
    reg = torch.ones(d1, dtype=xa.dtype)
    reg[-1] = 0.0
    outer = (xa[:, :, :, None] * xa[:, :, None, :]).reshape(G, n, d1 * d1)
    yf = pr.y.to(xa.dtype)[:, None, :]
    obj = _logreg_objective(pr, xa, ea, w, spec.C)
    steps = 0
    for steps in range(1, spec.max_iter + 1):
        z = torch.einsum("gnd,gpd->gpn", xa, w)
        p = torch.sigmoid(z)
        r = pr.weights * (p - yf)
        grad = spec.C * torch.bmm(r, xa) + reg * w
        curv = pr.weights * p * (1 - p)
        hess = spec.C * torch.bmm(curv, outer).reshape(G, P, d1, d1) + torch.diag(reg + 1e-12)
        if ea is not None:
            ze = (ea * w).sum(-1)
            pe = torch.sigmoid(ze)
            grad = grad + spec.C * (pr.extra_w * (pe - pr.extra_y.to(xa.dtype)))[..., None] * ea
            ce = spec.C * pr.extra_w * pe * (1 - pe)
            hess = hess + ce[..., None, None] * ea[..., :, None] * ea[..., None, :]
        step = torch.linalg.solve(hess, grad[..., None])[..., 0]
        decrement = (grad * step).sum(-1)
        if float(decrement.max()) < spec.tol:
            break
        t = torch.ones(G, P, dtype=xa.dtype)
        accepted = torch.zeros(G, P, dtype=torch.bool)
        new_w, new_obj = w.clone(), obj.clone()
        for _ in range(30):
            cand = w - t[..., None] * step
            cobj = _logreg_objective(pr, xa, ea, cand, spec.C)
            ok = (~accepted) & (cobj <= obj - 1e-4 * t * decrement)
            new_w[ok], new_obj[ok] = cand[ok], cobj[ok]
            accepted |= ok
            if bool(accepted.all()):
                break
            t = torch.where(accepted, t, t / 2)
        w, obj = new_w, new_obj
    return w, steps


def _mlp_init(d: int, hidden: int, n_classes: int, seed: int, dtype: torch.dtype) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b1, b2 = 1 / np.sqrt(d), 1 / np.sqrt(hidden)
    return [
        (torch.rand(d, hidden, generator=g, dtype=dtype) * 2 - 1) * b1,
        (torch.rand(hidden, generator=g, dtype=dtype) * 2 - 1) * b1,
        (torch.rand(hidden, n_classes, generator=g, dtype=dtype) * 2 - 1) * b2,
        (torch.rand(n_classes, generator=g, dtype=dtype) * 2 - 1) * b2,
    ]


def _mlp_forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x: (G, n, d) shared per group or (G, P, n, d); params batched (G, P, ...); returns (G, P, n, C)."""
    w1, b1, w2, b2 = params
    h = torch.einsum("gnd,gpdh->gpnh", x, w1) if x.dim() == 3 else torch.einsum("gpnd,gpdh->gpnh", x, w1)
    h = torch.relu(h + b1[:, :, None, :])
    return torch.einsum("gpnh,gphc->gpnc", h, w2) + b2[:, :, None, :]


def fit_mlp(pr: Problems, spec: ModelSpec, n_classes: int) -> list[torch.Tensor]:
    """Train one MLP per problem (full batch Adam, mean weighted cross-entropy + L2), all from one init."""
    G, n, d = pr.x.shape
    P = pr.weights.shape[1]
    dtype = pr.x.dtype
    base = _mlp_init(d, spec.hidden, n_classes, spec.init_seed, dtype)
    params = [p.expand(G, P, *p.shape).clone().requires_grad_(True) for p in base]
    opt = torch.optim.Adam(params, lr=spec.lr)
    total = pr.weights.sum(-1) + (pr.extra_w if pr.extra_w is not None else 0.0)
    for _ in range(spec.steps):
        opt.zero_grad(set_to_none=True)
        logits = _mlp_forward(params, pr.x)
        ce = torch.nn.functional.cross_entropy(
            logits.reshape(-1, n_classes), pr.y[:, None, :].expand(G, P, n).reshape(-1), reduction="none"
        ).reshape(G, P, n)
        loss = (pr.weights * ce).sum(-1)
        if pr.extra_x is not None:
            le = _mlp_forward(params, pr.extra_x[:, :, None, :])[:, :, 0, :]
            ce_e = torch.nn.functional.cross_entropy(
                le.reshape(-1, n_classes), pr.extra_y.reshape(-1), reduction="none"
            ).reshape(G, P)
            loss = loss + pr.extra_w * ce_e
        loss = loss / total + spec.weight_decay * ((params[0] ** 2).sum((-2, -1)) + (params[2] ** 2).sum((-2, -1)))
        loss.sum().backward()
        opt.step()
    return [p.detach() for p in params]


def fit(pr: Problems, spec: ModelSpec, n_classes: int, init: object | None = None) -> object:
    """Fit with the model family of ``spec`` (``init``: a warm start, logreg only)."""
    if spec.kind == "logreg":
        return fit_logreg(pr, spec, init if isinstance(init, torch.Tensor) else None)[0]
    if spec.kind == "mlp":
        return fit_mlp(pr, spec, n_classes)
    raise ValueError(f"model kind {spec.kind!r} is not one of ['logreg', 'mlp']")


def predict_logits(model: object, x: torch.Tensor) -> torch.Tensor:
    """Logits (G, P, m, C) of fitted models on rows x (m, d) shared by all problems."""
    if isinstance(model, torch.Tensor):  # logreg (G, P, d+1): two-class logits [0, z]
        z = torch.einsum("md,gpd->gpm", _with_bias(x.to(model.dtype)), model)
        return torch.stack([torch.zeros_like(z), z], dim=-1)
    params = model  # mlp
    G, P = params[0].shape[:2]
    return _mlp_forward(params, x.to(params[0].dtype)[None].expand(G, -1, -1))


def val_cross_entropy(model: object, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of every fitted model on (x, y): (G, P). The utility is its negative."""
    logits = predict_logits(model, x)
    logp = torch.log_softmax(logits, dim=-1)
    return -logp.gather(-1, y.view(1, 1, -1, 1).expand(*logits.shape[:3], 1))[..., 0].mean(-1)


def accuracy(model: object, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Accuracy of every fitted model on (x, y): (G, P)."""
    return (predict_logits(model, x).argmax(-1) == y.view(1, 1, -1)).to(torch.float64).mean(-1)


def fit_logreg_sklearn(
    x: np.ndarray, y: np.ndarray, C: float = 1.0, tol: float = 1e-4, solver: str = "lbfgs"
) -> np.ndarray:
    """scikit-learn's LogisticRegression(C) on one subset; returns [coef..., intercept] (the reference)."""
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=C, tol=tol, solver=solver, max_iter=10_000).fit(x, y)
    return np.concatenate([m.coef_[0], m.intercept_])
