"""The cost model: work sizes, laws fitted on synthetic benchmark tables with a known law, the
plan of a profile, its resources, and the paper profile."""

import math
from pathlib import Path

import pytest

from learndyn import costmodel as cm
from learndyn import worksize as ws
from learndyn.bench import plan as bp
from learndyn.benchmarks import measured
from learndyn.config import load_config_file

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "config" / "quick.yaml"


def _write_bench(root: Path, bench: str, wall: float, rss: float) -> None:
    path = root / bench
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{wall}\t0:00:01\t{rss}\t{wall}\n")


def test_work_grows_with_every_size():
    base = ws.train_work({"kind": "mlp"}, 32, 2, 64, 8, 10, 1000, 128)[0]
    assert ws.train_work({"kind": "mlp"}, 32, 2, 128, 8, 10, 1000, 128)[0] > 3 * base  # ~ width^2
    assert ws.train_work({"kind": "mlp"}, 32, 2, 64, 16, 10, 1000, 128)[0] > 1.8 * base  # ~ depth
    assert ws.train_work({"kind": "mlp"}, 32, 2, 64, 8, 5, 1000, 128)[0] == pytest.approx(base / 2)
    assert ws.train_work({"kind": "structured"}, 32, 2, 64, 8, 10, 1000, 128)[0] > base


def test_evaluation_work_follows_the_measurement_sizes():
    """The evaluation term counts the samples each evaluation passes through the network: it
    grows with the probe and robustness sizes (quick and default profiles differ there), with
    the width, and is larger for a full-level cell than for a sweep cell or a tuning run."""
    import copy

    config = load_config_file(QUICK)
    train, task = config["train"], config["data"]["tasks"]["fashion_mnist_2k"]
    macs = ws.macs_per_sample({"kind": "mlp"}, 784, 10, 32, 4)
    full = ws.evaluation_work(train, task, 120, 3, macs, "full")
    sweep, tune = (
        ws.evaluation_work(train, task, 120, 3, macs, "sweep"),
        ws.evaluation_work(train, task, 120, 3, macs),
    )
    assert full > sweep > tune > 0
    bigger = copy.deepcopy(train)
    bigger["measure"]["probe_samples"] *= 2
    bigger["measure"]["hessian_iters"] *= 2
    assert ws.evaluation_work(bigger, task, 120, 3, macs, "full") > 1.2 * full
    assert ws.evaluation_work(bigger, task, 120, 3, macs) == tune  # a tuning run has no probes
    assert ws.evaluation_work(train, task, 240, 3, macs, "full") > 1.5 * full  # twice the evaluations
    wide = ws.macs_per_sample({"kind": "mlp"}, 784, 10, 64, 4)
    assert ws.evaluation_work(train, task, 120, 3, wide, "full") == pytest.approx(full * wide / macs)


def test_fit_recovers_a_known_law_from_synthetic_benchmarks(tmp_path):
    """Benchmark files written from wall = 3 + 2e-3 ops + 5e-9 work (+-2 % noise) for the jobs of
    the quick profile (the work term only for rules with enough distinct work sizes to identify
    it; the others are ops-only laws): the fitted laws give the walls back within the noise."""
    import numpy as np

    rng = np.random.default_rng(0)
    config = load_config_file(QUICK)
    jobs = cm.jobs(config)
    identified = {k for k in {j.law for j in jobs} if cm._enough([j.work for j in jobs if j.law == k])}
    assert {"train_cell:full", "train_tune"} <= identified
    truth = {}
    for j in jobs:
        work = 5e-9 * j.work if j.law in identified else 0.0
        wall = (3.0 + 2e-3 * j.ops + work) * (1 + 0.02 * rng.standard_normal())
        truth[j.bench] = wall
        _write_bench(tmp_path, j.bench, wall, 400 + 1e-6 * j.mem_work)
    laws = bp.calibrate(str(tmp_path), str(QUICK))
    cell = laws["train_cell:full"]
    # the compute coefficient is identified; ops and work are correlated in a small profile, so
    # the ops coefficient only within a factor of two
    assert cell.b == pytest.approx(5e-9, rel=0.3) and 1e-3 <= cell.p <= 4e-3
    pred = {p["bench"]: p["wall_s"] for p in cm.predict(jobs, laws)}
    for bench, wall in truth.items():
        assert pred[bench] == pytest.approx(wall, rel=0.15), bench
    # and the law extrapolates: a job 100x larger is predicted by the same law
    big = ws.Size(
        "train_cell:full", "x", 100 * max(j.work for j in jobs), 1.0, ops=10 * max(j.ops for j in jobs)
    )
    got = cm.predict([big], laws)[0]["wall_s"]
    assert got == pytest.approx(3.0 + 2e-3 * big.ops + 5e-9 * big.work, rel=0.3)


