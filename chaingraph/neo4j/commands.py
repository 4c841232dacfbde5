"""``chaingraph neo4j push`` and ``chaingraph neo4j export``: thin wrappers, one library call each."""

from __future__ import annotations

import getpass
import json
import sys


def _connection(args) -> dict:
    kw = {"user": args.user, "database": args.database}
    if args.ask_password:
        kw["password"] = getpass.getpass("Neo4j password: ")
    return kw


def cmd_push(args) -> int:
    from .push import push

    def progress(msg):
        print(msg, file=sys.stderr, flush=True)

    report = push(args.store, args.uri, batch_size=args.batch_size, prune=not args.keep_removed,
                  progress=progress, **_connection(args))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    return 0


def cmd_export(args) -> int:
    from .export import export_csv

    res = export_csv(args.store, args.out, database=args.database or "neo4j")
    n = len(res.node_files) + len(res.edge_files)
    print(f"wrote {n} CSV files to {res.out}; import them (server stopped) with:", file=sys.stderr)
    print(res.command_line)
    print("then 'chaingraph neo4j push' creates the constraints (and finds nothing else to send)", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("neo4j", help="push a store to Neo4j, or export it for neo4j-admin import")
    s = p.add_subparsers(dest="neo4j_command", required=True, metavar="ACTION")
    q = s.add_parser("push", help="write (or sync) a store into Neo4j: only new or changed rows are sent")
    q.add_argument("--store", required=True)
    q.add_argument("--uri", help="bolt://, neo4j://, neo4j+s://… (default: $CHAINGRAPH_NEO4J_URI)")
    q.add_argument("--user", help="default: $CHAINGRAPH_NEO4J_USER")
    q.add_argument("--database", help="default: $CHAINGRAPH_NEO4J_DATABASE, else the server's default")
    q.add_argument("--ask-password", action="store_true",
                   help="prompt for the password (else $CHAINGRAPH_NEO4J_PASSWORD; never give it on the command line)")
    q.add_argument("--batch-size", type=int, default=5000)
    q.add_argument("--keep-removed", action="store_true",
                   help="keep nodes and edges the store no longer has (default: remove them)")
    q.add_argument("--json", action="store_true", help="print the push report as JSON")
    q.set_defaults(func=cmd_push)
    q = s.add_parser("export", help="CSV files for 'neo4j-admin database import full', and the command")
    q.add_argument("--store", required=True)
    q.add_argument("--out", required=True, help="folder for the CSV files")
    q.add_argument("--database", help="database the printed command imports into (default neo4j)")
    q.set_defaults(func=cmd_export)
