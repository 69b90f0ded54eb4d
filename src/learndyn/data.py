"""Task generators and the on-disk task format (spec structured-layers.md §4; gram-hierarchy.md §9).

Every task is a dataset with variables ``x_train (sample_train, feature)``,
``x_test (sample_test, feature)`` and targets ``y_train``/``y_test``: float
``(sample_*, output)`` for regression, integer labels ``(sample_*,)`` for classification.
Generator parameters are stored in the attrs. Nothing is downloaded unless a task asks for it:
the digits ship with scikit-learn, a 2,000-image Fashion-MNIST subset ships in
``data/fashion-mnist-2k`` (``source: shipped``), and the full Fashion-MNIST is read from IDX
files at a configured path (``source: path``) or fetched and checked (``source: download``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

GENERATORS = ("teacher", "linear_correction", "deep_teacher", "spirals", "digits", "fashion_mnist")


@dataclass
class Task:
    """A supervised task held in memory (numpy arrays, float64 inputs)."""

    name: str
    kind: str  # "regression" or "classification"
    x_train: np.ndarray  # (n_train, d)
    y_train: np.ndarray  # (n_train, k) float or (n_train,) int
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = 0
    params: dict = field(default_factory=dict)

    @property
    def d_in(self) -> int:
        return self.x_train.shape[1]

    @property
    def d_out(self) -> int:
        return self.n_classes if self.kind == "classification" else self.y_train.shape[1]


# --- generators: each returns (x, y) for n_train + n_test samples ------------------------


def sphere_inputs(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Gaussian directions scaled to the sphere of radius sqrt(d), so x·x/d = 1. Shape (n, d)."""
    x = rng.standard_normal((n, d))
    return x * np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)


def teacher(rng, n, d=16, width=8, noise=0.0, **_):
    """y = a·relu(W x/sqrt d)/sqrt(width) + noise, inputs on the sphere (theory data)."""
    x = sphere_inputs(rng, n, d)
    w = rng.standard_normal((width, d))
    a = rng.choice([-1.0, 1.0], size=width)
    y = np.maximum(x @ w.T / np.sqrt(d), 0.0) @ a / np.sqrt(width)
    y = y - y.mean()
    return x, (y + noise * rng.standard_normal(n))[:, None]


def random_orthogonal(rng, rows, cols) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal columns (rows >= cols) or rows."""
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def linear_correction(rng, n, d=32, gamma=0.5, noise=0.1, **_):
    """y = T x + gamma tanh(G x) + noise, T = 0.9 * orthogonal, G ~ N(0, 1/d) (spec §4)."""
    x = rng.standard_normal((n, d))
    t = 0.9 * random_orthogonal(rng, d, d)
    g = rng.standard_normal((d, d)) / np.sqrt(d)
    y = x @ t.T + gamma * np.tanh(x @ g.T)
    return x, y + noise * rng.standard_normal(y.shape)


def deep_teacher(rng, n, d=32, width=64, depth=4, noise=0.0, **_):
    """Random ReLU teacher MLP (depth hidden layers), every weight rescaled to ||W||_2 = 1."""
    x = rng.standard_normal((n, d))
    h, fan_in = x, d
    for _ in range(depth):
        w = rng.standard_normal((width, fan_in))
        h = np.maximum(h @ (w / np.linalg.norm(w, 2)).T * np.sqrt(width), 0.0)
        fan_in = width
    w_out = rng.standard_normal((1, fan_in))
    y = h @ (w_out / np.linalg.norm(w_out, 2)).T
    y = (y - y.mean()) / y.std()
    return x, y + noise * rng.standard_normal(y.shape)


def spirals(rng, n, d=32, noise=0.1, turns=1.5, **_):
    """Two interleaved 2-D spirals lifted to d dimensions by a random orthonormal map."""
    label = rng.integers(0, 2, size=n)
    t = np.sqrt(rng.uniform(0, 1, size=n)) * turns * 2 * np.pi
    radius = t / (turns * 2 * np.pi)
    angle = t + np.pi * label
    xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    xy = (xy + noise * rng.standard_normal(xy.shape)) * 2.0
    return xy @ random_orthogonal(rng, d, 2).T, label


def digits(rng, n=None, classes=None, **_):
    """scikit-learn's bundled 8x8 digits (1797 images, offline), optionally a class subset."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    if classes:
        keep = np.isin(y, classes)
        x, y = x[keep], np.searchsorted(np.asarray(sorted(classes)), y[keep])
    order = rng.permutation(len(y))
    return x[order].astype(float), y[order]


