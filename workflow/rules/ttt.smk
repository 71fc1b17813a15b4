# Learning to (Learn at Test Time): RNNs with Expressive Hidden States (Sun et al. 2024), end-to-end tier.
#
# DAG: ttt__recall_run (one job per recall run: train on fresh sequences, score vs the Bayes curve)
#      -> ttt__recall | ttt__inner_loss | ttt__minibatch | ttt__ladder ;
#      corpora__fetch -> ttt__tokenizer -> ttt__data -> ttt__train (one job per text run) -> ttt__evaluate
#      -> ttt__text ; ttt__equivalence ; ttt__speed ; ttt__latency
#      -> ttt__numbers (results/{scale}/ttt/numbers.json) ; one generated ttt__fig_<name> rule per figure.
# Rule = step = numbers prefix: ttt__<step> runs repro.ttt.steps.<step>_step (typed configs:
# repro.ttt.config) through workflow/scripts/common/step.py.
# The main study is streaming associative recall (repro.ttt.recall): a long-range task whose Bayes-optimal
# loss is exact at every position, so every model's gap to the optimum is measurable; at tiny scale a text
# LM learns no more than bigram statistics (the text study stays as a secondary table beside its n-gram floor).
# Recall runs (repro.ttt.runs.recall_run_specs): `recall-<arch>-p<pairs>-s<seed>` (archs at matched per-layer
# state), `mb-b<b>-s<seed>` (TTT-Linear (M) per mini-batch size; b = T: batch GD) and
# `ladder-<row>-eta<eta>-s<seed>` (Table 1, one change per row, eta_base picked on the validation split per
# seed); every group runs on every recall seed; identical runs are trained once (b = 16 and the ladder's last
# row at eta 1 are the main TTT-Linear (M) run of the seed). Text runs: `<arch>-<size>-s<seed>`.
# Scales: paper = Table 3 for the text study (the Pile by hub id, Llama-2 tokenizer, GPUs; needs network) and
# a 125M-like recall study; tiny = recall T 128, 32 keys / 32 values, 8 and 16 pairs, d 64 x 2 layers, 1 seed (3 pre-registered),
# 600 steps x 8 sequences, plus the text study with BPE-1024, one size, context 256 (the whole paper fits
# 15 min on 2 free cores); smoke = seconds per job; paper_toy = the paper's text study on stand-ins (issue 28: the
# Llama-2 tokenizer and the Pile by id, read from local folders in their formats; Table 3's runs at CPU sizes).
#
# numbers.json keys (flat, dotted; losses in nats per token):
#   recall.<arch>.<pairs>.{gap_to_bayes,accuracy,gap_slope,loss}[_std|.per_seed]  mean [std | one value per
#       seed, in the order of recall.seeds (a list)]; gap_to_bayes =
#       mean over positions >= recall.eval.min_position of (model loss - Bayes loss); gap_slope = its
#       least-squares slope against ln(position + 1); accuracy = argmax on value tokens of repeated keys;
#       .n_params, .state_size (recurrent state numbers; Transformer: KV cache at the context), .seeds
#   recall.bayes.<pairs>.loss (mean Bayes loss), recall.no_memory.<pairs>.gap_to_bayes (sanity floor: the
#       Bayes predictor that forgets values)
#   inner_loss.<arch>.{w0,before,after}.mean   l(W0; x_t), l(W_{t-1}; x_t), l(W_t; x_t), mean over positions,
#       layers, heads, sequences and seeds (first pairs value; TTT archs)
#   minibatch.b<b>.{loss,gap_to_bayes,accuracy,tokens_per_s}[_std|.per_seed]   b in minibatch.sizes (T = batch
#       GD); mean over seeds (order: minibatch.seeds); tokens_per_s = training tokens per CPU second of the
#       single-threaded run
#   ladder.<row>.{loss,gap_to_bayes,accuracy,val_loss}[_std|.per_seed]   per seed the row's best eta_base on
#       validation (order: ladder.seeds); ladder.<row>.eta_base (chosen on most seeds), .eta_base.per_seed
#   speed.{dual_ms,primal_ms,dual_vs_primal}   TTT-Linear inner loop forward + backward, median paired ratio
#   equivalence.primal_dual.max_abs_diff (max over TTT-Linear and TTT-MLP; float64, T 64, d 16, b 16, LN +
#       residual, random per-token eta), equivalence.primal_dual_{linear,mlp}.max_abs_diff,
#       equivalence.linear_attention.max_abs_diff (Theorem 1: b = T, W0 = 0, eta = 1/2, no LN/residual)
#   text.<arch>.{final_eval_loss,late_minus_early_loss,loss_slope}   at the largest size (mean over seeds)
#   text.<arch>.<size>.{final_eval_loss,late_minus_early_loss,loss_slope,loss_early,loss_late,n_params,
#       train_flops}, text.<arch>.<size>.seed<k>.final_eval_loss
#       late_minus_early_loss = last quarter - first quarter of the positions >= eval.min_position;
#       loss_slope = slope of the loss against ln(position + 1) over the same positions
#   text.ngram_floor.{loss,unigram_loss}  count-based floors on the same training tokens (Witten-Bell bigram,
#       add-one unigram; repro.common.lm.ngram); text.best_model.final_eval_loss (best arch x size)
#   latency.<device>.ctx<T>.<arch>.{prefill_ms_per_token,decode_ms_per_token}   device: cpu | cuda
#   data.{train_tokens,heldout_tokens,train_documents,heldout_documents,vocab_size,heldout_unigram_entropy}
#   tokenizer.{kind,vocab_size}
# Claim verdicts are the scorecard's (claims: rows of workflow/expected/ttt.yaml), not numbers.json keys.

