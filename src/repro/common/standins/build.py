"""Build the rehearsal's stand-ins from the local text corpora (issue 28; rule ``standins__build``).

Every stand-in is a folder ``results/paper_toy/standins/<kind>/<name>`` that the paper-scale loading code reads
where it would read a hub id or call an API: ``tokenizers`` and ``models`` (Hugging Face format, :mod:`.hf`),
``datasets`` (the hub dataset's schema, :mod:`.datasets`), ``servers`` (``data.json`` of a stand-in API server,
served by :mod:`.serve`; a ``files`` server's files, :mod:`.files`). The text is real English from the mirrored corpora (:mod:`repro.common.lm.corpora`), so
tokenizers and retrieval behave like they do on real text; nothing here is meant to be a good model.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from repro.common.io import write_json

KINDS = ("tokenizers", "models", "datasets", "servers")
# The environment variable holding the key the rehearsal's LLM servers ask for (set by the workflow at paper_toy;
# distalign's <slug>.paper_toy model blocks name it as their api_key_env).
STANDIN_KEY_ENV = "REPRO_STANDIN_API_KEY"
DATA_FILE = "data.json"  # a server stand-in's data, inside its folder


class StandinSpecError(ValueError):
    """A stand-in spec in params.yaml ``standins`` is incomplete or names an unknown kind."""


def documents(corpora: Sequence[str], resources: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """(corpus, title, text) of every document of the corpora, in a fixed order; the title is the document's name
    (a WikiText article title, a Gutenberg chapter id)."""
    from repro.common.lm.corpora import load_mix

    return [(d.corpus, d.doc_id.split("/", 1)[-1], d.text) for d in load_mix(list(corpora), resources)]


def _require(spec: Mapping[str, Any], keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if k not in spec]
    if missing:
        raise StandinSpecError(f"params.yaml: {where} has no {missing}")


def build(
    kind: str,
    name: str,
    spec: Mapping[str, Any],
    docs: Sequence[tuple[str, str, str]],
    out: Path,
    *,
    dependency: Path | None = None,
    sources: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """Build stand-in ``<kind>/<name>`` at ``out`` (written whole or not at all) and return what it holds.
    ``dependency``: the stand-in it is built on (a model's tokenizer folder, an LLM server's model folder);
    ``sources``: the released files a ``files`` server's stand-ins are made from (``<paper>.<file>`` -> path)."""
    where = f"standins.{kind}.{name}"
    texts = [text for _, _, text in docs]
    if kind == "tokenizers":
        from repro.common.standins import hf

        _require(spec, ("family", "vocab_size"), where)
        hf.build_tokenizer(texts, str(spec["family"]), int(spec["vocab_size"]), out)
        return {"family": spec["family"], "vocab_size": int(spec["vocab_size"])}
    if kind == "models":
        from repro.common.standins import hf

        _require(spec, ("family", "tokenizer"), where)
        if dependency is None:
            raise StandinSpecError(f"{where}: needs its tokenizer folder (standins.tokenizers.{spec['tokenizer']})")
        sizes = {k: int(v) for k, v in (spec.get("sizes") or {}).items()}
        return hf.build_checkpoint(str(spec["family"]), out, tokenizer_dir=dependency, **sizes)
    if kind == "datasets":
        from repro.common.standins import datasets

        _require(spec, ("schema",), where)
        if spec["schema"] == "pile":
            _require(spec, ("sets",), where)
            sets = dict(spec["sets"])  # corpus -> pile_set_name
            unknown = sorted({c for c, _, _ in docs} - set(sets))
            if unknown:
                raise StandinSpecError(f"params.yaml: {where}.sets names no pile_set_name for corpora {unknown}")
            return datasets.build_pile([(sets[c], text) for c, _, text in docs], out)
        raise StandinSpecError(f"params.yaml: {where}.schema {spec['schema']!r} is not one of ['pile']")
    if kind == "servers":
        _require(spec, ("api",), where)
        if spec["api"] == "files":
            from repro.common.standins import files

            _require(spec, ("files",), where)
            try:
                return files.build_files(spec["files"], sources or {}, out)
            except ValueError as err:
                raise StandinSpecError(f"params.yaml: {where}.{err}") from None
        if spec["api"] == "semantic_scholar":
            from repro.common.standins import s2

            data: dict[str, Any] = {"papers": s2.papers_from_documents([(title, text) for _, title, text in docs])}
        elif spec["api"] == "wikipedia":
            from repro.common.standins import wiki

            pages = wiki.pages_from_documents([(title, text) for _, title, text in docs])  # MediaWiki-normal titles
            data = {"pages": [list(page) for page in pages], "views_seed": int(spec.get("seed", 0))}
        elif spec["api"] == "openai":
            _require(spec, ("model",), where)
            if dependency is None:
                raise StandinSpecError(f"{where}: needs its model folder (standins.models.{spec['model']})")
            data = {"model": str(dependency)}
        else:
            raise StandinSpecError(
                f"params.yaml: {where}.api {spec['api']!r} is not semantic_scholar | wikipedia | openai | files"
            )
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write_json(tmp / DATA_FILE, data)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        records = data.get("papers", data.get("pages", [data.get("model")]))
        return {"api": spec["api"], "records": len(records)}
    raise StandinSpecError(f"params.yaml: standins kind {kind!r} is not one of {list(KINDS)}")


