"""Loading: from a folder of case files to observations, merged into the store.

:func:`load` reads every file (see :mod:`chaingraph.readers`), recognises its
source kind from its headers (:mod:`chaingraph.mapping`), cleans each column with
its type (:mod:`chaingraph.types`), turns each row into node and edge
observations carrying their file, sheet and row, and merges them into the store
(:mod:`chaingraph.store`). Every row read is accounted for: loaded, merged as a
duplicate of a record already known, or rejected with its column and reason.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import sys
import time as _time
import unicodedata
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .exc import ChaingraphError, ReadError
from .mapping import Mapping, builtin_mappings, normalise_header, read_mapping, recognise
from .schema import Schema, load_schema
from .store import PROVENANCE, REJECT_COLUMNS, Store, Tables, edge_property_columns, node_property_columns, process_gone
from .types import Type

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


class _NodeCodes:
    """An integer code per node id, shared by every file of one load.

    Merging groups edge observations on these codes, so millions of id strings
    are never factorised again; each id string is also made once and shared.
    """

    def __init__(self):
        self.code: dict[str, int] = {}
        self.ids: list[str] = []
        self.by_kind: dict[str, dict[str, int]] = {}  # kind -> key -> code (no id string made to look one up)

    def of_keys(self, kind: str, keys: list) -> np.ndarray:
        """Codes of the nodes ``kind:key`` of the key strings ``keys`` (new ones added)."""
        known = self.by_kind.setdefault(kind, {})
        out = np.fromiter(map(known.get, keys, itertools.repeat(-1)), dtype=np.int64, count=len(keys))
        new = np.flatnonzero(out < 0)
        if len(new):
            fresh = list(dict.fromkeys(keys[j] for j in new.tolist()))
            for k, c in zip(fresh, self.of([kind + ":" + k for k in fresh]).tolist()):
                known[k] = c
            out[new] = np.fromiter(map(known.__getitem__, (keys[j] for j in new.tolist())), dtype=np.int64, count=len(new))
        return out

    def of(self, made) -> np.ndarray:
        """Codes of the id strings ``made`` (new ones added)."""
        code, ids = self.code, self.ids
        made = made if isinstance(made, list) else list(made)
        out = np.fromiter(map(code.get, made, itertools.repeat(-1)), dtype=np.int64, count=len(made))
        new = np.flatnonzero(out < 0)
        if len(new):
            for i in dict.fromkeys(made[j] for j in new.tolist()):  # in first-seen order
                code[i] = len(ids)
                ids.append(i)
            out[new] = np.fromiter(map(code.__getitem__, (made[j] for j in new.tolist())), dtype=np.int64, count=len(new))
        return out

    def of_column(self, col) -> np.ndarray:
        """Codes of a column of id strings (None: -1), each distinct value looked up once."""
        k, uniq = pd.factorize(np.asarray(col, dtype=object), use_na_sentinel=True)
        return np.append(self.of([str(u) for u in uniq]), -1)[k]


class _Applier:
    """Applies one mapping to chunks of one sheet."""

    def __init__(self, mapping: Mapping, found: dict[str, str], schema: Schema, file_id: str, file: str, sheet: str | None,
                 node_codes: _NodeCodes | None = None):
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
        self.primary = sorted({e.kind for e in mapping.edges if e.primary})  # kinds a row is loaded as
        self.node_codes = node_codes if node_codes is not None else _NodeCodes()

    def _raw_columns(self, rows: pd.DataFrame) -> dict[str, pd.Series]:
        raw = {col: rows[h].astype("str") for col, h in self.found.items()}
        self.shown = {}
        for col, d in self.m.derive.items():
            if col in raw:
                continue
            if "date" in d and d["date"] in raw:
                date = raw[d["date"]].str.strip()
                clock = raw.get(d.get("clock"))
                if clock is not None:
                    self.shown[col] = (date + " " + clock.str.strip()).str.strip()  # the cells as written, for rejects
                    # 20240103 + 074039 -> 2024-01-03 07:40:39, a form the time type parses column-wise
                    date = date.where(~date.str.fullmatch(r"\d{8}"),
                                      date.str.slice(0, 4) + "-" + date.str.slice(4, 6) + "-" + date.str.slice(6, 8))
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
        clean, errors, flags = {}, {}, {}  # (errors and flags: None for a column with none)
        by_value = {}  # (codes, values) of the distinct cells of the columns cleaned that way (a cell
        # with an error has no value there, so what drops it below leaves these true)
        for col, s in raw.items():
            if col in self.codes:
                k, uniq = pd.factorize(s, use_na_sentinel=True)
                norm = [_norm_code(u) for u in uniq]
                mapped = np.array([self.codes[col].get(u) for u in norm] + [None], dtype=object)
                bad = np.array([m is None and u != "" for m, u in zip(mapped, norm)] + [False])
                clean[col] = pd.Series(mapped[k], index=s.index, dtype=object)
                why = "unknown value; expected one of: " + ", ".join(sorted({r for rs in self.m.values[col].values() for r in rs}))
                errors[col] = pd.Series(np.where(bad[k], why, None), index=s.index, dtype=object) if bad.any() else None
                flags[col] = None
                continue
            t = self.types[col]
            if type(t).clean_series is Type.clean_series:  # (spread here: errors and flags only where there are some)
                k, values, errs, flgs = t.clean_codes(s)
                by_value[col] = (k, values)
                clean[col] = _spread_values(values, k, s.index, t.dtype)
                errors[col], flags[col] = _spread_some(errs, k, s.index), _spread_some(flgs, k, s.index)
            else:
                v, e, f = t.clean_series(s)
                clean[col] = v
                errors[col] = e if e.notna().any() else None
                flags[col] = f if f is not None and f.notna().any() else None
        # direction from the sign of the amount (signed-amount statements) and |amount|
        for col, d in self.m.derive.items():
            if "sign_of" in d and d["sign_of"] in clean:
                amt = clean[d["sign_of"]]
                sign = pd.Series(np.where(amt < 0, "out", np.where(amt >= 0, "in", None)), index=amt.index, dtype=object)
                if col in clean:
                    given = clean[col]
                    clean[col] = given.where(given.notna(), sign)
                    # a signed amount with a direction column: the column wins, the error goes if the sign decides
                    if errors[col] is not None:
                        errors[col] = errors[col].where(given.notna() | sign.isna(), None)
                else:
                    clean[col] = sign
                    errors[col] = flags[col] = None
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
                    usable |= clean[c].notna().to_numpy() & ~_present(errors[c], n)
            for c in group:  # name the first column at fault
                e = errors.get(c)
                if e is None:
                    continue
                has_err = e.notna().to_numpy() & ~usable & ~reject
                if has_err.any():
                    rcol[has_err], rraw[has_err], rwhy[has_err] = self._label(c), self.shown.get(c, raw[c]).to_numpy()[has_err], e.to_numpy()[has_err]
                    reject |= has_err
            missing = ~usable & ~reject
            if missing.any():
                rcol[missing] = " or ".join(self._label(c) for c in group)
                # the first column's cell as written: empty, or a marker of no value ("n/a", "无")
                shown = next((self.shown.get(c, raw[c]) for c in group if c in raw), None)
                shown = shown.to_numpy(dtype=object, na_value="")[missing] if shown is not None else ""
                rraw[missing] = shown
                rwhy[missing] = "empty required value"
                reject |= missing
        rej = [pd.DataFrame({"row": rownum[reject], "column": rcol[reject], "raw": rraw[reject], "reason": rwhy[reject], "action": "row rejected"})]
        ok = ~reject
        # optional cells that failed their type: dropped, reported, row kept
        for col, e in errors.items():
            if col not in clean or e is None:
                continue
            bad = e.notna().to_numpy() & ok
            if bad.any():
                rej.append(pd.DataFrame({"row": rownum[bad], "column": self._label(col), "raw": self.shown.get(col, raw[col]).to_numpy()[bad], "reason": e.to_numpy()[bad], "action": "cell dropped"}))
                clean[col] = clean[col].where(~pd.Series(bad, index=clean[col].index), None)
        # nodes are their load-wide codes (-1: none); the id strings are made once per
        # distinct key, and written only with the store
        codes = {}
        for alias, spec in self.m.nodes.items():
            key = clean.get(spec.key)
            if key is None:
                continue
            if spec.key in by_value:  # (each distinct cell's value looked up once, not factorised again)
                k, values = by_value[spec.key]
                present = np.flatnonzero(pd.notna(values[:-1]))
                uniq = np.full(len(values), -1, dtype=np.int64)
                uniq[present] = self._codes(spec.kind, values[present])[:-1]
                codes[alias] = uniq[np.where(ok, k, -1)]
            else:
                k, uniq = pd.factorize(key, use_na_sentinel=True)
                codes[alias] = self._codes(spec.kind, uniq)[np.where(ok, k, -1)]
        # a node is recorded on a row when an edge of that row uses it, or when it is
        # a statement's own side or used by no edge at all (so a fee-only statement
        # still shows its account)
        value_codes = functools.cache(lambda col: _value_codes(*by_value[col]))
        in_edges = {a for e in self.m.edges for a in (e.source, e.target)}
        always = {e.side for e in self.m.edges if e.side} | (set(self.m.nodes) - in_edges)
        used = {a: np.full(n, a in always) for a in codes}
        made = np.zeros(n, dtype=bool)   # rows that made a primary edge
        edges = []
        for i, spec in enumerate(self.m.edges):
            if spec.source not in codes or spec.target not in codes:
                continue
            csrc, cdst = codes[spec.source], codes[spec.target]
            mask = (csrc >= 0) & (cdst >= 0)
            for cond in spec.when:
                mask &= self._cond(cond, clean).to_numpy()
            if not mask.any():
                continue
            used[spec.source] |= mask
            used[spec.target] |= mask
            if spec.primary:
                made |= mask
            cs, ct = csrc[mask], cdst[mask]
            if spec.reverse_when:
                rev = np.ones(n, dtype=bool)
                for cond in spec.reverse_when:
                    rev &= self._cond(cond, clean).to_numpy()
                r = rev[mask]
                cs, ct = np.where(r, ct, cs), np.where(r, cs, ct)
            df = pd.DataFrame({"kind": spec.kind, "_src": cs, "_dst": ct,
                               "_side": codes[spec.side][mask] if spec.side else -1})
            df["primary"] = spec.primary
            df["spec"] = i
            for prop, col in spec.properties.items():
                if col in clean:
                    df[prop] = clean[col][mask].reset_index(drop=True)
            df["row"] = rownum[mask]
            edges.append(df)
        nodes = []
        for alias, code in codes.items():
            spec = self.m.nodes[alias]
            mask = (code >= 0) & used[alias]
            if not mask.any():
                continue
            k = clean[spec.key][mask].reset_index(drop=True)
            df = pd.DataFrame({"_id": code[mask], "kind": spec.kind, "key": k if k.dtype == object or _is_arrow_text(k) else k.map(str)})
            f = flags.get(spec.key)
            df["flags"] = f[mask].reset_index(drop=True) if f is not None else None
            same = {"_id": code[mask]}  # (what the records are compared on, as integers where known)
            if f is None:
                same["flags"] = np.zeros(len(df), dtype=np.int8)
            for prop, col in spec.properties.items():
                if col in clean:
                    df[prop] = clean[col][mask].reset_index(drop=True)
                    if col in by_value:
                        same[prop] = value_codes(col)[mask]
            df["row"] = rownum[mask]
            nodes.append(_drop_repeats(df, same))
        # a loaded row that made none of the primary edges (a fee or interest posting, a transfer
        # exported without its other side) is in no record: it is listed, so no row is lost
        lone = ok & ~made
        if self.primary and lone.any():
            rej.append(pd.DataFrame({"row": rownum[lone], "column": None, "raw": None, "action": "row kept, no edge",
                                     "reason": f"no {' or '.join(self.primary)} made: the row names no other party for one"}))
        rejects = pd.concat([r for r in rej if len(r)], ignore_index=True) if any(len(r) for r in rej) else None
        return nodes, edges, rejects, rownum[ok]

    def _label(self, col: str) -> str:
        """How a rejected cell's column is named: the file's own header, then the
        mapping's name for it (``交易金额 (amount)``; date and clock columns
        joined: ``交易日期+交易时刻 (time)``)."""
        head = self.found.get(col)
        if head is None and col in self.m.derive:
            d = self.m.derive[col]
            head = "+".join(self.found[d[k]] for k in ("date", "clock", "from", "sign_of") if d.get(k) in self.found) or None
        return f"{head} ({col})" if head and head != col else col

    def _codes(self, kind: str, keys) -> np.ndarray:
        """The load-wide codes of the node ids ``kind:key`` of distinct keys; a last slot -1."""
        vals = keys.tolist()
        if not all(type(k) is str for k in vals):
            vals = [str(k) for k in vals]
        return np.append(self.node_codes.of_keys(kind, vals), -1)

    @staticmethod
    def _cond(cond, clean) -> pd.Series:
        v = clean.get(cond.column)
        if v is None:  # column absent from this file: it is empty everywhere
            any_index = next(iter(clean.values())).index
            return pd.Series(bool(cond.empty), index=any_index)
        if cond.empty is not None:
            return v.isna() if cond.empty else v.notna()
        # the test on each distinct value
        k, uniq = pd.factorize(v, use_na_sentinel=True)
        text = pd.Series(uniq, dtype=object).astype("str")
        if cond.equals is not None:
            hit = (text == cond.equals).to_numpy()
        else:
            with warnings.catch_warnings():  # groups in a user's pattern are fine here
                warnings.simplefilter("ignore", UserWarning)
                hit = text.str.contains(cond.matches, regex=True).to_numpy(dtype=bool, na_value=False)
        return pd.Series(np.append(hit, False)[k], index=v.index)


def _spread_values(values: np.ndarray, codes: np.ndarray, index, dtype) -> pd.Series:
    """:meth:`Type.clean_codes`' distinct values over the cells, of ``dtype``; text as Arrow
    strings, taken from the distinct values (not converted one cell at a time)."""
    if dtype == object:
        a = _as_text(values)
        if a is not None:
            import pyarrow as pa

            taken = a.take(pa.array(np.where(codes < 0, len(values) - 1, codes)))  # (the last slot: no value)
            return pd.Series(pd.arrays.ArrowExtensionArray(taken), index=index, copy=False)
    return pd.Series(values[codes], index=index, dtype=dtype)


def _is_arrow_text(s: pd.Series) -> bool:
    import pyarrow as pa

    return isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_large_string(s.dtype.pyarrow_dtype)


def _spread_some(slots: np.ndarray, codes: np.ndarray, index) -> pd.Series | None:
    """Per-distinct-cell errors or flags (:meth:`Type.clean_codes`) over the cells; None if there are none."""
    return None if pd.isna(slots).all() else pd.Series(slots[codes], index=index, dtype=object)


def _present(s: pd.Series | None, n: int) -> np.ndarray:
    """The mask of the cells of ``s`` that have a value (``s`` None: none has)."""
    return np.zeros(n, dtype=bool) if s is None else s.notna().to_numpy()


def _value_codes(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per cell, a code of its cleaned value (-1: none) from :meth:`Type.clean_codes`'
    ``codes`` and ``values`` (two cells cleaned to one value: one code)."""
    return pd.factorize(values, use_na_sentinel=True)[0][codes]


