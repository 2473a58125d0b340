"""Every statistic `kopt compare` reports, in one place, on top of ``scipy.stats`` distributions.

Conventions: ``a`` and ``b`` are paired score vectors (one entry per fold, or per test
example for the test-set tests); every difference is ``a - b``; p-values are two-sided.
A statistic that is undefined (e.g. a t statistic when every fold difference is identical)
is NaN with the reason in ``detail["note"]``, never an invented number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as st


@dataclass
class StatResult:
    name: str
    statistic: float
    p_value: float
    df: float | list[float] | None
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "statistic": self.statistic, "p_value": self.p_value, "df": self.df, **self.detail}


def _paired(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores need equal 1-d shapes, got {a.shape} and {b.shape}")
    return a - b


def _t_from_se(name: str, d: np.ndarray, se: float, df: int, level: float, detail: dict) -> StatResult:
    """t = mean(d) / se with a Student t(df) reference; NaN when se is 0 (no variation)."""
    mean = float(d.mean())
    half = float(st.t.ppf(0.5 + level / 2, df)) * se
    detail = {"mean_difference": mean, "ci_low": mean - half, "ci_high": mean + half, "ci_level": level, **detail}
    if se == 0.0:
        return StatResult(
            name, math.nan, math.nan, df, {**detail, "note": "every difference is identical: no variance"}
        )
    t = mean / se
    return StatResult(name, t, float(2 * st.t.sf(abs(t), df)), df, detail)


def paired_t_test(a, b, level: float = 0.95) -> StatResult:
    """Student's paired t-test on fold scores: t = mean(d) / (s_d / sqrt(J)), J - 1 df.

    Student (1908), "The probable error of a mean", Biometrika 6(1):1-25. Dietterich (1998)
    shows it is too liberal on resampled folds (the folds share training data), which is what
    :func:`corrected_resampled_t_test` corrects; it is reported for reference.
    """
    d = _paired(a, b)
    n = len(d)
    if n < 2:
        raise ValueError("the paired t-test needs at least 2 pairs")
    se = float(d.std(ddof=1)) / math.sqrt(n)
    return _t_from_se("paired_t", d, se, n - 1, level, {})


def corrected_resampled_t_test(a, b, n_train: float, n_test: float, level: float = 0.95) -> StatResult:
    """Nadeau-Bengio corrected resampled t-test: t = mean(d) / sqrt((1/J + n_test/n_train) s_d^2), J - 1 df.

    Nadeau & Bengio (2003), "Inference for the Generalization Error", Machine Learning
    52(3):239-281: the naive variance s_d^2 / J ignores the correlation between folds that
    share training data; the factor n_test/n_train corrects for it (Bouckaert & Frank 2004
    recommend it for (repeated) k-fold CV). With n_test/n_train -> 0 it is the paired t-test.
    """
    d = _paired(a, b)
    n = len(d)
    if n < 2:
        raise ValueError("the corrected resampled t-test needs at least 2 pairs")
    if n_train <= 0 or n_test <= 0:
        raise ValueError("n_train and n_test must be positive")
    factor = 1.0 / n + float(n_test) / float(n_train)
    se = math.sqrt(factor * float(d.var(ddof=1)))
    return _t_from_se(
        "corrected_resampled_t",
        d,
        se,
        n - 1,
        level,
        {"n_train": float(n_train), "n_test": float(n_test), "variance_factor": factor},
    )


def _five_by_two(a, b) -> np.ndarray:
    """Differences as a (5 repetitions, 2 folds) array; flat input is repetition-major."""
    d = _paired(np.ravel(a), np.ravel(b))
    if d.size != 10:
        raise ValueError(f"5x2cv needs 10 paired scores (5 repetitions x 2 folds), got {d.size}")
    return d.reshape(5, 2)


def _five_by_two_variances(p: np.ndarray) -> np.ndarray:
    """s_i^2 = (p_i1 - pbar_i)^2 + (p_i2 - pbar_i)^2 for each repetition i."""
    return ((p - p.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)


def cv5x2_t_test(a, b) -> StatResult:
    """Dietterich's 5x2cv paired t-test: t = p_1^(1) / sqrt(sum_i s_i^2 / 5), 5 df.

    Dietterich (1998), "Approximate Statistical Tests for Comparing Supervised Classification
    Learning Algorithms", Neural Computation 10(7):1895-1923, section 3.5. p_i^(j) is the
    score difference on fold j of repetition i; only the first fold's difference is the
    numerator, the five within-repetition variances s_i^2 the denominator.
    """
    p = _five_by_two(a, b)
    s2 = _five_by_two_variances(p)
    detail = {"mean_difference": float(p.mean()), "numerator": float(p[0, 0]), "variances": s2.tolist()}
    denom = math.sqrt(float(s2.sum()) / 5.0)
    if denom == 0.0:
        return StatResult("cv5x2_t", math.nan, math.nan, 5, {**detail, "note": "every s_i^2 is 0: no variance"})
    t = float(p[0, 0]) / denom
    return StatResult("cv5x2_t", t, float(2 * st.t.sf(abs(t), 5)), 5, detail)


def cv5x2_f_test(a, b) -> StatResult:
    """Alpaydın's combined 5x2cv F-test: f = sum_ij (p_i^(j))^2 / (2 sum_i s_i^2), F(10, 5).

    Alpaydın (1999), "Combined 5x2 cv F Test for Comparing Supervised Classification Learning
    Algorithms", Neural Computation 11(8):1885-1892. It uses all ten differences instead of
    one, which makes it more robust than the 5x2cv t-test. Two-sided by construction (f >= 0);
    the sign of the effect is the mean difference.
    """
    p = _five_by_two(a, b)
    s2 = _five_by_two_variances(p)
    detail = {"mean_difference": float(p.mean()), "variances": s2.tolist()}
    denom = 2.0 * float(s2.sum())
    if denom == 0.0:
        return StatResult("cv5x2_f", math.nan, math.nan, [10, 5], {**detail, "note": "every s_i^2 is 0: no variance"})
    f = float((p**2).sum()) / denom
    return StatResult("cv5x2_f", f, float(st.f.sf(f, 10, 5)), [10, 5], detail)


def wilcoxon_min_p(n: int) -> float:
    """The smallest two-sided p-value the signed-rank test can reach with n non-zero pairs."""
    return min(1.0, 2.0 * 0.5**n)


def wilcoxon_signed_rank(a, b) -> StatResult:
    """Wilcoxon signed-rank test, exact: W+ = sum of the ranks of |d| over positive d.

    Wilcoxon (1945), "Individual Comparisons by Ranking Methods", Biometrics Bulletin
    1(6):80-83. Zero differences are dropped (Wilcoxon's convention), tied |d| get average
    ranks (``scipy.stats.rankdata``), and the p-value is exact under the permutation
    (sign-flip) null conditional on those ranks, so ties (common with accuracies on folds
    of equal size) need no normal approximation. Two-sided: 2 x the smaller tail, capped at 1.
    """
    d = _paired(a, b)
    mean = float(d.mean()) if d.size else 0.0
    d = d[d != 0]
    n = int(d.size)
    if n == 0:
        return StatResult(
            "wilcoxon", 0.0, 1.0, None, {"n_nonzero": 0, "mean_difference": mean, "note": "every difference is 0"}
        )
    ranks = st.rankdata(np.abs(d))
    doubled = np.rint(2 * ranks).astype(np.int64)  # average ranks are multiples of 1/2
    # probability of each achievable doubled W+ under independent fair signs
    dist = np.zeros(int(doubled.sum()) + 1)
    dist[0] = 1.0
    for r in doubled:
        dist = 0.5 * dist + 0.5 * np.concatenate([np.zeros(r), dist[:-r]])
    observed = int(doubled[d > 0].sum())
    lower, upper = float(dist[: observed + 1].sum()), float(dist[observed:].sum())
    p = min(1.0, 2.0 * min(lower, upper))
    return StatResult("wilcoxon", observed / 2.0, p, None, {"n_nonzero": n, "mean_difference": mean})


def mcnemar_exact(correct_a, correct_b) -> StatResult:
    """Exact (conditional binomial) McNemar test on paired per-example correctness.

    McNemar (1947), "Note on the sampling error of the difference between correlated
    proportions or percentages", Psychometrika 12(2):153-157; the exact form conditions on
    the n = b + c discordant pairs: b ~ Binomial(n, 1/2) under H0, p = min(1, 2 P(X <= min(b, c)))
    (Fagerland, Lydersen & Laake 2013, BMC Med. Res. Methodol. 13:91, eq. 1). Dietterich (1998)
    recommends McNemar for a single test set. The statistic is min(b, c).
    """
    ca, cb = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if ca.shape != cb.shape:
        raise ValueError(f"paired correctness needs equal shapes, got {ca.shape} and {cb.shape}")
    only_a, only_b = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
    n = only_a + only_b
    detail = {
        "a_only_correct": only_a,
        "b_only_correct": only_b,
        "n": int(ca.size),
        "mean_difference": float(ca.mean() - cb.mean()) if ca.size else 0.0,
    }
    if n == 0:
        return StatResult("mcnemar_exact", 0.0, 1.0, None, detail)
    k = min(only_a, only_b)
    return StatResult("mcnemar_exact", float(k), float(min(1.0, 2.0 * st.binom.cdf(k, n, 0.5))), None, detail)


def paired_bootstrap(correct_a, correct_b, resamples: int = 10_000, seed: int = 0, level: float = 0.95) -> StatResult:
    """Paired bootstrap percentile CI of the accuracy difference acc(a) - acc(b) on one test set.

    Efron & Tibshirani (1993), "An Introduction to the Bootstrap", ch. 13 (percentile interval);
    paired over test examples as in Koehn (2004), "Statistical Significance Tests for Machine
    Translation Evaluation", EMNLP. Each example's difference d_i = [a right] - [b right] is -1,
    0 or +1, so a resample of n examples (with replacement) is summarised exactly by how many
    +1 and -1 it drew: Multinomial(n, (n+/n, n-/n, n0/n)). Drawing those counts is the same
    distribution as resampling indices, in O(resamples) time and memory, whatever n is.
    The p-value inverts the percentile interval: with k the smaller number of the B resampled
    differences on either side of 0 (ties count on both), each tail is (k + 1) / (B + 1), the
    observed sample counted as one of the resamples (Davison & Hinkley 1997, "Bootstrap Methods
    and their Application", eq. 4.11; North, Curtis & Sham 2002, Am. J. Hum. Genet. 71:439), so
    it is never 0; two-sided: doubled, capped at 1. p < 1 - level when the interval excludes 0
    (up to the interval's quantile interpolation and the +1).
    """
    d = _paired(np.asarray(correct_a, dtype=np.float64), np.asarray(correct_b, dtype=np.float64))
    n = d.size
    if n == 0:
        raise ValueError("the bootstrap needs at least one test example")
    pos, neg = float(np.sum(d > 0)) / n, float(np.sum(d < 0)) / n
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [pos, neg, max(0.0, 1.0 - pos - neg)], size=int(resamples))
    diffs = (counts[:, 0] - counts[:, 1]) / n
    alpha = 1.0 - level
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    k = min(int(np.sum(diffs <= 0)), int(np.sum(diffs >= 0)))
    p = min(1.0, 2.0 * (k + 1) / (int(resamples) + 1))
    observed = float(d.mean())
    return StatResult(
        "paired_bootstrap",
        observed,
        p,
        None,
        {
            "mean_difference": observed,
            "ci_low": float(low),
            "ci_high": float(high),
            "ci_level": level,
            "resamples": int(resamples),
            "seed": int(seed),
        },
    )


def wilcoxon_per_example(name: str, a, b) -> StatResult:
    """Wilcoxon signed-rank test on paired per-example losses (``scipy.stats.wilcoxon`` of d = a - b).

    For one test set with a per-example loss that is not a 0/1 correctness: a regression's absolute
    errors, a multi-label example's Hamming error. Its unit is the test example, the independent
    draw (a multi-label example's labels are not independent of each other). H0: d is symmetric
    about 0. Zero differences are dropped (``zero_method='wilcox'``, Wilcoxon 1945); scipy's
    ``method='auto'`` gives the exact null distribution for up to 50 non-zero pairs without ties, the
    normal approximation with the tie correction otherwise. The statistic is scipy's,
    min(W+, W-); which side has the smaller losses is told by the rank sums (``rank_sum_positive``:
    the ranks of |d| where a's loss is the larger), and ``verdict_difference`` = W+ - W- carries it.
    """
    d = _paired(a, b)
    mean = float(d.mean()) if d.size else 0.0
    nonzero = d[d != 0]
    detail = {"mean_difference": mean, "n": int(d.size), "n_nonzero": int(nonzero.size)}
    if nonzero.size == 0:
        return StatResult(name, 0.0, 1.0, None, {**detail, "verdict_difference": 0.0, "note": "every difference is 0"})
    ranks = st.rankdata(np.abs(nonzero))
    plus, minus = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
    res = st.wilcoxon(d, zero_method="wilcox", alternative="two-sided", method="auto")
    return StatResult(
        name,
        float(res.statistic),
        float(res.pvalue),
        None,
        {**detail, "rank_sum_positive": plus, "rank_sum_negative": minus, "verdict_difference": plus - minus},
    )


def paired_bootstrap_mean(name: str, a, b, resamples: int = 10_000, seed: int = 0, level: float = 0.95) -> StatResult:
    """Paired bootstrap percentile CI of mean(a) - mean(b) over one test set's examples (a per-example loss).

    ``scipy.stats.bootstrap`` of the mean of d = a - b, percentile interval (Efron & Tibshirani
    1993, ch. 13): resampling the examples' d resamples a's and b's losses jointly, which is the
    paired bootstrap. The p-value inverts the interval as :func:`paired_bootstrap` does:
    p = 2 (k + 1) / (B + 1), capped at 1, with k the smaller number of resampled differences on
    either side of 0 (Davison & Hinkley 1997, eq. 4.11), so it is never 0.
    """
    d = _paired(a, b)
    n = d.size
    if n == 0:
        raise ValueError("the bootstrap needs at least one test example")
    observed = float(d.mean())
    detail = {"mean_difference": observed, "ci_level": level, "resamples": int(resamples), "seed": int(seed)}
    if np.all(d == d[0]):  # (scipy warns on a degenerate distribution): every resample is the observed mean
        return StatResult(
            name, observed, 1.0 if observed == 0 else 2.0 / (int(resamples) + 1), None,
            {**detail, "ci_low": observed, "ci_high": observed, "note": "every difference is identical"},
        )  # fmt: skip
    res = st.bootstrap(
        (d,),
        np.mean,
        n_resamples=int(resamples),
        batch=max(1, 10_000_000 // n),  # at most ~80 MB of resampled indices at a time, whatever n is
        vectorized=True,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    diffs = res.bootstrap_distribution
    k = min(int(np.sum(diffs <= 0)), int(np.sum(diffs >= 0)))
    p = min(1.0, 2.0 * (k + 1) / (int(resamples) + 1))
    ci = res.confidence_interval
    return StatResult(name, observed, p, None, {**detail, "ci_low": float(ci.low), "ci_high": float(ci.high)})
