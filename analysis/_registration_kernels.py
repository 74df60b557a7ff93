"""Compiled kernels and small helpers of :mod:`analysis.registration` (see its docstring for the
algorithm and conventions). Each kernel is checked against a numpy reference in the tests."""
from __future__ import annotations

import numba
import numpy as np

@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _prepare_kernel(image, bin_factor, wy, wx, scratch, out):  # pragma: no cover - compiled
    """Bin ``image``, subtract the window-weighted mean, multiply by the window → ``out``.

    ``bin_factor`` 1: copy. 2: separable [1, 3, 3, 1]/8 taps at stride 2 (a 2×2 box convolved
    with a [1, 1]/2 box; same centre as 2×2 binning) — a better anti-alias than plain binning,
    measured 25 % lower RMS error without noise. Other factors: plain b×b sum. ``scratch`` is a
    float32 buffer of shape (image rows, out columns).
    """
    ny, nx = out.shape
    wxf = wx.astype(np.float32)
    if bin_factor == 2:
        sy_, sx_ = image.shape
        for y in range(sy_):
            src = image[y]
            dst = scratch[y]
            # interior without clamping so the loop vectorises; the two ends clamp
            for i in range(1, nx - 1):
                x0 = 2 * i
                dst[i] = (np.float32(src[x0 - 1]) + np.float32(3) * np.float32(src[x0])
                          + np.float32(3) * np.float32(src[x0 + 1]) + np.float32(src[x0 + 2]))
            for i in (0, nx - 1):
                x0 = 2 * i
                xm = max(x0 - 1, 0)
                xp = min(x0 + 2, sx_ - 1)
                dst[i] = (np.float32(src[xm]) + np.float32(3) * np.float32(src[x0])
                          + np.float32(3) * np.float32(src[x0 + 1]) + np.float32(src[xp]))
        for j in range(ny):
            y0 = 2 * j
            ym = max(y0 - 1, 0)
            yp = min(y0 + 2, sy_ - 1)
            a, b_, c, d = scratch[ym], scratch[y0], scratch[y0 + 1], scratch[yp]
            o = out[j]
            for i in range(nx):
                o[i] = (a[i] + np.float32(3) * (b_[i] + c[i]) + d[i]) * np.float32(0.25)
    else:
        for j in range(ny):
            for i in range(nx):
                acc = 0.0
                for bj in range(bin_factor):
                    for bi in range(bin_factor):
                        acc += image[j * bin_factor + bj, i * bin_factor + bi]
                out[j, i] = acc
    swv = 0.0
    for j in range(ny):
        o = out[j]
        rs = 0.0
        for i in range(nx):
            rs += wx[i] * o[i]
        swv += wy[j] * rs
    mean = np.float32(swv / (wy.sum() * wx.sum()))
    for j in range(ny):
        o = out[j]
        wj = np.float32(wy[j])
        for i in range(nx):
            o[i] = (o[i] - mean) * (wj * wxf[i])


