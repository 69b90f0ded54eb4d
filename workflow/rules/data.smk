# Data stage: one netCDF file per task (generated, or read from files) and the tasks table.


rule data_task:
    input:
        lib=lib("data_task.py"),
        files=get_task_files,
    output:
        task="results/data/{task}.nc",
    log:
        "logs/data/{task}.log",
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
