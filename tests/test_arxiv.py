"""The arXiv source on a tiny hand-made paper: references followed and flattened, comments
left alone, a missing file named in one line, a main text and a supplement packed together with
the labels each reads from the other, and the tarball reproducible to the byte."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from learndyn.arxiv import ArxivError, build, collect, split_comment, unique_names, write_tarball

MAIN = r"""\documentclass{article}
\usepackage{graphicx}
\usepackage{local}
\graphicspath{{../results/figures/}}
\input{../results/paper/macros.tex}
\input{../results/paper/compute/macros.tex}
\begin{document}
\input{sections/intro}
% \input{sections/draft} is commented out: neither followed nor rewritten
Discount 5\% \cite{key}. % \includegraphics{nowhere.pdf}
\bibliographystyle{plain}
\bibliography{refs}
\end{document}
"""
INTRO = r"""\section{Intro}
\includegraphics[width=0.5\linewidth]{train/curve.pdf}
\includegraphics{theory/curve}
\input{../results/paper/tables/table.tex}
"""


def make_paper(root: Path) -> Path:
    """A paper laid out like the pipeline's: sources in paper/, generated files in results/."""
    files = {
        "paper/main.tex": MAIN,
        "paper/sections/intro.tex": INTRO,
        "paper/local.sty": "\\ProvidesPackage{local}\n",
        "paper/refs.bib": "@misc{key, title={T}}\n",
        "results/paper/macros.tex": "\\newcommand{\\A}{1}\n",
        "results/paper/compute/macros.tex": "\\newcommand{\\B}{2}\n",
        "results/paper/tables/table.tex": "a & b \\\\\n",
        "results/figures/train/curve.pdf": "%PDF train",
        "results/figures/theory/curve.pdf": "%PDF theory",
        "results/paper/build/main.bbl": "\\begin{thebibliography}{1}\\end{thebibliography}\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "paper" / "main.tex"


def test_every_reference_is_flattened_and_rewritten(tmp_path):
    main = make_paper(tmp_path)
    files = collect(main, tmp_path / "results/paper/build")
    assert set(files) == {
        "main.tex",
        "main.bbl",
        "intro.tex",
        "paper_macros.tex",
        "compute_macros.tex",
        "table.tex",
        "refs.bib",
        "local.sty",
        "figures/train_curve.pdf",
        "figures/theory_curve.pdf",
    }, "flat names"
    tex = files["main.tex"].decode()
    assert "\\graphicspath{{figures/}}" in tex
    assert "\\input{paper_macros.tex}" in tex and "\\input{compute_macros.tex}" in tex
    assert "\\input{intro.tex}" in tex and "\\bibliography{refs}" in tex
    assert "% \\input{sections/draft}" in tex, "a comment was rewritten"
    assert "5\\% \\cite{key}. % \\includegraphics{nowhere.pdf}" in tex, "an escaped % ended the line"
    intro = files["intro.tex"].decode()
    assert "\\includegraphics[width=0.5\\linewidth]{figures/train_curve.pdf}" in intro
    assert "\\includegraphics{figures/theory_curve.pdf}" in intro
    assert "\\input{table.tex}" in intro
    assert files["figures/train_curve.pdf"] == b"%PDF train"
    assert not any("../" in text.decode() for name, text in files.items() if name.endswith(".tex"))


def test_a_missing_input_is_named_in_one_line(tmp_path):
    main = make_paper(tmp_path)
    (tmp_path / "results/paper/tables/table.tex").unlink()
    with pytest.raises(ArxivError) as err:
        collect(main, tmp_path / "results/paper/build")
    message = str(err.value)
    assert "\n" not in message and "sections/intro.tex" in message
    assert "results/paper/tables/table.tex does not exist" in message, message


def test_a_missing_bbl_or_figure_is_an_error(tmp_path):
    main = make_paper(tmp_path)
    with pytest.raises(ArxivError, match="nowhere/main.bbl: the compiled bibliography does not exist"):
        collect(main, tmp_path / "nowhere")
    (tmp_path / "results/figures/theory/curve.pdf").unlink()
    with pytest.raises(ArxivError, match=r"includegraphics\{theory/curve\}"):
        collect(main, tmp_path / "results/paper/build")


def test_the_tarball_is_reproducible_and_flat(tmp_path):
    main = make_paper(tmp_path)
    bbl = tmp_path / "results/paper/build"
    build(main, bbl, tmp_path / "a.tar.gz")
    (tmp_path / "results/paper/macros.tex").touch()  # a newer mtime changes nothing
    build(main, bbl, tmp_path / "b.tar.gz")
    data = (tmp_path / "a.tar.gz").read_bytes()
    assert data == (tmp_path / "b.tar.gz").read_bytes(), "two builds differ"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and "main.tex" in names and "main.bbl" in names
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.mode == 0o644 for m in members)
    assert all(name.count("/") <= 1 for name in names) and all(".." not in name for name in names)


