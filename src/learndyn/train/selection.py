"""Every choice of the claims made on validation data only (spec structured-layers.md §5, §7).

The matched robustness comparison reads each model at the evaluation whose clean accuracy
matches the other's. That choice is a selection: it is made here, on a ``ValidationView`` (the
validation curves of one model's seeds and the index of its kept weights, which the training
loop chose on validation too), and nothing in this module receives a test number. The test
split then only reports: the accuracy drop under a perturbation is read on the test inputs at
the chosen evaluations (``claims._matched``).

No torch import (the claims job reads this).
"""

from __future__ import annotations

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


def match_on_validation(
    a: ValidationView, b: ValidationView, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the evaluations ``(idx_a, idx_b)`` at which models a and b have the same clean
    validation accuracy.

    The target is the lower of the two kept weights' validation accuracies; each model is read
    at the evaluation whose validation accuracy is closest to the target (ties: the later one).
    A seed whose target is NaN or where either model has no evaluation within ``tolerance`` of it
    is dropped: both indices -1. Why matched: a model that fits the clean data less well
    typically also loses less under a perturbation, so robustness is compared at equal clean
    accuracy. Returns two ``(S,)`` integer arrays."""
    target = np.minimum(a.at_kept(), b.at_kept())  # propagates NaN
    rows = np.arange(len(target))

    def match(metric):
        with np.errstate(invalid="ignore"):
            dist = np.abs(metric - target[:, None])
        dist = np.where(np.isfinite(dist), dist, np.inf)
        idx = metric.shape[1] - 1 - np.argmin(dist[:, ::-1], axis=1)  # reversed: the later point
        return idx, dist[rows, idx] <= tolerance

    idx_a, ok_a = match(a.metric)
    idx_b, ok_b = match(b.metric)
    ok = ok_a & ok_b & np.isfinite(target)
    return np.where(ok, idx_a, -1).astype(int), np.where(ok, idx_b, -1).astype(int)


def read_at(curve: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``curve (S, E)`` at each seed's evaluation ``idx (S,)``; NaN where ``idx`` is -1."""
    rows = np.arange(len(idx))
    return np.where(idx >= 0, np.asarray(curve, float)[rows, np.maximum(idx, 0)], np.nan)
