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
import re
from collections.abc import Iterable
from typing import NamedTuple

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.collections import FillBetweenPolyCollection, LineCollection, PathCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.path import Path

from .io import atomic_write, write_failure
from .names import display, display_text
from .provenance import config_hash, git_state, package_versions

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
    "linear": Style("#004488", "P"),  # the linear network (identity activation); the bridge's linear path
    "mlp_matched": Style("#88CCEE", "8"),
    "resmlp": Style("#029E73", "^"),
    "rezero": Style("#117733", "H"),  # residual family: greens
    "snmlp": Style("#CC78BC", "v"),
    "structured": Style("#D55E00", "o"),
    "struct_orth": Style("#DE8F05", "D"),
    "struct_mask": Style("#CA9161", "p"),
    "struct_alpha0": Style("#949494", "X"),
    "struct_noshape": Style("#332288", "*"),
    "struct_inputgate": Style("#44AA99", "p"),
    "struct_fixedalpha": Style("#882255", "h"),
    "struct_post": Style("#999933", "<"),
    "struct_noreg": Style("#56B4E9", ">"),
    "struct_reg1em2": Style("#6699CC", "d"),
    "struct_reg1": Style("#997700", "8"),
    "mlp_common": Style(
        "#7BAFD4", "s"
    ),  # the bridge's common-rate copies: lighter colour, their model's marker
    "snmlp_common": Style("#E7B9E0", "v"),
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
    # "linear" (the constrained path S(W), the whole layer of the MLPs) is the linear network's
    # entry above: one name, one colour
    "correction": Style("#EE3377", "o"),
    "gate": Style("#33BBEE", "^"),
    "readout": Style("#555555", "x"),
}

