"""Figures carry provenance in their metadata; every model and closure has one colour and marker."""

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
import yaml
from matplotlib.colors import to_hex

from learndyn import plotting
from learndyn.plotting import STYLES, hue_order, markers, palette, save_figure, style
from learndyn.provenance import config_hash

ROOT = Path(__file__).resolve().parents[1]
CONFIGURED = list(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["train"]["models"])
# the bridge's continuum of the structured layer is drawn by group (a colour ramp, one marker per
# knob); every other model has its own colour and marker
FILLED = set(plt.matplotlib.lines.Line2D.filled_markers)
POPULATION = [m for m in CONFIGURED if m.startswith("pop_")]
MODELS = [m for m in CONFIGURED if m not in POPULATION]
THEORY = [
    "weight",
    "closed",
    "hybrid",
    "frozen_gamma",
    "ntk",
    "level2",
    "gelu",
    "tolerance",
    "L=1",
    "L=2",
    "L=3",
    "L=4",
]


def test_figure_metadata_has_commit_and_config_hash(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png", config={"a": 1})
    pdf = (tmp_path / "f.pdf").read_bytes()
    assert b"git_commit=" in pdf and config_hash({"a": 1}).encode() in pdf
    png = (tmp_path / "f.png").read_bytes()
    assert b"git_commit=" in png
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png"]


# ---- palette registry ----------------------------------------------------------------------------


def test_registry_covers_the_configured_models_and_theory_families():
    for name in ("config.yaml", "quick.yaml"):
        cfg = yaml.safe_load((ROOT / "config" / name).read_text())
        assert set(cfg["train"]["models"]) <= set(STYLES), name
    assert set(MODELS + THEORY + POPULATION) <= set(STYLES)
    assert list(STYLES)[: len(MODELS)] == MODELS  # legend order = config order


def test_every_known_name_has_its_own_colour():
    colours = [to_hex(s.color) for s in STYLES.values()]
    assert len(set(colours)) == len(colours)
    assert not {to_hex(c) for c in plotting.SPARE_COLORS} & set(colours)  # fallbacks never alias
    # matplotlib has 15 filled markers (seaborn cannot mix filled and line-art ones in a plot):
    # unique within each study's models, which share figures
    studies = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["train"]["studies"]
    for study in studies.values():
        if set(study["models"]) <= set(POPULATION):
            continue  # the continuum is drawn by group: one marker per knob
        assert len({STYLES[m].marker for m in study["models"]}) == len(study["models"]), study["models"]
    assert all(STYLES[m].marker in FILLED for m in CONFIGURED)
    assert len({STYLES[d].marker for d in THEORY[-4:]}) == 4
    # the structured model against its baselines: far apart in RGB, not just different
    rgb = {m: np.array(plt.matplotlib.colors.to_rgb(STYLES[m].color)) for m in MODELS}
    for base in ("mlp", "resmlp", "snmlp"):
        assert np.linalg.norm(rgb["structured"] - rgb[base]) > 0.4, base


@pytest.mark.parametrize("name", ["my_new_model", "", "struct ü", 3, None, np.str_("x"), "a" * 500])
def test_fallback_is_deterministic_and_never_raises(name):
    s = style(name)
    assert s == style(name) and s.color in plotting.SPARE_COLORS and s.marker in plotting.SPARE_MARKERS
    assert palette([name, "structured"])[name] == s.color
    assert markers([name])[name] == s.marker


def test_fallback_is_the_same_in_another_process():
    names = ["my_new_model", "other", "struct_extra"]
    code = f"from learndyn.plotting import style; print([tuple(style(n)) for n in {names!r}])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(ROOT / "src")},
    ).stdout
    assert out.strip() == str([tuple(style(n)) for n in names])


def test_palette_and_order_do_not_depend_on_the_other_names():
    want = STYLES["structured"].color
    for names in (
        ["structured"],
        ["mlp", "structured"],
        ["structured", "mlp"],
        ["zzz", "struct_post", "structured", "aaa", "resmlp"],
        MODELS[::-1],
    ):
        assert palette(names)["structured"] == want
        assert markers(names)["structured"] == STYLES["structured"].marker
    assert hue_order(["zzz", "structured", "aaa", "mlp", "structured"]) == ["mlp", "structured", "aaa", "zzz"]
    assert list(palette(["zzz", "structured", "mlp"])) == ["mlp", "structured", "zzz"]


