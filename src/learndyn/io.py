"""Writing result datasets: metadata checks, provenance, atomic replace.

A reader never sees a half-written file: data go to a temporary file in the target
directory which is renamed over the target only once complete.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import tempfile
from pathlib import Path

import xarray as xr

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


def write_text(text: str, path: str | os.PathLike) -> None:
    """Atomically write a text file (tables, macros)."""
    final, tmp = atomic_path(path)
    tmp.write_text(text)
    os.replace(tmp, final)


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike, config: dict | None = None, seeds=None) -> None:
    """Check metadata, attach provenance and write ``ds`` to ``path`` atomically (netCDF4)."""
    check_metadata(ds)
    ds = ds.copy()
    ds.attrs.update(provenance_attrs(config, seeds))
    final, tmp = atomic_path(path, ".nc")
    try:
        ds.to_netcdf(tmp, engine=ENGINE)
        os.replace(tmp, final)
    except (OSError, RuntimeError) as err:
        raise OSError(write_failure(final, err)) from err
    finally:
        tmp.unlink(missing_ok=True)


# free space below which a failed write is reported as a full disk
DISK_FULL_BYTES = 64 * 2**20


def write_failure(path: str | os.PathLike, err: Exception) -> str:
    """One line for a failed write: the file, and whether the disk is full (netCDF-C reports a
    full disk only as ``NetCDF: HDF error``)."""
    folder = os.path.dirname(os.path.abspath(path))
    full = getattr(err, "errno", None) == errno.ENOSPC or shutil.disk_usage(folder).free < DISK_FULL_BYTES
    cause = "no space left on device" if full else f"{type(err).__name__}: {err}"
    return f"cannot write {path}: {cause} (free {shutil.disk_usage(folder).free / 2**20:.0f} MiB in {folder})"


class UnreadableResult(OSError):
    """A result file that exists but cannot be read (truncated, corrupted, not netCDF)."""


def rebuild_hint(path: str | os.PathLike) -> str:
    return f"delete it and rerun the same snakemake command to rebuild it: rm {shlex.quote(str(path))}"


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Load a result dataset fully into memory and close the file; a corrupt file raises
    ``UnreadableResult`` with one line naming it and how to rebuild it."""
    problem = integrity_problem(path)
    if problem is None:
        try:
            with xr.open_dataset(path, engine=ENGINE) as ds:
                return ds.load()
        except (OSError, RuntimeError, ValueError) as err:
            if not os.path.exists(path):
                raise
            problem = f"{type(err).__name__}: {err}"
    raise UnreadableResult(f"{path}: unreadable result file ({problem}); {rebuild_hint(path)}")


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def integrity_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a complete netCDF-4 (HDF5) file, from its first bytes, or None.

    Reads the HDF5 superblock (format spec, "Superblock"): the signature, and the end-of-file
    address, which a truncated file no longer reaches. Costs one small read, so the workflow
    can check every existing result before it plans any job. A missing file is not a problem
    here (the workflow rebuilds it).
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(64)
    except FileNotFoundError:
        return None
    if head[:8] != HDF5_SIGNATURE:
        return "not a netCDF-4/HDF5 file" if size else "empty file"
    version = head[8]
    if version in (2, 3):  # signature, version, offsets size, lengths size, flags, base, ext, EOF
        offsets, at = head[9], 12
        fields = [int.from_bytes(head[at + i * offsets : at + (i + 1) * offsets], "little") for i in range(3)]
        base, eof = fields[0], fields[2]
    elif version in (0, 1):  # ... 16 (v0) or 20 (v1) bytes of versions/sizes/flags, then 4 addresses
        offsets, at = head[13], 24 if version == 0 else 28
        fields = [int.from_bytes(head[at + i * offsets : at + (i + 1) * offsets], "little") for i in range(3)]
        base, eof = fields[0], fields[2]
    else:
        return None  # a newer superblock: leave the verdict to the netCDF library
    if base + eof > size:
        return f"truncated: {size} of {base + eof} bytes"
    return None


def open_per_task(paths, prefix: str) -> dict[str, xr.Dataset]:
    """Datasets written one per task as ``{prefix}_{task}.nc``, as ``{task: dataset}`` in the
    order of ``paths`` (the first task is the one the text quotes)."""
    return {
        os.path.basename(str(p)).removesuffix(".nc").removeprefix(prefix + "_"): open_dataset(p)
        for p in paths
    }
