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
from .export import write_csv
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

    def forget(self, name: str) -> None:
        """Let go of table ``name`` if it can be read again when used (tables in memory are kept)."""

    def select(self, name: str, column: str, values, columns: list[str]) -> pd.DataFrame:
        """``columns`` of the rows of table ``name`` whose ``column`` is in ``values``."""
        df = getattr(self, name)
        return df.loc[df[column].isin(values), columns]


class _StoredTables(Tables):
    """The tables of a store version on disk, each read when first used.

    ``eager``: the tables read at once (on opening a store: the graph, files and
    rejects, so a damaged store is reported on opening). The provenance tables (one
    row per record, the largest by far) are read only when used, as by
    :meth:`Store.evidence` or the next load."""

    def __init__(self, vdir: Path, eager=("nodes", "edges", "files", "rejects")):
        self._dir = vdir
        for t in eager:
            setattr(self, t, _read_parquet(vdir / f"{t}.parquet"))

    def __getattr__(self, name):  # (only called for attributes not set yet)
        if name not in TABLES:
            raise AttributeError(name)
        try:
            df = _read_parquet(self._dir / f"{name}.parquet")
        except (OSError, ValueError) as e:
            raise self._unreadable(name, e) from None
        setattr(self, name, df)
        return df

    def forget(self, name: str) -> None:
        self.__dict__.pop(name, None)  # (read again from disk if used again)

    def _unreadable(self, name: str, e: Exception) -> StoreError:
        return StoreError(f"{self._dir}: {name} cannot be read ({e}); if another load replaced this "
                          "version since the store was opened, open it again")

    def select(self, name: str, column: str, values, columns: list[str]) -> pd.DataFrame:
        """As :meth:`Tables.select`; a table not read yet is not read whole: ``column`` is
        read a row group at a time, and ``columns`` only of the row groups with a match.
        The evidence of a few edges of the 10M-transfer world: 0.5 s instead of reading
        all 19M records (15 s, 8 GB)."""
        if name in self.__dict__:
            return super().select(name, column, values, columns)
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self._dir / f"{name}.parquet")
            type_ = pf.schema_arrow.field(column).type
            type_ = type_.value_type if pa.types.is_dictionary(type_) else type_
            want = pa.array(list(values), type=type_) if not pa.types.is_null(type_) else None
            parts = []
            for i in range(pf.num_row_groups if want is not None else 0):  # (null type: no values)
                hit = pc.is_in(_plain(pf.read_row_group(i, columns=[column])).column(0), value_set=want)
                if pc.any(hit).as_py():
                    parts.append(_plain(pf.read_row_group(i, columns=columns, use_pandas_metadata=True).filter(hit)))
            table = pa.concat_tables(parts) if parts else _plain(pf.schema_arrow.empty_table().select(columns))
        except (OSError, ValueError, pa.ArrowException) as e:
            raise self._unreadable(name, e) from None
        return table.to_pandas()


def _plain(table):
    """``table`` with its dictionary columns (categoricals of a few values, as written) as
    their values: text, as the store gives it."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.with_type(f.type.value_type), table.column(i).cast(f.type.value_type))
    return table


def _read_parquet(path: Path) -> pd.DataFrame:
    """One table of a store version, as ``pandas.read_parquet`` gives it, with less memory.

    A column at a time (two at once), each Arrow column freed as soon as it is
    converted, and the columns not consolidated into 2-D blocks (another copy): the
    peak is the table plus two columns being decoded, not the table twice. Opening
    the edges of the 10M-transfer world: 7.0 s and a 3.6 GB peak instead of 11.5 s
    and 5.3 GB, for a table that holds 3.1 GB. The same columns and dtypes (tested)."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    def column(name):
        table = pq.ParquetFile(path).read(columns=[name], use_threads=False, use_pandas_metadata=True)
        return _plain(table).to_pandas(self_destruct=True)[name]

    schema = pq.ParquetFile(path).schema_arrow
    if (schema.pandas_metadata or {}).get("index_columns"):  # (not written by a store: pandas' own way)
        return pd.read_parquet(path)
    names = schema.names
    with ThreadPoolExecutor(2) as pool:
        return pd.DataFrame(dict(zip(names, pool.map(column, names))), copy=False)


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
            tables = _StoredTables(vdir)
        except (OSError, ValueError) as e:
            raise StoreError(f"{path}: store version {version} cannot be read: {e}") from None
        return cls(path, tables, version, schema)

    def save(self, tables: Tables) -> None:
        """Write ``tables`` as a new version and make it current, atomically."""
        w = self.writer()
        try:
            for t in TABLES:
                if t != "rejects":
                    w.write(t, getattr(tables, t))
            rejects = tables.rejects
            del tables
            w.commit(rejects)
        except BaseException:
            w.abort()
            raise

    def writer(self) -> "_Writer":
        """A new version written a table at a time (:class:`_Writer`), current only once committed."""
        return _Writer(self)

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
            parts.append(self.tables.select("node_obs", "id", node_ids, ["id"] + PROVENANCE))
        if edge_ids:
            o = self.tables.select("edge_obs", "edge_id", [int(i) for i in edge_ids], ["edge_id"] + PROVENANCE)
            parts.append(o.rename(columns={"edge_id": "id"}))
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


