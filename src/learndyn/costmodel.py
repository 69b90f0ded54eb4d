"""Cost model of the pipeline: the work size of every heavy job a config asks for, cost laws
fitted to measured ``benchmark:`` files, and the plan of a profile (CPU hours, peak memory,
critical path, the SLURM resources each rule should request).

A job's *work* is a size in abstract units that its compute grows with: for training,
members x steps x batch x (multiply-adds per sample of one forward pass); for the theory
integrations, depth x n x m^2 (times what each experiment repeats). Its *ops* count the Python
and kernel-launch work that does not grow with the tensor sizes: steps x (depth + 2) for
training. A *law* per rule (and measurement level) maps them to seconds,
``wall = overhead + p * ops + b * work`` (non-negative least squares), and memory to MiB,
``rss = rss0 + k * mem_work``. Small jobs are dominated by the first two terms and large ones
by the last, so a law fitted on a small profile extrapolates through the measured split rather
than through a power law of the small jobs. Laws are fitted by :func:`fit_law` from the benchmark files of
a run already made (``learndyn.cost.read_benchmarks``) and stored in ``config/cost_model.json``;
the workflow's ``resources:`` read them through :func:`resources`.

Importable without torch or pandas (the workflow calls it while building the DAG).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from .sources import FIXED_DIMENSIONS
from .theory.levels import flows_per_run, widths_at

DEFAULT_DIMENSION = 32
# multiply-adds per hidden unit per layer, relative to a d x d matmul: the structured layer adds
# a rank-r correction (r = d/4: V and U, 2 d r = d^2/2), the residual branches have only it
KIND_FACTOR = {"mlp": 1.0, "snmlp": 1.0, "structured": 1.5, "resmlp": 0.5, "rezero": 0.5}
BYTES = 4  # float32 training
LAW_MIN_POINTS = 3  # distinct work sizes needed to fit an exponent (else c = 1)
LAW_MIN_SPAN = 2.0  # ... spanning at least this factor
SAFETY_RUNTIME = 2.0  # SLURM runtime = SAFETY x predicted wall (+ 5 min)
SAFETY_MEM = 1.5  # SLURM mem_mb = SAFETY x predicted peak RSS (+ 200 MiB)
LIGHT_RULE_S = 15.0  # wall of a rule without a benchmark (aggregation, figures, paper)
MODEL_FILE = "config/cost_model.json"


@dataclass(frozen=True)
class Job:
    """One heavy job: its rule's law key, its benchmark file (the job's name) and its sizes."""

    law: str  # e.g. "train_cell:full", "theory_truncation"
    bench: str  # benchmark path, benchmarks/<stage>/<...>.tsv
    work: float  # abstract work units (wall time grows with it)
    mem_work: float  # bytes the job's tensors take (memory grows with it)
    chain: str = ""  # the (task, model) whose tune job this job waits for (train cells)
    ops: float = 0.0  # size-independent operations (steps x layers; integrations x time)
    steps: int = 0  # training steps (training jobs)
    shape: str = ""  # the ensemble a training step runs (``shape_key``), for measured step times
    evals: float = 0.0  # evaluation work in multiply-adds (training jobs; ``_evals``)


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

    def wall_upper(self, job: Job, step_times: dict | None = None) -> float:
        """The prediction, or the work-scaled bound where that is larger (the requests use it)."""
        return max(self.job_wall(job, step_times), self.overhead + self.b_upper * job.work)

    def job_wall(self, job: Job, step_times: dict | None = None) -> float:
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


# --- work sizes ----------------------------------------------------------------------------------


def task_dims(config: dict, task: str) -> tuple[int, int]:
    """(input dimension, output dimension) of a task from its config entry."""
    spec = config["data"]["tasks"][task]
    d_in = FIXED_DIMENSIONS.get(spec["generator"], spec.get("d", DEFAULT_DIMENSION))
    if spec["generator"] in ("digits", "fashion_mnist"):
        d_out = len(spec.get("classes") or range(10))
    elif spec["generator"] == "spirals":
        d_out = 2
    elif spec["generator"] == "linear_correction":
        d_out = d_in
    else:
        d_out = 1
    return d_in, d_out


def macs_per_sample(kind: str, d_in: int, d_out: int, width: int, depth: int) -> float:
    """Multiply-adds of one forward pass of one sample (embedding, L layers, read-out)."""
    return d_in * width + depth * KIND_FACTOR.get(kind, 1.0) * width**2 + width * d_out


def params(kind: str, d_in: int, d_out: int, width: int, depth: int) -> float:
    return macs_per_sample(kind, d_in, d_out, width, depth)


def train_work(
    kind: str, d_in: int, d_out: int, width: int, depth: int, members: int, steps: int, batch: int
) -> tuple[float, float]:
    """(work, memory bytes) of training ``members`` networks for ``steps`` steps of ``batch``."""
    macs = macs_per_sample(kind, d_in, d_out, width, depth)
    work = members * steps * batch * macs
    mem = members * (4 * params(kind, d_in, d_out, width, depth) + 3 * batch * depth * width) * BYTES
    return work, mem


def _steps(train: dict, override: int | None = None) -> int:
    return int(override or train["optim"].get("steps", 400))


def shape_key(
    spec: dict, kind: str, d_in: int, d_out: int, width: int, depth: int, members: int, batch: int
) -> str:
    """The ensemble one training step runs, as a string (the key of measured step times):
    the model's config entry (without ``match_params``: a matched width counts as the nominal
    one), the task kind, dimensions, members and batch size."""
    model = {k: v for k, v in sorted(spec.items()) if k != "match_params"}
    return json.dumps([model, kind, d_in, d_out, width, depth, members, batch])


def task_kind(config: dict, task: str) -> str:
    """ "classification" or "regression", from the task's generator (as ``task_dims``)."""
    gen = config["data"]["tasks"][task]["generator"]
    return "classification" if gen in ("digits", "fashion_mnist", "spirals") else "regression"