# The bridge's continuum of the structured layer (train.studies.population): the fixed gate alpha
# in greys to black, the cap rho in oranges, light to dark with the value (figures group them).
STYLES |= {
    f"pop_alpha{a}": Style(c, "h")
    for a, c in zip(
        ("0p02", "0p05", "0p15", "0p2", "0p3", "0p5", "0p7", "1"),
        ("#D9D9D9", "#BDBDBD", "#A6A6A6", "#8C8C8C", "#737373", "#525252", "#353535", "#111111"),
    )
} | {
    f"pop_rho{r}": Style(c, "o")
    for r, c in zip(
        ("0p5", "0p7", "0p8", "0p9", "1p1", "1p25", "1p5", "2"),
        ("#FDD0A2", "#FDAE6B", "#FD8D3C", "#F16913", "#D94801", "#A63603", "#7F2704", "#4D1702"),
    )
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


# Verdicts of a hypothesis test (forest plots, effect figures): a colour set of their own, none
# of them a model's colour (orange is the structured model's, never "not supported").
VERDICTS: dict[str, str] = {
    "supported": "#1B7837",  # dark green
    "not supported": "#762A83",  # purple
    "inconclusive": "#A0A0A0",  # grey
    "by construction": "#543005",  # dark brown
    "excluded": "#C2A5CF",  # light purple (a baseline outside every family, with its reason)
    "equivalent": "#5AAE61",  # light green (TOST)
    "not shown equivalent": "#C8C8C8",  # light grey
}


# Registry names drawn as reference lines (a threshold across the axes): colour only, no marker.
REFERENCE_LINES = ("tolerance",)


def legend_handles(names: Iterable) -> tuple[list, list]:
    """Legend handles and labels of ``names`` in registry order, each with its colour and marker
    (for a legend of its own, e.g. one figure legend outside the axes)."""
    from matplotlib.lines import Line2D

    order = hue_order(names)
    return [Line2D([], [], color=style(n).color, marker=style(n).marker, ms=4, lw=1.2) for n in order], [
        str(n) for n in order
    ]


LEGEND_GROUP = 8  # entries of one legend at most (learndyn.legibility.MAX_LEGEND_ENTRIES)


def model_legends(fig, names: Iterable, ncol: int = 4, fontsize: float = 7) -> None:
    """The models of ``names`` as figure legends under the panels, in registry order: the
    baselines in one legend and the structured models in another (each at most
    ``LEGEND_GROUP`` entries, a longer group split), side by side when there are two."""
    order = hue_order(names)
    structured = [n for n in order if str(n).startswith("struct")]
    groups = [g for g in ([n for n in order if n not in structured], structured) if g]
    if len(groups) == 1 or sum(map(len, groups)) <= LEGEND_GROUP:
        groups = [order]
    groups = [g[i : i + LEGEND_GROUP] for g in groups for i in range(0, len(g), LEGEND_GROUP)]
    if len(groups) == 1:
        fig.legend(*legend_handles(groups[0]), loc="outside lower center", ncol=ncol, fontsize=fontsize)
        return
    locs = ["outside lower left", "outside lower right", "outside lower center"]
    for group, loc in zip(groups, locs):
        cols = min(len(group), max(1, ncol - 1)) if loc != locs[1] else 1
        fig.legend(*legend_handles(group), loc=loc, ncol=cols, fontsize=fontsize)


def no_minor_labels(ax, axis: str = "y") -> None:
    """No labels at the minor ticks of a log axis (labelled minor ticks of a short log axis,
    ``3x10^-2`` next to ``4x10^-2``, collide)."""
    from matplotlib.ticker import NullFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_minor_formatter(NullFormatter())


# seaborn's "paper" sizes times this: tick labels 8.8 pt, so a figure drawn 1.37 times wider
# than it is printed (7 in at 0.8\linewidth) still prints its text at 6 pt (learndyn.legibility)
FONT_SCALE = 1.0


def set_style() -> None:
    """Paper style: small fonts that match a one-column figure in the LaTeX paper."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=FONT_SCALE)
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 200,
            "figure.constrained_layout.use": True,
            "pdf.fonttype": 42,
            "svg.hashsalt": "learndyn",
        }
    )


def label(var, wrap: int | None = None) -> str:
    """Axis label ``long_name [units]`` from a DataArray (``units == "1"`` is omitted), its
    symbols typeset (``typeset``); with ``wrap``, broken into lines of about that many characters
    (never inside ``$...$``)."""
    name = str(var.attrs.get("long_name", var.name))
    units = str(var.attrs.get("units", "1"))
    text = typeset(name if units in ("1", "") else f"{name} [{units}]")
    return text if wrap is None else wrap_label(text, wrap)


def _visible_length(text: str) -> int:
    """About how many characters ``text`` shows (a mathtext span counts a third of its source)."""
    return len(re.sub(r"\$([^$]*)\$", lambda m: "x" * max(1, len(m.group(1)) // 3), text))


def wrap_label(text: str, width: int) -> str:
    """``text`` broken at spaces into lines of at most about ``width`` characters, never inside a
    mathtext span."""
    words = []
    for word in text.split(" "):
        if words and words[-1].count("$") % 2:  # inside math: keep with the previous word
            words[-1] += " " + word
        else:
            words.append(word)
    lines, line = [], ""
    for word in words:
        longer = f"{line} {word}" if line else word
        if line and _visible_length(longer) > width:
            lines.append(line)
            longer = word
        line = longer
    lines.append(line)
    return "\n".join(lines)


# Greek letters that must be typeset (``$\eta$``), not spelled out, in an axis label.
GREEK = (
    "alpha",
    "beta",
    "gamma",
    "Gamma",
    "delta",
    "epsilon",
    "eta",
    "theta",
    "kappa",
    "lambda",
    "mu",
    "rho",
    "sigma",
    "tau",
    "phi",
)
# Spelled-out symbols of the datasets' long names and their mathtext (the data keep plain text).
SYMBOL_ALIASES = {"eps": r"\epsilon", "R2": "R^2", "log10": r"\log_{10}"}
# What ``typeset`` puts in math: a norm ``||...||`` (with its subscript), a symbol with a
# subscript (``t_h``, ``alpha_l``, ``dh_L``, ``sigma_max``), a Greek letter, an alias.
_SYMBOL = re.compile(
    r"\|\|[^|]+\|\|(?:_\w+)?"
    r"|(?<![\w\\])[A-Za-z]+_[A-Za-z0-9]+\b"
    r"|\b(?:" + "|".join(sorted({*SYMBOL_ALIASES, *GREEK}, key=len, reverse=True)) + r")\b"
)


def _math(symbol: str) -> str:
    r"""The mathtext body of one plain-text symbol: ``alpha_l`` -> ``\alpha_{l}``."""

    def word(w: str) -> str:
        if w in SYMBOL_ALIASES:
            return SYMBOL_ALIASES[w]
        return rf"\{w}" if w in GREEK else w

    body = re.sub(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)?", lambda m: _subscript(m.group(0), word), symbol)
    return body.replace("||", r"\|")


def _subscript(token: str, word) -> str:
    base, _, sub = token.partition("_")
    if sub == "hat":  # q_hat -> \hat{q}
        return rf"\hat{{{word(base)}}}"
    return f"{word(base)}_{{{word(sub)}}}" if sub else word(base)


def typeset(text: str) -> str:
    r"""``text`` with its symbols in mathtext: Greek letters spelled out (``learning rate eta`` ->
    ``learning rate $\eta$``), symbols with a subscript (``t_h`` -> ``$t_{h}$``, ``alpha_l`` ->
    ``$\alpha_{l}$``), norms (``||dF/dx||_2`` -> ``$\|dF/dx\|_{2}$``), ``R2`` and ``log10``;
    what is already between ``$`` is left alone."""
    parts = re.split(r"(\$[^$]*\$)", text)
    for i, part in enumerate(parts):
        if not part.startswith("$"):
            parts[i] = _SYMBOL.sub(lambda m: f"${_math(m.group(0))}$", part)
    return "".join(parts)


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
    ``Comment`` metadata; no time stamps, so reruns give identical files. A failed write (a
    full disk) raises ``OSError`` with one line, ``cannot write <file>: <reason>``, and leaves
    no temporary file (``io.atomic_write``).
    """
    note = provenance_note(config)
    try:
        for path, fmt, meta in (
            (pdf, "pdf", {**PDF_METADATA, "Keywords": note}),
            (png, "png", {**PNG_METADATA, "Comment": note}),
        ):
            if path is None:
                continue
            try:
                with atomic_write(path, f".{fmt}") as tmp:
                    fig.savefig(tmp, format=fmt, metadata=meta, bbox_inches="tight")
            except OSError as err:
                raise OSError(write_failure(path, err)) from err
    finally:
        plt.close(fig)


# ---- checks of a drawn figure ----------------------------------------------------------------------
# ``check_figure`` lists what breaks the figure rules of the style guide (no overlapping tick
# labels, legends that cover no data, symbols typeset, bands on log axes computed in log space,
# registry colours and markers in legends). Each check works on the drawn figure (display
# coordinates after ``fig.canvas.draw()``), so it sees what the reader sees.

PIXEL_TOL = 0.5  # bounding boxes closer than this many pixels count as touching, not overlapping
BAND_TOL = 1.0  # px: a band is symmetric about its line up to this (or 2% of its width)
_NO_MARKER = ("", " ", "None", "none", None)


def _where(fig, ax) -> str:
    title = ax.get_title() or ax.get_ylabel() or ax.get_xlabel()
    return f"axes {fig.axes.index(ax)}" + (f" ({title})" if title else "")


def _overlap(a, b, tol: float = PIXEL_TOL) -> bool:
    """Whether two display bounding boxes share more than ``tol`` pixels in both directions."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def _visible_tick_labels(ax, renderer) -> list:
    """(text, bbox) of the drawn tick labels of both axes (ticks outside the view are not drawn)."""
    frame = ax.get_window_extent(renderer)
    out = []
    for axis, horizontal in ((ax.xaxis, True), (ax.yaxis, False)):
        if not axis.get_visible():
            continue
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            for text in (tick.label1, tick.label2):
                if not (tick.get_visible() and text.get_visible() and text.get_text()):
                    continue
                box = text.get_window_extent(renderer)
                centre = (box.x0 + box.x1) / 2 if horizontal else (box.y0 + box.y1) / 2
                lo, hi = (frame.x0, frame.x1) if horizontal else (frame.y0, frame.y1)
                if lo - 1 <= centre <= hi + 1:
                    out.append((text.get_text(), box))
    return out


def overlapping_tick_labels(fig, ax, renderer) -> list[str]:
    """Pairs of drawn tick labels of ``ax`` whose bounding boxes intersect."""
    labels = _visible_tick_labels(ax, renderer)
    return [
        f"{_where(fig, ax)}: tick labels {a!r} and {b!r} overlap"
        for i, (a, box_a) in enumerate(labels)
        for b, box_b in labels[i + 1 :]
        if _overlap(box_a, box_b)
    ]


def _finite_runs(points):
    """The runs of consecutive finite rows of a (n, 2) array."""
    ok = np.isfinite(points).all(axis=1)
    runs, start = [], None
    for i, good in enumerate([*ok, False]):
        if good and start is None:
            start = i
        elif not good and start is not None:
            runs.append(points[start:i])
            start = None
    return runs


def _line_hits(line, box) -> bool:
    """Whether the drawn line (its segments or its markers) enters the display box ``box``."""
    points = line.get_transform().transform(np.asarray(line.get_xydata(), float))
    runs = _finite_runs(points)
    if line.get_linestyle() not in _NO_MARKER and line.get_linewidth() > 0:
        if any(len(r) > 1 and Path(r).intersects_bbox(box, filled=False) for r in runs):
            return True
    if line.get_marker() not in _NO_MARKER:
        return _points_hit(np.concatenate(runs) if runs else np.empty((0, 2)), box)
    return False


def _points_hit(points, box) -> bool:
    x, y = points[:, 0], points[:, 1]
    return bool(np.any((x > box.x0) & (x < box.x1) & (y > box.y0) & (y < box.y1)))


def covered_artists(ax, box) -> list[str]:
    """Labels of the lines, markers and scatter points of ``ax`` that the display box ``box``
    covers (a legend's, in display coordinates)."""
    covered = [line.get_label() for line in ax.get_lines() if line.get_visible() and _line_hits(line, box)]
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, LineCollection):
            paths = [coll.get_transform().transform(p.vertices) for p in coll.get_paths()]
            if any(
                len(r) > 1 and Path(r).intersects_bbox(box, filled=False)
                for p in paths
                for r in _finite_runs(p)
            ):
                covered.append(coll.get_label())
        elif isinstance(coll, PathCollection) and len(coll.get_offsets()):
            if _points_hit(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float)), box):
                covered.append(coll.get_label())
    return covered


