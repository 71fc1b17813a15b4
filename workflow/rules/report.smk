# Cross-paper outputs: the scorecard (published vs computed numbers).


rule scorecard:
    """results/{scale}/scorecard.md from every paper's numbers.json and workflow/expected/*.yaml."""
    input:
        numbers=expand("results/{{scale}}/{paper}/numbers.json", paper=PAPERS),
        expected=expand("workflow/expected/{paper}.yaml", paper=PAPERS),
        code=library_files("common.scorecard", "common.io"),
    output:
        scorecard="results/{scale}/scorecard.md",
    params:
        papers=PAPERS,
    log:
        "logs/{scale}/scorecard.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/report/scorecard.py"
