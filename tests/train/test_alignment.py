"""Cross-model alignment measures against constructed pairs with known answers and independent
computations (Gram-matrix CKA, nuclear-norm Procrustes, brute-force neighbours)."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import ortho_group

from learndyn.train import alignment as al

EXACT_TOL = 1e-10  # float64 identities (CKA = 1, residual = 0, invariances)
N, P, Q_WIDTH = 400, 8, 13
N_CLASSES = 3


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def orthogonal(d, seed):
    return ortho_group.rvs(d, random_state=seed)


def embedding(p, q, seed):
    """``(p, q)`` with orthonormal rows: ``X @ E`` is ``X`` placed isometrically in ``q > p`` units."""
    return orthogonal(q, seed)[:p]


def anisotropic_gaussian(rng, n, p):
    """Correlated, shifted features (a stand-in for a hidden layer)."""
    return rng.standard_normal((n, p)) @ rng.standard_normal((p, p)) + rng.standard_normal(p)


# --- CKA ---------------------------------------------------------------------------------


def test_cka_matches_gram_form(rng):
    X, Y = anisotropic_gaussian(rng, 50, 4), anisotropic_gaussian(rng, 50, 7)
    H = np.eye(50) - 1 / 50
    K, L = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    ref = np.sum(K * L) / (np.linalg.norm(K) * np.linalg.norm(L))
    assert al.linear_cka(X, Y) == pytest.approx(ref, abs=EXACT_TOL)


def test_cka_of_itself_is_one(rng):
    X = anisotropic_gaussian(rng, N, P)
    assert al.linear_cka(X, X) == pytest.approx(1.0, abs=EXACT_TOL)


def test_cka_invariant_to_orthogonal_scaling_and_width(rng):
    X, Y = anisotropic_gaussian(rng, N, P), anisotropic_gaussian(rng, N, P)
    Y = Y + 0.5 * X  # partially aligned, so the value is neither 0 nor 1
    base = al.linear_cka(X, Y)
    assert 0.1 < base < 0.99
    assert al.linear_cka(X @ orthogonal(P, 1), Y) == pytest.approx(base, abs=EXACT_TOL)
    assert al.linear_cka(7.5 * X, 0.01 * Y) == pytest.approx(base, abs=EXACT_TOL)
    assert al.linear_cka(X @ embedding(P, Q_WIDTH, 2), Y) == pytest.approx(base, abs=EXACT_TOL)
    assert al.linear_cka(X, X @ embedding(P, Q_WIDTH, 3)) == pytest.approx(1.0, abs=EXACT_TOL)


def test_cka_not_invariant_to_anisotropic_linear_map(rng):
    X = rng.standard_normal((N, P))
    M = np.diag(np.logspace(0, 2, P)) @ orthogonal(P, 4)  # invertible, not a scaled rotation
    assert abs(al.linear_cka(X, X @ M) - 1.0) > 0.1


def test_cka_small_for_independent_and_matrix_symmetric(rng):
    reps = [rng.standard_normal((2000, w)) for w in (P, Q_WIDTH, 5)]
    assert al.linear_cka(reps[0], reps[1]) < 0.2
    C = al.cka_matrix(reps)
    assert C.shape == (3, 3)
    np.testing.assert_allclose(C, C.T, atol=0)
    np.testing.assert_array_equal(np.diag(C), 1.0)
    assert np.all(C[~np.eye(3, dtype=bool)] < 0.2)
    assert C[0, 1] == pytest.approx(al.linear_cka(reps[0], reps[1]), abs=EXACT_TOL)


def test_constant_representation_gives_nan(rng):
    X = rng.standard_normal((N, P))
    const = np.full((N, 3), 0.1)  # 0.1 is not exact in binary: centring leaves rounding only
    assert np.isnan(al.linear_cka(X, const))
    assert np.isnan(al.linear_cka(np.zeros((N, 2)), X))
    assert np.isnan(al.procrustes_residual(const, X))
    C = al.cka_matrix([X, const])
    assert C[0, 0] == 1.0 and np.isnan(C[1]).all() and np.isnan(C[:, 1]).all()


# --- Procrustes --------------------------------------------------------------------------


def test_procrustes_zero_for_scaled_rotation(rng):
    X = anisotropic_gaussian(rng, N, P)
    assert al.procrustes_residual(X, 3 * X @ orthogonal(P, 5) + 2.0) == pytest.approx(0, abs=EXACT_TOL)
    assert al.procrustes_residual(X, 0.2 * X @ embedding(P, Q_WIDTH, 6)) == pytest.approx(0, abs=EXACT_TOL)


def test_procrustes_large_for_independent_and_matches_nuclear_norm(rng):
    X, Y = rng.standard_normal((N, P)), rng.standard_normal((N, Q_WIDTH))
    r = al.procrustes_residual(X, Y)
    assert 0.5 < r <= 2
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xc, Yc = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    assert r == pytest.approx(2 - 2 * np.linalg.norm(Yc.T @ Xc, "nuc"), abs=EXACT_TOL)
    assert al.procrustes_residual(Y, X) == pytest.approx(r, abs=EXACT_TOL)
    # partially related: strictly between
    assert 0 < al.procrustes_residual(X, X + 0.5 * rng.standard_normal((N, P))) < r


# --- neighbourhoods ----------------------------------------------------------------------


def test_knn_jaccard_matches_brute_force(rng):
    X, Y = rng.standard_normal((60, 3)), rng.standard_normal((60, 5))
    X[:, 0] += np.linspace(0, 3, 60)  # some shared structure, so the overlap is not ~0
    Y[:, 0] += np.linspace(0, 3, 60)
    k = 5

    def sets(Z):
        D = cdist(Z, Z)
        np.fill_diagonal(D, np.inf)
        return [set(np.argsort(row)[:k]) for row in D]

    ref = np.mean([len(a & b) / len(a | b) for a, b in zip(sets(X), sets(Y))])
    assert al.knn_jaccard(X, Y, k) == pytest.approx(ref, abs=EXACT_TOL)
    assert 0.05 < ref < 0.95


def test_knn_jaccard_one_for_rotated_scaled_copy(rng):
    X = anisotropic_gaussian(rng, N, P)
    assert al.knn_jaccard(X, 4 * X @ orthogonal(P, 7) - 1.0, k=10) == 1.0
    assert al.knn_jaccard(X, 0.3 * X @ embedding(P, Q_WIDTH, 8), k=10) == 1.0


def test_knn_jaccard_near_chance_for_independent(rng):
    n, k = 500, 10
    J = al.knn_jaccard(rng.standard_normal((n, P)), rng.standard_normal((n, Q_WIDTH)), k)
    chance = k / (2 * (n - 1))  # E|A & B| ~ k^2 / (n - 1), |A | B| ~ 2k
    assert J < k / n
    assert J == pytest.approx(chance, rel=0.5)


def test_knn_jaccard_rejects_bad_k(rng):
    X = rng.standard_normal((10, 2))
    with pytest.raises(ValueError):
        al.knn_jaccard(X, X, k=10)


# --- probes ------------------------------------------------------------------------------


def classes(rng, n, p=P, sep=1.5):
    """Gaussian classes around fixed means (seeded separately): separable, accuracy below 1."""
    means = sep * np.random.default_rng(42).standard_normal((N_CLASSES, p))
    y = rng.integers(0, N_CLASSES, n)
    return means[y] + rng.standard_normal((n, p)), y


def targets(rng, X, k=2):
    w = np.random.default_rng(43).standard_normal((X.shape[1], k))
    return X @ w + 0.5 * rng.standard_normal((X.shape[0], k))


def test_probe_deterministic_and_scores(rng):
    X, y = classes(rng, N)
    a = al.fit_probe(X, y, "classification")
    b = al.fit_probe(X, y, "classification")
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert 0.8 < al.probe_score(a, X, y, "classification") <= 1
    r = targets(rng, X)
    reg = al.fit_probe(X, r, "regression")
    assert 0.8 < al.probe_score(reg, X, r, "regression") < 1
    assert 0.8 < al.probe_score(al.fit_probe(X, r[:, 0], "regression"), X, r[:, 0], "regression") < 1
    scaler = a[0]  # the probe carries its own standardisation, fitted on X
    np.testing.assert_allclose(scaler.mean_, X.mean(0), atol=EXACT_TOL)
    np.testing.assert_allclose(scaler.scale_, X.std(0), atol=EXACT_TOL)
    with pytest.raises(ValueError):
        al.fit_probe(X, y, "ranking")


@pytest.mark.parametrize("wide", [False, True])
def test_cross_probe_rotated_copy_classification(rng, wide):
    (Af, yf), (Ae, ye) = classes(rng, N), classes(rng, N)
    R = embedding(P, Q_WIDTH, 9) if wide else orthogonal(P, 9)
    out = al.cross_probe_ratio(Af, Af @ R, yf, Ae, Ae @ R, ye, "classification")
    assert 0.8 < out["self"] < 1  # not trivially separable: a wrong map would show
    assert out["ratio"] >= 0.98
    # and the other way round (probe on the wider model, the narrower mapped into it)
    back = al.cross_probe_ratio(Af @ R, Af, yf, Ae @ R, Ae, ye, "classification")
    assert back["ratio"] >= 0.98


def test_cross_probe_noise_classification_near_chance(rng):
    (Af, yf), (Ae, ye) = classes(rng, N), classes(rng, N)
    Bf, Be = rng.standard_normal((N, Q_WIDTH)), rng.standard_normal((N, Q_WIDTH))
    out = al.cross_probe_ratio(Af, Bf, yf, Ae, Be, ye, "classification")
    assert out["self"] > 0.8
    assert out["cross"] <= 1 / N_CLASSES + 0.15
    assert out["ratio"] < 0.6


def test_cross_probe_regression(rng):
    (Af, _), (Ae, _) = classes(rng, N), classes(rng, N)
    rf, re = targets(rng, Af), targets(rng, Ae)
    R = orthogonal(P, 10)
    out = al.cross_probe_ratio(Af, Af @ R, rf, Ae, Ae @ R, re, "regression")
    assert 0.8 < out["self"] < 1 and out["ratio"] >= 0.98
    noise = al.cross_probe_ratio(
        Af, rng.standard_normal((N, P)), rf, Ae, rng.standard_normal((N, P)), re, "regression"
    )
    assert noise["cross"] < 0.1 and noise["ratio"] < 0.2


def test_procrustes_map_recovers_rotation_and_mean(rng):
    A = anisotropic_gaussian(rng, N, P)
    R = embedding(P, Q_WIDTH, 11)
    B = A @ R + 5.0  # wider, shifted
    to_A = al.procrustes_map(B, A)
    Anew = anisotropic_gaussian(rng, 20, P)
    np.testing.assert_allclose(to_A(Anew @ R + 5.0), Anew, atol=1e-9)


def test_alignment_measures_identical_vs_independent(rng):
    (Af, yf), (Ae, ye) = classes(rng, N), classes(rng, N)
    R = embedding(P, Q_WIDTH, 12)
    same = al.alignment_measures(Af, 2 * Af @ R, yf, Ae, 2 * Ae @ R, ye, "classification", k=10)
    assert set(same) == {"cka", "procrustes", "knn_jaccard", "probe_ratio", "probe_ab", "probe_ba"}
    assert same["cka"] == pytest.approx(1, abs=EXACT_TOL)
    assert same["procrustes"] == pytest.approx(0, abs=EXACT_TOL)
    assert same["knn_jaccard"] == 1.0
    assert same["probe_ratio"] == pytest.approx((same["probe_ab"] + same["probe_ba"]) / 2)
    Bf, Be = rng.standard_normal((N, Q_WIDTH)), rng.standard_normal((N, Q_WIDTH))
    other = al.alignment_measures(Af, Bf, yf, Ae, Be, ye, "classification", k=10)
    assert other["cka"] < 0.2 and other["procrustes"] > 0.5 and other["knn_jaccard"] < 0.1
    assert other["probe_ab"] < 0.6
    assert other["probe_ba"] == al.cross_probe_ratio(Bf, Af, yf, Be, Ae, ye, "classification")["ratio"]


def test_cross_probe_uninformative_probe_side_stays_at_chance(rng):
    """A probe fitted on a noise representation must not read an informative B through the map
    (the probe and the map are fitted on disjoint halves of the fit rows)."""
    (Bf, yf), (Be, ye) = classes(rng, N), classes(rng, N)
    Af, Ae = rng.standard_normal((N, P)), rng.standard_normal((N, P))
    out = al.cross_probe_ratio(Af, Bf, yf, Ae, Be, ye, "classification")
    assert out["self"] <= 1 / N_CLASSES + 0.15
    assert out["cross"] <= 1 / N_CLASSES + 0.15
