"""The training grid (which cells the config asks for), importable without torch.

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
