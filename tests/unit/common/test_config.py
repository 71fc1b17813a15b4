from pathlib import Path

import pytest

from repro.common.config import ParamsError, deep_merge, resolve, validate_block, validate_params
from repro.common.registry import load_registry

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "seed": {"type": "integer"},
        "fit": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"delta": {"type": "number"}, "kind": {"enum": ["ols", "huber"]}},
        },
    },
}


def test_resolve_merges_scale_overrides():
    cfg = {
        "p": {
            "base": {"seed": 0, "fit": {"delta": 1.0, "kind": "ols"}},
            "tiny": {"fit": {"delta": 2.0}},
            "smoke": {"seed": 3},
        }
    }
    assert resolve(cfg, "p", "paper") == {"seed": 0, "fit": {"delta": 1.0, "kind": "ols"}}
    assert resolve(cfg, "p", "tiny") == {"seed": 0, "fit": {"delta": 2.0, "kind": "ols"}}
    assert resolve(cfg, "p", "smoke") == {"seed": 3, "fit": {"delta": 2.0, "kind": "ols"}}


def test_unknown_override_key_is_named():
    with pytest.raises(ParamsError, match=r"p\.tiny\.fit\.dleta"):
        deep_merge({"fit": {"delta": 1}}, {"fit": {"dleta": 2}}, "p.tiny")


def test_wrong_type_names_the_key():
    with pytest.raises(ParamsError, match=r"p\.fit\.delta: 'big' is not of type 'number'"):
        validate_block({"seed": 1, "fit": {"delta": "big"}}, SCHEMA, "p")


def test_unknown_key_names_the_key():
    with pytest.raises(ParamsError, match=r"unknown key p\.fit\.colour"):
        validate_block({"fit": {"colour": 1}}, SCHEMA, "p")


def test_unknown_scale():
    with pytest.raises(ParamsError, match="scale"):
        resolve({"p": {"base": {}}}, "p", "huge")


def test_project_params_yaml_is_valid(repo_root):
    import yaml

    config = yaml.safe_load((repo_root / "params.yaml").read_text())
    validate_params(
        config, repo_root / "workflow" / "schemas", load_registry(repo_root / "workflow" / "papers.yaml").slugs
    )


def test_validation_is_skipped_only_when_nothing_it_reads_changed(tmp_path, monkeypatch):
    """validate_params_cached (the workflow's parse-time check) reruns the validation after any change to the
    params, and never records a failed one."""
    import yaml

    from repro.common import config as cfg
    from repro.common.registry import load_registry

    root = Path(__file__).resolve().parents[3]
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    papers = load_registry(root / "workflow/papers.yaml").slugs
    calls = []
    real = cfg.validate_params
    monkeypatch.setattr(cfg, "validate_params", lambda *a: calls.append(1) or real(*a))
    stamp = tmp_path / "valid.txt"
    cfg.validate_params_cached(params, root / "workflow/schemas", papers, stamp)
    cfg.validate_params_cached(params, root / "workflow/schemas", papers, stamp)
    assert len(calls) == 1
    params["obsscaling"]["base"]["pca"]["n_components"] = "five"
    with pytest.raises(cfg.ParamsError, match="obsscaling.base.pca.n_components"):
        cfg.validate_params_cached(params, root / "workflow/schemas", papers, stamp)
    with pytest.raises(cfg.ParamsError):
        cfg.validate_params_cached(params, root / "workflow/schemas", papers, stamp)
    assert len(calls) == 3
