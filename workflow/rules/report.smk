# Cross-paper outputs: the scorecard (every computed number next to its reference, every claim with its
# verdict; repro.common.scorecard) and metrics.json (every paper's numbers, for `dvc metrics`).
#
# The HTML report: `snakemake --report report.html` (after a run, same --config scale=...) writes one
# self-contained file with this page as its front text, every paper's figures (category = the paper; each
# captioned by workflow/report/<slug>_<fig>.rst, which names the paper figure or table it reproduces) and the
# scorecard (category "scorecard", results/{scale}/scorecard.html rendered from scorecard.md).


report: "../report/workflow.rst"


rule scorecard:
    """results/{scale}/scorecard.md and metrics.json from every paper's numbers.json and workflow/expected/*.yaml."""
    input:
        numbers=expand("results/{{scale}}/{paper}/numbers.json", paper=PAPERS),
        expected=expand("workflow/expected/{paper}.yaml", paper=PAPERS),
        registry="workflow/papers.yaml",  # the papers' titles
        code=code_inputs("common/scorecard"),
    output:
        scorecard="results/{scale}/scorecard.md",
        metrics="results/{scale}/metrics.json",
        html=report("results/{scale}/scorecard.html", caption="../report/scorecard.rst", category="scorecard"),
    log:
        "logs/{scale}/scorecard.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/scorecard.py"


# Every paper's figures of the default scale in one folder (committed for browsing, like the scorecard):
# results/{scale}/figures/<paper>/<name>.png, copied from each paper's own figures folder.
GALLERY = {
    f"results/{SCALE}/figures/{Path(png).parent.parent.name}/{Path(png).name}": png
    for paper in PAPERS
    for png in getattr(rules, paper).input.figures
}


rule gallery:
    """results/{scale}/figures/<paper>/*.png: a copy of every paper's figures next to the scorecard."""
    input:
        figures=list(GALLERY.values()),
    output:
        figures=list(GALLERY),
    log:
        f"logs/{SCALE}/gallery.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/gallery.py"