def _drop_repeats(df: pd.DataFrame, codes: dict | None = None) -> pd.DataFrame:
    """``df`` without the records repeating an earlier one except in ``row`` (as
    ``drop_duplicates``); only the rows whose node occurs more than once are compared,
    and not on ``kind`` and ``key``, which the node code ``_id`` decides.

    ``codes``: integer codes that stand for some columns' values (equal codes for
    equal values), compared instead of the values."""
    again = pd.Series(df["_id"].to_numpy()).duplicated(keep=False).to_numpy()
    if not again.any():
        return df
    keep = ~again
    same = [c for c in df.columns if c not in ("row", "kind", "key")]
    codes = {c: v[again] + 1 for c, v in (codes or {}).items()}  # (-1, no value: 0)
    rest = pd.DataFrame({c: df[c].to_numpy()[again] for c in same if c not in codes}, index=pd.RangeIndex(int(again.sum())))
    keep[np.flatnonzero(again)[~_duplicated(rest, same, codes)]] = True
    return df[keep] if not keep.all() else df


# ---------------------------------------------------------------------------
# cleaning chunks, here or in worker processes

def _clean(ap: _Applier, rows: pd.DataFrame):
    """Apply ``ap`` to one chunk: (node parts, edge parts, rejects, rows ok), the parts
    as kept until the merge (:func:`_compact`)."""
    nodes, edges, rejects, ok = ap.apply(rows)
    return [_compact(df, ap.prov) for df in nodes], [_compact(df, ap.prov) for df in edges], rejects, ok


_WORKER: dict = {}  # in a cleaning worker: its node codes and the applier of the sheet it is on


def _clean_in_worker(spec: tuple, rows):
    """:func:`_clean` in a worker process, with the worker's own node codes; also its
    process id and the ids it coded for this chunk (its codes from ``len`` before on).
    The chunk comes, and the result goes back, as :func:`_handed` packs them."""
    codes = _WORKER.setdefault("codes", _NodeCodes())
    sheet_no, mapping, found, file_id, file, sheet = spec
    if _WORKER.get("sheet_no") != sheet_no:
        _WORKER["sheet_no"] = sheet_no
        _WORKER["ap"] = _Applier(mapping, found, load_schema(), file_id, file, sheet, node_codes=codes)
    start = len(codes.ids)
    out = _clean(_WORKER["ap"], _received(rows))
    return _handed((os.getpid(), codes.ids[start:]) + out, os.getppid())


