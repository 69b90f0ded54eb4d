"""The checks registry of the theory summary: one family per experiment, named as in the config,
in table order; pass/fail of max-error and slope rows."""

import math

from learndyn.theory.report import CHECK_FAMILIES, FLOW_PARTS, Check
from learndyn.theory.settings import EXPERIMENTS


def test_check_families_are_experiments_in_table_order():
    names = [fam.experiment for fam in CHECK_FAMILIES]
    assert names == ["closed_flow", "hybrid_flow", "identities", "gradient_descent", "structured_closure"]
    assert set(names) <= set(EXPERIMENTS)
    assert tuple(fam.part for fam in CHECK_FAMILIES[: len(FLOW_PARTS)]) == FLOW_PARTS


def test_check_passes_by_kind():
    assert Check("c", "d", 1e-7, 1e-6).passed and not Check("c", "d", 2e-6, 1e-6).passed
    assert Check("c", "d", 2.05, 0.1, kind="slope").passed
    assert not Check("c", "d", 1.8, 0.1, kind="slope").passed
    assert not Check("c", "d", math.nan, 1.0).passed
