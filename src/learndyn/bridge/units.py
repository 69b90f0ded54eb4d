"""The unit of a relation between two measurements (issue 29, item 1), built on scipy.

Seeds of different models are not independent draws of one variable: a correlation pooled over
(model, seed) pairs is dominated by the differences between models, whose effective sample size
is the number of models, and a pooled p-value treats every seed as a unit. So

* a relation *between* models (drift vs accuracy across architectures) has the architecture as its
  unit: ``between_models`` ranks the seed-averaged values of each architecture (Spearman), with a
  permutation p over architectures (``scipy.stats.permutation_test``, pairings) and a percentile
  bootstrap interval over architectures;
* a relation *within* models (does a seed that drifts more also score higher?) has the seed as its
  unit: ``within_models`` computes each model's Spearman correlation over its seeds and combines
  them as their seed-count-weighted mean; its p comes from permuting the values within each model
  (the null: no relation inside any model, whatever the differences between models) and its
  interval from a bootstrap over models (clusters).

``partial_between`` is the between-model relation of ``x`` and ``y`` with a third measure ``z``
held fixed (partial Spearman over architectures: the simpler-explanation check of a kernel change
that may only track the growth of the weights' norm).

``pooled`` is the procedure these replace (every (model, seed) pair a unit): kept only for the
test that shows it rejecting on clustered data without a within-model relation.

Arrays are ``(models, seeds)`` with NaN for a seed a model lacks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

MIN_SEEDS = 3  # fewest finite seeds for a model's own rank correlation


@dataclass(frozen=True)
class Relation:
    """A rank correlation with its interval, p-value, unit ("architecture" or "seed") and number
    of units (architectures; seeds summed over the models for a within-model relation)."""

    effect: float
    low: float
    high: float
    p: float
    unit: str
    n_units: int
    n_models: int


def _nan_relation(unit: str, n_units: int, n_models: int) -> Relation:
    return Relation(np.nan, np.nan, np.nan, np.nan, unit, n_units, n_models)


def model_means(x) -> np.ndarray:
    """Seed-average of each model, ``(models, seeds) -> (models,)`` (NaN seeds ignored; NaN for a
    model without a finite value)."""
    x = np.asarray(x, dtype=float)
    finite = np.isfinite(x)
    total = np.where(finite, x, 0.0).sum(-1)
    count = finite.sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _spearman_rows(x, y) -> np.ndarray:
    """Spearman correlation of each row pair of ``x``, ``y`` ``(..., n)`` (average ranks)."""
    rx, ry = sps.rankdata(x, axis=-1), sps.rankdata(y, axis=-1)
    rx = rx - rx.mean(-1, keepdims=True)
    ry = ry - ry.mean(-1, keepdims=True)
    den = np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / den


def between_models(
    x, y, confidence: float = 0.95, n_permutations: int = 9999, n_bootstrap: int = 2000, seed: int = 0
) -> Relation:
    """Spearman correlation over models of the seed-averaged ``x`` and ``y`` ``(models, seeds)``:
    one unit per model. p: two-sided permutation test over the pairings of the model means
    (exact when there are no more than ``n_permutations`` pairings); interval: percentile bootstrap
    over models."""
    mx, my = model_means(x), model_means(y)
    keep = np.isfinite(mx) & np.isfinite(my)
    mx, my = mx[keep], my[keep]
    n = len(mx)
    if n < 4 or np.ptp(mx) == 0 or np.ptp(my) == 0:
        return _nan_relation("architecture", n, n)
    rho = float(sps.spearmanr(mx, my)[0])
    rng = np.random.default_rng(seed)
    p = _pairings_p(mx, my, _spearman_rows, n_permutations, rng)
    ci = _paired_bootstrap((mx, my), _spearman_rows, confidence, n_bootstrap, rng).confidence_interval
    return Relation(rho, float(ci.low), float(ci.high), p, "architecture", n, n)


def _pairings_p(a, b, statistic, n_permutations: int, rng) -> float:
    """Two-sided permutation p of ``statistic(a, b)`` (row-vectorised) over the pairings of a and b
    (exact when there are no more than ``n_permutations`` pairings)."""
    perm = sps.permutation_test(
        (a, b),
        lambda x, y, axis: statistic(x, y),
        permutation_type="pairings",
        vectorized=True,
        n_resamples=n_permutations,
        alternative="two-sided",
        rng=rng,
    )
    return float(perm.pvalue)


def _partial_rows(x, y, z) -> np.ndarray:
    """Partial Spearman correlation of each row triple ``(..., n)``: the Pearson correlation of the
    ranks of ``x`` and ``y`` after removing their least-squares dependence on the ranks of ``z``,
    r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))."""
    rxy, rxz, ryz = _spearman_rows(x, y), _spearman_rows(x, z), _spearman_rows(y, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2))


def rank_residuals(a, z) -> np.ndarray:
    """The ranks of ``a`` minus their least-squares line on the ranks of ``z`` (``(n,)``)."""
    ra, rz = sps.rankdata(a), sps.rankdata(z)
    fit = sps.linregress(rz, ra)
    return ra - (fit.intercept + fit.slope * rz)


def partial_between(
    x, y, z, confidence: float = 0.95, n_permutations: int = 9999, n_bootstrap: int = 2000, seed: int = 0
) -> Relation:
    """Partial Spearman correlation over models of the seed-averaged ``x`` and ``y`` given ``z``
    (each ``(models, seeds)``): one unit per model. p: two-sided permutation test over the
    pairings of the rank residuals of ``x`` and ``y`` on ``z`` (their Pearson correlation is the
    partial correlation); interval: percentile bootstrap over models (ranks recomputed in each
    resample; resamples where the partial correlation is undefined are left out)."""
    mx, my, mz = model_means(x), model_means(y), model_means(z)
    keep = np.isfinite(mx) & np.isfinite(my) & np.isfinite(mz)
    mx, my, mz = mx[keep], my[keep], mz[keep]
    n = len(mx)
    if n < 5 or min(np.ptp(mx), np.ptp(my), np.ptp(mz)) == 0:
        return _nan_relation("architecture", n, n)
    effect = float(_partial_rows(mx, my, mz))
    ex, ey = rank_residuals(mx, mz), rank_residuals(my, mz)
    rng = np.random.default_rng(seed)
    p = _pairings_p(ex, ey, _pearson_rows, n_permutations, rng)
    with warnings.catch_warnings():  # the undefined resamples (below) make scipy warn
        warnings.simplefilter("ignore", sps.DegenerateDataWarning)
        boot = _bootstrap_partial(mx, my, mz, confidence, n_bootstrap, rng)
    # a resample in which x or y ranks as a monotone function of z has no partial correlation:
    # the interval is read off the others
    tail = 100 * (1 - confidence) / 2
    dist = boot.bootstrap_distribution[np.isfinite(boot.bootstrap_distribution)]
    low, high = np.percentile(dist, [tail, 100 - tail]) if dist.size else (np.nan, np.nan)
    return Relation(effect, float(low), float(high), p, "architecture", n, n)


def _bootstrap_partial(mx, my, mz, confidence, n_bootstrap, rng):
    return _paired_bootstrap((mx, my, mz), _partial_rows, confidence, n_bootstrap, rng)


def _paired_bootstrap(samples, statistic, confidence, n_bootstrap, rng):
    """Percentile bootstrap over units of ``statistic(*samples)`` (row-vectorised), the samples
    resampled together (paired)."""
    return sps.bootstrap(
        samples,
        lambda *args, axis: statistic(*args),
        paired=True,
        vectorized=True,
        n_resamples=n_bootstrap,
        confidence_level=confidence,
        method="percentile",
        rng=rng,
    )


def _pearson_rows(x, y) -> np.ndarray:
    """Pearson correlation of each row pair of ``x``, ``y`` ``(..., n)``."""
    x = x - x.mean(-1, keepdims=True)
    y = y - y.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(-1) / np.sqrt((x**2).sum(-1) * (y**2).sum(-1))


def _within_statistic(rx: list, ry: list, weights: np.ndarray) -> float:
    """The seed-count-weighted mean of the per-model Spearman correlations of ranked data."""
    r = np.array([_spearman_rows(a, b) for a, b in zip(rx, ry)])
    ok = np.isfinite(r)
    return float(np.sum(weights[ok] * r[ok]) / np.sum(weights[ok])) if ok.any() else np.nan


def _model_pairs(x, y) -> tuple[list, list]:
    """The finite (x, y) seed pairs of each model with at least ``MIN_SEEDS`` of them."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    xs, ys = [], []
    for a, b in zip(x, y):
        keep = np.isfinite(a) & np.isfinite(b)
        if keep.sum() >= MIN_SEEDS and np.ptp(a[keep]) > 0 and np.ptp(b[keep]) > 0:
            xs.append(a[keep])
            ys.append(b[keep])
    return xs, ys


