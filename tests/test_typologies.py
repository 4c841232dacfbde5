"""Each typology on a small hand-built money graph, with exact answers."""

import pandas as pd
import pytest

from chaingraph.typologies import (cycles, fan_in, fan_out, gather_scatter, pass_through, scatter_gather,
                                   structuring)
from chaingraph.view import MemoryView

T0 = pd.Timestamp("2024-03-01 08:00", tz="UTC")
H = pd.Timedelta(hours=1)
M = pd.Timedelta(minutes=1)


def money_view():
    tx = []  # (id, source, target, time, amount, balance)

    def t(i, s, d, when, amount, balance=float("nan")):
        tx.append((i, f"bank_account:{s}", f"bank_account:{d}", T0 + when, float(amount), balance))

    for i in range(5):                      # fan-in: five payers into H1 within 5 hours
        t(100 + i, f"A{i}", "H1", i * H, 1000)
    for i in range(6):                      # shop: six payers over six days (no 24h fan-in)
        t(110 + i, f"B{i}", "SHOP", i * 24 * H, 50)
    for i in range(6):                      # payroll fans out to six
        t(120 + i, "PAY", f"E{i}", 10 * M, 8000)
    for i in range(3):                      # scatter-gather S1 -> M0..M2 -> T1
        t(130 + i, "S1", f"M{i}", 0 * H, 3000)
        t(140 + i, f"M{i}", "T1", 1 * H + i * M, 2990)
    for i in range(3):                      # gather-scatter at G
        t(150 + i, f"X{i}", "G", i * H, 2000)
        t(160 + i, "G", f"Y{i}", (3 + i) * H, 1900)
    t(170, "C1", "C2", 1 * H, 500)          # time-respecting cycle C1 -> C2 -> C3 -> C1
    t(171, "C2", "C3", 2 * H, 490)
    t(172, "C3", "C1", 3 * H, 480)
    t(180, "D1", "D2", 5 * H, 500)          # a loop in the wrong time order: no cycle
    t(181, "D2", "D3", 3 * H, 500)
    t(182, "D3", "D1", 6 * H, 500)
    t(190, "V1", "PT", 0 * H, 10_000)       # pass-through PT: in, two outs within 20 minutes, balance 50
    t(191, "PT", "W1", 10 * M, 6000, 4050)
    t(192, "PT", "W2", 20 * M, 3950, 50)
    t(193, "V2", "SLOW", 0 * H, 10_000)     # out after 3 hours: not quick
    t(194, "SLOW", "W3", 3 * H, 9900, 100)
    t(195, "V3", "KEEP", 0 * H, 10_000)     # out quickly but the balance stays high
    t(196, "KEEP", "W4", 5 * M, 9950, 20_000)
    for i, a in enumerate([4900, 4800, 4950]):  # structuring just under 5,000 within five days
        t(200 + i, "Q", f"R{i}", i * 48 * H, a)
    t(203, "Q", "R9", 10 * H, 4000)          # not within the 10 % margin
    e = pd.DataFrame(tx, columns=["id", "source", "target", "time", "amount", "balance"])
    e["kind"], e["seen_by"] = "transfer", "source"
    ids = sorted(set(e["source"]) | set(e["target"]))
    n = pd.DataFrame({"id": ids, "kind": "bank_account", "key": [i.partition(":")[2] for i in ids]})
    return MemoryView(n, e)


def ents(df):
    return list(df["entity"])


def test_fan_in():
    r = fan_in(money_view(), min_counterparties=5, window="24h")
    assert ents(r) == ["bank_account:H1"]
    assert r.iloc[0]["count"] == 5 and r.iloc[0]["edge_ids"] == (100, 101, 102, 103, 104)
    assert r.iloc[0]["amount"] == 5000
    # the shop's six payers only count over a week
    assert ents(fan_in(money_view(), min_counterparties=6, window="7D")) == ["bank_account:SHOP"]