# The runs are planned by repro.ttt.runs (which builds models to match parameter counts, and imports torch):
# cached at parse time by a fingerprint of the params and the code, so a no-change parse stays cheap.
TTT = paper_params("ttt")
TTT_RUNS = parse_cache("ttt-runs", "repro.ttt.runs:run_specs_from_params", TTT)
TTT_RECALL_RUNS = parse_cache("ttt-recall-runs", "repro.ttt.runs:recall_run_specs_from_params", TTT)
TTT_GROUP_RUNS = {
    group: [name for name, spec in runs.items() if any(r["group"] == group for r in spec["roles"])]
    for runs, groups in ((TTT_RUNS, ("main",)), (TTT_RECALL_RUNS, ("recall", "minibatch", "ladder")))
    for group in groups
}
TTT_OUT = "results/{scale}/ttt"
TTT_LOG = "logs/{scale}/ttt"
TTT_BENCH = "benchmarks/{scale}/ttt"
TTT_CORPORA = (
    expand(f"{CORPORA_RESOURCES}/{{corpus}}.json", corpus=TTT["data"]["corpora"])
    if TTT["data"]["source"] == "mirror"
    else []
)
TTT_FIGURES = [
    "recall_gap",
    "recall_accuracy",
    "inner_loss",
    "minibatch",
    "ladder",
    "position_loss",
    "loss_vs_flops",
    "latency",
]

# One resolved-params file per run (model + train config only), written at parse time and only when it
# changes, so a parameter edit retrains exactly the runs whose configuration it changes (common.smk
# params_file; like step_params files they exist for the configured scale only).
TTT_RUN_PARAMS = {
    name: params_file("ttt", f"run-{name}", {k: spec[k] for k in ("name", "label", "model", "train", "ranks")})
    for name, spec in TTT_RUNS.items()
}
TTT_RUNS_FILE = params_file("ttt", "runs", TTT_RUNS)  # every run with its roles
TTT_RECALL_RUN_PARAMS = {
    name: params_file("ttt", f"recall-{name}", {k: v for k, v in spec.items() if k != "roles"})
    for name, spec in TTT_RECALL_RUNS.items()
}
TTT_RECALL_RUNS_FILE = params_file("ttt", "recall_runs", TTT_RECALL_RUNS)


# The history.json / eval.json files of the runs of each group (main | minibatch | ladder).
TTT_RUN_FILES = {
    (group, kind): expand(f"{TTT_OUT}/runs/{{run}}/{kind}.json", run=TTT_GROUP_RUNS[group], allow_missing=True)
    for group in ("main",)
    for kind in ("history", "eval")
}
TTT_RECALL_FILES = {
    group: expand(f"{TTT_OUT}/recall_runs/{{rrun}}/result.json", rrun=TTT_GROUP_RUNS[group], allow_missing=True)
    for group in ("recall", "minibatch", "ladder")
}


wildcard_constraints:
    run="|".join(TTT_RUNS),
    rrun="|".join(TTT_RECALL_RUNS),


rule ttt__fetch:
    """The mirrored corpora the ttt data step reads (none at paper scale: the Pile streams from the hub)."""
    input:
        corpora=TTT_CORPORA,


rule ttt__tokenizer:
    """BPE (or char) tokenizer trained on the training documents only (paper: the Llama-2 tokenizer by id)."""
    input:
        **step_inputs("ttt", "tokenizer"),
        corpora=TTT_CORPORA,
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
    """Train / held-out token shard folders (held out by document; EOS between documents; repro.common.lm.shards)."""
    input:
        **step_inputs("ttt", "data"),
        corpora=TTT_CORPORA,
        tokenizer=rules.ttt__tokenizer.output.tokenizer,
    output:
        numbers=f"{TTT_OUT}/data/numbers.json",
        train=directory(f"{TTT_OUT}/data/train"),
        heldout=directory(f"{TTT_OUT}/data/heldout"),
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
        code=step_code("ttt"),
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
        gpu=gpus(TTT["train"]["ranks"]),
        runtime=runtime(2880, 30),
    script:
        "../scripts/common/step.py"


