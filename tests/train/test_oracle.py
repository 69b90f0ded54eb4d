"""Oracle: one member of the batched ``EnsembleNet`` equals the plain ``nn.Module`` it replaces.

The reference is the training-speed benchmark's peer (``learndyn.bench.train.peer_model``: an
``nn.Sequential`` of ``nn.Linear`` -> L ``PeerStructuredLayer`` -> ``nn.Linear``), written the
ordinary way, one seed at a time. The ensemble is built from the benchmark's own ``STRUCTURED``
spec with S = 3 members; member m's weights are copied into peer m, everything in float64, and
outputs, hidden states, power-iteration vectors and the gradient of every parameter must agree
to ``RTOL`` (relative to the largest entry of the reference tensor).

Parameter map (ensemble member slice -> peer), the only transposes are E and R, because the
ensemble multiplies row vectors by E (d_in, d) and R (d, d_out) while ``nn.Linear`` stores
(out, in):  E -> Linear0.weight^T, e_b -> Linear0.bias, W_l -> W, b_l -> b, V_l -> V.weight
(r, d), c_l -> V.bias, U_l -> U.weight (d, r), a_l -> a, R -> Linear_out.weight^T,
r_b -> Linear_out.bias; the buffer u_W -> u.

sigma_max. The peer always runs one power iteration from its persistent vector ``u`` (also in
eval mode), while the ensemble runs power iteration only in training and the exact sigma_max
(eigvalsh of W^T W) in eval mode or with ``exact_sigma``. Two regimes make both use the same
sigma, with the same gradient:

* ``power``: the ensemble in training mode; the peer's ``u`` is a copy of the member's
  ``u_W``, so both take the same power step from the same vector (sigma = u^T W v with u, v
  held constant for autograd). The updated vectors are compared too.
* ``exact``: the peer's ``u`` is the top left singular vector of W (float64 SVD), a fixed point
  of its power step, so its sigma is sigma_max and its gradient u1 v1^T is that of the exact
  sigma_max the ensemble differentiates.

The init weights are replaced by generic ones (fixed seed): W_l with distinct singular values
and sigma_max = 1.6, 0.7, 2.3 (x 1 + 0.1 m), so the cap is active in two layers and inactive
in one (orthogonal init sits exactly on the cap's kink, sigma = rho = 1, and has a degenerate
sigma_max), nonzero biases, U of std 0.3 (the init 1e-3 would hide the branch), gates a ~ U(-1, 1).

Paths of the ensemble checked (``PATHS``): the fused ``StructuredStack`` with ``CappedRows`` in
training (power), the unfused per-layer path (``return_hidden=True`` in training, power), the
fused stack with the exact sigma (training + ``exact_sigma``), the unfused path chosen by eval
mode with autograd on (exact), and the fused no-grad forward of eval mode (forward only).
``test_oracle_detects_perturbation`` changes one copied number by 1e-3 and checks that the same
comparison fails by far more than ``RTOL``, so the oracle is not vacuous.
"""

import copy
import functools
import math

import pytest
import torch
from torch.nn import functional as F

from learndyn.bench.train import STRUCTURED, PeerStructuredLayer, peer_model
from learndyn.train.loop import member_loss
from learndyn.train.models import build_model

RTOL = 1e-10  # float64: max |ensemble - peer| / max |peer|, per tensor and member
DETECT = 1e-6  # a 1e-3 perturbation must move some compared tensor by at least this (>> RTOL)
D_IN, WIDTH, DEPTH, D_OUT, SEEDS, BATCH = 5, 8, 3, 3, (0, 1, 2), 7
SIGMA_TARGETS = (1.6, 0.7, 2.3)  # sigma_max(W_l) of member 0; member m scales them by 1 + 0.1 m
PERTURB = 1e-3

# name: (training mode, exact_sigma flag, autograd, return_hidden, expected path is fused)
PATHS = {
    "train_fused_power": (True, False, True, False, True),
    "train_unfused_power": (True, False, True, True, False),
    "train_fused_exact": (True, True, True, False, True),
    "eval_unfused_exact": (False, False, True, False, False),
    "eval_nograd_fused_exact": (False, False, False, False, True),
}


def _regime(train: bool, exact_flag: bool) -> str:
    return "power" if train and not exact_flag else "exact"


