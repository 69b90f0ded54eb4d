# Data stage: one netCDF file per task (generated, or read from files) and the tasks table.
# The tasks are cheap and unblock both halves: priority 4 runs them before any training or
# theory job (Snakemake does not pass a job's priority on to the jobs it waits for).


rule data_task:
    input:
        lib=lib("data_task.py"),
        files=get_task_files,
    output:
        **outputs_of("data_task"),
    log:
        log_of("data_task"),
    priority: 4
    conda:
        CONDA_ENV
    params:
        spec=get_task_spec,
    script:
        "../scripts/data_task.py"


rule data_summary:
    input:
        tasks=files_of("data_task", "task"),
        lib=lib("data_summary.py"),
    output:
        **outputs_of("data_summary"),
    log:
        log_of("data_summary"),
    conda:
        CONDA_ENV
    script:
        "../scripts/data_summary.py"
