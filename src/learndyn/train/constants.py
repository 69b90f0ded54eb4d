"""Thresholds of the measurements in ``metrics`` (spec structured-layers.md §5), without torch:
the report jobs print them as macros and must not load torch to read them."""

AMPLIFICATION_NORM = 1e-3  # ||delta|| of the layer-wise perturbation (spec §5)
FIXED_POINT_TOL = 1e-5  # residual ||h_{k+1} - h_k|| below which an iteration has converged
# The Jacobians of the spectra are computed in float64; a singular value <= max(dim) * eps(float64)
# * s_max is indistinguishable from zero (numpy's matrix_rank threshold) and lies outside the
# active subspace. The cap this puts on log10 kappa_+ is -log10(max(dim) * eps), about 13.9 at
# d = 64: far above any measured value (the fixed 1e-6 of earlier runs capped it at 6).
FLOAT64_EPS = 2.220446049250313e-16


def rank_rtol(dim: int) -> float:
    """Relative threshold of the numerical rank of a ``dim``-sized float64 spectrum."""
    return max(int(dim), 1) * FLOAT64_EPS


DIFF_FLOOR = 1e-8  # successive differences below this are dominated by float64 rounding