# --- Fashion-MNIST: shipped subset, a directory of IDX files, or a verified download ------

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# pinned file names, checksums and URLs of Fashion-MNIST (a light module: the workflow reads it)
from .sources import (  # noqa: E402
    FASHION_CACHE,
    FASHION_FILES,
    FASHION_MD5,
    FASHION_SHA256,
    FASHION_SHIPPED_DIR,
    FASHION_SOURCE_KEYS,
    FASHION_SOURCES,
    FASHION_SUBSET_FILES,
    FASHION_URL,
)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): magic (0, 0, dtype, ndim), big-endian dims, data.

    A missing file raises ``FileNotFoundError``; a corrupt or truncated gzip stream, a wrong
    magic or too little data raises a one-line ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: IDX file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({_one_line(exc)})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({_one_line(exc)})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (magic {raw[:4].hex()})")
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions announced)")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(IDX_DTYPES[dtype_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - 4 - 4 * ndim != expected:
        raise ValueError(
            f"{path}: IDX data of shape {tuple(shape)} needs {expected} bytes, "
            f"the file holds {len(raw) - 4 - 4 * ndim}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    return data.reshape(shape)


def write_idx(array: np.ndarray, path: str | Path) -> None:
    """Write a uint8 array as an IDX file (used by tests to make small fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(header + array.tobytes())


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def find_idx(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"Fashion-MNIST file {stem}[.gz] not found in {root}")


def read_fashion_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from an image and a label IDX file: x (n, 784) in [0, 1], y (n,) int in 0..9."""
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"{images}: expected Fashion-MNIST images (n, 28, 28), got shape {x.shape}")
    if y.ndim != 1 or (len(y) and not 0 <= y.min() <= y.max() <= 9):
        raise ValueError(f"{labels}: expected labels 0-9 of shape (n,), got shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{images}: {len(x)} images but {labels} has {len(y)} labels")
    return x.reshape(-1, 28 * 28).astype(float) / 255.0, y.astype(np.int64)


