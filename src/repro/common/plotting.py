"""One matplotlib style for every figure, and atomic PNG+PDF saving.

Compute rules never plot (DESIGN.md); figure rules read a small CSV/JSON and call
these helpers, so every paper's figures share fonts, sizes and colours.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402

from repro.common.io import atomic_open  # noqa: E402

STYLE: dict[str, object] = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "pdf.fonttype": 42,  # editable text in PDFs
    "svg.hashsalt": "repro",
}


def apply_style() -> None:
    """Apply the house style to matplotlib's global rcParams."""
    plt.rcParams.update(STYLE)


def savefig(fig: "plt.Figure", path: str | os.PathLike[str], *, pdf: bool = True) -> Path:
    """Save ``fig`` to ``path`` (PNG) and, if ``pdf``, next to it as PDF; both atomically.

    PDF metadata dates are fixed so that reruns give byte-identical files.
    """
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".") or "png", metadata={"Software": None})
    if pdf and path.suffix.lower() != ".pdf":
        with atomic_open(path.with_suffix(".pdf"), "wb") as fh:
            fig.savefig(fh, format="pdf", metadata={"CreationDate": None, "ModDate": None, "Creator": None})
    plt.close(fig)
    return path
