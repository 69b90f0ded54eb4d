rule make_data:
    input:
        lib=lib("data"),
    output:
        task="results/data/{task}.nc",
    log:
        "logs/data/{task}.log",
    conda:
        CONDA_ENV
    params:
        spec=get_task_spec,
    script:
        "../scripts/make_data.py"


rule data_summary:
    input:
        tasks=expand("results/data/{task}.nc", task=TASKS),
        lib=lib("data", "latex"),
    output:
        table="results/paper/tables/data_tasks.tex",
        macros="results/paper/macros/data.tex",
    log:
        "logs/data/summary.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/data_summary.py"