class _Writer:
    """A new version of a store, written a table at a time as each is ready.

    :meth:`write` hands a table to one of two threads (Parquet encoding and
    compression release the GIL) and returns: the caller drops its own reference,
    and the table is freed once written, so a load need not hold every table at
    once. Tables with the same node-id categories share their Arrow form.
    :meth:`commit` makes the version current, atomically; until then (or after
    :meth:`abort`) the store's current version is untouched.
    """

    def __init__(self, store: "Store"):
        from concurrent.futures import ThreadPoolExecutor

        self.store = store
        store.path.mkdir(parents=True, exist_ok=True)
        n = 0 if store.version is None else int(store.version[1:]) + 1
        self.version = f"v{n:06d}"
        self.tmp = store.path / f".tmp-{self.version}-{os.getpid()}"
        _remove_abandoned(store.path)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.pending: dict = {}
        self.written: set = set()
        self.shared: dict = {}

    def write(self, name: str, df: pd.DataFrame) -> None:
        """Write table ``name`` (one of :data:`TABLES`; :meth:`commit` writes ``rejects``), in the background."""
        if name in self.written:  # (two threads would write one file at once)
            raise StoreError(f"{self.store.path}: version {self.version}: table {name} written twice")
        self.written.add(name)
        self.pending[name] = self.pool.submit(_to_parquet, df, self.tmp / f"{name}.parquet", self.shared)

    def wait(self) -> None:
        """Until every table handed over is written (raising what writing one raised)."""
        for name in list(self.pending):
            self.pending.pop(name).result()

    def commit(self, rejects: pd.DataFrame) -> None:
        """Write ``rejects``, wait for the other tables and make the version current."""
        self.write("rejects", rejects)
        self.wait()
        self.pool.shutdown()
        missing = [t for t in TABLES if not (self.tmp / f"{t}.parquet").is_file()]
        if missing:
            raise StoreError(f"{self.store.path}: version {self.version} lacks {', '.join(missing)}")
        tmp, path = self.tmp, self.store.path
        (tmp / "meta.json").write_text(json.dumps({"format": FORMAT}), encoding="utf-8")
        _fsync_dir(tmp)
        vdir = path / self.version
        if vdir.exists():
            shutil.rmtree(vdir)
        os.replace(tmp, vdir)
        cur_tmp = path / ".CURRENT.tmp"
        cur_tmp.write_text(self.version + "\n", encoding="utf-8")
        os.replace(cur_tmp, path / "CURRENT")
        _fsync_dir(path)
        # the store as read back, as any later open sees it (the tables a load
        # merged in memory hold codes; provenance is read only when asked for)
        st = self.store
        old, st.version, st.tables = st.version, self.version, _StoredTables(vdir, eager=())
        st.__dict__.pop("_graph", None)
        st.__dict__.pop("index", None)
        if old and (path / old).exists():
            shutil.rmtree(path / old, ignore_errors=True)
        write_csv(path / "rejects.csv", rejects[REJECT_COLUMNS])

    def abort(self) -> None:
        """Drop the version being written; the store stays as it was."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _remove_abandoned(path: Path) -> None:
    """Remove versions half-written by loads whose process is gone (killed, or the machine
    stopped): ``.tmp-VERSION-PID`` folders of a PID no longer running. A version being
    written by a running process is left alone."""
    for d in path.glob(".tmp-v*-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if d.is_dir() and pid.isdigit() and process_gone(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def process_gone(pid: int) -> bool:
    """Whether no process ``pid`` is running (False when it runs as another user, or
    when that cannot be told)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass
    return False


