"""Benchmark: open a case store and ask for evidence, as a notebook session starts.

    .venv/bin/python bench/bench_open.py STORE [--ids 20] [--seed 0]

Each step runs in a fresh child process, so its time and peak resident memory
(``ru_maxrss``) are its own:

- ``open``: ``Store.open`` and its nodes and edges tables (what every query starts
  from), with the bytes those tables hold (an object shared by many cells counted
  once);
- ``evidence``: open, then the source records (file, sheet, row) behind ``--ids``
  random edges and as many random nodes, from a store whose provenance tables have
  not been read (the figure is the evidence call alone; the peak is the process's).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STEP = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[4])
from bench_load import held_bytes
from chaingraph.store import Store
step, path, k, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[5])
t = time.perf_counter()
st = Store.open(path)
nodes, edges = st.nodes, st.edges
info = {"open_s": round(time.perf_counter() - t, 2), "nodes": len(nodes), "edges": len(edges)}
if step == "open":
    info["held_mb"] = round((held_bytes(nodes) + held_bytes(edges)) / 2**20)
else:
    ids = [int(i) for i in edges["id"].sample(min(k, len(edges)), random_state=seed)]
    ids += list(nodes["id"].sample(min(k, len(nodes)), random_state=seed))
    t = time.perf_counter()
    ev = st.evidence(ids)
    info.update(evidence_s=round(time.perf_counter() - t, 2), ids=len(ids), records=len(ev))
info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(info))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--ids", type=int, default=20, help="random edges (and as many nodes) to ask evidence for")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = {}
    for step in ("open", "evidence"):
        p = subprocess.run([sys.executable, "-c", STEP, step, args.store, str(args.ids), str(ROOT / "bench"), str(args.seed)],
                           capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if p.returncode:
            raise SystemExit(f"{step} failed:\n{p.stderr[-3000:]}")
        out[step] = json.loads(p.stdout.strip().splitlines()[-1])
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
