"""Every registered figure, drawn from the quick run's results, passes the figure checks of the
style guide (``learndyn.plotting.check_figure``): no overlapping tick labels, no legend inside an
axes over data, bands on log axes computed in log space, symbols typeset, registry colours and
markers for every model, closure and depth."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from conftest import QUICK

from learndyn import figures
from learndyn.config import load_config_file
from learndyn.plotting import check_figure, set_style


@pytest.fixture(scope="module")
def drawn(quick_run):
    """Every registered figure's problems, drawn from the quick run: {key: [problem, ...]}."""
    config = load_config_file(quick_run / QUICK)
    models = [*config["train"]["models"], *config.get("bridge", {}).get("models", [])]
    set_style()
    problems = {}
    for half in figures.HALVES:
        read = figures.read_inputs(half, config, quick_run)
        for fig in figures.of_half(half):
            drawing = figures.draw(fig, {k: read[k] for k in fig.inputs}, figures.settings(half, config))
            problems[fig.key] = check_figure(drawing, models)
            plt.close(drawing)
    return problems


@pytest.mark.parametrize("key", list(figures.FIGURES))
def test_figure_passes_the_checks(drawn, key):
    assert not drawn[key], f"{key}:\n" + "\n".join(drawn[key])