# A chunk and its result cross between the load and a worker as a pickle whose arrays
# (Arrow and numpy buffers, nearly all of the bytes) are kept out of band (protocol 5)
# and written to one file in shared memory, which the receiver reads and removes; the
# pool's pipe carries the rest. Through the pipe, 60 MB a chunk went 64 KB at a time,
# each time waiting for the GIL of a busy process, and were pickled and copied twice more.
_SHM = Path("/dev/shm")
_HANDED = itertools.count()


@dataclass
class _Handed:
    pickled: bytes  # (what refers to the arrays)
    path: str  # the arrays, one after the other
    sizes: list


def _handed(obj, load_pid: int):
    """``obj`` packed to cross to another process of the load ``load_pid``: its arrays in
    a file in shared memory that only this user may read; where there is no room (a
    container's /dev/shm is often 64 MB) or none at all, ``obj`` as it is."""
    import pickle

    bufs = []
    pickled = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    views = [b.raw() for b in bufs]
    path = _SHM / f"chaingraph-{load_pid}-{os.getpid()}-{next(_HANDED)}"
    try:
        with open(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "wb") as f:
            for v in views:
                f.write(v)
    except OSError:
        path.unlink(missing_ok=True)
        return obj
    return _Handed(pickled, str(path), [v.nbytes for v in views])


def _remove_handed(load_pid: int | None = None) -> None:
    """Files of :func:`_handed` not read: the load ``load_pid``'s (its workers stopped), or
    else those of loads whose process is gone (killed mid-load). Another user's stay:
    /dev/shm lets only their owner remove them."""
    for p in _SHM.glob(f"chaingraph-{load_pid if load_pid is not None else ''}*"):
        pid = p.name.split("-")[1]
        if pid.isdigit() and (int(pid) == load_pid if load_pid is not None else process_gone(int(pid))):
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass


def _received(obj):
    """What :func:`_handed` packed: the arrays read into memory, the file removed."""
    import pickle

    if not isinstance(obj, _Handed):
        return obj
    bufs = [bytearray(n) for n in obj.sizes]  # (one each: an array kept does not keep the others)
    with open(obj.path, "rb") as f:
        for b in bufs:
            if f.readinto(b) != len(b):
                raise ChaingraphError(f"{obj.path}: cut short while a worker's rows were read back")
    os.unlink(obj.path)
    return pickle.loads(obj.pickled, buffers=bufs)


def _worker_start() -> None:
    """A cleaning worker leaves Ctrl-C to the load, which stops the workers (else each
    would print a traceback of the interrupted wait for its next chunk); and it exits
    when the load's process is gone (killed, as by the out-of-memory killer): forked
    workers hold the pool's pipes open themselves, so they would wait for a chunk for ever."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            _time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="chaingraph-parent", daemon=True).start()


def default_workers(paths: list[Path]) -> int:
    """Worker processes for a load of ``paths``: one per CPU this process may use (at
    most 8) when they hold at least :data:`PARALLEL_BYTES`, else none (cleaning in this
    process). Only where processes can be forked (Linux): a started process would
    import the caller's script again."""
    import multiprocessing as mp

    if sys.platform != "linux" or "fork" not in mp.get_all_start_methods():
        return 0
    size = 0
    for p in paths:
        try:
            size += p.stat().st_size
        except OSError:
            pass
    return min(len(os.sched_getaffinity(0)), 8) if size >= PARALLEL_BYTES else 0


# a load of at least this many bytes cleans its chunks in worker processes
PARALLEL_BYTES = 32 << 20


class _Cleaning:
    """Chunks cleaned in the order given: here (``workers`` < 2), or by worker processes,
    a few chunks ahead of the reading, each result taken in order.

    A worker codes node ids with its own codes; its results are put in the load's codes
    (the ids it coded, looked up once each) before they are handed on, so the parts
    are the same as cleaned here. Workers are forked at the start, before the reading
    starts its threads; chunks and parts cross as :func:`_handed` packs them."""

    def __init__(self, workers: int, node_codes: _NodeCodes):
        self.nc, self.pool, self.pending, self.local = node_codes, None, deque(), {}
        self.workers = workers if workers > 1 else 0
        self.window = 2 * workers
        if self.workers:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_worker_start)
            self.pool.submit(int).result()  # (all workers are forked on the first task)
            _remove_handed()  # (left by a load killed mid-way)

    def submit(self, ap: _Applier, spec: tuple, rows: pd.DataFrame, done) -> None:
        """Clean ``rows`` with ``ap`` (``spec``: how a worker makes it) and call ``done``
        with the result, now or once the chunks given before it are done."""
        if self.pool is None:
            done(*_clean(ap, rows))
            return
        self.pending.append((self.pool.submit(_clean_in_worker, spec, _handed(rows, os.getpid())), done))
        while len(self.pending) > self.window:
            self._take()

    def then(self, fn, *args) -> None:
        """Call ``fn(*args)`` once the chunks given before are done (rejects stay in file order)."""
        if self.pending:
            self.pending.append((None, lambda: fn(*args)))
        else:
            fn(*args)

    def finish(self) -> None:
        """Wait for every chunk given, and stop the workers."""
        while self.pending:
            self._take()
        self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
            _remove_handed(os.getpid())  # (chunks and results not taken)

    def _take(self) -> None:
        future, done = self.pending.popleft()
        if future is None:
            return done()
        from concurrent.futures.process import BrokenProcessPool

        try:
            pid, new, nodes, edges, rejects, ok = _received(future.result())
        except BrokenProcessPool as e:
            raise ChaingraphError("a worker process cleaning the rows stopped before it was done (killed, or out of "
                                  "memory?); the store is unchanged. --workers 0 cleans them in this process") from e
        table = self.local.get(pid, np.zeros(0, dtype=np.int64))
        if new:
            table = self.local[pid] = np.concatenate([table, self.nc.of(new)])
        for parts, columns in ((nodes, ("_id",)), (edges, ("_src", "_dst", "_side"))):
            for _, cols in parts:
                for c in columns:
                    v = np.asarray(cols[c], dtype=np.int64)
                    cols[c] = np.where(v >= 0, table[np.maximum(v, 0)], -1)
        done(nodes, edges, rejects, ok)


# ---------------------------------------------------------------------------
# merging observations into nodes and edges
#
# Everything here works on integer codes (node ids, kinds, files factorised once)
# and numpy arrays: grouping millions of observations on Python strings was the
# slow part of a load.

def _typed_col(col, t, c: str, n: int, *, objects_clean: bool = False):
    """One observation column with its schema dtype (``col`` None: an empty column of ``n`` rows).

    Text columns come back as an object ndarray (None where empty), others as a Series.
    ``objects_clean``: an object ``col`` already holds None (not NaN) where empty.
    """
    if t == "time":
        if col is None:
            return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            return col.dt.tz_convert("UTC").dt.as_unit("ns")
        return pd.to_datetime(col, utc=True).dt.as_unit("ns")
    if t == "money":
        if col is None:
            return pd.Series(np.nan, index=range(n), dtype="float64")
        return col if col.dtype == "float64" else pd.to_numeric(col).astype("float64")
    if t == "integer" or c in ("row", "spec", "edge_id"):
        if col is None:
            return pd.Series(pd.NA, index=range(n), dtype="Int64")
        return col if col.dtype == "Int64" else pd.to_numeric(col).astype("Int64")
    if c == "primary":
        return pd.Series(np.ones(n, dtype=bool) if col is None else col.astype("bool").to_numpy())  # (as a NaN column would)
    if col is None:
        return np.full(n, None, dtype=object)
    # text stays as Python strings (object): converting millions of values to
    # Arrow strings here cost more than the whole cleaning
    if col.dtype == object and objects_clean:
        return col.to_numpy()
    arr = col.to_numpy(dtype=object)
    na = pd.isna(arr)
    if na.any():
        arr = arr.copy()
        arr[na] = None
    return arr


def _is_text(t, c: str) -> bool:
    return t not in ("time", "money", "integer") and c not in ("row", "spec", "edge_id", "primary")


def _typed(df: pd.DataFrame, types: dict[str, str], columns: list[str], *, objects_clean: bool = False) -> pd.DataFrame:
    """Give every column of an observation table its schema dtype (absent columns empty)."""
    n, index = len(df), df.index
    out = {}
    for c in columns:
        v = _typed_col(df[c] if c in df.columns else None, types.get(c), c, n, objects_clean=objects_clean)
        out[c] = pd.Series(v, index=index, dtype=object) if isinstance(v, np.ndarray) else pd.Series(v.array, index=index)
    return pd.DataFrame(out, index=index)


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


