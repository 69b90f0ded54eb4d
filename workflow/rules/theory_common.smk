# Theory stage: constants and functions used by theory.smk (rule files hold rules only).

THEORY = config["theory"]
THEORY_FIGURES = ["residuals", "error_time", "truncation", "gram_drift", "spectrum", "eta_scaling"]


def get_theory_common(wildcards=None):
    return {"n": THEORY["n"], "subsample_seed": THEORY["subsample_seed"], "seeds": THEORY["seeds"]}


def get_theory_integrator(wildcards=None):
    return THEORY["integrator"]


def get_theory_e1(wildcards):
    return THEORY["e1"]


def get_theory_e2(wildcards):
    return THEORY["e2"]


def get_theory_e3(wildcards):
    return THEORY["e3"]


def get_theory_e4(wildcards):
    return THEORY["e4"]


def get_theory_e5(wildcards):
    return THEORY["e5"]


def get_theory_tolerances(wildcards):
    return THEORY["tolerances"]


def get_theory_main_task_file(wildcards=None):
    return get_task_file(THEORY["main_task"])


def get_theory_paper_files():
    return [f"results/figures/theory/{name}.pdf" for name in THEORY_FIGURES] + [
        "results/paper/tables/theory_checks.tex"]


def get_theory_macros():
    return ["results/paper/macros/theory.tex"]


def get_theory_benchmarks():
    return [*expand("benchmarks/theory/e1_{task}.tsv", task=THEORY["flow_tasks"]),
            *expand("benchmarks/theory/e2_{task}.tsv", task=THEORY["flow_tasks"]),
            *expand("benchmarks/theory/e3_{task}.tsv", task=THEORY["tasks"]),
            "benchmarks/theory/e4_gd.tsv", "benchmarks/theory/truncation.tsv"]
