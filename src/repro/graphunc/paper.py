"""Paper scale (Sec. 4.1): the LLM pipeline, its prompts, and the job plan for networked users.

Per prompt: 1 greedy + ``n_samples`` generations at temperature 0.7 (generator model);
decomposition of the greedy text and the first samples into claims (JSONL with an
inline confidence), incremental merging of the claim lists, one entailment question per
(generation, claim) pair, one verbalised-confidence question per claim (helper model).
The prompts are written here from the paper's description (Appendix prompts); the
backends are ``repro.common.llm`` (``openai`` for the GPT models or a vLLM server,
``hf`` for Llama-3-70B-Instruct), cached on disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from repro.graphunc.config import PaperPlanConfig

__all__ = [
    "decomposition_prompt",
    "merge_prompt",
    "entailment_prompt",
    "vc_prompt",
    "parse_yes",
    "VC_OPTIONS",
    "plan_rows",
]

VC_OPTIONS = {
    "No chance": 0.0,
    "Little chance": 0.2,
    "Less than even": 0.4,
    "Fairly possible": 0.6,
    "Very good chance": 0.8,
    "Almost certain": 1.0,
}


def decomposition_prompt(text: str) -> str:
    """Break a generation into minimal standalone claims, one JSON object per line."""
    return (
        "Break the following passage into a list of minimal, standalone factual claims. Replace pronouns by "
        "the names they refer to. For each claim also give your confidence (0 to 1) that it is correct. "
        'Answer with one JSON object per line: {"claim": "...", "gpt-confidence": 0.9}\n\n'
        f"Passage: {text}\n"
    )


def merge_prompt(known: Sequence[str], new: Sequence[str]) -> str:
    """Ask which of the new claims are not entailed by the running union (answer: '- claim' lines)."""
    old = "\n".join(f"{i + 1}. {c}" for i, c in enumerate(known))
    add = "\n".join(f"{i + 1}. {c}" for i, c in enumerate(new))
    return (
        "Here is a numbered list of known facts:\n"
        f"{old}\n\nHere is a list of new facts:\n{add}\n\n"
        "List every new fact that is not already stated or implied by the known facts, one per line, "
        "each starting with '- '. If there is none, answer 'None'.\n"
    )


def entailment_prompt(generation: str, claim: str) -> str:
    """The edge question of Sec. 3.1."""
    return f"Context: {generation}\nClaim: {claim}\nIs the claim supported by the context above?\nAnswer Yes or No:"


def vc_prompt(question: str, claim: str) -> str:
    """Verbalised confidence with options (Sec. 4.1 baseline)."""
    options = ", ".join(VC_OPTIONS)
    return (
        f"Question: {question}\nProposed fact: {claim}\n"
        f"How likely is the proposed fact to be true? Answer with one of: {options}.\nAnswer:"
    )


def parse_yes(answer: str) -> bool:
    """Edge iff the answer is 'yes' (letters only, case-insensitive; 'not supported' is no)."""
    letters = "".join(ch for ch in answer.lower() if ch.isalpha())
    return letters.startswith("yes") and "notsupported" not in letters


def plan_rows(
    config: PaperPlanConfig, claims_per_text: float = 12.0, merged_claims: float = 30.0
) -> list[Mapping[str, object]]:
    """Estimated LLM calls per setting and stage (claim counts: the released files' typical sizes)."""
    rows = []
    gens = 1 + config.n_samples
    for ds_name, ds in sorted(config.datasets.items()):
        for model_name, backend in sorted(config.models.items()):
            n = ds.n_prompts
            stages = {
                "generate": (backend, n * gens),
                "decompose": (config.helper, n * config.n_claim_texts),
                "merge": (config.helper, n * (config.n_claim_texts - 1)),
                "entail": (config.helper, int(n * gens * merged_claims)),
                "vc": (config.helper, int(n * merged_claims)),
            }
            for stage, (b, calls) in stages.items():
                rows.append(
                    {
                        "setting": f"{ds_name}_{model_name}",
                        "stage": stage,
                        "backend": b.backend,
                        "model": b.model,
                        "calls": calls,
                        "claims_per_text": claims_per_text,
                    }
                )
    return rows


# --- the per-prompt pipeline (any repro.common.llm backend) ---------------------------------


def parse_claim_lines(text: str) -> list[tuple[str, float]]:
    """Lenient parser of the decomposition answer: JSON lines ``{claim, gpt-confidence}``; else plain lines."""
    import json

    out = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*0123456789. ").strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
            claim, conf = str(obj["claim"]), float(obj.get("gpt-confidence", -1))
        except (ValueError, KeyError, TypeError):
            claim, conf = line, -1.0  # parse failure: confidence -1, dropped from evaluation
        out.append((claim, conf))
    return out


def parse_vc(answer: str) -> float:
    """The option named in a verbalised-confidence answer (-1 when none is)."""
    norm = "".join(ch for ch in answer.lower() if ch.isalpha())
    for option, value in sorted(VC_OPTIONS.items(), key=lambda kv: -len(kv[0])):
        if "".join(ch for ch in option.lower() if ch.isalpha()) in norm:
            return value
    return -1.0


@dataclass(frozen=True)
class PromptGraph:
    """Everything the exact tier needs for one prompt, in the released files' terms."""

    generations: tuple[str, ...]  # greedy first
    claims: tuple[str, ...]  # merged claims, greedy claims first
    inline_confidence: tuple[float, ...]
    vc: tuple[float, ...]
    matrix: tuple[tuple[float, ...], ...]  # generations x claims, 0/1


def run_prompt(generator, helper, question: str, config: PaperPlanConfig) -> PromptGraph:
    """Sec. 3.1 for one prompt: sample, decompose, merge, ask every entailment and VC question.

    ``generator`` and ``helper`` are :class:`repro.common.llm.LLM` instances (wrap them with
    the disk cache at the call site).
    """
    chat = [{"role": "user", "content": question}]
    greedy = generator.chat(chat, n=1, temperature=0.0, max_tokens=config.max_tokens)[0]
    samples = generator.chat(
        chat, n=config.n_samples, temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed
    )
    gens = (greedy, *samples)
    claims: list[str] = []
    conf: list[float] = []
    for k, text in enumerate(gens[: config.n_claim_texts]):
        reply = helper.chat([{"role": "user", "content": decomposition_prompt(text)}], max_tokens=config.max_tokens)[0]
        new = parse_claim_lines(reply)
        if k == 0 or not claims:
            keep = new
        else:
            ask = merge_prompt(claims, [c for c, _ in new])
            answer = helper.chat([{"role": "user", "content": ask}], max_tokens=config.max_tokens)[0]
            picked = [ln.strip()[2:].strip() for ln in answer.splitlines() if ln.strip().startswith("- ")]
            # inline confidence of a picked claim: the new claim with the largest word overlap
            keep = (
                [
                    (p, max(new, key=lambda cw: len(set(cw[0].lower().split()) & set(p.lower().split())))[1])
                    for p in picked
                ]
                if new
                else []
            )
        for c, w in keep:
            if c not in claims:
                claims.append(c)
                conf.append(w)
    matrix = []
    for text in gens:
        row = []
        for c in claims:
            ans = helper.chat([{"role": "user", "content": entailment_prompt(text, c)}], max_tokens=5)[0]
            row.append(1.0 if parse_yes(ans) else 0.0)
        matrix.append(tuple(row))
    vc = tuple(
        parse_vc(helper.chat([{"role": "user", "content": vc_prompt(question, c)}], max_tokens=10)[0]) for c in claims
    )
    return PromptGraph(gens, tuple(claims), tuple(conf), vc, tuple(matrix))
