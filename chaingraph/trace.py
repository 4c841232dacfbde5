"""Chain traversal: what feeds an entity (upstream) and what it feeds (downstream).

A *chain step* follows an edge the way the schema says the chain runs: a
downstream step goes from the edge's upstream end to the other end (see
``upstream`` in ``schema.yaml``), an upstream step the other way. Two kinds of
step are *pivots*, bounded per trace by ``max_pivots``:

- crossing an identity link (``upstream: none``: holds, bound to, logged in
  from, member of) in either direction;
- crossing a ``pivot: true`` edge against the trace direction, e.g. tracing
  upstream from a case to the account it paid (``paid_to``), from where the
  trace goes on upstream to whoever supplied that card.

Nothing here names an edge kind: everything comes from the schema, so a new
kind of link is traced as soon as it is declared.

Examples
--------
>>> import pandas as pd
>>> from chaingraph.view import MemoryView
>>> nodes = pd.DataFrame({"id": ["case:C1", "bank_account:6222", "im_account:dealer"],
...                       "kind": ["case", "bank_account", "im_account"],
...                       "key": ["C1", "6222", "dealer"]})
>>> edges = pd.DataFrame({"id": [1, 2], "kind": ["paid_to", "supplied"],
...                       "source": ["case:C1", "im_account:dealer"],
...                       "target": ["bank_account:6222", "bank_account:6222"]})
>>> r = trace(MemoryView(nodes, edges), "case:C1", direction="upstream")
>>> r.nodes[["id", "hops", "pivots"]].values.tolist()
[['case:C1', 0, 0], ['bank_account:6222', 1, 1], ['im_account:dealer', 2, 1]]
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from .exc import ChaingraphError
from .export import LIMIT, print_table, row_limit

__all__ = ["trace", "TraceResult", "resolve_refs"]

DIRECTIONS = ("downstream", "upstream", "both")


def resolve_refs(view, ref_or_refs) -> list[str]:
    """Node ids for one reference or several (``kind:value`` or bare identifiers)."""
    refs = [ref_or_refs] if isinstance(ref_or_refs, str) else list(ref_or_refs)
    if not refs:
        raise ChaingraphError("no reference given")
    return list(dict.fromkeys(view.resolve(r) for r in refs))


def _jsonable(v):
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    return v


def records(df: pd.DataFrame, columns: Iterable[str]) -> list[dict]:
    """JSON-ready records of ``columns`` of ``df`` (missing values as None, times ISO)."""
    cols = [c for c in columns if c in df.columns]
    return [{c: _jsonable(v) for c, v in zip(cols, row)} for row in df[cols].itertuples(index=False, name=None)]


def to_subgraph(nodes: pd.DataFrame, edges: pd.DataFrame):
    """A networkx MultiDiGraph of result rows, with the attributes ``Store.graph()`` gives.

    ``nodes`` are node rows (store columns plus the result's own, such as
    ``hops`` or ``level``, which become node attributes too); ``edges`` are
    full edge rows (plus result columns such as ``attributed``).
    """
    from .graph import to_networkx

    e = edges.drop(columns=[c for c in ("n_obs",) if c in edges.columns])
    return to_networkx(nodes.drop(columns=[c for c in ("n_obs",) if c in nodes.columns]), e)


@dataclass
class TraceResult:
    """Entities reached by :func:`trace` and the edges that reached them.

    ``nodes``: ``id, kind, key, label, hops, pivots, direction`` (the start
    entities with hops 0). ``edges``: full edge rows of every step that first
    reached an entity (its predecessor edges, so each entity's paths can be
    read back), with ``from``/``to`` (the direction walked), ``step``
    (``chain`` or ``pivot``), ``hops`` (of ``to``) and ``direction``.
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    start: list[str] = field(default_factory=list)
    truncated: bool = False

    NODE_COLUMNS = ("id", "kind", "key", "label", "hops", "pivots", "direction")
    EDGE_COLUMNS = ("id", "kind", "source", "target", "from", "to", "step", "hops", "direction", "time", "amount")

    def paths_to(self, node_id: str) -> list[list]:
        """Every shortest path (list of edge ids) from a start entity to ``node_id``."""
        preds: dict = {}
        for eid, a, b in self.edges[["id", "from", "to"]].itertuples(index=False, name=None):
            preds.setdefault(b, []).append((int(eid), a))
        out = []

        def walk(n, acc, seen):
            if n in self.start or n not in preds:
                out.append(list(reversed(acc)))
                return
            for eid, a in preds[n]:
                if a not in seen:
                    walk(a, acc + [eid], seen | {a})

        walk(node_id, [], {node_id})
        return out

    def to_json(self) -> dict:
        """``{"nodes": [{"kind", "key", "hops", …}], "edges": [{"kind", "source", "target", …}]}``."""
        return {
            "start": list(self.start),
            "truncated": self.truncated,
            "nodes": records(self.nodes, ("kind", "key", "id", "label", "hops", "pivots", "direction")),
            "edges": records(self.edges, ("kind", "source", "target", "id", "from", "to", "step", "hops",
                                          "direction", "time", "amount")),
        }

    def to_json_str(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2)

    def subgraph(self):
        """The result as a networkx MultiDiGraph (node attributes include hops, pivots)."""
        edges = self.edges.drop(columns=["from", "to"]).drop_duplicates("id")
        return to_subgraph(self.nodes, edges)


