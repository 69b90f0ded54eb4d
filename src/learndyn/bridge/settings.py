"""The bridge's settings (``bridge`` in the config), importable without torch: the report job
reads them too."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import from_mapping


@dataclass(frozen=True)
class BridgeConfig:
    """The kernel measurements (``bridge`` in the config)."""

    task: str  # task of every kernel measurement
    models: tuple  # trajectory cells at train.depth / train.width (snapshots saved in training)
    snapshot_every: int = 2  # evaluations between saved snapshots (first and last always kept)
    width_study: str = "width"  # key of train.studies whose widths give the drift exponent
    n: int = 128  # training points of the fixed subsample (the kernel is n x n)
    n_test: int = 128  # test points of the kernel regression
    subsample_seed: int = 0  # seed of the subsample of the training points
    ridge: float = 1.0e-3  # kernel-regression ridge, relative to the mean eigenvalue of K
    bootstrap: int = 2000  # resamples of the bootstrap intervals of the rank correlations
    confidence: float = 0.95  # level of every interval
    alpha: float = 0.05  # family-wise error rate of the bridge family (Holm)

    @classmethod
    def from_config(cls, cfg: dict) -> BridgeConfig:
        out = from_mapping(cls, cfg, "bridge")
        return cls(**{**out.__dict__, "models": tuple(out.models)})
