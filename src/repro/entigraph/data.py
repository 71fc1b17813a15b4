"""The QuALITY files EntiGraph's paper-scale source corpus is read from (Sec. 2.2 / 4; nyu-mll/quality).

params.yaml ``entigraph.quality`` lists them, each with its pinned URL, its path in the repository (from the
commit on) and its content hash: QuALITY v1.0.1 train + dev at paper scale (not mirrored: pinned by the git
blob ids of the pinned commit's tree), the mirrored example file at tiny scale (sha256). Every pin is checked at
parse time (:func:`repro.common.fetch.check_sha256` / ``check_git_blob``): an empty one is an error naming its
params key. :func:`repro.entigraph.world.load_quality` reads the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repro.common.fetch import check_git_blob, check_sha256
from repro.common.io import DataError

__all__ = ["DataError", "pinned_files"]


def pinned_files(params: Mapping[str, Any], folder: str) -> dict[str, dict[str, str]]:
    """name -> {url, sha256, path} of the QuALITY files of ``params["quality"]``, in list order.

    ``params``: the resolved entigraph block of params.yaml; ``quality`` is a list of ``{name, url, path,
    sha256}``. The order is kept: the world step reads the files in it (train before dev), and
    ``world.quality_max_articles`` keeps the first articles. ``folder``: the download folder of the paper's
    registry group (workflow/papers.yaml), standing for the repository; each file lands at ``<folder>/<path>``.
    """
    out: dict[str, dict[str, str]] = {}
    for i, spec in enumerate(params["quality"]):
        digest = "git_blob" if "git_blob" in spec else "sha256"  # a pin by blob id: see check_git_blob
        missing = [key for key in ("name", "url", "path", digest) if key not in spec]
        if missing:
            raise DataError(f"params.yaml: entigraph quality[{i}] has no {missing}")
        if spec["name"] in out:
            raise DataError(f"params.yaml: entigraph quality[{i}]: name {spec['name']!r} is used twice")
        where = f"params.yaml: entigraph quality[{i}] ({spec['name']}).{digest}"
        value = check_git_blob(spec[digest], where) if digest == "git_blob" else check_sha256(spec[digest], where)
        out[spec["name"]] = {"url": spec["url"], digest: value, "path": f"{folder}/{spec['path']}"}
    return out
