from repro.common.dvcsync import snakemake_targets


def test_stage_names_map_to_snakemake_targets():
    stages = ["fetch@obsscaling", "run@tiny-obsscaling", "run@paper-ttt", "scorecard@tiny"]
    assert snakemake_targets(stages) == [
        ("tiny", "obsscaling"),
        ("paper", "ttt"),
        ("tiny", "results/tiny/scorecard.md"),
    ]
