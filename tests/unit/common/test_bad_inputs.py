"""Bad input across the papers (issue 19, item 3): one clear error naming the cause, nothing half-written.

One table of cases. Each case provokes one bad input with a small function, names the
exception type it must raise and a regex its message must match: the regex names the
cause (the dotted params key, the file, the model, the backend, the URL). After every
case, the test checks that nothing was half-written: no file exists at (or under) the
case's ``absent`` outputs (an empty folder made on the way does not count) and no
temporary file (``.<name>.*.tmp`` of :mod:`repro.common.io`) is left in the case's folder. The README's troubleshooting section lists these cases.

Categories (the ``id`` prefix): ``params`` (params.yaml through
:func:`repro.common.config.validate_params` on a mutated copy of the real file),
``config`` (typed step configs through :func:`repro.common.steps.build_config` and
:func:`repro.common.steps.run_step`), ``fetch`` (mirror and checksums), ``ckpt``
(checkpoints and model directories), ``llm`` (backends, the sqlite cache, endpoints),
``data`` (each paper's released-data loaders fed a malformed file), ``registry``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import repro.common.config as config_module
from repro.common.config import CONFIG_SECTION_KEY, ParamsError, resolve, select_keys, validate_params
from repro.common.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "workflow" / "schemas"


@functools.cache
def _params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


@functools.cache
def _slugs() -> tuple[str, ...]:
    return tuple(load_registry(ROOT / "workflow" / "papers.yaml").slugs)


_LOAD_SCHEMA = config_module.load_schema


@functools.cache
def _schema_text(path: str) -> dict[str, Any]:
    return _LOAD_SCHEMA(path)


def _validate(ctx: Ctx, config: dict[str, Any]) -> None:
    """validate_params, with the schema files parsed once per session (YAML parsing is most of its time)."""
    ctx.monkeypatch.setattr(config_module, "load_schema", lambda path: copy.deepcopy(_schema_text(str(path))))
    validate_params(config, SCHEMAS, _slugs())


@dataclass
class Ctx:
    """What a provoking function gets: its own folder and pytest's monkeypatch."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch


@dataclass(frozen=True)
class Case:
    id: str
    provoke: Callable[[Ctx], Any]
    exc: type[BaseException]
    match: str
    absent: tuple[str, ...] = ()  # outputs (relative to the case folder): no file there afterwards


# --- helpers ---------------------------------------------------------------------------------


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    node = config
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = value


def _params_with(**changes: Any) -> Callable[[Ctx], None]:
    """validate_params on a copy of params.yaml with ``{"slug__base__key": value}`` set (``__`` = dot)."""

    def provoke(ctx: Ctx) -> None:
        config = copy.deepcopy(_params())
        for key, value in changes.items():
            _set(config, key.replace("__", "."), value)
        _validate(ctx, config)

    return provoke


def _params_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[Ctx], None]:
    def provoke(ctx: Ctx) -> None:
        config = copy.deepcopy(_params())
        edit(config)
        _validate(ctx, config)

    return provoke


def _run_step(
    slug: str, step: str, keys: list[str], section: str | None, edit: Callable[[dict[str, Any]], None]
) -> Callable[[Ctx], None]:
    """run_step on the real resolved (tiny) params of one rule, edited; outputs go to the case folder. The
    params file names its config ``section`` as ``step_params(..., section=...)`` writes it."""

    def provoke(ctx: Ctx) -> None:
        from repro.common.steps import run_step

        params = select_keys(resolve(_params(), slug, "tiny"), keys, slug)
        params = copy.deepcopy(params)
        edit(params)
        if section is not None:
            params[CONFIG_SECTION_KEY] = section
        pfile = ctx.tmp / "params.json"
        pfile.write_text(json.dumps(params), encoding="utf-8")
        run_step(f"{slug}__{step}", inputs={}, outputs={"numbers": ctx.tmp / "out" / "numbers.json"}, params_file=pfile)

    return provoke


def _run_step_raw(slug: str, step: str, section: str | None, text: str) -> Callable[[Ctx], None]:
    """run_step with the given params-file text."""

    def provoke(ctx: Ctx) -> None:
        from repro.common.steps import run_step

        pfile = _write(ctx, "params.json", text)
        out = {"numbers": ctx.tmp / "out" / "numbers.json"}
        run_step(f"{slug}__{step}", inputs={}, outputs=out, params_file=pfile, config_section=section)

    return provoke


def _write(ctx: Ctx, name: str, text: str) -> Path:
    path = ctx.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- params.yaml -----------------------------------------------------------------------------

