# Everything that is not a rule: config validation, library-file inputs, shared helpers.
import json
import os
import sys
from pathlib import Path

from snakemake.utils import validate

ROOT = Path(workflow.current_basedir).parents[1]  # repository root (this file: workflow/rules/)
# Jobs import the library of this checkout (not whichever copy is installed).
sys.path.insert(0, str(ROOT / "src"))
from learndyn import costmodel  # noqa: E402
from learndyn.catalogue import RULES, Catalogue, cell_file, named_cell, tune_source  # noqa: E402
from learndyn.config import (  # noqa: E402
    check_duplicate_keys,
    check_memory,
    check_references,
    explain,
    load_schema,
    use_checkout_library,
)
from learndyn.sources import FASHION_SHIPPED_DIR, FASHION_SUBSET_FILES  # noqa: E402
from learndyn.figures import FIGURES, HALVES as FIGURE_HALVES, input_files  # noqa: E402
from learndyn.figures import dataset_tasks as figure_dataset_tasks  # noqa: E402
from learndyn.figures import of_half as figures_of  # noqa: E402
from learndyn.figures import per_task as figure_per_task  # noqa: E402
from learndyn.figures import settings as figure_settings  # noqa: E402
from learndyn.integrity import check_files  # noqa: E402
from learndyn.links import TABLE_DIRS, table_key  # noqa: E402
from learndyn.provenance import (  # noqa: E402
    add_run,
    builders,
    config_hash,
    describe_config,
    library_files,
    live_snakemake,
    read_run_record,
)
from learndyn.settings import ConfigError  # noqa: E402

use_checkout_library(ROOT)

SCHEMA = "workflow/schemas/config.schema.yaml"


def validate_config(config):
    """Fill schema defaults and stop with one line naming the bad field (or file) before any
    job runs: duplicated YAML keys, schema, cross-field references, memory of the largest job."""
    for path in workflow.configfiles:
        check_duplicate_keys(path)
    problem = explain(config, load_schema(Path(ROOT) / SCHEMA))
    if problem:
        raise ConfigError(problem)
    validate(config, str(ROOT / SCHEMA))
    problems = check_references(config) or check_memory(config)
    if problems:
        raise ConfigError("\n".join(problems))


def check_working_directory():
    """The config's paths (the shipped data, results/) are relative to the repository root:
    refuse, in one line, a run from another directory (``-s ../Snakefile``, ``--directory``),
    before a check would blame a file that is there."""
    here = Path.cwd().resolve()
    if here != ROOT.resolve():
        raise ConfigError(
            f"workflow error: snakemake runs in {here}, not in the repository root {ROOT.resolve()}: "
            f"the config's paths and results/ are relative to the root (cd {ROOT.resolve()}, "
            f"or --directory {ROOT.resolve()})"
        )


check_working_directory()
validate_config(config)

# One environment for every rule (used with --software-deployment-method conda).
CONDA_ENV = str(ROOT / "environment.yml")
TASKS = sorted(config["data"]["tasks"])


wildcard_constraints:
    task="|".join(TASKS),


# Every job of this config: rules read their outputs, logs and benchmark files here, rule all
# and the stage inputs read its job list, the cost model its sizes (learndyn.catalogue).
CATALOGUE = Catalogue(config)


def outputs_of(rule):
    """The rule's ``output:`` from the catalogue (patterns, or a wildcard-free rule's files)."""
    return CATALOGUE.outputs(rule)


def log_of(rule):
    return RULES[rule].log


def bench_of(rule):
    return RULES[rule].bench


def files_of(rule, output):
    """Output ``output`` of every job of ``rule`` in this config."""
    return CATALOGUE.files(rule, output)


def file_of(rule, output):
    """Output ``output`` of the one job of ``rule`` in this config."""
    (path,) = CATALOGUE.files(rule, output)
    return path


def lib(script):
    """Library files the rule's script imports, directly or through other library modules
    (read from the import statements), declared as inputs: editing a module reruns exactly
    the rules whose scripts run it. ``script`` is the file name under workflow/scripts/."""
    files = library_files(ROOT / "workflow" / "scripts" / script, ROOT / "src")
    return [str(Path(f).relative_to(ROOT)) for f in files]