# ---- rendered figures ----------------------------------------------------------------------------


def _cells(models, tasks=("spirals", "digits"), depths=(2, 4), widths=(16, 32)):
    rng = np.random.default_rng(0)
    dims = ("task", "depth", "width", "model", "seed", "eval_step")
    coords = {
        "task": list(tasks),
        "depth": list(depths),
        "width": list(widths),
        "model": list(models),
        "seed": [0, 1],
        "eval_step": [0, 10, 20],
    }
    shape = [len(coords[d]) for d in dims]
    ds = xr.Dataset(
        {v: (dims, rng.random(shape) + 0.1) for v in ("train_metric", "test_metric", "grad_ratio")},
        coords=coords,
    )
    # the kept weights: each seed's evaluation (here the last) and the metric measured there
    ds["selected_step"] = ds.test_metric.isel(eval_step=-1, drop=True) * 0 + 20
    ds["final_test_metric"] = ds.test_metric.isel(eval_step=-1, drop=True)
    for v in ds.variables:
        ds[v].attrs.update(long_name=v, units="1")
    ds.coords["kind"] = ("task", ["classification"] * len(tasks), {"long_name": "task kind", "units": "1"})
    ds["epoch_per_step"] = ("task", [0.5] * len(tasks), {"long_name": "epochs per step", "units": "epoch"})
    return ds


def _cfg(models):
    return {
        "depth": 2,
        "width": 16,
        "studies": {
            "main": {"tasks": ["spirals", "digits"], "models": list(models)},
            "depth": {"tasks": ["spirals"], "models": list(models), "depths": [2, 4]},
            "width": {"tasks": ["digits"], "models": list(models), "widths": [16, 32]},
        },
        "claims": {"structured": "structured", "baselines": [m for m in models if m != "structured"]},
    }


def _legend_styles(fig):
    """label -> (colour, marker) of the legend entries of every axis of ``fig``."""
    out = {}
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            out[text.get_text()] = (to_hex(handle.get_color()), handle.get_marker())
    return out


def _line_colours(fig):
    return {to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()}


def test_training_figures_draw_each_model_in_its_registry_colour():
    from learndyn.train import figures as F

    plotting.set_style()
    seen = []
    for models, draw in (
        (["structured", "mlp", "resmlp"], "fd_depth"),
        (["my_model", "snmlp", "structured"], "fh_width"),
        (["mlp", "structured", "struct_orth"], "fa_accuracy"),
    ):
        fig = F.FIGURES[draw](
            {"cells": _cells(models), "spectra": None, "lr": None, "fp": None}, _cfg(models)
        )
        legend = _legend_styles(fig)
        for m in models:
            assert legend[m][0] == to_hex(style(m).color), (draw, m)
        assert [t for t in legend if t in models] == hue_order(models)  # fixed legend order
        if draw != "fa_accuracy":  # marked lines: the registry marker too
            assert all(legend[m][1] == style(m).marker for m in models)
        assert {to_hex(style(m).color) for m in models} <= _line_colours(fig)
        seen.append(legend["structured"][0])
        plt.close(fig)
    assert set(seen) == {to_hex(STYLES["structured"].color)}


def test_theory_figures_colour_by_depth_from_the_registry():
    from learndyn.theory import figures as F

    rng = np.random.default_rng(0)
    coords = {"depth": [1, 2, 3], "eta": [0.01, 0.1], "seed": [0, 1], "gd_eta": [0.01, 0.1]}
    da = lambda *dims: xr.DataArray(
        rng.random([len(coords[d]) for d in dims]) + 0.1, dims=dims, coords={d: coords[d] for d in dims}
    )
    e4 = xr.Dataset(
        {
            "one_step_error": da("depth", "eta", "seed"),
            "switched": da("depth", "eta", "seed") * 0,
            "gd_vs_gf_error": da("depth", "gd_eta"),
        }
    )
    fig = F.eta_scaling(e4)
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label().startswith("$L="):
                L = int(line.get_label()[3])
                assert to_hex(line.get_color()) == to_hex(style(plotting.depth(L)).color)
                assert line.get_marker() == style(plotting.depth(L)).marker
    plt.close(fig)