def _pairs(peer):
    """(ensemble name, layer or None, peer tensor, transposed) for every peer parameter."""
    embed, *layers, read = peer
    pairs = [
        ("E", None, embed.weight, True),
        ("e_b", None, embed.bias, False),
        ("R", None, read.weight, True),
        ("r_b", None, read.bias, False),
    ]
    for l, layer in enumerate(layers):
        pairs += [
            ("W", l, layer.W, False),
            ("b", l, layer.b, False),
            ("V", l, layer.V.weight, False),
            ("c", l, layer.V.bias, False),
            ("U", l, layer.U.weight, False),
            ("a", l, layer.a, False),
        ]
    return pairs


def _member(t, m, l):
    return t[m] if l is None else t[m, l]


def _rel(x, ref) -> float:
    return ((x - ref).abs().max() / ref.abs().max().clamp_min(1e-300)).item()


def _build(regime: str):
    """A float64 ensemble with generic weights and one float64 peer per member, same weights
    (a fresh copy per call: forward passes update the power-iteration vectors in place)."""
    return copy.deepcopy(_build_once(regime))


@functools.cache
def _build_once(regime: str):
    assert STRUCTURED["kind"] == "structured" and STRUCTURED.get("shaping", "cap") == "cap"
    ens = build_model(STRUCTURED, D_IN, D_OUT, WIDTH, DEPTH, SEEDS).double()
    s = ens.spec
    # the peer hard-codes beta = 1, rho = 1, rank round(0.25 d), one power iteration
    assert (s.beta, s.rho, s.power_iters, s.reg) == (1.0, 1.0, 1, 0.0), f"STRUCTURED changed: {s}"
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in ens.named_parameters():
            if name != "W":
                scale = {"U": 0.3, "E": 1 / math.sqrt(D_IN), "R": 1 / math.sqrt(WIDTH)}.get(name, 0.1)
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
        ens.a.copy_(torch.rand(ens.a.shape, generator=gen, dtype=ens.a.dtype) * 2 - 1)
        G = torch.randn(ens.W.shape, generator=gen, dtype=ens.W.dtype)
        target = torch.tensor(SIGMA_TARGETS, dtype=G.dtype) * (1 + 0.1 * torch.arange(len(SEEDS)))[:, None]
        ens.W.copy_(G * (target / torch.linalg.matrix_norm(G, ord=2))[..., None, None])
    peers = []
    for m in range(len(SEEDS)):
        with torch.random.fork_rng():  # the peer's own random init is overwritten below
            torch.manual_seed(m)
            peer = peer_model(D_IN, D_OUT, WIDTH, DEPTH).double()
        assert len(_pairs(peer)) == sum(1 for _ in peer.parameters()), "a peer parameter is not mapped"
        with torch.no_grad():
            for name, l, t, transposed in _pairs(peer):
                src = _member(getattr(ens, name), m, l)
                t.copy_(src.T if transposed else src)
            for l, layer in enumerate(peer[1:-1]):
                assert isinstance(layer, PeerStructuredLayer)
                if regime == "power":
                    layer.u.copy_(ens.u_W[m, l])
                else:
                    layer.u.copy_(torch.linalg.svd(layer.W)[0][:, 0])
        peers.append(peer)
    assert {name for name, *_ in _pairs(peers[0])} == {n for n, _ in ens.named_parameters()}, (
        "an ensemble parameter is not mapped to the peer"
    )
    return ens, peers


def _compare(path: str, perturb=None) -> dict[str, float]:
    """Relative differences ensemble vs peer on ``path``; ``perturb(peers)`` edits the copies."""
    train, exact_flag, grads, hidden, fused = PATHS[path]
    regime = _regime(train, exact_flag)
    ens, peers = _build(regime)
    if perturb is not None:
        with torch.no_grad():
            perturb(peers)
    gen = torch.Generator().manual_seed(99)
    x = torch.randn(BATCH, D_IN, generator=gen, dtype=torch.float64)
    y = torch.randint(0, D_OUT, (BATCH,), generator=gen)
    ens.train(train)
    ens.exact_sigma = exact_flag
    for peer in peers:
        peer.train(train)
    with torch.set_grad_enabled(grads):
        assert (ens.fused() and not hidden) == fused, f"EnsembleNet did not take the {path} path"
        res = ens(x, return_hidden=hidden)
        out, hs = res if hidden else (res, None)
        runs = []
        for peer in peers:  # the Sequential's forward, keeping h_0 .. h_L
            acts = [x]
            for module in peer:
                acts.append(module(acts[-1]))
            runs.append(acts)
    diffs = {}
    for m, acts in enumerate(runs):
        diffs[f"output[m={m}]"] = _rel(out[m], acts[-1])
        if hs is not None:
            for l, h in enumerate(hs):
                diffs[f"h_{l}[m={m}]"] = _rel(h[m], acts[1 + l])
        if regime == "power":
            for l, layer in enumerate(peers[m][1:-1]):
                diffs[f"u_W[m={m}, l={l}]"] = _rel(ens.u_W[m, l], layer.u)
    if grads:
        member_loss(out, y, "classification").sum().backward()
        for acts in runs:
            F.cross_entropy(acts[-1], y).backward()
        for m, peer in enumerate(peers):
            by_name = {}
            for name, l, t, transposed in _pairs(peer):
                g_ens = _member(getattr(ens, name).grad, m, l)
                g_peer = t.grad.T if transposed else t.grad
                by_name.setdefault(name, []).append((g_ens, g_peer))
            for name, gs in by_name.items():
                g_ens = torch.stack([g for g, _ in gs])
                g_peer = torch.stack([g for _, g in gs])
                diffs[f"grad {name}[m={m}]"] = _rel(g_ens, g_peer)
    return diffs


