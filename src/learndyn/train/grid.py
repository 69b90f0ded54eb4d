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


def cell_levels(train_cfg: dict) -> dict[tuple[str, str, int, int], str]:
    """Measurement level of every cell: "full" when any study containing it measures in full
    (``measure: full``, the default), else "sweep" (``learndyn.train.experiments.LEVELS``)."""
    out: dict[tuple[str, str, int, int], str] = {}
    for study in train_cfg["studies"].values():
        level = study.get("measure", "full")
        for task in study["tasks"]:
            for model in study["models"]:
                for depth in study.get("depths", [train_cfg["depth"]]):
                    for width in study.get("widths", [train_cfg["width"]]):
                        key = (task, model, int(depth), int(width))
                        out[key] = "full" if "full" in (level, out.get(key)) else "sweep"
    return dict(sorted(out.items()))


def cell_seeds(train_cfg: dict) -> dict[tuple[str, str, int, int], list[int]]:
    """Seeds of every cell: ``train.seeds`` when any study containing the cell has no ``seeds``
    of its own, else the union of its studies' seeds (a sweep may train fewer seeds; the seeds
    must be a subset of ``train.seeds`` so cells shared with other studies pair by seed)."""
    out: dict[tuple[str, str, int, int], set] = {}
    everything = [int(s) for s in train_cfg["seeds"]]
    for study in train_cfg["studies"].values():
        seeds = [int(s) for s in study.get("seeds") or everything]
        for task in study["tasks"]:
            for model in study["models"]:
                for depth in study.get("depths", [train_cfg["depth"]]):
                    for width in study.get("widths", [train_cfg["width"]]):
                        out.setdefault((task, model, int(depth), int(width)), set()).update(seeds)
    return {k: [s for s in everything if s in v] for k, v in sorted(out.items())}


def tune_sources(train_cfg: dict) -> dict[tuple[str, str], str]:
    """For every (task, model) of the grid, the model whose tuned learning rate it uses: itself,
    or for a model that appears only in studies with ``tune_from: <model>`` (ablations: one
    factor changed at a time) that parent model on the same task."""
    own, borrowed = set(), {}
    for study in train_cfg["studies"].values():
        parent = study.get("tune_from")
        for task in study["tasks"]:
            for model in study["models"]:
                if parent and model != parent:
                    borrowed[(task, model)] = parent
                else:
                    own.add((task, model))
    out = {pair: pair[1] for pair in own}
    out |= {pair: parent for pair, parent in borrowed.items() if pair not in own}
    return dict(sorted(out.items()))
