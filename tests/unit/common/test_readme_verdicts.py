"""The README's verdicts come from the scorecard (issue 27, item 6).

The verdict block (totals, a row per paper, each claim by verdict, the disclosures) is generated from the
committed ``results/tiny`` by ``python -m repro.common.scorecard readme``; the per-paper summaries in
"Papers" and "Results at a glance" state numbers, never verdicts, so nothing there can drift from it.
"""

import re
import shutil
import subprocess
from pathlib import Path

from repro.common.scorecard import README_BEGIN, README_END, committed_scorecard, verdict_summary

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")
VERDICT_WORDS = re.compile(r"\b(NOT REPRODUCED|REPRODUCED|INCONCLUSIVE|UNTESTABLE|NOT RUN|BY CONSTRUCTION)\b")


def test_the_verdict_block_equals_the_committed_scorecard():
    begin, end = README.index(README_BEGIN), README.index(README_END) + len(README_END)
    expected = verdict_summary(committed_scorecard("tiny", ROOT))
    assert README[begin:end] == expected, (
        "run `python -m repro.common.scorecard readme` after regenerating results/tiny"
    )


def test_the_committed_scorecard_needs_only_tracked_files(tmp_path):
    """A clean clone has results/tiny/metrics.json but no per-paper numbers.json (they are not in git): the
    block must come out the same from the tracked files alone (CI runs on a clean clone)."""
    tracked = subprocess.run(
        ["git", "ls-files", "workflow/expected", "workflow/papers.yaml", "results/tiny/metrics.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "results/tiny/metrics.json" in tracked and "workflow/papers.yaml" in tracked
    for rel in tracked:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    assert not list(tmp_path.glob("results/tiny/*/numbers.json"))
    clean = verdict_summary(committed_scorecard("tiny", tmp_path))
    assert clean == verdict_summary(committed_scorecard("tiny", ROOT))
    assert "0 REPRODUCED, 0 NOT REPRODUCED" not in clean


def _section(title: str) -> str:
    start = README.index(f"\n## {title}")
    nxt = README.find("\n## ", start + 1)
    return README[start : nxt if nxt > 0 else len(README)]


def test_per_paper_summaries_state_no_verdict_outside_the_block():
    for title in ("Papers", "Results at a glance"):
        text = _section(title)
        if README_BEGIN in text:
            text = text[: text.index(README_BEGIN)] + text[text.index(README_END) + len(README_END) :]
        found = [m.group(0) for m in VERDICT_WORDS.finditer(text)]
        assert not found, f"README section {title!r} states verdicts outside the generated block: {found}"
