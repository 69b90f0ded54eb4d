"""Print-size legibility of the paper's figures and tables (style guide; issue: every figure and
table readable in print).

A figure is drawn at its registry size and included at the width its ``\\includegraphics``
gives, so every text of it is printed at ``font size x included width / saved width`` (the
saved PDF is the figure's tight bounding box plus matplotlib's pad). The checks of a drawn
figure (display coordinates after ``fig.canvas.draw()``, what the reader sees):

* ``small_texts``: every drawn text (tick and axis labels, titles, legend entries, annotations)
  at least ``MIN_PRINTED_PT`` as printed;
* ``crowded_legends``: no legend of more than ``MAX_LEGEND_ENTRIES`` entries;
  ``legends_over_labels``: no legend over another panel's frame, tick or axis labels
  (``plotting.legend_over_data``: none over plotted data);
* ``loose_log_axes``: a log axis spans at most ``LOG_SLACK`` beyond its data on either side;
* ``id_texts``: no pipeline id (``struct_alpha0``, ``fashion_mnist_2k``) in any text.

The checks of the LaTeX sources: ``small_tables`` (no table set below ``MIN_TABLE_PT``: no
``\\tiny``, no size command below it for the document's class size, no ``\\resizebox``) and
``table_ids`` (no pipeline id in a generated table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .names import pipeline_ids

MIN_PRINTED_PT = 6.0  # smallest text of a figure as printed
MAX_LEGEND_ENTRIES = 8
LOG_SLACK = 10.0  # a log axis may reach this factor beyond its data's range on either side
MIN_TABLE_PT = 8.0  # smallest text of a table
SAVE_PAD_IN = 0.1  # matplotlib's pad_inches around the tight bounding box (plotting.save_figure)
PT_PER_IN = 72.27  # TeX points per inch

# LaTeX's size commands in points, per class size (size10/11/12.clo)
FONT_SIZES = {
    10: {"tiny": 5, "scriptsize": 7, "footnotesize": 8, "small": 9, "normalsize": 10},
    11: {"tiny": 6, "scriptsize": 8, "footnotesize": 9, "small": 10, "normalsize": 10.95},
    12: {"tiny": 6, "scriptsize": 8, "footnotesize": 10, "small": 10.95, "normalsize": 12},
}
PAPER_WIDTH_PT = {"letterpaper": 614.295, "a4paper": 597.506, "a5paper": 419.565, "b5paper": 505.89}
UNIT_PT = {"pt": 1.0, "in": 72.27, "cm": 28.4528, "mm": 2.84528}


# ---- the sizes the paper prints at ----------------------------------------------------------


def _length_pt(text: str) -> float:
    m = re.fullmatch(r"\s*([\d.]+)\s*(pt|in|cm|mm)\s*", text)
    if not m:
        raise ValueError(f"cannot read the length {text!r}")
    return float(m[1]) * UNIT_PT[m[2]]


def class_size(main_tex: str) -> int:
    """The document class's font size in pt (10 unless ``[11pt]`` or ``[12pt]``)."""
    m = re.search(r"\\documentclass\s*\[([^\]]*)\]", main_tex)
    size = re.search(r"(1[012])pt", m[1]) if m else None
    return int(size[1]) if size else 10


def text_width_pt(main_tex: str) -> float:
    r"""``\textwidth`` of the paper in pt, from its ``geometry`` options (paper size and
    ``margin``/``left``/``right`` or ``textwidth``)."""
    opts = re.search(r"\\usepackage\s*\[([^\]]*)\]\s*\{geometry\}", main_tex)
    klass = re.search(r"\\documentclass\s*\[([^\]]*)\]", main_tex)
    names = [o.strip() for part in (opts, klass) if part for o in part[1].split(",")]
    paper = next((n for n in names if n in PAPER_WIDTH_PT), "letterpaper")
    keys = dict(o.split("=", 1) for o in names if "=" in o)
    if "textwidth" in keys:
        return _length_pt(keys["textwidth"])
    if not opts:
        raise ValueError("the paper sets no geometry: give the text width")
    left = _length_pt(keys.get("left", keys.get("hmargin", keys.get("margin", "0pt"))))
    right = _length_pt(keys.get("right", keys.get("hmargin", keys.get("margin", "0pt"))))
    return PAPER_WIDTH_PT[paper] - left - right


_GRAPHICS = re.compile(r"\\includegraphics\*?\s*\[([^\]]*)\]\s*\{([^{}]+)\}")


