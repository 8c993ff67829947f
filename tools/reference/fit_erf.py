#!/usr/bin/env python3
"""Fits the rational erf that chexlens's CPU GELU uses (crates/chexlens-model/src/model/gelu.rs).

    erf(x) ~= x * P(x^2) / Q(x^2) on [0, 4], P of degree 6, Q of degree 4, Q(0) = 1;
    erf is odd, and |erf(x)| rounds to 1 in f32 beyond 4.

Sanathanan-Koerner iterations (least squares on P - erf * Q, weighted by the
previous 1/Q) with Lawson reweighting towards the smallest largest error.
Prints the coefficients and the largest error of their f32 evaluation over
[-6, 6]. Requires numpy and scipy.
"""

import numpy as np
from scipy.special import erf

P_TERMS, Q_TERMS = 7, 4


def fit():
    x = np.linspace(0, 4, 40001)
    t, f = x * x, erf(x)
    columns = [x * t**i for i in range(P_TERMS)] + [-f * t**i for i in range(1, Q_TERMS + 1)]
    a = np.stack(columns, 1)
    q_prev, lawson, best = np.ones_like(x), np.ones_like(x), None
    for iteration in range(60):
        w = lawson / q_prev
        c, *_ = np.linalg.lstsq(a * w[:, None], f * w, rcond=None)
        p, q = c[:P_TERMS], np.concatenate([[1.0], c[P_TERMS:]])
        q_val = np.polyval(q[::-1], t)
        q_prev = np.abs(q_val)
        err = x * np.polyval(p[::-1], t) / q_val - f
        worst = np.abs(err).max()
        if best is None or worst < best[0]:
            best = (worst, p.copy(), q.copy())
        if iteration >= 5:
            lawson = lawson * (np.abs(err) / worst + 1e-3)
            lawson /= lawson.mean()
    return best


def f32_error(p, q):
    xs = np.linspace(-6, 6, 4000001).astype(np.float32)
    xc = np.clip(xs, np.float32(-4), np.float32(4))
    t = xc * xc
    num = np.float32(p[-1])
    for c in p[-2::-1]:
        num = num * t + np.float32(c)
    den = np.float32(q[-1])
    for c in q[-2::-1]:
        den = den * t + np.float32(c)
    return np.abs((xc * num / den).astype(np.float64) - erf(xs.astype(np.float64))).max()


def main():
    worst, p, q = fit()
    print(f"largest error, f64 evaluation on [0, 4]: {worst:.3e}")
    print("P:", ", ".join(f"{v:.9e}" for v in p))
    print("Q:", ", ".join(f"{v:.9e}" for v in q))
    print(f"largest error, f32 evaluation on [-6, 6]: {f32_error(p, q):.3e}")


if __name__ == "__main__":
    main()
