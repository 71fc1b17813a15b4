"""Atomic file and directory writes and small JSON/YAML helpers.

Every output of the workflow is written through these functions: the content goes
to a temporary file in the destination folder and is renamed into place, so a
killed job never leaves a truncated file that looks complete (DESIGN.md, "Writes
are atomic").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; rename it over ``path`` only on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the result the permissions a plain open() would (shared results folders)
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory under a temporary name; swap it into ``path`` on success.

    A killed job leaves either the old directory or the new one, never a half-written
    one (e.g. a model directory) that a later rule would take for complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp creates 0700
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into plain JSON values.

    NaN and +-inf become ``None`` so that the file stays strict JSON (readable by
    DVC metrics and any JSON parser).
    """
    if isinstance(obj, Mapping):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(_to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as canonical JSON, atomically."""
    atomic_write_text(path, dumps_json(obj))


def write_json_if_changed(path: str | os.PathLike[str], obj: Any) -> bool:
    """Write canonical JSON only when the content differs from what is on disk.

    Returns True when the file was (re)written. Leaving an unchanged file alone
    keeps its mtime, which is how Snakemake decides that downstream rules are
    still current (DESIGN.md: per-step resolved-params files).
    """
    text = dumps_json(obj)
    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(paths: list[str | os.PathLike[str]] | tuple[str | os.PathLike[str], ...], extra: Any = None) -> str:
    """sha256 over the contents of ``paths`` (in order, with their names) and a JSON-able ``extra``.

    Used to tell whether a saved intermediate state (e.g. a resumable training
    checkpoint) was produced from exactly the same inputs. A folder (e.g. token shards) counts as its files, by
    relative name, in sorted order.
    """
    h = hashlib.sha256()
    for p in paths:
        files = sorted(f for f in Path(p).rglob("*") if f.is_file()) if Path(p).is_dir() else [Path(p)]
        for f in files:
            h.update(str(f).encode() + b"\0" + sha256_file(f).encode() + b"\0")
    h.update(dumps_json(extra).encode())
    return h.hexdigest()


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file (safe loader) with libyaml's C parser when PyYAML was built with it.

    Every parse of the workflow reads the registry and eleven schemas: the C parser makes that about ten
    times cheaper than the pure-Python one (0.55 s of a 2.6 s no-change run), which keeps a no-change
    ``snakemake`` under its 3 s target as papers are added. Both loaders accept the same documents.
    """
    import yaml  # lazy: few callers need it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; malformed JSON raises :class:`json.JSONDecodeError` naming the file."""
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as err:
            raise json.JSONDecodeError(f"{path}: not valid JSON: {err.msg}", err.doc, err.pos) from None


class DataError(ValueError):
    """A data file (released by the authors, mirrored or built by a step) is missing, malformed or lacks
    a field an analysis needs; the message names the file and the field.

    One class for every paper: each paper's ``data`` module re-exports it, so callers catch
    ``repro.<slug>.data.DataError`` or this one alike.
    """


def read_csv(path: str | os.PathLike[str]) -> Any:
    """``pandas.read_csv(path)``; an unreadable, empty or ragged file raises :class:`DataError` naming the file."""
    import pandas as pd  # lazy: this module is imported at parse time

    try:
        return pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read CSV: {exc}") from exc


def flatten(d: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Flatten nested mappings into ``{"a.b.c": value}`` (the numbers.json key style)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{sep}{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten(v, key, sep))
        else:
            out[key] = v
    return out
