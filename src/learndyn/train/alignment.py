"""Cross-model representation alignment: how similar are the hidden representations of two networks?

Every function compares two representations of the same inputs: ``X (n, p)`` and ``Y (n, q)``,
rows are the same ``n`` held-out inputs (in the same order), columns are units. The two models may
have different widths (``p != q``). Inputs are numpy arrays (converted to float64), outputs plain
floats or dicts of floats.

Unit ``j`` of one network has no reason to correspond to unit ``j`` of the other, so every measure
here is invariant to an orthogonal change of basis of either representation (and, except the
probes, to isotropic scaling):

- :func:`linear_cka`, :func:`cka_matrix`: linear centred kernel alignment (Kornblith et al. 2019).
- :func:`procrustes_residual`: what is left after the best rotation of one onto the other.
- :func:`knn_jaccard`: overlap of the k-nearest-neighbour sets of every input.
- :func:`fit_probe`, :func:`probe_score`: a linear probe (logistic / ridge regression).
- :func:`cross_probe_ratio`: a probe fitted on model A, applied to model B mapped into A's
  coordinates by an orthogonal Procrustes map.
- :func:`alignment_measures`: all of the above for one pair of models, as one dict.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

PROBE_KINDS = ("classification", "regression")
CONSTANT_RTOL = 1e-12  # max |X - mean| <= CONSTANT_RTOL * max |X|: the representation is constant
LOGISTIC_MAX_ITER = 1000
RIDGE_ALPHA = 1.0


# --- helpers ---------------------------------------------------------------------------


def _as_rep(X, name: str = "X") -> np.ndarray:
    """A representation as a float64 ``(n, p)`` array."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, units), got shape {X.shape}")
    return X