def _step_table(schema, direction: str) -> dict:
    """For each edge kind: the step type when walked forward (source->target) and backward.

    Values are ``"chain"``, ``"pivot"`` or None (not walkable in this direction).
    """
    table = {}
    for name, ek in schema.edges.items():
        if ek.upstream == "none":
            fwd = bwd = "pivot"
        else:
            # walking source->target is a downstream step iff the source is upstream
            fwd_dir = "downstream" if ek.upstream == "source" else "upstream"
            bwd_dir = "upstream" if fwd_dir == "downstream" else "downstream"
            fwd = "chain" if fwd_dir == direction else ("pivot" if ek.pivot else None)
            bwd = "chain" if bwd_dir == direction else ("pivot" if ek.pivot else None)
        table[name] = (fwd, bwd)
    return table


def _in_time(df: pd.DataFrame, since, until) -> pd.DataFrame:
    if (since is None and until is None) or "time" not in df or not len(df):
        return df
    t = df["time"]
    keep = pd.Series(True, index=df.index)
    if since is not None:
        keep &= t.isna() | (t >= _ts(since))
    if until is not None:
        keep &= t.isna() | (t <= _ts(until))
    return df[keep]


def _ts(v) -> pd.Timestamp:
    ts = pd.Timestamp(v)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _bfs(view, starts, direction, hops, max_pivots, since, until, edge_kinds, limit):
    table = _step_table(view.schema, direction)
    best = {s: (0, 0) for s in starts}          # node -> (hops, pivots) first reached
    seen = {s: 0 for s in starts}               # node -> fewest pivots any visit used
    frontier = dict(seen)
    parts, truncated = [], False
    for h in range(1, hops + 1):
        if not frontier:
            break
        ids = list(frontier)
        e = view.edges(ids, "both", kinds=edge_kinds)
        e = _in_time(e, since, until)
        if not len(e):
            break
        kinds = e["kind"].to_numpy(dtype=object)
        src, dst = e["source"].to_numpy(dtype=object), e["target"].to_numpy(dtype=object)
        moves = []
        for fwd, a, b in ((0, src, dst), (1, dst, src)):
            at = np.fromiter((x in frontier for x in a), bool, len(a)) & (src != dst)
            step = np.array([table.get(k, (None, None))[fwd] for k in kinds], dtype=object)
            ok = at & (step != None)  # noqa: E711
            if not ok.any():
                continue
            idx = np.flatnonzero(ok)
            piv = np.array([frontier[x] for x in a[idx]], np.int64) + (step[idx] == "pivot")
            moves.append(pd.DataFrame({"row": idx, "from": a[idx], "to": b[idx], "step": step[idx], "pivots": piv}))
        if not moves:
            break
        m = pd.concat(moves, ignore_index=True)
        m = m[m["pivots"] <= max_pivots]
        prev = m["to"].map(seen).astype("float64").fillna(np.inf)
        m = m[m["pivots"] < prev]
        if not len(m):
            break
        m = m[m["pivots"] == m.groupby("to")["pivots"].transform("min")]
        nxt = m.groupby("to", sort=False)["pivots"].min().to_dict()
        for n, p in nxt.items():
            seen[n] = p
            if n not in best:
                best[n] = (h, p)
        rows = e.iloc[m["row"].to_numpy()].reset_index(drop=True)
        rows["from"], rows["to"] = m["from"].to_numpy(), m["to"].to_numpy()
        rows["step"], rows["hops"] = m["step"].to_numpy(), h
        parts.append(rows)
        frontier = nxt
        if len(best) > limit:
            truncated = h < hops
            break
    return best, parts, truncated


