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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    return m.sort_values(["time", "id"], kind="stable").reset_index(drop=True)


def _frame(rows) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=TYPOLOGY_COLUMNS)
    if not len(out):
        return out
    out["_k"] = out["edge_ids"].map(lambda t: t[:1])
    out = out.sort_values(["entity", "start", "_k"], kind="stable").drop(columns="_k")
    return out.reset_index(drop=True)


def _tuple(ids) -> tuple:
    return tuple(sorted({int(i) for i in ids}))


def _fan(e, centre, other, k, window, name, ids=None):
    window = np.int64(duration(window).value)
    nun = e.groupby(centre)[other].nunique()
    rows = []
    for ent in sorted(nun[nun >= k].index):
        if ids is not None and ent not in ids:
            continue
        g = e[e[centre] == ent]
        t = g["time"].to_numpy("datetime64[ns]").view("int64")
        oth = g[other].to_numpy()
        best = None
        for i in range(len(g)):
            j = int(np.searchsorted(t, t[i] + window, side="right"))
            n = len(set(oth[i:j]))
            if n >= k and (best is None or n > best[0]):
                best = (n, i, j)
        if best is None:
            continue
        n, i, j = best
        w = g.iloc[i:j]
        rows.append({"entity": ent, "typology": name, "count": n, "amount": float(w["amount"].sum()),
                     "start": w["time"].iloc[0], "end": w["time"].iloc[-1],
                     "metrics": {"counterparties": sorted(set(w[other])), "transfers": len(w)},
                     "edge_ids": _tuple(w["id"])})
    return _frame(rows)


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
    e = _money(view, kinds, None, since, until, min_amount)
    w = duration(window)
    a = e[["id", "source", "target", "time", "amount"]].rename(columns={"source": "s", "target": "m"})
    b = e[["id", "source", "target", "time"]].rename(columns={"source": "m", "target": "t"})
    deg = a.groupby("s")["m"].nunique()
    a = a[a["s"].isin(deg[deg >= min_intermediates].index)]
    ind = b.groupby("t")["m"].nunique()
    b = b[b["t"].isin(ind[ind >= min_intermediates].index)]
    j = a.merge(b, on="m", suffixes=("_1", "_2"))
    j = j[(j["time_2"] >= j["time_1"]) & (j["time_2"] <= j["time_1"] + w) & (j["s"] != j["t"])
          & (j["m"] != j["s"]) & (j["m"] != j["t"])]
    rows = []
    for (s, t), g in j.groupby(["s", "t"], sort=True):
        mids = sorted(set(g["m"]))
        if len(mids) < min_intermediates:
            continue
        first = g.drop_duplicates("id_1")
        rows.append({"entity": s, "typology": "scatter_gather", "count": len(mids),
                     "amount": float(first["amount"].sum()),
                     "start": g["time_1"].min(), "end": g["time_2"].max(),
                     "metrics": {"target": t, "intermediates": mids},
                     "edge_ids": _tuple(list(g["id_1"]) + list(g["id_2"]))})
    return _frame(rows)


def gather_scatter(view, min_sources: int = 3, min_targets: int = 3, window="72h", min_amount: float = 0.0,
                   kinds=None, since=None, until=None) -> pd.DataFrame:
    """An account collecting from ``min_sources`` payers and paying ``min_targets`` payees within ``window``.

    Windows start at each incoming transfer; the window with the most
    ``min(payers, payees)`` is reported (earliest on ties).
    """
    e = _money(view, kinds, None, since, until, min_amount)
    w = np.int64(duration(window).value)
    ns, nt = e.groupby("target")["source"].nunique(), e.groupby("source")["target"].nunique()
    cand = sorted(set(ns[ns >= min_sources].index) & set(nt[nt >= min_targets].index))
    rows = []
    for m in cand:
        ins, outs = e[e["target"] == m], e[e["source"] == m]
        ti = ins["time"].to_numpy("datetime64[ns]").view("int64")
        to = outs["time"].to_numpy("datetime64[ns]").view("int64")
        best = None
        for i in range(len(ins)):
            j = int(np.searchsorted(ti, ti[i] + w, side="right"))
            lo, hi = int(np.searchsorted(to, ti[i], side="left")), int(np.searchsorted(to, ti[i] + w, side="right"))
            a, b = len(set(ins["source"].iloc[i:j])), len(set(outs["target"].iloc[lo:hi]))
            if a >= min_sources and b >= min_targets and (best is None or min(a, b) > best[0]):
                best = (min(a, b), i, j, lo, hi, a, b)
        if best is None:
            continue
        _, i, j, lo, hi, a, b = best
        wi, wo = ins.iloc[i:j], outs.iloc[lo:hi]
        rows.append({"entity": m, "typology": "gather_scatter", "count": a + b,
                     "amount": float(wi["amount"].sum()),
                     "start": wi["time"].iloc[0], "end": max(wi["time"].iloc[-1], wo["time"].iloc[-1]),
                     "metrics": {"sources": sorted(set(wi["source"])), "targets": sorted(set(wo["target"])),
                                 "amount_out": float(wo["amount"].sum())},
                     "edge_ids": _tuple(list(wi["id"]) + list(wo["id"]))})
    return _frame(rows)


