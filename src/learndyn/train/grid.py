"""The training grid (which cells the config asks for), importable without torch.

The workflow reads these while building the DAG, so they must stay cheap to import
(a no-op rerun is dominated by import time otherwise).
"""

from __future__ import annotations


def study_cells(train_cfg: dict):
    """Yield (study, (task, model, depth, width)) for every cell of every study of
    ``train.studies`` (depths/widths default to ``train.depth``/``train.width``)."""
    for study in train_cfg["studies"].values():
        for task in study["tasks"]:
            for model in study["models"]:
                for depth in study.get("depths", [train_cfg["depth"]]):
                    for width in study.get("widths", [train_cfg["width"]]):
                        yield study, (task, model, int(depth), int(width))


def cells(train_cfg: dict) -> list[tuple[str, str, int, int]]:
    """Sorted unique (task, model, depth, width) over every study of ``train.studies``."""
    return sorted({cell for _, cell in study_cells(train_cfg)})


def cell_levels(train_cfg: dict) -> dict[tuple[str, str, int, int], str]:
    """Measurement level of every cell: "full" when any study containing it measures in full
    (``measure: full``, the default), else "sweep" (``learndyn.train.experiments.LEVELS``)."""
    out: dict[tuple[str, str, int, int], str] = {}
    for study, cell in study_cells(train_cfg):
        level = study.get("measure", "full")
        out[cell] = "full" if "full" in (level, out.get(cell)) else "sweep"
    return dict(sorted(out.items()))


def cell_seeds(train_cfg: dict) -> dict[tuple[str, str, int, int], list[int]]:
    """Seeds of every cell: ``train.seeds`` when any study containing the cell has no ``seeds``
    of its own, else the union of its studies' seeds (a sweep may train fewer seeds; the seeds
    must be a subset of ``train.seeds`` so cells shared with other studies pair by seed)."""
    everything = [int(s) for s in train_cfg["seeds"]]
    out: dict[tuple[str, str, int, int], set] = {}
    for study, cell in study_cells(train_cfg):
        out.setdefault(cell, set()).update(int(s) for s in study.get("seeds") or everything)
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


FAMILIES = ("claims", "descriptive")


def descriptive_studies(train_cfg: dict) -> list[str]:
    """Keys of ``train.studies`` marked ``family: descriptive``: their trends are reported with
    intervals but enter no Holm family of the claims ledger (a sweep that reuses the rate tuned
    at the default size and trains fewer than the claims' seeds)."""
    return [k for k, st in train_cfg["studies"].items() if st.get("family", "claims") == "descriptive"]
