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

import numpy as np
import torch
import xarray as xr

from ..io import cf_attrs
from ..train.loop import TaskTensors, Validation
from ..train.models import build_model
from . import PATH_ORDER, metrics
from .kernel import LAYERED, PATHS, kernel_by_path, kernel_parts, member_network, network_outputs
from .settings import BridgeConfig

_attrs = cf_attrs


def subsample(task, cfg: BridgeConfig, validation: Validation, device=None):
    """The fixed inputs of every kernel: ``n`` points of the optimiser's training split (drawn
    once with ``subsample_seed``, sorted) with their targets, and the first ``n_test`` test points.
    Returns ``(X (n, d_in), y (n,...), Z (m, d_in), data)``."""
    data = TaskTensors.from_task(task, device, validation)
    n = min(cfg.n, len(data.x_train))
    idx = np.sort(np.random.default_rng(cfg.subsample_seed).choice(len(data.x_train), n, replace=False))
    idx = torch.as_tensor(idx)
    return data.x_train[idx], data.y_train[idx], data.x_test[: cfg.n_test], data


def _state(trajectory: dict, t: int) -> dict:
    """The parameters ``{name: (S, ...)}`` of snapshot ``t``."""
    return {k: v[:, t] for k, v in trajectory["state"].items()}


def _load_state(model, state: dict):
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(state[k])
    return model


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


def run_trajectory(task, model, trajectory: dict, cfg: BridgeConfig, validation: Validation, batch_size: int):
    """The kernel along training for every seed of one cell (see the module doc).

    ``model``: the saved ensemble (kept weights); ``trajectory``: its snapshots
    (``learndyn.train.models.load_trajectory``)."""
    X, y, Z, data = subsample(task, cfg, validation, model.E.device)
    y_np, ncls = y.cpu().numpy(), data.n_classes if data.kind == "classification" else 0
    L, S = model.depth, model.n_members
    steps = trajectory["step"].numpy()
    T = len(steps)
    kept = {k: v.detach().clone() for k, v in model.named_parameters()}
    blocks = list(range(L + 2))
    paths = [p for p in PATH_ORDER if any(PATHS[k] == p for k in kept)]
    nan = lambda *shape: np.full(shape, np.nan)  # noqa: E731
    out = {
        "drift": nan(S, T),
        "velocity": nan(S, T),
        "alignment": nan(S, T),
        "eff_rank": nan(S, T),
        "share_path": nan(S, T, len(paths)),
        "align_path": nan(S, T, len(paths)),
        "share_block": nan(S, T, L + 2),
        "weight_change_path": nan(S, T, len(paths)),
        "weight_change_block": nan(S, T, L + 2),
    }
    kept_vars = {
        k: nan(S)
        for k in (
            "drift_kept",
            "alignment_kept",
            "eff_rank_kept",
            "r2_init",
            "r2_kept",
            "agree_init",
            "agree_kept",
            "share_correction_kept",
        )
    }
    init_model = build_model(model.spec, model.d_in, model.d_out, model.width, model.depth, model.seeds)
    init_error = max(
        float((p.detach().cpu() - trajectory["state"][k][:, 0]).abs().max())
        for k, p in init_model.named_parameters()
    )
    epoch = steps * batch_size / len(data.x_train)
    for s in range(S):
        prev, K0, theta0 = None, None, None
        for t in range(T):
            state = _state(trajectory, t)
            if not all(torch.isfinite(v[s]).all() for v in state.values()):
                continue  # a diverged member: NaN from here
            _load_state(model, state)
            ks = kernel_summary(model, s, X, y_np, ncls)
            K, parts = ks["K"], ks["parts"]
            groups = _groups(state, s, L)
            if t == 0:
                K0, theta0 = K, groups
            out["drift"][s, t] = metrics.kernel_drift(K, K0)
            if prev is not None:
                out["velocity"][s, t] = metrics.kernel_velocity(prev, K, epoch[t] - epoch[t - 1])
            prev = K
            out["alignment"][s, t] = ks["alignment"]
            out["eff_rank"][s, t] = metrics.effective_rank(K)
            for i, p in enumerate(paths):
                Kp = sum(v for (pp, _), v in parts.items() if pp == p)
                out["share_path"][s, t, i] = metrics.trace_share(Kp, K)
                out["align_path"][s, t, i] = metrics.kernel_target_alignment(Kp, y_np, ncls)
                out["weight_change_path"][s, t, i] = metrics.relative_change(
                    [a for (pp, _), g in groups.items() if pp == p for a in g],
                    [a for (pp, _), g in theta0.items() if pp == p for a in g],
                )
            for b in blocks:
                Kb = sum(v for (_, bb), v in parts.items() if bb == b)
                out["share_block"][s, t, b] = metrics.trace_share(Kb, K)
                out["weight_change_block"][s, t, b] = metrics.relative_change(
                    [a for (_, bb), g in groups.items() if bb == b for a in g],
                    [a for (_, bb), g in theta0.items() if bb == b for a in g],
                )
        if K0 is None:
            continue
        # the kept weights: drift, and kernel regression of the trained outputs with K_0 and K_kept
        _load_state(model, kept)
        if not all(torch.isfinite(v[s]).all() for v in kept.values()):
            continue
        ks = kernel_summary(model, s, X, y_np, ncls)
        K_T = ks["K"]
        kept_vars["drift_kept"][s] = metrics.kernel_drift(K_T, K0)
        kept_vars["alignment_kept"][s] = ks["alignment"]
        kept_vars["eff_rank_kept"][s] = metrics.effective_rank(K_T)
        corr = sum(v for (p, _), v in ks["parts"].items() if p == "correction")
        kept_vars["share_correction_kept"][s] = (
            metrics.trace_share(corr, K_T) if torch.is_tensor(corr) else 0.0
        )
        fT_X, fT_Z = _outputs(model, s, X), _outputs(model, s, Z)
        KT_ZX = sum(p.sum(0) for p in kernel_parts(model, s, Z, X).values())
        _load_state(model, _state(trajectory, 0))
        f0_X, f0_Z = _outputs(model, s, X), _outputs(model, s, Z)
        K0_ZX = sum(p.sum(0) for p in kernel_parts(model, s, Z, X).values())
        for name, (Kxx, Kzx) in {"init": (K0, K0_ZX), "kept": (K_T, KT_ZX)}.items():
            pred = metrics.linearised_prediction(Kxx, Kzx, f0_X, fT_X, f0_Z, cfg.ridge)
            kept_vars[f"r2_{name}"][s] = metrics.r2(pred, fT_Z)
            kept_vars[f"agree_{name}"][s] = metrics.argmax_agreement(pred, fT_Z)
    _load_state(model, kept)

    coords = {
        "seed": ("seed", np.asarray(model.seeds, dtype=int), _attrs("seed")),
        "step": ("step", steps.astype(int), _attrs("optimisation step of the snapshot", "step")),
        "epoch": ("step", epoch, _attrs("training epoch of the snapshot", "epoch")),
        "path": ("path", paths),
        "block": (
            "block",
            np.asarray(blocks),
            _attrs("kernel block (0 embedding, 1..L layers, L+1 read-out)"),
        ),
    }
    st, stp, stb = ("seed", "step"), ("seed", "step", "path"), ("seed", "step", "block")
    data_vars = {
        "drift": (st, out["drift"], _attrs("relative kernel drift ||K_t - K_0||_F / ||K_0||_F")),
        "velocity": (st, out["velocity"], _attrs("kernel velocity (Fort et al. 2020)", "1/epoch")),
        "alignment": (st, out["alignment"], _attrs("centred kernel-target alignment")),
        "eff_rank": (st, out["eff_rank"], _attrs("effective rank of K")),
        "share_path": (stp, out["share_path"], _attrs("trace share of the path's kernel")),
        "align_path": (
            stp,
            out["align_path"],
            _attrs("centred kernel-target alignment of the path's kernel"),
        ),
        "share_block": (stb, out["share_block"], _attrs("trace share of the block's kernel")),
        "weight_change_path": (stp, out["weight_change_path"], _attrs("relative weight change of the path")),
        "weight_change_block": (
            stb,
            out["weight_change_block"],
            _attrs("relative weight change of the block"),
        ),
        "drift_kept": (
            ("seed",),
            kept_vars["drift_kept"],
            _attrs("relative kernel drift at the kept weights"),
        ),
        "alignment_kept": (
            ("seed",),
            kept_vars["alignment_kept"],
            _attrs("kernel-target alignment at the kept weights"),
        ),
        "eff_rank_kept": (
            ("seed",),
            kept_vars["eff_rank_kept"],
            _attrs("effective rank of K at the kept weights"),
        ),
        "share_correction_kept": (
            ("seed",),
            kept_vars["share_correction_kept"],
            _attrs("trace share of the correction path at the kept weights"),
        ),
        "r2_init": (("seed",), kept_vars["r2_init"], _attrs("R2 of the test outputs predicted with K_0")),
        "r2_kept": (("seed",), kept_vars["r2_kept"], _attrs("R2 of the test outputs predicted with K_kept")),
        "agree_init": (("seed",), kept_vars["agree_init"], _attrs("argmax agreement of the K_0 prediction")),
        "agree_kept": (
            ("seed",),
            kept_vars["agree_kept"],
            _attrs("argmax agreement of the K_kept prediction"),
        ),
        "init_rebuild_error": ((), init_error, _attrs("max |snapshot 0 - init rebuilt from the seeds|")),
    }
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update(
        task=task.name,
        depth=L,
        width=model.width,
        n=len(X),
        n_test=len(Z),
        model_spec=json.dumps(model.spec.as_dict(), sort_keys=True),
        bridge_config=json.dumps(cfg.__dict__, sort_keys=True, default=list),
    )
    return ds


