"""Which config built results/: the run record (``results/run_config.json``) keeps, per output,
the config of the last successful run whose jobs include it, so a partial run with another config
cannot relabel a tree; ``--report`` refuses a tree built by more than one config, naming them; a
run over another config's results says so in one line before it plans. Also the workflow's
lines for a run from outside the repository root and for a lock left behind.

The dry-run scenarios fake a record in a copy of the checkout; the relabel scenario works on a
copy of the session's quick run (``quick_run``) and is marked slow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import QUICK, copy_checkout, snakemake

from learndyn.provenance import add_run, builders, read_run_record

RECORD = "results/run_config.json"
MACROS = "results/paper/macros.tex"  # an output of every profile that is not a dataset
TABLE = "results/paper/compute/macros.tex"


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """``snakemake ARGS`` as a user types it (no --configfile unless ARGS gives one)."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True
    )


def lines(proc, prefix: str) -> list[str]:
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith(prefix)]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("record"))


def fake_tree(work: Path, record: dict) -> None:
    """results/ holding the record's outputs (empty files) and the record itself."""
    for entry in record.values():
        for path in entry["outputs"]:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text("")
    (work / RECORD).write_text(json.dumps(record))


@pytest.fixture
def tree(checkout):
    yield checkout
    shutil.rmtree(checkout / "results" / "paper", ignore_errors=True)
    (checkout / RECORD).unlink(missing_ok=True)
    shutil.rmtree(checkout / ".snakemake" / "locks", ignore_errors=True)


# --- the record --------------------------------------------------------------------------------


def test_a_partial_run_claims_only_the_outputs_of_its_jobs():
    record = add_run({}, "q" * 64, ["config/quick.yaml"], ["a.nc", "b.nc", "c.tex"])
    record = add_run(record, "f" * 64, ["config/config.yaml"], ["b.nc"])
    assert builders(record, ["a.nc", "b.nc", "c.tex", "d.nc"]) == {
        "q" * 64: ["a.nc", "c.tex"],
        "f" * 64: ["b.nc"],
    }
    record = add_run(record, "q" * 64, ["config/quick.yaml"], ["a.nc", "b.nc", "c.tex"])
    assert list(record) == ["q" * 64]  # a config left with no output drops out


def test_the_older_one_config_record_owns_every_file(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"config_sha256": "q" * 64, "configfiles": []}))
    record = read_run_record(tmp_path / "r.json")
    assert builders(record, ["a.nc"]) == {"q" * 64: ["a.nc"]}
    record = add_run(record, "f" * 64, [], ["b.nc"])
    assert builders(record, ["a.nc", "b.nc"]) == {"q" * 64: ["a.nc"], "f" * 64: ["b.nc"]}
    assert read_run_record(tmp_path / "none.json") == {}


# --- refused or said before planning (dry runs on a faked record) ------------------------------


def test_a_report_over_a_tree_of_two_configs_is_refused_naming_both(tree):
    fake_tree(
        tree,
        {
            "a" * 64: {"configfiles": ["config/quick.yaml"], "outputs": [MACROS]},
            "b" * 64: {"configfiles": [], "outputs": [TABLE]},
        },
    )
    for configfile in ([], ["--configfile", QUICK]):
        proc = run(tree, "--report", "report.html", *configfile)
        found = lines(proc, "report error: ")
        assert proc.returncode != 0 and len(found) == 1, proc.stderr[-2000:]
        assert "more than one config" in found[0] and "config/quick.yaml (sha256 aaaaaaaa" in found[0], found[
            0
        ]
        assert "the default config (sha256 bbbbbbbb" in found[0], found[0]
        assert not (tree / "report.html").exists()


def test_a_bare_run_over_results_of_another_profile_says_so_in_one_line(tree):
    fake_tree(tree, {"a" * 64: {"configfiles": ["config/quick.yaml"], "outputs": [MACROS, TABLE]}})
    proc = run(tree, "-n")
    found = lines(proc, "run note: ")
    assert proc.returncode == 0 and len(found) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "config/quick.yaml (sha256 aaaaaaaa; 2 files)" in found[0] and "config/config.yaml" in found[0]
    assert "rerun" in found[0], found[0]


def test_a_run_without_a_record_says_nothing(tree):
    proc = run(tree, "-n", "--configfile", QUICK)
    assert proc.returncode == 0 and not lines(proc, "run note: "), proc.stderr[-2000:]


def test_a_run_from_a_subdirectory_names_the_working_directory_not_the_data(checkout):
    for configfile in ([], ["--configfile", f"../{QUICK}"]):
        proc = run(checkout / "docs", "-n", "-s", "../Snakefile", *configfile)
        found = lines(proc, "workflow error: ")
        assert proc.returncode != 0 and len(found) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "repository root" in found[0] and str(checkout / "docs") in found[0], found[0]
        assert "not found" not in proc.stderr and not (checkout / "docs" / "results").exists()


def test_a_lock_without_a_live_run_is_named_stale(tree):
    locks = tree / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(f"{tree / MACROS}\n")
    proc = run(tree, "-n", "--configfile", QUICK)
    found = lines(proc, "lock note: ")
    assert len(found) == 1 and "stale" in found[0] and "--unlock" in found[0], proc.stderr[-2000:]


# --- the relabel scenario on a finished quick run ----------------------------------------------


@pytest.mark.slow
def test_a_partial_run_with_another_config_does_not_relabel_the_tree(quick_run, tmp_path):
    """A quick run, then one target rebuilt with the default config: results/ now hold files of
    two configs, and --report says so whichever config it is given; a rerun of the quick profile
    rebuilds what the other config made and its report is accepted again."""
    work = tmp_path / "run"
    shutil.copytree(quick_run, work, symlinks=True)
    bare = run(work, "-n")  # the full study over quick results: said before planning
    note = lines(bare, "run note: ")
    assert bare.returncode == 0 and len(note) == 1 and "config/quick.yaml" in note[0], bare.stderr[-2000:]

    partial = run(work, "--cores", "1", "results/data/digits01.nc", "--forcerun", "data_task")
    assert partial.returncode == 0, partial.stderr[-3000:]
    record = json.loads((work / RECORD).read_text())
    (default,) = [e for e in record.values() if e["configfiles"] == ["config/config.yaml"]]
    assert default["outputs"] == ["results/data/digits01.nc"], default

    for configfile in ([], ["--configfile", QUICK]):
        proc = run(work, "--report", "report.html", *configfile)
        found = lines(proc, "report error: ")
        assert proc.returncode != 0 and len(found) == 1, proc.stderr[-2000:]
        assert "config/quick.yaml" in found[0] and "config/config.yaml" in found[0], found[0]
    assert not (work / "report.html").exists()

    snakemake(work)  # the quick profile again: its jobs claim every file of its tree
    assert [e["configfiles"] for e in json.loads((work / RECORD).read_text()).values()] == [[QUICK]]
    accepted = run(work, "--report", "report.html", "--configfile", QUICK)
    assert accepted.returncode == 0, accepted.stderr[-3000:]
