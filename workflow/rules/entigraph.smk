# Synthetic continued pretraining with EntiGraph (Yang, Band, Li, Candès, Hashimoto; ICLR 2025, arXiv 2409.07431).
#
# DAG: entigraph__math (Sec. 6: the stochastic graph process, exact) ;
#      [entigraph__fetch (QuALITY files; paper scale)] -> entigraph__world (source documents + questions)
#      -> entigraph__synth (EntiGraph entities / pairs / triples and the rephrase baseline through the cached
#         LLM backend) -> entigraph__data (tokenizer, generic text, token accounting; corpora__fetch)
#      -> entigraph__base (base LM on generic text) -> entigraph__cpt (one job per run <method>-<budget>-s<seed>,
#         with replay) -> entigraph__tiny (closed-book QA, floors, mixture fit, open-book QA)
#      -> entigraph__numbers (results/{scale}/entigraph/numbers.json) ; entigraph__fig_<name> per figure.
# Scales: tiny = the offline structural stand-in generator (backend entigraph_template) on a synthetic corpus of
# facts stated once, a ~0.5M-parameter GPT-2 pretrained on WikiText; paper = QuALITY (pinned URLs), gpt-4-turbo
# via the openai backend, Llama 3 8B (dry-run only here); smoke = seconds per job.
#
# numbers.json keys (flat, dotted):
#   math.{plateau,reachable_fraction,fit_rmse,exact_rmse,approx_rmse}   first seed: simulated density at the last
#       step, reachable-pair fraction of M_0 (deductive closure), RMSE of the mixture-of-exponentials fit, of the
#       exact conditional expectation and of the branching-process approximation vs the simulation
#   math.{c_lambda,rho,p}   closed forms: C_lambda = (1 - rho)^2, rho = exp(lambda (rho - 1)), p = lambda / V
#   math.seeds.<seed>.{plateau,reachable_fraction,source_density,exact_rmse,approx_rmse,fit_rmse,fit_plateau,
#       monotone,within_bounds,density.t<t>}   per seed; within_bounds = fraction of t inside Theorem 1's bounds
#   math.{max_plateau_gap,all_monotone,within_bounds}   over seeds
#   world.{n_articles,n_questions,chars}
#   synth.{backend,model,n_calls,n_documents.<summary|pair|triple>,entities_per_article,chars.<entigraph|rephrase>,
#       seconds}
#   data.tokens.{raw,rephrase,entigraph,entigraph_by_kind.<kind>,entigraph_over_raw,generic_train,generic_heldout},
#   data.vocab_size
#   tiny.{seeds,n_seeds}   the CPT seeds (cpt.seeds; the base model is one run, seed pretrain.seed)
#   tiny.<raw|rephrase|entigraph>.<tokens>.{qa_accuracy,count_floor_qa_accuracy}[.std|.per_seed]   one CPT run per
#       method, domain-token budget (cpt.budgets) and seed: the mean over seeds, its sd (ddof 1) and the per-seed
#       list (seed order of tiny.seeds); .<tokens>.{train_tokens,cpu_seconds,final_train_loss} (seed means)
#   tiny.<method>.<max|min>.{qa_accuracy,count_floor_qa_accuracy}[.std|.per_seed]   the largest / smallest budget;
#   tiny.<method>.range_gain[.per_seed]   accuracy at the largest minus the smallest budget, per seed;
#   tiny.<method>.best_qa_accuracy, tiny.<method>.gain_over_base   (seed means)
#   tiny.entigraph.loglinear_{slope,r2}[.per_seed]   line of accuracy on log10(tokens): slope per decade and R^2,
#       of the seed-mean curve and per seed
#   tiny.entigraph.{fit_rmse,fit_plateau}   mixture-of-exponentials fit of the seed-mean accuracy vs tokens
#       (anchored at the base model), plateau unbounded; tiny.entigraph.fit_bounded.{rmse,plateau,at_bound}: the
#       same fit with the plateau bounded by 1 (an accuracy), at_bound = the bound is active
#   tiny.base.qa_accuracy   the base model without CPT; tiny.floor.random.qa_accuracy = mean 1 / n_options
#   tiny.rag.<base|entigraph>.qa_accuracy   open-book: top-k TF-IDF source sentences before the question
#       (entigraph = the largest-budget EntiGraph model of each seed: mean, .std, .per_seed);
#       tiny.rag.{retrieval_recall,k}, tiny.{n_questions,n_options}