def test_fan_out():
    r = fan_out(money_view(), min_counterparties=5, window="1h")
    assert ents(r) == ["bank_account:PAY"]
    assert r.iloc[0]["count"] == 6


def test_scatter_gather():
    r = scatter_gather(money_view(), min_intermediates=3, window="2h")
    assert ents(r) == ["bank_account:S1"]
    row = r.iloc[0]
    assert row["metrics"]["target"] == "bank_account:T1"
    assert row["metrics"]["intermediates"] == ["bank_account:M0", "bank_account:M1", "bank_account:M2"]
    assert row["edge_ids"] == (130, 131, 132, 140, 141, 142)
    assert scatter_gather(money_view(), min_intermediates=3, window="30min").empty


def test_gather_scatter():
    r = gather_scatter(money_view(), min_sources=3, min_targets=3, window="6h")
    assert ents(r) == ["bank_account:G"]
    assert r.iloc[0]["edge_ids"] == (150, 151, 152, 160, 161, 162)
    assert gather_scatter(money_view(), window="4h").empty


def test_bad_windows_and_minimums_are_clear_errors():
    from chaingraph.exc import InvalidValue

    with pytest.raises(InvalidValue, match="negative"):
        fan_in(money_view(), window="-1h")
    with pytest.raises(InvalidValue, match="at least 1"):
        gather_scatter(money_view(), min_targets=0)


def test_cycles_time_respecting():
    r = cycles(money_view(), max_length=4, window="72h")
    assert ents(r) == ["bank_account:C1"]
    row = r.iloc[0]
    assert row["edge_ids"] == (170, 171, 172)
    assert row["metrics"]["path"] == ["bank_account:C1", "bank_account:C2", "bank_account:C3", "bank_account:C1"]
    assert cycles(money_view(), max_length=2).empty
    assert cycles(money_view(), window="30min").empty


def test_pass_through():
    r = pass_through(money_view(), max_dwell="30min", tolerance=0.05)
    assert ents(r) == ["bank_account:PT"]
    row = r.iloc[0]
    assert row["count"] == 1 and row["edge_ids"] == (190, 191, 192)
    assert row["metrics"]["max_dwell_min"] == pytest.approx(20)
    # with a 4-hour dwell the slow account qualifies (so do the legs of the cycle and the
    # scatter-gather); the one keeping a high balance never does
    slow = ents(pass_through(money_view(), max_dwell="4h", tolerance=0.05))
    assert "bank_account:SLOW" in slow and "bank_account:KEEP" not in slow
    assert ents(pass_through(money_view(), max_dwell="60min", tolerance=0.05)) == [
        "bank_account:C2", "bank_account:C3", "bank_account:G", "bank_account:M0", "bank_account:PT"]


def test_structuring():
    r = structuring(money_view(), thresholds=(50_000, 5_000), margin=0.1, min_count=3, window="7D")
    assert ents(r) == ["bank_account:Q"]
    assert r.iloc[0]["edge_ids"] == (200, 201, 202)
    assert r.iloc[0]["metrics"]["threshold"] == 5000
    assert structuring(money_view(), window="2D").empty


def test_restrict_to_ids():
    r = fan_in(money_view(), min_counterparties=5, window="7D", ids=["bank_account:SHOP"])
    assert ents(r) == ["bank_account:SHOP"]


# -- the compiled windows against the definitions, on random money graphs --------------------
# The typologies run compiled kernels over rows grouped by account (chaingraph._windows). Below
# is each typology written the plain way, a search per row (the first version, kept as the
# definition); the two must give the same table, row for row, on random graphs with ties in
# time, repeated amounts, missing amounts and balances, self-payments and hubs.

import numpy as np  # noqa: E402

from chaingraph import typologies as T  # noqa: E402
from chaingraph.links import duration  # noqa: E402


def plain_fan(e, centre, other, k, window, name):
    window = np.int64(duration(window).value)
    nun = e.groupby(centre)[other].nunique()
    rows = []
    for ent in sorted(nun[nun >= k].index):
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
                     "edge_ids": T._tuple(w["id"])})
    return T._frame(rows)


