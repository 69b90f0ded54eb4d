"""Whether a result file is complete and unchanged since it was written (standard library only:
the workflow checks every existing output while it builds the DAG, so this must be cheap to
import and run).

Two checks per file, by kind (``.nc``, ``.pt``, ``.pdf``, ``.png``):

* its structure, from its first and last bytes: the netCDF-4/HDF5 superblock and end-of-file
  address, the zip archive's end record of a PyTorch file, a PDF's ``%PDF-`` ... ``%%EOF``, a
  PNG's signature and closing ``IEND`` chunk. A truncated file fails here.
* its content: a file of the workflow's results (a path inside a ``results`` folder) is written
  with a sidecar ``<file>.sha256`` (``sha256sum`` format: ``sha256sum -c`` checks it by hand),
  its SHA-256 at write time (``replace_with_checksum``, called by every writer of these kinds).
  A file damaged in place (bytes zeroed, size and time kept) differs from it. A file without a
  sidecar (written elsewhere, or by an older version) is checked by its own CRCs where its
  format has them (PyTorch's zip members, PNG chunks), by structure only otherwise.

Hashing every output on every DAG build would cost about a second on the full study, so
``check_files`` keeps the files it has verified (keyed by size, inode and modification and
change times: any write to a file changes its change time, which no tool can set back) in a
small cache and hashes only new or changed files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path


class UnreadableResult(OSError):
    """A result file that exists but cannot be read (truncated, corrupted, not of its kind)."""


def rebuild_hint(path: str | os.PathLike) -> str:
    return f"delete it and rerun the same snakemake command to rebuild it: rm {shlex.quote(str(path))}"


def unreadable(path: str | os.PathLike, problem: str, kind: str = "result file") -> UnreadableResult:
    """The one-line error of a reader that met a damaged file: the file, why, and the fix."""
    return UnreadableResult(f"{path}: unreadable {kind} ({problem}); {rebuild_hint(path)}")


# ---- structure, from the first and last bytes -----------------------------------------------

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
ZIP_END = b"PK\x05\x06"  # end of central directory record (22 bytes + a comment of up to 64 KiB)
ZIP64_END = b"PK\x06\x06"
PDF_SIGNATURE = b"%PDF-"
PDF_END = b"%%EOF"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC
TAIL_BYTES = 1024  # a PDF's %%EOF is within the last bytes (trailing newlines allowed)


def _head_tail(path: str | os.PathLike, head: int, tail: int) -> tuple[int, bytes, bytes] | None:
    """(size, first ``head`` bytes, last ``tail`` bytes), or None for a missing file."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            first = fh.read(head)
            fh.seek(max(0, size - tail))
            last = fh.read(tail)
    except FileNotFoundError:
        return None
    return size, first, last


def netcdf_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a complete netCDF-4 (HDF5) file, from its first bytes, or None.

    Reads the HDF5 superblock (format spec, "Superblock"): the signature, and the end-of-file
    address, which a truncated file no longer reaches. A missing file is not a problem here
    (the workflow rebuilds it).
    """
    found = _head_tail(path, 64, 0)
    if found is None:
        return None
    size, head, _ = found
    if head[:8] != HDF5_SIGNATURE:
        return "not a netCDF-4/HDF5 file" if size else "empty file"
    version = head[8]
    if version in (2, 3):  # signature, version, offsets size, lengths size, flags, base, ext, EOF
        offsets, at = head[9], 12
    elif version in (0, 1):  # ... 16 (v0) or 20 (v1) bytes of versions/sizes/flags, then 4 addresses
        offsets, at = head[13], 24 if version == 0 else 28
    else:
        return None  # a newer superblock: leave the verdict to the netCDF library
    fields = [int.from_bytes(head[at + i * offsets : at + (i + 1) * offsets], "little") for i in range(3)]
    base, eof = fields[0], fields[2]
    if base + eof > size:
        return f"truncated: {size} of {base + eof} bytes"
    return None


def torch_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a complete PyTorch file (a zip archive: ``torch.save``), or None: the
    archive's end record, which a truncated file has lost, and the central directory it points
    to inside the file."""
    found = _head_tail(path, 4, 22 + 2**16)
    if found is None:
        return None
    size, head, tail = found
    if head != ZIP_SIGNATURE:
        return "not a PyTorch (zip) file" if size else "empty file"
    end = tail.rfind(ZIP_END)
    if end < 0 or len(tail) - end < 22:
        return f"truncated: no zip end record in its {size} bytes"
    record = tail[end : end + 22]
    cd_size, cd_offset = int.from_bytes(record[12:16], "little"), int.from_bytes(record[16:20], "little")
    if cd_offset != 0xFFFFFFFF and tail.rfind(ZIP64_END) < 0 and cd_offset + cd_size > size:
        return f"truncated: its zip directory ends at byte {cd_offset + cd_size} of {size}"
    return None