SUPPLEMENT = r"""\documentclass{article}
\usepackage{xr-hyper}
\externaldocument{main}[main.pdf]
\graphicspath{{../results/figures/}}
\input{../results/paper/macros.tex}
\begin{document}
\input{sections/extra}
See Section~\ref{sec:intro} of the main text.
\bibliographystyle{plain}
\bibliography{refs}
\end{document}
"""


def make_two_documents(root: Path) -> tuple[Path, Path]:
    main = make_paper(root)
    main.write_text(
        main.read_text().replace("\\begin{document}", "\\externaldocument{supplement}\n\\begin{document}")
    )
    files = {
        "paper/supplement.tex": SUPPLEMENT,
        "paper/sections/extra.tex": "\\section{Extra}\\label{sec:extra}\n\\includegraphics{theory/curve}\n",
        "results/paper/build/main.aux": "\\relax\n\\newlabel{sec:intro}{{1}{1}}\n\\bibcite{key}{1}\n",
        "results/paper/build/supplement.aux": "\\relax\n\\newlabel{sec:extra}{{S1}{1}}\n",
        "results/paper/build/supplement.bbl": "\\begin{thebibliography}{1}\\end{thebibliography}\n",
    }
    for rel, text in files.items():
        (root / rel).write_text(text)
    return main, root / "paper" / "supplement.tex"


def test_two_documents_are_packed_with_each_others_labels(tmp_path):
    main, supplement = make_two_documents(tmp_path)
    files = collect([main, supplement], tmp_path / "results/paper/build")
    assert {"main.tex", "supplement.tex", "main.bbl", "supplement.bbl", "extra.tex", "intro.tex"} <= set(
        files
    )
    assert files["xr-main.aux"] == b"\\newlabel{sec:intro}{{1}{1}}\n", "only the labels are shipped"
    assert files["xr-supplement.aux"] == b"\\newlabel{sec:extra}{{S1}{1}}\n"
    assert "\\externaldocument{xr-main}[main.pdf]" in files["supplement.tex"].decode()
    assert "\\externaldocument{xr-supplement}" in files["main.tex"].decode()
    assert "\\input{paper_macros.tex}" in files["supplement.tex"].decode(), "shared files share one name"
    assert [n for n in files if n.startswith("figures/")] == [
        "figures/train_curve.pdf",
        "figures/theory_curve.pdf",
    ]
    (tmp_path / "results/paper/build/main.aux").unlink()
    with pytest.raises(ArxivError, match="main.aux: the labels of main do not exist"):
        collect([main, supplement], tmp_path / "results/paper/build")
    with pytest.raises(ArxivError, match=r"externaldocument\{main\}: main.tex is not packed"):
        collect([supplement], tmp_path / "results/paper/build")


def test_write_tarball_bytes_do_not_depend_on_insertion_order(tmp_path):
    files = {"b.tex": b"b", "a.tex": b"a"}
    write_tarball(files, tmp_path / "x.tar.gz")
    write_tarball(dict(reversed(list(files.items()))), tmp_path / "y.tar.gz")
    assert (tmp_path / "x.tar.gz").read_bytes() == (tmp_path / "y.tar.gz").read_bytes()


def test_unique_names_take_the_shortest_distinct_tail():
    paths = [Path("r/paper/macros.tex"), Path("r/paper/compute/macros.tex"), Path("p/sections/intro.tex")]
    assert unique_names(paths, reserved={"main.tex"}) == {
        paths[0]: "paper_macros.tex",
        paths[1]: "compute_macros.tex",
        paths[2]: "intro.tex",
    }
    assert unique_names([Path("x/main.tex")], reserved={"main.tex"}) == {Path("x/main.tex"): "x_main.tex"}


@pytest.mark.parametrize(
    ("line", "code"),
    [("a % b", "a "), ("5\\% off", "5\\% off"), ("a \\\\% b", "a \\\\"), ("no comment", "no comment")],
)
def test_split_comment_finds_the_first_unescaped_percent(line, code):
    assert split_comment(line)[0] == code
