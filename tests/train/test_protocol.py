"""The fair protocol of the training half: validation split, best-validation weights,
learning-rate tuning, late improvement, parameter matching and the new baselines' init."""

import numpy as np
import pytest
import torch

from learndyn.data import Task, make_task, validation_split
from learndyn.train.experiments import (
    CELL_DIMS,
    CellSettings,
    MeasureConfig,
    TuneConfig,
    TuneSettings,
    resolve_width,
    run_cell,
    run_tune,
)
from learndyn.train.loop import (
    TaskTensors,
    TrainConfig,
    Validation,
    evaluate,
    late_improvement,
    train_ensemble,
)
from learndyn.train.models import build_model, matched_width
from learndyn.train.spec import ModelSpec

EVAL_TOL = 1e-6  # re-evaluating the kept weights vs the value recorded during training (float32)


def _task(kind: str, n_train: int, n_test: int, d: int, seed: int, target=None) -> Task:
    """A small in-memory task: Gaussian inputs, ``target(x, rng)`` as targets."""
    rng = np.random.default_rng(seed)
    x, xt = rng.standard_normal((n_train, d)), rng.standard_normal((n_test, d))
    y, yt = target(x, rng), target(xt, rng)
    n_classes = int(max(y.max(), yt.max()) + 1) if kind == "classification" else 0
    return Task(f"toy_{kind}", kind, x, y, xt, yt, n_classes)


# --- validation split ---------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_validation_split_is_stratified_disjoint_and_complete(fraction):
    counts = {0: 50, 1: 31, 2: 7, 3: 2, 4: 1}  # a class of one point stays in the fit part
    y = np.random.default_rng(0).permutation(np.repeat(list(counts), list(counts.values())))
    fit, val = validation_split(y, fraction, seed=3)
    assert len(np.intersect1d(fit, val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, val])), np.arange(len(y)))
    assert (np.diff(fit) > 0).all() and (np.diff(val) > 0).all()  # sorted
    for c, n in counts.items():
        n_val = int((y[val] == c).sum())
        assert abs(n_val - fraction * n) <= 1, (c, n_val, fraction * n)
        if n >= 2:
            assert 1 <= n_val <= n - 1, f"class {c}: both parts need a point"
    assert (y[val] != 4).all()


def test_validation_split_reproducible_per_seed():
    y = np.random.default_rng(1).integers(0, 3, 200)
    a, b, other = validation_split(y, 0.2, 7), validation_split(y, 0.2, 7), validation_split(y, 0.2, 8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], other[1])


def test_validation_split_regression_and_errors():
    y = np.random.default_rng(2).standard_normal((101, 3))  # float targets: one group
    fit, val = validation_split(y, 0.2, 0)
    assert len(val) == round(0.2 * 101) and len(fit) == 101 - len(val)
    np.testing.assert_array_equal(np.union1d(fit, val), np.arange(101))
    y1 = np.random.default_rng(2).standard_normal(50)  # 1-D float targets: not stratified either
    assert len(validation_split(y1, 0.3, 0)[1]) == 15
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            validation_split(y, bad, 0)
    with pytest.raises(ValueError, match="empty"):
        validation_split(np.zeros((1, 1)), 0.5, 0)


def test_task_tensors_carve_the_validation_split():
    task = make_task("spirals", {"generator": "spirals", "n_train": 100, "n_test": 30, "d": 4, "seed": 0})
    plain = TaskTensors.from_task(task)
    assert not plain.has_validation and plain.x_val is None and len(plain.x_train) == 100
    v = Validation(fraction=0.2, seed=5)
    data = TaskTensors.from_task(task, validation=v)
    fit, val = validation_split(task.y_train, v.fraction, v.seed)
    assert data.has_validation and len(data.x_val) == len(val) and len(data.x_train) == len(fit)
    np.testing.assert_allclose(data.x_val.numpy(), task.x_train[val].astype(np.float32))
    np.testing.assert_array_equal(data.y_val.numpy(), task.y_train[val])
    np.testing.assert_array_equal(data.y_train.numpy(), task.y_train[fit])
    assert data.y_val.dtype == torch.long and len(data.x_test) == 30  # the test split is untouched
    # without a split the validation curves are NaN
    m = build_model({"kind": "mlp"}, plain.d_in, plain.d_out, 8, 2, [0])
    out = evaluate(m, plain, 50)
    assert set(out) == {"train_loss", "test_loss", "train_metric", "test_metric", "val_loss", "val_metric"}
    assert torch.isnan(out["val_loss"]).all() and torch.isnan(out["val_metric"]).all()


