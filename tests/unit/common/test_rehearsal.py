"""The rehearsal scale (issue 28): ``paper_toy`` is paper scale with local stand-ins. Its overlay may change
hub ids, URLs and sizes only (keys the paper's params schema marks ``x-rehearsal``), so the rehearsal runs the
paper-scale code paths exactly; steps run there exactly when they run at paper scale, unless they say what
their rehearsal lacks."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from repro.common.config import (
    ParamsError,
    load_schema,
    rehearsal_violations,
    resolve,
    validate_params,
)
from repro.common.declarations import DeclarationError, step
from repro.common.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
SLUGS = load_registry(ROOT / "workflow/papers.yaml").slugs
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("slug", SLUGS)
def test_the_rehearsal_differs_from_paper_scale_only_in_ids_urls_and_sizes(slug):
    paper, rehearsal = resolve(PARAMS, slug, "paper"), resolve(PARAMS, slug, "paper_toy")
    schema = load_schema(ROOT / f"workflow/schemas/{slug}.schema.yaml")
    assert rehearsal_violations(paper, rehearsal, schema, slug) == []


def test_a_changed_setting_that_is_not_an_id_url_or_size_is_refused():
    schema = load_schema(ROOT / "workflow/schemas/ttt.schema.yaml")
    paper = resolve(PARAMS, "ttt", "paper")
    toy = copy.deepcopy(paper)
    toy["speed"]["seq_len"] = 16  # a size: allowed
    assert rehearsal_violations(paper, toy, schema, "ttt") == []
    toy["speed"]["mini_batch_size"] = 4  # the method's b: a setting, not a size
    toy["context"] = 7
    assert rehearsal_violations(paper, toy, schema, "ttt") == ["ttt.context", "ttt.speed.mini_batch_size"]


def test_list_items_are_compared_key_by_key_against_their_item_schema():
    """One endpoint per model: the rehearsal may repoint a model's base_url, id and key variable, not its mode."""
    schema = load_schema(ROOT / "workflow/schemas/distalign.schema.yaml")
    paper = resolve(PARAMS, "distalign", "paper")
    toy = copy.deepcopy(paper)
    toy["live"]["models"][0]["base_url"] = "http://127.0.0.1:1/v1"
    toy["live"]["models"][0]["model"] = "results/paper_toy/standins/models/x"
    assert rehearsal_violations(paper, toy, schema, "distalign") == []
    toy["live"]["models"][1]["mode"] = "completion"
    assert rehearsal_violations(paper, toy, schema, "distalign") == ["distalign.live.models[1].mode"]
    toy["live"]["models"] = toy["live"]["models"][:2]  # a list of another length differs as a whole
    assert rehearsal_violations(paper, toy, schema, "distalign") == ["distalign.live.models"]


def test_the_parse_refuses_an_overlay_that_changes_a_setting():
    bad = copy.deepcopy(PARAMS)
    bad["ttt"]["paper_toy"] = {"speed": {"mini_batch_size": 4}}
    with pytest.raises(ParamsError, match=r"ttt\.paper_toy changes \['ttt\.speed\.mini_batch_size'\].*x-rehearsal"):
        validate_params(bad, ROOT / "workflow/schemas", SLUGS)


def test_steps_follow_paper_scale_at_the_rehearsal_unless_they_say_what_it_lacks():
    @step(not_run={"paper_toy": "no local Pile stand-in yet"})
    def data_step(inputs, config):  # noqa: ARG001
        return None

    @step(not_run={"paper": "the 8B checkpoint is not implemented"})
    def base_step(inputs, config):  # noqa: ARG001
        return None

    @step(scales=("tiny",))
    def small_step(inputs, config):  # noqa: ARG001
        return None

    data, base, small = (f.__repro_step__ for f in (data_step, base_step, small_step))
    assert data.runs_at("paper") and not data.runs_at("paper_toy")
    assert data.not_run_at("paper_toy") == "no local Pile stand-in yet" and data.not_run_at("paper") is None
    assert not base.runs_at("paper_toy") and base.not_run_at("paper_toy") == "the 8B checkpoint is not implemented"
    assert not small.runs_at("paper_toy") and small.not_run_at("paper_toy") is None
    with pytest.raises(DeclarationError, match="not_run maps a scale"):

        @step(scales=("tiny",), not_run={"paper_toy": "x"})  # no paper scale: nothing to rehearse
        def x_step(inputs):  # noqa: ARG001
            return None
