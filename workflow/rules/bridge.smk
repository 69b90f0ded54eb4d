# The bridge: the trained models of the training half seen through the training-set kernel of
# the theory half (learndyn.bridge). One job computes every kernel (the models followed along
# training from their snapshots, and the width study; one job, not one per model: each torch job
# costs seconds of imports, which is most of the bridge's cost in the quick profile), one the family
# of tests, the table and the macros. Functions live in bridge_common.smk.


include: "bridge_common.smk"


rule bridge_kernels:
    input:
        task=get_bridge_task_file(),
        trajectory_models=get_bridge_model_files(),
        width_models=get_bridge_width_files(),
        lib=lib("bridge_kernels.py"),
    output:
        trajectories=get_bridge_trajectory_files(),
        width=BRIDGE_WIDTH,
    log:
        "logs/bridge/kernels.log",
    benchmark:
        "benchmarks/bridge/kernels.tsv"
    priority: 2
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/bridge/kernels.tsv"),
        runtime=cost_runtime("benchmarks/bridge/kernels.tsv"),
    params:
        bridge=get_bridge_settings,
        models=BRIDGE_MODELS,
        cells=get_bridge_width_cells(),
    script:
        "../scripts/bridge_kernels.py"


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