def legend_over_data(fig, ax, renderer) -> list[str]:
    """Lines, markers and scatter points of ``ax`` that a legend covers: its own legend, or a
    figure legend, when the legend's box meets the axes (a legend beside the axes covers
    nothing)."""
    problems = []
    for legend in [ax.get_legend(), *fig.legends]:
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        if not _overlap(box, ax.get_window_extent(renderer)):
            continue
        covered = covered_artists(ax, box)
        if covered:
            problems.append(
                f"{_where(fig, ax)}: the legend covers plotted data ({', '.join(map(str, covered[:3]))})"
            )
    return problems


def _band_edges(coll):
    """{x: (low, high)} of a fill-between band in display coordinates."""
    edges: dict = {}
    for path in coll.get_paths():
        for x, y in coll.get_transform().transform(path.vertices):
            if np.isfinite(x) and np.isfinite(y):
                lo, hi = edges.get(round(x, 2), (y, y))
                edges[round(x, 2)] = (min(lo, y), max(hi, y))
    return edges


def _band_misfit(line, edges):
    """Pixels by which ``line`` is farther from the band's centre than the tolerance, at worst
    (<= 0: the band is symmetric about it); None when they share no x."""
    pts = line.get_transform().transform(np.asarray(line.get_xydata(), float))
    off = [
        abs(y - (lo + hi) / 2) - max(BAND_TOL, 0.02 * (hi - lo))
        for x, y in pts
        if np.isfinite(y) and round(x, 2) in edges
        for lo, hi in [edges[round(x, 2)]]
    ]
    return max(off) if off else None


