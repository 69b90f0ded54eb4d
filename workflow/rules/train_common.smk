# Training stage and its analysis: constants and input/param functions (no rules, so the
# rule files stay lint-clean). Cross-field checks live in learndyn.config. Included by train.smk.
from learndyn.train.grid import cells as train_cells, cell_levels, cell_seeds, tune_sources  # noqa: E402
from learndyn.bridge.cells import snapshot_every  # noqa: E402

TRAIN = config["train"]
TRAIN_MODELS = sorted(TRAIN["models"])
TRAIN_CELLS = train_cells(TRAIN)
TRAIN_LEVELS = cell_levels(TRAIN)  # measurement level of each cell (full | sweep)
TRAIN_CELL_SEEDS = cell_seeds(TRAIN)  # seeds of each cell (a sweep may train fewer)
# one learning-rate tuning per (task, model) at the default size, reused by every cell of the pair
# the (task, model) whose tuned rate each pair uses (ablations borrow their parent's)
TRAIN_TUNE_SOURCE = tune_sources(TRAIN)
TRAIN_TUNED = sorted({(t, src) for (t, _), src in TRAIN_TUNE_SOURCE.items()})
# combined datasets (cells, spectra, lr, fp, tune) of train_collect; the claims of train_claims
TRAIN_CLAIMS = FIGURE_DATASETS["train"]["claims"]
TRAIN_ALIGN = FIGURE_DATASETS["train"]["align"]
TRAIN_ANALYSIS = {k: v for k, v in FIGURE_DATASETS["train"].items() if k not in ("claims", "align")}


def get_train_cell_files():
    return [f"results/train/{t}/{m}/L{d}_W{w}.nc" for t, m, d, w in TRAIN_CELLS]


def get_tune_files():
    return [f"results/train/tune/{t}/{m}.nc" for t, m in TRAIN_TUNED]


def get_tune_file(wildcards):
    """The tuning result whose rate the cell uses (its own, or its parent's for an ablation)."""
    source = TRAIN_TUNE_SOURCE.get((wildcards.task, wildcards.model), wildcards.model)
    return f"results/train/tune/{wildcards.task}/{source}.nc"


def get_lr_sweep_files():
    return expand(
        "results/train/lrsweep/{task}/{model}.nc",
        task=TRAIN["lr_sweep"]["tasks"],
        model=TRAIN["lr_sweep"]["models"],
    )


def get_align_model_files(wildcards=None):
    """The trained models (kept weights) of every cell of the alignment families."""
    align = TRAIN["alignment"]
    cells = dict.fromkeys(c for members in align["families"].values() for c in members)
    return {c: f"results/train/models/{align['task']}/{c}.pt" for c in cells}


def get_align_settings(wildcards=None):
    return {k: TRAIN[k] for k in ("seeds", "alignment")}


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
    every = snapshot_every(config, cell)  # the kernel bridge's cells save snapshots (others: key absent)
    return out | {"snapshot_every": every} if every else out


def get_tune_settings(wildcards):
    return {k: TRAIN[k] for k in ("tune", "optim", "validation", "depth", "width")}


def get_lr_sweep_settings(wildcards):
    return {k: TRAIN[k] for k in ("seeds", "optim", "lr_sweep", "depth", "width")}


def get_fixed_point_settings(wildcards):
    return {k: TRAIN[k] for k in ("seeds", "optim", "fixed_point")}


def get_checkpoint(wildcards):
    """Resumable state, outside the declared outputs (checkpoints/ is git-ignored)."""
    return f"checkpoints/train/{wildcards.task}/{wildcards.model}/L{wildcards.depth}_W{wildcards.width}.pt"


def get_train_benchmarks():
    """Benchmark files of every training job (compute-cost appendix)."""
    cells = [f"benchmarks/train/{t}/{m}/L{d}_W{w}.tsv" for t, m, d, w in TRAIN_CELLS]
    sweeps = expand(
        "benchmarks/train/lrsweep/{task}/{model}.tsv",
        task=TRAIN["lr_sweep"]["tasks"],
        model=TRAIN["lr_sweep"]["models"],
    )
    tunes = [f"benchmarks/train/tune/{t}/{m}.tsv" for t, m in TRAIN_TUNED]
    fixed = f"benchmarks/train/fixedpoint/{TRAIN['fixed_point']['task']}.tsv"
    return [*tunes, *cells, *sweeps, fixed, "benchmarks/train/align.tsv"]


def get_train_settings(wildcards=None):
    """The train config as the analysis needs it (studies, default size, claims)."""
    return TRAIN


def get_fixed_point_file(wildcards=None):
    return f"results/train/fixedpoint/{TRAIN['fixed_point']['task']}.nc"


def get_train_dataset_files():
    """Every netCDF file the training stage writes."""
    return [
        *get_tune_files(),
        *get_train_cell_files(),
        *get_lr_sweep_files(),
        get_fixed_point_file(),
        *TRAIN_ANALYSIS.values(),
        TRAIN_ALIGN,
        TRAIN_CLAIMS,
    ]


def get_train_paper_files():
    return [
        "results/paper/tables/train_claims.tex",
        "results/paper/tables/train_verdicts.tex",
        "results/paper/tables/train_protocol.tex",
        "results/paper/tables/train_summary.tex",
        "results/paper/tables/train_ablation.tex",
        "results/paper/tables/train_trends.tex",
        "results/paper/tables/train_alignment.tex",
    ]


def get_train_macros():
    return ["results/paper/macros/train.tex"]
