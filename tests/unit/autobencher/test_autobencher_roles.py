"""The roles: LLM roles through repro.common.llm (a scripted backend), tiny stand-ins, the judge."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from repro.autobencher.roles import (
    BanditProposer,
    Category,
    LLMJudge,
    LLMProposer,
    LLMQuestionWriter,
    answer_multiple_choice,
    extract_json_list,
    judge_exact,
    questions_from_beliefs,
    questions_from_facts,
)
from repro.autobencher.world import WorldConfig, build_world
from repro.common.llm.base import LLM


class Scripted(LLM):
    """A backend that replies with fixed text and scores continuations by a lookup table."""

    backend = "scripted"
    model = "scripted"

    def __init__(self, reply: str = "", scores: dict[str, float] | None = None, answers=None) -> None:
        self.reply, self.scores, self.prompts = reply, scores or {}, []
        self.answers = answers or {}  # prompt -> the continuation it prefers

    def generate(self, prompts: Sequence[str], n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        self.prompts.extend(prompts)
        return [[self.reply] * n for _ in prompts]

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        if prompt in self.answers:
            return [0.0 if c.strip() == self.answers[prompt] else -5.0 for c in continuations]
        return [self.scores.get(c.strip(), -10.0) for c in continuations]

    def top_logprobs(self, prompt: str, k: int) -> dict[str, float]:
        return {}


def test_extract_json_list():
    assert extract_json_list('Sure!\n```json\n[{"a": 1}, {"a": [2]}]\n```') == [{"a": 1}, {"a": [2]}]
    assert extract_json_list("no json [here") == []
    assert extract_json_list('[1, 2] then [{"x": 0}]') == [{"x": 0}]  # the first list of objects


def test_llm_proposer_parses_and_skips_explored():
    llm = Scripted(
        '[{"category": "Fordism", "parent_category": "Economy", "additional_requirement": "dates"},'
        ' {"category": "Permian extinction", "parent_category": "Science"}]'
    )
    out = LLMProposer(llm, "history").propose(5, {"Permian extinction": 0.3})
    assert out == [Category("Fordism", "Economy", "dates")]
    assert "Permian extinction: 0.30" in llm.prompts[0] and "history" in llm.prompts[0]


def test_llm_writer_and_judge():
    writer = LLMQuestionWriter(Scripted('[{"question": "Who?", "answer": "Ford"}, {"question": "no answer"}]'))
    assert writer.write(Category("Fordism", "Economy", "dates"), ["p1", "p2"]) == [("Who?", "Ford")]
    assert LLMJudge(Scripted("Matches the gold. ## true"))("q", "Ford", "Henry Ford")
    assert not LLMJudge(Scripted("## true? no. ## false"))("q", "x", "y")
    assert not LLMJudge(Scripted("unsure"))("q", "x", "y")


def test_judge_exact():
    assert judge_exact("The  Ford.", "ford")
    assert not judge_exact("Ford", "Fiat")
    assert judge_exact("USA", "United States", {"United States": ["usa", "U.S.A."]})


def test_questions_and_test_taker():
    world = build_world(WorldConfig(), 0)
    topic = world.topics[0].name
    qs = questions_from_facts(world, topic, 0)
    assert len(qs) == world.config.entities_per_topic * len(world.config.relations)
    for q in qs:
        assert len(set(q.options)) == 4 and q.gold == q.truth and q.gold in q.options
    knows = Scripted(answers={q.prompt: q.gold for q in qs})
    assert answer_multiple_choice(knows, qs) == [q.gold for q in qs]
    # a writer that believes the first value of every relation: wrong wherever the truth differs
    first = {r: v[0] for r, v in world.values.items()}
    beliefs = questions_from_beliefs(world, topic, Scripted(scores={v: 0.0 for v in first.values()}), 0)
    facts = world.facts_of(topic)
    assert [q.gold for q in beliefs] == [first[f.relation] for f in facts]
    assert all(q.truth in q.options and q.gold in q.options for q in beliefs)
    assert np.mean([q.gold != q.truth for q in beliefs]) > 0


def test_bandit_tries_every_arm_then_exploits():
    b = BanditProposer({"a": ["a1", "a2", "a3"], "b": ["b1", "b2", "b3"]}, exploration=0.0, seed=0)
    first = b.propose(1, set())
    b.update(first[0][0], 1.0)
    second = b.propose(1, set(first))
    assert second[0][0] != first[0][0]  # the untried arm first
    b.update(second[0][0], 0.0)
    third = b.propose(2, set(first + second))
    assert all(t[0] == first[0][0] for t in third)  # then the better arm
    with pytest.raises(KeyError):
        b.update("c", 1.0)


def test_paper_plan_names_roles_and_panel(paper_params):
    from repro.autobencher.config import PaperPlanConfig
    from repro.autobencher.steps import paper_plan_step
    from repro.common.steps import StepError, build_config

    plan = paper_params("autobencher", "paper")["paper_plan"]
    res = paper_plan_step({}, build_config(PaperPlanConfig, plan, "paper_plan"))
    table = res.tables["table"]
    assert set(table.loc[table.kind == "role", "name"]) == {"proposer", "question_writer", "judge"}
    assert res.numbers["paper_plan.n_test_takers"] == len(plan["panel"]) >= 15
    with pytest.raises(StepError, match="judge"):
        paper_plan_step({}, build_config(PaperPlanConfig, {**plan, "roles": {"proposer": plan["roles"]["proposer"]}}))


def test_batched_option_scores_equal_the_backend_logprobs(tmp_path):
    """The batched scorer gives the tiny backend's own ``logprobs`` numbers (untrained model, real tokenizer)."""
    from repro.autobencher.roles import option_logprobs
    from repro.common.llm.tiny import TinyLLM
    from repro.common.lm.models import ModelConfig, build_model, save_model_dir
    from repro.common.lm.tokenizer import train_tokenizer

    world = build_world(WorldConfig(), 0)
    tok = train_tokenizer([world.page(t.name) for t in world.topics], "bpe", 512)
    cfg = ModelConfig(n_layer=1, n_head=2, d_model=16, context=32, vocab_size=tok.vocab_size)
    save_model_dir(tmp_path / "m", build_model(cfg, seed=0), cfg, tok)
    llm = TinyLLM(tmp_path / "m", device="cpu")
    qs = questions_from_facts(world, world.topics[3].name, 0)[:6]
    batched = option_logprobs(llm, [(q.prompt, q.options) for q in qs])
    single = [llm.logprobs(q.prompt, [" " + o for o in q.options]) for q in qs]
    assert np.allclose(batched, single, atol=1e-5)