def get_task_spec(wildcards):
    return config["data"]["tasks"][wildcards.task]


def get_task_files(wildcards):
    """Data files a task reads that are fixed at config time: the shipped Fashion-MNIST subset
    (``source: shipped``), so replacing or editing them reruns the task; [] for the others."""
    spec = config["data"]["tasks"][wildcards.task]
    if spec["generator"] != "fashion_mnist" or spec.get("source", "shipped") != "shipped":
        return []
    path = spec.get("path", FASHION_SHIPPED_DIR)
    return [os.path.join(path, name) for name in FASHION_SUBSET_FILES]


def get_task_file(task):
    return RULES["data_task"].outputs["task"].format(task=task)


def get_final_outputs():
    """The paper, every file it and the report read (figure PDFs and PNGs, the compute table)
    and every output of the catalogue's jobs (datasets, trained models, tables, macros), so a
    deleted file is rebuilt, not silently skipped."""
    files = [
        "paper/main.pdf",
        "paper/supplement.pdf",
        *get_paper_inputs(),
        *get_report_files(),
        *get_job_outputs(),
    ]
    return list(dict.fromkeys(files))


def get_report_files():
    """Files the report (``snakemake --report``) shows: the figures' PNGs, the compute table."""
    return [*[f"results/figures/{key}.png" for key in FIGURES], "results/paper/compute/jobs.csv"]


def get_job_outputs():
    """Every output file of the catalogue's jobs (the data, training, theory, bridge stages)."""
    return [
        p for job in CATALOGUE.jobs for v in job.outputs.values() for p in (v if isinstance(v, list) else [v])
    ]


# files found intact, by size, inode and times: only new or changed files are hashed again
VERIFIED_CACHE = ".snakemake/learndyn/verified.json"


def check_existing_results():
    """Stop with one line per output that exists but is damaged (a disk accident, a killed
    copy): truncated, not of its kind, or changed since it was written (its checksum sidecar;
    ``learndyn.integrity``): Snakemake would otherwise treat it as done. Covers every file of
    ``rule all`` that ``learndyn.integrity`` checks (netCDF, PyTorch, PDF, PNG)."""
    errors = check_files(get_final_outputs(), ROOT, ROOT / VERIFIED_CACHE)
    if errors:
        raise ConfigError("\n".join(errors))


RUN_RECORD = "results/run_config.json"  # which config built each output (onsuccess)


def run_configfiles():
    return [os.path.relpath(p, ROOT) for p in workflow.configfiles]


def record_run_config():
    """After a successful run: every output of its jobs (run, or up to date for this config by
    Snakemake's params/input/code triggers) is recorded under this config's hash and files; the
    other configs keep the outputs no job of this run had (learndyn.provenance.add_run)."""
    from learndyn.io import write_text

    outputs = {str(f) for job in workflow.dag.jobs for f in job.output}
    record = add_run(read_run_record(ROOT / RUN_RECORD), config_hash(config), run_configfiles(), outputs)
    write_text(json.dumps(record, indent=1) + "\n", ROOT / RUN_RECORD)


def built_by():
    """The run record, and config sha -> the files of this config's jobs (and of rule all) that
    are in results/ now and that config's run built."""
    ours = set(get_final_outputs())
    for job in CATALOGUE.jobs:
        for value in job.outputs.values():
            ours.update(value if isinstance(value, list) else [value])
    record = read_run_record(ROOT / RUN_RECORD)
    return record, builders(record, sorted(p for p in ours if (ROOT / p).exists()))


def _configs(record, found):
    """``config/quick.yaml (sha256 ...; 212 files)`` for each config of ``found``, most files first."""
    return " and ".join(
        describe_config(record[sha]["configfiles"], sha, len(paths))
        for sha, paths in sorted(found.items(), key=lambda item: -len(item[1]))
    )


