# repro: ten 2024 language-model papers as one workflow.
#   snakemake               every registered paper at the default (tiny) scale
#   snakemake obsscaling    one paper (or: snakemake ttt)
#   snakemake --workflow-profile profiles/paper    paper scale
# The registered papers are listed once, in workflow/papers.yaml; see README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpora.smk"
include: "workflow/rules/standins.smk"
# <slug>__fetch of every paper with released data (before the paper rule files, whose rules read the files).
include: "workflow/rules/downloads.smk"


# One rules file per registered paper; each defines a target rule named <slug>
# that asks for results/{scale}/<slug>/numbers.json and the paper's figures.
for _paper in PAPERS:

    include: f"workflow/rules/{_paper}.smk"


# <slug>__fig_<name> of every paper (after the paper rule files, which register their figures).
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


check_declared_steps()


rule all:
    default_target: True
    input:
        # Everything each paper's target rule asks for (numbers.json and figures).
        papers=[getattr(rules, paper).input for paper in PAPERS],
        scorecard=f"results/{SCALE}/scorecard.md",
        metrics=f"results/{SCALE}/metrics.json",
        gallery=rules.gallery.output.figures,
