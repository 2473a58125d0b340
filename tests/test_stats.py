"""kopt.stats: each statistic against published worked examples and against recomputations
from scipy.stats primitives (distributions, rankdata, binomtest, ttest_rel, wilcoxon)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as st

from kopt import stats

# Fixed fold scores (accuracies) of two models over 10 folds, repetition-major for 5x2cv.
A10 = np.array([0.912, 0.905, 0.921, 0.899, 0.915, 0.908, 0.903, 0.917, 0.910, 0.906])
B10 = np.array([0.901, 0.899, 0.915, 0.902, 0.904, 0.897, 0.899, 0.905, 0.903, 0.904])


# --- paired t ---------------------------------------------------------------------------------


def test_paired_t_matches_student_sleep_data():
    """Student (1908) / Cushny & Peebles sleep data, as in R's `t.test(extra ~ group, paired = TRUE)`:
    t = -4.0621, df = 9, p-value = 0.002833, 95% CI -2.4598858 .. -0.7001142."""
    drug1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    drug2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    r = stats.paired_t_test(drug1, drug2)
    assert r.statistic == pytest.approx(-4.0621, abs=5e-5)
    assert r.df == 9
    assert r.p_value == pytest.approx(0.002833, abs=5e-7)
    assert r.detail["ci_low"] == pytest.approx(-2.4598858, abs=1e-6)
    assert r.detail["ci_high"] == pytest.approx(-0.7001142, abs=1e-6)


def test_paired_t_matches_scipy_ttest_rel():
    r = stats.paired_t_test(A10, B10)
    ref = st.ttest_rel(A10, B10)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert r.df == len(A10) - 1


def test_paired_t_without_variance_is_undefined_not_invented():
    r = stats.paired_t_test([0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    assert math.isnan(r.statistic) and math.isnan(r.p_value)
    assert "no variance" in r.detail["note"]


# --- Nadeau-Bengio corrected resampled t ------------------------------------------------------


def test_corrected_t_recomputed_from_the_formula():
    n_train, n_test = 1150.0, 288.0
    r = stats.corrected_resampled_t_test(A10, B10, n_train, n_test)
    d = A10 - B10
    J = len(d)
    t = d.mean() / math.sqrt((1 / J + n_test / n_train) * d.var(ddof=1))
    assert r.statistic == pytest.approx(t, rel=1e-12)
    assert r.p_value == pytest.approx(2 * st.t.sf(abs(t), J - 1), rel=1e-10)
    assert r.df == J - 1
    half = st.t.ppf(0.975, J - 1) * math.sqrt((1 / J + n_test / n_train) * d.var(ddof=1))
    assert (r.detail["ci_low"], r.detail["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-12)


def test_corrected_t_is_more_conservative_and_reduces_to_the_paired_t():
    plain = stats.paired_t_test(A10, B10)
    corrected = stats.corrected_resampled_t_test(A10, B10, 100.0, 100.0)
    assert abs(corrected.statistic) < abs(plain.statistic)
    assert corrected.p_value > plain.p_value
    # t_corrected = t_plain * sqrt((1/J) / (1/J + n_test/n_train))
    assert corrected.statistic == pytest.approx(plain.statistic * math.sqrt(0.1 / 1.1), rel=1e-12)
    vanishing = stats.corrected_resampled_t_test(A10, B10, 1e12, 1e-6)
    assert vanishing.statistic == pytest.approx(plain.statistic, rel=1e-9)


# --- 5x2cv t and F ----------------------------------------------------------------------------


def _five_by_two_by_hand(a, b):
    """Dietterich (1998) eq. for p_i^(j) and s_i^2, with plain Python loops."""
    p = [[a[2 * i + j] - b[2 * i + j] for j in range(2)] for i in range(5)]
    s2 = []
    for i in range(5):
        mean = (p[i][0] + p[i][1]) / 2
        s2.append((p[i][0] - mean) ** 2 + (p[i][1] - mean) ** 2)
    return p, s2


def test_cv5x2_t_recomputed_from_dietterich_1998():
    p, s2 = _five_by_two_by_hand(A10, B10)
    t = p[0][0] / math.sqrt(sum(s2) / 5)
    r = stats.cv5x2_t_test(A10, B10)
    assert r.statistic == pytest.approx(t, rel=1e-12)
    assert r.df == 5
    assert r.p_value == pytest.approx(2 * st.t.sf(abs(t), 5), rel=1e-10)
    # (5, 2) input is the same design
    assert stats.cv5x2_t_test(A10.reshape(5, 2), B10.reshape(5, 2)).statistic == pytest.approx(t, rel=1e-12)


def test_cv5x2_f_recomputed_from_alpaydin_1999():
    p, s2 = _five_by_two_by_hand(A10, B10)
    f = sum(x * x for row in p for x in row) / (2 * sum(s2))
    r = stats.cv5x2_f_test(A10, B10)
    assert r.statistic == pytest.approx(f, rel=1e-12)
    assert r.df == [10, 5]
    assert r.p_value == pytest.approx(st.f.sf(f, 10, 5), rel=1e-10)
    # two-sided by construction: swapping the sides changes nothing
    assert stats.cv5x2_f_test(B10, A10).p_value == pytest.approx(r.p_value, rel=1e-12)


def test_cv5x2_critical_values_match_the_papers():
    """Dietterich (1998) rejects at |t| > 2.571 (t, 5 df, alpha 0.05); Alpaydın (1999) at f > 4.74 (F(10, 5))."""
    assert st.t.isf(0.025, 5) == pytest.approx(2.571, abs=5e-4)
    assert st.f.isf(0.05, 10, 5) == pytest.approx(4.74, abs=5e-3)


def test_cv5x2_needs_ten_scores():
    with pytest.raises(ValueError, match="10 paired scores"):
        stats.cv5x2_t_test(A10[:8], B10[:8])


# --- Wilcoxon signed-rank --------------------------------------------------------------------


def test_wilcoxon_matches_hollander_wolfe_example():
    """Hollander & Wolfe (1973), p. 29 (depression scale), as in R's `wilcox.test(x, y, paired = TRUE)`:
    V = 40, one-sided p = 0.01953, so two-sided p = 0.03906."""
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    r = stats.wilcoxon_signed_rank(x, y)
    assert r.statistic == 40
    assert r.p_value == pytest.approx(2 * 0.01953, abs=2e-5)


def test_wilcoxon_without_ties_matches_scipy_exact():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=12), rng.normal(size=12) + 0.4
    r = stats.wilcoxon_signed_rank(a, b)
    ref = st.wilcoxon(a, b, method="exact")
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    ranks = st.rankdata(np.abs(a - b))
    assert r.statistic == pytest.approx(ranks[(a - b) > 0].sum())


def test_wilcoxon_with_ties_and_zeros_matches_sign_flip_enumeration():
    """Fold accuracies tie often: the exact conditional null is every sign pattern of the midranks."""
    a = np.array([0.90, 0.91, 0.92, 0.90, 0.93, 0.95, 0.90, 0.88, 0.94, 0.91])
    b = np.array([0.88, 0.90, 0.90, 0.90, 0.91, 0.92, 0.89, 0.89, 0.91, 0.90])
    d = np.round(a - b, 6)
    nz = d[d != 0]
    ranks = st.rankdata(np.abs(nz))
    observed = ranks[nz > 0].sum()
    null = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=len(nz))]
    null = np.array(null)
    p = min(1.0, 2 * min(np.mean(null <= observed + 1e-9), np.mean(null >= observed - 1e-9)))
    r = stats.wilcoxon_signed_rank(a, b)
    assert r.detail["n_nonzero"] == len(nz)
    assert r.statistic == pytest.approx(observed)
    assert r.p_value == pytest.approx(p, rel=1e-10)


def test_wilcoxon_min_p_and_all_zero():
    assert stats.wilcoxon_min_p(5) == pytest.approx(0.0625)
    assert stats.wilcoxon_min_p(6) == pytest.approx(0.03125)
    # with 5 pairs all in one direction the test cannot go below 0.0625
    assert stats.wilcoxon_signed_rank([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]).p_value == pytest.approx(0.0625)
    assert stats.wilcoxon_signed_rank([1, 2], [1, 2]).p_value == 1.0


# --- McNemar ---------------------------------------------------------------------------------


def _pairs(both: int, only_a: int, only_b: int, neither: int):
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return np.array(a, bool), np.array(b, bool)


def test_mcnemar_exact_matches_fagerland_2013_example():
    """Fagerland, Lydersen & Laake (2013), BMC Med. Res. Methodol. 13:91, Table 1 (Bentur et al. 2009,
    AHR before/after SCT in 21 children): discordant pairs 1 and 7, exact conditional p = 0.070."""
    a, b = _pairs(1, 1, 7, 12)
    r = stats.mcnemar_exact(a, b)
    assert (r.detail["a_only_correct"], r.detail["b_only_correct"]) == (1, 7)
    assert r.statistic == 1
    assert round(r.p_value, 3) == 0.070
    assert r.p_value == pytest.approx(18 / 256, rel=1e-12)


@pytest.mark.parametrize("counts", [(50, 12, 3, 5), (40, 9, 9, 2), (10, 0, 6, 4), (30, 40, 25, 5)])
def test_mcnemar_exact_matches_scipy_binomtest(counts):
    a, b = _pairs(*counts)
    r = stats.mcnemar_exact(a, b)
    n = counts[1] + counts[2]
    assert r.p_value == pytest.approx(st.binomtest(counts[1], n, 0.5).pvalue, rel=1e-10)


def test_mcnemar_without_discordant_pairs():
    a, b = _pairs(10, 0, 0, 3)
    assert stats.mcnemar_exact(a, b).p_value == 1.0


# --- paired bootstrap ------------------------------------------------------------------------


def _correctness(n: int, seed: int, acc_a: float, acc_b: float):
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    return u < acc_a, (u + rng.normal(0, 0.15, n)) < acc_b  # correlated, as two models on one test set are


def test_bootstrap_is_seeded_and_centred_on_the_observed_difference():
    a, b = _correctness(300, 1, 0.85, 0.80)
    r1, r2 = stats.paired_bootstrap(a, b, seed=7), stats.paired_bootstrap(a, b, seed=7)
    assert r1.as_dict() == r2.as_dict()
    assert r1.statistic == pytest.approx(a.mean() - b.mean())
    assert r1.detail["ci_low"] < r1.statistic < r1.detail["ci_high"]
    assert r1.detail["resamples"] == 10_000


def test_bootstrap_ci_matches_brute_force_index_resampling():
    """The multinomial shortcut and classic index resampling draw from the same distribution."""
    a, b = _correctness(200, 2, 0.82, 0.78)
    r = stats.paired_bootstrap(a, b, resamples=10_000, seed=0)
    d = a.astype(float) - b.astype(float)
    idx = np.random.default_rng(12345).integers(0, len(d), size=(10_000, len(d)))
    brute = d[idx].mean(axis=1)
    low, high = np.quantile(brute, [0.025, 0.975])
    # the difference moves in steps of 1/n = 0.005; allow two steps of Monte Carlo noise
    assert r.detail["ci_low"] == pytest.approx(low, abs=0.0101)
    assert r.detail["ci_high"] == pytest.approx(high, abs=0.0101)
    sd = d.std(ddof=0) / math.sqrt(len(d))  # normal approximation, a third opinion
    assert r.detail["ci_high"] - r.detail["ci_low"] == pytest.approx(2 * 1.96 * sd, rel=0.1)


@pytest.mark.parametrize("accs", [(0.9, 0.7), (0.8, 0.79), (0.6, 0.75)])
def test_bootstrap_p_value_agrees_with_its_interval(accs):
    a, b = _correctness(400, 3, *accs)
    r = stats.paired_bootstrap(a, b, seed=0)
    excludes_zero = r.detail["ci_low"] > 0 or r.detail["ci_high"] < 0
    assert (r.p_value < 0.05) == excludes_zero


@pytest.mark.parametrize("resamples", [999, 10_000])
def test_bootstrap_p_value_is_never_zero(resamples):
    """With k of B resamples on the far side of 0, each tail is (k + 1) / (B + 1) (Davison & Hinkley
    1997, eq. 4.11; North, Curtis & Sham 2002), doubled: a clear difference gives 2 / (B + 1), not 0."""
    a, b = _correctness(400, 4, 0.95, 0.55)
    r = stats.paired_bootstrap(a, b, resamples=resamples, seed=0)
    assert r.detail["ci_low"] > 0  # every resampled difference is positive: k = 0
    assert r.p_value == pytest.approx(2 / (resamples + 1))
    same = stats.paired_bootstrap(a, a, resamples=resamples, seed=0)
    assert same.p_value == 1.0


# --- per-example losses on one test set (regression, multi-label) ----------------------------


def test_wilcoxon_per_example_is_scipys_and_its_direction_follows_the_ranks():
    # A's losses are larger on most examples but B has one huge miss: the mean says A, the ranks B
    a = np.array([1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 0.0])
    b = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 50.0])
    r = stats.wilcoxon_per_example("wilcoxon_abs_error", a, b)
    expected = st.wilcoxon(a - b)
    assert (r.statistic, r.p_value) == (pytest.approx(float(expected.statistic)), pytest.approx(expected.pvalue))
    assert r.detail["mean_difference"] < 0  # B's mean loss is the larger ...
    assert r.detail["rank_sum_positive"] == 36.0 and r.detail["rank_sum_negative"] == 9.0
    assert r.detail["verdict_difference"] == 27.0  # ... but A's losses outrank B's: the verdict reads the ranks
    zero = stats.wilcoxon_per_example("w", a, a)
    assert (zero.statistic, zero.p_value, zero.detail["n_nonzero"]) == (0.0, 1.0, 0)


def test_wilcoxon_of_one_labels_hamming_errors_is_mcnemars_normal_approximation():
    rng = np.random.default_rng(0)
    wrong_a, wrong_b = rng.random(300) < 0.3, rng.random(300) < 0.2
    only_a, only_b = int(np.sum(wrong_a & ~wrong_b)), int(np.sum(~wrong_a & wrong_b))
    z = (only_a - only_b) / math.sqrt(only_a + only_b)
    r = stats.wilcoxon_per_example("wilcoxon_hamming", wrong_a, wrong_b)
    assert r.p_value == pytest.approx(2 * st.norm.sf(abs(z)), rel=1e-9)


def test_paired_bootstrap_mean_is_scipys_percentile_bootstrap():
    rng = np.random.default_rng(1)
    a, b = rng.exponential(1.0, 80), rng.exponential(1.2, 80)
    r = stats.paired_bootstrap_mean("paired_bootstrap_mae", a, b, 3000, 5, 0.9)
    ref = st.bootstrap((a - b,), np.mean, n_resamples=3000, method="percentile", confidence_level=0.9,
                       rng=np.random.default_rng(5), vectorized=True)  # fmt: skip
    assert (r.detail["ci_low"], r.detail["ci_high"]) == pytest.approx(
        (ref.confidence_interval.low, ref.confidence_interval.high)
    )
    dist = ref.bootstrap_distribution
    k = min(int(np.sum(dist <= 0)), int(np.sum(dist >= 0)))
    assert r.p_value == pytest.approx(min(1.0, 2 * (k + 1) / 3001))
    assert r.statistic == r.detail["mean_difference"] == pytest.approx(float(np.mean(a - b)))
    same = stats.paired_bootstrap_mean("b", a, a, 100, 0)  # no variation: the observed difference, p = 1
    assert (same.p_value, same.detail["ci_low"], same.detail["ci_high"]) == (1.0, 0.0, 0.0)
    shifted = stats.paired_bootstrap_mean("b", a + 1.0, a, 100, 0)  # every difference 1: never 0
    assert shifted.p_value == pytest.approx(2 / 101) and shifted.detail["ci_low"] == 1.0
