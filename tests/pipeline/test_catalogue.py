"""The job catalogue is the workflow's job list: Snakemake's own plan of a run from nothing
lists exactly the catalogue's jobs (rules, outputs, logs, benchmark files), and the cost model
prices exactly its heavy jobs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from learndyn import costmodel
from learndyn.catalogue import RULES, Catalogue, named_cell
from learndyn.config import load_config_file

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("quick", "config")
# rules outside the catalogue: the figures (from the figure registry) and the paper's
NOT_LISTED = re.compile(r"^(figures_\w+|paper\w*|arxiv|all)$")


def planned_jobs(profile: str) -> set[tuple[str, tuple, str, str]]:
    """(rule, sorted outputs, log, benchmark) of every job Snakemake plans from nothing."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--forceall",
            "--cores",
            "1",
            "--configfile",
            f"config/{profile}.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs, job = set(), None
    for line in proc.stdout.splitlines() + ["rule end:"]:
        head = re.match(r"^(?:local)?rule (\w+):", line)
        if head:
            if job and not NOT_LISTED.match(job["rule"]):
                jobs.add(
                    (
                        job["rule"],
                        tuple(sorted(job.get("output", []))),
                        job.get("log", ""),
                        job.get("benchmark", ""),
                    )
                )
            job = {"rule": head.group(1)}
            continue
        field = re.match(r"^    (output|log|benchmark): (.*)$", line)
        if field and job is not None:
            name, value = field.groups()
            job[name] = value.split(", ") if name == "output" else value
    return jobs


@pytest.mark.parametrize("profile", PROFILES)
def test_snakemake_plans_exactly_the_catalogue_jobs(profile):
    config = load_config_file(ROOT / "config" / f"{profile}.yaml")
    listed = {
        (
            j.rule,
            tuple(sorted(p for v in j.outputs.values() for p in (v if isinstance(v, list) else [v]))),
            j.log,
            j.bench,
        )
        for j in Catalogue(config).jobs
    }
    planned = planned_jobs(profile)
    assert planned - listed == set(), "planned by Snakemake, missing from the catalogue"
    assert listed - planned == set(), "in the catalogue, never planned"


@pytest.mark.parametrize("profile", PROFILES)
def test_the_cost_model_prices_the_catalogue_heavy_jobs(profile):
    config = load_config_file(ROOT / "config" / f"{profile}.yaml")
    catalogue = Catalogue(config)
    sizes = costmodel.jobs(config, catalogue)
    assert [s.bench for s in sizes] == catalogue.benchmarks()
    assert all(s.work > 0 and s.mem_work > 0 for s in sizes)
    # a training cell waits for the tuning job that exists (an ablation's is its parent's)
    tunes = {s.chain for s in sizes if s.law == "train_tune"}
    assert {s.chain for s in sizes if s.law.startswith("train_cell")} <= tunes


def test_every_heavy_rule_has_a_size_and_paths_name_their_wildcards():
    from learndyn import worksize

    for rule in RULES.values():
        if rule.bench:
            assert hasattr(worksize, f"size_{rule.name}"), rule.name
        wildcards = set(re.findall(r"\{(\w+)\}", rule.log))
        for pattern in (*rule.outputs.values(), rule.bench):
            assert set(re.findall(r"\{(\w+)\}", pattern)) <= wildcards | {"model"}, (rule.name, pattern)


def test_cell_names_parse():
    assert named_cell("spirals", "mlp/L8_W64") == ("spirals", "mlp", 8, 64)


@pytest.mark.parametrize("profile", PROFILES)
def test_structured_closure_is_one_job_with_its_ledger(profile):
    """One structured_closure job on the main task (its dataset), the summary writes its ledger
    rows, and the job is sized by the cost model."""
    config = load_config_file(ROOT / "config" / f"{profile}.yaml")
    catalogue = Catalogue(config)
    jobs = catalogue.of("theory_structured_closure")
    assert [j.outputs["ds"] for j in jobs] == ["results/theory/structured_closure.nc"]
    assert jobs[0].bench == "benchmarks/theory/structured_closure.tsv"
    (summary,) = catalogue.of("theory_summary")
    assert summary.outputs["structured_ledger"] == "results/theory/structured_closure.csv"
    (size,) = [s for s in costmodel.jobs(config, catalogue) if s.law == "theory_structured_closure"]
    assert size.work > 0 and size.ops > 0