# forward-pass equivalents per sample of a forward + backward pass (the gradient norms, FGSM) and
# of one Hessian-vector product (forward, backward, and their double-backward)
PASSES_GRAD = 3
PASSES_HVP = 6
DEFAULT_N_TRAIN = 1000  # a task without n_train (the digits: 1797 images less the test split)
DEFAULT_N_TEST = 500  # a task without n_test


def _evals(train: dict, task: dict, steps: int, members: int, macs: float, level: str = "") -> float:
    """Evaluation work of a training job in multiply-adds (the units of ``work``): at each of
    the ``steps // eval_every + 1`` evaluations the loss on ``eval_samples`` training inputs, the
    test split and the validation split; for a grid cell (``level``) also the gradient norms on
    ``probe_samples`` inputs and after training the robustness sweeps on ``robust_samples`` test
    inputs (``noise_sigmas`` forward passes, ``fgsm_eps`` gradient passes); at the full level
    the tracked robustness at every evaluation and the Hessian's ``hessian_iters`` power
    iterations at ``hessian_points`` evaluations. The measurement sizes differ between profiles
    (the quick profile's probes are half the default's), so they enter the work, not a count."""
    o, m = train["optim"], train.get("measure", {})
    n_train = int(task.get("n_train", DEFAULT_N_TRAIN))
    n_val = round(float(train.get("validation", {}).get("fraction", 0.0)) * n_train)
    n_test = int(task.get("n_test", DEFAULT_N_TEST))
    n_eval = steps // int(o.get("eval_every", 100)) + 1
    per_eval = min(int(o.get("eval_samples", 1024)), n_train) + n_test + n_val
    once = 0.0
    if level:
        probe, robust = int(m.get("probe_samples", 256)), min(int(m.get("robust_samples", 512)), n_test)
        per_eval += PASSES_GRAD * probe
        once += robust * (len(m.get("noise_sigmas", ())) + PASSES_GRAD * len(m.get("fgsm_eps", ())))
        if level == "full":
            tracked = 1 + len(m.get("track_sigmas", ())) + PASSES_GRAD * len(m.get("track_eps", ()))
            per_eval += robust * tracked
            once += int(m.get("hessian_points", 0)) * int(m.get("hessian_iters", 0)) * PASSES_HVP * probe
    return members * macs * (n_eval * per_eval + once)