def run_width(task, models: dict, cfg: BridgeConfig, validation: Validation) -> xr.Dataset:
    """Drift of the kernel from the initial weights (rebuilt from the seeds) to the kept weights
    for every cell ``{(model, width): ensemble}`` of the width study; dims (model, width, seed)."""
    names = sorted({m for m, _ in models})
    widths = sorted({w for _, w in models})
    seeds = sorted({s for ens in models.values() for s in ens.seeds})
    out = {
        k: np.full((len(names), len(widths), len(seeds)), np.nan) for k in ("drift", "align_0", "align_kept")
    }
    X = y_np = None
    for (name, width), model in models.items():
        if X is None:
            X, y, _, data = subsample(task, cfg, validation, model.E.device)
            y_np, ncls = y.cpu().numpy(), data.n_classes if data.kind == "classification" else 0
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
            K0 = kernel_summary(init, s, X, y_np, ncls)
            KT = kernel_summary(model, s, X, y_np, ncls)
            k = seeds.index(seed)
            out["drift"][i, j, k] = metrics.kernel_drift(KT["K"], K0["K"])
            out["align_0"][i, j, k] = K0["alignment"]
            out["align_kept"][i, j, k] = KT["alignment"]
    dims = ("model", "width", "seed")
    ds = xr.Dataset(
        {
            "drift": (dims, out["drift"], _attrs("relative kernel drift, init to kept weights")),
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
        task=task.name, n=int(len(X)), bridge_config=json.dumps(cfg.__dict__, sort_keys=True, default=list)
    )
    return ds
