"""Paper-scale pipeline (Sec. 3.1) with a scripted stand-in LLM: parsing, merging, edges, VC."""

from __future__ import annotations

import numpy as np

from repro.graphunc.config import PaperPlanConfig
from repro.graphunc.graph import bipartite_closeness
from repro.graphunc.paper import parse_claim_lines, parse_vc, parse_yes, run_prompt


class ScriptedLLM:
    """Answers by prompt kind; generations are fixed texts listing facts."""

    def __init__(self, texts):
        self.texts = list(texts)

    def chat(self, messages, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        text = messages[-1]["content"]
        if text.startswith("Tell me"):
            return [self.texts[0]] if temperature == 0 else self.texts[1 : 1 + n]
        if text.startswith("Break"):
            passage = text.split("Passage: ", 1)[1].strip()
            return ["\n".join(f'{{"claim": "{f}.", "gpt-confidence": 0.9}}' for f in passage.split(". ") if f)]
        if text.startswith("Here is a numbered list"):
            known = text.split("Here is a list of new facts:")[0]
            new = text.split("Here is a list of new facts:\n")[1].split("\n\n")[0].splitlines()
            fresh = [ln.split(". ", 1)[1] for ln in new if ln.split(". ", 1)[1] not in known]
            return ["\n".join(f"- {f}" for f in fresh) or "None"]
        if text.startswith("Context:"):
            ctx, claim = text.split("\nClaim: ")
            return ["Yes" if claim.split("\n")[0].rstrip(".") in ctx else "No, not supported"]
        return ["Very good chance"]


def test_run_prompt_builds_the_graph():
    texts = ["A is a poet. A was born in 1900", "A is a poet. A was born in 1901", "A is a poet. A was born in 1900"]
    llm = ScriptedLLM(texts)
    cfg = PaperPlanConfig(n_samples=2, n_claim_texts=3)
    g = run_prompt(llm, llm, "Tell me a paragraph bio of A.\n", cfg)
    assert g.claims == ("A is a poet.", "A was born in 1900.", "A was born in 1901.")
    assert np.array(g.matrix).tolist() == [[1, 1, 0], [1, 0, 1], [1, 1, 0]]
    assert g.vc == (0.8, 0.8, 0.8) and g.inline_confidence == (0.9, 0.9, 0.9)
    close = bipartite_closeness(np.array(g.matrix))
    assert close[0] > close[1] > close[2]  # the claim every generation supports is the most central


def test_parsers():
    assert parse_yes("Yes.") and not parse_yes("No") and not parse_yes("not supported")
    assert parse_vc("I'd say: Almost certain") == 1.0 and parse_vc("no idea") == -1.0
    assert parse_vc("Less than even") == 0.4
    assert parse_claim_lines('{"claim": "x", "gpt-confidence": 0.5}\n- plain claim') == [
        ("x", 0.5),
        ("plain claim", -1.0),
    ]
