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
import threading
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

    def nodes(self, ids: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
              columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Node rows for ``ids`` (all nodes when None), optionally of ``kinds``.

        ``columns``: only these (and ``id``), of those the table has: for callers that
        walk the rows in Python, or call often for a few rows."""

    def edges(self, ids: Iterable[str], direction: str = "out", kinds: Iterable[str] | None = None,
              since=None, until=None, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Edges leaving (``out``), entering (``in``) or touching (``both``) the nodes ``ids``.

        ``since``/``until`` bound edge ``time`` (edges without a time are kept
        unless a bound is given). ``columns``: as for :meth:`nodes`.
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
_FEW = 64   # segments searched one by one (see _search)
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


def asked_columns(df: pd.DataFrame, columns) -> list:
    """The ``columns`` argument of :meth:`View.nodes` / :meth:`View.edges`: those of ``df``
    asked for, ``id`` first."""
    return [c for c in dict.fromkeys(["id", *columns]) if c in df.columns]


class MemoryView:
    """A :class:`View` over an embedded store's tables, with integer indexes.

    Every edge end is a node position (int32 arrays made without Python strings);
    edges are indexed CSR-style by (source, time) and by (target, time), so the
    edges of a few nodes are a few array slices. Money edges
    (``schema.money_edges``) have their own CSR per direction with their columns
    gathered in that order, so the money edges of many nodes, each within its own
    time range, are a few slices and a vectorised binary search in the busy
    nodes' rows (:meth:`money_edges`), without touching the rest of the graph.

    Construction only numbers edge ends, kinds and times; each index (node id
    lookup, edge CSR per direction, money index per direction) is built on first
    use, once, under a lock, so a whole-graph query (``rings``) never pays for
    the per-node indexes it does not use. :meth:`build_indexes` builds them all.
    The edge table is kept as given (no copy, unless ``time`` must be converted).
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
        e = edges.reset_index(drop=True)
        if "time" not in e:
            e["time"] = pd.Series(pd.NaT, index=e.index, dtype="datetime64[ns, UTC]")
        elif str(e["time"].dtype) != "datetime64[ns, UTC]":
            t = e["time"]
            if not pd.api.types.is_datetime64_any_dtype(t):
                t = pd.to_datetime(t, utc=True, format="ISO8601")
            e["time"] = pd.to_datetime(t, utc=True).astype("datetime64[ns, UTC]")
        if "amount" not in e:
            e["amount"] = np.nan
        self._edges = e
        self._lock = threading.RLock()
        self._narrowed: dict = {}  # narrow copies of the tables (see _narrow)
        self._built: dict = {}
        self._ids_dtype = None
        # per edge: its ends as node positions (-1: not a node), kind code, time as int64 ns (a view)
        seen: dict = {}
        self._src = _node_positions(e["source"], self._nodes["id"], seen)
        self._dst = _node_positions(e["target"], self._nodes["id"], seen)
        del seen
        self._kcode, self._kinds = _factorize(e["kind"])
        self._t = e["time"].to_numpy("datetime64[ns]").view("int64") if len(e) else np.zeros(0, np.int64)

    # -- indexes, each built on first use ------------------------------------
    def _index(self, name: str):
        got = self._built.get(name)
        if got is None:
            with self._lock:
                got = self._built.get(name)
                if got is None:
                    got = self._built[name] = getattr(self, "_build_" + name.split(":")[0])(*name.split(":")[1:])
        return got

    def build_indexes(self) -> "MemoryView":
        """Build every index now (otherwise each is built by the first query needing it)."""
        for name in ("ids", "edges:out", "edges:in", "money:out", "money:in", "statement"):
            self._index(name)
        return self

    def _build_ids(self):
        ids = self._nodes["id"].to_numpy(dtype=object)
        return ids, dict(zip(ids.tolist(), range(len(ids))))

    @property
    def _node_ids(self) -> np.ndarray:
        return self._index("ids")[0]

    def _build_time_order(self):
        """Edge rows in time order (NaT first, ties by row); not kept once the CSRs are built."""
        t = self._t
        if len(t) < 2 or bool((t[1:] >= t[:-1]).all()):
            return np.arange(len(t), dtype=_row_dtype(len(t)))
        return np.argsort(t, kind="stable").astype(_row_dtype(len(t)), copy=False)

    def _build_edges(self, direction):
        """CSR of every edge by (end, time, row): ``(order, start)``, rows of node v ``order[start[v]:start[v + 1]]``."""
        ends = self._src if direction == "out" else self._dst
        n, m = len(self._nodes), len(ends)
        ot = self._index("time_order")
        if m < 2**32:
            # one int64 sort of (end << 32 | rank in time order): values sort much faster than argsort
            key = ends[ot].astype(np.int64)
            key <<= 32
            key |= np.arange(m, dtype=np.int64)
            key.sort()
            key = key[np.searchsorted(key, 0):]            # ends -1 (not a node) sort first: dropped
            key &= 0xFFFFFFFF
            order = ot[key]
            del key
        else:
            order = np.lexsort((self._t, ends)).astype(_row_dtype(m), copy=False)
            order = order[ends[order] >= 0]
        start = np.zeros(n + 1, np.int64)
        if m:
            np.cumsum(np.bincount(ends[ends >= 0], minlength=n), out=start[1:])
        if "edges:out" in self._built or "edges:in" in self._built:
            self._built.pop("time_order", None)           # both directions built: not needed again
        return order, start

    def _build_money_rows(self):
        """Per edge: whether it is a money edge between two nodes, and its ``seen_by`` code
        (0 other, 1 source, 2 target, 3 both); the money kinds present (sorted) and the
        map from edge kind codes to their codes."""
        e, n_kinds = self._edges, len(self._kinds)
        money_kinds = set(self.schema.money_edges)
        is_money_kind = np.array([k in money_kinds for k in self._kinds.tolist()] + [False], bool)
        kc = self._kcode
        money = is_money_kind[np.where(kc >= 0, kc, n_kinds)] & (self._src >= 0) & (self._dst >= 0)
        present = np.zeros(n_kinds + 1, bool)
        present[np.where(kc >= 0, kc, n_kinds)[money]] = True
        mkinds = sorted(self._kinds[present[:n_kinds]].tolist())
        kmap = np.zeros(n_kinds + 1, np.int8 if len(mkinds) < 127 else np.int16)
        for code, k in enumerate(mkinds):
            kmap[self._kinds.tolist().index(k)] = code
        mseen = np.array(["", "source", "target", "both"], dtype=object)
        if "seen_by" in e:
            sc, su = _factorize(e["seen_by"])
            look = np.array([{"source": 1, "target": 2, "both": 3}.get(s, 0) if isinstance(s, str) else 0
                             for s in su.tolist()] + [0], np.int8)
            seen = look[np.where(sc >= 0, sc, len(su))]
        else:
            seen = np.full(len(e), 3, np.int8)
        return {"money": money, "seen": seen, "kinds": np.array(mkinds or [""], dtype=object), "kmap": kmap,
                "seen_names": mseen}

    def _build_money(self, direction):
        """The money index of a direction: rows grouped by node, time-ordered, columns gathered."""
        ends, other = (self._src, self._dst) if direction == "out" else (self._dst, self._src)
        mr = self._index("money_rows")
        order, _ = self._index("edges:" + direction)
        rows = order[mr["money"][order]]
        n = len(self._nodes)
        start = np.zeros(n + 1, np.int64)
        if len(rows):
            np.cumsum(np.bincount(ends[rows], minlength=n), out=start[1:])
        e = self._edges
        amount = pd.to_numeric(e["amount"], errors="coerce").to_numpy(np.float64)
        kc = self._kcode[rows]
        return {
            "start": start,                                   # CSR offsets per node
            "t": self._t[rows], "other": other[rows].astype(np.int64), "amount": amount[rows],
            "id": e["id"].to_numpy(np.int64)[rows], "kind": mr["kmap"][np.where(kc >= 0, kc, -1)],
            "seen": mr["seen"][rows],
        }

    def _build_statement(self):
        mr = self._index("money_rows")
        has = np.zeros(len(self._nodes), bool)
        mi = np.flatnonzero(mr["money"])
        seen = mr["seen"][mi]
        has[self._src[mi[(seen & 1) == 1]]] = True
        has[self._dst[mi[(seen & 2) == 2]]] = True
        return has

    @property
    def _mkinds(self) -> np.ndarray:
        return self._index("money_rows")["kinds"]

    @property
    def _mseen(self) -> np.ndarray:
        return self._index("money_rows")["seen_names"]

    # -- View ----------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        ref = str(ref).strip()
        pos_of = self._index("ids")[1]
        if ref in pos_of:
            return ref
        cands = [c for c in candidate_ids(self.schema, ref) if c in pos_of]
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
        get = self._index("ids")[1].get
        return np.fromiter((get(i, -1) for i in ids), np.int64)

    def _narrow(self, table: str, columns, kinds) -> tuple[pd.DataFrame, list | None]:
        """The nodes or edges table cut to the ``columns`` asked for (with ``id``, and ``kind``
        while filtering by kind; kept for the next call), and the columns to return (None: all)."""
        df = self._nodes if table == "nodes" else self._edges
        if columns is None:
            return df, None
        cols = asked_columns(df, columns)
        key = (table, tuple(cols), kinds is not None)
        if key not in self._narrowed:
            self._narrowed[key] = df[cols + (["kind"] if kinds is not None and "kind" not in cols else [])]
        return self._narrowed[key], cols

    def nodes(self, ids=None, kinds=None, columns=None) -> pd.DataFrame:
        df, cols = self._narrow("nodes", columns, kinds)
        if ids is not None:
            pos = self._positions(ids)
            df = df.iloc[pos[pos >= 0]]
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        return (df if cols is None else df[cols]).reset_index(drop=True)

    def edges(self, ids, direction="out", kinds=None, since=None, until=None, columns=None) -> pd.DataFrame:
        if direction not in ("out", "in", "both"):
            raise ValueError(f"direction must be 'out', 'in' or 'both', not {direction!r}")
        pos = np.unique(self._positions(ids))
        pos = pos[pos >= 0]
        parts = []
        for d in (("out", "in") if direction == "both" else (direction,)):
            order, start = self._index("edges:" + d)
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
        df, cols = self._narrow("edges", columns, kinds)
        df = df.iloc[idx]
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        return (df if cols is None else df[cols]).reset_index(drop=True)

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
        ix = self._index("money:" + direction)
        # a node's rows are start[pos]:start[pos + 1], time-ordered; nodes with few rows take them
        # all (the time filter below picks), busy ones binary-search their range in their rows
        a, b = ix["start"][pos], ix["start"][pos + 1]
        busy = np.flatnonzero((b - a > _SCAN) & ((lo != nat) | (hi != big)))
        if len(busy):
            t = ix["t"]
            a[busy], b[busy] = (_search(t, a[busy], b[busy], lo[busy], "left"),
                                _search(t, a[busy], b[busy], hi[busy], "right"))
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
        ``amount``, ``id``…; rows grouped by node, time-ordered; ``start``: the
        CSR offsets per node) , ``rows`` the positions selected and ``slot`` the
        position in ``codes`` of each.
        Not a :class:`View` method: callers fall back to ``money_arrays``.
        """
        return self._money_select(np.asarray(codes, np.int64), direction, since, until)

    def _id_dtype(self) -> pd.CategoricalDtype:
        if self._ids_dtype is None:
            self._ids_dtype = pd.CategoricalDtype(pd.Index(self._node_ids, dtype=object))
        return self._ids_dtype

    def ids_categorical(self, codes) -> pd.Categorical:
        """Node ids of codes as a Categorical over all node ids (no string copies)."""
        return pd.Categorical.from_codes(np.asarray(codes), dtype=self._id_dtype(), validate=False)

    def money_edges(self, ids, direction="out", since=None, until=None) -> pd.DataFrame:
        pos = self._positions(ids)
        ix, sel, slot = self._money_select(pos, direction, since, until)
        # string columns as categoricals over precomputed categories: no per-call string conversion
        cat = pd.Categorical.from_codes
        end, other = pos[slot], ix["other"][sel]
        src, dst = (end, other) if direction == "out" else (other, end)
        return pd.DataFrame({
            "id": ix["id"][sel],
            "kind": cat(ix["kind"][sel], categories=pd.Index(self._mkinds, dtype=object), validate=False),
            "source": cat(src, dtype=self._id_dtype(), validate=False),
            "target": cat(dst, dtype=self._id_dtype(), validate=False),
            "time": pd.DatetimeIndex(ix["t"][sel].view("datetime64[ns]"), tz="UTC"),
            "amount": ix["amount"][sel],
            "seen_by": cat(ix["seen"][sel], categories=pd.Index(self._mseen, dtype=object), validate=False),
        }, copy=False)

    def has_statement(self, ids) -> pd.Series:
        ids = [ids] if isinstance(ids, str) else list(ids)
        pos = self._positions(ids)
        has = self._index("statement")
        val = np.where(pos >= 0, has[np.maximum(pos, 0)] if len(has) else False, False)
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


def _row_dtype(m: int):
    """The smallest integer type for row positions of a table of ``m`` rows."""
    return np.int32 if m < 2**31 else np.int64


def _node_positions(ends: pd.Series, ids: pd.Series, seen: dict | None = None) -> np.ndarray:
    """Position in ``ids`` of each value of ``ends`` (-1: not there), int32 when it fits.

    Categorical ends are looked up once per category (``seen`` keeps the lookup of
    categories already met, e.g. the source's for the target). Strings are matched by
    Arrow's hash lookup (no Python string per value); other values by a pandas index.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = _row_dtype(len(ids))
    is_cat = isinstance(ends.dtype, pd.CategoricalDtype)
    values = ends.cat.categories if is_cat else ends
    try:
        v, s = pa.array(values), pa.array(ids)
    except (pa.ArrowException, TypeError, ValueError):    # mixed types: the pandas lookup below
        v = s = None
    pos = None
    if is_cat and seen is not None:
        for v2, pos2 in seen.get("categories", ()):
            if v is not None and v2 is not None and len(v2) == len(v) and v2.equals(v):
                pos = pos2
    if pos is not None:
        pass
    elif v is not None and pa.types.is_null(v.type):
        pos = np.full(len(values), -1, dtype)
    elif v is not None and _is_text(v.type) and _is_text(s.type):
        v = v.cast(s.type)
        if len(v) == len(s) and v.equals(s):               # the node ids themselves
            pos = np.arange(len(v), dtype=dtype)
        else:
            pos = np.asarray(pc.index_in(v, value_set=s).fill_null(-1).to_numpy(zero_copy_only=False), dtype)
    else:
        pos = pd.Index(ids).get_indexer(pd.Index(values)).astype(dtype)
    if is_cat:
        if seen is not None:
            seen.setdefault("categories", []).append((v, pos))
        codes = ends.cat.codes.to_numpy()
        missing = codes < 0
        pos = pos[np.where(missing, 0, codes)] if len(pos) else np.full(len(codes), -1, dtype)
        pos[missing] = -1
    return pos


def _is_text(t) -> bool:
    import pyarrow as pa

    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _factorize(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing; int16 when it fits) and the values they stand for (object array)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, uniq = col.cat.codes.to_numpy(), col.cat.categories
    else:
        codes, uniq = pd.factorize(col, use_na_sentinel=True)
    if len(uniq) < 2**15:
        codes = codes.astype(np.int16, copy=False)
    return codes, np.asarray(uniq, dtype=object)


def _search(t: np.ndarray, a: np.ndarray, b: np.ndarray, x: np.ndarray, side: str) -> np.ndarray:
    """Per segment ``t[a_i:b_i]`` (sorted): ``np.searchsorted(t[a_i:b_i], x_i, side) + a_i``.

    A few segments are searched one by one (a fund trace asks for a handful of busy
    accounts at a time); many at once by a binary search over all of them together,
    a few numpy passes per halving (about 20 halvings for a million rows)."""
    if len(a) <= _FEW:
        return np.array([i + np.searchsorted(t[i:j], v, side) for i, j, v in zip(a.tolist(), b.tolist(), x.tolist())],
                        np.int64)
    lo, hi = a.astype(np.int64), b.astype(np.int64)
    while True:
        act = np.flatnonzero(lo < hi)
        if not len(act):
            return lo
        mid = (lo[act] + hi[act]) // 2
        go = t[mid] < x[act] if side == "left" else t[mid] <= x[act]
        lo[act[go]] = mid[go] + 1
        hi[act[~go]] = mid[~go]


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
