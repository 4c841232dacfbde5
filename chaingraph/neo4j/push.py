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
3. rows are written in batches of ``UNWIND $rows AS r MERGE … SET …``, each its
   own transaction (retried by the driver when the failure is transient);
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

DEFAULT_BATCH = 5000
# bump when what is written for a row changes: every row's hash changes, so the next push rewrites all
FORMAT = 1
_HASH_KEY = f"cgneo4j-format{FORMAT:02d}"  # 16 characters, as pandas wants


@dataclass
class PushReport:
    """What a push did: rows written and deleted per part, totals on the server afterwards."""

    nodes_written: int = 0
    edges_written: int = 0
    nodes_deleted: int = 0
    edges_deleted: int = 0
    nodes: int = 0
    edges: int = 0
    resumed: bool = False
    seconds: float = 0.0
    by_kind: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# -- the store as rows for Neo4j --------------------------------------------------

def _provenance(obs: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per id: parallel lists of file_id, file, sheet, row (one item per distinct record)."""
    cols = ["file_id", "file", "sheet", "row"]
    o = obs[[key] + cols].drop_duplicates()
    # Neo4j lists hold no nulls: a missing text is "" and a missing row -1
    for c in ("file_id", "file", "sheet"):
        o[c] = o[c].astype(object).where(o[c].notna(), "")
    o["row"] = pd.to_numeric(o["row"], errors="coerce").fillna(-1).astype("int64")
    g = o.groupby(key, sort=False)
    out = pd.DataFrame({f"cg_{c}": g[c].agg(list) for c in cols})
    out.index.name = "id"
    return out


def _iso(s: pd.Series) -> pd.Series:
    """UTC timestamps as ISO strings with nanoseconds (None where missing), for ``datetime()``."""
    t = pd.to_datetime(s, utc=True)
    ok = t.notna()
    out = pd.Series(None, index=s.index, dtype=object)
    if ok.any():
        tt = t[ok]
        ns = tt.dt.as_unit("ns").astype("int64") % 1_000_000_000
        out[ok] = (tt.dt.strftime("%Y-%m-%dT%H:%M:%S") + "." + ns.astype(str).str.zfill(9) + "Z").astype(object)
    return out


def _hash(df: pd.DataFrame) -> np.ndarray:
    """A stable 64-bit content hash per row (as int64)."""
    h = pd.util.hash_pandas_object(df.astype("str"), index=False, hash_key=_HASH_KEY)
    return h.to_numpy().view("int64")


def _with_obs(df: pd.DataFrame, prov: pd.DataFrame) -> pd.DataFrame:
    p = prov.reindex(df["id"])
    for c in PROVENANCE_PROPS:
        df[c] = [v if isinstance(v, list) else [] for v in p[c].to_numpy()]
    return df


def prepare_nodes(store, cy: Cypher) -> pd.DataFrame:
    """Node rows as written to Neo4j: store columns, provenance lists and ``cg_hash``."""
    cols = list(cy.node_columns)
    df = store.nodes.reindex(columns=cols).reset_index(drop=True).copy()
    df = _with_obs(df, _provenance(store.tables.node_obs, "id"))
    df["cg_hash"] = _hash(df[cols + list(PROVENANCE_PROPS)])
    return df


def prepare_edges(store, cy: Cypher) -> pd.DataFrame:
    """Edge rows as written: store columns, ``cg_seq`` (store order), provenance and ``cg_hash``."""
    cols = list(cy.edge_columns)
    df = store.edges.reindex(columns=cols).reset_index(drop=True).copy()
    obs = store.tables.edge_obs
    # the store lists edges in the order of their first record; keep that order as a number
    # that a later load does not change (records are only ever appended)
    first = pd.Series(np.arange(len(obs)), index=obs["edge_id"].to_numpy()).groupby(level=0).min()
    seq = first.reindex(df["id"].to_numpy()).to_numpy()
    df["cg_seq"] = np.where(np.isnan(seq), len(obs) + np.arange(len(df)), seq).astype("int64")
    df = _with_obs(df, _provenance(obs.rename(columns={"edge_id": "id"}), "id"))
    df["cg_hash"] = _hash(df[cols + ["cg_seq"] + list(PROVENANCE_PROPS)])
    return df


def _rows(df: pd.DataFrame, columns: dict) -> list[dict]:
    """Plain Python dicts for the driver (None for missing, ISO strings for times)."""
    data = {}
    for c, t in columns.items():
        s = df[c]
        miss = s.isna().to_numpy() if t != "list" else np.zeros(len(s), bool)
        if t == "time":
            vals = _iso(s).tolist()
        elif t == "list":
            vals = [list(v) for v in s]
        elif t == "integer":
            vals = pd.to_numeric(s).astype("Int64").astype(object).tolist()
        elif t == "money":
            vals = pd.to_numeric(s, errors="coerce").astype(float).tolist()
        else:
            vals = s.astype(object).tolist()
        data[c] = [None if m else v for v, m in zip(vals, miss)] if miss.any() else vals
    keys = list(data)
    # missing values are left out (the map projection reads them as null): less to send and unpack
    return [{k: v for k, v in zip(keys, vals) if v is not None} for vals in zip(*data.values())]


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
        have_n = dict(runner.table(cy.NODE_HASHES))
        have_e = {i: (k, h) for i, k, h in runner.table(cy.edge_hashes())}
        say(f"store: {len(nodes):,} nodes, {len(edges):,} edges; on the server: {len(have_n):,} nodes, "
            f"{len(have_e):,} edges")

        # nodes: new or changed ones (MERGE keeps their relationships)
        old = nodes["id"].map(have_n)
        todo = nodes[old.isna() | (old != nodes["cg_hash"])]
        report.nodes_written = _write(runner, todo, "kind", lambda k: cy.merge_nodes(k),
                                      lambda k: {**cy.node_write_columns(k), "cg_hash": "integer",
                                                 **dict.fromkeys(PROVENANCE_PROPS, "list")},
                                      batch_size, "nodes", say, report)
        # edges: changed ones are deleted first (their ends may differ), then new and changed merged
        known = edges["id"].map(lambda i: have_e.get(i, (None, None))[1])
        changed = edges[known.notna() & (known != edges["cg_hash"])]
        _delete_edges(runner, cy, changed[["id", "kind"]].itertuples(index=False, name=None), batch_size)
        todo = edges[known.isna() | (known != edges["cg_hash"])]
        report.edges_written = _write(runner, todo, "kind", lambda k: cy.merge_edges(k),
                                      lambda k: {**cy.edge_write_columns(k), "cg_hash": "integer", "cg_seq": "integer",
                                                 **dict.fromkeys(PROVENANCE_PROPS, "list")},
                                      batch_size, "edges", say, report)
        if prune:
            in_store = set(edges["id"].tolist())
            gone = [(i, k) for i, (k, _) in have_e.items() if i not in in_store]
            report.edges_deleted = _delete_edges(runner, cy, gone, batch_size)
            in_store = set(nodes["id"].tolist())
            gone_n = [i for i in have_n if i not in in_store]
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


def _write(runner, df, by, query_of, columns_of, batch_size, what, say, report) -> int:
    total, done, t0 = len(df), 0, time.monotonic()
    if not total:
        say(f"{what}: nothing to write")
        return 0
    for kind, part in df.groupby(by, sort=True):
        query, cols = query_of(kind), columns_of(kind)
        part = part.reindex(columns=list(cols))
        for a in range(0, len(part), batch_size):
            rows = _rows(part.iloc[a:a + batch_size], cols)
            runner.write(query, rows=rows)
            done += len(rows)
            rate = done / max(time.monotonic() - t0, 1e-9)
            say(f"{what}: {done:,}/{total:,} ({kind}) {rate:,.0f} rows/s")
        report.by_kind[f"{what}:{kind}"] = len(part)
    return done


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