# ---- the figure checker on hand-made figures -----------------------------------------------------


def _clean_figure():
    fig, ax = plt.subplots(figsize=(3, 2))
    x = np.linspace(0, 1, 20)
    ax.plot(x, x, color=style("mlp").color, marker=style("mlp").marker, label="mlp")
    ax.set(xlabel=r"step size $\eta$", ylabel="test accuracy")
    ax.legend(loc="upper left")
    return fig, ax


def test_checker_passes_a_clean_figure():
    fig, _ = _clean_figure()
    assert plotting.check_figure(fig) == []
    plt.close(fig)


def test_checker_finds_overlapping_tick_labels():
    fig, ax = plt.subplots(figsize=(1.5, 1.5))
    ax.plot([0, 1], [0, 1])
    ax.set_xticks(np.linspace(0, 1, 11), [f"{v:.5f}" for v in np.linspace(0, 1, 11)])
    problems = plotting.check_figure(fig)
    assert problems and all("tick labels" in p for p in problems)
    plt.close(fig)


def test_checker_finds_a_legend_over_a_line_but_not_one_outside():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], label="diagonal")  # passes through the centre
    ax.legend(loc="center")
    problems = plotting.check_figure(fig)
    assert len(problems) == 1 and "legend covers" in problems[0]
    ax.get_legend().remove()
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))  # outside the axes
    assert plotting.check_figure(fig) == []
    plt.close(fig)


def test_checker_finds_a_legend_over_markers_only_and_scatter_points():
    for draw in (lambda ax: ax.plot([0.5], [0.5], "o", label="point"), lambda ax: ax.scatter([0.5], [0.5])):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, 0.02], label="low")
        draw(ax)
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.legend(["low", "point"], loc="center")
        assert any("legend covers" in p for p in plotting.check_figure(fig))
        plt.close(fig)


def test_checker_finds_linear_bands_on_a_log_axis():
    rng = np.random.default_rng(0)
    values = np.exp(rng.normal(0, 1.5, size=(5, 8)))  # (seed, x), log-normal
    x = np.arange(8)
    for log_space in (False, True):
        fig, ax = plt.subplots(figsize=(3, 2))
        if log_space:
            mid, sd = np.log(values).mean(0), np.log(values).std(0)
            lo, hi, mid = np.exp(mid - sd), np.exp(mid + sd), np.exp(mid)
        else:
            mid, sd = values.mean(0), values.std(0)
            lo, hi = mid - sd, mid + sd
        ax.plot(x, mid, color="C0")
        ax.fill_between(x, np.clip(lo, 1e-3, None) if not log_space else lo, hi, color="C0", alpha=0.2)
        ax.set_yscale("log")
        problems = plotting.check_figure(fig)
        assert (problems == []) == log_space, problems
        plt.close(fig)


def test_seaborn_bands_are_in_log_space_when_the_axis_is_log_before_plotting():
    import pandas as pd
    import seaborn as sns

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": np.repeat(np.arange(6), 5), "y": np.exp(rng.normal(0, 1.5, 30))})
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_yscale("log")
    sns.lineplot(df, x="x", y="y", errorbar=("sd", 1), ax=ax)
    assert plotting.check_figure(fig) == []
    ax.cla()
    sns.lineplot(df, x="x", y="y", errorbar=("sd", 1), ax=ax)
    ax.set_yscale("log")  # too late: seaborn averaged the linear values
    assert any("log space" in p or "reaches zero" in p for p in plotting.check_figure(fig))
    plt.close(fig)


def test_checker_finds_spelled_out_symbols_and_variable_names():
    fig, ax = _clean_figure()
    ax.set(xlabel="eta", ylabel="grad_h [1]")
    problems = plotting.check_figure(fig)
    assert len(problems) == 2 and all("mathtext" in p for p in problems)
    ax.set(xlabel=r"$\eta$", ylabel=r"$\|\partial L/\partial h_\ell\|$")
    assert plotting.check_figure(fig) == []
    plt.close(fig)


