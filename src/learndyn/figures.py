"""The registry of every figure of the paper, for both halves: name, the datasets it reads and
its caption. Importable without matplotlib or torch (the workflow reads it while building the
DAG); ``draw`` imports the half's ``figures`` module only when a figure is made.

One workflow rule makes every figure: ``results/figures/{half}/{name}.pdf`` (and ``.png`` for
the report) from the datasets named in ``inputs`` (keys of ``DATASETS``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

# Datasets a figure may read; ``{task}`` marks one file per task (read as a dict task -> dataset).
DATASETS = {
    "train": {
        "cells": "results/analysis/train_cells.nc",
        "spectra": "results/analysis/train_spectra.nc",
        "lr": "results/analysis/train_lrsweep.nc",
        "fp": "results/analysis/train_fixedpoint.nc",
    },
    "theory": {
        "closed_flow": "results/theory/closed_flow_{task}.nc",
        "hybrid_flow": "results/theory/hybrid_flow_{task}.nc",
        "gradient_descent": "results/theory/gradient_descent.nc",
        "truncation": "results/theory/truncation.nc",
        "drift": "results/theory/drift.nc",
    },
}
TRAIN_ALL = tuple(DATASETS["train"])


@dataclass(frozen=True)
class Figure:
    half: str  # "train" or "theory": the package whose ``figures.FIGURES`` draws it
    name: str  # file stem under results/figures/{half}/
    inputs: tuple[str, ...]  # keys of DATASETS[half]
    caption: str  # one sentence for the report (the paper has its own captions)

    @property
    def key(self) -> str:
        return f"{self.half}/{self.name}"


FIGURES = {
    f.key: f
    for f in [
        Figure(
            "train",
            "fa_accuracy",
            TRAIN_ALL,
            "Training and test accuracy of the structured model and its baselines on the "
            "classification tasks (mean and sd band over seeds).",
        ),
        Figure(
            "train",
            "fb_gradflow",
            TRAIN_ALL,
            "Per-sample gradient norm at each hidden state, at initialisation and at the end, for "
            "the default and the deepest network.",
        ),
        Figure(
            "train",
            "fc_spectra",
            TRAIN_ALL,
            "Singular values of the shaped operators and layer Jacobians, end-to-end condition "
            "number against depth, and the bounds P1, P2, P4 against measured values.",
        ),
        Figure("train", "fd_depth", TRAIN_ALL, "Final test metric and gradient ratio against depth."),
        Figure(
            "train",
            "fe_robustness",
            TRAIN_ALL,
            "Test metric under Gaussian input noise and FGSM, and layer-wise perturbation "
            "amplification (solid: random direction, dashed: gradient direction).",
        ),
        Figure(
            "train",
            "ff_smoothness",
            TRAIN_ALL,
            "Loss curves, loss total-variation ratio, top Hessian eigenvalue and the largest stable "
            "SGD learning rate.",
        ),
        Figure(
            "train",
            "fg_fixedpoint",
            TRAIN_ALL,
            "Weight-tied model: empirical contraction against the bound q (P3), iterations and "
            "convergence against the cap, and fixed-point sensitivity against its bound.",
        ),
        Figure(
            "train",
            "fh_width",
            TRAIN_ALL,
            "Final test metric and gradient ratio against width at the default depth.",
        ),
        Figure(
            "theory",
            "residuals",
            ("closed_flow", "hybrid_flow"),
            "Residuals of weight-space gradient flow (lines) and of the closed L=1 and hybrid L>=2 field "
            "closures (markers).",
        ),
        Figure(
            "theory",
            "error_time",
            ("closed_flow", "hybrid_flow"),
            "Relative residual error of the field closures against weight-space gradient flow over ODE "
            "time, with the tolerance.",
        ),
        Figure(
            "theory",
            "truncation",
            ("truncation",),
            "Error of the frozen-Gamma and NTK truncated closures at the final time versus width, "
            "log-log with fitted slopes.",
        ),
        Figure(
            "theory",
            "gram_drift",
            ("drift",),
            "Relative drift of the Gram operators Gamma versus width and depth, and drift of the "
            "co-activation C over time (L=1).",
        ),
        Figure(
            "theory", "spectrum", ("drift",), "Eigenvalue spectrum of the kernel K(t)/n at the stored times."
        ),
        Figure(
            "theory",
            "eta_scaling",
            ("gradient_descent",),
            "One-step residual error of gradient descent versus learning rate (eta^2 reference) and "
            "GD-vs-GF error.",
        ),
    ]
}


def figure_names(half: str | None = None) -> list[str]:
    """Registry keys ``{half}/{name}``, of one half or of both."""
    return [k for k, f in FIGURES.items() if half in (None, f.half)]


def lookup(half: str, name: str) -> Figure:
    key = f"{half}/{name}"
    if key not in FIGURES:
        raise ValueError(f"unknown figure {key!r}; choose from {sorted(FIGURES)}")
    return FIGURES[key]


def input_files(fig: Figure, tasks: dict[str, list[str]]) -> dict[str, list[str]]:
    """Files of each dataset the figure reads; per-task datasets expand over ``tasks[key]``."""
    out = {}
    for key in fig.inputs:
        pattern = DATASETS[fig.half][key]
        out[key] = [pattern.format(task=t) for t in tasks.get(key, [])] if "{task}" in pattern else [pattern]
    return out


def task_of(path: str | Path, key: str) -> str:
    """The task of a per-task dataset file (``closed_flow_digits01.nc`` -> ``digits01``)."""
    return Path(path).stem.removeprefix(key + "_")


def draw(fig: Figure, datasets: dict, settings: dict):
    """The matplotlib figure: ``learndyn.{half}.figures.FIGURES[name](datasets, settings)``."""
    module = importlib.import_module(f"learndyn.{fig.half}.figures")
    return module.FIGURES[fig.name](datasets, settings)
