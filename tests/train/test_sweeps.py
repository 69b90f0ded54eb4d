"""Depth and width sweeps (measurement levels, trends with intervals), saved models, and the
cross-model alignment job and its hypothesis test."""

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from learndyn.config import check_alignment
from learndyn.data import Task
from learndyn.stats import trend_slope
from learndyn.train.claims import slope_over
from learndyn.train.experiments import AlignConfig, CellSettings, MeasureConfig, run_alignment, run_cell
from learndyn.train.grid import cell_levels, cells
from learndyn.train.loop import TrainConfig
from learndyn.train.models import build_model, load_ensemble, save_ensemble
from learndyn.train.report import alignment_tests, family_pairs

MEASURE = MeasureConfig(
    probe_samples=8,
    hessian_points=2,
    hessian_iters=2,
    jacobian_samples=2,
    robust_samples=8,
    noise_sigmas=(0.0, 0.1),
    fgsm_eps=(0.05,),
)


def _class_task(n_train=48, n_test=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x, xt = rng.standard_normal((n_train, d)), rng.standard_normal((n_test, d))
    return Task("toy", "classification", x, (x[:, 0] > 0).astype(int), xt, (xt[:, 0] > 0).astype(int), 2)


# --- trends ------------------------------------------------------------------------------------


def test_trend_slope_recovers_a_noisy_linear_law():
    rng = np.random.default_rng(0)
    x = np.log2([2, 4, 8, 16, 32, 64])
    slopes = rng.normal(-0.3, 0.05, size=50)
    y = slopes[:, None] * x + 1.0 + 0.01 * rng.standard_normal((50, len(x)))
    got = trend_slope(x, y)
    np.testing.assert_allclose(got, slopes, atol=0.02)
    # a missing point is left out of that fit; fewer than 3 points give NaN
    y[0, 2] = np.nan
    assert np.isfinite(trend_slope(x, y)[0])
    y[1, :4] = np.nan
    assert np.isnan(trend_slope(x, y)[1])
    with pytest.raises(ValueError):
        trend_slope(x[:3], y)


def test_slope_over_uses_log2_of_the_sweep():
    depth = [2, 4, 8, 16]
    da = xr.DataArray(
        np.log2(depth)[None, :] * [[1.0], [2.0]], dims=("seed", "depth"), coords={"depth": depth}
    )
    np.testing.assert_allclose(slope_over(da, "depth", log2=True).values, [1.0, 2.0])
    np.testing.assert_allclose(
        slope_over(da.copy(data=np.array([depth, depth], float)), "depth", log2=False).values, [1.0, 1.0]
    )


# --- measurement levels -------------------------------------------------------------------------

TRAIN = {
    "depth": 8,
    "width": 64,
    "studies": {
        "main": {"tasks": ["a"], "models": ["mlp", "structured"]},
        "depth": {"tasks": ["a"], "models": ["mlp"], "depths": [2, 8], "measure": "sweep"},
    },
}


def test_cell_levels_full_wins_over_sweep():
    levels = cell_levels(TRAIN)
    assert set(levels) == set(cells(TRAIN))
    assert levels[("a", "mlp", 8, 64)] == "full"  # shared with the main study
    assert levels[("a", "mlp", 2, 64)] == "sweep"


def test_sweep_level_skips_the_costly_measurements():
    task = _class_task()
    cfg = TrainConfig(steps=6, batch_size=16, eval_every=3)
    cell = CellSettings("structured", {"kind": "structured"}, 2, 8, (0, 1), cfg, MEASURE)
    full = run_cell(task, cell)[0]
    sweep = run_cell(task, dataclasses.replace(cell, level="sweep"))[0]
    # the same training: identical curves and final metrics
    np.testing.assert_array_equal(full.test_metric.values, sweep.test_metric.values)
    np.testing.assert_array_equal(full.grad_ratio.values, sweep.grad_ratio.values)
    np.testing.assert_array_equal(full.e2e_logcond.values, sweep.e2e_logcond.values)
    for name in (
        "hessian_top",
        "noise_curve",
        "fgsm_curve",
        "clean_curve",
        "amplification",
        "J_sv",
        "J_sigma_sup",
    ):
        assert np.isfinite(full[name].values).any(), name
        assert np.isnan(sweep[name].values).all(), name
    assert sweep.attrs["measure_level"] == "sweep"
    with pytest.raises(ValueError, match="measurement level"):
        dataclasses.replace(cell, level="none")


# --- saved models --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [{"kind": "mlp"}, {"kind": "structured", "shaping": "orthogonal"}])
def test_saved_ensemble_round_trip(tmp_path, spec):
    import torch

    model = build_model(spec, 5, 3, 8, 2, [3, 4])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)  # not the initialisation: the weights must come from the file
    x = torch.randn(7, 5)
    save_ensemble(model, tmp_path / "m.pt", task="t", name="n")
    loaded, meta = load_ensemble(tmp_path / "m.pt")
    assert meta == {"task": "t", "name": "n"} and loaded.seeds == [3, 4]
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*tmp"))


# --- alignment -----------------------------------------------------------------------------------


