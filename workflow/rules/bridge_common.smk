# The bridge (the trained models through the training-set kernel): constants and input/param
# functions (no rules). Cross-field checks live in learndyn.config. Included by bridge.smk.
from learndyn.bridge.cells import (
    endpoint_cells,
    population_cells,
    trajectory_cells,
    width_cells,
)  # noqa: E402

BRIDGE = config.get("bridge", {})
BRIDGE_MODELS = [m for _, m, _, _ in trajectory_cells(config)]


def get_bridge_task_file(wildcards=None):
    return get_task_file(BRIDGE["task"])


def get_bridge_model_files(wildcards=None):
    """The saved ensembles (kept weights and snapshots) of the trajectory cells."""
    return [cell_file("model", cell) for cell in trajectory_cells(config)]


def get_bridge_cell_files(wildcards=None):
    """The training half's cell datasets of the trajectory cells (per-seed effects)."""
    return [cell_file("cell", cell) for cell in trajectory_cells(config)]


def get_bridge_endpoint_files(wildcards=None):
    """The saved ensembles (kept weights, first and last snapshots) of the population of
    architectures and of the common-rate copies."""
    return [cell_file("model", cell) for cell in endpoint_cells(config)]


def get_bridge_endpoint_models(wildcards=None):
    return [m for _, m, _, _ in endpoint_cells(config)]


def get_bridge_population_files(wildcards=None):
    """The training half's cell datasets of the population (per-seed effects)."""
    return [cell_file("cell", cell) for cell in population_cells(config)]


def get_bridge_population_models(wildcards=None):
    return [m for _, m, _, _ in population_cells(config)]


def get_bridge_width_files(wildcards=None):
    return [cell_file("model", cell) for cell in width_cells(config)]


def get_bridge_width_cells(wildcards=None):
    return [[m, w] for _, m, _, w in width_cells(config)]


def get_bridge_settings(wildcards=None):
    """The bridge section, with what it reads of the train section (validation split, batch
    size for the epoch axis, the structured model and the robustness levels of the claims)."""
    train = config["train"]
    return {
        "bridge": BRIDGE,
        "validation": train["validation"],
        "batch_size": train["optim"]["batch_size"],
        "claims": {k: train["claims"][k] for k in ("structured", "noise_sigma", "fgsm_eps")},
    }
