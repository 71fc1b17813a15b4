"""Typed configs of the distalign steps, built once from params.yaml at the adapter.

One ``<Step>Config`` per step that takes a config (``repro.common.steps.build_config`` builds it with
named-key errors): the exact tier's cells, replay, leaderboard and baselines, the tiny tier (training and
evaluation) and the paper-scale live rerun. Defaults document the paper's settings; params.yaml sets them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BaselinesConfig",
    "CellsConfig",
    "LeaderboardConfig",
    "LiveConfig",
    "LIVE_MODES",
    "LiveModel",
    "ReplayConfig",
    "TinyConfig",
    "TinyTrainConfig",
]


# --- cells ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellsConfig:
    """Per-cell mean TVs from the released per-question TVs (no parameters beyond the data)."""

    compare_tolerance: float = 2.0e-3  # released per-cell table stores bootstrap means (differ by <~5e-4)


# --- replay --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayConfig:
    """Re-scoring the released GPT-4 outputs through the replay backend."""

    t_max: float = 10.0  # upper bound of the temperature search (the paper's (0, 10])
    unknown_option: str = "drop"  # the authors' parser drops keys that are not option letters
    sum_tol: float | None = None  # None: no sum check (the authors' setting; p_hat is not renormalised)
    integer_percent: bool = True  # '0.5%' -> 0, as the released TVs show
    strict_sum_tol: float = 0.05  # the strict policy (tiny tier's) for the parse-failure report


# --- leaderboard ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderboardConfig:
    """Main leaderboard (Fig. 2): persona + few-shot pooled, mean of the three datasets."""

    n_boot: int = 1000  # bootstrap resamples
    level: float = 0.95  # percentile interval
    seed: int = 0


# --- baselines -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselinesConfig:
    """Reference predictors and the human baseline."""

    floor_samples: int = 30  # samples per simulated answer (the paper's Seq length)
    floor_reps: int = 1000  # repetitions averaged per question
    fewshot_k: int = 5  # in-context examples of the few-shot prompt
    seed: int = 0


# --- tiny tier -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyTrainConfig:
    """Tiny LM trained on rendered survey text from the non-evaluated OpinionQA pool."""

    repeats: int = 2  # passes over (question, group, format) with fresh samples
    fewshot_frac: float = 0.5  # share of training examples with few-shot context
    question_chars: int = 60  # rendering (see repro.distalign.tiny.RenderConfig)
    option_chars: int = 12
    shots: int = 3
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    context: int = 192
    steps: int = 300
    batch_size: int = 16
    lr: float = 3.0e-3
    warmup: int = 50
    seed: int = 0


@dataclass(frozen=True)
class TinyConfig:
    """Train the tiny model, then evaluate it on the 100 evaluated OpinionQA questions."""

    train: TinyTrainConfig = TinyTrainConfig()  # the rendering settings are shared with evaluation
    temperature: float = 1.0  # sampling temperature of V and Seq answers (the paper's 1)
    t_max: float = 10.0  # TS-Log-p search bound
    max_questions: int | None = None  # smoke: evaluate only the first questions
    seed: int = 0
    seeds: tuple[int, ...] = (0,)  # one run per s: train.seed + s, seed + s (claims compare arms over seeds)


# --- paper scale: live models --------------------------------------------------------------------


LIVE_MODES = ("chat", "completion")


@dataclass(frozen=True)
class LiveModel:
    """One model of the paper behind a repro.common.llm backend.

    ``mode`` is how the model is prompted, and for the ``openai`` backend the endpoint, which
    the API fixes per model (a chat model on ``/completions`` is a 404): ``chat`` (every model of
    the paper): V/Seq as system + user messages, Log-p from ``/chat/completions`` with
    ``logprobs: true, top_logprobs: k``; ``completion`` (base models): V/Seq and Log-p from the
    prompt text alone, Log-p from ``/completions`` with ``logprobs: k``. See :func:`repro.distalign.live.ask`.
    """

    name: str  # as in the released files (gpt-4, anthropic_opus, llama3-70b, ...)
    backend: str  # openai | hf
    model: str  # API model id or Hugging Face id
    mode: str  # chat | completion (see the docstring)
    api_key_env: str | None = None  # environment variable holding the key (never the key)
    base_url: str | None = None  # OpenAI-compatible endpoint (Anthropic's, a vLLM server); None: OpenAI

    def __post_init__(self) -> None:
        if self.mode not in LIVE_MODES:
            raise ValueError(f"model {self.name!r}: mode must be one of {LIVE_MODES}, not {self.mode!r}")


@dataclass(frozen=True)
class LiveConfig:
    """The paper-scale rerun (Sec. 3): every model x dataset x steering x method, one call per prompt."""

    datasets: tuple[str, ...] = ("opinionqa", "nytimes", "globalvalues")
    methods: tuple[str, ...] = ("verbalize", "sequence", "logprobs")
    steering: tuple[str, ...] = ("none", "persona", "fewshot")
    prompts: str = "inputs/{dataset}/{output_type}/prompt_task{task}.txt"
    system_prompt: str = "You are a helpful assistant."
    temperature: float = 1.0
    top_logprobs: int = 20
    shots: int = 5
    cache: str = "resources/llm_cache/distalign.sqlite"
    models: tuple[LiveModel, ...] = ()
    seed: int = 0
    max_questions: int | None = None  # questions per dataset and steering (None: all, the paper; rehearsal: a few)

    def __post_init__(self) -> None:
        # The OpenAI API refuses more log-probs than its caps (5 on /completions, 20 on chat):
        # refuse the config here rather than fail mid-run or quietly ask for fewer (the paper's
        # Log-p reads the top 20).
        from repro.common.llm.openai_api import OPENAI_MAX_LOGPROBS, OPENAI_MAX_TOP_LOGPROBS

        if "logprobs" not in self.methods:
            return
        for m in self.models:
            cap = OPENAI_MAX_TOP_LOGPROBS if m.mode == "chat" else OPENAI_MAX_LOGPROBS
            if m.backend == "openai" and self.top_logprobs > cap:
                raise ValueError(
                    f"top_logprobs={self.top_logprobs} exceeds the OpenAI API's cap of {cap} for "
                    f"{m.mode} model {m.name!r}"
                )
