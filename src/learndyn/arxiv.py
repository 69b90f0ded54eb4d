"""The arXiv source of the paper: one flat folder packed as a deterministic tar.gz.

The paper is two documents, the main text and the supplement, that cross-reference each other
with the ``xr`` package (``\\externaldocument{supplement}`` in one, ``{main}`` in the other); both
go into the one folder and each compiles alone there.

arXiv compiles an upload alone, in one directory, with pdflatex and without BibTeX (it reads
``main.bbl``). The paper is written for ``latexmk -cd paper/main.tex``: it reads sections as
``\\input{sections/...}``, the pipeline's tables and macros as ``\\input{../results/...}`` and
its figures through ``\\graphicspath{{../results/figures/}}``. ``collect`` follows every
``\\input``/``\\include``, ``\\includegraphics``, ``\\bibliography`` and local package from the
main file (paths relative to its folder, as TeX resolves them with ``-cd``), gives each file a
flat name and rewrites the references:

* TeX and BibTeX files at the top level, named by the shortest tail of their path that is
  unique (``results/paper/compute/macros.tex`` -> ``compute_macros.tex`` beside
  ``paper_macros.tex``); local ``.sty``/``.cls`` files keep their names (packages are loaded
  by name);
* figures in ``figures/`` (same naming), ``\\graphicspath{{figures/}}``;
* the compiled bibliography as ``<main>.bbl`` next to ``<main>.tex``;
* the labels of each external document (``\\externaldocument{x}``, one of the documents packed)
  as ``xr-x.aux``, its ``\\newlabel`` lines from the build, and the command rewritten to read it,
  so each document resolves the other's references without compiling it first.

``write_tarball`` packs it reproducibly: members sorted, mtime 0, owner 0/0, mode 0644, and a
gzip header without name or time, so the same sources give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

from .io import atomic_write

FIGURES_DIR = "figures"
# Extensions pdflatex's graphicx tries, in its order, when \includegraphics names none.
GRAPHICS_EXTENSIONS = (".pdf", ".png", ".jpg", ".mps", ".jpeg")

# \input{x} / \include{x}; \includegraphics[opts]{x} (or *); \graphicspath{{a/}{b/}};
# \bibliography{a,b}; local packages and classes. Group "arg" is the braced argument.
_INPUT = re.compile(r"(?P<cmd>\\(?:input|include))\s*\{(?P<arg>[^{}]*)\}")
_GRAPHICS = re.compile(r"(?P<cmd>\\includegraphics\*?\s*(?:\[[^\]]*\])?\s*)\{(?P<arg>[^{}]*)\}")
_GRAPHICSPATH = re.compile(r"\\graphicspath\s*\{(?P<arg>(?:\s*\{[^{}]*\})*)\s*\}")
_BIBLIOGRAPHY = re.compile(r"(?P<cmd>\\bibliography)\s*\{(?P<arg>[^{}]*)\}")
_PACKAGE = re.compile(
    r"\\(?P<cmd>usepackage|RequirePackage|documentclass)\s*(?:\[[^\]]*\])?\s*\{(?P<arg>[^{}]*)\}"
)
_EXTERNAL = re.compile(r"(?P<cmd>\\externaldocument\s*(?:\[[^\]]*\])?\s*)\{(?P<arg>[^{}]*)\}")
_COMMENT = re.compile(r"(?<!\\)(?:\\\\)*%")


class ArxivError(ValueError):
    """A reference of the paper that cannot be followed or packed (one line, naming the file)."""


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of one LaTeX line: the comment starts at the first unescaped ``%``."""
    match = _COMMENT.search(line)
    if not match:
        return line, ""
    cut = match.end() - 1
    return line[:cut], line[cut:]


def rewrite_code(text: str, rewrite: Callable[[re.Pattern, re.Match], str]) -> str:
    """``text`` with every reference command replaced by ``rewrite(pattern, match)``, outside
    comments (a commented-out ``\\input`` is neither followed nor changed)."""
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        code, comment = split_comment(line)
        for pattern in (_INPUT, _GRAPHICSPATH, _GRAPHICS, _BIBLIOGRAPHY, _PACKAGE, _EXTERNAL):
            code = pattern.sub(lambda m, p=pattern: rewrite(p, m), code)
        out.append(code + comment)
    return "".join(out)


def unique_names(paths: list[Path], reserved: set[str] = frozenset()) -> dict[Path, str]:
    """A flat file name per path: the shortest tail of its parts, joined by ``_``, that no other
    path (nor ``reserved``) shares. ``a/x.tex`` and ``b/x.tex`` become ``a_x.tex``, ``b_x.tex``."""
    depth = dict.fromkeys(paths, 1)

    def name(path: Path) -> str:
        return "_".join(path.parts[-depth[path] :])

    while True:
        by_name: dict[str, list[Path]] = {}
        for path in paths:
            by_name.setdefault(name(path), []).append(path)
        clashes = [group for n, group in by_name.items() if len(group) > 1 or n in reserved]
        if not clashes:
            return {path: name(path) for path in paths}
        for group in clashes:
            for path in group:
                if depth[path] >= len(path.parts):
                    raise ArxivError(f"arxiv error: no unique flat name for {path}")
                depth[path] += 1


