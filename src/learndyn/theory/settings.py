"""Settings of each theory experiment, built from the validated ``theory`` config: one frozen
dataclass per experiment (unknown keys refused) and ``configure``, where every override is
resolved."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..settings import from_mapping
from .integrate import Settings
from .levels import seeds_at, widths_at


@dataclass(frozen=True)
class ClosedFlowConfig:
    """``theory.closed_flow``: L = 1 closed (h, r) system vs weight-space flow."""

    width: int
    t_max: float  # ODE time integrated
    n_times: int  # output times in [0, t_max]


@dataclass(frozen=True)
class HybridFlowConfig:
    """``theory.hybrid_flow``: hybrid field closure vs weight-space flow."""

    depths: tuple
    width: int
    t_max: float
    n_times: int


@dataclass(frozen=True)
class IdentitiesConfig:
    """``theory.identities``: pointwise identities at init and after GD training."""

    depths: tuple
    width: int
    n: int  # training points of this experiment (overrides theory.n: operators are (n, n, m, m))
    train_eta: float
    train_steps: int
    fd_delta: float  # central-difference step


@dataclass(frozen=True)
class GradientDescentConfig:
    """``theory.gradient_descent``: one-step errors, exact discrete forms, GD vs GF."""

    depths: tuple
    width: int
    etas: tuple
    check_eta: float
    gd_etas: tuple
    t_gd: float


@dataclass(frozen=True)
class TruncationConfig:
    """``theory.truncation``: the truncation hierarchy level by level over width and depth
    (``hierarchy.run_depth``), one job per (n, depth); drift pictures; smooth-activation control."""

    depths: tuple
    widths: tuple  # strictly increasing
    max_widths: tuple  # widths above max_widths[i] are skipped at depths[i]
    levels: tuple  # truncation levels in {0, 1, 2}
    seeds: tuple  # network seeds of this experiment (each run is integrated on its own)
    horizon: dict  # rule (shared | per_run), loss_drop (fraction of the level-0 loss), t_max (cap)
    n_times: int  # stored fractions of each run's horizon
    rtol: float  # integrator tolerances of this experiment (override theory.integrator)
    atol: float
    gram_max_width: int
    floor_max_width: int  # the L = 1 level-1 (exact) runs that measure the floor, up to this width
    second_n: dict  # {n, depth, widths}: the same at another number of training points ({} = none)
    smooth: dict  # {activation, depths, widths}: level 0 for a smooth activation ({} = none)
    levels_max_width: int = 1 << 30  # levels >= 1 integrated (where they truncate) up to this width
    depth_seeds: tuple = ()  # seeds at depths[i]: the first depth_seeds[i] of ``seeds`` (() = all)
    level_seeds: int = 1 << 30  # levels >= 1 integrated on the first level_seeds seeds of a depth

    def widths_at(self, depth: int, n: int | None = None) -> list:
        """Widths integrated at ``depth`` (``levels.widths_at``)."""
        return widths_at(self.__dict__, depth, n)

    def seeds_at(self, depth: int) -> tuple:
        """Seeds of level 0 at ``depth`` (``levels.seeds_at``)."""
        return tuple(seeds_at(self.__dict__, depth))


@dataclass(frozen=True)
class SmoothControl:
    """``theory.truncation.smooth``: level 0 for a smooth activation (no mask switching)."""

    depths: tuple
    widths: tuple
    activation: str = "gelu"


@dataclass(frozen=True)
class StructuredClosureConfig:
    """``theory.structured_closure``: level 0 (kernel frozen at t = 0) against weight-space flow for
    the fixed-readout structured network (``theory.structured``), its alpha = 0 linear path and the
    ReLU network of the theory half, over depths x widths x seeds; the horizon rule and value are
    the truncation's (``theory.truncation.horizon``, put here by ``configure``)."""

    depths: tuple = (2,)
    widths: tuple = (16, 32, 64, 128)  # strictly increasing, at least two
    seeds: tuple = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
    alpha: float = 0.1  # fixed gate of the correction branch (the structured model's alpha at init)
    rho: float = 1.0  # spectral cap: sigma_max(W_l / sqrt(m)) = rho at t = 0 (orthogonal init)
    rank_ratio: float = 0.25  # branch rank r = rank_ratio * m
    n_times: int = 11  # stored fractions of each run's horizon
    rtol: float = 1.0e-8  # dopri5 tolerances of the weight-space flows (the truncation's)
    atol: float = 1.0e-10
    check_steps: int = 4000  # rk4 steps over the horizon: the second integrator (smallest width)
    kernel_tol: float = 1.0e-10  # the kernel vs autodiff J J^T check passes at this relative error
    horizon: tuple = ()  # the truncation's horizon rule, (key, value) pairs (set by ``configure``)

    @property
    def horizon_rule(self) -> dict:
        return dict(self.horizon)


EXPERIMENTS = {
    "closed_flow": ClosedFlowConfig,
    "hybrid_flow": HybridFlowConfig,
    "identities": IdentitiesConfig,
    "gradient_descent": GradientDescentConfig,
    "truncation": TruncationConfig,
    "structured_closure": StructuredClosureConfig,
}