def _strong_nodes(e) -> set:
    """Nodes in a strongly connected component of more than one node."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    codes, names = pd.factorize(pd.concat([e["source"], e["target"]], ignore_index=True), sort=True)
    n, k = len(names), len(e)
    if not k:
        return set()
    g = csr_matrix((np.ones(k), (codes[:k], codes[k:])), shape=(n, n))
    _, lab = connected_components(g, directed=True, connection="strong")
    sizes = np.bincount(lab)
    return set(names[sizes[lab] > 1])


def cycles(view, max_length: int = 4, window="72h", min_amount: float = 0.0, kinds=None,
           since=None, until=None, max_cycles: int = 100_000) -> pd.DataFrame:
    """Time-respecting cycles of at most ``max_length`` transfers through distinct accounts.

    Each transfer of a cycle happens after the previous one (ordered by time,
    then edge id) and within ``window`` of it. Each cycle is reported once, at
    the payer of its earliest transfer (``entity``); ``metrics['path']`` lists
    its accounts in order. Enumeration stops after ``max_cycles``.
    """
    e = _money(view, kinds, None, since, until, min_amount)
    e = e[e["source"] != e["target"]]
    keep = _strong_nodes(e)
    e = e[e["source"].isin(keep) & e["target"].isin(keep)].reset_index(drop=True)
    w = np.int64(duration(window).value)
    t = e["time"].to_numpy("datetime64[ns]").view("int64")
    eid = e["id"].to_numpy()
    src, dst, amt = e["source"].to_numpy(), e["target"].to_numpy(), e["amount"].to_numpy()
    out: dict = {}
    for pos in range(len(e)):  # e is sorted by (time, id)
        out.setdefault(src[pos], []).append(pos)
    rows = []

    def extend(path_nodes, path_edges):
        last = path_edges[-1]
        for nxt in out.get(dst[last], ()):
            if (t[nxt], eid[nxt]) <= (t[last], eid[last]):
                continue
            if t[nxt] > t[last] + w:
                break
            node = dst[nxt]
            if node == path_nodes[0]:
                edges = path_edges + [nxt]
                rows.append({"entity": path_nodes[0], "typology": "cycle", "count": len(edges),
                             "amount": float(amt[edges[0]]), "start": e["time"].iat[edges[0]],
                             "end": e["time"].iat[edges[-1]],
                             "metrics": {"path": list(path_nodes) + [node],
                                         "amounts": [float(amt[x]) for x in edges]},
                             "edge_ids": tuple(int(eid[x]) for x in edges)})
                if len(rows) >= max_cycles:
                    raise StopIteration
            elif node not in path_nodes and len(path_edges) < max_length - 1:
                extend(path_nodes + [node], path_edges + [nxt])

    try:
        for first in range(len(e)):
            extend([src[first], dst[first]], [first])
    except StopIteration:
        pass
    out_df = pd.DataFrame(rows, columns=TYPOLOGY_COLUMNS)
    if len(out_df):  # keep edge order along the cycle; sort rows by entity, start, edges
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
    e = _money(view, kinds, ids, since, until, min_amount)
    dwell = np.int64(duration(max_dwell).value)
    sel = None if ids is None else {view.resolve(i) for i in ids}
    accounts = sorted(set(e["source"]) & set(e["target"]))
    rows = []
    for acc in accounts:
        if sel is not None and acc not in sel:
            continue
        ins, outs = e[e["target"] == acc], e[e["source"] == acc]
        to = outs["time"].to_numpy("datetime64[ns]").view("int64")
        oa = outs["amount"].to_numpy(dtype="float64")
        ob = outs["balance"].to_numpy(dtype="float64")
        oseen = outs["seen_by"].to_numpy()
        used = np.zeros(len(outs), bool)
        events, edge_ids, dwells, total_in, total_out = 0, [], [], 0.0, 0.0
        for r in ins.itertuples():
            a = r.amount
            if not a or np.isnan(a):
                continue
            ti = r.time.value
            lo, hi = int(np.searchsorted(to, ti, side="left")), int(np.searchsorted(to, ti + dwell, side="right"))
            s, taken = 0.0, []
            for k in range(lo, hi):
                if used[k] or np.isnan(oa[k]):
                    continue
                s += oa[k]
                taken.append(k)
                if s >= a * (1 - tolerance):
                    break
            if not taken or s < a * (1 - tolerance) or s > a * (1 + tolerance):
                continue
            last = taken[-1]
            if not np.isnan(ob[last]) and oseen[last] != "target" and ob[last] > max(balance_floor, tolerance * a):
                continue
            used[taken] = True
            events += 1
            total_in += a
            total_out += s
            dwells.append((to[last] - ti) / 60e9)
            edge_ids += [r.id] + list(outs["id"].iloc[taken])
        if events >= min_events:
            ev = e[e["id"].isin(edge_ids)]
            rows.append({"entity": acc, "typology": "pass_through", "count": events, "amount": total_in,
                         "start": ev["time"].min(), "end": ev["time"].max(),
                         "metrics": {"amount_out": total_out, "median_dwell_min": float(np.median(dwells)),
                                     "max_dwell_min": float(np.max(dwells))},
                         "edge_ids": _tuple(edge_ids)})
    return _frame(rows)


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
