"""The paper's claims ledger, ``results/paper/claims.csv``: one row per comparison of the whole
paper, the rows of each half concatenated (torch-free).

Each half tests its own family and writes its rows (``results/analysis/train_claims.csv``: the
training half's families, ``learndyn.train.claims``; ``results/bridge/claims.csv``: the bridge;
``results/theory/structured_closure.csv``: the structured layer's closure). The ledger keeps
every column any of them has (empty where a half has none) and adds ``half``; every row names
the unit of its test (``test_unit``: seed, or architecture for the bridge's between-model rows)
and their number (``n_units``), and has a ``key`` (the claim's name where a half has no key).
The bridge's sensitivity rows (family ``bridge sensitivity``, verdict ``sensitivity``: the
between-model tests with the continua collapsed or left out, or given the weight-norm change) are
outside every Holm family; the fewest-units rule of the between-model tests applies to the
verdict rows (family ``bridge``). Rows of a study marked ``family: descriptive`` (a trend with its
interval, no verdict, e.g. the depth sweep at its own seed count) are not claims: they go to
``results/paper/descriptive.csv`` beside the ledger (``split_descriptive``)."""

from __future__ import annotations

import os

import pandas as pd

# the columns a half's rows file has at least (the training half's ledger has more, and names
# its unit and number of units through ``read_rows``)
HALF_COLUMNS = [
    "family", "claim", "task", "model", "baseline", "depth", "width", "n_seeds", "selection_split",
    "effect", "unit", "low", "high", "p", "p_holm", "verdict", "by_construction", "budget",
    "test_unit", "n_units",
]  # fmt: skip
# the columns every row has, first, in this order (the rest follow in the halves' order)
FIRST = [
    "half",
    "family",
    "key",
    "claim",
    "task",
    "model",
    "baseline",
    "depth",
    "width",
    "test_unit",
    "n_units",
]


def read_rows(path: str | os.PathLike, half: str) -> pd.DataFrame:
    """One half's rows, with ``half``, a ``key`` and the unit of each test (a training row is
    paired by seed: its unit is the seed, its number the paired seeds)."""
    df = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"depth": str, "width": str})
    df.insert(0, "half", half)
    if "key" not in df:
        df["key"] = df["claim"]
    if "test_unit" not in df:
        df["test_unit"] = "seed"
    if "n_units" not in df:  # n_seeds counts the paired seeds: a dropped seed is already out of it
        df["n_units"] = df["n_seeds"]
    return df


def combine(parts: dict[str, str | os.PathLike]) -> pd.DataFrame:
    """The ledger from ``{half: path}``: the halves' rows stacked, ``FIRST`` columns first."""
    frames = [read_rows(path, half) for half, path in parts.items()]
    df = pd.concat(frames, ignore_index=True, sort=False)
    rest = [c for c in df.columns if c not in FIRST]
    return df[FIRST + rest]


DESCRIPTIVE = "descriptive"  # the family of a descriptive study's rows (``train.claims.DESCRIPTIVE``)


def split_descriptive(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims, descriptive): the ledger's rows that carry a verdict or a check, and the rows of
    descriptive studies (intervals only, no verdict, outside every family)."""
    descriptive = df["family"] == DESCRIPTIVE
    return df[~descriptive].reset_index(drop=True), df[descriptive].reset_index(drop=True)
