"""The result-tree comparison must notice a changed number (so determinism tests can fail)."""

import numpy as np
import xarray as xr

from learndyn.io import write_netcdf
from learndyn.reproduce import diff_results


def make_tree(root, value, commit_macro="abc"):
    ds = xr.Dataset(
        {
            "v": ("seed", np.array([1.0, value]), {"long_name": "v", "units": "1"}),
            "wall_fit": ("seed", np.random.rand(2), {"long_name": "wall time", "units": "s"}),
        },
        coords={"seed": ("seed", [0, 1], {"long_name": "seed", "units": "1"})},
    )
    write_netcdf(ds, root / "results" / "x.nc", config={"a": 1})
    (root / "results" / "paper").mkdir(parents=True)
    (root / "results" / "paper" / "m.tex").write_text("\\newcommand{\\LDCommit}{" + commit_macro + "}\nX\n")


def test_identical_trees_and_a_changed_value(tmp_path):
    for name, value, commit in (("a", 2.0, "abc"), ("b", 2.0, "def"), ("c", 2.0000001, "abc")):
        make_tree(tmp_path / name, value, commit)
    assert diff_results(tmp_path / "a", tmp_path / "b") == []
    problems = diff_results(tmp_path / "a", tmp_path / "c")
    assert len(problems) == 1 and "x.nc" in problems[0]


def test_device_comparison_within_tolerance(tmp_path):
    """A CUDA run compared with a CPU run: equal within rtol, a larger change is reported, and a
    NaN on one side only is a difference."""
    from learndyn.reproduce import DEVICE_TOLERANCES

    for name, value in (("cpu", 2.0), ("cuda", 2.0 * (1 + 1e-7)), ("off", 2.5), ("nan", np.nan)):
        make_tree(tmp_path / name, value)
    tol = DEVICE_TOLERANCES["theory"]
    assert diff_results(tmp_path / "cpu", tmp_path / "cuda", **tol) == []
    assert diff_results(tmp_path / "cpu", tmp_path / "cuda") != []  # not bitwise
    assert len(diff_results(tmp_path / "cpu", tmp_path / "off", **tol)) == 1
    assert len(diff_results(tmp_path / "cpu", tmp_path / "nan", **DEVICE_TOLERANCES["train"])) == 1