EG = paper_params("entigraph")
EG_OUT = "results/{scale}/entigraph"
EG_LOG = "logs/{scale}/entigraph"
EG_BENCH = "benchmarks/{scale}/entigraph"
# Code inputs per rule (edits rerun exactly the rules whose code changed; figures.py reruns only figures).
EG_FIGURES = ["toy_model", "scaling"]
EG_CORPORA = expand(f"{CORPORA_RESOURCES}/{{corpus}}.json", corpus=EG["data"]["corpora"])
# The QuALITY files, in params order (rule entigraph__fetch, workflow/rules/downloads.smk): name -> local path.
EG_QUALITY = {name: spec["path"] for name, spec in downloads("entigraph").items()}
# One CPT run per method, budget and seed (cpt.seeds), named <method>-<budget>-s<seed> (repro.entigraph.steps._run_name);
# a run's params record its own seed (cpt.seed), not the lists, so adding a seed reruns only the new runs.
EG_CPT_RUN = {k: v for k, v in EG["cpt"].items() if k not in ("seeds", "seed_every_budget")}
# Every seed at every budget for the methods in cpt.seed_every_budget, else every seed at the smallest and largest
# budget only (repro.entigraph.config.CPTSettings.run_seeds).
EG_SEEDS = {
    (_m, _b): (
        EG["cpt"]["seeds"]
        if _m in EG["cpt"].get("seed_every_budget", EG["cpt"]["methods"])
        or _b in (min(EG["cpt"]["budgets"]), max(EG["cpt"]["budgets"]))
        else []
    )
    for _m in EG["cpt"]["methods"]
    for _b in EG["cpt"]["budgets"]
}
EG_RUNS = [f"{m}-{b}-s{s}" for (m, b), seeds in EG_SEEDS.items() for s in seeds]
for (_m, _b), _seeds in EG_SEEDS.items():
    for _s in _seeds:
        params_file(
            "entigraph",
            f"run-{_m}-{_b}-s{_s}",
            {"method": _m, "budget": _b, "lm": EG["lm"], "cpt": {**EG_CPT_RUN, "seed": _s}},
        )


wildcard_constraints:
    egrun="|".join(EG_RUNS),


rule entigraph__math:
    """Sec. 6 / App. F: the EntiGraph process on random digraphs, exact expectation, approximation, bounds, fit."""
    input:
        **step_inputs("entigraph", "math"),
    output:
        numbers=f"{EG_OUT}/math/numbers.json",
        curves=f"{EG_OUT}/math/curves.csv",
    log:
        f"{EG_LOG}/math.log",
    benchmark:
        f"{EG_BENCH}/math.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule entigraph__world:
    """Sec. 2.2 / 4: the source documents and their multiple-choice questions."""
    input:
        **step_inputs("entigraph", "world"),
        quality=list(EG_QUALITY.values()) if EG["world"]["source"] == "quality" else [],
    output:
        numbers=f"{EG_OUT}/world/numbers.json",
        articles=f"{EG_OUT}/world/articles.jsonl",
        questions=f"{EG_OUT}/world/questions.jsonl",
    log:
        f"{EG_LOG}/world.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule entigraph__synth:
    """Sec. 2.2: EntiGraph (entities, all pairs, budgeted triples) and rephrasings via the cached LLM backend."""
    input:
        **step_inputs("entigraph", "synth"),
        articles=rules.entigraph__world.output.articles,
    output:
        numbers=f"{EG_OUT}/synth/numbers.json",
        entigraph=f"{EG_OUT}/synth/entigraph.jsonl",
        rephrase=f"{EG_OUT}/synth/rephrase.jsonl",
    log:
        f"{EG_LOG}/synth.log",
    benchmark:
        f"{EG_BENCH}/synth.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=runtime(7 * 24 * 60, 10),
    script:
        "../scripts/common/step.py"


