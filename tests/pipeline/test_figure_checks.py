"""Every registered figure, drawn from the quick run's results, passes the figure checks of the
style guide (``learndyn.plotting.check_figure``: no overlapping tick labels, no legend over data,
bands on log axes computed in log space, symbols typeset, registry colours and markers) and the
print checks (``learndyn.legibility``: text at least 6 pt at its ``\\includegraphics`` width, no
legend of more than 8 entries or over a panel's labels, log axes fitted to their data, no
pipeline id in any text); every table is set at 8 pt or more and shows no pipeline id; every
figure and table caption links its rule, script and datasets, and every hash it shows is the
file's (``learndyn.links``). Generic over the registries: a figure or table added anywhere is
checked without an edit here."""

from __future__ import annotations

import pytest
from conftest import QUICK

from learndyn import figures, links
from learndyn.config import load_config_file


@pytest.fixture(scope="module")
def config(quick_run):
    return load_config_file(quick_run / QUICK)


@pytest.fixture(scope="module")
def drawn(quick_run, config):
    """Every registered figure's problems, drawn from the quick run: {key: [problem, ...]}."""
    return figures.check_figures(quick_run, config, quick_run / "paper")


@pytest.mark.parametrize("key", list(figures.FIGURES))
def test_figure_passes_the_checks(drawn, key):
    assert not drawn[key], f"{key}:\n" + "\n".join(drawn[key])


def test_every_figure_is_included_at_a_known_width(quick_run):
    widths = figures.printed_widths(quick_run / "paper")
    assert set(figures.FIGURES) <= set(widths), set(figures.FIGURES) - set(widths)


def test_tables_are_legible_and_show_names(quick_run, config):
    problems = figures.check_tables(quick_run, config, quick_run / "paper")
    assert not problems, "\n".join(problems)


def test_every_figure_and_table_links_its_code_and_data(quick_run):
    sources_json = quick_run / "results" / "paper" / "sources.json"
    problems = links.check_sources(figures.paper_tex(quick_run / "paper"), sources_json, quick_run)
    assert not problems, "\n".join(problems)
    sources, hashes = links.read_sources(sources_json)
    keys = {s.key for s in sources}
    assert set(figures.FIGURES) <= keys
    tables = {
        p.relative_to(quick_run / "results" / "paper").with_suffix("").as_posix()
        for p in (quick_run / "results" / "paper" / "tables").glob("*.tex")
    }
    assert tables - {"tables/paper_sources"} <= keys
    assert hashes and all(len(h) == 64 for h in hashes.values())
    macros = (quick_run / "results" / "paper" / "sources.tex").read_text()
    assert all(f"LDsrc@{k}" in macros for k in keys)
    tarball = quick_run / "results" / "arxiv" / "paper.tar.gz"
    if tarball.exists():
        import tarfile

        with tarfile.open(tarball) as tar:
            names = set(tar.getnames())
        assert {f"anc/{s.script}" for s in sources if s.script} <= names
