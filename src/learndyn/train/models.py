"""Structured layers and baselines as batched ensembles (spec structured-layers.md §2).

Every parameter carries a leading ensemble dimension ``S`` (one member per seed, or per
(learning rate, seed) in the LR sweep), so all seeds of a cell train in one set of batched
matmuls. Member ``m`` is initialised from its own ``torch.Generator(seed_m)``, so a member's
numbers do not depend on which other members share the ensemble.

Hidden states are row vectors ``h (S, B, d)``; a layer applies ``h @ A^T``.

Layer family (spec §2.2, [P]):

    structured   h_l = S(W_l) h_{l-1} + b_l + alpha_l * phi_l(h_{l-1})
                 phi_l(h) = U_l psi(V_l h + c_l),   rank r = rank_ratio * d,  psi = GELU
    post-act.    h_l = psi(S(W_l) h_{l-1} + b_l) + alpha_l * phi_l(h_{l-1})
    mlp          h_l = relu(W_l h_{l-1} + b_l)                  (Kaiming init)
    linear       h_l = W_l h_{l-1} + b_l                        (the MLP without its activation,
                                                                  orthogonal init: a linear baseline)
    resmlp       h_l = h_{l-1} + U_l psi(V_l h_{l-1} + c_l)     (S = I, alpha = 1)
    rezero       h_l = h_{l-1} + alpha_l U_l psi(V_l h_{l-1} + c_l), alpha_l = beta tanh(a_l), init ``alpha``
                 (0 for ReZero: set ``alpha: 0.0``; the ModelSpec default 0.1 opens the gate)
    snmlp        h_l = relu(rho W_l / sigma_max(W_l) h_{l-1} + b_l)  (spectral normalisation, gain rho)

Shaping operators S: ``cap`` W*min(1, rho/sigma_max(W)); ``orthogonal`` rho*Cayley(W - W^T);
``mask`` cap(M*W) with a fixed banded mask M; ``identity`` W.
Gates: ``scalar`` alpha = beta*tanh(a); ``input`` alpha(h) = beta*sigmoid(g.h + e);
``fixed`` alpha = constant (0 gives the structure-only ablation).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..integrity import integrity_problem, replace_with_checksum, unreadable
from .fused import CappedRows, StructuredStack, structured_stack_forward
from .spec import LIP, ModelSpec
from .spectral import SigmaMode, band_mask, orthogonal_shaping, power_vectors, sigma_max_exact, spectral_cap

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


# --- initialisation -----------------------------------------------------------------------


def _normal(gen, shape, std):
    return torch.randn(shape, generator=gen, dtype=torch.float64) * std


def _orthogonal(gen, d):
    q, r = torch.linalg.qr(torch.randn((d, d), generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def init_weights(gen, spec: ModelSpec, L: int, d: int) -> torch.Tensor:
    """W_l for one member, ``(L, d, d)``, as ``spec.weight_init`` says."""
    if spec.weight_init == "kaiming":
        return _normal(gen, (L, d, d), math.sqrt(2 / d))  # fan-in, ReLU
    if spec.weight_init == "skew":
        return _normal(gen, (L, d, d), 0.5 / math.sqrt(d))
    gain = math.sqrt(2) if spec.activation == "relu" else 1.0  # ReLU halves the mean square
    return torch.stack([_orthogonal(gen, d) for _ in range(L)]) * gain


def register_members(module: nn.Module, members: list[dict], device=None) -> None:
    """Stack per-member tensors along a leading ensemble dim ``S`` (float32) and register them:
    names starting with ``u_`` (power-iteration vectors) as buffers, the rest as parameters."""
    for name in members[0]:
        value = torch.stack([m[name] for m in members]).float().to(device)
        if name.startswith("u_"):
            module.register_buffer(name, value)
        else:
            setattr(module, name, nn.Parameter(value))


class EnsembleNet(SigmaMode, nn.Module):
    """Embedding E -> L layers of width d -> read-out R, for S ensemble members at once.

    ``seeds`` (length S) gives each member's initialisation seed.
    """

    def __init__(self, spec: ModelSpec, d_in: int, d_out: int, width: int, depth: int, seeds, device=None):
        super().__init__()
        self.spec, self.d_in, self.d_out, self.width, self.depth = spec, d_in, d_out, width, depth
        self.seeds = [int(s) for s in seeds]
        self.rank = max(1, int(round(spec.rank_ratio * width)))
        members = [self._init_member(torch.Generator().manual_seed(s)) for s in self.seeds]
        register_members(self, members, device)
        if spec.operator == "mask":
            self.register_buffer("mask", band_mask(width, spec.mask_band).to(device))
        self.exact_sigma = False  # True: exact SVD instead of power iteration (measurements)

    # parameters of one member, in a fixed order (so members are independent of S)
    def _init_member(self, gen) -> dict[str, torch.Tensor]:
        s, d, L, r = self.spec, self.width, self.depth, self.rank
        p = {
            "E": _normal(gen, (self.d_in, d), 1 / math.sqrt(self.d_in)),
            "e_b": torch.zeros(d),
            "R": _normal(gen, (d, self.d_out), 1 / math.sqrt(d)),
            "r_b": torch.zeros(self.d_out),
        }
        if s.operator != "I":
            p["W"] = init_weights(gen, s, L, d)
            p["b"] = torch.zeros(L, d)
        if s.has_branch:
            p["V"] = _normal(gen, (L, r, d), math.sqrt(2 / d))
            p["U"] = _normal(gen, (L, d, r), s.branch_readout_std(r, L))
            p["c"] = torch.zeros(L, r)
        if s.gate_mode == "scalar":
            p["a"] = torch.full((L,), math.atanh(s.alpha / s.beta))
        if s.gate_mode == "input":
            p["g"] = torch.zeros(L, d)
            p["e"] = torch.full((L,), math.log(s.alpha / (s.beta - s.alpha)))
        if s.power_vector:
            p["u_W"] = F.normalize(torch.randn((L, d), generator=gen, dtype=torch.float64), dim=-1)
        if s.regularised:
            p["u_U"] = F.normalize(torch.randn((L, d), generator=gen, dtype=torch.float64), dim=-1)
            p["u_V"] = F.normalize(torch.randn((L, r), generator=gen, dtype=torch.float64), dim=-1)
        return p

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def param_count(self) -> int:
        """Trainable parameters of one member."""
        return sum(p[0].numel() for p in self.parameters())

    # --- the structured operator and the gate -----------------------------------------
    def _sigma(self, M: torch.Tensor, buffer: str) -> torch.Tensor:
        return self.sigma_max(M, buffer, self.spec.power_iters)

    def shaped(self) -> torch.Tensor:
        """A_l = S(W_l) for all members and layers, ``(S, L, d, d)`` (identity for resmlp)."""
        s, op = self.spec, self.spec.operator
        if op == "I":
            eye = torch.eye(self.width, device=self.E.device)
            return eye.expand(self.n_members, self.depth, -1, -1)
        if op == "W":
            return self.W
        if op == "W/sigma":
            return self.W * (s.rho / self._sigma(self.W, "u_W"))[..., None, None]
        if op == "orthogonal":
            return orthogonal_shaping(self.W, s.rho)
        W = self.W * self.mask if op == "mask" else self.W
        return spectral_cap(W, self._sigma(W, "u_W"), s.rho)

    def alpha_scalar(self) -> torch.Tensor:
        """Per-layer gate ``(S, L)``: beta*tanh(a) (scalar), the constant (fixed), 1 (resmlp),
        0 (no correction path), beta (input gate: its bound)."""
        s, shape = self.spec, (self.n_members, self.depth)
        dev = self.E.device
        if s.gate_mode == "scalar":
            return s.beta * torch.tanh(self.a)
        value = {"one": 1.0, "none": 0.0, "fixed": s.alpha, "input": s.beta}[s.gate_mode]
        return torch.full(shape, value, device=dev)

    # --- forward ------------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """h_0 = x E + e, ``x (S, B, d_in)`` or ``(B, d_in)`` -> ``(S, B, d)``."""
        if x.dim() == 2:
            x = x.expand(self.n_members, -1, -1)  # (S, B, d_in), shared inputs
        return x @ self.E + self.e_b[:, None]

    # names of the stacked (S, L, ...) tensors a layer reads, besides A and alpha
    LAYER_TENSORS = ("b", "V", "U", "c", "g", "e")

    def layer_tensors(self, A: torch.Tensor, alpha: torch.Tensor, l: int | None = None):
        """Per-layer slices ``{name: (S, ...)}`` of A, alpha and the layer parameters.

        ``l=None`` returns the list over all layers, split once with ``unbind`` (so the
        backward pass stacks the layer gradients once instead of scattering each layer's
        gradient into a zero-filled copy of the whole stacked tensor).
        """
        stacked = {"A": A, "alpha": alpha} | {
            k: getattr(self, k) for k in self.LAYER_TENSORS if hasattr(self, k)
        }
        if l is not None:
            return {k: v[:, l] for k, v in stacked.items()}
        split = {k: v.unbind(1) for k, v in stacked.items()}
        return [{k: v[i] for k, v in split.items()} for i in range(self.depth)]

    def layer(self, l: int, h: torch.Tensor, A: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """h_l from h_{l-1} ``(S, B, d)``; ``A (S, L, d, d)``, ``alpha (S, L)``."""
        return self.apply_layer(h, self.layer_tensors(A, alpha, l))

    def apply_layer(self, h: torch.Tensor, p: dict) -> torch.Tensor:
        """One layer on ``h (S, B, d)`` given its slices ``p`` (see ``layer_tensors``)."""
        s = self.spec
        # the branch first: autograd sums the gradients reaching h in graph order, so this order
        # is part of the numbers (second-order terms, e.g. Hessian-vector products)
        if s.has_branch:
            z = F.gelu(torch.baddbmm(p["c"][:, None], h, p["V"].mT))  # psi(V h + c), (S, B, r)
        if s.operator == "I":  # residual layers h + alpha U psi(V h + c): A = I is not multiplied
            U = p["U"] if s.gate_mode == "one" else p["U"] * p["alpha"][:, None, None]
            return torch.baddbmm(h, z, U.mT)
        lin = torch.baddbmm(p["b"][:, None], h, p["A"].mT)  # A h + b, (S, B, d)
        if s.activation == "relu":  # in place: baddbmm's backward does not read its output
            lin = F.relu_(lin)
        elif s.activation:
            lin = ACTIVATIONS[s.activation](lin)
        if not s.has_branch:
            return lin
        if s.gate_mode == "input":
            gate = s.beta * torch.sigmoid(h @ p["g"][..., None] + p["e"][:, None, None])
            return torch.addcmul(lin, gate, z @ p["U"].mT)
        # scalar gate folded into the (d, r) read-out: alpha U psi(.) costs no (S, B, d) pass
        return torch.baddbmm(lin, z, (p["U"] * p["alpha"][:, None, None]).mT)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.R + self.r_b[:, None]

    def operators(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(A, alpha)`` = (shaped(), alpha_scalar()). In eval mode without autograd (the
        evaluations, robustness sweeps) they are cached until a parameter or buffer changes
        in place, so an exact sigma_max is computed once, not once per forward call."""
        if self.training or torch.is_grad_enabled():
            return self.shaped(), self.alpha_scalar()
        key = tuple((id(t), t._version) for t in (*self.parameters(), *self.buffers()))
        cached = getattr(self, "_operators_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, (self.shaped(), self.alpha_scalar()))
            self._operators_cache = cached
        return cached[1]

    def fused(self) -> bool:
        """Whether ``forward`` runs the layers as one ``StructuredStack``: structured layers
        with a per-layer scalar gate and no post-activation, in training or without autograd.
        In eval mode with autograd on (Jacobians, Hessian-vector products) the layers run
        unfused, since the fused backward is only once differentiable."""
        return self.spec.fusable and (self.training or not torch.is_grad_enabled())

    def fused_layers(self, h: torch.Tensor) -> torch.Tensor:
        """h_L from h_0 ``(S, B, d)`` through ``StructuredStack`` (see ``fused``). In training
        with the power-iteration cap, [cap(W_l); V_l] comes from one ``CappedRows`` node."""
        s = self.spec
        if s.operator == "cap" and self.power_sigma():
            v = power_vectors(self.W, self.u_W, s.power_iters)
            AV, alpha = CappedRows.apply(self.W, self.V, self.u_W, v, s.rho), self.alpha_scalar()
        else:
            A, alpha = self.operators()
            AV = torch.cat([A, self.V], 2)
        bc, Ua = torch.cat([self.b, self.c], 2), self.U * alpha[..., None, None]
        if torch.is_grad_enabled():
            return StructuredStack.apply(h, AV, bc, Ua)
        return structured_stack_forward(h, AV, bc, Ua)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Outputs ``(S, B, d_out)``; with ``return_hidden`` also ``[h_0, ..., h_L]``."""
        if not return_hidden and self.fused():
            return self.readout(self.fused_layers(self.embed(x)))
        A, alpha = self.operators()
        h = self.embed(x)
        hidden = [h]
        for p in self.layer_tensors(A, alpha):
            h = self.apply_layer(h, p)
            hidden.append(h)
        out = self.readout(h)
        return (out, hidden) if return_hidden else out

    def forward_from(self, l0: int, h: torch.Tensor, l1: int | None = None) -> torch.Tensor:
        """Apply layers l0+1..l1 to ``h = h_{l0}`` (no read-out); l1 defaults to L."""
        A, alpha = self.operators()
        for l in range(l0, self.depth if l1 is None else l1):
            h = self.layer(l, h, A, alpha)
        return h

    # --- regulariser and bounds (spec §3) -------------------------------------------------
    def correction_lipschitz(self) -> torch.Tensor:
        """L_phi <= L_psi ||U_l||_2 ||V_l||_2, ``(S, L)`` (0 without a correction path)."""
        if not self.spec.has_branch:
            return torch.zeros(self.n_members, self.depth, device=self.E.device)
        if self.power_sigma() and self.spec.regularised:
            su, sv = self._sigma(self.U, "u_U"), self._sigma(self.V, "u_V")
        else:
            su, sv = sigma_max_exact(self.U), sigma_max_exact(self.V)
        return LIP["gelu"] * su * sv

    def regulariser(self) -> torch.Tensor:
        """lambda_phi sum_l alpha_l^2 ||U_l||^2 ||V_l||^2 per member ``(S,)`` (spec §2.2)."""
        if not (self.spec.regularised and self.spec.has_correction):
            return torch.zeros(self.n_members, device=self.E.device)
        eps = self.alpha_scalar() * self.correction_lipschitz() / LIP["gelu"]
        return self.spec.reg * (eps**2).sum(-1)

    @torch.no_grad()
    def layer_bounds(self) -> dict[str, torch.Tensor]:
        """P1/P2 per layer ``(S, L)``: upper ||A|| L_out + |alpha| L_phi and lower s - eps.

        ``L_out`` is the Lipschitz constant applied after A (ReLU for the MLPs, GELU for the
        post-activation variant, 1 otherwise). The lower bound only holds for the linear
        structured path (no activation after A); it is NaN elsewhere. The input gate has no
        scalar bound (its derivative adds a term), so its bounds are NaN.
        """
        A = self.shaped().double()
        sv = torch.linalg.svdvals(A)
        s_max, s_min = sv[..., 0], sv[..., -1]
        eps = self.alpha_scalar().abs().double() * self.correction_lipschitz().double()
        s = self.spec
        upper = s.activation_lipschitz * s_max + eps
        lower = s_min - eps
        if s.activation is not None:
            lower = torch.full_like(lower, float("nan"))
        if s.gate_mode == "input":
            upper = torch.full_like(upper, float("nan"))
            lower = torch.full_like(lower, float("nan"))
        return {
            "A_sigma_max": s_max,
            "A_sigma_min": s_min,
            "eps": eps,
            "bound_upper": upper,
            "bound_lower": lower,
        }


def build_model(
    spec: ModelSpec | dict, d_in: int, d_out: int, width: int, depth: int, seeds, device=None
) -> EnsembleNet:
    if isinstance(spec, dict):
        spec = ModelSpec.from_config(spec)
    return EnsembleNet(spec, d_in, d_out, width, depth, seeds, device)


def matched_width(spec: ModelSpec, target: ModelSpec, d_in: int, d_out: int, width: int, depth: int) -> int:
    """The width of ``spec`` whose parameter count per member is closest to that of ``target``
    at ``width`` (ties: the smaller width); counts from one-member models built on CPU."""

    def count(s, w):
        return build_model(s, d_in, d_out, w, depth, [0]).param_count()

    goal = count(target, width)
    lo, hi = 1, max(2, width)
    while count(spec, hi) < goal:
        hi *= 2
    while hi - lo > 1:  # count(spec, lo) < goal <= count(spec, hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(spec, mid) < goal else (lo, mid)
    return lo if goal - count(spec, lo) <= count(spec, hi) - goal else hi


# --- saved ensembles (the trained models other jobs read: alignment, kernels) ----------------


def save_ensemble(model: EnsembleNet, path, **meta) -> None:
    """Write the ensemble's weights and what rebuilds it (spec, sizes, seeds, ``meta``) to
    ``path`` atomically (a temporary file renamed into place, with its checksum sidecar under
    ``results/``: ``integrity.replace_with_checksum``), on CPU. A model with parameter
    snapshots along training (``model.trajectory``, set by ``experiments.run_cell``) stores
    them too (key ``trajectory``; absent otherwise, so other files are unchanged)."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    record = {
        "spec": model.spec.as_dict(),
        "sizes": {"d_in": model.d_in, "d_out": model.d_out, "width": model.width, "depth": model.depth},
        "seeds": list(model.seeds),
        "state": state,
        "meta": meta,
    }
    if getattr(model, "trajectory", None) is not None:
        record["trajectory"] = model.trajectory
    try:
        torch.save(record, tmp)
        replace_with_checksum(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_record(path) -> dict:
    """The record saved by :func:`save_ensemble`; a damaged file (truncated, not a PyTorch
    file, changed since it was written, or missing a key) raises
    ``integrity.UnreadableResult`` with one line naming it and the fix."""
    problem = integrity_problem(path)
    if problem is None:
        try:
            record = torch.load(path, map_location="cpu", weights_only=True)
            missing = [key for key in ("spec", "sizes", "seeds", "state", "meta") if key not in record]
            if not missing:
                return record
            problem = f"no {', '.join(missing)} in it"
        except FileNotFoundError:
            raise
        except Exception as err:  # torch reports a damaged archive as RuntimeError, pickle errors, ...
            problem = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    raise unreadable(path, problem, kind="model file")


def load_ensemble(path, device=None) -> tuple[EnsembleNet, dict]:
    """The ensemble saved by :func:`save_ensemble` (in eval mode) and its ``meta``."""
    record = _load_record(path)
    sizes = record["sizes"]
    model = build_model(
        record["spec"], sizes["d_in"], sizes["d_out"], sizes["width"], sizes["depth"], record["seeds"], device
    )
    model.load_state_dict({k: v.to(device) if device else v for k, v in record["state"].items()})
    return model.eval(), record["meta"]


def load_trajectory(path) -> dict | None:
    """The parameter snapshots saved with an ensemble (``{"step": (T,), "state": {name: (S, T,
    ...)}}``), or None when the cell saved none."""
    return _load_record(path).get("trajectory")
