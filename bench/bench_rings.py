"""Benchmark: rings and centrality over a synthetic transfer graph of N transfers.

Usage: python bench/bench_rings.py [N ...] [--no-networkx] [--networkx-timeout S]   (default N 1000000)

The graph is built directly with numpy (no files): rings of ~8 accounts moving
money among themselves, friends' groups paying each other, customers paying
shops, payroll accounts paying employees, and devices shared within rings.

Reports, wall and CPU seconds (the machine may be shared: the load average at
the start and end is printed too): the view build (``MemoryView``; its per-node
indexes are built on first use and rings needs none of them), rings, centrality,
and the peak resident memory of this process up to there (``peak_rss_mb``:
chaingraph only). Then, outside that peak, the time and memory to build every
index of the view (what the first trace/flow queries would pay).

Then the same work in plain networkx on the same data, in a child process (so its
memory is its own and it can be stopped): the projection rings ran on (after hubs
were left out) as an ``nx.Graph``, ``louvain_communities`` (seeded) for the rings,
and for the centrality the same measures on chaingraph's rings (participation over
ring links, betweenness of the ring graph with distance 1/weight). The child is
stopped after ``--networkx-timeout`` seconds (default 1800): the ratio is then a
lower bound (``>``). ``--no-networkx`` skips it.
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np
import pandas as pd


def world(n_transfers: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_acc = max(n_transfers // 5, 1000)
    ring_size, group = 8, 6
    n_ring_acc = n_acc // 10                      # 10 % of accounts sit in rings
    n_shops, n_payroll = max(n_acc // 2000, 5), max(n_acc // 5000, 2)
    parts = []
    # ring transfers (30 %): within blocks of ring_size
    k = int(n_transfers * 0.3)
    s = rng.integers(0, n_ring_acc, k)
    t = (s // ring_size) * ring_size + rng.integers(0, ring_size, k)
    parts.append((s, t))
    # friends' groups (40 %): within blocks of `group` among the other accounts
    k = int(n_transfers * 0.4)
    s = n_ring_acc + rng.integers(0, n_acc - n_ring_acc, k)
    t = n_ring_acc + ((s - n_ring_acc) // group) * group + rng.integers(0, group, k)
    parts.append((s, t))
    # customers -> shops (25 %), payroll -> employees (rest)
    k = int(n_transfers * 0.25)
    parts.append((rng.integers(0, n_acc, k), n_acc + rng.integers(0, n_shops, k)))
    k = n_transfers - sum(len(p[0]) for p in parts)
    parts.append((n_acc + n_shops + rng.integers(0, n_payroll, k), rng.integers(0, n_acc, k)))
    src = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([p[1] for p in parts])
    n_nodes = n_acc + n_shops + n_payroll
    # devices: one per ring, logged into by its accounts
    n_dev = n_ring_acc // ring_size
    dev_src = np.arange(n_dev * ring_size)
    dev_dst = n_nodes + dev_src // ring_size
    names = np.array([f"bank_account:{i:010d}" for i in range(n_nodes)] +
                     [f"device:{i:08d}" for i in range(n_dev)], dtype=object)
    cat = pd.CategoricalDtype(pd.Index(names, dtype="str"))
    m = len(src)
    t0 = np.datetime64("2024-01-01T00:00:00", "ns").astype("int64")
    edges = pd.DataFrame({
        "id": np.arange(1, m + len(dev_src) + 1, dtype="int64"),
        "kind": pd.Categorical.from_codes(np.r_[np.zeros(m, "int8"), np.ones(len(dev_src), "int8")],
                                          categories=["transfer", "logged_in_from"]),
        "source": pd.Categorical.from_codes(np.r_[src, dev_src], dtype=cat),
        "target": pd.Categorical.from_codes(np.r_[dst, dev_dst], dtype=cat),
        "time": pd.to_datetime(np.r_[t0 + np.sort(rng.integers(0, 90 * 86400, m)) * 10**9,
                                     np.full(len(dev_src), t0)], utc=True),
        "amount": np.r_[np.round(rng.lognormal(7, 1.2, m), 2), np.full(len(dev_src), np.nan)],
    })
    edges = edges[edges["source"] != edges["target"]].reset_index(drop=True)
    nodes = pd.DataFrame({"id": pd.Series(names, dtype="str"),
                          "kind": pd.Series([x.partition(":")[0] for x in names], dtype="category")})
    return nodes, edges, n_ring_acc // ring_size


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS")) / 1024


def _hwm_mb(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM: its own, not counting its parent's)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return 0.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def clock():
    return time.perf_counter(), time.process_time()


def since(t0) -> tuple[float, float]:
    return round(time.perf_counter() - t0[0], 1), round(time.process_time() - t0[1], 1)


def run(n: int, with_nx: bool = True, nx_timeout: float = 1800) -> dict:
    from chaingraph.rings import ring_centrality, rings
    from chaingraph.view import MemoryView

    out = {"load_start": load()}
    t = clock()
    nodes, edges, n_rings_planted = world(n)
    out["generate_s"] = since(t)[0]
    out["data_rss_mb"] = round(rss_mb())
    t = clock()
    view = MemoryView(nodes, edges)
    out["view_s"], out["view_cpu_s"] = since(t)
    t = clock()
    r = rings(view, projections=("operated", "money"))
    out["rings_s"], out["rings_cpu_s"] = since(t)
    t = clock()
    cent = ring_centrality(view, r)
    out["centrality_s"], out["centrality_cpu_s"] = since(t)
    out["rings_plus_centrality_s"] = round(out["rings_s"] + out["centrality_s"], 1)
    out["rings_plus_centrality_cpu_s"] = round(out["rings_cpu_s"] + out["centrality_cpu_s"], 1)
    out["peak_rss_mb"] = round(peak_mb())
    out.update({"transfers": int((edges["kind"] == "transfer").sum()), "nodes": len(nodes),
                "planted_rings": n_rings_planted, "rings_found": len(r.rings), "hubs": len(r.hubs),
                "brokers": len(r.brokers), "central": len(cent), "projection_links": len(r.u)})
    before = rss_mb()
    t = clock()
    view.build_indexes()
    out["view_indexes_s"], out["view_indexes_cpu_s"] = since(t)
    out["view_indexes_mb"] = round(rss_mb() - before)
    out["peak_rss_mb_with_indexes"] = round(peak_mb())
    if with_nx:
        out.update(_networkx(r, out, nx_timeout))
    out["load_end"] = load()
    return out


def _networkx(r, out: dict, timeout: float) -> dict:
    """The same rings and centrality in plain networkx, in a child process given the projection."""
    import ast
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench_rings_") as tmp:
        for name in ("u", "v", "w", "community"):
            np.save(os.path.join(tmp, name + ".npy"), getattr(r, name))
        cmd = [sys.executable, os.path.abspath(__file__), "--networkx-child", tmp]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        end, hwm, text = time.perf_counter() + timeout, 0.0, None
        while text is None and time.perf_counter() < end:
            try:
                text, _ = child.communicate(timeout=min(2.0, max(end - time.perf_counter(), 0.01)))
            except subprocess.TimeoutExpired:
                hwm = max(hwm, _hwm_mb(child.pid))
        if text is None:
            child.kill()
            child.communicate()
            res = {"networkx_stopped_after_s": timeout}
        elif child.returncode == 0:
            res = ast.literal_eval(text.strip().splitlines()[-1])
        else:
            res = {"networkx_error": child.returncode}
    res["networkx_peak_rss_mb"] = round(max(hwm, res.pop("hwm_mb", 0.0)))
    ours = out["rings_plus_centrality_cpu_s"]
    if "networkx_total_cpu_s" in res:
        res["ratio_cpu_networkx_over_chaingraph"] = round(res["networkx_total_cpu_s"] / max(ours, 1e-9), 1)
        res["ratio_wall_networkx_over_chaingraph"] = round(res["networkx_total_s"] / max(out["rings_plus_centrality_s"], 1e-9), 1)
    elif "networkx_stopped_after_s" in res:
        res["ratio_wall_networkx_over_chaingraph"] = f"> {timeout / max(out['rings_plus_centrality_s'], 1e-9):.1f}"
    return res


def networkx_child(tmp: str) -> dict:
    """Plain networkx: rings by Louvain on the projection, centrality measures on the given rings."""
    import networkx as nx

    u, v, w, com = (np.load(os.path.join(tmp, x + ".npy")) for x in ("u", "v", "w", "community"))
    out = {}
    t = clock()
    g = nx.Graph()
    g.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist()))
    out["networkx_graph_s"], out["networkx_graph_cpu_s"] = since(t)
    t = clock()
    comms = nx.community.louvain_communities(g, weight="weight", seed=42)
    out["networkx_louvain_s"], out["networkx_louvain_cpu_s"] = since(t)
    out["networkx_communities"] = sum(1 for x in comms if len(x) >= 3)
    t = clock()
    ring = dict(zip(range(len(com)), com.tolist()))
    rg, central = nx.Graph(), 0
    for x, nbrs in g.adjacency():      # each node's link weight to each ring
        k, per = 0.0, {}
        for y, d in nbrs.items():
            k += d["weight"]
            if ring[y] > 0:
                per[ring[y]] = per.get(ring[y], 0.0) + d["weight"]
        touched = set(per) | ({ring[x]} if ring[x] > 0 else set())
        if len(touched) >= 2:
            central += 1
            _ = 1.0 - sum((s / k) ** 2 for s in per.values())   # participation
        for c, s in per.items():
            if ring[x] > 0 and c != ring[x] and ring[x] < c:
                old = rg.get_edge_data(ring[x], c, {"weight": 0.0})["weight"]
                rg.add_edge(ring[x], c, weight=old + s)
    for a, b, d in rg.edges(data=True):
        d["dist"] = 1.0 / d["weight"]
    nx.betweenness_centrality(rg, weight="dist", normalized=False)
    out["networkx_centrality_s"], out["networkx_centrality_cpu_s"] = since(t)
    out["networkx_central"] = central
    out["networkx_total_s"] = round(out["networkx_graph_s"] + out["networkx_louvain_s"] + out["networkx_centrality_s"], 1)
    out["networkx_total_cpu_s"] = round(out["networkx_graph_cpu_s"] + out["networkx_louvain_cpu_s"]
                                        + out["networkx_centrality_cpu_s"], 1)
    out["hwm_mb"] = _hwm_mb(os.getpid())
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--networkx-child"]:
        print(networkx_child(args[1]), flush=True)
        sys.exit(0)
    no_nx = "--no-networkx" in args
    nx_timeout = 1800.0
    if "--networkx-timeout" in args:
        i = args.index("--networkx-timeout")
        nx_timeout = float(args[i + 1])
        del args[i:i + 2]
    sizes = [a for a in args if not a.startswith("--")] or ["1000000"]
    for arg in sizes:
        print(run(int(float(arg)), with_nx=not no_nx, nx_timeout=nx_timeout), flush=True)
