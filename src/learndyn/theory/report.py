"""Summary of every check (max error, tolerance, pass/fail computed), table and paper macros."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..stats import fit_exponent


def eta_slopes(e4: xr.Dataset) -> dict[int, float]:
    """Log-log slope of the one-step error vs η per depth, over steps without mask switches."""
    out = {}
    for L in e4.depth.values:
        sel = e4.sel(depth=L)
        ok = (sel.switched.max("seed") == 0).values
        out[int(L)] = fit_exponent(sel.eta.values[ok], sel.one_step_error.max("seed").values[ok])[0]
    return out


def truncation_exponents(e5: xr.Dataset, floor: float) -> dict:
    """Fitted exponents p of err(T) ~ m^p per depth and closure (errors below ``floor`` excluded)."""
    out = {}
    last = e5.isel(time=-1)
    for name in ("err_frozen_gamma", "err_ntk"):
        for L in e5.depth.values:
            err = last[name].sel(depth=L).mean("seed").values
            err = np.where(err > floor, err, np.nan)
            out[(name, int(L))] = fit_exponent(e5.width.values, err)[0]
    return out


CHECK_LABELS = {
    "ntk_autodiff": r"$K=\sum_\ell Q^{(\ell-1)}\odot S^{(\ell)}$ vs autodiff eNTK",
    "ntk_gc": r"$K=G\odot C$ ($L=1$)",
    "rate_r_fd": r"$\dot r=-\tfrac1n Kr$ vs finite differences",
    "rate_h_fd": r"$\dot h^{(\ell)}$ (forward recursion) vs finite differences",
    "rate_h_operator": r"$\dot h^{(\ell)}$ via $M^{(\ell;k)}$ vs recursion",
    "rate_b_fd": r"$\dot b^{(\ell)}$ (backward recursion) vs finite differences",
    "rate_b_operator": r"$\dot b^{(\ell)}$ via $\mathcal G^{(\ell;j)}$ vs finite differences",
    "rate_q_fd": r"$\dot Q^{(\ell)}$ via $\mathcal G^{(k;\ell)}$ vs finite differences",
    "rate_gamma_fd": r"$\dot\Gamma^{(\ell)}$ vs finite differences",
    "forward_recursion": r"forward recursion $M^{(\ell;k)}$ vs $J J^\top$",
    "pullback_recursion": r"pullback recursion $\mathcal G^{(\ell;j)}$ vs $J^\top\Pi J$",
    "homogeneity": r"$f=b^{(\ell)}\cdot h^{(\ell)}$, $h^{(k)}=J h^{(\ell)}$",
    "symmetry": r"symmetry of $K,Q,S,C,\Gamma,\mathcal G,M$",
    "psd": r"PSD of $K,Q,S,C,\Gamma_{\nu\kappa},\mathcal G_{\nu\nu}$ ($-\lambda_{\min}$)",
    "balancedness_fd": r"balancedness invariant, $\mathrm{d}/\mathrm{d}t$ by finite differences",
    "gram_norm_matrix_free": r"matrix-free $\|\Gamma-\Gamma_0\|$ vs explicit",
    "gd_gram_step": r"GD: exact $W^\top W$ step",
    "gd_hidden_update": r"GD: exact hidden update (mixed-time overlap)",
    "gd_field_update_L1": r"GD: exact $L=1$ field update",
    "gd_flip_corrected_L1": r"GD: flip-corrected $L=1$ residual recursion",
    "gd_balancedness_drift": r"GD: exact $\eta^2$ balancedness drift",
}


def build_summary(e1: dict, e2: dict, e3: dict, e4: xr.Dataset, e5: xr.Dataset, tol: dict):
    """Rows (experiment, check, data, max error, tolerance, pass); returns (Dataset, DataFrame, macros)."""
    rows = []

    def add(exp, check, data, err, tolerance, kind="max"):
        ok = bool(np.isfinite(err) and (abs(err - 2.0) <= tolerance if kind == "slope" else err <= tolerance))
        rows.append(
            dict(
                experiment=exp,
                check=check,
                data=data,
                value=float(err),
                tolerance=float(tolerance),
                kind=kind,
                passed=ok,
            )
        )

    for task, ds in e1.items():
        slid = int(ds.attrs["field_steps_slides"])
        note = f" ({slid} sliding entries)" if slid else ""
        add(
            "E1",
            "closed (h,r) vs weight-space flow: residual" + note,
            task,
            float(ds.err_r.max()),
            tol["flow"],
        )
        add("E1", "closed h vs forward pass of W(t)", task, float(ds.err_h.max()), tol["flow"])
        add("E1", "evolved r vs readout of evolved h", task, float(ds.err_r_readout.max()), tol["flow"])
        add(
            "E1",
            r"sliding modes: $\dot h=0$ on sliding entries (equivalent control)",
            task,
            max(
                float(ds.attrs["weight_steps_slide_residual"]), float(ds.attrs["field_steps_slide_residual"])
            ),
            tol["identity"],
        )
    for task, ds in e2.items():
        for L in ds.depth.values:
            d = ds.sel(depth=L)
            slid = int(d.slides.sel(space="field"))
            note = f", $L={int(L)}$" + (f" ({slid} sliding entries)" if slid else "")
            add(
                "E2",
                "hybrid closure vs weight-space flow: residual" + note,
                task,
                float(d.err_r.max()),
                tol["flow"],
            )
            add(
                "E2",
                "hybrid $h$, $b$ vs forward/backward pass of $W(t)$" + f", $L={int(L)}$",
                task,
                max(float(d.err_h_forward), float(d.err_b_forward)),
                tol["flow"],
            )
        add(
            "E2",
            r"sliding modes: $\dot h=0$ on sliding entries (equivalent control)",
            task,
            float(ds.slide_residual.max()),
            tol["identity"],
        )
    for task, ds in e3.items():
        for c in ds.check.values:
            err = float(ds.error.sel(check=c).max(skipna=True))
            if np.isfinite(err):
                add("E3", CHECK_LABELS[str(c)], task, err, tol["identity"])
    for c in e4.discrete_check.values:
        err = float(e4.discrete_error.sel(discrete_check=c).max(skipna=True))
        if np.isfinite(err):
            add("E4", CHECK_LABELS[str(c)], e4.attrs["data_task"], err, tol["identity"])
    l1 = e4.one_step_error.sel(depth=1).where(e4.switched.sel(depth=1) == 0)
    add(
        "E4",
        r"$L=1$ one-step residual without switches (exact)",
        e4.attrs["data_task"],
        float(l1.max(skipna=True)),
        tol["identity"],
    )
    slopes = eta_slopes(e4)
    for L, s in slopes.items():
        if L >= 2:
            add(
                "E4",
                rf"one-step residual error $\propto\eta^2$, $L={L}$ (slope)",
                e4.attrs["data_task"],
                s,
                tol["slope"],
                kind="slope",
            )
    gd_slope = {
        int(L): fit_exponent(e4.gd_eta.values, e4.gd_vs_gf_error.sel(depth=L).values)[0]
        for L in e4.depth.values
    }
    floor = float(e5.err_frozen_gamma.sel(depth=1).max(skipna=True)) if 1 in e5.depth.values else 0.0
    expo = truncation_exponents(e5, 10 * floor)

    df = pd.DataFrame(rows)
    summary = xr.Dataset(
        {
            "max_error": (
                ("row",),
                df.value.values,
                {"long_name": "max error (or fitted slope)", "units": "1"},
            ),
            "tolerance": (("row",), df.tolerance.values, {"long_name": "tolerance", "units": "1"}),
            "passed": (
                ("row",),
                df.passed.values.astype(np.int8),
                {"long_name": "check passed (1 = yes)", "units": "1"},
            ),
        },
        coords={
            "row": ("row", np.arange(len(df)), {"long_name": "check index", "units": "1"}),
            "experiment": (
                "row",
                df.experiment.values.astype(str),
                {"long_name": "experiment", "units": "1"},
            ),
            "check": ("row", df.check.values.astype(str), {"long_name": "check", "units": "1"}),
            "data": ("row", df.data.values.astype(str), {"long_name": "data set", "units": "1"}),
        },
    )
    for L, s in slopes.items():
        summary.attrs[f"eta_slope_L{L}"] = s
    for L, s in gd_slope.items():
        summary.attrs[f"gd_vs_gf_slope_L{L}"] = s
    for (name, L), p in expo.items():
        summary.attrs[f"exponent_{name}_L{L}"] = p
    summary.attrs["integration_floor"] = floor

    table = pd.DataFrame(
        {
            "Exp.": df.experiment,
            "Check": df.check,
            "Data": df.data.str.replace("_", r"\_"),
            "Max error": [
                (f"slope {v:.3f}" if k == "slope" else f"{v:.1e}") for v, k in zip(df.value, df.kind)
            ],
            "Tolerance": [
                (f"2 $\\pm$ {t:g}" if k == "slope" else f"{t:.0e}") for t, k in zip(df.tolerance, df.kind)
            ],
            "Pass": np.where(df.passed, "yes", r"\textbf{no}"),
        }
    )

    words = {1: "One", 2: "Two", 3: "Three", 4: "Four"}
    macros = {
        "NumChecks": len(df),
        "NumPassed": int(df.passed.sum()),
        "NumFailed": int((~df.passed).sum()),
        "FlowTol": tol["flow"],
        "IdentityTol": tol["identity"],
        "SlopeTol": tol["slope"],
        "IntegrationFloor": floor,
    }
    for exp in ("E1", "E2", "E3"):
        # E3 macro: the identities of the theory (the matrix-free norm is a tool of E6)
        sel = df[(df.experiment == exp) & (df.check != CHECK_LABELS["gram_norm_matrix_free"])]
        if len(sel):
            macros[f"MaxErr{exp.replace('1', 'One').replace('2', 'Two').replace('3', 'Three')}"] = (
                sel.value.max()
            )
    ds = next(iter(e2.values()))  # the first flow task is the one the text quotes
    for L in ds.depth.values:
        macros[f"ErrTwo{words[int(L)]}"] = float(ds.err_r.sel(depth=L).max())
        macros[f"SlideTwo{words[int(L)]}"] = int(ds.slides.sel(depth=L, space="field"))
    ds = next(iter(e1.values()))
    macros["SlideOne"] = int(ds.attrs["field_steps_slides"])
    macros["EventsOne"] = int(ds.attrs["field_steps_events"])
    macros["WidthOne"] = int(ds.attrs["width"])
    slide_res = [
        float(ds.attrs[f"{sp}_steps_slide_residual"]) for ds in e1.values() for sp in ("weight", "field")
    ]
    slide_res += [float(ds.slide_residual.max()) for ds in e2.values()]
    macros["SlideResidual"] = max(slide_res, default=0.0)
    macros["SlideTol"] = float(e4.attrs["integrator_slide_tol"])
    macros["NumSamples"] = int(e4.sizes["sample"])
    macros["FlowRtol"] = float(e4.attrs["integrator_rtol"])
    disc = df[(df.experiment == "E4") & (df.kind == "max")]
    if len(disc):
        macros["MaxErrDiscrete"] = disc.value.max()
    for L, s in slopes.items():
        macros[f"EtaSlope{words.get(L, str(L))}"] = f"{s:.3f}"
    for L, s in gd_slope.items():
        macros[f"GdSlope{words.get(L, str(L))}"] = f"{s:.2f}"
    for (name, L), p in expo.items():
        key = "Frozen" if name == "err_frozen_gamma" else "Ntk"
        macros[f"Expo{key}{words.get(L, str(L))}"] = f"{p:.2f}" if np.isfinite(p) else r"\text{n/a}"
    last = e5.isel(time=-1).mean("seed")
    for L in e5.depth.values:
        for name, key in (("err_frozen_gamma", "Frozen"), ("err_ntk", "Ntk")):
            v = last[name].sel(depth=L).dropna("width")
            if len(v):
                macros[f"Err{key}{words[int(L)]}MaxWidth"] = float(v.values[-1])
                macros[f"Err{key}{words[int(L)]}MinWidth"] = float(v.values[0])
    macros["TruncMaxWidth"] = int(e5.width.values.max())
    macros["TruncMinWidth"] = int(e5.width.values.min())
    return summary, table, macros
