# Scaling Laws for the Value of Individual Data Points in Machine Learning (Covert, Ji, Hashimoto, Zou 2024),
# end-to-end tier (no data were released; everything is generated). Notes: ../shared/papers/datavalue.md.
#
# DAG (E = an experiment "<dataset>-<model>" of params samples.experiments; D = a dataset):
#   datavalue__samples (E) -> datavalue__fit (E) -> datavalue__amortized (D, amortized.model's experiment)
#   fit + amortized (D) -> datavalue__noisy (D with flipped labels), datavalue__addition (D), datavalue__removal (D)
#   fit (D) -> datavalue__matching (D in matching.datasets)
#   datavalue__speed ; every step -> datavalue__numbers (results/{scale}/datavalue/numbers.json)
#   datavalue__fig_{scaling,alpha,amortized,addition,removal,noisy,matching} read the steps' CSV tables.
# Scales: paper = the paper's datasets (IMDB, MiniBooNE, adult, CIFAR-10: network only) and protocol (200 points
# x 5000 subsets x 10 sizes in [100, 1000]); tiny = offline lm_clf (d 20, 10% flipped labels; logreg and a small
# MLP) and scikit-learn's breast_cancer (logreg), a few minutes on 2 cores; smoke = seconds.
#
# numbers.json keys (flat, dotted; u = -validation cross-entropy, psi_k = E_{|D|=k}[u(D+z) - u(D)]):
#   samples.<D>.<model>.{n_fits, n_points, n_samples, n_noisy, k_min, k_max}
#   samples.<D>.<model>.{test_accuracy, majority_test_accuracy, val_cross_entropy, prior_val_cross_entropy}
#       the model trained on the whole pool beside its sanity floors (majority class; class-prior cross-entropy)
#   fit.<D>.<model>.r2_heldout_sizes        R^2 of the MLE law c k^-alpha (fitted on every other size) against the
#       per-size mean contributions at the held-out sizes, pooled over points and sizes (also _log: log-space fit)
#   fit.<D>.<model>.{r2_fit_sizes, alpha_median, alpha_q10, alpha_q90, alpha_median_log, beta_median,
#       frac_negative_c, log_r2_median}, fit.<D>.<model>.r2_by_size.<k>
#   fit.<D>.<model>.spearman_alpha_abs_margin   alpha vs |logit margin| under the full-pool model (clean, c > 0)
#   fit.<D>.<model>.valuation.m<m>.{mc_r2, law_r2}   equal-budget valuation: m subsets per size, R^2 against the
#       MC grid value of the other half of the subsets (Sec. 4.3); .{mc,law}_r2_boot: R^2 on 200 bootstrap
#       resamples of the valued points (paired), .{mc,law}_r2_half_{a,b}: on two disjoint halves of the points
#   amortized.<D>.{r2_vs_mle, mle_subsample_r2_vs_mle, zero_floor_r2_vs_mle, r2_heldout_sizes, samples_per_point,
#       alpha_median}   the network's psi_k vs the full-sample MLE's on the grid (and the per-point MLE from the
#       same few samples; the all-zero predictor is the floor); amortized.<D>.{r2_vs_mle,mle_subsample_r2_vs_mle}
#       _boot (bootstrap over the valued points, paired) and _half_{a,b} (two disjoint halves of the points)
#   noisy.<D>.auroc (value = noisy.method, ranks flipped labels low), noisy.<D>.<method>.auroc for
#       method in {law, amortized, mc, loo}, noisy.<D>.{n_noisy, n_points, random_floor_auroc,
#       negative_c_rate_noisy, negative_c_rate_clean}
#   addition.<D>.<method>.{auc, final_accuracy}, removal.<D>.<method>.{auc, final_accuracy}: method in
#       {law, amortized, mc, loo, random}; auc = mean test accuracy over the curve (addition: higher is better;
#       removal: lower is better); .auc_per_seed: per repeat (random base / random order; paired across methods),
#       addition.<D>.seeds, removal.<D>.seeds: the repeat indices
#   matching.<D>.{small_base,large_base}.{psi_small,psi_large,random}.{gain,gain_sem}: test-accuracy gain of adding
#       the class-balanced top n_add points by psi at k = small_base / large_base to random bases of either size;
#       matching.<D>.spearman_psi_small_large (rank agreement of the two scores); .gain_per_seed: per random base
#       (paired across methods), matching.<D>.seeds: the base indices
#   speed.{batched_vs_naive, n_fits, batched_fits_per_s, naive_fits_per_s, max_abs_coef_diff_vs_sklearn_tight,
#       max_abs_coef_diff_vs_sklearn_default, tolerance_coef, within_tolerance, val_ce_check}  (timings vary)

