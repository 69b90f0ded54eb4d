"""Writing result datasets: metadata checks, provenance, atomic replace.

A reader never sees a half-written file: data go to a temporary file in the target
directory which is renamed over the target only once complete.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from .integrity import (  # noqa: F401  (UnreadableResult: readers catch it from here)
    UnreadableResult,
    checksum_problem,
    netcdf_problem,
    replace_with_checksum,
    unreadable,
)
from .provenance import provenance_attrs

ENGINE = "netcdf4"


def cf_attrs(long_name: str, units: str = "1", **extra) -> dict:
    """CF-style variable attributes: ``long_name`` and ``units`` ("1" if unitless), plus extras."""
    return {"long_name": long_name, "units": units, **extra}


def check_metadata(ds: xr.Dataset) -> None:
    """Every data variable and every non-index coordinate needs ``long_name`` and ``units``."""
    missing = [
        f"{name}.{key}"
        for name, var in {**ds.data_vars, **ds.coords}.items()
        for key in ("long_name", "units")
        if key not in var.attrs and not (name in ds.dims and var.dtype.kind in "OUS")
    ]
    if missing:
        raise ValueError("dataset variables lack CF attributes: " + ", ".join(sorted(missing)))


def atomic_path(path: str | os.PathLike, suffix: str = "") -> tuple[Path, Path]:
    """(final, temporary) paths in the same directory, so ``os.replace`` is atomic."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=suffix)
    os.close(fd)
    return final, Path(tmp)


@contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to: renamed over ``path`` when the block ends,
    removed when it raises. Every writer of result files (text, netCDF, figures, archives) goes
    through here. A result of a checked kind (netCDF, PDF, PNG) gets its checksum sidecar
    (``integrity.replace_with_checksum``)."""
    final, tmp = atomic_path(path, suffix)
    try:
        yield tmp
        replace_with_checksum(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Atomically write a text file (tables, macros)."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike, config: dict | None = None, seeds=None) -> None:
    """Check metadata, attach provenance and write ``ds`` to ``path`` atomically (netCDF4)."""
    check_metadata(ds)
    ds = ds.copy()
    ds.attrs.update(provenance_attrs(config, seeds))
    try:
        with atomic_write(path, ".nc") as tmp:
            ds.to_netcdf(tmp, engine=ENGINE)
    except (OSError, RuntimeError) as err:
        raise OSError(write_failure(Path(path), err)) from err


# free space below which a failed write is reported as a full disk
DISK_FULL_BYTES = 64 * 2**20


def write_failure(path: str | os.PathLike, err: Exception) -> str:
    """One line for a failed write: the file, and whether the disk is full (netCDF-C reports a
    full disk only as ``NetCDF: HDF error``)."""
    folder = os.path.dirname(os.path.abspath(path))
    full = getattr(err, "errno", None) == errno.ENOSPC or shutil.disk_usage(folder).free < DISK_FULL_BYTES
    cause = "no space left on device" if full else f"{type(err).__name__}: {err}"
    return f"cannot write {path}: {cause} (free {shutil.disk_usage(folder).free / 2**20:.0f} MiB in {folder})"


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Load a result dataset fully into memory and close the file; a damaged file (truncated,
    not netCDF, or changed since it was written: ``learndyn.integrity``) raises
    ``UnreadableResult`` with one line naming it and how to rebuild it."""
    problem = netcdf_problem(path) or checksum_problem(path)
    if problem is None:
        try:
            with xr.open_dataset(path, engine=ENGINE) as ds:
                return ds.load()
        except (OSError, RuntimeError, ValueError) as err:
            if not os.path.exists(path):
                raise
            problem = f"{type(err).__name__}: {err}"
    raise unreadable(path, problem)


def open_per_task(paths, prefix: str) -> dict[str, xr.Dataset]:
    """Datasets written one per task as ``{prefix}_{task}.nc``, as ``{task: dataset}`` in the
    order of ``paths`` (the first task is the one the text quotes)."""
    return {
        os.path.basename(str(p)).removesuffix(".nc").removeprefix(prefix + "_"): open_dataset(p)
        for p in paths
    }
