"""One job of the training stage -> one tidy xarray Dataset.

``run_tune``: the learning rate of a (task, model) chosen on the validation split, (lr, seed)
members in one ensemble. ``run_cell``: a (task, model, depth, width) cell at the tuned rate, all
seeds as one ensemble, with every measurement of spec §5. ``run_lr_sweep``: the largest stable
learning rate. ``run_fixed_point``: the weight-tied contraction study (P3). The grid itself
(which cells exist) is ``grid.cells``.

Each job takes one settings object (``CellSettings``, ``TuneSettings``, ``SweepSettings``; built
by ``from_job`` from a job's params and wildcards). The datasets of the first three carry their
(task, model, depth, width) as length-1 dimension coordinates (``with_cell_dims``) and the
evaluation axis as ``eval_step`` (``eval_coords``), so ``collect`` combines them as written.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from ..data import validation_split
from ..io import cf_attrs
from ..runtime import to_numpy
from ..settings import ConfigError, from_mapping
from . import metrics
from .loop import (
    TaskTensors,
    TrainConfig,
    Validation,
    evaluate,
    late_improvement,
    lr_sweep_members,
    sanitize_,
    state_key,
    train_ensemble,
)
from .models import build_model, matched_width
from .spec import ModelSpec
from .tied import TiedNet

STAGES = ("init", "final")
# Measurement levels of a cell: "full" (every measurement of spec §5; the main and ablation
# studies) or "sweep" (depth and width sweeps: training curves, final metrics, gradient norms,
# operator spectra, end-to-end Jacobian and the final robustness sweeps; no Hessian, no
# robustness tracked along training, no layer-wise amplification, no per-layer Jacobian spectra;
# those variables are NaN).
LEVELS = ("full", "sweep")
DIRECTIONS = ("random", "gradient")


# --- settings of the three kinds of job, built from the validated ``train`` config -------------


@dataclass(frozen=True)
class MeasureConfig:
    """Measurements of a cell (``train.measure``, spec §5)."""

    probe_samples: int  # training inputs for gradient norms and the Hessian
    hessian_points: int  # evaluations (evenly spaced) at which the top Hessian eigenvalue is computed
    hessian_iters: int  # power iterations per Hessian estimate
    jacobian_samples: int  # inputs for layer and input-output Jacobians
    robust_samples: int  # test inputs for the robustness sweeps
    noise_sigmas: tuple  # Gaussian input noise levels
    fgsm_eps: tuple  # FGSM step sizes
    track_sigmas: tuple = (0.2,)  # noise levels measured at every evaluation (matched comparison)
    track_eps: tuple = (0.05,)  # FGSM step sizes measured at every evaluation

    @classmethod
    def from_train(cls, train: dict) -> MeasureConfig:
        return from_mapping(cls, train["measure"], "train.measure")


@dataclass(frozen=True)
class TuneConfig:
    """Learning-rate tuning of every (task, model) on the validation split (``train.tune``):
    successive halving over the rate grid, extended beyond an edge that wins."""

    lrs: tuple  # peak learning rates tried (ascending)
    seeds: tuple  # tuning seeds, disjoint from the evaluation seeds
    steps: int = 0  # steps of a tuning run, with its own warm-up and cosine decay (0: train.optim.steps)
    rungs: tuple = ()  # fractions of ``steps`` at which the rates are halved (ascending, in (0, 1))
    keep: float = 0.5  # share of the running rates kept at each rung (at least one)
    extend: int = 0  # at most this many rates added beyond the edge of the grid that wins

    @classmethod
    def from_train(cls, train: dict) -> TuneConfig:
        out = from_mapping(cls, train["tune"], "train.tune")
        rungs = tuple(sorted(float(v) for v in out.rungs))
        if any(not 0 < r < 1 for r in rungs) or not 0 < out.keep <= 1:
            raise ConfigError("config error: train.tune: rungs must lie in (0, 1) and keep in (0, 1]")
        if out.extend and len(out.lrs) < 2:
            raise ConfigError("config error: train.tune.extend needs at least two rates in train.tune.lrs")
        lrs, seeds = tuple(sorted(float(v) for v in out.lrs)), tuple(int(v) for v in out.seeds)
        return cls(lrs, seeds, int(out.steps), rungs, float(out.keep), int(out.extend))

    def optim(self, train: dict) -> TrainConfig:
        """``train.optim`` with this tuning budget (``steps``), without checkpoints, the last
        weights (the score reads the validation curve; no weights are kept)."""
        steps = self.steps or train["optim"]["steps"]
        return TrainConfig.from_config(
            {**train["optim"], "steps": steps, "checkpoint_every": 0, "select": "last"}
        )

    def rung_evals(self, tcfg: TrainConfig) -> tuple:
        """Evaluation indices at which the rates are halved: each rung's fraction of the steps,
        rounded to an evaluation point strictly inside the run."""
        n_eval = tcfg.steps // tcfg.eval_every
        return tuple(sorted({min(n_eval - 1, max(1, round(r * n_eval))) for r in self.rungs} - {0}))


@dataclass(frozen=True)
class LRSweepConfig:
    """Largest-stable-learning-rate sweep (``train.lr_sweep``)."""

    tasks: tuple
    models: tuple
    optimizer: str  # optimiser of the sweep's short runs (overrides train.optim.optimizer)
    lrs: tuple  # peak learning rates tried
    steps: int  # steps per run (overrides train.optim.steps)
    seeds: tuple = ()  # seeds of the sweep (default: train.seeds)

    @classmethod
    def from_train(cls, train: dict) -> LRSweepConfig:
        out = from_mapping(cls, train["lr_sweep"], "train.lr_sweep")
        return cls(
            out.tasks,
            out.models,
            out.optimizer,
            tuple(sorted(float(v) for v in out.lrs)),
            out.steps,
            tuple(out.seeds or train["seeds"]),
        )

    def optim(self, train: dict) -> TrainConfig:
        """``train.optim`` with this sweep's optimiser and steps, one evaluation at the end,
        the last weights (no validation selection)."""
        return TrainConfig.from_config(
            {
                **train["optim"],
                "optimizer": self.optimizer,
                "steps": self.steps,
                "eval_every": self.steps,
                "checkpoint_every": 0,
                "select": "last",
            }
        )


@dataclass(frozen=True)
class FixedPointConfig:
    """Weight-tied fixed-point study of P3 (``train.fixed_point``)."""

    task: str
    width: int
    K: int  # unrolled iterations in training
    steps: int  # training steps (overrides train.optim.steps)
    samples: int  # test inputs iterated to their fixed point
    rhos: tuple  # spectral caps (inf = uncapped)
    alphas: tuple  # fixed gates
    max_iter: int  # iterations allowed to converge (float64)
    sensitivity_sigma: float  # input noise of the sensitivity measurement
    lr: float = 1e-3  # peak learning rate (not tuned; train.optim has none)
    seeds: tuple = ()  # seeds of the study (default: train.seeds)

    @classmethod
    def from_train(cls, train: dict) -> FixedPointConfig:
        out = from_mapping(cls, train["fixed_point"], "train.fixed_point")
        return cls(**{**out.__dict__, "seeds": tuple(out.seeds or train["seeds"])})

    def optim(self, train: dict) -> TrainConfig:
        """``train.optim`` with this study's learning rate and steps, one evaluation at the end."""
        return TrainConfig.from_config(
            {
                **train["optim"],
                "lr": self.lr,
                "steps": self.steps,
                "eval_every": self.steps,
                "checkpoint_every": 0,
                "select": "last",
            }
        )


