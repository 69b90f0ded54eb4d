# The bridge: the trained models of the training half seen through the training-set kernel of
# the theory half (learndyn.bridge). One job per model followed along training (its snapshots),
# one for the width study, one for the family of tests, the table and the macros. Functions live
# in bridge_common.smk.


include: "bridge_common.smk"


rule bridge_kernel:
    input:
        task=get_bridge_task_file,
        model=get_bridge_model_file,
        lib=lib("bridge_kernel.py"),
    output:
        trajectory="results/bridge/trajectory/{model}.nc",
    log:
        "logs/bridge/trajectory/{model}.log",
    benchmark:
        "benchmarks/bridge/trajectory/{model}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/bridge/trajectory/{model}.tsv"),
        runtime=cost_runtime("benchmarks/bridge/trajectory/{model}.tsv"),
    params:
        bridge=get_bridge_settings,
    script:
        "../scripts/bridge_kernel.py"


rule bridge_width:
    input:
        task=get_bridge_task_file(),
        models=get_bridge_width_files(),
        lib=lib("bridge_width.py"),
    output:
        width=BRIDGE_WIDTH,
    log:
        "logs/bridge/width.log",
    benchmark:
        "benchmarks/bridge/width.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/bridge/width.tsv"),
        runtime=cost_runtime("benchmarks/bridge/width.tsv"),
    params:
        bridge=get_bridge_settings,
        cells=get_bridge_width_cells(),
    script:
        "../scripts/bridge_width.py"


rule bridge_report:
    input:
        trajectories=get_bridge_trajectory_files(),
        cells=get_bridge_cell_files(),
        width=BRIDGE_WIDTH,
        lib=lib("bridge_report.py"),
    output:
        combined=BRIDGE_COMBINED,
        tests=BRIDGE_TESTS,
        table="results/paper/tables/bridge_tests.tex",
        macros="results/paper/macros/bridge.tex",
    log:
        "logs/bridge/report.log",
    conda:
        CONDA_ENV
    params:
        bridge=get_bridge_settings,
        models=BRIDGE_MODELS,
    script:
        "../scripts/bridge_report.py"
