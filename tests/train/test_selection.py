"""The test split only reports: every choice (the kept weights, the matched evaluations of the
robustness comparison) reads validation data alone, and the checkpoint rule follows the task's
kind (best validation accuracy for classification, lowest validation loss for regression).

The structural tests poison the test split (NaN inputs, shuffled labels, perturbed test curves)
and require the same choices; a selection that read test data would change them."""

import inspect

import numpy as np
import pytest
import torch
import xarray as xr

from learndyn.data import Task
from learndyn.train.loop import TaskTensors, TrainConfig, Validation, improved_members, train_ensemble
from learndyn.train.models import build_model
from learndyn.train.selection import VALIDATION_VARS, ValidationView, match_on_validation, read_at

RULE = TrainConfig(lr=3e-2, steps=120, batch_size=32, eval_every=10, warmup_frac=0.0)


def _classification(seed: int = 0) -> Task:
    """Noisy labels of a linear rule: accuracy and cross-entropy peak at different times."""
    rng = np.random.default_rng(seed)
    x, xt = rng.standard_normal((120, 6)), rng.standard_normal((60, 6))
    w = rng.standard_normal(6)
    flip = lambda y: np.where(rng.random(len(y)) < 0.3, 1 - y, y)
    return Task(
        "toy_cls", "classification", x, flip((x @ w > 0).astype(int)), xt, (xt @ w > 0).astype(int), 2
    )


def _poisoned(task: Task) -> Task:
    """The same task with a test split that carries no information (NaN inputs, random labels)."""
    rng = np.random.default_rng(99)
    return Task(
        task.name,
        task.kind,
        task.x_train,
        task.y_train,
        np.full_like(task.x_test, np.nan),
        rng.permutation(task.y_test),
        task.n_classes,
    )


def _train(task: Task, cfg: TrainConfig = RULE):
    data = TaskTensors.from_task(task, validation=Validation(0.25, 0))
    model = build_model({"kind": "mlp"}, data.d_in, data.d_out, 16, 2, [0, 1, 2, 3])
    return train_ensemble(model, data, cfg), model, data


def test_improved_members_reads_accuracy_for_classification_and_loss_otherwise():
    best = {"val_loss": torch.tensor([1.0, 1.0, 1.0]), "val_metric": torch.tensor([0.5, 0.5, 0.5])}
    loss, acc = torch.tensor([2.0, 0.5, 0.9]), torch.tensor([0.6, 0.4, 0.5])
    # higher accuracy wins at a worse loss; a lower loss at a lower accuracy does not; a tie in
    # accuracy goes to the lower loss
    got = improved_members("best_val", "classification", loss, acc, best)
    assert got.tolist() == [True, False, True]
    assert improved_members("best_val", "regression", loss, acc, best).tolist() == [False, True, True]
    assert improved_members("best_val_loss", "classification", loss, acc, best).tolist() == [
        False,
        True,
        True,
    ]
    nan = torch.tensor([float("nan")] * 3)
    assert not improved_members("best_val", "classification", nan, nan, best).any()
    # the rule's signature: validation numbers and the kept ones, nothing else
    assert list(inspect.signature(improved_members).parameters) == [
        "rule",
        "kind",
        "val_loss",
        "val_metric",
        "best",
    ]


def test_classification_keeps_the_best_validation_accuracy():
    res, _, _ = _train(_classification())
    rows = np.arange(4)
    acc = res.val_metric
    assert (acc[rows, res.selected] == acc.max(1)).all()
    # among the evaluations of best accuracy, the kept one has the lowest validation loss
    for s in rows:
        ties = np.flatnonzero(acc[s] == acc[s].max())
        assert res.selected[s] == ties[np.argmin(res.val_loss[s, ties])]
    loss_rule, _, _ = _train(_classification(), TrainConfig(**{**RULE.__dict__, "select": "best_val_loss"}))
    np.testing.assert_array_equal(loss_rule.selected, np.argmin(loss_rule.val_loss, 1))
    assert (loss_rule.selected != res.selected).any(), "the construction separates the two rules"