class _Tree:
    """The files one main .tex file reads, found by following its references in order."""

    def __init__(self, main: Path):
        self.main = main.resolve()
        self.base = self.main.parent  # TeX resolves every relative path from here (latexmk -cd)
        self.graphicspath: list[str] = []
        self.tex: list[Path] = []  # the main file first, then in reading order
        self.bib: list[Path] = []
        self.figures: list[Path] = []
        self.packages: list[Path] = []
        self.external: list[str] = []  # documents whose labels this one reads (xr)

    def _show(self, path: Path) -> str:
        """``path`` as the user knows it: relative to the working directory when inside it."""
        try:
            return os.path.relpath(path)
        except ValueError:
            return str(path)

    def _missing(self, source: Path, command: str, arg: str, tried: Path) -> ArxivError:
        return ArxivError(
            f"arxiv error: {self._show(source)}: {command}{{{arg}}}: {self._show(tried)} does not exist"
            " (build the paper first: snakemake paper)"
        )

    def _check_arg(self, source: Path, command: str, arg: str) -> None:
        if "\\" in arg or "#" in arg:
            raise ArxivError(
                f"arxiv error: {self._show(source)}: {command}{{{arg}}}: a macro in a path cannot be followed"
            )

    def resolve_input(self, source: Path, arg: str) -> Path:
        """The file ``\\input{arg}`` reads: ``arg.tex`` first, then ``arg`` (TeX's order)."""
        self._check_arg(source, "\\input", arg)
        arg = arg.strip()
        candidates = [arg] if arg.endswith(".tex") else [arg + ".tex", arg]
        for candidate in candidates:
            path = (self.base / candidate).resolve()
            if path.is_file():
                return path
        raise self._missing(source, "\\input", arg, self.base / candidates[0])

    def resolve_graphics(self, source: Path, arg: str) -> Path:
        """The file ``\\includegraphics{arg}`` shows: each \\graphicspath folder, then the base
        folder; without an extension, graphicx's extensions in order."""
        self._check_arg(source, "\\includegraphics", arg)
        arg = arg.strip()
        names = [arg] if Path(arg).suffix else [arg + ext for ext in GRAPHICS_EXTENSIONS]
        for folder in [*self.graphicspath, ""]:
            for name in names:
                path = (self.base / folder / name).resolve()
                if path.is_file():
                    return path
        folder = self.graphicspath[0] if self.graphicspath else ""
        raise self._missing(source, "\\includegraphics", arg, self.base / folder / names[0])

    def resolve_bib(self, source: Path, arg: str) -> list[Path]:
        self._check_arg(source, "\\bibliography", arg)
        paths = []
        for name in (n.strip() for n in arg.split(",") if n.strip()):
            path = (self.base / (name if name.endswith(".bib") else name + ".bib")).resolve()
            if not path.is_file():
                raise self._missing(source, "\\bibliography", arg, path)
            paths.append(path)
        return paths

    def local_packages(self, pattern_match: re.Match) -> list[Path]:
        """Packages or classes named by the command that sit beside the main file (the others
        come from the TeX installation)."""
        ext = ".cls" if pattern_match["cmd"] == "documentclass" else ".sty"
        names = (n.strip() for n in pattern_match["arg"].split(",") if n.strip())
        return [p for p in (self.base / (n + ext) for n in names) if p.is_file()]

    def follow(self, source: Path) -> None:
        """Record ``source`` and, in reading order, every file it references (recursively)."""
        self.tex.append(source)

        def visit(pattern: re.Pattern, m: re.Match) -> str:
            if pattern is _INPUT:
                path = self.resolve_input(source, m["arg"])
                if path not in self.tex:
                    self.follow(path)
            elif pattern is _GRAPHICSPATH:
                self.graphicspath = re.findall(r"\{([^{}]*)\}", m["arg"])
            elif pattern is _GRAPHICS:
                path = self.resolve_graphics(source, m["arg"])
                if path not in self.figures:
                    self.figures.append(path)
            elif pattern is _BIBLIOGRAPHY:
                self.bib += [p for p in self.resolve_bib(source, m["arg"]) if p not in self.bib]
            elif pattern is _EXTERNAL:
                self._check_arg(source, "\\externaldocument", m["arg"])
                self.external.append(m["arg"].strip())
            else:
                self.packages += [p for p in self.local_packages(m) if p not in self.packages]
            return m[0]

        rewrite_code(source.read_text(), visit)


XR_PREFIX = "xr-"  # the shipped labels of an external document: xr-<stem>.aux


def external_labels(aux: Path) -> bytes:
    """The ``\\newlabel`` lines of a compiled document's .aux: what ``xr`` reads from it."""
    lines = aux.read_text(errors="replace").splitlines()
    return "".join(line + "\n" for line in lines if line.startswith("\\newlabel")).encode()


