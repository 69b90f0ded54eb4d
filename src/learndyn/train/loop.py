"""Batched-ensemble training: all seeds of a cell in one set of stacked tensors.

The optimisers are written out elementwise (AdamW, SGD with momentum, as in torch.optim),
with a learning rate per ensemble member, so an LR sweep is one ensemble too. The loss of the
ensemble is the sum of the members' losses; members share no parameters, so each member
receives exactly its own gradient. Metrics are written into preallocated tensors; nothing
synchronises with the host inside the step loop.

Divergence: a member whose loss becomes non-finite or exceeds ``div_factor`` times its
initial loss is marked diverged (first step recorded); its loss is dropped from the sum and
its numbers become NaN. The job still succeeds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..settings import ConfigError, from_mapping
from .optim import BatchedOptimizer, lr_factor

OPTIMIZERS = ("adamw", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one cell (``train.optim`` in the config)."""

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD
    betas: tuple = (0.9, 0.999)  # AdamW
    eps: float = 1e-8
    steps: int = 600
    batch_size: int = 256
    warmup_frac: float = 0.05  # linear warm-up, then cosine decay to 0
    eval_every: int = 30  # steps between evaluations (the "epoch" axis)
    eval_samples: int = 1024  # training samples used for the train curve (fixed subset)
    div_factor: float = 1e3  # diverged: loss > div_factor * initial loss, or not finite
    checkpoint_every: int = 0  # steps between resumable checkpoints (0 = never)

    @classmethod
    def from_config(cls, cfg: dict) -> TrainConfig:
        """From ``train.optim`` (unknown keys and optimisers are refused)."""
        out = from_mapping(cls, cfg, "train.optim")
        if out.optimizer not in OPTIMIZERS:
            raise ConfigError(f"config error: train.optim.optimizer: {out.optimizer!r} not in {OPTIMIZERS}")
        return out


# --- losses ---------------------------------------------------------------------------


def member_loss(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean loss per member ``(S,)``: MSE (regression) or cross-entropy (classification).

    ``out (S, B, k)``; ``y (B, k)`` float / ``(B,)`` long, or with a leading S.
    """
    if kind == "regression":
        return ((out - y) ** 2).mean(dim=(-1, -2))
    S, B, k = out.shape
    y = y.expand(S, B) if y.dim() == 1 else y
    return F.cross_entropy(out.reshape(S * B, k), y.reshape(S * B), reduction="none").view(S, B).mean(-1)


def member_metric(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Test metric per member ``(S,)``: MSE (regression) or accuracy (classification)."""
    if kind == "regression":
        return ((out - y) ** 2).mean(dim=(-1, -2))
    return (out.argmax(-1) == y).float().mean(-1)


@dataclass
class TaskTensors:
    """A task on the device: float32 inputs, float targets or long labels."""

    kind: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 0

    @classmethod
    def from_task(cls, task, device=None) -> TaskTensors:
        def tgt(y):
            y = torch.as_tensor(np.asarray(y))
            return y.long() if task.kind == "classification" else y.float()

        return cls(
            task.kind,
            torch.as_tensor(task.x_train, dtype=torch.float32, device=device),
            tgt(task.y_train).to(device),
            torch.as_tensor(task.x_test, dtype=torch.float32, device=device),
            tgt(task.y_test).to(device),
            task.n_classes,
        )

    @property
    def d_in(self):
        return self.x_train.shape[1]

    @property
    def d_out(self):
        return self.n_classes if self.kind == "classification" else self.y_train.shape[1]


@functools.lru_cache(maxsize=512)
def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """Order of the ``n`` training samples in ``epoch`` for member ``seed`` (cached: drawn once
    per epoch, not once per step; callers must not modify it)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(1_000_003 * seed + epoch))


def batch_indices(seed: int, step: int, n: int, batch: int) -> torch.Tensor:
    """Minibatch of member ``seed`` at ``step``: epoch-wise permutations from a per-(seed, epoch)
    generator, so the order is reproducible and independent of resumption."""
    per_epoch = max(1, n // batch)
    epoch, pos = divmod(step, per_epoch)
    perm = epoch_permutation(seed, epoch, n)
    return perm[pos * batch : (pos + 1) * batch] if batch < n else perm


def member_batches(seeds, step, n, batch, device) -> torch.Tensor:
    return torch.stack([batch_indices(s, step, n, batch) for s in seeds]).to(device)  # (S, B)


# --- checkpoints ---------------------------------------------------------------------------


def state_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_checkpoint(path, model, opt, step, logs, key):
    """Atomically save what is needed to resume: weights, buffers, optimiser, step, logs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"key": key, "model": model.state_dict(), "opt": opt.state_dict(), "step": step, "logs": logs}, tmp
    )
    os.replace(tmp, path)


