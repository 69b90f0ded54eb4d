"""The empirical training-set kernel of a trained network of the training half, by layer and path.

For one member (seed) with parameters theta and outputs ``f_c(x)``, c = 1..k, the empirical
neural tangent kernel (Jacot, Gabriel & Hongler 2018, arXiv 1806.07572) traced over the outputs is

    K(x, x') = sum_c sum_p  df_c(x)/dtheta_p  df_c(x')/dtheta_p                         (1)

an ``(n, n)`` matrix on a fixed subsample of ``n`` training inputs. The sum over parameters splits
into parts, one per parameter group and layer,

    K = sum_{(path, l)} K_{path, l},   K_{path, l} = sum_c J_{c, path, l} J_{c, path, l}^T      (2)

with the paths of a layer of ``learndyn.train.models.EnsembleNet`` (``PATHS``): ``linear`` (W_l,
b_l: the constrained path S(W_l) of the structured layers, the whole layer of the MLPs),
``correction`` (U_l, V_l, c_l), ``gate`` (a_l, or g_l, e_l of the input gate), plus the
``embedding`` (E, e) and the ``readout`` (R, r). Every part is positive semi-definite, so the
trace shares of the parts are fractions that sum to one.

For the bias-free ReLU MLP with fixed read-out of the theory half, (2) restricted to the weights
is the closed form K = sum_l Q^(l-1) ⊙ S^(l) of ``learndyn.theory.fields.kernel`` (tested).

Two routes, tested against each other to 1e-11 (relative) in float64:

* :func:`kernel_parts` (the one the pipeline runs): every parameter enters a layer linearly
  (y = h M + m_0) except W through the shaping A = S(W) and the gate a through alpha, so each part
  is Q ⊙ S, the Gram matrix of the layer inputs times the overlap of the per-sample output
  cotangents, with the chain rule through S and alpha. The cotangents come from ``torch.func``
  (one ``vjp`` of the one-member forward, ``vmap``-ed over the k outputs). Memory ``k L n d``;
  no ``n x k x P`` Jacobian is formed (at width 256 that Jacobian is 5 GB in float32).
* :func:`jacobian_parts` / :func:`kernel_from_jacobian` (the reference): per-sample parameter
  Jacobians by ``torch.func`` (``functional_call``, ``vmap`` of ``jacrev``), contracted.

The one-member network runs in eval mode (exact sigma_max, as at every evaluation).
"""

from __future__ import annotations

import torch
from torch.func import functional_call, jacrev, vjp, vmap

from ..train.models import build_model

# path of every parameter name of EnsembleNet (a name absent here is not trainable in the kernel)
PATHS = {
    "E": "embedding",
    "e_b": "embedding",
    "W": "linear",
    "b": "linear",
    "V": "correction",
    "U": "correction",
    "c": "correction",
    "a": "gate",
    "g": "gate",
    "e": "gate",
    "R": "readout",
    "r_b": "readout",
}
LAYERED = ("W", "b", "V", "U", "c", "a", "g", "e")  # stacked per layer: leading axis L


def member_network(model, member: int, dtype=torch.float64):
    """A one-member copy of ``model`` (its member ``member``), in eval mode and ``dtype``, and its
    parameters ``{name: (1, ...)}``. Eval mode: exact sigma_max, as the measurements use."""
    net = build_model(model.spec, model.d_in, model.d_out, model.width, model.depth, [model.seeds[member]])
    net = net.to(dtype=dtype, device=model.E.device).eval().requires_grad_(False)
    params = {k: v.detach()[member : member + 1].to(dtype) for k, v in model.named_parameters()}
    return net, params


def network_outputs(net, params: dict, x: torch.Tensor) -> torch.Tensor:
    """f(x) of the one-member ``net`` at ``params``, ``x (B, d_in) -> (B, k)``."""
    with torch.enable_grad():  # the unfused forward (fused() runs the stack only without autograd)
        return functional_call(net, params, (x,))[0]


