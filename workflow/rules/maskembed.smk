# Locality Alignment Improves Vision-Language Models (Covert, Sun, Zou, Hashimoto; ICLR 2025, arXiv 2410.11087).
#
# DAG: data (seeded synthetic scenes) -> pretrain[seed] (image-level-supervised tiny ViT, the CLIP stand-in) ->
#      align[arm, seed] (arm maskembed: MaskEmbed with uniform antithetical + null masks; arm control: the same
#      training with the all-ones mask only) -> probe (patch segmentation probes on every backbone and seed) ;
#      spatial_qa (VLM stand-in on templated spatial questions, every backbone and seed) ; vlm (paper scale only:
#      the Prismatic VLM stage) -> numbers (results/{scale}/maskembed/numbers.json) ; fig_* rules.
# End-to-end tier only (nothing was released). The paper-scale config names the timm backbones, ImageNet-21k,
# COCO-Stuff / ADE20k and the VLM stage; it dry-runs, its compute needs timm + torchvision, data and GPUs.
#
# numbers.json keys (flat, dotted; arm in before (backbone minus its last block = the teacher), after (MaskEmbed),
# control (null-mask-only training); head in linear, transformer; every model number also has `<key>_std` over
# the seeds and `<key>.per_seed` (the list of per-seed values, in the seed order of probe.seeds / spatial_qa.seeds;
# the arms of seed s all start from the backbone pretrained with seed s, so arm differences pair per seed)):
#   data.{n_train,n_test,n_classes,n_patches,patch_positive_rate,objects_per_image,classes_per_image}
#   probe.<head>.<arm>.{macro_f1,macro_precision,macro_recall,accuracy}[_std]   test patches, threshold 0.5
#   probe.floor.<all_positive|prior_random>.{macro_f1,macro_precision,macro_recall}, probe.floor.best.macro_f1
#       (no-image sanity floors: every patch positive; random with the train class frequency)
#   probe.image_level.backbone.macro_f1[_std]   the backbone's own image-level head (its pretraining task)
#   probe.image_level.floor.all_positive.macro_f1, probe.n_seeds, probe.seeds, spatial_qa.seeds
#   spatial_qa.<arm>.accuracy[_std], spatial_qa.<arm>.<template>.accuracy[_std]
#       (template in what_left, is_left, is_above, where, count)
#   spatial_qa.floor.count_based.accuracy, spatial_qa.floor.count_based.<template>.accuracy   (most frequent
#       training answer of the same question), spatial_qa.{n_train_questions,n_test_questions,n_answers}
#   vlm.*   paper scale only (maskembed__vlm; not implemented offline)

ME = paper_params("maskembed")
ME_OUT = "results/{scale}/maskembed"
ME_LOG = "logs/{scale}/maskembed"
ME_BENCH = "benchmarks/{scale}/maskembed"
ME_PRETRAINED = f"{ME_OUT}/pretrain/s{{meseed}}/backbone.pt"  # one backbone per seed
ME_ALIGNED = f"{ME_OUT}/align/{{mearm}}/s{{meseed}}/model.pt"  # MaskEmbed or control, per seed
ME_SEEDS = ME["seeds"]
ME_ARMS = ["maskembed", "control"]
ME_FIGURES = ["scores", "examples"]
ME_RUN_KEYS = {"backbone": ME["backbone"], "runtime": ME["runtime"]}

# One resolved-params file per training run, written at parse time and only when it changes (common.smk
# params_file), so a parameter edit retrains exactly the runs it affects.
ME_PRETRAIN_PARAMS = [
    params_file("maskembed", f"pretrain-s{s}", {"seed": s, "pretrain": ME["pretrain"], **ME_RUN_KEYS}) for s in ME_SEEDS
]
ME_ALIGN_PARAMS = [
    params_file("maskembed", f"align-{a}-s{s}", {"seed": s, "arm": a, "align": ME["align"], **ME_RUN_KEYS})
    for s in ME_SEEDS
    for a in ME_ARMS
]


wildcard_constraints:
    meseed="[0-9]+",
    mearm="|".join(ME_ARMS),


rule maskembed__data:
    """Notes Sec. 6: seeded synthetic scenes with per-patch union labels and image-level captions."""
    input:
        **step_inputs("maskembed", "data"),
    output:
        numbers=f"{ME_OUT}/data/numbers.json",
        train=f"{ME_OUT}/data/train.npz",
        test=f"{ME_OUT}/data/test.npz",
    log:
        f"{ME_LOG}/data.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule maskembed__pretrain:
    """Sec. 3: the image-level-supervised backbone (multi-label BCE on CLS; the CLIP / SigLIP stand-in)."""
    input:
        train=rules.maskembed__data.output.train,
        params=f"{ME_OUT}/params/pretrain-s{{meseed}}.json",  # ME_PRETRAIN_PARAMS, written at parse time
        code=step_code("maskembed"),
    output:
        weights=ME_PRETRAINED,
        history=f"{ME_OUT}/pretrain/s{{meseed}}/history.json",
    log:
        f"{ME_LOG}/pretrain/s{{meseed}}.log",
    benchmark:
        f"{ME_BENCH}/pretrain/s{{meseed}}.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=runtime(24 * 60),
        gpu=gpus(),
    script:
        "../scripts/common/step.py"


