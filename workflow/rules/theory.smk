# Theory stage: closed training-set dynamics and the Gram-operator hierarchy (spec
# ../shared/papers/gram-hierarchy.md). E1/E2 integrate flows per task, E3 checks identities per
# task, E4 (gradient descent) and E5/E6 (truncation, dynamics pictures) use the main task.


include: "theory_common.smk"


rule theory_e1:
    input:
        task="results/data/{task}.nc",
        lib=lib("theory"),
    output:
        ds="results/theory/e1_{task}.nc",
    log:
        "logs/theory/e1_{task}.log",
    conda:
        CONDA_ENV
    benchmark:
        "benchmarks/theory/e1_{task}.tsv"
    params:
        common=get_theory_common,
        integrator=get_theory_integrator,
        e1=get_theory_e1,
    threads: 1
    resources:
        mem_mb=1024,
        runtime=10,
    script:
        "../scripts/theory_e1.py"


rule theory_e2:
    input:
        task="results/data/{task}.nc",
        lib=lib("theory"),
    output:
        ds="results/theory/e2_{task}.nc",
    log:
        "logs/theory/e2_{task}.log",
    conda:
        CONDA_ENV
    benchmark:
        "benchmarks/theory/e2_{task}.tsv"
    params:
        common=get_theory_common,
        integrator=get_theory_integrator,
        e2=get_theory_e2,
    threads: 1
    resources:
        mem_mb=1024,
        runtime=10,
    script:
        "../scripts/theory_e2.py"


rule theory_e3:
    input:
        task="results/data/{task}.nc",
        lib=lib("theory"),
    output:
        ds="results/theory/e3_{task}.nc",
    log:
        "logs/theory/e3_{task}.log",
    conda:
        CONDA_ENV
    benchmark:
        "benchmarks/theory/e3_{task}.tsv"
    params:
        common=get_theory_common,
        e3=get_theory_e3,
    threads: 1
    resources:
        mem_mb=1024,
        runtime=10,
    script:
        "../scripts/theory_e3.py"


rule theory_e4:
    input:
        task=get_theory_main_task_file(),
        lib=lib("theory"),
    output:
        ds="results/theory/e4_gd.nc",
    log:
        "logs/theory/e4_gd.log",
    conda:
        CONDA_ENV
    benchmark:
        "benchmarks/theory/e4_gd.tsv"
    params:
        common=get_theory_common,
        integrator=get_theory_integrator,
        e4=get_theory_e4,
    threads: 1
    resources:
        mem_mb=1024,
        runtime=10,
    script:
        "../scripts/theory_e4.py"


rule theory_truncation:
    input:
        task=get_theory_main_task_file(),
        lib=lib("theory"),
    output:
        e5="results/theory/e5_truncation.nc",
        e6="results/theory/e6_dynamics.nc",
    log:
        "logs/theory/truncation.log",
    conda:
        CONDA_ENV
    benchmark:
        "benchmarks/theory/truncation.tsv"
    params:
        common=get_theory_common,
        integrator=get_theory_integrator,
        e5=get_theory_e5,
    threads: 1
    resources:
        mem_mb=2048,
        runtime=20,
    script:
        "../scripts/theory_truncation.py"


rule theory_summary:
    input:
        e1=expand("results/theory/e1_{task}.nc", task=THEORY["flow_tasks"]),
        e2=expand("results/theory/e2_{task}.nc", task=THEORY["flow_tasks"]),
        e3=expand("results/theory/e3_{task}.nc", task=THEORY["tasks"]),
        e4="results/theory/e4_gd.nc",
        e5="results/theory/e5_truncation.nc",
        lib=lib("theory", "latex"),
    output:
        summary="results/theory/summary.nc",
        table="results/paper/tables/theory_checks.tex",
        macros="results/paper/macros/theory.tex",
    log:
        "logs/theory/summary.log",
    conda:
        CONDA_ENV
    params:
        tolerances=get_theory_tolerances,
    script:
        "../scripts/theory_summary.py"


rule theory_figures:
    input:
        e1=expand("results/theory/e1_{task}.nc", task=THEORY["flow_tasks"]),
        e2=expand("results/theory/e2_{task}.nc", task=THEORY["flow_tasks"]),
        e4="results/theory/e4_gd.nc",
        e5="results/theory/e5_truncation.nc",
        e6="results/theory/e6_dynamics.nc",
        lib=lib("theory", "plotting"),
    output:
        residuals_pdf="results/figures/theory/residuals.pdf",
        residuals_png=report("results/figures/theory/residuals.png",
                             caption="../report/theory_residuals.rst", category="Theory"),
        error_time_pdf="results/figures/theory/error_time.pdf",
        error_time_png=report("results/figures/theory/error_time.png",
                              caption="../report/theory_error_time.rst", category="Theory"),
        truncation_pdf="results/figures/theory/truncation.pdf",
        truncation_png=report("results/figures/theory/truncation.png",
                              caption="../report/theory_truncation.rst", category="Theory"),
        gram_drift_pdf="results/figures/theory/gram_drift.pdf",
        gram_drift_png=report("results/figures/theory/gram_drift.png",
                              caption="../report/theory_gram_drift.rst", category="Theory"),
        spectrum_pdf="results/figures/theory/spectrum.pdf",
        spectrum_png=report("results/figures/theory/spectrum.png",
                            caption="../report/theory_spectrum.rst", category="Theory"),
        eta_scaling_pdf="results/figures/theory/eta_scaling.pdf",
        eta_scaling_png=report("results/figures/theory/eta_scaling.png",
                               caption="../report/theory_eta_scaling.rst", category="Theory"),
    log:
        "logs/theory/figures.log",
    conda:
        CONDA_ENV
    params:
        tolerances=get_theory_tolerances,
    script:
        "../scripts/theory_figures.py"
