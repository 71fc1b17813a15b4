# Benchmarking Distributional Alignment of LLMs (Meister, Guestrin, Hashimoto; NAACL 2025).
#
# DAG: distalign__fetch (the released files, pinned commit, sha256) ->
#      cells -> leaderboard -> k2s_gap ; cells -> fewshot_beats_persona ; cells -> replay ;
#      baselines ; tiny (train a char-level GPT on the non-evaluated OpinionQA pool, evaluate through
#      the `tiny` backend) ; live (paper scale only: the live models) -> numbers
#      (results/{scale}/distalign/numbers.json) ; fig_* rules.
# Exact tier = released data (tiny = paper settings; seconds). The paper-scale config names the models,
# backends and prompts of a live rerun (no API keys or GPU here; the rehearsal, scale paper_toy, runs it against
# strict local OpenAI-compatible servers hosting a toy chat model, one question per setting: issue 28).
#
# numbers.json keys (flat, dotted; model names as in the released files: gpt-3.5-turbo-0125, gpt-4,
# anthropic_haiku, anthropic_opus, llama3-70b; method in verbalize, sequence, logprobs, logprobs_ts;
# steering in none, persona, fewshot; dataset in opinionqa, nytimes, globalvalues):
#   cells.<dataset>.<model>.<steering>.<method>.{tv,n}   nan-mean of the released per-question TVs
#   cells.released_table.{max_abs_diff,n_cells,n_within_tolerance}   vs leaderboard_distrib_alignment_all.csv
#   replay.<method>.{max_abs_diff,n_questions,n_exact,nan_mismatch,mean_abs_diff_of_means}   GPT-4 raw
#       outputs replayed + parsed + scored vs the released per-question TVs
#   replay.ts.<dataset>.<steering>.{temperature,tv_before,tv_after}   refitted TS-Log-p (GPT-4)
#   replay.parse.<method>.<reason|note_*>, replay.parse.verbalize.strict_fail_rate, replay.parse.strict.<reason>
#   leaderboard.<model>.<method>.{tv,plain_mean,ci_low,ci_high,err}   main leaderboard (persona + few-shot,
#       mean of the 3 dataset means; tv = bootstrap mean); leaderboard.<model>.<method>.<dataset|both>.tv
#   baselines.<uniform|floor30>.tv (3 datasets), baselines.<uniform|floor30|fewshot_avg>.<dataset|both>.tv,
#   baselines.human.tv (= 1/2 OQA + 1/2 NYT, persona + few-shot), baselines.human.<dataset>[.<steering>].tv,
#   baselines.released.<ground_truth|uniform|LB1|LB2>.{tv,n}   the authors' simulated rows, as released
#   k2s_gap.<model>   TV(sequence) / TV(verbalize) - 1 on the main leaderboard
#   fewshot_beats_persona.{count,cells,mean_tv.<none|persona|fewshot>,recomputed.count,recomputed.cells}
#   tiny.<persona|fewshot>.<verbalize|sequence|logprobs|logprobs_ts|logprobs_ts_cv>.tv, tiny.<steering>.<method>.n,
#   tiny.<steering>.logprobs_ts.temperature, tiny.<method>.parse_fail_rate, tiny.<method>.parse_fail.<reason>,
#   tiny.<steering>.verbalize_lenient.tv, tiny.verbalize_lenient.parse_fail_rate (the paper's lenient V parser),
#   tiny.floor.<uniform|group_prior>.tv (random and count-based sanity floors), tiny.n_questions,
#   tiny.train.{n_params,n_train_questions,n_train_examples,train_tokens,final_eval_loss,overlap_with_evaluated},
#   tiny.<steering>.logprobs_ts_cv.tv (TS-Log-p cross-fitted over two halves of the questions);
#   every seed-dependent tiny key is the mean over tiny.seeds, with its list <key>.per_seed (seed order)
#   live.<model>.<dataset>.<steering>.<method>.{tv,parse_fail_rate}   paper scale only (distalign__live)

DA = paper_params("distalign")
# The released files (rule distalign__fetch, workflow/rules/downloads.smk; list: released_files.tsv): name -> path.
DA_FILE = {name: spec["path"] for name, spec in downloads("distalign").items()}
DA_RAW = {k: v for k, v in DA_FILE.items() if "_gpt_4_" in k or "_gpt_3_5_" in k}
DA_PROMPTS = {k: v for k, v in DA_FILE.items() if k.startswith("inputs_")}
DA_DATA = {k: v for k, v in DA_FILE.items() if k not in DA_RAW and k not in DA_PROMPTS}
DA_OUT = "results/{scale}/distalign"
DA_LOG = "logs/{scale}/distalign"
DA_BENCH = "benchmarks/{scale}/distalign"
DA_FIGURES = {
    "leaderboard": {"table": "leaderboard", "extra": {}},
    "steering": {"table": "cells", "extra": {}},
    "k2s_gap": {"table": "k2s_gap", "extra": {}},
    "tiny": {"table": "tiny", "extra": {}},
}


