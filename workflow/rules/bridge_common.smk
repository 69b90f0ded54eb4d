# The bridge (the trained models through the training-set kernel): constants and input/param
# functions (no rules). Cross-field checks live in learndyn.config. Included by bridge.smk.
from learndyn.bridge.cells import trajectory_cells, width_cells  # noqa: E402

BRIDGE = config.get("bridge", {})
BRIDGE_MODELS = [m for _, m, _, _ in trajectory_cells(config)]
BRIDGE_COMBINED = FIGURE_DATASETS["bridge"]["combined"]
BRIDGE_WIDTH = FIGURE_DATASETS["bridge"]["width"]
BRIDGE_TESTS = FIGURE_DATASETS["bridge"]["tests"]


def get_bridge_task_file(wildcards=None):
    return get_task_file(BRIDGE["task"])


def get_bridge_model_files(wildcards=None):
    """The saved ensembles (kept weights and snapshots) of the trajectory cells."""
    return [f"results/train/models/{t}/{m}/L{d}_W{w}.pt" for t, m, d, w in trajectory_cells(config)]


def get_bridge_trajectory_files(wildcards=None):
    return [f"results/bridge/trajectory/{m}.nc" for m in BRIDGE_MODELS]


def get_bridge_cell_files(wildcards=None):
    """The training half's cell datasets of the trajectory cells (per-seed effects)."""
    return [f"results/train/{t}/{m}/L{d}_W{w}.nc" for t, m, d, w in trajectory_cells(config)]


def get_bridge_width_files(wildcards=None):
    return [f"results/train/models/{t}/{m}/L{d}_W{w}.pt" for t, m, d, w in width_cells(config)]


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


def get_bridge_dataset_files():
    if not BRIDGE:
        return []
    return [*get_bridge_trajectory_files(), BRIDGE_WIDTH, BRIDGE_COMBINED, BRIDGE_TESTS]


def get_bridge_paper_files():
    return ["results/paper/tables/bridge_tests.tex"] if BRIDGE else []


def get_bridge_macros():
    return ["results/paper/macros/bridge.tex"] if BRIDGE else []


def get_bridge_benchmarks():
    if not BRIDGE:
        return []
    return ["benchmarks/bridge/kernels.tsv"]