def _first_of_groups(keys: dict) -> np.ndarray:
    """For rows in order, the position of the first row with the same keys (NaN/NaT a value like any)."""
    ints = [v for v in keys.values() if isinstance(v, np.ndarray) and v.dtype.kind in "iub"]
    if len(ints) == len(keys) > 1 and len(ints[0]):
        first = _first_by_hash(ints)
        if first is not None:
            return first
    gid, room = None, 1
    for v in keys.values():
        a = v.to_numpy() if isinstance(v, pd.Series) and isinstance(v.dtype, np.dtype) else v
        if isinstance(a, np.ndarray) and a.dtype.kind in "iub" and len(a) and int(a.max()) - int(a.min()) < 1 << 31:
            lo = int(a.min())
            c, span = a.astype(np.int64) - lo, int(a.max()) - lo + 1  # small integers (codes): their own code
        else:
            c, uniq = pd.factorize(v, use_na_sentinel=False)
            span = max(len(uniq), 1)
        if gid is None:
            gid, room = c.astype(np.int64), span
            continue
        if room * span >= 1 << 62:  # renumber what is packed so far to make room
            gid = pd.factorize(gid)[0]
            room = int(gid.max()) + 1
        gid, room = gid * span + c, room * span
    if gid is None or not len(gid):
        return np.zeros(0, dtype=np.int64)
    # groups numbered in order of first appearance: group g first appears where the
    # running maximum reaches g
    gid = pd.factorize(gid)[0]
    first = np.flatnonzero(np.diff(np.maximum.accumulate(gid), prepend=-1) > 0)
    return first[gid]


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on uint64 (wrapping)."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _row_hash(arrays: list) -> np.ndarray:
    """One 64-bit hash (uint64) per row of the integer columns ``arrays``."""
    h = np.zeros(len(arrays[0]), dtype=np.uint64)
    for a in arrays:
        h *= np.uint64(0x9E3779B97F4A7C15)
        h += a.astype(np.int64, copy=False).view(np.uint64)
        _mix64(h)
    return h


def _first_by_hash(arrays: list) -> np.ndarray | None:
    """:func:`_first_of_groups` of integer key columns through one 64-bit hash per row:
    one hash table instead of one per wide column. Every row is then checked to equal
    the first row of its group; on a hash collision (never seen), None."""
    h = _row_hash(arrays)
    gid = pd.factorize(h)[0]  # (numbered in order of first appearance)
    del h
    first = np.flatnonzero(np.diff(np.maximum.accumulate(gid), prepend=-1) > 0)[gid]
    for a in arrays:
        if not np.array_equal(a, a[first]):
            return None
    return first


def _first_valid(col: pd.Series, first: np.ndarray, group: np.ndarray) -> pd.Series:
    """Per group, the first non-missing value of ``col`` (as ``groupby.first()``).

    ``first[g]`` is the first row of group ``g``, ``group[i]`` the group of row ``i``;
    rows are in order. Only groups whose first row lacks the value are searched.
    """
    present = col.notna().to_numpy()
    if not present.any():  # (no record has it: all missing, without gathering the column)
        return pd.Series(col.array.take(np.full(len(first), -1), allow_fill=True))
    values = col.iloc[first].reset_index(drop=True)
    later = present & ~present[first][group]
    if later.any():
        idx = np.flatnonzero(later)
        g, pick = np.unique(group[idx], return_index=True)
        values = values.copy()
        values.iloc[g] = col.iloc[idx[pick]].array
    return values


def _combine_hashes(arrays: list[np.ndarray]) -> np.ndarray:
    """The row hash of :func:`pandas.util.hash_pandas_object` from its column hashes."""
    mult = np.uint64(1000003)
    out = np.zeros_like(arrays[0]) + np.uint64(0x345678)
    for i, a in enumerate(arrays):
        inverse_i = len(arrays) - i
        out ^= a
        out *= mult
        mult += np.uint64(82520 + inverse_i + inverse_i)
    return out + np.uint64(97531)


def _edge_hash(obs: pd.DataFrame, reps: np.ndarray, src: np.ndarray, dst: np.ndarray, node_ids, kinds=None) -> np.ndarray:
    """A stable int64 id per edge: ``hash_pandas_object(t.astype("str"), index=False)``
    of the table ``t`` of (kind, source, target, file_id, sheet, row, spec) of the
    rows ``reps`` (each edge's first record), computed column-wise with each distinct
    value hashed once; the ends are given as node codes, so each node id is hashed once.
    (Every array hashed holds distinct values, so ``hash_array`` is told not to
    factorise it again: the same hashes, a seventh of the time.)

    ``kinds``: optionally ``(codes, uniques)`` of the kind of every observation."""
    top = int(max(src.max(), dst.max())) + 1 if len(src) else 0
    mark = np.zeros(top, dtype=bool)
    mark[src] = True
    mark[dst] = True
    used = np.flatnonzero(mark)
    node_hash = np.zeros(top, dtype=np.uint64)
    text = np.asarray(node_ids, dtype=object)[used] if not isinstance(node_ids, list) else np.array([node_ids[i] for i in used.tolist()] + [None], dtype=object)[:-1]
    node_hash[used] = pd.util.hash_array(text, categorize=False)
    hashes = []
    for c in ("kind", "source", "target", "file_id", "sheet", "row", "spec"):
        if c == "source":
            hashes.append(node_hash[src])
        elif c == "target":
            hashes.append(node_hash[dst])
        elif c == "kind" and kinds is not None:
            kcode, kuniq = kinds
            t = pd.Series(kuniq, dtype=object).astype("str").to_numpy(dtype=object)
            hashes.append(pd.util.hash_array(t, categorize=False)[kcode[reps]])
        else:
            codes, uniq = _factorize(obs[c], reps)
            if uniq.dtype.kind == "i" and not pd.isna(uniq).any():  # (row numbers: Arrow's text is str()'s, 5x faster)
                import pyarrow as pa

                t = pa.array(uniq).cast(pa.string()).to_numpy(zero_copy_only=False)
            else:
                t = pd.Series(uniq, dtype=object).astype("str").to_numpy(dtype=object)
            hashes.append(pd.util.hash_array(t, categorize=False)[codes])
    return _combine_hashes(hashes).view("int64")


def _factorize(col: pd.Series, rows: np.ndarray):
    """``pd.factorize`` of ``col`` at ``rows`` (NaN a value); integers of a small range
    (row numbers, edge specs) by marking the values present instead of a hash table:
    the distinct values then come sorted, with the same code for the same value."""
    if pd.api.types.is_integer_dtype(col.dtype) and len(rows):
        v = col.to_numpy(dtype="int64", na_value=np.iinfo(np.int64).min)[rows]
        lo, hi = int(v.min()), int(v.max())
        if lo > np.iinfo(np.int64).min and hi - lo <= 4 * len(v):
            present = np.zeros(hi - lo + 1, dtype=bool)
            present[v - lo] = True
            rank = np.cumsum(present) - 1
            return rank[v - lo], np.flatnonzero(present) + lo
    return pd.factorize(col.iloc[rows], use_na_sentinel=False)


