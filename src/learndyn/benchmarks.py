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
    """``{benchmarks/<...>.tsv: {"wall_s", "cpu_s", "max_rss_mib"}}`` of a run directory (last
    repeat). ``cpu_s`` is the job's CPU seconds (user + system); for a one-thread job it is its
    wall time on a quiet machine, and it does not grow with the other jobs that share the
    cores, which ``wall_s`` does."""
    root = Path(run_dir)
    out = {}
    for path in sorted(root.glob("benchmarks/**/*.tsv")):
        with path.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        rss, cpu = rows[-1].get("max_rss", "nan"), rows[-1].get("cpu_time", "nan")
        out[str(path.relative_to(root))] = {
            "wall_s": float(rows[-1]["s"]),
            "cpu_s": float(cpu) if cpu not in ("", "-", None) else float("nan"),
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


SNAPSHOT_COLUMNS = ("s", "max_rss", "cpu_time")  # what the cost model reads of a benchmark file


def snapshot(run_dir: str | Path, configfile: str | Path) -> dict:
    """A run's benchmark records (the columns the cost model reads, last repeat) and the text of
    the config it ran, as one JSON-able dict: a small, self-contained copy of a run for a test
    fixture (``restore`` writes it back as a run directory)."""
    root = Path(run_dir)
    records = {}
    for path in sorted(root.glob("benchmarks/**/*.tsv")):
        with path.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if rows:
            records[str(path.relative_to(root))] = {k: rows[-1].get(k, "NA") for k in SNAPSHOT_COLUMNS}
    if not records:
        raise FileNotFoundError(f"{root}/benchmarks: no benchmark files (run the profile there first)")
    return {"config": Path(configfile).read_text(), "benchmarks": records}


def restore(snap: dict, run_dir: str | Path) -> Path:
    """Write ``snapshot``'s benchmark files under ``run_dir`` and its config as
    ``run_dir/config.yaml``; returns the config's path."""
    root = Path(run_dir)
    for bench, row in snap["benchmarks"].items():
        path = root / bench
        path.parent.mkdir(parents=True, exist_ok=True)
        cols = list(row)
        path.write_text("\t".join(cols) + "\n" + "\t".join(str(row[c]) for c in cols) + "\n")
    config = root / "config.yaml"
    config.write_text(snap["config"])
    return config


def rule_table(jobs: pd.DataFrame, rules: dict[str, str]) -> pd.DataFrame:
    """Per rule (``rules``: the job's ``stage/label`` -> its rule, as the cost model's law keys
    name them): jobs, summed wall and CPU time, slowest job, peak RSS; largest summed wall
    time first. Jobs without a rule are counted under their stage."""
    label = [rules.get(f"{s}/{j}", s) for s, j in zip(jobs["stage"], jobs["job"])]
    named = jobs.assign(rule=[r.replace("_", " ").replace(":", ", ") for r in label])
    grouped = named.groupby("rule", sort=True)
    table = pd.DataFrame(
        {
            "jobs": grouped.size(),
            "wall [s]": grouped["wall_s"].sum(),
            "CPU [s]": grouped["cpu_s"].sum(),
            "slowest job [s]": grouped["wall_s"].max(),
            "peak RSS [MiB]": grouped["max_rss_mib"].max(),
        }
    )
    return table.sort_values("wall [s]", ascending=False).reset_index()
