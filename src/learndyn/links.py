"""Every figure and table of the paper linked to the code and data that made it.

A *source* is one paper artefact (a figure ``results/figures/<key>.pdf`` or a table
``results/paper/<key>.tex``) with the workflow rule that wrote it (its file and line), the
script the rule runs and the datasets it read. The workflow lists them from its own rules
(``get_paper_sources`` in ``common.smk``: the figure registry's inputs for a figure, the rule's
netCDF inputs for a table), so a figure or table another stage adds is covered without an edit
here. From that list the job ``paper_sources`` writes

* ``results/paper/sources.tex``: ``\\LDSource{<key>}``, the small line that ends the artefact's
  caption: rule and script (links into the repository at the built commit when
  ``paper.repository`` is set, else the script's path under ``anc/`` in the arXiv tarball, which
  carries the rule files and scripts as ancillary files) and the short SHA-256 of each dataset;
* ``results/paper/tables/paper_sources.tex``: the appendix table (artefact, rule, script,
  datasets and their SHA-256);
* ``results/paper/sources.json``: the same, for the tarball and the tests.

The hashes are the ones recorded beside each result (``<file>.sha256``, ``learndyn.integrity``);
``check_sources`` recomputes them from the files. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .integrity import file_digest, recorded_digest

TABLE_DIRS = ("results/paper/tables/", "results/paper/compute/")  # where the paper's tables are written
SHORT_SHA = 10  # hex digits of a dataset's SHA-256 shown in a caption
ANCILLARY = "anc"  # arXiv's folder of ancillary files in a submission
# \LDSource{key} in a caption; the figure (\includegraphics{key}) or table
# (\input{../results/paper/key.tex}) of the same float
SOURCE_COMMAND = re.compile(r"\\LDSource\{([^{}]+)\}")
_FLOAT = re.compile(r"\\begin\{(figure|table|sidewaystable)\*?\}(.*?)\\end\{\1\*?\}", re.S)
_GRAPHICS = re.compile(r"\\includegraphics\*?\s*(?:\[[^\]]*\])?\s*\{([^{}]+)\}")
_TABLE_INPUT = re.compile(r"\\input\{\.\./results/paper/([^{}]+?)(?:\.tex)?\}")


@dataclass(frozen=True)
class Source:
    """One artefact of the paper and what made it (paths relative to the repository)."""

    key: str  # "train/fa_accuracy" (figure) or "tables/train_claims" (table)
    kind: str  # "figure" or "table"
    rule: str
    rule_file: str  # the rule's Snakemake file
    rule_line: int  # line of its ``rule`` statement (0: unknown)
    script: str  # the script it runs ("" for a shell rule)
    datasets: tuple[str, ...] = field(default=())

    @classmethod
    def from_workflow(cls, entry: dict) -> Source:
        """A source from the workflow's listing (``get_paper_artefacts``: ``rule_name`` for
        ``rule``, a keyword the Snakemake parser reserves)."""
        entry = dict(entry)
        return cls(rule=entry.pop("rule_name"), **{**entry, "datasets": tuple(entry["datasets"])})

    @property
    def file(self) -> str:
        return f"results/figures/{self.key}.pdf" if self.kind == "figure" else f"results/paper/{self.key}.tex"


def table_key(path: str) -> str:
    """The key of the table written to ``path``: its path under ``results/paper/`` without
    ``.tex`` (``tables/train_claims``), as the paper's ``\\input`` names it."""
    return str(path).removeprefix("results/paper/").removesuffix(".tex")


def digest(path: str | os.PathLike) -> str:
    """The SHA-256 of ``path``: the one recorded in its sidecar, else computed from the file."""
    return recorded_digest(path) or file_digest(path)


def tex_escape(text: str) -> str:
    """Plain text (paths, rule names) for LaTeX: ``_`` and the other specials escaped."""
    return re.sub(r"([_&%#$])", r"\\\1", text)


def _breakable(text: str) -> str:
    """``tex_escape(text)`` that may break after ``_`` and ``/`` (a long name in a narrow column)."""
    return tex_escape(text).replace(r"\_", r"\_\allowbreak{}").replace("/", r"/\allowbreak{}")


def url_escape(url: str) -> str:
    """A URL as ``\\href``'s argument inside a macro: ``_`` percent-encoded, ``%`` and ``#``
    escaped (hyperref reads ``\\%`` and ``\\#`` in an argument of another command)."""
    return url.replace("%", r"\%").replace("_", r"\%5F").replace("#", r"\#")