def _transfer_groups(key: dict, tol: pd.Timedelta) -> np.ndarray:
    """Representative position of each money observation.

    ``key`` holds arrays ``source``, ``target`` (node codes), ``cents``, ``time``
    (int64 ns, NaT as the smallest int64), ``txn`` (code, -1 for none), ``end``
    (1: from the payer's statement, 2: the payee's, 0: neither) and ``pos``, rows
    in order. Only the rows still unpaired in step 3 are copied into tables.

    1. exact duplicates (same ends, amount, time, transaction id, statement side);
    2. the same transaction id on both sides;
    3. otherwise one observation from the payer's statement and one from the
       payee's with the same ends and amount, nearest in time within ``tol``; where
       that leaves records of both sides unpaired, as many pairs as can be made
       (:func:`_repair_pairs`).
    """
    pos = key["pos"]
    parent = np.arange(pos.max() + 1) if len(pos) else np.arange(0)
    first = pos[_first_of_groups({c: key[c] for c in ("source", "target", "cents", "time", "txn", "end")})]
    parent[pos] = first
    r = np.flatnonzero((pos == first) & (key["txn"] >= 0))
    if len(r):
        parent[pos[r]] = pos[r][_first_of_groups({c: key[c][r] for c in ("source", "target", "cents", "txn")})]
    del first, r
    parent = _resolve(parent)
    # groups already seen from both ends are complete; pair the rest across ends
    root = parent[pos]
    end = key["end"]
    has_s = np.bincount(root, weights=end == 1, minlength=len(parent)) > 0
    has_t = np.bincount(root, weights=end == 2, minlength=len(parent)) > 0
    open_ = (root == pos) & (key["time"] != np.iinfo(np.int64).min)
    del root

    def rows(mask):
        i = np.flatnonzero(mask)
        t = pd.Series(key["time"][i].view("datetime64[ns]")).dt.tz_localize("UTC")
        return pd.DataFrame({"source": key["source"][i], "target": key["target"][i], "cents": key["cents"][i],
                             "time": t, "pos": pos[i]}).sort_values("time")

    in_a, in_b = open_ & has_s[pos] & ~has_t[pos], open_ & has_t[pos] & ~has_s[pos]
    # only records whose ends and amount occur on the other side too can pair (a hash
    # of the three; a collision only lets a record through that then finds no match)
    h = _row_hash([key["source"], key["target"], key["cents"]])
    ha, hb = h[in_a], h[in_b]
    in_a[in_a] = pd.Series(ha).isin(hb).to_numpy()  # (a hash table: np.isin sorts, five times slower)
    in_b[in_b] = pd.Series(hb).isin(ha).to_numpy()
    del h, ha, hb
    a, b = rows(in_a), rows(in_b)
    if len(a) and len(b):
        b2 = b[["source", "target", "cents", "time", "pos"]].rename(columns={"pos": "pos_b", "time": "time_b"})
        b2["time"] = b2["time_b"]
        m = pd.merge_asof(a[["source", "target", "cents", "time", "pos"]], b2.sort_values("time"), on="time",
                          by=["source", "target", "cents"], tolerance=tol, direction="nearest")
        m = m[m["pos_b"].notna()].copy()
        m["pos_b"] = m["pos_b"].astype("int64")
        m["dt"] = (m["time"] - m["time_b"]).abs()
        m = m.sort_values("dt").drop_duplicates("pos_b").drop_duplicates("pos")
        pair_a, pair_b = _repair_pairs(a, b, m["pos"].to_numpy(), m["pos_b"].to_numpy(), tol)
        lo = np.minimum(pair_a, pair_b)
        parent[pair_a] = lo
        parent[pair_b] = lo
        parent = _resolve(parent)
    return parent[pos]


def _repair_pairs(a: pd.DataFrame, b: pd.DataFrame, pa: np.ndarray, pb: np.ndarray, tol: pd.Timedelta):
    """The pairs ``pa[i]``-``pb[i]`` (positions in ``a`` and ``b``), with the groups (same ends
    and amount) where records of both sides were left unpaired paired again by
    :func:`_best_pairs`.

    Pairing each record with its nearest counterpart leaves two records unpaired when two
    of them share a nearest one: two payments of the same amount a second apart, stamped
    0 s and 2 s later by the payee's bank, are two transfers, not three."""
    left_a = a[~a["pos"].isin(pa)]
    left_b = b[~b["pos"].isin(pb)]
    key = ["source", "target", "cents"]
    both = left_a[key].drop_duplicates().merge(left_b[key].drop_duplicates(), on=key)
    if not len(both):
        return pa, pb
    grp = both.assign(_g=np.arange(len(both)))
    ga = a.merge(grp, on=key)
    gb = b.merge(grp, on=key)
    redo = np.concatenate([ga["pos"].to_numpy(), gb["pos"].to_numpy()])
    keep = ~(np.isin(pa, redo) | np.isin(pb, redo))
    out_a, out_b = [pa[keep]], [pb[keep]]
    tol_ns = int(tol.value)
    ta = ga.groupby("_g")
    for g, rows_b in gb.groupby("_g"):
        rows_a = ta.get_group(g).sort_values("time")
        rows_b = rows_b.sort_values("time")
        i, j = _best_pairs(rows_a["time"].to_numpy("int64", na_value=0), rows_b["time"].to_numpy("int64", na_value=0), tol_ns)
        out_a.append(rows_a["pos"].to_numpy()[i])
        out_b.append(rows_b["pos"].to_numpy()[j])
    return np.concatenate(out_a).astype(np.int64), np.concatenate(out_b).astype(np.int64)


def _best_pairs(ta: np.ndarray, tb: np.ndarray, tol: int, limit: int = 250_000):
    """Pairs (i, j) of the sorted times ``ta`` and ``tb`` at most ``tol`` apart: as many as can
    be made, and of those the ones closest in time in all.

    Some such pairing never crosses (the i-th paired payer record goes with the i-th paired
    payee record), so it is found by a table over prefixes (len(ta) x len(tb) steps); past
    ``limit`` steps, a scan in time order makes as many pairs, not always the closest.

    >>> _best_pairs([0, 1], [0, 2], 600)                     # nearest-first would pair 1 with 0 too
    ([0, 1], [0, 1])
    >>> _best_pairs([0, 10], [9, 20], 10)                    # 10-9 is closer, but only 0-9, 10-20 pair both
    ([0, 1], [0, 1])
    >>> _best_pairs([0], [-500, 5], 600)                     # as many pairs either way: the closer one
    ([0], [1])
    """
    n, m = len(ta), len(tb)
    if n * m > limit:
        i = j = 0
        pi, pj = [], []
        while i < n and j < m:
            if ta[i] + tol < tb[j]:
                i += 1
            elif tb[j] + tol < ta[i]:
                j += 1
            else:
                pi.append(i)
                pj.append(j)
                i += 1
                j += 1
        return pi, pj
    # best[i][j]: (pairs, -total gap) over ta[:i], tb[:j]
    best = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, up = best[i], best[i - 1]
        for j in range(1, m + 1):
            v = max(up[j], row[j - 1])
            gap = abs(int(ta[i - 1]) - int(tb[j - 1]))
            if gap <= tol:
                c, g = up[j - 1]
                v = max(v, (c + 1, g - gap))
            row[j] = v
    pi, pj = [], []
    i, j = n, m
    while i and j:
        if best[i][j] == best[i - 1][j]:
            i -= 1
        elif best[i][j] == best[i][j - 1]:
            j -= 1
        else:
            pi.append(i - 1)
            pj.append(j - 1)
            i -= 1
            j -= 1
    return pi[::-1], pj[::-1]


def derive_edges(obs: pd.DataFrame, schema: Schema, tol: pd.Timedelta = DEFAULT_TOLERANCE, ends=None, node_ids=None,
                 on_obs=None):
    """Group edge observations into edges.

    ``ends``: optionally (source, target, side) node codes of each observation
    (-1: none), one code per distinct id string, with ``node_ids[code]`` its id.
    ``on_obs``: optionally called with the observations and their ``edge_id`` as
    soon as those are known, before the edges are made (a load writes them meanwhile).

    Returns (edges, obs, rep) with ``rep[i]`` the position of the first
    observation of the edge observation ``i`` belongs to.
    """
    obs = obs.reset_index(drop=True)
    n = len(obs)
    pos = np.arange(n)
    # node ids and kinds as integer codes, factorised once
    if ends is None:
        codes, node_ids = pd.factorize(np.concatenate([obs[c].to_numpy(dtype=object) for c in ("source", "target", "side")]))
        ends = codes[:n], codes[n : 2 * n], codes[2 * n :]
    src, dst, side = ends
    end = np.where(side == src, 1, np.where(side == dst, 2, 0))
    end[side < 0] = 0
    time = obs["time"]
    kcode, kinds = pd.factorize(obs["kind"])
    rep = pos.copy()

    def group(ki):  # (the first record of each record's edge, for the records of one kind)
        ek = schema.edges[kinds[ki]]
        idx = np.flatnonzero(kcode == ki)
        keys = {"source": src[idx], "target": dst[idx]}
        if ek.merge == "key":
            return idx, idx[_first_of_groups(keys)]
        if ek.merge == "time":
            return idx, idx[_first_of_groups({**keys, "time": time.iloc[idx].to_numpy(dtype="int64", na_value=np.iinfo(np.int64).min)})]
        amount = obs["amount"].to_numpy()[idx]
        txn, _ = pd.factorize(obs["txn_id"].iloc[idx])
        key = {**keys, "cents": np.round(np.nan_to_num(amount, nan=-1.0) * 100).astype("int64"),
               "time": time.iloc[idx].to_numpy(dtype="int64", na_value=np.iinfo(np.int64).min),
               "txn": txn, "end": end[idx], "pos": idx}
        return idx, _transfer_groups(key, tol)

    # kinds grouped two at a time (numpy and pandas release the GIL for much of it)
    with ThreadPoolExecutor(2, thread_name_prefix="chaingraph-group") as pool:
        for idx, g in pool.map(group, [ki for ki, kind in enumerate(kinds) if kind in schema.edges]):
            rep[idx] = g
    _release_memory()
    reps = np.flatnonzero(rep == pos)
    group = np.full(n, -1)
    group[reps] = np.arange(len(reps))
    group = group[rep]
    # a stable id per edge: a hash of its first observation's provenance
    ids = _edge_hash(obs, reps, src[reps], dst[reps], node_ids, kinds=(kcode, kinds))
    obs["edge_id"] = ids[group]
    if on_obs is not None:
        on_obs(obs)
    _release_memory()
    eprops = edge_property_columns(schema)
    ptypes = _prop_types(schema, "edges")
    edges = pd.DataFrame({"id": ids, **{c: obs[c].iloc[reps].array for c in ("kind", "source", "target")}})
    for p in eprops:
        if p not in ("first_seen", "last_seen", "count"):
            edges[p] = _first_valid(obs[p], reps, group)
    if "first_seen" in obs:
        for p, how, start in (("first_seen", np.minimum, np.iinfo(np.int64).max), ("last_seen", np.maximum, np.iinfo(np.int64).min)):
            v = obs[p].fillna(time) if "time" in obs else obs[p]
            ok = v.notna().to_numpy()
            ns = np.full(len(reps), start, dtype=np.int64)
            how.at(ns, group[ok], v.to_numpy(dtype="int64", na_value=0)[ok])  # per edge, over its records with a time
            seen = np.zeros(len(reps), dtype=bool)
            seen[group[ok]] = True
            out = ns.view("datetime64[ns]")
            out[~seen] = np.datetime64("NaT")
            edges[p] = pd.Series(out).dt.tz_localize("UTC").astype(v.dtype)
    count = np.bincount(group, minlength=len(reps))
    edges["count"] = pd.array(count, dtype="Int64")
    edges["n_obs"] = edges["count"]
    s = np.bincount(group, weights=end == 1, minlength=len(reps)) > 0
    t = np.bincount(group, weights=end == 2, minlength=len(reps)) > 0
    edges["seen_by"] = pd.Categorical.from_codes(s + 2 * t, categories=["", "source", "target", "both"])
    cols = ["id", "kind", "source", "target", "n_obs", "seen_by"] + eprops
    edges = edges.reindex(columns=cols)
    for p in eprops:
        if (ptypes.get(p) == "integer" or p == "count") and edges[p].dtype != "Int64":
            edges[p] = pd.to_numeric(edges[p]).astype("Int64")
    return edges, obs, rep


