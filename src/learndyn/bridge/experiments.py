"""One job of the bridge -> one tidy xarray Dataset.

``run_trajectory``: one trained cell with parameter snapshots along training (``train_cell``
with ``snapshot_every``): at every snapshot and at the kept weights, the kernel of every seed on
the fixed training subsample, its drift, velocity, alignment, effective rank, per-path and
per-layer shares, the relative weight change, and the kernel regression of the trained outputs
with K_0 and with the kernel of the kept weights. ``run_width``: the cells of the width study, K_0
(the initial weights rebuilt from the seeds) against the kernel of the kept weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from ..io import cf_attrs
from ..train.loop import TaskTensors, Validation
from ..train.models import build_model
from . import PATH_ORDER, metrics
from .kernel import LAYERED, PATHS, kernel_by_path, kernel_parts, member_network, network_outputs
from .settings import BridgeSettings

_attrs = cf_attrs

# The variables of a trajectory dataset, in its order: name -> (dims, long name, units). Those
# with a ``step`` dim are measured at every snapshot, the others at the kept weights.
TRAJECTORY_VARS = {
    "drift": (("seed", "step"), "relative kernel drift ||K_t - K_0||_F / ||K_0||_F", "1"),
    "drift_tn": (("seed", "step"), "drift of the trace-normalised kernel K_t / tr K_t", "1"),
    "cka_dist": (("seed", "step"), "1 - CKA(K_0, K_t) (centred kernel alignment)", "1"),
    "velocity": (("seed", "step"), "kernel velocity (Fort et al. 2020)", "1/epoch"),
    "alignment": (("seed", "step"), "centred kernel-target alignment", "1"),
    "eff_rank": (("seed", "step"), "effective rank of K", "1"),
    "share_path": (("seed", "step", "path"), "trace share of the path's kernel", "1"),
    "align_path": (("seed", "step", "path"), "centred kernel-target alignment of the path's kernel", "1"),
    "share_block": (("seed", "step", "block"), "trace share of the block's kernel", "1"),
    "weight_change_path": (("seed", "step", "path"), "relative weight change of the path", "1"),
    "weight_change_block": (("seed", "step", "block"), "relative weight change of the block", "1"),
    "drift_kept": (("seed",), "relative kernel drift at the kept weights", "1"),
    "alignment_kept": (("seed",), "kernel-target alignment at the kept weights", "1"),
    "eff_rank_kept": (("seed",), "effective rank of K at the kept weights", "1"),
    "share_correction_kept": (("seed",), "trace share of the correction path at the kept weights", "1"),
    "r2_init": (("seed",), "R2 of the test outputs predicted with K_0", "1"),
    "r2_kept": (("seed",), "R2 of the test outputs predicted with K_kept", "1"),
    "agree_init": (("seed",), "argmax agreement of the K_0 prediction", "1"),
    "agree_kept": (("seed",), "argmax agreement of the K_kept prediction", "1"),
}


@dataclass(frozen=True)
class Probe:
    """The fixed inputs of every kernel of a job: ``X (n, d_in)`` training points with their
    targets ``y`` (numpy), ``Z (m, d_in)`` test points, ``n_classes`` (0 for regression) and
    ``n_train``, the size of the optimiser's training split (steps -> epochs)."""

    X: torch.Tensor
    y: np.ndarray
    Z: torch.Tensor
    n_classes: int
    n_train: int


def subsample(task, settings: BridgeSettings, device=None) -> Probe:
    """``n`` points of the optimiser's training split (drawn once with ``subsample_seed``,
    sorted) with their targets, and the first ``n_test`` test points."""
    cfg = settings.bridge
    data = TaskTensors.from_task(task, device, Validation.from_config(settings.validation))
    n = min(cfg.n, len(data.x_train))
    idx = np.sort(np.random.default_rng(cfg.subsample_seed).choice(len(data.x_train), n, replace=False))
    idx = torch.as_tensor(idx)
    n_classes = data.n_classes if data.kind == "classification" else 0
    return Probe(
        data.x_train[idx],
        data.y_train[idx].cpu().numpy(),
        data.x_test[: cfg.n_test],
        n_classes,
        len(data.x_train),
    )