def with_evaluation(job: Job, compute: float) -> float:
    """A training job's seconds from its steps' ``compute`` seconds: its evaluation passes cost
    per multiply-add what its training step does (checked on the default study: the training
    laws within 5 %)."""
    return compute * (1.0 + job.evals / job.work) if job.work else compute


def jobs(config: dict) -> list[Job]:
    """Every heavy (benchmarked) job of ``config`` with its work size."""
    from .train.grid import cell_levels, cell_seeds, cells

    train, out = config["train"], []
    models, batch = train["models"], int(train["optim"].get("batch_size", 128))
    levels, seeds = cell_levels(train), cell_seeds(train)

    def train_job(law, bench, task, model, width, depth, members, steps, chain="", level=""):
        spec = models[model] if isinstance(model, str) else model
        d_in, d_out = task_dims(config, task)
        macs = macs_per_sample(spec["kind"], d_in, d_out, width, depth)
        work, mem = train_work(spec["kind"], d_in, d_out, width, depth, members, steps, batch)
        shape = shape_key(spec, task_kind(config, task), d_in, d_out, width, depth, members, batch)
        return Job(
            law,
            bench,
            work,
            mem,
            chain,
            steps * (depth + 2),
            steps,
            shape,
            _evals(train, config["data"]["tasks"][task], steps, members, macs, level),
        )

    for t, m, d, w in cells(train):
        bench = f"benchmarks/train/{t}/{m}/L{d}_W{w}.tsv"
        level = levels[(t, m, d, w)]
        members = len(seeds[(t, m, d, w)])
        law = f"train_cell:{level}"
        out.append(train_job(law, bench, t, m, w, d, members, _steps(train), f"{t}/{m}", level))
    tune = train["tune"]
    for t, m in sorted({(t, m) for t, m, _, _ in cells(train)}):
        members = len(tune["lrs"]) * len(tune["seeds"])
        bench = f"benchmarks/train/tune/{t}/{m}.tsv"
        steps = _steps(train, tune.get("steps"))
        out.append(
            train_job("train_tune", bench, t, m, train["width"], train["depth"], members, steps, f"{t}/{m}")
        )
    sweep = train["lr_sweep"]
    for t in sweep["tasks"]:
        for m in sweep["models"]:
            members = len(sweep["lrs"]) * len(sweep.get("seeds") or train["seeds"])
            bench = f"benchmarks/train/lrsweep/{t}/{m}.tsv"
            steps = int(sweep["steps"])
            out.append(
                train_job("train_lr_sweep", bench, t, m, train["width"], train["depth"], members, steps)
            )
    fp = train["fixed_point"]
    members = len(fp["rhos"]) * len(fp["alphas"]) * len(fp.get("seeds") or train["seeds"])
    bench = f"benchmarks/train/fixedpoint/{fp['task']}.tsv"
    # the weight-tied model unrolls K steps of one structured layer: timed as a K-layer stack
    spec = {"kind": "structured", "gate": "fixed", "alpha": 0.1}
    out.append(
        train_job(
            "train_fixed_point", bench, fp["task"], spec, fp["width"], fp["K"], members, int(fp["steps"])
        )
    )
    align = train.get("alignment")
    if align:
        n_cells = len({c for members in align["families"].values() for c in members})
        n_test = config["data"]["tasks"][align["task"]].get("n_test", DEFAULT_N_TEST)
        work = n_cells**2 * len(train["seeds"]) * n_test
        mem = n_cells * n_test * 256 * BYTES
        # ops: representations compared (each cell against its family partner and against
        # itself at another seed, for every seed): probes and Procrustes fits, not sizes, cost
        ops = n_cells * len(train["seeds"])
        out.append(Job("train_align", "benchmarks/train/align.tsv", work, mem, ops=ops))
    return out + theory_jobs(config) + bridge_jobs(config)