rule entigraph__data:
    """Tokenizer, generic-text token arrays (pretraining, replay) and the token accounting of every corpus."""
    input:
        **step_inputs("entigraph", "data"),
        corpora=EG_CORPORA,
        articles=rules.entigraph__world.output.articles,
        entigraph=rules.entigraph__synth.output.entigraph,
        rephrase=rules.entigraph__synth.output.rephrase,
    output:
        numbers=f"{EG_OUT}/data/numbers.json",
        tokenizer=directory(f"{EG_OUT}/data/tokenizer"),
        generic_train=f"{EG_OUT}/data/generic_train.npy",
        generic_heldout=f"{EG_OUT}/data/generic_heldout.npy",
    log:
        f"{EG_LOG}/data.log",
    benchmark:
        f"{EG_BENCH}/data.tsv"
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule entigraph__base:
    """The base LM: pretrained from scratch on generic text (tiny); the paper starts from Llama 3 8B."""
    input:
        **step_inputs("entigraph", "base"),
        tokenizer=rules.entigraph__data.output.tokenizer,
        generic_train=rules.entigraph__data.output.generic_train,
        generic_heldout=rules.entigraph__data.output.generic_heldout,
    output:
        model=directory(f"{EG_OUT}/base/model"),
    log:
        f"{EG_LOG}/base.log",
    benchmark:
        f"{EG_BENCH}/base.tsv"
    conda:
        REPRO_ENV
    threads: 1
    resources:
        runtime=runtime(60, 15),
        gpu=gpus(),
    script:
        "../scripts/common/step.py"


rule entigraph__cpt:
    """Sec. 4.1: continued pretraining on one corpus (raw | rephrase | entigraph) at one token budget, with replay."""
    input:
        base=rules.entigraph__base.output.model,
        generic_train=rules.entigraph__data.output.generic_train,
        articles=rules.entigraph__world.output.articles,
        entigraph=rules.entigraph__synth.output.entigraph,
        rephrase=rules.entigraph__synth.output.rephrase,
        params=f"{EG_OUT}/params/run-{{egrun}}.json",
        code=step_code("entigraph"),
    output:
        model=directory(f"{EG_OUT}/runs/{{egrun}}"),
    log:
        f"{EG_LOG}/cpt/{{egrun}}.log",
    benchmark:
        f"{EG_BENCH}/cpt/{{egrun}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    resources:
        runtime=runtime(41 * 60, 15),
        gpu=gpus(8),
    script:
        "../scripts/common/step.py"


rule entigraph__tiny:
    """Sec. 4.2, Fig. 2, Sec. 5: closed-book QA per run, floors, mixture fit, open-book (retrieval) QA."""
    input:
        **step_inputs("entigraph", "tiny"),
        articles=rules.entigraph__world.output.articles,
        questions=rules.entigraph__world.output.questions,
        entigraph=rules.entigraph__synth.output.entigraph,
        rephrase=rules.entigraph__synth.output.rephrase,
        base=rules.entigraph__base.output.model,
        runs=expand(f"{EG_OUT}/runs/{{egrun}}", egrun=EG_RUNS, allow_missing=True),
    output:
        numbers=f"{EG_OUT}/tiny/numbers.json",
        scaling=f"{EG_OUT}/tiny/scaling.csv",
    log:
        f"{EG_LOG}/tiny.log",
    benchmark:
        f"{EG_BENCH}/tiny.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=runtime(240, 15),
        gpu=gpus(),
    script:
        "../scripts/common/step.py"


rule entigraph__numbers:
    """Merge every step's numbers into results/{scale}/entigraph/numbers.json (keys: see the header)."""
    input:
        parts=numbers_parts("entigraph"),
        code=code_inputs("common/numbers"),
    output:
        numbers=f"{EG_OUT}/numbers.json",
    log:
        f"{EG_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


EG_FIG_INPUTS = {
    "toy_model": {"curves": rules.entigraph__math.output.curves, "numbers": rules.entigraph__math.output.numbers},
    "scaling": {"scaling": rules.entigraph__tiny.output.scaling, "numbers": rules.entigraph__tiny.output.numbers},
}

for _fig in EG_FIGURES:
    figure_rule("entigraph", _fig, EG_FIG_INPUTS[_fig], labels=EG["figures"])


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule entigraph:
    """Every entigraph number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/entigraph/numbers.json",
        figures=figure_files_here("entigraph", EG_FIGURES),
