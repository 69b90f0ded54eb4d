# Training stage: structured layers vs baselines (spec structured-layers.md §2-§5).
# One job per (task, model, depth, width) cell trains all seeds as one batched ensemble.
# Functions and config checks live in train_common.smk (rule files hold rules only).


include: "train_common.smk"


wildcard_constraints:
    model="|".join(TRAIN_MODELS),
    depth=r"\d+",
    width=r"\d+",


rule train_cell:
    input:
        task=get_train_task_file,
        lib=lib(*TRAIN_LIB),
    output:
        cell="results/train/{task}/{model}/L{depth}_W{width}.nc",
    log:
        "logs/train/{task}/{model}/L{depth}_W{width}.log",
    benchmark:
        "benchmarks/train/{task}/{model}/L{depth}_W{width}.tsv"
    conda:
        CONDA_ENV
    params:
        spec=get_model_spec,
        settings=get_train_settings,
        checkpoint=get_checkpoint,
    threads: 1
    resources:
        mem_mb=get_cell_mem,
        runtime=get_cell_runtime,
    script:
        "../scripts/train_cell.py"


rule train_lr_sweep:
    input:
        task=get_train_task_file,
        lib=lib(*TRAIN_LIB),
    output:
        sweep="results/train/lrsweep/{task}/{model}.nc",
    log:
        "logs/train/lrsweep/{task}/{model}.log",
    benchmark:
        "benchmarks/train/lrsweep/{task}/{model}.tsv"
    conda:
        CONDA_ENV
    params:
        spec=get_model_spec,
        settings=get_lr_sweep_settings,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/train_lr_sweep.py"


rule train_fixed_point:
    input:
        task=get_train_task_file,
        lib=lib(*TRAIN_LIB),
    output:
        fixed_point="results/train/fixedpoint/{task}.nc",
    log:
        "logs/train/fixedpoint/{task}.log",
    benchmark:
        "benchmarks/train/fixedpoint/{task}.tsv"
    conda:
        CONDA_ENV
    params:
        settings=get_fixed_point_settings,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    script:
        "../scripts/train_fixed_point.py"
