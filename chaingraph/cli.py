"""The ``chaingraph`` command line: thin wrappers, one library call per command.

Each feature module that has commands defines ``add_commands(subparsers)``
registering its sub-commands with ``func`` set to a function taking the parsed
arguments and returning an exit code. User errors become one clear line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from .exc import ChaingraphError
from .export import whole_number

# modules contributing commands, in the order they are listed in --help
COMMAND_MODULES = [
    "chaingraph.cli",
    "chaingraph.catalog",
    "chaingraph.demo",
    "chaingraph.evaluate",
    "chaingraph.leads",
    "chaingraph.neo4j",
    "chaingraph.trace",
    "chaingraph.viz",
    "chaingraph.world",
]


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def cmd_load(args) -> int:
    from .export import write_csv
    from .ingest import load

    def progress(msg):
        if not args.json:
            print(msg, file=sys.stderr)

    report = load(args.paths, args.store, mappings=args.mapping or [], progress=progress, workers=args.workers)
    if args.rejects:
        write_csv(args.rejects, report.rejects.drop(columns=["file_id"]))
    if args.json:
        _print_json({
            "files": [f.as_dict() for f in report.files],
            "unrecognised": report.unrecognised,
        })
    else:
        rows = [("file", "sheet", "kind", "encoding", "read", "loaded", "merged", "rejected")]
        for f in report.files:
            rows.append((f.file, f.sheet or "", f.kind, f.encoding or "", f.read, f.loaded, f.merged, f.rejected))
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(str(v).ljust(w) if i < 4 else str(v).rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
        for u in report.unrecognised:
            print(f"not loaded: {u['reason']}", file=sys.stderr)
        n_rej = int((report.rejects["action"] == "row rejected").sum()) if report.rejects is not None else 0
        print(f"store: {args.store}  (rejected rows and dropped cells: {args.store}/rejects.csv, {n_rej} rows in all)")
    return 0 if not report.unrecognised else 3


def cmd_stats(args) -> int:
    from .store import Store

    stats = Store.open(args.store).stats()
    if args.json:
        _print_json(stats)
    else:
        for part in ("nodes", "edges"):
            print(f"{part}: {sum(stats[part].values())}")
            for k, n in stats[part].items():
                print(f"  {k:<16} {n:>10}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("load", help="load case files (CSV, TSV, XLSX, XLS, JSON Lines; files or folders) into a store")
    p.add_argument("paths", nargs="+", help="files or folders (recursive)")
    p.add_argument("--store", required=True, help="store folder (created if absent)")
    p.add_argument("--mapping", action="append", help="your own loader mapping YAML (repeatable), tried first")
    p.add_argument("--rejects", help="also write the rejected rows of this load's store to this CSV")
    p.add_argument("--json", action="store_true", help="print the per-file summary as JSON")
    p.add_argument("--workers", type=whole_number("none"), metavar="N",
                   help="processes that clean the rows (default: one per CPU when the files hold 32 MB or more; 0 or 1: this process alone)")
    p.set_defaults(func=cmd_load)
    p = sub.add_parser("stats", help="count nodes and edges per kind")
    p.add_argument("--store", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chaingraph", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        mod = sys.modules[__name__] if name == __name__ else importlib.import_module(name)
        mod.add_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ChaingraphError as e:
        print(f"chaingraph: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chaingraph: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the output went to a command that stopped reading it (| head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (no second error at exit)
        return 141


if __name__ == "__main__":
    sys.exit(main())