def test_alignment_of_a_model_with_itself_and_the_family_test():
    task = _class_task(n_test=80)
    cfg = TrainConfig(steps=20, batch_size=16, eval_every=10, lr=1e-2)
    models = {}
    for name, spec in (("s1", {"kind": "structured"}), ("m1", {"kind": "mlp"})):
        _, models[name] = run_cell(
            task, CellSettings(name, spec, 2, 8, (0, 1, 2), cfg, MEASURE, level="sweep")
        )
    models["s2"], models["m2"] = models["s1"], models["m1"]  # a copy: perfectly aligned pairs
    acfg = AlignConfig(task="toy", families={"structured": ["s1", "s2"], "unconstrained": ["m1", "m2"]}, k=5)
    ds = run_alignment(task, models, acfg)
    same = ds.sel(cell_a="s1", cell_b="s2")
    np.testing.assert_allclose(same.cka.values, 1.0, atol=1e-9)
    np.testing.assert_allclose(same.procrustes.values, 0.0, atol=1e-9)
    np.testing.assert_allclose(same.knn_jaccard.values, 1.0)
    assert np.all(ds.cka.values <= 1 + 1e-9)
    np.testing.assert_allclose(ds.cka.values, ds.cka.transpose("cell_b", "cell_a", "seed").values)
    assert family_pairs(acfg.families) == {"structured": [("s1", "s2")], "unconstrained": [("m1", "m2")]}
    # both families perfectly aligned: zero effect, inconclusive
    tests = alignment_tests(ds, 0.95, 0.05)
    assert set(tests.measure) == {"cka", "probe_ratio", "procrustes", "knn_jaccard"}
    np.testing.assert_allclose(tests.set_index("measure").loc["cka", "effect"], 0.0, atol=1e-9)
    assert (tests.verdict == "inconclusive").all()
    # a structured family that aligns more: cka effect positive, supported
    ds2 = ds.copy(deep=True)
    ds2["cka"].loc[{"cell_a": "m1", "cell_b": "m2"}] = [0.2, 0.3, 0.25]
    ds2["cka"].loc[{"cell_a": "m2", "cell_b": "m1"}] = [0.2, 0.3, 0.25]
    row = alignment_tests(ds2, 0.95, 0.05).set_index("measure").loc["cka"]
    assert row.effect == pytest.approx(0.75) and row.verdict == "supported"
    assert json.loads(ds.attrs["families"]) == acfg.families


def test_alignment_config_names_cells_outside_the_grid():
    train = dict(
        TRAIN,
        tasks=["a"],
        alignment={
            "task": "a",
            "families": {
                "structured": ["structured/L8_W64", "structured/L2_W64"],
                "unconstrained": ["mlp/L8_W64", "mlp/L2_W64"],
            },
        },
    )
    problems = check_alignment(train)
    assert (
        len(problems) == 1 and "families.structured[1]" in problems[0] and "structured/L2_W64" in problems[0]
    )
    train["alignment"]["families"]["unconstrained"].pop()
    assert any("parallel" in p for p in check_alignment(train))


def test_alignment_table_and_macros_read_every_column():
    from learndyn.train.report import alignment_latex_frame, alignment_macros

    names = ["s1", "s2", "m1", "m2"]
    rng = np.random.default_rng(0)
    data = {}
    for k in ("cka", "probe_ratio", "procrustes", "knn_jaccard"):
        v = rng.uniform(0, 1, (4, 4, 3))
        data[k] = (("cell_a", "cell_b", "seed"), (v + v.transpose(1, 0, 2)) / 2)
        data[f"{k}_seeds"] = (("cell", "seed"), rng.uniform(0, 1, (4, 3)))
    ds = xr.Dataset(data, coords={"cell_a": names, "cell_b": names, "cell": names, "seed": [0, 1, 2]})
    ds.attrs.update(
        task="toy",
        k=5,
        n_fit=10,
        n_eval=10,
        families=json.dumps({"structured": ["s1", "s2"], "unconstrained": ["m1", "m2"]}),
        better=json.dumps(
            {"cka": "higher", "probe_ratio": "higher", "procrustes": "lower", "knn_jaccard": "higher"}
        ),
    )
    tests = alignment_tests(ds, 0.95, 0.05)
    frame = alignment_latex_frame(tests, 0.95)
    assert frame.shape == (4, 9) and "structured, other seed" in frame.columns
    macros = alignment_macros(tests, ds)
    assert macros["AlignCkaControlA"] and macros["AlignNumMeasures"] == 4
    np.testing.assert_allclose(
        tests.set_index("measure").loc["cka", "structured, other seed"],
        ds.cka_seeds.sel(cell=["s1", "s2"]).mean().item(),
    )


def test_cell_seeds_sweeps_train_fewer_seeds_shared_cells_keep_all():
    from learndyn.train.grid import cell_seeds

    train = dict(TRAIN, seeds=[0, 1, 2, 3])
    train["studies"] = dict(TRAIN["studies"], depth=dict(TRAIN["studies"]["depth"], seeds=[0, 1]))
    seeds = cell_seeds(train)
    assert seeds[("a", "mlp", 8, 64)] == [0, 1, 2, 3]  # shared with the main study
    assert seeds[("a", "mlp", 2, 64)] == [0, 1]
    assert seeds[("a", "structured", 8, 64)] == [0, 1, 2, 3]


def test_tune_sources_ablations_borrow_their_parents_rate():
    from learndyn.train.grid import tune_sources

    train = dict(TRAIN)
    train["studies"] = dict(
        TRAIN["studies"], ablation={"tasks": ["a"], "models": ["struct_orth"], "tune_from": "structured"}
    )
    src = tune_sources(train)
    assert src[("a", "struct_orth")] == "structured"
    assert src[("a", "mlp")] == "mlp" and src[("a", "structured")] == "structured"
    # a model that is also in a study without tune_from is tuned itself
    train["studies"]["main2"] = {"tasks": ["a"], "models": ["struct_orth"]}
    assert tune_sources(train)[("a", "struct_orth")] == "struct_orth"
