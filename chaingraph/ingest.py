"""Loading: from a folder of case files to observations, merged into the store.

:func:`load` reads every file (see :mod:`chaingraph.readers`), recognises its
source kind from its headers (:mod:`chaingraph.mapping`), cleans each column with
its type (:mod:`chaingraph.types`), turns each row into node and edge
observations carrying their file, sheet and row, and merges them into the store
(:mod:`chaingraph.store`). Every row read is accounted for: loaded, merged as a
duplicate of a record already known, or rejected with its column and reason.
"""

from __future__ import annotations

import hashlib
import re
import time as _time
import unicodedata
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .exc import ChaingraphError, ReadError
from .mapping import Mapping, builtin_mappings, normalise_header, read_mapping, recognise
from .schema import Schema, load_schema
from .store import PROVENANCE, REJECT_COLUMNS, Store, Tables, edge_property_columns, node_property_columns

FILE_COLUMNS = ["file_id", "file", "sheet", "source", "encoding", "read", "loaded", "merged", "rejected", "loaded_at"]
# two statements of one transfer are matched when their times differ by at most this
DEFAULT_TOLERANCE = pd.Timedelta("10min")


def NODE_OBS_COLUMNS(schema: Schema) -> list[str]:
    return ["id", "kind", "key", "flags"] + node_property_columns(schema) + PROVENANCE


def EDGE_OBS_COLUMNS(schema: Schema) -> list[str]:
    return ["edge_id", "kind", "source", "target", "side", "primary", "spec"] + edge_property_columns(schema) + PROVENANCE


@dataclass
class FileReport:
    """What happened to one file (or one sheet of a workbook)."""

    file: str
    kind: str
    encoding: str | None
    sheet: str | None = None
    read: int = 0
    loaded: int = 0
    merged: int = 0
    rejected: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoadReport:
    """The result of :func:`load`: a report per file, and the files not loaded."""

    files: list[FileReport] = field(default_factory=list)
    unrecognised: list[dict] = field(default_factory=list)
    rejects: pd.DataFrame | None = None
    store: Store | None = None

    @property
    def ok(self) -> bool:
        return all(f.read == f.loaded + f.merged + f.rejected for f in self.files)


# ---------------------------------------------------------------------------
# applying a mapping to one chunk of rows

def _norm_code(v: str) -> str:
    return unicodedata.normalize("NFKC", str(v)).strip().lower()