def load_checkpoint(path, model, opt, key):
    """Restore a checkpoint written for the same cell/config; returns (step, logs) or None."""
    path = Path(path) if path else None
    if path is None or not path.exists():
        return None
    ck = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
    if ck.get("key") != key:
        return None
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    return ck["step"], ck["logs"]


# --- the training loop ---------------------------------------------------------------------


@dataclass
class TrainResult:
    """Curves and status of one ensemble run (tensors on the host)."""

    eval_steps: np.ndarray  # (E,)
    train_loss: np.ndarray  # (S, E)
    test_loss: np.ndarray
    train_metric: np.ndarray
    test_metric: np.ndarray
    step_loss: np.ndarray  # (S, steps) minibatch loss
    diverged: np.ndarray  # (S,) bool
    diverged_step: np.ndarray  # (S,) first diverged step, -1 if never
    probes: dict = field(default_factory=dict)  # name -> (S, E, ...) arrays from probe_fn


@torch.no_grad()
def evaluate(model, data: TaskTensors, n_train: int):
    """(train loss, test loss, train metric, test metric), each ``(S,)``."""
    was = model.training
    model.eval()
    out_tr = model(data.x_train[:n_train])
    out_te = model(data.x_test)
    model.train(was)
    return (
        member_loss(out_tr, data.y_train[:n_train], data.kind),
        member_loss(out_te, data.y_test, data.kind),
        member_metric(out_tr, data.y_train[:n_train], data.kind),
        member_metric(out_te, data.y_test, data.kind),
    )