def pdf_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a complete PDF (``%PDF-`` first, ``%%EOF`` at its end), or None."""
    found = _head_tail(path, len(PDF_SIGNATURE), TAIL_BYTES)
    if found is None:
        return None
    size, head, tail = found
    if head != PDF_SIGNATURE:
        return "not a PDF file" if size else "empty file"
    if PDF_END not in tail:
        return f"truncated: no %%EOF at the end of its {size} bytes"
    return None


def png_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a complete PNG (signature first, the ``IEND`` chunk last), or None."""
    found = _head_tail(path, len(PNG_SIGNATURE), len(PNG_END))
    if found is None:
        return None
    size, head, tail = found
    if head != PNG_SIGNATURE:
        return "not a PNG file" if size else "empty file"
    if tail != PNG_END:
        return f"truncated: no IEND chunk at the end of its {size} bytes"
    return None


def csv_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a complete CSV table (a header, then rows of as many fields, the last
    line ended by a newline), or None."""
    import csv

    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return "not a text file"
    if not text:
        return "empty file"
    if not text.endswith("\n"):
        return "truncated: no newline at the end of its last line"
    rows = list(csv.reader(text.splitlines()))
    bad = [i + 1 for i, r in enumerate(rows) if len(r) != len(rows[0])]
    return f"damaged: line {bad[0]} has not the header's {len(rows[0])} fields" if bad else None


STRUCTURE = {
    ".nc": netcdf_problem,
    ".pt": torch_problem,
    ".pdf": pdf_problem,
    ".png": png_problem,
    ".csv": csv_problem,
}


# ---- content: the checksum recorded at write time --------------------------------------------

SIDECAR = ".sha256"
RESULTS_FOLDER = "results"


def sidecar(path: str | os.PathLike) -> Path:
    """The checksum file of ``path``: ``<file>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR)


def records_checksum(path: str | os.PathLike) -> bool:
    """Whether a written file gets a checksum sidecar: a file of a kind checked here inside a
    ``results`` folder (the workflow's outputs; scratch files elsewhere get none)."""
    path = Path(path)
    return path.suffix in STRUCTURE and RESULTS_FOLDER in path.parent.parts


