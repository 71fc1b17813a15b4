"""The released safety results that AutoBencher's v2 safety table (Sec. 5) is recomputed from (safety fork, pinned).

The fork (farzaank/AutoBencher) holds, per test-taker model, the judged answers of the hard and the simple
safety sets (``safety_data/<Hard|Simple>SafeAutoBench Dataset/<model>/PRUNED.compare_answers.json``);
:mod:`repro.autobencher.safety` reads them. params.yaml ``autobencher.release`` pins the commit (in
``base_url``) and each file's sha256; they are read for metrics only, never as a corpus.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repro.common.fetch import pins_from_base
from repro.common.io import DataError

__all__ = ["DataError", "pinned_files"]


def pinned_files(params: Mapping[str, Any], folder: str) -> dict[str, dict[str, str]]:
    """Rule input name ``<hard|simple>_<model>`` -> {url, sha256, path} of the released judged answers.

    ``params``: the resolved autobencher block of params.yaml; its ``release`` section holds ``base_url`` (the
    repository at the pinned commit) and ``files: {name: {path, sha256}}``. ``folder``: the download folder of
    the paper's registry group (workflow/papers.yaml), standing for the repository; each file lands at
    ``<folder>/<path in the repository>`` (paths contain spaces, kept as released).
    """
    return pins_from_base(params["release"], folder, "autobencher release")