# --- helpers ---------------------------------------------------------------------------

_attrs = cf_attrs


def _mask(arr: np.ndarray, finite: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=float)
    arr[~finite] = np.nan
    return arr


def _row_nanmax(a: np.ndarray) -> np.ndarray:
    """Max over axis 1 ignoring NaN; NaN for an all-NaN row (no warning)."""
    a = np.asarray(a, dtype=float)
    finite = np.isfinite(a).any(1)
    return np.where(finite, np.max(np.where(np.isfinite(a), a, -np.inf), 1), np.nan)


def metric_name(kind: str) -> tuple[str, str]:
    return ("accuracy", "1") if kind == "classification" else ("mean squared error", "1")


# --- one cell ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CellSettings:
    """One (task, model, depth, width) cell of the grid and how it is trained and measured: all
    that ``run_cell`` reads besides the task data and the device."""

    model: str  # the model's name (a ``train.models`` key)
    spec: dict  # its spec (``spec.ModelSpec.from_config``)
    depth: int  # residual blocks L
    width: int  # the grid's width d (a parameter-matched model runs at its own, ``resolve_width``)
    seeds: tuple  # one ensemble member per seed
    optim: TrainConfig  # the optimiser, at the tuned learning rate
    measure: MeasureConfig
    validation: Validation | None = None  # split carved off the training data (None: none)
    match_spec: dict | None = None  # spec of the model whose parameter count this one matches
    level: str = "full"  # measurement level (``LEVELS``)
    snapshot_every: int = 0  # > 0: parameter snapshots every this many evaluations
    checkpoint: str | None = None  # resumable state of the training loop (None: no checkpoint)

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"measurement level must be one of {LEVELS}, got {self.level!r}")

    @classmethod
    def from_job(cls, params, wildcards, lr: float) -> CellSettings:
        """The settings of a ``train_cell`` job: its ``params`` (``train``: seeds, optim,
        measure, validation, level and snapshot_every; ``spec``, ``match``, ``checkpoint``), the
        cell's wildcards and the tuned peak learning rate ``lr``."""
        train = params.train
        given = {k: train[k] for k in ("seeds", "level", "snapshot_every") if k in train}
        cell = {
            "model": wildcards.model,
            "spec": params.spec,
            "depth": int(wildcards.depth),
            "width": int(wildcards.width),
            "optim": TrainConfig.from_config(train["optim"]).with_lr(lr),
            "measure": MeasureConfig.from_train(train),
            "validation": Validation.from_config(train["validation"]),
            "match_spec": params.match,
            "checkpoint": params.checkpoint,
        }
        return from_mapping(cls, given | cell, "train cell")

    @property
    def model_spec(self) -> ModelSpec:
        return ModelSpec.from_config(self.spec)

    @property
    def n_eval(self) -> int:
        """Evaluations along training (the initial one included)."""
        return self.optim.steps // self.optim.eval_every + 1


def run_cell(task, cell: CellSettings, device=None):
    """Train all seeds of one cell as a batched ensemble at ``cell.optim.lr`` (the tuned rate),
    keep each member's weights of lowest validation loss, and measure it (spec §5) at
    ``cell.level``. Returns ``(dataset, model)``: ``record_cell``'s dataset and the model holding
    the kept weights.

    ``cell.snapshot_every > 0``: the parameters of every member are also copied at every
    ``snapshot_every``-th evaluation point (the initial one and the last always included) and
    attached to the returned model as ``model.trajectory`` (:func:`snapshot_trajectory`), for
    the kernel measurements of ``learndyn.bridge``. Copying does not touch the training
    numbers; the snapshots travel in the checkpoint like the other probes."""
    data, model = build_cell(task, cell, device)
    x_jac = data.x_test[: cell.measure.jacobian_samples]
    init_spec = metrics.spectra(model, x_jac, per_layer=cell.level == "full")
    key = state_key(
        "cell",
        task.name,
        cell.model_spec.as_dict(),
        cell.depth,
        model.width,
        list(cell.seeds),
        cell.optim.__dict__,
        str(cell.validation),
        cell.level,
    )
    probe = cell_probe(cell, data)
    res = train_ensemble(model, data, cell.optim, probe_fn=probe, checkpoint=cell.checkpoint, key=key)
    measured = measure_cell(model, data, res, cell) | {"init_spec": init_spec}
    ds = record_cell(task.name, cell, data, model, res, measured)
    model.trajectory = snapshot_trajectory(res, cell.snapshot_every) if cell.snapshot_every else None
    return ds, model


def build_cell(task, cell: CellSettings, device=None):
    """The cell's task tensors (with its validation split) and its untrained ensemble, one member
    per seed, at the model's own width (``resolve_width``)."""
    data = TaskTensors.from_task(task, device, cell.validation)
    spec = cell.model_spec
    width = resolve_width(spec, cell.match_spec, data.d_in, data.d_out, cell.width, cell.depth)
    return data, build_model(spec, data.d_in, data.d_out, width, cell.depth, list(cell.seeds), device)


def _nan(members: int, *shape) -> torch.Tensor:
    """A ``(members, *shape)`` tensor of NaN: a measurement the cell's level leaves out."""
    return torch.full((members, *shape), float("nan"))


def cell_probe(cell: CellSettings, data: TaskTensors):
    """The probe ``train_ensemble`` calls at evaluation ``i_eval``: gradient norms on the probe
    inputs, the top Hessian eigenvalue at ``hessian_points`` evenly spaced evaluations, the
    clean, noisy and FGSM test metric at the tracked levels (those two at level ``full`` only,
    NaN otherwise) and, every ``snapshot_every`` evaluations and at the last, the parameters.
    Each value is per member: ``(S,)`` or ``(S, levels)``."""
    mcfg, full, every, n_eval = cell.measure, cell.level == "full", cell.snapshot_every, cell.n_eval
    n_probe = min(mcfg.probe_samples, len(data.x_train))
    x_probe, y_probe = data.x_train[:n_probe], data.y_train[:n_probe]
    hess_points = set(np.unique(np.linspace(0, n_eval - 1, mcfg.hessian_points).round().astype(int)))
    x_rob, y_rob = data.x_test[: mcfg.robust_samples], data.y_test[: mcfg.robust_samples]

    def probe(m, d, i_eval):
        out = metrics.gradient_norms(m, x_probe, y_probe, d.kind)
        lam = _nan(m.n_members)
        if full and i_eval in hess_points:
            lam = metrics.hessian_top_eigenvalue(m, x_probe, y_probe, d.kind, mcfg.hessian_iters)
        out["hessian_top"] = lam
        # robustness along training: read at matched clean accuracy (claims)
        if full:
            out["noise_curve"] = metrics.noise_robustness(m, x_rob, y_rob, d.kind, mcfg.track_sigmas)
            out["fgsm_curve"] = metrics.fgsm_robustness(m, x_rob, y_rob, d.kind, mcfg.track_eps)
            out["clean_curve"] = metrics.noise_robustness(m, x_rob, y_rob, d.kind, (0.0,))[:, 0]
        else:
            out["noise_curve"] = _nan(m.n_members, len(mcfg.track_sigmas))
            out["fgsm_curve"] = _nan(m.n_members, len(mcfg.track_eps))
            out["clean_curve"] = _nan(m.n_members)
        if every and (i_eval % every == 0 or i_eval == n_eval - 1):
            out |= {SNAPSHOT + k: p.detach().clone() for k, p in m.named_parameters()}
        return out

    return probe


