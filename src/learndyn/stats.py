"""Statistics shared by both halves: paired comparisons and verdicts for the claims tables,
log-log exponent fits for scaling laws.

Claims tables compare a "structured" model against each baseline, per task, over seeds: the
quantity of interest is the paired difference ``d = structured - baseline`` (one entry per seed).

- :func:`paired_test` gives the mean of ``d``, an interval and a two-sided p-value against mean 0
  (:class:`PairedResult`). Two tests (:data:`TESTS`):

  * ``"t"``: Student-t interval (as :func:`paired_ci`) and one-sample t-test
    (``scipy.stats.ttest_1samp``). Use it for continuous, roughly symmetric quantities (losses,
    accuracies averaged over many examples).
  * ``"permutation"``: sign-flip permutation test of the mean (``scipy.stats.permutation_test``,
    one sample, ``permutation_type="samples"``), exact when ``2**n <= 100000``, with a percentile
    bootstrap interval of the mean (``scipy.stats.bootstrap``). Use it for discrete, ordinal or
    skewed quantities (epochs to threshold, counts, ranks), where the t-test's normality is not
    credible. With ``n`` pairs its p-value cannot go below ``2 / 2**n``
    (:func:`min_attainable_p`).

- :func:`holm` adjusts the p-values of the whole family of comparisons of a table (every task x
  baseline x metric) with Holm-Bonferroni (``statsmodels.stats.multitest.multipletests``), which
  controls the family-wise error rate. Its smallest threshold is ``alpha / m`` for ``m`` tests: a
  permutation test with ``min_attainable_p(n, "permutation") >= alpha / m`` can never be
  significant, which is worth a warning when the table is built.
- :func:`verdict_from_test` turns an effect and its Holm-adjusted p-value into one of
  :data:`VERDICTS`.
- :func:`fit_exponent` fits scaling-law exponents.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

VERDICTS = ("supported", "not supported", "inconclusive")


def paired_ci(diff: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of a Student-t interval for the mean of paired differences."""
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    mean = float(d.mean())
    if n < 2:
        return mean, np.nan, np.nan, n
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half, n


def fit_exponent(x, y):
    """Least-squares slope and intercept of log y against log x (finite, positive entries only)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(y) & (y > 0) & np.isfinite(x) & (x > 0)
    if keep.sum() < 2:
        return float("nan"), float("nan")
    slope, icpt = np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)
    return float(slope), float(icpt)


MIN_TREND_POINTS = 3  # a slope needs this many finite points


def trend_slope(x, y) -> np.ndarray:
    """Least-squares slope of ``y`` against ``x`` along the last axis, for every leading index.

    ``x (n,)``, ``y (..., n)``; points where ``y`` is not finite are left out of that fit, and a
    fit with fewer than ``MIN_TREND_POINTS`` finite points is NaN. Returns ``y.shape[:-1]``.
    Used for trends across depths or widths, one slope per seed (the interval is then over seeds).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if y.shape[-1] != len(x):
        raise ValueError(f"trend_slope: {len(x)} x values but {y.shape[-1]} y values")
    keep = np.isfinite(y)
    w = keep.astype(float)
    n = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (w * x).sum(-1) / n
        ym = np.where(keep, y, 0.0).sum(-1) / n
        dx = (x - xm[..., None]) * w
        slope = (dx * (np.where(keep, y, 0.0) - ym[..., None])).sum(-1) / (dx * dx).sum(-1)
    return np.where(n >= MIN_TREND_POINTS, slope, np.nan)


@dataclass(frozen=True)
class Exponent:
    """A power-law exponent over seeds (:func:`exponent_interval`)."""

    mean: float
    low: float
    high: float
    n_seeds: int  # seeds with a slope
    x_min: float  # range of x over the points fitted (any seed)
    x_max: float
    slopes: tuple  # one per seed (NaN where too few points)