rule ttt__evaluate:
    """Per-position held-out loss at the training context (loss vs token index), its mean and late - early."""
    input:
        **step_inputs("ttt", "evaluate"),
        weights=rules.ttt__train.output.weights,
        heldout=rules.ttt__data.output.heldout,
        run=f"{TTT_OUT}/params/run-{{run}}.json",
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
        **step_inputs("ttt", "equivalence"),
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
        **step_inputs("ttt", "latency"),
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
        **step_inputs("ttt", "text"),
        specs=TTT_RUNS_FILE,
        histories=TTT_RUN_FILES["main", "history"],
        evals=TTT_RUN_FILES["main", "eval"],
        train=rules.ttt__data.output.train,
        heldout=rules.ttt__data.output.heldout,
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


rule ttt__recall_run:
    """One recall run: train on fresh sequences, score vs the Bayes curve, inner-loop losses (TTT)."""
    input:
        params=f"{TTT_OUT}/params/recall-{{rrun}}.json",  # TTT_RECALL_RUN_PARAMS, written at parse time
        code=step_code("ttt"),
    output:
        result=f"{TTT_OUT}/recall_runs/{{rrun}}/result.json",
    log:
        f"{TTT_LOG}/recall_run/{{rrun}}.log",
    benchmark:
        f"{TTT_BENCH}/recall_run/{{rrun}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    resources:
        runtime=runtime(2880, 10),
        gpu=gpus(),
    script:
        "../scripts/common/step.py"


rule ttt__recall:
    """The recall comparison at matched state: gap to the Bayes curve, accuracy vs keys seen, inner losses."""
    input:
        **step_inputs("ttt", "recall"),
        specs=TTT_RECALL_RUNS_FILE,
        results=TTT_RECALL_FILES["recall"],
    output:
        numbers=f"{TTT_OUT}/recall/numbers.json",
        runs=f"{TTT_OUT}/recall/runs.csv",
        curves=f"{TTT_OUT}/recall/curves.csv",
        accuracy=f"{TTT_OUT}/recall/accuracy.csv",
    log:
        f"{TTT_LOG}/recall.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__inner_loss:
    """Sec. 2 (inner-loss figure): the TTT layers' inner-loop losses per token, before and after each step."""
    input:
        specs=TTT_RECALL_RUNS_FILE,
        results=TTT_RECALL_FILES["recall"],
        code=step_code("ttt"),
    output:
        numbers=f"{TTT_OUT}/inner_loss/numbers.json",
        table=f"{TTT_OUT}/inner_loss/inner_loss.csv",
    log:
        f"{TTT_LOG}/inner_loss.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__minibatch:
    """Sec. 2.4: TTT-Linear (M) loss and recall vs training tokens per second, per mini-batch size b."""
    input:
        **step_inputs("ttt", "minibatch"),
        specs=TTT_RECALL_RUNS_FILE,
        results=TTT_RECALL_FILES["minibatch"],
    output:
        numbers=f"{TTT_OUT}/minibatch/numbers.json",
        runs=f"{TTT_OUT}/minibatch/runs.csv",
    log:
        f"{TTT_LOG}/minibatch.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__ladder:
    """Table 1 on the recall task: one change per row, eta_base per row picked on the validation split."""
    input:
        **step_inputs("ttt", "ladder"),
        specs=TTT_RECALL_RUNS_FILE,
        results=TTT_RECALL_FILES["ladder"],
    output:
        numbers=f"{TTT_OUT}/ladder/numbers.json",
        runs=f"{TTT_OUT}/ladder/runs.csv",
    log:
        f"{TTT_LOG}/ladder.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule ttt__speed:
    """Sec. 2.5: dual vs primal form of the TTT-Linear inner loop (forward + backward)."""
    input:
        **step_inputs("ttt", "speed"),
    output:
        numbers=f"{TTT_OUT}/speed/numbers.json",
    log:
        f"{TTT_LOG}/speed.log",
    benchmark:
        f"{TTT_BENCH}/speed.tsv"
    conda:
        REPRO_ENV
    threads: TTT["speed"]["threads"]
    script:
        "../scripts/common/step.py"


rule ttt__numbers:
    """Merge every step's numbers into results/{scale}/ttt/numbers.json (keys: see the header)."""
    input:
        parts=numbers_parts("ttt"),
        code=code_inputs("common/numbers"),
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
    "recall_gap": dict(table=rules.ttt__recall.output.curves),
    "recall_accuracy": dict(table=rules.ttt__recall.output.accuracy),
    "inner_loss": dict(table=rules.ttt__inner_loss.output.table),
    "minibatch": dict(table=rules.ttt__minibatch.output.runs),
    "ladder": dict(table=rules.ttt__ladder.output.runs),
    "position_loss": dict(table=rules.ttt__text.output.curves),
    "loss_vs_flops": dict(table=rules.ttt__text.output.flops),
    "latency": dict(table=rules.ttt__latency.output.table),
}

for _fig in TTT_FIGURES:
    figure_rule("ttt", _fig, TTT_FIG_INPUTS[_fig], labels={"scale": SCALE})


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule ttt:
    """Every ttt number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/ttt/numbers.json",
        figures=figure_files_here("ttt", TTT_FIGURES),
