"""The scoring protocol (kopt.protocol): the false-positive rate of the per-fold tests when two
equal configurations differ only in how much their validation score fluctuates from epoch to
epoch, simulated at the level of the fold score (numbers in docs/compare.md)."""

from __future__ import annotations

import numpy as np
import pytest

from kopt import protocol, stats

N_SIMS, EPOCHS, N_VAL, ACCURACY = 2000, 30, 718, 0.9
NOISE = (0.02, 0.005)  # epoch-to-epoch sd of the true accuracy: A fluctuates, B hardly


def rejection_rates(scoring: str, seed: int = 0, alpha: float = 0.05) -> dict[str, float]:
    """Share of N_SIMS 5x2cv comparisons of two equally good configurations that reject at alpha.

    Each fold's validation accuracy at each epoch: the true accuracy (ACCURACY plus the side's
    epoch noise) measured on N_VAL examples (binomial). The protocol turns each curve into a
    fold score; the 5x2cv F, 5x2cv t and Nadeau-Bengio tests compare the 10 paired scores."""
    rng = np.random.default_rng(seed)
    sd = np.array(NOISE).reshape(1, 2, 1, 1)
    true = np.clip(ACCURACY + sd * rng.standard_normal((N_SIMS, 2, 10, EPOCHS)), 0, 1)
    curves = rng.binomial(N_VAL, true) / N_VAL
    scores = protocol.fold_score(curves, scoring)  # (N_SIMS, 2 sides, 10 folds)
    tests = {
        "cv5x2_f": stats.cv5x2_f_test,
        "cv5x2_t": stats.cv5x2_t_test,
        "nadeau_bengio": lambda a, b: stats.corrected_resampled_t_test(a, b, N_VAL, N_VAL),
    }
    return {name: float(np.mean([test(a, b).p_value < alpha for a, b in scores])) for name, test in tests.items()}


def test_fixed_epoch_scores_keep_the_false_positive_rate_and_best_epoch_scores_do_not():
    fixed = rejection_rates("fixed")
    assert all(rate <= 0.07 for rate in fixed.values()), fixed
    best = rejection_rates("best_epoch")  # the old default: the scored fold chose the epoch
    assert best["cv5x2_f"] > 0.3 and best["cv5x2_t"] > 0.2 and best["nadeau_bengio"] > 0.1, best
    assert all(best[name] > 4 * fixed[name] for name in best), (best, fixed)


def test_fold_score_per_protocol():
    curve = np.array([[0.5, 0.9, 0.7], [0.6, 0.4, 0.8]])
    np.testing.assert_array_equal(protocol.fold_score(curve, "fixed"), [0.7, 0.8])
    np.testing.assert_array_equal(protocol.fold_score(curve, "best_epoch"), [0.9, 0.8])
    np.testing.assert_array_equal(protocol.fold_score(curve, "best_epoch", higher_is_better=False), [0.5, 0.4])
    with pytest.raises(ValueError, match="allowed: best_epoch, fixed"):
        protocol.fold_score(curve, "inner")


@pytest.mark.parametrize(
    "summary, expected",
    [
        ({"protocol": "fixed"}, ("fixed", False)),
        ({"protocol": "best_epoch"}, ("best_epoch", True)),
        ({}, ("unknown, probably best-epoch selection", True)),  # runs written before the record
    ],
)
def test_protocol_of_a_run(summary, expected):
    assert protocol.of_run(summary) == expected
