"""The embedded case store: a folder of Parquet tables, replaced atomically.

A store keeps the *observations* every load produced (one per node or edge a
source row yields, each with its file, sheet and row) and the nodes and edges
derived from them by merging. Loading more files adds observations and derives
the graph again, so loading the same file twice changes nothing and a transfer
seen in both parties' statements is one edge.

Layout::

    STORE/
      CURRENT            name of the live version folder (replaced atomically)
      v000007/           nodes, edges, node_obs, edge_obs, files, rejects (.parquet)
      rejects.csv        every rejected row or dropped cell of every load

A load writes a new version folder and only then points ``CURRENT`` at it, so a
crash in the middle of a load leaves the previous store intact. No pickle: only
Parquet, JSON and CSV are written.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from .exc import StoreError
from .schema import Schema, load_schema

TABLES = ("nodes", "edges", "node_obs", "edge_obs", "files", "rejects")
FORMAT = 1

# obs columns every observation carries (provenance)
PROVENANCE = ["file_id", "file", "sheet", "row"]
REJECT_COLUMNS = ["file", "sheet", "row", "column", "raw", "reason", "action"]


def node_property_columns(schema: Schema) -> list[str]:
    """Union of node property names over the schema, in declaration order."""
    cols = []
    for nk in schema.nodes.values():
        cols += [p for p in nk.properties if p not in cols]
    return cols


def edge_property_columns(schema: Schema) -> list[str]:
    """Union of edge property names over the schema, in declaration order."""
    cols = []
    for ek in schema.edges.values():
        cols += [p for p in ek.properties if p not in cols]
    return cols


@dataclass
class Tables:
    """The tables of one store version (pandas DataFrames)."""

    nodes: pd.DataFrame
    edges: pd.DataFrame
    node_obs: pd.DataFrame
    edge_obs: pd.DataFrame
    files: pd.DataFrame
    rejects: pd.DataFrame


def empty_tables(schema: Schema) -> Tables:
    from .ingest import NODE_OBS_COLUMNS, EDGE_OBS_COLUMNS, FILE_COLUMNS  # noqa: F401

    nprops, eprops = node_property_columns(schema), edge_property_columns(schema)
    return Tables(
        nodes=pd.DataFrame(columns=["id", "kind", "key", "label", "flags", "n_obs"] + nprops),
        edges=pd.DataFrame(columns=["id", "kind", "source", "target", "n_obs", "seen_by"] + eprops),
        node_obs=pd.DataFrame(columns=NODE_OBS_COLUMNS(schema)),
        edge_obs=pd.DataFrame(columns=EDGE_OBS_COLUMNS(schema)),
        files=pd.DataFrame(columns=FILE_COLUMNS),
        rejects=pd.DataFrame(columns=["file_id"] + REJECT_COLUMNS),
    )


class Store:
    """An on-disk case store. Open with :meth:`open`, create with :meth:`create`.

    Attributes ``nodes`` and ``edges`` are DataFrames; :meth:`graph` gives the
    networkx view; :meth:`evidence` the file and row behind any node or edge.
    """

    def __init__(self, path, tables: Tables, version: str | None, schema: Schema | None = None):
        self.path = Path(path)
        self.tables = tables
        self.version = version
        self.schema = schema or load_schema()

    # -- opening and writing -------------------------------------------------
    @classmethod
    def open(cls, path, *, create: bool = False, schema: Schema | None = None) -> "Store":
        """Open the store at ``path``; with ``create=True`` an empty one if absent."""
        path = Path(path)
        schema = schema or load_schema()
        current = path / "CURRENT"
        if not current.is_file():
            if create:
                if path.exists() and not path.is_dir():
                    raise StoreError(f"{path}: exists and is not a folder")
                if path.is_dir() and any(p for p in path.iterdir() if not p.name.startswith(".")):
                    raise StoreError(f"{path}: folder is not empty and is not a chaingraph store")
                return cls(path, empty_tables(schema), None, schema)
            raise StoreError(f"{path}: no chaingraph store here (run 'chaingraph load … --store {path}' first)")
        version = current.read_text(encoding="utf-8").strip()
        vdir = path / version
        try:
            meta = json.loads((vdir / "meta.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise StoreError(f"{path}: store format {meta.get('format')} is not supported (expected {FORMAT})")
            tables = Tables(**{t: pd.read_parquet(vdir / f"{t}.parquet") for t in TABLES})
        except (OSError, ValueError) as e:
            raise StoreError(f"{path}: store version {version} cannot be read: {e}") from None
        return cls(path, tables, version, schema)

    def save(self, tables: Tables) -> None:
        """Write ``tables`` as a new version and make it current, atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        n = 0 if self.version is None else int(self.version[1:]) + 1
        version = f"v{n:06d}"
        tmp = self.path / f".tmp-{version}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        # the tables written side by side: Parquet encoding and compression release the GIL
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(TABLES), os.cpu_count() or 1)) as pool:
            done = [pool.submit(_to_parquet, getattr(tables, t), tmp / f"{t}.parquet") for t in TABLES]
            for d in done:
                d.result()
        (tmp / "meta.json").write_text(json.dumps({"format": FORMAT}), encoding="utf-8")
        _fsync_dir(tmp)
        vdir = self.path / version
        if vdir.exists():
            shutil.rmtree(vdir)
        os.replace(tmp, vdir)
        cur_tmp = self.path / ".CURRENT.tmp"
        cur_tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(cur_tmp, self.path / "CURRENT")
        _fsync_dir(self.path)
        old, self.version, self.tables = self.version, version, tables
        self.__dict__.pop("_graph", None)
        self.__dict__.pop("index", None)
        if old and (self.path / old).exists():
            shutil.rmtree(self.path / old, ignore_errors=True)
        rej = tables.rejects[REJECT_COLUMNS]
        rej.to_csv(self.path / "rejects.csv", index=False, encoding="utf-8-sig")

    # -- reading -------------------------------------------------------------
    @property
    def nodes(self) -> pd.DataFrame:
        return self.tables.nodes

    @property
    def edges(self) -> pd.DataFrame:
        return self.tables.edges

    @property
    def files(self) -> pd.DataFrame:
        return self.tables.files

    @property
    def rejects(self) -> pd.DataFrame:
        return self.tables.rejects

    def stats(self) -> dict:
        """Counts per node kind and edge kind: ``{"nodes": {kind: n}, "edges": {kind: n}}``."""
        def counts(df):
            return {str(k): int(v) for k, v in df["kind"].value_counts().sort_index().items()}
        return {"nodes": counts(self.nodes), "edges": counts(self.edges)}

    def evidence(self, ids) -> pd.DataFrame:
        """The source records behind nodes or edges: one row per (id, file, sheet, row)."""
        ids = [ids] if isinstance(ids, (str, int)) else list(ids)
        edge_ids = [i for i in ids if not isinstance(i, str) or ":" not in i]
        node_ids = [i for i in ids if isinstance(i, str) and ":" in i]
        parts = []
        if node_ids:
            o = self.tables.node_obs
            o = o[o["id"].isin(node_ids)]
            parts.append(o[["id"] + PROVENANCE])
        if edge_ids:
            o = self.tables.edge_obs
            o = o[o["edge_id"].isin([int(i) for i in edge_ids])]
            parts.append(o.rename(columns={"edge_id": "id"})[["id"] + PROVENANCE])
        if not parts:
            return pd.DataFrame(columns=["id"] + PROVENANCE)
        return pd.concat(parts, ignore_index=True).drop_duplicates().sort_values(["id", "file", "row"], ignore_index=True)

    def graph(self):
        """The store as a networkx MultiDiGraph (built once, then cached).

        Nodes are node ids (``kind:key``) with attributes ``kind``, ``key``,
        ``label`` and their non-empty properties; edges are keyed by edge id with
        ``kind``, ``time``, ``amount`` and their other non-empty properties.
        """
        if "_graph" not in self.__dict__:
            from .graph import to_networkx

            self.__dict__["_graph"] = to_networkx(self.nodes, self.edges)
        return self.__dict__["_graph"]


