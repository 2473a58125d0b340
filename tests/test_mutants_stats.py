"""kopt.stats pinned value by value: every field of each test's record, each edge and each error line.

Written to kill mutmut's survivors (`make mutants`); tests/test_stats.py checks the same tests against
published examples and scipy. Values worked by hand are derived in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pytest import approx
from scipy import stats as st

from kopt import stats


def test_paired_t_on_two_pairs_is_every_field():
    # d = [1, 3]: mean 2, s_d = sqrt(2), se = 1, t = 2 on 1 df; half-width t_.975(1) = 12.7062
    r = stats.paired_t_test(["1", "3"], ["0", "0"])  # anything numpy casts to float64
    assert r.as_dict() == {
        "name": "paired_t",
        "statistic": approx(2.0),
        "p_value": approx(0.2951672353008665),
        "df": 1,
        "mean_difference": approx(2.0),
        "ci_low": approx(-10.706204736174694),
        "ci_high": approx(14.706204736174694),
        "ci_level": 0.95,
    }


def test_paired_t_without_variance_names_why():
    d = stats.paired_t_test([1, 2, 3], [0, 1, 2]).as_dict()
    assert d["name"] == "paired_t" and d["df"] == 2
    assert math.isnan(d["statistic"]) and math.isnan(d["p_value"])
    assert (d["mean_difference"], d["ci_low"], d["ci_high"], d["ci_level"]) == (1.0, 1.0, 1.0, 0.95)
    assert d["note"] == "every difference is identical: no variance"


def test_paired_scores_must_be_equal_1d_shapes():
    with pytest.raises(ValueError, match=r"^paired scores need equal 1-d shapes, got \(1, 2\) and \(1, 2\)$"):
        stats.paired_t_test([[1, 2]], [[0, 1]])
    with pytest.raises(ValueError, match=r"^paired scores need equal 1-d shapes, got \(2,\) and \(3,\)$"):
        stats.paired_t_test([1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="^the paired t-test needs at least 2 pairs$"):
        stats.paired_t_test([1], [0])


def test_corrected_t_is_every_field():
    # factor = 1/2 + 1/1 = 1.5; se = sqrt(1.5 * 2) = sqrt(3); t = 2 / sqrt(3)
    r = stats.corrected_resampled_t_test([1, 3], [0, 0], n_train=1, n_test=1)
    assert r.as_dict() == {
        "name": "corrected_resampled_t",
        "statistic": approx(2 / math.sqrt(3)),
        "p_value": approx(0.45437105165701),
        "df": 1,
        "mean_difference": approx(2.0),
        "ci_low": approx(-20.00779217442687),
        "ci_high": approx(24.00779217442687),
        "ci_level": 0.95,
        "n_train": 1.0,
        "n_test": 1.0,
        "variance_factor": approx(1.5),
    }
    r = stats.corrected_resampled_t_test([0.9, 0.8, 0.85, 0.7], [0.8, 0.8, 0.75, 0.72], 80, 20)
    assert (r.statistic, r.p_value, r.detail["variance_factor"]) == (
        approx(0.9938837346736187),
        approx(0.39353901),
        0.5,
    )


@pytest.mark.parametrize(("n_train", "n_test"), [(0, 5), (5, 0), (-1, 5), (0, 0)])
def test_corrected_t_needs_positive_sizes(n_train, n_test):
    with pytest.raises(ValueError, match="^n_train and n_test must be positive$"):
        stats.corrected_resampled_t_test([1, 3], [0, 0], n_train, n_test)


def test_corrected_t_needs_two_pairs():
    with pytest.raises(ValueError, match="^the corrected resampled t-test needs at least 2 pairs$"):
        stats.corrected_resampled_t_test([1], [0], 10, 2)


A = [0.9, 0.8, 0.85, 0.7, 0.6, 0.65, 0.9, 0.95, 0.5, 0.55]
B = [0.8, 0.85, 0.7, 0.75, 0.6, 0.5, 0.8, 0.9, 0.4, 0.6]
# p (5 x 2) = [[.1, -.05], [.15, -.05], [0, .15], [.1, .05], [.1, -.05]]
VARIANCES = [0.01125, 0.02, 0.01125, 0.00125, 0.01125]


def test_cv5x2_t_is_every_field():
    d = stats.cv5x2_t_test(A, B).as_dict()
    assert d == {
        "name": "cv5x2_t",
        "statistic": approx(0.9534625892455921),
        "p_value": approx(0.3841421963848545),
        "df": 5,
        "mean_difference": approx(0.05),
        "numerator": approx(0.1),  # p[0, 0]; p[0, 1] is -0.05 and p[1, 0] 0.15
        "variances": approx(VARIANCES),
    }


def test_cv5x2_f_is_every_field():
    d = stats.cv5x2_f_test(A, B).as_dict()
    assert d == {
        "name": "cv5x2_f",
        "statistic": approx(0.7727272727272726),
        "p_value": approx(0.660263280682047),
        "df": [10, 5],
        "mean_difference": approx(0.05),
        "variances": approx(VARIANCES),
    }


@pytest.mark.parametrize(
    ("test", "name", "df"), [(stats.cv5x2_t_test, "cv5x2_t", 5), (stats.cv5x2_f_test, "cv5x2_f", [10, 5])]
)
def test_cv5x2_without_variance_names_why(test, name, df):
    d = test([1] * 10, [0] * 10).as_dict()
    assert (d["name"], d["df"], d["mean_difference"], d["variances"]) == (name, df, 1.0, [0.0] * 5)
    assert math.isnan(d["statistic"]) and math.isnan(d["p_value"])
    assert d["note"] == "every s_i^2 is 0: no variance"
    if name == "cv5x2_t":
        assert d["numerator"] == 1.0


def test_cv5x2_needs_ten_scores_line():
    with pytest.raises(ValueError, match=r"^5x2cv needs 10 paired scores \(5 repetitions x 2 folds\), got 4$"):
        stats.cv5x2_f_test([1, 2, 3, 4], [0, 0, 0, 0])


def test_wilcoxon_min_p():
    assert [stats.wilcoxon_min_p(n) for n in (0, 1, 2, 3, 6)] == [1.0, 1.0, 0.5, 0.25, 2 * 0.5**6]


def test_wilcoxon_fields_and_tails():
    # d = [2, -1, 4]: ranks 2, 1, 3; W+ = 5 of 6; P(W+ >= 5) = 2/8 -> p = 0.5
    assert stats.wilcoxon_signed_rank([3, 1, 5, 0], [1, 2, 1, 0]).as_dict() == {
        "name": "wilcoxon",
        "statistic": 5.0,
        "p_value": 0.5,
        "df": None,
        "n_nonzero": 3,
        "mean_difference": 1.25,
    }
    # every difference negative: W+ = 0, lower tail P(W+ <= 0) = 1/8 -> p = 0.25
    low = stats.wilcoxon_signed_rank([0, 0, 0], [1, 2, 3])
    assert (low.statistic, low.p_value, low.detail["mean_difference"]) == (0.0, 0.25, -2.0)
    # d = [1, -1]: tied ranks 1.5; W+ = 1.5, both tails 3/4 -> p capped at 1
    tied = stats.wilcoxon_signed_rank([1, 0], [0, 1])
    assert (tied.statistic, tied.p_value, tied.detail) == (1.5, 1.0, {"n_nonzero": 2, "mean_difference": 0.0})
    # d = [1, 2, -2, -3]: doubled ranks 2, 5, 5, 8; W+ = 7/2; P(2W+ <= 7) = 6/16 ({}, {2}, {5} x2, {2, 5} x2)
    mid = stats.wilcoxon_signed_rank([1, 2, -2, -3], [0, 0, 0, 0])
    assert (mid.statistic, mid.p_value, mid.detail["mean_difference"]) == (3.5, 0.75, -0.5)
    one = stats.wilcoxon_signed_rank([1], [0])
    assert (one.statistic, one.p_value, one.detail) == (1.0, 1.0, {"n_nonzero": 1, "mean_difference": 1.0})


@pytest.mark.parametrize(("a", "b", "mean"), [([1, 2, 3], [1, 2, 3], 0.0), ([], [], 0.0), ([2, 3], [2, 3], 0.0)])
def test_wilcoxon_with_every_difference_zero(a, b, mean):
    assert stats.wilcoxon_signed_rank(a, b).as_dict() == {
        "name": "wilcoxon",
        "statistic": 0.0,
        "p_value": 1.0,
        "df": None,
        "n_nonzero": 0,
        "mean_difference": mean,
        "note": "every difference is 0",
    }


def test_wilcoxon_keeps_the_mean_of_all_differences_zeros_included():
    assert stats.wilcoxon_signed_rank([3, 1, 1], [1, 1, 1]).detail["mean_difference"] == approx(2 / 3)


def test_mcnemar_is_every_field():
    # float 0/1 inputs are read as correctness (bool), not as bits to combine
    r = stats.mcnemar_exact([1.0, 1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0, 1.0])
    assert r.as_dict() == {
        "name": "mcnemar_exact",
        "statistic": 1.0,
        "p_value": 1.0,
        "df": None,
        "a_only_correct": 2,
        "b_only_correct": 1,
        "n": 5,
        "mean_difference": approx(0.2),
    }
    # b = 5, c = 0 discordant: p = 2 * 0.5**5
    r = stats.mcnemar_exact([1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0])
    assert (r.statistic, r.p_value, r.detail["mean_difference"]) == (0.0, approx(0.0625), approx(5 / 6))


def test_mcnemar_without_discordant_pairs_is_every_field():
    assert stats.mcnemar_exact([1, 0], [1, 0]).as_dict() == {
        "name": "mcnemar_exact",
        "statistic": 0.0,
        "p_value": 1.0,
        "df": None,
        "a_only_correct": 0,
        "b_only_correct": 0,
        "n": 2,
        "mean_difference": 0.0,
    }
    empty = stats.mcnemar_exact([], [])
    assert (empty.statistic, empty.p_value, empty.detail["n"], empty.detail["mean_difference"]) == (0.0, 1.0, 0, 0.0)


def test_mcnemar_needs_equal_shapes():
    with pytest.raises(ValueError, match=r"^paired correctness needs equal shapes, got \(2,\) and \(1,\)$"):
        stats.mcnemar_exact([1, 0], [1])


A_RIGHT = [1] * 30 + [0] * 10 + [1] * 5
B_RIGHT = [0] * 12 + [1] * 28 + [0] * 5


def test_bootstrap_is_every_field():
    r = stats.paired_bootstrap(np.array(A_RIGHT, bool), np.array(B_RIGHT, bool), resamples=1000, seed=1, level=0.8)
    assert r.as_dict() == {
        "name": "paired_bootstrap",
        "statistic": approx(7 / 45),
        "p_value": approx(0.1878121878121878),
        "df": None,
        "mean_difference": approx(7 / 45),
        "ci_low": approx(1 / 45),  # the 10% quantile (6.7% would be -1/45)
        "ci_high": approx(13 / 45),  # the 90% quantile (93.3% would be 14/45)
        "ci_level": 0.8,
        "resamples": 1000,
        "seed": 1,
    }


def test_bootstrap_defaults_and_a_single_example():
    r = stats.paired_bootstrap([True], [False], resamples=50)
    assert r.as_dict() == {
        "name": "paired_bootstrap",
        "statistic": 1.0,
        "p_value": approx(2 / 51),
        "df": None,
        "mean_difference": 1.0,
        "ci_low": 1.0,
        "ci_high": 1.0,
        "ci_level": 0.95,
        "resamples": 50,
        "seed": 0,
    }
    default = stats.paired_bootstrap([1, 0, 1], [0, 1, 0])
    assert (default.detail["resamples"], default.detail["seed"], default.p_value) == (10_000, 0, approx(0.5221477852))


def test_bootstrap_needs_an_example():
    with pytest.raises(ValueError, match="^the bootstrap needs at least one test example$"):
        stats.paired_bootstrap([], [])


# --- per-example losses: the bootstrap of the mean and the Wilcoxon test -----------------------


def test_bootstrap_mean_defaults_are_every_field_and_scipys():
    # n = 3 does not divide 10_000_000: the batch is an integer (10_000_000 // 3), a float batch is refused by scipy
    a, b = [0.5, 1.0, 3.0], [1.0, 0.0, 0.5]
    r = stats.paired_bootstrap_mean("paired_bootstrap_mae", a, b)
    ref = st.bootstrap((np.array([-0.5, 1.0, 2.5]),), np.mean, n_resamples=10_000, method="percentile",
                       rng=np.random.default_rng(0), vectorized=True)  # fmt: skip
    dist = ref.bootstrap_distribution
    k = min(int(np.sum(dist <= 0)), int(np.sum(dist >= 0)))
    assert 2 * (k + 1) / 10_001 == approx(0.29117088291170884)
    assert r.as_dict() == {
        "name": "paired_bootstrap_mae",
        "statistic": 1.0,
        "p_value": approx(0.29117088291170884),
        "df": None,
        "mean_difference": 1.0,
        "ci_level": 0.95,
        "resamples": 10_000,
        "seed": 0,
        "ci_low": approx(ref.confidence_interval.low),
        "ci_high": approx(ref.confidence_interval.high),
    }
    assert (r.detail["ci_low"], r.detail["ci_high"]) == (-0.5, 2.5)  # the extreme means: 3 draws of one value


@pytest.mark.parametrize(
    ("d", "below", "zero", "above", "p"),
    [
        # k counts the resamples at 0 on both sides: min(#<=0, #>=0); here #>=0 is the smaller side
        ([1, -1, -1, -1], 715, 217, 67, 2 * (217 + 67 + 1) / 1000),
        ([-1, 1, 1, 1], 67, 217, 715, 2 * (67 + 217 + 1) / 1000),
        ([1, -1], 233, 505, 261, 1.0),  # 2 (738 + 1) / 1000 = 1.478, capped at 1
    ],
)
def test_bootstrap_mean_counts_ties_at_zero_on_both_sides(d, below, zero, above, p):
    r = stats.paired_bootstrap_mean("m", d, [0] * len(d), 999, 3)
    dist = st.bootstrap((np.array(d, float),), np.mean, n_resamples=999, method="percentile",
                        rng=np.random.default_rng(3)).bootstrap_distribution  # fmt: skip
    assert (int(np.sum(dist < 0)), int(np.sum(dist == 0)), int(np.sum(dist > 0))) == (below, zero, above)
    assert r.p_value == approx(p) and r.name == "m" and r.statistic == approx(np.mean(d))


def test_bootstrap_mean_of_identical_differences_is_every_field():
    r = stats.paired_bootstrap_mean("paired_bootstrap_mae", [3, 3, 3], [1, 1, 1], 99, 4, 0.8)
    assert r.as_dict() == {
        "name": "paired_bootstrap_mae",
        "statistic": 2.0,
        "p_value": approx(2 / 100),  # every resample is 2: k = 0 on the side below 0, 2 (0 + 1) / (99 + 1)
        "df": None,
        "mean_difference": 2.0,
        "ci_level": 0.8,
        "resamples": 99,
        "seed": 4,
        "ci_low": 2.0,
        "ci_high": 2.0,
        "note": "every difference is identical",
    }
    zero = stats.paired_bootstrap_mean("z", [1.5, 2.5], [1.5, 2.5], 10, 0)
    assert (zero.name, zero.statistic, zero.p_value, zero.detail["note"]) == (
        "z",
        0.0,
        1.0,
        "every difference is identical",
    )
    one = stats.paired_bootstrap_mean("one", [2.0], [0.5], 49)  # a single example: identical by itself
    assert (one.statistic, one.p_value, one.detail["ci_low"], one.detail["ci_high"]) == (1.5, approx(2 / 50), 1.5, 1.5)
    assert one.detail["note"] == "every difference is identical"


def test_bootstrap_mean_needs_an_example():
    with pytest.raises(ValueError, match="^the bootstrap needs at least one test example$"):
        stats.paired_bootstrap_mean("m", [], [])


def test_wilcoxon_per_example_without_pairs_or_differences_is_every_field():
    def zero(n, mean=0.0):
        return {
            "name": "wilcoxon_abs_error",
            "statistic": 0.0,
            "p_value": 1.0,
            "df": None,
            "mean_difference": mean,
            "n": n,
            "n_nonzero": 0,
            "verdict_difference": 0.0,
            "note": "every difference is 0",
        }

    assert stats.wilcoxon_per_example("wilcoxon_abs_error", [], []).as_dict() == zero(0)
    assert stats.wilcoxon_per_example("wilcoxon_abs_error", [1, 2, 3], [1, 2, 3]).as_dict() == zero(3)


def test_wilcoxon_per_example_is_every_field():
    # one non-zero difference (0.5) among zeros: scipy's exact test of one pair, W = min(1, 0) = 0, p = 1
    assert stats.wilcoxon_per_example("w", [1, 2, 3.5], [1, 2, 3]).as_dict() == {
        "name": "w",
        "statistic": 0.0,
        "p_value": 1.0,
        "df": None,
        "mean_difference": approx(0.5 / 3),
        "n": 3,
        "n_nonzero": 1,
        "rank_sum_positive": 1.0,
        "rank_sum_negative": 0.0,
        "verdict_difference": 1.0,
    }
    # d = [0, 1, 0.5, -1, -2]: |d| of the non-zero ranks 2.5, 1, 2.5, 4; W+ = 3.5, W- = 6.5
    a, b = [1, 2, 3.5, 0, 2], [1, 1, 3, 1, 4]
    ref = st.wilcoxon(np.subtract(a, b), zero_method="wilcox")
    assert stats.wilcoxon_per_example("wilcoxon_hamming", a, b).as_dict() == {
        "name": "wilcoxon_hamming",
        "statistic": 3.5,
        "p_value": approx(float(ref.pvalue)),
        "df": None,
        "mean_difference": approx(-0.3),
        "n": 5,
        "n_nonzero": 4,
        "rank_sum_positive": 3.5,
        "rank_sum_negative": 6.5,
        "verdict_difference": -3.0,
    }
