"""Fetch a pinned file verified by its git blob id (``git hash-object``), not by sha256.

Some released files are known only by the blob id GitHub shows (e.g. large CSVs that are
not in the project mirror, so their sha256 cannot be computed offline). :func:`fetch_git_blob`
reads the URL like :func:`repro.common.fetch.fetch` does (``$REPRO_MIRROR`` first, else the
network), checks ``sha1(b"blob <size>\\0" + content)`` and writes the file atomically.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from repro.common.fetch import MIRROR_ENV, FetchError, mirror_key
from repro.common.io import atomic_open

__all__ = ["git_blob_sha1", "fetch_git_blob"]


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """The git blob id of a file (what ``git hash-object <file>`` prints)."""
    size = os.path.getsize(path)
    h = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_git_blob(url: str, blob_sha1: str, dest: str | os.PathLike[str], *, timeout: float = 300.0) -> Path:
    """Copy ``url`` (mirror or network) to ``dest`` if its git blob id is ``blob_sha1``; else raise."""
    dest = Path(dest)
    if dest.exists() and git_blob_sha1(dest) == blob_sha1.lower():
        return dest
    mirror = os.environ.get(MIRROR_ENV) or None
    # A file too large to mirror is fetched from the network even when a mirror is set: the mirror holds what it
    # holds, and the blob id checks whatever comes.
    src = Path(mirror) / mirror_key(url) if mirror else None
    with tempfile.NamedTemporaryFile(delete=False, dir=dest.parent if dest.parent.exists() else None) as tmp:
        tmp_path = Path(tmp.name)
        try:
            if src is not None and src.is_file():
                with open(src, "rb") as fh:
                    shutil.copyfileobj(fh, tmp)
            else:
                try:
                    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (pinned URL)
                        shutil.copyfileobj(resp, tmp)
                except (OSError, TimeoutError) as exc:
                    where = f"not in the mirror ({src})" if src is not None else f"no mirror ({MIRROR_ENV} unset)"
                    raise FetchError(f"cannot download {url}: {exc}; {where}") from exc
            tmp.flush()
            got = git_blob_sha1(tmp_path)
            if got != blob_sha1.lower():
                raise FetchError(f"git blob id mismatch for {url}: expected {blob_sha1}, got {got}; not written")
            with atomic_open(dest, "wb") as out, open(tmp_path, "rb") as fh:
                shutil.copyfileobj(fh, out)
        finally:
            tmp_path.unlink(missing_ok=True)
    return dest
