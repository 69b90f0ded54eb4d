"""Thresholds of the measurements in ``metrics`` (spec structured-layers.md §5), without torch:
the report jobs print them as macros and must not load torch to read them."""

AMPLIFICATION_NORM = 1e-3  # ||delta|| of the layer-wise perturbation (spec §5)
FIXED_POINT_TOL = 1e-5  # residual ||h_{k+1} - h_k|| below which an iteration has converged
RANK_RTOL = 1e-6  # singular values <= RANK_RTOL * s_max count as zero (outside the active subspace)
DIFF_FLOOR = 1e-8  # successive differences below this are dominated by float64 rounding
