"""The compiled kernels of :mod:`chaingraph.typologies`: time windows over each account's money.

Each kernel takes the money edges grouped by account: group ``g`` is the rows
``starts[g]:starts[g + 1]``, sorted by (time, edge id) within the group, with
the accounts as integer codes and the times as int64 nanoseconds. One pass over
the rows, with two pointers per window instead of a search per row, so a
typology over a province's transfers takes seconds, not hours. Compiled by
numba on first use (the machine code is cached on disk); imported by the
typologies when they run, so ``import chaingraph`` does not load numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _add(counts, c):
    counts[c] += 1
    return 1 if counts[c] == 1 else 0


@njit(cache=True, nogil=True)
def _drop(counts, c):
    counts[c] -= 1
    return 1 if counts[c] == 0 else 0


@njit(cache=True, nogil=True)
def best_windows(starts, other, t, window, k, n_codes):
    """Per group, the window ``[t_i, t_i + window]`` opened by one of its rows ``i`` with the
    most distinct ``other`` codes, if at least ``k`` (earliest on ties).

    Returns ``(n, i, j)`` per group: the count and the window's rows ``i:j``; ``n`` is 0
    where no window reaches ``k``."""
    n_groups = len(starts) - 1
    best_n = np.zeros(n_groups, np.int64)
    best_i = np.zeros(n_groups, np.int64)
    best_j = np.zeros(n_groups, np.int64)
    counts = np.zeros(n_codes, np.int64)
    for g in range(n_groups):
        a, b = starts[g], starts[g + 1]
        j, d = a, 0
        for i in range(a, b):
            end = t[i] + window
            while j < b and t[j] <= end:
                d += _add(counts, other[j])
                j += 1
            if d >= k and d > best_n[g]:
                best_n[g], best_i[g], best_j[g] = d, i, j
            d -= _drop(counts, other[i])  # (every row added is dropped: counts end at zero)
    return best_n, best_i, best_j


@njit(cache=True, nogil=True)
def legs(t1, via, starts, t2, window):
    """Each first leg ``x`` (time ``t1[x]``, to account ``via[x]``) with each second leg ``y``
    leaving that account (group ``via[x]`` of the rows ``t2``, time-sorted) at
    ``t1[x] <= t2[y] <= t1[x] + window``: the pairs ``(x, y)``, by ``x`` then ``y``."""
    lo = np.empty(len(t1), np.int64)
    hi = np.empty(len(t1), np.int64)
    total = 0
    for x in range(len(t1)):
        b0, b1 = starts[via[x]], starts[via[x] + 1]
        lo[x] = b0 + np.searchsorted(t2[b0:b1], t1[x], side="left")
        hi[x] = b0 + np.searchsorted(t2[b0:b1], t1[x] + window, side="right")
        total += hi[x] - lo[x]
    xs = np.empty(total, np.int64)
    ys = np.empty(total, np.int64)
    k = 0
    for x in range(len(t1)):
        for y in range(lo[x], hi[x]):
            xs[k], ys[k] = x, y
            k += 1
    return xs, ys


@njit(cache=True, nogil=True)
def best_gather_scatter(in_starts, in_other, in_t, out_starts, out_other, out_t, window,
                        min_sources, min_targets, n_codes):
    """Per account (group of its incoming rows and group of its outgoing rows), the window
    opened by an incoming transfer at ``t_i``: its payers are the incoming rows ``i:j`` up to
    ``t_i + window``, its payees the outgoing rows ``lo:hi`` from ``t_i`` to ``t_i + window``.
    The window with the most ``min(payers, payees)`` where both reach their minimum
    (earliest on ties).

    Returns ``(score, i, j, lo, hi, payers, payees)`` per group; ``score`` -1: none."""
    n_groups = len(in_starts) - 1
    out = np.zeros((7, n_groups), np.int64)
    out[0, :] = -1
    c_in = np.zeros(n_codes, np.int64)
    c_out = np.zeros(n_codes, np.int64)
    for g in range(n_groups):
        a0, a1 = in_starts[g], in_starts[g + 1]
        b0, b1 = out_starts[g], out_starts[g + 1]
        j, da = a0, 0
        lo, hi, db = b0, b0, 0
        for i in range(a0, a1):
            ti = in_t[i]
            end = ti + window
            while j < a1 and in_t[j] <= end:
                da += _add(c_in, in_other[j])
                j += 1
            while hi < b1 and out_t[hi] <= end:
                db += _add(c_out, out_other[hi])
                hi += 1
            while lo < hi and out_t[lo] < ti:  # (a row before t_i is before hi: hi passed t_i + window)
                db -= _drop(c_out, out_other[lo])
                lo += 1
            score = min(da, db)
            if da >= min_sources and db >= min_targets and score > out[0, g]:
                out[0, g], out[1, g], out[2, g], out[3, g], out[4, g], out[5, g], out[6, g] = score, i, j, lo, hi, da, db
            da -= _drop(c_in, in_other[i])
        for r in range(lo, hi):
            c_out[out_other[r]] -= 1
    return out


@njit(cache=True, nogil=True)
def pass_events(in_starts, in_t, in_amt, out_starts, out_t, out_amt, out_bal, out_by_payee,
                dwell, tolerance, balance_floor):
    """The pass-through events of each account (see :func:`chaingraph.typologies.pass_through`):
    incoming rows in time order, each matched to the first outgoing rows within ``dwell`` not
    used before, whose running total first reaches ``amount * (1 - tolerance)``.

    Returns per group ``(events, total_in, total_out)``, per event ``(group, incoming row,
    dwell in minutes)`` and per outgoing row taken ``event``  (-1: not taken)."""
    n_groups = len(in_starts) - 1
    events = np.zeros(n_groups, np.int64)
    total_in = np.zeros(n_groups, np.float64)
    total_out = np.zeros(n_groups, np.float64)
    ev_group = np.empty(len(in_t), np.int64)
    ev_row = np.empty(len(in_t), np.int64)
    ev_dwell = np.empty(len(in_t), np.float64)
    taken_by = np.full(len(out_t), -1, np.int64)
    taken = np.empty(len(out_t), np.int64)
    n_ev = 0
    for g in range(n_groups):
        a0, a1 = in_starts[g], in_starts[g + 1]
        b0, b1 = out_starts[g], out_starts[g + 1]
        if b0 == b1:
            continue
        ot = out_t[b0:b1]
        for r in range(a0, a1):
            a = in_amt[r]
            if a == 0 or np.isnan(a):
                continue
            ti = in_t[r]
            lo = b0 + np.searchsorted(ot, ti, side="left")
            hi = b0 + np.searchsorted(ot, ti + dwell, side="right")
            s, n = 0.0, 0
            for k in range(lo, hi):
                if taken_by[k] >= 0 or np.isnan(out_amt[k]):
                    continue
                s += out_amt[k]
                taken[n] = k
                n += 1
                if s >= a * (1 - tolerance):
                    break
            if n == 0 or s < a * (1 - tolerance) or s > a * (1 + tolerance):
                continue
            last = taken[n - 1]
            if not np.isnan(out_bal[last]) and not out_by_payee[last] and out_bal[last] > max(balance_floor, tolerance * a):
                continue
            for x in range(n):
                taken_by[taken[x]] = n_ev
            ev_group[n_ev], ev_row[n_ev], ev_dwell[n_ev] = g, r, (out_t[last] - ti) / 60e9
            n_ev += 1
            events[g] += 1
            total_in[g] += a
            total_out[g] += s
    return events, total_in, total_out, ev_group[:n_ev], ev_row[:n_ev], ev_dwell[:n_ev], taken_by


@njit(cache=True, nogil=True)
def time_cycles(src, dst, t, out_starts, out_rows, window, max_length, max_cycles):
    """Time-respecting cycles through distinct accounts, depth first from each row in turn
    (rows sorted by (time, edge id); ``out_rows[out_starts[u]:out_starts[u + 1]]`` the rows
    leaving ``u``, ascending). A step takes a later row leaving the last account within
    ``window`` of the previous row's time.

    Returns the cycles' rows, flat, and where each cycle starts in them (one more offset
    than cycles)."""
    flat = np.empty(1024, np.int64)
    offsets = [0]
    n_flat = 0
    path_e = np.empty(max(max_length, 1), np.int64)
    path_n = np.empty(max(max_length, 1) + 1, np.int64)
    pos = np.empty(max(max_length, 1), np.int64)
    for first in range(len(src)):
        if len(offsets) - 1 >= max_cycles:
            break
        path_n[0], path_n[1], path_e[0] = src[first], dst[first], first
        u = dst[first]
        pos[0] = out_starts[u] + np.searchsorted(out_rows[out_starts[u]:out_starts[u + 1]], first, side="right")
        depth = 1
        while depth > 0 and len(offsets) - 1 < max_cycles:
            last = path_e[depth - 1]
            u = dst[last]
            p, end = pos[depth - 1], out_starts[u + 1]
            deeper = False
            while p < end:
                nxt = out_rows[p]
                p += 1
                if t[nxt] > t[last] + window:
                    p = end
                    break
                node = dst[nxt]
                if node == path_n[0]:
                    if depth + 1 > max_length:
                        continue
                    if n_flat + depth + 1 > len(flat):
                        grown = np.empty(2 * len(flat) + depth + 1, np.int64)
                        grown[:n_flat] = flat[:n_flat]
                        flat = grown
                    flat[n_flat:n_flat + depth] = path_e[:depth]
                    flat[n_flat + depth] = nxt
                    n_flat += depth + 1
                    offsets.append(n_flat)
                    if len(offsets) - 1 >= max_cycles:
                        break
                    continue
                if depth < max_length - 1:
                    seen = False
                    for x in range(depth + 1):
                        if path_n[x] == node:
                            seen = True
                            break
                    if not seen:
                        pos[depth - 1] = p
                        path_e[depth], path_n[depth + 1] = nxt, node
                        pos[depth] = out_starts[node] + np.searchsorted(
                            out_rows[out_starts[node]:out_starts[node + 1]], nxt, side="right")
                        depth += 1
                        deeper = True
                        break
            if not deeper:
                depth -= 1
    return flat[:n_flat], np.array(offsets, np.int64)
