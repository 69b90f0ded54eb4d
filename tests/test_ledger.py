"""The paper's claims ledger concatenates the halves' rows, each with the unit of its test."""

import pandas as pd

from learndyn.ledger import FIRST, combine, split_descriptive


def test_halves_stack_with_their_units_and_keys(tmp_path):
    train = tmp_path / "train.csv"
    pd.DataFrame(
        {
            "family": ["empirical"],
            "key": ["GradFlow"],
            "claim": ["gradient flow"],
            "task": ["spirals"],
            "model": ["structured"],
            "baseline": ["mlp"],
            "depth": ["8"],
            "width": ["64"],
            "n_seeds": [10],
            "n_dropped": [2],
            "verdict": ["supported"],
            "excluded_reason": [""],
        }
    ).to_csv(train, index=False)
    bridge = tmp_path / "bridge.csv"
    pd.DataFrame(
        {
            "family": ["bridge"],
            "claim": ["BetweenTestMetric"],
            "task": ["fashion_mnist_2k"],
            "model": ["population"],
            "baseline": [""],
            "depth": ["8"],
            "width": ["64"],
            "n_seeds": [float("nan")],
            "verdict": ["inconclusive"],
            "test_unit": ["architecture"],
            "n_units": [28],
        }
    ).to_csv(bridge, index=False)
    df = combine({"train": train, "bridge": bridge})
    assert list(df.columns[: len(FIRST)]) == FIRST
    assert df.half.tolist() == ["train", "bridge"]
    assert df.key.tolist() == ["GradFlow", "BetweenTestMetric"]  # the claim where a half has no key
    assert df.test_unit.tolist() == ["seed", "architecture"]
    # the paired seeds (n_seeds already leaves out a dropped seed: not subtracted twice); the
    # bridge's own
    assert df.n_units.tolist() == [10, 28]
    assert df.depth.tolist() == ["8", "8"] and df.excluded_reason.isna().all()  # empty in the CSV


def test_descriptive_rows_leave_the_ledger_for_their_own_file():
    df = pd.DataFrame(
        {"family": ["empirical", "descriptive", "bridge"], "claim": ["a", "b", "c"], "n_seeds": [10, 5, 10]}
    )
    claims, descriptive = split_descriptive(df)
    assert list(claims.claim) == ["a", "c"] and list(descriptive.claim) == ["b"]
    assert (claims.n_seeds >= 10).all()
