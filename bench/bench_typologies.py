"""Benchmark: the typology queries of the catalogue over N transfers (issue 4).

    .venv/bin/python bench/bench_typologies.py [N] [--store STORE]

Runs each typology of ``queries/`` (fan-in, fan-out, scatter-gather,
gather-scatter, cycles, pass-through, structuring) with its catalogue defaults
on the bursty synthetic transfer graph of ``bench_queries.synthetic`` (default
N 1,000,000), or on a loaded store (``--store``: its money edges, e.g. a
synthetic world's). Prints, per query, the wall and CPU seconds and the
findings, then the peak resident memory. The kernels' machine code is loaded
(or compiled) on a tiny graph first and timed apart.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaingraph.catalog import run_query  # noqa: E402
from chaingraph.view import MemoryView  # noqa: E402

QUERIES = ["fan_in", "fan_out", "scatter_gather", "gather_scatter", "cycles", "pass_through", "structuring"]


def tiny_view() -> MemoryView:
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    ids = [f"bank_account:{i}" for i in "ABCD"]
    e = pd.DataFrame({"id": range(6), "kind": "transfer", "source": [ids[i] for i in (0, 1, 2, 0, 3, 1)],
                      "target": [ids[i] for i in (1, 2, 0, 3, 1, 0)], "amount": 100.0, "seen_by": "source",
                      "time": [t0 + pd.Timedelta(minutes=m) for m in range(6)]})
    return MemoryView(pd.DataFrame({"id": ids, "kind": "bank_account", "key": list("ABCD")}), e)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("transfers", type=int, nargs="?", default=1_000_000)
    ap.add_argument("--store", help="run on this store's money edges instead of a synthetic graph")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    t = time.perf_counter()
    for q in QUERIES:
        run_query(tiny_view(), q)
    print(f"kernels loaded (or compiled) on a tiny graph in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    if args.store:
        from chaingraph.store import Store

        view = MemoryView(Store.open(args.store))
        what = args.store
    else:
        from bench_queries import synthetic

        view = MemoryView(*synthetic(args.transfers))
        what = "synthetic"
    n = int(view.all_edges(list(view.schema.money_edges))["id"].size)
    print(f"{what}: {n:,} money edges, ready in {time.perf_counter() - t:.1f} s")
    total = 0.0
    for q in QUERIES:
        t, cpu = time.perf_counter(), time.process_time()
        r = run_query(view, q)
        dt, cpu = time.perf_counter() - t, time.process_time() - cpu
        total += dt
        counts = r["count"].to_numpy() if len(r) else np.zeros(0)
        print(f"{q:<15} {dt:7.2f} s wall {cpu:7.2f} s CPU  {len(r):7,} findings"
              + (f" (count median {np.median(counts):.0f}, max {counts.max()})" if len(r) else ""))
    print(f"all seven {total:.1f} s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