class _Applier:
    """Applies one mapping to chunks of one sheet."""

    def __init__(self, mapping: Mapping, found: dict[str, str], schema: Schema, file_id: str, file: str, sheet: str | None):
        from .types import get_type

        self.m, self.found, self.schema = mapping, found, schema
        self.prov = {"file_id": file_id, "file": file, "sheet": sheet if sheet is not None else ""}
        self.types = {}
        for col in set(mapping.columns) | set(mapping.derive):
            self.types[col] = get_type(mapping.column_type(col, schema))
        self.codes = {
            col: {_norm_code(raw): code for code, raws in vm.items() for raw in raws}
            for col, vm in mapping.values.items()
        }
        required = {c for g in mapping.required for c in g}
        self.required = mapping.required
        self.optional = [c for c in mapping.columns if c not in required]

    def _raw_columns(self, rows: pd.DataFrame) -> dict[str, pd.Series]:
        raw = {col: rows[h].astype("str") for col, h in self.found.items()}
        for col, d in self.m.derive.items():
            if col in raw:
                continue
            if "date" in d and d["date"] in raw:
                date = raw[d["date"]].str.strip()
                clock = raw.get(d.get("clock"))
                if clock is not None:
                    c = clock.str.strip()
                    c = c.where(~c.str.fullmatch(r"\d{6}"), c.str.slice(0, 2) + ":" + c.str.slice(2, 4) + ":" + c.str.slice(4, 6))
                    c = c.str.replace(".", ":", regex=False)
                    date = (date + " " + c).str.strip()
                raw[col] = date
            elif "from" in d and d["from"] in raw and "sign_of" not in d:
                raw[col] = raw[d["from"]]
        return raw

    def apply(self, rows: pd.DataFrame):
        """Return (node_obs, edge_obs, rejects, row_numbers_ok)."""
        rownum = rows["_row"].to_numpy()
        n = len(rows)
        raw = self._raw_columns(rows)
        clean, errors, flags = {}, {}, {}
        for col, s in raw.items():
            if col in self.codes:
                norm = s.map(_norm_code)
                codes = norm.map(self.codes[col])
                bad = codes.isna() & (norm != "")
                clean[col] = codes
                errors[col] = pd.Series(np.where(bad, "unknown value; expected one of: " + ", ".join(sorted({r for rs in self.m.values[col].values() for r in rs})), None), index=s.index, dtype=object)
                flags[col] = None
                continue
            v, e, f = self.types[col].clean_series(s)
            clean[col], errors[col], flags[col] = v, e, f
        # direction from the sign of the amount (signed-amount statements) and |amount|
        for col, d in self.m.derive.items():
            if "sign_of" in d and d["sign_of"] in clean:
                amt = clean[d["sign_of"]]
                sign = pd.Series(np.where(amt < 0, "out", np.where(amt >= 0, "in", None)), index=amt.index, dtype=object)
                if col in clean:
                    given = clean[col]
                    clean[col] = given.where(given.notna(), sign)
                    # a signed amount with a direction column: the column wins, the error goes if the sign decides
                    errors[col] = errors[col].where(given.notna() | sign.isna(), None)
                else:
                    clean[col] = sign
                clean[d["sign_of"]] = amt.abs()
        # row rejection: a required group with no usable value
        reject = np.zeros(n, dtype=bool)
        rcol = np.full(n, None, dtype=object)
        rraw = np.full(n, None, dtype=object)
        rwhy = np.full(n, None, dtype=object)
        for group in self.required:
            # a date column that a derived time is built from counts through that time
            inputs = {v for c in group if c in self.m.derive and c in clean for v in self.m.derive[c].values()}
            group = tuple(c for c in group if c not in inputs)
            usable = np.zeros(n, dtype=bool)
            first_err_col, first_err = None, None
            for c in group:
                if c in clean:
                    usable |= (clean[c].notna() & errors[c].isna()).to_numpy()
            for c in group:  # name the first column at fault
                if c not in clean:
                    continue
                e = errors[c]
                has_err = e.notna().to_numpy() & ~usable & ~reject
                if has_err.any():
                    rcol[has_err], rraw[has_err], rwhy[has_err] = c, raw[c].to_numpy()[has_err], e.to_numpy()[has_err]
                    reject |= has_err
            missing = ~usable & ~reject
            if missing.any():
                c = group[0]
                rcol[missing] = " or ".join(group)
                rraw[missing] = ""
                rwhy[missing] = "empty required value"
                reject |= missing
        rej = [pd.DataFrame({"row": rownum[reject], "column": rcol[reject], "raw": rraw[reject], "reason": rwhy[reject], "action": "row rejected"})]
        ok = ~reject
        # optional cells that failed their type: dropped, reported, row kept
        for col, e in errors.items():
            if col not in clean:
                continue
            bad = e.notna().to_numpy() & ok
            if bad.any():
                rej.append(pd.DataFrame({"row": rownum[bad], "column": col, "raw": raw[col].to_numpy()[bad], "reason": e.to_numpy()[bad], "action": "cell dropped"}))
                clean[col] = clean[col].where(~pd.Series(bad, index=clean[col].index), None)
        okser = pd.Series(ok, index=rows.index)
        ids = {}
        for alias, spec in self.m.nodes.items():
            key = clean.get(spec.key)
            if key is not None:
                prefix = spec.kind + ":"
                ok_key = (okser & key.notna()).to_numpy()
                ids[alias] = pd.Series([prefix + str(k) if o else None for k, o in zip(key.to_numpy(), ok_key)],
                                       index=key.index, dtype=object)
        # a node is recorded on a row when an edge of that row uses it, or when it is
        # a statement's own side or used by no edge at all (so a fee-only statement
        # still shows its account)
        in_edges = {a for e in self.m.edges for a in (e.source, e.target)}
        always = {e.side for e in self.m.edges if e.side} | (set(self.m.nodes) - in_edges)
        used = {a: pd.Series(a in always, index=rows.index) for a in ids}
        edges = []
        for i, spec in enumerate(self.m.edges):
            if spec.source not in ids or spec.target not in ids:
                continue
            src, dst = ids[spec.source], ids[spec.target]
            mask = src.notna() & dst.notna()
            for cond in spec.when:
                mask &= self._cond(cond, clean)
            if not mask.any():
                continue
            used[spec.source] |= mask
            used[spec.target] |= mask
            s, t = src[mask], dst[mask]
            if spec.reverse_when:
                rev = pd.Series(True, index=rows.index)
                for cond in spec.reverse_when:
                    rev &= self._cond(cond, clean)
                rev = rev[mask]
                s, t = s.where(~rev, dst[mask]), t.where(~rev, src[mask])
            df = pd.DataFrame({"kind": spec.kind, "source": s, "target": t})
            df["side"] = ids[spec.side][mask] if spec.side else None
            df["primary"] = spec.primary
            df["spec"] = i
            for prop, col in spec.properties.items():
                if col in clean:
                    df[prop] = clean[col][mask]
            df["row"] = rownum[mask.to_numpy()]
            edges.append(df)
        nodes = []
        for alias, nid in ids.items():
            spec = self.m.nodes[alias]
            mask = nid.notna() & used[alias]
            if not mask.any():
                continue
            key = clean[spec.key]
            df = pd.DataFrame({"id": nid[mask], "kind": spec.kind, "key": key[mask].map(str)})
            f = flags.get(spec.key)
            df["flags"] = f[mask] if f is not None else None
            for prop, col in spec.properties.items():
                if col in clean:
                    df[prop] = clean[col][mask]
            df["row"] = rownum[mask.to_numpy()]
            df = df.drop_duplicates(subset=[c for c in df.columns if c != "row"])
            nodes.append(df)
        rejects = pd.concat([r for r in rej if len(r)], ignore_index=True) if any(len(r) for r in rej) else None
        return nodes, edges, rejects, rownum[ok]

    @staticmethod
    def _cond(cond, clean) -> pd.Series:
        v = clean.get(cond.column)
        if v is None:  # column absent from this file: it is empty everywhere
            any_index = next(iter(clean.values())).index
            return pd.Series(bool(cond.empty), index=any_index)
        if cond.empty is not None:
            return v.isna() if cond.empty else v.notna()
        if cond.equals is not None:
            return (v.astype("str") == cond.equals) & v.notna()
        with warnings.catch_warnings():  # groups in a user's pattern are fine here
            warnings.simplefilter("ignore", UserWarning)
            return v.astype("str").str.contains(cond.matches, regex=True) & v.notna()