def test_checker_finds_legend_entries_off_the_registry():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 1], color=style("mlp").color, label="mlp")  # no marker
    ax.plot([0, 1], [2, 2], color="#123456", marker=style("structured").marker, label="structured")
    ax.plot([0, 1], [3, 3], color=style("L=2").color, marker="o", label="$L=2$: 0.50")
    ax.plot([0, 1], [4, 4], color="#654321", marker="o", label="my_model")
    ax.set_ylim(0, 8)
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    problems = plotting.check_figure(fig, names=["my_model"])
    assert len(problems) == 5, problems  # my_model: colour and marker
    for label in ("mlp", "structured", "$L=2$: 0.50", "my_model"):
        assert any(p.startswith(f"legend entry {label!r}") for p in problems), label
    plt.close(fig)


@pytest.mark.parametrize(
    "plain, typeset",
    [
        ("learning rate eta", r"learning rate $\eta$"),
        ("test metric under FGSM eps 0.05", r"test metric under FGSM $\epsilon$ 0.05"),
        ("horizon t_h [ODE time]", r"horizon $t_{h}$ [ODE time]"),
        ("P1 bound ||A_l|| + |alpha_l|", r"P1 bound $\|A_{l}\|$ + |$\alpha_{l}$|"),
        ("empirical contraction q_hat", r"empirical contraction $\hat{q}$"),
        (r"already $\eta$ typeset", r"already $\eta$ typeset"),
    ],
)
def test_labels_typeset_the_symbols_of_long_names(plain, typeset):
    da = xr.DataArray([1.0], dims="x", attrs={"long_name": plain, "units": "1"})
    assert plotting.label(da) == typeset
    assert "\n" in plotting.label(da.assign_attrs(long_name=plain + " " + "word " * 10), wrap=20)


def test_verdict_colours_are_no_model_or_closure_colour():
    used = {to_hex(s.color) for s in STYLES.values()}
    verdicts = [to_hex(c) for c in plotting.VERDICTS.values()]
    assert len(set(verdicts)) == len(verdicts) and not used & set(verdicts)


def test_relabel_shows_display_names_in_ticks_legends_and_titles():
    from learndyn.names import NAMES

    fig, ax = plt.subplots()
    st = style("struct_alpha0")
    ax.plot([0, 1], [0, 1], color=st.color, marker=st.marker, label="struct_alpha0")
    ax.set_yticks([0, 1], ["mlp", "snmlp"])
    ax.set_title("fashion_mnist_2k")
    ax.legend()
    plotting.relabel(fig)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["MLP", "SN-MLP"]
    assert ax.get_legend().get_texts()[0].get_text() == NAMES["struct_alpha0"]
    assert ax.get_title() == NAMES["fashion_mnist_2k"]
    assert plotting.off_registry_legend_entries(fig) == []  # the entry is still the model's style
    ax.get_lines()[0].set_color("#123456")
    ax.legend()
    plotting.relabel(fig)
    assert plotting.off_registry_legend_entries(fig)  # found under its display name
    plt.close(fig)


def test_relabel_keeps_numeric_tick_labels():
    fig, ax = plt.subplots()
    ax.loglog([1e-3, 1e2], [1, 10])
    fig.canvas.draw()
    before = [t.get_text() for t in ax.get_xticklabels()]
    plotting.relabel(fig)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == before
    plt.close(fig)


def test_fit_log_limits_shrinks_an_axis_to_its_data():
    from learndyn.legibility import loose_log_axes

    fig, ax = plt.subplots()
    ax.loglog([1, 10], [1e-3, 1e3])
    ax.set_ylim(1e-31, 1e29)
    plotting.fit_log_limits(ax)
    fig.canvas.draw()
    assert loose_log_axes(fig, ax) == []
    assert ax.get_ylim() == pytest.approx((1e-3 / plotting.LOG_MARGIN, 1e3 * plotting.LOG_MARGIN))
    plt.close(fig)
