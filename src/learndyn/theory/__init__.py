"""Closed training-set dynamics of fixed-readout ReLU networks (spec: gram-hierarchy.md).

Modules, in the order of the spec:

* ``fields``     training-set fields h, phi, D, b, Q, S, K, G, C and the gradient (§1-§4)
* ``operators``  forward operators M, pullback operators 𝒢, Gram operators Γ (§5.1-§5.5)
* ``dynamics``   gradient-flow right-hand sides in weight space and field space (§3-§5)
* ``integrate``  Dormand-Prince 5(4) and RK4 integrators shared by both spaces
* ``gd``         exact discrete-time (gradient descent) forms (§4, §5.1, §5.5, §7)
* ``checks``     the identity checks of §8 (experiment ``identities``)
* ``settings``     one settings dataclass per experiment; ``configure`` resolves overrides
* ``experiments``  closed_flow, hybrid_flow, identities, gradient_descent: one job -> one dataset
* ``levels``       which truncation runs exist (no torch; shared with the cost model)
* ``hierarchy``    truncation: the hierarchy level by level, one job per (n, depth), the drift
                   diagnostics, and the smooth-activation control
* ``structured``   the fixed-readout structured network: fields, kernel, gradient, weight flow
* ``structured_closure``  level 0 on the structured net, its linear path and the ReLU net
* ``structured_report``   its exponents, paired verdicts, ledger rows and macros (no torch)
* ``merge``        the depth jobs merged into the truncation and drift datasets (no torch)
* ``report``       the checks (one registered family per experiment), exponents, slopes, macros
* ``figures``      the theory figures

Every tensor is float64 and carries a leading ``seed`` axis (S): networks of several seeds
are integrated in one vectorised call. Shapes use n samples, d inputs, widths m_l.
"""