def train_ensemble(
    model, data: TaskTensors, cfg: TrainConfig, lr=None, probe_fn=None, checkpoint=None, key: str = ""
) -> TrainResult:
    """Train every member of ``model`` on ``data``; ``lr (S,)`` overrides ``cfg.lr`` per member.

    ``probe_fn(model, data, i_eval) -> {name: tensor (S, ...)}`` runs at every evaluation point (it
    must leave the parameters unchanged). ``checkpoint`` (a path outside the declared
    outputs) enables resuming a killed job from the last saved step.
    """
    dev = next(model.parameters()).device
    S, n = model.n_members, len(data.x_train)
    lr = torch.full((S,), cfg.lr, device=dev) if lr is None else lr.to(dev).float()
    opt = BatchedOptimizer(model.parameters(), lr, cfg)
    n_eval = cfg.steps // cfg.eval_every + 1
    logs = {
        "train_loss": torch.full((S, n_eval), float("nan"), device=dev),
        "test_loss": torch.full((S, n_eval), float("nan"), device=dev),
        "train_metric": torch.full((S, n_eval), float("nan"), device=dev),
        "test_metric": torch.full((S, n_eval), float("nan"), device=dev),
        "step_loss": torch.full((S, cfg.steps), float("nan"), device=dev),
        "diverged_step": torch.full((S,), -1, dtype=torch.long, device=dev),
        "loss0": torch.zeros(S, device=dev),
        "probes": {},
    }
    start = 0
    resumed = load_checkpoint(checkpoint, model, opt, key) if checkpoint and cfg.checkpoint_every else None
    if resumed is not None:
        start, logs = resumed
        print(f"resumed from checkpoint {checkpoint} at step {start}/{cfg.steps}", file=sys.stderr)
    n_tr = min(cfg.eval_samples, n)

    def record(i_eval):
        vals = evaluate(model, data, n_tr)
        for name, v in zip(("train_loss", "test_loss", "train_metric", "test_metric"), vals):
            logs[name][:, i_eval] = v
        if probe_fn is not None:
            for name, v in probe_fn(model, data, i_eval).items():
                buf = logs["probes"].setdefault(
                    name, torch.full((S, n_eval, *v.shape[1:]), float("nan"), device=dev)
                )
                buf[:, i_eval] = v
        return vals[0]

    if start == 0:
        logs["loss0"] = record(0)
    model.train()
    for step in range(start, cfg.steps):
        idx = member_batches(model.seeds, step, n, cfg.batch_size, dev)  # (S, B)
        x, y = data.x_train[idx], data.y_train[idx]  # (S, B, d_in), (S, B[, k])
        out = model(x)
        loss = member_loss(out, y, data.kind)  # (S,)
        bad = ~torch.isfinite(loss) | (loss > cfg.div_factor * logs["loss0"])
        newly = bad & (logs["diverged_step"] < 0)
        logs["diverged_step"] = torch.where(
            newly, torch.full_like(logs["diverged_step"], step), logs["diverged_step"]
        )
        alive = logs["diverged_step"] < 0
        logs["step_loss"][:, step] = loss.detach()
        total = torch.where(alive, loss + model.regulariser(), torch.zeros_like(loss)).sum()
        for p in model.parameters():
            p.grad = None
        total.backward()
        opt.step(lr_factor(step, cfg.steps, cfg.warmup_frac))
        if (step + 1) % cfg.eval_every == 0:
            record((step + 1) // cfg.eval_every)
        if (
            checkpoint
            and cfg.checkpoint_every
            and (step + 1) % cfg.checkpoint_every == 0
            and step + 1 < cfg.steps
        ):
            save_checkpoint(checkpoint, model, opt, step + 1, logs, key)
    model.eval()
    if checkpoint and Path(checkpoint).exists():
        Path(checkpoint).unlink()  # the run is complete; a rerun starts afresh
    div_step = logs["diverged_step"].cpu().numpy()
    # a member whose weights are not finite at the end counts as diverged too
    finite = torch.stack([torch.isfinite(p).flatten(1).all(1) for p in model.parameters()]).all(0)
    div_step = np.where(~finite.cpu().numpy() & (div_step < 0), cfg.steps, div_step)
    diverged = div_step >= 0
    curves = {
        k: logs[k].cpu().numpy()
        for k in ("train_loss", "test_loss", "train_metric", "test_metric", "step_loss")
    }
    for k in ("train_loss", "test_loss", "train_metric", "test_metric"):
        curves[k][diverged] = np.nan  # no numbers from a diverged member
    return TrainResult(
        np.arange(n_eval) * cfg.eval_every,
        curves["train_loss"],
        curves["test_loss"],
        curves["train_metric"],
        curves["test_metric"],
        curves["step_loss"],
        diverged,
        div_step,
        {k: v.cpu().numpy() for k, v in logs["probes"].items()},
    )


@torch.no_grad()
def sanitize_(model) -> np.ndarray:
    """Zero the parameters of members with non-finite weights (so SVDs do not fail);
    returns the boolean mask ``(S,)`` of members that were finite."""
    finite = torch.stack([torch.isfinite(p).flatten(1).all(1) for p in model.parameters()]).all(0)
    for p in model.parameters():
        p[~finite] = 0.0
    return finite.cpu().numpy()


def lr_sweep_members(lrs, seeds):
    """Ensemble layout of an LR sweep: member (i, j) = (lrs[i], seeds[j]), row-major."""
    lr = np.repeat(np.asarray(lrs, dtype=float), len(seeds))
    member_seeds = np.tile(np.asarray(seeds, dtype=int), len(lrs))
    return lr, member_seeds


def stable_lr(lrs, diverged, final_loss, initial_loss) -> np.ndarray:
    """Largest learning rate per seed whose run neither diverged nor ended above its initial
    loss; ``diverged``/losses ``(n_lr, n_seed)``. NaN if no rate is stable."""
    ok = ~diverged & np.isfinite(final_loss) & (final_loss < initial_loss)
    lrs = np.asarray(lrs, dtype=float)[:, None] * np.ones_like(final_loss)
    masked = np.where(ok, lrs, -np.inf).max(0)
    return np.where(np.isfinite(masked), masked, np.nan)