@dataclass(frozen=True)
class Job:
    """Everything one theory job needs, every override resolved (``configure``)."""

    n: int  # training points subsampled from the task
    subsample_seed: int
    seeds: tuple  # network seeds
    experiment: object  # one of the ``*Config`` classes above
    integrator: Settings


@dataclass(frozen=True)
class DepthRun:
    """One truncation depth job (``hierarchy.run_depth``): the levels ``levels`` against the true
    flow at ``depth`` over ``widths`` x ``seeds``, stored at ``n_times`` fractions of the horizon.
    ``horizon_rule`` "shared": one ODE time for every width and seed of the depth, the median over
    seeds of the time at which the level-0 loss at the smallest width has fallen by ``loss_drop``
    (``hierarchy.shared_horizon``); "per_run": each run to its own level-0 loss-drop time. Both
    capped at ``t_max``."""

    depth: int
    widths: tuple
    seeds: tuple
    levels: tuple
    loss_drop: float
    t_max: float
    n_times: int
    integrator: Settings
    gram_max_width: int  # Gram drift measured up to this width
    floor_max_width: int  # exact L = 1 level-1 runs (the integration floor) up to this width
    levels_max_width: int = 1 << 30  # levels >= 1 integrated up to this width
    horizon_rule: str = "per_run"
    level_seeds: int = 1 << 30  # levels >= 1 integrated on the first level_seeds of ``seeds``


@dataclass(frozen=True)
class SmoothRun:
    """The smooth-activation control (``hierarchy.run_smooth_control``): level 0 against the
    true flow of a smooth network, with the truncation's horizon rule, times and integrator. Under
    the "shared" rule each depth runs to the ReLU depth job's horizon (same ReLU networks at the
    width ``horizon_widths[depth]``, the smallest of that job), so GELU and ReLU are paired by
    seed, width and ODE time."""

    control: SmoothControl
    seeds: tuple
    loss_drop: float
    t_max: float
    n_times: int
    integrator: Settings
    horizon_rule: str = "per_run"
    horizon_widths: tuple = ()  # ((depth, smallest ReLU width of the depth job), ...)
    depth_seeds: tuple = ()  # ((depth, the ReLU depth job's seeds), ...); () = ``seeds`` everywhere

    def seeds_at(self, depth: int) -> tuple:
        """The seeds run at ``depth``: the ReLU depth job's (paired), else ``seeds``."""
        return dict(self.depth_seeds).get(depth, self.seeds)


def configure(name: str, theory: dict) -> Job:
    """The settings of experiment ``name`` from the ``theory`` config (or the subset of it a
    rule passes: n, subsample_seed, seeds, integrator and the experiment's own section).

    An experiment without a section runs on its class's defaults. The overrides live here and
    nowhere else: ``identities.n`` replaces ``theory.n``,
    ``truncation.rtol``/``atol`` replace the integrator's tolerances and ``truncation.seeds``
    the theory seeds (``structured_closure`` likewise, and it reads ``truncation.horizon``).
    """
    exp = from_mapping(EXPERIMENTS[name], theory.get(name, {}), f"theory.{name}")
    integrator = from_mapping(Settings, theory["integrator"], "theory.integrator")
    if name in ("truncation", "structured_closure"):
        integrator = Settings(**{**integrator.__dict__, "rtol": exp.rtol, "atol": exp.atol})
    if name == "structured_closure":  # the truncation's horizon rule and value, shared
        exp = replace(exp, horizon=tuple(sorted(theory["truncation"]["horizon"].items())))
    n = exp.n if name == "identities" else theory["n"]
    seeds = exp.seeds if name in ("truncation", "structured_closure") else tuple(theory["seeds"])
    return Job(n, theory["subsample_seed"], seeds, exp, integrator)


def depth_run(job: Job, depth: int, n: int) -> DepthRun:
    """The truncation job at ``depth`` and ``n`` training points (``configure("truncation")``);
    the floor runs exist at the main n only."""
    exp = job.experiment
    return DepthRun(
        depth=depth,
        widths=tuple(exp.widths_at(depth, n)),
        seeds=exp.seeds_at(depth),
        levels=exp.levels,
        loss_drop=exp.horizon["loss_drop"],
        t_max=exp.horizon["t_max"],
        n_times=exp.n_times,
        integrator=job.integrator,
        gram_max_width=exp.gram_max_width,
        floor_max_width=exp.floor_max_width if n == job.n else 0,
        levels_max_width=exp.levels_max_width,
        horizon_rule=exp.horizon.get("rule", "per_run"),
        level_seeds=exp.level_seeds,
    )


def smooth_run(job: Job) -> SmoothRun:
    """The smooth-activation control of the truncation job (``configure("truncation")``)."""
    exp = job.experiment
    return SmoothRun(
        control=from_mapping(SmoothControl, exp.smooth, "theory.truncation.smooth"),
        seeds=job.seeds,
        loss_drop=exp.horizon["loss_drop"],
        t_max=exp.horizon["t_max"],
        n_times=exp.n_times,
        integrator=job.integrator,
        horizon_rule=exp.horizon.get("rule", "per_run"),
        horizon_widths=tuple((int(L), exp.widths_at(int(L), job.n)[0]) for L in exp.depths),
        depth_seeds=tuple((int(L), exp.seeds_at(int(L))) for L in exp.depths),
    )