def collect(mains, build: str | os.PathLike | None = None) -> dict[str, bytes]:
    """The flat source of the documents whose main files are ``mains`` (one path or several, in
    one folder): archive name -> content.

    Every referenced file is read (an error naming the first one missing), TeX files are
    rewritten to the flat names (one naming over all documents, so shared files are shipped
    once), and from the build folder ``build`` each document's compiled bibliography (required
    when it has a ``\\bibliography``) is stored as ``<stem>.bbl`` and the labels of each
    document another one reads (``\\externaldocument``) as ``xr-<stem>.aux``."""
    mains = [mains] if isinstance(mains, (str, os.PathLike)) else list(mains)
    trees = [_Tree(Path(m)) for m in mains]
    for tree in trees:
        tree.follow(tree.main)
    if len({tree.base for tree in trees}) > 1:
        raise ArxivError("arxiv error: the documents' main files must share one folder")
    stems = [tree.main.stem for tree in trees]
    packages = {p: p.name for tree in trees for p in tree.packages}
    reserved = {*packages.values()}
    for stem in stems:
        reserved |= {f"{stem}.tex", f"{stem}.bbl", f"{XR_PREFIX}{stem}.aux"}
    mains_resolved = {tree.main for tree in trees}
    shared = list(dict.fromkeys(p for tree in trees for p in tree.tex + tree.bib if p not in mains_resolved))
    flat = unique_names(shared, reserved)
    for tree in trees:
        flat[tree.main] = f"{tree.main.stem}.tex"
    figure_names = unique_names(list(dict.fromkeys(p for tree in trees for p in tree.figures)))

    files: dict[str, bytes] = {}
    for tree in trees:
        graphicspath = list(tree.graphicspath)
        for source in tree.tex:
            tree.graphicspath = graphicspath  # the rewrite resolves as the first pass did

            def rename(pattern: re.Pattern, m: re.Match, source=source, tree=tree) -> str:
                if pattern is _INPUT:
                    return f"{m['cmd']}{{{flat[tree.resolve_input(source, m['arg'])]}}}"
                if pattern is _GRAPHICSPATH:
                    return f"\\graphicspath{{{{{FIGURES_DIR}/}}}}"
                if pattern is _GRAPHICS:
                    path = tree.resolve_graphics(source, m["arg"])
                    return f"{m['cmd']}{{{FIGURES_DIR}/{figure_names[path]}}}"
                if pattern is _BIBLIOGRAPHY:
                    names = [flat[p].removesuffix(".bib") for p in tree.resolve_bib(source, m["arg"])]
                    return f"{m['cmd']}{{{','.join(names)}}}"
                if pattern is _EXTERNAL:
                    return f"{m['cmd']}{{{XR_PREFIX}{m['arg'].strip()}}}"
                return m[0]

            files[flat[source]] = rewrite_code(source.read_text(), rename).encode()
        for path in tree.bib:
            files[flat[path]] = path.read_bytes()
        if tree.bib:
            bbl = Path(build or "") / f"{tree.main.stem}.bbl"
            if build is None or not bbl.is_file():
                raise ArxivError(
                    f"arxiv error: {bbl}: the compiled bibliography does not exist (build the paper first: "
                    "snakemake paper)"
                )
            files[f"{tree.main.stem}.bbl"] = bbl.read_bytes()
        for name in tree.external:
            if name not in stems:
                raise ArxivError(
                    f"arxiv error: {tree.main.name}: \\externaldocument{{{name}}}: {name}.tex is not packed"
                )
            aux = Path(build or "") / f"{name}.aux"
            if build is None or not aux.is_file():
                raise ArxivError(
                    f"arxiv error: {aux}: the labels of {name} do not exist"
                    " (build the paper first: snakemake paper)"
                )
            files[f"{XR_PREFIX}{name}.aux"] = external_labels(aux)
    for path, name in packages.items():
        files[name] = path.read_bytes()
    for path, name in figure_names.items():
        files[f"{FIGURES_DIR}/{name}"] = path.read_bytes()
    return files


def write_tarball(files: dict[str, bytes], path: str | os.PathLike) -> None:
    """Pack ``files`` (archive name -> content) as a reproducible tar.gz, written atomically:
    sorted members, mtime 0, uid/gid 0 without names, mode 0644, no name or time in the gzip
    header."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    with atomic_write(path) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(buffer.getvalue())


def build(
    mains,
    build_dir: str | os.PathLike | None,
    out: str | os.PathLike,
    ancillary: dict[str, bytes] | None = None,
) -> list[str]:
    """Write the flat arXiv source of the documents ``mains`` (compiled in ``build_dir``) to
    ``out``, with ``ancillary`` (archive name -> content: the code under ``anc/`` that the
    captions name) beside it; the archive's member names."""
    files = {**(ancillary or {}), **collect(mains, build_dir)}
    write_tarball(files, out)
    return sorted(files)
