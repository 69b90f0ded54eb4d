# Data stage: one netCDF file per task (generated, or read from files) and the tasks table.
# The tasks are cheap and unblock both halves: priority 4 runs them before any training or
# theory job (Snakemake does not pass a job's priority on to the jobs it waits for).


rule data_task:
    input:
        lib=lib("data_task.py"),
        files=get_task_files,
    output:
        task="results/data/{task}.nc",
    log:
        "logs/data/{task}.log",
    priority: 4
    conda:
        CONDA_ENV
    params:
        spec=get_task_spec,
    script:
        "../scripts/data_task.py"


rule data_summary:
    input:
        tasks=expand("results/data/{task}.nc", task=TASKS),
        lib=lib("data_summary.py"),
    output:
        table="results/paper/tables/data_tasks.tex",
        macros="results/paper/macros/data.tex",
    log:
        "logs/data/summary.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/data_summary.py"