def _as_pair(X, Y) -> tuple[np.ndarray, np.ndarray]:
    X, Y = _as_rep(X, "X"), _as_rep(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must have the same rows (inputs), got {X.shape[0]} and {Y.shape[0]}")
    return X, Y


def _centre(X: np.ndarray) -> np.ndarray:
    """Columns minus their means, ``(n, p)``."""
    return X - X.mean(axis=0)


def _is_constant(X: np.ndarray, Xc: np.ndarray) -> bool:
    """Whether every row of ``X`` is the same (``Xc`` = centred ``X`` is zero up to rounding)."""
    if Xc.size == 0:
        return True
    return bool(np.max(np.abs(Xc)) <= CONSTANT_RTOL * np.max(np.abs(X)))


def _pad(X: np.ndarray, width: int) -> np.ndarray:
    """``X (n, p)`` with zero columns appended up to ``(n, width)``, ``width >= p``."""
    return np.pad(X, ((0, 0), (0, width - X.shape[1])))


def _check_kind(kind: str) -> None:
    if kind not in PROBE_KINDS:
        raise ValueError(f"kind must be one of {PROBE_KINDS}, got {kind!r}")


# --- centred kernel alignment ----------------------------------------------------------


def _cka_centred(Xc: np.ndarray, Yc: np.ndarray, xx: float, yy: float) -> float:
    """Linear CKA of centred ``Xc (n, p)``, ``Yc (n, q)`` with ``xx = ||XcᵀXc||_F`` etc."""
    return float(np.linalg.norm(Yc.T @ Xc) ** 2 / (xx * yy))


def linear_cka(X, Y) -> float:
    """Linear centred kernel alignment of ``X (n, p)`` and ``Y (n, q)`` (Kornblith et al. 2019).

    With ``Xc``, ``Yc`` the column-centred representations,

        CKA = ||YcᵀXc||_F² / (||XcᵀXc||_F ||YcᵀYc||_F)  in [0, 1],

    i.e. the cosine similarity of the centred linear Gram matrices ``XcXcᵀ`` and ``YcYcᵀ``
    (arXiv 1905.00414, eq. (5)). Invariant to orthogonal maps and isotropic scaling of either
    representation (so also to width: ``X`` and ``X @ Q`` with orthonormal columns ``Q (p, q)``
    give 1), but not to general invertible linear maps. Near 0 for independent representations
    with ``n >> p, q`` (bias of order ``sqrt(p q) / n``).

    Returns NaN if either representation is constant (zero after centring).
    """
    X, Y = _as_pair(X, Y)
    Xc, Yc = _centre(X), _centre(Y)
    if _is_constant(X, Xc) or _is_constant(Y, Yc):
        return float("nan")
    return _cka_centred(Xc, Yc, np.linalg.norm(Xc.T @ Xc), np.linalg.norm(Yc.T @ Yc))


def cka_matrix(reps: list[np.ndarray]) -> np.ndarray:
    """Linear CKA between every pair of representations ``reps[i] (n, p_i)`` (same ``n``).

    Returns a symmetric ``(m, m)`` array, ``m = len(reps)``, with ones on the diagonal; the row
    and column of a constant representation are NaN (diagonal included).
    """
    reps = [_as_rep(R, f"reps[{i}]") for i, R in enumerate(reps)]
    if len({R.shape[0] for R in reps}) > 1:
        raise ValueError(f"all representations must have the same rows, got {[R.shape for R in reps]}")
    cent = [_centre(R) for R in reps]
    const = [_is_constant(R, Rc) for R, Rc in zip(reps, cent)]
    self_norm = [np.nan if c else np.linalg.norm(Rc.T @ Rc) for Rc, c in zip(cent, const)]
    m = len(reps)
    out = np.full((m, m), np.nan)
    for i in range(m):
        if const[i]:
            continue
        out[i, i] = 1.0
        for j in range(i + 1, m):
            if not const[j]:
                out[i, j] = out[j, i] = _cka_centred(cent[i], cent[j], self_norm[i], self_norm[j])
    return out


# --- Procrustes --------------------------------------------------------------------------


def procrustes_residual(X, Y) -> float:
    """Orthogonal Procrustes residual of ``X (n, p)`` and ``Y (n, q)``.

    Both are centred, scaled to unit Frobenius norm and the narrower is zero-padded to the width
    ``d = max(p, q)``; then

        R = min over orthogonal Q (d, d) of ||X - Y Q||_F²  =  2 - 2 ||YᵀX||_*  in [0, 2]

    (``scipy.linalg.orthogonal_procrustes``; ``||.||_*`` the nuclear norm). 0 iff ``Y`` is an
    orthogonal transform of ``X`` up to scale (and translation); near 2 for independent
    representations with ``n >> p, q``. Symmetric in ``X``, ``Y``. NaN if either is constant.
    """
    X, Y = _as_pair(X, Y)
    Xc, Yc = _centre(X), _centre(Y)
    if _is_constant(X, Xc) or _is_constant(Y, Yc):
        return float("nan")
    d = max(X.shape[1], Y.shape[1])
    Xn = _pad(Xc / np.linalg.norm(Xc), d)
    Yn = _pad(Yc / np.linalg.norm(Yc), d)
    Q, _ = orthogonal_procrustes(Yn, Xn)  # argmin_Q ||Yn Q - Xn||_F
    return float(min(2.0, np.linalg.norm(Xn - Yn @ Q) ** 2))


# --- neighbourhoods ----------------------------------------------------------------------


def _knn_sets(X: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` nearest other rows of every row of ``X (n, p)``, sorted, ``(n, k)``."""
    nn = NearestNeighbors(n_neighbors=k).fit(X)
    idx = nn.kneighbors(return_distance=False)  # no query: each point is not its own neighbour
    return np.sort(idx, axis=1)


def knn_jaccard(X, Y, k: int = 10) -> float:
    """Mean Jaccard overlap of the k-nearest-neighbour sets in ``X (n, p)`` and ``Y (n, q)``.

    For every row ``i``: ``A_i`` = its ``k`` nearest other rows in ``X`` (Euclidean,
    ``sklearn.neighbors.NearestNeighbors``, ``i`` itself excluded), ``B_i`` the same in ``Y``;
    returns the mean over rows of ``|A_i ∩ B_i| / |A_i ∪ B_i|``. 1 for identical neighbourhoods;
    invariant to orthogonal maps, isotropic scaling and translation of either representation.
    For independent representations the overlap is about hypergeometric, ``E|A ∩ B| ≈ k² / (n-1)``,
    so the score is about ``k / (2 (n - 1))`` when ``k << n`` (``1 ≤ k < n`` required).
    Ties in distance are broken by the neighbour search, so exact duplicates make it ambiguous.
    """
    X, Y = _as_pair(X, Y)
    n = X.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"need 1 <= k < n, got k={k}, n={n}")
    A, B = _knn_sets(X, k), _knn_sets(Y, k)
    inter = np.array([np.intersect1d(a, b, assume_unique=True).size for a, b in zip(A, B)])
    return float(np.mean(inter / (2 * k - inter)))


# --- linear probes -----------------------------------------------------------------------


def fit_probe(X, y, kind: str) -> Pipeline:
    """A linear probe of targets ``y`` from the representation ``X (n, p)``.

    ``kind="classification"``: ``y (n,)`` class labels,
    ``StandardScaler -> LogisticRegression(max_iter=1000)``.
    ``kind="regression"``: ``y (n,)`` or ``(n, k)``, ``StandardScaler -> Ridge(alpha=1.0)``.
    The scaler is fitted on ``X`` with the probe and kept in the returned
    ``sklearn.pipeline.Pipeline``, so applying the probe to other features reuses ``X``'s column
    means and scales. Deterministic (lbfgs; closed-form ridge).
    """
    _check_kind(kind)
    X = _as_rep(X)
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y must have the same rows, got {X.shape[0]} and {y.shape[0]}")
    if kind == "classification":
        model = LogisticRegression(max_iter=LOGISTIC_MAX_ITER)
    else:
        model = Ridge(alpha=RIDGE_ALPHA)
        y = y.astype(np.float64)
    return make_pipeline(StandardScaler(), model).fit(X, y)


def probe_score(probe: Pipeline, X, y, kind: str) -> float:
    """Score of a fitted probe on ``X (n, p)``, ``y``: accuracy (classification) or R² (regression,
    ``sklearn.metrics.r2_score``, uniform average over target columns)."""
    _check_kind(kind)
    pred = probe.predict(_as_rep(X))
    if kind == "classification":
        return float(accuracy_score(np.asarray(y), pred))
    return float(r2_score(np.asarray(y, dtype=np.float64), pred, multioutput="uniform_average"))


def procrustes_map(B_fit, A_fit):
    """The orthogonal map of ``B``'s representation into ``A``'s coordinates, fitted on paired rows.

    ``B_fit (n, q)``, ``A_fit (n, p)``: both are centred with their own column means and zero-padded
    to ``d = max(p, q)``; ``Q (d, d) = argmin ||B Q - A||_F`` over orthogonal ``Q``. Returns a
    function ``(m, q) -> (m, p)``: ``x -> [pad(x - mean_B) Q][:, :p] + mean_A`` (the columns past
    ``p``, when ``q > p``, are the part of ``B`` that falls outside ``A``'s span and are dropped).
    No scaling: the map preserves distances within ``B`` (up to the dropped columns).
    """
    A_fit, B_fit = _as_pair(A_fit, B_fit)
    p, q = A_fit.shape[1], B_fit.shape[1]
    d = max(p, q)
    mu_A, mu_B = A_fit.mean(axis=0), B_fit.mean(axis=0)
    Q, _ = orthogonal_procrustes(_pad(B_fit - mu_B, d), _pad(A_fit - mu_A, d))

    def apply(B) -> np.ndarray:
        B = _as_rep(B, "B")
        if B.shape[1] != q:
            raise ValueError(f"expected {q} columns, got {B.shape[1]}")
        return (_pad(B - mu_B, d) @ Q)[:, :p] + mu_A

    return apply


def cross_probe_ratio(A_fit, B_fit, y_fit, A_eval, B_eval, y_eval, kind: str) -> dict[str, float]:
    """How much of what a linear probe reads from model A can be read, the same way, from model B.

    ``A_fit (n, p)`` and ``B_fit (n, q)`` are the two models' representations of the same ``n``
    fit inputs with targets ``y_fit``; ``A_eval (m, p)``, ``B_eval (m, q)``, ``y_eval`` the same for
    ``m`` held-out inputs.

    The units of two networks are not aligned (unit ``j`` of A has no relation to unit ``j`` of
    B, and the widths may differ), so a probe of A cannot be applied to B directly. B is first
    mapped into A's coordinates by the orthogonal Procrustes map fitted on the fit rows
    (:func:`procrustes_map`: centred with the fit-row means, zero-padded to a common width, fitted
    B -> A, then A's fit-row mean added back). That map is distance-preserving: it can rotate and
    reflect B but not stretch it, so it cannot manufacture information that is not there. A's
    probe (:func:`fit_probe` on ``A_fit``) is then frozen and scored on A's eval rows ("self") and
    on the mapped B eval rows ("cross"). The ratio ``cross / self`` measures whether A's linearly
    decodable information sits in the same geometry in B: 1 if B is a rotation of A, near chance /
    self (classification) or <= 0 (regression) if B is unrelated. B's overall scale is not
    corrected: a globally rescaled copy of A scores below 1.

    Returns ``{"self", "cross", "ratio"}``; ``ratio`` is NaN when ``self <= 0`` (a probe no better
    than the mean, where the ratio has no meaning).

    The probe and the map are fitted on disjoint halves of the fit rows (even rows: the probe;
    odd rows: the map). Fitted on the same rows, a probe of an uninformative A fits noise
    directions of those rows, the map aligns an informative B with exactly them, and ``cross``
    comes out far above ``self`` (3 classes, A pure noise, B separable: self 0.33, cross 0.89);
    with disjoint halves ``cross`` stays at chance.
    """
    _check_kind(kind)
    A_fit, B_fit = _as_pair(A_fit, B_fit)
    A_eval, B_eval = _as_pair(A_eval, B_eval)
    if A_eval.shape[1] != A_fit.shape[1] or B_eval.shape[1] != B_fit.shape[1]:
        raise ValueError("fit and eval representations of a model must have the same width")
    y_fit = np.asarray(y_fit)
    probe = fit_probe(A_fit[0::2], y_fit[0::2], kind)
    to_A = procrustes_map(B_fit[1::2], A_fit[1::2])
    self_score = probe_score(probe, A_eval, y_eval, kind)
    cross_score = probe_score(probe, to_A(B_eval), y_eval, kind)
    ratio = cross_score / self_score if self_score > 0 else float("nan")
    return {"self": self_score, "cross": cross_score, "ratio": ratio}


# --- everything for one pair -------------------------------------------------------------


def alignment_measures(
    A_fit, B_fit, y_fit, A_eval, B_eval, y_eval, kind: str, k: int = 10
) -> dict[str, float]:
    """Every alignment measure of models A and B (arguments as :func:`cross_probe_ratio`).

    Returns ``cka`` (:func:`linear_cka`), ``procrustes`` (:func:`procrustes_residual`) and
    ``knn_jaccard`` (:func:`knn_jaccard` with ``k``), all on the eval rows; ``probe_ab`` (probe
    fitted on A, applied to mapped B), ``probe_ba`` (the reverse) from :func:`cross_probe_ratio`,
    and ``probe_ratio``, their mean (NaN if either is NaN). See the caveat of
    :func:`cross_probe_ratio`: a direction whose probe decodes near chance gives a ratio near or
    far above 1, which the mean passes on.
    """
    A_eval, B_eval = _as_pair(A_eval, B_eval)
    ab = cross_probe_ratio(A_fit, B_fit, y_fit, A_eval, B_eval, y_eval, kind)["ratio"]
    ba = cross_probe_ratio(B_fit, A_fit, y_fit, B_eval, A_eval, y_eval, kind)["ratio"]
    return {
        "cka": linear_cka(A_eval, B_eval),
        "procrustes": procrustes_residual(A_eval, B_eval),
        "knn_jaccard": knn_jaccard(A_eval, B_eval, k),
        "probe_ratio": float(np.mean([ab, ba])),
        "probe_ab": ab,
        "probe_ba": ba,
    }