# ---------------------------------------------------------------------------
# merging observations into nodes and edges

def _typed(df: pd.DataFrame, types: dict[str, str], columns: list[str]) -> pd.DataFrame:
    """Give every column of an observation table its schema dtype."""
    out = df.reindex(columns=columns)
    for c in columns:
        t = types.get(c)
        if t == "time":
            out[c] = pd.to_datetime(out[c], utc=True).dt.as_unit("ns")
        elif t == "money":
            out[c] = pd.to_numeric(out[c]).astype("float64")
        elif t == "integer" or c in ("row", "spec"):
            out[c] = pd.to_numeric(out[c]).astype("Int64")
        elif c == "primary":
            out[c] = out[c].astype("bool")
        elif c == "edge_id":
            out[c] = pd.to_numeric(out[c]).astype("Int64")
        else:
            # text stays as Python strings (object): converting millions of values to
            # Arrow strings here cost more than the whole cleaning
            col = out[c].astype(object)
            out[c] = col.where(col.notna(), None)
    return out


def _prop_types(schema: Schema, which: str) -> dict[str, str]:
    types = {}
    for k in getattr(schema, which).values():
        for p, t in k.properties.items():
            types.setdefault(p, t)
    return types


def _resolve(parent: np.ndarray) -> np.ndarray:
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            return parent
        parent = nxt