def test_plan_of_the_quick_profile_is_consistent_with_its_own_calibration(tmp_path):
    config = load_config_file(QUICK)
    for j in cm.jobs(config):
        _write_bench(tmp_path, j.bench, 4.0 + 1e-8 * j.work, 500.0)
    laws = bp.calibrate(str(tmp_path), str(QUICK))
    result = cm.plan(config, laws, cores=2)
    check = bp.validate(laws, str(tmp_path), str(QUICK))
    assert check["median_abs_rel_error"] < 0.05
    measured_cpu = sum(4.0 + 1e-8 * j.work for j in cm.jobs(config)) / 3600
    assert result["total_cpu_h"] == pytest.approx(measured_cpu, rel=0.05)
    assert result["critical_path_h"] * 3600 >= max(4.0 + 1e-8 * j.work for j in cm.jobs(config))
    assert result["wall_h_estimate"] >= result["total_cpu_h"] / 2
    block = cm.profile_block(result)
    assert block.startswith("set-resources:") and "  train_cell:" in block and "mem_mb:" in block
    for r in result["rules"].values():
        assert r["resources"]["mem_mb"] >= 500 and r["resources"]["runtime"] >= 5


def test_requests_follow_the_law_and_fall_back_without_one():
    config = load_config_file(QUICK)
    job = next(j for j in cm.jobs(config) if j.law.startswith("train_cell"))
    assert cm.request(job, {}) == {"runtime": 30, "mem_mb": 2000, "threads": 1}
    assert cm.request(None, {}) == {"runtime": 30, "mem_mb": 2000, "threads": 1}
    law = cm.Law(3.0, 0.0, 600.0 / job.work, 300.0, 0.0, 1)  # 603 s, 300 MiB predicted
    # runtime 2 x 603 s = 20.1 min -> 21 + 5; memory 1.5 x 300 MiB -> 500 + 200
    assert cm.request(job, {job.law: law}) == {"runtime": 26, "mem_mb": 700, "threads": 1}


def test_the_paper_profile_validates_and_plans(tmp_path):
    paper = load_config_file(ROOT / "config" / "paper.yaml")
    assert paper["train"]["width"] == 128 and paper["theory"]["n"] == 128
    assert max(paper["theory"]["truncation"]["widths"]) == 4096
    assert paper["data"]["tasks"]["fashion_mnist"]["source"] == "download"
    laws = {
        k: cm.Law(3.0, 1e-3, 1e-9, 300.0, 1e-6, 5)
        for k in ("train_cell:full", "train_cell:sweep", "train_tune")
    }
    result = cm.plan(paper, laws)
    assert result["rules"]["train_cell:sweep"]["jobs"] > 50
    assert result["total_cpu_h"] > 0


def test_missing_benchmarks_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no benchmark files"):
        measured(tmp_path)


def test_the_paper_profile_dry_runs():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "config/paper.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_measured_step_times_carry_the_training_laws_to_a_larger_profile(tmp_path):
    """Training walls written as 4 + f(rule) + steps x t(shape) x (1 + evals / work) for the
    quick profile's jobs, t a made-up step time per ensemble and f a fixed cost per rule
    (2 s for a grid cell): calibrated with those step times, the training laws are
    *measured* (the work coefficient is only their fallback) and predict the default study's
    training jobs from the default's own step times, where a law in work would extrapolate from
    overhead-bound jobs."""
    quick, default = (
        cm.jobs(load_config_file(QUICK)),
        cm.jobs(load_config_file(ROOT / "config" / "config.yaml")),
    )

    def t_step(shape):  # a step time that is not proportional to the work units
        import json

        _, _, d_in, _, width, depth, members, batch = json.loads(shape)
        return 1e-3 + depth * (2e-4 + 3e-9 * members * batch * width**1.5) + 1e-10 * members * batch * d_in

    steps = {j.shape: t_step(j.shape) for j in quick + default if j.shape}

    def truth(j):
        fixed = 2.0 if j.law.startswith("train_cell") else 0.0
        return 4.0 + fixed + j.steps * steps[j.shape] * (1 + j.evals / j.work)

    for j in quick:
        wall = truth(j) if j.shape else 4.0 + 1e-3 * j.ops
        _write_bench(tmp_path, j.bench, wall, 500.0)
    laws = bp.calibrate(str(tmp_path), str(QUICK), step_times=steps)
    for key in cm.TRAIN_LAWS:
        assert laws[key].measured and laws[key].b > 0.0, key
    pred = cm.predict(default, laws, steps)
    for p, j in zip(pred, default):
        if j.shape:
            assert p["wall_s"] == pytest.approx(truth(j), rel=0.05)
    # without the ensemble's step time, a measured law falls back to the calibration's median
    # compute per work unit (a finite, positive guess, flagged by nothing but its law)
    job = next(j for j in default if j.shape)
    law = laws[job.law]
    got = cm.predict([job], laws, {})[0]["wall_s"]
    assert math.isfinite(got) and got == pytest.approx(law.overhead + law.p + law.b * (job.work + job.evals))