@dataclass(frozen=True)
class Axes:
    """The axes of one trajectory: snapshot ``steps`` and their ``epoch``, the kernel's
    ``paths`` (in ``PATH_ORDER``) and ``blocks`` (0 embedding, 1..L layers, L+1 read-out)."""

    steps: np.ndarray
    epoch: np.ndarray
    paths: list
    blocks: list

    @classmethod
    def of(cls, model, trajectory: dict, batch_size: int, n_train: int) -> Axes:
        steps = trajectory["step"].numpy()
        names = [k for k, _ in model.named_parameters()]
        paths = [p for p in PATH_ORDER if any(PATHS[k] == p for k in names)]
        return cls(steps, steps * batch_size / n_train, paths, list(range(model.depth + 2)))

    def empty(self, dims: tuple, n_seeds: int) -> np.ndarray:
        """A NaN array of the trajectory variable with ``dims``."""
        sizes = {"seed": n_seeds, "step": len(self.steps), "path": len(self.paths), "block": len(self.blocks)}
        return np.full([sizes[d] for d in dims], np.nan)


def _state(trajectory: dict, t: int) -> dict:
    """The parameters ``{name: (S, ...)}`` of snapshot ``t``."""
    return {k: v[:, t] for k, v in trajectory["state"].items()}


def _load_state(model, state: dict):
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(state[k])
    return model


def _finite(state: dict, member: int) -> bool:
    return all(torch.isfinite(v[member]).all() for v in state.values())


def _groups(state: dict, member: int, depth: int) -> dict[tuple[str, int], list]:
    """The parameters of one member grouped by ``(path, block)`` as in ``kernel_by_path``."""
    out: dict[tuple[str, int], list] = {}
    for name, v in state.items():
        if name not in PATHS:
            continue
        path, v = PATHS[name], v[member].detach().double()
        if name in LAYERED:
            for l in range(depth):
                out.setdefault((path, l + 1), []).append(v[l])
        else:
            out.setdefault((path, 0 if path == "embedding" else depth + 1), []).append(v)
    return out


def kernel_summary(model, member: int, X, y, n_classes: int) -> dict:
    """Kernel, per-(path, block) parts and their measurements for one member on ``X``."""
    parts = kernel_by_path(kernel_parts(model, member, X), model.depth)
    K = sum(parts.values())
    return {"K": K, "parts": parts, "alignment": metrics.kernel_target_alignment(K, y, n_classes)}


def _outputs(model, member: int, x) -> np.ndarray:
    net, params = member_network(model, member)
    with torch.no_grad():
        return network_outputs(net, params, x.double()).cpu().numpy()


def _cross_kernel(model, member: int, Z, X):
    """The kernel ``K(Z, X)`` of one member (summed over its parts)."""
    return sum(p.sum(0) for p in kernel_parts(model, member, Z, X).values())


def kernel_change(K_t, K_0) -> dict:
    """The three measures of a kernel's change from ``K_0`` to ``K_t``: the Frobenius drift
    (``drift``), the trace-normalised drift (``drift_tn``) and 1 - CKA (``cka_dist``)."""
    return {
        "drift": metrics.kernel_drift(K_t, K_0),
        "drift_tn": metrics.trace_normalised_drift(K_t, K_0),
        "cka_dist": metrics.cka_distance(K_t, K_0),
    }


def snapshot_measures(ks: dict, groups: dict, start: dict, axes: Axes, probe: Probe) -> dict:
    """The measures of one snapshot of one member against its first snapshot: ``ks`` its
    ``kernel_summary``, ``groups`` its parameters by ``(path, block)``, ``start`` the first
    snapshot's ``{"K", "groups"}``. Keys and shapes as ``TRAJECTORY_VARS`` less the seed and step
    dims (no velocity: it needs the previous snapshot)."""
    K, parts = ks["K"], ks["parts"]

    def part(keep) -> tuple:
        """The kernel of the parts and the weights (now, first) of the groups ``keep`` selects."""
        return (
            sum(v for key, v in parts.items() if keep(key)),
            [a for key, g in groups.items() if keep(key) for a in g],
            [a for key, g in start["groups"].items() if keep(key) for a in g],
        )

    by_path = [part(lambda key, p=p: key[0] == p) for p in axes.paths]
    by_block = [part(lambda key, b=b: key[1] == b) for b in axes.blocks]
    return {
        **kernel_change(K, start["K"]),
        "alignment": ks["alignment"],
        "eff_rank": metrics.effective_rank(K),
        "share_path": [metrics.trace_share(Kp, K) for Kp, _, _ in by_path],
        "align_path": [metrics.kernel_target_alignment(Kp, probe.y, probe.n_classes) for Kp, _, _ in by_path],
        "share_block": [metrics.trace_share(Kb, K) for Kb, _, _ in by_block],
        "weight_change_path": [metrics.relative_change(now, first) for _, now, first in by_path],
        "weight_change_block": [metrics.relative_change(now, first) for _, now, first in by_block],
    }


