# Training stage and its analysis: constants and input/param functions (no rules, so the
# rule files stay lint-clean). Cross-field checks live in learndyn.config. Included by train.smk.
from learndyn.train.grid import cell_levels, cell_seeds  # noqa: E402
from learndyn.bridge.cells import snapshot_every  # noqa: E402
from learndyn.config import device_params  # noqa: E402

TRAIN = config["train"]
TRAIN_MODELS = sorted(TRAIN["models"])
TRAIN_LEVELS = cell_levels(TRAIN)  # measurement level of each cell (full | sweep)
TRAIN_CELL_SEEDS = cell_seeds(TRAIN)  # seeds of each cell (a sweep may train fewer)


def get_tune_file(wildcards):
    """The tuning result whose rate the cell uses (its own, or its parent's for an ablation)."""
    source = tune_source(config, wildcards.task, wildcards.model)
    return RULES["train_tune"].outputs["tune"].format(task=wildcards.task, model=source)


def get_align_model_files(wildcards=None):
    """The trained models (kept weights) of every cell of the alignment families, by cell name."""
    align = TRAIN["alignment"]
    cells = dict.fromkeys(c for members in align["families"].values() for c in members)
    return {c: cell_file("model", named_cell(align["task"], c)) for c in cells}


def get_align_settings(wildcards=None):
    return {k: TRAIN[k] for k in ("seeds", "alignment")} | device_params(config)


def get_train_task_file(wildcards):
    return get_task_file(wildcards.task)


def get_model_spec(wildcards):
    return TRAIN["models"][wildcards.model]


def get_match_spec(wildcards):
    """The spec of the model whose parameter count this one matches ({} if none)."""
    target = TRAIN["models"][wildcards.model].get("match_params", "")
    return TRAIN["models"][target] if target else {}


def get_cell_settings(wildcards):
    """The parts of the train config a cell reads (seeds, optimiser, measurements, and the
    cell's measurement level), so that editing another part does not retrain the cells."""
    cell = (wildcards.task, wildcards.model, int(wildcards.depth), int(wildcards.width))
    level = TRAIN_LEVELS.get(cell, "full")
    seeds = TRAIN_CELL_SEEDS.get(cell, TRAIN["seeds"])
    out = {k: TRAIN[k] for k in ("optim", "measure", "validation")} | {"level": level, "seeds": seeds}
    out |= device_params(config)  # the device is a parameter: changing it retrains the cell
    every = snapshot_every(config, cell)  # the kernel bridge's cells save snapshots (others: key absent)
    return out | {"snapshot_every": every} if every else out


def get_tune_settings(wildcards):
    return {k: TRAIN[k] for k in ("tune", "optim", "validation", "depth", "width")} | device_params(config)


def get_lr_sweep_settings(wildcards):
    return {k: TRAIN[k] for k in ("seeds", "optim", "lr_sweep", "depth", "width")} | device_params(config)


def get_stock_settings(wildcards):
    """The stock reference's grids, seeds, tuning seeds and validation split."""
    return {k: TRAIN[k] for k in ("seeds", "tune", "validation", "stock")}


def get_stock_report_settings(wildcards=None):
    return {k: TRAIN[k] for k in ("depth", "width", "stock")} | {
        "structured": TRAIN["claims"]["structured"],
        "main_models": TRAIN["studies"]["main"]["models"],
    }


def get_fixed_point_settings(wildcards):
    return {k: TRAIN[k] for k in ("seeds", "optim", "fixed_point")} | device_params(config)


def get_checkpoint(wildcards):
    """Resumable state, outside the declared outputs (checkpoints/ is git-ignored)."""
    return f"checkpoints/train/{wildcards.task}/{wildcards.model}/L{wildcards.depth}_W{wildcards.width}.pt"


def get_train_settings(wildcards=None):
    """The train config as the analysis needs it (studies, default size, claims)."""
    return TRAIN