from snakemake.exceptions import WorkflowError as _DVWorkflowError

from repro.datavalue.data import DataError as _DVDataError, SubsetError as _DVSubsetError
from repro.datavalue.plan import datasets_for as _dv_datasets_for, experiment_key as _dv_key
from repro.datavalue.plan import not_run_jobs as _dv_not_run_jobs, without_loader as _dv_without_loader

DV = paper_params("datavalue")
DV_OUT = "results/{scale}/datavalue"
DV_LOG = "logs/{scale}/datavalue"
DV_BENCH = "benchmarks/{scale}/datavalue"
# Jobs on a dataset without a loader (the paper's remote datasets, issue 37) are left out of the DAG; the merge lists
# each as not_run.<step>.<dataset>[.<model>] with what is missing (issue 28: nothing raises for being missing).
_DV_NO_LOADER = _dv_without_loader(DV)
DV_EXPERIMENTS = [_dv_key(e) for e in DV["samples"]["experiments"] if e["dataset"] not in _DV_NO_LOADER]
DV_AMORTIZED = [d for d in _dv_datasets_for(DV, "amortized") if d not in _DV_NO_LOADER]
DV_NOISY = [d for d in _dv_datasets_for(DV, "noisy") if d not in _DV_NO_LOADER]
DV_ADDITION = [d for d in _dv_datasets_for(DV, "addition") if d not in _DV_NO_LOADER]
DV_REMOVAL = [d for d in _dv_datasets_for(DV, "removal") if d not in _DV_NO_LOADER]
DV_MATCHING = [d for d in DV["matching"]["datasets"] if d not in _DV_NO_LOADER]
DV_AM_MODEL = DV["amortized"]["model"]

# Bad input is a named error at parse time: unknown dataset/model keys, a size grid larger than the
# dataset, or a class too small for a balanced subset (offline datasets; the step checks again).
# The check loads the datasets: cached by a fingerprint of the params and the code (common.smk parse_cache).
try:
    _DV_FILES = parse_cache("datavalue-plan", "repro.datavalue.plan:checked_params_files", DV)
except (_DVSubsetError, _DVDataError, ValueError) as _err:
    raise _DVWorkflowError(f"params.yaml datavalue ({SCALE}): {_err}") from None
for _stem, _cfg in _DV_FILES.items():
    params_file("datavalue", _stem, _cfg)  # results/{SCALE}/datavalue/params/<stem>.json, written when changed

# (which (dataset, model) pairs run is in params; the rules below cover them by wildcards)
DV_FIGURES = {
    "scaling": {f"curves_{e}": f"{DV_OUT}/fit/{e}/curves.csv" for e in DV_EXPERIMENTS},
    "alpha": {f"laws_{e}": f"{DV_OUT}/fit/{e}/laws.csv" for e in DV_EXPERIMENTS},
    "amortized": {
        **{f"values_{d}": f"{DV_OUT}/amortized/{d}/values.csv" for d in DV_AMORTIZED},
        **{f"laws_{d}": f"{DV_OUT}/fit/{d}-{DV_AM_MODEL}/laws.csv" for d in DV_AMORTIZED},
    },
    "addition": {f"curves_{d}": f"{DV_OUT}/addition/{d}/curves.csv" for d in DV_ADDITION},
    "removal": {f"curves_{d}": f"{DV_OUT}/removal/{d}/curves.csv" for d in DV_REMOVAL},
    "noisy": {f"scores_{d}": f"{DV_OUT}/noisy/{d}/scores.csv" for d in DV_NOISY},
    "matching": {f"gains_{d}": f"{DV_OUT}/matching/{d}/gains.csv" for d in DV_MATCHING},
}


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    model="[A-Za-z0-9_]+",


