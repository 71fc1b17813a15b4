"""Per-point scaling laws: how a data point's marginal contribution decays with the dataset size, and its estimators.

The paper: ``workflow/papers.yaml``, ``papers.datavalue.title`` (ICML 2024, arXiv 2405.20456).

Modules: :mod:`.data` (datasets, label flips, class-balanced subsets), :mod:`.solvers` (batched
logistic-regression and MLP fits in torch), :mod:`.contributions` (marginal contributions with common
random numbers, Sec. 3), :mod:`.laws` (log-space and maximum-likelihood fits of psi_k = c k^-alpha,
Sec. 4.1-4.2), :mod:`.amortized` (the amortised estimator, Sec. 4.2), :mod:`.experiments` (valuation,
point addition / removal, noisy labels, Sec. 4.3-4.4), :mod:`.steps` (the workflow steps) and
:mod:`.figures`.
"""
