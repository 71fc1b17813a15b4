# Learning to (Learn at Test Time): RNNs with Expressive Hidden States (Sun et al. 2024), end-to-end tier.
#
# DAG: corpora__fetch -> ttt__tokenizer -> ttt__data -> ttt__train (one job per run) -> ttt__evaluate
#      -> ttt__text | ttt__ablation | ttt__ladder ; ttt__equivalence ; ttt__latency
#      -> ttt__numbers (results/{scale}/ttt/numbers.json) ; one generated ttt__fig_<name> rule per figure.
# Rule = step = numbers prefix: ttt__<step> runs repro.ttt.steps.<step>_step (typed configs:
# repro.ttt.config) through workflow/scripts/common/step.py.
# Runs (repro.ttt.runs.run_specs): `<arch>-<size>-s<seed>` (LM comparison at equal parameter count),
# `minibatch-b<b>` (b = T: full-batch GD) and `ladder-<row>` (Table 1); a run that equals another one
# (ablation b = 16 and ladder "+ learnable eta" = the main TTT-Linear run) is trained once.
# Scales: paper = Table 3 (the Pile by hub id, Llama-2 tokenizer, 125M..1.3B, GPUs; needs network);
# tiny = BPE-1024 on Gutenberg chapters + WikiText articles, d 64/128 x 2 layers, context 512, 300 steps
# x 2k tokens per run, one seed (the whole paper ~12 min on 2 cores); smoke = seconds per job.
#
# numbers.json keys (flat, dotted; losses in nats per token on held-out documents at the training context):
#   equivalence.primal_dual.max_abs_diff (max over TTT-Linear and TTT-MLP; float64, T 64, d 16, b 16, LN +
#       residual, random per-token eta), equivalence.primal_dual_{linear,mlp}.max_abs_diff,
#       equivalence.linear_attention.max_abs_diff (Theorem 1: b = T, W0 = 0, eta = 1/2, no LN/residual)
#   text.<arch>.{final_eval_loss,late_minus_early_loss}   at the largest size (mean over seeds)
#   text.<arch>.<size>.{final_eval_loss,late_minus_early_loss,loss_early,loss_late,n_params,train_flops}
#   text.<arch>.<size>.seed<k>.final_eval_loss
#   text.ngram_floor.{loss,unigram_loss}  count-based floors on the same training tokens (Witten-Bell bigram,
#       add-one unigram; repro.common.lm.ngram); text.best_model.final_eval_loss (best arch x size)
#       late_minus_early_loss = mean loss over the last quarter of positions - mean over the first quarter
#   ablation.minibatch.<b>.{final_eval_loss,late_minus_early_loss}    b in ablation.minibatch_sizes, T = full batch
#   ladder.<row>.{final_eval_loss,perplexity}   row: linear_attention learnable_w0 ln_residual minibatch
#       learnable_eta mamba_backbone
#   latency.<device>.ctx<T>.<arch>.{prefill_ms_per_token,decode_ms_per_token}   device: cpu | cuda
#   data.{train_tokens,heldout_tokens,train_documents,heldout_documents,vocab_size,heldout_unigram_entropy}
#   tokenizer.{kind,vocab_size}

# The runs are planned by repro.ttt.runs (which builds models to match parameter counts, and imports torch):
# cached at parse time by a fingerprint of the params and the code, so a no-change parse stays cheap.
TTT = paper_params("ttt")
TTT_RUNS = parse_cache("ttt-runs", "repro.ttt.runs:run_specs_from_params", TTT, ["ttt", "common.lm", "common.steps"])
TTT_GROUP_RUNS = {
    group: [name for name, spec in TTT_RUNS.items() if any(r["group"] == group for r in spec["roles"])]
    for group in ("main", "minibatch", "ladder")
}
TTT_OUT = "results/{scale}/ttt"
TTT_LOG = "logs/{scale}/ttt"
TTT_BENCH = "benchmarks/{scale}/ttt"
TTT_CORPORA = (
    expand(f"{CORPORA_RESOURCES}/{{corpus}}.json", corpus=TTT["data"]["corpora"])
    if TTT["data"]["source"] == "mirror"
    else []
)
TTT_FIGURES = ["position_loss", "loss_vs_flops", "minibatch", "ladder", "latency"]
TTT_LIB = library_files("ttt", "common.lm", "common.io", "common.seeds", "common.fetch", "common.steps")
TTT_FIG_CODE = library_files("ttt.figures", "ttt.archs", "common.figures", "common.plotting", "common.scorecard")

