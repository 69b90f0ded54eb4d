rule make_data:
    input:
        lib=lib("data"),
    output:
        task="results/data/{task}.nc",
    log:
        "logs/data/{task}.log",
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
    script:
        "../scripts/data_summary.py"


def get_data_paper_files():
    return ["results/paper/tables/data_tasks.tex"]


def get_data_macros():
    return ["results/paper/macros/data.tex"]
