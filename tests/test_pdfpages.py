"""The page checks of the built paper (learndyn.pdfpages): the measure on synthetic pages, and the
built main text and supplement (skipped where they are not built or poppler's tools are missing):
the main text has at most MAX_MAIN_PAGES pages, and no page is more than a third empty outside
section ends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learndyn import pdfpages
from learndyn.pdfpages import SECTION_START, ink_extent, sparse_pages

ROOT = Path(__file__).resolve().parents[1]
MAX_MAIN_PAGES = 16  # the main text, references included (issue 33)
DOCUMENTS = ("main", "supplement")
FULL = (0.1, 0.9)


def page(first: float, last: float, rows: int = 100, footer: bool = True) -> np.ndarray:
    """A rendered page: white, ink on rows [first, last) and, optionally, a page number."""
    image = np.full((rows, 60), 255, dtype=np.uint8)
    image[int(first * rows) : int(last * rows), 5:55] = 0
    if footer:
        image[rows - 3, 28:32] = 0
    return image


def test_ink_extent_leaves_out_the_page_number():
    assert ink_extent(page(0.1, 0.5)) == (0.1, 0.5)
    assert ink_extent(page(0.1, 0.5, footer=False)) == (0.1, 0.5)
    assert ink_extent(np.full((10, 10), 255, dtype=np.uint8)) is None


@pytest.mark.parametrize(
    "extent, opens_next, flagged",
    [
        ((0.1, 0.9), False, False),  # a full page
        ((0.1, 0.7), False, False),  # a quarter empty
        ((0.1, 0.5), False, True),  # half empty
        ((0.1, 0.5), True, False),  # half empty where a section ends
        ((0.35, 0.65), False, True),  # a float page with one small float, centred
        (None, False, True),  # blank
    ],
)
def test_sparse_pages(extent, opens_next, flagged):
    extents = [FULL, extent, FULL, FULL]
    opens = [False, False, opens_next, False]
    found = sparse_pages(extents, opens)
    assert [s.page for s in found] == ([2] if flagged else [])


def test_the_last_page_is_never_flagged():
    assert sparse_pages([FULL, FULL, (0.1, 0.2)], [False, False, False]) == []


@pytest.mark.parametrize(
    "line, opens",
    [
        ("4    Closed training-set dynamics", True),
        ("S2     Structured representations", True),
        ("SA Compute cost", True),
        ("References", True),
        ("Reproducibility statement", True),
        ("fashion_mnist_2k", False),
        ("0.75", False),
        ("Table S1: Theory checks", False),
        ("test's tolerance). (ii) Exactness", False),
    ],
)
def test_section_start(line, opens):
    assert bool(SECTION_START.match(line)) is opens


def built(name: str) -> Path:
    pdf = ROOT / "paper" / f"{name}.pdf"
    if not pdf.is_file():
        pytest.skip(f"{pdf.relative_to(ROOT)} is not built (snakemake paper)")
    if not pdfpages.tools_available():
        pytest.skip("poppler-utils (pdfinfo, pdftoppm, pdftotext) not installed: run setup.sh")
    return pdf


def test_the_main_text_fits_its_page_limit():
    pages = pdfpages.page_count(built("main"))
    assert pages <= MAX_MAIN_PAGES, f"paper/main.pdf has {pages} pages (at most {MAX_MAIN_PAGES})"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_no_page_is_more_than_a_third_empty(name):
    sparse = pdfpages.check_pages(built(name))
    assert not sparse, f"paper/{name}.pdf: " + "; ".join(map(str, sparse))