def s2_app(folder: str) -> Any:
    """The Semantic Scholar stand-in app over a ``servers`` folder (``standins.servers.<name>.app``)."""
    from repro.common.standins import s2

    return s2.app_from_file(str(Path(folder) / DATA_FILE))


def wiki_app(folder: str) -> Any:
    """The MediaWiki + pageviews stand-in app over a ``servers`` folder."""
    from repro.common.standins import wiki

    return wiki.app_from_file(str(Path(folder) / DATA_FILE))


def files_app(folder: str) -> Any:
    """The static-file stand-in app (raw.githubusercontent.com's GET of a path) over a ``files`` server folder."""
    from repro.common.standins import files

    return files.make_app(folder)


def file_sources(spec: Mapping[str, Any]) -> list[str]:
    """The released files a ``files`` server is made from (its files' ``source`` and ``names``: ``<paper>.<file>``
    keys, sorted): the order in which rule standins__build passes their paths."""
    files = (spec.get("files") or {}).values()
    return sorted({str(key) for f in files for key in [*([f["source"]] if "source" in f else []), *f.get("names", [])]})


def llm_app(
    folder: str, *, served_name: str, model_kind: str, api_key_env: str = STANDIN_KEY_ENV, device: str = "cpu"
) -> Any:
    """A strict OpenAI-compatible server (:mod:`repro.common.llm.serve`, the mode that refuses what the real API
    refuses) hosting the toy model its ``servers`` folder names, under the API's model id ``served_name``. It asks
    for the key in ``$api_key_env`` (the workflow sets it at paper_toy), as the real API asks for one."""
    from repro.common.llm.serve import load_local_llm, make_app

    model = json.loads((Path(folder) / DATA_FILE).read_text())["model"]
    llm = load_local_llm(model, device=device)
    return make_app(llm, api_key=os.environ[api_key_env], served_name=served_name, strict=True, model_kind=model_kind)


def main(params_file: str, corpora_dir: str, out: str, dependency: Sequence[str] = ()) -> dict[str, Any]:
    """The rule's entry point: the params file holds ``{"kind", "name", "spec", "corpora"}``; ``dependency`` is the
    rule's input of that name (one stand-in folder, or a ``files`` server's sources in :func:`file_sources` order)."""
    record = json.loads(Path(params_file).read_text())
    api = record["spec"].get("api") if record["kind"] == "servers" else None
    docs = documents(record["corpora"], corpora_dir) if api not in ("openai", "files") else []
    sources = dict(zip(file_sources(record["spec"]), map(Path, dependency))) if api == "files" else None
    return build(
        record["kind"],
        record["name"],
        record["spec"],
        docs,
        Path(out),
        dependency=Path(dependency[0]) if dependency and api != "files" else None,
        sources=sources,
    )
