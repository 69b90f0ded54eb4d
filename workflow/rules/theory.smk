# Theory stage: closed training-set dynamics and the Gram-operator hierarchy (spec
# ../shared/papers/gram-hierarchy.md). E1 closed_flow / E2 hybrid_flow integrate flows per task,
# E3 identities checks identities per task, E4 gradient_descent and E5/E6 truncation (closures
# and drift) use the main task. The truncation depth jobs are the study's longest: priority 3
# starts them first, beside the training (longest jobs first packs the two cores best).


include: "theory_common.smk"


rule theory_closed_flow:
    input:
        task="results/data/{task}.nc",
        lib=lib("theory_closed_flow.py"),
    output:
        ds="results/theory/closed_flow_{task}.nc",
    log:
        "logs/theory/closed_flow_{task}.log",
    benchmark:
        "benchmarks/theory/closed_flow_{task}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/theory/closed_flow_{task}.tsv"),
        runtime=cost_runtime("benchmarks/theory/closed_flow_{task}.tsv"),
    params:
        theory=theory_params("closed_flow"),
    script:
        "../scripts/theory_closed_flow.py"


rule theory_hybrid_flow:
    input:
        task="results/data/{task}.nc",
        lib=lib("theory_hybrid_flow.py"),
    output:
        ds="results/theory/hybrid_flow_{task}.nc",
    log:
        "logs/theory/hybrid_flow_{task}.log",
    benchmark:
        "benchmarks/theory/hybrid_flow_{task}.tsv"
    priority: 1
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/theory/hybrid_flow_{task}.tsv"),
        runtime=cost_runtime("benchmarks/theory/hybrid_flow_{task}.tsv"),
    params:
        theory=theory_params("hybrid_flow"),
    script:
        "../scripts/theory_hybrid_flow.py"


rule theory_identities:
    input:
        task="results/data/{task}.nc",
        lib=lib("theory_identities.py"),
    output:
        ds="results/theory/identities_{task}.nc",
    log:
        "logs/theory/identities_{task}.log",
    benchmark:
        "benchmarks/theory/identities_{task}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/theory/identities_{task}.tsv"),
        runtime=cost_runtime("benchmarks/theory/identities_{task}.tsv"),
    params:
        theory=theory_params("identities"),
    script:
        "../scripts/theory_identities.py"


rule theory_gradient_descent:
    input:
        task=get_theory_main_task_file(),
        lib=lib("theory_gradient_descent.py"),
    output:
        ds="results/theory/gradient_descent.nc",
    log:
        "logs/theory/gradient_descent.log",
    benchmark:
        "benchmarks/theory/gradient_descent.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/theory/gradient_descent.tsv"),
        runtime=cost_runtime("benchmarks/theory/gradient_descent.tsv"),
    params:
        theory=theory_params("gradient_descent"),
    script:
        "../scripts/theory_gradient_descent.py"


rule theory_truncation_depth:
    input:
        task=get_theory_main_task_file(),
        lib=lib("theory_truncation.py"),
    output:
        ds="results/theory/truncation/n{n}_L{depth}.nc",
    log:
        "logs/theory/truncation_n{n}_L{depth}.log",
    benchmark:
        "benchmarks/theory/truncation_n{n}_L{depth}.tsv"
    wildcard_constraints:
        n=r"\d+",
        depth=r"\d+",
    priority: 3
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/theory/truncation_n{n}_L{depth}.tsv"),
        runtime=cost_runtime("benchmarks/theory/truncation_n{n}_L{depth}.tsv"),
    params:
        theory=theory_params("truncation"),
    script:
        "../scripts/theory_truncation.py"


rule theory_truncation:
    input:
        depths=get_truncation_depth_files(),
        lib=lib("theory_truncation_merge.py"),
    output:
        truncation="results/theory/truncation.nc",
        drift="results/theory/drift.nc",
    log:
        "logs/theory/truncation.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/theory_truncation_merge.py"


rule theory_smooth_control:
    input:
        task=get_theory_main_task_file(),
        lib=lib("theory_smooth_control.py"),
    output:
        ds="results/theory/smooth_control.nc",
    log:
        "logs/theory/smooth_control.log",
    benchmark:
        "benchmarks/theory/smooth_control.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=cost_mem("benchmarks/theory/smooth_control.tsv"),
        runtime=cost_runtime("benchmarks/theory/smooth_control.tsv"),
    params:
        theory=theory_params("truncation"),
    script:
        "../scripts/theory_smooth_control.py"


rule theory_summary:
    input:
        closed_flow=expand("results/theory/closed_flow_{task}.nc", task=THEORY["flow_tasks"]),
        hybrid_flow=expand("results/theory/hybrid_flow_{task}.nc", task=THEORY["flow_tasks"]),
        identities=expand("results/theory/identities_{task}.nc", task=THEORY["tasks"]),
        gradient_descent="results/theory/gradient_descent.nc",
        truncation="results/theory/truncation.nc",
        drift="results/theory/drift.nc",
        second_n=get_truncation_second_n_files(),
        smooth="results/theory/smooth_control.nc",
        lib=lib("theory_summary.py"),
    output:
        summary="results/theory/summary.nc",
        table="results/paper/tables/theory_checks.tex",
        identities="results/paper/tables/theory_checks_identities.tex",
        hierarchy="results/paper/tables/theory_hierarchy.tex",
        macros="results/paper/macros/theory.tex",
    log:
        "logs/theory/summary.log",
    priority: 2
    conda:
        CONDA_ENV
    params:
        tolerances=get_theory_tolerances,
    script:
        "../scripts/theory_summary.py"
