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


def population_cells(config: dict) -> list[tuple[str, str, int, int]]:
    """(task, model, depth, width) of the population of architectures: every model that a study
    of ``bridge.population_studies`` trains on ``bridge.task`` at the default size (sorted; one
    unit per architecture in the between-model tests)."""
    bridge, train = _bridge(config), config["train"]
    if bridge is None:
        return []
    default = (int(train["depth"]), int(train["width"]))
    out = set()
    for key in bridge.population_studies:
        study = train["studies"].get(key, {})
        if bridge.task not in study.get("tasks", []):
            continue
        for m in study["models"]:
            for d in study.get("depths", [default[0]]):
                for w in study.get("widths", [default[1]]):
                    if (int(d), int(w)) == default:
                        out.add((bridge.task, m, *default))
    return sorted(out)


def common_rate_cells(config: dict) -> list[tuple[str, str, int, int]]:
    """(task, model, depth, width) of the copies of the followed models trained at the structured
    model's tuned rate (``bridge.common_rate``: the control of the laziness rows)."""
    bridge, train = _bridge(config), config["train"]
    if bridge is None:
        return []
    return [(bridge.task, c, int(train["depth"]), int(train["width"])) for c in bridge.common_rate.values()]


def endpoint_cells(config: dict) -> list[tuple[str, str, int, int]]:
    """The cells whose kernel the bridge measures at the initial, kept and last weights: the
    population and the common-rate copies (they save the first and last snapshots only)."""
    return sorted(set(population_cells(config)) | set(common_rate_cells(config)))


def snapshot_every(config: dict, cell: tuple[str, str, int, int]) -> int:
    """Evaluations between saved snapshots for a training cell (0: the cell saves none): the
    followed models every ``bridge.snapshot_every``, the endpoint cells every n_eval evaluations,
    i.e. the first and the last only (the last is always kept)."""
    if cell in trajectory_cells(config):
        return _bridge(config).snapshot_every
    if cell in endpoint_cells(config):
        optim = config["train"]["optim"]
        return int(optim["steps"]) // int(optim["eval_every"]) + 1
    return 0
