"""Page checks of a built PDF with poppler's command-line tools (``pdfinfo``, ``pdftoppm``,
``pdftotext``; ``setup.sh`` installs them): the page count, and the pages left more than a
third empty where no section ends.

A page's filled height is measured on a low-resolution greyscale rendering: the rows that carry
ink, less the page number at the foot. The body of a full page is the median over the document's
pages of the first and last inked rows, so the check needs no knowledge of the margins. A page
counts as *sparse* when the empty part of its body, above its first and below its last ink (a
float page centres its floats), exceeds ``max_empty`` (default a third) of the body's height,
unless the page ends a section (the next page opens with a section heading, the references or an
appendix) or ends the document.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOOLS = ("pdfinfo", "pdftoppm", "pdftotext")
RESOLUTION_DPI = 24  # enough to see a line of text, cheap for a 40-page document
INK_LEVEL = 200  # a grey level below this (0 black, 255 white) is ink
FOOTER_FRACTION = 0.08  # the page number sits within this fraction of the page's height above its foot
MAX_EMPTY = 1 / 3
# the first line of a page that opens a section: "4 Closed ...", "S2 Structured ...", "SA Compute
# cost", "References", "Reproducibility statement", "Appendix"
SECTION_START = re.compile(r"^(?:S?\d+|S?[A-Z])\s+[A-Z]|^(?:References|Reproducibility statement|Appendix)\b")


class PdfToolsMissing(RuntimeError):
    """poppler's command-line tools are not installed."""


def tools_available() -> bool:
    return all(shutil.which(tool) for tool in TOOLS)


def _run(*args: str) -> str:
    if not tools_available():
        raise PdfToolsMissing(f"poppler-utils missing ({', '.join(TOOLS)}): run setup.sh")
    return subprocess.run(args, capture_output=True, text=True, errors="replace", check=True).stdout


def page_count(pdf: str | Path) -> int:
    """Number of pages of ``pdf`` (``pdfinfo``)."""
    match = re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", str(pdf)), re.M)
    if not match:
        raise ValueError(f"{pdf}: pdfinfo reports no page count")
    return int(match.group(1))


def _read_pgm(path: Path) -> np.ndarray:
    """A binary greyscale PGM (P5, 8 bit) as a (rows, columns) uint8 array."""
    data = path.read_bytes()
    fields = re.match(rb"P5\s+(?:#[^\n]*\n\s*)*(\d+)\s+(\d+)\s+(\d+)\s", data)
    if not fields:
        raise ValueError(f"{path}: not a binary PGM")
    width, height = int(fields.group(1)), int(fields.group(2))
    pixels = np.frombuffer(data, dtype=np.uint8, count=width * height, offset=fields.end())
    return pixels.reshape(height, width)


def ink_extent(image: np.ndarray) -> tuple[float, float] | None:
    """(first, last) inked row of a rendered page as fractions of its height, the page number at
    the foot left out; None for a blank page."""
    rows = np.flatnonzero((image < INK_LEVEL).any(axis=1))
    if rows.size == 0:
        return None
    height = image.shape[0]
    body = rows[rows < height * (1 - FOOTER_FRACTION)]
    rows = body if body.size else rows
    return rows[0] / height, (rows[-1] + 1) / height


def page_extents(pdf: str | Path) -> list[tuple[float, float] | None]:
    """The inked extent of every page (``ink_extent``), rendered with ``pdftoppm``."""
    with tempfile.TemporaryDirectory() as tmp:
        _run("pdftoppm", "-gray", "-r", str(RESOLUTION_DPI), str(pdf), f"{tmp}/page")
        pages = sorted(Path(tmp).glob("page-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        return [ink_extent(_read_pgm(p)) for p in pages]


def first_line(pdf: str | Path, page: int) -> str:
    """The first non-empty line of text on ``page`` (1-based)."""
    text = _run("pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-")
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


@dataclass(frozen=True)
class SparsePage:
    page: int  # 1-based
    empty: float  # the empty fraction of the body above the first and below the last ink

    def __str__(self) -> str:
        return f"page {self.page}: {self.empty:.0%} of the body empty"


def sparse_pages(
    extents: list[tuple[float, float] | None],
    opens_section: list[bool],
    max_empty: float = MAX_EMPTY,
) -> list[SparsePage]:
    """The pages whose body is more than ``max_empty`` empty (above its first and below its last
    ink), outside section ends: ``extents`` from ``page_extents``, ``opens_section[i]`` whether
    page i+1 opens a section (then page i ends one and may be short); the last page is never
    flagged."""
    inked = [e for e in extents if e is not None]
    if not inked:
        return []
    top = float(np.median([e[0] for e in inked]))
    bottom = float(np.median([e[1] for e in inked]))
    height = max(bottom - top, 1e-9)
    out = []
    for i, extent in enumerate(extents[:-1]):
        if opens_section[i + 1]:
            continue
        first, last = (top, top) if extent is None else extent
        filled = max(min(last, bottom) - max(first, top), 0.0)
        empty = 1 - filled / height
        if empty > max_empty:
            out.append(SparsePage(i + 1, empty))
    return out


def check_pages(pdf: str | Path, max_empty: float = MAX_EMPTY) -> list[SparsePage]:
    """The sparse pages of a built PDF (``sparse_pages``), read with poppler's tools."""
    extents = page_extents(pdf)
    opens = [bool(SECTION_START.match(first_line(pdf, i + 1))) for i in range(len(extents))]
    return sparse_pages(extents, opens, max_empty)
