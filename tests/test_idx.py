"""The Fashion-MNIST IDX loader on small files written here, and training on the result."""

import numpy as np
import pytest
from conftest import TINY_MEASURE as MEASURE
from conftest import TINY_OPTIM as OPTIM

from learndyn.config import check_references
from learndyn.data import FASHION_FILES, load_fashion_mnist, make_task, read_idx, write_idx
from learndyn.train.experiments import CellSettings, run_cell

N_TRAIN, N_TEST = 24, 12


def _write_fixture(root, gz):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        img_name, lab_name = FASHION_FILES[split]
        suffix = ".gz" if gz else ""
        write_idx(images, root / (img_name + suffix))
        write_idx(labels, root / (lab_name + suffix))
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, gz):
    arrays = _write_fixture(tmp_path, gz)
    loaded = load_fashion_mnist(tmp_path)
    for split, (images, labels) in arrays.items():
        x, y = loaded[split]
        np.testing.assert_allclose(x, images.reshape(len(images), -1) / 255.0)
        np.testing.assert_array_equal(y, labels)
    name = FASHION_FILES["train"][0] + (".gz" if gz else "")
    assert read_idx(tmp_path / name).shape == (N_TRAIN, 28, 28)


def test_bad_magic_rejected(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04" + b"\x00" * 16)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def test_fashion_task_trains(tmp_path):
    """The training stage accepts a configured Fashion-MNIST task (tiny files, tiny run)."""
    _write_fixture(tmp_path, gz=True)
    spec = {
        "generator": "fashion_mnist",
        "source": "path",
        "path": str(tmp_path),
        "n_train": N_TRAIN,
        "n_test": N_TEST,
    }
    config = {"data": {"tasks": {"fashion_mnist": spec}}}
    assert check_references(config) == []
    task = make_task("fashion_mnist", spec)
    assert task.kind == "classification" and task.d_in == 784 and task.n_classes <= 10
    # the smallest cell the aggregation test trains, on the real subset
    cell = CellSettings("structured", {"kind": "structured"}, 2, 8, (0, 1), OPTIM, MEASURE)
    ds, _ = run_cell(task, cell)
    assert ds.test_metric.shape == (1, 1, 1, 1, 2, 3) and not ds.diverged.values.any()