# columns whose values are (nearly) all distinct: a Parquet dictionary for them is
# built only to be thrown away
_UNIQUE_COLUMNS = {"id", "key", "label", "row", "edge_id", "txn_id", "time", "amount", "balance", "first_seen", "last_seen"}


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = df.reset_index(drop=True)
    try:
        table = _arrow_table(df)
    except (pa.ArrowException, ValueError, TypeError):
        table = pa.Table.from_pandas(df, preserve_index=False)  # (mixed-type text: as pandas would)
    # zstd: smaller files than the default snappy and, measured on a 1M-row load, less CPU
    dict_cols = [c for c in table.column_names if c not in _UNIQUE_COLUMNS]
    pq.write_table(table, path, compression="zstd", use_dictionary=dict_cols)


def _arrow_table(df: pd.DataFrame):
    """``pyarrow.Table.from_pandas(df, preserve_index=False)``, built column by column.

    The Arrow types and the pandas metadata come from a one-row sample (each text
    column's first value), so no column is scanned to infer its type; the
    values are then converted straight to that type.
    """
    import pyarrow as pa

    n = len(df)
    if not n:
        return pa.Table.from_pandas(df, preserve_index=False)
    sample, converted = {}, {}
    for c in df.columns:
        col = df[c]
        if col.dtype == object:
            # converted once, the type inferred by Arrow: text (or nothing) is the
            # usual case, and any str (or None) stands for the column in the sample
            v = col.to_numpy()
            a = pa.array(v, from_pandas=True)
            if pa.types.is_string(a.type) or pa.types.is_null(a.type):
                converted[c] = a
                sample[c] = pd.Series(["" if a.null_count < len(a) else None], dtype=object)
            else:
                present = pd.notna(v)
                i = int(present.argmax()) if present.any() else -1
                sample[c] = pd.Series([v[i] if i >= 0 else None], dtype=object)
        else:
            sample[c] = col.iloc[:1].reset_index(drop=True)
    schema = pa.Table.from_pandas(pd.DataFrame(sample), preserve_index=False).schema
    arrays = []
    for f in schema:
        c = f.name
        a = converted.pop(c, None)
        if a is not None and a.type == f.type:
            arrays.append(a)
        elif pa.types.is_null(f.type):
            arrays.append(pa.nulls(n))
        else:
            arrays.append(pa.array(df[c], type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