def derive_nodes(obs: pd.DataFrame, schema: Schema, codes=None, node_ids=None) -> pd.DataFrame:
    """One node per id: the first non-empty value of each property wins.

    ``codes``: optionally the node code of each observation, ``node_ids[code]`` its id.
    """
    nprops = node_property_columns(schema)
    obs = obs.reset_index(drop=True)
    if codes is None:
        group, ids = pd.factorize(obs["id"], sort=True)
    else:  # the same, from the distinct codes: each id string sorted once
        used = np.flatnonzero(np.bincount(codes, minlength=1))
        text = np.array([node_ids[i] for i in used.tolist()] + [None], dtype=object)[:-1]
        import pyarrow as pa
        import pyarrow.compute as pc

        # (the order of UTF-8 bytes is the order of code points, as Python compares str)
        order = pc.sort_indices(pa.array(text, type=pa.large_string())).to_numpy()
        rank = np.empty(int(used.max()) + 1 if len(used) else 0, dtype=np.int64)
        rank[used[order]] = np.arange(len(used))
        group, ids = rank[codes], text[order]
    _, first = np.unique(group, return_index=True)
    nodes = pd.DataFrame({"id": np.asarray(ids, dtype=object), "kind": obs["kind"].iloc[first].array,
                          "key": obs["key"].iloc[first].array})
    for p in nprops:
        nodes[p] = _first_valid(obs[p], first, group)
    flags = pd.Series("", index=nodes.index, dtype=object)
    f = obs["flags"]
    flagged = (f.notna() & (f != "")).to_numpy()
    if flagged.any():
        joined = f[flagged].groupby(group[flagged]).agg(lambda f: ",".join(sorted({x for v in f for x in v.split(",") if x})))
        flags.iloc[joined.index.to_numpy()] = joined.to_numpy()
    nodes["flags"] = flags
    nodes["n_obs"] = np.bincount(group, minlength=len(nodes))
    label = nodes["key"].copy()
    for p in ("name", "holder_name", "merchant_name", "nickname"):
        if p in nodes:
            has = nodes[p].notna() & (label == nodes["key"])
            if has.any():
                label = label.where(~has, nodes[p].astype("str") + " (" + nodes["key"] + ")")
    nodes["label"] = label
    return nodes.reindex(columns=["id", "kind", "key", "label", "flags", "n_obs"] + nprops)


# ---------------------------------------------------------------------------
# the load itself

def _sha(path: Path) -> str:
    """The file's id: the start of its SHA-256. Read 16 MB at a time: this runs beside the
    reading, and each read waits for the GIL (up to 5 ms while the reader holds it), so
    1 MB reads made the first chunk wait 1.2 s for the hash of a 150 MB file."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(min(16 << 20, os.fstat(f.fileno()).st_size + 1))  # (a small file: a small buffer)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()[:16]


def load(paths, store, *, mappings=None, tolerance=DEFAULT_TOLERANCE, chunk_size=200_000, progress=None,
         workers: int | None = None) -> LoadReport:
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
    workers : int, optional
        Worker processes that clean the rows (0 or 1: none, this process does);
        by default :func:`default_workers`. The result is the same either way.

    Returns
    -------
    LoadReport
    """
    from .readers import iter_files

    schema = load_schema()
    st = store if isinstance(store, Store) else Store.open(store, create=True, schema=schema)
    user = [m if isinstance(m, Mapping) else read_mapping(m, schema) for m in (mappings or [])]
    maps = tuple(user) + builtin_mappings()
    inputs = list(iter_files([paths] if isinstance(paths, (str, Path)) else list(paths)))
    report = LoadReport()
    node_codes = _NodeCodes()
    cleaning = _Cleaning(default_workers(inputs) if workers is None else workers, node_codes)
    if progress and cleaning.workers:
        progress(f"cleaning rows in {cleaning.workers} worker processes")
    try:
        parts = _read(inputs, maps, schema, chunk_size, progress, cleaning, report)
        cleaning.finish()
    finally:
        cleaning.close()
    node_parts, edge_parts, rej_parts, file_rows, row_status = parts
    # (file_id, sheet, rows ok, report) of each sheet loaded, for merged counting
    row_status = [(f, s, np.concatenate(ok) if ok else np.array([], dtype="int64"), rep) for f, s, ok, rep in row_status]

    if progress:
        progress("merging")
    _release_memory()
    out = st.writer()  # the new version: current only once committed
    try:
        rejects = merge(st.tables, node_parts, edge_parts, rej_parts, schema, tolerance, row_status, out, node_codes)
        files = pd.DataFrame(file_rows, columns=FILE_COLUMNS)
        for i, (_, _, _, rep) in enumerate(row_status):
            files.loc[i, ["loaded", "merged", "rejected"]] = [rep.loaded, rep.merged, rep.rejected]
        files = pd.concat([st.tables.files, files], ignore_index=True) if len(st.tables.files) else files
        for c in ("read", "loaded", "merged", "rejected"):
            files[c] = pd.to_numeric(files[c]).astype("int64")
        if progress:
            progress("writing store")
        out.write("files", files)
        _release_memory()
        out.commit(rejects)  # (the store reads back what it wrote, when it is used)
    except BaseException:
        out.abort()
        raise
    report.store = st
    report.rejects = st.tables.rejects
    return report


