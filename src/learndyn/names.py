"""Display names: the one registry of how a model, task or closure is named in a figure, a table
or the text (``struct_alpha0`` -> ``structured, $\\alpha=0$``). Pipeline ids (config keys,
file names) stay in the data; readers see these names.

``display(name)`` is the name a reader sees: the registry entry, else the id with its
underscores as spaces (a model or task another config adds gets a readable fallback, never an
id). ``pipeline_ids(text, ids)`` finds ids left in a text (the figure and table checks).
Standard library only (tables, figures and the checks all import it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Models of the training half (config train.models) and the bridge.
MODELS = {
    "mlp": "MLP",
    "mlp_orth": "MLP, orthogonal init",
    "mlp_matched": "MLP, matched parameters",
    "resmlp": "ResMLP",
    "rezero": "ReZero",
    "snmlp": "SN-MLP",
    "linear": "linear",
    "structured": "structured",
    "struct_orth": "structured, orthogonal $S$",
    "struct_mask": "structured, mask $S$",
    "struct_alpha0": r"structured, $\alpha=0$",
    "struct_noshape": "structured, $S$ = id",
    "struct_inputgate": "structured, input gate",
    "struct_fixedalpha": r"structured, fixed $\alpha$",
    "struct_post": "structured, post-activation",
    "struct_noreg": "structured, no regulariser",
    "struct_reg1em2": r"structured, $\lambda=10^{-2}$",
    "struct_reg1": r"structured, $\lambda=1$",
    "mlp_common": "MLP, common rate",
    "snmlp_common": "SN-MLP, common rate",
}
# The bridge's continuum of the structured layer (train.studies.population): pop_<knob><value>,
# the value with ``p`` for the decimal point.
_FAMILY = re.compile(r"^pop_(?P<knob>alpha|rho)(?P<value>[0-9]+(?:p[0-9]+)?)$")
# Tasks of the data stage (config data.tasks).
TASKS = {
    "teacher": "teacher",
    "linear_correction": "linear + correction",
    "deep_teacher": "deep teacher",
    "spirals": "spirals",
    "digits": "digits",
    "digits01": "digits 0/1",
    "fashion_mnist": "Fashion-MNIST",
    "fashion_mnist_2k": "Fashion-MNIST (2k)",
}
# Closures, flows and kernel paths of the theory half and the bridge.
OTHER = {
    "frozen_gamma": r"frozen $\Gamma$",
    "ntk": "NTK",
    "gelu": "GELU",
    "level2": "level 2",
}
NAMES: dict[str, str] = {**MODELS, **TASKS, **OTHER}
# A token that looks like an id: lower-case words joined by underscores (outside math).
_ID = re.compile(r"(?<![\w\\$])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w$])")


def display(name) -> str:
    """The name a reader sees for pipeline id ``name``: the registry's, else the id with
    underscores as spaces."""
    key = str(name)
    if key in NAMES:
        return NAMES[key]
    gate = re.fullmatch(r"alpha=([0-9.]+)", key)  # a fixed-point comparison's gate (claims ledger)
    if gate:
        return rf"$\alpha={gate[1]}$"
    family = _FAMILY.match(key)
    if family:  # the bridge's continuum of the structured layer: pop_alpha0p02, pop_rho1p25
        value = family["value"].replace("p", ".")
        return (
            rf"structured, fixed $\alpha={value}$"
            if family["knob"] == "alpha"
            else rf"structured, $\rho={value}$"
        )
    return key.replace("_", " ")


def display_text(text: str) -> str:
    """``text`` with every registered id (a whole word, outside ``$...$``) and every other
    underscored id replaced by its display name; an escaped id (``struct\\_alpha0``, as in a
    LaTeX table cell) too."""
    parts = re.split(r"(\$[^$]*\$)", str(text))
    for i, part in enumerate(parts):
        if part.startswith("$"):
            continue
        part = re.sub(
            r"(?<![\w\\$])[a-z][a-z0-9]*(?:\\_[a-z0-9]+)+(?![\w$])", lambda m: m[0].replace("\\_", "_"), part
        )
        parts[i] = re.sub(r"(?<![\w\\$])[a-z][a-z0-9]*(?:_[a-z0-9]+)*(?![\w$])", lambda m: _swap(m[0]), part)
    return "".join(parts)


def _swap(word: str) -> str:
    if word in NAMES or "_" in word:
        return display(word)
    return word


def pipeline_ids(text: str, ids: Iterable[str] = ()) -> list[str]:
    """Ids a reader should not see in ``text``: underscored ids outside math (``struct_alpha0``,
    ``fashion_mnist_2k``; ``\\_`` counts as ``_``) and the ``ids`` (registry or config keys)
    whose display name differs from the id (``mlp``, ``snmlp``), as whole words. Code and file
    names (``\\texttt{...}``: the provenance appendix) are not prose and are skipped."""
    prose = re.sub(r"\$[^$]*\$", " ", str(text))
    prose = re.sub(r"\\texttt\{(?:[^{}]|\{[^{}]*\})*\}", " ", prose)  # code and file names: not prose
    prose = prose.replace("\\_", "_")
    prose = re.sub(r"\\[A-Za-z]+", " ", prose)  # LaTeX commands are not ids
    found = _ID.findall(prose)
    words = set(re.findall(r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?![\w-])", prose))
    found += [i for i in ids if "_" not in i and i in words and display(i) != i]
    return sorted(set(found))
