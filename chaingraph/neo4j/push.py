"""Push a store into Neo4j, and keep it in sync as new files are loaded.

:func:`push` mirrors the store's nodes and edges (with their provenance) into
Neo4j:

1. uniqueness constraints and indexes derived from the schema (one label per
   node kind plus ``:Entity`` with a unique ``id``; one relationship type per
   edge kind with a unique ``id``);
2. a content hash per node and edge (``cg_hash``) is compared with what the
   server already holds, so only new or changed rows are written — pushing
   twice writes nothing the second time, and after a new load only what the
   load added or changed is sent;
3. rows are written in batches (``UNWIND $rows AS r …``, rows as lists, only the
   columns a batch has values for), each its own transaction (retried by the
   driver when the failure is transient): new nodes and edges with ``CREATE``
   (an edge's ends found through the unique ``:Entity(id)`` index), changed
   nodes with ``MERGE … SET``; a changed edge is deleted and created again;
4. nodes and edges the store no longer has (e.g. two records of a transfer
   merged into one edge by a later load) are removed.

An interrupted push leaves whole batches behind; pushing again compares hashes
and sends only what is missing, so it resumes where it stopped. A
``(:ChaingraphMeta {name: 'store'})`` node says whether the last push finished.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cypher import PROVENANCE_PROPS, Cypher
from .runner import connect

__all__ = ["push", "PushReport", "prepare_nodes", "prepare_edges"]

DEFAULT_BATCH = 10000
# bump when what is written for a row changes: every row's hash changes, so the next push rewrites all
FORMAT = 2
_HASH_KEY = f"cgneo4j-format{FORMAT:02d}"  # 16 characters, as pandas wants


@dataclass
class PushReport:
    """What a push did: rows written and deleted per part, totals on the server afterwards."""

    nodes_written: int = 0
    edges_written: int = 0
    nodes_deleted: int = 0
    edges_deleted: int = 0
    nodes_updated: int = 0   # of nodes_written: already on the server, changed (MERGE … SET)
    edges_replaced: int = 0  # of edges_written: already on the server, changed (deleted, created again)
    nodes: int = 0
    edges: int = 0
    resumed: bool = False
    seconds: float = 0.0
    by_kind: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# -- the store as rows for Neo4j --------------------------------------------------
#
# Rows travel as lists (``r[0]``, ``r[1]`` …), not maps: no key is packed per row. Each column
# is made once, as a plain Python list in the form it is written (None where missing, times as
# int64 nanoseconds turned into DATETIME by the server), and the content hash is computed from
# the same values with vectorised pandas hashing.

_NA_TIME = np.iinfo(np.int64).min


@dataclass
class Rows:
    """Store rows ready to send: column values (object arrays, None where missing) by name,
    with their value types, ``missing`` masks, and the content hash of every row. Provenance
    lists are cut out for the rows actually sent (``prov``: every record's value in id order,
    ``starts``/``ends``: each row's records), so a push with little to write costs little."""

    types: dict
    values: dict
    missing: dict
    hash: np.ndarray
    ids: np.ndarray
    kinds: np.ndarray
    prov: dict
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, c: str, idx: np.ndarray) -> list:
        """Values of column ``c`` at positions ``idx`` (Python objects, lists for provenance)."""
        if c in self.prov:
            vals = self.prov[c]
            return [vals[a:b] for a, b in zip(self.starts[idx].tolist(), self.ends[idx].tolist())]
        return self.values[c][idx].tolist()

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (object columns; times as int64 nanoseconds)."""
        idx = np.arange(len(self))
        return pd.DataFrame({c: pd.Series(self.column(c, idx), dtype=object) for c in self.types})


def _iso(s: pd.Series) -> pd.Series:
    """UTC timestamps as ISO strings with nanoseconds (None where missing), for CSV export."""
    t = pd.to_datetime(s, utc=True)
    ok = t.notna()
    out = pd.Series(None, index=s.index, dtype=object)
    if ok.any():
        tt = t[ok]
        ns = tt.dt.as_unit("ns").astype("int64") % 1_000_000_000
        out[ok] = (tt.dt.strftime("%Y-%m-%dT%H:%M:%S") + "." + ns.astype(str).str.zfill(9) + "Z").astype(object)
    return out


def _column(s: pd.Series, t: str):
    """(values as a list, missing mask, a canonical array to hash) for one column of value type ``t``."""
    if t == "time":
        ts = pd.to_datetime(s, utc=True)
        miss = ts.isna().to_numpy()
        ns = ts.dt.as_unit("ns").to_numpy("datetime64[ns]").view("int64").copy()
        ns[miss] = _NA_TIME
        canon = ns
        vals = ns.astype(object)
    elif t == "integer":
        a = pd.to_numeric(s, errors="coerce").astype("Int64")
        miss = a.isna().to_numpy()
        canon = a.to_numpy("int64", na_value=_NA_TIME)
        vals = canon.astype(object)
    elif t == "money":
        canon = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
        miss = np.isnan(canon)
        vals = canon.astype(object)
    else:
        miss = s.isna().to_numpy()
        vals = s.astype(object).to_numpy(copy=True)
        canon = vals.copy()
        canon[miss] = "\x00"  # not a text anyone loads (None would hash as the text 'None')
    if miss.any():
        vals[miss] = None
    return vals, miss, canon


def _hash_columns(canon: dict, extra: np.ndarray | None = None) -> np.ndarray:
    """A stable 64-bit content hash per row (as int64) of canonical column arrays."""
    df = pd.DataFrame(canon)
    if extra is not None:
        df["__extra"] = extra
    h = pd.util.hash_pandas_object(df, index=False, hash_key=_HASH_KEY)
    return h.to_numpy().view("int64")


def _provenance(obs: pd.DataFrame, key: str, ids: np.ndarray):
    """Per id of ``ids``, parallel lists of file_id, file, sheet, row (one item per distinct
    record, in record order): every record's values grouped by id (``cg_<column>`` -> list),
    where each id's records start and end, and a hash of each id's lists (uint64, 0: none)."""
    cols = ["file_id", "file", "sheet", "row"]
    o = obs[[key] + cols].drop_duplicates()
    # Neo4j lists hold no nulls: a missing text is "" and a missing row -1
    canon = {}
    for c in ("file_id", "file", "sheet"):
        v = o[c].astype(object).to_numpy(copy=True)
        v[pd.isna(v)] = ""
        canon[c] = v
    canon["row"] = pd.to_numeric(o["row"], errors="coerce").fillna(-1).astype("int64").to_numpy()
    # group the records of each id (stable: record order within an id), in the order of ``ids``
    code = pd.Index(ids).get_indexer(o[key].to_numpy())
    keep = code >= 0
    code = code[keep]
    order = np.argsort(code, kind="stable")
    code = code[order]
    canon = {c: v[keep][order] for c, v in canon.items()}
    n = len(ids)
    starts = np.searchsorted(code, np.arange(n), "left")
    ends = np.searchsorted(code, np.arange(n), "right")
    pos = np.arange(len(code)) - starts[code] if len(code) else np.zeros(0, "int64")
    rec = _hash_columns({**canon, "pos": pos}).view("uint64")
    ph = np.zeros(n, "uint64")
    has = ends > starts
    if len(rec):
        red = np.bitwise_xor.reduceat(rec, starts[has])
        ph[has] = red
    return {f"cg_{c}": v.tolist() for c, v in canon.items()}, starts, ends, ph


def _prepare(df: pd.DataFrame, columns: dict, obs: pd.DataFrame, key: str, extra: dict | None = None) -> Rows:
    types, values, missing, canon = {}, {}, {}, {}
    for c, t in columns.items():
        values[c], missing[c], canon[c] = _column(df[c] if c in df.columns else pd.Series(None, index=df.index, dtype=object), t)
        types[c] = t
    for c, arr in (extra or {}).items():
        values[c], missing[c], canon[c] = arr.astype(object), np.zeros(len(arr), bool), arr
        types[c] = "integer"
    ids = df["id"].to_numpy()
    prov, starts, ends, ph = _provenance(obs, key, ids)
    for c in PROVENANCE_PROPS:
        missing[c], types[c] = np.zeros(len(ids), bool), "list"
    h = _hash_columns(canon, ph)
    values["cg_hash"], missing["cg_hash"], types["cg_hash"] = h.astype(object), np.zeros(len(ids), bool), "integer"
    return Rows(types, values, missing, h, ids, df["kind"].astype(object).to_numpy(), prov, starts, ends)


def prepare_nodes(store, cy: Cypher) -> Rows:
    """Node rows as written to Neo4j: store columns, provenance lists and ``cg_hash``."""
    df = store.nodes.reset_index(drop=True)
    return _prepare(df, cy.node_columns, store.tables.node_obs, "id")


def prepare_edges(store, cy: Cypher) -> Rows:
    """Edge rows as written: store columns, ``cg_seq`` (store order), provenance and ``cg_hash``."""
    df = store.edges.reset_index(drop=True)
    obs = store.tables.edge_obs
    # the store lists edges in the order of their first record; keep that order as a number
    # that a later load does not change (records are only ever appended)
    ids = df["id"].to_numpy()
    first = pd.Index(ids).get_indexer(obs["edge_id"].to_numpy())
    seq = np.full(len(ids), -1, "int64")
    ok = first >= 0
    # the first record of each edge: assign in reverse so the smallest record position wins
    pos = np.arange(len(obs))[ok][::-1]
    seq[first[ok][::-1]] = pos
    seq = np.where(seq < 0, len(obs) + np.arange(len(ids)), seq).astype("int64")
    return _prepare(df, cy.edge_columns, obs.rename(columns={"edge_id": "id"}), "id", {"cg_seq": seq})


def _batches(rows: Rows, select: np.ndarray, batch_size: int):
    """(kind, column names, list of row tuples) per batch of the rows ``select`` (positions),
    kind by kind; a column missing in every row of a batch is not sent at all."""
    sel = np.asarray(select, dtype=np.int64)
    if not len(sel):
        return
    kinds = rows.kinds[sel]
    order = np.argsort(kinds, kind="stable")
    sel, kinds = sel[order], kinds[order]
    bounds = np.flatnonzero(kinds[1:] != kinds[:-1]) + 1
    for part in np.split(sel, bounds):
        kind = rows.kinds[part[0]]
        for a in range(0, len(part), batch_size):
            idx = part[a:a + batch_size]
            names = [c for c in rows.types if not rows.missing[c][idx].all()]
            yield kind, names, list(zip(*(rows.column(c, idx) for c in names)))


# -- the push ---------------------------------------------------------------------

def push(store, target=None, *, batch_size: int = DEFAULT_BATCH, prune: bool = True, progress=None,
         **connection) -> PushReport:
    """Write (or sync) ``store`` into Neo4j.

    Parameters
    ----------
    store : Store or path
    target : str, neo4j.Driver or Runner, optional
        Where to (URI, driver, runner); None: ``CHAINGRAPH_NEO4J_URI``.
    batch_size : int
        Rows per transaction (``UNWIND $rows``).
    prune : bool
        Remove nodes and edges the store no longer has.
    progress : callable(str), optional
        Called with a short message as batches complete (the CLI prints them on stderr).
    **connection
        ``user``, ``password``, ``database`` for :class:`~chaingraph.neo4j.runner.Runner`.

    Returns
    -------
    PushReport
    """
    from ..store import Store

    t0 = time.monotonic()
    st = store if isinstance(store, Store) else Store.open(store)
    runner = connect(target, **connection)
    cy = Cypher(st.schema)
    say = progress or (lambda msg: None)
    report = PushReport()
    try:
        for q in cy.constraints():
            runner.write(q)
        runner.write(cy.AWAIT_INDEXES, seconds=300)
        rows = runner.write_rows(cy.META_START, store=str(st.path), version=st.version)
        report.resumed = bool(rows and rows[0][0])
        if report.resumed:
            say("the last push did not finish: resuming (only what is missing or changed is sent)")

        nodes = prepare_nodes(st, cy)
        edges = prepare_edges(st, cy)
        have_n = runner.table(cy.NODE_HASHES)
        have_e = runner.table(cy.edge_hashes())
        say(f"store: {len(nodes):,} nodes, {len(edges):,} edges; on the server: {len(have_n):,} nodes, "
            f"{len(have_e):,} edges")

        # nodes: new ones CREATEd, changed ones MERGEd (which keeps their relationships)
        pos = pd.Index([r[0] for r in have_n], dtype=object).get_indexer(nodes.ids.astype(object))
        srv_nh = np.array([r[1] if r[1] is not None else 0 for r in have_n], dtype="int64")
        new = pos < 0
        changed = ~new
        changed[~new] = srv_nh[pos[~new]] != nodes.hash[~new]
        t_w = time.monotonic()
        w = _Writer(runner, batch_size, say, report, int(new.sum() + changed.sum()), "nodes")
        w.run(nodes, np.flatnonzero(new), lambda k, c: cy.create_nodes(k, c))
        w.run(nodes, np.flatnonzero(changed), lambda k, c: cy.merge_nodes(k, c))
        report.nodes_written, report.nodes_updated = w.done, int(changed.sum())

        # edges: changed ones are deleted first (their ends or kind may differ), then new and changed CREATEd
        srv_ids = np.array([r[0] for r in have_e], dtype="int64")
        srv_kind = np.array([r[1] for r in have_e], dtype=object)
        srv_hash = np.array([r[2] if r[2] is not None else 0 for r in have_e], dtype="int64")
        ix = pd.Index(srv_ids).get_indexer(edges.ids.astype("int64")) if len(srv_ids) else np.full(len(edges), -1)
        known = ix >= 0
        changed = known.copy()
        changed[known] = srv_hash[ix[known]] != edges.hash[known]
        report.edges_replaced = _delete_edges(runner, cy, zip(srv_ids[ix[changed]].tolist(),
                                                              srv_kind[ix[changed]].tolist()), batch_size)
        w = _Writer(runner, batch_size, say, report, int((~known).sum() + changed.sum()), "edges")
        w.run(edges, np.flatnonzero(~known | changed), lambda k, c: cy.create_edges(k, c))
        report.edges_written = w.done
        if report.nodes_written + report.edges_written:
            dt = time.monotonic() - t_w
            say(f"wrote {report.nodes_written + report.edges_written:,} rows in {dt:.1f} s "
                f"({(report.nodes_written + report.edges_written) / max(dt, 1e-9):,.0f} rows/s)")
        if prune:
            gone_m = ~np.isin(srv_ids, edges.ids.astype("int64"))
            gone = list(zip(srv_ids[gone_m].tolist(), srv_kind[gone_m].tolist()))
            report.edges_deleted = _delete_edges(runner, cy, gone, batch_size)
            in_store = set(nodes.ids.astype(object).tolist())
            gone_n = [i for i, _ in have_n if i not in in_store]
            for a in range(0, len(gone_n), batch_size):
                runner.write(cy.DELETE_NODES, ids=gone_n[a:a + batch_size])
            report.nodes_deleted = len(gone_n)
            if gone or gone_n:
                say(f"removed {len(gone_n):,} nodes and {len(gone):,} edges the store no longer has")
        counts = runner.read(cy.COUNTS)
        report.nodes, report.edges = int(counts[0][0]), int(counts[0][1])
        runner.write(cy.META_DONE, nodes=report.nodes, edges=report.edges)
    finally:
        if runner is not target:
            runner.close()
    report.seconds = time.monotonic() - t0
    say(f"done in {report.seconds:.1f} s: wrote {report.nodes_written:,} nodes and {report.edges_written:,} edges; "
        f"the server now has {report.nodes:,} nodes and {report.edges:,} edges")
    return report


class _Writer:
    """Sends batches (one transaction each) and reports progress."""

    def __init__(self, runner, batch_size, say, report, total, what):
        self.runner, self.batch_size, self.say, self.report = runner, batch_size, say, report
        self.total, self.what, self.done, self.t0 = total, what, 0, time.monotonic()
        if not total:
            say(f"{what}: nothing to write")

    def run(self, rows: Rows, select: np.ndarray, query_of) -> None:
        for kind, names, batch in _batches(rows, select, self.batch_size):
            self.runner.write(query_of(kind, {c: rows.types[c] for c in names}), rows=batch)
            self.done += len(batch)
            key = f"{self.what}:{kind}"
            self.report.by_kind[key] = self.report.by_kind.get(key, 0) + len(batch)
            rate = self.done / max(time.monotonic() - self.t0, 1e-9)
            self.say(f"{self.what}: {self.done:,}/{self.total:,} ({kind}) {rate:,.0f} rows/s")


def _delete_edges(runner, cy, id_kinds, batch_size) -> int:
    by_kind: dict = {}
    for i, k in id_kinds:
        if k in cy.types:
            by_kind.setdefault(k, []).append(int(i))
    n = 0
    for k, ids in by_kind.items():
        for a in range(0, len(ids), batch_size):
            runner.write(cy.delete_edges(k), ids=ids[a:a + batch_size])
        n += len(ids)
    return n


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