def exponent_interval(x, y, min_value: float = 0.0, confidence: float = 0.95) -> Exponent:
    """Exponent p of y ~ x^p: one least-squares slope of log y on log x per seed (row of ``y``),
    then the mean and its Student-t interval over seeds.

    ``x (k,)``, ``y (S, k)``; points with y <= ``min_value`` (e.g. 10x an error floor), y <= 0
    or not finite are left out of that seed's fit; a seed needs ``MIN_TREND_POINTS`` points.
    """
    x = np.asarray(x, float)
    y = np.atleast_2d(np.asarray(y, float))
    keep = np.isfinite(y) & (y > max(min_value, 0.0))
    logy = np.where(keep, np.log(np.where(keep, y, 1.0)), np.nan)
    slopes = trend_slope(np.log(x), logy)
    mean, low, high, n = paired_ci(slopes, confidence)
    used = (
        x[(keep.sum(0) > 0) & (keep.sum(1, keepdims=True) >= MIN_TREND_POINTS).any(0)]
        if keep.any()
        else x[:0]
    )
    return Exponent(
        float(mean),
        float(low),
        float(high),
        n,
        float(used.min()) if len(used) else np.nan,
        float(used.max()) if len(used) else np.nan,
        tuple(float(v) for v in slopes),
    )


TESTS = ("t", "permutation")

# exact sign-flip enumeration up to this many sign patterns (2**16 = 65536 <= 100000 < 2**17)
_EXACT_MAX = 100_000


@dataclass(frozen=True)
class PairedResult:
    """Result of :func:`paired_test` on paired differences ``structured - baseline``.

    Attributes
    ----------
    mean : float
        Mean of the finite differences (the effect).
    low, high : float
        Interval for the mean at the requested confidence.
    n : int
        Number of finite differences (pairs).
    p : float
        Two-sided p-value against mean 0.
    test : str
        The test used, one of :data:`TESTS`.
    """

    mean: float
    low: float
    high: float
    n: int
    p: float
    test: str


def _check_test(test: str) -> None:
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")


def _identical(d: np.ndarray) -> bool:
    """Whether all entries equal their mean up to rounding (scipy's catastrophic-cancellation
    criterion), i.e. the sample variance is zero or pure rounding noise."""
    mean = d.mean()
    return bool(np.max(np.abs(d - mean)) <= 10 * np.finfo(float).eps * abs(mean))


def paired_test(
    diff, test: str = "t", confidence: float = 0.95, seed: int = 0, n_resamples: int = 9999
) -> PairedResult:
    """Interval and two-sided p-value for the mean of paired differences.

    Parameters
    ----------
    diff : array_like
        Paired differences (structured - baseline), one per seed; non-finite entries are dropped.
    test : {"t", "permutation"}
        ``"t"``: Student-t interval (as :func:`paired_ci`) and ``scipy.stats.ttest_1samp``.
        ``"permutation"``: sign-flip permutation test of the mean (exact when ``2**n <= 100000``,
        else ``n_resamples`` random sign patterns) and a percentile bootstrap interval.
    confidence : float
        Confidence level of the interval.
    seed : int
        Seed of the random sign flips and of the bootstrap (``"permutation"`` only).
    n_resamples : int
        Random sign patterns (when not exact) and bootstrap resamples.

    Returns
    -------
    PairedResult
        ``n == 0``: all NaN; ``n == 1``: the mean, NaN interval and p. Identical differences
        ``d`` (zero variance, :func:`zero_variance`): interval ``[d, d]``; p is the exact
        sign-flip p ``2 / 2**n`` for both tests when ``d != 0`` (a t-test would return 0 at any
        ``n``, certainty that the seeds cannot give), 1.0 when ``d == 0``.
    """
    _check_test(test)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    d = np.asarray(diff, dtype=float).ravel()
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return PairedResult(np.nan, np.nan, np.nan, 0, np.nan, test)
    mean = float(d.mean())
    if n == 1:
        return PairedResult(mean, np.nan, np.nan, 1, np.nan, test)
    if _identical(d):
        # zero variance: the t statistic is +-inf (or 0/0), the bootstrap distribution a point;
        # scipy would warn and return NaN. Every sign pattern but the observed one and its
        # mirror image gives a smaller |mean|, so the exact sign-flip p is 2 / 2**n.
        p = 1.0 if mean == 0 else min(1.0, math.ldexp(1.0, 1 - n))
        return PairedResult(mean, mean, mean, n, p, test)
    if test == "t":
        _, low, high, _ = paired_ci(d, confidence)
        p = float(stats.ttest_1samp(d, 0.0).pvalue)
        return PairedResult(mean, float(low), float(high), n, p, test)
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        # degenerate resampling distributions (e.g. n == 2) only matter for BCa; say nothing
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        perm = stats.permutation_test(
            (d,),
            np.mean,
            permutation_type="samples",  # one sample: flip the sign of each difference
            vectorized=True,
            n_resamples=np.inf if 2.0**n <= _EXACT_MAX else n_resamples,
            alternative="two-sided",
            rng=rng,
        )
    low, high = bootstrap_interval(d, confidence, rng, n_resamples)
    return PairedResult(mean, low, high, n, float(perm.pvalue), test)