# One resolved-params file per run (model + train config only), written at parse time and only when it
# changes, so a parameter edit retrains exactly the runs whose configuration it changes (common.smk
# params_file; like step_params files they exist for the configured scale only).
TTT_RUN_PARAMS = {
    name: params_file("ttt", f"run-{name}", {k: spec[k] for k in ("name", "label", "model", "train")})
    for name, spec in TTT_RUNS.items()
}
TTT_RUNS_FILE = params_file("ttt", "runs", TTT_RUNS)  # every run with its roles


# The history.json / eval.json files of the runs of each group (main | minibatch | ladder).
TTT_RUN_FILES = {
    (group, kind): expand(f"{TTT_OUT}/runs/{{run}}/{kind}.json", run=names, allow_missing=True)
    for group, names in TTT_GROUP_RUNS.items()
    for kind in ("history", "eval")
}


wildcard_constraints:
    run="|".join(TTT_RUNS),


rule ttt:
    """Every ttt number and figure at the default scale."""
    input:
        numbers=f"results/{SCALE}/ttt/numbers.json",
        figures=expand("results/{scale}/ttt/figures/{fig}.png", scale=SCALE, fig=TTT_FIGURES),


rule ttt__fetch:
    """The mirrored corpora the ttt data step reads (none at paper scale: the Pile streams from the hub)."""
    input:
        corpora=TTT_CORPORA,


rule ttt__tokenizer:
    """BPE (or char) tokenizer trained on the training documents only (paper: the Llama-2 tokenizer by id)."""
    input:
        corpora=TTT_CORPORA,
        params=step_params("ttt", "tokenizer", ["data", "tokenizer"]),
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/tokenizer/numbers.json",
        tokenizer=directory(f"{TTT_OUT}/data/tokenizer"),
    log:
        f"{TTT_LOG}/tokenizer.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__data:
    """Train / held-out token arrays (held out by document; EOS between documents)."""
    input:
        corpora=TTT_CORPORA,
        tokenizer=rules.ttt__tokenizer.output.tokenizer,
        params=step_params("ttt", "data", ["data", "tokenizer", "context"]),
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/data/numbers.json",
        train=f"{TTT_OUT}/data/train.npy",
        heldout=f"{TTT_OUT}/data/heldout.npy",
    log:
        f"{TTT_LOG}/data.log",
    benchmark:
        f"{TTT_BENCH}/data.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__train:
    """One training run with the shared trainer (repro.common.lm.trainer.train; exact resume from runs/<run>/train)."""
    input:
        train=rules.ttt__data.output.train,
        heldout=rules.ttt__data.output.heldout,
        params=f"{TTT_OUT}/params/run-{{run}}.json",  # TTT_RUN_PARAMS, written at parse time
        code=TTT_LIB,
    output:
        weights=f"{TTT_OUT}/runs/{{run}}/checkpoint.safetensors",
        history=f"{TTT_OUT}/runs/{{run}}/history.json",
    log:
        f"{TTT_LOG}/train/{{run}}.log",
    benchmark:
        f"{TTT_BENCH}/train/{{run}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    resources:
        gpu=gpus(),
        runtime=runtime(2880, 30),
    script:
        "../scripts/common/step.py"


rule ttt__evaluate:
    """Per-position held-out loss at the training context (loss vs token index), its mean and late - early."""
    input:
        weights=rules.ttt__train.output.weights,
        heldout=rules.ttt__data.output.heldout,
        run=f"{TTT_OUT}/params/run-{{run}}.json",
        params=step_params("ttt", "evaluate", ["eval", "context"]),
        code=TTT_LIB,
    output:
        eval=f"{TTT_OUT}/runs/{{run}}/eval.json",
    log:
        f"{TTT_LOG}/evaluate/{{run}}.log",
    conda:
        REPRO_ENV
    threads: 1
    resources:
        gpu=gpus(),
        runtime=runtime(60, 10),
    script:
        "../scripts/common/step.py"