def _transfer_groups(sub: pd.DataFrame, tol: pd.Timedelta) -> pd.Series:
    """Representative position of each money observation (see module docs).

    1. exact duplicates (same ends, amount, time, transaction id, statement side);
    2. the same transaction id on both sides;
    3. otherwise one observation from the payer's statement and one from the
       payee's with the same ends and amount, nearest in time within ``tol``.
    """
    pos = sub["pos"].to_numpy()
    parent = np.arange(pos.max() + 1) if len(pos) else np.arange(0)
    end = np.where(sub["side"] == sub["source"], "s", np.where(sub["side"] == sub["target"], "t", "-"))
    cents = (sub["amount"].fillna(-1) * 100).round().astype("int64")
    key = pd.DataFrame({"source": sub["source"], "target": sub["target"], "cents": cents, "time": sub["time"], "txn": sub["txn_id"], "end": end, "pos": pos})
    first = key.groupby(["source", "target", "cents", "time", "txn", "end"], dropna=False, sort=False)["pos"].transform("min").to_numpy()
    parent[pos] = first
    reps = key[pos == first]
    with_txn = reps[reps["txn"].notna()]
    if len(with_txn):
        g = with_txn.groupby(["source", "target", "cents", "txn"], sort=False)["pos"].transform("min").to_numpy()
        parent[with_txn["pos"].to_numpy()] = g
    parent = _resolve(parent)
    # groups already seen from both ends are complete; pair the rest across ends
    reps = key[parent[pos] == pos].copy()
    grp = pd.DataFrame({"s": end == "s", "t": end == "t"}).groupby(parent[pos]).any()
    grp_ends = np.where(grp["s"], "s", "") + np.where(grp["t"], "t", "")
    reps["ends"] = pd.Series(grp_ends, index=grp.index).reindex(reps["pos"]).to_numpy()
    a = reps[(reps["ends"] == "s") & reps["time"].notna()].sort_values("time")
    b = reps[(reps["ends"] == "t") & reps["time"].notna()].sort_values("time")
    if len(a) and len(b):
        b2 = b[["source", "target", "cents", "time", "pos"]].rename(columns={"pos": "pos_b", "time": "time_b"})
        b2["time"] = b2["time_b"]
        m = pd.merge_asof(a[["source", "target", "cents", "time", "pos"]], b2.sort_values("time"), on="time",
                          by=["source", "target", "cents"], tolerance=tol, direction="nearest")
        m = m[m["pos_b"].notna()].copy()
        m["pos_b"] = m["pos_b"].astype("int64")
        m["dt"] = (m["time"] - m["time_b"]).abs()
        m = m.sort_values("dt").drop_duplicates("pos_b").drop_duplicates("pos")
        lo = np.minimum(m["pos"].to_numpy(), m["pos_b"].to_numpy())
        parent[m["pos"].to_numpy()] = lo
        parent[m["pos_b"].to_numpy()] = lo
        parent = _resolve(parent)
    return pd.Series(parent[pos], index=sub.index)