def file_digest(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def recorded_digest(path: str | os.PathLike) -> str | None:
    """The digest in ``path``'s sidecar, or None without one (or with an unreadable one)."""
    try:
        text = sidecar(path).read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    digest = text.split(maxsplit=1)[0] if text.strip() else ""
    return digest if len(digest) == 64 else None


def replace_with_checksum(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Rename the complete file ``tmp`` over ``final`` and, for a result file
    (``records_checksum``), record its SHA-256 in ``final``'s sidecar. The sidecar is written
    (to a temporary file) before anything is replaced, so a full disk changes nothing; the old
    sidecar goes first, so an interruption between the two renames leaves a file with no
    sidecar (checked by structure only), never one with another file's checksum."""
    final = Path(final)
    if not records_checksum(final):
        os.replace(tmp, final)
        return
    line = f"{file_digest(tmp)}  {final.name}\n"
    side = sidecar(final)
    fd, side_tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{side.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(line)
        side.unlink(missing_ok=True)
        os.replace(tmp, final)
        os.replace(side_tmp, side)
    finally:
        Path(side_tmp).unlink(missing_ok=True)


def zip_crc_problem(path: str | os.PathLike) -> str | None:
    """A PyTorch file's own content check: the CRC-32 of every member of its zip archive
    (``torch.load`` does not check them: a file zeroed in the middle loads silently)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as err:
        return f"damaged: {type(err).__name__}: {err}"
    return f"damaged: CRC mismatch in its member {bad}" if bad else None


def png_crc_problem(path: str | os.PathLike) -> str | None:
    """A PNG's own content check: the CRC-32 that closes every chunk."""
    data = Path(path).read_bytes()
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        body, crc = data[at + 4 : at + 8 + length], data[at + 8 + length : at + 12 + length]
        if len(crc) < 4 or zlib.crc32(body) != int.from_bytes(crc, "big"):
            return f"damaged: CRC mismatch in its {body[:4].decode('latin-1')!r} chunk at byte {at}"
        at += 12 + length
    return None


# the kinds that carry checksums of their own: checked this way when no sidecar was recorded
OWN_CRC = {".pt": zip_crc_problem, ".png": png_crc_problem}


def checksum_problem(path: str | os.PathLike, verified: dict | None = None) -> str | None:
    """Whether ``path`` differs from the checksum recorded when it was written (without a
    sidecar: from its kind's own CRCs, ``OWN_CRC``; nothing for the other kinds), or None.
    ``verified``: files already found intact (``check_files``' cache), skipped while their
    size, inode and times are unchanged."""
    digest = recorded_digest(path)
    own = OWN_CRC.get(Path(path).suffix)
    if digest is None and own is None:
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    key = [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, digest]
    if verified is not None and verified.get(str(path)) == key:
        return None
    if digest is None:
        problem = own(path)
    elif file_digest(path) != digest:
        problem = f"damaged: not the content recorded when it was written ({sidecar(path).name})"
    else:
        problem = None
    if problem is None and verified is not None:
        verified[str(path)] = key
    return problem


def integrity_problem(path: str | os.PathLike, verified: dict | None = None) -> str | None:
    """Why the result file ``path`` is damaged (its structure by kind, then its recorded
    checksum), or None; a missing file, or one of a kind not checked here, is not a problem."""
    check = STRUCTURE.get(Path(path).suffix)
    if check is None:
        return None
    return check(path) or checksum_problem(path, verified)


# ---- every output at once, before any job is planned -----------------------------------------

CACHE_VERSION = 1


def _load_cache(cache: Path) -> dict:
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if data.get("version") == CACHE_VERSION else {}


def _save_cache(cache: Path, verified: dict) -> None:
    """Write the cache atomically; a cache only, so a failure (read-only tree, full disk) is ignored."""
    tmp = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.name}.")
        with os.fdopen(fd, "w") as fh:
            json.dump({"version": CACHE_VERSION, "files": verified}, fh)
        os.replace(tmp, cache)
    except OSError:
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def check_files(
    paths: Iterable[str], root: str | os.PathLike, cache: str | os.PathLike | None = None
) -> list[str]:
    """One line ``result error: <path>: <problem>; <fix>`` per damaged file of ``paths``
    (relative to ``root``); ``cache``: where the files found intact are remembered."""
    root = Path(root)
    before = _load_cache(Path(cache)) if cache else {}
    verified = dict(before)
    errors, seen = [], set()
    for path in paths:
        full = root / path
        problem = integrity_problem(full, verified)
        seen.add(str(full))
        if problem:
            errors.append(f"result error: {path}: {problem}; {rebuild_hint(path)}")
    kept = {k: v for k, v in verified.items() if k in seen}
    if cache and kept != before:
        _save_cache(Path(cache), kept)
    return errors
