"""Benchmark: load an N-row GB18030 bank statement end to end (issue 2).

    .venv/bin/python bench/bench_load.py 1000000 [--keep DIR] [--xlsx]

Writes one statement in layout A (Chinese headers, 进/出, joined date-time,
thousands separators) for a few hundred accounts trading with many
counterparties, then runs ``chaingraph.ingest.load`` into a fresh store and
prints rows/s and the peak resident memory (of this process, which also holds
the generated nothing: the file is streamed from disk).
Target: >= 100,000 rows/s on a 2-core machine; peak memory not growing with the
file beyond the graph itself (printed: the peak against the nodes and edges
tables of the loaded store as held in memory, and against those with the
observation tables that keep every record's file, sheet and row).

``--xlsx`` loads the same statement saved as an .xlsx workbook (kept in DIR
with ``--keep``): the workbook path, whose values calamine reads.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HEADER = "交易卡号,交易户名,交易证件号码,交易时间,交易金额,交易余额,收付标志,对手账号,对手户名,对手开户行,摘要,交易流水号,IP地址,MAC地址\n"


def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return body + str((10 - total % 10) % 10)


def write_statement(path: Path, n: int, seed: int = 0, n_accounts: int = 300, n_peers: int = 200_000) -> None:
    rng = np.random.default_rng(seed)
    own = [luhn_complete(f"622202{i:012d}") for i in range(n_accounts)]
    peers = [luhn_complete(f"621700{i:012d}") for i in range(n_peers)]
    chunk = 100_000
    t0 = np.datetime64("2024-01-01T00:00:00")
    with open(path, "w", encoding="gb18030", newline="") as f:
        f.write(HEADER)
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            a = rng.integers(0, n_accounts, k)
            p = rng.integers(0, n_peers, k)
            secs = np.sort(rng.integers(0, 90 * 86400, k)) + start
            times = (t0 + secs.astype("timedelta64[s]")).astype(str)
            amt = rng.gamma(1.5, 2000, k).round(2)
            bal = rng.gamma(2, 5000, k).round(2)
            flag = np.where(rng.random(k) < 0.5, "进", "出")
            lines = []
            for j in range(k):
                i = start + j
                lines.append(
                    f"{own[a[j]]},张三{a[j]},11010519491231002X,{times[j].replace('T', ' ')},\"{amt[j]:,.2f}\",{bal[j]:.2f},"
                    f"{flag[j]},{peers[p[j]]},李四{p[j] % 1000},建设银行,转账,T{i:010d},10.{i % 250}.{(i // 250) % 250}.1,\n"
                )
            f.write("".join(lines))


def write_workbook(csv_path: Path, path: Path) -> None:
    """The same statement as an .xlsx workbook (one sheet; amounts and balances as numbers,
    the rest as text in a shared-strings table, as Excel and bank exports save them)."""
    import csv

    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("交易明细")
    with open(csv_path, encoding="gb18030", newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            for j, v in enumerate(row):
                if i and j in (4, 5):
                    ws.write_number(i, j, float(v.replace(",", "")))
                elif v:
                    ws.write_string(i, j, v)
    wb.close()


def held_bytes(df) -> int:
    """Bytes a DataFrame's columns hold. Unlike ``memory_usage(deep=True)``, an object
    shared by many cells counts once: a column of None is 8 bytes a row (its pointers),
    not 24 (pandas adds ``sys.getsizeof(None)`` per cell)."""
    total = 0
    for c in df.columns:
        col = df[c]
        if col.dtype != object:
            total += int(col.memory_usage(deep=True, index=False))
            continue
        v = col.to_numpy()
        distinct = {id(x): x for x in v}
        total += v.nbytes + sum(sys.getsizeof(x) for x in distinct.values())
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", type=int, nargs="?", default=1_000_000)
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one)")
    ap.add_argument("--xlsx", action="store_true", help="load the statement saved as an .xlsx workbook instead")
    ap.add_argument("--workers", type=int, help="worker processes cleaning the rows (default: as chaingraph load chooses)")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cg-bench-load-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "statement.csv"
    if not src.exists():
        t = time.perf_counter()
        write_statement(src, args.rows)
        print(f"wrote {args.rows:,} rows ({src.stat().st_size / 1e6:.0f} MB GB18030) in {time.perf_counter() - t:.1f} s")
    if args.xlsx:
        book = work / "statement.xlsx"
        if not book.exists():
            t = time.perf_counter()   # (in a child process: xlsxwriter holds the workbook until saved)
            code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_load; " \
                   f"bench_load.write_workbook(bench_load.Path({str(src)!r}), bench_load.Path({str(book)!r}))"
            subprocess.run([sys.executable, "-c", code], check=True)
            print(f"wrote it as {book.name} ({book.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        src = book
    from chaingraph.ingest import load

    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load0 = os.getloadavg()[0]
    def children_cpu():  # (the cleaning workers, once they have exited)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    t, cpu, cpu_w = time.perf_counter(), time.process_time(), children_cpu()
    r = load(src, store, workers=args.workers)
    dt, cpu, cpu_w = time.perf_counter() - t, time.process_time() - cpu, children_cpu() - cpu_w
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    f = r.files[0]
    print(f"loaded {f.read:,} rows: {f.loaded:,} loaded, {f.merged:,} merged, {f.rejected:,} rejected")
    print(f"time {dt:.1f} s wall  ->  {f.read / dt:,.0f} rows/s end to end; "
          f"CPU (user+sys, all threads) {cpu:.1f} s + worker processes {cpu_w:.1f} s  ->  {f.read / (cpu + cpu_w):,.0f} rows per CPU second")
    print(f"load average (1 min) before {load0:.2f}, after {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"peak RSS {peak:,.0f} MB (before load {rss0:,.0f} MB); store {sum(p.stat().st_size for p in store.rglob('*') if p.is_file()) / 1e6:.0f} MB")
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # (the largest; forked: pages shared with this process counted too)
    if worker:
        print(f"peak RSS of a worker process {worker:,.0f} MB")
    nodes, edges = r.store.nodes, r.store.edges
    graph_mb = (held_bytes(nodes) + held_bytes(edges)) / 2**20
    print(f"graph: {len(nodes):,} nodes, {len(edges):,} edges; {graph_mb:,.0f} MB in memory as the store "
          f"gives them (nodes and edges tables)  ->  peak RSS {peak / graph_mb:.2f}x the graph")
    # (measured after the peak above: reading these back does not change it)
    obs_mb = (held_bytes(r.store.tables.node_obs) + held_bytes(r.store.tables.edge_obs)) / 2**20
    print(f"with every observation's provenance (node_obs, edge_obs: {obs_mb:,.0f} MB more): "
          f"{graph_mb + obs_mb:,.0f} MB  ->  peak RSS {peak / (graph_mb + obs_mb):.2f}x the graph with its provenance")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