def follow_member(model, trajectory: dict, member: int, probe: Probe, axes: Axes, out: dict):
    """Every snapshot of one member into ``out[name][member, t]``; a non-finite snapshot (a
    diverged member) stays NaN. Returns the kernel of the first snapshot (None if it is not
    finite)."""
    start, prev = None, None
    for t in range(len(axes.steps)):
        state = _state(trajectory, t)
        if not _finite(state, member):
            continue
        _load_state(model, state)
        ks = kernel_summary(model, member, probe.X, probe.y, probe.n_classes)
        groups = _groups(state, member, model.depth)
        if t == 0:
            start = {"K": ks["K"], "groups": groups}
        for name, value in snapshot_measures(ks, groups, start, axes, probe).items():
            out[name][member, t] = value
        if prev is not None:
            dt = axes.epoch[t] - axes.epoch[t - 1]
            out["velocity"][member, t] = metrics.kernel_velocity(prev, ks["K"], dt)
        prev = ks["K"]
    return None if start is None else start["K"]


def kept_measures(model, trajectory: dict, member: int, K0, probe: Probe, ridge: float) -> dict:
    """The measures of one member at the kept weights (loaded in ``model``): drift from ``K0``,
    alignment, effective rank, correction share, and the kernel regression of the trained test
    outputs with K_0 and with K_kept (R2 and argmax agreement). Leaves snapshot 0 loaded."""
    ks = kernel_summary(model, member, probe.X, probe.y, probe.n_classes)
    K_T = ks["K"]
    corr = sum(v for (p, _), v in ks["parts"].items() if p == "correction")
    out = {
        "drift_kept": metrics.kernel_drift(K_T, K0),
        "alignment_kept": ks["alignment"],
        "eff_rank_kept": metrics.effective_rank(K_T),
        "share_correction_kept": metrics.trace_share(corr, K_T) if torch.is_tensor(corr) else 0.0,
    }
    fT_X, fT_Z = _outputs(model, member, probe.X), _outputs(model, member, probe.Z)
    KT_ZX = _cross_kernel(model, member, probe.Z, probe.X)
    _load_state(model, _state(trajectory, 0))
    f0_X, f0_Z = _outputs(model, member, probe.X), _outputs(model, member, probe.Z)
    K0_ZX = _cross_kernel(model, member, probe.Z, probe.X)
    for name, (Kxx, Kzx) in {"init": (K0, K0_ZX), "kept": (K_T, KT_ZX)}.items():
        pred = metrics.linearised_prediction(Kxx, Kzx, f0_X, fT_X, f0_Z, ridge)
        out[f"r2_{name}"] = metrics.r2(pred, fT_Z)
        out[f"agree_{name}"] = metrics.argmax_agreement(pred, fT_Z)
    return out


def init_rebuild_error(model, trajectory: dict) -> float:
    """max |snapshot 0 - the initial weights rebuilt from the seeds| (0: the rebuild is exact)."""
    init = build_model(model.spec, model.d_in, model.d_out, model.width, model.depth, model.seeds)
    return max(
        float((p.detach().cpu() - trajectory["state"][k][:, 0]).abs().max())
        for k, p in init.named_parameters()
    )


def trajectory_dataset(
    task, model, settings: BridgeSettings, axes: Axes, probe: Probe, values: dict
) -> xr.Dataset:
    """The trajectory dataset of one cell from ``values`` (``TRAJECTORY_VARS`` and
    ``init_rebuild_error``)."""
    coords = {
        "seed": ("seed", np.asarray(model.seeds, dtype=int), _attrs("seed")),
        "step": ("step", axes.steps.astype(int), _attrs("optimisation step of the snapshot", "step")),
        "epoch": ("step", axes.epoch, _attrs("training epoch of the snapshot", "epoch")),
        "path": ("path", axes.paths),
        "block": (
            "block",
            np.asarray(axes.blocks),
            _attrs("kernel block (0 embedding, 1..L layers, L+1 read-out)"),
        ),
    }
    data_vars = {
        name: (dims, values[name], _attrs(long, units))
        for name, (dims, long, units) in TRAJECTORY_VARS.items()
    }
    data_vars["init_rebuild_error"] = (
        (),
        values["init_rebuild_error"],
        _attrs("max |snapshot 0 - init rebuilt from the seeds|"),
    )
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update(
        task=task.name,
        depth=model.depth,
        width=model.width,
        n=len(probe.X),
        n_test=len(probe.Z),
        model_spec=json.dumps(model.spec.as_dict(), sort_keys=True),
        bridge_config=json.dumps(settings.bridge.__dict__, sort_keys=True, default=list),
    )
    return ds


