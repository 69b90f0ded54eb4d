# Aggregation of the training stage, the claims table, T-1 and figures F-A ... F-H.
from learndyn.figures_train import CAPTIONS as TRAIN_CAPTIONS  # noqa: E402

TRAIN_FIGURES = sorted(TRAIN_CAPTIONS)
TRAIN_ANALYSIS = {
    "cells": "results/analysis/train_cells.nc",
    "spectra": "results/analysis/train_spectra.nc",
    "lr": "results/analysis/train_lrsweep.nc",
    "fp": "results/analysis/train_fixedpoint.nc",
}


wildcard_constraints:
    fig="|".join(TRAIN_FIGURES),


def get_train_settings_all(wildcards=None):
    """The train config as the analysis needs it (studies, default size, claims)."""
    return TRAIN


def get_figure_caption(wildcards):
    return TRAIN_CAPTIONS[wildcards.fig]


def get_train_paper_files():
    return [*expand("results/figures/train/{fig}.pdf", fig=TRAIN_FIGURES),
            "results/paper/tables/train_claims.tex", "results/paper/tables/train_summary.tex"]


def get_train_macros():
    return ["results/paper/macros/train.tex"]


rule train_collect:
    input:
        cells=get_train_cell_files(),
        sweeps=get_lr_sweep_files(),
        fixed_point=f"results/train/fixedpoint/{TRAIN['fixed_point']['task']}.nc",
        lib=lib("analysis", "study", "models", "training", "metrics"),
    output:
        cells=TRAIN_ANALYSIS["cells"],
        spectra=TRAIN_ANALYSIS["spectra"],
        lr=TRAIN_ANALYSIS["lr"],
        fp=TRAIN_ANALYSIS["fp"],
    log:
        "logs/analysis/train_collect.log",
    params:
        train=get_train_settings_all,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/analysis_train_collect.py"


rule train_claims:
    input:
        **TRAIN_ANALYSIS,
        lib=lib("analysis", "latex", "study", "models", "training", "metrics"),
    output:
        claims="results/analysis/train_claims.nc",
        table="results/paper/tables/train_claims.tex",
        summary="results/paper/tables/train_summary.tex",
        macros="results/paper/macros/train.tex",
    log:
        "logs/analysis/train_claims.log",
    params:
        train=get_train_settings_all,
    script:
        "../scripts/analysis_train_claims.py"


rule figure_train:
    input:
        **TRAIN_ANALYSIS,
        lib=lib("figures_train", "plotting"),
    output:
        pdf="results/figures/train/{fig}.pdf",
        png=report("results/figures/train/{fig}.png", caption="../report/train_figure.rst",
                   category="Training"),
    log:
        "logs/figures/train/{fig}.log",
    params:
        train=get_train_settings_all,
        caption=get_figure_caption,
    script:
        "../scripts/figure_train.py"
