"""One integrator for weight space and field space (spec §1 caveat, §8 check 1; §11 choice 4).

Scheme: Dormand-Prince 5(4) (Hairer, Nørsett & Wanner, Solving ODEs I, §II.5), adaptive,
error per seed measured in the RMS norm err = sqrt(mean((e_i / (atol + rtol max|y_i|))^2))
and one step size shared by all seeds (the worst seed decides). Time is ODE time, not wall
clock. Outputs are produced exactly at the requested times by shortening the step.

Switched systems (Filippov). The right-hand side depends on masks D = Θ(g(y)) of switching
functions g (the pre-activations). The integrator keeps a discrete ``Mode`` — the masks and
a set of *sliding* entries — fixed within a step, so the field is smooth there, and handles
three kinds of events, each located by bisection on the step's Hermite interpolant and
crossed at its own time:

* crossing: g_q changes sign on an entry that is not sliding (ordinary mask switch);
* sliding entry: at a crossing the field of *both* sides pushes g_q back onto g_q = 0.
  Filippov's solution then stays on the surface with the convex combination of the two
  fields that keeps ġ_q = 0 (equivalent control): the mask becomes λ_q ∈ [0, 1], computed by
  the right-hand side itself (``dynamics.equivalent_control``). The test: add q to the
  sliding set; it slides iff its λ_q lies in (0, 1), i.e. the two one-sided rates ġ_q(D_q=0),
  ġ_q(D_q=1) have opposite signs with the arriving side pointing at the surface;
* sliding exit: λ_q leaves [0, 1]; the entry leaves the surface to the side λ_q points at
  (mask 1 if λ_q > 1, else 0), where that side's field carries it away.

In sliding the right-hand side is smooth (λ is a smooth function of the state), so the step
keeps its fifth order. ``jump(y, mode_old, mode_new)`` may reset the state at a transition
(the conjugate fields of the hybrid closure jump when deeper masks change).

``rk4`` (fixed step, the textbook k1..k4, masks following the stage values) is the reference
scheme of the cost benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

# Dormand-Prince 5(4) tableau (FSAL); B5 is the propagated 5th-order solution, E = B5 - B4.
C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
E = tuple(b5 - b4 for b5, b4 in zip(B5, B4))
# Dense output of Dormand-Prince 5(4) (Shampine 1986; Hairer, Nørsett & Wanner §II.6, the
# coefficients of scipy's RK45): y(t + θh) = y + h sum_j k_j sum_p P[j][p] θ^(p+1), fourth order.
P = (
    (1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432),
    (0.0, 0.0, 0.0, 0.0),
    (0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799),
    (0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072),
    (0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632),
    (0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844),
    (0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423),
)


@dataclass
class Settings:
    """Integrator settings stored with every dataset (so a run can be recomputed)."""

    method: str = "dopri5"
    rtol: float = 1e-10
    atol: float = 1e-12
    bisect: int = 30  # bisection iterations when locating an event inside a step
    slide_tol: float = 1e-12  # equivalent control: max|ġ| on sliding entries / max|ġ| must stay below
    max_steps: int = 200000
    dt: float = 0.01  # rk4 only
    # state at a located event: "dense" (the step's fourth-order dense output at the event time,
    # no extra right-hand sides) or "redo" (a new Dormand-Prince step from the step's start to it,
    # six more right-hand sides per event: the former scheme, kept for the equivalence test)
    event_state: str = "dense"

    def attrs(self, prefix: str = "integrator_") -> dict:
        return {prefix + k: (int(v) if isinstance(v, bool) else v) for k, v in self.__dict__.items()}


@dataclass
class Mode:
    """Discrete state of a switched system: ``masks`` (S, Q) in {0, 1} (0 on sliding entries)
    and ``sliding`` (S, Q) bool. The masks of the non-sliding entries are the reference masks
    D_ref; the right-hand side puts the equivalent control λ on the sliding entries."""

    masks: torch.Tensor
    sliding: torch.Tensor

    @classmethod
    def of(cls, g):
        """Masks Θ(g) (Θ(0) = 0), nothing sliding."""
        return cls((g > 0).to(g.dtype), torch.zeros_like(g, dtype=torch.bool))


@dataclass
class Stats:
    accepted: int = 0
    rejected: int = 0
    events: int = 0  # ordinary mask switches (entries)
    slides: int = 0  # entries that entered a sliding mode
    slide_exits: int = 0  # entries that left one
    sliding_steps: int = 0  # accepted steps taken with at least one sliding entry
    jumps: int = 0  # transitions at which ``jump`` changed the state
    locate_evals: int = 0  # steps in which an event was located
    rhs_evals: int = 0
    extra: dict = field(default_factory=dict)
    modes: list = field(default_factory=list, repr=False)  # Mode at each output time

    def attrs(self, prefix: str = "steps_") -> dict:
        skip = ("extra", "modes")
        return {prefix + k: v for k, v in self.__dict__.items() if k not in skip} | {
            prefix + k: v for k, v in self.extra.items()
        }


def _rms_error(err, y0, y1, rtol, atol):
    scale = atol + rtol * torch.maximum(y0.abs(), y1.abs())
    return torch.sqrt(torch.mean((err / scale) ** 2, dim=-1)).max().item()


def hermite(y0, y1, f0, f1, h, theta):
    """Cubic Hermite interpolant on a step (third order), used to locate events."""
    t2, t3 = theta**2, theta**3
    return (
        (2 * t3 - 3 * t2 + 1) * y0
        + (t3 - 2 * t2 + theta) * h * f0
        + (-2 * t3 + 3 * t2) * y1
        + (t3 - t2) * h * f1
    )


def _combine(y, h, coefs, k):
    """y + h sum_j coefs[j] k[j] over the nonzero coefficients (in-place accumulation)."""
    acc = None
    for c, kj in zip(coefs, k):
        if c != 0.0:
            acc = kj * c if acc is None else acc.add_(kj, alpha=c)
    return y if acc is None else y + h * acc


def dense_output(y0, h, k, theta):
    """Dormand-Prince dense output at θ in [0, 1] of a step from y0 of size h with stages k1..k7."""
    powers = (theta, theta**2, theta**3, theta**4)
    return _combine(y0, h, [sum(c * q for c, q in zip(row, powers)) for row in P], k)


def _call(rhs, t, y, mode):
    """rhs -> (ẏ, effective masks or None); plain rhs returning ẏ alone are allowed."""
    out = rhs(t, y, mode)
    return out if isinstance(out, tuple) else (out, None)


def _dopri_step(rhs, t, y, h, k1, mode):
    """One Dormand-Prince step with the mode fixed; returns (y_new, stages k1..k7, λ at y_new)."""
    k = [k1]
    for i in range(1, 7):
        yi = _combine(y, h, A[i], k)
        ki, lam = _call(rhs, t + C[i] * h, yi, mode)
        k.append(ki)
    return yi, k, lam


def _events(g_val, mode, consistent0, lam):
    """Entries with an event at a state: crossings (entries consistent with their mask at the
    step start whose sign now disagrees) and sliding exits (λ outside [0, 1]). (S, Q) bool."""
    cross = consistent0 & ((g_val > 0).to(mode.masks.dtype) != mode.masks)
    if lam is None or not mode.sliding.any():
        return cross
    return cross | (mode.sliding & ((lam < 0) | (lam > 1)))


def _margin(g_val, mode, lam):
    """Signed distance to the next event, positive before it: g (mask 1) or -g (mask 0) on
    ordinary entries, min(λ, 1 - λ) on sliding ones. (S, Q). Guides the root finder only;
    ``_events`` decides."""
    s = torch.where(mode.masks > 0, g_val, -g_val)
    if lam is None or not mode.sliding.any():
        return s
    return torch.where(mode.sliding, torch.minimum(lam, 1 - lam), s)


def locate_event(events_at, ev1, s0, s1, iters: int):
    """Earliest θ in (0, 1] with an event, to 2^-iters: Illinois (modified regula falsi) on the
    margins of the entries with an event, the bracket [lo, hi] kept by the event test.

    ``events_at(θ) -> (events (S, Q) bool, margins (S, Q), extra)``; ``ev1``, ``s1`` at θ = 1,
    ``s0`` at θ = 0 (no event there). Returns (hi, events at hi, extra at hi (None if θ = 1)).
    """
    lo, hi, s_lo, s_hi, ev_hi, extra_hi = 0.0, 1.0, s0, s1, ev1, None
    tol, last = 2.0**-iters, 0
    for _ in range(4 * iters):
        if hi - lo <= tol:
            break
        a, b = s_lo[ev_hi], s_hi[ev_hi]  # a > 0 >= b on the entries with an event at hi
        theta = (lo + (hi - lo) * a / (a - b).clamp_min(1e-300)).min().item()
        theta = min(max(theta, lo + 0.5 * tol), hi - 0.5 * tol)
        ev_t, s_t, extra_t = events_at(theta)
        if ev_t.any():
            hi, s_hi, ev_hi, extra_hi = theta, s_t, ev_t, extra_t
            s_lo = s_lo * 0.5 if last == 1 else s_lo  # Illinois: halve the retained end
            last = 1
        else:
            lo, s_lo = theta, s_t
            s_hi = s_hi * 0.5 if last == -1 else s_hi
            last = -1
    return hi, ev_hi, extra_hi


def _transition(rhs, jump, t, y, mode, ev, lam):
    """New mode after the events ``ev`` located at (t, y); λ (S, Q) there. Returns (mode, counts).

    Trial modes are evaluated on the state jumped to them (``jump``), as the step after would be.
    """

    def lam_of(trial):
        return _call(rhs, t, y if jump is None else jump(y, mode, trial), trial)[1]

    masks, sliding = mode.masks.clone(), mode.sliding.clone()
    exits = ev & mode.sliding
    masks[exits] = (lam[exits] > 1).to(masks.dtype)
    sliding[exits] = False
    cross = ev & ~mode.sliding
    enter = torch.zeros_like(cross)
    if cross.any():
        # Filippov test: with the crossing entries on the surface, does their λ lie in (0, 1)?
        trial = Mode(torch.where(cross, torch.zeros_like(masks), masks), sliding | cross)
        try:
            lam_trial = lam_of(trial)
            enter = cross & (lam_trial > 0) & (lam_trial < 1)
        except RuntimeError:  # no equivalent control (singular system): ordinary crossings
            enter = torch.zeros_like(cross)
    flip = cross & ~enter
    masks[flip] = 1 - masks[flip]
    masks[enter] = 0
    sliding |= enter
    new = Mode(masks, sliding)
    # entries already sliding whose λ left [0, 1] with the new set leave the surface too
    for _ in range(8):
        if not new.sliding.any():
            break
        lam_new = lam_of(new)
        out = new.sliding & ((lam_new < 0) | (lam_new > 1))
        if not out.any():
            break
        new.masks[out] = (lam_new[out] > 1).to(masks.dtype)
        new.sliding[out] = False
        exits |= out
    return new, {"events": int(flip.sum()), "slides": int(enter.sum()), "slide_exits": int(exits.sum())}


def dopri5(rhs, y0, times, settings: Settings, switching=None, jump=None):
    """Integrate y' = rhs(t, y, mode) for y (S, P); return (Y (T, S, P) at ``times``, Stats).

    ``switching(y) -> g (S, Q)`` gives the switching functions (pre-activations); without it
    ``mode`` is None. ``rhs`` returns ẏ, or (ẏ, λ) with λ (S, Q) the effective masks (the
    equivalent control on sliding entries of ``mode``). See the module doc for the events.
    """
    times = [float(t) for t in times]
    stats = Stats()
    t, y = times[0], y0
    mode = Mode.of(switching(y)) if switching is not None else None
    out = [y0]
    stats.modes.append(mode)
    k1, lam_start = _call(rhs, t, y, mode)
    g_cache = None  # switching functions at y (reused from the end of the previous step)
    stats.rhs_evals += 1
    scale = settings.atol + settings.rtol * y.abs()
    d0, d1 = torch.sqrt(torch.mean((y / scale) ** 2)), torch.sqrt(torch.mean((k1 / scale) ** 2))
    h = 0.01 * float(d0 / d1) if d0 > 1e-5 and d1 > 1e-5 else 1e-6
    h = min(h, times[-1] - times[0]) if len(times) > 1 else h
    for t_next in times[1:]:
        while t < t_next - 1e-13 * max(1.0, abs(t_next)):
            if stats.accepted + stats.rejected > settings.max_steps:
                raise RuntimeError(f"dopri5: more than {settings.max_steps} steps before t = {t_next}")
            step = min(h, t_next - t)
            y_new, k, lam_new = _dopri_step(rhs, t, y, step, k1, mode)
            stats.rhs_evals += 6
            err = _rms_error(
                _combine(0.0, step, E, k),
                y,
                y_new,
                settings.rtol,
                settings.atol,
            )
            if err > 1.0:
                stats.rejected += 1
                h = step * min(5.0, max(0.2, 0.9 * err**-0.2))
                continue
            factor = min(5.0, max(0.2, 0.9 * max(err, 1e-10) ** -0.2))
            ev, full = None, None
            if mode is not None:
                g0 = g_cache if g_cache is not None else switching(y)
                consistent0 = ~mode.sliding & ((g0 > 0).to(y.dtype) == mode.masks)
                wrong = (g0.abs() * ~(consistent0 | mode.sliding)).max() / g0.abs().max().clamp_min(1e-300)
                stats.extra["max_wrong_side"] = max(stats.extra.get("max_wrong_side", 0.0), wrong.item())
                g1 = switching(y_new)
                ev = _events(g1, mode, consistent0, lam_new)
                if ev.any():
                    # locate the earliest event on the step's Hermite interpolant
                    watch_lam = bool((ev & mode.sliding).any())

                    def events_at(theta):
                        z = hermite(y, y_new, k[0], k[6], step, theta)
                        lam_z = _call(rhs, t + theta * step, z, mode)[1] if watch_lam else None
                        stats.rhs_evals += int(watch_lam)
                        g_z = switching(z)
                        return _events(g_z, mode, consistent0, lam_z), _margin(g_z, mode, lam_z), lam_z

                    stats.locate_evals += 1
                    lam0 = lam_start if watch_lam else None
                    hi, ev, lam_hi = locate_event(
                        events_at,
                        ev,
                        _margin(g0, mode, lam0),
                        _margin(g1, mode, lam_new if watch_lam else None),
                        settings.bisect,
                    )
                    lam_ev = lam_hi if lam_hi is not None else lam_new
                    if hi < 1.0:
                        if settings.event_state == "redo":
                            step = max(hi * step, 1e-14 * max(1.0, abs(t)))
                            y_new, k, lam_new = _dopri_step(rhs, t, y, step, k1, mode)
                            stats.rhs_evals += 6
                        else:  # the state at the event from this step's dense output
                            y_new = dense_output(y, step, k, hi)
                            full, step = step, hi * step
                        g1 = None
                else:
                    ev = None
                g_cache = g1
            stats.accepted += 1
            if mode is not None and mode.sliding.any():
                stats.sliding_steps += 1
            t += step
            if ev is not None:
                new_mode, counts = _transition(rhs, jump, t, y_new, mode, ev, lam_ev)
                for key, v in counts.items():
                    setattr(stats, key, getattr(stats, key) + v)
                if jump is not None:
                    y_jump = jump(y_new, mode, new_mode)
                    stats.jumps += y_jump is not y_new
                    y_new = y_jump
                mode = new_mode
                k[6], lam_new = _call(rhs, t, y_new, mode)
                stats.rhs_evals += 1
                g_cache = None
            y, k1, lam_start = y_new, k[6], lam_new
            # the next step from the accepted step's proposal (an event does not shrink it, "dense")
            h = (full if full is not None else step) * factor
        out.append(y)
        stats.modes.append(mode)
    return torch.stack(out), stats


def rk4_step(rhs, t, y, h):
    """Classical Runge-Kutta step."""
    k1 = rhs(t, y)
    k2 = rhs(t + h / 2, y + h / 2 * k1)
    k3 = rhs(t + h / 2, y + h / 2 * k2)
    k4 = rhs(t + h, y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def rk4(rhs, y0, times, settings: Settings, switching=None, jump=None):
    """Fixed-step RK4 with step <= ``settings.dt``, landing exactly on ``times``.

    Masks follow the stage values (Θ(g) at every stage, no sliding modes): first order at
    switches, for cost comparisons only.
    """
    stats = Stats()
    mode_of = (lambda y: Mode.of(switching(y))) if switching is not None else (lambda y: None)
    field_ = lambda t, y: _call(rhs, t, y, mode_of(y))[0]
    y, out = y0, [y0]
    stats.modes.append(mode_of(y0))
    for t0, t1 in zip(times[:-1], times[1:]):
        t0, t1 = float(t0), float(t1)
        steps = max(1, math.ceil((t1 - t0) / settings.dt - 1e-9))
        h = (t1 - t0) / steps
        for s in range(steps):
            y_new = rk4_step(field_, t0 + s * h, y, h)
            if jump is not None:
                y_new = jump(y_new, mode_of(y), mode_of(y_new))
            y = y_new
            stats.accepted += 1
            stats.rhs_evals += 4
        out.append(y)
        stats.modes.append(mode_of(y))
    return torch.stack(out), stats


def integrate(rhs, y0, times, settings: Settings, switching=None, jump=None):
    """Dispatch on ``settings.method``; ``rhs(t, y, mode)`` with ``mode`` a ``Mode`` or None."""
    method = {"dopri5": dopri5, "rk4": rk4}[settings.method]
    return method(rhs, y0, times, settings, switching, jump)


# --- packing lists of (S, ...) tensors into one (S, P) state --------------------------------


class Layout:
    """Packs a list of tensors with a shared leading seed axis into one (S, P) tensor."""

    def __init__(self, tensors):
        self.shapes = [tuple(x.shape[1:]) for x in tensors]
        self.sizes = [math.prod(s) for s in self.shapes]

    def pack(self, tensors):
        """(..., S, P) from tensors (..., S, *shape) (leading axes, e.g. a batch of trial masks, kept)."""
        return torch.cat(
            [x.reshape(*x.shape[: x.dim() - len(s)], -1) for x, s in zip(tensors, self.shapes)], dim=-1
        )

    def unpack(self, y):
        parts = torch.split(y, self.sizes, dim=-1)
        return [p.reshape(*y.shape[:-1], *s) for p, s in zip(parts, self.shapes)]
