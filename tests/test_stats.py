"""learndyn.stats: paired t / sign-flip permutation tests, Holm-Bonferroni, verdicts.

Expected numbers are worked out by hand or by independent formulas (closed-form t CDF, brute-force
enumeration of sign patterns), not by calling the same scipy routines the module calls.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from learndyn.stats import (
    TESTS,
    VERDICTS,
    PairedResult,
    holm,
    min_attainable_p,
    paired_ci,
    paired_test,
    tost,
    verdict_from_test,
    zero_variance,
)

# any warning (scipy's degenerate-data / precision-loss ones included) fails a test
pytestmark = pytest.mark.filterwarnings("error")


# --- holm ---------------------------------------------------------------------------------------


def test_holm_textbook():
    # m = 4; sorted p: 0.005 (#3), 0.01 (#0), 0.03 (#2), 0.04 (#1)
    #   0.005 * 4 = 0.02
    #   0.01  * 3 = 0.03  -> max(0.02, 0.03) = 0.03
    #   0.03  * 2 = 0.06  -> max(0.03, 0.06) = 0.06
    #   0.04  * 1 = 0.04  -> max(0.06, 0.04) = 0.06 (step-down: adjusted p never decreases)
    # back in input order: [0.03, 0.06, 0.06, 0.02]
    got = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)


def test_holm_caps_at_one_and_single_test_unchanged():
    # m = 2: 0.3 * 2 = 0.6, then max(0.6, 0.9 * 1) = 0.9
    np.testing.assert_allclose(holm([0.9, 0.3]), [0.9, 0.6], rtol=1e-12)
    # m = 3: 0.5 * 3 = 1.5 -> capped at 1
    np.testing.assert_allclose(holm([0.5, 0.6, 0.7]), [1.0, 1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(holm([0.02]), [0.02], rtol=1e-12)


def test_holm_nan_left_out_of_family():
    got = holm([0.01, np.nan, 0.04, 0.03, np.nan, 0.005])
    # the NaNs are not tests: the family is still the four p-values above (m = 4)
    np.testing.assert_allclose(got[[0, 2, 3, 5]], [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    assert np.isnan(got[[1, 4]]).all()
    assert got.shape == (6,)


def test_holm_empty_and_all_nan():
    assert holm([]).shape == (0,)
    got = holm([np.nan, np.nan])
    assert got.shape == (2,) and np.isnan(got).all()


def test_holm_rejects_out_of_range():
    with pytest.raises(ValueError):
        holm([0.01, 1.5])


# --- paired_test: t -----------------------------------------------------------------------------


def t4_two_sided_p(t):
    """Two-sided p of Student's t with 4 degrees of freedom, from its closed-form CDF
    F(t) = 1/2 + 3/8 * u * (1 - t^2 / (12 (1 + t^2/4))), u = t / sqrt(1 + t^2/4)."""
    q = 1 + t * t / 4
    cdf = 0.5 + 3 / 8 * (t / math.sqrt(q)) * (1 - t * t / (12 * q))
    return 2 * (1 - cdf)


def test_t_interval_and_p_known():
    r = paired_test([1, 2, 3, 4, 5], test="t")
    # mean 3, sample sd sqrt(2.5), se = sqrt(2.5 / 5) = sqrt(0.5); t_{0.975, 4} = 2.7764451 (table)
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)  # = 1.9632432
    assert r.test == "t" and r.n == 5
    assert r.mean == pytest.approx(3.0)
    assert r.low == pytest.approx(3 - half, rel=1e-7)
    assert r.high == pytest.approx(3 + half, rel=1e-7)
    # t statistic 3 / sqrt(0.5) = sqrt(18) = 4.2426; two-sided p = 0.0132356
    assert r.p == pytest.approx(t4_two_sided_p(math.sqrt(18)), rel=1e-9)
    assert r.p == pytest.approx(0.0132356, abs=1e-7)


def test_t_matches_paired_ci_and_drops_nonfinite():
    d = [0.3, -0.1, 0.7, 0.2, 0.5, np.nan, np.inf, -np.inf, 0.4]
    r = paired_test(d, test="t", confidence=0.9)
    mean, low, high, n = paired_ci(d, 0.9)
    assert (r.mean, r.low, r.high, r.n) == pytest.approx((mean, low, high, n))
    assert r.n == 6


def test_t_interval_widens_with_confidence():
    d = [0.3, -0.1, 0.7, 0.2, 0.5]
    r90, r99 = paired_test(d, confidence=0.9), paired_test(d, confidence=0.99)
    assert r99.low < r90.low < r90.mean < r90.high < r99.high
    assert r90.p == r99.p


# --- paired_test: permutation -------------------------------------------------------------------


def brute_force_sign_flip_p(d):
    """P(|mean of sign-flipped d| >= |mean of d|) over all 2**n sign patterns."""
    d = np.asarray(d, float)
    obs = abs(d.mean())
    hits = sum(
        abs((np.array(s) * d).mean()) >= obs - 1e-12 for s in itertools.product((1, -1), repeat=len(d))
    )
    return hits / 2 ** len(d)


def test_permutation_exact_all_positive_identical():
    r = paired_test(np.full(10, 2.0), test="permutation")
    # only the all-plus and all-minus patterns reach |mean| = 2
    assert r.p == 2 / 1024
    assert (r.mean, r.low, r.high, r.n) == (2.0, 2.0, 2.0, 10)


def test_permutation_exact_all_positive_distinct():
    # not degenerate (scipy's enumeration runs); still only two patterns reach |mean| = 5.5
    r = paired_test(np.arange(1.0, 11.0), test="permutation")
    assert r.p == pytest.approx(2 / 1024, rel=1e-12)


def test_permutation_exact_matches_enumeration():
    d = [1.0, 2.0, 3.0, -0.5, 4.0, 2.5, -1.5]
    r = paired_test(d, test="permutation")
    expected = brute_force_sign_flip_p(d)
    assert 0 < expected < 1
    assert r.p == pytest.approx(expected, rel=1e-12)


def test_permutation_exact_up_to_16_pairs():
    # 2**16 = 65536 <= 100000 patterns: enumerated although n_resamples (9999) is smaller; a
    # random draw would give 2 * (0 + 1) / 10000 instead
    r = paired_test(np.arange(1.0, 17.0), test="permutation")
    assert r.p == pytest.approx(2 / 2**16, rel=1e-12)


def test_permutation_symmetric_sample():
    # observed mean 0: every sign pattern is at least as extreme
    assert paired_test([-3.0, -1.0, 1.0, 3.0], test="permutation").p == 1.0
    assert paired_test([-2.0, -1.0, 0.5, 1.0, 1.5], test="permutation").p > 0.5


def test_permutation_randomized_when_too_many_patterns():
    # n = 20 > 16: random sign patterns; the all-plus pattern is essentially never drawn, so
    # p = 2 * (0 + 1) / (n_resamples + 1)
    r = paired_test(np.arange(1.0, 21.0), test="permutation", n_resamples=999)
    assert r.p == pytest.approx(2 / 1000, rel=1e-12)
    d = np.random.default_rng(3).normal(0.2, 1.0, 20)
    a = paired_test(d, test="permutation", seed=5, n_resamples=999)
    b = paired_test(d, test="permutation", seed=5, n_resamples=999)
    assert a == b


def test_bootstrap_interval_contains_mean_and_is_reproducible():
    d = np.random.default_rng(0).normal(0.5, 1.0, 12)
    a = paired_test(d, test="permutation", seed=1, n_resamples=2000)
    b = paired_test(d, test="permutation", seed=1, n_resamples=2000)
    c = paired_test(d, test="permutation", seed=2, n_resamples=2000)
    assert a == b
    assert a.low < a.mean < a.high
    assert (c.low, c.high) != (a.low, a.high)
    # a percentile interval of resampled means lies within the data's range, and is not far
    # from the t interval for a normal sample
    assert d.min() <= a.low and a.high <= d.max()
    t = paired_test(d, test="t")
    assert a.high - a.low == pytest.approx(t.high - t.low, rel=0.35)


def test_bootstrap_interval_small_known():
    # 2 distinct values: resampled means are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4;
    # the 2.5% / 97.5% percentiles are 0 and 1
    r = paired_test([0.0, 1.0], test="permutation", n_resamples=4000)
    assert (r.low, r.high) == (0.0, 1.0)
    # sign flips of (0, 1) give means 0.5, -0.5, 0.5, -0.5: all as extreme as the observed 0.5
    assert r.p == 1.0


def test_bootstrap_percentile_interval_skewed():
    # resampled mean = 2 K, K ~ Binomial(5, 1/5) copies of the 10: P(K = 0) = 0.328 > 2.5%, and
    # P(K <= 2) = 0.942 < 97.5% < P(K <= 3) = 0.993, so the percentile interval is [0, 6]
    # (a "basic" interval, 2 * mean - percentiles, would be [-2, 4])
    r = paired_test([0.0, 0.0, 0.0, 0.0, 10.0], test="permutation", n_resamples=4000)
    assert (r.low, r.high) == (0.0, 6.0)


# --- degenerate cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("test", TESTS)
def test_no_pairs(test):
    r = paired_test([np.nan, np.inf], test=test)
    assert r.n == 0 and r.test == test
    assert all(np.isnan(x) for x in (r.mean, r.low, r.high, r.p))


@pytest.mark.parametrize("test", TESTS)
def test_one_pair(test):
    r = paired_test([0.7, np.nan], test=test)
    assert (r.n, r.mean) == (1, 0.7)
    assert np.isnan(r.low) and np.isnan(r.high) and np.isnan(r.p)


@pytest.mark.parametrize("n", [3, 4, 10])
def test_identical_nonzero_t_has_the_exact_sign_flip_p_not_zero(n):
    # a t-test of zero-variance differences would give p = 0 at any n: the exact sign-flip p
    # (2 of the 2**n patterns reach |mean|) is what n identical seeds can say
    r = paired_test(np.full(n, 2.5), test="t")
    assert (r.mean, r.low, r.high, r.n) == (2.5, 2.5, 2.5, n)
    assert r.p == 2 / 2**n == paired_test(np.full(n, 2.5), test="permutation").p
    assert zero_variance(np.full(n, 2.5)) and not zero_variance([2.5, 2.6, 2.5])


def test_tost_against_two_one_sided_t_tests_by_hand():
    d = np.array([0.002, -0.004, 0.001, 0.003, -0.001, 0.0, 0.002, -0.002, 0.001, 0.0015])
    margin = 0.01
    n, m, se = len(d), d.mean(), d.std(ddof=1) / np.sqrt(len(d))
    p_low = stats.t.sf((m + margin) / se, n - 1)
    p_high = stats.t.cdf((m - margin) / se, n - 1)
    r = tost(d, margin, 0.9)
    assert r.p == pytest.approx(max(p_low, p_high), rel=1e-10) and r.p < 0.05
    half = stats.t.ppf(0.95, n - 1) * se
    assert (r.low, r.high) == pytest.approx((m - half, m + half), rel=1e-10)
    assert -margin < r.low < r.high < margin  # equivalence at 0.05 <=> the 90% interval inside
    # a difference beyond the margin is not equivalent; identical differences get 2**-n or 1
    assert tost(d + 0.05, margin).p > 0.5
    assert tost(np.full(6, 0.001), margin).p == 2.0**-6 and tost(np.full(6, 0.5), margin).p == 1.0


@pytest.mark.parametrize("test", TESTS)
def test_identical_zero(test):
    r = paired_test([0.0, 0.0, 0.0], test=test)
    assert (r.mean, r.low, r.high, r.n, r.p) == (0.0, 0.0, 0.0, 3, 1.0)


def test_identical_permutation_beyond_exact_range():
    # 2**20 patterns: no enumeration, but the p of identical differences is still exact
    r = paired_test(np.full(20, -1.0), test="permutation")
    assert r.p == 2 / 2**20
    assert (r.low, r.high) == (-1.0, -1.0)


@pytest.mark.parametrize("test", TESTS)
def test_identical_up_to_rounding(test):
    # 0.1 + 0.2 != 0.3 in binary: scipy would warn of catastrophic cancellation
    r = paired_test([0.1 + 0.2, 0.3, 0.3], test=test)
    assert r.low == r.high == r.mean == pytest.approx(0.3)
    assert r.p == 2 / 8  # the exact sign-flip p for both tests


def test_paired_result_is_frozen_and_validation():
    r = paired_test([1.0, 2.0, 3.0])
    assert isinstance(r, PairedResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.p = 0.5
    with pytest.raises(ValueError):
        paired_test([1.0, 2.0], test="wilcoxon")
    with pytest.raises(ValueError):
        paired_test([1.0, 2.0], confidence=95)


# --- verdict_from_test, min_attainable_p --------------------------------------------------------


def test_verdict_from_test_directions():
    assert verdict_from_test(0.3, 0.01, "higher") == "supported"
    assert verdict_from_test(-0.3, 0.01, "higher") == "not supported"
    assert verdict_from_test(-0.3, 0.01, "lower") == "supported"
    assert verdict_from_test(0.3, 0.01, "lower") == "not supported"
    assert verdict_from_test(0.3, 0.2, "higher") == "inconclusive"
    assert verdict_from_test(0.3, 0.05, "higher") == "inconclusive"  # p < alpha is strict
    assert verdict_from_test(0.3, 0.05, "higher", alpha=0.1) == "supported"
    assert {verdict_from_test(m, 0.01, "higher") for m in (1.0, -1.0, 0.0)} == set(VERDICTS)


def test_verdict_from_test_nan_and_validation():
    assert verdict_from_test(0.3, np.nan, "higher") == "inconclusive"
    assert verdict_from_test(np.nan, 0.01, "lower") == "inconclusive"
    with pytest.raises(ValueError):
        verdict_from_test(0.3, 0.01, "bigger")


def test_min_attainable_p():
    assert min_attainable_p(10, "permutation") == 2 / 1024
    assert min_attainable_p(5, "permutation") == 0.0625
    assert min_attainable_p(1, "permutation") == 1.0
    assert min_attainable_p(0, "permutation") == 1.0
    assert min_attainable_p(5, "t") == 0.0
    # matches what the test reaches, e.g. 5 seeds: 0.0625 > 0.05, never significant
    assert paired_test(np.arange(1.0, 6.0), test="permutation").p == min_attainable_p(5, "permutation")
    with pytest.raises(ValueError):
        min_attainable_p(5, "wilcoxon")
    with pytest.raises(ValueError):
        min_attainable_p(-1, "t")