def measure_cell(model, data: TaskTensors, res, cell: CellSettings) -> dict:
    """The measurements of the trained ensemble (kept weights), per member (S members):
    ``finite`` (S,) bool (neither diverged nor left with non-finite weights), ``selected`` (the
    eval-subset and split metrics and losses, each (S,), float64), ``final_spec``
    (``metrics.spectra``), ``noise`` (S, noise sigmas) and ``fgsm`` (S, FGSM eps) test metrics,
    ``amp`` (S, direction, L + 1; NaN below level ``full``), and the minibatch-loss ``tv`` ratio
    and fraction of ``rising`` steps, each (S,)."""
    mcfg, full = cell.measure, cell.level == "full"
    x_rob, y_rob = data.x_test[: mcfg.robust_samples], data.y_test[: mcfg.robust_samples]
    finite = sanitize_(model) & ~res.diverged
    n_tr = min(cell.optim.eval_samples, len(data.x_train))
    selected = {k: to_numpy(v) for k, v in evaluate(model, data, n_tr).items()}  # the kept weights
    final_spec = metrics.spectra(model, data.x_test[: mcfg.jacobian_samples], per_layer=full)
    noise = metrics.noise_robustness(model, x_rob, y_rob, data.kind, mcfg.noise_sigmas)
    fgsm = metrics.fgsm_robustness(model, x_rob, y_rob, data.kind, mcfg.fgsm_eps)
    if full:
        n_jac = mcfg.jacobian_samples
        amp = metrics.layer_amplification(model, x_rob[:n_jac], y_rob[:n_jac], data.kind)
    else:
        amp = _nan(model.n_members, len(DIRECTIONS), cell.depth + 1)
    tv, rising = metrics.loss_smoothness(res.step_loss)
    return {
        "finite": finite,
        "selected": selected,
        "final_spec": final_spec,
        "noise": noise,
        "fgsm": fgsm,
        "amp": amp,
        "tv": tv,
        "rising": rising,
    }


CELL_DIMS = {"task": "task", "model": "model", "depth": "depth L", "width": "width d"}  # -> long name


def with_cell_dims(ds: xr.Dataset, task: str, model: str, depth: int, width: int) -> xr.Dataset:
    """``ds`` with the cell's (task, model, depth, width) as leading length-1 dimension
    coordinates of every data variable (``CELL_DIMS``), so that datasets combine by coordinates."""
    out = ds.expand_dims(task=[task], model=[model], depth=[int(depth)], width=[int(width)])
    for name, long_name in CELL_DIMS.items():
        out[name].attrs.update(_attrs(long_name))
    return out


def with_task_variables(ds: xr.Dataset, kind: str, epoch_per_step: float) -> xr.Dataset:
    """``ds`` (with a length-1 ``task`` dim) with the task's own variables along ``task``: its
    ``kind``, a non-index coordinate (a label of the task: it stays through selections and
    reductions, where a string data variable would be reduced), and the data variable
    ``epoch_per_step``, epochs per optimisation step (batch size / fit-split size), which turns
    the ``eval_step`` axis into epochs."""
    kind_attrs = _attrs("task kind (classification or regression)")
    out = ds.assign_coords(kind=(("task",), [kind], kind_attrs))
    return out.assign(
        epoch_per_step=(("task",), [epoch_per_step], _attrs("epochs per optimisation step", "epoch"))
    )


def eval_coords(res, batch_size: int, n_fit: int) -> dict:
    """The evaluation axis: ``eval_step``, the optimisation step of each evaluation (dims
    ``eval_step``), with the training ``epoch`` of each as a non-index coordinate
    (``step * batch_size / n_fit``, ``n_fit`` the size of the split trained on)."""
    epoch = res.eval_steps * batch_size / n_fit
    return {
        "eval_step": ("eval_step", res.eval_steps, _attrs("optimisation step")),
        "epoch": ("eval_step", epoch, _attrs("training epoch", "epoch")),
    }


def record_cell(
    task_name: str, cell: CellSettings, data: TaskTensors, model, res, measured: dict
) -> xr.Dataset:
    """The cell's dataset: the curves along (seed, eval_step), the spectra along (seed, stage,
    layer), the kept weights' measurements along seed; every variable with the leading length-1
    dims (task, model, depth, width), NaN for the members that are not finite; the task's
    ``kind`` and ``epoch_per_step`` along task (``with_task_variables``)."""
    mname, munits = metric_name(data.kind)
    coords = eval_coords(res, cell.optim.batch_size, len(data.x_train)) | _cell_coords(cell, model.width)
    epoch = coords["epoch"][1]
    data_vars = {
        **_curve_vars(res, mname, munits),
        **_spectrum_vars(measured["init_spec"], measured["final_spec"], measured["finite"]),
        **_kept_vars(res, measured, data.kind, epoch[res.selected]),
        "n_params": ((), model.param_count(), _attrs("trainable parameters per model")),
        "lr": ((), cell.optim.lr, _attrs("peak learning rate (tuned on validation)")),
        "width_effective": ((), model.width, _attrs("hidden width of the model")),
    }
    ds = xr.Dataset(data_vars, coords=coords)
    ds = with_cell_dims(ds, task_name, cell.model, cell.depth, cell.width)
    ds = with_task_variables(ds, data.kind, cell.optim.batch_size / len(data.x_train))
    ds.attrs.update(
        model_spec=json.dumps(cell.model_spec.as_dict(), sort_keys=True),
        train_config=json.dumps(cell.optim.__dict__, sort_keys=True, default=list),
        validation=json.dumps(cell.validation.__dict__ if cell.validation else None),
        measure_level=cell.level,
    )
    return ds


