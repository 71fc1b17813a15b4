"""The human-study statistics (paper Sec. 5 and App. "Overall, per idea, per topic"; Tables 7-8).

Test 1 treats every review as a data point, Test 2 every idea (the mean of its
reviews); both compare AI and AI+Rerank with Human by two-tailed Welch t-tests
(unequal variances) with a Bonferroni correction over the five metrics, separately
for each comparison. The per-topic breakdown repeats the Welch test within a topic
with a Bonferroni factor of 10 (5 metrics x 2 comparisons). The mixed-effects model
(statsmodels ``MixedLM``) regresses a score on the condition with the random effects
the released data supports: a random intercept per topic and one per idea (nested in
its topic). The reviewer effect of the paper's model cannot be fitted: reviewer ids
were withheld from the release (:data:`REVIEWER_TERM`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from repro.ideagen.data import CONDITIONS, METRICS

BASELINE = "Human"
REVIEWER_TERM = "omitted: reviewer ids are not in the released data (no 'name' column)"


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-tailed Welch t-test of ``a`` vs ``b``: (t, p). Needs at least two values on each side."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan")
    t, p = stats.ttest_ind(a, b, equal_var=False)
    return float(t), float(p)


def bonferroni(p: Sequence[float], factor: int) -> np.ndarray:
    """min(factor * p, 1), NaN kept."""
    return np.minimum(np.asarray(p, float) * factor, 1.0)


def mean_ci(x: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean (sd with ddof = 1)."""
    x = np.asarray(x, float)
    if len(x) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def compare_conditions(units: pd.DataFrame, metrics: Sequence[str] = METRICS, ci_level: float = 0.95) -> pd.DataFrame:
    """Tests 1 and 2: one row per (metric, condition).

    ``units`` has a ``condition`` column and one column per metric (reviews for
    Test 1, idea means for Test 2). Columns: n, mean, sd (ddof = 0, as printed in
    the paper's tables), ci_low/ci_high, and for AI / AI_Rerank the Welch t and p
    against Human and p_adj (Bonferroni over ``len(metrics)``, per comparison).
    """
    missing = [c for c in ("condition", *metrics) if c not in units]
    if missing:
        raise KeyError(f"compare_conditions: missing column(s) {missing}")
    rows = []
    for metric in metrics:
        base = units.loc[units["condition"] == BASELINE, metric].to_numpy(float)
        for cond in CONDITIONS:
            x = units.loc[units["condition"] == cond, metric].to_numpy(float)
            lo, hi = mean_ci(x, ci_level)
            t, p = (float("nan"), float("nan")) if cond == BASELINE else welch(x, base)
            rows.append(
                {
                    "metric": metric,
                    "condition": cond,
                    "n": len(x),
                    "mean": x.mean() if len(x) else np.nan,
                    "sd": x.std(ddof=0) if len(x) else np.nan,
                    "ci_low": lo,
                    "ci_high": hi,
                    "t": t,
                    "p": p,
                }
            )
    out = pd.DataFrame(rows)
    out["p_adj"] = np.nan
    for cond in CONDITIONS:
        if cond != BASELINE:
            sel = out["condition"] == cond
            out.loc[sel, "p_adj"] = bonferroni(out.loc[sel, "p"], len(metrics))
    return out


def per_topic(reviews: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Per-topic breakdown: Welch t per topic x metric x comparison, p_adj = min(10 p, 1).

    The factor is ``len(metrics) * 2`` (= 10): the five metrics and the two comparisons.
    """
    rows = []
    factor = len(metrics) * (len(CONDITIONS) - 1)
    for topic, grp in reviews.groupby("topic", sort=True):
        for metric in metrics:
            base = grp.loc[grp["condition"] == BASELINE, metric].to_numpy(float)
            for cond in CONDITIONS[1:]:
                x = grp.loc[grp["condition"] == cond, metric].to_numpy(float)
                t, p = welch(x, base)
                rows.append(
                    {
                        "topic": topic,
                        "metric": metric,
                        "condition": cond,
                        "n": len(x),
                        "n_human": len(base),
                        "mean": x.mean() if len(x) else np.nan,
                        "mean_human": base.mean() if len(base) else np.nan,
                        "t": t,
                        "p": p,
                    }
                )
    out = pd.DataFrame(rows)
    out["p_adj"] = bonferroni(out["p"], factor)
    return out


@dataclass(frozen=True)
class MixedFit:
    """Fixed effects of a condition (vs Human) and the fitted variance components."""

    metric: str
    coef: dict[str, float]  # condition -> coefficient (score difference vs Human)
    pvalue: dict[str, float]  # condition -> Wald p-value
    intercept: float  # Human mean score under the model
    var_topic: float  # random-intercept variance of topics
    var_idea: float  # random-intercept variance of ideas (within topic)
    var_residual: float
    converged: bool
    n_obs: int


def mixed_model(reviews: pd.DataFrame, metric: str, method: str = "lbfgs", reml: bool = True) -> MixedFit:
    """``score ~ condition`` with random intercepts for topic and for idea (nested in topic).

    statsmodels ``MixedLM`` with ``groups = topic`` and the idea as a variance
    component; Human is the reference level. The paper's reviewer intercept is not
    fitted: reviewer ids are withheld (:data:`REVIEWER_TERM`).
    """
    import statsmodels.formula.api as smf

    df = reviews[["topic", "idea_id", "condition", metric]].rename(columns={metric: "score"}).copy()
    formula = f"score ~ C(condition, Treatment('{BASELINE}'))"
    model = smf.mixedlm(formula, df, groups="topic", re_formula="1", vc_formula={"idea": "0 + C(idea_id)"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(method=method, reml=reml)
    coef, pval = {}, {}
    for cond in CONDITIONS[1:]:
        name = f"C(condition, Treatment('{BASELINE}'))[T.{cond}]"
        coef[cond] = float(res.fe_params[name])
        pval[cond] = float(res.pvalues[name])
    return MixedFit(
        metric=metric,
        coef=coef,
        pvalue=pval,
        intercept=float(res.fe_params["Intercept"]),
        var_topic=float(res.cov_re.iloc[0, 0]),
        var_idea=float(res.vcomp[0]),
        var_residual=float(res.scale),
        converged=bool(res.converged),
        n_obs=int(res.nobs),
    )
