# Training stage: structured layers vs baselines (spec structured-layers.md §2-§5), then the
# aggregation, the claims table and the summary tables. One job per (task, model) tunes the
# learning rate on the validation split; one job per (task, model, depth, width) cell trains all
# seeds at that rate as one batched ensemble. Functions live in train_common.smk.


include: "train_common.smk"


wildcard_constraints:
    model="|".join(TRAIN_MODELS),
    depth=r"\d+",
    width=r"\d+",


rule train_tune:
    input:
        task=get_train_task_file,
        lib=lib("train_tune.py"),
    output:
        **outputs_of("train_tune"),
    log:
        log_of("train_tune"),
    benchmark:
        bench_of("train_tune")
    priority: 2
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("train_tune"),
        runtime=cost_runtime("train_tune"),
    params:
        spec=get_model_spec,
        match=get_match_spec,
        train=get_tune_settings,
    script:
        "../scripts/train_tune.py"


rule train_cell:
    input:
        task=get_train_task_file,
        tune=get_tune_file,
        lib=lib("train_cell.py"),
    output:
        **outputs_of("train_cell"),
    log:
        log_of("train_cell"),
    benchmark:
        bench_of("train_cell")
    priority: 1
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("train_cell"),
        runtime=cost_runtime("train_cell"),
    params:
        spec=get_model_spec,
        match=get_match_spec,
        train=get_cell_settings,
        checkpoint=get_checkpoint,
    script:
        "../scripts/train_cell.py"


rule train_lr_sweep:
    input:
        task=get_train_task_file,
        lib=lib("train_lr_sweep.py"),
    output:
        **outputs_of("train_lr_sweep"),
    log:
        log_of("train_lr_sweep"),
    benchmark:
        bench_of("train_lr_sweep")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("train_lr_sweep"),
        runtime=cost_runtime("train_lr_sweep"),
    params:
        spec=get_model_spec,
        train=get_lr_sweep_settings,
    script:
        "../scripts/train_lr_sweep.py"


rule train_stock:
    input:
        task=get_train_task_file,
        lib=lib("train_stock.py"),
    output:
        **outputs_of("train_stock"),
    log:
        log_of("train_stock"),
    benchmark:
        bench_of("train_stock")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("train_stock"),
        runtime=cost_runtime("train_stock"),
    params:
        train=get_stock_settings,
    script:
        "../scripts/train_stock.py"


rule train_stock_report:
    input:
        stock=files_of("train_stock", "stock"),
        cells=file_of("train_collect", "cells"),
        lib=lib("train_stock_report.py"),
    output:
        **outputs_of("train_stock_report"),
    log:
        log_of("train_stock_report"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        train=get_stock_report_settings,
    script:
        "../scripts/train_stock_report.py"


rule train_fixed_point:
    input:
        task=get_train_task_file,
        lib=lib("train_fixed_point.py"),
    output:
        **outputs_of("train_fixed_point"),
    log:
        log_of("train_fixed_point"),
    benchmark:
        bench_of("train_fixed_point")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("train_fixed_point"),
        runtime=cost_runtime("train_fixed_point"),
    params:
        train=get_fixed_point_settings,
    script:
        "../scripts/train_fixed_point.py"


rule train_collect:
    input:
        tunes=files_of("train_tune", "tune"),
        cells=files_of("train_cell", "cell"),
        sweeps=files_of("train_lr_sweep", "sweep"),
        fixed_point=file_of("train_fixed_point", "fixed_point"),
        lib=lib("train_collect.py"),
    output:
        **outputs_of("train_collect"),
    log:
        log_of("train_collect"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        train=get_train_settings,
    script:
        "../scripts/train_collect.py"


rule train_align:
    input:
        task=get_task_file(TRAIN["alignment"]["task"]),
        models=list(get_align_model_files().values()),
        lib=lib("train_align.py"),
    output:
        **outputs_of("train_align"),
    log:
        log_of("train_align"),
    benchmark:
        bench_of("train_align")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("train_align"),
        runtime=cost_runtime("train_align"),
    params:
        train=get_align_settings,
        cells=list(get_align_model_files()),
    script:
        "../scripts/train_align.py"


rule train_claims:
    input:
        **outputs_of("train_collect"),
        **outputs_of("train_align"),
        stock=files_of("train_stock_report", "comparison"),
        lib=lib("train_claims.py"),
    output:
        **outputs_of("train_claims"),
    log:
        log_of("train_claims"),
    conda:
        CONDA_ENV
    params:
        train=get_train_settings,
    script:
        "../scripts/train_claims.py"