def _cell_coords(cell: CellSettings, width: int) -> dict:
    """The cell's coordinates besides the evaluation axis; ``width`` the model's own (the
    singular-value ranks)."""
    mcfg, L = cell.measure, cell.depth
    return {
        "seed": ("seed", np.asarray(cell.seeds, dtype=int), _attrs("seed")),
        "step": ("step", np.arange(cell.optim.steps), _attrs("optimisation step")),
        "layer": ("layer", np.arange(1, L + 1), _attrs("layer index l")),
        "layer_h": ("layer_h", np.arange(0, L + 1), _attrs("hidden state index l (0 = embedding)")),
        "stage": ("stage", list(STAGES)),
        "sv": ("sv", np.arange(width), _attrs("singular value rank (descending)")),
        "noise_sigma": (
            "noise_sigma",
            np.asarray(mcfg.noise_sigmas, float),
            _attrs("Gaussian input noise sigma"),
        ),
        "fgsm_eps": ("fgsm_eps", np.asarray(mcfg.fgsm_eps, float), _attrs("FGSM epsilon")),
        "track_sigma": (
            "track_sigma",
            np.asarray(mcfg.track_sigmas, float),
            _attrs("Gaussian input noise sigma (tracked along training)"),
        ),
        "track_eps": (
            "track_eps",
            np.asarray(mcfg.track_eps, float),
            _attrs("FGSM epsilon (tracked along training)"),
        ),
        "direction": ("direction", list(DIRECTIONS)),
        "checkpoint": ("checkpoint", list(CHECKPOINTS)),
    }


# probes along training that are NaN for a diverged member
DIVERGED_NAN = ("grad_h", "grad_W", "grad_ratio", "hessian_top", "clean_curve", "noise_curve", "fgsm_curve")


def _curve_vars(res, mname: str, munits: str) -> dict:
    """The variables along training, dims (seed, eval_step[, layer or level]): losses and
    metrics on each split and the probes (``cell_probe``), NaN for diverged members."""
    pr, grad_h, se = res.probes, res.probes["grad_h"], ("seed", "eval_step")
    out = {
        "train_loss": (se, res.train_loss, _attrs("training loss (eval subset)")),
        "test_loss": (se, res.test_loss, _attrs("test loss")),
        "val_loss": (se, res.val_loss, _attrs("validation loss")),
        "train_metric": (se, res.train_metric, _attrs(f"training {mname}", munits)),
        "test_metric": (se, res.test_metric, _attrs(f"test {mname}", munits)),
        "val_metric": (se, res.val_metric, _attrs(f"validation {mname}", munits)),
        "grad_h": ((*se, "layer_h"), grad_h, _attrs("per-sample gradient norm ||dL/dh_l||")),
        "grad_W": ((*se, "layer"), pr["grad_W"], _attrs("weight gradient norm ||dL/dW_l||_F")),
        "grad_ratio": (se, grad_h[..., 0] / grad_h[..., -1], _attrs("gradient ratio ||g_0|| / ||g_L||")),
        "hessian_top": (se, pr["hessian_top"], _attrs("top Hessian eigenvalue")),
        "clean_curve": (se, pr["clean_curve"], _attrs(f"test {mname} (robustness inputs)", munits)),
        "noise_curve": ((*se, "track_sigma"), pr["noise_curve"], _attrs(f"test {mname} under noise", munits)),
        "fgsm_curve": ((*se, "track_eps"), pr["fgsm_curve"], _attrs(f"test {mname} under FGSM", munits)),
    }
    for name in DIVERGED_NAN:
        dims, values, attrs = out[name]
        arr = np.array(values, dtype=float)
        arr[res.diverged] = np.nan
        out[name] = (dims, arr, attrs)
    return out


def _spectrum_vars(init_spec: dict, final_spec: dict, finite: np.ndarray) -> dict:
    """The operator and Jacobian spectra (``metrics.spectra``) at initialisation and at the kept
    weights, dims (seed, stage[, layer[, sv]]); the final stage NaN for non-finite members."""
    sp = {k: np.stack([to_numpy(init_spec[k]), _mask(to_numpy(final_spec[k]), finite)], 1) for k in init_spec}
    ssl = ("seed", "stage", "layer")
    return {
        "A_sigma_max": (ssl, sp["A_sigma_max"], _attrs("sigma_max of S(W_l)")),
        "A_sigma_min": (ssl, sp["A_sigma_min"], _attrs("sigma_min of S(W_l)")),
        "J_sigma_max": (ssl, sp["J_sv"][..., 0], _attrs("sigma_max of layer Jacobian (input mean)")),
        "J_sigma_min": (ssl, sp["J_sv"][..., -1], _attrs("sigma_min of layer Jacobian (input mean)")),
        "J_sigma_sup": (ssl, sp["J_sigma_sup"], _attrs("sigma_max of layer Jacobian (input max)")),
        "bound_upper": (ssl, sp["bound_upper"], _attrs("P1 bound ||A_l|| + |alpha_l| L_phi")),
        "bound_lower": (ssl, sp["bound_lower"], _attrs("P2 lower bound s_l - eps_l")),
        "eps": (ssl, sp["eps"], _attrs("correction size |alpha_l| L_phi")),
        "alpha": (ssl, sp["alpha"], _attrs("gate |alpha_l|")),
        "A_sv": ((*ssl, "sv"), sp["A_sv"], _attrs("singular value of S(W_l)")),
        "J_sv": ((*ssl, "sv"), sp["J_sv"], _attrs("singular value of layer Jacobian (input mean)")),
        "e2e_logcond": (
            ("seed", "stage"),
            sp["e2e_logcond"],
            _attrs("log10 pseudo-condition number of dh_L/dh_0 (active subspace)"),
        ),
        "e2e_rank": (
            ("seed", "stage"),
            sp["e2e_rank"],
            _attrs("active fraction of the singular values of dh_L/dh_0"),
        ),
        "io_norm": (("seed", "stage"), sp["io_norm"], _attrs("input-output Jacobian norm ||dF/dx||_2")),
        "io_bound": (("seed", "stage"), sp["io_bound"], _attrs("P4 bound on ||dF/dx||_2")),
    }


def _kept_vars(res, measured: dict, kind: str, selected_epoch: np.ndarray) -> dict:
    """The per-member results of the run and of its kept weights (``measure_cell``), dims
    (seed[, level or layer]): metrics, robustness, amplification, minibatch-loss smoothness,
    generalisation gap, divergence; NaN for non-finite members."""
    mname, munits = metric_name(kind)
    fm = lambda a: _mask(a, measured["finite"])
    sel = measured["selected"]
    return {
        "final_train_metric": (
            ("seed",),
            fm(sel["train_metric"]),
            _attrs(f"training {mname} (kept weights)", munits),
        ),
        "final_test_metric": (
            ("seed",),
            fm(sel["test_metric"]),
            _attrs(f"test {mname} (kept weights)", munits),
        ),
        "final_val_loss": (("seed",), fm(sel["val_loss"]), _attrs("validation loss (kept weights)")),
        "final_val_metric": (
            ("seed",),
            fm(sel["val_metric"]),
            _attrs(f"validation {mname} (kept weights)", munits),
        ),
        "selected_epoch": (("seed",), fm(selected_epoch), _attrs("epoch of the kept weights", "epoch")),
        "selected_step": (
            ("seed",),
            fm(res.eval_steps[res.selected].astype(float)),
            _attrs("optimisation step of the kept weights", "step"),
        ),
        **_checkpoint_vars(res, measured, kind),
        "late_improvement": (
            ("seed",),
            late_improvement(res.val_loss),
            _attrs("relative validation-loss improvement in the last quarter of the budget"),
        ),
        "step_loss": (("seed", "step"), res.step_loss, _attrs("minibatch loss")),
        "noise_metric": (
            ("seed", "noise_sigma"),
            fm(to_numpy(measured["noise"])),
            _attrs(f"test {mname} under noise", munits),
        ),
        "fgsm_metric": (
            ("seed", "fgsm_eps"),
            fm(to_numpy(measured["fgsm"])),
            _attrs(f"test {mname} under FGSM", munits),
        ),
        "amplification": (
            ("seed", "direction", "layer_h"),
            fm(to_numpy(measured["amp"])),
            _attrs("layer-wise perturbation amplification"),
        ),
        "loss_tv_ratio": (("seed",), measured["tv"], _attrs("minibatch-loss total-variation ratio")),
        "frac_rising": (("seed",), measured["rising"], _attrs("fraction of rising minibatch-loss steps")),
        "gen_gap": (("seed",), fm(_gen_gap(sel, kind)), _attrs(GEN_GAP[kind], munits)),
        "diverged": (("seed",), res.diverged.astype(np.int8), _attrs("diverged (1) or not (0)")),
        "diverged_step": (("seed",), res.diverged_step, _attrs("first diverged step (-1 never)")),
    }


