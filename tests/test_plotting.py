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
MODELS = list(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["train"]["models"])
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
    assert set(MODELS + THEORY) <= set(STYLES)
    assert list(STYLES)[: len(MODELS)] == MODELS  # legend order = config order


def test_every_known_name_has_its_own_colour():
    colours = [to_hex(s.color) for s in STYLES.values()]
    assert len(set(colours)) == len(colours)
    assert not {to_hex(c) for c in plotting.SPARE_COLORS} & set(colours)  # fallbacks never alias
    assert len({STYLES[m].marker for m in MODELS}) == len(MODELS)
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
    for v in ds.variables:
        ds[v].attrs.update(long_name=v, units="1")
    ds.attrs.update({f"kind_{t}": "classification" for t in tasks})
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
