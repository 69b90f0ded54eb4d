"""Training-speed benchmark: our batched ensemble vs the loop a user would write.

The peer trains one seed at a time: a plain ``nn.Module`` of the same structured layers
(spectral cap by one power iteration per step, rank-r GELU correction, scalar tanh gate),
``torch.optim.AdamW``, a ``DataLoader`` with shuffling, and ``loss.item()`` every step.
Ours trains all seeds at once (``EnsembleNet`` + ``train_ensemble``). The expert peer
(``torch_func_train``) trains the same plain module for all seeds at once with ``torch.func``:
``stack_module_state`` over the per-seed copies, ``functional_call`` under ``vmap`` with
per-member minibatches, one ``torch.optim.AdamW`` with the best implementation torch offers on
the device (``fused=True`` where torch has it, as ours uses torch's fused AdamW kernel; else
``foreach=True``). All three do the same steps, batch size and evaluation schedule, under the
jobs' run-time settings (``setup_torch``: one intra-op thread as the workflow's training jobs,
float32). Two models: the structured net (``--model structured``) and the MLP
(``--model mlp``: h_l = relu(W_l h + b_l), Kaiming init, the peer an ``nn.Sequential`` of
``nn.Linear`` + ``nn.ReLU``). FLOP counts are analytic (matmuls only).
"""

from __future__ import annotations

import copy
import math
import statistics
import sys
import time

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from ..data import make_task
from ..runtime import setup_torch, timed
from ..train.loop import TaskTensors, TrainConfig, gather_rows, member_batches, train_ensemble
from ..train.models import build_model
from ..train.optim import lr_factor

STRUCTURED = {
    "kind": "structured",
    "shaping": "cap",
    "gate": "scalar",
    "alpha": 0.1,
    "rank_ratio": 0.25,
    "reg": 0.0,
}


class PeerStructuredLayer(nn.Module):
    """h -> cap(W) h + b + beta tanh(a) U gelu(V h + c), written the ordinary way.

    sigma_max(W) by one power iteration per forward call from the persistent vector ``u``. On its
    own (``carry is None``) the layer writes the new ``u`` into its buffer in place. Under
    ``torch.func`` (``torch_func_train``) the caller sets ``carry`` to a list: the layer then
    appends the new ``u`` to it instead and the caller hands it back as the next step's buffer,
    so the persistent vector is carried functionally (no in-place write on a stacked buffer)
    and each member follows exactly the plain module's iteration.
    """

    carry: list | None = None

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
            u = F.normalize(self.W @ v, dim=0)
        if self.carry is None:
            self.u.copy_(u)
        else:
            self.carry.append(u)
        sigma = u @ self.W @ v
        A = self.W * torch.clamp(self.rho / sigma, max=1.0)
        return h @ A.T + self.b + torch.tanh(self.a) * self.U(F.gelu(self.V(h)))


MLP = {"kind": "mlp"}
# the bench's task: spirals, 4096 training and 1024 test points in 32 dimensions
TASK = {"generator": "spirals", "n_train": 4096, "n_test": 1024, "d": 32, "seed": 0}
MODELS = {"structured": STRUCTURED, "mlp": MLP}


def peer_model(d_in, d_out, width, depth, model: str = "structured"):
    """The plain module of ``model``: embedding, ``depth`` layers of width ``width``, read-out."""
    if model == "mlp":
        layers = []
        for _ in range(depth):
            lin = nn.Linear(width, width)
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            layers += [lin, nn.ReLU()]
        return nn.Sequential(nn.Linear(d_in, width), *layers, nn.Linear(width, d_out))
    r = max(1, round(0.25 * width))
    return nn.Sequential(
        nn.Linear(d_in, width),
        *[PeerStructuredLayer(width, r) for _ in range(depth)],
        nn.Linear(width, d_out),
    )


