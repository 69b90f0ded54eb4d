"""Fashion-MNIST sources: the shipped 2,000-image subset (hashes, stratified split), the pooch
download end to end against a local HTTP server, and one-line errors for broken files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import shutil
import socket
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from learndyn import data
from learndyn.config import check_references, explain, load_schema

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / data.FASHION_SHIPPED_DIR
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
N_SHIPPED, N_CLASSES, N_FEATURES = 2000, 10, 784
# a class's share of a stratified split may miss its proportional target by less than one image
STRATA_TOL = 1.0
# sizes of the download fixture files
N_TRAIN_FIX, N_TEST_FIX = 30, 20


def shipped_spec(**kw):
    return {"generator": "fashion_mnist", "source": "shipped", "path": str(SHIPPED), "seed": 6, **kw}


def class_counts(y):
    return np.bincount(y, minlength=N_CLASSES)


# --- the shipped subset -----------------------------------------------------------------------


def test_shipped_files_match_their_pinned_hashes():
    for name in data.FASHION_SUBSET_FILES:
        assert data.sha256_of(SHIPPED / name) == data.FASHION_SHA256[name], name
    assert (SHIPPED / "LICENSE").read_text().count("Zalando SE") >= 1


def test_shipped_subset_loads():
    x, y = data.load_fashion_shipped(SHIPPED)
    assert x.shape == (N_SHIPPED, N_FEATURES) and y.shape == (N_SHIPPED,)
    assert set(np.unique(y)) == set(range(N_CLASSES))
    assert 0.0 <= x.min() and x.max() <= 1.0


@pytest.mark.parametrize("n_train,n_test", [(None, 500), (400, 200)])
def test_shipped_task_split_sizes_and_strata(n_train, n_test):
    spec = shipped_spec(n_test=n_test, **({"n_train": n_train} if n_train else {}))
    task = data.make_task("f", spec)
    expected_train = n_train or N_SHIPPED - n_test
    assert task.x_train.shape == (expected_train, N_FEATURES)
    assert task.x_test.shape == (n_test, N_FEATURES)
    assert task.kind == "classification" and task.n_classes == N_CLASSES
    assert set(np.unique(task.y_train)) == set(range(N_CLASSES))
    assert task.params == {"generator": "fashion_mnist", "source": "shipped"}
    # each class's test share is within one image of its proportional target
    _, y = data.load_fashion_shipped(SHIPPED)
    target_test = n_test * class_counts(y) / N_SHIPPED
    assert np.all(np.abs(class_counts(task.y_test) - target_test) < STRATA_TOL), class_counts(task.y_test)
    rest = class_counts(y) - class_counts(task.y_test)
    target_train = expected_train * rest / rest.sum()
    assert np.all(np.abs(class_counts(task.y_train) - target_train) < STRATA_TOL)


def test_stratified_split_is_a_partition_and_reproducible():
    _, y = data.load_fashion_shipped(SHIPPED)
    train, test = data.stratified_split(y, 500, seed=6)
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(N_SHIPPED))
    again = data.stratified_split(y, 500, seed=6)
    np.testing.assert_array_equal(train, again[0])
    np.testing.assert_array_equal(test, again[1])
    other = data.stratified_split(y, 500, seed=7)
    assert not np.array_equal(np.sort(test), np.sort(other[1])), "another seed gave the same test set"
    sub_train, sub_test = data.stratified_split(y, 200, seed=6, n_train=400)
    assert len(sub_train) == 400 and len(sub_test) == 200 and not np.intersect1d(sub_train, sub_test).size


def test_same_seed_gives_the_identical_task():
    a, b = data.make_task("f", shipped_spec(n_test=200)), data.make_task("f", shipped_spec(n_test=200))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    c = data.make_task("f", shipped_spec(n_test=200, seed=7))
    assert not np.array_equal(a.y_test, c.y_test)


def test_default_path_is_relative_to_the_working_directory(monkeypatch):
    monkeypatch.chdir(ROOT)
    task = data.make_task("f", {"generator": "fashion_mnist", "n_train": 100, "n_test": 50})
    assert len(task.y_train) == 100 and len(task.y_test) == 50


def test_too_many_shipped_images_requested():
    with pytest.raises(ValueError, match="n_train"):
        data.make_task("f", shipped_spec(n_train=1900, n_test=500))


def test_modified_shipped_file_is_refused_naming_it(tmp_path):
    copy = tmp_path / "fmnist"
    shutil.copytree(SHIPPED, copy)
    labels = copy / data.FASHION_SUBSET_FILES[1]
    y = data.read_idx(labels).copy()
    y[0] = (y[0] + 1) % N_CLASSES  # one label changed, still a valid IDX gzip
    labels.chmod(0o644)
    data.write_idx(y, labels)
    with pytest.raises(ValueError, match="SHA-256") as err:
        data.make_task("f", shipped_spec(path=str(copy), n_test=100))
    assert str(labels) in str(err.value) and "\n" not in str(err.value)


def test_missing_shipped_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=data.FASHION_SUBSET_FILES[0]):
        data.make_task("f", shipped_spec(path=str(tmp_path), n_test=100))


# --- download through pooch, end to end against a local server ----------------------------------


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(directory: Path):
    """A stdlib HTTP server on 127.0.0.1 (ephemeral port) serving ``directory``; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def official_files(tmp_path, monkeypatch):
    """The four official file names as tiny IDX gzips in tmp/served; FASHION_MD5 -> their MD5s."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", N_TRAIN_FIX), ("test", N_TEST_FIX)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, N_CLASSES, size=n, dtype=np.uint8)
        img_name, lab_name = data.FASHION_FILES[split]
        data.write_idx(images, served / f"{img_name}.gz")
        data.write_idx(labels, served / f"{lab_name}.gz")
        arrays[split] = (images, labels)
    md5 = {name: hashlib.md5((served / name).read_bytes()).hexdigest() for name in data.FASHION_MD5}
    monkeypatch.setattr(data, "FASHION_MD5", md5)
    return served, arrays


def download_spec(url, cache, **kw):
    return {"generator": "fashion_mnist", "source": "download", "url": url, "cache": str(cache), **kw}


def files_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_download_with_correct_hashes_loads_the_task(official_files, tmp_path):
    served, arrays = official_files
    cache = tmp_path / "cache"
    with serve(served) as url:
        task = data.make_task("f", download_spec(url, cache, n_train=N_TRAIN_FIX - 5))
    assert [p.name for p in files_in(cache)] == sorted(data.FASHION_MD5)
    for name in data.FASHION_MD5:
        assert (cache / name).read_bytes() == (served / name).read_bytes()
    assert task.x_train.shape == (N_TRAIN_FIX - 5, N_FEATURES) and len(task.y_test) == N_TEST_FIX
    np.testing.assert_array_equal(task.y_train, arrays["train"][1][: N_TRAIN_FIX - 5])
    np.testing.assert_array_equal(task.y_test, arrays["test"][1])
    # a filled cache is used as it is: no server needed the second time
    again = data.make_task("f", download_spec(f"http://127.0.0.1:{unused_port()}/", cache))
    np.testing.assert_array_equal(again.y_test, task.y_test)


def test_download_with_a_wrong_hash_is_refused_and_keeps_nothing(official_files, tmp_path, monkeypatch):
    served, _ = official_files
    name = next(iter(data.FASHION_MD5))  # the first file fetched
    monkeypatch.setitem(data.FASHION_MD5, name, "0" * 32)
    cache = tmp_path / "cache"
    with serve(served) as url, pytest.raises(ValueError, match="does not match") as err:
        data.download_fashion_mnist(url, cache)
    message = str(err.value)
    assert name in message and f"{url}{name}" in message and "\n" not in message
    assert files_in(cache) == [], "a refused download left files in the cache"
    # a wrong hash on the last file: the verified ones stay, nothing of the refused one
    last = list(data.FASHION_MD5)[-1]
    monkeypatch.setitem(data.FASHION_MD5, name, hashlib.md5((served / name).read_bytes()).hexdigest())
    monkeypatch.setitem(data.FASHION_MD5, last, "0" * 32)
    with serve(served) as url, pytest.raises(ValueError, match=last):
        data.download_fashion_mnist(url, cache)
    assert [p.name for p in files_in(cache)] == sorted(set(data.FASHION_MD5) - {last})


def test_download_with_the_server_down_names_file_and_url(official_files, tmp_path):
    url = f"http://127.0.0.1:{unused_port()}/"
    cache = tmp_path / "cache"
    with pytest.raises(ConnectionError, match="cannot connect") as err:
        data.make_task("f", download_spec(url, cache))
    message = str(err.value)
    assert f"{url}{next(iter(data.FASHION_MD5))}" in message and "\n" not in message
    assert files_in(cache) == [] and not cache.exists()


def test_download_of_a_missing_file_names_it(official_files, tmp_path):
    served, _ = official_files
    missing = "t10k-labels-idx1-ubyte.gz"
    (served / missing).unlink()
    cache = tmp_path / "cache"
    with serve(served) as url, pytest.raises(ConnectionError, match="404") as err:
        data.download_fashion_mnist(url, cache)
    assert f"{url}{missing}" in str(err.value)
    # the files before it were verified and stay; nothing of the failed one
    assert missing not in [p.name for p in files_in(cache)]
    assert not [p for p in files_in(cache) if p.name not in data.FASHION_MD5]


# --- broken files, bad keys, config checks -----------------------------------------------------


def test_corrupt_gzip_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"not really deflate data" * 4)
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as err:
        data.read_idx(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    good = tmp_path / "good.gz"
    data.write_idx(np.zeros((5, 28, 28)), good)
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(good.read_bytes()[:20])
    with pytest.raises(ValueError, match=str(truncated)):
        data.read_idx(truncated)


def test_corrupt_file_in_a_directory_is_named(tmp_path):
    for split in ("train", "test"):
        for name in data.FASHION_FILES[split]:
            data.write_idx(np.zeros((3, 28, 28) if "images" in name else (3,)), tmp_path / f"{name}.gz")
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x03")[:-6])
    with pytest.raises(ValueError, match=str(bad)):
        data.make_task("f", {"generator": "fashion_mnist", "source": "path", "path": str(tmp_path)})


@pytest.mark.parametrize("gz", [False, True])
def test_wrong_magic_is_one_line_naming_the_file(tmp_path, gz):
    bad = tmp_path / ("bad.gz" if gz else "bad")
    payload = b"\x01\x02\x03\x04" + b"\x00" * 16
    bad.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(ValueError, match="not an IDX file") as err:
        data.read_idx(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_short_idx_data_is_named(tmp_path):
    short = tmp_path / "short"
    data.write_idx(np.zeros((4, 28, 28)), short)
    short.write_bytes(short.read_bytes()[:-10])
    with pytest.raises(ValueError, match="needs 3136 bytes"):
        data.read_idx(short)


def test_unknown_source_names_the_field():
    spec = {"generator": "fashion_mnist", "source": "web"}
    with pytest.raises(ValueError, match="source 'web'"):
        data.make_task("f", spec)
    line = explain({"data": {"tasks": {"f": spec}}}, load_schema(SCHEMA))
    assert line.startswith("config error: data.tasks.f.source:")


def test_keys_of_another_source_are_refused():
    with pytest.raises(ValueError, match="url is not used with source 'shipped'"):
        data.make_task("f", shipped_spec(url="http://example.org/"))


def test_schema_fills_fashion_defaults_only_for_fashion_tasks():
    from snakemake.utils import validate

    config = {
        "data": {
            "tasks": {
                "shipped": {"generator": "fashion_mnist", "n_test": 500},
                "download": {"generator": "fashion_mnist", "source": "download"},
                "teacher": {"generator": "teacher", "n_train": 8, "n_test": 4},
            }
        }
    }
    validate(config, str(SCHEMA))
    tasks = config["data"]["tasks"]
    assert tasks["shipped"]["source"] == "shipped" and tasks["shipped"]["path"] == data.FASHION_SHIPPED_DIR
    assert tasks["download"]["url"] == data.FASHION_URL and tasks["download"]["cache"] == data.FASHION_CACHE
    assert "path" not in tasks["download"]
    assert not {"source", "path", "url", "cache"} & set(tasks["teacher"])


def config_with(spec):
    return {"data": {"tasks": {"fm": spec}}}


def test_config_check_of_a_missing_shipped_path(tmp_path):
    lines = check_references(config_with(shipped_spec(path=str(tmp_path / "nowhere"))))
    assert len(lines) == 1 and lines[0].startswith("config error: data.tasks.fm.path:")
    assert data.FASHION_SUBSET_FILES[0] in lines[0]
    assert check_references(config_with(shipped_spec())) == []


def test_config_check_per_source(tmp_path):
    missing_dir = {"generator": "fashion_mnist", "source": "path", "path": str(tmp_path / "no")}
    assert "data.tasks.fm.path: directory" in check_references(config_with(missing_dir))[0]
    assert check_references(config_with({**missing_dir, "path": str(tmp_path)})) == []
    download = {"generator": "fashion_mnist", "source": "download", "url": "http://127.0.0.1:9/"}
    assert check_references(config_with(download)) == []
    assert "data.tasks.fm.path" in check_references(config_with({**download, "path": "x"}))[0]
    teacher = {"generator": "teacher", "n_train": 4, "n_test": 2, "source": "shipped"}
    assert "data.tasks.fm.source" in check_references(config_with(teacher))[0]