def log_bands_not_in_log_space(fig, ax, renderer) -> list[str]:
    """Bands on a log y axis that are not symmetric about their line on that axis (a band of
    mean +- sd computed on linear values) or that reach zero (a linear band clipped there)."""
    if ax.get_yscale() != "log":
        return []
    problems = []
    lines = [ln for ln in ax.get_lines() if len(ln.get_xydata())]
    for coll in ax.collections:
        if not isinstance(coll, FillBetweenPolyCollection) or not coll.get_paths():
            continue
        data_y = np.concatenate([p.vertices[:, 1] for p in coll.get_paths()])
        if np.any(data_y[np.isfinite(data_y)] <= 0):
            problems.append(f"{_where(fig, ax)}: a band on the log axis reaches zero (linear band, clipped)")
            continue
        colour = to_rgb(coll.get_facecolor()[0])
        edges = _band_edges(coll)
        misfits = [_band_misfit(line, edges) for line in lines if to_rgb(line.get_color()) == colour]
        misfits = [m for m in misfits if m is not None]
        if misfits and min(misfits) > 0:  # its line (same colour; the best fit) is off centre
            problems.append(
                f"{_where(fig, ax)}: a band on the log axis is not computed in log space "
                f"(not symmetric about its line, {min(misfits):.1f} px off)"
            )
    return problems