rule datavalue__samples:
    """Sec. 3: marginal contributions u(D + z) - u(D) at class-balanced subsets on a geometric size grid (+ LOO)."""
    input:
        params=f"{DV_OUT}/params/samples-{{dataset}}-{{model}}.json",
        code=step_code("datavalue"),
    output:
        numbers=f"{DV_OUT}/samples/{{dataset}}-{{model}}/numbers.json",
        contributions=f"{DV_OUT}/samples/{{dataset}}-{{model}}/contributions.csv",
        points=f"{DV_OUT}/samples/{{dataset}}-{{model}}/points.csv",
    log:
        f"{DV_LOG}/samples/{{dataset}}-{{model}}.log",
    benchmark:
        f"{DV_BENCH}/samples/{{dataset}}-{{model}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    resources:
        gpu=gpus(),
        runtime=1440 if SCALE == "paper" else 10,
    script:
        "../scripts/common/step.py"


rule datavalue__fit:
    """Sec. 4.1-4.3: MLE and log-space laws psi_k = c k^-alpha; R^2 on held-out sizes; equal-budget valuation."""
    input:
        contributions=rules.datavalue__samples.output.contributions,
        points=rules.datavalue__samples.output.points,
        params=f"{DV_OUT}/params/fit-{{dataset}}-{{model}}.json",
        code=step_code("datavalue"),
    output:
        numbers=f"{DV_OUT}/fit/{{dataset}}-{{model}}/numbers.json",
        laws=f"{DV_OUT}/fit/{{dataset}}-{{model}}/laws.csv",
        curves=f"{DV_OUT}/fit/{{dataset}}-{{model}}/curves.csv",
    log:
        f"{DV_LOG}/fit/{{dataset}}-{{model}}.log",
    benchmark:
        f"{DV_BENCH}/fit/{{dataset}}-{{model}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    script:
        "../scripts/common/step.py"


rule datavalue__amortized:
    """Sec. 4.2: the amortised estimator (a network predicts each point's law) from a few samples per point."""
    input:
        contributions=f"{DV_OUT}/samples/{{dataset}}-{DV_AM_MODEL}/contributions.csv",
        points=f"{DV_OUT}/samples/{{dataset}}-{DV_AM_MODEL}/points.csv",
        laws=f"{DV_OUT}/fit/{{dataset}}-{DV_AM_MODEL}/laws.csv",
        params=f"{DV_OUT}/params/amortized-{{dataset}}.json",
        code=step_code("datavalue"),
    output:
        numbers=f"{DV_OUT}/amortized/{{dataset}}/numbers.json",
        values=f"{DV_OUT}/amortized/{{dataset}}/values.csv",
    log:
        f"{DV_LOG}/amortized/{{dataset}}.log",
    conda:
        REPRO_ENV
    threads: 1
    script:
        "../scripts/common/step.py"


rule datavalue__noisy:
    """Noisy-label detection: AUROC of -value for the flipped labels (law, amortised, MC, LOO; random = 0.5)."""
    input:
        laws=f"{DV_OUT}/fit/{{dataset}}-{DV_AM_MODEL}/laws.csv",
        amortized=rules.datavalue__amortized.output.values,
        params=f"{DV_OUT}/params/noisy-{{dataset}}.json",
        code=step_code("datavalue"),
    output:
        numbers=f"{DV_OUT}/noisy/{{dataset}}/numbers.json",
        scores=f"{DV_OUT}/noisy/{{dataset}}/scores.csv",
    log:
        f"{DV_LOG}/noisy/{{dataset}}.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/step.py"


rule datavalue__addition:
    """Sec. 4.4: add the valued points by decreasing value to a random base; test accuracy per method."""
    input:
        laws=f"{DV_OUT}/fit/{{dataset}}-{DV['addition']['model']}/laws.csv",
        amortized=rules.datavalue__amortized.output.values,
        params=f"{DV_OUT}/params/addition-{{dataset}}.json",
        code=step_code("datavalue"),
    output:
        numbers=f"{DV_OUT}/addition/{{dataset}}/numbers.json",
        curves=f"{DV_OUT}/addition/{{dataset}}/curves.csv",
    log:
        f"{DV_LOG}/addition/{{dataset}}.log",
    benchmark:
        f"{DV_BENCH}/addition/{{dataset}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    script:
        "../scripts/common/step.py"