def check_report_config():
    """``--report`` describes the results in results/: refuse, in one line, a tree built by
    more than one config (naming them) or by another config (Snakemake would mix the DAGs)."""
    if not any(arg.startswith("--report") for arg in sys.argv) or not (ROOT / RUN_RECORD).exists():
        return
    record, found = built_by()
    if len(found) > 1:
        raise ConfigError(
            f"report error: results/ were built by more than one config: {_configs(record, found)} "
            f"({RUN_RECORD}): rerun snakemake with the --configfile to report on, then pass it to --report"
        )
    if found and set(found) != {config_hash(config)}:
        raise ConfigError(
            f"report error: results/ were made with another config ({_configs(record, found)}, "
            f"{RUN_RECORD}): pass the same --configfile to --report"
        )


def check_run_config():
    """Before planning, one line (stderr) when results/ hold this config's files built by another
    config: which, and that the jobs whose params differ will rerun over them."""
    if workflow.exec_mode.name != "DEFAULT" or any(a.startswith(("--report", "--unlock")) for a in sys.argv):
        return
    if not (ROOT / RUN_RECORD).exists():
        return
    record, found = built_by()
    sha = config_hash(config)
    other = {k: v for k, v in found.items() if k != sha}
    if other:
        print(
            f"run note: results/ hold files of another config ({_configs(record, other)}; {RUN_RECORD}); "
            f"this run uses {describe_config(run_configfiles(), sha)}: its jobs whose params differ "
            "rerun over them (give the other --configfile to continue that run instead)",
            file=sys.stderr,
        )


def check_stale_lock():
    """One line (stderr) when .snakemake/locks holds a lock, before Snakemake refuses the run
    ("Directory cannot be locked"): the pid of the Snakemake process that still runs here (wait
    for it), or that none does, so the lock is stale (a run killed, or interrupted while it
    finished: `snakemake --unlock`)."""
    if not any((ROOT / ".snakemake" / "locks").glob("*.lock")) or "--unlock" in sys.argv:
        return
    live = live_snakemake(ROOT)
    where = ROOT.resolve()
    if live:
        line = f"Snakemake process {live[0]} runs in {where} and holds the lock: wait for it, do not --unlock"
    elif live is None:
        line = f"a lock is left in {where}/.snakemake/locks: if no Snakemake process runs here, --unlock"
    else:
        line = (
            f"the lock in {where}/.snakemake/locks is stale (no Snakemake process runs here: a run "
            "was killed or interrupted while finishing): snakemake --unlock, then rerun"
        )
    print(f"lock note: {line}", file=sys.stderr)


def get_paper_inputs(wildcards=None):
    """Generated files the paper includes: macros, tables and figures of every stage."""
    return [
        "results/paper/macros.tex",
        "results/paper/compute/macros.tex",
        "results/paper/compute/cost_table.tex",
        "results/paper/compute/rule_table.tex",
        "results/paper/compute/plan_table.tex",
        *CATALOGUE.paper_files("tables"),
        *[f"results/figures/{key}.pdf" for key in FIGURES],
        *PAPER_SOURCES.values(),
    ]


# the paper's latexmk build folder (main and supplement .aux and .bbl); the arXiv source ships
# the compiled bibliographies (arXiv does not run BibTeX) and the labels each document reads
# from the other (xr)
PAPER_BUILD = "results/paper/build"


def get_paper_sources():
    """Hand-written LaTeX sources of the paper (a change rebuilds the PDF)."""
    return sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "paper").rglob("*")
        if p.suffix in (".tex", ".bib", ".sty", ".cls")
    )


# The caption links of the figures and tables and the appendix table (learndyn.links).
PAPER_SOURCES = {
    "macros": "results/paper/sources.tex",
    "table": "results/paper/tables/paper_sources.tex",
    "json": "results/paper/sources.json",
}


def _rule_source(name):
    """(rule file, line, script) of workflow rule ``name``, relative to the repository."""
    found = workflow.get_rule(name)
    snakefile = Path(found.snakefile)
    script = ""
    if found.script:
        script = str((snakefile.parent / found.script).resolve().relative_to(ROOT))
    return str(snakefile.resolve().relative_to(ROOT)), int(found.lineno or 0), script


