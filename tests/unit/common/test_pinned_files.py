"""One download shape for every paper with released data (issue 26): ``repro.<slug>.data.pinned_files``.

For each paper whose registry entry (``workflow/papers.yaml``) names a download group with target
``<slug>__fetch``, ``pinned_files(params, folder)`` maps each rule output name to its pinned ``url``, ``sha256`` (or
``git_blob``) and local ``path`` under the group's folder (the workflow's ``downloads`` helper calls it; downloads.smk
generates the fetch rule). Checked here at every scale on the real params.yaml, plus one bad params value per
paper, whose error must name the key.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from repro.common.io import DataError
from repro.common.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = load_registry(ROOT / "workflow" / "papers.yaml")
# slug -> folder of its rule <slug>__fetch, as workflow/rules/common.smk reads it
FOLDERS = {
    slug: group.folder
    for slug, paper in REGISTRY.papers.items()
    for group in (REGISTRY.downloads[g] for g in paper.downloads)
    if group.target == f"{slug}__fetch"
}
SHA256 = re.compile(r"^[0-9a-f]{64}$")
GIT_BLOB = re.compile(r"^[0-9a-f]{40}$")


def _pinned(slug: str, params: dict[str, Any]) -> dict[str, dict[str, str]]:
    return importlib.import_module(f"repro.{slug}.data").pinned_files(params, FOLDERS[slug])


def test_the_papers_with_released_data_have_a_fetch_group():
    # The seven papers of issue 26; a paper added later with a <slug>__fetch group is checked below too.
    expected = {"obsscaling", "pplcorr", "ideagen", "distalign", "graphunc", "autobencher", "entigraph"}
    assert expected <= set(FOLDERS), f"no <slug>__fetch download group for {sorted(expected - set(FOLDERS))}"


@pytest.mark.parametrize("scale", ["smoke", "tiny", "paper"])
@pytest.mark.parametrize("slug", sorted(FOLDERS))
def test_every_pin_has_url_sha256_and_a_path_under_the_folder(slug, scale, paper_params):
    folder = FOLDERS[slug]
    files = _pinned(slug, paper_params(slug, scale))
    assert files, f"{slug}: no pinned files at scale {scale}"
    for name, spec in files.items():
        assert re.fullmatch(r"[A-Za-z0-9_]+", name), f"{slug}: {name!r} is not a rule output name"
        # one content hash: a sha256, or a git blob id for a file known offline only by its repository's tree
        digest = "git_blob" if "git_blob" in spec else "sha256"
        assert set(spec) == {"url", digest, "path"}, (slug, name, sorted(spec))
        assert spec["url"].startswith("https://"), (slug, name, spec["url"])
        assert (SHA256 if digest == "sha256" else GIT_BLOB).match(spec[digest]), (slug, name, spec[digest])
        assert spec["path"].startswith(f"{folder}/"), (slug, name, spec["path"])
        # the path under the folder is the tail of the URL: the folder stands for the repository (and commit)
        assert unquote(spec["url"]).endswith("/" + spec["path"][len(folder) + 1 :]), (slug, name)
    assert len({spec["path"] for spec in files.values()}) == len(files), f"{slug}: two names share a path"


def _bad_url_template(params: dict[str, Any]) -> None:
    params["data"]["url"] = params["data"]["url"].replace("{file}", "{folder}/{file}")


def _no_commit(params: dict[str, Any]) -> None:
    params["data"]["url"] = params["data"]["url"].replace("{commit}", "main")


def _no_sha256(params: dict[str, Any]) -> None:
    del next(iter(params["release"]["files"].values()))["sha256"]


def _duplicate_quality_name(params: dict[str, Any]) -> None:
    params["quality"] = [params["quality"][0], dict(params["quality"][0])]


BAD = {
    "obsscaling": (_bad_url_template, r"obsscaling data\.url .* unknown field 'folder'"),
    "pplcorr": (_bad_url_template, r"pplcorr data\.url .* unknown field 'folder'"),
    "ideagen": (_bad_url_template, r"ideagen data\.url .* unknown field 'folder'"),
    "distalign": (_no_commit, r"distalign data\.url .* no \{commit\}"),
    "graphunc": (_no_sha256, r"graphunc release\.files\.\w+ has no \['sha256'\]"),
    "autobencher": (_no_sha256, r"autobencher release\.files\.\w+ has no \['sha256'\]"),
    "entigraph": (_duplicate_quality_name, r"entigraph quality\[1\]: name 'example' is used twice"),
}


def test_every_paper_has_a_bad_value_case():
    assert set(BAD) == set(FOLDERS)


@pytest.mark.parametrize("slug", sorted(BAD))
def test_a_bad_params_value_is_named(slug, paper_params):
    params = paper_params(slug, "tiny")
    edit, message = BAD[slug]
    edit(params)
    with pytest.raises(DataError, match=message):
        _pinned(slug, params)


# Issue 28: an empty or malformed sha256 is refused when the pins are built (at parse time), naming the params key.
def _first_file(params: dict[str, Any], slug: str) -> dict[str, Any]:
    if slug == "entigraph":
        return params["quality"][0]
    section = params["data"] if "data" in params and "files" in params["data"] else params["release"]
    return next(iter(section["files"].values()))


KEY = {
    "obsscaling": r"params\.yaml: obsscaling data\.files\.\w+\.sha256",
    "pplcorr": r"params\.yaml: pplcorr data\.files\.\w+\.sha256",
    "ideagen": r"params\.yaml: ideagen data\.files\.\w+\.sha256",
    "graphunc": r"params\.yaml: graphunc release\.files\.\w+\.sha256",
    "autobencher": r"params\.yaml: autobencher release\.files\.\w+\.sha256",
    "entigraph": r"params\.yaml: entigraph quality\[0\] \(example\)\.sha256",
}


def test_every_params_pinned_paper_names_a_bad_sha256_key():
    # distalign pins from its released_files.tsv, not params: workflow/rules/common.smk's downloads checks those
    # (repro.common.fetch.check_pins, tests/unit/common/test_fetch.py).
    assert set(KEY) == set(FOLDERS) - {"distalign"}


@pytest.mark.parametrize(
    ("value", "what"), [("", "is empty"), ("abc123", "not 64 lowercase hex"), ("A" * 64, "not 64")]
)
@pytest.mark.parametrize("slug", sorted(KEY))
def test_an_empty_or_malformed_sha256_is_named(slug, value, what, paper_params):
    params = paper_params(slug, "tiny")
    _first_file(params, slug)["sha256"] = value
    with pytest.raises(DataError, match=KEY[slug] + ".*" + what):
        _pinned(slug, params)
