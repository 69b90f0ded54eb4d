"""Seaborn styling, the palette registry and figure saving shared by every figure script.

Axis labels come from the variables' ``long_name`` and ``units`` (``label``), so a figure
never re-types what the dataset already says.

Colours and markers come from one registry, ``STYLES``: every model of the training half and
every closure / curve family / depth of the theory half has one fixed colour and marker, so the
structured model looks the same in every figure whatever else a panel shows. ``palette`` and
``hue_order`` feed seaborn (``palette=``, ``hue_order=``); names not in the registry (models a
user adds to the config) get a deterministic fallback from a spare palette.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .io import atomic_path  # noqa: E402
from .provenance import config_hash, git_state, package_versions  # noqa: E402

# Deterministic PDF/PNG output: no creation dates in the files.
PDF_METADATA = {"CreationDate": None, "Creator": None, "Producer": None}
PNG_METADATA = {"Software": None}


class Style(NamedTuple):
    color: str  # hex colour
    marker: str  # matplotlib marker


# The registry, in legend order. Colours are fixed hex constants (no seaborn state at import):
# seaborn's colour-blind palette (Okabe-Ito based) for the models, Paul Tol's colour-blind safe
# schemes where more are needed. The structured model is vermillion, its baselines (mlp,
# resmlp, snmlp) blue, green and reddish purple, so the claims comparison never relies on
# neighbouring hues; the structured variants take the remaining colours.
STYLES: dict[str, Style] = {
    # training half: the models of config/config.yaml and config/quick.yaml
    "mlp": Style("#0173B2", "s"),
    "mlp_orth": Style("#4477AA", "d"),  # MLP variants: blues
    "mlp_matched": Style("#88CCEE", "8"),
    "resmlp": Style("#029E73", "^"),
    "rezero": Style("#117733", "H"),  # residual family: greens
    "snmlp": Style("#CC78BC", "v"),
    "structured": Style("#D55E00", "o"),
    "struct_orth": Style("#DE8F05", "D"),
    "struct_mask": Style("#CA9161", "P"),
    "struct_alpha0": Style("#949494", "X"),
    "struct_noshape": Style("#332288", "*"),
    "struct_inputgate": Style("#44AA99", "p"),
    "struct_fixedalpha": Style("#882255", "h"),
    "struct_post": Style("#999933", "<"),
    "struct_noreg": Style("#56B4E9", ">"),
    # theory half: flows and closures
    "weight": Style("#000000", "."),  # weight-space (true) gradient flow
    "closed": Style("#4D4D4D", "o"),  # closed L=1 field system
    "hybrid": Style("#AA3377", "s"),  # hybrid closure (L >= 2)
    "frozen_gamma": Style("#EE7733", "D"),  # frozen-Gamma closure (truncation level 1)
    "ntk": Style("#009988", "^"),  # NTK (frozen-kernel) closure (truncation level 0)
    "level2": Style("#CC6677", "v"),  # truncation level 2 (operators moving, conjugate frozen)
    "gelu": Style("#DDCC77", "P"),  # smooth-activation (GELU) control of level 0
    "tolerance": Style("#CC3311", "_"),  # tolerance line
    # theory half: network depth (see ``depth``), a dark-to-light viridis-like sequence
    "L=1": Style("#440154", "o"),
    "L=2": Style("#3B528B", "s"),
    "L=3": Style("#21918C", "^"),
    "L=4": Style("#5EC962", "D"),
    # bridge: the paths of a layer in the kernel decomposition (learndyn.bridge.kernel.PATHS)
    "embedding": Style("#BBBBBB", "."),
    "linear": Style("#0077BB", "s"),  # the constrained path S(W) (the whole layer of the MLPs)
    "correction": Style("#EE3377", "o"),
    "gate": Style("#33BBEE", "^"),
    "readout": Style("#555555", "x"),
}

# Fallback for names not in the registry: colours no registry entry uses, and markers.
SPARE_COLORS = ("#77AADD", "#EE8866", "#BBCC33", "#AAAA00", "#FFAABB", "#99DDFF", "#44BB99", "#DDAA33")
SPARE_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "p", "h", "<", ">")


def depth(L) -> str:
    """Registry name of network depth ``L`` (``"L=3"``)."""
    return f"L={int(L)}"


def style(name) -> Style:
    """Colour and marker of ``name``: the registry entry, else a fallback fixed by a stable hash
    of the name (the same in every process and figure; never an error)."""
    key = str(name)
    if key in STYLES:
        return STYLES[key]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return Style(SPARE_COLORS[digest[0] % len(SPARE_COLORS)], SPARE_MARKERS[digest[1] % len(SPARE_MARKERS)])


def hue_order(names: Iterable) -> list:
    """``names`` without repeats in a fixed legend order: registry order first, then the unknown
    names sorted."""
    unique = list(dict.fromkeys(names))
    rank = {key: i for i, key in enumerate(STYLES)}
    known = sorted((n for n in unique if str(n) in rank), key=lambda n: rank[str(n)])
    return known + sorted((n for n in unique if str(n) not in rank), key=str)


def palette(names: Iterable) -> dict:
    """``{name: colour}`` for seaborn's ``palette=``; each colour depends on its name only."""
    return {n: style(n).color for n in hue_order(names)}


def markers(names: Iterable) -> dict:
    """``{name: marker}`` for seaborn's ``markers=`` (with ``style=`` the same variable)."""
    return {n: style(n).marker for n in hue_order(names)}


def set_style() -> None:
    """Paper style: small fonts that match a one-column figure in the LaTeX paper."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=0.9)
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 200,
            "figure.constrained_layout.use": True,
            "pdf.fonttype": 42,
            "svg.hashsalt": "learndyn",
        }
    )


def label(var) -> str:
    """Axis label ``long_name [units]`` from a DataArray (``units == "1"`` is omitted)."""
    name = var.attrs.get("long_name", var.name)
    units = var.attrs.get("units", "1")
    return name if units in ("1", "") else f"{name} [{units}]"


def provenance_note(config: dict | None = None) -> str:
    """``git_commit=... git_dirty=... config_sha256=... torch=...`` for figure metadata."""
    commit, dirty = git_state()
    versions = package_versions()
    parts = [f"git_commit={commit}", f"git_dirty={int(dirty)}"]
    if config is not None:
        parts.append(f"config_sha256={config_hash(config)}")
    parts += [f"{name}={versions[name]}" for name in ("learndyn", "torch", "numpy", "matplotlib")]
    return " ".join(parts)


def save_figure(
    fig, pdf: str | os.PathLike, png: str | os.PathLike | None = None, config: dict | None = None
) -> None:
    """Save ``fig`` as PDF (for the paper) and optionally PNG (for the report), atomically.

    Provenance (commit, config hash, versions) goes into the PDF ``Keywords`` and the PNG
    ``Comment`` metadata; no time stamps, so reruns give identical files.
    """
    note = provenance_note(config)
    for path, fmt, meta in (
        (pdf, "pdf", {**PDF_METADATA, "Keywords": note}),
        (png, "png", {**PNG_METADATA, "Comment": note}),
    ):
        if path is None:
            continue
        final, tmp = atomic_path(path, f".{fmt}")
        fig.savefig(tmp, format=fmt, metadata=meta, bbox_inches="tight")
        os.replace(tmp, final)
    plt.close(fig)
