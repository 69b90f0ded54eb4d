# Aggregation of the training stage, the claims table, T-1 and figures F-A ... F-H.
# Input/param functions are in train_common.smk.


wildcard_constraints:
    fig="|".join(TRAIN_FIGURES),


rule analysis_train_collect:
    input:
        cells=get_train_cell_files(),
        sweeps=get_lr_sweep_files(),
        fixed_point=get_fixed_point_file(),
        lib=lib("analysis"),
    output:
        cells=TRAIN_ANALYSIS["cells"],
        spectra=TRAIN_ANALYSIS["spectra"],
        lr=TRAIN_ANALYSIS["lr"],
        fp=TRAIN_ANALYSIS["fp"],
    log:
        "logs/analysis/train_collect.log",
    conda:
        CONDA_ENV
    params:
        train=get_train_settings_all,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/analysis_train_collect.py"


rule analysis_train_claims:
    input:
        **TRAIN_ANALYSIS,
        lib=lib("analysis", "latex"),
    output:
        claims="results/analysis/train_claims.nc",
        table="results/paper/tables/train_claims.tex",
        summary="results/paper/tables/train_summary.tex",
        ablation="results/paper/tables/train_ablation.tex",
        macros="results/paper/macros/train.tex",
    log:
        "logs/analysis/train_claims.log",
    conda:
        CONDA_ENV
    params:
        train=get_train_settings_all,
    script:
        "../scripts/analysis_train_claims.py"


rule figure_train:
    input:
        **TRAIN_ANALYSIS,
        lib=lib("figures_train", "train_grid", "plotting"),
    output:
        pdf="results/figures/train/{fig}.pdf",
        png=report(
            "results/figures/train/{fig}.png",
            caption="../report/train_figure.rst",
            category="Training",
        ),
    log:
        "logs/figures/train/{fig}.log",
    conda:
        CONDA_ENV
    params:
        train=get_train_settings_all,
        caption=get_figure_caption,
    script:
        "../scripts/figure_train.py"
