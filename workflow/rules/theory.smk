# Theory stage: closed training-set dynamics and the Gram-operator hierarchy (spec
# ../shared/papers/gram-hierarchy.md). closed_flow and hybrid_flow integrate flows per task,
# identities checks identities per task, gradient_descent and truncation (closures and drift)
# use the main task. The truncation depth jobs are the study's longest: priority 3
# starts them first, beside the training (longest jobs first packs the two cores best).


include: "theory_common.smk"


# One rule per integrated experiment of the catalogue (closed_flow, hybrid_flow, identities,
# gradient_descent, structured_closure), made in one loop: one generic script runs learndyn.theory.experiments.RUNS.
for name in THEORY_EXPERIMENTS:

    rule:
        name:
            f"theory_{name}"
        input:
            task=get_theory_task_file,
            lib=lib("theory_experiment.py"),
        output:
            **outputs_of(f"theory_{name}"),
        log:
            log_of(f"theory_{name}"),
        benchmark:
            bench_of(f"theory_{name}")
        priority: THEORY_PRIORITY.get(name, 0)
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=cost_mem(f"theory_{name}"),
            runtime=cost_runtime(f"theory_{name}"),
        params:
            theory=theory_params(name),
            name=name,
        script:
            "../scripts/theory_experiment.py"


rule theory_truncation_depth:
    input:
        task=get_theory_task_file,
        lib=lib("theory_truncation.py"),
    output:
        **outputs_of("theory_truncation_depth"),
    log:
        log_of("theory_truncation_depth"),
    benchmark:
        bench_of("theory_truncation_depth")
    wildcard_constraints:
        n=r"\d+",
        depth=r"\d+",
    priority: 3
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("theory_truncation_depth"),
        runtime=cost_runtime("theory_truncation_depth"),
    params:
        theory=theory_params("truncation"),
    script:
        "../scripts/theory_truncation.py"


rule theory_truncation:
    input:
        depths=get_truncation_depth_files(),
        lib=lib("theory_truncation_merge.py"),
    output:
        **outputs_of("theory_truncation"),
    log:
        log_of("theory_truncation"),
    conda:
        CONDA_ENV
    script:
        "../scripts/theory_truncation_merge.py"


rule theory_smooth_control:
    input:
        task=get_theory_task_file,
        lib=lib("theory_smooth_control.py"),
    output:
        **outputs_of("theory_smooth_control"),
    log:
        log_of("theory_smooth_control"),
    benchmark:
        bench_of("theory_smooth_control")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("theory_smooth_control"),
        runtime=cost_runtime("theory_smooth_control"),
    params:
        theory=theory_params("truncation"),
    script:
        "../scripts/theory_smooth_control.py"


rule theory_summary:
    input:
        **outputs_of("theory_truncation"),
        closed_flow=files_of("theory_closed_flow", "ds"),
        hybrid_flow=files_of("theory_hybrid_flow", "ds"),
        identities=files_of("theory_identities", "ds"),
        gradient_descent=file_of("theory_gradient_descent", "ds"),
        second_n=get_truncation_second_n_files(),
        smooth=file_of("theory_smooth_control", "ds"),
        structured_closure=file_of("theory_structured_closure", "ds"),
        lib=lib("theory_summary.py"),
    output:
        **outputs_of("theory_summary"),
    log:
        log_of("theory_summary"),
    priority: 2
    conda:
        CONDA_ENV
    params:
        tolerances=get_theory_tolerances,
    script:
        "../scripts/theory_summary.py"