rule ttt__equivalence:
    """Sec. 2.5 / Theorem 1: primal vs dual form and TTT (b = T, W0 = 0, eta = 1/2) vs causal linear attention."""
    input:
        params=step_params("ttt", "equivalence"),
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/equivalence/numbers.json",
    log:
        f"{TTT_LOG}/equivalence.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__latency:
    """Prefill (dual form / SDPA / scan) and decode (primal / KV cache / state) ms per token vs context."""
    input:
        params=step_params(
            "ttt", "latency", ["latency", "sizes", "tokenizer", "context", "mini_batch_size", "mamba_layers_per_block"]
        ),
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/latency/numbers.json",
        table=f"{TTT_OUT}/latency/latency.csv",
    log:
        f"{TTT_LOG}/latency.log",
    benchmark:
        f"{TTT_BENCH}/latency.tsv"
    conda:
        REPRO_ENV
    threads: TTT["latency"]["threads"] or 1
    resources:
        gpu=gpus(),
        runtime=runtime(60, 10),
    script:
        "../scripts/common/step.py"


rule ttt__text:
    """Sec. 3.2: the LM comparison at equal parameter count (loss, loss by token index, loss vs FLOPs)."""
    input:
        specs=TTT_RUNS_FILE,
        histories=TTT_RUN_FILES["main", "history"],
        evals=TTT_RUN_FILES["main", "eval"],
        train=rules.ttt__data.output.train,
        heldout=rules.ttt__data.output.heldout,
        params=step_params("ttt", "text", ["sizes"]),
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/text/numbers.json",
        runs=f"{TTT_OUT}/text/runs.csv",
        curves=f"{TTT_OUT}/text/curves.csv",
        flops=f"{TTT_OUT}/text/flops.csv",
    log:
        f"{TTT_LOG}/text.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__ablation:
    """Mini-batch ablation: TTT-Linear held-out loss vs b."""
    input:
        specs=TTT_RUNS_FILE,
        histories=TTT_RUN_FILES["minibatch", "history"],
        evals=TTT_RUN_FILES["minibatch", "eval"],
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/ablation/numbers.json",
        runs=f"{TTT_OUT}/ablation/runs.csv",
    log:
        f"{TTT_LOG}/ablation.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__ladder:
    """Table 1: from linear attention to TTT-Linear (M), one row per change."""
    input:
        specs=TTT_RUNS_FILE,
        histories=TTT_RUN_FILES["ladder", "history"],
        evals=TTT_RUN_FILES["ladder", "eval"],
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/ladder/numbers.json",
        runs=f"{TTT_OUT}/ladder/runs.csv",
    log:
        f"{TTT_LOG}/ladder.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__numbers:
    """Merge every step's numbers into results/{scale}/ttt/numbers.json (keys: see the header)."""
    input:
        parts=[
            rules.ttt__tokenizer.output.numbers,
            rules.ttt__data.output.numbers,
            rules.ttt__equivalence.output.numbers,
            rules.ttt__latency.output.numbers,
            rules.ttt__text.output.numbers,
            rules.ttt__ablation.output.numbers,
            rules.ttt__ladder.output.numbers,
        ],
        code=library_files("common.steps", "common.io"),
    output:
        numbers=f"{TTT_OUT}/numbers.json",
    log:
        f"{TTT_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


# Figures: one generated rule per entry, drawn by repro.ttt.figures.FIGURES[name] from a small table.
TTT_FIG_INPUTS = {
    "position_loss": dict(table=rules.ttt__text.output.curves),
    "loss_vs_flops": dict(table=rules.ttt__text.output.flops),
    "minibatch": dict(table=rules.ttt__ablation.output.runs),
    "ladder": dict(table=rules.ttt__ladder.output.runs, expected="workflow/expected/ttt.yaml"),
    "latency": dict(table=rules.ttt__latency.output.table),
}

for _fig in TTT_FIGURES:

    rule:
        name:
            f"ttt__fig_{_fig}"
        input:
            **TTT_FIG_INPUTS[_fig],
            code=TTT_FIG_CODE,
        output:
            png=report(f"{TTT_OUT}/figures/{_fig}.png", caption=f"../report/ttt_{_fig}.rst", category="ttt"),
            pdf=f"{TTT_OUT}/figures/{_fig}.pdf",
        log:
            f"{TTT_LOG}/fig_{_fig}.log",
        conda:
            REPRO_ENV
        params:
            labels={"scale": SCALE},
        script:
            "../scripts/common/figure.py"
