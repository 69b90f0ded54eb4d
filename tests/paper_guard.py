"""The paper guard's scanner: which hand-written LaTeX files the paper reads, and what in them is a
typed number or a typed conclusion (shared by tests/test_paper_numbers.py and its own tests).

Hand-written text keeps to methods and definitions; every number and every conclusion sentence
is a macro generated from the results or the config (``learndyn.latex``, the ``*report.py``
modules). What is left of a file after removing comments, structural commands (references,
citations, labels, inputs, graphics, packages, environments, LaTeX lengths and options) and the
arguments of macros is scanned:

* numbers: in running text every digit run; in mathematics every decimal, every number in
  scientific notation and every integer of two or more digits (single digits are mathematics:
  indices, exponents, depths where the equations change);
* conclusion phrases (``CONCLUSIONS``), in running text.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "paper"
MAINS = ("main.tex", "supplement.tex")

_INPUT = re.compile(r"\\(?:input|include)\s*\{([^{}]*)\}")
# commands whose arguments are names, keys or layout, never text: dropped with their arguments
_STRUCTURAL = re.compile(
    r"\\(?:label|ref|eqref|autoref|cref|Cref|pageref|nameref|cite[a-zA-Z]*|input|include|"
    r"includegraphics|usepackage|RequirePackage|documentclass|bibliography|bibliographystyle|"
    r"graphicspath|externaldocument|begin|end|setlength|addtolength|hypersetup|url|href|"
    r"resizebox|vspace|hspace|rule|setcounter|addcontentsline|newcommand|renewcommand)\*?"
    r"(?:\s*\[[^\]]*\])*(?:\s*\{(?:[^{}]|\{[^{}]*\})*\})*"
)
# LaTeX lengths: 2.5cm, 3pt, 1em, 0.8\linewidth
_LENGTH = re.compile(r"-?\d*\.?\d+\s*(?:pt|em|ex|cm|mm|in|bp|sp|\\(?:line|text|column)width)\b")
_MATH = re.compile(
    r"\$\$.*?\$\$|\$.*?(?<!\\)\$|\\\[.*?\\\]|\\\(.*?\\\)"
    r"|\\begin\{(equation|align|gather|multline)\*?\}.*?\\end\{\1\*?\}",
    re.S,
)
_SCIENTIFIC = re.compile(r"\b\d+(?:\.\d+)?[eE][-+]?\d+\b")
_TEXT_NUMBER = re.compile(r"(?<![\w\\])\d+(?:\{,\}\d+)*(?:\.\d+)?")
_MATH_NUMBER = re.compile(
    r"(?:\d+(?:\.\d+)?\s*\\times\s*)?10\^\{?-?\d+\}?"  # 10^{-3}, 3\times10^{-5}
    r"|\b\d+(?:\.\d+)?[eE][-+]?\d+\b"  # 1e-4
    r"|(?<![\w.])\d+\.\d+"  # 0.15
    r"|(?<![\w.{])\d{2,}(?![\w.^])"  # 128 (not \log_{10}, not 10^{\Macro})
)
# names with a number in them: SHA-256, level-0, level 1, levels 1 and 2, level 1 to 0, part 2
_NAMED = re.compile(r"\b[A-Za-z]+-\d+\b|\b(?:[Ll]evels?|[Pp]art)\s+\d+(?:\s*(?:,|and|to)\s*\d+)*(?:'s)?")
_PERCENT = re.compile(r"\d\s*\\?%")

# Conclusion phrases: a verdict belongs to a macro generated from the data, never to typed text.
CONCLUSIONS = (
    "supported",
    "supports",
    "support the",
    "shows",
    "show that",
    "shown to",
    "does not",
    "do not",
    "did not",
    "lazier",
    "faster",
    "slower",
    "steeper",
    "shallower",
    "indistinguishable",
    "correlated",
    "correlates",
    "flatten",
    "flattens",
    "flattened",
    "outperform",
    "outperforms",
    "beats",
    "improves",
    "improved",
    "confirms",
    "confirm",
    "implies",
    "explains",
    "explain",
    "far more",
    "much more",
    "nothing more",
    "changes little",
    "hold numerically",
)
_CONCLUSION = re.compile(r"(?<![\w\\])(?:" + "|".join(re.escape(w) for w in CONCLUSIONS) + r")(?!\w)", re.I)


def strip_comments(text: str) -> str:
    return "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in text.splitlines())


def paper_files(root: Path = PAPER, mains=MAINS) -> list[Path]:
    """Every hand-written .tex the documents read: each main file and, recursively, the files it
    ``\\input``s from the paper's folder (generated files under ``results/`` are not scanned)."""
    found: list[Path] = []

    def follow(path: Path) -> None:
        if path in found or not path.is_file():
            return
        found.append(path)
        for arg in _INPUT.findall(strip_comments(path.read_text())):
            target = (root / arg).resolve()
            target = target if target.suffix == ".tex" else target.with_name(target.name + ".tex")
            if root.resolve() in target.parents:
                follow(target)

    for main in mains:
        follow((root / main).resolve())
    return found


def scrub(text: str) -> str:
    """The text a reader reads as typed: comments, structural commands with their arguments, and
    lengths removed; macro names (which may contain no digit) left in place."""
    text = strip_comments(text)
    previous = None
    while previous != text:  # nested structural commands
        previous = text
        text = _STRUCTURAL.sub(" ", text)
    return _LENGTH.sub(" ", text)


def split_math(text: str) -> tuple[str, str]:
    """(running text, mathematics) of a raw LaTeX text, each scrubbed; in running text, names
    that carry a digit (SHA-256, level 0, levels 1 and 2, part 1) are dropped too."""
    text = strip_comments(text)
    maths = [m.group(0) for m in _MATH.finditer(text)]
    prose = _NAMED.sub(" ", scrub(_MATH.sub(" ", text)))
    return prose, scrub("\n".join(maths))


def typed_numbers(text: str) -> list[str]:
    """Every typed number of a (raw) LaTeX text, in running text and in mathematics."""
    prose, maths = split_math(text)
    found = [m.group(0) for m in _SCIENTIFIC.finditer(prose)]
    found += [m.group(0) for m in _TEXT_NUMBER.finditer(_SCIENTIFIC.sub(" ", prose))]
    found += [m.group(0) for m in _MATH_NUMBER.finditer(maths)]
    found += [m.group(0) for m in _PERCENT.finditer(maths)]
    return found


def conclusion_phrases(text: str) -> list[str]:
    """Every conclusion phrase typed in the running text of a (raw) LaTeX text, lower-cased."""
    prose, _ = split_math(text)
    prose = re.sub(r"\s+", " ", prose)
    return [m.group(0).lower() for m in _CONCLUSION.finditer(prose)]