def target(path: str, repository: str | None, commit: str, line: int = 0) -> str:
    """Where ``path`` (of the repository) is read: its URL at ``commit`` under ``repository``
    (``.../blob/<commit>/<path>#L<line>``), or its path in the arXiv tarball (``anc/<path>``)."""
    if not repository:
        return f"{ANCILLARY}/{path}"
    return f"{repository.rstrip('/')}/blob/{commit}/{path}" + (f"#L{line}" if line else "")


def _link(text: str, path: str, repository: str | None, commit: str, line: int = 0) -> str:
    shown = rf"\texttt{{{tex_escape(text)}}}"
    if not repository:
        return rf"\texttt{{{tex_escape(target(path, None, commit))}}}" if text == path else shown
    return rf"\href{{{url_escape(target(path, repository, commit, line))}}}{{{shown}}}"


# A caption names at most this many datasets with their hashes; the rest are counted (every one,
# with its hash, is in the appendix table).
MAX_CAPTION_DATASETS = 6


def caption_line(source: Source, hashes: dict[str, str], repository: str | None, commit: str) -> str:
    """The LaTeX line that ends ``source``'s caption: rule, script and each dataset's short hash."""
    rule = _link(source.rule, source.rule_file, repository, commit, source.rule_line)
    parts = [f"rule {rule}"]
    if source.script:
        parts.append(f"script {_link(source.script, source.script, repository, commit)}")
    data = [
        rf"\texttt{{{tex_escape(Path(p).name)}}}~\texttt{{{hashes[p][:SHORT_SHA]}}}" for p in source.datasets
    ]
    if len(data) > MAX_CAPTION_DATASETS:  # many per-cell files: the appendix table lists them all
        more = len(data) - MAX_CAPTION_DATASETS + 1
        data = data[: MAX_CAPTION_DATASETS - 1] + [f"{more} more (the appendix table of sources)"]
    if data:
        parts.append("data " + ", ".join(data))
    if not repository:
        parts[0] = f"rule {rule} ({_link(source.rule_file, source.rule_file, None, commit)})"
    return r"{\footnotesize\sffamily [Made by " + "; ".join(parts) + ".]}"


def macros(sources: list[Source], hashes: dict[str, str], repository: str | None, commit: str) -> str:
    """``results/paper/sources.tex``: ``\\LDSource{key}`` for every artefact (an unknown key
    prints a bold ``??`` and a LaTeX warning)."""
    lines = [
        "% generated by learndyn.links: the caption line of every figure and table",
        r"\makeatletter",
        r"\providecommand{\LDHash}{SHA-256}",
        r"\DeclareRobustCommand{\LDSource}[1]{\@ifundefined{LDsrc@#1}"
        r"{\textbf{??}\@latex@warning{No source of #1}}{\@nameuse{LDsrc@#1}}}",
    ]
    for s in sources:
        lines.append(rf"\@namedef{{LDsrc@{s.key}}}{{{caption_line(s, hashes, repository, commit)}}}")
    lines.append(r"\makeatother")
    return "\n".join(lines) + "\n"


def appendix_table(sources: list[Source], hashes: dict[str, str]) -> str:
    """The appendix table: a ``longtable`` (it breaks across pages) of artefact, rule, script
    and the datasets read with their SHA-256 (first ``SHORT_SHA`` hex digits; the full hashes
    are in ``sources.json``), with its caption and label ``tab:sources``."""
    rows = [
        r"{\footnotesize",
        r"\begin{longtable}{@{}p{0.19\linewidth}p{0.13\linewidth}p{0.15\linewidth}p{0.43\linewidth}@{}}",
        r"\caption{Every figure and table of the paper: the rule and script that made it and the datasets it"
        r" read, with the first hexadecimal digits of their \LDHash{}.}\label{tab:sources}\\",
        r"\toprule",
        r"artefact & rule & script & datasets read (\LDHash{}) \tabularnewline",
        r"\midrule",
        r"\endfirsthead",  # caption and label once; the later pages repeat the header only
        r"\toprule",
        r"artefact & rule & script & datasets read (\LDHash{}) \tabularnewline",
        r"\midrule",
        r"\endhead",
    ]
    for s in sources:
        data = ", ".join(
            rf"\texttt{{{_breakable(Path(p).stem)}}}~\texttt{{{hashes[p][:SHORT_SHA]}}}" for p in s.datasets
        )
        script = _breakable(Path(s.script).name) if s.script else "--"
        cells = [
            rf"\texttt{{{_breakable(s.key)}}}",
            rf"\texttt{{{_breakable(s.rule)}}}",
            rf"\texttt{{{script}}}",
        ]
        rows.append(" & ".join(rf"\raggedright {c}" for c in [*cells, data or "--"]) + r" \tabularnewline")
    rows += [r"\bottomrule", r"\end{longtable}}"]
    return "\n".join(rows) + "\n"


