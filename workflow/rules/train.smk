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
        tune="results/train/tune/{task}/{model}.nc",
    log:
        "logs/train/tune/{task}/{model}.log",
    benchmark:
        "benchmarks/train/tune/{task}/{model}.tsv"
    priority: 2
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/train/tune/{task}/{model}.tsv"),
        runtime=cost_runtime("benchmarks/train/tune/{task}/{model}.tsv"),
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
        cell="results/train/{task}/{model}/L{depth}_W{width}.nc",
        model="results/train/models/{task}/{model}/L{depth}_W{width}.pt",
    log:
        "logs/train/{task}/{model}/L{depth}_W{width}.log",
    benchmark:
        "benchmarks/train/{task}/{model}/L{depth}_W{width}.tsv"
    priority: 1
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/train/{task}/{model}/L{depth}_W{width}.tsv"),
        runtime=cost_runtime("benchmarks/train/{task}/{model}/L{depth}_W{width}.tsv"),
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
        sweep="results/train/lrsweep/{task}/{model}.nc",
    log:
        "logs/train/lrsweep/{task}/{model}.log",
    benchmark:
        "benchmarks/train/lrsweep/{task}/{model}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/train/lrsweep/{task}/{model}.tsv"),
        runtime=cost_runtime("benchmarks/train/lrsweep/{task}/{model}.tsv"),
    params:
        spec=get_model_spec,
        train=get_lr_sweep_settings,
    script:
        "../scripts/train_lr_sweep.py"


rule train_fixed_point:
    input:
        task=get_train_task_file,
        lib=lib("train_fixed_point.py"),
    output:
        fixed_point="results/train/fixedpoint/{task}.nc",
    log:
        "logs/train/fixedpoint/{task}.log",
    benchmark:
        "benchmarks/train/fixedpoint/{task}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/train/fixedpoint/{task}.tsv"),
        runtime=cost_runtime("benchmarks/train/fixedpoint/{task}.tsv"),
    params:
        train=get_fixed_point_settings,
    script:
        "../scripts/train_fixed_point.py"


rule train_collect:
    input:
        tunes=get_tune_files(),
        cells=get_train_cell_files(),
        sweeps=get_lr_sweep_files(),
        fixed_point=get_fixed_point_file(),
        lib=lib("train_collect.py"),
    output:
        **TRAIN_ANALYSIS,
    log:
        "logs/train/collect.log",
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
        align=TRAIN_ALIGN,
    log:
        "logs/train/align.log",
    benchmark:
        "benchmarks/train/align.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/train/align.tsv"),
        runtime=cost_runtime("benchmarks/train/align.tsv"),
    params:
        train=get_align_settings,
        cells=list(get_align_model_files()),
    script:
        "../scripts/train_align.py"


rule train_claims:
    input:
        **TRAIN_ANALYSIS,
        align=TRAIN_ALIGN,
        lib=lib("train_claims.py"),
    output:
        claims=TRAIN_CLAIMS,
        table="results/paper/tables/train_claims.tex",
        verdicts="results/paper/tables/train_verdicts.tex",
        protocol="results/paper/tables/train_protocol.tex",
        summary="results/paper/tables/train_summary.tex",
        ablation="results/paper/tables/train_ablation.tex",
        trends="results/paper/tables/train_trends.tex",
        alignment="results/paper/tables/train_alignment.tex",
        macros="results/paper/macros/train.tex",
    log:
        "logs/train/claims.log",
    conda:
        CONDA_ENV
    params:
        train=get_train_settings,
    script:
        "../scripts/train_claims.py"