def _prepare_reference(image: np.ndarray, bin_factor: int, wy: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """Plain numpy reference of :func:`_prepare_kernel` (used by the tests)."""
    ny, nx = len(wy), len(wx)
    image = np.asarray(image, np.float64)
    if bin_factor == 2:
        p = np.pad(image, 1, mode="edge")
        taps = np.array([1.0, 3.0, 3.0, 1.0])
        h = sum(t * p[:, k:k + 2 * nx:2] for k, t in enumerate(taps))  # x: pixels 2i-1..2i+2
        b = sum(t * h[k:k + 2 * ny:2, :] for k, t in enumerate(taps)) / 4
    else:
        b = image[: ny * bin_factor, : nx * bin_factor]
        b = b.reshape(ny, bin_factor, nx, bin_factor).sum(axis=(1, 3))
    w = np.outer(wy, wx)
    return ((b - (w * b).sum() / w.sum()) * w).astype(np.float32)


def tukey_window(n: int, alpha: float) -> np.ndarray:
    """1-D Tukey (tapered cosine) window; ``alpha`` = tapered fraction (0: box, 1: Hann)."""
    if alpha <= 0:
        return np.ones(n)
    x = (np.arange(n) + 0.5) / n
    w = np.ones(n)
    edge = alpha / 2
    lo = x < edge
    hi = x > 1 - edge
    w[lo] = 0.5 * (1 - np.cos(np.pi * x[lo] / edge))
    w[hi] = 0.5 * (1 - np.cos(np.pi * (1 - x[hi]) / edge))
    return w


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _coarse_kernel(R, I, ky, kx, weight, small, xs):  # pragma: no cover - compiled
    """Low-passed cross-power of the coarse band, twice: into ``small`` (coarse-grid layout for
    an inverse real FFT, ``weight`` already halved for kx > 0) and into ``xs`` (re, im; band
    rows 0..ky, -ky..-1; Hermitian weight 2 for kx > 0) for a first Newton refinement."""
    n = R.shape[0]
    m = small.shape[0]
    for r in range(2 * ky + 1):
        src = r if r <= ky else n - (2 * ky + 1 - r)
        dst = r if r <= ky else m - (2 * ky + 1 - r)
        for c in range(kx + 1):
            a = R[src, c]
            b = I[src, c]
            w = weight[r, c]
            xr = (a.real * b.real + a.imag * b.imag) * w
            xi = (a.real * b.imag - a.imag * b.real) * w
            small[dst, c] = xr + 1j * xi
            h = 2.0 if c > 0 else 1.0
            xs[0, r, c] = xr * h
            xs[1, r, c] = xi * h


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _cross_kernel(R, I, ky, kx, ridx, C, P):  # pragma: no cover - compiled
    """Raw cross-power ``conj(R)·I`` on the band → C (re, im); ring sums of (|R|²+|I|²)/2 → P."""
    n = R.shape[0]
    P[:] = 0.0
    for r in range(2 * ky + 1):
        src = r if r <= ky else n - (2 * ky + 1 - r)
        k0 = ridx[r, 0]
        acc = 0.0
        for c in range(kx + 1):
            ar = np.float64(R[src, c].real)
            ai = np.float64(R[src, c].imag)
            br = np.float64(I[src, c].real)
            bi = np.float64(I[src, c].imag)
            C[0, r, c] = ar * br + ai * bi
            C[1, r, c] = ar * bi - ai * br
            k = ridx[r, c]
            if k != k0:  # runs of one ring along a row: flush only when the ring changes
                P[k0] += acc
                acc = 0.0
                k0 = k
            acc += 0.5 * (ar * ar + ai * ai + br * br + bi * bi)
        P[k0] += acc


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _ml_kernel(C, P, uy, ux, ry, rx, ridx, rcount, hp, X):  # pragma: no cover - compiled
    """Maximum-likelihood (Knapp & Carter) weighting of the cross-power C → X.

    With the shift estimate (ry, rx) the phase-compensated cross-power averages, per frequency
    ring, to the specimen power S (noise does not correlate between the two frames), while
    (|R|² + |I|²)/2 (ring sums ``P``) averages to S + N. Each coefficient is weighted by
    S / (N (N + 2 S)): plain correlation where noise dominates, phase correlation where the
    signal does.
    """
    ny = C.shape[1]
    nx = C.shape[2]
    nb = rcount.shape[0]
    S = np.zeros(nb)
    cxs = np.cos(ux * rx)
    sxs = np.sin(ux * rx)
    for r in range(ny):
        cy_ = np.cos(uy[r] * ry)
        sy_ = np.sin(uy[r] * ry)
        k0 = ridx[r, 0]
        acc = 0.0
        for c in range(nx):
            er = cy_ * cxs[c] - sy_ * sxs[c]
            ei = sy_ * cxs[c] + cy_ * sxs[c]
            k = ridx[r, c]
            if k != k0:
                S[k0] += acc
                acc = 0.0
                k0 = k
            acc += C[0, r, c] * er - C[1, r, c] * ei
        S[k0] += acc
    pmax = 0.0
    for k in range(nb):
        pmax = max(pmax, P[k] / rcount[k])
    W = np.zeros(nb)
    if pmax > 0:  # else: blank images, nothing to weight
        for k in range(nb):
            sk = max(S[k] / rcount[k], 0.0)
            N = max(P[k] / rcount[k] - sk, 1e-12 * pmax)
            W[k] = sk / (N * (N + 2.0 * sk))
    for r in range(ny):
        for c in range(nx):
            w = W[ridx[r, c]] * hp[r, c]
            X[0, r, c] = C[0, r, c] * w
            X[1, r, c] = C[1, r, c] * w


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _newton_kernel(X, uy, ux, lnEy, lnEx, ry, rx, max_step, n_iter):  # pragma: no cover
    """Maximise ln c(r) − ln E(r), c(r) = Re Σ X exp(i u·r); returns (ry, rx, c).

    ``X`` = (re, im) of the weighted half-spectrum (Hermitian weights included), ``u`` angular
    frequencies per binned pixel; ``lnE`` tabulated on integer lags, interpolated locally.
    """
    ny = X.shape[1]
    nx = X.shape[2]
    oy = (lnEy.shape[0] - 1) // 2
    ox = (lnEx.shape[0] - 1) // 2
    c = 0.0
    for _ in range(n_iter):
        cxs = np.cos(ux * rx)
        sxs = np.sin(ux * rx)
        t00 = t01 = t02 = t10 = t11 = t20 = 0.0
        for r in range(ny):
            a0r = a0i = a1r = a1i = a2r = a2i = 0.0
            for q in range(nx):
                vr = X[0, r, q] * cxs[q] - X[1, r, q] * sxs[q]
                vi = X[0, r, q] * sxs[q] + X[1, r, q] * cxs[q]
                a0r += vr
                a0i += vi
                u = ux[q]
                a1r += vr * u
                a1i += vi * u
                a2r += vr * u * u
                a2i += vi * u * u
            er = np.cos(uy[r] * ry)
            ei = np.sin(uy[r] * ry)
            p0r = er * a0r - ei * a0i
            p0i = er * a0i + ei * a0r
            p1r = er * a1r - ei * a1i
            p1i = er * a1i + ei * a1r
            p2r = er * a2r - ei * a2i
            u = uy[r]
            t00 += p0r
            t01 -= p1i
            t02 -= p2r
            t10 -= u * p0i
            t20 -= u * u * p0r
            t11 -= u * p1r
        c = t00
        if c <= 0:
            break
        gy = t10 / c
        gx = t01 / c
        hyy = t20 / c - gy * gy
        hxx = t02 / c - gx * gx
        hxy = t11 / c - gy * gx
        # ln E(r): local quadratic through the three nearest integer lags
        for axis in range(2):
            L = lnEy if axis == 0 else lnEx
            o = oy if axis == 0 else ox
            r0 = ry if axis == 0 else rx
            k = int(np.floor(r0 + 0.5))
            k = min(max(k, -o + 1), o - 1)
            d2 = L[k + 1 + o] - 2 * L[k + o] + L[k - 1 + o]
            d1 = 0.5 * (L[k + 1 + o] - L[k - 1 + o]) + (r0 - k) * d2
            if axis == 0:
                gy -= d1
                hyy -= d2
            else:
                gx -= d1
                hxx -= d2
        det = hyy * hxx - hxy * hxy
        if not (hyy < 0 and det > 0):
            break  # outside the concave cap of the peak: keep the current estimate
        sty = -(hxx * gy - hxy * gx) / det
        stx = -(hyy * gx - hxy * gy) / det
        norm = np.sqrt(sty * sty + stx * stx)
        if norm > max_step:
            sty *= max_step / norm
            stx *= max_step / norm
        ry += sty
        rx += stx
        if norm < 1e-3:
            break
    return ry, rx, c


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _periodic_kernel(P, rcount, G, k_lo, k_cut, ratio):  # pragma: no cover - compiled
    """True if the specimen's relative power (ring power / noise − 1) somewhere beyond ring
    ``k_cut`` exceeds ``ratio`` × its maximum within rings ``k_lo``..``k_cut``: a lattice
    reflection the fast low-passed search would miss. The noise level is the lowest
    power/noise-shape ratio among the outer half of the rings."""
    nb = P.shape[0]
    n0 = np.inf
    for k in range(nb // 2, nb):
        if rcount[k] >= 8:
            n0 = min(n0, P[k] / (rcount[k] * G[k]))
    if not (n0 > 0 and n0 < np.inf):
        return False
    s_in = 0.0
    s_out = 0.0
    for k in range(k_lo, nb):
        s = P[k] / (rcount[k] * G[k] * n0) - 1.0
        if k <= k_cut:
            s_in = max(s_in, s)
        else:
            s_out = max(s_out, s)
    return s_out > ratio * s_in


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _peak_kernel(cmap, masked, gy, gx, py, px, r2, ny, nx):  # pragma: no cover - compiled
    """Maximum of ``cmap`` (optionally only cells within sqrt(r2) px of (py, px), distances
    wrapped modulo (ny, nx)); returns (j, i, quality, parabolic vertex offsets oy, ox)."""
    h, w = cmap.shape
    best = -np.inf
    bj = 0
    bi = 0
    s1 = 0.0
    s2 = 0.0
    for j in range(h):
        dy = (gy[j] - py + ny / 2) % ny - ny / 2
        for i in range(w):
            v = cmap[j, i]
            s1 += v
            s2 += v * v
            if masked:
                dx = (gx[i] - px + nx / 2) % nx - nx / 2
                if dy * dy + dx * dx > r2:
                    continue
            if v > best:
                best = v
                bj = j
                bi = i
    n = h * w
    mean = s1 / n
    var = s2 / n - mean * mean
    q = (best - mean) / np.sqrt(var) if var > 0 else 0.0
    oy = _parabola(cmap[(bj - 1) % h, bi], best, cmap[(bj + 1) % h, bi])
    ox = _parabola(cmap[bj, (bi - 1) % w], best, cmap[bj, (bi + 1) % w])
    return bj, bi, q, oy, ox


@numba.njit(cache=True)
def _parabola(a, b, c):  # pragma: no cover - compiled
    """Vertex offset of the parabola through (-1, a), (0, b), (1, c), clipped to ±0.5."""
    den = a - 2 * b + c
    if den >= 0:
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (a - c) / den))