# columns whose values are (nearly) all distinct: a Parquet dictionary for them is
# built only to be thrown away
_UNIQUE_COLUMNS = {"id", "key", "label", "row", "edge_id", "txn_id", "time", "amount", "balance", "first_seen", "last_seen"}


# rows per Parquet row group, converted to Arrow one group at a time
_SLICE = 262_144

# a categorical of at most this many values is written as a dictionary column (read back as text)
_FEW = 1024


def _to_parquet(df: pd.DataFrame, path: Path, dictionaries: dict | None = None) -> None:
    """Write ``df`` as Parquet (zstd), a slice of rows at a time.

    Text is written as strings whatever its column holds in memory: Python
    strings, Arrow strings, or a categorical (node ids as codes, a file name per
    record), whose categories are converted to Arrow once for all slices (and kept
    in ``dictionaries`` for other tables with the same categories).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = df.reset_index(drop=True)
    n = len(df)
    try:
        schema = _arrow_schema(df)
    except (pa.ArrowException, ValueError, TypeError):
        schema = None
    # zstd: smaller files than the default snappy and, measured on a 1M-row load, less CPU;
    # no column statistics: nothing reads a store with filters, and they cost a third of the writing
    options = dict(compression="zstd", use_dictionary=[c for c in df.columns if c not in _UNIQUE_COLUMNS],
                   write_statistics=False)
    if schema is None or not n:
        table = pa.Table.from_pandas(df, preserve_index=False)  # (mixed-type text: as pandas would)
        pq.write_table(table, path, **options)
        return
    # a categorical of a few values (kind, file, sheet) is written as its codes and
    # values, not as text that Parquet would hash again into a dictionary of its own
    for i, f in enumerate(schema):
        col = df[f.name]
        if pa.types.is_string(f.type) and isinstance(col.dtype, pd.CategoricalDtype) and len(col.cat.categories) <= _FEW:
            schema = schema.set(i, f.with_type(pa.dictionary(pa.int32(), pa.string())))
    dictionaries = {} if dictionaries is None else dictionaries
    with pq.ParquetWriter(path, schema, **options) as w:
        for a in range(0, n, _SLICE):
            part = df.iloc[a : a + _SLICE]
            arrays = [_arrow_column(part[f.name], f.type, dictionaries) for f in schema]
            w.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=_SLICE)


def _arrow_schema(df: pd.DataFrame):
    """The Arrow schema of ``df`` with its pandas metadata, from a one-row sample.

    Python-string and categorical columns are text (a column of only None: null),
    so no column is scanned to infer its type; text that is empty everywhere is
    written as nulls, as pandas would write a column of None."""
    import pyarrow as pa

    sample = {}
    for c in df.columns:
        col = df[c]
        if isinstance(col.dtype, (pd.CategoricalDtype, pd.StringDtype)) or col.dtype == object:
            empty = col.isna().all()
            if col.dtype == object and not empty:
                v = col.to_numpy()
                i = int(pd.notna(v).argmax())
                if not isinstance(v[i], str):  # something else than text: its own type
                    sample[c] = pd.Series([v[i]], dtype=object)
                    continue
            sample[c] = pd.Series([None if empty else ""], dtype=object)
        else:
            sample[c] = col.iloc[:1].reset_index(drop=True)
    return pa.Table.from_pandas(pd.DataFrame(sample), preserve_index=False).schema


def _arrow_column(col: pd.Series, type_, dictionaries: dict):
    """One slice of a column as an Arrow array of ``type_``."""
    import pyarrow as pa

    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        if pa.types.is_null(type_):
            return pa.nulls(len(codes))
        cats = col.cat.categories
        text = type_.value_type if pa.types.is_dictionary(type_) else type_
        key = (id(cats), str(text))
        if key not in dictionaries:  # (kept with its categories: their id is not reused meanwhile)
            dictionaries[key] = (cats, pa.array(cats.to_numpy(dtype=object), type=text, from_pandas=True))
        index = pa.array(codes, mask=codes < 0)
        if pa.types.is_dictionary(type_):
            return pa.DictionaryArray.from_arrays(index.cast(pa.int32()), dictionaries[key][1])
        return dictionaries[key][1].take(index)
    if pa.types.is_null(type_):
        return pa.nulls(len(col))
    a = pa.array(col, type=type_, from_pandas=True)
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


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