# --- best-validation weights ------------------------------------------------------------------


@pytest.fixture(scope="module")
def noise_task():
    """Targets independent of the inputs, 30 fit points: any fitting beyond the mean only
    memorises noise, so the validation loss dips early and rises for the rest of the budget."""
    return _task("regression", 40, 20, 4, 0, lambda x, rng: rng.standard_normal((len(x), 1)))


OVERFIT = TrainConfig(lr=1e-2, steps=100, batch_size=30, eval_every=10, warmup_frac=0.0)


@pytest.mark.parametrize("spec", [{"kind": "mlp"}, {"kind": "structured"}])
def test_best_val_keeps_the_weights_of_lowest_validation_loss(noise_task, spec):
    data = TaskTensors.from_task(noise_task, validation=Validation(0.25, 0))
    seeds, n_eval = [0, 1, 2], OVERFIT.steps // OVERFIT.eval_every + 1
    kept = build_model(spec, data.d_in, data.d_out, 32, 2, seeds)
    res = train_ensemble(kept, data, OVERFIT)
    last = build_model(spec, data.d_in, data.d_out, 32, 2, seeds)
    res_last = train_ensemble(last, data, TrainConfig(**{**OVERFIT.__dict__, "select": "last"}))
    rows = np.arange(len(seeds))
    # the selection does not change the training: the same curves either way
    np.testing.assert_array_equal(res.val_loss, res_last.val_loss)
    np.testing.assert_array_equal(res_last.selected, [n_eval - 1] * len(seeds))
    # the construction: the validation loss rose after its minimum
    np.testing.assert_array_equal(res.selected, np.argmin(res.val_loss, axis=1))
    assert (res.selected < n_eval - 1).all()
    assert (res.val_loss[:, -1] > 1.5 * res.val_loss[rows, res.selected]).all()
    # the returned model carries the weights of the selected evaluation, not the last ones
    now = {k: v.numpy() for k, v in evaluate(kept, data, OVERFIT.eval_samples).items()}
    for curve in ("val_loss", "test_loss", "train_loss", "test_metric"):
        recorded = getattr(res, curve)[rows, res.selected]
        np.testing.assert_allclose(now[curve], recorded, rtol=EVAL_TOL, err_msg=curve)
    assert (np.abs(now["val_loss"] - res.val_loss[:, -1]) > 0.1).all()
    then = {k: v.numpy() for k, v in evaluate(last, data, OVERFIT.eval_samples).items()}
    np.testing.assert_allclose(then["val_loss"], res_last.val_loss[:, -1], rtol=EVAL_TOL)


