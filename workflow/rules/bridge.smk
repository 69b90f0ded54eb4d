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
        endpoint_models=get_bridge_endpoint_files(),
        lib=lib("bridge_kernels.py"),
    output:
        **outputs_of("bridge_kernels"),
    log:
        log_of("bridge_kernels"),
    benchmark:
        bench_of("bridge_kernels")
    priority: 2
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("bridge_kernels"),
        runtime=cost_runtime("bridge_kernels"),
    params:
        bridge=get_bridge_settings,
        models=BRIDGE_MODELS,
        cells=get_bridge_width_cells(),
        endpoints=get_bridge_endpoint_models(),
    script:
        "../scripts/bridge_kernels.py"


rule bridge_report:
    input:
        **outputs_of("bridge_kernels"),
        cells=get_bridge_cell_files(),
        population_cells=get_bridge_population_files(),
        lib=lib("bridge_report.py"),
    output:
        **outputs_of("bridge_report"),
    log:
        log_of("bridge_report"),
    conda:
        CONDA_ENV
    params:
        bridge=get_bridge_settings,
        models=BRIDGE_MODELS,
        population=get_bridge_population_models(),
    script:
        "../scripts/bridge_report.py"
