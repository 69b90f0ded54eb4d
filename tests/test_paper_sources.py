"""The paper's sources: every figure and table is referenced in the text, no internal ids."""

import re
from pathlib import Path

PAPER = Path(__file__).resolve().parents[1] / "paper"
SOURCES = sorted([*PAPER.glob("*.tex"), *(PAPER / "sections").glob("*.tex")])
# experiment codes (E1..E6), figure/table codes (F-A, T-1) and references to the specs
INTERNAL_ID = re.compile(r"\b(E[1-9]\b|[FT]-[A-Z0-9]\b|spec\b|§)")


def _text() -> str:
    return "\n".join(re.sub(r"(?<!\\)%.*", "", p.read_text()) for p in SOURCES)


def test_every_figure_and_table_is_referenced():
    text = _text()
    labels = re.findall(r"\\label\{((?:fig|tab):[^}]+)\}", text)
    assert labels, "no figure or table labels found"
    cited = set(re.findall(r"\\(?:ref|autoref|cref)\{([^}]+)\}", text))
    cited |= {part for group in re.findall(r"\\ref\{([^}]+)\}", text) for part in group.split(",")}
    missing = sorted(set(labels) - cited)
    assert not missing, f"figures/tables never referenced in the text: {missing}"


def test_no_internal_ids_in_text_or_captions():
    hits = []
    for path in SOURCES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            line = re.sub(r"(?<!\\)%.*", "", line)
            for match in INTERNAL_ID.finditer(line):
                hits.append(f"{path.name}:{n}: {match.group(0)!r} in {line.strip()[:80]}")
    assert not hits, "\n".join(hits)


def test_every_arxiv_entry_prints_its_id():
    bib = (PAPER / "refs.bib").read_text()
    for entry in re.split(r"(?=^@)", bib, flags=re.M):
        eprint = re.search(r"eprint\s*=\s*\{([^}]*)\}", entry)
        if eprint:
            key = re.match(r"@\w+\{([^,]+),", entry).group(1)
            assert f"{{{eprint.group(1)}}}" in entry.split("howpublished", 1)[-1], (
                f"{key}: arXiv id {eprint.group(1)} is not printed (add howpublished, see CONTRIBUTING)"
            )


def _labels(main: str) -> set[str]:
    from paper_guard import paper_files

    text = "\n".join(re.sub(r"(?<!\\)%.*", "", p.read_text()) for p in paper_files(mains=(main,)))
    return set(re.findall(r"\\label\{([^}]+)\}", text))


def test_main_text_and_supplement_cross_reference_each_other():
    """Each label lives in one document, every reference finds its label in one of the two, and
    each document reads the other's labels (xr)."""
    main, supplement = _labels("main.tex"), _labels("supplement.tex")
    assert main and supplement
    assert not main & supplement, f"labels defined in both documents: {sorted(main & supplement)}"
    refs = {r for group in re.findall(r"\\(?:ref|eqref)\{([^}]+)\}", _text()) for r in group.split(",")}
    assert refs <= main | supplement, f"references to no label: {sorted(refs - main - supplement)}"
    assert re.search(r"\\externaldocument\{supplement\}", (PAPER / "main.tex").read_text())
    assert re.search(r"\\externaldocument\{main\}", (PAPER / "supplement.tex").read_text())
    # the story in the main text: the seed paper's figure, the key hierarchy figure, the forest plot
    # and the claims summary (the verdict list; the full claims tables are supplementary)
    assert {"fig:train-acc", "fig:theory-truncation", "fig:train-forest"} <= main
    assert "tab:train-claims" in supplement
    assert "train_verdicts.tex" in (PAPER / "sections" / "main_structured.tex").read_text()


def test_equations_are_numbered():
    """Displayed equations are numbered (equation/align), never unnumbered displays."""
    text = _text()
    hits = re.findall(r"\\\[|\$\$|\\begin\{(?:equation|align|gather|multline)\*\}", text)
    assert not hits, f"unnumbered displays: {hits}"
    assert re.search(r"\\begin\{equation\}", text)