SNAPSHOT = "snapshot:"  # probe-name prefix of the parameter snapshots of ``run_cell``


def snapshot_trajectory(res, every: int) -> dict:
    """The parameter snapshots of a run: ``{"step": (T,), "state": {name: (S, T, ...) float32}}``
    at evaluation indices 0, every, 2 every, ... and the last (``res.probes`` holds them at every
    evaluation, NaN where none was taken)."""
    n_eval = len(res.eval_steps)
    idx = sorted({*range(0, n_eval, every), n_eval - 1})
    state = {
        k[len(SNAPSHOT) :]: torch.from_numpy(np.ascontiguousarray(v[:, idx])).float()
        for k, v in res.probes.items()
        if k.startswith(SNAPSHOT)
    }
    return {"step": torch.as_tensor(res.eval_steps[idx]), "state": state}


GEN_GAP = {
    "classification": "generalisation gap: train minus test accuracy",
    "regression": "relative generalisation gap: test over train MSE minus 1",
}


def _gen_gap(selected: dict, kind: str) -> np.ndarray:
    """Generalisation gap, positive = the model does worse on test than on train: train minus
    test accuracy (classification); test MSE / train MSE - 1 (regression: relative, so it does
    not shrink with the MSE itself). ``selected``: ``train_metric``, ``test_metric`` (S,)."""
    train, test = np.asarray(selected["train_metric"], float), np.asarray(selected["test_metric"], float)
    if kind == "classification":
        return train - test
    with np.errstate(divide="ignore", invalid="ignore"):
        return test / train - 1.0


CHECKPOINTS = ("kept", "last", "best_val_loss")  # the checkpoint rules compared (checkpoint table)


def checkpoint_indices(res, kind: str) -> dict[str, np.ndarray]:
    """The evaluation index ``(S,)`` of every checkpoint rule of ``CHECKPOINTS``: the kept weights
    (``res.selected``), the last evaluation, and the lowest validation loss (first minimum; the
    last evaluation for a member without a finite validation loss). Validation numbers only."""
    v = np.where(np.isfinite(res.val_loss), res.val_loss, np.inf)
    n_eval = v.shape[1]
    best_loss = np.where(np.isfinite(v).any(1), np.argmin(v, 1), n_eval - 1)
    return {"kept": np.asarray(res.selected), "last": np.full(len(v), n_eval - 1), "best_val_loss": best_loss}


def _checkpoint_vars(res, measured: dict, kind: str) -> dict:
    """Train and test metric and generalisation gap of every member under each checkpoint rule
    (``checkpoint_indices``), dims (seed, checkpoint), read off the evaluation curves (the
    training metric on the evaluation subset, as for the kept weights)."""
    mname, munits = metric_name(kind)
    idx = checkpoint_indices(res, kind)
    rows = np.arange(len(res.selected))
    pick = lambda curve: np.stack([curve[rows, idx[c]] for c in CHECKPOINTS], 1)
    train, test = pick(res.train_metric), pick(res.test_metric)
    fm = lambda a: _mask(a, measured["finite"][:, None] & np.ones(a.shape, bool))
    gap = _gen_gap({"train_metric": train, "test_metric": test}, kind)
    sc = ("seed", "checkpoint")
    return {
        "checkpoint_test_metric": (sc, fm(test), _attrs(f"test {mname} at the checkpoint", munits)),
        "checkpoint_train_metric": (sc, fm(train), _attrs(f"training {mname} at the checkpoint", munits)),
        "checkpoint_gen_gap": (sc, fm(gap), _attrs(GEN_GAP[kind] + " at the checkpoint", munits)),
    }


def resolve_width(
    spec: ModelSpec, match_spec: dict | None, d_in: int, d_out: int, width: int, depth: int
) -> int:
    """The hidden width of ``spec``: ``width``, or for a parameter-matched model
    (``spec.match_params``) the width whose parameter count is closest to ``match_spec``'s at
    ``width`` (``models.matched_width``)."""
    if not spec.match_params:
        return width
    if not match_spec:
        raise ValueError(f"model matches the parameters of {spec.match_params!r} but its spec was not given")
    return matched_width(spec, ModelSpec.from_config(match_spec), d_in, d_out, width, depth)


# --- tuning ---------------------------------------------------------------------------------


def default_size_model(params, wildcards) -> dict:
    """The model (name and spec) of a job at the default size (``train.depth``, ``train.width``):
    what the tuning and learning-rate sweep jobs share."""
    train = params.train
    return {"model": wildcards.model, "spec": params.spec, "depth": train["depth"], "width": train["width"]}


@dataclass(frozen=True)
class TuneSettings:
    """The learning-rate tuning of one (task, model) at the default depth and width: the rates
    and seeds of ``tune``, each run with ``optim``'s budget, scored on the ``validation`` split."""

    model: str  # the model's name (a ``train.models`` key)
    spec: dict  # its spec (``spec.ModelSpec.from_config``)
    depth: int  # residual blocks L
    width: int  # the grid's width d (a parameter-matched model runs at its own, ``resolve_width``)
    tune: TuneConfig
    optim: TrainConfig  # ``tune.optim(train)``: the tuning budget
    validation: Validation
    match_spec: dict | None = None  # spec of the model whose parameter count this one matches

    @classmethod
    def from_job(cls, params, wildcards) -> TuneSettings:
        """The settings of a ``train_tune`` job: ``params.train`` (tune, optim, validation, depth,
        width), ``params.spec``, ``params.match`` and the model wildcard."""
        train = params.train
        tune = TuneConfig.from_train(train)
        values = {
            **default_size_model(params, wildcards),
            "tune": tune,
            "optim": tune.optim(train),
            "validation": Validation.from_config(train["validation"]),
            "match_spec": params.match,
        }
        return from_mapping(cls, values, "train tune")


