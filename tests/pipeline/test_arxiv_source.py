"""The arXiv source of the quick run's paper: `snakemake arxiv` packs the main text and the
supplement reproducibly, and each compiles alone, unpacked in an empty folder, with pdflatex run
twice and no BibTeX, its references into the other document resolved from the shipped labels."""

from __future__ import annotations

import re
import subprocess
import tarfile

from conftest import snakemake

from learndyn import figures

TARBALL = "results/arxiv/paper.tar.gz"
UNDEFINED = re.compile(
    r"(Citation|Reference) `[^']*' on page \S+ undefined|There were undefined (references|citations)"
)


DOCUMENTS = ("main", "supplement")


def pdflatex(folder, name="main"):
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        errors="replace",
    )


def test_the_arxiv_source_compiles_alone(quick_run, tmp_path):
    snakemake(quick_run, "--", "arxiv")  # "--": the target is not one more --configfile
    tarball = quick_run / TARBALL
    with tarfile.open(tarball, mode="r:gz") as tar:
        names = tar.getnames()
    for name in DOCUMENTS:
        assert {f"{name}.tex", f"{name}.bbl", f"xr-{name}.aux"} <= set(names), names
    # flat sources, the figures, and the rules and scripts the captions link to (anc/)
    assert all(n.count("/") == 0 or n.startswith(("figures/", "anc/")) for n in names), names
    assert len([n for n in names if n.startswith("figures/")]) == len(figures.FIGURES), "figures shipped"
    assert not any(n.endswith(".pdf") and "/" not in n for n in names), "the paper's own PDF is shipped"

    for name in DOCUMENTS:  # each alone, in a folder of its own
        folder = tmp_path / name
        with tarfile.open(tarball, mode="r:gz") as tar:
            tar.extractall(folder, filter="data")
        for attempt in (1, 2):
            proc = pdflatex(folder, name)
            assert proc.returncode == 0, f"{name}: pdflatex run {attempt} failed:\n{proc.stdout[-3000:]}"
        log = (folder / f"{name}.log").read_text(errors="replace")
        assert not UNDEFINED.search(log), f"{name}: undefined references or citations:\n" + "\n".join(
            line for line in log.splitlines() if "undefined" in line
        )
        assert (folder / f"{name}.pdf").stat().st_size > 10_000


def test_the_arxiv_tarball_is_reproducible(quick_run):
    snakemake(quick_run, "--", "arxiv")
    first = (quick_run / TARBALL).read_bytes()
    snakemake(quick_run, "--force", "--", "arxiv")  # rebuild the tarball only
    assert (quick_run / TARBALL).read_bytes() == first, "two builds of the arXiv tarball differ"
