"""Training-speed benchmark: our batched ensemble vs the loop a user would write.

The peer trains one seed at a time: a plain ``nn.Module`` of the same structured layers
(spectral cap by one power iteration per step, rank-r GELU correction, scalar tanh gate),
``torch.optim.AdamW``, a ``DataLoader`` with shuffling, and ``loss.item()`` every step.
Ours trains all seeds at once (``EnsembleNet`` + ``train_ensemble``). Both do the same
steps, batch size and evaluation schedule. FLOP counts are analytic (matmuls only).
"""

from __future__ import annotations

import math
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from ..data import make_task
from ..runtime import timed
from ..train.loop import TaskTensors, TrainConfig, train_ensemble
from ..train.models import build_model

STRUCTURED = {
    "kind": "structured",
    "shaping": "cap",
    "gate": "scalar",
    "alpha": 0.1,
    "rank_ratio": 0.25,
    "reg": 0.0,
}


class PeerStructuredLayer(nn.Module):
    """h -> cap(W) h + b + beta tanh(a) U gelu(V h + c), written the ordinary way."""

    def __init__(self, d: int, r: int, rho: float = 1.0, alpha: float = 0.1):
        super().__init__()
        self.W = nn.Parameter(torch.linalg.qr(torch.randn(d, d))[0])
        self.b = nn.Parameter(torch.zeros(d))
        self.V = nn.Linear(d, r)
        self.U = nn.Linear(r, d, bias=False)
        nn.init.normal_(self.U.weight, std=1e-3)
        self.a = nn.Parameter(torch.tensor(math.atanh(alpha)))
        self.register_buffer("u", F.normalize(torch.randn(d), dim=0))
        self.rho = rho

    def forward(self, h):
        with torch.no_grad():  # one power iteration per step, persistent vector
            v = F.normalize(self.W.T @ self.u, dim=0)
            self.u.copy_(F.normalize(self.W @ v, dim=0))
        sigma = self.u @ self.W @ v
        A = self.W * torch.clamp(self.rho / sigma, max=1.0)
        return h @ A.T + self.b + torch.tanh(self.a) * self.U(F.gelu(self.V(h)))


def peer_model(d_in, d_out, width, depth):
    r = max(1, round(0.25 * width))
    return nn.Sequential(
        nn.Linear(d_in, width),
        *[PeerStructuredLayer(width, r) for _ in range(depth)],
        nn.Linear(width, d_out),
    )