def test_best_val_weights_survive_a_checkpoint_resume(noise_task, tmp_path):
    """Killed after the minimum of the validation loss and resumed: the kept weights (stored in
    the checkpoint) and the selection equal those of an uninterrupted run."""
    data = TaskTensors.from_task(noise_task, validation=Validation(0.25, 0))
    cfg = TrainConfig(**{**OVERFIT.__dict__, "checkpoint_every": 50})
    spec, seeds = {"kind": "mlp"}, [0, 1]
    full_model = build_model(spec, data.d_in, data.d_out, 32, 2, seeds)
    full = train_ensemble(full_model, data, cfg)
    assert (full.selected < 6).all(), "the minimum lies before the kill"

    class Killed(Exception):
        pass

    def kill_at_step_70(model, d, i_eval):
        if i_eval == 7:
            raise Killed
        return {}

    ck = tmp_path / "ck.pt"
    with pytest.raises(Killed):
        train_ensemble(
            build_model(spec, data.d_in, data.d_out, 32, 2, seeds),
            data,
            cfg,
            probe_fn=kill_at_step_70,
            checkpoint=ck,
            key="k",
        )
    assert ck.exists()
    resumed_model = build_model(spec, data.d_in, data.d_out, 32, 2, seeds)
    resumed = train_ensemble(resumed_model, data, cfg, checkpoint=ck, key="k")
    np.testing.assert_array_equal(resumed.selected, full.selected)
    np.testing.assert_allclose(resumed.val_loss, full.val_loss, rtol=1e-6)
    for a, b in zip(resumed_model.parameters(), full_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_best_val_without_a_split_keeps_the_last_weights(noise_task):
    data = TaskTensors.from_task(noise_task)
    cfg = TrainConfig(**{**OVERFIT.__dict__, "steps": 40})
    res = train_ensemble(build_model({"kind": "mlp"}, data.d_in, data.d_out, 8, 2, [0, 1]), data, cfg)
    assert np.isnan(res.val_loss).all()
    np.testing.assert_array_equal(res.selected, [cfg.steps // cfg.eval_every] * 2)


def test_train_config_select_and_with_lr():
    cfg = TrainConfig.from_config({"lr": 1e-3, "select": "last"})
    tuned = cfg.with_lr(0.05)
    assert tuned.lr == 0.05 and isinstance(tuned.lr, float)
    assert {**tuned.__dict__, "lr": cfg.lr} == cfg.__dict__
    assert TrainConfig().select == "best_val"
    assert TrainConfig.from_config({"select": "best_val_loss"}).select == "best_val_loss"
    with pytest.raises(Exception, match="train.optim.select"):
        TrainConfig.from_config({"select": "best_test"})


def test_run_cell_reports_the_kept_weights(noise_task):
    measure = MeasureConfig(
        probe_samples=16,
        hessian_points=1,
        hessian_iters=2,
        jacobian_samples=4,
        robust_samples=16,
        noise_sigmas=(0.0, 0.2),
        fgsm_eps=(0.05,),
        track_sigmas=(0.0, 0.2),
        track_eps=(0.05,),
    )
    cfg = OVERFIT
    v = Validation(0.25, 0)
    cell = run_cell(noise_task, CellSettings("mlp", {"kind": "mlp"}, 2, 16, (0, 1), cfg, measure, v))[0]
    assert {k: cell[k].values.tolist() for k in CELL_DIMS} == {
        "task": [noise_task.name],
        "model": ["mlp"],
        "depth": [2],
        "width": [16],
    }
    assert cell.kind.values.tolist() == [noise_task.kind]
    n_fit = len(TaskTensors.from_task(noise_task, validation=v).x_train)  # the split trained on
    np.testing.assert_allclose(cell.epoch_per_step.values, [cfg.batch_size / n_fit])
    np.testing.assert_allclose(cell.epoch.values, cell.eval_step.values * cfg.batch_size / n_fit)
    ds = cell.squeeze(list(CELL_DIMS), drop=True)
    i = [int(np.argmin(ds.val_loss.values[s])) for s in range(2)]
    np.testing.assert_allclose(ds.selected_epoch.values, ds.epoch.values[i])
    np.testing.assert_allclose(ds.final_test_metric.values, ds.test_metric.values[[0, 1], i], rtol=EVAL_TOL)
    np.testing.assert_allclose(ds.final_val_loss.values, ds.val_loss.values[[0, 1], i], rtol=EVAL_TOL)
    np.testing.assert_allclose(ds.late_improvement.values, late_improvement(ds.val_loss.values))
    assert float(ds.lr) == cfg.lr and int(ds.width_effective) == 16
    assert cell.clean_curve.dims == (*CELL_DIMS, "seed", "eval_step")
    assert ds.noise_curve.dims == ("seed", "eval_step", "track_sigma")
    assert ds.fgsm_curve.dims == ("seed", "eval_step", "track_eps")
    # noise sigma 0 is the clean curve; the gap of a regression task is relative: test / train MSE - 1
    np.testing.assert_allclose(ds.noise_curve.sel(track_sigma=0.0), ds.clean_curve)
    np.testing.assert_allclose(ds.gen_gap, ds.final_test_metric / ds.final_train_metric - 1, rtol=1e-12)
    # the kept weights' step, and the metrics under each checkpoint rule read off the curves
    np.testing.assert_allclose(ds.selected_step.values, ds.eval_step.values[i])
    np.testing.assert_allclose(ds.final_val_metric.values, ds.val_metric.values[[0, 1], i], rtol=EVAL_TOL)
    cp = ds.checkpoint_test_metric
    np.testing.assert_allclose(cp.sel(checkpoint="kept"), ds.final_test_metric, rtol=EVAL_TOL)
    np.testing.assert_allclose(cp.sel(checkpoint="last"), ds.test_metric.isel(eval_step=-1))
    np.testing.assert_allclose(cp.sel(checkpoint="best_val_loss"), ds.test_metric.values[[0, 1], i])
    np.testing.assert_allclose(
        ds.checkpoint_gen_gap.sel(checkpoint="last"),
        ds.test_metric.isel(eval_step=-1) / ds.train_metric.isel(eval_step=-1) - 1,
    )


# --- learning-rate tuning -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear_task():
    w = np.random.default_rng(9).standard_normal((4, 1))
    return _task("regression", 160, 40, 4, 1, lambda x, rng: x @ w + 0.01 * rng.standard_normal((len(x), 1)))


def test_run_tune_picks_the_best_validation_rate(linear_task):
    """1e-5 cannot fit in 100 steps, 1e3 diverges: the middle rate wins."""
    lrs = (1e-5, 3e-2, 1e3)
    tcfg = TrainConfig(steps=100, batch_size=32, eval_every=20)
    job = TuneSettings("mlp", {"kind": "mlp"}, 1, 16, TuneConfig(lrs, (100, 101)), tcfg, Validation(0.25, 0))
    tuned = run_tune(linear_task, job)
    assert tuned.chosen_lr.dims == tuple(CELL_DIMS) and tuned.val_loss.dims[-1] == "eval_step"
    ds = tuned.squeeze(list(CELL_DIMS), drop=True)
    score = ds.score.values
    assert float(ds.chosen_lr) == lrs[int(np.argmin(score))] == 3e-2
    assert ds.diverged.sel(lr=1e3).values.tolist() == [1, 1] and np.isinf(score[-1])
    assert ds.diverged.sel(lr=[1e-5, 3e-2]).values.sum() == 0
    assert score[1] < 0.1 * score[0]  # the tiny rate stays near the initial loss
    np.testing.assert_allclose(score, np.median(ds.best_val_loss.values, axis=1))
    finite = np.isfinite(ds.best_val_loss.values)
    np.testing.assert_allclose(ds.best_val_loss.values[finite], ds.val_loss.values[finite].min(-1), rtol=0)
    assert ds.at_edge.item() == 0 and ds.attrs["all_diverged"] == 0
    edge = run_tune(
        linear_task,
        TuneSettings("mlp", {"kind": "mlp"}, 1, 16, TuneConfig(lrs[:2], (100,)), tcfg, Validation(0.25, 0)),
    )
    assert edge.chosen_lr.item() == 3e-2 and edge.at_edge.item() == 1


def test_tune_config_sorts_the_grid():
    cfg = TuneConfig.from_train({"tune": {"lrs": [1e-2, 1e-4, 1e-3], "seeds": [101, 100]}})
    assert cfg.lrs == (1e-4, 1e-3, 1e-2) and cfg.seeds == (101, 100)


# --- late improvement ---------------------------------------------------------------------------


def test_late_improvement_hand_built_curves():
    # 9 evaluations: the last quarter of the budget is evaluations 7 and 8
    curves = np.array(
        [
            [5, 4, 3, 2, 2, 2, 2, 1, 0.5],  # still improving: (2 - 0.5) / 2
            [5, 4, 3, 2, 1, 1, 1, 1, 1],  # flattened
            [5, 4, 3, 2, 1, 2, 3, 4, 5],  # turned up
            [5, 4, np.nan, 2, 2, 2, 2, np.nan, 1],  # NaNs skipped: (2 - 1) / 2
            [np.nan] * 9,  # no finite value
        ]
    )
    out = late_improvement(curves)
    np.testing.assert_allclose(out[:4], [0.75, 0.0, 0.0, 0.5])
    assert np.isnan(out[4])
    # frac 0.9 of 8 intervals: only evaluation 0 comes before the last part of the budget
    np.testing.assert_allclose(late_improvement(curves[:1], frac=0.9), [(5 - 0.5) / 5])
    assert late_improvement(np.array([[3.0]]))[0] == 0.0  # one evaluation: nothing after it


# --- parameter matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec,target",
    [
        ({"kind": "mlp"}, {"kind": "structured"}),
        ({"kind": "mlp", "init": "orthogonal"}, {"kind": "resmlp"}),
        ({"kind": "structured"}, {"kind": "mlp"}),
    ],
)
def test_matched_width_is_closest_parameter_count(spec, target):
    d_in, d_out, width, depth = 5, 3, 32, 4
    spec, target = ModelSpec.from_config(spec), ModelSpec.from_config(target)

    def count(s, w):
        return build_model(s, d_in, d_out, w, depth, [0]).param_count()

    goal, w = count(target, width), matched_width(spec, target, d_in, d_out, width, depth)
    below, at, above = (count(spec, v) for v in (w - 1, w, w + 1))
    assert below < goal < above, "the target lies within one width step"
    assert abs(at - goal) <= min(abs(below - goal), abs(above - goal))
    assert abs(at - goal) / goal < 0.05


def test_resolve_width_only_for_matched_models():
    plain = ModelSpec.from_config({"kind": "mlp"})
    assert resolve_width(plain, None, 5, 3, 32, 4) == 32
    matched = ModelSpec.from_config({"kind": "mlp", "match_params": "structured"})
    w = resolve_width(matched, {"kind": "structured"}, 5, 3, 32, 4)
    assert w == matched_width(matched, ModelSpec.from_config({"kind": "structured"}), 5, 3, 32, 4) > 32
    with pytest.raises(ValueError, match="structured"):
        resolve_width(matched, None, 5, 3, 32, 4)


# --- the new baselines at init -------------------------------------------------------------------


def test_rezero_at_alpha_zero_is_identity_plus_embedding():
    d_in, d_out, width, depth, seeds = 5, 3, 16, 4, [0, 1]
    model = build_model({"kind": "rezero", "alpha": 0.0}, d_in, d_out, width, depth, seeds)
    assert model.spec.gate_mode == "scalar" and model.spec.operator == "I"
    assert torch.equal(model.alpha_scalar(), torch.zeros(len(seeds), depth))
    x = torch.randn(7, d_in)
    A, alpha = model.shaped(), model.alpha_scalar()
    h = torch.randn(len(seeds), 7, width)
    for l in range(depth):
        assert torch.equal(model.layer(l, h, A, alpha), h), f"layer {l}"
    out, hidden = model(x, return_hidden=True)
    for hl in hidden[1:]:
        assert torch.equal(hl, hidden[0])
    torch.testing.assert_close(out, model.readout(model.embed(x)), rtol=0, atol=0)
    # the gate learns: a nonzero gradient at alpha = 0 (U, V, c get none until it moves)
    loss = (out - torch.randn(out.shape)).pow(2).mean()
    loss.backward()
    assert (model.a.grad.abs() > 0).all()
    assert model.U.grad.abs().max() == 0 and model.V.grad.abs().max() == 0
    # the default gate of the config (alpha: 0.0) is what makes it the identity: alpha 0.1 is not
    assert not torch.equal(build_model({"kind": "rezero"}, d_in, d_out, width, depth, seeds)(x), out)


def test_snmlp_gain_keeps_the_hidden_norm_at_depth():
    """Orthogonal init: the operator is rho Q (sigma_max = rho exactly). ReLU halves the mean
    square per layer, so with rho = 1 the norm of h_16 is about 2^-8 of h_0 and with the gain
    rho = sqrt 2 it stays of the order of ||h_0|| (measured at width 128: mean ratio 0.87 and
    0.68 for the two seeds, 0.0034 and 0.0027 for rho = 1)."""
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    ratios = {}
    for rho in (np.sqrt(2), 1.0):
        model = build_model({"kind": "snmlp", "rho": rho, "init": "orthogonal"}, 8, 2, 128, 16, [0, 1]).eval()
        with torch.no_grad():
            sv = torch.linalg.svdvals(model.shaped().double())
            _, hidden = model(x, return_hidden=True)
        torch.testing.assert_close(sv, torch.full_like(sv, rho), atol=1e-5, rtol=0)
        ratios[rho] = (hidden[-1].norm(dim=-1) / hidden[0].norm(dim=-1)).mean(1)
    assert ((ratios[np.sqrt(2)] > 1 / 3) & (ratios[np.sqrt(2)] < 3)).all(), ratios
    assert (ratios[1.0] < 1e-2).all(), ratios
    torch.testing.assert_close(ratios[1.0], torch.full_like(ratios[1.0], 2.0**-8), rtol=0.5, atol=0)
