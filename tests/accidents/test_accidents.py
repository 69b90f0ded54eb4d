"""What users do by mistake, scripted end to end: the accident, then the rerun, then either a tree
identical to an undisturbed run (``learndyn.reproduce``) or one line naming the file or field.

The scenarios that need results work on a copy of the session's quick run (``quick_run``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import QUICK, ROOT, snakemake

from learndyn.reproduce import diff_results

PDFLATEX_WAIT_S = 120  # how long to wait for pdflatex to start before interrupting it


def copy_run(quick_run: Path, dest: Path) -> Path:
    """A copy of a finished run (results, logs, Snakemake's metadata; times preserved)."""
    shutil.copytree(quick_run, dest, symlinks=True)
    return dest


def error_lines(proc, prefix: str) -> list[str]:
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith(prefix)]


def dry_run(cfg_text: str, tmp_path: Path, *args):
    path = tmp_path / "accident.yaml"
    path.write_text(cfg_text)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", "--configfile", str(path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def quick_config() -> dict:
    return yaml.safe_load((ROOT / QUICK).read_text())


# --- config accidents: refused before any job, one line naming the field or file -------------


def test_duplicated_yaml_key_is_refused_with_file_and_lines(tmp_path):
    text = (ROOT / QUICK).read_text().replace("train:\n", "train:\n  seeds: [0]\n", 1)
    proc = dry_run(text, tmp_path)
    lines = error_lines(proc, "config error: ")
    assert proc.returncode != 0 and len(lines) == 1, proc.stdout + proc.stderr
    assert "accident.yaml" in lines[0] and "duplicate key 'seeds'" in lines[0], lines[0]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c["data"]["tasks"]["spirals"].update(n_train=10**9), "data.tasks.spirals.n_train"),
        (lambda c: c["train"].update(seeds=list(range(10_000))), "train.seeds"),
        # within the schema's maxima, but more memory than this machine has
        (
            lambda c: c["data"]["tasks"]["spirals"].update(n_train=900_000, n_test=900_000, d=20_000),
            "data.tasks.spirals",
        ),
    ],
)
def test_unbounded_sizes_are_refused_before_any_job(mutate, field, tmp_path):
    cfg = quick_config()
    mutate(cfg)
    proc = dry_run(yaml.safe_dump(cfg), tmp_path)
    lines = error_lines(proc, "config error: ")
    assert proc.returncode != 0 and len(lines) == 1 and field in lines[0], proc.stdout[-2000:] + proc.stderr
    assert not (tmp_path / "results").exists()


def test_missing_configfile_names_the_file():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/no-such-profile.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    last = (proc.stderr + proc.stdout).strip().splitlines()[-1]  # the exception line
    assert proc.returncode != 0 and "config/no-such-profile.yaml" in last, last


def test_target_after_configfile_is_read_as_a_config_file_and_the_equals_form_works():
    """``--configfile`` takes several files: a target written after it is read as one (Snakemake's
    CLI; the README says to write ``--configfile=FILE``). The error names it; the documented form
    plans the target."""
    swallowed = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", QUICK, "paper"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    last = (swallowed.stderr + swallowed.stdout).strip().splitlines()[-1]
    assert swallowed.returncode != 0 and "'paper'" in last, last
    planned = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", f"--configfile={QUICK}", "paper"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert planned.returncode == 0, planned.stderr[-2000:]


def test_full_disk_names_the_file_and_the_cause(tmp_path, monkeypatch):
    """netCDF-C reports a full disk as ``NetCDF: HDF error``; the writer says which file and why."""
    import xarray as xr

    from learndyn import io

    def no_space(self, *args, **kwargs):
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", no_space)
    monkeypatch.setattr(io.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 0))
    ds = xr.Dataset({"x": ("i", [1.0], {"long_name": "x", "units": "1"})})
    ds["i"] = ("i", [0], {"long_name": "i", "units": "1"})
    target = tmp_path / "out.nc"
    with pytest.raises(OSError, match="no space left on device") as err:
        io.write_netcdf(ds, target)
    assert str(target) in str(err.value) and "\n" not in str(err.value)
    assert not list(tmp_path.iterdir()), "a failed write left a file behind"