def get_paper_artefacts(wildcards=None):
    """Every figure (from the figure registry, with the datasets it reads) and every table (from
    the rules writing ``results/paper/{tables,compute}/*.tex``, with their netCDF inputs) of the
    paper, as dicts of ``learndyn.links.Source``; generic over the rules, so a new figure or
    table is listed without an edit here."""
    out = []
    for half in FIGURE_HALVES:
        rule_file, line, script = _rule_source(f"figures_{half}")
        files = get_figure_inputs(half)
        for fig in figures_of(half):
            data = [p for key in fig.inputs for p in files[key]]
            out.append(
                dict(
                    key=fig.key,
                    kind="figure",
                    rule_name=f"figures_{half}",
                    rule_file=rule_file,
                    rule_line=line,
                    script=script,
                    datasets=data,
                )
            )
    for found in workflow.rules:
        if found.name == "paper_sources":
            continue
        tables = [
            str(f)
            for f in found.output
            if str(f).startswith(TABLE_DIRS) and str(f).endswith(".tex") and not str(f).endswith("macros.tex")
        ]
        if not tables:
            continue
        rule_file, line, script = _rule_source(found.name)
        data = [str(f) for f in found.input if str(f).endswith(".nc")]
        for table in tables:
            key = table_key(table)
            out.append(
                dict(
                    key=key,
                    kind="table",
                    rule_name=found.name,
                    rule_file=rule_file,
                    rule_line=line,
                    script=script,
                    datasets=list(dict.fromkeys(data)),
                )
            )
    return out


def get_paper_artefact_datasets(wildcards=None):
    """The datasets every figure and table of the paper read (their hashes are in the captions)."""
    return sorted({p for a in get_paper_artefacts() for p in a["datasets"]})


def get_paper_repository(wildcards=None):
    """``paper.repository`` (the URL the caption links point into), or "" when unset."""
    return config.get("paper", {}).get("repository", "")


def get_benchmark_files():
    """Benchmark files of every heavy job, for the compute-cost appendix."""
    return CATALOGUE.benchmarks()


def get_stage_macros():
    """Per-stage macro files merged into results/paper/macros.tex (data, train, theory, bridge)."""
    return CATALOGUE.paper_files("macros")


# --- figures of both halves (registry: learndyn.figures) -------------------------------------


def get_figure_inputs(half):
    """Datasets the half's figures read, by key (per-task datasets expand over their tasks)."""
    return input_files(half, figure_dataset_tasks(config))


def get_figure_per_task(half):
    """Keys of the per-task datasets (read as dicts task -> dataset)."""
    return figure_per_task(half)


def get_figure_lib(half):
    """The figure script's library files plus the half's drawing module and what it imports
    (``learndyn.figures.draw`` imports that module by name, which no import statement shows)."""
    drawer = ROOT / "src" / "learndyn" / half / "figures.py"
    drawing = [str(Path(f).relative_to(ROOT)) for f in library_files(drawer, ROOT / "src")]
    return sorted({*lib("paper_figures.py"), str(drawer.relative_to(ROOT)), *drawing})


def get_figure_settings(half):
    """The config section the half's drawing functions read."""
    return figure_settings(half, config)


def get_paper_title(wildcards):
    return config["paper"]["title"]


# --- resources from the cost model (config/cost_model.json; learndyn.costmodel) ----------------
COST_LAWS = costmodel.load_laws(ROOT / costmodel.MODEL_FILE)
COST_STEP_TIMES = costmodel.load_step_times(ROOT / costmodel.MODEL_FILE)
COST_JOBS = {size.bench: size for size in costmodel.jobs(config, CATALOGUE)}


def _cost_request(rule, wildcards):
    """What the job of ``rule`` with ``wildcards`` should request (runtime, mem_mb, threads):
    the cost model's predicted wall time and peak memory with a safety margin; generous
    constants when no law covers the job."""
    bench = RULES[rule].bench.format(**dict(wildcards.items()))
    return costmodel.request(COST_JOBS.get(bench), COST_LAWS, COST_STEP_TIMES)


def cost_mem(rule):
    """``mem_mb`` of a job of the heavy rule ``rule`` from the cost model."""
    return lambda wildcards: _cost_request(rule, wildcards)["mem_mb"]


def cost_runtime(rule):
    """``runtime`` (minutes) of a job of the heavy rule ``rule`` from the cost model."""
    return lambda wildcards: _cost_request(rule, wildcards)["runtime"]