def peer_train(task, width, depth, seeds, cfg: TrainConfig):
    """One seed after another: DataLoader, torch.optim.AdamW, loss.item() every step; at each
    evaluation the same numbers as ours (loss and metric on the first ``eval_samples`` training
    inputs and on the test set), read back with .item()."""
    x, y = torch.as_tensor(task.x_train, dtype=torch.float32), torch.as_tensor(task.y_train)
    xt, yt = torch.as_tensor(task.x_test, dtype=torch.float32), torch.as_tensor(task.y_test)
    loss_fn = nn.CrossEntropyLoss() if task.kind == "classification" else nn.MSELoss()
    xe, ye = x[: cfg.eval_samples], y[: cfg.eval_samples]

    def metric(out, target):
        if task.kind == "classification":
            return (out.argmax(-1) == target).float().mean()
        return loss_fn(out, target)

    def evaluate(model):
        model.eval()
        with torch.no_grad():
            out_e, out_t = model(xe), model(xt)
            numbers = [
                loss_fn(out_e, ye).item(),
                loss_fn(out_t, yt).item(),
                metric(out_e, ye).item(),
                metric(out_t, yt).item(),
            ]
        model.train()
        return numbers

    history = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = peer_model(task.d_in, task.d_out, width, depth)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loader = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True, drop_last=True)
        step = 0
        history.append(evaluate(model))
        while step < cfg.steps:
            for xb, yb in loader:
                loss = loss_fn(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                history.append(loss.item())
                step += 1
                if step % cfg.eval_every == 0:
                    history.append(evaluate(model))
                if step == cfg.steps:
                    break
    return history


def ensemble_train(task, width, depth, seeds, cfg: TrainConfig):
    data = TaskTensors.from_task(task)
    model = build_model(STRUCTURED, task.d_in, task.d_out, width, depth, seeds)
    return train_ensemble(model, data, cfg)


def step_flops(d_in, d_out, width, depth, batch, members) -> float:
    """Matmul FLOPs of one training step (forward + backward = 3x forward)."""
    r = max(1, round(0.25 * width))
    forward = 2 * batch * (d_in * width + depth * (width * width + 2 * width * r) + width * d_out)
    return 3.0 * forward * members


def gemm_flops(n: int = 2048, repeats: int = 7) -> float:
    """Achieved FLOP/s of a large float32 GEMM on this machine (median of repeats)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


def step_time(task, width, depth, seeds, steps, batch, repeats) -> tuple[list, list]:
    """Seconds per training step of the ensemble alone, and the large-GEMM FLOP/s measured
    right before it, per repeat. A step time is (T(2N) - T(N)) / N with no evaluation after
    the initial one, so model set-up, evaluation and read-back cancel. The GEMM rate of
    these shared machines drifts by tens of percent within seconds, so each repeat gets its
    own adjacent reference."""

    def run_steps(n):
        cfg = TrainConfig(steps=n, batch_size=batch, eval_every=n + 1)
        t0 = time.perf_counter()
        ensemble_train(task, width, depth, seeds, cfg)
        return time.perf_counter() - t0

    run_steps(2)  # warm-up
    steps_s, peaks = [], []
    for _ in range(repeats):
        peaks.append(gemm_flops(repeats=3))
        steps_s.append((run_steps(2 * steps) - run_steps(steps)) / steps)
    return steps_s, peaks


def run(
    widths=(32, 64, 128, 256),
    depth=8,
    seeds=(0, 1, 2, 3, 4),
    steps=200,
    batch=256,
    repeats=5,
    threads=2,
    task_spec=None,
) -> dict:
    """Peer/ensemble wall-time ratios (end to end, same steps and evaluations) and the training
    step's achieved FLOP/s against a large GEMM timed next to it, per width (medians of
    ``repeats`` pairs).

    ``step_overhead_us`` is the step time beyond what the step's matmuls would take at the
    GEMM rate (Python, elementwise work, small-matrix inefficiency)."""
    torch.set_num_threads(threads)
    task = make_task(
        "bench", task_spec or {"generator": "spirals", "n_train": 4096, "n_test": 1024, "d": 32, "seed": 0}
    )
    cfg = TrainConfig(steps=steps, batch_size=batch, eval_every=max(1, steps // 10), eval_samples=1024)
    peak = gemm_flops()
    rows = []
    for width in widths:
        ours_all, peer_all = [], []
        for _ in range(repeats):  # in turn, so a drift of the machine's speed hits both
            ours_all.append(timed(ensemble_train, task, width, depth, seeds, cfg)[1])
            peer_all.append(timed(peer_train, task, width, depth, seeds, cfg)[1])
        ours, peer = statistics.median(ours_all), statistics.median(peer_all)
        steps_s, peaks = step_time(task, width, depth, seeds, steps, batch, repeats)
        step, gemm = statistics.median(steps_s), statistics.median(peaks)
        flops = step_flops(task.d_in, task.d_out, width, depth, batch, len(seeds))
        rows.append(
            {
                "width": width,
                "depth": depth,
                "seeds": len(seeds),
                "steps": steps,
                "batch": batch,
                "peer_s": peer,
                "ours_s": ours,
                "speedup": peer / ours,
                "speedup_pairs": [p / o for p, o in zip(peer_all, ours_all)],
                "step_us": 1e6 * step,
                "step_flops": flops / step,
                "step_gemm_flops": gemm,
                "flops_fraction_of_gemm": statistics.median(flops / t / g for t, g in zip(steps_s, peaks)),
                "flops_fraction_pairs": [flops / t / g for t, g in zip(steps_s, peaks)],
                "step_overhead_us": 1e6 * (step - flops / gemm),
                "end_to_end_flops_fraction": flops * steps / ours / peak,
            }
        )
    return {"gemm_flops": peak, "gemm_flops_after": gemm_flops(), "threads": threads, "rows": rows}


def bench(args) -> dict:
    """Batched ensemble vs a per-seed PyTorch loop (DataLoader, loss.item() every step)."""
    if args.smoke:
        args.widths, args.steps, args.repeats = [16], 4, 1
    out = run(
        widths=args.widths,
        depth=args.depth,
        seeds=tuple(range(args.seeds)),
        steps=args.steps,
        batch=args.batch,
        repeats=args.repeats,
        threads=args.threads,
    )
    return {"benchmark": "train", **out}
