"""The narrow seam every query runs over: a read-only *view* of a chain graph.

Queries (trace, fund tracing, link analysis, typologies, roles, paths) are plain
functions taking a :class:`View` as their first argument. Two implementations
sit behind it: :class:`MemoryView` over an embedded store (numpy indexes) and
``chaingraph.neo4j.Neo4jView`` over a Neo4j server (parameterised Cypher). As
long as queries only use the methods below, they give the same answers on both.

All methods return pandas DataFrames with the columns of the store's tables:
nodes ``id, kind, key, label, flags, <properties>``; edges
``id, kind, source, target, time, amount, <properties>``. Edge ``time`` is UTC.
"""

from __future__ import annotations

import re
from typing import Iterable, Protocol

import numpy as np
import pandas as pd

from .exc import AmbiguousReference, UnknownReference
from .schema import Schema, load_schema


class View(Protocol):
    """What a query may ask of a graph. See the module docstring."""

    schema: Schema

    def resolve(self, ref: str) -> str:
        """Node id for a reference ``kind:value`` or a bare identifier.

        Raises UnknownReference / AmbiguousReference listing candidates.
        """

    def nodes(self, ids: Iterable[str] | None = None, kinds: Iterable[str] | None = None) -> pd.DataFrame:
        """Node rows for ``ids`` (all nodes when None), optionally of ``kinds``."""

    def edges(self, ids: Iterable[str], direction: str = "out", kinds: Iterable[str] | None = None,
              since=None, until=None) -> pd.DataFrame:
        """Edges leaving (``out``), entering (``in``) or touching (``both``) the nodes ``ids``.

        ``since``/``until`` bound edge ``time`` (edges without a time are kept
        unless a bound is given).
        """

    def all_edges(self, kinds: Iterable[str] | None = None) -> pd.DataFrame:
        """Every edge of ``kinds`` (for whole-graph algorithms)."""

    def evidence(self, ids) -> pd.DataFrame:
        """Provenance rows ``id, file, sheet, row`` behind nodes or edges."""


_DIGITS = re.compile(r"^\+?[\d\s\-]+$")


def candidate_ids(schema: Schema, ref: str) -> list[str]:
    """Node ids a reference could mean, by cleaning it with each kind's key type.

    >>> candidate_ids(load_schema(), "phone:+86 138 0000 0000")
    ['phone:13800000000']
    """
    from .types import get_type

    ref = ref.strip()
    kind, sep, value = ref.partition(":")
    if sep and kind in schema.nodes:
        kinds = [kind]
    else:
        kinds, value = list(schema.nodes), ref
    out = []
    for k in kinds:
        try:
            key = get_type(schema.nodes[k].key).clean(value)
        except Exception:
            continue
        if key is not None:
            out.append(schema.node_id(k, str(key)))
    return list(dict.fromkeys(out))


class MemoryView:
    """A :class:`View` over an embedded store's tables, with integer indexes.

    Edges are kept sorted by (source, time) and by (target, time) so that the
    edges of a set of nodes are a few array slices.
    """

    def __init__(self, store_or_nodes, edges: pd.DataFrame | None = None, schema: Schema | None = None):
        if edges is None:
            store = store_or_nodes
            nodes, edges = store.nodes, store.edges
            self.schema = schema or store.schema
            self._store = store
        else:
            nodes, self._store = store_or_nodes, None
            self.schema = schema or load_schema()
        self._nodes = nodes.reset_index(drop=True)
        self._node_pos = pd.Index(self._nodes["id"])
        e = edges.reset_index(drop=True)
        if "time" in e:
            e["time"] = pd.to_datetime(e["time"], utc=True)
        self._edges = e
        src = self._node_pos.get_indexer(e["source"])
        dst = self._node_pos.get_indexer(e["target"])
        t = e["time"].to_numpy("datetime64[ns]").view("int64") if "time" in e and len(e) else np.zeros(len(e), "int64")
        self._by = {}
        n = len(self._nodes)
        for name, ends in (("out", src), ("in", dst)):
            order = np.lexsort((t, ends))
            counts = np.bincount(ends[ends >= 0], minlength=n) if len(ends) else np.zeros(n, "int64")
            start = np.concatenate([[0], np.cumsum(counts)])
            self._by[name] = (order, start)

    # -- View ----------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        ref = str(ref).strip()
        if ref in self._node_pos:
            return ref
        cands = [c for c in candidate_ids(self.schema, ref) if c in self._node_pos]
        if len(cands) == 1:
            return cands[0]
        if len(cands) > 1:
            raise AmbiguousReference(ref, cands)
        value = ref.partition(":")[2] if ref.partition(":")[0] in self.schema.nodes else ref
        near = self._nodes["id"][self._nodes["key"].astype("str").str.contains(re.escape(value[:6]), regex=True)].head(10) if len(value) >= 4 else []
        raise UnknownReference(ref, list(near))

    def nodes(self, ids=None, kinds=None) -> pd.DataFrame:
        df = self._nodes
        if ids is not None:
            pos = self._node_pos.get_indexer(list(ids))
            df = df.iloc[pos[pos >= 0]]
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        return df.reset_index(drop=True)

    def edges(self, ids, direction="out", kinds=None, since=None, until=None) -> pd.DataFrame:
        if direction == "both":
            out = pd.concat([self.edges(ids, "out", kinds, since, until), self.edges(ids, "in", kinds, since, until)])
            return out.drop_duplicates("id").reset_index(drop=True)
        pos = self._node_pos.get_indexer(list(ids))
        pos = pos[pos >= 0]
        order, start = self._by[direction]
        if len(pos):
            idx = np.concatenate([order[start[p]:start[p + 1]] for p in pos])
        else:
            idx = np.zeros(0, "int64")
        df = self._edges.iloc[idx]
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        if since is not None:
            df = df[df["time"] >= pd.Timestamp(since)]
        if until is not None:
            df = df[df["time"] <= pd.Timestamp(until)]
        return df.reset_index(drop=True)

    def all_edges(self, kinds=None) -> pd.DataFrame:
        df = self._edges
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        return df.reset_index(drop=True)

    def evidence(self, ids) -> pd.DataFrame:
        if self._store is None:
            return pd.DataFrame(columns=["id", "file_id", "file", "sheet", "row"])
        return self._store.evidence(ids)
