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

    def money_edges(self, ids: Iterable[str], direction: str = "out", since=None, until=None) -> pd.DataFrame:
        """Money edges (kinds in ``schema.money_edges``) leaving (``out``) or entering (``in``) ``ids``.

        ``since``/``until`` are None (unbounded), one timestamp, or one bound
        per id (aligned with ``ids``, so each node gets its own time range;
        int64 nanoseconds or anything pandas reads). Bounds are inclusive;
        edges without a time are kept only when a node has neither bound.
        Columns ``id, kind, source, target, time, amount, seen_by`` (string
        columns may be categorical); row order is not significant (callers sort). The hot path of fund tracing; on
        Neo4j one parameterised query::

            UNWIND $rows AS r MATCH (a:Entity {id: r.id})-[e:MONEY]->(b)
            WHERE (r.since IS NULL OR e.time >= r.since) AND (r.until IS NULL OR e.time <= r.until)
            RETURN e.id, e.kind, a.id, b.id, e.time, e.amount, e.seen_by
        """

    def money_arrays(self, ids, direction: str = "out", since=None, until=None) -> dict:
        """:meth:`money_edges` as plain numpy arrays, for hot loops (no DataFrame per hop).

        ``ids`` are node ids, or int64 node *codes* from :meth:`codes`;
        ``since``/``until`` as for :meth:`money_edges` (int64 nanoseconds per
        id, ``NaT``'s int64 for unbounded). Returns a dict of aligned arrays:
        ``slot`` (position in ``ids`` of the node the edge leaves, for ``out``,
        or enters, for ``in``), ``other`` (the node at the other end: node ids,
        or codes when codes were given), ``time`` (int64 ns), ``amount``
        (float64), ``id`` (int64 edge id), ``kind`` and ``seen_by`` (object).
        Rows are grouped by ``slot`` and time-ordered within it. On Neo4j the
        same single parameterised query per hop as :meth:`money_edges`
        (codes are a dictionary the view keeps of the node ids it has seen)::

            UNWIND range(0, size($ids) - 1) AS slot
            MATCH (a:Entity {id: $ids[slot]})-[e:MONEY]->(b)
            WHERE ($since[slot] IS NULL OR e.time >= $since[slot])
              AND ($until[slot] IS NULL OR e.time <= $until[slot])
            RETURN slot, b.id AS other, e.time.epochMillis AS time, e.amount, e.id, e.kind, e.seen_by
            ORDER BY slot, time
        """

    def codes(self, ids) -> np.ndarray:
        """int64 codes of node ids (-1 for unknown ids), for :meth:`money_arrays`."""

    def ids_of(self, codes) -> np.ndarray:
        """Node ids (object array) of codes from :meth:`codes` / :meth:`money_arrays`."""

    def has_statement(self, ids: Iterable[str]) -> pd.Series:
        """Whether each of ``ids`` has its own statement loaded (bool Series indexed by id).

        True when some money edge of the node was seen from the node's end:
        ``seen_by`` is ``source``/``both`` on an edge it sends, ``target``/``both``
        on one it receives. Unknown ids are False. On Neo4j one query::

            UNWIND $ids AS i OPTIONAL MATCH (a:Entity {id: i})
            RETURN i, EXISTS { (a)-[e:MONEY]->() WHERE e.seen_by IN ['source','both'] }
                   OR EXISTS { (a)<-[f:MONEY]-() WHERE f.seen_by IN ['target','both'] }

        (two variables, ``e`` and ``f``: with ``e`` in both subqueries Neo4j 5.26 answers
        wrongly.)
        """

    def all_edges(self, kinds: Iterable[str] | None = None) -> pd.DataFrame:
        """Every edge of ``kinds`` (for whole-graph algorithms)."""

    def evidence(self, ids) -> pd.DataFrame:
        """Provenance rows ``id, file, sheet, row`` behind nodes or edges."""


