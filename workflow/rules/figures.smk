# Figures of both halves, one rule per half made from the registry learndyn.figures.FIGURES in
# one loop: results/figures/{half}/{name}.pdf for the paper, .png for the report (captions in
# workflow/report/figures/). One job per half imports matplotlib and seaborn once. Priority 2:
# a half's figures are drawn as soon as its results exist, not in the study's serial tail.


for half in FIGURE_HALVES:

    rule:
        name:
            f"figures_{half}"
        input:
            **get_figure_inputs(half),
            lib=get_figure_lib(half),
        output:
            pdf=[f"results/figures/{f.key}.pdf" for f in figures_of(half)],
            png=[
                report(
                    f"results/figures/{f.key}.png",
                    caption=f"../report/figures/{f.half}_{f.name}.rst",
                    category=half,
                )
                for f in figures_of(half)
            ],
        log:
            f"logs/figures/{half}.log",
        priority: 2
        conda:
            CONDA_ENV
        params:
            half=half,
            settings=get_figure_settings(half),
            per_task=get_figure_per_task(half),
        script:
            "../scripts/paper_figures.py"
