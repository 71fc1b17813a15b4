"""The amortised estimator (paper Sec. 4.2): a network predicts each point's scaling-law parameters.

A small MLP maps a point's features to (c, log alpha, log sigma, log beta) for every class; the outputs of
the point's own (observed) label are used, and the loss is the Gaussian negative log-likelihood of the
point's sampled marginal contributions under Delta ~ N(c k^-alpha, sigma^2 k^-beta), plus the paper's weak
prior 1e-5 (alpha - 1)^2. Sharing one network across points pools statistical strength, so a few samples
per point suffice. As in the paper, the network body is first pre-trained as a classifier on the pool
(``pretrain_steps`` full-batch steps; the paper: 10 epochs), then its last layer is replaced by the
zero-initialised law head. Simplifications against the paper (stated in the report): c is predicted directly (signed) instead of log|c| plus a sign head, full-batch AdamW, a random 10% of the
points held out for early stopping (best validation NLL kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from repro.datavalue.laws import Law

__all__ = ["AmortizedConfig", "fit_amortized"]


@dataclass(frozen=True)
class AmortizedConfig:
    """Network and training settings of the amortised estimator."""

    hidden: int = 64  # width of the two hidden layers
    epochs: int = 1500  # full-batch AdamW steps at most
    lr: float = 3e-3  # AdamW learning rate
    weight_decay: float = 1e-5  # AdamW weight decay
    holdout: float = 0.1  # fraction of points held out for early stopping
    patience: int = 200  # stop after this many steps without a better validation NLL
    alpha_prior: float = 1e-5  # weight of the prior (alpha - 1)^2
    pretrain_steps: int = 200  # full-batch Adam steps of classifier pre-training on the pool (0: none)


def fit_amortized(
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    k: np.ndarray,
    delta: np.ndarray,
    cfg: AmortizedConfig,
    seed: int,
    pool_x: np.ndarray | None = None,
    pool_y: np.ndarray | None = None,
) -> Law:
    """Train on samples ``delta`` (P, m) at sizes ``k`` (P, m) of points ``x`` (P, d); returns every point's law."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    P = len(x)
    k_ref = float(np.min(k))
    kt = torch.as_tensor(k / k_ref, dtype=torch.float32)
    logk = torch.log(kt)
    scale = float(np.mean(np.abs(delta) * (k / k_ref)))
    dt = torch.as_tensor(delta / scale, dtype=torch.float32)
    xt = torch.as_tensor(x, dtype=torch.float32)
    lab = torch.as_tensor(np.array(labels), dtype=torch.long)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], cfg.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(cfg.hidden, cfg.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(cfg.hidden, 4 * n_classes),
    )
    if cfg.pretrain_steps and pool_x is not None and pool_y is not None:
        head = torch.nn.Linear(cfg.hidden, n_classes)
        clf = torch.nn.Sequential(*list(net)[:-1], head)
        px, py = torch.as_tensor(pool_x, dtype=torch.float32), torch.as_tensor(pool_y, dtype=torch.long)
        popt = torch.optim.Adam(clf.parameters(), lr=1e-3)
        for _ in range(cfg.pretrain_steps):
            popt.zero_grad()
            torch.nn.functional.cross_entropy(clf(px), py).backward()
            popt.step()
    last = net[-1]
    torch.nn.init.zeros_(last.weight)
    with torch.no_grad():  # start at c = 0, alpha = 1, sigma = std of the rescaled samples, beta = 2
        bias = torch.zeros(n_classes, 4)
        bias[:, 2] = float(np.log(dt.std().item() + 1e-12))
        bias[:, 3] = float(np.log(2.0))
        last.bias.copy_(bias.reshape(-1))
    perm = torch.randperm(P, generator=g)
    n_hold = max(1, int(round(cfg.holdout * P)))
    hold, train = perm[:n_hold], perm[n_hold:]
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def params(idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = net(xt[idx]).reshape(len(idx), n_classes, 4)
        out = out.gather(1, lab[idx].view(-1, 1, 1).expand(-1, 1, 4))[:, 0, :]
        c = out[:, 0:1]
        a = torch.exp(out[:, 1:2].clamp(max=2.0))
        s = torch.exp(out[:, 2:3])
        b = torch.exp(out[:, 3:4].clamp(max=2.0))
        return c, a, s, b

    def nll(idx: torch.Tensor) -> torch.Tensor:
        c, a, s, b = params(idx)
        lk = logk[idx]
        var = s**2 * torch.exp(-b * lk)
        r = dt[idx] - c * torch.exp(-a * lk)
        return (0.5 * (torch.log(var) + r**2 / var)).mean() + cfg.alpha_prior * ((a - 1) ** 2).mean()

    best, best_state, stale = float("inf"), None, 0
    for _ in range(cfg.epochs):
        opt.zero_grad()
        nll(train).backward()
        opt.step()
        with torch.no_grad():
            v = float(nll(hold))
        if v < best - 1e-6:
            best, best_state, stale = v, [p.detach().clone() for p in net.parameters()], 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    if best_state is not None:
        with torch.no_grad():
            for p, q in zip(net.parameters(), best_state):
                p.copy_(q)
    with torch.no_grad():
        c, a, s, b = (t[:, 0].double().numpy() for t in params(torch.arange(P)))
    return Law(c * scale * k_ref**a, a, s * scale * k_ref ** (b / 2), b)