def bridge_jobs(config: dict) -> list[Job]:
    """The bridge's benchmarked job: work ~ kernels x n^2 x width x depth (the per-layer Q ⊙ S
    products; seeds x snapshots kernels per trajectory cell, 2 x seeds per width cell)."""
    from .bridge.cells import trajectory_cells, width_cells

    bridge = config.get("bridge")
    if not bridge:
        return []
    train, n = config["train"], int(bridge.get("n", 128))
    n_eval = int(train["optim"]["steps"]) // int(train["optim"]["eval_every"]) + 1
    snaps = len(range(0, n_eval, int(bridge.get("snapshot_every", 2)))) + 2
    work = sum(len(train["seeds"]) * (snaps + 2) * n * n * w * d for _, _, d, w in trajectory_cells(config))
    work += sum(2 * len(train["seeds"]) * n * n * w * d for _, _, d, w in width_cells(config))
    # ops: kernels x layers (each layer's product is a few small tensor operations)
    ops = sum(len(train["seeds"]) * (snaps + 2) * d for _, _, d, _ in trajectory_cells(config))
    ops += sum(2 * len(train["seeds"]) * d for _, _, d, _ in width_cells(config))
    cells = trajectory_cells(config) + width_cells(config)
    mem = max((n * n * w * d * 8 for _, _, d, w in cells), default=0)
    return [Job("bridge_kernels", "benchmarks/bridge/kernels.tsv", work, mem, ops=ops)]


def truncation_jobs(theory: dict) -> list[tuple[int, int]]:
    """(n, depth) of every truncation job: each depth at theory.n, and the second data size."""
    tr = theory["truncation"]
    jobs = [(int(theory["n"]), int(L)) for L in tr["depths"]]
    if tr.get("second_n"):
        jobs.append((int(tr["second_n"]["n"]), int(tr["second_n"]["depth"])))
    return jobs