def peer_adamw(params, cfg: TrainConfig, impl: str = "best"):
    """``torch.optim.AdamW`` over ``params`` with ``cfg``'s lr, betas, eps and weight decay, and
    which implementation it runs: ``"fused"`` (one fused kernel, what ours runs), ``"foreach"``
    (multi-tensor ops) or ``"best"`` (fused where torch supports it for these tensors, else
    foreach). Returns ``(optimizer, impl used)``."""
    if impl not in ("best", "fused", "foreach"):
        raise ValueError(f"optimizer implementation must be best, fused or foreach, got {impl!r}")
    kw = {"lr": cfg.lr, "betas": cfg.betas, "eps": cfg.eps, "weight_decay": cfg.weight_decay}
    params = list(params)
    if impl in ("best", "fused"):
        try:
            opt = torch.optim.AdamW(params, fused=True, **kw)
            opt.step()  # no gradients yet: a no-op that checks the fused kernel exists here
            return opt, "fused"
        except (RuntimeError, ValueError):
            if impl == "fused":
                raise
    return torch.optim.AdamW(params, foreach=True, **kw), "foreach"


def peer_train(task, width, depth, seeds, cfg: TrainConfig, model_name: str = "structured"):
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
        model = peer_model(task.d_in, task.d_out, width, depth, model_name)
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


class FuncEnsemble:
    """S copies of ``peer_model``, each initialised as ``peer_train`` does (``manual_seed(seed)``
    then construction), stacked by ``torch.func.stack_module_state``: parameters and the
    power-iteration buffers ``u`` get a leading member dim. ``base`` is a parameter-less
    (meta) copy that ``functional_call`` runs with one member's tensors under ``vmap``."""

    def __init__(self, d_in, d_out, width, depth, seeds, model: str = "structured"):
        models = []
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(peer_model(d_in, d_out, width, depth, model))
        self.params, self.buffers = stack_module_state(models)  # leaves, requires_grad
        self.base = copy.deepcopy(models[0]).to("meta")
        self.layers = [m for m in self.base if isinstance(m, PeerStructuredLayer)]
        self.u_names = [f"{i}.u" for i, m in enumerate(self.base) if isinstance(m, PeerStructuredLayer)]

    def member_forward(self, params, buffers, x):
        """One member: ``(out, new buffers)``; the layers' new power vectors come back through
        ``carry`` (in forward order, the order of ``u_names``)."""
        carry = []
        for layer in self.layers:
            layer.carry = carry
        try:
            out = functional_call(self.base, (params, buffers), (x,))
        finally:
            for layer in self.layers:
                layer.carry = None
        return out, dict(zip(self.u_names, carry))


