"""Measurements of a training-set kernel along training: one function per equation.

``K``, ``K0``, ``K_t`` are ``(n, n)`` symmetric positive semi-definite kernel matrices of one
member on the fixed training subsample (``learndyn.bridge.kernel``); arrays are numpy float64 or
torch tensors (converted to numpy float64). Every function returns floats or numpy arrays.
"""

from __future__ import annotations

import numpy as np

from ..runtime import to_numpy


def kernel_drift(K_t, K_0) -> float:
    """Relative kernel drift ||K_t - K_0||_F / ||K_0||_F (the laziness of training: 0 for a
    kernel that does not move; Chizat, Oyallon & Bach 2019, arXiv 1812.07956, measure the same
    relative change of the linearisation). ``(n, n), (n, n) -> float``."""
    K_t, K_0 = to_numpy(K_t), to_numpy(K_0)
    return float(np.linalg.norm(K_t - K_0) / np.linalg.norm(K_0))


def trace_normalised_drift(K_t, K_0) -> float:
    """Scale-free kernel drift ||K_t / tr K_t - K_0 / tr K_0||_F / ||K_0 / tr K_0||_F: the
    change of the kernel's shape with its overall size (tr K, the growth of the outputs'
    sensitivity) divided out, so a kernel that only grows has drift 0. ``(n, n), (n, n) ->
    float`` (issue 29, item 2)."""
    K_t, K_0 = to_numpy(K_t), to_numpy(K_0)
    A, B = K_t / np.trace(K_t), K_0 / np.trace(K_0)
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


def cka_distance(K_t, K_0) -> float:
    """1 - CKA(K_0, K_t): one minus the centred kernel alignment of the kernels at two times
    (``centred_alignment``; Kornblith et al. 2019, arXiv 1905.00414, eq. 5 on kernel matrices;
    Cortes et al. 2012, Definition 3), in [0, 1] for PSD kernels, 0 for K_t = c K_0 + b 1 1^T, so
    invariant to the kernel's scale and to a constant offset. ``(n, n), (n, n) -> float``."""
    return 1.0 - centred_alignment(K_t, K_0)


def kernel_distance(K_a, K_b) -> float:
    """Kernel distance S(K_a, K_b) = 1 - <K_a, K_b>_F / (||K_a||_F ||K_b||_F) in [0, 1] for PSD
    kernels (Fort et al. 2020, arXiv 2010.15110, §2: 0 for kernels equal up to scale)."""
    K_a, K_b = to_numpy(K_a), to_numpy(K_b)
    return float(1.0 - np.sum(K_a * K_b) / (np.linalg.norm(K_a) * np.linalg.norm(K_b)))


def kernel_velocity(K_a, K_b, dt: float) -> float:
    """Kernel velocity v = S(K_t, K_{t+dt}) / dt (Fort et al. 2020, arXiv 2010.15110, §2): the
    rate at which the kernel turns, per unit of ``dt`` (here epochs). ``float``."""
    return kernel_distance(K_a, K_b) / dt


def centred(K) -> np.ndarray:
    """H K H with H = I - 1 1^T / n (Cortes, Mohri & Rostamizadeh 2012, JMLR 13:795, Lemma 1).
    ``(n, n) -> (n, n)``."""
    K = to_numpy(K)
    return K - K.mean(0, keepdims=True) - K.mean(1, keepdims=True) + K.mean()


def centred_alignment(K, L) -> float:
    """Centred alignment rho(K, L) = <K_c, L_c>_F / (||K_c||_F ||L_c||_F) (Cortes, Mohri &
    Rostamizadeh 2012, Definition 3), in [0, 1] for PSD K, L; 1 for L = c K. ``float``."""
    Kc, Lc = centred(K), centred(L)
    return float(np.sum(Kc * Lc) / (np.linalg.norm(Kc) * np.linalg.norm(Lc)))


def target_kernel(y, n_classes: int = 0) -> np.ndarray:
    """The target kernel y y^T: one-hot labels ``(n,)`` for classification (``n_classes > 0``),
    else targets ``(n,)`` or ``(n, k)``. ``(n, n)``."""
    y = np.asarray(y)
    Y = np.eye(n_classes)[y.astype(int)] if n_classes else y.reshape(len(y), -1).astype(np.float64)
    return Y @ Y.T


def kernel_target_alignment(K, y, n_classes: int = 0) -> float:
    """Centred kernel-target alignment rho(K, y y^T) (Cortes et al. 2012). ``float``."""
    return centred_alignment(K, target_kernel(y, n_classes))


def effective_rank(K) -> float:
    """Effective rank exp(H(p)), p_i = lambda_i / sum_j lambda_j the normalised eigenvalues of
    the PSD ``K`` (Roy & Vetterli 2007, entropy in nats; between 1 and n). ``float``."""
    lam = np.clip(np.linalg.eigvalsh(to_numpy(K)), 0.0, None)
    p = lam / lam.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def trace_share(K_part, K) -> float:
    """Share tr(K_part) / tr(K) of one part of the kernel (a layer or a path): the parts are PSD
    and sum to K, so their shares are in [0, 1] and sum to 1. ``float``."""
    return float(np.trace(to_numpy(K_part)) / np.trace(to_numpy(K)))


def relative_change(theta_t, theta_0) -> float:
    """Relative weight change ||theta_t - theta_0|| / ||theta_0|| over a group of tensors
    (Frobenius norm of the concatenation). ``theta_*``: lists of arrays. ``float``."""
    num = sum(np.sum((to_numpy(a) - to_numpy(b)) ** 2) for a, b in zip(theta_t, theta_0))
    den = sum(np.sum(to_numpy(b) ** 2) for b in theta_0)
    return float(np.sqrt(num / den)) if den > 0 else float("nan")


def kernel_regression(K_train, K_test_train, f_train, ridge: float = 1e-3) -> np.ndarray:
    """Kernel ridge prediction f_hat(x) = K(x, X) (K(X, X) + lambda I)^{-1} f(X) with
    lambda = ridge * tr K / n (ridge relative to the mean eigenvalue). ``K_train (n, n)``,
    ``K_test_train (m, n)``, ``f_train (n, k) -> (m, k)``."""
    K, Kx, f = to_numpy(K_train), to_numpy(K_test_train), to_numpy(f_train)
    lam = ridge * np.trace(K) / len(K)
    return Kx @ np.linalg.solve(K + lam * np.eye(len(K)), f)


def linearised_prediction(K_train, K_test_train, f0_train, fT_train, f0_test, ridge: float = 1e-3):
    """Prediction of the trained outputs on test inputs from the training outputs through a
    kernel: f_hat_T(x) = f_0(x) + KRR[K](f_T(X) - f_0(X))(x) (the change of the outputs is
    interpolated with the kernel, as in the linearised model of Jacot et al. 2018, where
    d f_t(x)/dt = -K(x, X) dL/df(X) keeps the change in the span of K(., X)). ``(m, k)``."""
    delta = to_numpy(fT_train) - to_numpy(f0_train)
    return to_numpy(f0_test) + kernel_regression(K_train, K_test_train, delta, ridge)


def r2(pred, target) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot of ``pred`` against ``target`` (pooled
    over outputs, each output centred on its own mean). ``(m, k), (m, k) -> float``."""
    p, t = to_numpy(pred), to_numpy(target)
    return float(1.0 - np.sum((p - t) ** 2) / np.sum((t - t.mean(0)) ** 2))


def argmax_agreement(pred, target) -> float:
    """Fraction of inputs where the predicted and the target outputs pick the same class."""
    return float(np.mean(to_numpy(pred).argmax(-1) == to_numpy(target).argmax(-1)))