def _read(files: list[Path], maps, schema: Schema, chunk_size: int, progress, cleaning: "_Cleaning", report: LoadReport):
    """The reading half of :func:`load`: each sheet of ``files`` opened, recognised and
    its chunks handed to ``cleaning``; files and sheets not loaded go to ``report``.

    Returns the lists the cleaned chunks are put in as they are done (node parts,
    edge parts, rejects) and, per sheet loaded, its row for the ``files`` table and
    ``(file_id, sheet, [rows ok per chunk], report)``."""
    from .readers import open_tables

    aliases = {normalise_header(a) for m in maps for al in m.columns.values() for a in al}

    def find_header(cells):
        return sum(normalise_header(c) in aliases for c in cells if c) >= 2

    node_parts, edge_parts, rej_parts, file_rows, row_status = [], [], [], [], []
    sheets_seen = 0
    for path in files:
        if progress:
            progress(f"reading {path}")
        try:
            try:
                sheets = open_tables(path, find_header=find_header)
            except ReadError:
                # no row looks like a known header: take the reader's own guess, so the
                # report can say what each loader lacked (or the real reading problem)
                sheets = open_tables(path)
            hashing = None
            if path.is_file():  # (hashed while the first chunk is read; hashlib releases the GIL)
                hasher = ThreadPoolExecutor(1, thread_name_prefix="chaingraph-hash")
                hashing = hasher.submit(_sha, path)
                hasher.shutdown(wait=False)  # (its thread ends with the hash)
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
            ok_rows = []
            try:
                chunks = sheet.chunks(chunk_size)
                first = next(chunks, None)
                try:
                    file_id = hashing.result() if hashing else ""
                except OSError as e:
                    report.unrecognised.append({"file": str(path), "sheet": None, "reason": f"{path}: {e.strerror or e}"})
                    break
                ap = _Applier(mapping, found, schema, file_id, str(path), sheet.name, cleaning.nc)
                sheets_seen += 1
                spec = (sheets_seen, mapping, found, file_id, str(path), sheet.name)  # (how a worker makes ap)
                where = {"file_id": file_id, "file": str(path), "sheet": sheet.name or ""}

                def done(nodes, edges, rejects, ok, rep=rep, where=where, ok_rows=ok_rows):
                    if rejects is not None:
                        rep.rejected += int((rejects["action"] == "row rejected").sum())
                        rej_parts.append(rejects.assign(**where))
                    ok_rows.append(ok)
                    node_parts.extend(nodes)
                    edge_parts.extend(edges)

                for chunk in itertools.chain([first] if first is not None else [], chunks):
                    rep.read += len(chunk.rows) + len(chunk.bad)
                    if chunk.bad:
                        bad = pd.DataFrame([{"row": b.row, "column": b.column, "raw": b.raw, "reason": b.reason, "action": "row rejected"} for b in chunk.bad])
                        rep.rejected += len(bad)
                        cleaning.then(rej_parts.append, bad.assign(**where))
                    if len(chunk.rows):
                        cleaning.submit(ap, spec, chunk.rows, done)
            except ReadError as e:
                report.unrecognised.append({"file": str(path), "sheet": sheet.name, "reason": str(e)})
                continue
            report.files.append(rep)
            row_status.append((file_id, sheet.name or "", ok_rows, rep))
            file_rows.append({"file_id": file_id, "file": str(path), "sheet": sheet.name or "", "source": mapping.source,
                              "encoding": sheet.encoding, "read": rep.read, "loaded_at": pd.Timestamp.now(tz="UTC")})
    return node_parts, edge_parts, rej_parts, file_rows, row_status


