"""Pinned, checksummed downloads with an offline mirror (DESIGN.md, "Data").

Every file the workflow downloads is named by a canonical public URL pinned to a
commit and by its sha256. :func:`fetch` writes it under ``resources/`` using the
mirror layout (``resources/HOST/PATH``), verifies the checksum before the file
becomes visible, and never leaves a partial file behind.

If the environment variable ``REPRO_MIRROR`` is set, ``https://HOST/PATH`` is
read from ``$REPRO_MIRROR/HOST/PATH`` instead of the network. GitHub raw URLs
(``raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH``) use the GitHub web form
``github.com/OWNER/REPO/COMMIT/PATH`` as their mirror key.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from repro.common.io import DataError, atomic_open, sha256_file

MIRROR_ENV = "REPRO_MIRROR"
DEFAULT_RESOURCES = Path("resources")
_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A download could not be completed (no network, no mirror copy, bad checksum)."""


_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_BLOB = re.compile(r"[0-9a-f]{40}")


def check_git_blob(value: Any, where: str) -> str:
    """``value`` when it is a git blob id (40 lowercase hex digits, what ``git hash-object`` prints and GitHub
    lists in a commit's tree), else a :class:`DataError` naming ``where``. A pin by blob id is for a released
    file known offline only by its repository's tree (not mirrored, so its sha256 cannot be computed here);
    :func:`repro.common.gitblob.fetch_git_blob` verifies it."""
    if not isinstance(value, str) or not _GIT_BLOB.fullmatch(value):
        raise DataError(f"{where}: the git blob id is {value!r}, not 40 lowercase hex digits")
    return value


def check_sha256(value: Any, where: str) -> str:
    """``value`` when it is a sha256 (64 lowercase hex digits), else a :class:`DataError` naming ``where``.

    Every pin is checked when the workflow is parsed (``downloads`` in workflow/rules/common.smk), so an empty
    or mistyped checksum stops the run before any job starts, not hours later at download time.
    """
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        what = "is empty" if value in ("", None) else f"is {value!r}, not 64 lowercase hex digits"
        raise DataError(
            f"{where}: the sha256 {what}; pin the file's checksum (sha256sum of the released file) "
            "before the workflow can fetch it"
        )
    return value


def check_pins(specs: Mapping[str, Mapping[str, Any]], where: str) -> None:
    """Check every ``name -> {url, sha256 | git_blob, ...}`` pin: a sha256, or (for a file known only by its
    repository's tree) a git blob id instead; the error names ``where`` and the file."""
    for name, spec in specs.items():
        if "git_blob" in spec and not spec.get("sha256"):
            check_git_blob(spec["git_blob"], f"{where}: file {name!r}")
        else:
            check_sha256(spec.get("sha256"), f"{where}: file {name!r}")


@dataclass(frozen=True)
class Resource:
    """A pinned remote file: canonical URL and expected sha256 (hex)."""

    url: str
    sha256: str

    def __post_init__(self) -> None:
        check_sha256(self.sha256, f"Resource {self.url}")

    @property
    def key(self) -> str:
        """The mirror key (``HOST/PATH``) of this URL."""
        return mirror_key(self.url)


def mirror_key(url: str) -> str:
    """Map a URL to its mirror-relative path ``HOST/PATH``.

    ``raw.githubusercontent.com/O/R/C/P`` and ``github.com/O/R/raw/C/P`` both map to
    ``github.com/O/R/C/P`` so that one mirror copy serves either spelling.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FetchError(f"not an http(s) URL: {url!r}")
    # A released path may contain spaces: "a b" and "a%20b" name the same mirror/local file.
    host, path = parsed.netloc, unquote(parsed.path).lstrip("/")
    if host == "raw.githubusercontent.com":
        host = "github.com"
    elif host == "github.com":
        parts = path.split("/")
        if len(parts) > 4 and parts[2] in ("raw", "blob"):
            path = "/".join(parts[:2] + parts[3:])
    if not path or ".." in path.split("/"):
        raise FetchError(f"URL has no usable path: {url!r}")
    return f"{host}/{path}"


def _quoted(url: str) -> str:
    """``url`` with characters that HTTP forbids in a request line (spaces) percent-encoded; '%' kept."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def local_path(url: str, resources: str | os.PathLike[str] = DEFAULT_RESOURCES) -> Path:
    """Where :func:`fetch` stores ``url``: ``resources/HOST/PATH``."""
    return Path(resources) / mirror_key(url)


def _copy_stream(src, dst, h) -> None:
    while chunk := src.read(_CHUNK):
        h.update(chunk)
        dst.write(chunk)


