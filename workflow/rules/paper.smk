# Paper stage: the merged macros, the compute-cost appendix, the PDF and its arXiv source.


rule paper_macros:
    input:
        stages=get_stage_macros(),
        lib=lib("paper_macros.py"),
    output:
        macros="results/paper/macros.tex",
    log:
        "logs/paper/macros.log",
    conda:
        CONDA_ENV
    params:
        title=get_paper_title,
    script:
        "../scripts/paper_macros.py"


rule paper_cost:
    input:
        benchmarks=get_benchmark_files(),
        lib=lib("paper_cost.py"),
    output:
        table="results/paper/compute/cost_table.tex",
        macros="results/paper/compute/macros.tex",
        jobs=report(
            "results/paper/compute/jobs.csv",
            caption="../report/compute_cost.rst",
            category="Compute cost",
        ),
    log:
        "logs/paper/cost.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/paper_cost.py"


rule paper:
    input:
        tex=get_paper_sources(),
        generated=get_paper_inputs(),
    output:
        pdf="paper/main.pdf",
    log:
        "logs/paper/latexmk.log",
    conda:
        CONDA_ENV
    params:
        outdir=PAPER_BUILD,
    shell:
        # a fresh build directory every time: an interrupted pdflatex leaves latexmk state
        # (main.fdb_latexmk) that would make every later build fail; paths quoted (spaces)
        "rm -rf {params.outdir:q} && mkdir -p {params.outdir:q}"
        " && SOURCE_DATE_EPOCH=0 FORCE_SOURCE_DATE=1 latexmk -pdf -halt-on-error -interaction=nonstopmode"
        ' -cd -outdir="$PWD/{params.outdir}" paper/main.tex > {log:q} 2>&1'
        " && cp {params.outdir:q}/main.pdf {output.pdf:q}"


rule arxiv:
    input:
        main="paper/main.tex",
        tex=get_paper_sources(),
        generated=get_paper_inputs(),
        pdf="paper/main.pdf",
        lib=lib("paper_arxiv.py"),
    output:
        tarball="results/arxiv/paper.tar.gz",
    log:
        "logs/arxiv/paper.log",
    conda:
        CONDA_ENV
    params:
        bbl=get_paper_bbl,
    script:
        "../scripts/paper_arxiv.py"
