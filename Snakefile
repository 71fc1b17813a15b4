# repro: ten 2024 language-model papers as one workflow.
#   snakemake               every registered paper at the default (tiny) scale
#   snakemake obsscaling    one paper (or: snakemake ttt)
#   snakemake --workflow-profile profiles/paper    paper scale
# See README.md and DESIGN notes in workflow/rules/common.smk.

from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"

# Papers registered in the workflow; each has workflow/rules/<slug>.smk, a
# `<slug>` target rule, and writes results/{scale}/<slug>/numbers.json.
PAPERS = ["obsscaling", "ttt"]


include: "workflow/rules/corpora.smk"
include: "workflow/rules/obsscaling.smk"
include: "workflow/rules/ttt.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        # Everything each paper's target rule asks for (numbers.json and figures).
        papers=[getattr(rules, paper).input for paper in PAPERS],
        scorecard=f"results/{SCALE}/scorecard.md",
