"""Benchmark: rings and centrality over a synthetic transfer graph of N transfers.

Usage: python bench/bench_rings.py [N ...]   (default 1000000)

The graph is built directly with numpy (no files): rings of ~8 accounts moving
money among themselves, friends' groups paying each other, customers paying
shops, payroll accounts paying employees, and devices shared within rings.
Reports build time, rings time, centrality time, peak resident memory.
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


def run(n: int) -> dict:
    from chaingraph.rings import ring_centrality, rings
    from chaingraph.view import MemoryView

    t = time.perf_counter()
    nodes, edges, n_rings_planted = world(n)
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    view = MemoryView(nodes, edges)
    t_view = time.perf_counter() - t
    t = time.perf_counter()
    r = rings(view, projections=("operated", "money"))
    t_rings = time.perf_counter() - t
    t = time.perf_counter()
    c = ring_centrality(view, r)
    t_cent = time.perf_counter() - t
    return {"transfers": int((edges["kind"] == "transfer").sum()), "nodes": len(nodes), "planted_rings": n_rings_planted,
            "rings_found": len(r.rings) if len(r.rings) else int(r.members["ring"].max() or 0),
            "hubs": len(r.hubs), "brokers": len(c), "generate_s": round(t_gen, 1), "view_s": round(t_view, 1),
            "rings_s": round(t_rings, 1), "centrality_s": round(t_cent, 1),
            "rings_plus_centrality_s": round(t_rings + t_cent, 1), "peak_rss_mb": round(peak_mb())}


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["1000000"]:
        print(run(int(float(arg))), flush=True)
