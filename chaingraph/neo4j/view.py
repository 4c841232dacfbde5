"""``Neo4jView``: the :class:`~chaingraph.view.View` of a store pushed to Neo4j.

Every method sends one (or a few) parameterised statements from
:mod:`chaingraph.neo4j.cypher` and returns the same columns, dtypes and row
order as :class:`~chaingraph.view.MemoryView` on the store that was pushed, so
the queries (trace, flow, links, rings, typologies, roles, leads, paths, the
catalogue) give the same answers on both.

Examples
--------
Against a server (not run here)::

    from chaingraph.neo4j import Neo4jView
    from chaingraph.trace import trace

    view = Neo4jView("neo4j+s://graph.example.org", database="cases")
    trace(view, "case:A4401…", direction="upstream").nodes
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from ..exc import AmbiguousReference, UnknownReference
from ..schema import Schema, load_schema
from ..view import _bounds, asked_columns, candidate_ids
from .cypher import Cypher
from .runner import connect

__all__ = ["Neo4jView"]

_NAT = np.iinfo(np.int64).min


def _ids_list(ids) -> list:
    if isinstance(ids, str):
        return [ids]
    return [str(i) for i in ids]


def _iso_or_none(ns: int) -> str | None:
    if ns == _NAT or ns == np.iinfo(np.int64).max:
        return None
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


def _only(df: pd.DataFrame, columns) -> pd.DataFrame:
    """The ``columns`` of ``df`` asked for (with ``id``), of those it has; all when None."""
    return df if columns is None else df[asked_columns(df, columns)]


class Neo4jView:
    """A read-only view of a chain graph held in Neo4j.

    Parameters
    ----------
    uri_or_driver : str, neo4j.Driver or Runner, optional
        Bolt URI (``bolt://``, ``neo4j://``, ``neo4j+s://`` …), a driver you
        already have, or None for ``CHAINGRAPH_NEO4J_URI``.
    database : str, optional
        Else ``CHAINGRAPH_NEO4J_DATABASE``, else the server's default.
    schema : Schema, optional
        The schema the store was pushed with (default: the packaged one).
    user, password : str, optional
        Else ``CHAINGRAPH_NEO4J_USER`` / ``CHAINGRAPH_NEO4J_PASSWORD``.
    """

    def __init__(self, uri_or_driver=None, database: str | None = None, *, schema: Schema | None = None,
                 user: str | None = None, password: str | None = None, record: list | None = None,
                 max_retry_time: float = 30.0):
        self.schema = schema or load_schema()
        self.runner = connect(uri_or_driver, user=user, password=password, database=database, record=record,
                              max_retry_time=max_retry_time)
        self.cypher = Cypher(self.schema)
        self._dtypes_n = {c: _dtype(t) for c, t in self.cypher.node_columns.items()}
        self._dtypes_e = {c: _dtype(t) for c, t in self.cypher.edge_columns.items()}
        self._dtypes_n["n_obs"] = "int64"   # as the store has them
        self._dtypes_e["id"] = "int64"
        self._code_of: dict = {}
        self._id_of: list = []
        self._absent: set = set()

    def close(self) -> None:
        self.runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- frames ------------------------------------------------------------------
    def _node_frame(self, rows) -> pd.DataFrame:
        df = _frame(rows, self._dtypes_n)
        return df.sort_values("id", kind="stable", ignore_index=True)

    def _edge_frame(self, rows) -> pd.DataFrame:
        return _frame(rows, {**self._dtypes_e, "cg_seq": "int64"})

    # -- View --------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        ref = str(ref).strip()
        cands = list(dict.fromkeys([ref] + candidate_ids(self.schema, ref)))
        found = {r[0] for r in self.runner.read(self.cypher.EXISTING, ids=cands)}
        if ref in found:
            return ref
        cands = [c for c in cands[1:] if c in found]
        if len(cands) == 1:
            return cands[0]
        if len(cands) > 1:
            raise AmbiguousReference(ref, cands)
        value = ref.partition(":")[2] if ref.partition(":")[0] in self.schema.nodes else ref
        near = []
        if len(value) >= 4:
            near = [r[0] for r in self.runner.read(self.cypher.NEAR, value=value[:6])]
        raise UnknownReference(ref, sorted(near))

    def nodes(self, ids: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
              columns: Iterable[str] | None = None) -> pd.DataFrame:
        if ids is None:
            ks = None if kinds is None else [str(k) for k in kinds]
            return _only(self._node_frame(self.runner.table(self.cypher.NODES_ALL, kinds=ks)), columns)
        ids = _ids_list(ids)
        uniq = list(dict.fromkeys(ids))
        df = self._node_frame(self.runner.table(self.cypher.NODES_BY_ID, ids=uniq))
        # rows in the order asked (repeats repeated), as the embedded view gives them
        pos = pd.Index(df["id"]).get_indexer(pd.Index(ids, dtype=object))
        df = df.iloc[pos[pos >= 0]]
        if kinds is not None:
            df = df[df["kind"].isin(list(kinds))]
        return _only(df, columns).reset_index(drop=True)

    def edges(self, ids: Iterable[str], direction: str = "out", kinds: Iterable[str] | None = None,
              since=None, until=None, columns: Iterable[str] | None = None) -> pd.DataFrame:
        if direction not in ("out", "in", "both"):
            raise ValueError(f"direction must be 'out', 'in' or 'both', not {direction!r}")
        ids = list(dict.fromkeys(_ids_list(ids)))
        ks = None if kinds is None else list(kinds)
        lo = None if since is None else _iso_or_none(_bounds(since, 1, _NAT)[0])
        hi = None if until is None else _iso_or_none(_bounds(until, 1, _NAT)[0])
        parts = []
        for d in (("out", "in") if direction == "both" else (direction,)):
            q = self.cypher.edges_of(d, ks)
            rows = self.runner.table(q, ids=ids, since=lo, until=hi) if q and ids else []
            parts.append(self._edge_frame(rows))
        if direction == "both":
            df = pd.concat(parts, ignore_index=True).drop_duplicates("id")
            df = df.sort_values("cg_seq", kind="stable")
        else:
            # the embedded order: by node (store order = id order), then time (untimed first), then store order
            df = parts[0]
            end = "source" if direction == "out" else "target"
            t = df["time"].to_numpy("datetime64[ns]").view("int64") if len(df) else np.zeros(0, "int64")
            order = np.lexsort((df["cg_seq"].to_numpy(), t, df[end].to_numpy(dtype=object).astype(str)))
            df = df.iloc[order]
        return _only(df.drop(columns="cg_seq"), columns).reset_index(drop=True)

    def _money(self, ids: list, direction: str, since, until) -> pd.DataFrame:
        """Money edges of ``ids`` (each in its own range) with their ``slot``, in the embedded order:
        by slot, then time (untimed first), then store order."""
        if direction not in ("out", "in"):
            raise ValueError(f"direction must be 'out' or 'in', not {direction!r}")
        big = np.iinfo(np.int64).max
        lo, hi = _bounds(since, len(ids), _NAT), _bounds(until, len(ids), big)
        rows = [{"slot": k, "id": i, "since": _iso_or_none(a), "until": _iso_or_none(b)}
                for k, (i, a, b) in enumerate(zip(ids, lo.tolist(), hi.tolist())) if i is not None]
        out = self.runner.table(self.cypher.money_edges(direction), rows=rows) if rows else []
        df = pd.DataFrame(out, columns=["slot", "id", "kind", "source", "target", "time", "amount", "seen_by",
                                        "seq"])
        t = pd.to_numeric(df["time"], errors="coerce").astype("Int64").to_numpy("int64", na_value=_NAT)
        order = np.lexsort((pd.to_numeric(df["seq"]).fillna(-1).to_numpy(np.int64), t,
                            df["slot"].to_numpy(np.int64)))
        df = df.iloc[order].reset_index(drop=True)
        df["time_ns"] = t[order]
        return df

    def money_edges(self, ids: Iterable[str], direction: str = "out", since=None, until=None) -> pd.DataFrame:
        df = self._money(_ids_list(ids), direction, since, until)
        return pd.DataFrame({
            "id": df["id"].astype("int64"),
            "kind": df["kind"].astype("str"),
            "source": df["source"].astype("str"),
            "target": df["target"].astype("str"),
            "time": pd.DatetimeIndex(df["time_ns"].to_numpy(np.int64).view("datetime64[ns]"), tz="UTC"),
            "amount": pd.to_numeric(df["amount"], errors="coerce").astype("float64"),
            "seen_by": df["seen_by"].astype("str"),
        })

    # node codes for the array hot path: a dictionary of the node ids this view has seen
    def codes(self, ids) -> np.ndarray:
        """int64 codes of node ids (-1 for ids not in the graph), for :meth:`money_arrays`."""
        ids = _ids_list(ids)
        new = [i for i in dict.fromkeys(ids) if i not in self._code_of and i not in self._absent]
        if new:
            found = {r[0] for r in self.runner.read(self.cypher.EXISTING, ids=new)}
            self._absent.update(i for i in new if i not in found)
            self._encode([i for i in new if i in found])
        get = self._code_of.get
        return np.fromiter((get(i, -1) for i in ids), np.int64, len(ids))

    def _encode(self, ids) -> np.ndarray:
        out = np.empty(len(ids), np.int64)
        for k, i in enumerate(ids):
            c = self._code_of.get(i)
            if c is None:
                c = self._code_of[i] = len(self._id_of)
                self._id_of.append(i)
            out[k] = c
        return out

    def ids_of(self, codes) -> np.ndarray:
        """Node ids (object array) of codes from :meth:`codes` / :meth:`money_arrays`."""
        return np.array(self._id_of + [None], dtype=object)[np.asarray(codes, np.int64)]

    def money_arrays(self, ids, direction: str = "out", since=None, until=None) -> dict:
        """:meth:`money_edges` as plain arrays (see the View protocol); ``ids`` may be codes."""
        as_codes = isinstance(ids, np.ndarray) and ids.dtype.kind in "iu"
        names = list(self.ids_of(ids)) if as_codes else _ids_list(ids)
        df = self._money(names, direction, since, until)
        other = df["target" if direction == "out" else "source"].to_numpy(dtype=object)
        return {"slot": df["slot"].to_numpy(np.int64),
                "other": self._encode(other) if as_codes else other,
                "time": df["time_ns"].to_numpy(np.int64),
                "amount": pd.to_numeric(df["amount"], errors="coerce").to_numpy(np.float64),
                "id": df["id"].to_numpy(np.int64),
                "kind": df["kind"].to_numpy(dtype=object),
                "seen_by": df["seen_by"].to_numpy(dtype=object)}

    def has_statement(self, ids: Iterable[str]) -> pd.Series:
        ids = _ids_list(ids)
        got = dict(self.runner.table(self.cypher.has_statement(), ids=list(dict.fromkeys(ids)))) if ids else {}
        return pd.Series([bool(got.get(i, False)) for i in ids], index=pd.Index(ids, dtype=object),
                         name="has_statement", dtype=bool)

    def all_edges(self, kinds: Iterable[str] | None = None) -> pd.DataFrame:
        q = self.cypher.all_edges(None if kinds is None else list(kinds))
        df = self._edge_frame(self.runner.table(q) if q else [])
        return df.sort_values("cg_seq", kind="stable").drop(columns="cg_seq").reset_index(drop=True)

    def evidence(self, ids) -> pd.DataFrame:
        """Provenance rows ``id, file_id, file, sheet, row`` (as ``Store.evidence``)."""
        ids = [ids] if isinstance(ids, (str, int, np.integer)) else list(ids)
        edge_ids = [int(i) for i in ids if not isinstance(i, str) or ":" not in i]
        node_ids = [i for i in ids if isinstance(i, str) and ":" in i]
        cols = ["id", "file_id", "file", "sheet", "row"]
        parts = []
        for q, sel in ((self.cypher.NODE_EVIDENCE, node_ids), (self.cypher.edge_evidence(), edge_ids)):
            if not sel:
                continue
            recs = []
            for i, fid, f, sh, row in self.runner.read(q, ids=list(dict.fromkeys(sel))):
                recs += [(i, a, b, c, d) for a, b, c, d in zip(fid or [], f or [], sh or [], row or [])]
            part = pd.DataFrame(recs, columns=cols)
            for c in ("file_id", "file", "sheet"):
                part[c] = part[c].astype("str")
            part["row"] = pd.to_numeric(part["row"]).astype("Int64").mask(lambda r: r < 0)  # -1: no row
            if sel is edge_ids:
                part["id"] = part["id"].astype("int64")
            parts.append(part)
        if not parts:
            return pd.DataFrame(columns=cols)
        return (pd.concat(parts, ignore_index=True).drop_duplicates()
                .sort_values(["id", "file", "row"], ignore_index=True))

    # -- pull ------------------------------------------------------------------------
    def subgraph(self, ids, hops: int = 1, kinds: Iterable[str] | None = None):
        """The neighbourhood of ``ids`` within ``hops`` steps (either direction) as a networkx
        MultiDiGraph with the attributes ``Store.graph()`` gives: every node reached and every
        edge (of ``kinds``, or all) between two of them.
        """
        from ..graph import to_networkx

        seen = list(dict.fromkeys(self.resolve(i) for i in _ids_list(ids)))
        known, frontier = set(seen), list(seen)
        for _ in range(max(int(hops), 0)):
            if not frontier:
                break
            e = self.edges(frontier, "both", kinds)
            nxt = [n for n in pd.unique(pd.concat([e["source"], e["target"]]).astype(object)) if n not in known]
            known.update(nxt)
            seen += nxt
            frontier = nxt
        e = self.edges(seen, "both", kinds)
        e = e[e["source"].isin(known) & e["target"].isin(known)]
        return to_networkx(self.nodes(seen), e)

    def stats(self) -> dict:
        """Counts per node kind and edge kind, as ``Store.stats()``."""
        n, e = self.nodes(), self.all_edges()

        def counts(df):
            return {str(k): int(v) for k, v in df["kind"].value_counts().sort_index().items()}
        return {"nodes": counts(n), "edges": counts(e)}

    def __repr__(self) -> str:
        return f"Neo4jView({self.runner!r})"


def _dtype(t: str):
    return {"text": "str", "money": "float64", "integer": "Int64", "time": "datetime64[ns, UTC]"}[t]


def _column(vals, t: str, n: int):
    """One result column (a tuple of values, None where missing) as an array of dtype ``t``."""
    if all(v is None for v in vals):
        if t == "str":
            return pd.array([None] * n, dtype="str")
        if t in ("Int64", "float64"):
            return pd.array([None] * n, dtype=t) if t == "Int64" else np.full(n, np.nan)
        if t.startswith("datetime64"):
            return pd.DatetimeIndex(np.full(n, _NAT, np.int64).view("datetime64[ns]"), tz="UTC")
    if t == "str":
        return pd.array(vals, dtype="str")
    if t == "float64":
        return np.array([np.nan if v is None else v for v in vals], np.float64)
    if t == "int64":
        return np.array([-1 if v is None else v for v in vals], np.int64)
    if t == "Int64":
        return pd.array(vals, dtype="Int64")
    if t.startswith("datetime64"):
        ns = np.array([_NAT if v is None else v for v in vals], np.int64)
        return pd.DatetimeIndex(ns.view("datetime64[ns]"), tz="UTC")
    return np.array(vals, dtype=object)


def _frame(rows, dtypes: dict) -> pd.DataFrame:
    """Rows (lists in the order of ``dtypes``) as a typed DataFrame, column by column."""
    cols = list(dtypes)
    n = len(rows)
    data = list(zip(*rows)) if n else [()] * len(cols)
    return pd.DataFrame({c: _column(v, dtypes[c], n) for c, v in zip(cols, data)})