def test_step_times_are_measured_for_each_ensemble():
    """One default-study ensemble (width 64, depth 8, 10 members): a step takes milliseconds,
    and the two short runs' difference measures it (set-up and evaluation cancel)."""
    config = load_config_file(ROOT / "config" / "config.yaml")
    job = next(j for j in cm.jobs(config) if j.law == "train_cell:full")
    times = bp.measure_step_times([job, job], steps=(2, 8))
    assert list(times) == [job.shape] and 1e-4 < times[job.shape] < 1.0
    # two timing processes at once (as the workflow runs two jobs), the ensembles dealt out
    other = next(j for j in cm.jobs(config) if j.law == "train_tune")
    both = bp.measure_step_times([job, other], steps=(2, 8), parallel=2)
    assert set(both) == {job.shape, other.shape} and all(1e-4 < t < 1.0 for t in both.values())


def test_step_from_times_takes_minima_and_never_returns_zero():
    """The difference of the minima over repeats; a noisy, non-positive difference falls back
    to the longer run's time per step (an upper bound), never 0."""
    assert bp.step_from_times({2: [1.5, 1.2], 6: [1.6, 2.0]}) == pytest.approx((1.6 - 1.2) / 4)
    assert bp.step_from_times({6: [3.0], 2: [1.0]}) == pytest.approx(0.5)  # order of keys
    noisy = bp.step_from_times({2: [1.30, 1.25], 6: [1.24, 1.40]})  # T(6) < T(2): noise
    assert noisy == pytest.approx(1.24 / 6) and noisy > 0


def test_the_plan_warns_of_a_request_beyond_a_week():
    config = load_config_file(QUICK)
    laws = {k: cm.Law(3.0, 0.0, 1e-9, 300.0, 0.0, 1) for k in {j.law for j in cm.jobs(config)}}
    result = cm.plan(config, laws)
    assert "warning" not in bp.text(result, "quick")
    big = {k: cm.Law(3.0, 0.0, 1e3, 300.0, 0.0, 1) for k in laws}  # days per job
    assert "warning: train_cell:full asks for" in bp.text(cm.plan(config, big), "quick")


FIXTURE = ROOT / "tests" / "data" / "costmodel_runs.json"
# the targets for the out-of-sample median absolute error per job
TARGET_TRAIN = 0.30
TARGET_THEORY = 0.50
# what the default run's jobs are compared on: their CPU seconds. The fixture's default run shared
# its 2 cores with other work (load average 4-5; its jobs had 14-90 % of a core), so its wall
# seconds measure that load more than the jobs (training 52 % off per job against them, 27 %
# against CPU). Snakemake samples CPU time every 30 s after a job's first 15 s, so a longer job's
# CPU seconds are a lower bound: rerun the default study on a quiet machine to compare walls.
VALIDATE_ON = "cpu_s"


def _fixture_runs(tmp_path):
    import json

    from learndyn.benchmarks import restore

    fx = json.loads(FIXTURE.read_text())
    dirs = {name: tmp_path / name for name in ("quick", "default")}
    configs = {name: restore(fx[name], d) for name, d in dirs.items()}
    return dirs, configs, fx["step_times"]


def test_laws_calibrated_on_the_quick_profile_predict_the_default_study_out_of_sample(tmp_path):
    """Laws fitted on a quick run's benchmarks (CPU seconds) and measured step times, never on the
    default study, predict the default study's jobs (their CPU seconds, ``VALIDATE_ON``): per
    job, the median absolute error of the training rules within 30 % and of the theory rules
    within 50 %; one-job rules are reported apart. No default job is in the calibration set."""
    dirs, configs, steps = _fixture_runs(tmp_path)
    quick_jobs = {j.bench: j for j in cm.jobs(load_config_file(configs["quick"]))}
    default_jobs = cm.jobs(load_config_file(configs["default"]))
    shared = [j for j in default_jobs if j.bench in quick_jobs]
    assert all(
        (j.work, j.ops, j.steps)
        != (quick_jobs[j.bench].work, quick_jobs[j.bench].ops, quick_jobs[j.bench].steps)
        for j in shared
    )
    laws = bp.calibrate(str(dirs["quick"]), str(configs["quick"]), step_times=steps, quantity="cpu_s")
    check = bp.validate(laws, str(dirs["default"]), str(configs["default"]), steps, quantity=VALIDATE_ON)
    # every measured job is predicted (jobs added to the catalogue since the fixture have no record)
    recorded = [j for j in default_jobs if (dirs["default"] / j.bench).is_file()]
    assert len(check["jobs"]) == len(recorded) >= 100
    train, theory = check["families"]["train"], check["families"]["theory"]
    assert train["multi_jobs"] >= 80 and theory["multi_jobs"] >= 8
    # a family whose rules are all single-job counts 0 multi-job jobs (a count, never NaN)
    assert all(f["multi_jobs"] >= 0 for f in check["families"].values())
    assert train["multi_median"] <= TARGET_TRAIN, train
    assert theory["multi_median"] <= TARGET_THEORY, theory
    for key, rule in check["rules"].items():
        assert rule["single"] == (rule["jobs"] == 1), key
    text = bp.validation_text(check, "default")
    assert "(single job)" in text and "train: median |error| per job" in text


