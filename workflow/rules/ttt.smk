# Learning to (Learn at Test Time): RNNs with Expressive Hidden States (Sun et al. 2024), end-to-end tier.
#
# DAG: corpora__fetch -> ttt__tokenizer -> ttt__tokens -> ttt__train (one job per run) -> ttt__evaluate
#      ttt__equivalence ; ttt__latency ; all -> ttt__numbers (results/{scale}/ttt/numbers.json)
#      one ttt__fig_* rule per figure (they read the small CSVs written by ttt__numbers / ttt__latency).
# Runs (repro.ttt.pipeline.run_specs): `<arch>-<size>-s<seed>` (LM comparison at equal parameter count),
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
#   tiny.<arch>.{final_eval_loss,late_minus_early_loss}   at the largest size (mean over seeds)
#   tiny.<arch>.<size>.{final_eval_loss,late_minus_early_loss,loss_early,loss_late,n_params,train_flops}
#   tiny.<arch>.<size>.seed<k>.final_eval_loss
#       late_minus_early_loss = mean loss over the last quarter of positions - mean over the first quarter
#   ablation.minibatch.<b>.{final_eval_loss,late_minus_early_loss}    b in ablation.minibatch_sizes, T = full batch
#   ladder.<row>.{final_eval_loss,perplexity}   row: linear_attention learnable_w0 ln_residual minibatch
#       learnable_eta mamba_backbone
#   latency.<device>.ctx<T>.<arch>.{prefill_ms_per_token,decode_ms_per_token}   device: cpu | cuda
#   data.{train_tokens,heldout_tokens,train_documents,heldout_documents,vocab_size,heldout_unigram_entropy}
# ("tiny." is the key prefix of the LM comparison at every scale, as named in the issue.)

from repro.ttt.pipeline import run_specs

TTT = paper_params("ttt")
TTT_RUNS = run_specs(TTT)
TTT_OUT = "results/{scale}/ttt"
TTT_LOG = "logs/{scale}/ttt"
TTT_BENCH = "benchmarks/{scale}/ttt"
TTT_CORPORA = (
    expand(f"{CORPORA_RESOURCES}/{{corpus}}.json", corpus=TTT["data"]["corpora"])
    if TTT["data"]["source"] == "mirror"
    else []
)
TTT_FIGURES = ["position_loss", "loss_vs_flops", "minibatch", "ladder", "latency"]
TTT_LIB = library_files(
    "ttt.blocks", "ttt.layers", "ttt.mamba", "ttt.models", "ttt.equivalence", "ttt.latency", "ttt.experiments",
    "ttt.pipeline", "common.lm", "common.io", "common.seeds", "common.fetch",
)  # fmt: skip (compute code; figures.py only reruns the figure rules)
TTT_FIG_CODE = library_files("ttt.figures", "common.plotting", "common.scorecard")

# One resolved-params file per run (model + train config only), written at parse time and only when it
# changes, so a parameter edit retrains exactly the runs whose configuration it changes. (Like step_params
# files they exist for the configured scale only.)
for _name, _spec in TTT_RUNS.items():
    write_json_if_changed(
        f"results/{SCALE}/ttt/params/run-{_name}.json",
        {k: _spec[k] for k in ("name", "label", "model", "train")},
    )


write_json_if_changed(f"results/{SCALE}/ttt/params/runs.json", TTT_RUNS)  # every run with its roles


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
        tokenizer=directory(f"{TTT_OUT}/data/tokenizer"),
        stats=f"{TTT_OUT}/data/tokenizer.json",
    log:
        f"{TTT_LOG}/tokenizer.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/tokenizer.py"


rule ttt__tokens:
    """Train / held-out token arrays (held out by document; EOS between documents)."""
    input:
        corpora=TTT_CORPORA,
        tokenizer=rules.ttt__tokenizer.output.tokenizer,
        params=step_params("ttt", "tokens", ["data", "tokenizer", "context"]),
        code=TTT_LIB,
    output:
        train=f"{TTT_OUT}/data/train.npy",
        heldout=f"{TTT_OUT}/data/heldout.npy",
        stats=f"{TTT_OUT}/data/stats.json",
    log:
        f"{TTT_LOG}/tokens.log",
    benchmark:
        f"{TTT_BENCH}/tokens.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/tokens.py"


rule ttt__train:
    """One training run with the shared trainer (repro.common.lm.trainer.train; exact resume from runs/<run>/train)."""
    input:
        train=rules.ttt__tokens.output.train,
        heldout=rules.ttt__tokens.output.heldout,
        params=f"{TTT_OUT}/params/run-{{run}}.json",  # written at parse time (above)
        code=TTT_LIB,
    output:
        weights=f"{TTT_OUT}/runs/{{run}}/checkpoint.safetensors",
        history=f"{TTT_OUT}/runs/{{run}}/history.json",
    params:
        work_dir=f"{TTT_OUT}/runs/{{run}}/train",
    threads: 1
    resources:
        gpu=gpus(),
        runtime=2880 if SCALE == "paper" else 30,
    log:
        f"{TTT_LOG}/train/{{run}}.log",
    benchmark:
        f"{TTT_BENCH}/train/{{run}}.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/train.py"


