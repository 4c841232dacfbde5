"""Money-laundering typologies as parameterised queries over money edges.

Each function takes a :class:`~chaingraph.view.View` first and returns one row
per finding with the columns :data:`TYPOLOGY_COLUMNS`:

``entity``     the account the pattern is about
``typology``   its name (``fan_in``, ``fan_out``, ``scatter_gather``, ``gather_scatter``,
               ``cycle``, ``pass_through``, ``structuring``)
``count``      the main count (counterparties, hops, events, transfers)
``amount``     the money involved
``start``, ``end``  the time span of the evidence
``metrics``    a dict of the other measures
``edge_ids``   sorted tuple of the money edges that show it

Money edges are the schema's ``merge: transfer`` edges (``transfer``,
``cash_out``) unless ``kinds`` says otherwise. A typology is a *pattern*, not an
accusation: a payroll account fans out and a shop fans in; role inference
(:mod:`chaingraph.roles`) asks for chain evidence before it labels anyone.
Rows are sorted by entity, then start, then edge ids.

The windows are found by compiled kernels (:mod:`chaingraph._windows`) in one pass
over the money edges grouped by account, so a typology over a million transfers
takes seconds; ``tests/test_typologies.py`` keeps each typology written the plain
way, a search per row, and checks both give the same tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .exc import InvalidValue
from .links import duration

__all__ = ["fan_in", "fan_out", "scatter_gather", "gather_scatter", "cycles", "pass_through",
           "structuring", "TYPOLOGY_COLUMNS"]

TYPOLOGY_COLUMNS = ["entity", "typology", "count", "amount", "start", "end", "metrics", "edge_ids"]


def _money(view, kinds=None, ids=None, since=None, until=None, min_amount=0.0) -> pd.DataFrame:
    """Money edges (id, source, target, time, amount, balance, seen_by) with a time, sorted by time and id."""
    kinds = list(kinds) if kinds is not None else list(view.schema.money_edges)
    if ids is not None:
        e = view.edges([view.resolve(i) for i in ids], "both", kinds, since, until)
    else:
        e = view.all_edges(kinds)
        if since is not None:
            e = e[e["time"] >= pd.Timestamp(since)]
        if until is not None:
            e = e[e["time"] <= pd.Timestamp(until)]
    cols = {"id": e["id"].astype("int64"), "source": e["source"].astype("str"), "target": e["target"].astype("str"),
            "time": pd.to_datetime(e["time"], utc=True),
            "amount": pd.to_numeric(e["amount"], errors="coerce") if "amount" in e else np.nan,
            "balance": pd.to_numeric(e["balance"], errors="coerce") if "balance" in e else np.nan,
            "seen_by": e["seen_by"].astype("str") if "seen_by" in e else "source"}
    m = pd.DataFrame(cols).dropna(subset=["time"])
    if min_amount:
        m = m[m["amount"].fillna(0) >= min_amount]
    by = np.lexsort((m["id"].to_numpy(), m["time"].to_numpy("datetime64[ns]").view("int64")))  # (stable)
    return m.take(by).reset_index(drop=True)


def _frame(rows, e=None) -> pd.DataFrame:
    """The findings as a table, sorted; ``start`` and ``end`` given in nanoseconds are
    turned into the type of ``e``'s times."""
    out = pd.DataFrame(rows, columns=TYPOLOGY_COLUMNS)
    if not len(out):
        return out
    if e is not None:
        _times(out, e)
    out["_k"] = out["edge_ids"].map(lambda t: t[:1])
    out = out.sort_values(["entity", "start", "_k"], kind="stable").drop(columns="_k")
    return out.reset_index(drop=True)


def _times(out: pd.DataFrame, e: pd.DataFrame) -> None:
    """``start`` and ``end`` of ``out``, given in nanoseconds, in the type of ``e``'s times."""
    for c in ("start", "end"):
        out[c] = pd.Series(out[c].to_numpy("int64").view("datetime64[ns]")).dt.tz_localize("UTC").astype(e["time"].dtype)


def _tuple(ids) -> tuple:
    return tuple(np.unique(np.asarray(ids, dtype="int64")).tolist())


def _codes(e) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The payer's and the payee's account codes of each money edge (codes in name order), and the names."""
    codes, names = pd.factorize(pd.concat([e["source"], e["target"]], ignore_index=True), sort=True)
    k = len(e)
    return codes[:k].astype(np.int64), codes[k:].astype(np.int64), np.asarray(names, dtype=object)


def _groups(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by code, keeping their order within a group: the order, and where
    group ``g`` starts in it (``n + 1`` offsets)."""
    order = np.argsort(codes, kind="stable")
    return order, np.searchsorted(codes[order], np.arange(n + 1)).astype(np.int64)