def trace(view, ref_or_refs, direction: str = "downstream", hops: int = 4, kinds=None,
          since=None, until=None, max_pivots: int = 2, limit: int = 10_000, edge_kinds=None) -> TraceResult:
    """Trace the chain from one or more entities, upstream, downstream or both.

    Parameters
    ----------
    view : View
    ref_or_refs : str or list of str
        ``kind:value`` or bare identifiers, resolved with ``view.resolve``.
    direction : {"downstream", "upstream", "both"}
        ``both`` is the union of the two traces (``direction`` column says
        which reached each entity).
    hops : int
        Most steps (chain steps and pivots) from a start entity.
    kinds : list of str, optional
        Node kinds reported; the trace still walks through the others.
    since, until : timestamp, optional
        Edges with a time outside the range are not walked (edges without a
        time, such as holds, always are).
    max_pivots : int
        Most pivots (identity links, pivot edges against the chain) on a path.
    limit : int
        Stop after the hop level at which more than ``limit`` entities were
        reached (``truncated`` is then True).
    edge_kinds : list of str, optional
        Only walk these edge kinds.

    Returns
    -------
    TraceResult

    Raises
    ------
    UnknownReference, AmbiguousReference
        A reference names nothing, or several entities (candidates listed).
    """
    if direction not in DIRECTIONS:
        raise ChaingraphError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if hops < 0 or max_pivots < 0:
        raise ChaingraphError("hops and max_pivots must not be negative")
    starts = resolve_refs(view, ref_or_refs)
    dirs = ("downstream", "upstream") if direction == "both" else (direction,)
    reached: dict = {}
    edge_parts, truncated = [], False
    for d in dirs:
        best, parts, trunc = _bfs(view, starts, d, hops, max_pivots, since, until, edge_kinds, limit)
        truncated |= trunc
        for n, (h, p) in best.items():
            if n not in reached or (h, p) < reached[n][:2]:
                reached[n] = (h, p, d if h else "start")
            elif reached[n][:2] == (h, p) and reached[n][2] != d and h:
                reached[n] = (h, p, "both")
        for part in parts:
            part["direction"] = d
        edge_parts += parts
    hp = pd.DataFrame([(n, h, p, d) for n, (h, p, d) in reached.items()],
                      columns=["id", "hops", "pivots", "direction"])
    nodes = view.nodes(list(hp["id"]))
    nodes = nodes.merge(hp, on="id", how="inner")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        nodes = nodes[nodes["kind"].isin(kinds) | nodes["id"].isin(starts)]
    nodes = nodes.sort_values(["hops", "pivots", "id"], kind="stable", ignore_index=True)
    lead = [c for c in TraceResult.NODE_COLUMNS if c in nodes.columns]
    nodes = nodes[lead + [c for c in nodes.columns if c not in lead]]
    if edge_parts:
        edges = pd.concat(edge_parts, ignore_index=True)
        edges = edges.sort_values(["hops", "direction", "id", "from"], kind="stable", ignore_index=True)
    else:
        edges = pd.DataFrame(columns=list(TraceResult.EDGE_COLUMNS))
    lead = [c for c in TraceResult.EDGE_COLUMNS if c in edges.columns]
    edges = edges[lead + [c for c in edges.columns if c not in lead]]
    return TraceResult(nodes=nodes, edges=edges, start=starts, truncated=truncated)


# -- command line (thin: one library call per command) -----------------------------

def _open_view(path):
    from .store import Store
    from .view import MemoryView

    return MemoryView(Store.open(path))


def _print_table(df, columns, limit):
    print_table(df[[c for c in columns if c in df.columns]], limit)


def cmd_trace(args) -> int:
    r = trace(_open_view(args.store), args.ref, direction=args.direction, hops=args.hops,
              kinds=args.kind or None, since=args.since, until=args.until, max_pivots=args.max_pivots)
    if args.json:
        print(r.to_json_str())
    else:
        _print_table(r.nodes, ("hops", "pivots", "direction", "kind", "key", "label"), args.limit)
        if r.truncated:
            print("(stopped early: more than the limit of entities reached)")
    return 0


