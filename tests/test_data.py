"""Data stage: generator shapes, determinism, on-disk round trip, IDX reader."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learndyn import data

SIZES = {"n_train": 40, "n_test": 10}
GENERATOR_SPECS = {
    "teacher": {"d": 8, "width": 4},
    "linear_correction": {"d": 12},
    "deep_teacher": {"d": 12, "width": 16, "depth": 3},
    "spirals": {"d": 12},
}


@pytest.mark.parametrize("generator", sorted(GENERATOR_SPECS))
def test_generator_shapes_and_determinism(generator):
    spec = {"generator": generator, "seed": 7, **SIZES, **GENERATOR_SPECS[generator]}
    a, b = data.make_task("t", spec), data.make_task("t", spec)
    d = GENERATOR_SPECS[generator]["d"]
    assert a.x_train.shape == (40, d) and a.x_test.shape == (10, d)
    assert len(a.y_train) == 40 and len(a.y_test) == 10
    np.testing.assert_array_equal(a.x_train, b.x_train, err_msg="same seed must give same data")
    c = data.make_task("t", {**spec, "seed": 8})
    assert not np.allclose(a.x_train, c.x_train), "different seeds gave identical inputs"


def test_teacher_inputs_lie_on_sphere():
    task = data.make_task("t", {"generator": "teacher", "d": 9, **SIZES})
    np.testing.assert_allclose((task.x_train**2).sum(1) / 9, 1.0, rtol=1e-12)


def test_linear_correction_target_matches_its_definition():
    """Independent recomputation of y = 0.9 Q x + gamma tanh(G x) with the same rng stream."""
    spec = {"generator": "linear_correction", "d": 6, "gamma": 0.5, "noise": 0.0, "seed": 3, **SIZES}
    task = data.make_task("t", spec)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 6))
    q = data.random_orthogonal(rng, 6, 6)
    g = rng.standard_normal((6, 6)) / np.sqrt(6)
    np.testing.assert_allclose(task.y_train, (x @ (0.9 * q).T + 0.5 * np.tanh(x @ g.T))[:40])
    np.testing.assert_allclose(q.T @ q, np.eye(6), atol=1e-12)


def test_digit_subset_and_standardisation():
    task = data.make_task("d", {"generator": "digits", "classes": [3, 7], "n_test": 50})
    assert task.kind == "classification" and task.n_classes == 2
    assert set(np.unique(task.y_train)) == {0, 1}
    np.testing.assert_allclose(task.x_train.mean(0), 0.0, atol=1e-9)


def test_dataset_round_trip(tmp_path):
    from learndyn.io import write_netcdf

    for spec in ({"generator": "spirals", "d": 5, **SIZES}, {"generator": "teacher", "d": 5, **SIZES}):
        task = data.make_task("rt", spec)
        write_netcdf(data.task_to_dataset(task), tmp_path / "rt.nc")
        back = data.load_task(tmp_path / "rt.nc")
        assert back.kind == task.kind and back.params == task.params
        np.testing.assert_array_equal(back.x_train, task.x_train)
        np.testing.assert_array_equal(back.y_test, task.y_test)


def test_fashion_missing_directory_is_clear():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_fashion_mnist("/nonexistent/fashion")


@settings(max_examples=25, deadline=None)
@given(
    generator=st.sampled_from(sorted(GENERATOR_SPECS)),
    n_train=st.integers(1, 30),
    n_test=st.integers(1, 10),
    d=st.integers(2, 9),
    seed=st.integers(0, 2**31 - 1),
)
def test_any_valid_size_gives_consistent_shapes(generator, n_train, n_test, d, seed):
    spec = {
        **GENERATOR_SPECS[generator],
        "generator": generator,
        "n_train": n_train,
        "n_test": n_test,
        "d": d,
        "seed": seed,
    }
    task = data.make_task("h", spec)
    assert task.x_train.shape == (n_train, d) and task.x_test.shape == (n_test, d)
    assert task.x_train.dtype == np.float64 and np.isfinite(task.x_train).all()
    assert len(task.y_train) == n_train and np.isfinite(task.y_train).all()


@pytest.mark.parametrize(
    "bad",
    [
        {"n_train": 0},
        {"n_train": -3},
        {"n_test": 2.5},
        {"d": 0},
        {"generator": "imagenet"},
        {"n_train": None},
    ],
)
def test_make_task_rejects_bad_specs(bad):
    spec = {"generator": "teacher", "n_train": 10, "n_test": 5, "d": 4, **bad}
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(ValueError, match="task 'bad'"):
        data.make_task("bad", spec)
