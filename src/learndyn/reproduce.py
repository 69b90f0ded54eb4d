"""Comparing two result trees: same data variables, same tables and macros; and two claims
ledgers: ``python -m learndyn.reproduce claims A.csv B.csv`` prints the verdicts that changed.

Timing outputs (``results/paper/compute/``, and data variables named ``wall_*``, which hold
wall-clock seconds) and the LaTeX build directory are not results and are skipped. Used by the
determinism test, the kill-and-resume test and the cluster check. Provenance
attributes (commit, time stamps, versions) are set aside; everything else must match exactly,
or, with ``rtol``/``atol`` (a run on another device: CUDA against CPU), the netCDF variables
must agree within those tolerances (NaN where the other is NaN) and the LaTeX text, whose
formatted numbers may differ in the last digit, is not compared.

Stated tolerances for CUDA against CPU (``DEVICE_TOLERANCES``): the theory half runs in
float64 and its trajectories agree to ``rtol=1e-6``; training runs in float32, where summation
order differs between devices and nonlinear training amplifies rounding, so training results
are compared at ``rtol=5e-2`` over a short run (the quick profile), as a check that the same
computation ran, not that every bit matches.
"""

from __future__ import annotations

import re
from pathlib import Path

import xarray as xr

from .io import open_dataset

DEVICE_TOLERANCES = {"theory": {"rtol": 1e-6, "atol": 1e-9}, "train": {"rtol": 5e-2, "atol": 1e-3}}

# Macro lines that legitimately differ between checkouts of the same commit.
VOLATILE_MACROS = re.compile(r"^\\newcommand\{\\LDCommit\}.*$", re.M)
# The short SHA-256 of a dataset in the figure and table links (learndyn.links): a file's bytes
# carry its creation time (provenance), so a rebuilt dataset with identical contents has another
# digest; the datasets themselves are compared by content above.
VOLATILE_DIGESTS = re.compile(r"~\\texttt\{[0-9a-f]{6,64}\}")


def drop_timings(ds: xr.Dataset) -> xr.Dataset:
    """Remove wall-clock measurements (variables named ``wall_*``), which differ run to run."""
    return ds.drop_vars([name for name in ds.data_vars if str(name).startswith("wall_")])


def result_files(root: str | Path, pattern: str) -> dict[str, Path]:
    root = Path(root)
    return {
        str(p.relative_to(root)): p
        for p in sorted((root / "results").rglob(pattern))
        if not {"build", "compute"} & set(p.parts)
    }


def diff_results(a: str | Path, b: str | Path, rtol: float | None = None, atol: float = 0.0) -> list[str]:
    """Human-readable differences between the results/ trees of two checkouts (empty: identical,
    or with ``rtol`` equal within tolerance; see the module docstring)."""
    problems = []
    for pattern in ("*.nc",) if rtol is not None else ("*.nc", "*.tex"):
        fa, fb = result_files(a, pattern), result_files(b, pattern)
        for rel in sorted(fa.keys() ^ fb.keys()):
            problems.append(f"{rel}: present in only one tree")
        for rel in sorted(fa.keys() & fb.keys()):
            if pattern == "*.nc":
                da, db = drop_timings(open_dataset(fa[rel])), drop_timings(open_dataset(fb[rel]))
                da.attrs, db.attrs = {}, {}
                try:
                    if rtol is None:
                        xr.testing.assert_identical(da, db)
                    else:
                        xr.testing.assert_allclose(da, db, rtol=rtol, atol=atol)
                except (AssertionError, TypeError) as err:
                    problems.append(f"{rel}: {str(err).splitlines()[0]}")
            else:
                ta = VOLATILE_DIGESTS.sub("", VOLATILE_MACROS.sub("", fa[rel].read_text()))
                tb = VOLATILE_DIGESTS.sub("", VOLATILE_MACROS.sub("", fb[rel].read_text()))
                if ta != tb:
                    problems.append(f"{rel}: text differs")
    return problems


def claims_diff(a: str | Path, b: str | Path) -> list[str]:
    """One line per comparison of two claims ledgers (``results/paper/claims.csv``) whose verdict
    changed, or that only one of them has: ``family key task vs baseline (depth, width):
    verdict A -> verdict B``."""
    from .train.claims import changed_verdicts
    from .train.report import read_ledger

    changed = changed_verdicts(read_ledger(a), read_ledger(b))
    return [
        f"{r.family} {r.key} {r.task} vs {r.baseline} (L={r.depth}, d={r.width}): "
        f"{r.verdict_a} -> {r.verdict_b}"
        for r in changed.itertuples()
    ]


def main_claims(argv) -> int:
    """``python -m learndyn.reproduce claims A.csv B.csv``: the verdicts that changed."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m learndyn.reproduce claims",
        description="Verdicts that differ between two claims ledgers.",
    )
    parser.add_argument("a", help="claims ledger A (results/paper/claims.csv of one run)")
    parser.add_argument("b", help="claims ledger B")
    args = parser.parse_args(argv)
    lines = claims_diff(args.a, args.b)
    for line in lines:
        print(line)
    print("no verdict changed" if not lines else f"{len(lines)} verdict(s) changed")
    return 1 if lines else 0


def main(argv=None) -> int:
    import argparse
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["claims"]:
        return main_claims(argv[1:])
    parser = argparse.ArgumentParser(description="Compare the results/ trees of two checkouts.")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rtol", type=float, help="compare numbers within this relative tolerance")
    parser.add_argument("--atol", type=float, default=0.0)
    args = parser.parse_args(argv)
    problems = diff_results(args.a, args.b, args.rtol, args.atol)
    for line in problems:
        print(line)
    print("identical" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