def derive_edges(obs: pd.DataFrame, schema: Schema, tol: pd.Timedelta = DEFAULT_TOLERANCE):
    """Group edge observations into edges.

    Returns (edges, rep) where ``rep[i]`` is the position of the first
    observation of the edge observation ``i`` belongs to.
    """
    obs = obs.reset_index(drop=True)
    obs["pos"] = np.arange(len(obs))
    rep = np.arange(len(obs))
    for kind, ek in schema.edges.items():
        sub = obs[obs["kind"] == kind]
        if not len(sub):
            continue
        if ek.merge == "key":
            g = sub.groupby(["source", "target"], sort=False)["pos"].transform("min")
        elif ek.merge == "time":
            g = sub.groupby(["source", "target", "time"], sort=False, dropna=False)["pos"].transform("min")
        else:
            g = _transfer_groups(sub, tol)
        rep[sub.index.to_numpy()] = g.to_numpy()
    obs["rep"] = rep
    # a stable id per edge: a hash of its first observation's provenance
    first = obs.loc[np.unique(rep), ["rep", "kind", "source", "target", "file_id", "sheet", "row", "spec"]]
    h = pd.util.hash_pandas_object(first.drop(columns="rep").astype("str"), index=False).to_numpy().view("int64")
    id_of = pd.Series(h, index=first["rep"].to_numpy())
    obs["edge_id"] = id_of.reindex(obs["rep"]).to_numpy()
    eprops = edge_property_columns(schema)
    ptypes = _prop_types(schema, "edges")
    g = obs.groupby("rep", sort=True)
    edges = g[["edge_id", "kind", "source", "target"]].first()
    firsts = [p for p in eprops if p not in ("first_seen", "last_seen", "count")]
    edges = edges.join(g[firsts].first())
    if "first_seen" in obs:
        fs = obs["first_seen"].fillna(obs["time"]) if "time" in obs else obs["first_seen"]
        ls = obs["last_seen"].fillna(obs["time"]) if "time" in obs else obs["last_seen"]
        edges["first_seen"] = fs.groupby(obs["rep"]).min()
        edges["last_seen"] = ls.groupby(obs["rep"]).max()
    edges["count"] = g.size().astype("Int64")
    edges["n_obs"] = edges["count"]
    end = np.where(obs["side"] == obs["source"], 1, np.where(obs["side"] == obs["target"], 2, 0))
    sides = pd.DataFrame({"s": end == 1, "t": end == 2}).groupby(obs["rep"].to_numpy()).any()
    seen = sides["s"].astype("int64") + 2 * sides["t"].astype("int64")
    edges["seen_by"] = seen.map({0: "", 1: "source", 2: "target", 3: "both"})
    edges = edges.rename(columns={"edge_id": "id"}).reset_index(drop=True)
    edges["id"] = edges["id"].astype("int64")
    cols = ["id", "kind", "source", "target", "n_obs", "seen_by"] + eprops
    edges = edges.reindex(columns=cols)
    for p in eprops:
        if ptypes.get(p) == "integer" or p == "count":
            edges[p] = pd.to_numeric(edges[p]).astype("Int64")
    return edges, obs


