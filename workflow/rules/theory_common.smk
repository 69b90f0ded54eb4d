# Theory stage: constants and functions used by theory.smk (rule files hold rules only).
# Experiment settings are resolved in learndyn.theory.experiments.configure.

THEORY = config["theory"]
THEORY_FLOWS = ("closed_flow", "hybrid_flow")  # integrated per flow task


def theory_params(name):
    """The part of the theory config experiment ``name`` reads (so that editing another
    experiment's settings does not rerun this one)."""
    keys = ("n", "subsample_seed", "seeds", "integrator", name)
    return lambda wildcards: {k: THEORY[k] for k in keys}


def get_truncation_depth_files():
    """The truncation depth jobs at the main n (merged into truncation.nc and drift.nc)."""
    n = THEORY["n"]
    return [f"results/theory/truncation/n{n}_L{L}.nc" for L in THEORY["truncation"]["depths"]]


def get_truncation_second_n_files():
    """The truncation job at the second data size, if any ([] or one file)."""
    second = THEORY["truncation"].get("second_n") or {}
    return [f"results/theory/truncation/n{second['n']}_L{second['depth']}.nc"] if second else []


def get_theory_tolerances(wildcards):
    return THEORY["tolerances"]


def get_theory_main_task_file(wildcards=None):
    return get_task_file(THEORY["main_task"])


def get_theory_dataset_files():
    """Every netCDF file the theory stage writes."""
    return [
        *expand("results/theory/{flow}_{task}.nc", flow=THEORY_FLOWS, task=THEORY["flow_tasks"]),
        *expand("results/theory/identities_{task}.nc", task=THEORY["tasks"]),
        "results/theory/gradient_descent.nc",
        *get_truncation_depth_files(),
        *get_truncation_second_n_files(),
        "results/theory/smooth_control.nc",
        "results/theory/truncation.nc",
        "results/theory/drift.nc",
        "results/theory/summary.nc",
    ]


def get_theory_paper_files():
    return [
        "results/paper/tables/theory_checks.tex",
        "results/paper/tables/theory_checks_identities.tex",
        "results/paper/tables/theory_hierarchy.tex",
    ]


def get_theory_macros():
    return ["results/paper/macros/theory.tex"]


def get_theory_benchmarks():
    return [
        *expand("benchmarks/theory/{flow}_{task}.tsv", flow=THEORY_FLOWS, task=THEORY["flow_tasks"]),
        *expand("benchmarks/theory/identities_{task}.tsv", task=THEORY["tasks"]),
        "benchmarks/theory/gradient_descent.tsv",
        *[f"benchmarks/theory/truncation_n{n}_L{L}.tsv" for n, L in costmodel.truncation_jobs(THEORY)],
        "benchmarks/theory/smooth_control.tsv",
    ]