rule maskembed__align:
    """Sec. 3, Alg. 1: MaskEmbed (arm maskembed) or the null-mask control (arm control) from the frozen teacher."""
    input:
        train=rules.maskembed__data.output.train,
        test=rules.maskembed__data.output.test,
        backbone=rules.maskembed__pretrain.output.weights,
        params=f"{ME_OUT}/params/align-{{mearm}}-s{{meseed}}.json",  # ME_ALIGN_PARAMS, written at parse time
        code=step_code("maskembed"),
    output:
        weights=ME_ALIGNED,
        history=f"{ME_OUT}/align/{{mearm}}/s{{meseed}}/history.json",
    log:
        f"{ME_LOG}/align/{{mearm}}/s{{meseed}}.log",
    benchmark:
        f"{ME_BENCH}/align/{{mearm}}/s{{meseed}}.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=runtime(48 * 60),
        gpu=gpus(4),
    script:
        "../scripts/common/step.py"


# Plain patterns, not rules.<rule>.output: under a storage plugin (the Kubernetes profile's S3 default
# storage) rule outputs carry storage flags, which expand() refuses.
ME_BACKBONES = {
    "backbones": expand(ME_PRETRAINED, meseed=ME_SEEDS, allow_missing=True),
    "aligned": expand(ME_ALIGNED, meseed=ME_SEEDS, mearm="maskembed", allow_missing=True),
    "control": expand(ME_ALIGNED, meseed=ME_SEEDS, mearm="control", allow_missing=True),
}


rule maskembed__probe:
    """Sec. 4.1, Fig. 3: patch-level segmentation probes (linear, transformer) before / after / control."""
    input:
        **ME_BACKBONES,
        **step_inputs("maskembed", "probe"),
        train=rules.maskembed__data.output.train,
        test=rules.maskembed__data.output.test,
    output:
        numbers=f"{ME_OUT}/probe/numbers.json",
        scores=f"{ME_OUT}/probe/scores.csv",
        examples=f"{ME_OUT}/probe/examples.csv",
    log:
        f"{ME_LOG}/probe.log",
    benchmark:
        f"{ME_BENCH}/probe.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=runtime(4 * 60),
        gpu=gpus(),
    script:
        "../scripts/common/step.py"


rule maskembed__spatial_qa:
    """Sec. 5 (stand-in): a VLM on each frozen backbone answering templated spatial questions."""
    input:
        **ME_BACKBONES,
        **step_inputs("maskembed", "spatial_qa"),
        train=rules.maskembed__data.output.train,
        test=rules.maskembed__data.output.test,
    output:
        numbers=f"{ME_OUT}/spatial_qa/numbers.json",
        scores=f"{ME_OUT}/spatial_qa/scores.csv",
    log:
        f"{ME_LOG}/spatial_qa.log",
    benchmark:
        f"{ME_BENCH}/spatial_qa.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=runtime(4 * 60),
        gpu=gpus(),
    script:
        "../scripts/common/step.py"


rule maskembed__vlm:
    """Sec. 5, Tables 1-2 (paper scale only): Prismatic VLMs on baseline and aligned backbones."""
    input:
        **ME_BACKBONES,
        **step_inputs("maskembed", "vlm"),
    output:
        numbers=f"{ME_OUT}/vlm/numbers.json",
    log:
        f"{ME_LOG}/vlm.log",
    benchmark:
        f"{ME_BENCH}/vlm.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=runtime(48 * 60),
        gpu=gpus(8),
    script:
        "../scripts/common/step.py"


rule maskembed__numbers:
    """Merge every step's numbers into results/{scale}/maskembed/numbers.json (keys: see the header)."""
    input:
        parts=numbers_parts("maskembed"),
        code=code_inputs("common/numbers"),
    output:
        numbers=f"{ME_OUT}/numbers.json",
    log:
        f"{ME_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


ME_FIG_INPUTS = {
    "scores": {
        "probe": rules.maskembed__probe.output.scores,
        "probe_numbers": rules.maskembed__probe.output.numbers,
        "spatial_qa": rules.maskembed__spatial_qa.output.scores,
    },
    "examples": {"examples": rules.maskembed__probe.output.examples, "test": rules.maskembed__data.output.test},
}

for _fig in ME_FIGURES:
    figure_rule("maskembed", _fig, ME_FIG_INPUTS[_fig], labels=ME["figures"])


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule maskembed:
    """Every maskembed number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/maskembed/numbers.json",
        figures=figure_files_here("maskembed", ME_FIGURES),