def plain_scatter_gather(e, k, window):
    w = duration(window)
    a = e[["id", "source", "target", "time", "amount"]].rename(columns={"source": "s", "target": "m"})
    b = e[["id", "source", "target", "time"]].rename(columns={"source": "m", "target": "t"})
    deg = a.groupby("s")["m"].nunique()
    a = a[a["s"].isin(deg[deg >= k].index)]
    ind = b.groupby("t")["m"].nunique()
    b = b[b["t"].isin(ind[ind >= k].index)]
    j = a.merge(b, on="m", suffixes=("_1", "_2"))
    j = j[(j["time_2"] >= j["time_1"]) & (j["time_2"] <= j["time_1"] + w) & (j["s"] != j["t"])
          & (j["m"] != j["s"]) & (j["m"] != j["t"])]
    rows = []
    for (s, t), g in j.groupby(["s", "t"], sort=True):
        mids = sorted(set(g["m"]))
        if len(mids) < k:
            continue
        first = g.drop_duplicates("id_1")
        rows.append({"entity": s, "typology": "scatter_gather", "count": len(mids),
                     "amount": float(first["amount"].sum()), "start": g["time_1"].min(), "end": g["time_2"].max(),
                     "metrics": {"target": t, "intermediates": mids},
                     "edge_ids": T._tuple(list(g["id_1"]) + list(g["id_2"]))})
    return T._frame(rows)


def plain_gather_scatter(e, min_sources, min_targets, window):
    w = np.int64(duration(window).value)
    ns, nt = e.groupby("target")["source"].nunique(), e.groupby("source")["target"].nunique()
    rows = []
    for m in sorted(set(ns[ns >= min_sources].index) & set(nt[nt >= min_targets].index)):
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
        rows.append({"entity": m, "typology": "gather_scatter", "count": a + b, "amount": float(wi["amount"].sum()),
                     "start": wi["time"].iloc[0], "end": max(wi["time"].iloc[-1], wo["time"].iloc[-1]),
                     "metrics": {"sources": sorted(set(wi["source"])), "targets": sorted(set(wo["target"])),
                                 "amount_out": float(wo["amount"].sum())},
                     "edge_ids": T._tuple(list(wi["id"]) + list(wo["id"]))})
    return T._frame(rows)


def plain_cycles(e, max_length, window, max_cycles=100_000):
    e = e[e["source"] != e["target"]].reset_index(drop=True)  # (no pruning to strongly connected parts)
    w = np.int64(duration(window).value)
    t = e["time"].to_numpy("datetime64[ns]").view("int64")
    eid, src, dst, amt = e["id"].to_numpy(), e["source"].to_numpy(), e["target"].to_numpy(), e["amount"].to_numpy()
    out = {}
    for pos in range(len(e)):
        out.setdefault(src[pos], []).append(pos)
    rows = []

    def extend(nodes, edges):
        last = edges[-1]
        for nxt in out.get(dst[last], ()):
            if (t[nxt], eid[nxt]) <= (t[last], eid[last]):
                continue
            if t[nxt] > t[last] + w:
                break
            node = dst[nxt]
            if node == nodes[0]:
                if len(edges) + 1 <= max_length:
                    cyc = edges + [nxt]
                    rows.append({"entity": nodes[0], "typology": "cycle", "count": len(cyc), "amount": float(amt[cyc[0]]),
                                 "start": e["time"].iat[cyc[0]], "end": e["time"].iat[cyc[-1]],
                                 "metrics": {"path": list(nodes) + [node], "amounts": [float(amt[x]) for x in cyc]},
                                 "edge_ids": tuple(int(eid[x]) for x in cyc)})
                    if len(rows) >= max_cycles:
                        raise StopIteration
            elif node not in nodes and len(edges) < max_length - 1:
                extend(nodes + [node], edges + [nxt])

    try:
        for first in range(len(e)):
            extend([src[first], dst[first]], [first])
    except StopIteration:
        pass
    df = pd.DataFrame(rows, columns=T.TYPOLOGY_COLUMNS)
    return df.sort_values(["entity", "start"], kind="stable").reset_index(drop=True) if len(df) else df