def test_kept_weights_do_not_depend_on_the_test_split():
    task = _classification()
    res, model, data = _train(task)
    res_p, model_p, _ = _train(_poisoned(task))
    np.testing.assert_array_equal(res.selected, res_p.selected)
    np.testing.assert_array_equal(res.val_metric, res_p.val_metric)
    for a, b in zip(model.parameters(), model_p.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert np.isnan(res_p.test_loss).all() and not np.isnan(res.test_loss).any()  # it was poisoned


# --- matching on validation --------------------------------------------------------------------

EVAL_STEPS = [0, 10, 20, 30, 40]


def _cell(val_metric, kept_step, seed_count=3, rng=None) -> xr.Dataset:
    """A cell's curves: validation accuracy as given, test curves random."""
    rng = rng or np.random.default_rng(0)
    se = ("seed", "eval_step")
    coords = {"seed": np.arange(seed_count), "eval_step": EVAL_STEPS}
    val = np.broadcast_to(np.asarray(val_metric, float), (seed_count, len(EVAL_STEPS))).copy()
    test = rng.uniform(0.3, 1.0, val.shape)
    return xr.Dataset(
        {
            "val_metric": (se, val),
            "val_loss": (se, 1 - val),
            "selected_step": (("seed",), np.full(seed_count, float(kept_step))),
            "test_metric": (se, test),
            "clean_curve": (se, test),
            "noise_curve": (se, test - rng.uniform(0, 0.3, val.shape)),
        },
        coords=coords,
    )


def test_matching_reads_validation_only():
    a = _cell([0.2, 0.5, 0.7, 0.8, 0.9], kept_step=40)
    b = _cell([0.2, 0.4, 0.6, 0.7, 0.65], kept_step=30)
    m = match_on_validation(ValidationView.of(a), ValidationView.of(b))
    # the level: the highest validation accuracy every seed of both reaches, 0.7 (b's best); a
    # reaches it at evaluation 2, b at evaluation 3
    assert m.level == pytest.approx(0.7)
    assert m.idx_a.tolist() == [2, 2, 2] and m.idx_b.tolist() == [3, 3, 3]
    np.testing.assert_allclose(m.above_a, 0, atol=1e-12)
    # the view is built from the validation variables alone: dropping or poisoning every test
    # variable changes nothing
    test_vars = [v for v in a.data_vars if v not in VALIDATION_VARS]
    assert set(test_vars) == {"test_metric", "clean_curve", "noise_curve"}
    bare = ValidationView.of(a.drop_vars(test_vars))
    np.testing.assert_array_equal(bare.metric, ValidationView.of(a).metric)
    poisoned = a.assign(test_metric=a.test_metric[:, ::-1] * 0 + 0.7, clean_curve=a.clean_curve * np.nan)
    again = match_on_validation(ValidationView.of(poisoned), ValidationView.of(b))
    np.testing.assert_array_equal(again.idx_a, m.idx_a)
    assert again.level == m.level
    assert set(inspect.signature(match_on_validation).parameters) == {"a", "b"}


def _seeds(curves, kept_steps) -> xr.Dataset:
    """A cell whose seeds have their own validation curves."""
    cell = _cell(curves[0], kept_step=0, seed_count=len(curves))
    val = np.asarray(curves, float)
    return cell.assign(
        val_metric=(("seed", "eval_step"), val),
        val_loss=(("seed", "eval_step"), 1 - val),
        selected_step=("seed", np.asarray(kept_steps, float)),
    )


def test_every_seed_of_both_models_matches_at_one_level_per_pair():
    """The level is the lowest of the seeds' best validation accuracies over both models: a
    weak seed lowers it for all, and no seed drops out; each seed is read where its curve is
    lowest at or above the level (a curve that jumps over it is read past it: a loose match)."""
    a = _seeds(
        [[0.2, 0.5, 0.7, 0.9, 0.9], [0.2, 0.3, 0.4, 0.5, 0.95], [0.2, 0.6, 0.6, 0.6, 0.6]], [30, 40, 10]
    )
    b = _seeds(
        [[0.2, 0.4, 0.6, 0.8, 0.8], [0.2, 0.55, 0.6, 0.7, 0.7], [0.2, 0.7, 0.8, 0.8, 0.8]], [30, 30, 20]
    )
    m = match_on_validation(ValidationView.of(a), ValidationView.of(b))
    assert m.level == pytest.approx(0.6)  # seed 2 of a: best 0.6
    # a: seed 0 at 0.7 (evaluation 2), seed 1 jumps from 0.5 to 0.95 (evaluation 4, 0.35 above),
    # seed 2 at its last 0.6 (ties: the later one); b: the first 0.6 or the lowest above it
    assert m.idx_a.tolist() == [2, 4, 4] and m.idx_b.tolist() == [2, 2, 1]
    np.testing.assert_allclose(m.above_a, [0.1, 0.35, 0.0], atol=1e-12)
    np.testing.assert_allclose(m.above_b, [0.0, 0.0, 0.1], atol=1e-12)
    assert (m.idx_a >= 0).all() and (m.idx_b >= 0).all()  # nobody dropped
    assert m.loose(0.05) == 3 and m.loose(0.2) == 1 and m.loose(0.5) == 0
    assert m.max_above == pytest.approx(0.35)
    # the chosen evaluations reach the level in both models
    rows = np.arange(3)
    assert (a.val_metric.values[rows, m.idx_a] >= m.level).all()
    assert (b.val_metric.values[rows, m.idx_b] >= m.level).all()


def test_matching_reads_at_minus_one_as_nan_without_kept_weights():
    # a seed without kept weights (a diverged seed) has no match and does not set the level
    c = _seeds(
        [[0.2, 0.3, 0.3, 0.3, 0.3], [0.2, 0.4, 0.6, 0.8, 0.9], [0.2, 0.4, 0.6, 0.8, 0.9]], [np.nan, 40, 40]
    )
    b = _cell([0.2, 0.4, 0.6, 0.8, 0.8], kept_step=40)
    m = match_on_validation(ValidationView.of(c), ValidationView.of(b))
    assert m.level == pytest.approx(0.8)
    assert m.idx_a.tolist() == [-1, 3, 3] and m.idx_b.tolist() == [-1, 4, 4]  # ties: the later
    assert np.isnan(read_at(np.ones((3, 5)), m.idx_a))[0] and np.isnan(m.above_a[0])
    assert m.loose(0.0) == 0
    # no seed with kept weights in both: no level, no match
    none = c.assign(selected_step=("seed", [np.nan] * 3))
    m = match_on_validation(ValidationView.of(none), ValidationView.of(b))
    assert np.isnan(m.level) and (m.idx_a == -1).all() and (m.idx_b == -1).all()


def test_ties_take_the_later_evaluation():
    a = _cell([0.2, 0.7, 0.7, 0.7, 0.7], kept_step=10)
    b = _cell([0.2, 0.7, 0.7, 0.7, 0.7], kept_step=10)
    m = match_on_validation(ValidationView.of(a), ValidationView.of(b))
    assert m.idx_a.tolist() == [4, 4, 4]