rule datavalue__removal:
    """Point removal: drop the valued points by decreasing value; test accuracy per method."""
    input:
        laws=f"{DV_OUT}/fit/{{dataset}}-{DV['removal']['model']}/laws.csv",
        amortized=rules.datavalue__amortized.output.values,
        params=f"{DV_OUT}/params/removal-{{dataset}}.json",
        code=step_code("datavalue"),
    output:
        numbers=f"{DV_OUT}/removal/{{dataset}}/numbers.json",
        curves=f"{DV_OUT}/removal/{{dataset}}/curves.csv",
    log:
        f"{DV_LOG}/removal/{{dataset}}.log",
    benchmark:
        f"{DV_BENCH}/removal/{{dataset}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    script:
        "../scripts/common/step.py"


rule datavalue__matching:
    """Sec. 4.4: top points by psi at the small / large size added to small / large random bases (accuracy gain)."""
    input:
        laws=f"{DV_OUT}/fit/{{dataset}}-{DV['matching']['model']}/laws.csv",
        params=f"{DV_OUT}/params/matching-{{dataset}}.json",
        code=step_code("datavalue"),
    output:
        numbers=f"{DV_OUT}/matching/{{dataset}}/numbers.json",
        gains=f"{DV_OUT}/matching/{{dataset}}/gains.csv",
    log:
        f"{DV_LOG}/matching/{{dataset}}.log",
    benchmark:
        f"{DV_BENCH}/matching/{{dataset}}.tsv"
    conda:
        REPRO_ENV
    threads: 1
    script:
        "../scripts/common/step.py"


rule datavalue__speed:
    """Batched torch logistic regressions vs a loop of scikit-learn fits (throughput; same fits to a tolerance)."""
    input:
        params=f"{DV_OUT}/params/speed.json",
        code=step_code("datavalue"),
    output:
        numbers=f"{DV_OUT}/speed/numbers.json",
    log:
        f"{DV_LOG}/speed.log",
    benchmark:
        f"{DV_BENCH}/speed.tsv"
    conda:
        REPRO_ENV
    threads: 1
    script:
        "../scripts/common/step.py"


# Asked here, below the step rules: whether a step runs is known once the rules it reads from are defined.
DV_NOT_RUN_JOBS = {  # only for steps that run here (a step that does not run says so for all its jobs)
    key: why for key, why in _dv_not_run_jobs(DV).items() if runs_here("datavalue", key.split(".")[1])
}


rule datavalue__numbers:
    """results/{scale}/datavalue/numbers.json: flat dotted keys (see the header), duplicates refused."""
    input:
        # per step, only where it runs; the steps declared not run here add their reasons (not_run_part)
        parts=[
            path
            for step, items in [
                ("samples", DV_EXPERIMENTS),
                ("fit", DV_EXPERIMENTS),
                ("amortized", DV_AMORTIZED),
                ("noisy", DV_NOISY),
                ("addition", DV_ADDITION),
                ("removal", DV_REMOVAL),
                ("matching", DV_MATCHING),
            ]
            if runs_here("datavalue", step)
            for path in expand(f"{DV_OUT}/{step}/{{e}}/numbers.json", e=items, allow_missing=True)
        ]
        + ([f"{DV_OUT}/speed/numbers.json"] if runs_here("datavalue", "speed") else [])
        + not_run_part("datavalue")
        + ([params_file("datavalue", "not_run_jobs", DV_NOT_RUN_JOBS)] if DV_NOT_RUN_JOBS else []),
        code=code_inputs("common/numbers"),
    output:
        numbers=f"{DV_OUT}/numbers.json",
    log:
        f"{DV_LOG}/numbers.log",
    conda:
        REPRO_ENV
    script:
        "../scripts/common/numbers.py"


for _fig, _inputs in DV_FIGURES.items():
    figure_rule("datavalue", _fig, _inputs)


# The paper's target, after its figure_rule calls (figure_files_here reads them).
rule datavalue:
    """Every datavalue number and figure at the configured scale (a figure whose inputs come from a step declared not
    run at this scale is left out: figure_files_here)."""
    input:
        numbers=f"results/{SCALE}/datavalue/numbers.json",
        figures=figure_files_here("datavalue", list(DV_FIGURES)),
