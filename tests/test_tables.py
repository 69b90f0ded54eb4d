"""Formatting rules of the generated tables: units in the headers, one number format per column,
degenerate (seed-constant) entries marked and explained, the metric of mixed accuracy/MSE
columns indicated, the gap's sign defined, counts with their noun in the right number."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from learndyn.latex import (
    DEGENERATE,
    DEGENERATE_NOTE,
    column_style,
    format_column,
    mean_sd_column,
    table_body,
)
from learndyn.train import report

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 3


def _style_of(cell: str) -> str:
    """``sci`` or ``fixed-<decimals>`` of a formatted number."""
    if r"\times10^" in cell:
        return "sci"
    m = re.search(r"-?\d+(?:\.(\d+))?", cell)
    return f"fixed-{len(m.group(1) or '')}"


@pytest.mark.parametrize(
    "values",
    [[0.912, 0.5, 0.0312], [12.5, 3.1, 0.7], [1e-5, 0.3, 2.0], [0.01, 3e-4, 1e-3]],
)
def test_one_number_format_per_column(values):
    cells = format_column(values)
    assert len({_style_of(c) for c in cells}) == 1, cells


def test_column_style_switches_to_scientific_for_decades():
    assert column_style([0.9, 0.5]) == ("fixed", 3)
    assert column_style([120.0, 4.0]) == ("fixed", 0)
    assert column_style([1e-5, 0.5])[0] == "sci"


def test_degenerate_entries_are_marked():
    cells, flags = mean_sd_column([[0.91, 0.93, 0.92], [16.0, 16.0, 16.0], [np.nan, 1.0, 1.0]])
    assert flags == [False, True, True]
    assert DEGENERATE not in cells[0] and DEGENERATE in cells[1] and DEGENERATE in cells[2]
    assert r"\pm 0" in cells[1]
    # means (and sds) in one format for the column
    assert len({_style_of(c.split(r"\pm")[0]) for c in cells}) == 1
    one, flags = mean_sd_column([[5.0]])
    assert flags == [False] and r"\pm" not in one[0]  # one seed: no sd, not degenerate


def test_table_note_follows_the_tabular():
    body = table_body(pd.DataFrame({"a [1]": [1.0]}), note="the note")
    assert body.index(r"\end{tabular}") < body.index("the note")
    assert r"\wd0" in body  # the note is set at the tabular's width
    assert "note" not in table_body(pd.DataFrame({"a": [1.0]}))


# --- the training tables on a small synthetic grid ----------------------------------------------------


def _cells(saturated: bool = False) -> xr.Dataset:
    tasks, models = ["spirals", "linear_correction"], ["mlp", "structured"]
    rng = np.random.default_rng(0)
    shape = (len(tasks), len(models), 1, 1, SEEDS)
    dims = ("task", "model", "depth", "width", "seed")

    def var(scale=1.0):
        return (dims, scale * rng.uniform(0.5, 1.0, shape))

    train = rng.uniform(0.5, 1.0, shape)
    if saturated:
        train[0, 1] = 1.0  # every seed fits the training set of spirals: 1 +- 0
    ds = xr.Dataset(
        {
            "final_train_metric": (dims, train),
            "final_test_metric": var(),
            "gen_gap": var(0.1),
            "e2e_logcond": ((*dims, "stage"), rng.uniform(1, 2, (*shape, 2))),
            "grad_ratio": ((*dims, "eval_step"), rng.uniform(0.1, 10, (*shape, 2))),
            "noise_metric": ((*dims, "noise_sigma"), rng.uniform(0.3, 0.9, (*shape, 1))),
            "diverged": (dims, np.zeros(shape)),
            "selected_step": (dims, np.ones(shape)),  # kept at the last evaluation
            "n_params": (dims[:-1], np.full(shape[:-1], 1000.0)),
        },
        coords={
            "task": tasks,
            "model": models,
            "depth": [4],
            "width": [32],
            "seed": list(range(SEEDS)),
            "stage": ["init", "final"],
            "eval_step": [0, 1],
            "noise_sigma": [0.2],
        },
    )
    kinds = {"spirals": "classification", "linear_correction": "regression"}
    return ds.assign_coords(kind=("task", [kinds[t] for t in ds.task.values]))


CFG = {
    "depth": 4,
    "width": 32,
    "claims": {"noise_sigma": 0.2, "structured": "structured"},
    "studies": {"main": {"tasks": ["spirals", "linear_correction"], "models": ["mlp", "structured"]}},
}


def test_summary_table_units_metric_and_formats():
    df = report.summary_frame(_cells(), CFG)
    numeric = [c for c in df.columns if c not in ("task", "metric", "model")]
    assert all(re.search(r"\[[^]]+\]$", c) for c in numeric), numeric  # a unit in every header
    assert set(df.metric) == {"acc.", "MSE"}  # accuracy and MSE rows are told apart
    for c in numeric[:-1]:
        means = [cell.split(r"\pm")[0] for cell in df[c]]
        assert len({_style_of(m) for m in means}) == 1, (c, means)
    note = report.summary_note(df)
    assert "positive gap means worse on the test split" in note
    assert DEGENERATE_NOTE not in note  # nothing to explain


def test_summary_table_marks_saturated_entries():
    df = report.summary_frame(_cells(saturated=True), CFG)
    col = "train [metric]"
    marked = df[df[col].str.contains(re.escape(DEGENERATE))]
    assert list(zip(marked.task, marked.model)) == [("spirals", "structured")]
    assert DEGENERATE_NOTE in report.summary_note(df)


def test_claims_table_shows_the_metric_and_one_format_per_column():
    rows = []
    for key, claim, better in (
        ("GenGap", "generalisation", "lower"),
        ("Sensitivity", "sensitivity", "lower"),
    ):
        for task, effect in (("spirals", 0.0123), ("linear_correction", 4.5e-5)):
            rows.append(
                dict(
                    key=key,
                    claim=claim,
                    baseline="mlp",
                    better=better,
                    task=task,
                    effect=effect,
                    verdict="supported",
                    n_seeds=10,
                    budget="converged",
                    family="empirical",
                )
            )
    frame = report.claims_latex_frame(pd.DataFrame(rows), {"spirals": "acc.", "linear_correction": "MSE"})
    assert "spirals [acc.]" in frame.columns and r"linear\_correction [MSE]" in frame.columns
    for c in ("spirals [acc.]", r"linear\_correction [MSE]"):
        assert len({_style_of(v) for v in frame[c]}) == 1
    assert "positive: worse on test" in report.CLAIMS_NOTE
    # fewer seeds than the claim's others (dropped by the matching) and a fixed budget are marked
    rows[0] |= {"n_seeds": 8, "budget": "fixed"}
    frame = report.claims_latex_frame(pd.DataFrame(rows), {"spirals": "acc.", "linear_correction": "MSE"})
    assert r"}^{8,\ddagger}$" in frame["spirals [acc.]"].iloc[0]
    assert "^" not in frame["spirals [acc.]"].iloc[1]


def test_gap_sign_is_defined_where_a_gap_is_shown():
    assert "minus" in report.SUMMARY_NOTE and "positive" in report.SUMMARY_NOTE


# --- counts ----------------------------------------------------------------------------------------------

# an f-string placeholder holding a count, followed by a plural noun (with at most one adjective)
COUNT = r"\{(?:n|slid|events|count\w*|num\w*|n_\w+|len\([^{}]*\)|int\([^{}]*\))(?::[^}]*)?\}"
BLIND_PLURAL = re.compile(r"f[\"'][^\"']*" + COUNT + r"(?: [a-z]+)? [a-z]+s\b")


def test_no_blind_plurals_in_the_report_code():
    """A count in a generated text goes through ``latex.plural`` ("1 sliding entry")."""
    files = [ROOT / "src/learndyn/latex.py", ROOT / "src/learndyn/benchmarks.py"]
    files += sorted((ROOT / "src/learndyn").glob("*/report.py"))
    hits = [f"{f.name}: {m.group(0)}" for f in files for m in BLIND_PLURAL.finditer(f.read_text())]
    assert not hits, hits


def test_blind_plural_scan_catches_the_old_form():
    assert BLIND_PLURAL.search('note = f" ({slid} sliding entries)"')
    assert not BLIND_PLURAL.search("note = f\" ({plural(slid, 'sliding entry')})\"")
    assert BLIND_PLURAL.search('f"{len(df)} checks"')
    assert not BLIND_PLURAL.search('f"{structured} drifts less than {base}"')


def test_tables_show_display_names_not_pipeline_ids():
    from learndyn.names import NAMES

    df = pd.DataFrame(
        {"task": ["fashion_mnist_2k", "digits01"], "model": ["struct_alpha0", "snmlp"], "x": [1, 2]}
    )
    body = table_body(df)
    assert NAMES["fashion_mnist_2k"] in body and NAMES["struct_alpha0"] in body and "SN-MLP" in body
    assert "struct_alpha0" not in body and "snmlp" not in body


def test_generated_tables_have_no_ids(tmp_path):
    from learndyn.legibility import table_ids

    df = pd.DataFrame({"model": ["mlp", "struct_noreg"], "value": [0.5, 0.25]})
    path = tmp_path / "t.tex"
    path.write_text(table_body(df))
    assert table_ids([path], ["mlp", "struct_noreg"]) == []