def include_widths(tex_files: Iterable, text_width: float) -> dict[str, float]:
    r"""{figure key: printed width in pt} of every ``\includegraphics[width=f\linewidth]{key}``
    (or ``\textwidth``, or an absolute length) in ``tex_files``."""
    out = {}
    for path in tex_files:
        for opts, name in _GRAPHICS.findall(Path(path).read_text()):
            width = re.search(r"width\s*=\s*([^,\]]+)", opts)
            if not width:
                continue
            value = width[1].strip()
            rel = re.fullmatch(r"([\d.]*)\s*\\(?:line|text|column)width", value)
            pt = (float(rel[1] or 1) * text_width) if rel else _length_pt(value)
            out[re.sub(r"\.(pdf|png)$", "", name)] = pt
    return out


def saved_width_pt(fig) -> float:
    """Width of the saved figure (its tight bounding box plus the pad) in pt."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    return (box.width + 2 * SAVE_PAD_IN) * PT_PER_IN


# ---- checks of a drawn figure -----------------------------------------------------------------


def _drawn_texts(fig):
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    out = []
    for text in fig.findobj(Text):
        if not (text.get_visible() and text.get_text().strip()):
            continue
        parent = text.axes
        if parent is not None and not parent.get_visible():
            continue
        box = text.get_window_extent(renderer)
        if box.x1 < page.x0 or box.x0 > page.x1 or box.y1 < page.y0 or box.y0 > page.y1:
            continue  # not drawn on the figure (a tick label outside the view)
        if parent is not None and text in _off_view_ticks(parent, renderer):
            continue
        out.append(text)
    return out


def _off_view_ticks(ax, renderer):
    frame = ax.get_window_extent(renderer)
    off = set()
    for axis, horizontal in ((ax.xaxis, True), (ax.yaxis, False)):
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            for text in (tick.label1, tick.label2):
                box = text.get_window_extent(renderer)
                centre = (box.x0 + box.x1) / 2 if horizontal else (box.y0 + box.y1) / 2
                lo, hi = (frame.x0, frame.x1) if horizontal else (frame.y0, frame.y1)
                if not tick.get_visible() or not lo - 1 <= centre <= hi + 1:
                    off.add(text)
    return off


def small_texts(fig, printed_width_pt: float) -> list[str]:
    """Texts of ``fig`` printed below ``MIN_PRINTED_PT`` when the figure is included at
    ``printed_width_pt``."""
    scale = printed_width_pt / saved_width_pt(fig)
    small = {}
    for text in _drawn_texts(fig):
        printed = text.get_fontsize() * scale
        if printed < MIN_PRINTED_PT - 1e-6:
            small.setdefault(round(printed, 1), []).append(text.get_text())
    return [
        f"text printed at {size:.1f} pt (< {MIN_PRINTED_PT:g} pt; figure scaled by {scale:.2f}): "
        + ", ".join(repr(t) for t in texts[:3])
        + (f" and {len(texts) - 3} more" if len(texts) > 3 else "")
        for size, texts in sorted(small.items())
    ]


def _legends(fig):
    return [leg for leg in [*(ax.get_legend() for ax in fig.axes), *fig.legends] if leg is not None]


def crowded_legends(fig) -> list[str]:
    """Legends of more than ``MAX_LEGEND_ENTRIES`` entries (lines a reader cannot tell apart:
    facet, thin out or label the lines directly)."""
    return [
        f"a legend of {len(leg.get_texts())} entries (> {MAX_LEGEND_ENTRIES}): "
        + ", ".join(repr(t.get_text()) for t in leg.get_texts()[:3])
        for leg in _legends(fig)
        if len(leg.get_texts()) > MAX_LEGEND_ENTRIES
    ]


def legends_over_labels(fig) -> list[str]:
    """Legends that cover another legend, a panel's frame (of another axes than their own),
    tick labels, axis labels or title."""
    from .plotting import _overlap, _texts, _visible_tick_labels

    renderer = fig.canvas.get_renderer()
    problems = []
    shown = [leg for leg in _legends(fig) if leg.get_visible()]
    for i, leg in enumerate(shown):
        box = leg.get_window_extent(renderer)
        if any(_overlap(box, other.get_window_extent(renderer)) for other in shown[i + 1 :]):
            problems.append("two legends overlap")
        own = leg.axes if leg in [ax.get_legend() for ax in fig.axes] else None
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            boxes = [b for _, b in _visible_tick_labels(ax, renderer)]
            boxes += [t.get_window_extent(renderer) for t in _texts(ax)]
            if ax is not own:
                boxes.append(ax.get_window_extent(renderer))
            if any(_overlap(box, b) for b in boxes):
                problems.append(f"a legend covers the labels or frame of axes {fig.axes.index(ax)}")
                break
    return problems


def _data_values(ax, which: str) -> np.ndarray:
    """The positive finite data values drawn on ``ax`` along ``which`` ("x" or "y"): lines
    (only along a data coordinate: not an ``axhline``'s x), scatter offsets and bands."""
    from matplotlib.collections import PathCollection

    col = 0 if which == "x" else 1
    out = []
    for line in ax.get_lines():
        if not line.get_visible():
            continue
        data_x, data_y = line.get_transform().contains_branch_seperately(ax.transData)
        if (data_x, data_y)[col]:
            out.append(np.asarray(line.get_xydata(), float)[:, col])
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):
            out.append(np.asarray(coll.get_offsets(), float)[:, col])
        elif coll.get_transform().contains_branch(ax.transData):
            out += [np.asarray(p.vertices, float)[:, col] for p in coll.get_paths()]
    values = np.concatenate(out) if out else np.empty(0)
    return values[np.isfinite(values) & (values > 0)]


