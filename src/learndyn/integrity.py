"""Whether a result file is complete, from its first bytes (standard library only: the workflow
checks every existing result while it builds the DAG, so this must be cheap to import and run)."""

from __future__ import annotations

import os
import shlex


def rebuild_hint(path: str | os.PathLike) -> str:
    return f"delete it and rerun the same snakemake command to rebuild it: rm {shlex.quote(str(path))}"


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
