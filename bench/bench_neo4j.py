"""Push a synthetic world into Neo4j (rows/s) and time trace / flow on Neo4j next to the embedded view.

    .venv/bin/python bench/bench_neo4j.py --uri bolt://127.0.0.1:7687 --transfers 1000000

The world is generated and loaded with chaingraph itself; the database at --uri is overwritten
(pushed into, and emptied first with --wipe). Prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uri", default=None, help="default: $CHAINGRAPH_NEO4J_URI")
    ap.add_argument("--transfers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="folder for the world and store (default: a temporary one)")
    ap.add_argument("--batch-size", type=int, default=None, help="rows per transaction (default: push's)")
    ap.add_argument("--cases", type=int, default=5, help="cases traced for the latency figures")
    ap.add_argument("--wipe", action="store_true", help="empty the database first (all nodes and relationships)")
    a = ap.parse_args(argv)

    from chaingraph.flow import flow
    from chaingraph.ingest import load
    from chaingraph.neo4j import Neo4jView, Runner, push
    from chaingraph.store import Store
    from chaingraph.trace import trace
    from chaingraph.view import MemoryView
    from chaingraph.world import generate

    work = Path(a.work or tempfile.mkdtemp(prefix="bench-neo4j-"))
    store_dir = work / "store"
    out = {"transfers": a.transfers}
    if not (store_dir / "CURRENT").is_file():
        t = time.perf_counter()
        w = generate(work / "world", seed=a.seed, n_transfers=a.transfers)
        load([w.data_dir], store_dir)
        out["world_and_load_s"] = round(time.perf_counter() - t, 1)
    st = Store.open(store_dir)
    rows = len(st.nodes) + len(st.edges)
    out.update(nodes=len(st.nodes), edges=len(st.edges))
    runner = Runner(a.uri)
    if a.wipe:
        while runner.write_rows("MATCH (n) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*)")[0][0]:
            pass  # bench only: empty the database in batches
    st.nodes, st.edges, st.tables.node_obs, st.tables.edge_obs  # read from disk before the clock starts
    batch = {} if a.batch_size is None else {"batch_size": a.batch_size}
    try:
        import neo4j._rust  # noqa: F401  (neo4j-rust-ext: the driver packs in Rust)
        out["neo4j_rust_ext"] = True
    except ImportError:
        out["neo4j_rust_ext"] = False
    t, c = time.perf_counter(), time.process_time()
    rep = push(st, runner, progress=lambda m: print(m, file=sys.stderr, flush=True), **batch)
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    out.update(push_s=round(dt, 1), push_rows_per_s=round((rep.nodes_written + rep.edges_written) / dt),
               push_python_cpu_s=round(cpu, 1), rows_written=rep.nodes_written + rep.edges_written, rows=rows)
    t, c = time.perf_counter(), time.process_time()
    again = push(st, runner, **batch)
    out.update(repush_nothing_to_do_s=round(time.perf_counter() - t, 1),
               repush_python_cpu_s=round(time.process_time() - c, 1),
               repush_written=again.nodes_written + again.edges_written)

    mem, neo = MemoryView(st), Neo4jView(runner)
    cases = list(mem.nodes(kinds=["case"])["id"])[: a.cases]
    for name, view in (("embedded", mem), ("neo4j", neo)):
        for what, fn in (("trace_up", lambda v, c: trace(v, c, direction="upstream")),
                         ("trace_down", lambda v, c: trace(v, c, direction="downstream")),
                         ("flow", lambda v, c: flow(v, c))):
            ts = []
            for c in cases:
                t = time.perf_counter()
                fn(view, c)
                ts.append(time.perf_counter() - t)
            ts.sort()
            out[f"{what}_{name}_median_ms"] = round(1000 * ts[len(ts) // 2], 1)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))
    runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