rule distalign__cells:
    """Sec. 4 / App. table: mean TV per dataset, model, steering and method from the released TVs."""
    input:
        **step_inputs("distalign", "cells"),
        tvs_csv=DA_FILE["eval_disagreement_bootstrapping"],
        cells_csv=DA_FILE["leaderboard_distrib_alignment_all"],
    output:
        numbers=f"{DA_OUT}/cells/numbers.json",
        tvs=f"{DA_OUT}/cells/tvs.csv",
        table=f"{DA_OUT}/cells/table.csv",
    log:
        f"{DA_LOG}/cells.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule distalign__replay:
    """Sec. 3.2: GPT-4's released answers through the replay backend, parsed, scored; TS-Log-p refitted."""
    input:
        **DA_RAW,
        **step_inputs("distalign", "replay"),
        tvs_csv=DA_FILE["eval_disagreement_bootstrapping"],
    output:
        numbers=f"{DA_OUT}/replay/numbers.json",
        table=f"{DA_OUT}/replay/table.csv",
        temperatures=f"{DA_OUT}/replay/temperatures.csv",
    log:
        f"{DA_LOG}/replay.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule distalign__leaderboard:
    """Sec. 4, Fig. 2: main leaderboard (persona + few-shot, 3 datasets), 95% bootstrap intervals."""
    input:
        **step_inputs("distalign", "leaderboard"),
        tvs=rules.distalign__cells.output.tvs,
    output:
        numbers=f"{DA_OUT}/leaderboard/numbers.json",
        table=f"{DA_OUT}/leaderboard/table.csv",
    log:
        f"{DA_LOG}/leaderboard.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule distalign__k2s_gap:
    """Sec. 4.2: knowledge-to-simulation gap TV(Seq)/TV(V) - 1 per model."""
    input:
        leaderboard=rules.distalign__leaderboard.output.table,
        code=step_code("distalign"),
    output:
        numbers=f"{DA_OUT}/k2s_gap/numbers.json",
        table=f"{DA_OUT}/k2s_gap/table.csv",
    log:
        f"{DA_LOG}/k2s_gap.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule distalign__fewshot_beats_persona:
    """Sec. 4.3: cells of the released per-cell table where few-shot steering beats persona steering."""
    input:
        cells_csv=DA_FILE["leaderboard_distrib_alignment_all"],
        cells=rules.distalign__cells.output.table,
        code=step_code("distalign"),
    output:
        numbers=f"{DA_OUT}/fewshot_beats_persona/numbers.json",
        table=f"{DA_OUT}/fewshot_beats_persona/table.csv",
    log:
        f"{DA_LOG}/fewshot_beats_persona.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule distalign__baselines:
    """Sec. 4, Fig. 2: human, uniform, 30-sample floor and few-shot-average baselines."""
    input:
        **DA_DATA,
        **step_inputs("distalign", "baselines"),
        tvs_csv=DA_FILE["eval_disagreement_bootstrapping"],
    output:
        numbers=f"{DA_OUT}/baselines/numbers.json",
        table=f"{DA_OUT}/baselines/table.csv",
    log:
        f"{DA_LOG}/baselines.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule distalign__tiny:
    """End-to-end tiny tier: char-level GPT trained on the non-evaluated OQA pool, evaluated via `tiny`."""
    input:
        **{k: v for k, v in DA_DATA.items() if k.startswith("disagreement_")},
        **step_inputs("distalign", "tiny"),
    output:
        numbers=f"{DA_OUT}/tiny/numbers.json",
        table=f"{DA_OUT}/tiny/table.csv",
    log:
        f"{DA_LOG}/tiny.log",
    benchmark:
        f"{DA_BENCH}/tiny.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=60,
    script:
        "../scripts/common/step.py"


rule distalign__live:
    """Paper scale only: the paper's models (openai/hf backends) on every dataset, steering and method."""
    input:
        **DA_DATA,
        **DA_PROMPTS,
        **step_inputs("distalign", "live"),
    output:
        numbers=f"{DA_OUT}/live/numbers.json",
        table=f"{DA_OUT}/live/table.csv",
    log:
        f"{DA_LOG}/live.log",
    benchmark:
        f"{DA_BENCH}/live.tsv"
    conda:
        REPRO_ENV
    resources:
        runtime=24 * 60,
        gpu=gpus(),
    script:
        "../scripts/common/step.py"


rule distalign__numbers:
    """Merge every step's numbers into results/{scale}/distalign/numbers.json (keys: see the header)."""
    input:
        parts=numbers_parts("distalign"),
        code=code_inputs("common/numbers"),
    output:
        numbers=f"{DA_OUT}/numbers.json",
    log:
        f"{DA_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


DA_FIG_INPUTS = {
    "leaderboard": {
        "leaderboard": rules.distalign__leaderboard.output.table,
        "baselines": rules.distalign__baselines.output.numbers,
    },
    "steering": {"cells": rules.distalign__cells.output.table},
    "k2s_gap": {"k2s_gap": rules.distalign__k2s_gap.output.table},
    "tiny": {"tiny": rules.distalign__tiny.output.table, "numbers": rules.distalign__tiny.output.numbers},
}

for _fig in DA_FIGURES:
    figure_rule("distalign", _fig, DA_FIG_INPUTS[_fig], labels=DA["figures"])


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule distalign:
    """Every distalign number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/distalign/numbers.json",
        figures=figure_files_here("distalign", list(DA_FIGURES)),