def derive_nodes(obs: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """One node per id: the first non-empty value of each property wins."""
    nprops = node_property_columns(schema)
    g = obs.groupby("id", sort=True)
    nodes = g[["kind", "key"] + nprops].first()
    flagged = obs[obs["flags"].notna() & (obs["flags"] != "")]
    joined = flagged.groupby("id")["flags"].agg(lambda f: ",".join(sorted({x for v in f for x in v.split(",") if x})))
    nodes["flags"] = joined.reindex(nodes.index).fillna("")
    nodes["n_obs"] = g.size()
    nodes = nodes.reset_index()
    label = nodes["key"].copy()
    for p in ("name", "holder_name", "merchant_name", "nickname"):
        if p in nodes:
            has = nodes[p].notna() & (label == nodes["key"])
            label = label.where(~has, nodes[p].astype("str") + " (" + nodes["key"] + ")")
    nodes["label"] = label
    return nodes.reindex(columns=["id", "kind", "key", "label", "flags", "n_obs"] + nprops)


# ---------------------------------------------------------------------------
# the load itself

def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def load(paths, store, *, mappings=None, tolerance=DEFAULT_TOLERANCE, chunk_size=100_000, progress=None) -> LoadReport:
    """Load files or folders into the store at ``store`` (created if absent).

    Parameters
    ----------
    paths : path or list of paths
        Files or folders (searched recursively).
    store : path or Store
    mappings : list of paths or Mapping, optional
        The user's own mappings, tried before the built-in ones.
    tolerance : Timedelta
        Maximum time difference between the payer's and the payee's record of
        one transfer.
    progress : callable(str), optional
        Called with a short message as each file is read.

    Returns
    -------
    LoadReport
    """
    from .readers import iter_files, open_tables

    schema = load_schema()
    st = store if isinstance(store, Store) else Store.open(store, create=True, schema=schema)
    user = [m if isinstance(m, Mapping) else read_mapping(m, schema) for m in (mappings or [])]
    maps = tuple(user) + builtin_mappings()
    aliases = {normalise_header(a) for m in maps for al in m.columns.values() for a in al}

    def find_header(cells):
        return sum(normalise_header(c) in aliases for c in cells if c) >= 2

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    report = LoadReport()
    node_parts, edge_parts, rej_parts, file_rows = [], [], [], []
    row_status = []  # (file_id, sheet, rows ok array, report) for merged counting
    for path in iter_files(paths):
        if progress:
            progress(f"reading {path}")
        try:
            try:
                sheets = open_tables(path, find_header=find_header)
            except ReadError:
                # no row looks like a known header: take the reader's own guess, so the
                # report can say what each loader lacked (or the real reading problem)
                sheets = open_tables(path)
            file_id = _sha(path) if path.is_file() else ""
        except ReadError as e:
            report.unrecognised.append({"file": str(path), "sheet": None, "reason": str(e)})
            continue
        except OSError as e:
            report.unrecognised.append({"file": str(path), "sheet": None, "reason": f"{path}: {e.strerror or e}"})
            continue
        for sheet in sheets:
            mapping, found, missing = recognise(sheet.header, maps)
            if mapping is None:
                lacks = "; ".join(f"{src} lacks {', '.join(cols)}" for src, cols in missing.items())
                report.unrecognised.append({
                    "file": str(path), "sheet": sheet.name,
                    "reason": f"{path}{' [' + sheet.name + ']' if sheet.name else ''}: no loader recognises the headers {sheet.header[:12]}: {lacks}",
                })
                continue
            rep = FileReport(str(path), mapping.source, sheet.encoding, sheet.name)
            ap = _Applier(mapping, found, schema, file_id, str(path), sheet.name)
            ok_rows = []
            try:
                for chunk in sheet.chunks(chunk_size):
                    rep.read += len(chunk.rows) + len(chunk.bad)
                    if chunk.bad:
                        bad = pd.DataFrame([{"row": b.row, "column": b.column, "raw": b.raw, "reason": b.reason, "action": "row rejected"} for b in chunk.bad])
                        rep.rejected += len(bad)
                        rej_parts.append(bad.assign(file_id=file_id, file=str(path), sheet=sheet.name or ""))
                    if not len(chunk.rows):
                        continue
                    nodes, edges, rejects, ok = ap.apply(chunk.rows)
                    if rejects is not None:
                        rep.rejected += int((rejects["action"] == "row rejected").sum())
                        rej_parts.append(rejects.assign(file_id=file_id, file=str(path), sheet=sheet.name or ""))
                    ok_rows.append(ok)
                    for df in nodes:
                        node_parts.append(df.assign(**ap.prov))
                    for df in edges:
                        edge_parts.append(df.assign(**ap.prov))
            except ReadError as e:
                report.unrecognised.append({"file": str(path), "sheet": sheet.name, "reason": str(e)})
                continue
            report.files.append(rep)
            row_status.append((file_id, sheet.name or "", np.concatenate(ok_rows) if ok_rows else np.array([], dtype="int64"), rep))
            file_rows.append({"file_id": file_id, "file": str(path), "sheet": sheet.name or "", "source": mapping.source,
                              "encoding": sheet.encoding, "read": rep.read, "loaded_at": pd.Timestamp.now(tz="UTC")})

    if progress:
        progress("merging")
    tables = merge(st.tables, node_parts, edge_parts, rej_parts, schema, tolerance, row_status)
    files = pd.DataFrame(file_rows, columns=FILE_COLUMNS)
    for i, (_, _, _, rep) in enumerate(row_status):
        files.loc[i, ["loaded", "merged", "rejected"]] = [rep.loaded, rep.merged, rep.rejected]
    tables.files = pd.concat([st.tables.files, files], ignore_index=True) if len(st.tables.files) else files
    for c in ("read", "loaded", "merged", "rejected"):
        tables.files[c] = pd.to_numeric(tables.files[c]).astype("int64")
    if progress:
        progress("writing store")
    st.save(tables)
    report.store = st
    report.rejects = tables.rejects
    return report


def merge(old: Tables, node_parts, edge_parts, rej_parts, schema: Schema, tolerance, row_status) -> Tables:
    """Merge new observations into the old tables; fill each report's loaded/merged."""
    ncols, ecols = NODE_OBS_COLUMNS(schema), EDGE_OBS_COLUMNS(schema)
    ntypes, etypes = _prop_types(schema, "nodes"), _prop_types(schema, "edges")
    new_n = _typed(pd.concat(node_parts, ignore_index=True), ntypes, ncols) if node_parts else _typed(pd.DataFrame(columns=ncols), ntypes, ncols)
    new_e = _typed(pd.concat(edge_parts, ignore_index=True), etypes, ecols) if edge_parts else _typed(pd.DataFrame(columns=ecols), etypes, ecols)
    old_n = _typed(old.node_obs, ntypes, ncols)
    old_e = _typed(old.edge_obs, etypes, ecols)
    node_obs = pd.concat([x for x in (old_n, new_n) if len(x)], ignore_index=True) if len(old_n) or len(new_n) else old_n
    node_obs = node_obs.drop_duplicates(subset=["id", "file_id", "sheet", "row"], keep="first", ignore_index=True)
    n_old = len(old_e)
    edge_obs = pd.concat([x for x in (old_e, new_e) if len(x)], ignore_index=True) if len(old_e) or len(new_e) else old_e
    is_new = np.arange(len(edge_obs)) >= n_old
    dup = edge_obs.duplicated(subset=["file_id", "sheet", "row", "spec"], keep="first").to_numpy()
    new_dup = edge_obs[is_new & dup]  # records of rows loaded before (same file again)
    keep = ~dup
    edge_obs = edge_obs[keep].reset_index(drop=True)
    is_new = is_new[keep]
    if len(edge_obs):
        edges, edge_obs = derive_edges(edge_obs, schema, tolerance)
        merged_obs = edge_obs["rep"].to_numpy() < edge_obs["pos"].to_numpy()
        edge_obs = edge_obs.drop(columns=["rep", "pos"])
    else:
        edges = pd.DataFrame(columns=["id", "kind", "source", "target", "n_obs", "seen_by"] + edge_property_columns(schema))
        merged_obs = np.zeros(0, dtype=bool)
    nodes = derive_nodes(node_obs, schema) if len(node_obs) else old.nodes
    # row accounting: a row is merged when every primary record it made was known before
    prim = edge_obs[is_new & edge_obs["primary"].to_numpy()][["file_id", "sheet", "row"]].assign(merged=merged_obs[is_new & edge_obs["primary"].to_numpy()])
    prim_dup = new_dup[new_dup["primary"]][["file_id", "sheet", "row"]].assign(merged=True)
    prim = pd.concat([prim, prim_dup], ignore_index=True)
    row_merged = prim.groupby(["file_id", "sheet", "row"])["merged"].all()
    for file_id, sheet, ok_rows, rep in row_status:
        try:
            per = row_merged.loc[(file_id, sheet)]
        except KeyError:
            per = pd.Series(dtype=bool)
        m = int(per.reindex(ok_rows).fillna(False).astype(bool).sum()) if len(ok_rows) else 0
        rep.merged += m
        rep.loaded += len(ok_rows) - m
    rejects = [old.rejects] if len(old.rejects) else []
    rejects += rej_parts
    rejects = pd.concat(rejects, ignore_index=True) if rejects else old.rejects
    rejects = rejects.reindex(columns=["file_id"] + REJECT_COLUMNS)
    rejects = rejects.drop_duplicates(subset=["file_id", "sheet", "row", "column", "action"], ignore_index=True)
    for c in ("file_id", "file", "sheet", "column", "raw", "reason", "action"):
        rejects[c] = rejects[c].astype("str").where(rejects[c].notna(), None) if len(rejects) else rejects[c].astype("str")
    rejects["row"] = pd.to_numeric(rejects["row"]).astype("Int64")
    return Tables(nodes=nodes, edges=edges, node_obs=node_obs, edge_obs=edge_obs, files=old.files, rejects=rejects)