rule ttt__evaluate:
    """Per-position held-out loss at the training context (loss vs token index), its mean and late - early."""
    input:
        weights=rules.ttt__train.output.weights,
        heldout=rules.ttt__tokens.output.heldout,
        run=f"{TTT_OUT}/params/run-{{run}}.json",
        params=step_params("ttt", "eval", ["eval", "context"]),
        code=TTT_LIB,
    output:
        eval=f"{TTT_OUT}/runs/{{run}}/eval.json",
    threads: 1
    resources:
        gpu=gpus(),
        runtime=60 if SCALE == "paper" else 10,
    log:
        f"{TTT_LOG}/evaluate/{{run}}.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/evaluate.py"


rule ttt__equivalence:
    """Sec. 2.5 / Theorem 1: primal vs dual form and TTT (b = T, W0 = 0, eta = 1/2) vs causal linear attention."""
    input:
        params=step_params("ttt", "equivalence", ["equivalence"]),
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/equivalence.json",
    log:
        f"{TTT_LOG}/equivalence.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/equivalence.py"


rule ttt__latency:
    """Prefill (dual form / SDPA / scan) and decode (primal / KV cache / state) ms per token vs context."""
    input:
        params=step_params(
            "ttt", "latency", ["latency", "sizes", "tokenizer", "context", "mini_batch_size", "mamba_layers_per_block"],
        ),  # fmt: skip
        code=TTT_LIB,
    output:
        table=f"{TTT_OUT}/latency.csv",
    threads: TTT["latency"]["threads"] or 1
    resources:
        gpu=gpus(),
        runtime=60 if SCALE == "paper" else 10,
    log:
        f"{TTT_LOG}/latency.log",
    benchmark:
        f"{TTT_BENCH}/latency.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/latency.py"


rule ttt__numbers:
    """Merge everything into results/{scale}/ttt/numbers.json (keys: see the header) and the figure tables."""
    input:
        histories=expand(f"{TTT_OUT}/runs/{{run}}/history.json", run=TTT_RUNS, allow_missing=True),
        evals=expand(f"{TTT_OUT}/runs/{{run}}/eval.json", run=TTT_RUNS, allow_missing=True),
        equivalence=rules.ttt__equivalence.output.numbers,
        latency=rules.ttt__latency.output.table,
        data=rules.ttt__tokens.output.stats,
        specs=f"{TTT_OUT}/params/runs.json",
        params=step_params(
            "ttt", "numbers", ["archs", "sizes", "seeds", "ablation", "ladder", "latency", "mini_batch_size"]
        ),
        code=TTT_LIB,
    output:
        numbers=f"{TTT_OUT}/numbers.json",
        runs=f"{TTT_OUT}/tables/runs.csv",
        curves=f"{TTT_OUT}/tables/curves.csv",
        flops=f"{TTT_OUT}/tables/flops.csv",
    params:
        runs=list(TTT_RUNS),
    log:
        f"{TTT_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/numbers.py"


rule ttt__fig_position_loss:
    """Held-out loss vs token index per arch and size (the paper's 'keeps improving with context' figure)."""
    input:
        table=rules.ttt__numbers.output.curves,
        code=TTT_FIG_CODE,
    output:
        png=report(f"{TTT_OUT}/figures/position_loss.png", caption="../report/ttt_position_loss.rst", category="ttt"),
        pdf=f"{TTT_OUT}/figures/position_loss.pdf",
    params:
        kind="position_loss",
    log:
        f"{TTT_LOG}/fig_position_loss.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/figure.py"


rule ttt__fig_loss_vs_flops:
    """Held-out loss vs approximate training FLOPs (archs x sizes)."""
    input:
        table=rules.ttt__numbers.output.flops,
        code=TTT_FIG_CODE,
    output:
        png=report(f"{TTT_OUT}/figures/loss_vs_flops.png", caption="../report/ttt_loss_vs_flops.rst", category="ttt"),
        pdf=f"{TTT_OUT}/figures/loss_vs_flops.pdf",
    params:
        kind="loss_vs_flops",
    log:
        f"{TTT_LOG}/fig_loss_vs_flops.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/figure.py"


rule ttt__fig_minibatch:
    """TTT-Linear held-out loss vs mini-batch size b."""
    input:
        table=rules.ttt__numbers.output.runs,
        code=TTT_FIG_CODE,
    output:
        png=report(f"{TTT_OUT}/figures/minibatch.png", caption="../report/ttt_minibatch.rst", category="ttt"),
        pdf=f"{TTT_OUT}/figures/minibatch.pdf",
    params:
        kind="minibatch",
    log:
        f"{TTT_LOG}/fig_minibatch.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/figure.py"


rule ttt__fig_ladder:
    """Table-1 ladder: our perplexities next to the paper's (different scale)."""
    input:
        table=rules.ttt__numbers.output.runs,
        expected="workflow/expected/ttt.yaml",
        code=TTT_FIG_CODE,
    output:
        png=report(f"{TTT_OUT}/figures/ladder.png", caption="../report/ttt_ladder.rst", category="ttt"),
        pdf=f"{TTT_OUT}/figures/ladder.pdf",
    params:
        kind="ladder",
    log:
        f"{TTT_LOG}/fig_ladder.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/figure.py"


rule ttt__fig_latency:
    """Prefill and decode ms per token vs context length."""
    input:
        table=rules.ttt__latency.output.table,
        code=TTT_FIG_CODE,
    output:
        png=report(f"{TTT_OUT}/figures/latency.png", caption="../report/ttt_latency.rst", category="ttt"),
        pdf=f"{TTT_OUT}/figures/latency.pdf",
    params:
        kind="latency",
    log:
        f"{TTT_LOG}/fig_latency.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/ttt/figure.py"