PARAMS_CASES = [
    Case(
        "params-obsscaling-wrong-type",
        _params_with(obsscaling__base__pca__n_components="five"),
        ParamsError,
        r"obsscaling\.base\.pca\.n_components: 'five' is not of type 'integer'",
    ),
    Case(
        "params-obsscaling-unknown-key",
        _params_with(obsscaling__base__pca__n_componets=5),
        ParamsError,
        r"unknown key obsscaling\.base\.pca\.n_componets",
    ),
    Case(
        "params-obsscaling-empty-budgets",
        _params_with(obsscaling__base__subset_selection__budgets=[]),
        ParamsError,
        r"obsscaling\.base\.subset_selection\.budgets: \[\] should be non-empty",
    ),
    Case(
        "params-obsscaling-negative-max-iter",
        _params_with(obsscaling__base__imputation__max_iter=-5),
        ParamsError,
        r"obsscaling\.base\.imputation\.max_iter: -5 is less than",
    ),
    Case(
        "params-ttt-negative-context",
        _params_with(ttt__base__context=-512),
        ParamsError,
        r"ttt\.base\.context: -512 is less than",
    ),
    Case(
        "params-ttt-empty-archs",
        _params_with(ttt__base__archs=[]),
        ParamsError,
        r"ttt\.base\.archs: \[\] should be non-empty",
    ),
    Case(
        "params-ttt-unknown-override-key",
        _params_with(ttt__tiny__train={"batchsize": 4}),
        ParamsError,
        r"unknown key ttt\.tiny\.train\.batchsize",
    ),
    Case(
        "params-pplcorr-empty-targets",
        _params_with(pplcorr__base__exact__targets=[]),
        ParamsError,
        r"pplcorr\.base\.exact\.targets: \[\] should be non-empty",
    ),
    Case(
        "params-pplcorr-wrong-type",
        _params_with(pplcorr__base__exact__top_k="10"),
        ParamsError,
        r"pplcorr\.base\.exact\.top_k: '10' is not of type 'integer'",
    ),
    Case(
        "params-ideagen-empty-topics",
        _params_with(ideagen__base__seeds__topics=[]),
        ParamsError,
        r"ideagen\.base\.seeds\.topics: \[\] should be non-empty",
    ),
    Case(
        "params-ideagen-negative-n-per-topic",
        _params_with(ideagen__base__seeds__n_per_topic=-1),
        ParamsError,
        r"ideagen\.base\.seeds\.n_per_topic: -1 is less than",
    ),
    Case(
        "params-distalign-negative-n-boot",
        _params_with(distalign__base__leaderboard__n_boot=-1),
        ParamsError,
        r"distalign\.base\.leaderboard\.n_boot: -1 is less than",
    ),
    Case(
        "params-distalign-unknown-key",
        _params_with(distalign__base__leaderboard__nboot=1000),
        ParamsError,
        r"unknown key distalign\.base\.leaderboard\.nboot",
    ),
    Case(
        "params-datavalue-empty-experiments",
        _params_with(datavalue__base__samples__experiments=[]),
        ParamsError,
        r"datavalue\.base\.samples\.experiments: \[\] should be non-empty",
    ),
    Case(
        "params-datavalue-negative-n-val",
        _params_with(datavalue__base__datasets__lm_clf__n_val=-1000),
        ParamsError,
        r"datavalue\.base\.datasets\.lm_clf\.n_val: -1000 is less than",
    ),
    Case(
        "params-datavalue-wrong-type-seed",
        _params_with(datavalue__base__seed="zero"),
        ParamsError,
        r"datavalue\.base\.seed: 'zero' is not of type 'integer'",
    ),
    Case(
        "params-graphunc-negative-steps",
        _params_with(graphunc__base__tiny__lm__steps=-1),
        ParamsError,
        r"graphunc\.base\.tiny\.lm\.steps: -1 is less than",
    ),
    Case(
        "params-graphunc-bad-smoke-override",
        _params_with(graphunc__smoke={"tiny": {"n_boot": "many"}}),
        ParamsError,
        r"graphunc\.smoke\.tiny\.n_boot: 'many' is not of type 'integer' \(after merging into base\)",
    ),
    Case(
        "params-unregistered-paper-block",
        _params_with(gpt5paper={"base": {}}),
        ParamsError,
        r"params\.yaml: unknown key gpt5paper; allowed keys here: \[",
    ),
    Case(
        "params-missing-paper-block",
        _params_edit(lambda c: c.pop("graphunc")),
        ParamsError,
        r"'graphunc' is a required property",
    ),
    Case(
        "params-unknown-scale",
        lambda ctx: resolve(_params(), "obsscaling", "huge"),
        ParamsError,
        r"scale: 'huge' is not one of",
    ),
    Case(
        "params-rule-asks-unknown-key",
        lambda ctx: select_keys(resolve(_params(), "graphunc", "tiny"), ["tiny.lm.stepz"], "graphunc"),
        ParamsError,
        r"unknown key graphunc\.tiny\.lm\.stepz",
    ),
]


# --- typed step configs (build_config / run_step): nothing written on error -----------------


def _build(cls_path: str, params: dict[str, Any], where: str) -> Callable[[Ctx], None]:
    def provoke(ctx: Ctx) -> None:
        import importlib

        from repro.common.steps import build_config

        module, name = cls_path.rsplit(".", 1)
        build_config(getattr(importlib.import_module(module), name), params, where)

    return provoke


