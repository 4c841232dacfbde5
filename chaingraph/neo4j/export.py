"""CSV files for ``neo4j-admin database import full``: the fastest way to load a very large store.

One node file per node kind and one relationship file per edge kind, each with
its own header row in the import tool's format (``id:ID``, ``:LABEL``,
``:START_ID``, ``:END_ID``, ``:TYPE``, typed properties such as
``amount:double``, ``time:datetime``, ``n_obs:long``, provenance lists as
``cg_file:string[]``). The rows carry exactly what :func:`~chaingraph.neo4j.push`
writes (including ``cg_hash``), so after the import a ``chaingraph neo4j push``
only creates the constraints and finds nothing to send.

Examples
--------
>>> from chaingraph.neo4j.export import header
>>> header({"id": "text", "amount": "money", "time": "time", "n_obs": "integer", "cg_row": "list_int"},
...        id_column="id")
['id:ID', 'amount:double', 'time:datetime', 'n_obs:long', 'cg_row:long[]']
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .cypher import ENTITY, PROVENANCE_PROPS, Cypher
from .push import _iso, prepare_edges, prepare_nodes

__all__ = ["export_csv", "ExportResult", "header"]

ARRAY_DELIMITER = "\u001f"  # unit separator: never part of a file name or a value
ARRAY_DELIMITER_ARG = "U+001F"
_TYPES = {"text": "", "money": ":double", "time": ":datetime", "integer": ":long",
          "list": ":string[]", "list_int": ":long[]"}


def header(columns: dict, id_column: str | None = None) -> list[str]:
    """Header cells for ``columns`` (name -> value type) in the import tool's format."""
    out = []
    for c, t in columns.items():
        if c == id_column:
            out.append(f"{c}:ID")
        else:
            out.append(c + _TYPES[t])
    return out


@dataclass
class ExportResult:
    """The files written and the command that imports them."""

    out: object
    node_files: dict = field(default_factory=dict)   # kind -> path
    edge_files: dict = field(default_factory=dict)
    command: list = field(default_factory=list)

    @property
    def command_line(self) -> str:
        return shlex.join(self.command)


def _cells(df: pd.DataFrame, columns: dict) -> pd.DataFrame:
    out = {}
    for c, t in columns.items():
        s = df[c]
        if t == "time":
            out[c] = _iso(s)
        elif t in ("list", "list_int"):
            out[c] = [ARRAY_DELIMITER.join(str(x) for x in v) if len(v) else None for v in s]
        elif t == "integer":
            out[c] = pd.to_numeric(s).astype("Int64")
        elif t == "money":
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            out[c] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out, index=df.index)


def _field(v) -> str:
    """One CSV field: missing values empty (null on import), text always quoted (so "" stays "")."""
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, str):
        return '"' + v.replace('"', '""') + '"'
    return str(v)


def _write(path: Path, head: list[str], df: pd.DataFrame) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(_field(h) for h in head) + "\n")
        for row in df.itertuples(index=False, name=None):
            f.write(",".join(_field(v) for v in row) + "\n")


def export_csv(store, out, *, database: str = "neo4j") -> ExportResult:
    """Write ``store`` as neo4j-admin import CSV files under ``out``.

    Returns an :class:`ExportResult` whose ``command_line`` is the exact
    ``neo4j-admin database import full …`` to run (on a stopped server; it
    replaces ``database``).
    """
    from ..store import Store

    st = store if isinstance(store, Store) else Store.open(store)
    cy = Cypher(st.schema)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res = ExportResult(out=out.resolve())
    prov = {"cg_file_id": "list", "cg_file": "list", "cg_sheet": "list", "cg_row": "list_int"}
    assert set(prov) == set(PROVENANCE_PROPS)

    nodes = prepare_nodes(st, cy).frame()
    ncols = {**cy.node_columns, "cg_hash": "integer", **prov}
    for kind, part in nodes.groupby("kind", sort=True):
        cells = _cells(part, ncols)
        cells.insert(1, ":LABEL", f"{ENTITY}{ARRAY_DELIMITER}{cy.label(kind)}")
        head = header(ncols, id_column="id")
        head.insert(1, ":LABEL")
        path = out / f"nodes_{kind}.csv"
        _write(path, head, cells)
        res.node_files[kind] = path

    edges = prepare_edges(st, cy).frame()
    ecols = {c: t for c, t in cy.edge_columns.items() if c not in ("source", "target")}
    ecols = {**ecols, "cg_hash": "integer", "cg_seq": "integer", **prov}
    for kind, part in edges.groupby("kind", sort=True):
        cells = _cells(part, ecols)
        cells.insert(0, ":START_ID", part["source"].astype(object).to_numpy())
        cells.insert(1, ":END_ID", part["target"].astype(object).to_numpy())
        cells.insert(2, ":TYPE", cy.rel_type(kind))
        head = [":START_ID", ":END_ID", ":TYPE"] + header(ecols)
        path = out / f"edges_{kind}.csv"
        _write(path, head, cells)
        res.edge_files[kind] = path

    cmd = ["neo4j-admin", "database", "import", "full"]
    cmd += [f"--nodes={p}" for p in res.node_files.values()]
    cmd += [f"--relationships={p}" for p in res.edge_files.values()]
    cmd += [f"--array-delimiter={ARRAY_DELIMITER_ARG}", "--multiline-fields=true", "--overwrite-destination=true",
            database]
    res.command = cmd
    return res
