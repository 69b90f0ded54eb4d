"""The layout's promises: rules depend on exactly the library files their scripts run, every
registered figure has a drawing function and is in the paper, and no module switches on kind."""

import re
from pathlib import Path

import pytest

from learndyn import figures
from learndyn.provenance import library_files

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
SCRIPTS = ROOT / "workflow" / "scripts"


def lib_of(script: str) -> set[str]:
    return {str(Path(f).relative_to(SRC / "learndyn")) for f in library_files(SCRIPTS / script, SRC)}


def test_training_jobs_depend_on_the_training_math_not_on_reporting():
    files = lib_of("train_cell.py")
    assert {
        "train/models.py",
        "train/fused.py",
        "train/spectral.py",
        "train/loop.py",
        "train/optim.py",
        "train/metrics.py",
        "train/experiments.py",
        "train/spec.py",
        "train/__init__.py",
    } <= files
    assert not files & {
        "train/figures.py",
        "train/report.py",
        "train/claims.py",
        "latex.py",
        "plotting.py",
        "config.py",
    }, files
    assert not any(f.startswith("theory/") for f in files)


def test_theory_jobs_do_not_depend_on_the_training_half_or_figures():
    files = lib_of("theory_truncation.py")
    assert {"theory/experiments.py", "theory/settings.py", "theory/flows.py", "stats.py"} - {
        "stats.py"
    } <= files
    assert not any(f.startswith("train/") for f in files)
    assert "theory/figures.py" not in files and "plotting.py" not in files


def test_import_closure_follows_relative_imports():
    """A script importing one module reaches that module's own imports (a real dependency chain)."""
    files = lib_of("train_claims.py")
    assert {"train/claims.py", "stats.py", "train/report.py", "latex.py", "provenance.py"} <= files
    assert "train/models.py" not in files


def test_bridge_jobs_depend_on_the_kernel_not_on_reporting_and_cells_not_on_the_bridge():
    files = lib_of("bridge_kernels.py")
    assert {"bridge/kernel.py", "bridge/metrics.py", "bridge/experiments.py", "train/models.py"} <= files
    assert not files & {"bridge/report.py", "bridge/figures.py", "plotting.py", "latex.py"}, files
    assert not any(f.startswith("bridge/") for f in lib_of("train_cell.py"))


@pytest.mark.parametrize("half", ["train", "theory", "bridge"])
def test_every_registered_figure_has_a_drawing_function_and_vice_versa(half):
    import importlib

    module = importlib.import_module(f"learndyn.{half}.figures")
    registered = {f.name for f in figures.FIGURES.values() if f.half == half}
    assert registered == set(module.FIGURES)
    for fig in figures.FIGURES.values():
        assert set(fig.inputs) <= set(figures.DATASETS[fig.half]), fig


def test_the_paper_includes_exactly_the_registered_figures():
    tex = "".join(p.read_text() for p in (ROOT / "paper").rglob("*.tex"))
    included = set(re.findall(r"\\includegraphics(?:\[[^]]*\])?\{([a-z_]+/[a-z_]+)\.pdf\}", tex))
    assert included == set(figures.FIGURES)


def test_network_code_reads_spec_properties_not_kind():
    """``EnsembleNet`` asks ``ModelSpec`` what it is (operator, gate_mode, ...), never ``kind``."""
    text = (SRC / "learndyn" / "train" / "models.py").read_text()
    assert not re.search(r"\.kind\b", text)


def test_every_registered_figure_has_a_report_caption_and_no_caption_is_orphaned():
    captions = {str(p.relative_to(ROOT)) for p in (ROOT / "workflow" / "report" / "figures").glob("*.rst")}
    assert captions == {f.caption_file for f in figures.FIGURES.values()}
    for path in captions:
        assert (ROOT / path).read_text().strip(), f"{path} is empty"
