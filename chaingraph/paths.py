"""Evidence paths: the k shortest ways two entities are connected, with provenance.

Direction is ignored (a shared phone links two accounts whichever way the
edges point). The neighbourhoods of both ends are read through the view
(``max_hops`` split between them), so only the part of the graph that can hold
a short path is touched; each edge of each path carries the source records
(file, sheet, row) behind it from ``view.evidence``.

Examples
--------
>>> import pandas as pd
>>> from chaingraph.view import MemoryView
>>> nodes = pd.DataFrame({"id": ["bank_account:A", "phone:P", "bank_account:B"],
...                       "kind": ["bank_account", "phone", "bank_account"], "key": ["A", "P", "B"]})
>>> edges = pd.DataFrame({"id": [1, 2], "kind": ["bound_to", "bound_to"],
...                       "source": ["bank_account:A", "bank_account:B"], "target": ["phone:P", "phone:P"]})
>>> r = paths(MemoryView(nodes, edges), "bank_account:A", "bank_account:B")
>>> r.edges[["path", "step", "id", "from", "to"]].values.tolist()
[[0, 0, 1, 'bank_account:A', 'phone:P'], [0, 1, 2, 'phone:P', 'bank_account:B']]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice

import networkx as nx
import pandas as pd

from .exc import ChaingraphError
from .trace import records, resolve_refs, to_subgraph

__all__ = ["paths", "PathsResult"]


@dataclass
class PathsResult:
    """``edges``: one row per step of each path (``path``, ``step``, ``from``,
    ``to`` plus the full edge row and ``evidence``: a list of
    ``{file, sheet, row}``); ``nodes``: the entities on any path."""

    a: str
    b: str
    nodes: pd.DataFrame
    edges: pd.DataFrame

    @property
    def count(self) -> int:
        return int(self.edges["path"].nunique()) if len(self.edges) else 0

    def to_json(self) -> dict:
        out = []
        for p, g in self.edges.groupby("path", sort=True):
            out.append({
                "length": len(g),
                "nodes": [g["from"].iloc[0]] + list(g["to"]),
                "edges": records(g, ("kind", "source", "target", "id", "from", "to", "time", "amount", "evidence")),
            })
        return {"from": self.a, "to": self.b, "paths": out,
                "nodes": records(self.nodes, ("kind", "key", "id", "label"))}

    def to_json_str(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2, default=str)

    def subgraph(self):
        return to_subgraph(self.nodes, self.edges.drop(columns=["path", "step", "from", "to", "evidence"])
                           .drop_duplicates("id"))


def _expand(view, start, depth, limit):
    """Edges within ``depth`` undirected steps of ``start`` (stops growing past ``limit`` nodes)."""
    seen, frontier, parts = {start}, [start], []
    for _ in range(depth):
        if not frontier or len(seen) > limit:
            break
        e = view.edges(frontier, "both")
        parts.append(e)
        nxt = (set(e["source"]) | set(e["target"])) - seen
        seen |= nxt
        frontier = sorted(nxt)
    return parts


def paths(view, a, b, k: int = 3, max_hops: int = 6, limit: int = 50_000) -> PathsResult:
    """The ``k`` shortest paths (at most ``max_hops`` edges, direction ignored) between two entities.

    Parallel edges between the same two entities make distinct paths; ties
    are broken by edge id, so results are the same on every backend.
    Returns an empty result when there is no such path.
    """
    if k < 1 or max_hops < 1:
        raise ChaingraphError("k and max_hops must be at least 1")
    (a,), (b,) = resolve_refs(view, a), resolve_refs(view, b)
    if a == b:
        raise ChaingraphError(f"both ends are {a}")
    parts = _expand(view, a, (max_hops + 1) // 2, limit) + _expand(view, b, max_hops // 2, limit)
    e = pd.concat(parts, ignore_index=True).drop_duplicates("id") if parts else pd.DataFrame()
    g = nx.Graph()
    if len(e):
        for eid, s, t in sorted(e[["id", "source", "target"]].itertuples(index=False, name=None)):
            if s == t:
                continue
            if g.has_edge(s, t):
                g[s][t]["ids"].append(int(eid))
            else:
                g.add_edge(s, t, ids=[int(eid)])
    found = []
    if a in g and b in g and nx.has_path(g, a, b):
        for p in nx.shortest_simple_paths(g, a, b):
            if len(p) - 1 > max_hops or len(found) >= k:
                break
            # expand parallel edges into distinct paths, lowest ids first
            combos = [[]]
            for u, v in zip(p, p[1:]):
                combos = [c + [(eid, u, v)] for c in combos for eid in g[u][v]["ids"]][: k - len(found)]
            found += combos
    found = found[:k]
    rows = [(i, j, eid, u, v) for i, steps in enumerate(found) for j, (eid, u, v) in enumerate(steps)]
    steps = pd.DataFrame(rows, columns=["path", "step", "id", "from", "to"])
    edges = steps.merge(e, on="id", how="left") if len(steps) else steps
    if len(edges):
        ev = view.evidence(sorted(set(edges["id"])))
        evm = {}
        for eid, f, sh, r in ev[["id", "file", "sheet", "row"]].itertuples(index=False, name=None):
            evm.setdefault(int(eid), []).append({"file": f, "sheet": sh, "row": None if pd.isna(r) else int(r)})
        edges["evidence"] = [evm.get(int(i), []) for i in edges["id"]]
    else:
        edges["evidence"] = []
    ids = list(dict.fromkeys([a] + list(edges["from"]) + list(edges["to"]) + [b])) if len(edges) else [a, b]
    nodes = view.nodes(ids)
    return PathsResult(a=a, b=b, nodes=nodes, edges=edges)