def _ns(e) -> np.ndarray:
    return e["time"].to_numpy("datetime64[ns]").view("int64")


def _window(value) -> np.int64:
    w = duration(value)
    if w < pd.Timedelta(0):
        raise InvalidValue(f"window {value!r}: must not be negative")
    return np.int64(w.value)


def _fan(e, centre, other, k, window, name, ids=None):
    from ._windows import best_windows

    window = _window(window)
    src, dst, names = _codes(e)
    c, o = (src, dst) if centre == "source" else (dst, src)
    order, starts = _groups(c, len(names))
    t, amt, eid = _ns(e), e["amount"].to_numpy("float64"), e["id"].to_numpy()
    n, first, stop = best_windows(starts, o[order], t[order], window, k, len(names))
    rows = []
    for g in np.flatnonzero(n):
        ent = names[g]
        if ids is not None and ent not in ids:
            continue
        w = order[first[g]:stop[g]]
        rows.append({"entity": ent, "typology": name, "count": int(n[g]), "amount": float(np.nansum(amt[w])),
                     "start": t[w[0]], "end": t[w[-1]],
                     "metrics": {"counterparties": names[np.unique(o[w])].tolist(), "transfers": len(w)},
                     "edge_ids": _tuple(eid[w])})
    return _frame(rows, e)


def fan_in(view, min_counterparties: int = 5, window="24h", min_amount: float = 0.0, kinds=None,
           ids=None, since=None, until=None) -> pd.DataFrame:
    """Accounts receiving from at least ``min_counterparties`` distinct payers within ``window``.

    The window reported is the one with most distinct payers (earliest on ties).
    ``ids`` restricts the accounts examined.
    """
    e = _money(view, kinds, ids, since, until, min_amount)
    sel = None if ids is None else {view.resolve(i) for i in ids}
    return _fan(e, "target", "source", min_counterparties, window, "fan_in", sel)


def fan_out(view, min_counterparties: int = 5, window="24h", min_amount: float = 0.0, kinds=None,
            ids=None, since=None, until=None) -> pd.DataFrame:
    """Accounts paying at least ``min_counterparties`` distinct payees within ``window``."""
    e = _money(view, kinds, ids, since, until, min_amount)
    sel = None if ids is None else {view.resolve(i) for i in ids}
    return _fan(e, "source", "target", min_counterparties, window, "fan_out", sel)


