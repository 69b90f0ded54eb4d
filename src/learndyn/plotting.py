"""Seaborn styling and figure saving shared by every figure script.

Axis labels come from the variables' ``long_name`` and ``units`` (``label``), so a figure
never re-types what the dataset already says.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .io import atomic_path  # noqa: E402
from .provenance import config_hash, git_state, package_versions  # noqa: E402

# Deterministic PDF/PNG output: no creation dates in the files.
PDF_METADATA = {"CreationDate": None, "Creator": None, "Producer": None}
PNG_METADATA = {"Software": None}


def set_style() -> None:
    """Paper style: small fonts that match a one-column figure in the LaTeX paper."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=0.9)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 200, "figure.constrained_layout.use": True,
                         "pdf.fonttype": 42, "svg.hashsalt": "learndyn"})


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


def save_figure(fig, pdf: str | os.PathLike, png: str | os.PathLike | None = None,
                config: dict | None = None) -> None:
    """Save ``fig`` as PDF (for the paper) and optionally PNG (for the report), atomically.

    Provenance (commit, config hash, versions) goes into the PDF ``Keywords`` and the PNG
    ``Comment`` metadata; no time stamps, so reruns give identical files.
    """
    note = provenance_note(config)
    for path, fmt, meta in ((pdf, "pdf", {**PDF_METADATA, "Keywords": note}),
                            (png, "png", {**PNG_METADATA, "Comment": note})):
        if path is None:
            continue
        final, tmp = atomic_path(path, f".{fmt}")
        fig.savefig(tmp, format=fmt, metadata=meta, bbox_inches="tight")
        os.replace(tmp, final)
    plt.close(fig)
