"""Damaged and deleted outputs of every kind the pipeline writes and reads back (netCDF datasets,
trained models, PDF and PNG figures): each is named, before any job is planned, in one line
``result error: <file>: <problem>; ... rm <file>`` (``learndyn.integrity``), a reader of a
damaged model names the file, a deleted figure is rebuilt, and a figure write on a full disk
says ``cannot write <file>: no space left on device`` and leaves nothing half-written.

The first part works on files written here (a ``results`` folder under ``tmp_path``: the
writers record checksums for results only); the second on a copy of the session's quick run."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from conftest import QUICK, snakemake

from learndyn import integrity, io
from learndyn.integrity import check_files, integrity_problem, sidecar
from learndyn.plotting import save_figure

N_VALUES = 20_000  # floats in the test dataset: its data lie well inside the file


# --- helpers --------------------------------------------------------------------------------


def dataset() -> xr.Dataset:
    values = np.linspace(0.0, 1.0, N_VALUES)
    ds = xr.Dataset({"x": ("i", values, io.cf_attrs("x"))})
    ds["i"] = ("i", np.arange(N_VALUES), io.cf_attrs("index"))
    return ds


def figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 0, 2])
    return fig


def ensemble_file(path: Path) -> Path:
    from learndyn.train.models import build_model, save_ensemble

    save_ensemble(build_model({"kind": "mlp"}, 5, 3, 8, 2, [0, 1]), path, task="t", name="n")
    return path


def keep_times(path: Path, damage) -> None:
    """Apply ``damage(path)`` and set the file's access and modification times back."""
    st = path.stat()
    damage(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def truncate_half(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def zero_middle(path: Path, count: int = 256) -> None:
    """Overwrite ``count`` bytes in the middle of the file with zeros (same size)."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(b"\0" * count)
    assert path.stat().st_size == size


def one_error(root: Path, rel: str) -> str:
    errors = check_files([rel], root)
    assert len(errors) == 1, errors
    line = errors[0]
    assert "\n" not in line and line.startswith(f"result error: {rel}: ") and f"rm {rel}" in line, line
    return line


# --- every kind checked before planning, from its bytes and its recorded checksum -----------


def test_writers_record_a_checksum_sidecar_for_results_only(tmp_path):
    rel = "results/figures/train/f.pdf"
    save_figure(figure(), tmp_path / rel, tmp_path / rel.replace(".pdf", ".png"))
    io.write_netcdf(dataset(), tmp_path / "results/x.nc")
    ensemble_file(tmp_path / "results/m.pt")
    for path in ("results/x.nc", "results/m.pt", rel, rel.replace(".pdf", ".png")):
        line = sidecar(tmp_path / path).read_text()
        assert line == f"{integrity.file_digest(tmp_path / path)}  {Path(path).name}\n"
        assert integrity_problem(tmp_path / path) is None
    io.write_netcdf(dataset(), tmp_path / "scratch" / "x.nc")  # outside results/: no sidecar
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == ["x.nc"]
    assert not [p for p in tmp_path.rglob(".*")], "temporary files left behind"


def test_a_truncated_model_is_named_even_with_its_time_kept(tmp_path):
    from learndyn.train.models import load_ensemble, load_trajectory

    rel = "results/train/models/t/mlp/L2_W8.pt"
    path = ensemble_file(tmp_path / rel)
    keep_times(path, truncate_half)
    assert "truncated" in one_error(tmp_path, rel)
    for read in (load_ensemble, load_trajectory):
        with pytest.raises(io.UnreadableResult) as err:
            read(path)
        message = str(err.value)
        assert "\n" not in message and str(path) in message and "truncated" in message, message


@pytest.mark.parametrize("kind", ["pt", "png"])
def test_kinds_with_their_own_crcs_are_checked_by_them_without_a_sidecar(tmp_path, kind):
    """``torch.load`` reads a model zeroed in the middle without complaint; its zip CRCs (and a
    PNG's chunk CRCs) do not match, so a file from before the sidecars is checked too."""
    from learndyn.train.models import load_ensemble

    path = tmp_path / f"f.{kind}"  # outside results/: no sidecar
    if kind == "pt":
        ensemble_file(path)
    else:
        save_figure(figure(), tmp_path / "f.pdf", path)
    assert not sidecar(path).exists() and integrity_problem(path) is None
    keep_times(path, zero_middle)
    assert "CRC mismatch" in one_error(tmp_path, path.name)
    if kind == "pt":
        with pytest.raises(io.UnreadableResult) as err:
            load_ensemble(path)
        message = str(err.value)
        assert "\n" not in message and str(path) in message and f"rm {path}" in message, message


def test_a_dataset_zeroed_in_the_middle_at_the_same_size_is_named(tmp_path):
    rel = "results/train/t/mlp/L2_W8.nc"
    path = tmp_path / rel
    io.write_netcdf(dataset(), path)
    keep_times(path, zero_middle)
    assert integrity.netcdf_problem(path) is None, "the superblock cannot see this"
    assert "damaged" in one_error(tmp_path, rel)
    with pytest.raises(io.UnreadableResult, match="damaged"):
        io.open_dataset(path)


@pytest.mark.parametrize("kind", ["pdf", "png"])
@pytest.mark.parametrize(("damage", "problem"), [(truncate_half, "truncated"), (zero_middle, "damaged")])
def test_a_corrupt_figure_is_named(tmp_path, kind, damage, problem):
    rel = f"results/figures/train/f.{kind}"
    save_figure(figure(), tmp_path / "results/figures/train/f.pdf", tmp_path / "results/figures/train/f.png")
    keep_times(tmp_path / rel, damage)
    assert problem in one_error(tmp_path, rel)


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "empty file"), (b"<html>not a figure</html>", "not a"), (b"%PDF-1.4\n1 0 obj", "truncated")],
)
def test_figures_without_sidecar_are_checked_by_structure(tmp_path, content, problem):
    (tmp_path / "f.pdf").write_bytes(content)
    (tmp_path / "f.png").write_bytes(content.replace(b"%PDF-1.4", b"\x89PNG\r\n\x1a\n"))
    for name in ("f.pdf", "f.png"):
        found = check_files([name], tmp_path)
        assert len(found) == 1 and problem in found[0], found