# --- accidents on a finished run ------------------------------------------------------------


def test_interrupted_paper_build_does_not_wedge_later_builds(quick_run, tmp_path):
    """Ctrl-C while pdflatex runs, then a rerun: the paper builds (latexmk state is not kept)."""
    work = copy_run(quick_run, tmp_path / "run")
    tex = work / "paper" / "main.tex"
    tex.write_text(tex.read_text() + "\n% edited\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", QUICK],
        cwd=work,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    aux = work / "results" / "paper" / "build" / "main.aux"
    deadline = time.monotonic() + PDFLATEX_WAIT_S
    while not aux.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    rerun = snakemake(work, check=False)
    if rerun.returncode != 0 and "unlock" in (rerun.stdout + rerun.stderr).lower():
        snakemake(work, "--unlock")
        rerun = snakemake(work, check=False)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert (work / "paper" / "main.pdf").stat().st_size > 10_000


def test_a_path_with_spaces_builds_the_paper(quick_run, tmp_path):
    work = copy_run(quick_run, tmp_path / "with space" / "run dir")
    tex = work / "paper" / "main.tex"
    tex.write_text(tex.read_text() + "\n% edited\n")  # content: Snakemake compares checksums, not only mtimes
    snakemake(work)
    assert (work / "paper" / "main.pdf").stat().st_size > 10_000


@pytest.mark.parametrize(
    "victim",
    [
        "results/analysis/train_cells.nc",
        "results/train/fashion_mnist_2k/structured/L4_W32.nc",
        pytest.param("results/data/teacher.nc", marks=pytest.mark.slow),
    ],
)
def test_a_deleted_dataset_is_rebuilt_identically(quick_run, tmp_path, victim):
    work = copy_run(quick_run, tmp_path / "run")
    (work / victim).unlink()
    out = snakemake(work).stdout
    assert "Nothing to be done" not in out
    assert (work / victim).exists()
    problems = diff_results(quick_run, work)
    assert not problems, "\n".join(problems)


def test_a_truncated_dataset_is_named_with_the_fix_and_then_rebuilt(quick_run, tmp_path):
    work = copy_run(quick_run, tmp_path / "run")
    victim = "results/train/linear_correction/mlp/L4_W32.nc"
    with open(work / victim, "r+b") as fh:
        fh.truncate(os.path.getsize(work / victim) // 2)
    for _ in range(2):  # the second rerun must not say "Nothing to be done" either
        proc = snakemake(work, check=False)
        lines = error_lines(proc, "result error: ")
        assert proc.returncode != 0 and len(lines) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert victim in lines[0] and "truncated" in lines[0] and f"rm {victim}" in lines[0], lines[0]
    (work / victim).unlink()  # the fix the message gives
    snakemake(work)
    problems = diff_results(quick_run, work)
    assert not problems, "\n".join(problems)


def test_a_report_for_another_config_is_refused(quick_run, tmp_path):
    work = copy_run(quick_run, tmp_path / "run")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--report", "report.html"],  # forgot --configfile
        cwd=work,
        capture_output=True,
        text=True,
    )
    lines = error_lines(proc, "report error: ")
    assert proc.returncode != 0 and len(lines) == 1 and "--configfile" in lines[0], proc.stderr[-2000:]
    assert not (work / "report.html").exists()


def test_the_paper_title_comes_from_the_config(quick_run):
    macros = (quick_run / "results" / "paper" / "macros.tex").read_text()
    assert quick_config()["paper"]["title"] in macros
    assert r"\title{\LDTitle" in (ROOT / "paper" / "main.tex").read_text()
