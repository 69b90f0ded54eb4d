"""One integrator for weight space and field space (spec §8 check 1; §11 choice 4).

Scheme: Dormand-Prince 5(4) (Hairer, Nørsett & Wanner, Solving ODEs I, §II.5), adaptive,
error per seed measured in the RMS norm err = sqrt(mean((e_i / (atol + rtol max|y_i|))^2))
and one step size shared by all seeds (the worst seed decides). Time is ODE time, not wall
clock. Outputs are produced exactly at the requested times by shortening the step.

Mask crossings. A ReLU unit switching sign makes the right-hand side jump, so the local
order drops to one in the step that contains the switch. The embedded error estimate sees
the jump (it is O(h |jump|)), and the controller shrinks the step until the step meets the
tolerance: this bounds the error from every crossing by the tolerance instead of locating
the event. In a Filippov sliding mode (a unit held at h = 0 from both sides) that would
stall; after such a sliding step (counted as ``forced``) switches are stepped over, masks
following the stage values, for ``slide_window`` of ODE time (first order there).

``rk4`` (fixed step, the textbook k1..k4) is the reference scheme for the cost benchmark.
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


@dataclass
class Settings:
    """Integrator settings stored with every dataset (so a run can be recomputed)."""

    method: str = "dopri5"
    rtol: float = 1e-10
    atol: float = 1e-12
    events: bool = True  # locate every mask switch (event-driven) instead of stepping over it
    h_min: float = 1e-9  # a switch closer than this to the step start counts as sliding (forced)
    slide_window: float = 0.05  # ODE time without event location after a sliding mode is met
    h_floor: float = 1e-3  # without event location (sliding window or events off) shorter steps are accepted
    bisect: int = 24  # bisection iterations when locating a switch inside a step
    max_steps: int = 200000
    dt: float = 0.01  # rk4 only

    def attrs(self, prefix: str = "integrator_") -> dict:
        return {prefix + k: (int(v) if isinstance(v, bool) else v) for k, v in self.__dict__.items()}


@dataclass
class Stats:
    accepted: int = 0
    rejected: int = 0
    events: int = 0
    forced: int = 0
    rhs_evals: int = 0
    extra: dict = field(default_factory=dict)

    def attrs(self, prefix: str = "steps_") -> dict:
        return {prefix + k: v for k, v in self.__dict__.items() if k != "extra"} | \
            {prefix + k: v for k, v in self.extra.items()}


def _rms_error(err, y0, y1, rtol, atol):
    scale = atol + rtol * torch.maximum(y0.abs(), y1.abs())
    return torch.sqrt(torch.mean((err / scale) ** 2, dim=-1)).max().item()


def hermite(y0, y1, f0, f1, h, theta):
    """Cubic Hermite interpolant on a step (third order), used to locate switches."""
    t2, t3 = theta ** 2, theta ** 3
    return ((2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + theta) * h * f0
            + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * h * f1)


def _dopri_step(rhs, t, y, h, k1, masks):
    k = [k1]
    for i in range(1, 7):
        yi = y + h * sum(A[i][j] * k[j] for j in range(i) if A[i][j] != 0.0)
        k.append(rhs(t + C[i] * h, yi, masks))
    return yi, k


def dopri5(rhs, y0, times, settings: Settings, post_step=None, switching=None):
    """Integrate y' = rhs(t, y, masks) for y (S, P); return (Y (T, S, P) at ``times``, Stats).

    ``switching(y) -> g (S, Q)`` gives the switching functions (pre-activations); masks are
    Θ(g). With ``settings.events`` the masks are held fixed inside a step, so the field is
    smooth there, and a step in which some g changes sign is cut back to just after the
    earliest switch (bisection on the Hermite interpolant): each switch is crossed at its
    own time, up to 2^-bisect of a step. Without events the masks follow the stage values.
    ``post_step(y_old, y_new) -> y_new`` may reset the state after an accepted step (jumps).
    """
    times = [float(t) for t in times]
    stats = Stats()
    events = settings.events and switching is not None
    live = (lambda y: (switching(y) > 0)) if switching is not None else (lambda y: None)
    field_live = lambda t, y, masks: rhs(t, y, live(y))  # noqa: E731
    field_ = rhs if events else field_live
    events_off_until = -math.inf
    t, y = times[0], y0
    masks = live(y)
    out = [y0]
    k1 = field_(t, y, masks)
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
            locate = events and t >= events_off_until
            if events and not locate and t + step >= events_off_until:
                step = max(events_off_until - t, settings.h_min)  # end the sliding window exactly
            y_new, k = _dopri_step(field_ if locate else field_live, t, y, step, k1, masks)
            stats.rhs_evals += 6
            err = _rms_error(step * sum(E[j] * k[j] for j in range(7) if E[j] != 0.0), y, y_new,
                             settings.rtol, settings.atol)
            floor = settings.h_min if locate else settings.h_floor
            if err > 1.0 and step >= floor:
                stats.rejected += 1
                h = step * min(5.0, max(0.2, 0.9 * err ** -0.2))
                continue
            factor = min(5.0, max(0.2, 0.9 * max(err, 1e-10) ** -0.2))
            if err > 1.0:
                stats.forced += 1
                factor = 2.0
            if locate and torch.any(live(y_new) != masks):
                # locate the earliest switch: smallest theta with some mask mismatch
                lo, hi = 0.0, 1.0
                for _ in range(settings.bisect):
                    mid = 0.5 * (lo + hi)
                    if torch.any(live(hermite(y, y_new, k[0], k[6], step, mid)) != masks):
                        hi = mid
                    else:
                        lo = mid
                if hi * step >= settings.h_min:
                    if hi < 1.0:
                        step = hi * step
                        y_new, k = _dopri_step(field_, t, y, step, k1, masks)
                        stats.rhs_evals += 6
                else:
                    # Filippov sliding (a unit pushed onto h = 0 from both sides): there is no
                    # switch to stop at. Step on with masks following the stages (first order)
                    # for a window of ODE time, then resume locating switches.
                    events_off_until = t + settings.slide_window
                    step = min(step, settings.slide_window)
                    y_new, k = _dopri_step(field_live, t, y, step, field_live(t, y, None), masks)
                    stats.rhs_evals += 7
                    stats.forced += 1
                stats.events += 1
            stats.accepted += 1
            t += step
            new_masks = live(y_new)
            jumped = False
            if post_step is not None:
                y_jump = post_step(y, y_new, masks, new_masks)
                jumped, y_new = y_jump is not y_new, y_jump
            if jumped or (events and not torch.equal(new_masks, masks)):
                k[6] = (field_ if t >= events_off_until else field_live)(t, y_new, new_masks)
                stats.rhs_evals += 1
            masks = new_masks
            y, k1 = y_new, k[6]
            h = step * factor
        out.append(y)
    return torch.stack(out), stats


def rk4_step(rhs, t, y, h):
    """Classical Runge-Kutta step."""
    k1 = rhs(t, y)
    k2 = rhs(t + h / 2, y + h / 2 * k1)
    k3 = rhs(t + h / 2, y + h / 2 * k2)
    k4 = rhs(t + h, y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def rk4(rhs, y0, times, settings: Settings, post_step=None, switching=None):
    """Fixed-step RK4 with step <= ``settings.dt``, landing exactly on ``times`` (masks follow the stages)."""
    stats = Stats()
    live = (lambda y: (switching(y) > 0)) if switching is not None else (lambda y: None)
    field_ = rhs
    rhs = lambda t, y: field_(t, y, live(y))  # noqa: E731
    y, out = y0, [y0]
    for t0, t1 in zip(times[:-1], times[1:]):
        t0, t1 = float(t0), float(t1)
        steps = max(1, math.ceil((t1 - t0) / settings.dt - 1e-9))
        h = (t1 - t0) / steps
        for s in range(steps):
            y_new = rk4_step(rhs, t0 + s * h, y, h)
            y = post_step(y, y_new, live(y), live(y_new)) if post_step is not None else y_new
            stats.accepted += 1
            stats.rhs_evals += 4
        out.append(y)
    return torch.stack(out), stats


def integrate(rhs, y0, times, settings: Settings, post_step=None, switching=None):
    """Dispatch on ``settings.method``; ``rhs(t, y, masks)`` with masks Θ(switching(y)) or frozen."""
    method = {"dopri5": dopri5, "rk4": rk4}[settings.method]
    return method(rhs, y0, times, settings, post_step, switching)


# --- packing lists of (S, ...) tensors into one (S, P) state --------------------------------

class Layout:
    """Packs a list of tensors with a shared leading seed axis into one (S, P) tensor."""

    def __init__(self, tensors):
        self.shapes = [tuple(x.shape[1:]) for x in tensors]
        self.sizes = [math.prod(s) for s in self.shapes]

    def pack(self, tensors):
        return torch.cat([x.reshape(x.shape[0], -1) for x in tensors], dim=-1)

    def unpack(self, y):
        parts = torch.split(y, self.sizes, dim=-1)
        return [p.reshape(*y.shape[:-1], *s) for p, s in zip(parts, self.shapes)]
