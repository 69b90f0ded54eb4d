"""Assembling the paper's generated inputs (macro file merge, provenance macros)."""

from __future__ import annotations

import re

from .provenance import git_state

_NEWCOMMAND = re.compile(r"\\newcommand\{\\([A-Za-z]+)\}")


def merge_macro_files(texts: list[str]) -> str:
    """Concatenate stage macro files, refusing a macro name defined twice."""
    seen: dict[str, int] = {}
    for i, text in enumerate(texts):
        for name in _NEWCOMMAND.findall(text):
            if name in seen:
                raise ValueError(f"macro \\{name} defined in stage files {seen[name]} and {i}")
            seen[name] = i
    return "".join(texts)


def provenance_macros() -> dict[str, str]:
    """\\LDCommit (short hash, with +dirty) for the PDF's provenance footnote."""
    commit, dirty = git_state()
    short = commit[:10] + (r"+dirty" if dirty else "")
    return {"Commit": r"\texttt{" + short + "}"}
