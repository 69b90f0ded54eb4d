# Theory stage: constants and functions used by theory.smk (rule files hold rules only).
# Experiment settings are resolved in learndyn.theory.experiments.configure.

from learndyn.catalogue import THEORY_EXPERIMENTS  # noqa: E402
from learndyn.config import device_params  # noqa: E402

THEORY = config["theory"]
THEORY_PRIORITY = {"hybrid_flow": 1}  # the longest per-task integration starts first


def theory_params(name):
    """The part of the theory config experiment ``name`` reads (so that editing another
    experiment's settings does not rerun this one; an experiment without a section of its own
    runs on its settings class's defaults; the device, so that changing it reruns the job;
    structured_closure also reads the truncation's horizon rule)."""
    keys = ("n", "subsample_seed", "seeds", "integrator", name)
    shared = {"structured_closure": {"truncation": {"horizon": THEORY["truncation"]["horizon"]}}}
    return lambda wildcards: (
        {k: THEORY[k] for k in keys if k in THEORY} | shared.get(name, {}) | device_params(config)
    )


def _truncation_files(main):
    """The truncation depth jobs' files at the main n (``main``) or at the second data size."""
    jobs = CATALOGUE.of("theory_truncation_depth")
    return [j.outputs["ds"] for j in jobs if (int(j.wildcards["n"]) == int(THEORY["n"])) == main]


def get_truncation_depth_files():
    """The truncation depth jobs at the main n (merged into truncation.nc and drift.nc)."""
    return _truncation_files(main=True)


def get_truncation_second_n_files():
    """The truncation job at the second data size, if any ([] or one file)."""
    return _truncation_files(main=False)


def get_theory_tolerances(wildcards):
    return THEORY["tolerances"]


def get_theory_task_file(wildcards):
    """The job's task (its ``{task}`` wildcard), else the main task (gradient descent, the
    truncation and its smooth control)."""
    return get_task_file(wildcards.get("task", THEORY["main_task"]))
