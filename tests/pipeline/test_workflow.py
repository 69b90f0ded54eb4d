"""The workflow as a user runs it: lint, an end-to-end quick run in a temporary copy,
a no-op second run, and reruns limited to what an edit touches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import QUICK, copy_checkout, snakemake

from learndyn import browser
from learndyn.figures import FIGURES
from learndyn.io import open_dataset

ROOT = Path(__file__).resolve().parents[2]
MIN_SCREENSHOT_BYTES = 20_000  # a rendered page, not a blank one
PROVENANCE = ("git_commit", "git_dirty", "config_sha256", "package_versions", "seeds")


def test_lint_passes():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", QUICK],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_quick_run_builds_the_paper(quick_run):
    for name in ("main", "supplement"):
        pdf = quick_run / "paper" / f"{name}.pdf"
        assert pdf.exists() and pdf.stat().st_size > 10_000, name
    log = (quick_run / "logs" / "paper" / "latexmk.log").read_text()
    for name in ("main", "supplement"):  # each one's last pass (main's first precedes the supplement)
        last = log.split(f"== latexmk {name}\n")[-1].split("== latexmk ")[0]
        assert "List of undefined refs" not in last, f"{name} has undefined references or citations"


def test_the_paper_builds_cleanly(quick_run):
    """No overfull box over 1 pt, no float too large, no undefined reference or citation ("??")."""
    from learndyn.latex import log_problems

    for name in ("main", "supplement"):
        log = (quick_run / "results" / "paper" / "build" / f"{name}.log").read_text(errors="replace")
        problems = log_problems(log)
        assert not problems, f"{name}: " + "\n".join(problems)


def test_every_netcdf_is_sane_and_has_provenance(quick_run):
    files = sorted((quick_run / "results").rglob("*.nc"))
    assert files, "no netCDF outputs"
    for path in files:
        ds = open_dataset(path)
        for key in PROVENANCE[:4]:
            assert key in ds.attrs, f"{path.name}: provenance attr {key} missing"
        assert len(ds.attrs["git_commit"]) == 40, f"{path.name}: no commit recorded"
        for name, var in ds.data_vars.items():
            assert "long_name" in var.attrs and "units" in var.attrs, f"{path.name}:{name} lacks CF attrs"
            if var.dtype.kind == "f" and "diverged" not in ds.data_vars:
                assert np.isfinite(var.values).any(), f"{path.name}:{name} is all non-finite"


def test_macros_are_merged(quick_run):
    macros = (quick_run / "results" / "paper" / "macros.tex").read_text()
    assert r"\newcommand{\DataNumTasks}" in macros and r"\newcommand{\LDCommit}" in macros


def test_second_run_is_a_noop(quick_run):
    proc = snakemake(quick_run)
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-2000:]


def planned_jobs(workdir) -> dict[str, int]:
    """{rule: count} from the 'Job stats' table of a dry run."""
    out = snakemake(workdir, "--dry-run").stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return {rule: int(n) for rule, n in (line.split() for line in table) if rule != "total"}


def test_editing_a_library_module_reruns_only_its_dependents(quick_run, tmp_path):
    """Editing the LaTeX helpers reruns tables/macros/paper, never data generation, training,
    theory integrations or the aggregation of the training cells."""
    lib = quick_run / "src" / "learndyn" / "latex.py"
    original = lib.read_text()
    lib.write_text(original + "\n# edited\n")
    try:
        jobs = planned_jobs(quick_run)
    finally:
        lib.write_text(original)
    assert {"paper", "paper_macros"} <= set(jobs), jobs
    tables = {"train_claims", "train_stock_report"}  # they write tables and macros
    rerun = {r for r in jobs if r.startswith(("data_task", "train_", "theory_")) and r not in tables}
    rerun -= {"theory_summary"}  # writes the checks table
    assert not rerun, f"editing latex.py would rerun {rerun}"


def test_two_runs_from_scratch_give_identical_results(quick_run, tmp_path_factory):
    """Determinism: a second from-scratch run gives identical data variables, tables and macros."""
    from learndyn.reproduce import diff_results

    other = copy_checkout(tmp_path_factory.mktemp("e2e_again"))
    snakemake(other)
    problems = diff_results(quick_run, other)
    assert not problems, "\n".join(problems)


def test_html_report_builds(quick_run):
    snakemake(quick_run, "--report", "report.html")
    report = quick_run / "report.html"
    assert report.exists() and report.stat().st_size > 100_000
    text = report.read_text(errors="replace")
    for pdf in ("paper/main.pdf", "paper/supplement.pdf"):  # the report links both documents
        assert pdf in text, f"the report does not carry {pdf}"


@pytest.mark.slow
def test_html_report_renders_in_a_browser(chromium, quick_run):
    """The report opened in headless chromium: the app renders, shows the category "Compute cost"
    and lists every figure of the run; a screenshot goes to results/report/report.png. Skipped,
    before the workflow runs, when chromium is absent."""
    report = quick_run / "report.html"
    if not report.exists():  # test_html_report_builds writes the same file
        snakemake(quick_run, "--report", "report.html")
    figures = [f"results/figures/{key}.png" for key in FIGURES]  # every registered figure
    problems = browser.check_report(report, figures)
    assert not problems, "\n".join(problems)
    png = browser.screenshot(report, quick_run / "results" / "report" / "report.png")
    assert browser.png_size(png) == browser.WINDOW and png.stat().st_size > MIN_SCREENSHOT_BYTES