def _release_memory() -> None:
    """Hand memory freed so far back to the operating system.

    Arrow's allocator (Arrow strings) and the C library's (numpy arrays) each keep
    what was freed for their own later use: after the records of a large load are
    merged, that can be as much again as the data alive, and neither can use the
    other's. Called between the steps of a load."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc():
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


_LIBC = _glibc()


def _compact(df: pd.DataFrame, prov: dict) -> tuple[int, dict]:
    """One part of observations as kept until the merge: ``(n, columns)``.

    Text becomes Arrow strings (a fraction of the memory of Python strings, and
    what the store writes anyway); the kind and the provenance of the part are one
    value each."""
    cols = dict(prov)
    for c in df.columns:
        v = df[c]
        if c == "kind":
            cols[c] = v.iloc[0] if len(v) else None  # (each part comes from one node or edge spec)
        elif v.dtype == object:
            a = _as_text(v.to_numpy())
            cols[c] = v if a is None else a  # (not all text: left to the merge as it is)
        elif _is_arrow_text(v):
            cols[c] = _as_text(v.array)
        else:
            cols[c] = v
    return len(df), cols


def _as_text(v):
    """Arrow strings of a column of text (None where empty), or None if it holds other values."""
    import pyarrow as pa

    try:
        return pa.array(v, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, TypeError):
        return None


# columns with one value per part (or a few values over millions of rows): kept as codes
_CATEGORICAL = ("kind", "file_id", "file", "sheet")


def _concat_typed(parts, old: pd.DataFrame, types, columns) -> tuple[pd.DataFrame, int]:
    """Old observations then the new parts, one typed table; and the number of old rows.

    Each part is ``(n, cols)``: its row count and only the columns it has, each a
    Series, an array or a scalar (a value for all its rows, as the file's provenance).
    The table is built a column at a time; each part's column is dropped once copied.
    Text is Arrow strings (``str``), the columns of :data:`_CATEGORICAL` and text
    that no part has are categoricals.
    """
    pieces = []
    if len(old):
        old = old.reset_index(drop=True)
        pieces.append((len(old), {c: old[c] for c in old.columns if c in columns}, False))
    pieces += [(n, cols, True) for n, cols in parts if n]
    if not pieces:
        return _typed(pd.DataFrame(columns=columns), types, columns), 0
    lens = [p[0] for p in pieces]
    offs = np.concatenate([[0], np.cumsum(lens)])
    total = int(offs[-1])
    index = pd.RangeIndex(total)
    out = {}
    for c in columns:
        t = types.get(c)
        if c in _CATEGORICAL or (_is_text(t, c) and not any(c in cols for _, cols, _ in pieces)):
            out[c] = pd.Series(_categorical([(n, cols.pop(c, None)) for n, cols, _ in pieces]), index=index, copy=False)
        elif _is_text(t, c):
            out[c] = pd.Series(_arrow_text([(n, cols.pop(c, None)) for n, cols, _ in pieces]), index=index, copy=False)
        elif not any(c in cols for _, cols, _ in pieces):  # a column no part has: empty, made once
            out[c] = _typed_col(None, t, c, total)
        else:
            segs = []
            for n, cols, clean in pieces:
                v = cols.pop(c, None)
                if v is not None and np.ndim(v) == 0:
                    v = pd.Series([v] * n) if not isinstance(v, (bool, np.bool_, int, np.integer)) else pd.Series(np.full(n, v))
                elif v is not None and not isinstance(v, pd.Series):
                    v = pd.Series(v)
                segs.append(_typed_col(v, t, c, n, objects_clean=clean).reset_index(drop=True))
            out[c] = pd.concat(segs, ignore_index=True) if len(segs) > 1 else segs[0]
    pieces.clear()
    # columns kept as they are: consolidating them into one block would copy every value
    return pd.DataFrame(out, copy=False), len(old)


def _categorical(values: list) -> pd.Categorical:
    """One categorical of ``(n, value)`` pieces, each value a scalar for its ``n`` rows,
    a column, or None (empty)."""
    cats: dict = {}
    codes = []
    for n, v in values:
        if v is None or (np.ndim(v) == 0 and pd.isna(v)):
            codes.append(np.full(n, -1, dtype=np.int32))
        elif np.ndim(v) == 0:
            codes.append(np.full(n, cats.setdefault(v, len(cats)), dtype=np.int32))
        else:
            k, uniq = pd.factorize(np.asarray(v, dtype=object) if not isinstance(v, pd.Series) else v)
            here = np.array([cats.setdefault(u, len(cats)) for u in uniq] + [-1], dtype=np.int32)
            codes.append(here[k])
    codes = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
    if not cats:
        codes = np.full(len(codes), -1, dtype=np.int8)  # empty everywhere: a byte a row
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(cats), dtype=object), validate=False)


def _arrow_text(values: list):
    """One Arrow string column (pandas ``str``) of ``(n, value)`` pieces, each value
    a scalar, an Arrow array, a Series or array of text, or None (empty)."""
    import pyarrow as pa

    chunks = []
    for n, v in values:
        if v is None:
            chunks.append(pa.nulls(n, pa.large_string()))
        elif isinstance(v, (pa.Array, pa.ChunkedArray)):
            v = v if v.type == pa.large_string() else v.cast(pa.large_string())
            chunks += v.chunks if isinstance(v, pa.ChunkedArray) else [v]
        elif np.ndim(v) == 0:
            chunks.append(pa.repeat(pa.scalar(v, pa.large_string()), n))
        else:
            s = v if isinstance(v, pd.Series) else pd.Series(v)
            a = _as_text(s)
            if a is None:  # text of another type: as str() gives it
                arr = s.to_numpy(dtype=object)
                a = pa.array([None if m else str(x) for x, m in zip(arr, pd.isna(arr))], type=pa.large_string())
            chunks += a.chunks if isinstance(a, pa.ChunkedArray) else [a]
    return pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.large_string()),
                                      dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def _duplicated(df: pd.DataFrame, columns: list[str], codes: dict | None = None) -> np.ndarray:
    """``df.duplicated(subset=columns)``, on integer codes of each column.

    ``codes``: integer codes (non-negative) already known for some columns, as
    node codes for node ids. The codes are packed into one int64 key when they fit.
    """
    codes = dict(codes or {})
    for c in columns:
        if c not in codes:
            col = df[c]
            if c == "row" or pd.api.types.is_integer_dtype(col.dtype):
                v = col.to_numpy(dtype="int64", na_value=-1)
                codes[c] = v - v.min() if len(v) else v
            else:
                codes[c] = pd.factorize(col, use_na_sentinel=False)[0]
    key, room = np.zeros(len(df), dtype=np.int64), 1
    for c in columns:
        span = int(codes[c].max()) + 1 if len(codes[c]) else 1
        if room * span >= 1 << 62:  # does not fit one int64: compare the columns
            return pd.DataFrame({c: codes[c] for c in columns}).duplicated().to_numpy()
        key += codes[c].astype(np.int64) * room
        room *= span
    return pd.Series(key).duplicated().to_numpy()


def _file_codes(df: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """An integer code per (file_id, sheet) of each row, and the code of each pair."""
    f, fu = pd.factorize(df["file_id"])
    s, su = pd.factorize(df["sheet"])
    code = f.astype("int64") * (len(su) + 1) + s
    lookup = {(a, b): i * (len(su) + 1) + j for i, a in enumerate(fu) for j, b in enumerate(su)} if len(fu) * len(su) < 1_000_000 else None
    return code, lookup


def merge(old: Tables, node_parts, edge_parts, rej_parts, schema: Schema, tolerance, row_status, out, node_codes=None) -> pd.DataFrame:
    """Merge new observations into the old tables; fill each report's loaded/merged.

    The merged ``nodes``, ``node_obs``, ``edges`` and ``edge_obs`` are handed to the
    store writer ``out`` (:meth:`chaingraph.store.Store.writer`) as each is made, so
    they are not all held at once; the node tables are made in a second thread.
    Returns the rejects."""
    # the node codes of each observation and of each edge observation's ends: the old
    # ones looked up, the new ones made while reading
    nc = node_codes if node_codes is not None else _NodeCodes()
    id_parts = [nc.of_column(old.node_obs["id"])] if len(old.node_obs) else []
    for n, cols in node_parts:
        if n:
            v = cols.pop("_id", None)
            id_parts.append(np.asarray(v, dtype=np.int64) if v is not None else nc.of_column(cols["id"]))
    node_code = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int64)
    ends = []
    for c, cc in (("source", "_src"), ("target", "_dst"), ("side", "_side")):
        parts = [nc.of_column(old.edge_obs[c])] if len(old.edge_obs) else []
        for n, cols in edge_parts:
            if n:
                v = cols.pop(cc, None)
                parts.append(np.asarray(v, dtype=np.int64) if v is not None else nc.of_column(cols[c]) if c in cols else np.full(n, -1))
        ends.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
    # every node id is known now: id columns are categoricals of the node codes
    id_type = pd.CategoricalDtype(pd.Index(nc.ids, dtype=object))

    def id_column(codes):
        return pd.Categorical.from_codes(codes.astype(np.int32), dtype=id_type, validate=False)

    # the node tables are made in a second thread while the edges are made here (numpy,
    # pandas and Arrow release the GIL for much of both), each written once made
    pool = ThreadPoolExecutor(1, thread_name_prefix="chaingraph-nodes")
    nodes_done = pool.submit(_merge_nodes, node_parts, old, node_code, id_column, schema, nc.ids, out)
    del node_code
    try:
        edges, edge_obs, merged_obs, is_new, new_dup = _merge_edges(edge_parts, old, ends, id_column, schema, tolerance,
                                                                    row_status, nc.ids, out)
        nodes_done.result()
    finally:
        pool.shutdown()
    # row accounting: a row is merged when every primary record it made was known before
    sel = is_new & edge_obs["primary"].to_numpy(dtype=bool)
    prim_dup = new_dup[new_dup["primary"].to_numpy(dtype=bool)]
    prim = pd.concat([edge_obs.loc[sel, ["file_id", "sheet", "row"]], prim_dup[["file_id", "sheet", "row"]]], ignore_index=True)
    merged = np.concatenate([merged_obs[sel], np.ones(len(prim_dup), dtype=bool)])
    code, lookup = _file_codes(prim)
    prim_rows = prim["row"].to_numpy(dtype="int64", na_value=-1)
    read_before = set()
    for file_id, sheet, ok_rows, rep in row_status:
        m = 0
        if file_id and (file_id, sheet) in read_before:  # a copy of a sheet read earlier in this load: all merged
            m = len(ok_rows)
        elif len(ok_rows) and len(prim):
            c = lookup.get((file_id, sheet)) if lookup is not None else None
            here = code == c if c is not None else (prim["file_id"].to_numpy() == file_id) & (prim["sheet"].to_numpy() == sheet)
            rows, ok_m = prim_rows[here], merged[here]
            if ok_m.any():  # the rows with a merged record and no other one
                cand = np.unique(rows[ok_m])
                merged_rows = cand[~np.isin(cand, rows[~ok_m])]
                m = int(np.isin(ok_rows, merged_rows).sum())
        rep.merged += m
        rep.loaded += len(ok_rows) - m
        read_before.add((file_id, sheet))
    out.write("edges", edges)
    del edge_obs, edges
    rejects = [old.rejects] if len(old.rejects) else []
    rejects += rej_parts
    rejects = pd.concat(rejects, ignore_index=True) if rejects else old.rejects
    rejects = rejects.reindex(columns=["file_id"] + REJECT_COLUMNS)
    rejects = rejects.drop_duplicates(subset=["file_id", "sheet", "row", "column", "action"], ignore_index=True)
    for c in ("file_id", "file", "sheet", "column", "raw", "reason", "action"):
        rejects[c] = rejects[c].astype("str").where(rejects[c].notna(), None) if len(rejects) else rejects[c].astype("str")
    rejects["row"] = pd.to_numeric(rejects["row"]).astype("Int64")
    return rejects


def _merge_nodes(node_parts, old: Tables, node_code: np.ndarray, id_column, schema: Schema, node_ids, out) -> None:
    """The node half of :func:`merge`: the new node records after the old ones, each
    record once, and the nodes made of them; both tables handed to ``out``."""
    columns = [c for c in NODE_OBS_COLUMNS(schema) if c != "id"]
    node_obs, _ = _concat_typed(node_parts, old.node_obs, _prop_types(schema, "nodes"), columns)
    node_parts.clear()
    old.forget("node_obs")  # (a stored version's records: copied into node_obs)
    _release_memory()
    node_obs.insert(0, "id", id_column(node_code))
    keep = ~_duplicated(node_obs, ["id", "file_id", "sheet", "row"], codes={"id": node_code})
    if not keep.all():  # (a table copy: only when some record repeats)
        node_obs, node_code = node_obs[keep].reset_index(drop=True), node_code[keep]
    nodes = derive_nodes(node_obs, schema, codes=node_code, node_ids=node_ids) if len(node_obs) else old.nodes
    out.write("node_obs", node_obs)
    out.write("nodes", nodes)


def _merge_edges(edge_parts, old: Tables, ends: list, id_column, schema: Schema, tolerance, row_status, node_ids, out):
    """The edge half of :func:`merge`: the new edge records after the old ones (a sheet
    read again adds none), handed to ``out`` once their edge ids are known, and the
    edges made of them. Returns (edges, edge_obs, merged_obs, is_new, new_dup): whether
    each record joined an edge made by an earlier one, whether it is new, and the new
    records dropped as repeats."""
    columns = [c for c in EDGE_OBS_COLUMNS(schema) if c not in ("source", "target", "side")]
    edge_obs, n_old = _concat_typed(edge_parts, old.edge_obs, _prop_types(schema, "edges"), columns)
    edge_parts.clear()
    old.forget("edge_obs")
    _release_memory()
    for i, c in enumerate(("source", "target", "side")):
        edge_obs.insert(2 + i, c, id_column(ends[i]))
    is_new = np.arange(len(edge_obs)) >= n_old
    # a read of one sheet makes at most one record per row and edge spec: records repeat
    # only when a sheet (same content, same file id) is read again, in this load or before
    reads = [(f, s) for f, s, _, _ in row_status] + list(zip(old.files["file_id"], old.files["sheet"].fillna("")))
    if len(set(reads)) < len(reads):
        dup = _duplicated(edge_obs, ["file_id", "sheet", "row", "spec"])
    else:
        dup = np.zeros(len(edge_obs), dtype=bool)
    new_dup = edge_obs[is_new & dup][["file_id", "sheet", "row", "primary"]]  # records of rows loaded before (same file again)
    if dup.any():
        edge_obs = edge_obs[~dup].reset_index(drop=True)
        is_new = is_new[~dup]
        ends = [e[~dup] for e in ends]
    _release_memory()
    if len(edge_obs):
        # (the records are written while the edges are made)
        edges, edge_obs, rep = derive_edges(edge_obs, schema, tolerance, ends=tuple(ends), node_ids=node_ids,
                                            on_obs=lambda obs: out.write("edge_obs", obs))
        merged_obs = rep < np.arange(len(rep))
        _release_memory()
    else:
        edges = pd.DataFrame(columns=["id", "kind", "source", "target", "n_obs", "seen_by"] + edge_property_columns(schema))
        merged_obs = np.zeros(0, dtype=bool)
        out.write("edge_obs", edge_obs)
    return edges, edge_obs, merged_obs, is_new, new_dup