def lowest_val_loss(val_loss: np.ndarray, diverged: np.ndarray) -> np.ndarray:
    """A tuning member's score, ``(..., E) -> (...)``: its lowest validation loss over the
    evaluations it reached (what ``select: best_val`` keeps); +inf when it diverged or has no
    finite evaluation."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = np.nanmin(val_loss, axis=-1)
    return np.where(np.asarray(diverged, bool) | ~np.isfinite(best), np.inf, best)


def halving_keep(score: np.ndarray, keep: float) -> np.ndarray:
    """Successive halving's cut: the positions of the ``ceil(keep * n)`` best (lowest) of ``n``
    scores (at least one), ascending; ties go to the earlier position (the smaller rate)."""
    n_keep = max(1, int(np.ceil(keep * len(score) - 1e-9)))
    return np.sort(np.argsort(np.asarray(score, float), kind="stable")[:n_keep])


def next_rate(lrs, upward: bool) -> float:
    """The rate beyond the edge of the ascending grid ``lrs`` (at least two rates): the edge
    times the ratio one step further in, so a 1-3-10 grid goes on as 1-3-10 (..., 1e-2, 3e-2 ->
    1e-1; 3e-4, 1e-3, ... -> 1e-4), a geometric grid geometrically. Six significant digits."""
    g = np.asarray(sorted(lrs), float)
    if upward:
        ratio = g[-2] / g[-3] if len(g) >= 3 else g[-1] / g[-2]
        return float(f"{g[-1] * ratio:.6g}")
    ratio = g[2] / g[1] if len(g) >= 3 else g[1] / g[0]
    return float(f"{g[0] / ratio:.6g}")


@dataclass
class Halving:
    """The pruning rule of successive halving for ``train_ensemble``: members (i, j) = (rate i,
    seed j) row-major; at each evaluation index of ``rungs`` the running rates are ranked by the
    median over seeds of their lowest validation loss so far and the best ``keep`` share runs
    on. ``stopped[i]`` is the evaluation index at which rate i stopped (-1: ran to the end)."""

    n_seeds: int
    rungs: tuple
    keep: float
    stopped: np.ndarray

    def __call__(self, i_eval, active, val_loss, diverged_step):
        if i_eval not in self.rungs:
            return None
        rates = np.unique(np.asarray(active) // self.n_seeds)
        members = rates[:, None] * self.n_seeds + np.arange(self.n_seeds)
        best = lowest_val_loss(val_loss[members, : i_eval + 1], diverged_step[members] >= 0)
        kept = rates[halving_keep(np.median(best, axis=1), self.keep)]
        self.stopped[np.setdiff1d(rates, kept)] = i_eval
        return (kept[:, None] * self.n_seeds + np.arange(self.n_seeds)).ravel()


def tune_rates(data: TaskTensors, job: TuneSettings, width: int, lrs, rungs=(), device=None) -> dict:
    """Train (lr, seed) members of ``lrs`` x ``job.tune.seeds`` as one ensemble with the tuning
    budget, halving the rates at the evaluation indices ``rungs``. Returns numpy arrays
    ``val_loss (lr, seed, E)``, ``diverged (lr, seed)``, ``steps (lr)`` (steps each rate
    trained), the member-steps trained, the eval steps and the parameter count."""
    seeds, tcfg = job.tune.seeds, job.optim
    lr, member_seeds = lr_sweep_members(lrs, seeds)
    model = build_model(job.spec, data.d_in, data.d_out, width, job.depth, member_seeds, device)
    n_params = model.param_count()
    halving = Halving(len(seeds), tuple(rungs), job.tune.keep, np.full(len(lrs), -1))
    res = train_ensemble(model, data, tcfg, lr=torch.as_tensor(lr), prune=halving if rungs else None)
    steps = np.where(halving.stopped < 0, tcfg.steps, halving.stopped * tcfg.eval_every)
    shape = (len(lrs), len(seeds))
    return {
        "val_loss": res.val_loss.reshape(*shape, -1),
        "diverged": res.diverged.reshape(shape),
        "steps": steps,
        "member_steps": int(steps.sum() * len(seeds)),
        "result": res,
        "n_params": n_params,
        "n_fit": len(data.x_train),
    }


def _choose(lrs: np.ndarray, score: np.ndarray, steps: np.ndarray, full: int) -> int:
    """Index of the chosen rate: the lowest score among the rates that ran the whole tuning
    budget (ties: the smaller rate); -1 when every such rate diverged."""
    finished = np.where((steps >= full) & np.isfinite(score), score, np.inf)
    return int(np.argmin(finished)) if np.isfinite(finished).any() else -1


def run_tune(task, job: TuneSettings, device=None) -> xr.Dataset:
    """Choose the peak learning rate of one (task, model) on the validation split.

    Successive halving: (lr, seed) members train as one ensemble with the tuning budget
    ``job.optim`` (its own warm-up and cosine decay); at each rung (``tune.rungs``, fractions of
    the budget) the rates are ranked by the median over the tuning seeds of their lowest
    validation loss so far and the best ``tune.keep`` share trains on; the others stop. The
    chosen rate minimises the median lowest validation loss among the rates that ran the whole
    budget (a diverged member scores +inf; ties: the smaller rate). A choice at an edge of the
    rates tried adds the next rate beyond it (``next_rate``), trained with the whole budget in
    the same job, up to ``tune.extend`` times, until the choice is interior. ``at_edge`` flags a
    choice still at an edge. Without rungs and extension this is the full grid at the full
    budget. Every variable has the leading length-1 dims (task, model, depth, width), then
    (lr, seed, eval_step), ``lr`` every rate tried (ascending)."""
    t0 = time.perf_counter()
    cfg, tcfg = job.tune, job.optim
    data = TaskTensors.from_task(task, device, job.validation)
    spec = ModelSpec.from_config(job.spec)
    width = resolve_width(spec, job.match_spec, data.d_in, data.d_out, job.width, job.depth)
    runs = [(np.asarray(cfg.lrs, float), tune_rates(data, job, width, cfg.lrs, cfg.rung_evals(tcfg), device))]
    for _ in range(cfg.extend):
        lrs = np.concatenate([r[0] for r in runs])
        steps = np.concatenate([r[1]["steps"] for r in runs])
        val_loss, diverged = (np.concatenate([r[1][k] for r in runs]) for k in ("val_loss", "diverged"))
        score = np.median(lowest_val_loss(val_loss, diverged), 1)
        i = _choose(lrs, score, steps, tcfg.steps)
        if i < 0 or lrs[i] not in (lrs.min(), lrs.max()):
            break
        new = next_rate(lrs, upward=lrs[i] == lrs.max())
        runs.append((np.asarray([new]), tune_rates(data, job, width, [new], device=device)))
    return tune_dataset(task, job, runs, time.perf_counter() - t0)


def tune_dataset(task, job: TuneSettings, runs: list, wall: float) -> xr.Dataset:
    """The tuning dataset of ``run_tune`` from its runs ``[(lrs, tune_rates(...)), ...]``."""
    tcfg = job.optim
    lrs = np.concatenate([r[0] for r in runs])
    order = np.argsort(lrs)
    lrs = lrs[order]

    def cat(key):
        return np.concatenate([r[1][key] for r in runs])[order]

    val_loss, diverged, steps = cat("val_loss"), cat("diverged"), cat("steps")
    best = lowest_val_loss(val_loss, diverged)
    score = np.median(best, axis=1)
    i = _choose(lrs, score, steps, tcfg.steps)
    at_edge = np.int8(len(lrs) > 1 and i in (0, len(lrs) - 1))
    member_steps = sum(r[1]["member_steps"] for r in runs)
    first = runs[0][1]
    ds = xr.Dataset(
        {
            "best_val_loss": (("lr", "seed"), best, _attrs("lowest validation loss (inf: diverged)")),
            "val_loss": (("lr", "seed", "eval_step"), val_loss, _attrs("validation loss")),
            "diverged": (("lr", "seed"), diverged.astype(np.int8), _attrs("diverged (1) or not (0)")),
            "score": (("lr",), score, _attrs("median lowest validation loss over tuning seeds")),
            "budget": (("lr",), steps, _attrs("training steps run at this rate (successive halving)")),
            "chosen_lr": ((), lrs[i] if i >= 0 else np.nan, _attrs("chosen peak learning rate")),
            "n_params": ((), first["n_params"], _attrs("trainable parameters per model")),
            "at_edge": ((), at_edge, _attrs("chosen rate at the edge of the rates tried (1) or not (0)")),
            "n_extended": ((), np.int64(len(runs) - 1), _attrs("rates added beyond the grid's edge")),
            "member_steps": ((), np.int64(member_steps), _attrs("training steps summed over members")),
            "wall_tune": ((), wall, _attrs("wall time of the tuning", "s")),
        },
        coords={
            "lr": ("lr", lrs, _attrs("peak learning rate")),
            "seed": ("seed", np.asarray(job.tune.seeds, int), _attrs("tuning seed")),
            **eval_coords(first["result"], tcfg.batch_size, first["n_fit"]),
        },
    )
    ds = with_cell_dims(ds, task.name, job.model, job.depth, job.width)
    ds.attrs.update(all_diverged=int(i < 0))
    return ds


# --- LR sweep -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSettings:
    """The largest-stable-learning-rate sweep of one (task, model) at the default depth and
    width: the rates and seeds of ``sweep``, each run with ``optim``'s short budget."""

    model: str  # the model's name (a ``train.models`` key)
    spec: dict  # its spec (``spec.ModelSpec.from_config``)
    depth: int  # residual blocks L
    width: int  # hidden width d
    sweep: LRSweepConfig
    optim: TrainConfig  # ``sweep.optim(train)``

    @classmethod
    def from_job(cls, params, wildcards) -> SweepSettings:
        """The settings of a ``train_lr_sweep`` job: ``params.train`` (seeds, optim, lr_sweep,
        depth, width), ``params.spec`` and the model wildcard."""
        train = params.train
        sweep = LRSweepConfig.from_train(train)
        values = {
            **default_size_model(params, wildcards),
            "sweep": sweep,
            "optim": sweep.optim(train),
        }
        return from_mapping(cls, values, "train lr_sweep")