def _texts(ax):
    """The axis labels and the title of ``ax`` that are drawn."""
    return [t for t in (ax.xaxis.label, ax.yaxis.label, ax.title) if t.get_visible() and t.get_text()]


def colliding_labels(fig, ax, renderer) -> list[str]:
    """Axis labels and titles of ``ax`` that leave the figure or run into another axes (its frame,
    tick labels, axis labels or title): a label too long for its panel."""
    page = fig.bbox
    others = [
        box
        for other in fig.axes
        if other is not ax and other.get_visible()
        for box in [
            other.get_window_extent(renderer),
            *(b for _, b in _visible_tick_labels(other, renderer)),
            *(t.get_window_extent(renderer) for t in _texts(other)),
        ]
    ]
    problems = []
    for text in _texts(ax):
        box = text.get_window_extent(renderer)
        outside = box.x0 < page.x0 - 1 or box.y0 < page.y0 - 1 or box.x1 > page.x1 + 1 or box.y1 > page.y1 + 1
        if outside or any(_overlap(box, other) for other in others):
            where = "leaves the figure" if outside else "runs into another panel"
            problems.append(f"{_where(fig, ax)}: label {text.get_text()!r} {where} (wrap or shorten it)")
    return problems


def untypeset_labels(fig, ax, renderer=None) -> list[str]:
    """Axis labels that spell a symbol out (``eta``) or show a variable name (``grad_h``) outside
    mathtext."""
    problems = []
    for which, text in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
        prose = re.sub(r"\$[^$]*\$", " ", text)
        words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", prose)
        bad = [w for w in words if w in GREEK or "_" in w]
        if bad:
            problems.append(f"{_where(fig, ax)}: {which} label {text!r} spells out {bad} (use mathtext)")
    return problems


def _registry_name(text: str):
    """The registry name a legend entry stands for: the name itself or its display name
    (``learndyn.names``), or ``L=k`` for a depth entry (``$L=k$``, ``$L=k$: ...``,
    ``$L=k$, ...``); None for anything else."""
    if text in STYLES:
        return text
    shown = {display(n): n for n in STYLES}
    if text in shown:
        return shown[text]
    match = re.match(r"^\$L=(\d+)\$(?:$|[:,])", text)
    return depth(match.group(1)) if match else None


def _handle_style(handle):
    """(colour, marker) a legend handle shows; marker None when it shows none."""
    if hasattr(handle, "get_marker"):
        colour, marker = handle.get_color(), handle.get_marker()
        if marker not in _NO_MARKER:
            colour = handle.get_markerfacecolor() if handle.get_linestyle() in _NO_MARKER else colour
        return to_hex(colour), None if marker in _NO_MARKER else marker
    if hasattr(handle, "get_facecolor"):
        face = np.asarray(handle.get_facecolor(), float)
        return (to_hex(face.reshape(-1, 4)[0]), None) if face.size else (None, None)
    return None, None


def off_registry_legend_entries(fig, names: Iterable = ()) -> list[str]:
    """Legend entries naming a model, closure or depth (a registry name, or one of ``names``:
    models a config adds) whose colour or marker is not the registry's, or that show no marker
    where the registry gives one."""
    known = {**{str(n): str(n) for n in names}, **{display(n): str(n) for n in names}}
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    problems = []
    for leg in legends:
        if leg is None:
            continue
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            label = text.get_text()
            name = known.get(label) or _registry_name(label)
            if name is None or handle is None:
                continue
            colour, marker = _handle_style(handle)
            want = style(name)
            if colour is not None and colour != to_hex(want.color):
                problems.append(f"legend entry {label!r}: colour {colour}, registry {want.color}")
            if hasattr(handle, "get_marker") and marker != want.marker and name not in REFERENCE_LINES:
                problems.append(f"legend entry {label!r}: marker {marker!r}, registry {want.marker!r}")
    return problems


