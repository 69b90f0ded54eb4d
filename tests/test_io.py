"""Result datasets: metadata is enforced, provenance attached, writes are atomic."""

import json
import re

import numpy as np
import pytest
import xarray as xr

from learndyn import io, latex, provenance


def good_dataset():
    return xr.Dataset(
        {"loss": (("seed", "epoch"), np.ones((2, 3)), {"long_name": "training loss", "units": "1"})},
        coords={
            "seed": ("seed", [0, 1], {"long_name": "seed", "units": "1"}),
            "epoch": ("epoch", [0, 1, 2], {"long_name": "epoch", "units": "1"}),
        },
    )


def test_write_requires_long_name_and_units(tmp_path):
    ds = good_dataset()
    ds["loss"].attrs.pop("units")
    with pytest.raises(ValueError, match="loss.units"):
        io.write_netcdf(ds, tmp_path / "x.nc")
    assert not list(tmp_path.iterdir()), "a rejected dataset must leave no file behind"


def test_provenance_attrs_round_trip(tmp_path):
    config = {"b": [1, 2], "a": {"c": "x"}}
    io.write_netcdf(good_dataset(), tmp_path / "x.nc", config=config, seeds=[0, 1])
    ds = io.open_dataset(tmp_path / "x.nc")
    for key in ("git_commit", "git_dirty", "config_sha256", "config_json", "package_versions", "seeds"):
        assert key in ds.attrs, f"provenance attr {key} missing"
    assert json.loads(ds.attrs["config_json"]) == config
    assert ds.attrs["config_sha256"] == provenance.config_hash({"a": {"c": "x"}, "b": [1, 2]})
    assert json.loads(ds.attrs["seeds"]) == [0, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["x.nc"], "temporary files left behind"


def test_atomic_write_replaces_on_success_and_leaves_the_old_file_on_failure(tmp_path):
    """The one atomic writer (text, netCDF, figures, the arXiv archive): the target keeps its
    old content while the block runs and when it raises; no temporary file is left behind."""
    target = tmp_path / "t.txt"
    io.write_text("old", target)
    with pytest.raises(RuntimeError), io.atomic_write(target) as tmp:
        tmp.write_text("half")
        assert target.read_text() == "old"
        raise RuntimeError
    assert target.read_text() == "old"
    with io.atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"], "temporary files left behind"


def test_config_hash_ignores_key_order_but_not_values():
    assert provenance.config_hash({"a": 1, "b": 2}) == provenance.config_hash({"b": 2, "a": 1})
    assert provenance.config_hash({"a": 1}) != provenance.config_hash({"a": 2})


def test_macros_and_number_format(tmp_path):
    latex.write_macros({"Alpha": 0.5, "Big": 1.5e-7, "Count": 12}, tmp_path / "m.tex", prefix="T")
    text = (tmp_path / "m.tex").read_text()
    assert r"\newcommand{\TAlpha}{0.5}" in text
    assert r"\newcommand{\TBig}{1.50\times10^{-7}}" in text
    assert r"\newcommand{\TCount}{12}" in text
    with pytest.raises(ValueError, match="letters only"):
        latex.macro_block({"bad_name1": 1})


# The three manglings macro_name replaces, as they were written (train.report.camel,
# theory.report.macro_word, the bridge's title-and-filter): the macros must keep their names.
_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")


def _camel(name):
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z]+", name) if w)


def _macro_word(part):
    text = str(part)
    return "".join(_DIGITS[int(c)] if c.isdigit() else c for c in text[:1].upper() + text[1:])


def _title_letters(name):
    return "".join(ch for ch in name.title() if ch.isalpha())


NAMES = [  # task, model, verdict, measure and test names of the configs and reports
    "linear_correction", "fashion_mnist_2k", "digits01", "struct_orth", "snmlp", "resmlp",
    "not supported", "by construction", "cka", "knn_overlap", "RankHessiantop", "Lazierstructured",
    "Widthdiffmlp", "mixedCase", "resMLP",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_macro_name_keeps_every_former_mangling(name):
    assert latex.macro_name(name) == _camel(name)
    assert latex.macro_name(name.lower()) == _title_letters(name)
    if name.isalnum():
        assert latex.macro_name(name, spell_digits=True) == _macro_word(name)


def test_macro_name_spells_numbers_and_joins_parts():
    for n in (0, 1, 3, 128, 2024):
        assert latex.macro_name(n, spell_digits=True) == _macro_word(n)
    assert latex.macro_name("gram", 3, 1, spell_digits=True) == "GramThreeOne"
    assert latex.macro_name(128) == ""  # without spell_digits, digits are dropped like "_"


def test_merge_macros_refuses_duplicates():
    from learndyn.latex import merge_macro_files

    block = latex.macro_block({"X": 1})
    with pytest.raises(ValueError, match="defined in stage files"):
        merge_macro_files([block, block])
