"""Adapter: results/{scale}/scorecard.md and metrics.json (repro.common.scorecard).

The scorecard lists failures (unexplained MISMATCH, missing enforced numbers) in its log; the workflow
tests fail on them (repro.common.scorecard.check_scorecard), the rule itself never hides a result.
"""

import sys
from pathlib import Path

from repro.common.io import atomic_write_text, read_json, write_json
from repro.common.machine import machine_record, speed_probe
from repro.common.registry import load_registry
from repro.common.report import markdown_page
from repro.common.scorecard import evaluate_scorecard

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

# results/{scale}/<paper>/numbers.json, one per registered paper
numbers = {Path(path).parent.name: path for path in snakemake.input.numbers}  # noqa: F821
# The titles come from the registry (input `registry`, workflow/papers.yaml), the only place they are typed.
registry = load_registry(snakemake.input.registry)  # noqa: F821
card = evaluate_scorecard(snakemake.wildcards.scale, numbers, snakemake.input.expected, titles=registry.titles)  # noqa: F821
print(f"totals: {card.totals}", file=sys.stderr)
for failure in card.failures:
    print(f"FAILURE {failure}", file=sys.stderr)
atomic_write_text(snakemake.output.scorecard, card.markdown)  # noqa: F821
# The same scorecard as an HTML page for `snakemake --report` (shown inline there).
atomic_write_text(snakemake.output.html, markdown_page(card.markdown, f"Scorecard ({snakemake.wildcards.scale} scale)"))  # noqa: F821
metrics = {slug: read_json(path) for slug, path in numbers.items()}
metrics["claims"] = card.claims
# The machine these results came from (for a run on one machine; a cluster run records the node that
# assembled them): CPU model and SIMD flags, threads, library versions, BLAS kernels, and a speed probe
# measured now, so a reader knows which bits to expect and how to read the timings (README, "Determinism").
metrics["machine"] = {**machine_record(), "probe": speed_probe()}
write_json(snakemake.output.metrics, metrics)  # noqa: F821
