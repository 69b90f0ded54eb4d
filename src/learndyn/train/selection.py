"""Every choice of the claims made on validation data only (spec structured-layers.md §5, §7).

The matched robustness comparison reads both models at evaluations of the same clean
accuracy: one level per pair of cells, the highest validation accuracy every seed of both models
reaches (``match_on_validation``). That choice is a selection: it is made here, on a ``ValidationView`` (the
validation curves of one model's seeds and the index of its kept weights, which the training
loop chose on validation too), and nothing in this module receives a test number. The test
split then only reports: the accuracy drop under a perturbation is read on the test inputs at
the chosen evaluations (``claims._matched``).

No torch import (the claims job reads this).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

# the variables of a cell a selection may read: validation curves and the kept weights' step
VALIDATION_VARS = ("val_metric", "val_loss", "selected_step")


@dataclass(frozen=True)
class ValidationView:
    """The validation numbers of one model's seeds: ``metric (S, E)`` and ``loss (S, E)`` along
    the evaluations, and ``kept (S,)`` the evaluation index of the kept weights (-1: none, a
    diverged seed)."""

    metric: np.ndarray
    loss: np.ndarray
    kept: np.ndarray

    @classmethod
    def of(cls, cell: xr.Dataset) -> ValidationView:
        """The view of a cell (dims ``seed``, ``eval_step``; one model at one task and size),
        built from ``VALIDATION_VARS`` alone: the test variables are dropped before anything is
        read."""
        val = cell[list(VALIDATION_VARS)].transpose("seed", "eval_step")
        steps = val.eval_step.values.astype(float)
        sel = np.asarray(val.selected_step.values, float)
        kept = np.array([int(np.argmin(np.abs(steps - s))) if np.isfinite(s) else -1 for s in sel])
        return cls(np.asarray(val.val_metric.values, float), np.asarray(val.val_loss.values, float), kept)

    def at_kept(self) -> np.ndarray:
        """The validation metric of the kept weights ``(S,)`` (NaN without kept weights)."""
        rows = np.arange(len(self.kept))
        return np.where(self.kept >= 0, self.metric[rows, np.maximum(self.kept, 0)], np.nan)


@dataclass(frozen=True)
class Match:
    """The evaluations at which two models are compared: ``idx_a``, ``idx_b`` ``(S,)`` (-1: a
    seed without kept weights in either model, no match), the matching ``level`` (one validation
    accuracy per pair of cells) and each model's validation accuracy above it at the chosen
    evaluation, ``above_a``, ``above_b`` ``(S,)`` (>= 0; NaN at -1)."""

    idx_a: np.ndarray
    idx_b: np.ndarray
    level: float
    above_a: np.ndarray
    above_b: np.ndarray

    @property
    def max_above(self) -> float:
        """The largest distance above the level of either model's matched evaluation (NaN
        without a match)."""
        both = np.concatenate([self.above_a, self.above_b])
        return float(np.nanmax(both)) if np.isfinite(both).any() else np.nan

    def loose(self, tolerance: float) -> int:
        """The seeds at which either model's matched validation accuracy exceeds the level by
        more than ``tolerance`` (its curve jumps over the level between two evaluations)."""
        with np.errstate(invalid="ignore"):
            return int(((self.above_a > tolerance) | (self.above_b > tolerance)).sum())


def match_on_validation(a: ValidationView, b: ValidationView) -> Match:
    """Per seed, the evaluations ``(idx_a, idx_b)`` at which models a and b are compared at the
    same clean validation accuracy, and the level they are matched at.

    The level is one per pair of cells (one task): the highest validation accuracy that every
    seed of both models reaches at some evaluation, min over seeds and models of the best
    validation accuracy along training (seeds with kept weights in both models). Each model is
    read at the evaluation whose validation accuracy is the lowest at or above the level (ties:
    the later one), so every seed with kept weights matches; a seed without kept weights in
    either model (a diverged seed) has no match: both indices -1. Why matched: a model that fits
    the clean data less well typically also loses less under a perturbation, so robustness is
    compared at equal clean accuracy."""
    both = (a.kept >= 0) & (b.kept >= 0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no kept weights
        best = np.minimum(np.nanmax(a.metric, axis=1), np.nanmax(b.metric, axis=1))
    ok = both & np.isfinite(best)
    level = float(best[ok].min()) if ok.any() else np.nan

    def match(metric):
        with np.errstate(invalid="ignore"):
            above = metric - level
        above = np.where(np.isfinite(above) & (above >= 0), above, np.inf)
        idx = metric.shape[1] - 1 - np.argmin(above[:, ::-1], axis=1)  # reversed: the later point
        return np.where(ok, idx, -1).astype(int), np.where(ok, above[np.arange(len(idx)), idx], np.nan)

    idx_a, above_a = match(a.metric)
    idx_b, above_b = match(b.metric)
    return Match(idx_a, idx_b, level, above_a, above_b)


def read_at(curve: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``curve (S, E)`` at each seed's evaluation ``idx (S,)``; NaN where ``idx`` is -1."""
    rows = np.arange(len(idx))
    return np.where(idx >= 0, np.asarray(curve, float)[rows, np.maximum(idx, 0)], np.nan)
