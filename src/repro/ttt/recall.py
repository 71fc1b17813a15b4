"""Streaming associative recall: a long-range task whose Bayes-optimal loss is known at every position.

The tiny-scale substitute for the paper's "loss vs token index" study (Sun et al. 2024, Sec. 3.2 and the
Books-32k figure): at tiny scale a text LM learns little beyond bigram statistics, so the question "does the
layer keep using its context?" cannot be asked of text. Here it can: each sequence draws a private
dictionary of ``pairs`` keys, each with a value of ``value_len`` tokens, and then streams groups
``key v_1 .. v_L`` with the key drawn uniformly (with replacement) from the dictionary. A value token of a key
seen before is determined by the context (Bayes loss 0); one of a new key costs ``ln(n_values)``; the key
token itself costs ``ln(pairs)`` if it names a seen key and ``ln(pairs (K - m) / (pairs - m))`` otherwise
(``m`` distinct keys seen, ``K`` key tokens). So the Bayes curve falls across the context as keys repeat, and
every model's gap to it is exact. No tokenizer: vocabulary = ``n_keys`` key tokens + ``n_values`` value tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class RecallTask:
    """One streaming-recall task: vocabulary layout, dictionary size, sequence length."""

    n_keys: int = 48  # key tokens 0 .. n_keys - 1
    n_values: int = 16  # value tokens n_keys .. n_keys + n_values - 1
    value_len: int = 2  # tokens per value (values drawn uniformly from n_values ** value_len)
    pairs: int = 16  # dictionary size per sequence (keys drawn without replacement)
    context: int = 256  # model input length T (sequences hold T + 1 tokens)

    def __post_init__(self) -> None:
        if not 1 <= self.pairs <= self.n_keys:
            raise ValueError(f"recall: pairs {self.pairs} must be in [1, n_keys={self.n_keys}]")
        if self.n_values < 2 or self.value_len < 1 or self.context < self.value_len + 1:
            raise ValueError(f"recall: bad task {self}")

    @property
    def vocab_size(self) -> int:
        return self.n_keys + self.n_values

    @property
    def group(self) -> int:
        return 1 + self.value_len


@dataclass(frozen=True)
class RecallBatch:
    """Token sequences ``[N, T + 1]`` and, for each predicted position ``t`` (target token ``t + 1``):
    the Bayes-optimal loss, whether the target is a value token of a repeated key (``recall``), and the
    number of distinct keys seen before the target (``seen``), all ``[N, T]``."""

    tokens: Tensor
    bayes: Tensor
    recall: Tensor
    seen: Tensor


def sample_batch(task: RecallTask, n: int, rng: np.random.Generator) -> RecallBatch:
    """``n`` independent sequences of ``task`` with their exact per-position Bayes loss."""
    L, g, T = task.value_len, task.group, task.context
    n_groups = (T + 1 + g - 1) // g
    tokens = np.empty((n, n_groups * g), dtype=np.int64)
    bayes = np.empty((n, n_groups * g), dtype=np.float64)
    recall = np.zeros((n, n_groups * g), dtype=bool)
    seen = np.zeros((n, n_groups * g), dtype=np.int64)
    ln_v = math.log(task.n_values)
    for i in range(n):
        keys = rng.choice(task.n_keys, size=task.pairs, replace=False)
        values = rng.integers(0, task.n_values, size=(task.pairs, L)) + task.n_keys
        which = rng.integers(0, task.pairs, size=n_groups)
        known: set[int] = set()
        for j, w in enumerate(which):
            p = j * g
            m = len(known)
            tokens[i, p] = keys[w]
            seen[i, p : p + g] = m
            if w in known:
                bayes[i, p] = math.log(task.pairs)
                bayes[i, p + 1 : p + g] = 0.0
                recall[i, p + 1 : p + g] = True
            else:
                bayes[i, p] = math.log(task.pairs * (task.n_keys - m) / (task.pairs - m))
                bayes[i, p + 1 : p + g] = ln_v
                known.add(int(w))
            tokens[i, p + 1 : p + g] = values[w]
    sl = slice(1, T + 1)  # targets: tokens 1..T (position t predicts token t + 1)
    return RecallBatch(
        tokens=torch.from_numpy(tokens[:, : T + 1].copy()),
        bayes=torch.from_numpy(bayes[:, sl].copy()),
        recall=torch.from_numpy(recall[:, sl].copy()),
        seen=torch.from_numpy(seen[:, sl].copy()),
    )


def gap_slope(positions: np.ndarray, gap: np.ndarray) -> float:
    """Least-squares slope of the gap to the Bayes curve against ln(position + 1) (nats per e-fold)."""
    x = np.log(np.asarray(positions, dtype=np.float64) + 1.0)
    y = np.asarray(gap, dtype=np.float64)
    if len(x) < 2:
        raise ValueError("gap_slope needs at least two positions")
    return float(np.polyfit(x, y, 1)[0])


# ---------------------------------------------------------------------------------------------------
# Training and evaluation (fresh sequences every step: the task has unlimited data)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecallTrainConfig:
    """The recall training recipe: AdamW (0.9, 0.95), linear warm-up then cosine to ``min_lr``, clip 1."""

    steps: int
    batch_size: int
    lr: float
    min_lr: float
    warmup_frac: float
    weight_decay: float
    grad_clip: float
    seed: int  # model init and training data
    log_every: int


def _lr_at(step: int, tc: RecallTrainConfig) -> float:
    warm = max(1, int(round(tc.warmup_frac * tc.steps)))
    if step < warm:
        return tc.lr * (step + 1) / warm
    frac = min(1.0, (step - warm) / max(1, tc.steps - warm))
    return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1.0 + math.cos(math.pi * frac))


def train_recall(model: torch.nn.Module, task: RecallTask, tc: RecallTrainConfig, progress: bool = True) -> dict:
    """Train ``model`` on fresh sequences of ``task``; returns the loss history and the throughput.

    ``tokens_per_s`` is training tokens per second of this process's CPU time (the job runs on one thread,
    so CPU time is what the run costs and is not inflated by other jobs on shared cores); the wall-clock
    rate is reported beside it.
    """
    import time

    from tqdm import tqdm

    torch.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)
    device = next(model.parameters()).device  # batches are sampled on the CPU (numpy) and moved to the model
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and p.requires_grad]
    other = [p for n, p in model.named_parameters() if p.dim() < 2 and p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": tc.weight_decay}, {"params": other, "weight_decay": 0.0}],
        lr=tc.lr,
        betas=(0.9, 0.95),
    )
    history: list[dict[str, float]] = []
    model.train()
    # TTT-MLP: eta_base warms up linearly with the outer learning rate (paper Sec. 3: 0.1 after 10% warm-up)
    from dataclasses import replace as _replace

    from repro.ttt.layers import TTTLayer

    mlp_layers = [(m, m.cfg.eta_base) for m in model.modules() if isinstance(m, TTTLayer) and m.cfg.inner == "mlp"]
    warm = max(1, int(round(tc.warmup_frac * tc.steps)))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    bar = tqdm(range(tc.steps), disable=not progress, mininterval=5.0, desc="recall train")
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, tc)
        for layer, eta_base in mlp_layers:
            layer.cfg = _replace(layer.cfg, eta_base=eta_base * min(1.0, (step + 1) / warm))
        x = sample_batch(task, tc.batch_size, rng).tokens.to(device)
        logits = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"recall training diverged at step {step} (loss {loss.item()})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        if step % tc.log_every == 0 or step == tc.steps - 1:
            history.append({"step": step, "loss": float(loss.item())})
            bar.set_postfix(loss=f"{loss.item():.3f}")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    for layer, eta_base in mlp_layers:
        layer.cfg = _replace(layer.cfg, eta_base=eta_base)
    tokens = tc.steps * tc.batch_size * task.context
    return {
        "history": history,
        "train_tokens": tokens,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "tokens_per_s": tokens / max(cpu, 1e-9),
        "tokens_per_wall_s": tokens / max(wall, 1e-9),
    }


@torch.no_grad()
def evaluate_recall(
    model: torch.nn.Module, task: RecallTask, n_sequences: int, seed: int, batch_size: int = 32
) -> dict[str, Any]:
    """Per-position loss, Bayes loss and recall accuracy on ``n_sequences`` fresh sequences (``seed``).

    Returns ``loss``/``bayes`` ``[T]`` (mean nats per position), ``no_memory`` ``[T]`` (the sanity floor: the
    Bayes predictor that forgets values, i.e. ``ln(n_values)`` on every value token), ``accuracy`` (argmax = target on value tokens
    of repeated keys), and accuracy / count by the number of distinct keys seen before the target.
    """
    model.eval()
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    loss_sum = torch.zeros(task.context, dtype=torch.float64)
    bayes_sum = torch.zeros(task.context, dtype=torch.float64)
    nomem_sum = torch.zeros(task.context, dtype=torch.float64)
    hits = torch.zeros(task.pairs + 1, dtype=torch.float64)
    counts = torch.zeros(task.pairs + 1, dtype=torch.float64)
    done = 0
    while done < n_sequences:
        n = min(batch_size, n_sequences - done)
        b = sample_batch(task, n, rng)
        logits = model(b.tokens[:, :-1].to(device)).double().cpu()  # the sums stay on the CPU, in float64
        target = b.tokens[:, 1:]
        nll = -torch.log_softmax(logits, -1).gather(-1, target[..., None])[..., 0]
        loss_sum += nll.sum(0)
        bayes_sum += b.bayes.sum(0)
        nomem_sum += torch.where(b.recall, math.log(task.n_values), b.bayes).sum(0)
        correct = (logits.argmax(-1) == target) & b.recall
        hits += torch.bincount(b.seen[b.recall], weights=correct[b.recall].double(), minlength=task.pairs + 1)
        counts += torch.bincount(b.seen[b.recall], minlength=task.pairs + 1).double()
        done += n
    return {
        "loss": (loss_sum / n_sequences).tolist(),
        "bayes": (bayes_sum / n_sequences).tolist(),
        "no_memory": (nomem_sum / n_sequences).tolist(),
        "accuracy": float(hits.sum() / max(counts.sum().item(), 1.0)),
        "accuracy_by_seen": [float(h / c) if c > 0 else float("nan") for h, c in zip(hits, counts)],
        "count_by_seen": [int(c) for c in counts],
    }


def gap_summary(loss: list[float], bayes: list[float], min_position: int) -> dict[str, float]:
    """Mean gap to the Bayes curve over positions ``>= min_position`` and its slope against ln(position)."""
    gap = np.asarray(loss) - np.asarray(bayes)
    pos = np.arange(len(gap))
    keep = pos >= min_position
    if keep.sum() < 2:
        raise ValueError(f"recall: context {len(gap)} too short for gap positions >= {min_position}")
    return {"gap_to_bayes": float(gap[keep].mean()), "gap_slope": gap_slope(pos[keep], gap[keep])}


# ---------------------------------------------------------------------------------------------------
# The inner loop's own losses (the paper's inner-loss figure): l(W0; x_t), l(W_{t-1}; x_t), l(W_t; x_t)
# ---------------------------------------------------------------------------------------------------


def _inner_loss(params: dict[str, Tensor], xk: Tensor, xv: Tensor, kind: str, ln: bool, g, b, eps: float) -> Tensor:
    """``‖f(x_K; W) − x_V‖²`` per ``[B, H]`` for one token (``xk``, ``xv`` ``[B, H, 1, d]``)."""
    z = xk @ params["W1"]
    if "b1" in params:
        z = z + params["b1"]
    if kind == "mlp":
        z = torch.nn.functional.gelu(z, approximate="tanh") @ params["W2"]
        if "b2" in params:
            z = z + params["b2"]
    if ln:
        from repro.ttt.layers import layer_norm

        z = xk + layer_norm(z, g, b, eps)
    return (z - xv).pow(2).sum(-1)[..., 0]


def _current(state: Any, scale: Tensor) -> dict[str, Tensor]:
    """The weights a TTT state currently holds: ``W_{t'} − s_count Σ η ∇`` inside a mini-batch."""
    if state.count == 0:
        return state.params
    s = scale[state.count - 1]
    return {k: state.params[k] - s * state.grads[k] for k in state.params}


@torch.no_grad()
def inner_losses(model: torch.nn.Module, tokens: Tensor) -> dict[str, list[float]]:
    """Per-position inner-loop losses of every TTT layer, averaged over layers, heads and sequences.

    ``w0``: ``ℓ(W_0; x_t)`` (the learned initial weights, no test-time training); ``before``:
    ``ℓ(W_{t−1}; x_t)`` (the weights before the token's own step: with mini-batch TTT, the weights the
    previous token ended with); ``after``: ``ℓ(W_t; x_t)``. The layers' inputs come from a normal forward
    pass; the inner loop is then stepped token by token with the primal form (``repro.ttt.layers.ttt_step``),
    which is the decode path and equals the dual form (tested). Sun et al. 2024, Sec. 2 (inner-loss figure).
    """
    from repro.ttt.layers import TTTLayer, ttt_step

    captured: list[tuple[TTTLayer, Tensor]] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: captured.append((mod, args[0])))
        for m in model.modules()
        if isinstance(m, TTTLayer)
    ]
    try:
        model.eval()
        model(tokens.to(next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    if not captured:
        raise ValueError("inner_losses: the model has no TTT layer")
    T = tokens.shape[1]
    sums = {k: torch.zeros(T, dtype=torch.float64) for k in ("w0", "before", "after")}
    for layer, x in captured:
        cfg = layer.cfg
        H, d = cfg.n_head, cfg.head_dim
        xq, xk, xv, _, _ = layer._views(x, None)
        eta = layer._eta(x)
        scale = layer.scale_table(cfg.mini_batch_size or T, x.dtype, x.device)
        gamma, beta = layer._ln()
        g_ = None if gamma is None else gamma.reshape(1, H, 1, d)
        b_ = None if beta is None else beta.reshape(1, H, 1, d)
        state = layer.init_state(x.shape[0]).inner
        w0 = state.params
        for t in range(T):
            sl = slice(t, t + 1)
            args = (xk[:, :, sl], xv[:, :, sl], layer.spec.kind, layer.spec.ln_residual, g_, b_, layer.spec.eps)
            sums["w0"][t] += _inner_loss(w0, *args).double().mean()
            sums["before"][t] += _inner_loss(_current(state, scale), *args).double().mean()
            _, state = ttt_step(
                state, xq[:, :, sl], xk[:, :, sl], xv[:, :, sl], eta[:, :, sl], scale, layer.spec, g_, b_
            )
            sums["after"][t] += (
                _inner_loss(_current(state, scale) if state.count else state.params, *args).double().mean()
            )
    return {k: (v / len(captured)).tolist() for k, v in sums.items()}


# ---------------------------------------------------------------------------------------------------
# The compared models at matched state size
# ---------------------------------------------------------------------------------------------------

#: Architectures of the recall study. ``linear_attention_m``: TTT-Linear with b = T, W0 = 0, no LN/residual,
#: constant eta = 1/2 in the Mamba backbone (Theorem 1: causal linear attention), i.e. TTT-Linear (M) with its
#: update rule replaced: the row that isolates the update rule at the same state size.
RECALL_ARCHS = ("transformer", "mamba", "ttt_linear_m", "ttt_mlp_m", "linear_attention_m")


@dataclass(frozen=True)
class RecallModelSettings:
    """The shared backbone: TTT-Linear's per-layer state (``n_head`` x head_dim^2) equals Mamba's
    (``mamba_expand`` d_model x ``mamba_d_state``) with the defaults 4 x 16^2 = 128 x 8 = 1024."""

    d_model: int
    n_layer: int
    n_head: int
    mini_batch_size: int  # TTT mini-batch b
    mamba_expand: float
    mamba_d_state: int
    mamba_scan: str  # "chunked" | "sequential" (same numbers)


def recall_model_config(arch: str, m: RecallModelSettings, vocab_size: int, context: int) -> Any:
    """The :class:`repro.ttt.models.LMConfig` of a recall architecture."""
    from dataclasses import replace

    from repro.ttt.models import LMConfig

    base = LMConfig(
        variant="transformer",
        vocab_size=vocab_size,
        d_model=m.d_model,
        n_layer=m.n_layer,
        n_head=m.n_head,
        context=context,
        mini_batch_size=m.mini_batch_size,
        mamba_expand=m.mamba_expand,
        mamba_d_state=m.mamba_d_state,
        mamba_scan=m.mamba_scan,
    )
    if arch == "transformer":
        return base
    if arch == "mamba":
        return replace(base, variant="mamba")
    if arch == "ttt_linear_m":
        return replace(base, variant="ttt_linear", backbone="M")
    if arch == "ttt_mlp_m":
        return replace(base, variant="ttt_mlp", backbone="M")
    if arch == "linear_attention_m":
        return replace(base, variant="ttt_linear", backbone="M", **THEOREM1)
    raise KeyError(f"unknown recall architecture {arch!r}; known: {RECALL_ARCHS}")


#: TTT-Linear switches that make it causal linear attention (Theorem 1): batch GD, W0 = 0, no LN/residual/bias,
#: constant eta = 1/2 and none of the official code's eta normalisations.
THEOREM1: dict[str, Any] = dict(
    mini_batch_size=None,
    use_ln_residual=False,
    learnable_eta=False,
    learnable_w0=False,
    inner_bias=False,
    eta_base=0.5,
    eta_head_dim_norm=False,
    eta_position_scale=False,
)

#: The Table-1 ladder on the recall task, one change per row (cumulative). Row 1 is Theorem 1 with its
#: eta = 1/2; every later row tunes eta_base on the validation split. The official code's eta normalisations
#: (1/head_dim and 1/(i+1) in the mini-batch) are a row of their own, then fixed.
LADDER_CHANGES: dict[str, dict[str, Any]] = {
    "linear_attention": dict(backbone="T", **THEOREM1),
    "eta_norms": dict(eta_head_dim_norm=True, eta_position_scale=True),
    "learnable_w0": dict(learnable_w0=True),
    "ln_residual": dict(use_ln_residual=True, inner_bias=True),
    "minibatch": dict(mini_batch_size="b"),
    "learnable_eta": dict(learnable_eta=True),
    "mamba_backbone": dict(backbone="M"),
}


def state_size(cfg: Any) -> int:
    """Numbers in the recurrent state of all layers at the end of a context of ``cfg.context`` tokens
    (Transformer: its KV cache; TTT: the inner weights W, without biases; Mamba: E x N per layer)."""
    L, D, H = cfg.n_layer, cfg.d_model, cfg.n_head
    d = D // H
    if cfg.variant == "transformer":
        return 2 * L * cfg.context * D
    if cfg.variant == "mamba":
        return L * cfg.mamba_config().inner * cfg.mamba_d_state
    if cfg.variant == "ttt_mlp":
        return L * H * 2 * d * (4 * d)
    return L * H * d * d


def ladder_row_config(row: str, m: RecallModelSettings, vocab_size: int, context: int, eta_base: float) -> Any:
    """The model of ladder ``row`` (rows before it applied cumulatively) with ``eta_base`` (row 1: 1/2)."""
    from dataclasses import replace

    if row not in LADDER_CHANGES:
        raise KeyError(f"unknown ladder row {row!r}; rows: {list(LADDER_CHANGES)}")
    cfg = replace(recall_model_config("ttt_linear_m", m, vocab_size, context))
    for name, change in LADDER_CHANGES.items():
        cfg = replace(cfg, **{k: (m.mini_batch_size if v == "b" else v) for k, v in change.items()})
        if name == row:
            break
    return cfg if row == "linear_attention" else replace(cfg, eta_base=float(eta_base))
