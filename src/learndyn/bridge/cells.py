"""Which trained cells the bridge reads (importable without torch: the workflow reads these
while building the DAG, and the training cells read ``snapshot_cells`` to save snapshots)."""

from __future__ import annotations


def trajectory_cells(config: dict) -> list[tuple[str, str, int, int]]:
    """(task, model, depth, width) of every cell whose parameters are saved along training:
    ``bridge.models`` on ``bridge.task`` at the default size ``train.depth``, ``train.width``."""
    bridge, train = config.get("bridge"), config["train"]
    if not bridge:
        return []
    return [(bridge["task"], m, int(train["depth"]), int(train["width"])) for m in bridge["models"]]


def width_cells(config: dict) -> list[tuple[str, str, int, int]]:
    """(task, model, depth, width) of the width study's cells on ``bridge.task`` (the drift-vs-
    width exponent: K_0 rebuilt from the seeds, K at the kept weights; no snapshots needed)."""
    bridge, train = config.get("bridge"), config["train"]
    if not bridge:
        return []
    study = train["studies"][bridge["width_study"]]
    return [
        (bridge["task"], m, int(d), int(w))
        for m in study["models"]
        for d in study.get("depths", [train["depth"]])
        for w in study.get("widths", [train["width"]])
    ]


def snapshot_every(config: dict, cell: tuple[str, str, int, int]) -> int:
    """Evaluations between saved snapshots for a training cell (0: the cell saves none)."""
    return int(config["bridge"]["snapshot_every"]) if cell in trajectory_cells(config) else 0