def theory_jobs(config: dict) -> list[Job]:
    """The theory stage's benchmarked jobs: work ~ depth x n x m^2 x what each one repeats; ops
    ~ integrations x layers x integration time (the adaptive integrators' steps cost Python and
    small-tensor overhead that does not grow with n or m at these sizes)."""
    th = config.get("theory")
    if not th:
        return []
    n, seeds, out = int(th["n"]), len(th["seeds"]), []

    def depth_sum(depths, m):
        return sum(int(L) for L in depths) * n * m**2

    for task in th["flow_tasks"]:
        cf, hf = th["closed_flow"], th["hybrid_flow"]
        w = seeds * n * cf["width"] ** 2 * cf["t_max"]
        ops = seeds * cf["t_max"]
        out.append(Job("theory_closed_flow", f"benchmarks/theory/closed_flow_{task}.tsv", w, w * 8, ops=ops))
        w = seeds * depth_sum(hf["depths"], hf["width"]) * hf["t_max"]
        ops = seeds * sum(int(L) for L in hf["depths"]) * hf["t_max"]
        out.append(Job("theory_hybrid_flow", f"benchmarks/theory/hybrid_flow_{task}.tsv", w, w * 8, ops=ops))
    idt = th["identities"]
    for task in th["tasks"]:
        w = sum(int(L) for L in idt["depths"]) * idt["n"] ** 2 * idt["width"] ** 2 * (1 + idt["train_steps"])
        ops = sum(int(L) for L in idt["depths"])  # the checks per depth; their training is short
        out.append(Job("theory_identities", f"benchmarks/theory/identities_{task}.tsv", w, w * 8, ops=ops))
    gd = th["gradient_descent"]
    w = seeds * depth_sum(gd["depths"], gd["width"]) * (len(gd["etas"]) + len(gd["gd_etas"]))
    # ops: per depth (the seeds run batched) the GD steps to t_gd at every gd_eta
    ops = sum(int(L) for L in gd["depths"]) * gd["t_gd"] * sum(1 / float(e) for e in gd["gd_etas"])
    out.append(Job("theory_gradient_descent", "benchmarks/theory/gradient_descent.tsv", w, w * 8, ops=ops))
    tr = th["truncation"]
    horizon = float(tr.get("horizon", {}).get("t_max", 1.0))
    for n_job, L in truncation_jobs(th):
        floor = tr["floor_max_width"] if n_job == n else 0  # floor runs at the main n only
        runs = [(m, flows_per_run(tr["levels"], L, m, floor)) for m in widths_at(tr, L, n_job)]
        w = len(tr["seeds"]) * sum(k * L * n_job * m**2 for m, k in runs)
        ops = len(tr["seeds"]) * sum(k * L for _, k in runs) * horizon
        # memory: one run at a time; its weight trajectory and the integrator's stages
        mem = max(L * m**2 + n_job * L * m for m, _ in runs) * (tr["n_times"] + 8) * 8
        out.append(
            Job("theory_truncation", f"benchmarks/theory/truncation_n{n_job}_L{L}.tsv", w, mem, ops=ops)
        )
    sm = tr.get("smooth")
    if sm:
        w = len(tr["seeds"]) * sum(int(L) * n * m**2 for L in sm["depths"] for m in sm["widths"])
        ops = len(tr["seeds"]) * sum(int(L) for L in sm["depths"]) * len(sm["widths"]) * horizon
        L, m = max(int(L) for L in sm["depths"]), max(sm["widths"])
        mem = (L * m**2 + n * L * m) * (tr["n_times"] + 8) * 8
        out.append(Job("theory_smooth_control", "benchmarks/theory/smooth_control.tsv", w, mem, ops=ops))
    return out


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
    job_list: list[Job],
    measured: dict[str, dict],
    fixed_b: dict[str, float] | None = None,
    step_times: dict[str, float] | None = None,
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
    known, and so is their evaluation (``Job.evals`` multiply-adds at the step's cost per
    multiply-add): only the shared overhead and a fixed cost per key (a grid cell's spectra,
    robustness sweeps and model file) are fitted. A quick profile's evaluations are too small
    to fit their cost (its cells' time beyond the steps is a constant ~2 s), so their cost is
    tied to the measured step instead."""
    from scipy.optimize import nnls

    fixed_b, step_times = fixed_b or {}, step_times or {}
    have = [j for j in job_list if j.bench in measured]
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

    def size(j: Job, name: str) -> float:
        return 1.0 if name in ("", "fixed") else getattr(j, name)

    for key, name in columns:
        vals = [size(j, name) for j in by_key.get(key, [])] or [1.0]
        scale.append(max(vals) or 1.0)
    A, y = [], []
    for j in have:
        wall = measured[j.bench]["wall_s"]
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
            upper = max(max(measured[j.bench]["wall_s"] - overhead, 0.0) / j.work for j in js if j.work > 0)
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


def predict(job_list: list[Job], laws: dict[str, Law], step_times: dict | None = None) -> list[dict]:
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


def request(job: Job | None, laws: dict[str, Law], step_times: dict | None = None) -> dict:
    """What ``job`` should request (runtime, mem_mb, threads): the law's predicted wall time and
    peak memory with the safety margins; generous constants without a job or a law. The
    workflow's ``resources:`` call this for every heavy job."""
    law = law_for(laws, job.law) if job else None
    if law is None:
        return slurm_resources(float("nan"), float("nan"))
    return slurm_resources(law.wall_upper(job, step_times), law.rss(job.mem_work))