def test_verified_files_are_hashed_once_and_a_rewrite_with_kept_times_is_still_seen(tmp_path, monkeypatch):
    rels = [f"results/d{i}.nc" for i in range(3)]
    for rel in rels:
        io.write_netcdf(dataset(), tmp_path / rel)
    cache = tmp_path / ".snakemake" / "verified.json"
    hashed = []
    digest = integrity.file_digest
    monkeypatch.setattr(integrity, "file_digest", lambda p: hashed.append(Path(p).name) or digest(p))
    assert check_files(rels, tmp_path, cache) == [] and len(hashed) == 3
    assert check_files(rels, tmp_path, cache) == [] and len(hashed) == 3, "no-op rerun hashed again"
    keep_times(tmp_path / rels[1], zero_middle)  # size and modification time as before
    errors = check_files(rels, tmp_path, cache)
    assert len(errors) == 1 and rels[1] in errors[0], errors
    assert hashed[3:] == ["d1.nc"]


def test_a_figure_write_on_a_full_disk_says_so_in_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "results" / "figures" / "train"
    real = plt.Figure.savefig

    def half_then_full(self, fname, *args, format=None, **kwargs):
        if format == "png":
            Path(fname).write_bytes(b"\x89PNG\r\n\x1a\n half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, fname, *args, format=format, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", half_then_full)
    png = folder / "f.png"
    with pytest.raises(OSError) as err:
        save_figure(figure(), folder / "f.pdf", png)
    message = str(err.value)
    assert message.startswith(f"cannot write {png}: no space left on device"), message
    assert "\n" not in message
    left = sorted(p.name for p in folder.iterdir())
    assert left == ["f.pdf", "f.pdf.sha256"], f"left behind: {left}"
    assert not plt.get_fignums(), "the figure was not closed"


# --- on a copy of the quick run: named before planning, then rebuilt ------------------------


def dry_run(work: Path):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", "--configfile", QUICK],
        cwd=work,
        capture_output=True,
        text=True,
    )


def result_errors(proc) -> list[str]:
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("result error: ")]


@pytest.mark.parametrize(
    ("victim", "damage", "rule"),
    [
        ("results/train/models/linear_correction/mlp/L4_W32.pt", truncate_half, "train_cell"),
        ("results/train/linear_correction/mlp/L4_W32.nc", zero_middle, "train_cell"),
        ("results/figures/theory/spectrum.pdf", truncate_half, "figures_theory"),
        ("results/figures/train/fd_depth.png", zero_middle, "figures_train"),
    ],
)
def test_a_damaged_output_is_named_before_planning_and_rebuilt_after_the_rm(
    quick_run, tmp_path, victim, damage, rule
):
    work = tmp_path / "run"
    shutil.copytree(quick_run, work, symlinks=True)
    keep_times(work / victim, damage)
    for _ in range(2):  # the rerun says the same, never "Nothing to be done"
        proc = dry_run(work)
        lines = result_errors(proc)
        assert proc.returncode != 0 and len(lines) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert victim in lines[0] and f"rm {victim}" in lines[0], lines[0]
    (work / victim).unlink()  # the fix the message gives
    proc = dry_run(work)
    assert proc.returncode == 0 and f"rule {rule}:" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_a_deleted_png_is_rebuilt_and_the_report_builds(quick_run, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(quick_run, work, symlinks=True)
    victim = work / "results" / "figures" / "train" / "fd_depth.png"
    victim.unlink()
    out = snakemake(work).stdout
    assert "Nothing to be done" not in out
    assert integrity_problem(victim) is None and sidecar(victim).exists()
    snakemake(work, "--report", "report.html")
    assert (work / "report.html").stat().st_size > 10_000
