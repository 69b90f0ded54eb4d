"""Compute-cost table from benchmark TSVs, checked against hand-made files."""

import pytest

from learndyn.benchmarks import cost_macros, cost_table, read_benchmarks

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write(path, s, rss, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{s}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t0\t{cpu}\n")


def test_cost_table_sums_per_stage(tmp_path):
    root = tmp_path / "benchmarks"
    write(root / "train" / "spirals" / "mlp_L4.tsv", 10.0, 300.0, 19.0)
    write(root / "train" / "spirals" / "mlp_L8.tsv", 20.0, 500.0, 39.0)
    write(root / "theory" / "e1.tsv", 5.0, 100.0, 5.0)
    jobs = read_benchmarks(sorted(root.rglob("*.tsv")))
    assert set(jobs["job"]) == {"spirals/mlp_L4", "spirals/mlp_L8", "e1"}
    table = cost_table(jobs).set_index("stage")
    assert table.loc["train", "jobs"] == 2
    assert table.loc["train", "wall [s]"] == pytest.approx(30.0)
    assert table.loc["all", "peak RSS [MiB]"] == pytest.approx(500.0)
    assert cost_macros(jobs) == {"SerialMinutes": 0.58, "PeakRssMiB": 500.0, "NumJobs": 3}


def test_rule_table_sums_per_rule_and_names_rules_without_latex_specials(tmp_path):
    from learndyn.benchmarks import rule_table

    root = tmp_path / "benchmarks"
    write(root / "train" / "spirals" / "mlp_L4.tsv", 10.0, 300.0, 9.0)
    write(root / "train" / "spirals" / "mlp_L8.tsv", 20.0, 500.0, 19.0)
    write(root / "train" / "tune" / "spirals.tsv", 4.0, 200.0, 4.0)
    write(root / "theory" / "e1.tsv", 5.0, 100.0, 5.0)
    jobs = read_benchmarks(sorted(root.rglob("*.tsv")))
    rules = {"train/spirals/mlp_L4": "train_cell:full", "train/spirals/mlp_L8": "train_cell:full"}
    rules["train/tune/spirals"] = "train_tune"
    table = rule_table(jobs, rules).set_index("rule")
    assert list(table.index) == ["train cell, full", "theory", "train tune"]  # most wall first
    assert table.loc["train cell, full", "jobs"] == 2
    assert table.loc["train cell, full", "wall [s]"] == pytest.approx(30.0)
    assert table.loc["train cell, full", "CPU [s]"] == pytest.approx(28.0)
    assert table.loc["theory", "jobs"] == 1  # no rule known: its stage


def test_measured_reads_cpu_time_beside_wall_time(tmp_path):
    from learndyn.benchmarks import measured

    write(tmp_path / "benchmarks" / "theory" / "e1.tsv", 5.0, 100.0, 4.5)
    assert measured(tmp_path) == {
        "benchmarks/theory/e1.tsv": {"wall_s": 5.0, "cpu_s": 4.5, "max_rss_mib": 100.0}
    }