AXES_CHECKS = (
    overlapping_tick_labels,
    legend_over_data,
    log_bands_not_in_log_space,
    untypeset_labels,
    colliding_labels,
)


class DisplayFormatter(matplotlib.ticker.Formatter):
    """A tick formatter showing its inner formatter's labels with display names (every other
    call, offsets and locations, goes to the inner formatter)."""

    def __init__(self, inner):
        self.inner = inner

    def set_axis(self, axis):
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def __call__(self, x, pos=None):
        return display_text(self.inner(x, pos))

    def format_ticks(self, values):
        return [display_text(t) for t in self.inner.format_ticks(values)]

    def set_locs(self, locs):
        self.inner.set_locs(locs)

    def get_offset(self):
        return self.inner.get_offset()


def relabel(fig) -> None:
    """Every pipeline id a drawn figure shows (legend entries, titles, axis and tick labels,
    annotations) replaced by its display name (``learndyn.names``): the drawing functions may
    label with ids, the reader sees names. Tick labels are renamed through their formatter
    (matplotlib redraws them from it)."""
    from matplotlib.text import Text

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for get, put in (
                (axis.get_major_formatter, axis.set_major_formatter),
                (axis.get_minor_formatter, axis.set_minor_formatter),
            ):
                if not isinstance(get(), DisplayFormatter):
                    put(DisplayFormatter(get()))
    for text in fig.findobj(Text):
        shown = display_text(text.get_text())
        if shown != text.get_text():
            text.set_text(shown)


LOG_MARGIN = 2.0  # a log axis fitted to its data reaches this factor beyond them


def fit_log_limits(ax) -> None:
    """A log axis whose automatic limits reach far beyond its data (matplotlib's 5 % margin of a
    range of many decades is itself decades) is set to the data's range times ``LOG_MARGIN``
    on either side (all axes sharing it see the union of their data)."""
    from .legibility import LOG_SLACK, log_axis_spans

    for which, (lo, hi), (dlo, dhi) in list(log_axis_spans(ax)):
        if lo * LOG_SLACK < dlo or hi > dhi * LOG_SLACK:
            (ax.set_xlim if which == "x" else ax.set_ylim)((dlo / LOG_MARGIN, dhi * LOG_MARGIN))


def tidy(fig) -> None:
    """Repairs the checks of ``check_figure`` flag on figures whose data only the full study has:
    minor-tick labels of a short log axis that collide are dropped, and an in-axes legend that
    covers plotted data is moved to the right of its axes, a log axis far wider than its data is
    fitted to them (``fit_log_limits``). Drawing only: no number changes."""
    for ax in fig.axes:  # limits first: they decide which tick labels are drawn
        fit_log_limits(ax)
    for _ in range(2):  # a second pass: the layout moves once labels are dropped
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            if overlapping_tick_labels(fig, ax, renderer):
                for axis in ("x", "y"):
                    if (ax.get_xscale() if axis == "x" else ax.get_yscale()) == "log":
                        no_minor_labels(ax, axis)
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and legend_over_data(fig, ax, renderer):
            legend.set_loc("upper left")
            legend.set_bbox_to_anchor((1.02, 1.0), transform=ax.transAxes)


def check_figure(fig, names: Iterable = ()) -> list[str]:
    """Everything in the drawn ``fig`` that breaks the figure rules, one line each ([] if none):
    overlapping tick labels, legends inside an axes that cover data, bands on log axes not
    computed in log space, symbols spelled out in axis labels, axis labels or titles running
    into another panel, legend entries of a model,
    closure or depth (registry names and ``names``) off the registry's colour or marker."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = [
        p for ax in fig.axes if ax.get_visible() for check in AXES_CHECKS for p in check(fig, ax, renderer)
    ]
    return problems + off_registry_legend_entries(fig, names)
