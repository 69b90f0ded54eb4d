"""The training grid and figure list, importable without torch or seaborn.

The workflow reads these while building the DAG, so they must stay cheap to import
(a no-op rerun is dominated by import time otherwise).
"""

from __future__ import annotations


def cells(train_cfg: dict) -> list[tuple[str, str, int, int]]:
    """Sorted unique (task, model, depth, width) over every study of ``train.studies``."""
    out = set()
    for study in train_cfg["studies"].values():
        for task in study["tasks"]:
            for model in study["models"]:
                for depth in study.get("depths", [train_cfg["depth"]]):
                    for width in study.get("widths", [train_cfg["width"]]):
                        out.add((task, model, int(depth), int(width)))
    return sorted(out)


CAPTIONS = {
    "fa_accuracy": "F-A: training and test accuracy of the structured model and its baselines on the "
                   "classification tasks (mean and sd band over seeds).",
    "fb_gradflow": "F-B: per-sample gradient norm at each hidden state, at initialisation and at the end, "
                   "for the default and the deepest network.",
    "fc_spectra": "F-C: singular values of the shaped operators and layer Jacobians, end-to-end condition "
                  "number against depth, and the bounds P1, P2, P4 against measured values.",
    "fd_depth": "F-D: final test metric and gradient ratio against depth.",
    "fe_robustness": "F-E: test metric under Gaussian input noise and FGSM, and layer-wise perturbation "
                     "amplification (solid: random direction, dashed: gradient direction).",
    "ff_smoothness": "F-F: loss curves, loss total-variation ratio, top Hessian eigenvalue and the largest "
                     "stable SGD learning rate.",
    "fg_fixedpoint": "F-G: weight-tied model: empirical contraction against the bound q (P3), iterations "
                     "and convergence against the cap, and fixed-point sensitivity against its bound.",
    "fh_width": "F-H: final test metric and gradient ratio against width at the default depth.",
}
