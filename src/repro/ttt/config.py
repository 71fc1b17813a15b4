"""Typed configs of the ttt experiments, built once from params.yaml (the ``ttt`` block).

:class:`TttParams` mirrors the whole resolved block (the rules file builds it at
parse time to expand the training runs); each step's config holds the sections its
rule reads. Field comments give the meaning; params.yaml sets the values (base =
the paper's Table 3 settings, tiny/smoke = CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from repro.common.lm.trainer import TrainConfig
from repro.ttt.models import LMConfig
from repro.ttt.recall import RecallModelSettings, RecallTask, RecallTrainConfig


@dataclass(frozen=True)
class DataSettings:
    source: Literal["hub", "mirror"]  # hub: a Hugging Face dataset id (network) | mirror: offline corpora
    hub_dataset: str  # paper scale: the Pile (uncopyrighted copy)
    hub_text_field: str
    hub_train_split: str
    hub_heldout_split: str
    max_documents: int | None  # None: the whole split
    corpora: tuple[str, ...]  # mirror: corpus names of repro.common.lm.corpora
    heldout_frac: float  # mirror: document-level held-out fraction
    split_seed: int
    workers: int = 1  # tokenizer processes (repro.common.lm.shards.encode_parallel); 1 = in the step's process
    shard_tokens: int = 1 << 28  # tokens per .npy shard of the token folders


@dataclass(frozen=True)
class TokenizerSettings:
    kind: Literal["hf", "bpe", "char"]  # hf: a hub tokenizer by id; bpe/char: trained on the training split
    hf_id: str
    vocab_size: int  # the models' embedding size (>= the tokenizer's)


@dataclass(frozen=True)
class SizeSpec:
    """One model size of Table 3: width, depth, heads, optimizer steps and peak learning rate."""

    name: str
    d_model: int
    n_layer: int
    n_head: int
    steps: int
    lr: float


@dataclass(frozen=True)
class TrainSettings:
    """The Table 3 recipe: AdamW, cosine to ``min_lr`` after ``warmup_frac`` warm-up."""

    batch_size: int
    grad_accum: int
    min_lr: float
    warmup_frac: float
    weight_decay: float
    betas: tuple[float, float]
    grad_clip: float
    eval_every: int
    eval_batches: int
    log_every: int
    ckpt_every: int
    threads: int
    device: str
    ranks: int = 1  # data-parallel ranks per run (issue 29): GPUs at paper scale, gloo CPU processes otherwise
    parallel: str = "ddp"  # ddp, or fsdp (FSDP2: weights and optimizer state sharded over the ranks)
    activation_checkpointing: bool = False  # recompute block activations in backward


@dataclass(frozen=True)
class EvalSettings:
    max_windows: int  # evenly spaced non-overlapping held-out windows
    batch_size: int
    fraction: float  # late_minus_early_loss: last minus first fraction of the positions >= min_position
    min_position: int  # late_minus_early_loss and loss_slope (against ln position) use positions >= this
    curve_bins: int  # log-spaced bins of the plotted curve


@dataclass(frozen=True)
class RecallEvalSettings:
    """How a recall run is scored (repro.ttt.recall.evaluate_recall)."""

    sequences: int  # fresh test sequences per run
    val_sequences: int  # fresh validation sequences (picks eta_base of the ladder rows)
    test_seed: int  # data seed of the test sequences (the same for every run)
    val_seed: int  # data seed of the validation sequences
    min_position: int  # gap_to_bayes / gap_slope average over positions >= this
    inner_sequences: int  # sequences of the inner-loss measurement (TTT runs)


@dataclass(frozen=True)
class RecallSettings:
    """The streaming associative-recall study (the tiny-scale test of the long-context claims)."""

    task: RecallTask  # vocabulary, value length, context (``pairs`` is set per run from ``pairs``)
    pairs: tuple[int, ...]  # dictionary sizes: the second stresses the state capacity
    model: RecallModelSettings
    archs: tuple[str, ...]  # repro.ttt.recall.RECALL_ARCHS
    seeds: tuple[int, ...]
    train: RecallTrainConfig  # seed: overridden per run
    eval: RecallEvalSettings


@dataclass(frozen=True)
class MinibatchSettings:
    """Mini-batch trade-off: TTT-Linear (M) with each b, on the recall task with ``pairs``."""

    pairs: int
    sizes: tuple[int | None, ...]  # None: b = T (batch GD)


@dataclass(frozen=True)
class LadderSettings:
    """Table 1 on the recall task: one change per row, eta_base per row picked on the validation split."""

    pairs: int
    rows: tuple[str, ...]  # repro.ttt.recall.LADDER_CHANGES (cumulative, in that order)
    eta_grid: tuple[float, ...]


@dataclass(frozen=True)
class SpeedSettings:
    """Dual vs primal form of the TTT-Linear inner loop (Sec. 2.5), forward + backward, paired timing."""

    batch: int
    heads: int
    head_dim: int
    seq_len: int
    mini_batch_size: int
    repeats: int
    threads: int


@dataclass(frozen=True)
class EquivalenceSettings:
    seed: int


@dataclass(frozen=True)
class LatencySettings:
    size: str
    archs: tuple[str, ...]
    contexts: tuple[int, ...]
    device: str
    dtype: str
    threads: int | None
    batch: int
    warmup: int
    repeats: int
    decode_steps: int


@dataclass(frozen=True)
class TttParams:
    """The whole resolved ``ttt`` block (used by the rules file to expand the runs)."""

    data: DataSettings
    tokenizer: TokenizerSettings
    context: int  # training = evaluation context
    mini_batch_size: int  # TTT mini-batch b (Sec. 2.4)
    mamba_layers_per_block: int
    archs: tuple[str, ...]
    sizes: tuple[SizeSpec, ...]
    seeds: tuple[int, ...]
    train: TrainSettings
    eval: EvalSettings
    equivalence: EquivalenceSettings
    latency: LatencySettings
    recall: RecallSettings
    minibatch: MinibatchSettings
    ladder: LadderSettings
    speed: SpeedSettings

    def size(self, name: str) -> SizeSpec:
        for s in self.sizes:
            if s.name == name:
                return s
        raise KeyError(f"ttt: no size named {name!r}; sizes: {[s.name for s in self.sizes]}")


# --- step configs: the sections each rule reads -------------------------------------------------


@dataclass(frozen=True)
class TokenizerConfig:
    """Rule ttt__tokenizer."""

    data: DataSettings
    tokenizer: TokenizerSettings


@dataclass(frozen=True)
class DataConfig:
    """Rule ttt__data."""

    data: DataSettings
    tokenizer: TokenizerSettings
    context: int


@dataclass(frozen=True)
class RunSpec:
    """Rule ttt__train: one training run (written per run at parse time by the rules file)."""

    name: str
    label: str
    model: LMConfig
    train: TrainConfig
    ranks: int = 1  # data-parallel ranks (train.ranks): the rule's GPUs at paper scale, gloo CPU processes otherwise


@dataclass(frozen=True)
class EvaluateConfig:
    """Rule ttt__evaluate."""

    eval: EvalSettings
    context: int


@dataclass(frozen=True)
class EquivalenceConfig:
    """Rule ttt__equivalence."""

    equivalence: EquivalenceSettings


@dataclass(frozen=True)
class LatencyStepConfig:
    """Rule ttt__latency: the timed models are the Transformer of ``latency.size`` and its equal-parameter peers."""

    latency: LatencySettings
    sizes: tuple[SizeSpec, ...]
    tokenizer: TokenizerSettings
    context: int
    mini_batch_size: int
    mamba_layers_per_block: int


@dataclass(frozen=True)
class RecallRunSpec:
    """Rule ttt__recall_run: one recall run (written per run at parse time by the rules file)."""

    name: str
    label: str
    arch: str
    model: LMConfig
    task: RecallTask
    train: RecallTrainConfig
    eval: RecallEvalSettings


@dataclass(frozen=True)
class RecallResultsConfig:
    """Rules ttt__recall, ttt__minibatch and ttt__ladder: the scoring positions."""

    recall: RecallSettings


@dataclass(frozen=True)
class SpeedConfig:
    """Rule ttt__speed."""

    speed: SpeedSettings


@dataclass(frozen=True)
class ResultsConfig:
    """Rule ttt__text: the sizes (the largest gives the headline ``text.<arch>.*`` numbers)."""

    sizes: tuple[SizeSpec, ...]
