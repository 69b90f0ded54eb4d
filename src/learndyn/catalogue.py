"""The catalogue of jobs: for a config, every job of the data, training, theory and bridge
stages, with its wildcards, output files, log, benchmark file and (heavy jobs) its size.

The workflow's rules read their outputs, logs and benchmark files here, and build their inputs
and ``rule all`` from the jobs listed here; the cost model (``learndyn.costmodel``) prices the
same jobs, sized by ``learndyn.worksize``. Adding a rule means adding one ``@rule`` entry below
(its paths and the function that lists its jobs) and, for a heavy rule, its ``size_<rule>`` in
``learndyn.worksize``. The figure
rules (one per half, from the figure registry ``learndyn.figures``) and the paper's rules are
not listed: they have no wildcards and no cost law.

Importable without torch or pandas (the workflow reads it while building the DAG).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .bridge.cells import endpoint_cells, trajectory_cells, width_cells
from .train.grid import cells, tune_sources

# The combined datasets of the analysis (one file each, read by figures and reports).
ANALYSIS = "results/analysis"


@dataclass(frozen=True)
class Rule:
    """A rule's files: ``outputs`` (name -> path pattern with the rule's ``{wildcards}``; a
    name listed in ``lists`` is one path per job of another rule, given by the job itself),
    its ``log`` and, for a heavy rule, its ``bench`` file."""

    name: str
    outputs: dict[str, str]
    log: str
    bench: str = ""
    jobs_of: Callable[[dict], Iterator[tuple[dict, dict]]] = field(default=None, repr=False)


@dataclass(frozen=True)
class Job:
    """One job: its rule, wildcards, concrete output files and log, its benchmark file ("" for a
    light job) and what its size depends on beyond its wildcards (``size_args``: the keyword
    arguments of its rule's ``learndyn.worksize.size_<rule>``)."""

    rule: str
    wildcards: dict[str, str]
    outputs: dict[str, str | list[str]]
    log: str
    bench: str = ""
    size_args: dict = field(default_factory=dict)


RULES: dict[str, Rule] = {}


def rule(name: str, outputs: dict[str, str], log: str, bench: str = ""):
    """Register the function that lists the jobs of rule ``name`` for a config: it yields
    ``(wildcards, extra)``, ``extra`` the keyword arguments of the rule's size function beyond
    its wildcards (``learndyn.worksize``), or list-valued outputs (``{"outputs": {name: [paths]}}``)."""

    def register(fn):
        RULES[name] = Rule(name, outputs, log, bench, fn)
        return fn

    return register


# --- data ----------------------------------------------------------------------------------------


@rule("data_task", {"task": "results/data/{task}.nc"}, "logs/data/{task}.log")
def _data_task(config):
    for task in sorted(config["data"]["tasks"]):
        yield {"task": task}, {}


@rule(
    "data_summary",
    {"table": "results/paper/tables/data_tasks.tex", "macros": "results/paper/macros/data.tex"},
    "logs/data/summary.log",
)
def _data_summary(config):
    yield {}, {}


# --- training ------------------------------------------------------------------------------------


@rule(
    "train_tune",
    {"tune": "results/train/tune/{task}/{model}.nc"},
    "logs/train/tune/{task}/{model}.log",
    "benchmarks/train/tune/{task}/{model}.tsv",
)
def _train_tune(config):
    """One tuning per (task, model) whose rate some cell uses (ablations borrow their parent's)."""
    for task, model in tuned_pairs(config):
        yield {"task": task, "model": model}, {}


def tuned_pairs(config: dict) -> list[tuple[str, str]]:
    """(task, model) of every tuning job: the pairs whose rate some cell uses."""
    return sorted({(t, src) for (t, _), src in tune_sources(config["train"]).items()})


def tune_source(config: dict, task: str, model: str) -> str:
    """The model whose tuned learning rate the cells of (``task``, ``model``) use."""
    return tune_sources(config["train"]).get((task, model), model)


CELL = "L{depth}_W{width}"


@rule(
    "train_cell",
    {
        "cell": "results/train/{task}/{model}/" + CELL + ".nc",
        "model": "results/train/models/{task}/{model}/" + CELL + ".pt",
    },
    "logs/train/{task}/{model}/" + CELL + ".log",
    "benchmarks/train/{task}/{model}/" + CELL + ".tsv",
)
def _train_cell(config):
    for t, m, d, w in cells(config["train"]):
        wildcards = {"task": t, "model": m, "depth": str(d), "width": str(w)}
        yield wildcards, {"chain": f"{t}/{tune_source(config, t, m)}"}


@rule(
    "train_lr_sweep",
    {"sweep": "results/train/lrsweep/{task}/{model}.nc"},
    "logs/train/lrsweep/{task}/{model}.log",
    "benchmarks/train/lrsweep/{task}/{model}.tsv",
)
def _train_lr_sweep(config):
    sweep = config["train"]["lr_sweep"]
    for task in sweep["tasks"]:
        for model in sweep["models"]:
            yield {"task": task, "model": model}, {}


@rule(
    "train_stock",
    {"stock": "results/train/stock/{task}.nc"},
    "logs/train/stock/{task}.log",
    "benchmarks/train/stock/{task}.tsv",
)
def _train_stock(config):
    """The stock scikit-learn reference on each task of ``train.stock`` (absent: none)."""
    for task in config["train"].get("stock", {}).get("tasks", []):
        yield {"task": task}, {}


@rule(
    "train_stock_report",
    {
        "comparison": f"{ANALYSIS}/train_stock.nc",
        "table": "results/paper/tables/train_stock.tex",
        "macros": "results/paper/macros/train_stock.tex",
    },
    "logs/train/stock_report.log",
)
def _train_stock_report(config):
    if config["train"].get("stock", {}).get("tasks"):
        yield {}, {}


@rule(
    "train_fixed_point",
    {"fixed_point": "results/train/fixedpoint/{task}.nc"},
    "logs/train/fixedpoint/{task}.log",
    "benchmarks/train/fixedpoint/{task}.tsv",
)
def _train_fixed_point(config):
    yield {"task": config["train"]["fixed_point"]["task"]}, {}


@rule(
    "train_align",
    {"align": f"{ANALYSIS}/train_align.nc"},
    "logs/train/align.log",
    "benchmarks/train/align.tsv",
)
def _train_align(config):
    if config["train"].get("alignment"):
        yield {}, {}


@rule(
    "train_collect",
    {
        "cells": f"{ANALYSIS}/train_cells.nc",
        "spectra": f"{ANALYSIS}/train_spectra.nc",
        "lr": f"{ANALYSIS}/train_lrsweep.nc",
        "fp": f"{ANALYSIS}/train_fixedpoint.nc",
        "tune": f"{ANALYSIS}/train_tune.nc",
    },
    "logs/train/collect.log",
)
def _train_collect(config):
    yield {}, {}


# the claims table of the empirical family ("table": train_claims.tex) and the other tables of
# the training half: the families reported apart (by construction, the favourable task, the
# linear-equivalence summary) and the checkpoint rules
TRAIN_TABLES = {
    "table": "claims",
    "table_more": "claims_more",  # the empirical family's second half (a page each)
    **{
        k: k
        for k in (
            "verdicts",
            "protocol",
            "summary",
            "ablation",
            "trends",
            "alignment",
            "construction",
            "favourable",
            "equivalence",
            "checkpoints",
        )
    },
}


@rule(
    "train_claims",
    {
        "claims": f"{ANALYSIS}/train_claims.nc",
        "ledger": f"{ANALYSIS}/train_claims.csv",
        **{key: f"results/paper/tables/train_{name}.tex" for key, name in TRAIN_TABLES.items()},
        "macros": "results/paper/macros/train.tex",
    },
    "logs/train/claims.log",
)
def _train_claims(config):
    yield {}, {}


# --- theory --------------------------------------------------------------------------------------


# The integrated experiments one generic rule per name runs (``theory.smk``; their functions:
# ``learndyn.theory.experiments.RUNS``): on every task of ``theory.<tasks>``, or on the main task.
THEORY_EXPERIMENTS = {
    "closed_flow": "flow_tasks",
    "hybrid_flow": "flow_tasks",
    "identities": "tasks",
    "gradient_descent": "",
    "structured_closure": "",
}


def _theory_experiment(name: str, tasks_key: str):
    """Register theory experiment ``name``: one job per task of ``theory.<tasks_key>`` (files
    ``<name>_<task>``), or one job on ``theory.main_task`` (``tasks_key`` empty: file ``<name>``)."""
    stem = f"{name}_{{task}}" if tasks_key else name

    @rule(
        f"theory_{name}",
        {"ds": f"results/theory/{stem}.nc"},
        f"logs/theory/{stem}.log",
        f"benchmarks/theory/{stem}.tsv",
    )
    def jobs(config):
        for task in config["theory"][tasks_key] if tasks_key else [None]:
            yield ({"task": task} if task else {}), {}

    return jobs


for _name, _tasks in THEORY_EXPERIMENTS.items():
    _theory_experiment(_name, _tasks)


@rule(
    "theory_truncation_depth",
    {"ds": "results/theory/truncation/n{n}_L{depth}.nc"},
    "logs/theory/truncation_n{n}_L{depth}.log",
    "benchmarks/theory/truncation_n{n}_L{depth}.tsv",
)
def _theory_truncation_depth(config):
    """Each depth at ``theory.n`` (merged into the truncation and drift datasets), then the
    second data size's one depth, if any."""
    for n, depth in truncation_runs(config):
        yield {"n": str(n), "depth": str(depth)}, {}


def truncation_runs(config: dict) -> list[tuple[int, int]]:
    """(n, depth) of every truncation job: each depth at theory.n, and the second data size."""
    th = config["theory"]
    tr = th["truncation"]
    runs = [(int(th["n"]), int(L)) for L in tr["depths"]]
    if tr.get("second_n"):
        runs.append((int(tr["second_n"]["n"]), int(tr["second_n"]["depth"])))
    return runs


@rule(
    "theory_smooth_control",
    {"ds": "results/theory/smooth_control.nc"},
    "logs/theory/smooth_control.log",
    "benchmarks/theory/smooth_control.tsv",
)
def _theory_smooth_control(config):
    yield {}, {}


@rule(
    "theory_truncation",
    {"truncation": "results/theory/truncation.nc", "drift": "results/theory/drift.nc"},
    "logs/theory/truncation.log",
)
def _theory_truncation(config):
    yield {}, {}


@rule(
    "theory_summary",
    {
        "summary": "results/theory/summary.nc",
        "exponents": "results/theory/exponents.csv",
        "table": "results/paper/tables/theory_checks.tex",
        "identities": "results/paper/tables/theory_checks_identities.tex",
        "hierarchy": "results/paper/tables/theory_hierarchy.tex",
        "macros": "results/paper/macros/theory.tex",
        "structured_ledger": "results/theory/structured_closure.csv",
    },
    "logs/theory/summary.log",
)
def _theory_summary(config):
    yield {}, {}


# --- the bridge ----------------------------------------------------------------------------------


@rule(
    "bridge_kernels",
    {
        "trajectories": "results/bridge/trajectory/{model}.nc",
        "width": "results/bridge/width.nc",
        "endpoints": "results/bridge/endpoints.nc",
    },
    "logs/bridge/kernels.log",
    "benchmarks/bridge/kernels.tsv",
)
def _bridge_kernels(config):
    """One job for every kernel (one file per followed model, the width study, and the endpoints
    of the population of architectures and of the common-rate copies)."""
    if not config.get("bridge"):
        return
    trajectory, width, endpoints = trajectory_cells(config), width_cells(config), endpoint_cells(config)
    files = [RULES["bridge_kernels"].outputs["trajectories"].format(model=m) for _, m, _, _ in trajectory]
    extra = {"trajectory": trajectory, "width": width, "endpoints": endpoints}
    yield {}, extra | {"outputs": {"trajectories": files}}


@rule(
    "bridge_report",
    {
        "combined": f"{ANALYSIS}/bridge.nc",
        "population": f"{ANALYSIS}/bridge_population.nc",
        "tests": f"{ANALYSIS}/bridge_tests.nc",
        "claims": "results/bridge/claims.csv",
        "table": "results/paper/tables/bridge_tests.tex",
        "relations": "results/paper/tables/bridge_relations.tex",
        "checks": "results/paper/tables/bridge_checks.tex",
        "macros": "results/paper/macros/bridge.tex",
    },
    "logs/bridge/report.log",
)
def _bridge_report(config):
    if config.get("bridge"):
        yield {}, {}


@rule(
    "claims_ledger",
    {"ledger": "results/paper/claims.csv", "descriptive": "results/paper/descriptive.csv"},
    "logs/paper/claims_ledger.log",
)
def _claims_ledger(config):
    """The paper's one claims ledger: the training half's rows, the bridge's and the structured
    closure's (each half writes its own rows; this job concatenates them)."""
    yield {}, {}


# --- reading the catalogue -----------------------------------------------------------------------


def _job(spec: Rule, wildcards: dict, extra: dict) -> Job:
    lists = extra.pop("outputs", {})
    outputs = {k: lists.get(k) or v.format(**wildcards) for k, v in spec.outputs.items()}
    return Job(
        spec.name, wildcards, outputs, spec.log.format(**wildcards), spec.bench.format(**wildcards), extra
    )


def jobs(config: dict) -> list[Job]:
    """Every job of ``config``, stage by stage in the catalogue's order."""
    return [
        _job(spec, dict(wc), dict(extra)) for spec in RULES.values() for wc, extra in spec.jobs_of(config)
    ]


def _flat(values) -> list[str]:
    return [p for v in values for p in (v if isinstance(v, list) else [v])]


class Catalogue:
    """The jobs of one config, with the lookups the workflow makes."""

    def __init__(self, config: dict):
        self.jobs = jobs(config)

    def of(self, rule_name: str) -> list[Job]:
        return [j for j in self.jobs if j.rule == rule_name]

    def files(self, rule_name: str, output: str) -> list[str]:
        """Output ``output`` of every job of ``rule_name``, in catalogue order."""
        return _flat(j.outputs[output] for j in self.of(rule_name))

    def outputs(self, rule_name: str) -> dict:
        """The rule's ``output:``: the patterns of a rule with wildcards (its log names them
        all), or a wildcard-free rule's files (its one job's; without a job, the patterns, and
        [] for a list of files given per job)."""
        spec = RULES[rule_name]
        if "{" in spec.log:
            return dict(spec.outputs)
        found = self.of(rule_name)
        if found:
            return dict(found[0].outputs)
        return {k: [] if "{" in v else v for k, v in spec.outputs.items()}

    def datasets(self) -> list[str]:
        """Every netCDF file the config's jobs write."""
        return [p for j in self.jobs for p in _flat(j.outputs.values()) if p.endswith(".nc")]

    def paper_files(self, kind: str) -> list[str]:
        """Files under ``results/paper/<kind>/`` (``tables`` or ``macros``), stage by stage."""
        prefix = f"results/paper/{kind}/"
        return [p for j in self.jobs for p in _flat(j.outputs.values()) if p.startswith(prefix)]

    def benchmarks(self) -> list[str]:
        """Benchmark files of every heavy job (the compute-cost appendix)."""
        return [j.bench for j in self.jobs if j.bench]


def cell_file(output: str, cell: tuple[str, str, int, int]) -> str:
    """The ``output`` ("cell" dataset or trained "model") of training cell (task, model, depth, width)."""
    task, model, depth, width = cell
    return RULES["train_cell"].outputs[output].format(task=task, model=model, depth=depth, width=width)


def named_cell(task: str, name: str) -> tuple[str, str, int, int]:
    """The cell (task, model, depth, width) of a cell name ``<model>/L<depth>_W<width>`` on ``task``."""
    model, size = name.split("/")
    depth, width = size.removeprefix("L").split("_W")
    return task, model, int(depth), int(width)
