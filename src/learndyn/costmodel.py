"""Cost model of the pipeline: cost laws fitted to measured ``benchmark:`` files, and the plan
of a profile (CPU hours, peak memory, critical path, the SLURM resources each rule should
request) for the heavy jobs of the job catalogue (``learndyn.catalogue``), sized by
``learndyn.worksize`` (a job's *work*, what its compute grows with, and its *ops*, the Python
and kernel-launch work that does not grow with the tensor sizes).

A *law* per rule (and measurement level) maps them to seconds,
``wall = overhead + p * ops + b * work`` (non-negative least squares), and memory to MiB,
``rss = rss0 + k * mem_work``. Small jobs are dominated by the first two terms and large ones
by the last, so a law fitted on a small profile extrapolates through the measured split rather
than through a power law of the small jobs. Laws are fitted by :func:`fit_law` from the benchmark files of
a run already made (``learndyn.benchmarks.measured``) and stored in ``config/cost_model.json``;
the workflow's ``resources:`` read them through :func:`resources`.

Importable without torch or pandas (the workflow calls it while building the DAG).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from .catalogue import Catalogue
from .worksize import Size, size

LAW_MIN_POINTS = 3  # distinct work sizes needed to fit an exponent (else c = 1)
LAW_MIN_SPAN = 2.0  # ... spanning at least this factor
SAFETY_RUNTIME = 2.0  # SLURM runtime = SAFETY x predicted wall (+ 5 min)
SAFETY_MEM = 1.5  # SLURM mem_mb = SAFETY x predicted peak RSS (+ 200 MiB)
LIGHT_RULE_S = 15.0  # wall of a rule without a benchmark (aggregation, figures, paper)
MODEL_FILE = "config/cost_model.json"


@dataclass(frozen=True)
class Law:
    """wall = overhead + p * ops + b * work seconds; rss = rss0 + k * mem_work MiB.

    With ``measured`` (training laws calibrated with step times, :func:`fit_laws`): wall =
    overhead + p + C (1 + evals / work), C = steps x (the measured time of one step of the
    job's ensemble) and p the rule's fixed cost; b is then the calibration jobs' median compute
    per work unit, C = b x work for an ensemble whose step time was not measured."""

    overhead: float
    p: float
    b: float
    rss0: float
    k: float
    n: int  # jobs it was fitted on
    measured: bool = False
    # for an ops law (no identified work term): the work coefficient if all its time beyond the
    # overhead grew with the work instead, an upper bound for profiles far beyond the calibration
    b_upper: float = 0.0

    def wall(self, work: float, ops: float = 0.0) -> float:
        return self.overhead + self.p * ops + self.b * work

    def wall_upper(self, job: Size, step_times: dict | None = None) -> float:
        """The prediction, or the work-scaled bound where that is larger (the requests use it)."""
        return max(self.job_wall(job, step_times), self.overhead + self.b_upper * job.work)

    def job_wall(self, job: Size, step_times: dict | None = None) -> float:
        """Predicted wall seconds of ``job`` (a measured law without the job's step time uses its
        fallback compute per work unit ``b``)."""
        if not self.measured:
            return self.wall(job.work, job.ops)
        t = (step_times or {}).get(job.shape)
        # without the ensemble's step time: the calibration jobs' median compute per work unit
        compute = job.steps * t if t is not None else self.b * job.work
        return self.overhead + self.p + with_evaluation(job, compute)

    def rss(self, mem_work: float) -> float:
        return self.rss0 + self.k * mem_work


# --- the jobs ------------------------------------------------------------------------------------


def with_evaluation(job: Size, compute: float) -> float:
    """A training job's seconds from its steps' ``compute`` seconds: its evaluation passes cost
    per multiply-add what its training step does (checked on the default study: the training
    laws within 5 %)."""
    return compute * (1.0 + job.evals / job.work) if job.work else compute


def jobs(config: dict, catalogue: Catalogue | None = None) -> list[Size]:
    """The size of every heavy (benchmarked) job of ``config``'s job catalogue."""
    listed = (catalogue or Catalogue(config)).jobs
    return [size(config, job) for job in listed if job.bench]


# --- fitting laws ----------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else 0.5 * (v[mid - 1] + v[mid])


def _enough(works: list[float]) -> bool:
    distinct = sorted(set(works))
    return len(distinct) >= LAW_MIN_POINTS and distinct[-1] >= LAW_MIN_SPAN * distinct[0]


TRAIN_LAWS = ("train_cell:full", "train_cell:sweep", "train_tune", "train_lr_sweep", "train_fixed_point")


def fit_laws(
    job_list: list[Size],
    measured: dict[str, dict],
    fixed_b: dict[str, float] | None = None,
    step_times: dict[str, float] | None = None,
    quantity: str = "wall_s",
) -> dict[str, Law]:
    """One law per law key from the jobs with a measurement ``measured[bench] = {"wall_s",
    "max_rss_mib"}``, by one non-negative least-squares fit over every measured job:
    ``wall = overhead + p_key ops + b_key work`` with the overhead (interpreter, imports, data)
    shared by all rules. A key gets a work term only when its jobs have at least
    ``LAW_MIN_POINTS`` distinct work sizes spanning ``LAW_MIN_SPAN`` (or no ops): with fewer, the
    compute coefficient is not identified and extrapolates badly. Each column is scaled to unit
    maximum and each row weighted by 1 / wall, so the fit minimises relative errors (a short job
    counts as much as a long one). Memory: ``rss = rss0 + k mem_work``, rss0 the smallest peak
    RSS measured and k the median ratio per key (>= 0).

    ``fixed_b`` fixes the compute coefficient of some keys (seconds per work unit, measured by a
    calibration run at realistic sizes). ``step_times`` (``{shape: seconds per step}``, measured
    by short runs of each job's own ensemble, ``learndyn.bench.plan.measure_step_times``) makes
    the training keys whose jobs all have one *measured*: their compute is steps x step time,
    known, and so is their evaluation (``Size.evals`` multiply-adds at the step's cost per
    multiply-add): only the shared overhead and a fixed cost per key (a grid cell's spectra,
    robustness sweeps and model file) are fitted. A quick profile's evaluations are too small
    to fit their cost (its cells' time beyond the steps is a constant ~2 s), so their cost is
    tied to the measured step instead.

    ``quantity``: what is fitted, ``"wall_s"`` or ``"cpu_s"`` (a job's CPU seconds: its wall
    time on a quiet machine for the one-thread jobs, unaffected by the jobs that shared the
    cores with it, which a law of the job's own size cannot predict)."""
    from scipy.optimize import nnls

    fixed_b, step_times = fixed_b or {}, step_times or {}
    have = [j for j in job_list if j.bench in measured and math.isfinite(measured[j.bench][quantity])]
    if not have:
        raise ValueError("no benchmark file matches a job of this config: run the profile first")
    keys = sorted({j.law for j in have})
    by_key = {k: [j for j in have if j.law == k] for k in keys}
    timed = {k for k in keys if all(j.shape and j.shape in step_times for j in by_key[k])}
    term = {k: "fixed" if k in timed else "ops" for k in keys}
    with_ops = {k for k in keys if k in timed or any(getattr(j, term[k]) for j in by_key[k])}
    with_work = {
        k
        for k in keys
        if k not in fixed_b and k not in timed and (_enough([j.work for j in by_key[k]]) or k not in with_ops)
    }
    columns = [("overhead", "")] + [(k, term[k]) for k in keys if k in with_ops]
    columns += [(k, "work") for k in keys if k in with_work]
    scale = []

    def size(j: Size, name: str) -> float:
        return 1.0 if name in ("", "fixed") else getattr(j, name)

    for key, name in columns:
        vals = [size(j, name) for j in by_key.get(key, [])] or [1.0]
        scale.append(max(vals) or 1.0)
    A, y = [], []
    for j in have:
        wall = measured[j.bench][quantity]
        row = []
        for (key, name), sc in zip(columns, scale):
            value = 1.0 if name == "" else (size(j, name) if j.law == key else 0.0)
            row.append(value / sc / wall)
        A.append(row)
        if j.law in timed:
            known = with_evaluation(j, j.steps * step_times[j.shape])
        else:
            known = fixed_b.get(j.law, 0.0) * j.work
        y.append(1.0 - known / wall)
    coef, _ = nnls(A, y)
    coef = {c: float(v / sc) for c, v, sc in zip(columns, coef, scale)}
    overhead = coef[("overhead", "")]
    rss0 = min(measured[j.bench]["max_rss_mib"] for j in have)
    laws = {}
    for key in keys:
        js = by_key[key]
        ratios = [
            max(measured[j.bench]["max_rss_mib"] - rss0, 0.0) / j.mem_work for j in js if j.mem_work > 0
        ]
        b = fixed_b.get(key, coef.get((key, "work"), 0.0))
        if key in timed:  # the fallback for an ensemble without a measured step time
            b = _median([j.steps * step_times[j.shape] / j.work for j in js if j.work > 0] or [0.0])
        upper = 0.0
        if key not in timed and key not in with_work and key not in fixed_b:
            upper = max(max(measured[j.bench][quantity] - overhead, 0.0) / j.work for j in js if j.work > 0)
        laws[key] = Law(
            overhead,
            coef.get((key, term[key]), 0.0),
            b,
            rss0,
            max(0.0, _median(ratios or [0.0])),
            len(js),
            key in timed,
            upper,
        )
    return laws


def with_memory(laws: dict[str, Law], memory: dict[str, Law]) -> dict[str, Law]:
    """``laws`` with the memory terms (``rss0``, ``k``) of ``memory`` where it has the key. A quick
    profile's jobs are too small to fit memory: their resident memory above the smallest is the
    interpreter's and the libraries', not their tensors' (fitted on one, ``k`` came out 10-100x
    the default study's), so a calibration on it keeps the memory laws of a larger run."""
    from dataclasses import replace

    return {k: replace(v, rss0=memory[k].rss0, k=memory[k].k) if k in memory else v for k, v in laws.items()}


def law_for(laws: dict[str, Law], key: str) -> Law | None:
    """The law of ``key``, falling back to the rule's other measurement level."""
    if key in laws:
        return laws[key]
    rule = key.split(":")[0]
    same = [v for k, v in laws.items() if k.split(":")[0] == rule]
    return same[0] if same else None


def save_laws(laws: dict[str, Law], path: str | Path, note: str = "", step_times: dict | None = None) -> None:
    body = {"note": note, "laws": {k: asdict(v) for k, v in laws.items()}}
    if step_times:
        body["step_times"] = dict(sorted(step_times.items()))
    Path(path).write_text(json.dumps(body, indent=1))


def load_step_times(path: str | Path = MODEL_FILE) -> dict[str, float]:
    """Measured step times saved with the laws ({} if none)."""
    p = Path(path)
    return json.loads(p.read_text()).get("step_times", {}) if p.is_file() else {}


def load_laws(path: str | Path = MODEL_FILE) -> dict[str, Law]:
    """Laws from ``path`` ({} if the file does not exist)."""
    p = Path(path)
    if not p.is_file():
        return {}
    return {k: Law(**v) for k, v in json.loads(p.read_text())["laws"].items()}


# --- predictions and the plan --------------------------------------------------------------------


def predict(job_list: list[Size], laws: dict[str, Law], step_times: dict | None = None) -> list[dict]:
    """Per job: predicted wall seconds and peak RSS (NaN without a law, or for a measured law
    without the job's step time)."""
    out = []
    for j in job_list:
        law = law_for(laws, j.law)
        wall = law.job_wall(j, step_times) if law else float("nan")
        upper = law.wall_upper(j, step_times) if law else float("nan")
        rss = law.rss(j.mem_work) if law else float("nan")
        out.append(
            {
                "law": j.law,
                "bench": j.bench,
                "chain": j.chain,
                "wall_s": wall,
                "upper_s": upper,
                "rss_mib": rss,
            }
        )
    return out


def slurm_resources(wall_s: float, rss_mib: float) -> dict:
    """What a job should request: runtime (min), mem_mb and threads."""
    if not (math.isfinite(wall_s) and math.isfinite(rss_mib)):
        return {"runtime": 30, "mem_mb": 2000, "threads": 1}
    return {
        "runtime": int(math.ceil(SAFETY_RUNTIME * wall_s / 60)) + 5,
        "mem_mb": int(math.ceil(SAFETY_MEM * rss_mib / 100) * 100) + 200,
        "threads": 1,
    }


def critical_path(pred: list[dict]) -> float:
    """Longest chain of the DAG in seconds: a training cell waits for its (task, model) tune
    job; every training job, the alignment and the theory jobs feed the aggregation, claims,
    figures and paper (light rules, ``LIGHT_RULE_S`` each, four in a row plus the data job)."""
    tune = {p["chain"]: p["wall_s"] for p in pred if p["law"] == "train_tune"}
    chains = [p["wall_s"] + tune.get(p["chain"], 0.0) for p in pred if p["law"].startswith("train_cell")]
    others = [
        p["wall_s"] for p in pred if not p["law"].startswith("train_cell") and p["law"] != "train_align"
    ]
    align = max([p["wall_s"] for p in pred if p["law"] == "train_align"], default=0.0)
    longest = max([max(chains, default=0.0) + align, *others])
    return longest + 5 * LIGHT_RULE_S


def plan(config: dict, laws: dict[str, Law], cores: int = 2, step_times: dict | None = None) -> dict:
    """Per law key and in total: jobs, CPU hours, the longest job, peak RSS, the resources to
    request; the critical path and the wall-time estimate on ``cores`` cores."""
    pred = predict(jobs(config), laws, step_times)
    missing = sorted({p["law"] for p in pred if not math.isfinite(p["wall_s"])})
    pred = [p for p in pred if math.isfinite(p["wall_s"])]
    rules = {}
    for p in pred:
        r = rules.setdefault(
            p["law"],
            {
                "jobs": 0,
                "cpu_h": 0.0,
                "cpu_h_upper": 0.0,
                "max_wall_s": 0.0,
                "max_upper_s": 0.0,
                "peak_rss_mib": 0.0,
            },
        )
        r["jobs"] += 1
        r["cpu_h"] += p["wall_s"] / 3600
        r["cpu_h_upper"] += p["upper_s"] / 3600
        r["max_wall_s"] = max(r["max_wall_s"], p["wall_s"])
        r["max_upper_s"] = max(r["max_upper_s"], p["upper_s"])
        r["peak_rss_mib"] = max(r["peak_rss_mib"], p["rss_mib"])
    for r in rules.values():
        r["resources"] = slurm_resources(r["max_upper_s"], r["peak_rss_mib"])
    total_cpu = sum(r["cpu_h"] for r in rules.values())
    path = critical_path(pred)
    return {
        "rules": rules,
        "total_cpu_h": total_cpu,
        "total_cpu_h_upper": sum(r["cpu_h_upper"] for r in rules.values()),
        "critical_path_h_upper": critical_path([{**p, "wall_s": p["upper_s"]} for p in pred]) / 3600,
        "peak_rss_mib": max((r["peak_rss_mib"] for r in rules.values()), default=0.0),
        "critical_path_h": path / 3600,
        "wall_h_estimate": max(path, total_cpu * 3600 / cores) / 3600,
        "cores": cores,
        "no_law": missing,
        "jobs": pred,
    }


def profile_block(result: dict) -> str:
    """A workflow-profile ``set-resources:`` block (YAML) with one entry per rule: the largest
    request over its measurement levels."""
    per_rule: dict[str, dict] = {}
    for key, r in result["rules"].items():
        rule = key.split(":")[0]
        cur = per_rule.setdefault(rule, dict(r["resources"]))
        for name in ("runtime", "mem_mb", "threads"):
            cur[name] = max(cur[name], r["resources"][name])
    lines = ["set-resources:"]
    for rule, res in sorted(per_rule.items()):
        lines.append(f"  {rule}:")
        lines += [f"    {k}: {v}" for k, v in res.items()]
    return "\n".join(lines) + "\n"


def request(job: Size | None, laws: dict[str, Law], step_times: dict | None = None) -> dict:
    """What ``job`` should request (runtime, mem_mb, threads): the law's predicted wall time and
    peak memory with the safety margins; generous constants without a job or a law. The
    workflow's ``resources:`` call this for every heavy job."""
    law = law_for(laws, job.law) if job else None
    if law is None:
        return slurm_resources(float("nan"), float("nan"))
    return slurm_resources(law.wall_upper(job, step_times), law.rss(job.mem_work))


def bench_rules(config: dict) -> dict[str, str]:
    """``{stage/label: law key}`` of every heavy job of ``config`` (the label as
    ``learndyn.benchmarks.read_benchmarks`` names a job: its benchmark path below the stage,
    without ``.tsv``), so that a run's measured jobs can be summed per rule."""
    out = {}
    for j in jobs(config):
        parts = Path(j.bench).with_suffix("").parts  # benchmarks/<stage>/<...>
        out["/".join(parts[1:])] = j.law
    return out


def rule_label(key: str) -> str:
    """A law key as table text: ``train_cell:full`` -> ``train cell, full`` (no LaTeX specials)."""
    return key.replace("_", " ").replace(":", ", ")


def plan_rows(result: dict) -> list[dict]:
    """The plan (``plan``) per rule as rows for a table: jobs, CPU hours, longest job in hours;
    most CPU first."""
    return [
        {
            "rule": rule_label(key),
            "jobs": r["jobs"],
            "CPU [h]": r["cpu_h"],
            "longest job [h]": r["max_wall_s"] / 3600,
        }
        for key, r in sorted(result["rules"].items(), key=lambda kv: -kv[1]["cpu_h"])
    ]


def plan_macros(result: dict) -> dict[str, float]:
    """Numbers of a plan the compute appendix quotes: CPU hours, critical path and wall-time
    estimate in hours, the cores it assumes."""
    return {
        "PlanCpuHours": round(result["total_cpu_h"], 1),
        "PlanCriticalPathHours": round(result["critical_path_h"], 1),
        "PlanWallHours": round(result["wall_h_estimate"], 1),
        "PlanCores": result["cores"],
        "PlanJobs": sum(r["jobs"] for r in result["rules"].values()),
    }