def cmd_flow(args) -> int:
    from .flow import flow

    r = flow(_open_view(args.store), args.ref, window=args.window, hops=args.hops, min_amount=args.min_amount,
             method=args.method, direction=args.direction)
    if args.json:
        print(r.to_json_str())
    else:
        print("accounts reached:")
        _print_table(r.accounts, ("level", "kind", "key", "received", "passed", "remainder", "status", "reason"),
                     args.limit)
        print("\nstatements to request next (frontier):")
        _print_table(r.frontier, ("level", "kind", "key", "remainder"), args.limit)
        print("\nuntraced: " + ", ".join(f"{k} {v:,.2f}" for k, v in r.untraced.items()))
    return 0


def cmd_path(args) -> int:
    from .paths import paths

    r = paths(_open_view(args.store), args.a, args.b, k=args.k, max_hops=args.max_hops)
    if args.json:
        print(r.to_json_str())
    elif not r.count:
        print(f"no path of at most {args.max_hops} steps between {r.a} and {r.b}")
    else:
        for p, g in r.edges.groupby("path"):
            print(f"path {p + 1} ({len(g)} steps):")
            for a, kind, b, evidence in zip(g["from"], g["kind"], g["to"], g["evidence"]):
                ev = "; ".join(f"{e['file']}:{e['row']}" for e in evidence[:3])
                print(f"  {a} -[{kind}]- {b}   {ev}")
    return 0


def cmd_evidence(args) -> int:
    """The source records (file, sheet, row) behind entities and edges."""
    view = _open_view(args.store)
    edges = [r.split(":", 1)[1].strip() for r in args.refs if r.lower().startswith("edge:")]
    bad = [e for e in edges if not re.fullmatch(r"-?\d+", e)]
    if bad:
        raise ChaingraphError(f"edge:{bad[0]}: an edge is named by its id, a whole number (as trace, flow and path print it)")
    nodes = resolve_refs(view, [r for r in args.refs if not r.lower().startswith("edge:")]) \
        if len(edges) < len(args.refs) else []
    ev = view.evidence(nodes + [int(e) for e in edges])
    found = {str(i) for i in ev["id"]}
    missing = [e for e in edges if e not in found]
    if missing:
        raise ChaingraphError(f"edge:{missing[0]}: no such edge in {args.store}")
    if args.json:
        print(json.dumps(records(ev, ["id", "file", "sheet", "row"]), ensure_ascii=False, indent=2))  # (edge ids as trace prints them)
    else:
        for i, g in ev.groupby(ev["id"].astype(str), sort=False):
            print(("edge:" + i) if i not in nodes else i)
            for f, sh, row in zip(g["file"], g["sheet"], g["row"]):
                print(f"  {f}{' [' + sh + ']' if sh else ''} row {row}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("evidence", help="the source records (file, sheet, row) behind entities and edges")
    p.add_argument("--store", required=True)
    p.add_argument("refs", nargs="+", metavar="REF", help="kind:value or identifier of an entity, or edge:ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evidence)
    p = sub.add_parser("trace", help="trace the chain upstream / downstream from an entity")
    p.add_argument("--store", required=True)
    p.add_argument("--from", dest="ref", required=True, action="append", help="kind:value or identifier (repeatable)")
    p.add_argument("--direction", choices=DIRECTIONS, default="downstream")
    p.add_argument("--hops", type=int, default=4)
    p.add_argument("--max-pivots", type=int, default=2)
    p.add_argument("--kind", action="append", help="only report these node kinds (repeatable)")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--window", help="accepted for symmetry with flow; trace does not use it")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=row_limit, default=LIMIT, help=f"rows printed as a table (default {LIMIT}; 0: all)")
    p.set_defaults(func=cmd_trace)
    p = sub.add_parser("flow", help="follow the money (fund penetration) from a case or accounts")
    p.add_argument("--store", required=True)
    p.add_argument("--from", dest="ref", required=True, action="append", help="case or account (repeatable)")
    p.add_argument("--window", default="72h", help="dwell window (default 72h)")
    p.add_argument("--hops", type=int, default=6)
    p.add_argument("--min-amount", type=float, default=0)
    p.add_argument("--method", choices=("fifo", "proportional"), default="fifo")
    p.add_argument("--direction", choices=("forward", "backward"), default="forward")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=row_limit, default=LIMIT, help=f"rows printed per table (default {LIMIT}; 0: all)")
    p.set_defaults(func=cmd_flow)
    p = sub.add_parser("path", help="k shortest evidence paths between two entities")
    p.add_argument("--store", required=True)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--max-hops", type=int, default=6)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_path)
