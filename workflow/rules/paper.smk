# Paper stage: the merged macros, the compute-cost appendix, the main text and the supplement
# (two PDFs that cross-reference each other) and their arXiv source.


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
        plan_config="config/paper.yaml",
        laws="config/cost_model.json",
        lib=lib("paper_cost.py"),
    output:
        table="results/paper/compute/cost_table.tex",
        rules="results/paper/compute/rule_table.tex",
        plan="results/paper/compute/plan_table.tex",
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


rule claims_ledger:
    input:
        train=files_of("train_claims", "ledger"),
        bridge=files_of("bridge_report", "claims"),
        theory=files_of("theory_summary", "structured_ledger"),
        lib=lib("paper_ledger.py"),
    output:
        **outputs_of("claims_ledger"),
    log:
        log_of("claims_ledger"),
    conda:
        CONDA_ENV
    script:
        "../scripts/paper_ledger.py"


rule paper_sources:
    input:
        datasets=get_paper_artefact_datasets,
        lib=lib("paper_sources.py"),
    output:
        **PAPER_SOURCES,
    log:
        "logs/paper/sources.log",
    conda:
        CONDA_ENV
    params:
        artefacts=get_paper_artefacts,
        repository=get_paper_repository,
    script:
        "../scripts/paper_sources.py"


rule paper:
    input:
        tex=get_paper_sources(),
        generated=get_paper_inputs(),
    output:
        pdf=report(
            "paper/main.pdf",
            caption="../report/paper_main.rst",
            category="Paper",
            labels={"document": "main text"},
        ),
        supplement=report(
            "paper/supplement.pdf",
            caption="../report/paper_supplement.rst",
            category="Paper",
            labels={"document": "supplement"},
        ),
    log:
        "logs/paper/latexmk.log",
    conda:
        CONDA_ENV
    params:
        outdir=PAPER_BUILD,
    shell:
        # a fresh build directory every time: an interrupted pdflatex leaves latexmk state
        # (main.fdb_latexmk) that would make every later build fail; paths quoted (spaces).
        # The two documents cross-reference each other (xr): main, then the supplement (which
        # reads main.aux), then main again (which reads supplement.aux), from one build folder
        # that TeX searches for the other document's .aux (TEXINPUTS). The log has one section per
        # pass ("== latexmk <doc>"); the first pass of main cannot resolve the supplement's labels.
        "rm -rf {params.outdir:q} && mkdir -p {params.outdir:q}"
        ' && export TEXINPUTS="$PWD/{params.outdir}:" SOURCE_DATE_EPOCH=0 FORCE_SOURCE_DATE=1'
        ' && : > {log:q} && for doc in main supplement main; do echo "== latexmk $doc" >> {log:q} &&'
        " latexmk -g -pdf -halt-on-error -interaction=nonstopmode"
        ' -cd -outdir="$PWD/{params.outdir}" paper/$doc.tex >> {log:q} 2>&1 || exit 1; done'
        " && cp {params.outdir:q}/main.pdf {output.pdf:q}"
        " && cp {params.outdir:q}/supplement.pdf {output.supplement:q}"


rule arxiv:
    input:
        main="paper/main.tex",
        supplement="paper/supplement.tex",
        tex=get_paper_sources(),
        generated=get_paper_inputs(),
        pdf="paper/main.pdf",
        supplement_pdf="paper/supplement.pdf",
        sources=PAPER_SOURCES["json"],
        lib=lib("paper_arxiv.py"),
    output:
        tarball="results/arxiv/paper.tar.gz",
    log:
        "logs/arxiv/paper.log",
    conda:
        CONDA_ENV
    params:
        build=PAPER_BUILD,
    script:
        "../scripts/paper_arxiv.py"
