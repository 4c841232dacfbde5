"""Benchmark: generate a world of N transfers, then load it; time, CPU and peak memory of each step.

Usage::

    .venv/bin/python bench/bench_world.py 1000000 10000000 [--out DIR] [--seed 0] [--skip-load]
    .venv/bin/python bench/bench_world.py --load-only /tmp/w10m [--store DIR]

Each step runs in a fresh child process so that its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in the child) and its CPU time
(user + system) are its own; ``--tracemalloc`` also reports the peak of
Python-level allocations (slower). The machine's load average at the end of
each step and the last commit of ``chaingraph/ingest.py`` are printed with the
load figures, since both explain most of the variation between runs.
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

ROOT = Path(__file__).resolve().parent.parent

STEP = r"""
import json, os, resource, sys, time, tracemalloc
step, out, store, seed, n, trace = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
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
    t_start = time.perf_counter()

    def progress(msg):  # to stderr, with seconds since the start and the RSS so far (for partial figures)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"{time.perf_counter() - t_start:8.1f} s  peak RSS {rss:>6} MB  {msg}", file=sys.stderr, flush=True)

    r = load(out + "/data", store, progress=progress)
    st = r.store.stats()
    info = {"rows_read": sum(f.read for f in r.files), "rows_loaded": sum(f.loaded for f in r.files),
            "rows_merged": sum(f.merged for f in r.files), "rows_rejected": sum(f.rejected for f in r.files),
            "unrecognised": len(r.unrecognised),
            "nodes": sum(st["nodes"].values()), "edges": sum(st["edges"].values()),
            "store_bytes": sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(store) for f in fs)}
info["seconds"] = round(time.perf_counter() - t0, 1)
ru = resource.getrusage(resource.RUSAGE_SELF)
info["cpu_user"], info["cpu_sys"] = round(ru.ru_utime, 1), round(ru.ru_stime, 1)
info["peak_rss_mb"] = round(ru.ru_maxrss / 1024, 1)
info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
if trace:
    info["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
print(json.dumps(info))
"""


def run_step(step, out, store, seed, n, trace, log=None):
    """Run one step in a child process; its progress lines go to ``log`` (a path) as they come, if given."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = [sys.executable, "-c", STEP, step, str(out), str(store), str(seed), str(n), "1" if trace else "0"]
    if log:
        with open(log, "w") as err:
            p = subprocess.run(args, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        stderr = Path(log).read_text()
    else:
        p = subprocess.run(args, capture_output=True, text=True, env=env)
        stderr = p.stderr
    if p.returncode:
        raise SystemExit(f"{step} failed:\n{stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


LOAD_MODULES = ["chaingraph/ingest.py", "chaingraph/readers.py", "chaingraph/store.py", "chaingraph/types.py",
                "chaingraph/mapping.py"]


def _ingest_commit() -> str:
    """The last commit of ingest.py, and which loading modules differ from HEAD in the working tree."""
    try:
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run(git + ["log", "-1", "--format=%h %cI", "--", "chaingraph/ingest.py"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(git + ["diff", "--name-only", "HEAD", "--"] + LOAD_MODULES,
                               capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + (f" + uncommitted changes in {', '.join(Path(d).name for d in dirty)}" if dirty else "")


def _cpu(r) -> str:
    return f"CPU {r['cpu_user'] + r['cpu_sys']:.1f} s (user {r['cpu_user']:.1f} + sys {r['cpu_sys']:.1f})"


def _load(out: Path, store: Path, seed, n, trace, log=None) -> dict:
    if store.exists():
        shutil.rmtree(store)
    ld = run_step("load", out, store, seed, n, trace, log)
    ld["rows_per_s"] = round(ld["rows_read"] / ld["seconds"]) if ld["seconds"] else None
    ld["ingest_commit"] = _ingest_commit()
    print(f"load     {out}: {ld['seconds']:>7.1f} s  {_cpu(ld)}  peak RSS {ld['peak_rss_mb']:>8.1f} MB  "
          f"{ld['rows_read']:,} rows read ({ld['rows_per_s']:,} rows/s; {ld['rows_loaded']:,} loaded, "
          f"{ld['rows_merged']:,} merged, {ld['rows_rejected']:,} rejected) -> {ld['nodes']:,} nodes, "
          f"{ld['edges']:,} edges, store {ld['store_bytes'] / 2**20:.0f} MB  load avg {ld['loadavg']}  "
          f"ingest.py at {ld['ingest_commit']}", flush=True)
    return ld


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("transfers", type=int, nargs="*", default=[1_000_000], help="world sizes (e.g. 1000000 10000000)")
    ap.add_argument("--out", help="folder for the worlds (default: a temporary folder, removed afterwards)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--load-only", metavar="DIR", help="only load the world already generated in DIR (DIR/data)")
    ap.add_argument("--store", metavar="DIR", help="store folder for --load-only (default DIR/store; replaced)")
    ap.add_argument("--log", metavar="FILE", help="write the load's progress (time, peak RSS, file) to FILE as it goes")
    ap.add_argument("--tracemalloc", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    if args.load_only:
        out = Path(args.load_only)
        if not (out / "data").is_dir():
            raise SystemExit(f"{out}: no data/ folder (generate a world there first)")
        rows.append({"world": str(out), "step": "load",
                     **_load(out, Path(args.store) if args.store else out / "store", args.seed, 0, args.tracemalloc,
                             args.log)})
        print(json.dumps(rows))
        return 0
    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="chaingraph-bench-"))
    try:
        for n in args.transfers:
            out = base / f"world_{n}"
            if out.exists():
                shutil.rmtree(out)
            g = run_step("generate", out, out / "store", args.seed, n, args.tracemalloc)
            print(f"generate {n:>10,}: {g['seconds']:>7.1f} s  {_cpu(g)}  peak RSS {g['peak_rss_mb']:>8.1f} MB  "
                  f"{g['files']} files/sheets, {g['bytes'] / 2**20:.0f} MB on disk  load avg {g['loadavg']}", flush=True)
            print("    steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in g["steps"].items()), flush=True)
            rows.append({"n": n, "step": "generate", **g})
            if not args.skip_load:
                rows.append({"n": n, "step": "load", **_load(out, out / "store", args.seed, n, args.tracemalloc, args.log)})
    finally:
        if not args.out:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
