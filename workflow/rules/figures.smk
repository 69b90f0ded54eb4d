# Figures of both halves from one rule over the registry learndyn.figures.FIGURES:
# results/figures/{half}/{figure}.pdf for the paper, .png for the report.


wildcard_constraints:
    half="train|theory",
    figure="|".join(sorted({key.split("/")[1] for key in FIGURES})),


rule figure:
    input:
        unpack(get_figure_inputs),
        lib=get_figure_lib,
    output:
        pdf="results/figures/{half}/{figure}.pdf",
        png=report(
            "results/figures/{half}/{figure}.png",
            caption="../report/figure.rst",
            category="{half}",
        ),
    log:
        "logs/figures/{half}/{figure}.log",
    conda:
        CONDA_ENV
    params:
        settings=get_figure_settings,
        per_task=get_figure_per_task,
        caption=get_figure_caption,
    script:
        "../scripts/paper_figure.py"