def run_trajectory(task, model, trajectory: dict, settings: BridgeSettings) -> xr.Dataset:
    """The kernel along training for every seed of one cell (see the module doc).

    ``model``: the saved ensemble (kept weights); ``trajectory``: its snapshots
    (``learndyn.train.models.load_trajectory``)."""
    probe = subsample(task, settings, model.E.device)
    axes = Axes.of(model, trajectory, settings.batch_size, probe.n_train)
    kept = {k: v.detach().clone() for k, v in model.named_parameters()}
    values = {name: axes.empty(dims, model.n_members) for name, (dims, _, _) in TRAJECTORY_VARS.items()}
    values["init_rebuild_error"] = init_rebuild_error(model, trajectory)
    for s in range(model.n_members):
        K0 = follow_member(model, trajectory, s, probe, axes, values)
        _load_state(model, kept)
        if K0 is None or not _finite(kept, s):
            continue
        for name, value in kept_measures(model, trajectory, s, K0, probe, settings.bridge.ridge).items():
            values[name][s] = value
    _load_state(model, kept)
    return trajectory_dataset(task, model, settings, axes, probe, values)


def run_width(task, models: dict, settings: BridgeSettings) -> xr.Dataset:
    """Drift of the kernel from the initial weights (rebuilt from the seeds) to the kept weights
    for every cell ``{(model, width): ensemble}`` of the width study; dims (model, width, seed)."""
    names = sorted({m for m, _ in models})
    widths = sorted({w for _, w in models})
    seeds = sorted({s for ens in models.values() for s in ens.seeds})
    out = {
        k: np.full((len(names), len(widths), len(seeds)), np.nan)
        for k in ("drift", "drift_tn", "cka_dist", "align_0", "align_kept")
    }
    probe = subsample(task, settings, next(iter(models.values())).E.device)
    for (name, width), model in models.items():
        init = build_model(
            model.spec, model.d_in, model.d_out, model.width, model.depth, model.seeds, model.E.device
        )
        finite = np.asarray(
            [all(torch.isfinite(p[s]).all() for p in model.parameters()) for s in range(model.n_members)]
        )
        i, j = names.index(name), widths.index(width)
        for s, seed in enumerate(model.seeds):
            if not finite[s]:
                continue
            K0 = kernel_summary(init, s, probe.X, probe.y, probe.n_classes)
            KT = kernel_summary(model, s, probe.X, probe.y, probe.n_classes)
            k = seeds.index(seed)
            for name, value in kernel_change(KT["K"], K0["K"]).items():
                out[name][i, j, k] = value
            out["align_0"][i, j, k] = K0["alignment"]
            out["align_kept"][i, j, k] = KT["alignment"]
    dims = ("model", "width", "seed")
    ds = xr.Dataset(
        {
            "drift": (dims, out["drift"], _attrs("relative kernel drift, init to kept weights")),
            "drift_tn": (
                dims,
                out["drift_tn"],
                _attrs("trace-normalised kernel drift, init to kept weights"),
            ),
            "cka_dist": (dims, out["cka_dist"], _attrs("1 - CKA(K_0, K_kept)")),
            "align_0": (dims, out["align_0"], _attrs("kernel-target alignment at init")),
            "align_kept": (dims, out["align_kept"], _attrs("kernel-target alignment at the kept weights")),
        },
        coords={
            "model": ("model", names),
            "width": ("width", np.asarray(widths, dtype=int), _attrs("hidden width d")),
            "seed": ("seed", np.asarray(seeds, dtype=int), _attrs("seed")),
        },
    )
    ds.attrs.update(
        task=task.name,
        n=int(len(probe.X)),
        bridge_config=json.dumps(settings.bridge.__dict__, sort_keys=True, default=list),
    )
    return ds