def run_lr_sweep(task, job: SweepSettings, device=None) -> xr.Dataset:
    """Train (lr, seed) members as one ensemble; the largest stable LR per seed (spec §5): a
    run is stable when it neither diverges nor ends at or above its initial or the chance loss
    (``metrics.stable_lr``); ``job.sweep.lrs`` ascending. Every variable has the leading
    length-1 dims (task, model, depth, width), then (lr, seed)."""
    data = TaskTensors.from_task(task, device)
    lrs, seeds = job.sweep.lrs, job.sweep.seeds
    lr, member_seeds = lr_sweep_members(lrs, seeds)
    model = build_model(job.spec, data.d_in, data.d_out, job.width, job.depth, member_seeds, device)
    res = train_ensemble(model, data, job.optim, lr=torch.as_tensor(lr))
    shape = (len(lrs), len(seeds))
    final = res.train_loss[:, -1].reshape(shape)  # NaN for diverged runs (unstable)
    initial = res.train_loss[:, 0].reshape(shape)
    div = res.diverged.reshape(shape)
    chance = metrics.chance_loss(data.y_train, data.kind)
    best = metrics.stable_lr(lrs, div, final, initial, chance)
    index = metrics.stable_lr_index(lrs, div, final, initial, chance)
    ds = xr.Dataset(
        {
            "final_loss": (("lr", "seed"), final, _attrs("final training loss")),
            "initial_loss": (("lr", "seed"), initial, _attrs("initial training loss")),
            "chance_loss": ((), chance, _attrs("loss of the best constant predictor")),
            "diverged": (("lr", "seed"), div.astype(np.int8), _attrs("diverged (1) or not (0)")),
            "stable_lr": (("seed",), best, _attrs("largest stable learning rate")),
            "stable_index": (("seed",), index, _attrs("grid index of the largest stable rate (-1: none)")),
        },
        coords={
            "lr": ("lr", np.asarray(lrs, float), _attrs("peak learning rate")),
            "seed": ("seed", np.asarray(seeds, int), _attrs("seed")),
        },
    )
    ds = with_cell_dims(ds, task.name, job.model, job.depth, job.width)
    ds.attrs.update(optimizer=job.optim.optimizer)
    return ds


# --- fixed points (P3) ---------------------------------------------------------------------