def hashes_of(sources: list[Source], root: str | os.PathLike = ".") -> dict[str, str]:
    """{dataset path: SHA-256} of every dataset the sources read (recorded, else computed)."""
    return {p: digest(Path(root, p)) for s in sources for p in s.datasets}


def write_sources(
    sources: list[Source],
    repository: str | None,
    commit: str,
    out_macros: str | os.PathLike,
    out_table: str | os.PathLike,
    out_json: str | os.PathLike,
    root: str | os.PathLike = ".",
) -> None:
    """Write the caption macros, the appendix table and the JSON list (see the module docstring)."""
    from .io import write_text

    hashes = hashes_of(sources, root)
    write_text(macros(sources, hashes, repository, commit), out_macros)
    write_text(appendix_table(sources, hashes), out_table)
    record = {
        "repository": repository or "",
        "commit": commit,
        "sources": [asdict(s) for s in sources],
        "sha256": hashes,
    }
    write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", out_json)


def read_sources(path: str | os.PathLike) -> tuple[list[Source], dict[str, str]]:
    """The sources and recorded hashes of a ``sources.json``."""
    record = json.loads(Path(path).read_text())
    sources = [Source(**{**s, "datasets": tuple(s["datasets"])}) for s in record["sources"]]
    return sources, record["sha256"]


def ancillary_files(sources: list[Source], root: str | os.PathLike = ".") -> dict[str, bytes]:
    """{``anc/<path>``: content} of every rule file and script the sources name (the arXiv
    tarball's ancillary files, where the captions point when ``paper.repository`` is unset)."""
    paths = sorted({p for s in sources for p in (s.rule_file, s.script) if p})
    return {f"{ANCILLARY}/{p}": Path(root, p).read_bytes() for p in paths}


def floats(tex: str) -> list[tuple[str, list[str], list[str]]]:
    """(kind, artefact keys, \\LDSource keys) of every figure and table float of a LaTeX text:
    a figure's keys are its ``\\includegraphics`` names without extension, a table's the
    ``results/paper/`` paths it inputs (``tables/train_claims``)."""
    code = "\n".join(re.split(r"(?<!\\)%", line)[0] for line in tex.splitlines())
    out = []
    for m in _FLOAT.finditer(code):
        body = m.group(2)
        kind = "figure" if m.group(1) == "figure" else "table"
        keys = [re.sub(r"\.(pdf|png)$", "", g) for g in _GRAPHICS.findall(body)]
        keys += [t for t in _TABLE_INPUT.findall(body) if not t.startswith(("macros", "sources"))]
        out.append((kind, keys, SOURCE_COMMAND.findall(body)))
    return out


def check_sources(tex_files, sources_json: str | os.PathLike, root: str | os.PathLike = ".") -> list[str]:
    """What is wrong with the links, one line each ([] if nothing): a float whose caption has
    no ``\\LDSource`` of its artefact, a link to an unknown artefact, an artefact without its
    rule file or script, a recorded hash that differs from the file on disk."""
    sources, hashes = read_sources(sources_json)
    known = {s.key: s for s in sources}
    problems = []
    for path in tex_files:
        for kind, keys, links in floats(Path(path).read_text()):
            for key in keys:
                if key not in links:
                    problems.append(f"{path}: the {kind} {key} has no \\LDSource{{{key}}} in its caption")
            problems += [
                f"{path}: \\LDSource{{{k}}} names no known figure or table" for k in links if k not in known
            ]
    for s in sources:
        problems += [
            f"{s.key}: {p} does not exist"
            for p in (s.rule_file, s.script)
            if p and not Path(root, p).is_file()
        ]
        for p in s.datasets:
            on_disk = file_digest(Path(root, p)) if Path(root, p).is_file() else "missing"
            if on_disk != hashes.get(p):
                problems.append(
                    f"{s.key}: {p} has SHA-256 {on_disk[:SHORT_SHA]}, the paper says {hashes.get(p)}"
                )
    return problems
