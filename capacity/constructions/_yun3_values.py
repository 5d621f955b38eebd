"""Experimental: the yun3 block with kinks at the largest gaps, layer-2 functions chosen by an LP
over their values at the kinks (see README, 'Known weakness').  Float64 only for now."""

from __future__ import annotations

import math

import numpy as np

from capacity.constructions.yun3 import QUARTER, Block1D


def _kinks(T, A, B, left_pos, right_pos, convention):
    G, H = 4 * B, 2 * B
    ks = [T[0] - (T[0] - left_pos) * QUARTER]
    for j in range(A):
        g0 = j * G
        F = T[g0:g0 + H]
        S = T[g0 + H:g0 + G]
        gf = np.diff(F)
        i = int(np.argmax(gf))
        ks.append((F[i] + F[i + 1]) / 2)
        ks.append((F[-1] + S[0]) / 2)
        last_group = j == A - 1
        if not (last_group and convention == "deep"):
            gs = np.diff(S)
            i = int(np.argmax(gs))
            ks.append((S[i] + S[i + 1]) / 2)
        if not last_group:
            ks.append((S[-1] + T[g0 + G]) / 2)
        elif convention == "deep":
            ks.append(S[-1] + (right_pos - S[-1]) * QUARTER)
    return np.array(ks)


def block_values(T, Y, A, B, left_pos, right_pos, *, convention="plain", mu=1.0):
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, diags, vstack

    G, H = 4 * B, 2 * B
    M, dy = Y.shape
    k = _kinks(T, A, B, left_pos, right_pos, convention)
    K = k.size
    assert K == 4 * A, K
    piece = np.searchsorted(k, T)  # piece index of each point: 0..K
    L = np.diff(k)  # lengths of interior pieces 1..K-1
    # z(t) = (1-lam) V[piece-1] + lam V[piece] for 1 <= piece <= K-1; V[0] for piece 0; V[K-1] + sR (t - k[K-1]) for K
    lam = np.zeros(M)
    inner = (piece >= 1) & (piece <= K - 1)
    lam[inner] = (T[inner] - k[piece[inner] - 1]) / L[piece[inner] - 1]
    nv = K + 1 + K  # V (K), sR, tau (K slope changes)
    rows_i, rows_j, rows_v = [], [], []
    idx = np.arange(M)
    # z coefficients per point (two entries)
    c1j = np.where(piece == 0, 0, np.where(piece == K, K - 1, piece - 1))
    c1v = np.where(piece == 0, 1.0, np.where(piece == K, 1.0, 1 - lam))
    c2j = np.where(piece == K, K, np.minimum(piece, K - 1))
    c2v = np.where(piece == K, T - k[-1], np.where(piece == 0, 0.0, lam))
    Zpts = coo_matrix((np.r_[c1v, c2v], (np.r_[idx, idx], np.r_[c1j, c2j])), shape=(M, nv)).tocsr()
    # slope change at kink i: s_{i+1} - s_i, s_0 = 0, s_i = (V_i - V_{i-1}) / L_{i-1}, s_K = sR
    r, c, v = [], [], []
    for i in range(K):
        # s_{i+1}
        if i + 1 <= K - 1:
            r += [i, i]; c += [i + 1, i]; v += [1 / L[i], -1 / L[i]]
        else:
            r += [i]; c += [K]; v += [1.0]
        if i >= 1:
            r += [i, i]; c += [i, i - 1]; v += [-1 / L[i - 1], 1 / L[i - 1]]
    D = coo_matrix((v, (r, c)), shape=(K, nv)).tocsr()
    w = np.maximum(np.asarray(abs(D).max(axis=1).todense()).ravel(), 1e-300)
    Dn = diags(1.0 / w) @ D
    eye = coo_matrix((-np.ones(K), (np.arange(K), K + 1 + np.arange(K))), shape=(K, nv)).tocsr()
    reach = (T[-1] - k) + 0.05 * (T[-1] - T[0] + 1e-300)
    cost = np.r_[np.zeros(K + 1), w * reach]
    cost = cost / cost.max()
    pos = idx % G
    mu_lp = 1.25 * mu
    W2 = np.zeros((K, 2 * H * dy))
    b2 = np.zeros(2 * H * dy)
    sigma = np.where(np.arange(H) % 2 == 0, 1.0, -1.0)
    failures = 0
    info_sum = 0.0
    for rr in range(dy):
        for n in range(H):
            sg = sigma[n]
            ys = Y[:, rr] * sg
            eq = (pos == n) | (pos == G - 1 - n)
            high = (pos > n) & (pos < G - 1 - n)
            low = ~eq & ~high
            A_ub = vstack([Zpts[np.flatnonzero(low)], -Zpts[np.flatnonzero(high)], Dn + eye, -Dn + eye])
            b_ub = np.r_[np.full(low.sum(), -1 - mu_lp), np.full(high.sum(), -(1 + mu_lp)), np.zeros(2 * K)]
            A_eq = Zpts[np.flatnonzero(eq)]
            b_eq = ys[eq]
            bounds = [(None, None)] * (K + 1) + [(0, None)] * K
            if convention == "deep":
                bounds[0] = (None, -1 - mu_lp)
                bounds[K - 1] = (None, -1 - mu_lp)
                bounds[K] = (0.0, 0.0)
            res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
            if res.status != 0:
                failures += 1
                raise RuntimeError(f"LP failed for neuron {n}: {res.message}")
            V = res.x[:K].copy()
            sR = res.x[K]
            # exact equalities, left to right
            for pi in np.unique(piece[eq]):
                i_pt = np.flatnonzero(eq & (piece == pi))[0]
                tt, yy = T[i_pt], ys[i_pt]
                if 1 <= pi <= K - 1:
                    V[pi] = V[pi - 1] + (yy - V[pi - 1]) * L[pi - 1] / (tt - k[pi - 1])
                elif pi == K:
                    sR = (yy - V[K - 1]) / (tt - k[K - 1])
            s = np.r_[0.0, np.diff(V) / L, sR]
            delta = np.diff(s)  # (K,)
            info_sum = max(info_sum, np.abs(delta).sum())
            col = 2 * (rr * H + n)
            alpha = 1.0 / np.array([2.0 ** math.floor(math.log2(g)) for g in
                                    np.minimum(np.r_[np.inf, L], np.r_[L, np.inf])])
            W2[:, col] = W2[:, col + 1] = sg * delta / alpha
            b2[col] = sg * V[0] + 1
            b2[col + 1] = sg * V[0] - 1
    w3 = np.zeros((2 * H * dy, dy))
    for rr in range(dy):
        for n in range(H):
            col = 2 * (rr * H + n)
            w3[col, rr], w3[col + 1, rr] = 1.0, -1.0
    b3 = np.full(dy, -(H + 1.0) if convention == "plain" else -float(H))
    return Block1D(kink=k, sign=np.ones(K), alpha=alpha, w2=W2, b2=b2, w3=w3, b3=b3,
                   info={"sum_abs_slope_change_max": info_sum, "lp_failures": failures})
