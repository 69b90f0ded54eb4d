"""The registry of every figure of the paper, for both halves: name and the datasets it reads
(its report caption is ``workflow/report/figures/{half}_{name}.rst``). Importable without
matplotlib or torch (the workflow reads it while building the DAG); ``draw`` imports the half's
``figures`` module only when a figure is made.

One workflow rule per half, made from this registry in one loop, draws the half's figures in
one job (one import of matplotlib and seaborn instead of one per figure, 10 s of the quick
profile): ``results/figures/{half}/{name}.pdf`` (and ``.png`` for the report).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from .catalogue import RULES


def _outputs(rule: str, *names: str) -> dict[str, str]:
    return {name: RULES[rule].outputs[name] for name in names}


# Datasets a figure may read (paths from the job catalogue); ``{task}`` marks one file per task
# (read as a dict task -> dataset).
DATASETS = {
    "train": {
        **_outputs("train_collect", "cells", "spectra", "lr", "fp", "tune"),
        **_outputs("train_claims", "claims"),
        **_outputs("train_align", "align"),
    },
    "theory": {
        "closed_flow": RULES["theory_closed_flow"].outputs["ds"],
        "hybrid_flow": RULES["theory_hybrid_flow"].outputs["ds"],
        "gradient_descent": RULES["theory_gradient_descent"].outputs["ds"],
        **_outputs("theory_truncation", "truncation", "drift"),
        "smooth": RULES["theory_smooth_control"].outputs["ds"],
        "structured_closure": RULES["theory_structured_closure"].outputs["ds"],
    },
    "bridge": {
        **_outputs("bridge_report", "combined"),
        **_outputs("bridge_kernels", "width"),
        **_outputs("bridge_report", "tests", "population"),
    },
}
TRAIN_ALL = tuple(DATASETS["train"])


@dataclass(frozen=True)
class Figure:
    half: str  # "train", "theory" or "bridge": the package whose ``figures.FIGURES`` draws it
    name: str  # file stem under results/figures/{half}/
    inputs: tuple[str, ...]  # keys of DATASETS[half]

    @property
    def key(self) -> str:
        return f"{self.half}/{self.name}"

    @property
    def caption_file(self) -> str:
        """Its report caption (one sentence; the paper has its own), relative to the repository."""
        return f"workflow/report/figures/{self.half}_{self.name}.rst"


_TRAIN = [
    "fa_accuracy",
    "fb_gradflow",
    "fc_spectra",
    "fd_depth",
    "fe_robustness",
    "ff_smoothness",
    "fg_fixedpoint",
    "fh_width",
    "fi_forest",
    "fi_forest_more",
    "fj_tuning",
    "fk_matched",
    "fl_alignment",
]
_THEORY = {
    "residuals": ("closed_flow", "hybrid_flow"),
    "error_time": ("closed_flow", "hybrid_flow"),
    "truncation": ("truncation", "smooth"),
    "truncation_time": ("truncation",),
    "switching": ("truncation",),
    "gram_drift": ("drift",),
    "spectrum": ("drift",),
    "eta_scaling": ("gradient_descent",),
    "structured_closure": ("structured_closure",),
}
_BRIDGE = {
    "drift_time": ("combined",),
    "drift_width": ("width",),
    "shares": ("combined",),
    "effects": ("population", "tests"),
    "changes": ("population", "tests"),
    "regression": ("combined",),
}
FIGURES = {
    f.key: f
    for f in [
        *(Figure("train", name, TRAIN_ALL) for name in _TRAIN),
        *(Figure("theory", name, inputs) for name, inputs in _THEORY.items()),
        *(Figure("bridge", name, inputs) for name, inputs in _BRIDGE.items()),
    ]
}
HALVES = ("train", "theory", "bridge")


def of_half(half: str) -> list[Figure]:
    """The half's figures, in registry order."""
    return [f for f in FIGURES.values() if f.half == half]


def input_files(half: str, tasks: dict[str, list[str]]) -> dict[str, list[str]]:
    """Files of each dataset the half's figures read; per-task datasets expand over ``tasks[key]``."""
    out = {}
    for key in sorted({k for f in of_half(half) for k in f.inputs}):
        pattern = DATASETS[half][key]
        out[key] = [pattern.format(task=t) for t in tasks.get(key, [])] if "{task}" in pattern else [pattern]
    return out


def per_task(half: str) -> list[str]:
    """Keys of the half's per-task datasets (read as dicts task -> dataset)."""
    return [k for k, pattern in DATASETS[half].items() if "{task}" in pattern]


def dataset_tasks(config: dict) -> dict[str, list[str]]:
    """The tasks of each per-task dataset under ``config`` (the flow tasks of the theory half)."""
    flow = list(config["theory"]["flow_tasks"])
    return {"closed_flow": flow, "hybrid_flow": flow}


def settings(half: str, config: dict) -> dict:
    """The config section the half's drawing functions read."""
    if half == "bridge":
        return config.get("bridge", {})
    return config["train"] if half == "train" else {"tolerances": config["theory"]["tolerances"]}


