"""Snakemake's ``benchmark:`` files read: the measured jobs of a run (``measured``, what the cost
model is fitted to) and the compute cost of the pipeline (paper appendix, report).

A benchmark file is a TSV with one row per repeat: ``s`` (wall seconds), ``max_rss`` (MiB),
``cpu_time`` (s), ... Its path ``benchmarks/<stage>/<rest>.tsv`` names the job.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd


def measured(run_dir: str | Path) -> dict[str, dict]:
    """``{benchmarks/<...>.tsv: {"wall_s", "max_rss_mib"}}`` of a run directory (last repeat)."""
    root = Path(run_dir)
    out = {}
    for path in sorted(root.glob("benchmarks/**/*.tsv")):
        with path.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        rss = rows[-1].get("max_rss", "nan")
        out[str(path.relative_to(root))] = {
            "wall_s": float(rows[-1]["s"]),
            "max_rss_mib": float(rss) if rss not in ("", "-") else float("nan"),
        }
    if not out:
        raise FileNotFoundError(f"{root}/benchmarks: no benchmark files (run the profile there first)")
    return out


def read_benchmarks(paths) -> pd.DataFrame:
    """One row per job: stage, job label, wall seconds, CPU seconds, peak RSS (MiB)."""
    rows = []
    for path in map(Path, paths):
        bench = pd.read_csv(path, sep="\t")
        parts = path.with_suffix("").parts
        stage = parts[parts.index("benchmarks") + 1] if "benchmarks" in parts else "other"
        rows.append(
            {
                "stage": stage,
                "job": "/".join(parts[parts.index(stage) + 1 :]),
                "wall_s": float(bench["s"].median()),
                "cpu_s": float(pd.to_numeric(bench["cpu_time"], errors="coerce").median()),
                "max_rss_mib": float(pd.to_numeric(bench["max_rss"], errors="coerce").max()),
            }
        )
    return pd.DataFrame(rows, columns=["stage", "job", "wall_s", "cpu_s", "max_rss_mib"])


def cost_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per-stage totals: jobs, wall and CPU time, slowest job, peak RSS."""
    grouped = jobs.groupby("stage", sort=True)
    table = (
        pd.DataFrame(
            {
                "jobs": grouped.size(),
                "wall [s]": grouped["wall_s"].sum(),
                "CPU [s]": grouped["cpu_s"].sum(),
                "slowest job [s]": grouped["wall_s"].max(),
                "peak RSS [MiB]": grouped["max_rss_mib"].max(),
            }
        )
        .reset_index()
        .rename(columns={"stage": "stage"})
    )
    total = {
        "stage": "all",
        "jobs": int(table["jobs"].sum()),
        "wall [s]": table["wall [s]"].sum(),
        "CPU [s]": table["CPU [s]"].sum(),
        "slowest job [s]": table["slowest job [s]"].max(),
        "peak RSS [MiB]": table["peak RSS [MiB]"].max(),
    }
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def cost_macros(jobs: pd.DataFrame) -> dict[str, float]:
    """Numbers the appendix quotes (sum of job wall times is serial time, an upper bound)."""
    if jobs.empty:
        return {"SerialMinutes": 0.0, "PeakRssMiB": 0.0, "NumJobs": 0}
    return {
        "SerialMinutes": round(jobs["wall_s"].sum() / 60, 2),
        "PeakRssMiB": round(jobs["max_rss_mib"].max(), 1),
        "NumJobs": len(jobs),
    }