def run_fixed_point(task, cfg: FixedPointConfig, tcfg: TrainConfig, device=None) -> xr.Dataset:
    """Weight-tied model trained with K unrolled steps for each (rho, alpha) and each of
    ``cfg.seeds``; measures q_hat, the bound q, iterations to converge, convergence fraction and
    fixed-point sensitivity, dims (rho, alpha, seed)."""
    data = TaskTensors.from_task(task, device)
    seeds = list(cfg.seeds)
    rhos, alphas = [float(r) for r in cfg.rhos], [float(a) for a in cfg.alphas]
    x = data.x_test[: cfg.samples]
    # the whole (rho, alpha, seed) grid as one ensemble: member (i, j, k) = (rhos[i], alphas[j], seeds[k])
    shape = (len(rhos), len(alphas), len(seeds))
    grid = np.meshgrid(rhos, alphas, np.asarray(seeds), indexing="ij")
    rho_m, alpha_m, seed_m = (g.reshape(-1) for g in grid)
    seed_m = seed_m.astype(int)
    model = TiedNet(data.d_in, data.d_out, cfg.width, rho_m, alpha_m, cfg.K, seed_m, device=device)
    res = train_ensemble(model, data, tcfg)
    finite = sanitize_(model) & ~res.diverged
    model.eval()
    q = to_numpy(model.contraction_bound())
    fp = metrics.fixed_point_iteration(model, x, cfg.max_iter)
    sens = to_numpy(metrics.fixed_point_sensitivity(model, x, cfg.sensitivity_sigma, max_iter=cfg.max_iter))
    B2 = to_numpy(torch.linalg.matrix_norm(model.B.detach().double(), ord=2))
    vals = {
        "q_bound": q,
        "q_hat": to_numpy(fp["q_hat"].max(1).values),
        "q_hat_median": to_numpy(fp["q_hat"].median(1).values),
        "iterations": to_numpy(fp["iterations"].double().median(1).values),
        "converged": to_numpy(fp["converged"].double().mean(1)),
        "sensitivity": _row_nanmax(sens),
        "sensitivity_bound": np.where(q < 1, B2 / (1 - np.minimum(q, 1 - 1e-12)), np.inf),
        "test_metric": res.test_metric[:, -1],
    }
    out = {k: _mask(v, finite).reshape(shape) for k, v in vals.items()}
    out["diverged"] = res.diverged.astype(float).reshape(shape)
    units = {
        "q_bound": "P3 contraction bound q",
        "q_hat": "empirical contraction q_hat (max over inputs)",
        "q_hat_median": "empirical contraction q_hat (median over inputs)",
        "iterations": "iterations to converge (median)",
        "converged": "fraction of inputs converged",
        "sensitivity": "fixed-point sensitivity ||dh*||/||dx|| (max)",
        "sensitivity_bound": "P3 sensitivity bound ||B||/(1-q)",
        "test_metric": "test mean squared error",
        "diverged": "diverged (1) or not (0)",
    }
    ds = xr.Dataset(
        {k: (("rho", "alpha", "seed"), v, _attrs(units[k])) for k, v in out.items()},
        coords={
            "rho": ("rho", np.asarray(rhos), _attrs("spectral cap rho (inf = none)")),
            "alpha": ("alpha", np.asarray(alphas), _attrs("fixed gate alpha")),
            "seed": ("seed", np.asarray(seeds, int), _attrs("seed")),
        },
    )
    ds.attrs.update(task=task.name, K=cfg.K, width=cfg.width)
    return ds


# --- cross-model alignment (sequel paper, spec §1.3, §5) -------------------------------------


@dataclass(frozen=True)
class AlignConfig:
    """Cross-model alignment of trained models (``train.alignment``).

    ``families`` maps a family name to its cells ``"model/L{depth}_W{width}"``; pairs are taken
    within a family, at the same seed, and the families' lists are parallel (pair i of one family
    differs in the same factor as pair i of the other)."""

    task: str
    families: dict
    k: int = 10  # neighbours of the k-NN overlap
    fit_fraction: float = 0.5  # held-out inputs (test split) used to fit probes and maps
    split_seed: int = 0

    @classmethod
    def from_train(cls, train: dict) -> AlignConfig:
        return from_mapping(cls, train["alignment"], "train.alignment")

    @property
    def cells(self) -> list[str]:
        """Every cell of every family, in order of first appearance."""
        return list(dict.fromkeys(c for cells in self.families.values() for c in cells))


ALIGN_MEASURES = {  # name -> (long name, more aligned when)
    "cka": ("linear CKA", "higher"),
    "probe_ratio": ("cross-probe score ratio cross/self (both directions)", "higher"),
    "procrustes": ("orthogonal Procrustes residual", "lower"),
    "knn_jaccard": ("k-NN Jaccard overlap", "higher"),
}


def last_hidden(model, x: torch.Tensor) -> np.ndarray:
    """The last hidden representation h_L of every member, ``(S, n, d)`` (float64 numpy)."""
    with torch.no_grad():
        _, hidden = model.eval()(x, return_hidden=True)
    return to_numpy(hidden[-1])


def run_alignment(task, models: dict, cfg: AlignConfig, device=None) -> xr.Dataset:
    """Alignment measures between every pair of ``models`` (cell -> trained ensemble; the seeds
    all of them have) on the task's test inputs, at the same seed: linear CKA, orthogonal Procrustes
    residual and k-NN Jaccard on the evaluation rows; the cross-probe ratio with probes and maps
    fitted on the fit rows (``alignment.alignment_measures``). The test split is cut into fit and
    evaluation rows by ``validation_split`` (stratified for classes)."""
    from . import alignment

    x = torch.as_tensor(task.x_test, dtype=torch.float32, device=device)
    y = np.asarray(task.y_test)
    eval_rows, fit_rows = validation_split(y, cfg.fit_fraction, cfg.split_seed)
    names = list(models)
    # the seeds every model has (a sweep cell may train fewer seeds than the main study's)
    seeds = sorted(set.intersection(*(set(m.seeds) for m in models.values())))
    if len(seeds) < 2:
        raise ValueError(f"alignment: the models share fewer than 2 seeds ({seeds})")
    reps = {}
    for name, m in models.items():
        keep = [list(m.seeds).index(s) for s in seeds]
        reps[name] = last_hidden(m, x)[keep]

    def measure(A, B):
        return alignment.alignment_measures(
            A[fit_rows],
            B[fit_rows],
            y[fit_rows],
            A[eval_rows],
            B[eval_rows],
            y[eval_rows],
            task.kind,
            k=cfg.k,
        )

    out = {k: np.full((len(names), len(names), len(seeds)), np.nan) for k in ALIGN_MEASURES}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if j < i:
                continue
            for s in range(len(seeds)):
                A, B = reps[a][s], reps[b][s]
                if not (np.isfinite(A).all() and np.isfinite(B).all()):
                    continue
                m = measure(A, B)
                for key in ALIGN_MEASURES:
                    out[key][i, j, s] = out[key][j, i, s] = m[key]
    # control: the same cell at two different seeds (s and the next seed), no shared initialisation
    control = {k: np.full((len(names), len(seeds)), np.nan) for k in ALIGN_MEASURES}
    for i, a in enumerate(names):
        for s in range(len(seeds)):
            A, B = reps[a][s], reps[a][(s + 1) % len(seeds)]
            if len(seeds) < 2 or not (np.isfinite(A).all() and np.isfinite(B).all()):
                continue
            m = measure(A, B)
            for key in ALIGN_MEASURES:
                control[key][i, s] = m[key]
    data = {k: (("cell_a", "cell_b", "seed"), v, _attrs(ALIGN_MEASURES[k][0])) for k, v in out.items()}
    data |= {
        f"{k}_seeds": (("cell", "seed"), v, _attrs(f"{ALIGN_MEASURES[k][0]}, same cell at seeds s and s+1"))
        for k, v in control.items()
    }
    ds = xr.Dataset(
        data,
        coords={
            "cell_a": ("cell_a", names, _attrs("model cell A")),
            "cell_b": ("cell_b", names, _attrs("model cell B")),
            "cell": ("cell", names, _attrs("model cell")),
            "seed": ("seed", np.asarray(seeds, int), _attrs("seed")),
        },
    )
    ds.attrs.update(
        task=task.name,
        families=json.dumps(cfg.families),
        n_fit=len(fit_rows),
        n_eval=len(eval_rows),
        k=cfg.k,
        better=json.dumps({k: v[1] for k, v in ALIGN_MEASURES.items()}),
    )
    return ds