def _ttt_train(**changes: Any) -> dict[str, Any]:
    return {**resolve(_params(), "ttt", "tiny")["train"], **changes}


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(params: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = params
        for p in parents:
            node = node[p]
        del node[leaf]

    return edit


def _put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda params: _set(params, path, value)


CONFIG_CASES = [
    Case(
        "config-obsscaling-pca-wrong-type",
        _run_step(
            "obsscaling",
            "pca",
            ["benchmarks", "imputation", "pca", "capability"],
            None,
            _put("pca.n_components", 2.5),
        ),
        ValueError,
        r"obsscaling\.pca\.n_components: expected an integer, got 2\.5",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-obsscaling-pca-missing-section",
        _run_step("obsscaling", "pca", ["benchmarks", "imputation", "pca", "capability"], None, _del("imputation")),
        ValueError,
        r"obsscaling\.imputation: required by PcaConfig but missing",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-graphunc-exact-unknown-key",
        _run_step("graphunc", "exact", ["exact"], "exact", _put("exact.gain_newest", "sc")),
        ValueError,
        r"graphunc\.exact\.gain_newest",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-distalign-leaderboard-wrong-type",
        _run_step("distalign", "leaderboard", ["leaderboard"], "leaderboard", _put("leaderboard.n_boot", "1000")),
        ValueError,
        r"distalign\.leaderboard\.n_boot: expected an integer, got '1000'",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-ideagen-dedup-wrong-type",
        _run_step("ideagen", "dedup", ["dedup"], "dedup", _put("dedup.threshold", "high")),
        ValueError,
        r"ideagen\.dedup\.threshold: expected a number, got 'high'",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-ideagen-dedup-checkpoints-not-list",
        _run_step("ideagen", "dedup", ["dedup"], "dedup", _put("dedup.checkpoints", 100)),
        ValueError,
        r"ideagen\.dedup\.checkpoints: expected a list, got 100",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-datavalue-dataset-wrong-type",
        _build(
            "repro.datavalue.data.DatasetSpec",
            {**resolve(_params(), "datavalue", "tiny")["datasets"]["lm_clf"], "n_pool": "3000"},
            "datavalue.datasets.lm_clf",
        ),
        ValueError,
        r"datavalue\.datasets\.lm_clf\.n_pool: expected an integer, got '3000'",
    ),
    Case(
        "config-params-section-conflict",
        _run_step_raw("graphunc", "exact", "tiny", json.dumps({CONFIG_SECTION_KEY: "exact", "exact": {}})),
        ValueError,
        r"params\.json: config section 'exact', but the caller asks for 'tiny'",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-params-json-malformed",
        _run_step_raw("graphunc", "exact", "exact", '{"exact": {"gain_new": '),
        ValueError,
        r"params\.json: not valid JSON",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-unknown-step",
        _run_step("graphunc", "nosuchstep", ["exact"], "exact", lambda p: None),
        ValueError,
        r"repro\.graphunc\.steps has no step 'nosuchstep'",
        absent=("out/numbers.json",),
    ),
    Case(
        "config-ttt-train-wrong-type",
        _build("repro.ttt.config.TrainSettings", _ttt_train(batch_size="4"), "ttt.train"),
        ValueError,
        r"ttt\.train\.batch_size: expected an integer, got '4'",
    ),
    Case(
        "config-trainer-negative-steps",
        _build("repro.common.lm.trainer.TrainConfig", {"steps": -10}, "graphunc.tiny.lm"),
        ValueError,
        r"graphunc\.tiny\.lm: .*must be positive; got steps=-10",
    ),
    Case(
        "config-pplcorr-exact-unknown-key",
        _run_step("pplcorr", "exact", ["exact"], "exact", _put("exact.topk", 10)),
        ValueError,
        r"pplcorr\.exact\.topk",
        absent=("out/numbers.json",),
    ),
]


def _step_outputs_mismatch(ctx: Ctx) -> None:
    import pandas as pd

    from repro.common.steps import StepResult, write_step_outputs

    result = StepResult(numbers={"exact": {"n": 1}}, tables={"table": pd.DataFrame({"a": [1]})})
    write_step_outputs(result, {"numbers": ctx.tmp / "out/numbers.json"}, prefix="exact")


def _numbers_outside_prefix(ctx: Ctx) -> None:
    from repro.common.steps import StepResult, write_step_outputs

    write_step_outputs(StepResult(numbers={"tiny.auroc": 0.7}), {"numbers": ctx.tmp / "out/numbers.json"}, "exact")


def _expected_with(slug: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Ctx], None]:
    """load_expected on an edited copy of the paper's workflow/expected/<slug>.yaml."""

    def provoke(ctx: Ctx) -> None:
        from repro.common.scorecard import load_expected

        doc = yaml.safe_load((ROOT / "workflow" / "expected" / f"{slug}.yaml").read_text(encoding="utf-8"))
        edit(doc)
        load_expected(_write(ctx, f"{slug}.yaml", yaml.safe_dump(doc)))

    return provoke


