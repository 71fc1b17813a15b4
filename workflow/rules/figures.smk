# The figure rules of every paper, generated from what each paper's rules file registers with `figure_rule`
# (common.smk): one rule <slug>__fig_<name> per figure, drawn by repro.<slug>.figures.FIGURES[name] through the
# shared adapter, with the paper's figure code as its code inputs and its presentation values (titles, axis
# labels; never experiment values) in a params file. The shape of a figure rule is typed once, here.


for _slug, _figures in FIGURE_RULES.items():
    for _fig, _spec in _figures.items():

        rule:
            """One figure of a paper: repro.<slug>.figures.FIGURES[name](inputs, labels), saved as PNG and PDF."""
            name:
                f"{_slug}__fig_{_fig}"
            input:
                **_spec["inputs"],
                **_spec["labels"],
                code=figure_code(_slug),
            output:
                png=report(
                    f"results/{{scale}}/{_slug}/figures/{_fig}.png",
                    caption=f"../report/{_slug}_{_fig}.rst",
                    category=_slug,
                ),
                pdf=f"results/{{scale}}/{_slug}/figures/{_fig}.pdf",
            log:
                f"logs/{{scale}}/{_slug}/fig_{_fig}.log",
            conda:
                REPRO_ENV
            script:
                "../scripts/common/figure.py"