def fetch(
    url: str,
    sha256: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    mirror: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` (default ``resources/HOST/PATH``) and verify its sha256.

    The mirror (``mirror`` argument, else ``$REPRO_MIRROR``) is used when set; the
    network is used otherwise. An existing ``dest`` with the right checksum is kept
    as is. Raises :class:`FetchError` naming the URL (and the mirror variable) when
    neither source has the file, and naming the file when the checksum differs; in
    every failure case ``dest`` is not created.
    """
    dest_path = Path(dest) if dest is not None else local_path(url)
    sha256 = sha256.lower()
    if dest_path.exists() and sha256_file(dest_path) == sha256:
        return dest_path
    # A missing, stale or corrupted copy is (re)fetched; atomic_open keeps the old
    # file (or no file) in place until the new one has been verified.
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    h = hashlib.sha256()
    with atomic_open(dest_path, "wb") as out:
        if mirror:
            src_path = Path(mirror) / mirror_key(url)
            if not src_path.is_file():
                raise FetchError(
                    f"{url} is not in the mirror: expected {src_path} "
                    f"({MIRROR_ENV}={mirror}). Add the file to the mirror or unset "
                    f"{MIRROR_ENV} to download it."
                )
            with open(src_path, "rb") as src:
                _copy_stream(src, out, h)
        else:
            try:
                with urllib.request.urlopen(_quoted(url), timeout=timeout) as resp:  # noqa: S310 (pinned URL)
                    _copy_stream(resp, out, h)
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                raise FetchError(
                    f"cannot download {url}: {exc}. Without network access set "
                    f"{MIRROR_ENV} to a mirror folder holding {mirror_key(url)}."
                ) from exc
        got = h.hexdigest()
        if got != sha256:
            raise FetchError(
                f"sha256 mismatch for {url} -> {dest_path}: expected {sha256}, got {got}. "
                "The file was not written; the pinned checksum or the source is wrong."
            )
    return dest_path


def fetch_resource(res: Resource, dest: str | os.PathLike[str] | None = None, **kwargs) -> Path:
    """:func:`fetch` for a :class:`Resource`."""
    return fetch(res.url, res.sha256, dest, **kwargs)


# --- pin tables: the two shapes params.yaml gives a paper's released files in -----------------------------------


def pins_from_template(data: Mapping[str, Any], folder: str, where: str) -> dict[str, dict[str, str]]:
    """name -> {url, sha256, path} from a ``data`` section ``{url: ".../{commit}/.../{file}", commit,
    files: {name: {file, sha256}}}`` (obsscaling, pplcorr, ideagen).

    ``folder`` (the paper's download folder in the registry) stands for the repository: each file lands at
    ``<folder>/<commit>/<path in the repository>``, the mirror layout (:func:`local_path`). ``where`` names the
    section in errors (e.g. ``"obsscaling data"``).
    """
    out = {}
    for name, spec in data["files"].items():
        try:
            url = data["url"].format(commit=data["commit"], file=spec["file"])
        except (KeyError, IndexError) as exc:
            raise DataError(
                f"params.yaml: {where}.url {data['url']!r} has an unknown field {exc}; it may use {{commit}} and {{file}}"
            ) from None
        # The path from the commit on: the URL's host and repository are what `folder` stands for.
        _, sep, in_repo = url.partition(f"/{data['commit']}/")
        if not sep:
            raise DataError(f"params.yaml: {where}.url {data['url']!r} has no /{{commit}}/ path segment")
        sha256 = check_sha256(spec["sha256"], f"params.yaml: {where}.files.{name}.sha256")
        out[name] = {"url": url, "sha256": sha256, "path": f"{folder}/{data['commit']}/{in_repo}"}
    return out


def pins_from_base(release: Mapping[str, Any], folder: str, where: str) -> dict[str, dict[str, str]]:
    """name -> {url, sha256, path} from a ``release`` section ``{base_url: <repository at the pinned commit>,
    files: {name: {path, sha256}}}`` (autobencher, graphunc): each file lands at ``<folder>/<path>``."""
    out = {}
    for name, spec in release["files"].items():
        missing = [key for key in ("path", "sha256") if key not in spec]
        if missing:
            raise DataError(f"params.yaml: {where}.files.{name} has no {missing}")
        out[name] = {
            "url": f"{release['base_url']}/{spec['path']}",
            "sha256": check_sha256(spec["sha256"], f"params.yaml: {where}.files.{name}.sha256"),
            "path": f"{folder}/{spec['path']}",
        }
    return out