# The variables of the endpoint dataset (dims model, seed): the kernel's change from the initial
# weights to the kept weights (``kept``: what the training half's effects are measured on) and to
# the last weights (``last``: the same step count for every model).
ENDPOINT_VARS = {
    f"{measure}_{at}": f"{label}, init to the {words} weights"
    for at, words in (("kept", "kept"), ("last", "last"))
    for measure, label in (
        ("drift", "relative kernel drift"),
        ("drift_tn", "trace-normalised kernel drift"),
        ("cka_dist", "1 - CKA"),
    )
}
# and the relative change of the weights' norm, init to kept (the simpler explanation of a
# kernel change: the outputs' sensitivity grows with the weights' scale, whatever their direction)
ENDPOINT_VARS["wnorm_kept"] = "relative change of the weight norm ||theta_T|| / ||theta_0|| - 1, init to kept"


def weight_norm_change(state: dict, start: dict, member: int) -> float:
    """||theta|| / ||theta_0|| - 1 over every parameter of one member (float64)."""

    def norm(st):
        return float(torch.sqrt(sum((v[member].detach().double() ** 2).sum() for v in st.values())))

    return norm(state) / norm(start) - 1.0


def endpoint_member(model, trajectory: dict, member: int, probe: Probe) -> dict:
    """The kernel change of one member from its first snapshot (the init) to the kept weights
    (loaded in ``model``) and to its last snapshot: ``{ENDPOINT_VARS key: float}``, NaN where a
    state is not finite. Leaves the kept weights loaded."""
    kept = {k: v.detach().clone() for k, v in model.named_parameters()}
    first, last = _state(trajectory, 0), _state(trajectory, len(trajectory["step"]) - 1)
    out = dict.fromkeys(ENDPOINT_VARS, np.nan)
    if not (_finite(first, member) and _finite(kept, member)):
        return out
    K_kept = kernel_summary(model, member, probe.X, probe.y, probe.n_classes)["K"]
    _load_state(model, first)
    K_0 = kernel_summary(model, member, probe.X, probe.y, probe.n_classes)["K"]
    out |= {f"{k}_kept": v for k, v in kernel_change(K_kept, K_0).items()}
    out["wnorm_kept"] = weight_norm_change(kept, first, member)
    same = all(torch.equal(kept[k][member], last[k][member]) for k in kept)  # kept the last weights
    if same:
        out |= {f"{k}_last": out[f"{k}_kept"] for k in ("drift", "drift_tn", "cka_dist")}
    elif _finite(last, member):
        _load_state(model, last)
        K_last = kernel_summary(model, member, probe.X, probe.y, probe.n_classes)["K"]
        out |= {f"{k}_last": v for k, v in kernel_change(K_last, K_0).items()}
    _load_state(model, kept)
    return out


def run_endpoints(task, models: dict, settings: BridgeSettings) -> xr.Dataset:
    """The kernel change of every endpoint cell ``{model name: (ensemble, trajectory)}`` (the
    population of architectures and the common-rate copies, each with its first and last
    snapshots) from the init to the kept and to the last weights; dims (model, seed), NaN for a
    seed a cell did not train. Coordinate ``last_step`` (model): the step of the last snapshot."""
    names = sorted(models)
    seeds = sorted({s for ens, _ in models.values() for s in ens.seeds})
    out = {k: np.full((len(names), len(seeds)), np.nan) for k in ENDPOINT_VARS}
    probe = subsample(task, settings, next(iter(models.values()))[0].E.device)
    last_step = np.zeros(len(names), dtype=int)
    for i, name in enumerate(names):
        model, trajectory = models[name]
        last_step[i] = int(trajectory["step"][-1])
        for s, seed in enumerate(model.seeds):
            for key, value in endpoint_member(model, trajectory, s, probe).items():
                out[key][i, seeds.index(seed)] = value
    ds = xr.Dataset(
        {k: (("model", "seed"), out[k], _attrs(long)) for k, long in ENDPOINT_VARS.items()},
        coords={
            "model": ("model", names),
            "seed": ("seed", np.asarray(seeds, dtype=int), _attrs("seed")),
            "last_step": ("model", last_step, _attrs("optimisation step of the last snapshot", "step")),
        },
    )
    ds.attrs.update(
        task=task.name,
        n=int(len(probe.X)),
        bridge_config=json.dumps(settings.bridge.__dict__, sort_keys=True, default=list),
    )
    return ds