# nodes with at most this many money edges in a direction are scanned, not binary-searched
_SCAN = 32
_DIGITS = re.compile(r"^\+?[\d\s\-]+$")


def candidate_ids(schema: Schema, ref: str) -> list[str]:
    """Node ids a reference could mean, by cleaning it with each kind's key type.

    >>> candidate_ids(load_schema(), "phone:+86 138 0000 0000")
    ['phone:13800000000']
    """
    try:
        from .types import get_type
    except ImportError:  # identifier types not installed yet: take values as written
        get_type = None

    ref = ref.strip()
    kind, sep, value = ref.partition(":")
    if sep and kind in schema.nodes:
        kinds = [kind]
    else:
        kinds, value = list(schema.nodes), ref
    out = []
    for k in kinds:
        if get_type is None:
            out.append(schema.node_id(k, value.strip()))
            continue
        try:
            key = get_type(schema.nodes[k].key).clean(value)
        except Exception:
            continue
        if key is not None:
            out.append(schema.node_id(k, str(key)))
    return list(dict.fromkeys(out))


class MemoryView:
    """A :class:`View` over an embedded store's tables, with integer indexes.

    Every edge end is a node position; edges are indexed CSR-style by
    (source, time) and by (target, time), so the edges of a few nodes are a
    few array slices. Money edges (``schema.money_edges``) have a second index
    keyed by ``node << 32 | seconds``, so the money edges of many nodes, each
    within its own time range, are found with two vectorised binary searches
    (:meth:`money_edges`), without touching the rest of the graph.
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
        self._node_ids = self._node_pos.to_numpy(dtype=object)
        self._pos_of = dict(zip(self._node_ids.tolist(), range(len(self._node_ids))))
        e = edges.reset_index(drop=True)
        if "time" not in e:
            e["time"] = pd.Series(pd.NaT, index=e.index, dtype="datetime64[ns, UTC]")
        if not pd.api.types.is_datetime64_any_dtype(e["time"]):
            e["time"] = pd.to_datetime(e["time"], utc=True, format="ISO8601")
        e["time"] = pd.to_datetime(e["time"], utc=True).astype("datetime64[ns, UTC]")
        if "amount" not in e:
            e["amount"] = np.nan
        self._edges = e
        n, m = len(self._nodes), len(e)
        src = self._node_pos.get_indexer(e["source"]).astype(np.int64)
        dst = self._node_pos.get_indexer(e["target"]).astype(np.int64)
        t = e["time"].to_numpy("datetime64[ns]").view("int64") if m else np.zeros(0, "int64")
        self._src, self._dst, self._t = src, dst, t
        self._by = {}
        for name, ends in (("out", src), ("in", dst)):
            order = np.lexsort((t, ends)) if m else np.zeros(0, "int64")
            order = order[ends[order] >= 0]
            counts = np.bincount(ends[ends >= 0], minlength=n) if m else np.zeros(n, "int64")
            start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            self._by[name] = (order, start)
        self._build_money_index()

    def _build_money_index(self) -> None:
        e, src, dst, t = self._edges, self._src, self._dst, self._t
        n = len(self._nodes)
        money = e["kind"].isin(list(self.schema.money_edges)).to_numpy() & (src >= 0) & (dst >= 0) if len(e) else np.zeros(0, bool)
        mi = np.flatnonzero(money)
        nat = np.iinfo(np.int64).min
        tm = t[mi]
        valid = tm != nat
        self._t0 = int(tm[valid].min()) if valid.any() else 0
        sec = np.where(valid, np.clip((tm - self._t0) // 1_000_000_000 + 1, 1, 2**32 - 1), 0)
        seen = e["seen_by"].astype("object").to_numpy() if "seen_by" in e else np.full(len(e), "both", object)
        kinds = e["kind"].to_numpy(dtype=object)
        self._mkinds = np.array(sorted(set(kinds[mi])) or [""], dtype=object)
        self._mseen = np.array(["", "source", "target", "both"], dtype=object)
        seen_code = np.zeros(len(mi), np.int8)
        for code, s in enumerate(self._mseen):
            seen_code[seen[mi] == s] = code
        has = np.zeros(n, bool)
        has[src[mi[(seen_code & 1) == 1]]] = True
        has[dst[mi[(seen_code & 2) == 2]]] = True
        self._has_statement = has
        amount = pd.to_numeric(e["amount"], errors="coerce").to_numpy(np.float64)
        self._money = {}
        self._ids_dtype = None
        self._kinds_dtype = pd.CategoricalDtype(pd.Index(self._mkinds, dtype=object))
        self._seen_dtype = pd.CategoricalDtype(pd.Index(self._mseen, dtype=object))
        for name, ends, other in (("out", src, dst), ("in", dst, src)):
            key = (ends[mi].astype(np.int64) << 32) | sec.astype(np.int64)
            o = np.lexsort((mi, tm, key))
            counts = np.bincount(ends[mi], minlength=n) if len(mi) else np.zeros(n, np.int64)
            self._money[name] = {
                "start": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),   # CSR offsets per node
                "key": key[o], "edge": mi[o], "t": tm[o], "other": other[mi][o], "end": ends[mi][o],
                "amount": amount[mi][o], "kind": np.searchsorted(self._mkinds, kinds[mi][o]).astype(np.int16),
                "seen": seen_code[o], "id": e["id"].to_numpy(np.int64)[mi][o],
            }

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

    def _positions(self, ids) -> np.ndarray:
        if isinstance(ids, str):
            ids = [ids]
        get = self._pos_of.get
        return np.fromiter((get(i, -1) for i in ids), np.int64)

    def nodes(self, ids=None, kinds=None) -> pd.DataFrame:
        df = self._nodes
        if ids is not None:
            pos = self._positions(ids)
            df = df.iloc[pos[pos >= 0]]
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        return df.reset_index(drop=True)

    def edges(self, ids, direction="out", kinds=None, since=None, until=None) -> pd.DataFrame:
        if direction not in ("out", "in", "both"):
            raise ValueError(f"direction must be 'out', 'in' or 'both', not {direction!r}")
        pos = np.unique(self._positions(ids))
        pos = pos[pos >= 0]
        parts = []
        for d in (("out", "in") if direction == "both" else (direction,)):
            order, start = self._by[d]
            parts.append(order[_ranges(start[pos], start[pos + 1])])
        idx = np.unique(np.concatenate(parts)) if direction == "both" else parts[0]
        if since is not None or until is not None:
            t = self._t[idx]
            keep = t != np.iinfo(np.int64).min
            if since is not None:
                keep &= t >= _ns(since)
            if until is not None:
                keep &= t <= _ns(until)
            idx = idx[keep]
        df = self._edges.iloc[idx]
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        return df.reset_index(drop=True)

    def codes(self, ids) -> np.ndarray:
        return self._positions(ids)

    def ids_of(self, codes) -> np.ndarray:
        return self._node_ids[np.asarray(codes, np.int64)]

    def _money_select(self, pos, direction, since, until):
        """Rows of the money index of ``direction`` for node positions, each in its own range.

        Returns (index dict, selected rows, slot of each row).
        """
        if direction not in ("out", "in"):
            raise ValueError(f"direction must be 'out' or 'in', not {direction!r}")
        k = len(pos)
        nat, big = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        lo = _bounds(since, k, nat)
        hi = _bounds(until, k, big)
        slots = np.flatnonzero(pos >= 0)
        pos, lo, hi = pos[slots], lo[slots], hi[slots]
        ix = self._money[direction]
        sec = lambda v, up: np.where(  # noqa: E731
            v == nat, 0, np.where(v == big, 2**32 - 1,
                                  np.clip((v - self._t0) // 1_000_000_000 + 1 + up, 1, 2**32 - 1)))
        # a node's rows are start[pos]:start[pos + 1]; nodes with few rows take them all (the
        # time filter below picks), busy ones binary-search (node, second) keys for their range
        a, b = ix["start"][pos], ix["start"][pos + 1]
        big_nodes = np.flatnonzero((b - a > _SCAN) & ((lo != nat) | (hi != big)))
        if len(big_nodes):
            p, l_, h_ = pos[big_nodes], lo[big_nodes], hi[big_nodes]
            a[big_nodes] = np.searchsorted(ix["key"], (p << 32) | sec(l_, 0) - (l_ != nat), "left")
            b[big_nodes] = np.searchsorted(ix["key"], (p << 32) | sec(h_, 1), "right")
            b = np.maximum(a, b)
        sel = _ranges(a, b)
        which = np.repeat(np.arange(len(pos)), b - a)
        t = ix["t"][sel]
        keep = (t >= lo[which]) & (t <= hi[which])
        keep &= (t != nat) | ((lo[which] == nat) & (hi[which] == big))
        return ix, sel[keep], slots[which[keep]]

    def money_arrays(self, ids, direction="out", since=None, until=None) -> dict:
        as_codes = isinstance(ids, np.ndarray) and ids.dtype.kind in "iu"
        pos = ids.astype(np.int64, copy=False) if as_codes else self._positions(ids)
        ix, sel, slot = self._money_select(pos, direction, since, until)
        other = ix["other"][sel]
        return {"slot": slot, "other": other if as_codes else self._node_ids[other],
                "time": ix["t"][sel], "amount": ix["amount"][sel], "id": ix["id"][sel],
                "kind": self._mkinds[ix["kind"][sel]], "seen_by": self._mseen[ix["seen"][sel]]}

    # -- MemoryView only (not part of View): arrays for the hot loops of flow.reach --
    def money_rows(self, codes: np.ndarray, direction: str = "out", since=None, until=None):
        """Rows of the money index for node codes, each within its own time range.

        Like :meth:`money_arrays` with codes, without gathering any column:
        returns ``(index, rows, slot)`` where ``index`` is the dict of aligned
        arrays of the whole money index of ``direction`` (``other``, ``t``,
        ``amount``, ``id``…; rows grouped by node, time-ordered), ``rows`` the
        positions selected and ``slot`` the position in ``codes`` of each.
        Not a :class:`View` method: callers fall back to ``money_arrays``.
        """
        return self._money_select(np.asarray(codes, np.int64), direction, since, until)

    def scratch(self, direction: str = "out"):
        """Two all-False bool arrays (one per money-index row, one per node) to mark visits.

        Returns ``(rows, nodes, release)``; the caller must set back to False
        what it marked and call ``release()``. Reused between calls (no
        allocation per query); a concurrent caller gets fresh arrays.
        """
        import threading

        lock = self.__dict__.setdefault("_scratch_lock", threading.Lock())
        arrays = self.__dict__.setdefault("_scratch", {})
        if not lock.acquire(blocking=False):
            return np.zeros(len(self._money[direction]["t"]), bool), np.zeros(len(self._node_ids), bool), lambda: None
        if direction not in arrays:
            arrays[direction] = (np.zeros(len(self._money[direction]["t"]), bool), np.zeros(len(self._node_ids), bool))
        return arrays[direction] + (lock.release,)

    def ids_categorical(self, codes) -> pd.Categorical:
        """Node ids of codes as a Categorical over all node ids (no string copies)."""
        if self._ids_dtype is None:
            self._ids_dtype = pd.CategoricalDtype(pd.Index(self._node_ids, dtype=object))
        return pd.Categorical.from_codes(np.asarray(codes, np.int64), dtype=self._ids_dtype, validate=False)

    def money_edges(self, ids, direction="out", since=None, until=None) -> pd.DataFrame:
        ix, sel, _ = self._money_select(self._positions(ids), direction, since, until)
        # string columns as categoricals over precomputed categories: no per-call string conversion
        cat = pd.Categorical.from_codes
        end, other = ix["end"][sel], ix["other"][sel]
        src, dst = (end, other) if direction == "out" else (other, end)
        if self._ids_dtype is None:
            self._ids_dtype = pd.CategoricalDtype(pd.Index(self._node_ids, dtype=object))
        return pd.DataFrame({
            "id": ix["id"][sel],
            "kind": cat(ix["kind"][sel], dtype=self._kinds_dtype, validate=False),
            "source": cat(src, dtype=self._ids_dtype, validate=False),
            "target": cat(dst, dtype=self._ids_dtype, validate=False),
            "time": pd.DatetimeIndex(ix["t"][sel].view("datetime64[ns]"), tz="UTC"),
            "amount": ix["amount"][sel],
            "seen_by": cat(ix["seen"][sel], dtype=self._seen_dtype, validate=False),
        }, copy=False)

    def has_statement(self, ids) -> pd.Series:
        ids = [ids] if isinstance(ids, str) else list(ids)
        pos = self._positions(ids)
        val = np.where(pos >= 0, self._has_statement[np.maximum(pos, 0)] if len(self._has_statement) else False, False)
        return pd.Series(val.astype(bool), index=pd.Index(ids, dtype=object), name="has_statement")

    def all_edges(self, kinds=None) -> pd.DataFrame:
        df = self._edges
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        return df.reset_index(drop=True)

    def evidence(self, ids) -> pd.DataFrame:
        if self._store is None:
            return pd.DataFrame(columns=["id", "file_id", "file", "sheet", "row"])
        return self._store.evidence(ids)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each pair, vectorised."""
    starts = np.asarray(starts, np.int64)
    lengths = np.asarray(ends, np.int64) - starts
    total = int(lengths.sum()) if len(lengths) else 0
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def _ns(value) -> int:
    """A timestamp (anything pandas reads; naive means UTC) as int64 nanoseconds."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _bounds(value, k: int, default: int) -> np.ndarray:
    """Per-id time bounds as int64 ns: None, one timestamp, or one per id."""
    if value is None:
        return np.full(k, default, np.int64)
    if isinstance(value, (str, pd.Timestamp, np.datetime64)) or not hasattr(value, "__len__"):
        return np.full(k, _ns(value), np.int64)
    arr = np.asarray(value)
    if len(arr) != k:
        raise ValueError(f"{len(arr)} time bounds for {k} ids")
    if arr.dtype.kind == "i":
        out = arr.astype(np.int64)
    else:
        s = pd.to_datetime(pd.Series(list(value)), utc=True)
        out = s.to_numpy("datetime64[ns]").view("int64").copy()
    return np.where(out == np.iinfo(np.int64).min, default, out)


def money_arrays(view, ids, direction: str = "out", since=None, until=None) -> dict:
    """``view.money_arrays`` (see :class:`View`), or the same built from ``view.money_edges``.

    For views that only implement the DataFrame method; ``ids`` must then be
    node ids (not codes).
    """
    fast = getattr(view, "money_arrays", None)
    if fast is not None:
        return fast(ids, direction, since, until)
    ids = list(ids)
    df = view.money_edges(ids, direction, since=since, until=until)
    end, other = ("source", "target") if direction == "out" else ("target", "source")
    slot_of = {i: k for k, i in enumerate(ids)}
    t = df["time"].to_numpy("datetime64[ns]").view("int64") if len(df) else np.zeros(0, np.int64)
    out = {"slot": np.fromiter((slot_of.get(x, -1) for x in df[end].astype(object)), np.int64, len(df)),
           "other": df[other].astype(object).to_numpy(), "time": t,
           "amount": pd.to_numeric(df["amount"], errors="coerce").to_numpy(np.float64),
           "id": df["id"].to_numpy(np.int64), "kind": df["kind"].astype(object).to_numpy(),
           "seen_by": df["seen_by"].astype(object).to_numpy() if "seen_by" in df else np.full(len(df), "", object)}
    order = np.lexsort((out["id"], out["time"], out["slot"]))
    return {k: v[order] for k, v in out.items()}