def _assert_close(path: str, diffs: dict[str, float]) -> None:
    bad = {k: v for k, v in diffs.items() if not v <= RTOL}
    assert not bad, (
        f"EnsembleNet ({path}) disagrees with the PeerStructuredLayer reference beyond RTOL={RTOL:g}: {bad}"
    )


@pytest.mark.parametrize("path", PATHS)
def test_ensemble_member_equals_peer(path):
    diffs = _compare(path)
    assert diffs, "nothing compared"
    _assert_close(path, diffs)


def test_exact_regime_peer_sigma_is_sigma_max():
    """The exact regime's premise: the peer's power step from the top singular vector gives
    sigma_max, so both sides of the exact paths see the same cap."""
    _, peers = _build("exact")
    for peer in peers:
        for layer in peer[1:-1]:
            W, u = layer.W.detach(), layer.u
            sigma = u @ W @ F.normalize(W.T @ u, dim=0)
            exact = torch.linalg.matrix_norm(W, ord=2)
            assert abs(sigma - exact) <= 1e-13 * exact, (
                f"peer power step from the singular vector is not sigma_max: {sigma} vs {exact}"
            )


def _nudge(name, l, index):
    def perturb(peers):
        for pname, pl, t, transposed in _pairs(peers[0]):
            if pname == name and pl == l:
                (t.T if transposed else t)[index] += PERTURB
                return
        raise KeyError(name)

    return perturb


def _nudge_u(l):
    def perturb(peers):
        u = peers[0][1 + l].u
        u[0] += PERTURB
        u.copy_(F.normalize(u, dim=0))

    return perturb


PERTURBATIONS = {
    "E": _nudge("E", None, (1, 2)),
    "W_capped": _nudge("W", 0, (2, 3)),  # sigma_max 1.6: the cap is active
    "W_uncapped": _nudge("W", 1, (4, 0)),  # sigma_max 0.7: no cap
    "V": _nudge("V", 2, (1, 5)),
    "c": _nudge("c", 1, (0,)),
    "U": _nudge("U", 0, (6, 1)),
    "a": _nudge("a", 2, ()),
    "R": _nudge("R", None, (3, 2)),
    "u_power_vector": _nudge_u(2),  # sigma_max 2.3: the cap reads the power-iteration sigma
}


# each perturbation on one path, so every path and both sigma regimes must catch something
DETECTIONS = [
    ("E", "train_fused_power"),
    ("W_capped", "train_fused_power"),
    ("W_capped", "eval_unfused_exact"),
    ("W_uncapped", "train_fused_exact"),
    ("V", "train_unfused_power"),
    ("c", "train_fused_exact"),
    ("U", "eval_unfused_exact"),
    ("a", "train_fused_power"),
    ("R", "eval_nograd_fused_exact"),
    ("u_power_vector", "train_unfused_power"),
]


@pytest.mark.parametrize("what, path", DETECTIONS)
def test_oracle_detects_perturbation(what, path):
    """One copied number off by 1e-3 in member 0's peer: the comparison must fail clearly."""
    diffs = _compare(path, PERTURBATIONS[what])
    worst = max(diffs.values())
    assert worst >= DETECT, (
        f"oracle is vacuous: peer copy with {what} off by {PERTURB:g} "
        f"still matches EnsembleNet ({path}) to {worst:.3g}"
    )
    with pytest.raises(AssertionError):
        _assert_close(path, diffs)
    # the untouched members 1, 2 still agree: the failure is the perturbation, not noise
    _assert_close(path, {k: v for k, v in diffs.items() if "m=0" not in k})