def plain_pass_through(e, max_dwell, tolerance, balance_floor=100.0, min_events=1):
    dwell = np.int64(duration(max_dwell).value)
    rows = []
    for acc in sorted(set(e["source"]) & set(e["target"])):
        ins, outs = e[e["target"] == acc], e[e["source"] == acc]
        to = outs["time"].to_numpy("datetime64[ns]").view("int64")
        oa, ob, oseen = outs["amount"].to_numpy("float64"), outs["balance"].to_numpy("float64"), outs["seen_by"].to_numpy()
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
                         "edge_ids": T._tuple(edge_ids)})
    return T._frame(rows)


def random_money(seed):
    """20-250 transfers among 4-40 accounts (a few of them hubs) within a day, times in whole
    minutes (ties), amounts from a few values (so in and out match) or missing, balances
    near zero, high or missing, either side's statement."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(4, 41)), int(rng.integers(20, 251))
    hubs = rng.choice(n, max(1, n // 10), replace=False)
    pick = lambda k: np.where(rng.random(k) < 0.3, hubs[rng.integers(0, len(hubs), k)], rng.integers(0, n, k))  # noqa: E731
    src, dst = pick(m), pick(m)
    amount = rng.choice([1000.0, 2000.0, 500.0, 990.0, 4900.0, np.nan], m, p=[0.3, 0.2, 0.2, 0.1, 0.15, 0.05])
    balance = rng.choice([0.0, 50.0, 20_000.0, np.nan], m)
    ids = rng.permutation(np.arange(1000, 1000 + m))
    e = pd.DataFrame({"id": ids, "source": [f"bank_account:A{i:02d}" for i in src],
                      "target": [f"bank_account:A{i:02d}" for i in dst],
                      "time": T0 + pd.to_timedelta(rng.integers(0, 24 * 60, m), unit="min"),
                      "amount": amount, "balance": balance, "kind": "transfer",
                      "seen_by": rng.choice(["source", "target", "both"], m)})
    names = sorted(set(e["source"]) | set(e["target"]))
    return MemoryView(pd.DataFrame({"id": names, "kind": "bank_account", "key": [x.partition(":")[2] for x in names]}), e)


@pytest.mark.parametrize("seed", range(24))
def test_compiled_typologies_match_their_definitions_on_random_graphs(seed):
    v = random_money(seed)
    e = T._money(v)
    rng = np.random.default_rng(1000 + seed)
    k, k2, window = int(rng.integers(1, 5)), int(rng.integers(1, 5)), str(rng.choice(["10min", "1h", "6h", "24h"]))
    checks = [
        (T.fan_in(v, k, window), plain_fan(e, "target", "source", k, window, "fan_in")),
        (T.fan_out(v, k, window), plain_fan(e, "source", "target", k, window, "fan_out")),
        (T.scatter_gather(v, k, window), plain_scatter_gather(e, k, window)),
        (T.gather_scatter(v, k, k2, window), plain_gather_scatter(e, k, k2, window)),
        (T.cycles(v, k + 1, window), plain_cycles(e, k + 1, window)),
        (T.cycles(v, 5, window, max_cycles=7), plain_cycles(e, 5, window, max_cycles=7)),
        (T.pass_through(v, window, 0.05 * k), plain_pass_through(e, window, 0.05 * k)),
        (T.pass_through(v, window, 0.0), plain_pass_through(e, window, 0.0)),  # sums exactly equal
        (T.pass_through(v, window, 0.1, min_events=2, balance_floor=0.0),
         plain_pass_through(e, window, 0.1, min_events=2, balance_floor=0.0)),
    ]
    for i, (fast, plain) in enumerate(checks):
        pd.testing.assert_frame_equal(fast, plain, obj=f"check {i}")
    assert sum(len(f) for f, _ in checks) or seed % 10  # (most graphs show some pattern)
