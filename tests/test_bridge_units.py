"""The unit of the bridge's relations (issue 29): on simulated clustered data with a relation
between clusters and none within them, the pooled procedure rejects and the within-model one
does not (at the nominal rate over many simulations); the between-model procedure holds its level
at a null of independent cluster means and finds a real relation; the scale-free kernel changes."""

from __future__ import annotations

import numpy as np
import pytest

from learndyn.bridge import metrics, units

ALPHA = 0.05
N_SIM = 200  # simulations of each null
# a rejection rate above ALPHA by more than 3 binomial standard errors fails (about 0.096 at 200)
LEVEL_SLACK = 3 * np.sqrt(ALPHA * (1 - ALPHA) / N_SIM)
POOLED_FLOOR = 0.5  # the pooled procedure must reject at least this often on the clustered null
SCALE_TOL = 1e-12


def clustered(rng, models: int, seeds: int, between: float):
    """x, y ``(models, seeds)``: cluster effects shared by x and y (scale ``between``: a relation
    between the clusters' means) plus independent noise (no relation within a cluster)."""
    c = between * rng.normal(size=(models, 1))
    return c + rng.normal(size=(models, seeds)), c + rng.normal(size=(models, seeds))


def rejection_rate(procedure, make, rng) -> float:
    return float(np.mean([procedure(*make(rng), i) < ALPHA for i in range(N_SIM)]))


def test_within_models_holds_its_level_where_pooling_rejects():
    """3 models x 10 seeds, the referee's case: the pooled Spearman rejects most of the time,
    the within-model procedure at about the nominal rate."""
    rng = np.random.default_rng(0)

    def make(r):
        return clustered(r, 3, 10, between=3.0)

    pooled = rejection_rate(lambda x, y, i: units.pooled(x, y).p, make, rng)
    within = rejection_rate(
        lambda x, y, i: units.within_models(x, y, n_permutations=499, n_bootstrap=100, seed=i).p, make, rng
    )
    assert pooled >= POOLED_FLOOR
    assert within <= ALPHA + LEVEL_SLACK


def test_between_models_holds_its_level_and_finds_a_relation():
    """20 architectures x 5 seeds: independent cluster means (null) are rejected at about the
    nominal rate; means that share their cluster effect are found (rho > 0, p < ALPHA)."""
    rng = np.random.default_rng(1)

    def null(r):
        return r.normal(size=(20, 1)) + r.normal(size=(20, 5)), r.normal(size=(20, 1)) + r.normal(
            size=(20, 5)
        )

    rate = rejection_rate(
        lambda x, y, i: units.between_models(x, y, n_permutations=499, n_bootstrap=100, seed=i).p, null, rng
    )
    assert rate <= ALPHA + LEVEL_SLACK
    x, y = clustered(rng, 20, 5, between=3.0)
    rel = units.between_models(x, y, n_permutations=999, n_bootstrap=200)
    assert rel.unit == "architecture" and rel.n_units == 20
    assert rel.effect > 0 and rel.p < ALPHA and rel.low <= rel.effect <= rel.high


def test_within_models_finds_a_within_relation_and_ignores_missing_seeds():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 8)) + 5 * rng.normal(size=(6, 1))
    y = x + 0.3 * rng.normal(size=x.shape) - 10 * rng.normal(size=(6, 1))  # between-model noise
    x[0, 5:] = np.nan  # a model with fewer seeds
    rel = units.within_models(x, y, n_permutations=999, n_bootstrap=200)
    assert rel.unit == "seed" and rel.n_units == 6 * 8 - 3 and rel.n_models == 6
    assert rel.effect > 0.8 and rel.p < ALPHA