def bootstrap_interval(d, confidence: float, rng, n_resamples: int = 9999) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``d`` (finite entries, at least two that
    differ) at ``confidence`` (``scipy.stats.bootstrap``); ``rng`` a generator or a seed."""
    rng = np.random.default_rng(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        boot = stats.bootstrap(
            (np.asarray(d, float),),
            np.mean,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=rng,
        )
    ci = boot.confidence_interval
    return float(ci.low), float(ci.high)


def zero_variance(diff) -> bool:
    """Whether the finite entries of ``diff`` (at least two) are identical up to rounding: the
    case :func:`paired_test` answers with the exact sign-flip p instead of a t-test's 0."""
    d = np.asarray(diff, dtype=float).ravel()
    d = d[np.isfinite(d)]
    return len(d) > 1 and _identical(d)


def tost(diff, margin: float, confidence: float = 0.90) -> PairedResult:
    """Two one-sided t-tests of equivalence of the paired differences ``diff`` within
    ``(-margin, margin)`` (Schuirmann): p = max of the p-values of H0: mean <= -margin and
    H0: mean >= margin (``scipy.stats.ttest_1samp``, one-sided). Equivalence at level a holds
    when p < a, i.e. when the ``1 - 2a`` t-interval lies inside the margin; the interval
    returned is at ``confidence`` (0.90 for a = 0.05). Zero variance: p = 2**-n when the
    common difference lies inside the margin (every differences' sign flip about a bound but the
    observed pattern), else 1. Returns a ``PairedResult`` with ``test="tost"``."""
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    d = np.asarray(diff, dtype=float).ravel()
    d = d[np.isfinite(d)]
    n = len(d)
    if n < 2:
        return PairedResult(float(d.mean()) if n else np.nan, np.nan, np.nan, n, np.nan, "tost")
    mean = float(d.mean())
    if _identical(d):
        p = math.ldexp(1.0, -n) if abs(mean) < margin else 1.0
        return PairedResult(mean, mean, mean, n, p, "tost")
    lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
    _, low, high, _ = paired_ci(d, confidence)
    return PairedResult(mean, float(low), float(high), n, float(max(lower, upper)), "tost")


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of one family of tests.

    Parameters
    ----------
    pvalues : array_like
        Unadjusted p-values in [0, 1]; NaN entries (no test) are left out of the family.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape as ``pvalues``; NaN where the input is NaN.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    keep = ~np.isnan(p)
    if not keep.any():
        return out
    if np.any((p[keep] < 0) | (p[keep] > 1)):
        raise ValueError("p-values must lie in [0, 1] (or be NaN)")
    out[keep] = multipletests(p[keep], method="holm")[1]
    return out


def verdict_from_test(mean: float, p_adjusted: float, better: str, alpha: float = 0.05) -> str:
    """Verdict from the effect (structured - baseline) and its Holm-adjusted p-value.

    Parameters
    ----------
    mean : float
        Mean paired difference, structured minus baseline.
    p_adjusted : float
        Adjusted p-value (see :func:`holm`).
    better : {"higher", "lower"}
        Whether a positive ("higher") or negative ("lower") difference favours the structured model.
    alpha : float
        Family-wise significance level.

    Returns
    -------
    str
        "supported" (significant, favourable direction), "not supported" (significant, other
        direction) or "inconclusive" (not significant, zero effect or NaN).
    """
    if better not in ("higher", "lower"):
        raise ValueError(f'better must be "higher" or "lower", got {better!r}')
    if not (np.isfinite(mean) and np.isfinite(p_adjusted)) or not p_adjusted < alpha or mean == 0:
        return "inconclusive"
    favourable = mean > 0 if better == "higher" else mean < 0
    return "supported" if favourable else "not supported"


def min_attainable_p(n: int, test: str) -> float:
    """Smallest two-sided p-value :func:`paired_test` can give with ``n`` pairs.

    ``2 / 2**n`` (capped at 1) for the exact sign-flip ``"permutation"`` test; 0.0 for ``"t"``.
    A family of ``m`` tests can only reject under Holm at level ``alpha`` if this is below
    ``alpha / m``.
    """
    _check_test(test)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if test == "t":
        return 0.0
    return min(1.0, math.ldexp(1.0, 1 - int(n)))