def scatter_gather(view, min_intermediates: int = 3, window="72h", min_amount: float = 0.0, kinds=None,
                   since=None, until=None) -> pd.DataFrame:
    """A payer S splits money over ``min_intermediates`` accounts that each pass it to one payee T.

    A leg S→M at t1 and M→T at t2 count when ``t1 <= t2 <= t1 + window``.
    ``entity`` is S; ``metrics`` names T and the intermediates.
    """
    from ._windows import legs

    e = _money(view, kinds, None, since, until, min_amount)
    w = _window(window)
    src, dst, names = _codes(e)
    n = len(names)
    # payers with enough payees, payees with enough payers (distinct accounts, over all time)
    s_ok = np.bincount(pd.unique(src * n + dst) // n, minlength=n) >= min_intermediates
    t_ok = np.bincount(pd.unique(dst * n + src) // n, minlength=n) >= min_intermediates
    first = np.flatnonzero(s_ok[src])                  # legs S -> M, in time order
    second = np.flatnonzero(t_ok[dst])                 # legs M -> T, grouped by M, in time order
    order, starts = _groups(src[second], n)
    second = second[order]
    t = _ns(e)
    i, j = legs(t[first], dst[first], starts, t[second], w)
    i, j = first[i], second[j]
    s_, m_, t_ = src[i], dst[i], dst[j]
    keep = (s_ != t_) & (m_ != s_) & (m_ != t_)
    i, j, s_, m_, t_ = i[keep], j[keep], s_[keep], m_[keep], t_[keep]
    # sorted by (S, T), then intermediate: each pair's legs are a run, and its distinct
    # intermediates are where the intermediate changes within the run
    pair = s_ * n + t_
    order = np.lexsort((m_, pair))
    i, j, pair, m_ = i[order], j[order], pair[order], m_[order]
    run = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if len(pair) else np.zeros(0, np.int64)
    new_mid = np.r_[True, (pair[1:] != pair[:-1]) | (m_[1:] != m_[:-1])] if len(pair) else np.zeros(0, bool)
    n_mids = np.add.reduceat(new_mid, run) if len(run) else np.zeros(0, np.int64)
    ends = np.append(run[1:], len(pair))
    keep = n_mids >= min_intermediates
    found, bounds = pair[run[keep]], np.column_stack([run[keep], ends[keep]])
    amt, eid = e["amount"].to_numpy("float64"), e["id"].to_numpy()
    rows = []
    for key, (lo, hi) in zip(found, bounds):
        gi, gj = i[lo:hi], j[lo:hi]
        legs_in, mids = np.unique(gi), m_[lo:hi][new_mid[lo:hi]]   # (the run's intermediates, sorted)
        rows.append({"entity": names[key // n], "typology": "scatter_gather", "count": len(mids),
                     "amount": float(np.nansum(amt[legs_in])), "start": t[legs_in[0]], "end": t[gj].max(),
                     "metrics": {"target": names[key % n], "intermediates": names[mids].tolist()},
                     "edge_ids": _tuple(np.concatenate([eid[gi], eid[gj]]))})
    return _frame(rows, e)


def gather_scatter(view, min_sources: int = 3, min_targets: int = 3, window="72h", min_amount: float = 0.0,
                   kinds=None, since=None, until=None) -> pd.DataFrame:
    """An account collecting from ``min_sources`` payers and paying ``min_targets`` payees within ``window``.

    Windows start at each incoming transfer; the window with the most
    ``min(payers, payees)`` is reported (earliest on ties).
    """
    from ._windows import best_gather_scatter

    if min(min_sources, min_targets) < 1:
        raise InvalidValue(f"gather_scatter: min_sources and min_targets must be at least 1, not {min_sources}, {min_targets}")
    e = _money(view, kinds, None, since, until, min_amount)
    w = _window(window)
    src, dst, names = _codes(e)
    n, t = len(names), _ns(e)
    ins, in_starts = _groups(dst, n)
    outs, out_starts = _groups(src, n)
    best = best_gather_scatter(in_starts, src[ins], t[ins], out_starts, dst[outs], t[outs], w,
                               min_sources, min_targets, n)
    amt, eid = e["amount"].to_numpy("float64"), e["id"].to_numpy()
    rows = []
    for g in np.flatnonzero((best[0] >= 0) & (np.diff(out_starts) > 0)):
        _, i, j, lo, hi, a, b = best[:, g]
        wi, wo = ins[i:j], outs[lo:hi]
        rows.append({"entity": names[g], "typology": "gather_scatter", "count": int(a + b),
                     "amount": float(np.nansum(amt[wi])), "start": t[wi[0]], "end": max(t[wi[-1]], t[wo[-1]]),
                     "metrics": {"sources": names[np.unique(src[wi])].tolist(), "targets": names[np.unique(dst[wo])].tolist(),
                                 "amount_out": float(np.nansum(amt[wo]))},
                     "edge_ids": _tuple(np.concatenate([eid[wi], eid[wo]]))})
    return _frame(rows, e)


def _on_cycles(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Which of ``n`` accounts are in a strongly connected component of more than one account
    (the edges ``src -> dst``, as codes)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    if not len(src):
        return np.zeros(n, bool)
    g = csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, lab = connected_components(g, directed=True, connection="strong")
    return np.bincount(lab)[lab] > 1


def cycles(view, max_length: int = 4, window="72h", min_amount: float = 0.0, kinds=None,
           since=None, until=None, max_cycles: int = 100_000) -> pd.DataFrame:
    """Time-respecting cycles of at most ``max_length`` transfers through distinct accounts.

    Each transfer of a cycle happens after the previous one (ordered by time,
    then edge id) and within ``window`` of it. Each cycle is reported once, at
    the payer of its earliest transfer (``entity``); ``metrics['path']`` lists
    its accounts in order. Enumeration stops after ``max_cycles``.
    """
    from ._windows import time_cycles

    e = _money(view, kinds, None, since, until, min_amount)
    w = _window(window)
    src, dst, names = _codes(e)
    keep = src != dst
    on = _on_cycles(src[keep], dst[keep], len(names))
    keep &= on[src] & on[dst]
    e, src, dst = e[keep].reset_index(drop=True), src[keep], dst[keep]
    order, starts = _groups(src, len(names))
    t = _ns(e)
    flat, offsets = time_cycles(src, dst, t, starts, order.astype(np.int64), w, max_length, max_cycles)
    eid, amt = e["id"].to_numpy(), e["amount"].to_numpy("float64")
    rows = []
    for a, b in zip(offsets[:-1], offsets[1:]):
        edges = flat[a:b]
        rows.append({"entity": names[src[edges[0]]], "typology": "cycle", "count": len(edges),
                     "amount": float(amt[edges[0]]), "start": t[edges[0]], "end": t[edges[-1]],
                     "metrics": {"path": [names[src[edges[0]]]] + names[dst[edges]].tolist(),
                                 "amounts": amt[edges].tolist()},
                     "edge_ids": tuple(eid[edges].tolist())})
    out_df = pd.DataFrame(rows, columns=TYPOLOGY_COLUMNS)
    if len(out_df):
        _times(out_df, e)  # keep edge order along the cycle; sort rows by entity, start, edges
        out_df = out_df.sort_values(["entity", "start"], kind="stable").reset_index(drop=True)
    return out_df


def pass_through(view, max_dwell="60min", tolerance: float = 0.1, min_events: int = 1,
                 balance_floor: float = 100.0, min_amount: float = 0.0, kinds=None, ids=None,
                 since=None, until=None) -> pd.DataFrame:
    """Accounts where money goes quickly in and quickly out.

    An *event* is an incoming transfer of amount ``a`` followed, within
    ``max_dwell``, by outgoing transfers (in time order, each used once) whose
    running total first reaches ``a * (1 - tolerance)`` without exceeding
    ``a * (1 + tolerance)``. When the last outgoing transfer shows the payer's
    ``balance`` (statement of the payer, ``seen_by`` not ``"target"``), it must
    be back near zero: at most ``max(balance_floor, tolerance * a)``.
    Accounts with at least ``min_events`` events are reported.
    """
    from ._windows import pass_events

    e = _money(view, kinds, ids, since, until, min_amount)
    dwell = _window(max_dwell)
    sel = None if ids is None else {view.resolve(i) for i in ids}
    src, dst, names = _codes(e)
    n, t = len(names), _ns(e)
    amt, bal = e["amount"].to_numpy("float64"), e["balance"].to_numpy("float64")
    ins, in_starts = _groups(dst, n)
    outs, out_starts = _groups(src, n)
    events, total_in, total_out, ev_group, ev_row, ev_dwell, taken_by = pass_events(
        in_starts, t[ins], amt[ins], out_starts, t[outs], amt[outs], bal[outs],
        (e["seen_by"] == "target").to_numpy()[outs], dwell, float(tolerance), float(balance_floor))
    # the edges of each account's events: its incoming rows and the outgoing rows they took
    taken = np.flatnonzero(taken_by >= 0)
    acc = np.concatenate([ev_group, ev_group[taken_by[taken]]])
    row = np.concatenate([ins[ev_row], outs[taken]])
    by = np.argsort(acc, kind="stable")
    acc, row = acc[by], row[by]
    eid = e["id"].to_numpy()
    rows = []
    for g in np.flatnonzero(events >= max(min_events, 1)):
        if sel is not None and names[g] not in sel:
            continue
        r = row[np.searchsorted(acc, g):np.searchsorted(acc, g, side="right")]
        dw = ev_dwell[np.searchsorted(ev_group, g):np.searchsorted(ev_group, g, side="right")]
        rows.append({"entity": names[g], "typology": "pass_through", "count": int(events[g]), "amount": float(total_in[g]),
                     "start": t[r].min(), "end": t[r].max(),
                     "metrics": {"amount_out": float(total_out[g]), "median_dwell_min": float(np.median(dw)),
                                 "max_dwell_min": float(np.max(dw))},
                     "edge_ids": _tuple(eid[r])})
    return _frame(rows, e)


def structuring(view, thresholds=(50_000, 5_000), margin: float = 0.1, min_count: int = 3, window="30D",
                by: str = "source", kinds=None, since=None, until=None) -> pd.DataFrame:
    """Many amounts just under a reporting threshold.

    For each threshold ``T``, transfers with ``T * (1 - margin) <= amount < T``
    made (``by="source"``) or received (``by="target"``) by one account are cut
    greedily into non-overlapping windows ``[t, t + window]``; windows with at
    least ``min_count`` such transfers are reported (``metrics['threshold']``).
    """
    from .links import _bursts

    if by not in ("source", "target"):
        raise ValueError(f"by: {by!r}: expected 'source' or 'target'")
    e = _money(view, kinds, None, since, until)
    w = np.int64(duration(window).value)
    if isinstance(thresholds, (int, float)):
        thresholds = (thresholds,)
    rows = []
    for thr in thresholds:
        thr = float(thr)
        s = e[(e["amount"] >= thr * (1 - margin)) & (e["amount"] < thr)]
        for ent, g in s.groupby(by, sort=True):
            if len(g) < min_count:
                continue
            t = g["time"].to_numpy("datetime64[ns]").view("int64")
            for i, j in _bursts(t, w, min_count):
                x = g.iloc[i:j]
                rows.append({"entity": ent, "typology": "structuring", "count": len(x),
                             "amount": float(x["amount"].sum()), "start": x["time"].iloc[0],
                             "end": x["time"].iloc[-1],
                             "metrics": {"threshold": thr, "counterparties": sorted(set(x["target" if by == "source" else "source"]))},
                             "edge_ids": _tuple(x["id"])})
    return _frame(rows)