def sample_jacobian(net, params: dict, x: torch.Tensor, names) -> dict[str, torch.Tensor]:
    """Per-sample Jacobians df_c(x_mu)/dtheta of the parameters ``names``:
    ``{name: (B, k, *shape)}`` for ``x (B, d_in)`` (the leading member axis of 1 dropped)."""
    fixed = {k: v for k, v in params.items() if k not in names}

    def f(trainable, xi):  # one sample: (d_in,) -> (k,)
        return network_outputs(net, fixed | trainable, xi[None])[0]

    jac = vmap(jacrev(f), in_dims=(None, 0))({k: params[k] for k in names}, x)
    return {k: v[:, :, 0] for k, v in jac.items()}  # (B, k, 1, ...) -> (B, k, ...)


def _by_layer(name: str, J: torch.Tensor) -> torch.Tensor:
    """``J (B, k, ...)`` as ``(B, k, L', p)``: per layer for stacked names, one slot otherwise."""
    B, k = J.shape[:2]
    if name in LAYERED:
        return J.reshape(B, k, J.shape[2], -1)
    return J.reshape(B, k, 1, -1)


def jacobian_parts(model, member: int, X, Z=None, names=None, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """The parts (2) from the per-sample parameter Jacobians (``sample_jacobian``: torch.func
    ``vmap`` of ``jacrev``), ``{name: (L', n, m)}``: the reference for :func:`kernel_parts`, valid for
    every shaping and gate, but materialising ``n x k x P`` numbers (small models only)."""
    net, params = member_network(model, member, dtype)
    names = [k for k in params if k in PATHS and (names is None or k in names)]
    JX = sample_jacobian(net, params, X.to(dtype), names)
    JZ = JX if Z is None else sample_jacobian(net, params, Z.to(dtype), names)
    return {k: torch.einsum("aclp,bclp->lab", _by_layer(k, JX[k]), _by_layer(k, JZ[k])) for k in names}


# --- the fast route: per-sample fields (inputs and output cotangents of every layer) -------------


def _fields_forward(net, X: torch.Tensor):
    """The forward pass of the one-member ``net`` on ``X (n, d_in)`` as a function of zero
    perturbations added to the embedding, to each linear pre-activation, each correction
    pre-activation, each input-gate logit and each layer output; with the layer inputs and
    correction features it reads. Mirrors ``EnsembleNet.apply_layer`` (tested against it).

    Returns ``(f, zeros, inputs)``: ``f(deltas) -> (n, k)``, the zero perturbations by name, and
    ``{"h": [h_0..h_L], "z": [z_l], "uz": [U_l z_l], "s": [gate logits]}`` at the unperturbed state.
    """
    s = net.spec
    A, alpha = net.shaped(), net.alpha_scalar()
    layers = [{k: v[0] for k, v in p.items()} for p in net.layer_tensors(A, alpha)]
    act = {"relu": torch.relu, "gelu": torch.nn.functional.gelu}.get(s.activation)
    gelu = torch.nn.functional.gelu
    n, d, L = X.shape[0], net.width, net.depth
    zeros = {"h0": X.new_zeros(n, d), "out": X.new_zeros(L, n, d)}
    if s.operator != "I":
        zeros["lin"] = X.new_zeros(L, n, d)
    if s.has_branch:
        zeros["zpre"] = X.new_zeros(L, n, net.rank)
    if s.gate_mode == "input":
        zeros["s"] = X.new_zeros(L, n)
    record = {"h": [], "z": [], "uz": [], "s": []}

    def f(delta, keep=False):
        h = X @ net.E[0] + net.e_b[0] + delta["h0"]  # (n, d)
        for l, p in enumerate(layers):
            if keep:
                record["h"].append(h)
            if s.has_branch:
                z = gelu(h @ p["V"].T + p["c"] + delta["zpre"][l])  # (n, r)
                uz = z @ p["U"].T  # (n, d)
                if keep:
                    record["z"].append(z)
                    record["uz"].append(uz)
            if s.operator == "I":
                out = h + (uz if s.gate_mode == "one" else p["alpha"] * uz)
            else:
                out = h @ p["A"].T + p["b"] + delta["lin"][l]
                if act is not None:
                    out = act(out)
                if s.gate_mode == "input":
                    logit = h @ p["g"] + p["e"] + delta["s"][l]  # (n,)
                    if keep:
                        record["s"].append(logit)
                    out = out + s.beta * torch.sigmoid(logit)[:, None] * uz
                elif s.has_branch:
                    out = out + p["alpha"] * uz
            h = out + delta["out"][l]
        if keep:
            record["h"].append(h)
        return h @ net.R[0] + net.r_b[0]  # (n, k)

    with torch.no_grad():
        f(zeros, keep=True)
    return f, zeros, record


def layer_fields(net, X: torch.Tensor) -> tuple[dict, dict]:
    """Per-sample fields of every layer on ``X (n, d_in)``: the output cotangents
    ``G[name] = df_c(x_mu)/d(activation_mu)``, ``(k, n, ...)`` for every perturbation of
    ``_fields_forward`` (one ``torch.func.vjp`` per output, ``vmap`` over the k outputs; the samples
    do not interact, so the gradient of sum_mu f_c(x_mu) is the per-sample one), and the inputs."""
    f, zeros, record = _fields_forward(net, X)
    out, pullback = vjp(f, zeros)
    k = out.shape[-1]
    cot = torch.eye(k, dtype=out.dtype, device=out.device)[:, None, :].expand(k, *out.shape)  # (k, n, k)
    (G,) = vmap(pullback)(cot)
    return G, record


def _overlap(G1: torch.Tensor, G2: torch.Tensor) -> torch.Tensor:
    """S_{mu nu} = sum_c G1[c, mu] . G2[c, nu] (the theory half's S summed over outputs),
    ``(k, n, p), (k, m, p) -> (n, m)``."""
    return torch.einsum("cap,cbp->ab", G1, G2)


def _gram(H1: torch.Tensor, H2: torch.Tensor) -> torch.Tensor:
    """Q_{mu nu} = h_mu . h_nu (no 1/m: the parameters here carry no 1/sqrt(fan-in)), ``(n, m)``."""
    return H1 @ H2.T


def shaping_adjoint(net) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The adjoint of the shaping A = S(W) at W, for ``W`` (identity), ``W/sigma`` and ``cap``:

        dA = a dW - b W <u v^T, dW>,   so   dL/dW = a G - b <G, W> u v^T   for G = dL/dA,

    with sigma = sigma_max(W) (top singular pair u, v), a = rho/sigma, b = rho/sigma^2 where the
    map is rho W / sigma (spectral normalisation; the cap when sigma >= rho, torch.clamp's branch
    at equality), and a = 1, b = 0 where A = W. Returns ``a (L,)``, ``b (L,)``, ``u (L, d)``,
    ``v (L, d)``. Other shapings (mask, orthogonal) have no such form (``FAST_OPERATORS``)."""
    W = net.W[0] if hasattr(net, "W") else None
    L, d = net.depth, net.width
    one, zero = torch.ones(L, dtype=net.E.dtype), torch.zeros(L, dtype=net.E.dtype)
    if net.spec.operator == "W":
        return one, zero, W.new_zeros(L, d), W.new_zeros(L, d)
    U, sv, Vh = torch.linalg.svd(W)
    sigma = sv[:, 0]
    rho = net.spec.rho
    active = torch.ones(L, dtype=torch.bool) if net.spec.operator == "W/sigma" else rho / sigma <= 1.0
    a = torch.where(active, rho / sigma, one)
    b = torch.where(active, rho / sigma**2, zero)
    return a, b, U[:, :, 0], Vh[:, 0, :]


def cayley_factors(net) -> tuple[torch.Tensor, float]:
    """``P = (I + K)^{-1}`` per layer, ``(L, d, d)``, with K = W - W^T, and rho, for the orthogonal
    shaping A = rho (I + K)^{-1}(I - K) = rho (2P - I): dA = -2 rho P dK P, so for G = dL/dA,

        dL/dW = -2 rho (M - M^T),   M = P^T G P^T,

    and for G = g h^T (one sample, one output) M = a b^T with a = P^T g, b = P h."""
    W = net.W[0]
    eye = torch.eye(W.shape[-1], dtype=W.dtype, device=W.device)
    return torch.linalg.inv(eye + W - W.mT), float(net.spec.rho)


def _orthogonal_part(g1, g2, h1, h2, P, rho) -> torch.Tensor:
    """The part of W_l under the orthogonal shaping, ``(n, m)``: with a = P^T g (per output c),
    b = P h and dL/dW = -2 rho (a b^T - b a^T) per sample and output,

        K_W = 8 rho^2 sum_c [ (a_c a'_c^T) ⊙ (b b'^T) - (a_c b'^T) ⊙ (b a'_c^T) ]

    (<ab^T - ba^T, a'b'^T - b'a'^T> = 2(a.a')(b.b') - 2(a.b')(b.a')). ``g (k, n, d)``, ``h (n, d)``."""
    a1, a2 = g1 @ P, g2 @ P  # rows: (P^T g)^T = g^T P, (k, n, d)
    b1, b2 = h1 @ P.T, h2 @ P.T  # (n, d)
    first = _overlap(a1, a2) * _gram(b1, b2)
    second = (torch.einsum("cap,bp->cab", a1, b2) * torch.einsum("aq,cbq->cab", b1, a2)).sum(0)
    return 8 * rho**2 * (first - second)


FAST_OPERATORS = ("W", "W/sigma", "cap", "I", "orthogonal")


def kernel_parts(model, member: int, X, Z=None, names=None, dtype=torch.float64):
    """The parts (2) of the empirical kernel (1) of one member, ``{name: (L', n, m)}``, between the
    inputs ``X (n, d_in)`` and ``Z (m, d_in)`` (default ``X``: then each part is symmetric PSD).
    ``L'`` is the depth L for the per-layer parameters (``LAYERED``) and 1 for the others;
    ``names`` restricts the trainable parameters (default: all).

    Every parameter enters linearly (y = h M + m_0) except W through the shaping and the gate
    a through alpha = beta tanh(a), so the part of M is Q ⊙ S with Q the Gram matrix of the
    inputs h and S the overlap of the output cotangents dL/dy summed over outputs (the theory
    half's closed form, generalised), and the parts of W and a follow by the chain rule
    (``shaping_adjoint``, ``cayley_factors``; d alpha/da = beta (1 - tanh^2 a)). Shapings outside
    ``FAST_OPERATORS`` fall back to :func:`jacobian_parts`. Memory: the fields are ``k x L x n x d``
    numbers and the parts ``L x n x m``; no ``n x k x P`` Jacobian is formed."""
    net, params = member_network(model, member, dtype)
    if net.spec.operator not in FAST_OPERATORS:
        return jacobian_parts(model, member, X, Z, names, dtype)
    with torch.no_grad():
        for k, p in net.named_parameters():
            p.copy_(params[k])
    X = X.to(dtype)
    GX, RX = layer_fields(net, X)
    GZ, RZ = (GX, RX) if Z is None else layer_fields(net, Z.to(dtype))
    Zx = X if Z is None else Z.to(dtype)
    s, L, k = net.spec, net.depth, net.d_out
    out = {}
    S_h0 = _overlap(GX["h0"], GZ["h0"])
    out["E"] = (_gram(X, Zx) * S_h0)[None]
    out["e_b"] = S_h0[None]
    HX, HZ = RX["h"], RZ["h"]
    out["R"] = (k * _gram(HX[-1], HZ[-1]))[None]
    out["r_b"] = torch.full_like(out["R"], float(k))
    if s.operator != "I":
        if s.operator == "orthogonal":
            P, rho = cayley_factors(net)
        else:
            a, b, u, v = shaping_adjoint(net)
        W = net.W[0]
        Kw, Kb = [], []
        for l in range(L):
            g1, g2 = GX["lin"][:, l], GZ["lin"][:, l]  # (k, n, d)
            S_lin = _overlap(g1, g2)
            if s.operator == "orthogonal":
                Kw.append(_orthogonal_part(g1, g2, HX[l], HZ[l], P[l], rho))
                Kb.append(S_lin)
                continue
            KA = _gram(HX[l], HZ[l]) * S_lin
            if b[l] == 0:
                Kw.append(a[l] ** 2 * KA)
            else:
                w1 = ((g1 @ W[l]) * HX[l]).sum(-1)  # <G, W> = g^T W h, (k, n)
                w2 = ((g2 @ W[l]) * HZ[l]).sum(-1)
                p1 = (g1 @ u[l]) * (HX[l] @ v[l])  # <G, u v^T> = (u.g)(v.h), (k, n)
                p2 = (g2 @ u[l]) * (HZ[l] @ v[l])
                cross = torch.einsum("ca,cb->ab", p1, w2) + torch.einsum("ca,cb->ab", w1, p2)
                Kw.append(
                    a[l] ** 2 * KA - a[l] * b[l] * cross + b[l] ** 2 * torch.einsum("ca,cb->ab", w1, w2)
                )
            Kb.append(S_lin)
        out["W"], out["b"] = torch.stack(Kw), torch.stack(Kb)
    if s.has_branch:
        alpha = net.alpha_scalar()[0]
        Kv, Kc, Ku, Kgate, Kg, Ke = [], [], [], [], [], []
        for l in range(L):
            S_z = _overlap(GX["zpre"][:, l], GZ["zpre"][:, l])
            Kv.append(_gram(HX[l], HZ[l]) * S_z)
            Kc.append(S_z)
            gx, gz = GX["out"][:, l], GZ["out"][:, l]  # (k, n, d)
            if s.gate_mode == "input":
                sig_x, sig_z = torch.sigmoid(RX["s"][l]), torch.sigmoid(RZ["s"][l])
                gate_x, gate_z = s.beta * sig_x[None, :, None], s.beta * sig_z[None, :, None]
            else:
                gate_x = gate_z = 1.0 if s.gate_mode == "one" else alpha[l]
            Ku.append(_gram(RX["z"][l], RZ["z"][l]) * _overlap(gate_x * gx, gate_z * gz))
            qx = (gx * RX["uz"][l]).sum(-1)  # <dL/dh_l, U z>, (k, n)
            qz = (gz * RZ["uz"][l]).sum(-1)
            if s.gate_mode == "scalar":
                dalpha = s.beta * (1 - torch.tanh(net.a[0, l]) ** 2)
                Kgate.append(dalpha**2 * torch.einsum("ca,cb->ab", qx, qz))
            if s.gate_mode == "input":
                qx = qx * s.beta * sig_x * (1 - sig_x)
                qz = qz * s.beta * sig_z * (1 - sig_z)
                Q = torch.einsum("ca,cb->ab", qx, qz)
                Kg.append(_gram(HX[l], HZ[l]) * Q)
                Ke.append(Q)
        out["V"], out["c"], out["U"] = torch.stack(Kv), torch.stack(Kc), torch.stack(Ku)
        if Kgate:
            out["a"] = torch.stack(Kgate)
        if Kg:
            out["g"], out["e"] = torch.stack(Kg), torch.stack(Ke)
    names = [k for k in params if k in PATHS and (names is None or k in names)]
    return {k: out[k].detach() for k in names}


def empirical_kernel(model, member: int, X, Z=None, names=None, dtype=torch.float64):
    """The empirical kernel (1), ``(n, m)``: the sum of all its parts (2)."""
    return sum(p.sum(0) for p in kernel_parts(model, member, X, Z, names=names, dtype=dtype).values())


def kernel_by_path(parts: dict, depth: int) -> dict[tuple[str, int], torch.Tensor]:
    """The parts (2) keyed by ``(path, layer)``: layers 1..L for the per-layer paths, 0 for the
    embedding and L + 1 for the read-out. ``{(path, l): (n, m)}``; they sum to the kernel."""
    out: dict[tuple[str, int], torch.Tensor] = {}
    for name, K in parts.items():
        path = PATHS[name]
        layers = range(1, depth + 1) if name in LAYERED else [0 if path == "embedding" else depth + 1]
        for l, K_l in zip(layers, K):
            out[(path, l)] = out.get((path, l), 0) + K_l
    return out


def kernel_from_jacobian(model, member: int, X, dtype=torch.float64) -> torch.Tensor:
    """The kernel (1) from one Jacobian of the whole output vector over all parameters, flattened
    (``torch.func.jacrev`` of the batch, no per-sample vmap, no parts): the reference the sum of
    the parts is tested against. ``(n, n)``; small models only."""
    net, params = member_network(model, member, dtype)
    names = [k for k in params if k in PATHS]
    fixed = {k: v for k, v in params.items() if k not in names}
    X = X.to(dtype)
    jac = jacrev(lambda p: network_outputs(net, fixed | p, X))({k: params[k] for k in names})
    n, k = X.shape[0], model.d_out
    J = torch.cat([v.reshape(n, k, -1) for v in jac.values()], -1)  # (n, k, P)
    return torch.einsum("acp,bcp->ab", J, J)