def torch_func_train(
    task,
    width,
    depth,
    seeds,
    cfg: TrainConfig,
    grads: str = "autograd",
    model: str = "structured",
    optimizer: str = "best",
) -> dict:
    """The expert peer: the plain module for all seeds at once with ``torch.func``.

    Matches ``train_ensemble``: per-member minibatches (``member_batches``: member ``seed``'s own
    epoch permutations), the same steps, the warm-up + cosine schedule (``lr_factor``, through
    ``LambdaLR``), AdamW with the same lr, betas, eps and weight decay (one ``torch.optim.AdamW``
    over the stacked tensors, by default torch's fused implementation where it exists:
    ``peer_adamw``; Adam is elementwise, so each member gets exactly its own update), the
    per-member minibatch loss kept in a preallocated
    tensor, and at each evaluation the loss and metric on the first ``eval_samples`` training
    inputs and on the test set, kept on the device (no host read-back inside the loop, as ours).

    ``grads``: ``"autograd"`` (default) runs the vmapped forward and ``backward`` on the summed
    member losses; ``"vmap"`` takes per-member gradients with ``vmap(torch.func.grad(...))``.
    The default is the faster of the two on CPU (2 threads, depth 8, 5 members, batch 256,
    100 steps: 1.54 s vs 2.11 s at width 32, equal at 64, 4.94 s vs 5.41 s at 128).

    Power vectors: carried functionally (see ``PeerStructuredLayer``): every forward call,
    training and evaluation alike, advances each member's vector once, as in the plain peer.
    """
    if grads not in ("vmap", "autograd"):
        raise ValueError(f"grads must be 'vmap' or 'autograd', got {grads!r}")
    data = TaskTensors.from_task(task)
    dev, n, S = data.x_train.device, len(data.x_train), len(seeds)
    ens = FuncEnsemble(data.d_in, data.d_out, width, depth, seeds, model)
    params, buffers = ens.params, ens.buffers
    if grads == "vmap":  # torch.func.grad differentiates by itself: no outer autograd tape
        for p in params.values():
            p.requires_grad_(False)
    opt, impl = peer_adamw(params.values(), cfg, optimizer)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, cfg.steps, cfg.warmup_frac))
    classify = data.kind == "classification"

    def loss_fn(out, y):
        return F.cross_entropy(out, y) if classify else F.mse_loss(out, y)

    def metric_fn(out, y):
        return (out.argmax(-1) == y).float().mean() if classify else F.mse_loss(out, y)

    def member_step(p, b, x, y):
        out, new_b = ens.member_forward(p, b, x)
        loss = loss_fn(out, y)
        return loss, (loss.detach(), new_b)

    member_grad = vmap(grad(member_step, has_aux=True))  # -> grads, (loss, new buffers)
    member_out = vmap(ens.member_forward, in_dims=(0, 0, 0))

    def member_eval(p, b, x, y):
        out, new_b = ens.member_forward(p, b, x)
        return loss_fn(out, y), metric_fn(out, y), new_b

    evaluate_all = vmap(member_eval, in_dims=(0, 0, None, None))
    n_tr = min(cfg.eval_samples, n)
    parts = {"train": (data.x_train[:n_tr], data.y_train[:n_tr]), "test": (data.x_test, data.y_test)}
    n_eval = cfg.steps // cfg.eval_every + 1
    logs = {
        f"{part}_{what}": torch.full((S, n_eval), float("nan"), device=dev)
        for part in parts
        for what in ("loss", "metric")
    }
    step_loss = torch.full((S, cfg.steps), float("nan"), device=dev)

    def record(i_eval):
        nonlocal buffers
        with torch.no_grad():
            for part, (x, y) in parts.items():
                loss, metric, buffers = evaluate_all(params, buffers, x, y)
                logs[f"{part}_loss"][:, i_eval] = loss
                logs[f"{part}_metric"][:, i_eval] = metric

    record(0)
    for step in range(cfg.steps):
        idx = member_batches(seeds, step, n, cfg.batch_size, dev)  # (S, B), as ours
        x, y = gather_rows(data.x_train, idx), gather_rows(data.y_train, idx)
        if grads == "vmap":
            g, (loss, buffers) = member_grad(params, buffers, x, y)
            for name, p in params.items():
                p.grad = g[name]
        else:
            out, buffers = member_out(params, buffers, x)
            loss = vmap(loss_fn)(out, y)
            for p in params.values():
                p.grad = None
            loss.sum().backward()
            loss = loss.detach()
        step_loss[:, step] = loss
        opt.step()
        sched.step()
        if (step + 1) % cfg.eval_every == 0:
            record((step + 1) // cfg.eval_every)
    out = {k: v.cpu().numpy() for k, v in logs.items()}
    out["eval_steps"] = (torch.arange(n_eval) * cfg.eval_every).numpy()
    out["step_loss"] = step_loss.cpu().numpy()
    out["params"] = {k: v.detach().cpu() for k, v in params.items()}
    out["buffers"] = {k: v.cpu() for k, v in buffers.items()}
    out["optimizer"] = impl
    return out


def ensemble_train(task, width, depth, seeds, cfg: TrainConfig, model: str = "structured"):
    data = TaskTensors.from_task(task)
    net = build_model(MODELS[model], task.d_in, task.d_out, width, depth, seeds)
    return train_ensemble(net, data, cfg)


def step_flops(d_in, d_out, width, depth, batch, members, model: str = "structured") -> float:
    """Matmul FLOPs of one training step (forward + backward = 3x forward)."""
    r = max(1, round(0.25 * width)) if model == "structured" else 0
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


def seconds_per_step(train, steps: int, batch: int) -> float:
    """Seconds per training step of ``train(cfg)`` (a run of ``cfg.steps`` steps): (T(2N) - T(N))
    / N with no evaluation after the initial one, so set-up, that evaluation and read-back
    cancel."""

    def run_steps(n):
        return timed(lambda: train(TrainConfig(steps=n, batch_size=batch, eval_every=n + 1)))[1]

    return (run_steps(2 * steps) - run_steps(steps)) / steps


def step_time(task, width, depth, seeds, steps, batch, repeats, model="structured") -> tuple[list, list]:
    """Seconds per training step of the ensemble alone (``seconds_per_step``), and the
    large-GEMM FLOP/s measured right before it, per repeat. The GEMM rate of these shared
    machines drifts by tens of percent within seconds, so each repeat gets its own adjacent
    reference."""

    def train(cfg):
        return ensemble_train(task, width, depth, seeds, cfg, model)

    seconds_per_step(train, 1, batch)  # warm-up
    steps_s, peaks = [], []
    for _ in range(repeats):
        peaks.append(gemm_flops(repeats=3))
        steps_s.append(seconds_per_step(train, steps, batch))
    return steps_s, peaks


def alternating(runs: dict, repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each of ``runs`` (``{name: no-argument callable}``), ``repeats`` times in
    turn (A B A B ...: a drift of the shared machine's speed hits every contestant alike), after
    one untimed run of each (first-call costs)."""
    for fn in runs.values():
        fn()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn)[1])
    return times


def ratio_summary(other: list[float], ours: list[float]) -> dict:
    """Per-repeat ratios other / ours (above 1: ours faster), their median and range."""
    pairs = [o / u for o, u in zip(other, ours)]
    return {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs), "pairs": pairs}


def jobs_cadence(configfile="config/config.yaml") -> tuple[int, int]:
    """``(eval_every, eval_samples)`` of the training jobs: ``train.optim`` of ``configfile``
    (the default study's: one evaluation every 100 steps on 512 training rows and the test
    split)."""
    from ..config import load_config_file

    optim = load_config_file(configfile)["train"]["optim"]
    return int(optim["eval_every"]), int(optim["eval_samples"])


def compiled_step(task, width, depth, seeds, batch, steps, compile: bool) -> dict:
    """Seconds of the first training step and milliseconds per step of the last ``steps`` of
    ``steps + 4`` (after the first and three warm-up steps) of ours, eager (the fused stack, as
    the jobs run) or with the forward pass and loss under ``torch.compile`` (TorchInductor's
    generated kernels; the unfused layers, since the fused stack's hand-written backward is
    only once differentiable; AOTAutograd derives the backward). The same minibatches, loss,
    schedule and fused AdamW as ``train_ensemble`` over ``steps + 4`` steps, without its
    divergence bookkeeping and evaluations: what compiled kernels would buy per step, and what
    they cost to build in every job process (``first_s``). ``step_loss (S, steps + 4)``: each
    member's minibatch loss at every step."""
    from ..train.loop import member_loss
    from ..train.optim import BatchedOptimizer

    data = TaskTensors.from_task(task)
    net = build_model(MODELS["structured"], task.d_in, task.d_out, width, depth, seeds)
    net.train()
    total = steps + 4
    cfg = TrainConfig(steps=total, batch_size=batch)
    opt = BatchedOptimizer(net.parameters(), torch.full((len(seeds),), cfg.lr), cfg)
    n = len(data.x_train)
    step_loss = torch.zeros(len(seeds), total)

    def losses(x, y):
        return member_loss(net(x), y, data.kind)

    if compile:
        net.fused = lambda: False  # this instance only: the unfused layers, plain autograd
        losses = torch.compile(losses)

    def step(i):
        idx = member_batches(net.seeds, i, n, batch, data.x_train.device)
        loss = losses(gather_rows(data.x_train, idx), gather_rows(data.y_train, idx))
        step_loss[:, i] = loss.detach()
        for p in net.parameters():
            p.grad = None
        loss.sum().backward()
        opt.step(lr_factor(i, total, cfg.warmup_frac))

    first_s = timed(lambda: step(0))[1]
    for i in range(1, 4):
        step(i)
    elapsed = timed(lambda: [step(i) for i in range(4, total)])[1]
    return {"first_s": first_s, "step_ms": 1e3 * elapsed / steps, "step_loss": step_loss.numpy()}


def peer_step_ms(task, width, depth, seeds, batch, steps) -> float:
    """The torch.func peer's milliseconds per training step alone (``seconds_per_step``)."""

    def train(cfg):
        return torch_func_train(task, width, depth, seeds, cfg)

    seconds_per_step(train, 1, batch)  # warm-up
    return 1e3 * seconds_per_step(train, steps, batch)


def compile_ceiling(widths=(32, 64, 128), depth=8, seeds=tuple(range(10)), steps=100, batch=128, threads=1):
    """Per width: ms per training step of ours eager, ours compiled (``compiled_step``) and the
    torch.func peer (``peer_step_ms``), the ratios peer / ours, and the compile seconds of the
    first step, under the jobs' run-time settings (inductor loaded first, so that
    ``setup_torch``'s deterministic mode reaches its flag too)."""
    import torch._inductor.config  # noqa: F401

    setup_torch(threads, "cpu")
    task = make_task("bench", TASK)
    rows = []
    for width in widths:
        eager = compiled_step(task, width, depth, seeds, batch, steps, compile=False)
        comp = compiled_step(task, width, depth, seeds, batch, steps, compile=True)
        peer = peer_step_ms(task, width, depth, seeds, batch, steps)
        rows.append(
            {
                "width": width,
                "eager_step_ms": eager["step_ms"],
                "compiled_step_ms": comp["step_ms"],
                "compile_first_step_s": comp["first_s"],
                "peer_step_ms": peer,
                "peer_over_eager": peer / eager["step_ms"],
                "peer_over_compiled": peer / comp["step_ms"],
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return {"benchmark": "train_compile_ceiling", "threads": threads, "steps": steps, "rows": rows}


def run(
    widths=(32, 64, 128),
    depth=8,
    seeds=tuple(range(10)),
    steps=200,
    batch=128,
    repeats=5,
    threads=1,
    task_spec=None,
    torch_func_grads="autograd",
    model="structured",
    optimizer="best",
    loop_peer=False,
    gemm=True,
    eval_every=None,
    eval_samples=None,
) -> dict:
    """Ours vs the torch.func expert peer (and the per-seed loop with ``loop_peer``), end to end
    (same steps and evaluations), per width: ``repeats`` runs of each in alternation, the
    per-repeat ratios and their median (``speedup_torch_func``; above 1: ours is faster).

    Evaluations: every ``eval_every`` steps (and at step 0), loss and metric on the first
    ``eval_samples`` training rows and the test split; None: the training jobs' cadence
    (``jobs_cadence`` of the default config).

    ``torch_func_grads``: the peer's per-member gradients (see ``torch_func_train``);
    ``optimizer``: its AdamW implementation (``peer_adamw``; ``best`` = fused where available).
    With ``gemm``: the training step's achieved FLOP/s against a large GEMM timed next to it
    (``step_time``); ``step_overhead_us`` is the step time beyond what the step's matmuls would
    take at the GEMM rate (Python, elementwise work, small-matrix inefficiency).

    All run in one process under the pipeline jobs' run-time settings (``setup_torch``:
    ``threads`` intra-op threads, 1 as the workflow's training jobs, deterministic mode, the
    allocator keeping freed memory), float32."""
    setup_torch(threads, "cpu")
    task = make_task("bench", task_spec or TASK)
    if eval_every is None or eval_samples is None:
        every, samples = jobs_cadence()
        eval_every, eval_samples = eval_every or every, eval_samples or samples
    cfg = TrainConfig(steps=steps, batch_size=batch, eval_every=eval_every, eval_samples=eval_samples)
    peak = gemm_flops()
    impl = peer_adamw([torch.zeros(2, requires_grad=True)], cfg, optimizer)[1]  # float32, the device's
    rows = []
    for width in widths:
        runs = {
            "ours": lambda: ensemble_train(task, width, depth, seeds, cfg, model),
            "torch_func": lambda: torch_func_train(
                task, width, depth, seeds, cfg, torch_func_grads, model, optimizer
            ),
        }
        if loop_peer:
            runs["peer"] = lambda: peer_train(task, width, depth, seeds, cfg, model)
        times = alternating(runs, repeats)
        func = ratio_summary(times["torch_func"], times["ours"])
        ours = statistics.median(times["ours"])
        row = {
            "width": width,
            "depth": depth,
            "seeds": len(seeds),
            "steps": steps,
            "batch": batch,
            "ours_s": ours,
            "ours_all_s": times["ours"],
            "torch_func_s": statistics.median(times["torch_func"]),
            "torch_func_all_s": times["torch_func"],
            "speedup_torch_func": func["median"],
            "speedup_torch_func_range": [func["min"], func["max"]],
            "speedup_torch_func_pairs": func["pairs"],
        }
        if loop_peer:
            loop = ratio_summary(times["peer"], times["ours"])
            row |= {
                "peer_s": statistics.median(times["peer"]),
                "speedup": loop["median"],
                "speedup_pairs": loop["pairs"],
            }
        if gemm:
            steps_s, peaks = step_time(task, width, depth, seeds, steps, batch, repeats, model)
            step, g = statistics.median(steps_s), statistics.median(peaks)
            flops = step_flops(task.d_in, task.d_out, width, depth, batch, len(seeds), model)
            row |= {
                "step_us": 1e6 * step,
                "step_flops": flops / step,
                "step_gemm_flops": g,
                "flops_fraction_of_gemm": statistics.median(flops / t / q for t, q in zip(steps_s, peaks)),
                "flops_fraction_pairs": [flops / t / q for t, q in zip(steps_s, peaks)],
                "step_overhead_us": 1e6 * (step - flops / g),
                "end_to_end_flops_fraction": flops * steps / ours / peak,
            }
        rows.append(row)
    return {
        "model": model,
        "gemm_flops": peak,
        "gemm_flops_after": gemm_flops(),
        "threads": threads,
        "torch_func_grads": torch_func_grads,
        "torch_func_optimizer": impl,
        "repeats": repeats,
        "eval_every": eval_every,
        "eval_samples": eval_samples,
        "rows": rows,
    }


def bench(args) -> dict:
    """Batched ensemble vs a torch.func ensemble of the same plain module (vmap,
    functional_call, one fused AdamW), and with ``--loop-peer`` a per-seed PyTorch loop."""
    if args.smoke:
        args.widths, args.steps, args.repeats, args.seeds = [16], 4, 1, 2
    if args.compile_ceiling:
        return compile_ceiling(
            args.widths, args.depth, tuple(range(args.seeds)), args.steps, args.batch, args.threads
        )
    every, samples = jobs_cadence(args.configfile)
    every = args.eval_every or (2 if args.smoke else every)
    out = run(
        widths=args.widths,
        depth=args.depth,
        seeds=tuple(range(args.seeds)),
        steps=args.steps,
        batch=args.batch,
        repeats=args.repeats,
        threads=args.threads,
        torch_func_grads=getattr(args, "torch_func_grads", "autograd"),
        model=args.model,
        optimizer=args.peer_optimizer,
        loop_peer=args.loop_peer or args.smoke,
        gemm=not args.no_gemm,
        eval_every=every,
        eval_samples=args.eval_samples or samples,
    )
    return {"benchmark": "train", **out}
