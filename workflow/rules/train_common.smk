# Training stage and its analysis: config checks and input/param functions (no rules, so
# the rule files stay lint-clean). Included by workflow/rules/train.smk.
from learndyn.train_grid import CAPTIONS as TRAIN_CAPTIONS  # noqa: E402
from learndyn.train_grid import cells as train_cells  # noqa: E402

TRAIN = config["train"]
TRAIN_MODELS = sorted(TRAIN["models"])
TRAIN_CELLS = train_cells(TRAIN)
TRAIN_LIB = ("models", "training", "metrics", "study", "train_grid", "data")
TRAIN_FIGURES = sorted(TRAIN_CAPTIONS)
TRAIN_ANALYSIS = {
    "cells": "results/analysis/train_cells.nc",
    "spectra": "results/analysis/train_spectra.nc",
    "lr": "results/analysis/train_lrsweep.nc",
    "fp": "results/analysis/train_fixedpoint.nc",
}


def check_train_config():
    """Study tasks must be listed in train.tasks, study models in train.models."""
    problems = []
    for name, study in TRAIN["studies"].items():
        for task in study["tasks"]:
            if task not in TRAIN["tasks"]:
                problems.append(f"config error: train.studies.{name}.tasks: {task!r} not in train.tasks {TRAIN['tasks']}")
        for model in study["models"]:
            if model not in TRAIN["models"]:
                problems.append(f"config error: train.studies.{name}.models: {model!r} not in train.models {TRAIN_MODELS}")
    sweep = TRAIN["lr_sweep"]
    for model in sweep["models"]:
        if model not in TRAIN["models"]:
            problems.append(f"config error: train.lr_sweep.models: {model!r} not in train.models {TRAIN_MODELS}")
    for task in sweep["tasks"] + [TRAIN["fixed_point"]["task"]]:
        if task not in TRAIN["tasks"]:
            problems.append(f"config error: train: task {task!r} not in train.tasks {TRAIN['tasks']}")
    for key in ("structured", *TRAIN["claims"]["baselines"]):
        name = TRAIN["claims"][key] if key == "structured" else key
        if name not in TRAIN["models"]:
            problems.append(f"config error: train.claims: model {name!r} not in train.models {TRAIN_MODELS}")
    if problems:
        raise ConfigError("\n".join(problems))


check_train_config()


def get_train_cell_files():
    return [f"results/train/{t}/{m}/L{d}_W{w}.nc" for t, m, d, w in TRAIN_CELLS]


def get_lr_sweep_files():
    return expand("results/train/lrsweep/{task}/{model}.nc", task=TRAIN["lr_sweep"]["tasks"],
                  model=TRAIN["lr_sweep"]["models"])


def get_train_task_file(wildcards):
    return get_task_file(wildcards.task)


def get_model_spec(wildcards):
    return TRAIN["models"][wildcards.model]


def get_train_settings(wildcards):
    """Seeds, optimiser and measurement settings of a cell."""
    return {"seeds": TRAIN["seeds"], "optim": TRAIN["optim"], "measure": TRAIN["measure"]}


def get_checkpoint(wildcards):
    """Resumable state, outside the declared outputs (checkpoints/ is git-ignored)."""
    return f"checkpoints/train/{wildcards.task}/{wildcards.model}/L{wildcards.depth}_W{wildcards.width}.pt"


def get_lr_sweep_settings(wildcards):
    sweep = TRAIN["lr_sweep"]
    optim = {**TRAIN["optim"], "optimizer": sweep["optimizer"], "steps": sweep["steps"],
             "eval_every": sweep["steps"], "checkpoint_every": 0}
    return {"seeds": TRAIN["seeds"], "lrs": sweep["lrs"], "optim": optim,
            "depth": TRAIN["depth"], "width": TRAIN["width"]}


def get_fixed_point_settings(wildcards):
    fp = TRAIN["fixed_point"]
    optim = {**TRAIN["optim"], "steps": fp["steps"], "eval_every": fp["steps"], "checkpoint_every": 0}
    return {"seeds": TRAIN["seeds"], "optim": optim, "fixed_point": fp}


def get_cell_mem(wildcards):
    return 500 + int(wildcards.width) * int(wildcards.depth) // 2


def get_cell_runtime(wildcards):
    """Minutes: generous multiples of the measured cost (~1 s per layer at width 64)."""
    return 5 + int(wildcards.depth) * int(wildcards.width) // 64




def get_train_benchmarks():
    """Benchmark files of every training job (compute-cost appendix)."""
    cells = [f"benchmarks/train/{t}/{m}/L{d}_W{w}.tsv" for t, m, d, w in TRAIN_CELLS]
    sweeps = expand("benchmarks/train/lrsweep/{task}/{model}.tsv", task=TRAIN["lr_sweep"]["tasks"],
                    model=TRAIN["lr_sweep"]["models"])
    return [*cells, *sweeps, f"benchmarks/train/fixedpoint/{TRAIN['fixed_point']['task']}.tsv"]


def get_train_settings_all(wildcards=None):
    """The train config as the analysis needs it (studies, default size, claims)."""
    return TRAIN


def get_figure_caption(wildcards):
    return TRAIN_CAPTIONS[wildcards.fig]


def get_fixed_point_file(wildcards=None):
    return f"results/train/fixedpoint/{TRAIN['fixed_point']['task']}.nc"


def get_train_paper_files():
    return [*expand("results/figures/train/{fig}.pdf", fig=TRAIN_FIGURES),
            "results/paper/tables/train_claims.tex", "results/paper/tables/train_summary.tex",
            "results/paper/tables/train_ablation.tex"]


def get_train_macros():
    return ["results/paper/macros/train.tex"]
