"""Benchmark: time-respecting fund tracing on a synthetic transfer graph.

Builds a bursty synthetic graph directly as DataFrames (see :func:`synthetic`:
cascades of onward transfers within minutes, hubs with many transfers a day,
times over 90 days, a third of statements missing), then times, from
seed accounts (each starts at one of its own outgoing transfers and follows
the 72 h after it), 6 hops, 72 h window:

- ``chaingraph.flow.reach``: the time-respecting reach trace (every transfer
  leaving an account after money arrived and within the window; no amounts),
  on the in-memory view a compiled kernel (numba);
- ``chaingraph.flow.flow``: fund tracing with FIFO attribution (``--no-flow``
  skips it);

each against plain networkx code doing the same on a MultiDiGraph built from
the same data in the same run (the reach trace written the straightforward
way: for each frontier node iterate its out-edges and check the time), and
checks both give the same answers on the same seeds. The networkx reach has a
per-seed timeout (``--nx-timeout``): a timed-out seed's time is a lower bound,
so is any ratio that includes it, and its answer is not checked (reported).
The reach ratio is also given in total and per seed (accounts reached, both
times): a seed whose money reaches two accounts compares fixed per-call costs
(~1.3 ms for chaingraph's DataFrame), so a median over a few seeds can say
little.

Per seed, wall time (``perf_counter``) and CPU time of this process
(``process_time``) are recorded, and the load average: other processes on
the machine inflate wall times. The first reach call is timed separately and
not counted per seed (``reach_first_call_s``: building the money index,
loading the kernel's machine code from numba's disk cache, allocating the
scratch arrays); ``kernel_compile_s`` is a compile from scratch, measured in a
fresh interpreter with an empty numba cache. Peak RSS of chaingraph alone
(``peak_rss_mb_chaingraph``) is taken before the networkx graph is built;
``peak_rss_mb_total`` at the end.

    .venv/bin/python bench/bench_queries.py --transfers 1000000 --nx-seeds 30 --nx-timeout 60
    .venv/bin/python bench/bench_queries.py --transfers 10000000 --no-flow --nx-seeds 10 --nx-timeout 120

(A networkx MultiDiGraph of 10M transfers needs about 9 GB.)

Prints one JSON object with the figures (``--out FILE`` also writes it there).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaingraph.flow import _Kernel, flow, reach  # noqa: E402
from chaingraph.view import MemoryView  # noqa: E402

DAY = 86_400 * 10**9
WINDOW = 72 * 3600 * 10**9


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(n_transfers: int, seed: int = 7, branch: float = 0.66, hub_share: float = 0.25):
    """A bursty transfer graph, built with numpy, shaped like real statements.

    - a third of the transfers are independent payments at uniform times over
      90 days (the background);
    - every transfer may set off a cascade: its receiver forwards the money
      within minutes (delay lognormal, median 10 min) to 0-3 accounts
      (binomial(3, branch/2): about one onward transfer per arrival, so mule
      chains run for many hops), as money arriving and leaving a mule card;
    - a ``hub_share`` of receivers are hubs (0.1 % of accounts: platforms,
      exchangers, settlement accounts; skewed among themselves), so hubs
      receive, and therefore send, tens to hundreds of transfers a day; the
      other receivers are uniform.

    Activity therefore comes in bursts around arrivals, and the 72 h
    time-respecting reach fans out through the hubs as real statements do.
    A third of accounts have no statement (their transfers are seen only from
    the other side; transfers between two of them are not seen at all).
    """
    rng = np.random.default_rng(seed)
    n_acc = max(1000, n_transfers // 10)
    hub_ids = rng.choice(n_acc, max(20, n_acc // 1000), replace=False)

    def receivers(k):
        hub = hub_ids[(len(hub_ids) * rng.random(k) ** 2).astype(np.int64)]
        return np.where(rng.random(k) < hub_share, hub, rng.integers(0, n_acc, k))

    t0 = pd.Timestamp("2024-01-01", tz="UTC").value
    n0 = n_transfers // 3
    S, D, T = [rng.integers(0, n_acc, n0)], [receivers(n0)], [t0 + (rng.random(n0) * 90 * DAY).astype(np.int64)]
    total, ps, pt = n0, D[0], T[0]
    while total < n_transfers and len(ps):
        k = rng.binomial(3, branch / 2, len(ps))
        par = np.repeat(np.arange(len(ps)), k)
        if not len(par):
            break
        src = ps[par]
        t = pt[par] + (np.exp(rng.normal(np.log(10), 1.2, len(par))) * 60e9).astype(np.int64)
        dst = receivers(len(par))
        S.append(src), D.append(dst), T.append(t)
        total += len(par)
        ps, pt = dst, t
    src = np.concatenate(S)[:n_transfers]
    dst = np.concatenate(D)[:n_transfers]
    t = np.concatenate(T)[:n_transfers]
    n_transfers = len(src)
    loop = src == dst
    dst[loop] = (dst[loop] + 1) % n_acc
    amount = np.round(np.exp(rng.normal(8, 1.2, n_transfers)), 2)
    keys = np.char.add("62220", np.char.zfill(np.arange(n_acc).astype(str), 11)).astype(object)
    ids = np.char.add("bank_account:", keys.astype(str)).astype(object)
    has_stmt = rng.random(n_acc) < 0.67
    s_side, t_side = has_stmt[src], has_stmt[dst]
    seen = np.where(s_side & t_side, "both", np.where(s_side, "source", np.where(t_side, "target", "")))
    keep = seen != ""
    nodes = pd.DataFrame({"id": ids, "kind": "bank_account", "key": keys, "label": keys})
    # string columns dictionary-encoded (as a Parquet store loads them): 10M rows fit in memory
    id_type = pd.CategoricalDtype(pd.Index(ids, dtype=object))
    edges = pd.DataFrame({
        "id": np.arange(n_transfers, dtype=np.int64)[keep],
        "kind": pd.Categorical(np.full(int(keep.sum()), "transfer", object)),
        "source": pd.Categorical.from_codes(src[keep], dtype=id_type),
        "target": pd.Categorical.from_codes(dst[keep], dtype=id_type),
        "n_obs": 1,
        "seen_by": pd.Categorical(seen[keep].astype(object)),
        "amount": amount[keep],
        "time": pd.DatetimeIndex(t[keep].view("datetime64[ns]"), tz="UTC"),
    })
    return nodes, edges


def nx_build(nodes, edges):
    import networkx as nx

    g = nx.MultiDiGraph()
    g.add_nodes_from(nodes["id"])
    tt = edges["time"].to_numpy("datetime64[ns]").view("int64")
    g.add_edges_from(
        (s, d, int(i), {"kind": k, "time": int(t), "amount": float(a), "seen_by": sb})
        for i, k, s, d, t, a, sb in zip(edges["id"], edges["kind"], edges["source"], edges["target"],
                                        tt, edges["amount"], edges["seen_by"]))
    return g


def nx_flow(g, seed, since, until, hops=6, window=WINDOW):
    """The same FIFO traversal as chaingraph.flow, written plainly over networkx adjacency."""
    kernel = _Kernel("fifo", window)
    chunks = {seed: [(since, until, math.inf, None)]}
    used, out = {}, {}
    for _ in range(hops):
        new = {}
        for a, cs in chunks.items():
            lo, hi = min(c[0] for c in cs), max(c[1] for c in cs)
            lo -= window   # FIFO replays the account from one window before the money arrived
            outs = sorted((d["time"], i, v, d["amount"]) for _, v, i, d in g.out_edges(a, keys=True, data=True)
                          if lo <= d["time"] <= hi)
            if not any(t >= lo + window for t, *_ in outs):
                continue
            ins = sorted((d["time"], i, d["amount"]) for u, _, i, d in g.in_edges(a, keys=True, data=True)
                         if lo <= d["time"] <= hi)
            o = (np.array([x[0] for x in outs], np.int64), np.array([x[3] for x in outs]),
                 np.array([x[1] for x in outs], np.int64))
            i_ = (np.array([x[0] for x in ins], np.int64), np.array([x[2] for x in ins]),
                  np.array([x[1] for x in ins], np.int64))
            res, _ = kernel.run(cs, o, i_, used)
            for j, got in res:
                if got <= 0:
                    continue
                t, eid, v, amt = outs[j]
                used[eid] = used.get(eid, 0.0) + got
                out[eid] = out.get(eid, 0.0) + got
                new.setdefault(v, []).append((t, t + window, got, eid))
        chunks = new
        if not chunks:
            break
    return out


def nx_reach(g, seed, since, until, hops=6, window=WINDOW, deadline=None):
    """Time-respecting reach written the way an analyst would, over a networkx MultiDiGraph.

    Frontier: node -> arrival times; an out-edge is followed if it leaves at or
    after an arrival and within the window of it; each edge once. Returns the
    set of nodes reached (None if ``deadline`` passed first).
    """
    frontier = {seed: [(since, until)]}
    reached, used = {seed}, set()
    for _ in range(hops):
        new = {}
        for u, spans in frontier.items():
            for _, v, k, d in g.out_edges(u, keys=True, data=True):
                t = d["time"]
                if k in used or not any(a <= t <= b for a, b in spans):
                    continue
                used.add(k)
                reached.add(v)
                new.setdefault(v, []).append((t, t + window))
            if deadline is not None and time.perf_counter() > deadline:
                return None
        frontier = new
        if not frontier:
            break
    return reached


def kernel_compile_s() -> float:
    """Seconds to compile the reach kernel from scratch (a fresh interpreter, empty numba cache)."""
    import os
    import subprocess
    import tempfile

    code = ("import time, numpy as np; t = time.perf_counter(); from chaingraph import _reach; "
            "z = np.zeros(1, np.int64); s = _reach.Scratch(np.zeros(2, np.int64), z, z); "
            "_reach.run(z, 0, 1, 1, 1, s); "
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                             cwd=str(Path(__file__).resolve().parents[1]))
    return round(float(res.stdout.strip().splitlines()[-1]), 1)


def per_seed(ms: np.ndarray) -> dict:
    return {"median": round(float(np.median(ms)), 2), "p90": round(float(np.percentile(ms, 90)), 2),
            "worst": round(float(ms.max()), 2)}


def main(argv=None):
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transfers", type=int, default=1_000_000)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--nx-seeds", type=int, default=100, help="seeds also run on networkx (the first ones)")
    ap.add_argument("--no-nx", action="store_true")
    ap.add_argument("--no-flow", action="store_true", help="time reach only (not flow)")
    ap.add_argument("--nx-timeout", type=float, default=120.0, help="seconds per seed for the networkx reach trace")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)

    load = lambda: [round(x, 1) for x in os.getloadavg()]  # noqa: E731
    out = {"transfers": args.transfers, "cpus": os.cpu_count(), "load_avg_at_start": load()}
    out["kernel_compile_s"] = kernel_compile_s()
    t = time.perf_counter()
    nodes, edges = synthetic(args.transfers)
    out["generate_s"] = round(time.perf_counter() - t, 1)
    out["edges_kept"] = len(edges)
    out["accounts"] = len(nodes)
    gc.collect()
    base = rss_mb()
    out["rss_data_mb"] = round(base)

    t = time.perf_counter()
    view = MemoryView(nodes, edges)
    out["view_build_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    view.money_rows(np.zeros(0, np.int64), "out")    # the money index reach uses (built on first use)
    out["money_index_build_s"] = round(time.perf_counter() - t, 1)
    gc.collect()
    out["view_mem_mb"] = round(rss_mb() - base)

    rng = np.random.default_rng(11)
    picks = rng.choice(len(edges), args.seeds, replace=False)
    seeds = [(edges["source"].iat[p], edges["time"].iat[p]) for p in picks]

    # reach: the first call (kernel machine code loaded, scratch allocated) timed apart
    t = time.perf_counter()
    reach(view, seeds[0][0], since=seeds[0][1], until=seeds[0][1] + pd.Timedelta("72h"))
    out["reach_first_call_s"] = round(time.perf_counter() - t, 2)
    out["load_avg_reach"] = {"before": load()}
    r_times, r_cpu, r_ids = [], [], []
    for acc, t0 in seeds:
        t, c = time.perf_counter(), time.process_time()
        rr = reach(view, acc, window="72h", hops=6, since=t0, until=t0 + pd.Timedelta("72h"))
        r_times.append(time.perf_counter() - t)
        r_cpu.append(time.process_time() - c)
        # kept as an array: a set of 100k ids per seed is 10M references the collector would
        # walk on every full collection, inside later reach calls (the harness's cost, not chaingraph's)
        r_ids.append(rr["id"].to_numpy(dtype=object))
    out["load_avg_reach"]["after"] = load()
    r_ms = np.array(r_times) * 1000
    out["chaingraph_reach_ms"] = per_seed(r_ms)
    out["chaingraph_reach_cpu_ms"] = per_seed(np.array(r_cpu) * 1000)
    sizes = [len(x) for x in r_ids]
    out["reach_accounts"] = {"median": int(np.median(sizes)), "max": int(max(sizes))}

    if not args.no_flow:
        flow(view, seeds[0][0], since=seeds[0][1], until=seeds[0][1] + pd.Timedelta("72h"))   # warm-up
        times, n_reached, results = [], [], []
        for acc, t0 in seeds:
            t = time.perf_counter()
            r = flow(view, acc, window="72h", hops=6, since=t0, until=t0 + pd.Timedelta("72h"))
            times.append(time.perf_counter() - t)
            n_reached.append(len(r.accounts))
            results.append((r.edges["id"].to_numpy(dtype="int64"), r.edges["attributed"].to_numpy(dtype=float)))
        times_ms = np.array(times) * 1000
        out["chaingraph_flow_ms"] = per_seed(times_ms)
        out["accounts_reached"] = {"median": int(np.median(n_reached)), "max": int(max(n_reached))}
    out["peak_rss_mb_chaingraph"] = round(peak_mb())

    if not args.no_nx:
        del view
        gc.collect()
        base = rss_mb()
        t = time.perf_counter()
        g = nx_build(nodes, edges)
        out["nx_build_s"] = round(time.perf_counter() - t, 1)
        gc.collect()
        out["nx_mem_mb"] = round(rss_mb() - base)
        k = min(args.nx_seeds, len(seeds))
        if not args.no_flow:
            nx_times, same = [], 0
            for (acc, t0), mine in zip(seeds[:k], (dict(zip(i.tolist(), a.tolist())) for i, a in results[:k])):
                since = pd.Timestamp(t0).value
                t = time.perf_counter()
                theirs = nx_flow(g, acc, since, since + WINDOW)
                nx_times.append(time.perf_counter() - t)
                same += (theirs.keys() == mine.keys()
                         and all(abs(theirs[i] - mine[i]) < 1e-6 for i in theirs))
            nx_ms = np.array(nx_times) * 1000
            mine_ms = times_ms[:k]
            out["nx_flow_ms"] = {"seeds": k, "median": round(float(np.median(nx_ms)), 2),
                                 "worst": round(float(nx_ms.max()), 2)}
            out["speedup_median_per_seed"] = round(float(np.median(nx_ms / mine_ms)), 1)
            out["speedup_median_of_medians"] = round(float(np.median(nx_ms) / np.median(mine_ms)), 1)
            out["speedup_total"] = round(float(nx_ms.sum() / mine_ms.sum()), 1)
            out["same_flows"] = f"{same}/{k}"
        out["load_avg_nx"] = {"before": load()}
        nx_r, nx_cpu, same_r, diff_r, timeouts = [], [], 0, 0, 0
        for (acc, t0), mine in zip(seeds[:k], (set(x) for x in r_ids[:k])):
            since = pd.Timestamp(t0).value
            t, c = time.perf_counter(), time.process_time()
            theirs = nx_reach(g, acc, since, since + WINDOW, deadline=t + args.nx_timeout)
            nx_r.append(time.perf_counter() - t)
            nx_cpu.append(time.process_time() - c)
            timeouts += theirs is None
            same_r += theirs == mine
            diff_r += theirs is not None and theirs != mine
        out["load_avg_nx"]["after"] = load()
        nx_r = np.array(nx_r) * 1000
        nx_cpu = np.array(nx_cpu) * 1000
        mine, mine_cpu = r_ms[:k], np.array(r_cpu[:k]) * 1000
        bound = " (lower bound: timed-out seeds count at the timeout)" if timeouts else ""
        out["nx_reach_ms"] = {"seeds": k, "median": round(float(np.median(nx_r)), 2),
                              "worst": round(float(nx_r.max()), 2), "timeouts": timeouts,
                              "timeout_s": args.nx_timeout}
        out["nx_reach_cpu_ms"] = {"median": round(float(np.median(nx_cpu)), 2)}
        out["chaingraph_reach_ms_same_seeds"] = {"median": round(float(np.median(mine)), 2),
                                                 "cpu_median": round(float(np.median(mine_cpu)), 2)}
        out["reach_speedup_median_per_seed"] = round(float(np.median(nx_r / mine)), 1)
        out["reach_speedup_median_of_medians"] = round(float(np.median(nx_r) / np.median(mine)), 1)
        out["reach_speedup_cpu_median_per_seed"] = round(float(np.median(nx_cpu / mine_cpu)), 1)
        # seeds whose money reaches a handful of accounts compare fixed costs: the total and
        # each seed's figures say more than a median over a few seeds
        out["reach_speedup_total"] = round(float(nx_r.sum() / mine.sum()), 1)
        out["reach_per_seed"] = [{"accounts": len(s), "chaingraph_ms": round(float(a), 2), "nx_ms": round(float(b), 2)}
                                 for s, a, b in zip(r_ids[:k], mine, nx_r)]
        out["reach_speedup_note"] = "networkx time / chaingraph time on the same seeds" + bound
        out["same_reach"] = (f"{same_r}/{k} identical, {diff_r} different, {timeouts} timed out (not compared)")
        out["peak_rss_mb_total"] = round(peak_mb())
    out["load_avg_at_end"] = load()
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