def load_fashion_mnist(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (x, y), "test": (x, y)} from the standard IDX files in directory ``path``."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"Fashion-MNIST directory {root} does not exist")
    return {
        split: read_fashion_pair(find_idx(root, images), find_idx(root, labels))
        for split, (images, labels) in FASHION_FILES.items()
    }


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def load_fashion_shipped(path: str | Path = FASHION_SHIPPED_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the shipped subset (2,000 images) in directory ``path``, each file checked
    against its pinned SHA-256 (``FASHION_SHA256``) before it is read."""
    root = Path(path)
    files = [root / name for name in FASHION_SUBSET_FILES]
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(
                f"{file}: shipped Fashion-MNIST subset file not found (source: shipped reads "
                f"{' and '.join(FASHION_SUBSET_FILES)} from path; source: path reads a directory "
                "with the four standard IDX files)"
            )
        digest, pinned = sha256_of(file), FASHION_SHA256[file.name]
        if digest != pinned:
            raise ValueError(
                f"{file}: SHA-256 {digest} does not match the pinned {pinned} "
                f"(a changed or corrupt copy; restore it from {FASHION_SHIPPED_DIR} in git)"
            )
    return read_fashion_pair(*files)


def download_fashion_mnist(url: str = FASHION_URL, cache: str | Path = FASHION_CACHE) -> Path:
    """Fetch the four official files from base ``url`` into directory ``cache`` with pooch
    (each checked against its pinned MD5, ``FASHION_MD5``; files already in the cache with the
    right hash are not fetched again) and return ``cache``.

    A failed download (offline, server down, HTTP error: ``ConnectionError``) or a wrong hash
    (``ValueError``) raises one line naming the file and its URL. pooch writes to a temporary
    file and moves it into place only once its hash matches, so a failure leaves nothing in the
    cache (a cache directory created here and left empty is removed)."""
    import pooch
    import requests

    cache = Path(cache)
    created = not cache.exists()
    for name, md5 in FASHION_MD5.items():
        file_url = url.rstrip("/") + "/" + name
        try:
            pooch.retrieve(file_url, known_hash=f"md5:{md5}", fname=name, path=cache, progressbar=False)
            continue
        except ValueError as exc:
            got = re.search(r"does not match the known hash: .* but got (\w+)", str(exc))
            error = ValueError
            problem = f"MD5 {got[1]} does not match the pinned {md5}" if got else _one_line(exc)
        except requests.exceptions.ConnectionError:
            error, problem = ConnectionError, "cannot connect (offline, or the server is down)"
        except requests.exceptions.Timeout:
            error, problem = ConnectionError, "timed out"
        except requests.exceptions.RequestException as exc:
            error, problem = ConnectionError, _one_line(exc)
        except OSError as exc:
            error, problem = OSError, _one_line(exc)
        if created and cache.is_dir() and not any(cache.iterdir()):
            cache.rmdir()
        raise error(f"{name}: download from {file_url} failed: {problem}; nothing kept in {cache}") from None
    return cache


def stratified_split(
    y: np.ndarray, n_test: int, seed: int, n_train: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) of labels ``y``, stratified by class.

    ``n_test`` points go to test, each class contributing its share of them (within one point:
    largest remainders); of the rest, all go to train, or a stratified subsample of ``n_train``.
    Drawn with ``numpy.random.default_rng(seed)``; both index arrays come in random order."""
    y = np.asarray(y)
    rest_size = len(y) - n_test
    if not 0 < n_test < len(y) or not 0 < (n_train or rest_size) <= rest_size:
        raise ValueError(
            f"cannot split {len(y)} points into n_test={n_test} and n_train={n_train} "
            f"(n_train + n_test must be at most {len(y)}, each at least 1)"
        )
    rng = np.random.default_rng(seed)
    groups = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    k_test = _allocate(np.array([len(g) for g in groups]), n_test)
    test = np.concatenate([g[:k] for g, k in zip(groups, k_test)])
    rest = [g[k:] for g, k in zip(groups, k_test)]
    k_train = _allocate(np.array([len(g) for g in rest]), n_train or rest_size)
    train = np.concatenate([g[:k] for g, k in zip(rest, k_train)])
    return rng.permutation(train), rng.permutation(test)


def _allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` over groups of sizes ``counts`` in proportion (largest remainders)."""
    quota = counts * n / counts.sum()
    share = np.floor(quota).astype(int)
    share[np.argsort(share - quota, kind="stable")[: n - share.sum()]] += 1
    return share


def fashion_mnist_arrays(name: str, spec: dict, n_train, n_test, seed: int):
    """(x_train, y_train, x_test, y_test) of a ``fashion_mnist`` task from its ``source``."""
    source = spec.get("source", "shipped")
    if source not in FASHION_SOURCES:
        raise ValueError(f"task {name!r}: unknown source {source!r}; choose from {FASHION_SOURCES}")
    unused = [k for k in ("path", "url", "cache") if k in spec and k not in FASHION_SOURCE_KEYS[source]]
    if unused:
        raise ValueError(f"task {name!r}: {unused[0]} is not used with source {source!r}")
    if source == "shipped":
        x, y = load_fashion_shipped(spec.get("path", FASHION_SHIPPED_DIR))
        n_test = n_test or len(y) // 4
        train, test = stratified_split(y, n_test, seed, n_train)
        return x[train], y[train], x[test], y[test]
    if source == "path":
        if "path" not in spec:
            raise ValueError(f"task {name!r}: source 'path' needs path (a directory with the IDX files)")
        splits = load_fashion_mnist(spec["path"])
    else:
        splits = load_fashion_mnist(
            download_fashion_mnist(spec.get("url", FASHION_URL), spec.get("cache", FASHION_CACHE))
        )
    (x_tr, y_tr), (x_te, y_te) = splits["train"], splits["test"]
    return x_tr[:n_train], y_tr[:n_train], x_te[:n_test], y_te[:n_test]


# --- assembling a task ----------------------------------------------------------------------


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance per feature with train statistics (constant features stay 0)."""
    mean, std = x_train.mean(0), x_train.std(0)
    std = np.where(std > 0, std, 1.0)
    return (x_train - mean) / std, (x_test - mean) / std


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit indices, validation indices) of a training split with targets ``y``.

    ``fraction`` of the points go to validation, drawn with ``numpy.random.default_rng(seed)``;
    class labels (1-D integer ``y``) are split per class (stratified, at least one point per
    class in each part when a class has two or more). Both index arrays are sorted.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction!r}")
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        groups = [np.flatnonzero(y == c) for c in np.unique(y)]
    else:
        groups = [np.arange(len(y))]
    val = []
    for idx in groups:
        k = int(round(fraction * len(idx)))
        k = min(max(k, 1 if len(idx) >= 2 else 0), len(idx) - 1) if len(idx) >= 2 else 0
        val.append(rng.permutation(idx)[:k])
    val = np.sort(np.concatenate(val)).astype(int)
    fit = np.setdiff1d(np.arange(len(y)), val)
    if len(val) == 0 or len(fit) == 0:
        raise ValueError(f"validation split of {len(y)} points with fraction {fraction} leaves a part empty")
    return fit, val


def make_task(name: str, spec: dict) -> Task:
    """Generate task ``name`` from its config entry (``generator``, ``n_train``, ``n_test``, ...)."""
    spec = dict(spec)
    gen = spec.pop("generator", None)
    if gen not in GENERATORS:
        raise ValueError(f"task {name!r}: unknown generator {gen!r}; choose from {GENERATORS}")
    n_train, n_test = spec.pop("n_train", None), spec.pop("n_test", None)
    for key, value in (
        ("n_train", n_train),
        ("n_test", n_test),
        *((k, spec.get(k)) for k in ("d", "width", "depth")),
    ):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"task {name!r}: {key} must be a positive integer, got {value!r}")
    if gen not in ("digits", "fashion_mnist") and (n_train is None or n_test is None):
        raise ValueError(f"task {name!r}: generator {gen!r} needs n_train and n_test")
    seed = spec.pop("seed", 0)
    rng = np.random.default_rng(seed)
    if gen == "fashion_mnist":
        x_tr, y_tr, x_te, y_te = fashion_mnist_arrays(name, spec, n_train, n_test, seed)
        spec = {"source": spec.get("source", "shipped")}  # path, url, cache: where, not what
    else:
        fn = globals()[gen]
        n = None if gen == "digits" else n_train + n_test
        x, y = fn(rng, n, **spec)
        if gen == "digits":
            n_test = n_test or len(y) // 4
            n_train = min(n_train or len(y) - n_test, len(y) - n_test)
        x_tr, y_tr = x[:n_train], y[:n_train]
        x_te, y_te = x[n_train : n_train + n_test], y[n_train : n_train + n_test]
    if gen in ("digits", "fashion_mnist"):
        x_tr, x_te = standardize(x_tr, x_te)
    kind = "classification" if y_tr.ndim == 1 else "regression"
    n_classes = int(max(y_tr.max(), y_te.max()) + 1) if kind == "classification" else 0
    return Task(name, kind, x_tr, y_tr, x_te, y_te, n_classes, {"generator": gen, **spec})


def task_to_dataset(task: Task) -> xr.Dataset:
    """The on-disk form of a task, with CF attributes on every variable."""
    feat = {"long_name": "input feature", "units": "1"}
    if task.kind == "regression":
        tgt = {"long_name": "regression target", "units": "1"}
        y_dims = lambda split: (f"sample_{split}", "output")
    else:
        tgt = {"long_name": "class label", "units": "1"}
        y_dims = lambda split: (f"sample_{split}",)
    ds = xr.Dataset(
        {
            "x_train": (("sample_train", "feature"), task.x_train, feat),
            "y_train": (y_dims("train"), task.y_train, tgt),
            "x_test": (("sample_test", "feature"), task.x_test, feat),
            "y_test": (y_dims("test"), task.y_test, tgt),
        }
    )
    ds.attrs.update(
        task=task.name,
        kind=task.kind,
        n_classes=task.n_classes,
        generator_params=json.dumps(task.params, sort_keys=True, default=str),
    )
    return ds


def dataset_to_task(ds: xr.Dataset) -> Task:
    return Task(
        ds.attrs["task"],
        ds.attrs["kind"],
        ds.x_train.values,
        ds.y_train.values,
        ds.x_test.values,
        ds.y_test.values,
        int(ds.attrs["n_classes"]),
        json.loads(ds.attrs["generator_params"]),
    )


def load_task(path: str | Path) -> Task:
    """Read a task written by the data stage (``results/data/{task}.nc``)."""
    from .io import open_dataset

    return dataset_to_task(open_dataset(path))


def summary_table(tasks: list[Task]):
    """One row per task: kind, sizes and dimensions (for the paper's data table)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "task": t.name.replace("_", r"\_"),
                "kind": t.kind,
                "train": len(t.x_train),
                "test": len(t.x_test),
                "inputs": t.d_in,
                "outputs": t.d_out,
            }
            for t in tasks
        ]
    )
