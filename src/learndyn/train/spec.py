"""``ModelSpec``: one model of the study (a value of ``train.models``), and the properties the
network reads instead of switching on ``kind`` (spec structured-layers.md §2.2)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

KINDS = ("mlp", "linear", "resmlp", "rezero", "snmlp", "structured")
INITS = ("auto", "kaiming", "orthogonal")
SHAPINGS = ("cap", "orthogonal", "mask", "identity")
GATES = ("scalar", "input", "fixed")
# Lipschitz constants of the pointwise nonlinearities: max |relu'| = 1, max |gelu'| = 1.12899... <= 1.129.
LIP = {"relu": 1.0, "gelu": 1.129}
U_INIT_STD = 1e-3  # correction read-out starts tiny: the structured path dominates at init (§8 row 6)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the study (a value of ``train.models`` in the config)."""

    kind: str = "structured"
    shaping: str = "cap"  # structured only: cap | orthogonal | mask | identity
    rho: float = 1.0  # spectral cap / orthogonal scale
    gate: str = "scalar"  # scalar | input | fixed
    alpha: float = 0.1  # initial |alpha| (scalar, input) or its value (fixed)
    beta: float = 1.0  # gate bound |alpha| <= beta
    rank_ratio: float = 0.25  # correction rank r = rank_ratio * width
    post_activation: bool = False
    reg: float = 1e-4  # lambda_phi of the correction regulariser (0 = off)
    mask_band: float = 0.25  # half bandwidth of the fixed mask, fraction of the width
    power_iters: int = 1  # power iterations per training step for sigma_max estimates
    init: str = (
        "auto"  # W_l init: auto (kaiming for the MLPs, orthogonal for structured) | kaiming | orthogonal
    )
    u_init_std: float = U_INIT_STD  # init std of the structured correction read-out U
    match_params: str = ""  # name of a model whose parameter count this one matches by its width

    @classmethod
    def problems(cls, spec: dict) -> list[tuple[str, str]]:
        """(field, problem) of every unknown key and unknown value of a ``train.models`` entry
        (the known kinds, shapings, gates and inits are this module's tuples)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - names)
        if unknown:
            return [("", f"unknown model keys {unknown}; accepted: {sorted(names)}")]
        allowed = {"kind": KINDS, "shaping": SHAPINGS, "gate": GATES, "init": INITS}
        values = asdict(cls(**spec))
        return [
            (key, f"model {key} {values[key]!r} not in {choices}")
            for key, choices in allowed.items()
            if values[key] not in choices
        ]

    @classmethod
    def from_config(cls, spec: dict) -> ModelSpec:
        found = cls.problems(spec)
        if found:
            raise ValueError(found[0][1])
        return cls(**spec)

    def as_dict(self) -> dict:
        return asdict(self)

    # --- what the network reads instead of switching on ``kind`` --------------------------
    @property
    def operator(self) -> str:
        """The linear path A_l: ``W`` (as is), ``W/sigma`` (spectral normalisation), ``I``
        (residual identity), or the structured shaping ``cap`` | ``orthogonal`` | ``mask``. The
        spectrally normalised MLP scales by its gain: A = rho W / sigma_max(W)."""
        fixed = {"mlp": "W", "linear": "W", "snmlp": "W/sigma", "resmlp": "I", "rezero": "I"}
        if self.kind in fixed:
            return fixed[self.kind]
        return "W" if self.shaping == "identity" else self.shaping

    @property
    def activation(self) -> str | None:
        """Pointwise nonlinearity applied after A h + b: relu (MLPs), gelu (post-activation
        variant) or None (the linear network, the linear path of the structured and residual
        layers)."""
        if self.kind in ("mlp", "snmlp"):
            return "relu"
        if self.kind == "linear":
            return None
        return "gelu" if self.post_activation else None

    @property
    def activation_lipschitz(self) -> float:
        """Lipschitz constant of ``activation`` (1 for the identity)."""
        return LIP[self.activation] if self.activation else 1.0

    @property
    def has_branch(self) -> bool:
        """Whether layers carry the low-rank branch U psi(V h + c) (structured, resmlp, rezero)."""
        return self.kind in ("structured", "resmlp", "rezero")

    @property
    def gate_mode(self) -> str:
        """How the branch is gated: ``none`` (no branch), ``one`` (resmlp: alpha = 1), ``scalar``
        (rezero: h + alpha F(h) with a learned alpha, init ``alpha`` = 0), or the structured gate
        ``scalar`` | ``input`` | ``fixed``."""
        if not self.has_branch:
            return "none"
        return {"resmlp": "one", "rezero": "scalar"}.get(self.kind, self.gate)

    @property
    def has_correction(self) -> bool:
        """A branch that can act (not the alpha = 0 ablation)."""
        return self.has_branch and not (self.gate_mode == "fixed" and self.alpha == 0)

    @property
    def learned_gate(self) -> bool:
        """Whether the gate has trainable parameters (scalar or input gate)."""
        return self.gate_mode in ("scalar", "input")

    @property
    def power_vector(self) -> bool:
        """Whether sigma_max(W) is tracked by power iteration in training (u_W buffer)."""
        return self.operator in ("W/sigma", "cap", "mask")

    @property
    def regularised(self) -> bool:
        """Whether the correction regulariser lambda_phi is on (structured layers, reg > 0)."""
        return self.kind == "structured" and self.reg > 0

    @property
    def fusable(self) -> bool:
        """Whether the layers can run as one ``StructuredStack`` (per-layer scalar gate, no
        post-activation)."""
        return self.kind == "structured" and self.gate_mode in ("scalar", "fixed") and self.activation is None

    @property
    def weight_init(self) -> str:
        """Init of W_l: ``skew`` (generator of a random rotation, for the Cayley shaping), else
        ``init`` when set, else ``kaiming`` (the ReLU MLPs) or ``orthogonal`` (the structured
        shapings and the linear network: an isometry at init, gain 1 without an activation).
        Orthogonal W of a ReLU layer carries the ReLU gain sqrt(2) (see models)."""
        if self.kind == "structured" and self.operator == "orthogonal":
            return "skew"
        if self.init != "auto":
            return self.init
        return "orthogonal" if self.kind in ("structured", "linear") else "kaiming"

    def branch_readout_std(self, rank: int, depth: int) -> float:
        """Init std of U: ``u_init_std`` for the structured correction (small: the structured
        path dominates at init); 1/sqrt(r L) for resmlp and rezero so that depth 32 does not
        explode at init."""
        return self.u_init_std if self.kind == "structured" else 1 / math.sqrt(rank * depth)
