"""Benchmark: generate a world of N transfers, then load it; time and peak memory of each step.

Usage::

    .venv/bin/python bench/bench_world.py 1000000 [--out DIR] [--seed 0] [--skip-load]

Each step runs in a fresh child process so that its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in the child) is its own; ``--tracemalloc``
also reports the peak of Python-level allocations (slower).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STEP = r"""
import json, resource, sys, time, tracemalloc
step, out, seed, n, trace = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
if trace:
    tracemalloc.start()
t0 = time.perf_counter()
info = {}
if step == "generate":
    from chaingraph.world import generate
    w = generate(out, seed=seed, n_transfers=n)
    info = {"transfers": w.truth["transfers"]["count"], "files": len(w.truth["files"]), "steps": w.timings,
            "bytes": sum(p.stat().st_size for p in w.data_dir.rglob("*") if p.is_file())}
else:
    from chaingraph.ingest import load
    r = load(out + "/data", out + "/store")
    st = r.store.stats()
    info = {"rows_read": sum(f.read for f in r.files), "unrecognised": len(r.unrecognised),
            "nodes": sum(st["nodes"].values()), "edges": sum(st["edges"].values())}
info["seconds"] = round(time.perf_counter() - t0, 1)
info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
if trace:
    info["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
print(json.dumps(info))
"""


def run_step(step, out, seed, n, trace):
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", STEP, step, str(out), str(seed), str(n), "1" if trace else "0"],
                       capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit(f"{step} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("transfers", type=int, nargs="*", default=[1_000_000], help="world sizes (e.g. 1000000 10000000)")
    ap.add_argument("--out", help="folder for the worlds (default: a temporary folder, removed afterwards)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--tracemalloc", action="store_true")
    args = ap.parse_args(argv)
    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="chaingraph-bench-"))
    rows = []
    try:
        for n in args.transfers:
            out = base / f"world_{n}"
            if out.exists():
                shutil.rmtree(out)
            g = run_step("generate", out, args.seed, n, args.tracemalloc)
            print(f"generate {n:>10,}: {g['seconds']:>7.1f} s  peak RSS {g['peak_rss_mb']:>8.1f} MB  "
                  f"{g['files']} files/sheets, {g['bytes'] / 2**20:.0f} MB on disk", flush=True)
            print("    steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in g["steps"].items()), flush=True)
            rows.append({"n": n, "step": "generate", **{k: v for k, v in g.items() if k != "steps"}})
            if not args.skip_load:
                ld = run_step("load", out, args.seed, n, args.tracemalloc)
                print(f"load     {n:>10,}: {ld['seconds']:>7.1f} s  peak RSS {ld['peak_rss_mb']:>8.1f} MB  "
                      f"{ld['rows_read']:,} rows -> {ld['nodes']:,} nodes, {ld['edges']:,} edges", flush=True)
                rows.append({"n": n, "step": "load", **ld})
    finally:
        if not args.out:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
