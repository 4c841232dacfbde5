"""Benchmark: rings and centrality over a synthetic transfer graph of N transfers.

Usage: python bench/bench_rings.py [N ...]   (default 1000000)

The graph is built directly with numpy (no files): rings of ~8 accounts moving
money among themselves, friends' groups paying each other, customers paying
shops, payroll accounts paying employees, and devices shared within rings.
Reports build time, rings time, centrality time (wall and CPU seconds: the machine
may be shared), peak resident memory, and the same community detection done with
plain networkx (``louvain_communities`` with a seed, on the very projection the
rings ran on, graph build included) with the ratio; ``--no-networkx`` skips it,
``--networkx-max N`` skips it above N transfers (default 2000000).
"""

from __future__ import annotations

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


def run(n: int, with_nx: bool = True) -> dict:
    from chaingraph.rings import ring_centrality, rings
    from chaingraph.view import MemoryView

    t = time.perf_counter()
    nodes, edges, n_rings_planted = world(n)
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    view = MemoryView(nodes, edges)
    t_view = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    r = rings(view, projections=("operated", "money"))
    t_rings, c_rings = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    cent = ring_centrality(view, r)
    t_cent, c_cent = time.perf_counter() - t, time.process_time() - c
    out = {"transfers": int((edges["kind"] == "transfer").sum()), "nodes": len(nodes), "planted_rings": n_rings_planted,
           "rings_found": len(r.rings), "hubs": len(r.hubs), "brokers": len(r.brokers), "central": len(cent),
           "generate_s": round(t_gen, 1), "view_s": round(t_view, 1),
           "rings_s": round(t_rings, 1), "centrality_s": round(t_cent, 1),
           "rings_plus_centrality_s": round(t_rings + t_cent, 1),
           "rings_plus_centrality_cpu_s": round(c_rings + c_cent, 1), "peak_rss_mb": round(peak_mb())}
    if with_nx:
        import networkx as nx

        u, v, w = r.u, r.v, r.w
        del view, edges, nodes
        t, c = time.perf_counter(), time.process_time()
        g = nx.Graph()
        g.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist()))
        comms = nx.community.louvain_communities(g, weight="weight", seed=42)
        t_nx, c_nx = time.perf_counter() - t, time.process_time() - c
        out.update({"networkx_louvain_s": round(t_nx, 1), "networkx_louvain_cpu_s": round(c_nx, 1),
                    "networkx_communities": sum(1 for x in comms if len(x) >= 3),
                    "ratio_cpu_networkx_over_chaingraph": round(c_nx / max(c_rings + c_cent, 1e-9), 1),
                    "peak_rss_mb_with_networkx": round(peak_mb())})
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    no_nx = "--no-networkx" in args
    nx_max = 2_000_000
    if "--networkx-max" in args:
        nx_max = int(float(args[args.index("--networkx-max") + 1]))
        args.remove(args[args.index("--networkx-max") + 1])
    sizes = [a for a in args if not a.startswith("--")] or ["1000000"]
    for arg in sizes:
        n = int(float(arg))
        print(run(n, with_nx=not no_nx and n <= nx_max), flush=True)