def test_in_sample_validation_is_not_what_the_out_of_sample_one_reports(tmp_path):
    """Fitted on the default study itself, the one-job rules fit their job (their error is
    small and tells nothing), which is why the validation reports them apart."""
    dirs, configs, steps = _fixture_runs(tmp_path)
    laws = bp.calibrate(str(dirs["default"]), str(configs["default"]), step_times=steps, quantity="wall_s")
    check = bp.validate(laws, str(dirs["default"]), str(configs["default"]), steps, quantity="wall_s")
    singles = [r for r in check["rules"].values() if r["single"] and not r.get("measured")]
    assert singles and min(r["median_abs_rel_error"] for r in singles) < 0.05


def test_the_snapshot_round_trips(tmp_path):
    from learndyn.benchmarks import measured, restore, snapshot

    dirs, configs, _ = _fixture_runs(tmp_path)
    again = restore(snapshot(dirs["quick"], configs["quick"]), tmp_path / "again")
    assert measured(tmp_path / "again") == measured(dirs["quick"])
    assert again.read_text() == configs["quick"].read_text()


def test_theory_ops_grow_with_the_mask_entries_and_the_horizon():
    """An event-driven flow's steps grow with t (n m L)^EVENT_GROWTH, each costing L layers."""
    base = ws.flow_ops(32, 64, 2, 1.0)
    assert ws.flow_ops(32, 64, 2, 4.0) == pytest.approx(4 * base)
    assert ws.flow_ops(64, 64, 2, 1.0) == pytest.approx(2**ws.EVENT_GROWTH * base)
    assert ws.flow_ops(32, 64, 4, 1.0) == pytest.approx(2 ** (1 + ws.EVENT_GROWTH) * base)


def test_the_appendix_reads_the_plan_and_names_every_job_by_its_rule():
    """Every heavy job's benchmark label maps to its law key (the per-rule table of this run);
    the plan's rows cover every rule once, most CPU first, and its macros are its totals."""
    config = load_config_file(QUICK)
    rules = cm.bench_rules(config)
    assert len(rules) == len(cm.jobs(config)) and set(rules.values()) == {j.law for j in cm.jobs(config)}
    assert all(not label.startswith("benchmarks/") and not label.endswith(".tsv") for label in rules)
    laws = {k: cm.Law(3.0, 1e-3, 1e-9, 300.0, 1e-6, 5) for k in set(rules.values())}
    result = cm.plan(config, laws)
    rows = cm.plan_rows(result)
    assert [r["CPU [h]"] for r in rows] == sorted((r["CPU [h]"] for r in rows), reverse=True)
    assert {r["rule"] for r in rows} == {cm.rule_label(k) for k in result["rules"]}
    assert all("_" not in r["rule"] for r in rows)
    macros = cm.plan_macros(result)
    assert macros["PlanJobs"] == len(cm.jobs(config)) == sum(r["jobs"] for r in rows)
    assert macros["PlanCpuHours"] == round(result["total_cpu_h"], 1)


def test_validation_text_says_when_a_family_has_no_multi_job_rules():
    nan = float("nan")
    fam = {"single_median": 0.08, "single_worst": 0.08, "single_jobs": 1, "target": nan}
    v = {
        "rules": {},
        "median_abs_rel_error": 0.1,
        "families": {
            "bridge": fam | {"multi_median": nan, "multi_worst": nan, "multi_jobs": 0},
            "train": fam | {"multi_median": 0.09, "multi_worst": 0.88, "multi_jobs": 134, "target": 0.3},
        },
    }
    text = bp.validation_text(v, "RUN")
    assert "bridge: no multi-job rules; single-job rules 8%" in text and "nan" not in text
    assert "train: median |error| per job 9% (worst 88%, 134 jobs of multi-job rules; target 30%)" in text