def within_models(
    x, y, confidence: float = 0.95, n_permutations: int = 9999, n_bootstrap: int = 2000, seed: int = 0
) -> Relation:
    """The relation of ``x`` and ``y`` ``(models, seeds)`` inside models, seeds as units: the mean
    of each model's Spearman correlation over its seeds, weighted by its seed count. p: two-sided
    stratified permutation test (``y`` permuted within each model, ``n_permutations`` times);
    interval: percentile bootstrap over models. Models with fewer than ``MIN_SEEDS`` finite seeds
    (or a constant measure) are left out."""
    xs, ys = _model_pairs(x, y)
    n_units = int(sum(len(a) for a in xs))
    if len(xs) < 2:
        return _nan_relation("seed", n_units, len(xs))
    weights = np.array([len(a) for a in xs], dtype=float)
    rx = [sps.rankdata(a) for a in xs]
    ry = [sps.rankdata(b) for b in ys]
    observed = _within_statistic(rx, ry, weights)
    rng = np.random.default_rng(seed)
    # every permutation at once: each model's y ranks permuted independently, (P, n_m) per model
    perm_r = np.stack(
        [
            _spearman_rows(
                np.broadcast_to(a, (n_permutations, len(a))),
                rng.permuted(np.tile(b, (n_permutations, 1)), axis=1),
            )
            for a, b in zip(rx, ry)
        ],
        -1,
    )  # (P, models)
    ok = np.isfinite(perm_r)
    null = np.where(ok, perm_r, 0.0) @ weights / (ok @ weights)
    p = (1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (1 + n_permutations)
    per_model = np.array([_spearman_rows(a, b) for a, b in zip(rx, ry)])
    idx = rng.integers(0, len(xs), size=(n_bootstrap, len(xs)))
    boot = np.sum(weights[idx] * per_model[idx], -1) / np.sum(weights[idx], -1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(boot, [tail, 100 - tail])
    return Relation(observed, float(low), float(high), float(p), "seed", n_units, len(xs))


def pooled(x, y) -> Relation:
    """The replaced procedure: Spearman over every finite (model, seed) pair as if independent
    (``scipy.stats.spearmanr``'s p). Only for the tests that show why it is wrong."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    keep = np.isfinite(x) & np.isfinite(y)
    rho, p = sps.spearmanr(x[keep], y[keep])
    return Relation(float(rho), np.nan, np.nan, float(p), "pair", int(keep.sum()), 0)


# How a sensitivity analysis treats a one-parameter family of architectures (a continuum): each
# family as one unit (the mean of its architectures' seed means), or its architectures left out
SENSITIVITY = ("collapsed", "excluded")


def family_units(x, models, families: dict, how: str) -> np.ndarray:
    """The seed means of ``x`` ``(models, seeds)`` as ``(units, 1)`` with the members of each
    family of ``families`` (``{name: [model, ...]}``, models absent from ``models`` ignored)
    replaced by one unit, the mean of their finite seed means (``how="collapsed"``), or left out
    (``how="excluded"``); every other model one unit, in the order of ``models``."""
    if how not in SENSITIVITY:
        raise ValueError(f"how must be one of {SENSITIVITY}, not {how!r}")
    means = model_means(x)
    models = [str(m) for m in models]
    member = {m for group in families.values() for m in group}
    rows = [means[i] for i, m in enumerate(models) if m not in member]
    if how == "collapsed":
        for group in families.values():
            idx = [models.index(m) for m in group if m in models]
            vals = means[idx] if idx else np.array([])
            if np.isfinite(vals).any():
                rows.append(float(np.nanmean(vals)))
    return np.asarray(rows, dtype=float)[:, None]