def _first_entry(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["entries"][0][field] = value

    return edit


def _first_claim(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["claims"][0][field] = value

    return edit


CONFIG_CASES += [
    Case(
        "config-step-outputs-mismatch",
        _step_outputs_mismatch,
        ValueError,
        r"step outputs \['numbers'\] do not match the results \['numbers', 'table'\]",
        absent=("out",),
    ),
    Case(
        "config-numbers-outside-prefix",
        _numbers_outside_prefix,
        ValueError,
        r"step 'exact' produced numbers outside its prefix 'exact\.': \['tiny\.auroc'\]",
        absent=("out",),
    ),
    Case(
        "config-numbers-key-twice",
        lambda ctx: __import__("repro.common.steps", fromlist=["merge_numbers"]).merge_numbers(
            [{"exact": {"n": 1}}, {"exact.n": 2}]
        ),
        ValueError,
        r"numbers key 'exact\.n' produced by two steps",
    ),
    Case(
        "config-expected-unknown-origin",
        _expected_with("graphunc", _first_entry("origin", "vibes")),
        ValueError,
        r"graphunc\.yaml.*origin must be one of",
    ),
    Case(
        "config-expected-bad-criterion",
        _expected_with("distalign", _first_claim("criterion", "__import__('os').system('true')")),
        ValueError,
        r"criterion .*unsupported expression",
    ),
    Case(
        "config-expected-title",
        _expected_with("ideagen", lambda doc: doc.update(title="Can LLMs Generate Novel Research Ideas?")),
        ValueError,
        r"ideagen\.yaml: top-level key 'title' is not allowed; a paper's title lives only in the registry "
        r"\(workflow/papers\.yaml, papers\.ideagen\.title\)",
    ),
]


# --- fetch: mirror and checksums --------------------------------------------------------------

_URL = "https://raw.githubusercontent.com/example/repo/0123456789abcdef/data/table.csv"


def _mirror_with(ctx: Ctx, content: bytes | None) -> Path:
    mirror = ctx.tmp / "mirror"
    mirror.mkdir()
    if content is not None:
        path = mirror / "github.com/example/repo/0123456789abcdef/data/table.csv"
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
    return mirror


def _fetch_missing(ctx: Ctx) -> None:
    from repro.common.fetch import fetch

    fetch(_URL, "0" * 64, ctx.tmp / "res/table.csv", mirror=_mirror_with(ctx, None))


def _fetch_corrupted(ctx: Ctx) -> None:
    import hashlib

    from repro.common.fetch import fetch

    good = hashlib.sha256(b"model,score\na,1\n").hexdigest()
    fetch(_URL, good, ctx.tmp / "res/table.csv", mirror=_mirror_with(ctx, b"model,score\na,2\n"))


def _fetch_corrupted_keeps_old(ctx: Ctx) -> None:
    """A stale local copy is re-fetched from a corrupted mirror: the old file stays as it was."""
    import hashlib

    from repro.common.fetch import fetch

    dest = _write(ctx, "res/table.csv", "stale\n")
    good = hashlib.sha256(b"model,score\na,1\n").hexdigest()
    try:
        fetch(_URL, good, dest, mirror=_mirror_with(ctx, b"truncat"))
    finally:
        assert dest.read_text() == "stale\n"


def _fetch_offline(ctx: Ctx) -> None:
    from repro.common.fetch import MIRROR_ENV, fetch

    ctx.monkeypatch.delenv(MIRROR_ENV, raising=False)
    fetch(f"http://127.0.0.1:{_free_port()}/data/table.csv", "0" * 64, ctx.tmp / "res/table.csv", timeout=2)


def _fetch_bad_url(ctx: Ctx) -> None:
    from repro.common.fetch import fetch

    fetch("ftp://example.org/table.csv", "0" * 64, ctx.tmp / "res/table.csv")


def _obsscaling_pinned_bad_template(ctx: Ctx) -> None:
    from repro.obsscaling.data import pinned_files

    params = copy.deepcopy(resolve(_params(), "obsscaling", "tiny"))
    params["data"]["url"] = "https://raw.githubusercontent.com/ryoungj/ObsScaling/{commit}/{folder}/{file}"
    pinned_files(params, _fetch_folder(ctx, "obsscaling"))


def _fetch_folder(ctx: Ctx, slug: str) -> str:
    """The download folder of rule <slug>__fetch (its registry group), under the case's folder."""
    groups = load_registry(ROOT / "workflow" / "papers.yaml").downloads.values()
    return str(ctx.tmp / next(g.folder for g in groups if g.target == f"{slug}__fetch"))


def _paper_file_not_in_mirror(slug: str) -> Callable[[Ctx], None]:
    """The paper's first pinned released file, fetched from an empty mirror."""

    def provoke(ctx: Ctx) -> None:
        import importlib

        from repro.common.fetch import fetch

        pinned = importlib.import_module(f"repro.{slug}.data").pinned_files(
            resolve(_params(), slug, "tiny"), _fetch_folder(ctx, slug)
        )
        first = next(iter(pinned.values()))
        fetch(first["url"], first["sha256"], first["path"], mirror=_mirror_with(ctx, None))

    return provoke


def _corpus_mirror(ctx: Ctx, corrupt: bool) -> None:
    """ttt's training corpora from a mirror that lacks them (or holds a corrupted copy)."""
    from repro.common.fetch import MIRROR_ENV, mirror_key
    from repro.common.lm.corpora import corpus_spec
    from repro.common.steps import build_config
    from repro.ttt.config import DataSettings
    from repro.ttt.data import split_texts

    data = build_config(DataSettings, resolve(_params(), "ttt", "tiny")["data"], "ttt.data")
    mirror = _mirror_with(ctx, None)
    if corrupt:
        for name in data.corpora:
            for res in corpus_spec(name).resources:
                path = mirror / mirror_key(res.url)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"<html>rate limited</html>")
    ctx.monkeypatch.setenv(MIRROR_ENV, str(mirror))
    split_texts(data, ctx.tmp / "resources")


FETCH_CASES = [
    Case(
        "fetch-missing-mirror-file",
        _fetch_missing,
        RuntimeError,
        r"table\.csv is not in the mirror: expected .*mirror/github\.com/example/repo/0123456789abcdef/data/table\.csv",
        absent=("res/table.csv",),
    ),
    Case(
        "fetch-sha256-mismatch",
        _fetch_corrupted,
        RuntimeError,
        r"sha256 mismatch for https://raw\.githubusercontent\.com/example/.*table\.csv",
        absent=("res/table.csv",),
    ),
    Case(
        "fetch-corrupted-mirror-keeps-old-copy",
        _fetch_corrupted_keeps_old,
        RuntimeError,
        r"sha256 mismatch for .*table\.csv",
    ),
    Case(
        "fetch-offline-no-mirror",
        _fetch_offline,
        RuntimeError,
        r"cannot download http://127\.0\.0\.1:\d+/data/table\.csv: .*set REPRO_MIRROR",
        absent=("res/table.csv",),
    ),
    Case(
        "fetch-not-http-url",
        _fetch_bad_url,
        RuntimeError,
        r"not an http\(s\) URL: 'ftp://example\.org/table\.csv'",
        absent=("res/table.csv",),
    ),
    Case(
        "fetch-obsscaling-file-not-in-mirror",
        _paper_file_not_in_mirror("obsscaling"),
        RuntimeError,
        r"https://raw\.githubusercontent\.com/ryoungj/ObsScaling/4d6e1e4\w+/eval_results/\S+\.csv is not in the mirror",
        absent=("resources",),
    ),
    Case(
        "fetch-ideagen-file-not-in-mirror",
        _paper_file_not_in_mirror("ideagen"),
        RuntimeError,
        r"https://raw\.githubusercontent\.com/NoviScl/AI-Researcher/\w+/\S+ is not in the mirror",
        absent=("resources",),
    ),
    Case(
        "fetch-pplcorr-file-not-in-mirror",
        _paper_file_not_in_mirror("pplcorr"),
        RuntimeError,
        r"https://raw\.githubusercontent\.com/TristanThrush/perplexity-correlations/\w+/\S+ is not in the mirror",
        absent=("resources",),
    ),
    Case(
        "fetch-ttt-corpus-not-in-mirror",
        lambda ctx: _corpus_mirror(ctx, corrupt=False),
        RuntimeError,
        r"https://\S+ is not in the mirror: expected \S+mirror/\S+",
        absent=("resources",),
    ),
    Case(
        "fetch-ttt-corpus-corrupted-mirror",
        lambda ctx: _corpus_mirror(ctx, corrupt=True),
        RuntimeError,
        r"sha256 mismatch for https://\S+ -> \S+resources/\S+: expected [0-9a-f]{64}, got",
        absent=("resources",),
    ),
    Case(
        "fetch-obsscaling-url-template-unknown-field",
        _obsscaling_pinned_bad_template,
        ValueError,
        r"obsscaling.*data\.url.*folder",
    ),
]


# --- checkpoints and model directories --------------------------------------------------------


def _tiny_model():
    """A bigram LM (embedding + linear): enough for the trainer, and no transformers import."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(32, 8), torch.nn.Linear(8, 32))


def _model_dir(ctx: Ctx, weights: bytes, **model_changes: Any) -> Path:
    """A model directory by hand: a valid tiny GPT-2 config beside the given weights bytes."""
    from repro.common.lm.models import CONFIG_FILE, WEIGHTS_FILE, ModelConfig

    cfg = ModelConfig(arch="gpt2", n_layer=1, n_head=2, d_model=16, context=16, vocab_size=32).to_dict()
    _write(ctx, f"model/{CONFIG_FILE}", json.dumps({"model": {**cfg, **model_changes}, "format": 1, "extra": {}}))
    (ctx.tmp / "model" / WEIGHTS_FILE).write_bytes(weights)
    return ctx.tmp / "model"


def _truncated_checkpoint(ctx: Ctx) -> None:
    import numpy as np

    from repro.common.lm.trainer import CHECKPOINT_FILE, TrainConfig, make_optimizer, save_checkpoint, train

    model = _tiny_model()
    cfg = TrainConfig(steps=4, batch_size=2, context=8, lr=1e-3, warmup=1, min_lr=1e-4, threads=1)
    ckpt = ctx.tmp / "run" / CHECKPOINT_FILE
    save_checkpoint(ckpt, model, make_optimizer(model, cfg), 2, cfg, [])
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    before = ckpt.read_bytes()
    tokens = np.arange(200, dtype=np.uint16) % 32
    try:
        train(model, tokens, cfg, out_dir=ctx.tmp / "run", progress=False)
    finally:
        assert ckpt.read_bytes() == before  # not overwritten by a half-trained model


def _truncated_weights(ctx: Ctx) -> None:
    import torch
    from safetensors.torch import save

    from repro.common.lm.models import load_model_dir

    weights = save({"w": torch.zeros(64, 64)})
    load_model_dir(_model_dir(ctx, weights[:100]))


def _not_a_model_dir(ctx: Ctx) -> None:
    from repro.common.lm.models import load_model_dir

    (ctx.tmp / "model").mkdir()
    load_model_dir(ctx.tmp / "model")


def _model_config_unknown_key(ctx: Ctx) -> None:
    from repro.common.lm.models import load_model_dir

    load_model_dir(_model_dir(ctx, b"", n_layers=3))


def _unknown_arch(ctx: Ctx) -> None:
    from repro.common.lm.models import ModelConfig, build_model

    build_model(ModelConfig(arch="gpt5", n_layer=1, n_head=2, d_model=16, context=16, vocab_size=32))


def _tokenizer_corrupted(ctx: Ctx) -> None:
    from repro.common.lm.tokenizer import Tokenizer

    _write(ctx, "tok/tokenizer.json", '{"version": "1.0", "model": ')
    Tokenizer.load(ctx.tmp / "tok")


def _tokens_truncated(ctx: Ctx) -> None:
    import numpy as np

    from repro.common.lm.trainer import load_tokens, save_tokens

    path = ctx.tmp / "train_tokens.npy"
    save_tokens(path, np.arange(1000, dtype=np.uint16))
    path.write_bytes(path.read_bytes()[:60])
    load_tokens(path)


def _tokenizer_missing(ctx: Ctx) -> None:
    from repro.common.lm.tokenizer import Tokenizer

    (ctx.tmp / "tok").mkdir()
    Tokenizer.load(ctx.tmp / "tok")


CKPT_CASES = [
    Case("ckpt-truncated-checkpoint", _truncated_checkpoint, ValueError, r"run/checkpoint\.safetensors.*truncated"),
    Case("ckpt-truncated-weights", _truncated_weights, ValueError, r"model/model\.safetensors.*truncated"),
    Case("ckpt-not-a-model-dir", _not_a_model_dir, FileNotFoundError, r"model is not a repro model directory"),
    Case(
        "ckpt-model-config-unknown-key",
        _model_config_unknown_key,
        ValueError,
        r"model/repro_lm\.json: not a valid model config: unknown ModelConfig keys: \['n_layers'\]",
    ),
    Case("ckpt-unknown-architecture", _unknown_arch, ValueError, r"unknown architecture 'gpt5'"),
    Case("ckpt-tokenizer-missing", _tokenizer_missing, FileNotFoundError, r"no tokenizer\.json in .*tok"),
    Case(
        "ckpt-tokenizer-corrupted", _tokenizer_corrupted, ValueError, r"tok/tokenizer\.json: not a readable tokenizer"
    ),
    Case("ckpt-tokens-truncated", _tokens_truncated, ValueError, r"train_tokens\.npy: not a readable token file"),
]


# --- LLM backends and the sqlite cache --------------------------------------------------------


def _replay_llm():
    from repro.common.llm.replay import ReplayLLM

    return ReplayLLM(
        dataset="d",
        model="m",
        records=[{"dataset": "d", "model": "m", "method": "default", "prompt_id": "hi", "output": "yo"}],
    )


def _corrupted_cache(ctx: Ctx) -> None:
    from repro.common.llm.cache import CachedLLM

    path = _write(ctx, "cache.sqlite", "this is not a sqlite database, it was overwritten by an editor\n" * 20)
    CachedLLM(_replay_llm(), path)


def _truncated_cache(ctx: Ctx) -> None:
    from repro.common.llm.cache import CachedLLM

    path = ctx.tmp / "cache.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(200)])
    conn.commit()
    conn.close()
    path.write_bytes(path.read_bytes()[:5000])
    llm = CachedLLM(_replay_llm(), path)
    llm.generate(["hi"])


def _cache_wrong_table(ctx: Ctx) -> None:
    from repro.common.llm.cache import CachedLLM

    path = ctx.tmp / "cache.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE llm_cache (key TEXT PRIMARY KEY, value TEXT)")
    conn.commit()
    conn.close()
    CachedLLM(_replay_llm(), path).generate(["hi"])


def _unknown_backend(ctx: Ctx) -> None:
    from repro.common.llm import get_llm

    get_llm("gpt5-local", cache=ctx.tmp / "cache.sqlite")


def _unreachable(ctx: Ctx) -> None:
    from repro.common.llm.openai import OpenAILLM

    llm = OpenAILLM("tiny-model", base_url=f"http://127.0.0.1:{_free_port()}/v1", timeout=1.0, max_retries=0)
    llm.generate(["hello"])


def _unreachable_cached(ctx: Ctx) -> None:
    """An endpoint error through the cache: nothing is cached (the next run asks again)."""
    from repro.common.llm import from_params

    params = {
        "backend": "openai",
        "model": "tiny-model",
        "base_url": f"http://127.0.0.1:{_free_port()}/v1",
        "timeout": 1.0,
        "max_retries": 0,
        "cache": str(ctx.tmp / "cache.sqlite"),
    }
    llm = from_params(params)
    try:
        llm.generate(["hello"])
    finally:
        assert len(llm.store) == 0


def _api_key_env_unset(ctx: Ctx) -> None:
    from repro.common.llm import from_params

    ctx.monkeypatch.delenv("REPRO_TEST_UNSET_KEY", raising=False)
    from_params({"backend": "openai", "model": "gpt-4", "api_key_env": "REPRO_TEST_UNSET_KEY"})


LLM_CASES = [
    Case("llm-cache-corrupted", _corrupted_cache, RuntimeError, r"cache\.sqlite.*not a usable LLM cache"),
    Case("llm-cache-truncated", _truncated_cache, RuntimeError, r"cache\.sqlite.*not a usable LLM cache"),
    Case("llm-cache-foreign-table", _cache_wrong_table, RuntimeError, r"cache\.sqlite.*not a usable LLM cache"),
    Case("llm-unknown-backend", _unknown_backend, KeyError, r"unknown LLM backend 'gpt5-local'; available: .*openai"),
    Case(
        "llm-missing-backend-key",
        lambda ctx: __import__("repro.common.llm", fromlist=["from_params"]).from_params({"model": "m"}),
        RuntimeError,
        r"LLM params need a 'backend' key",
    ),
    Case(
        "llm-secret-in-params",
        lambda ctx: __import__("repro.common.llm", fromlist=["from_params"]).from_params(
            {"backend": "openai", "model": "gpt-4", "api_key": "sk-123"}
        ),
        RuntimeError,
        r"params must not contain 'api_key'",
    ),
    Case("llm-api-key-env-unset", _api_key_env_unset, RuntimeError, r"environment variable REPRO_TEST_UNSET_KEY"),
    Case(
        "llm-openai-unreachable",
        _unreachable,
        RuntimeError,
        r"cannot connect to http://127\.0\.0\.1:\d+/v1/completions.*gave up after 1 attempts",
    ),
    Case(
        "llm-openai-unreachable-through-cache",
        _unreachable_cached,
        RuntimeError,
        r"cannot connect to http://127\.0\.0\.1:\d+/v1/completions",
    ),
    Case(
        "llm-openai-unknown-mode",
        lambda ctx: __import__("repro.common.llm.openai", fromlist=["OpenAILLM"]).OpenAILLM("m", mode="edits"),
        ValueError,
        r"mode must be 'completions' or 'chat', not 'edits'",
    ),
    Case(
        "llm-replay-missing-record",
        lambda ctx: _replay_llm().generate(["not released"]),
        KeyError,
        r"no released record for .*not released",
    ),
]


# --- released-data loaders fed malformed files ----------------------------------------------


def _obs_read(text: str, required: tuple[str, ...] = ("Model",)) -> Callable[[Ctx], None]:
    def provoke(ctx: Ctx) -> None:
        from repro.obsscaling.data import read_table

        read_table(_write(ctx, "base_llm_benchmark_eval.csv", text), required)

    return provoke


def _ideagen(loader: str, name: str, text: str) -> Callable[[Ctx], None]:
    def provoke(ctx: Ctx) -> None:
        from repro.ideagen import data

        getattr(data, loader)(_write(ctx, name, text))

    return provoke


_REVIEW = {
    "topic": ["Bias"],
    "condition": ["AI"],
    "idea_id": ["Bias_1_AI"],
    **{f"{m}_score": [5] for m in ("novelty", "excitement", "feasibility", "effectiveness", "overall")},
}


def _reviews(**changes: Any) -> str:
    return json.dumps({**_REVIEW, **changes})


def _distalign(dataset: str, rel: str, text: str) -> Callable[[Ctx], None]:
    def provoke(ctx: Ctx) -> None:
        from repro.distalign.data import load_truth

        load_truth(dataset, {rel: _write(ctx, rel, text)})

    return provoke


def _graphunc(loader: str, name: str, text: str, *args: Any) -> Callable[[Ctx], None]:
    def provoke(ctx: Ctx) -> None:
        from repro.graphunc import data

        getattr(data, loader)(_write(ctx, name, text), *args)

    return provoke


_POINT = {"verbalized_confidence_with_options": 0.5, "inline_verbalized_confidence": 0.5, "claim": "c"}


def _pplcorr(loader: str, name: str, text: str) -> Callable[[Ctx], None]:
    def provoke(ctx: Ctx) -> None:
        from repro.pplcorr import data

        getattr(data, loader)(_write(ctx, name, text))

    return provoke


def _datavalue_dataset(**spec: Any) -> Callable[[Ctx], None]:
    def provoke(ctx: Ctx) -> None:
        from repro.datavalue.data import DatasetSpec, load_dataset

        load_dataset("bad", DatasetSpec(**spec))

    return provoke


DATA_CASES = [
    # obsscaling: the authors' eval_results CSVs
    Case(
        "data-obsscaling-ragged-csv",
        _obs_read('Model,MMLU\n"Llama-2-7b,0.4\nFalcon,0.3,0.2,0.1\n'),
        ValueError,
        r"base_llm_benchmark_eval\.csv: cannot read CSV",
    ),
    Case(
        "data-obsscaling-empty-csv",
        _obs_read(""),
        ValueError,
        r"base_llm_benchmark_eval\.csv: cannot read CSV",
    ),
    Case(
        "data-obsscaling-missing-column",
        _obs_read("Model,MMLU\nLlama-2-7b,0.4\n", ("Model", "MMLU", "GSM8K")),
        ValueError,
        r"base_llm_benchmark_eval\.csv: missing column\(s\) 'GSM8K'",
    ),
    Case(
        "data-obsscaling-duplicate-model",
        _obs_read("Model,MMLU\nLlama-2-7b,0.4\nLlama-2-7b,0.5\n"),
        ValueError,
        r"base_llm_benchmark_eval\.csv: duplicated model rows \['Llama-2-7b'\]",
    ),
    # ideagen: the human study's review JSON and the id -> title CSV
    Case(
        "data-ideagen-reviews-not-json",
        _ideagen("load_reviews", "reviews.json", '{"topic": ["Bias"], '),
        ValueError,
        r"reviews\.json: not valid JSON",
    ),
    Case(
        "data-ideagen-reviews-list",
        _ideagen("load_reviews", "reviews.json", "[1, 2]"),
        ValueError,
        r"reviews\.json: expected a JSON object of parallel lists, got list",
    ),
    Case(
        "data-ideagen-reviews-missing-field",
        _ideagen("load_reviews", "reviews.json", json.dumps({k: v for k, v in _REVIEW.items() if k != "idea_id"})),
        ValueError,
        r"reviews\.json: missing field\(s\) \['idea_id'\]",
    ),
    Case(
        "data-ideagen-reviews-score-out-of-range",
        _ideagen("load_reviews", "reviews.json", _reviews(novelty_score=[11])),
        ValueError,
        r"reviews\.json: field novelty_score must hold scores 1\.\.10",
    ),
    Case(
        "data-ideagen-reviews-unknown-condition",
        _ideagen("load_reviews", "reviews.json", _reviews(condition=["Robot"])),
        ValueError,
        r"reviews\.json: unknown condition\(s\) \['Robot'\]",
    ),
    Case(
        "data-ideagen-titles-empty",
        _ideagen("load_titles", "id_title_mapping.csv", ""),
        ValueError,
        r"id_title_mapping\.csv: cannot read CSV: No columns",
    ),
    Case(
        "data-ideagen-titles-wrong-columns",
        _ideagen("load_titles", "id_title_mapping.csv", "id,title\nBias_1_AI,x\n"),
        ValueError,
        r"id_title_mapping\.csv: expected columns 'ID', 'Title / Filename'",
    ),
    # distalign: the benchmark's released JSON files
    Case(
        "data-distalign-not-json",
        _distalign("globalvalues", "Global_Values/data/data.json", "{'not': json}"),
        ValueError,
        r"Global_Values/data/data\.json: not valid JSON",
    ),
    Case(
        "data-distalign-missing-file",
        lambda ctx: __import__("repro.distalign.data", fromlist=["load_truth"]).load_truth(
            "nytimes", {"nytimes/data.json": ctx.tmp / "nytimes/data.json"}
        ),
        ValueError,
        r"released file missing: .*nytimes/data\.json",
    ),
    Case(
        "data-distalign-proportions-length",
        _distalign(
            "globalvalues",
            "Global_Values/data/data.json",
            json.dumps({"Q?": {"MC_options": "['Yes', 'No']", "countries": ["France"], "France": [0.2, 0.3, 0.5]}}),
        ),
        ValueError,
        r"Global_Values/data/data\.json: 3 proportions for 2 options",
    ),
    Case(
        "data-distalign-negative-counts",
        _distalign(
            "globalvalues",
            "Global_Values/data/data.json",
            json.dumps({"Q?": {"MC_options": "['Yes', 'No']", "countries": ["France"], "France": [1.2, -0.2]}}),
        ),
        ValueError,
        r"Global_Values/data/data\.json:Q\?:France: counts must be finite, non-negative",
    ),
    Case(
        "data-distalign-missing-field",
        _distalign("nytimes", "nytimes/data.json", json.dumps({"Some book": {"genre": "x"}})),
        ValueError,
        r"nytimes/data\.json.*Some book.*MC_options",
    ),
    Case(
        "data-distalign-unknown-dataset",
        lambda ctx: __import__("repro.distalign.data", fromlist=["load_truth"]).load_truth("gallup", {}),
        ValueError,
        r"unknown dataset 'gallup'",
    ),
    # graphunc: the released bipartite matrices, cached metrics and decoding outputs
    Case(
        "data-graphunc-matrix-not-json",
        _graphunc("load_prompts", "matrix.json", "[{", 5),
        ValueError,
        r"matrix\.json: not valid JSON",
    ),
    Case(
        "data-graphunc-matrix-not-a-list",
        _graphunc("load_prompts", "matrix.json", "{}", 5),
        ValueError,
        r"matrix\.json: expected a list of prompts",
    ),
    Case(
        "data-graphunc-matrix-wrong-shape",
        _graphunc(
            "load_prompts", "matrix.json", json.dumps([{"sc_match_4samples": [[1, 0]], "pointwise_dict": [_POINT]}]), 5
        ),
        ValueError,
        r"matrix\.json\[0\]: sc_match_4samples has shape \(1, 2\), expected \(5, 1\)",
    ),
    Case(
        "data-graphunc-matrix-missing-score",
        _graphunc(
            "load_prompts",
            "matrix.json",
            json.dumps([{"sc_match_4samples": [[1]] * 5, "pointwise_dict": [{"claim": "c"}]}]),
            5,
        ),
        ValueError,
        r"matrix\.json\[0\]\.sc_score_4samples: expected a number, got None",
    ),
    Case(
        "data-graphunc-metrics-missing-data-size",
        _graphunc("load_author_metrics", "plot_roc_curve.json", json.dumps({"sc_4samples": {}}), 5),
        ValueError,
        r"plot_roc_curve\.json: no 'data_size'",
    ),
    Case(
        "data-graphunc-uad-no-decisions",
        _graphunc("load_uad_output", "uad.json", json.dumps({"init_score": 0.5})),
        ValueError,
        r"uad\.json: no 'decisions'",
    ),
    Case(
        "data-graphunc-unknown-model",
        lambda ctx: __import__("repro.graphunc.data", fromlist=["setting_name"]).setting_name("factscore", "gpt5"),
        ValueError,
        r"unknown model 'gpt5'",
    ),
    # pplcorr: the released BPB and error CSVs
    Case(
        "data-pplcorr-bpb-no-id-column",
        _pplcorr("load_bpb", "bpb.csv", "text,llm_a\nt1,0.9\n"),
        ValueError,
        r"bpb\.csv: no id column 'id'",
    ),
    Case(
        "data-pplcorr-bpb-duplicate-ids",
        _pplcorr("load_bpb", "bpb.csv", "id,llm_a\nt1,0.9\nt1,0.8\n"),
        ValueError,
        r"bpb\.csv: duplicate text ids, e\.g\. 't1'",
    ),
    Case(
        "data-pplcorr-bpb-nan",
        _pplcorr("load_bpb", "bpb.csv", "id,llm_a,llm_b\nt1,0.9,\nt2,0.8,0.7\n"),
        ValueError,
        r"BPB matrix has NaN/inf values for 1 model\(s\), e\.g\. \['llm_b'\]",
    ),
    Case(
        "data-pplcorr-errors-no-benchmark",
        _pplcorr("load_errors", "error.csv", "task,llm_a\narc_easy,0.3\n"),
        ValueError,
        r"error\.csv: no 'benchmark' column",
    ),
    # datavalue: dataset specs
    Case(
        "data-datavalue-unknown-sklearn-dataset",
        _datavalue_dataset(source="sklearn", n_pool=0, name="iris_plus"),
        ValueError,
        r"dataset 'iris_plus': not a bundled scikit-learn dataset",
    ),
    Case(
        "data-datavalue-split-too-large",
        _datavalue_dataset(source="sklearn", n_pool=1000, n_val=100, n_test=100, name="breast_cancer"),
        ValueError,
        r"dataset 'bad': n_pool \+ n_val \+ n_test = 1200 exceeds its 569 points",
    ),
    Case(
        "data-datavalue-flip-fraction",
        _datavalue_dataset(source="synthetic", n_pool=100, n_val=10, n_test=10, flip_fraction=1.5),
        ValueError,
        r"dataset 'bad': flip_fraction must be in \[0, 1\), got 1\.5",
    ),
    Case(
        "data-datavalue-remote-offline",
        _datavalue_dataset(source="remote", n_pool=0, name="opendataval:adult"),
        ValueError,
        r"dataset 'bad': source 'remote' needs the network \(paper scale\)",
    ),
    # ttt: corpora named in params
    Case(
        "data-ttt-unknown-corpus",
        lambda ctx: __import__("repro.common.lm.corpora", fromlist=["corpus_spec"]).corpus_spec("wikitext9"),
        KeyError,
        r"unknown corpus 'wikitext9'; known: ",
    ),
]


# --- the registry ----------------------------------------------------------------------------


def _registry(text: str) -> Callable[[Ctx], None]:
    return lambda ctx: load_registry(_write(ctx, "papers.yaml", text))


REGISTRY_CASES = [
    Case(
        "registry-unknown-download-group",
        _registry("papers:\n  p: {title: T, tiers: [exact], downloads: [nosuchgroup]}\n"),
        ValueError,
        r"papers\.yaml: papers\.p.*nosuchgroup",
    ),
    Case(
        "registry-unknown-tier",
        _registry("papers:\n  p: {title: T, tiers: [approximate], downloads: []}\n"),
        ValueError,
        r"papers\.yaml: papers\.p.*approximate",
    ),
]


CASES = PARAMS_CASES + CONFIG_CASES + FETCH_CASES + CKPT_CASES + LLM_CASES + DATA_CASES + REGISTRY_CASES


def test_enough_distinct_cases():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(ids) >= 50
    categories = {i.split("-")[0] for i in ids}
    assert categories == {"params", "config", "fetch", "ckpt", "llm", "data", "registry"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = Ctx(tmp=tmp_path, monkeypatch=monkeypatch)
    with pytest.raises(case.exc) as info:
        case.provoke(ctx)
    message = str(info.value)
    assert re.search(case.match, message, flags=re.DOTALL), f"message does not name the cause: {message!r}"
    # One clear error: not a bare traceback of a library internals error.
    assert "Traceback" not in message
    for rel in case.absent:
        path = tmp_path / rel
        written = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        assert not written, f"{written} written despite the error"
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
