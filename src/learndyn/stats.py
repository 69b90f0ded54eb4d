"""Statistics shared by both halves: paired confidence intervals and verdicts for the claims
tables, log-log exponent fits for scaling laws."""

from __future__ import annotations

import numpy as np
from scipy import stats

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


def verdict(low: float, high: float, better: str) -> str:
    """From the CI of (structured - baseline): ``better`` is "higher" or "lower"."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    favourable = low > 0 if better == "higher" else high < 0
    unfavourable = high < 0 if better == "higher" else low > 0
    return "supported" if favourable else ("not supported" if unfavourable else "inconclusive")


def fit_exponent(x, y):
    """Least-squares slope and intercept of log y against log x (finite, positive entries only)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(y) & (y > 0) & np.isfinite(x) & (x > 0)
    if keep.sum() < 2:
        return float("nan"), float("nan")
    slope, icpt = np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)
    return float(slope), float(icpt)