def read_inputs(half: str, config: dict, root=".") -> dict:
    """Every dataset the half's figures read, from the results under ``root``, as the figure job
    reads them (per-task datasets as dicts task -> dataset)."""
    from .io import open_dataset, open_per_task

    files = input_files(half, dataset_tasks(config))
    return {
        key: open_per_task([Path(root, p) for p in paths], key)
        if key in per_task(half)
        else open_dataset(Path(root, paths[0]))
        for key, paths in files.items()
    }


def draw(fig: Figure, datasets: dict, settings: dict):
    """The matplotlib figure: ``learndyn.{half}.figures.FIGURES[name](datasets, settings)``,
    its pipeline ids shown as display names (``plotting.relabel``)."""
    from .plotting import relabel, tidy

    module = importlib.import_module(f"learndyn.{fig.half}.figures")
    out = module.FIGURES[fig.name](datasets, settings)
    relabel(out)
    tidy(out)
    return out


# ---- the print checks of every figure and table (``python -m learndyn.figures check results/``) ----


def paper_tex(paper: str | os.PathLike = "paper") -> list[Path]:
    """The paper's LaTeX sources: its documents (``main.tex``, ``supplement.tex``, the shared
    preamble) and ``sections/*.tex``."""
    return [*sorted(Path(paper).glob("*.tex")), *sorted(Path(paper, "sections").glob("*.tex"))]


def printed_widths(paper: str | os.PathLike = "paper") -> dict[str, float]:
    r"""{figure key: printed width in pt} from the paper's ``\includegraphics`` widths."""
    from .legibility import include_widths, text_width_pt

    documents = "\n".join(p.read_text() for p in sorted(Path(paper).glob("*.tex")))  # class, preamble
    return include_widths(paper_tex(paper), text_width_pt(documents))


def config_ids(config: dict) -> list[str]:
    """The pipeline ids of ``config`` a reader must not see: models and tasks."""
    return sorted(
        {*config["train"]["models"], *config.get("bridge", {}).get("models", []), *config["data"]["tasks"]}
    )


def check_figures(root, config: dict, paper: str | os.PathLike = "paper") -> dict[str, list[str]]:
    """Every registered figure drawn from the results under ``root``, checked for print
    (``legibility.check_print`` at its ``\\includegraphics`` width) and the style guide
    (``plotting.check_figure``): {key: [problem, ...]}."""
    import matplotlib.pyplot as plt

    from .legibility import check_print
    from .plotting import check_figure, set_style

    widths, ids = printed_widths(paper), config_ids(config)
    models = [*config["train"]["models"], *config.get("bridge", {}).get("models", [])]
    set_style()
    problems = {}
    for half in HALVES:
        read = read_inputs(half, config, root)
        for fig in of_half(half):
            drawing = draw(fig, {k: read[k] for k in fig.inputs}, settings(half, config))
            problems[fig.key] = check_figure(drawing, models) + check_print(drawing, widths.get(fig.key), ids)
            plt.close(drawing)
    return problems


def check_tables(root, config: dict, paper: str | os.PathLike = "paper") -> list[str]:
    """Tables set below 8 pt in the paper's sources, and pipeline ids in the generated tables
    and macros under ``root`` (``results/paper/tables``, ``results/paper/macros.tex``: the text's
    generated words)."""
    from .legibility import class_size, small_tables, table_ids

    klass = class_size(Path(paper, "main.tex").read_text())
    generated = Path(root, "results", "paper")
    tables = sorted((generated / "tables").glob("*.tex")) + [
        p for p in [generated / "macros.tex"] if p.exists()
    ]
    return small_tables(paper_tex(paper), klass) + table_ids(tables, config_ids(config))


def main(argv=None) -> int:
    """``python -m learndyn.figures check [ROOT] [--config FILE] [--paper DIR]``: every figure
    and table of the results under ROOT (the folder holding ``results/``; a path ending in
    ``results`` is taken as that folder) against the print and style checks; exit status 1
    when any fails."""
    import argparse

    from .config import load_config_file

    parser = argparse.ArgumentParser(prog="python -m learndyn.figures")
    parser.add_argument("command", choices=["check"])
    parser.add_argument("root", nargs="?", default=".")
    parser.add_argument(
        "--config", default="config/config.yaml", help="the config the results were built with"
    )
    parser.add_argument("--paper", default="paper", help="folder of main.tex and sections/")
    args = parser.parse_args(argv)
    root = Path(args.root)
    root = root.parent if root.name == "results" else root
    config = load_config_file(args.config)
    failed = 0
    for key, problems in check_figures(root, config, args.paper).items():
        print(f"{key}: {'ok' if not problems else f'{len(problems)} problems'}")
        print("".join(f"  {p}\n" for p in problems), end="")
        failed += bool(problems)
    tables = check_tables(root, config, args.paper)
    print(f"tables: {'ok' if not tables else f'{len(tables)} problems'}")
    print("".join(f"  {p}\n" for p in tables), end="")
    return 1 if failed or tables else 0


if __name__ == "__main__":
    raise SystemExit(main())
