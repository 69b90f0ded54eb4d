"""Print-size legibility checks (learndyn.legibility): each check flags the broken figure or
table and passes the repaired one."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from learndyn import legibility as lg
from learndyn.plotting import set_style

LETTER_MARGIN_25 = 614.295 - 2 * 2.5 * 28.4528  # \textwidth of letter paper, 2.5 cm margins
TOL_PT = 0.01


@pytest.fixture(autouse=True)
def _style():
    set_style()
    yield
    plt.close("all")


def test_text_width_from_geometry():
    main = r"\documentclass[11pt]{article}" + "\n" + r"\usepackage[margin=2.5cm]{geometry}"
    assert lg.text_width_pt(main) == pytest.approx(LETTER_MARGIN_25, abs=TOL_PT)
    a4 = r"\documentclass[a4paper]{article}\usepackage[margin=1in]{geometry}"
    assert lg.text_width_pt(a4) == pytest.approx(597.506 - 2 * 72.27, abs=TOL_PT)
    assert lg.class_size(main) == 11 and lg.class_size(r"\documentclass{article}") == 10


def test_include_widths(tmp_path):
    tex = tmp_path / "s.tex"
    tex.write_text(
        r"\includegraphics[width=0.5\linewidth]{train/a.pdf} \includegraphics[width=\textwidth]{theory/b}"
        r" \includegraphics[width=3cm]{c.pdf}"
    )
    widths = lg.include_widths([tex], 400.0)
    assert widths == pytest.approx({"train/a": 200.0, "theory/b": 400.0, "c": 3 * 28.4528})


def _figure(fontsize):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2], [1, 2])
    ax.tick_params(labelsize=fontsize)
    ax.set_xlabel("x", fontsize=fontsize)
    ax.set_ylabel("y", fontsize=fontsize)
    return fig


def test_small_text_is_flagged_at_its_printed_size():
    fig = _figure(8)
    width = lg.saved_width_pt(fig)
    assert lg.small_texts(fig, width) == []  # printed at its own size: 8 pt
    problems = lg.small_texts(fig, width * 0.5)  # halved: 4 pt
    assert problems and "4.0 pt" in problems[0]


def test_crowded_legend():
    fig, ax = plt.subplots()
    for i in range(lg.MAX_LEGEND_ENTRIES + 1):
        ax.plot([0, 1], [i, i], label=f"line {i}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    assert lg.crowded_legends(fig)
    ax.get_legend().remove()
    ax.legend(handles=ax.get_lines()[: lg.MAX_LEGEND_ENTRIES], loc="upper left", bbox_to_anchor=(1.02, 1))
    assert lg.crowded_legends(fig) == []


def test_legend_over_another_panel_or_legend():
    with plt.rc_context({"figure.constrained_layout.use": False}):  # panels stay where put
        fig, axes = plt.subplots(1, 2, figsize=(6, 2.5), gridspec_kw={"bottom": 0.45})
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a line with a long legend label")
    axes[0].legend(loc="upper left", bbox_to_anchor=(0.6, 1.0))  # reaches into the right panel
    fig.canvas.draw()
    assert lg.legends_over_labels(fig)
    axes[0].get_legend().remove()
    fig.legend(handles=axes[0].get_lines(), loc="lower center")  # below every panel
    fig.canvas.draw()
    assert lg.legends_over_labels(fig) == []
    fig.legend(handles=axes[1].get_lines(), loc="lower center")  # a second legend on the first
    fig.canvas.draw()
    assert any("two legends overlap" in p for p in lg.legends_over_labels(fig))


def test_log_axis_far_wider_than_its_data():
    fig, ax = plt.subplots()
    ax.loglog([1, 10], [1, 10])
    ax.set_ylim(1e-31, 1e29)
    fig.canvas.draw()
    assert any("log y axis" in p for p in lg.loose_log_axes(fig, ax))
    ax.set_ylim(0.5, 20)
    assert lg.loose_log_axes(fig, ax) == []


def test_shared_log_axes_count_the_data_of_both():
    fig, axes = plt.subplots(1, 2, sharey=True)
    axes[0].semilogy([0, 1], [1e-6, 1e-5])
    axes[1].semilogy([0, 1], [1.0, 10.0])
    fig.canvas.draw()
    assert lg.loose_log_axes(fig, axes[1]) == []  # its range is the shared data's


def test_pipeline_ids_in_texts():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="struct_alpha0")
    ax.set_title("fashion_mnist_2k")
    ax.legend()
    fig.canvas.draw()
    found = " ".join(lg.id_texts(fig, ["mlp"]))
    assert "struct_alpha0" in found and "fashion_mnist_2k" in found
    ax.set_title("$\\alpha_0$ and mlp")
    ax.get_legend().remove()
    fig.canvas.draw()
    assert any("'mlp'" in p for p in lg.id_texts(fig, ["mlp"]))


@pytest.mark.parametrize(
    ("body", "klass", "bad"),
    [
        (r"\scriptsize\input{t.tex}", 11, False),  # 8 pt
        (r"\scriptsize\input{t.tex}", 10, True),  # 7 pt
        (r"{\tiny\input{t.tex}}", 11, True),
        (r"\resizebox{\linewidth}{!}{\input{t.tex}}", 11, True),
        (r"\footnotesize % \tiny in a comment" + "\n" + r"\input{t.tex}", 11, False),
    ],
)
def test_small_tables(tmp_path, body, klass, bad):
    tex = tmp_path / "s.tex"
    tex.write_text(r"\begin{table}\caption{c}\label{tab:x}" + body + r"\end{table}")
    assert bool(lg.small_tables([tex], klass)) is bad


def test_table_ids(tmp_path):
    table = tmp_path / "t.tex"
    table.write_text("task & model \\\\\nfashion\\_mnist\\_2k & snmlp \\\\\n$x_1$ & MLP \\\\\n")
    problems = lg.table_ids([table], ["snmlp", "mlp"])
    assert len(problems) == 1 and "fashion_mnist_2k" in problems[0] and "snmlp" in problems[0]


def test_sizes_of_the_class_commands_are_latex_s():
    # size10/11/12.clo: \scriptsize is 7, 8, 8 pt; \tiny 5, 6, 6 pt
    assert [lg.FONT_SIZES[k]["scriptsize"] for k in (10, 11, 12)] == [7, 8, 8]
    assert [lg.FONT_SIZES[k]["tiny"] for k in (10, 11, 12)] == [5, 6, 6]
    assert np.isclose(lg.PT_PER_IN, 72.27)
