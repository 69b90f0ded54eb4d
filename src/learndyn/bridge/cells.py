"""Which trained cells the bridge reads (importable without torch: the workflow reads these
while building the DAG, and the training cells read ``snapshot_every`` to save snapshots)."""

from __future__ import annotations

from .settings import BridgeConfig


def _bridge(config: dict) -> BridgeConfig | None:
    """The bridge's settings, or None when the config has no ``bridge`` section."""
    return BridgeConfig.from_config(config["bridge"]) if config.get("bridge") else None


def trajectory_cells(config: dict) -> list[tuple[str, str, int, int]]:
    """(task, model, depth, width) of every cell whose parameters are saved along training:
    ``bridge.models`` on ``bridge.task`` at the default size ``train.depth``, ``train.width``."""
    bridge, train = _bridge(config), config["train"]
    if bridge is None:
        return []
    return [(bridge.task, m, int(train["depth"]), int(train["width"])) for m in bridge.models]


def width_cells(config: dict) -> list[tuple[str, str, int, int]]:
    """(task, model, depth, width) of the width study's cells on ``bridge.task`` (the drift-vs-
    width exponent: K_0 rebuilt from the seeds, K at the kept weights; no snapshots needed)."""
    bridge, train = _bridge(config), config["train"]
    if bridge is None:
        return []
    study = train["studies"][bridge.width_study]
    return [
        (bridge.task, m, int(d), int(w))
        for m in study["models"]
        for d in study.get("depths", [train["depth"]])
        for w in study.get("widths", [train["width"]])
    ]


def snapshot_every(config: dict, cell: tuple[str, str, int, int]) -> int:
    """Evaluations between saved snapshots for a training cell (0: the cell saves none)."""
    return _bridge(config).snapshot_every if cell in trajectory_cells(config) else 0
