"""The benchmark CLI runs in smoke mode and reports the fields the README quotes."""

import json
import subprocess
import sys


def test_train_bench_smoke():
    proc = subprocess.run(
        [sys.executable, "-m", "learndyn.bench", "train", "--smoke"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout)
    row = out["rows"][0]
    assert out["gemm_flops"] > 0 and row["peer_s"] > 0 and row["ours_s"] > 0
    assert row["speedup"] == row["peer_s"] / row["ours_s"]
    assert "machine" in out
    # the evaluation cadence it ran at: the smoke run's own interval, the jobs' sample count
    from learndyn.bench.train import jobs_cadence

    assert out["eval_every"] == 2 and out["eval_samples"] == jobs_cadence()[1]


def test_theory_bench_smoke():
    proc = subprocess.run(
        [sys.executable, "-m", "learndyn.bench", "theory", "--smoke"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout)
    assert out["method"] == "rk4" and [r["depth"] for r in out["rows"]] == [1, 2]
    for row in out["rows"]:
        # the same fixed steps in both spaces: equal evaluation counts, ratio of wall times
        assert row["weight_evals"] == row["field_evals"] > 0
        assert row["ratio"] > 0 and row["weight_s"] > 0