def log_axis_spans(ax):
    """For each log axis of ``ax`` with data: ``(which, (lo, hi) limits, (dlo, dhi) data range)``,
    the data of every axes sharing it counted together."""
    for which in ("x", "y"):
        if (ax.get_xscale() if which == "x" else ax.get_yscale()) != "log":
            continue
        shared = (ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()).get_siblings(ax)
        values = np.concatenate([_data_values(other, which) for other in shared])
        if values.size:
            limits = tuple(sorted(ax.get_xlim() if which == "x" else ax.get_ylim()))
            yield which, limits, (values.min(), values.max())


def loose_log_axes(fig, ax) -> list[str]:
    """Log axes whose limits reach more than ``LOG_SLACK`` beyond the data they show on either
    side (a curve clipped to 1e-17 or a reference far from the data stretch the axis and
    flatten everything else)."""
    problems = []
    for which, (lo, hi), (dlo, dhi) in log_axis_spans(ax):
        if lo * LOG_SLACK < dlo * (1 - 1e-9) or hi > dhi * LOG_SLACK * (1 + 1e-9):
            problems.append(
                f"axes {fig.axes.index(ax)}: the log {which} axis spans {np.log10(hi / lo):.0f} decades "
                f"[{lo:.2g}, {hi:.2g}] for data in [{dlo:.2g}, {dhi:.2g}]"
            )
    return problems


def id_texts(fig, ids: Iterable[str] = ()) -> list[str]:
    """Drawn texts that show a pipeline id (``learndyn.names.pipeline_ids``)."""
    problems = []
    for text in _drawn_texts(fig):
        found = pipeline_ids(text.get_text(), ids)
        if found:
            problems.append(f"text {text.get_text()!r} shows pipeline ids {found} (learndyn.names)")
    return problems


def check_print(fig, printed_width_pt: float | None, ids: Iterable[str] = ()) -> list[str]:
    """Every print-legibility problem of the drawn ``fig`` included at ``printed_width_pt``
    (None: a figure the paper does not include; its size is not checked), one line each."""
    fig.canvas.draw()
    problems = [] if printed_width_pt is None else small_texts(fig, printed_width_pt)
    problems += crowded_legends(fig) + legends_over_labels(fig)
    problems += [p for ax in fig.axes if ax.get_visible() for p in loose_log_axes(fig, ax)]
    return problems + id_texts(fig, ids)


# ---- checks of the LaTeX sources and the generated tables ------------------------------------

_TABLE_FLOAT = re.compile(r"\\begin\{(table|sidewaystable|longtable)\*?\}(.*?)\\end\{\1\*?\}", re.S)


def small_tables(tex_files: Iterable, class_pt: int) -> list[str]:
    r"""Tables set below ``MIN_TABLE_PT``: a size command smaller than it for the class size,
    or shrunk by ``\resizebox``/``\scalebox`` (split the table or set it landscape instead)."""
    sizes = FONT_SIZES.get(class_pt, FONT_SIZES[10])
    problems = []
    for path in tex_files:
        code = "\n".join(re.split(r"(?<!\\)%", line)[0] for line in Path(path).read_text().splitlines())
        for m in _TABLE_FLOAT.finditer(code):
            body = m[2]
            label = re.search(r"\\label\{([^}]*)\}", body)
            where = f"{Path(path).name}: table {label[1] if label else m.start()}"
            for size in re.findall(r"\\(tiny|scriptsize|footnotesize|small)\b", body):
                if sizes[size] < MIN_TABLE_PT:
                    problems.append(f"{where} is set in \\{size} ({sizes[size]:g} pt < {MIN_TABLE_PT:g} pt)")
            if re.search(r"\\(resizebox|scalebox)\b", body):
                problems.append(
                    f"{where} is shrunk by \\resizebox or \\scalebox (split it or set it landscape)"
                )
    return problems


def table_ids(table_files: Iterable, ids: Iterable[str] = ()) -> list[str]:
    """Cells of generated tables that show a pipeline id."""
    ids = list(ids)
    problems = []
    for path in table_files:
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            code = re.split(r"(?<!\\)%", line)[0]
            found = pipeline_ids(code, ids)
            if found:
                problems.append(f"{Path(path).name}:{n} shows pipeline ids {found} (learndyn.names)")
    return problems