def test_model_means_ignore_missing_seeds():
    x = np.array([[1.0, 3.0, np.nan], [np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(units.model_means(x), [2.0, np.nan])


@pytest.fixture
def kernels():
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(12, 5)), rng.normal(size=(12, 5))
    return A @ A.T, B @ B.T


@pytest.mark.parametrize("c", [0.3, 7.0])
def test_scale_free_changes_ignore_a_kernel_that_only_grows(kernels, c):
    """K_t = c K_0: the Frobenius drift is |c - 1|, the trace-normalised drift and 1 - CKA 0."""
    K0, _ = kernels
    assert metrics.kernel_drift(c * K0, K0) == pytest.approx(abs(c - 1))
    assert metrics.trace_normalised_drift(c * K0, K0) == pytest.approx(0.0, abs=SCALE_TOL)
    assert metrics.cka_distance(c * K0, K0) == pytest.approx(0.0, abs=SCALE_TOL)
    offset = c * K0 + 2.0 * np.ones_like(K0)  # CKA centres: a constant offset is invisible too
    assert metrics.cka_distance(offset, K0) == pytest.approx(0.0, abs=SCALE_TOL)


def test_scale_free_changes_see_a_change_of_shape(kernels):
    K0, K1 = kernels
    A, B = K1 / np.trace(K1), K0 / np.trace(K0)
    assert metrics.trace_normalised_drift(K1, K0) == pytest.approx(np.linalg.norm(A - B) / np.linalg.norm(B))
    assert 0.0 < metrics.cka_distance(K1, K0) <= 1.0


def test_partial_between_removes_a_shared_cause():
    """x and y both follow z across 20 architectures: their Spearman correlation is resolved, the
    partial one given z is not; the partial correlation equals the Pearson correlation of the
    rank residuals from an independent least-squares fit (statsmodels)."""
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    z = rng.normal(size=(20, 1)) + 0.1 * rng.normal(size=(20, 4))
    x, y = z + 0.3 * rng.normal(size=(20, 4)), z + 0.3 * rng.normal(size=(20, 4))
    assert units.between_models(x, y, n_permutations=999, n_bootstrap=200).p < ALPHA
    rel = units.partial_between(x, y, z, n_permutations=999, n_bootstrap=200)
    assert rel.unit == "architecture" and rel.n_units == 20 and rel.p > ALPHA
    assert rel.low <= rel.effect <= rel.high
    from scipy import stats as sps

    mx, my, mz = (units.model_means(a) for a in (x, y, z))
    design = sm.add_constant(sps.rankdata(mz))
    ex = sm.OLS(sps.rankdata(mx), design).fit().resid
    ey = sm.OLS(sps.rankdata(my), design).fit().resid
    assert rel.effect == pytest.approx(sps.pearsonr(ex, ey)[0], abs=PARTIAL_TOL)


PARTIAL_TOL = 1e-12


def test_family_units_collapse_or_leave_out_a_family():
    x = np.array([[1.0, 3.0], [2.0, np.nan], [10.0, 20.0], [5.0, 5.0]])
    models = ["a", "b", "c", "d"]
    families = {"f": ["b", "c", "absent"]}
    collapsed = units.family_units(x, models, families, "collapsed")
    np.testing.assert_allclose(collapsed[:, 0], [2.0, 5.0, (2.0 + 15.0) / 2])
    np.testing.assert_allclose(units.family_units(x, models, families, "excluded")[:, 0], [2.0, 5.0])
    with pytest.raises(ValueError):
        units.family_units(x, models, families, "dropped")


def test_the_abstract_leads_with_the_strictest_check_of_the_between_rows():
    from learndyn.bridge.report import between_abstract

    m = {
        "BetweenUnits": 32,
        "BetweenSurvivors": "the drift is negatively rank-correlated with the accuracy",
        "BetweenSupported": 1,
        "Continua": True,
        "CollapsedSurvive": 0,
        "CollapsedUnits": 15,
        "BetweenOpposedWithin": 1,
        "SurvivorsCaveat": " (caveat)",
    }
    text = between_abstract(m)
    assert text.startswith("with each one-parameter family as one unit (15 architectures) no ")
    assert "only across 32 architectures pooled" in text and "caveat" not in text
    assert between_abstract({**m, "CollapsedSurvive": 1}).endswith(" (caveat)")  # all survive
    some = {
        **m,
        "BetweenSupported": 3,
        "CollapsedSurvive": 1,
        "CollapsedKept": "KEPT",
        "CollapsedLost": "LOST",
    }
    text = between_abstract(some)
    assert text.startswith("with each one-parameter family as one unit (15 architectures), KEPT")
    assert "2 further rows supported only with the 32 members pooled" in text and text.endswith("(LOST)")
    assert between_abstract({**m, "BetweenSupported": 0}).startswith("across 32 architectures pooled")
