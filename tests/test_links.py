"""Caption links of the figures and tables to their rule, script and datasets (learndyn.links):
the caption line, the appendix table, the tarball's ancillary files and the check that every
float has its link and every hash matches its file."""

from __future__ import annotations

import hashlib

import pytest

from learndyn import links
from learndyn.io import write_text

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "https://github.com/org/learndyn"


@pytest.fixture
def tree(tmp_path):
    """A repository with one rule file, one script and one result dataset (with its sidecar)."""
    (tmp_path / "workflow" / "rules").mkdir(parents=True)
    (tmp_path / "workflow" / "scripts").mkdir(parents=True)
    (tmp_path / "workflow" / "rules" / "figures.smk").write_text("rule figures_train:\n")
    (tmp_path / "workflow" / "scripts" / "paper_figures.py").write_text("print()\n")
    data = tmp_path / "results" / "analysis" / "train_cells.nc"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"netcdf bytes")
    (data.parent / "train_cells.nc.sha256").write_text(f"{hashlib.sha256(b'netcdf bytes').hexdigest()}  x\n")
    source = links.Source(
        key="train/fa_accuracy",
        kind="figure",
        rule="figures_train",
        rule_file="workflow/rules/figures.smk",
        rule_line=7,
        script="workflow/scripts/paper_figures.py",
        datasets=("results/analysis/train_cells.nc",),
    )
    return tmp_path, source


def _write(tree, repository=None):
    root, source = tree
    out = root / "results" / "paper"
    links.write_sources(
        [source], repository, COMMIT, out / "sources.tex", out / "tables" / "s.tex", out / "s.json", root
    )
    return out


def test_caption_line_names_rule_script_and_short_hash(tree):
    out = _write(tree)
    text = (out / "sources.tex").read_text()
    digest = hashlib.sha256(b"netcdf bytes").hexdigest()
    assert r"\texttt{figures\_train}" in text and "anc/workflow/scripts/paper\\_figures.py" in text
    assert digest[: links.SHORT_SHA] in text and digest[: links.SHORT_SHA + 1] not in text
    assert "LDsrc@train/fa_accuracy" in text
    table = (out / "tables" / "s.tex").read_text()
    assert r"\begin{longtable}" in table and digest[: links.SHORT_SHA] in table


def test_links_point_into_the_repository_at_the_commit(tree):
    text = (_write(tree, REPO) / "sources.tex").read_text()
    assert rf"\href{{{REPO}/blob/{COMMIT}/workflow/rules/figures.smk\#L7}}" in text
    assert rf"{REPO}/blob/{COMMIT}/workflow/scripts/paper\%5Ffigures.py" in text  # "_" encoded
    assert "anc/" not in text


def test_check_passes_and_catches_a_changed_dataset_and_a_missing_link(tree):
    root, source = tree
    out = _write(tree)
    tex = root / "section.tex"
    tex.write_text(
        "\\begin{figure}\\includegraphics[width=\\linewidth]{train/fa_accuracy.pdf}\n"
        "\\caption{A figure. \\LDSource{train/fa_accuracy}}\\end{figure}\n"
    )
    assert links.check_sources([tex], out / "s.json", root) == []
    (root / "results" / "analysis" / "train_cells.nc").write_bytes(b"other bytes")
    assert any("SHA-256" in p for p in links.check_sources([tex], out / "s.json", root))
    _write(tree)  # hashes recomputed from the sidecar: it still records the old bytes
    tex.write_text("\\begin{figure}\\includegraphics{train/fa_accuracy}\\caption{No link.}\\end{figure}\n")
    problems = links.check_sources([tex], out / "s.json", root)
    assert any("has no \\LDSource{train/fa_accuracy}" in p for p in problems)


def test_tables_are_keyed_by_their_path_under_results_paper(tree):
    root, _ = tree
    tex = root / "t.tex"
    tex.write_text(
        "\\begin{sidewaystable}\\caption{T. \\LDSource{tables/train_summary}}"
        "\\input{../results/paper/tables/train_summary.tex}\\end{sidewaystable}"
    )
    assert links.floats(tex.read_text()) == [("table", ["tables/train_summary"], ["tables/train_summary"])]


def test_ancillary_files_carry_rule_and_script(tree):
    root, source = tree
    files = links.ancillary_files([source], root)
    assert sorted(files) == ["anc/workflow/rules/figures.smk", "anc/workflow/scripts/paper_figures.py"]


def test_read_sources_round_trip(tree):
    out = _write(tree)
    sources, hashes = links.read_sources(out / "s.json")
    assert sources == [tree[1]] and set(hashes) == set(tree[1].datasets)


def test_from_workflow_renames_the_rule_key():
    entry = {
        "key": "tables/x",
        "kind": "table",
        "rule_name": "r",
        "rule_file": "f",
        "rule_line": 1,
        "script": "",
        "datasets": ["d.nc"],
    }
    assert links.Source.from_workflow(entry).rule == "r"


def test_write_text_is_used_for_outputs(tmp_path):
    write_text("x", tmp_path / "a.tex")  # the writer the module relies on writes plain text
    assert (tmp_path / "a.tex").read_text() == "x"
