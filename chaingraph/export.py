"""Writing tables that are safe to hand over: CSV, XLSX or JSON, optionally masked.

Any feature that hands a table to someone else (lead lists, trace results,
reject lists) goes through :func:`write_table`. The file extension picks the
format:

``.csv``
    UTF-8 with a byte-order mark (so Excel shows Chinese text), one file per
    sheet: the first sheet at ``path``, the others beside it as
    ``<stem>.<sheet>.csv``. Text cells a spreadsheet would run as a formula
    (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a
    leading ``'`` (the OWASP rule); numeric columns stay numeric.
``.xlsx``
    One worksheet per sheet, header row bold, filled and frozen, an autofilter,
    column widths fitted to the content (CJK characters count double). Text is
    written with ``write_string`` and formula / URL detection is switched off,
    so a cell is never run as a formula or turned into a link.
``.json``
    ``{sheet: [row, ...]}`` in UTF-8 (not ASCII-escaped).

With ``mask=True`` identifiers of the schema's personal key types (resident
ID, bank card, mobile number; see :data:`MASK_RULES`) are masked wherever they
occur: in key columns (chosen by each row's node kind and that kind's key type),
in property columns of those types and inside any other text (labels, reasons,
evidence paths). A ``key_hash`` column (HMAC-SHA256 of the node id with a salt)
keeps masked lists joinable: the same entity gets the same hash in every list
made with the same salt.

>>> mask_text("card 6222021234567890123 of 110101199003071234, tel 13800001111")
'card 622202*********0123 of 110101********1234, tel 138****1111'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .exc import ChaingraphError
from .schema import Schema, load_schema

SALT_ENV = "CHAINGRAPH_MASK_SALT"
FORMATS = ("csv", "xlsx", "json")

# characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class MaskRule:
    """How identifiers of one key type are masked: keep ``head`` and ``tail`` characters.

    ``pattern`` finds such identifiers inside free text.
    """

    head: int
    tail: int
    pattern: re.Pattern

    def mask(self, value: str) -> str:
        s = str(value)
        if len(s) <= self.head + self.tail:
            return "*" * len(s)
        return s[: self.head] + "*" * (len(s) - self.head - self.tail) + s[len(s) - self.tail:]


# Personal identifier types (schema key / property types) and how to mask them.
# Order matters for free text: resident IDs first (18 characters), then mobile
# numbers (11 digits starting with 1), then card numbers (12-19 digits).
MASK_RULES: dict[str, MaskRule] = {
    "resident_id": MaskRule(6, 4, re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")),
    "mobile": MaskRule(3, 4, re.compile(r"(?<![0-9A-Za-z])(?:\+?86[ \-]?)?1[3-9]\d{9}(?![0-9A-Za-z])")),
    "bank_card": MaskRule(6, 4, re.compile(r"(?<![0-9A-Za-z])\d{12,19}(?![0-9A-Za-z])")),
}


def mask_text(text, rules: dict[str, MaskRule] | None = None):
    """Mask every personal identifier found in ``text`` (non-strings are returned as is)."""
    if not isinstance(text, str) or not text:
        return text
    rules = MASK_RULES if rules is None else rules
    for rule in rules.values():
        text = rule.pattern.sub(lambda m, r=rule: _mask_match(m.group(0), r), text)
    return text


def _mask_match(s: str, rule: MaskRule) -> str:
    prefix = ""
    m = re.match(r"^\+?86[ \-]?(?=1\d{10}$)", s)
    if m:  # +86 138…: mask the national number, keep the country code
        prefix, s = s[: m.end()], s[m.end():]
    return prefix + rule.mask(s)


def key_hash(node_id: str, salt: str) -> str:
    """Salted hash of a node id (HMAC-SHA256, hex, 32 characters).

    >>> key_hash("phone:13800001111", "s") == key_hash("phone:13800001111", "s")
    True
    >>> key_hash("phone:13800001111", "s") == key_hash("phone:13800001111", "t")
    False
    """
    return hmac.new(str(salt).encode("utf-8"), str(node_id).encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def resolve_salt(salt: str | None = None) -> tuple[str, bool]:
    """The masking salt: ``salt``, else ``$CHAINGRAPH_MASK_SALT``, else a random one.

    Returns ``(salt, generated)``; a generated salt must be kept (written beside
    the export) or the hashes cannot be joined with later lists.
    """
    if salt:
        return str(salt), False
    env = os.environ.get(SALT_ENV)
    if env:
        return env, False
    return secrets.token_hex(16), True


def mask_frame(df: pd.DataFrame, salt: str, schema: Schema | None = None) -> pd.DataFrame:
    """A masked copy of ``df`` with ``<key>_hash`` columns for its identifier columns.

    Identifier columns are ``key`` (with a ``kind`` column beside it) and any
    ``<x>_key`` with an ``<x>_kind`` beside it; each is masked according to the
    key type of the row's kind and gets a salted hash column right after it.
    Columns named like a schema property of a personal type (``holder_id``) are
    masked by that type; every other text cell is masked by pattern.
    """
    schema = schema or load_schema()
    kind_type = {k: nk.key for k, nk in schema.nodes.items()}
    prop_type = {}
    for nk in schema.nodes.values():
        for p, t in nk.properties.items():
            if t in MASK_RULES:
                prop_type[p] = t
    out = df.copy()
    key_cols = {}
    for col in df.columns:
        if col == "key" and "kind" in df.columns:
            key_cols[col] = "kind"
        elif isinstance(col, str) and col.endswith("_key") and col[:-4] + "_kind" in df.columns:
            key_cols[col] = col[:-4] + "_kind"
    for col in df.columns:
        if col in key_cols:
            kinds, keys = df[key_cols[col]], df[col]
            masked, hashes = [], []
            for kind, key in zip(kinds, keys):
                if _missing(key):
                    masked.append(key)
                    hashes.append(None)
                    continue
                rule = MASK_RULES.get(kind_type.get(kind, ""))
                masked.append(rule.mask(str(key)) if rule else key)
                hashes.append(key_hash(schema.node_id(str(kind), str(key)), salt))
            out[col] = pd.Series(masked, index=df.index, dtype=object)
            pos = list(out.columns).index(col) + 1
            out.insert(pos, f"{col}_hash", pd.Series(hashes, index=df.index, dtype=object))
        elif col in prop_type:
            rule = MASK_RULES[prop_type[col]]
            out[col] = df[col].map(lambda v, r=rule: v if _missing(v) else r.mask(str(v)))
        elif _is_text(df[col]):
            out[col] = df[col].map(mask_text)
    return out


def write_table(path, sheets: dict[str, pd.DataFrame], mask: bool = False, salt: str | None = None,
                schema: Schema | None = None) -> list[Path]:
    """Write ``sheets`` (name -> DataFrame) to ``path``; the extension picks the format.

    Returns the paths written, in order: the main file first, then the other
    sheets' CSV files, then (when ``mask`` and no salt was given or set in
    ``$CHAINGRAPH_MASK_SALT``) the generated salt file ``<stem>.salt.txt``.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ChaingraphError(f"{path}: unknown export format {path.suffix!r}; use one of "
                              + ", ".join("." + f for f in FORMATS))
    if not sheets:
        raise ChaingraphError(f"{path}: nothing to write (no sheets)")
    path.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    salt_file = None
    if mask:
        salt, generated = resolve_salt(salt)
        sheets = {name: mask_frame(df, salt, schema) for name, df in sheets.items()}
        if generated:
            salt_file = path.with_name(path.stem + ".salt.txt")
    if fmt == "csv":
        written += _write_csv(path, sheets)
    elif fmt == "xlsx":
        written.append(_write_xlsx(path, sheets))
    else:
        written.append(_write_json(path, sheets))
    if salt_file is not None:
        salt_file.write_text(salt + "\n", encoding="utf-8")
        try:
            os.chmod(salt_file, 0o600)
        except OSError:
            pass
        written.append(salt_file)
    return written


LIMIT = 200   # rows a command prints as a table unless --limit says otherwise


def whole_number(zero: str):
    """An argparse type: a whole number, 0 or more; ``zero`` says what 0 means in the error."""
    import argparse

    def parse(text: str) -> int:
        n = int(text)
        if n < 0:
            raise argparse.ArgumentTypeError(f"expected 0 ({zero}) or more, not {n}")
        return n
    return parse


row_limit = whole_number("every row")   # the type of --limit


def print_table(df: pd.DataFrame, limit: int = 0, empty: str = "(nothing)", max_colwidth: int | None = None) -> None:
    """A result table on the terminal: its first ``limit`` rows (0: every row), and on stderr
    how many more there are (a province's trace or rings run to 100,000s of rows)."""
    import sys

    shown = df.head(limit) if limit else df
    print(shown.to_string(index=False, max_colwidth=max_colwidth) if len(df) else empty)
    if len(shown) < len(df):
        print(f"({len(df) - len(shown):,} more rows of {len(df):,}: --limit 0 prints them all)", file=sys.stderr)


def print_written(paths: list[Path], mask: bool) -> None:
    """The command line's report of :func:`write_table`: each path written, and a word on a new salt."""
    import sys

    for p in paths:
        print(p)
    if mask and any(str(p).endswith(".salt.txt") for p in paths):
        print("masking salt generated and written to the .salt.txt file above; keep it to join later lists",
              file=sys.stderr)


# -- cells -------------------------------------------------------------------

def _missing(v) -> bool:
    if v is None or v is pd.NaT:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _is_text(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
                or pd.api.types.is_datetime64_any_dtype(s))


def _is_number_col(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def _text(v) -> str:
    """A cell's text: timestamps in ISO form, lists joined with '; '."""
    if _missing(v):
        return ""
    if isinstance(v, pd.Timestamp):
        return v.isoformat(sep=" ")
    if isinstance(v, (list, tuple, set)):
        return "; ".join(_text(x) for x in v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula (OWASP rule).

    >>> neutralise('=HYPERLINK("http://x","y")')
    '\\'=HYPERLINK("http://x","y")'
    >>> neutralise("张三")
    '张三'
    """
    if isinstance(text, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


def _number(v):
    """A numeric cell for writing: int when integral and exact, else float; None if missing."""
    if _missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    if math.isinf(f):
        return None
    return f


def _display_width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in s)


# -- formats -----------------------------------------------------------------

def _sheet_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Cells prepared for a text format: numbers stay numbers, the rest is safe text."""
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        s = df[col]
        if _is_number_col(s):
            out[str(col)] = pd.Series([_number(v) for v in s], index=df.index, dtype=object)
        else:
            out[str(col)] = s.map(lambda v: neutralise(_text(v))).astype(object)
    return out


def _csv_cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return v


def _csv_name(path: Path, sheet: str, first: bool) -> Path:
    if first:
        return path
    safe = re.sub(r"[^\w\-]+", "_", sheet, flags=re.UNICODE).strip("_") or "sheet"
    return path.with_name(f"{path.stem}.{safe}{path.suffix}")


def _write_csv(path: Path, sheets) -> list[Path]:
    import csv

    written = []
    for i, (name, df) in enumerate(sheets.items()):
        p = _csv_name(path, name, i == 0)
        cells = _sheet_frame(df)
        with open(p, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([neutralise(str(c)) for c in cells.columns])
            for row in cells.itertuples(index=False, name=None):
                w.writerow([_csv_cell(v) for v in row])
        written.append(p)
    return written


def write_csv(path, df: pd.DataFrame) -> Path:
    """Write one table as CSV (UTF-8 with BOM), text a spreadsheet would run as a formula
    made safe as in :func:`write_table` (rejected rows quote the cells of input files)."""
    return _write_csv(Path(path), {"": df})[0]


_BAD_SHEET = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(name: str, used: set) -> str:
    base = _BAD_SHEET.sub("_", str(name)).strip("'")[:31] or "sheet"
    out, n = base, 1
    while out.lower() in used:
        n += 1
        out = f"{base[:28]}~{n}"
    used.add(out.lower())
    return out


def _write_xlsx(path: Path, sheets) -> Path:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "nan_inf_to_errors": False,
    })
    head = wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": False})
    used: set = set()
    try:
        for name, df in sheets.items():
            ws = wb.add_worksheet(_sheet_name(name, used))
            cols = [str(c) for c in df.columns]
            widths = [_display_width(c) for c in cols]
            for j, c in enumerate(cols):
                ws.write_string(0, j, c, head)
            numeric = [_is_number_col(df[c]) for c in df.columns]
            for i, row in enumerate(df.itertuples(index=False, name=None), start=1):
                for j, v in enumerate(row):
                    if numeric[j]:
                        n = _number(v)
                        if n is None:
                            continue
                        if isinstance(n, int) and abs(n) > 2 ** 53:  # Excel would round it
                            ws.write_string(i, j, str(n))
                            t = str(n)
                        else:
                            ws.write_number(i, j, n)
                            t = _text(n)
                    else:
                        t = _text(v)
                        if not t:
                            continue
                        ws.write_string(i, j, t)
                    if widths[j] < 60:
                        widths[j] = max(widths[j], _display_width(t.split("\n", 1)[0]))
            for j, w in enumerate(widths):
                ws.set_column(j, j, min(max(w + 2, 6), 62))
            ws.freeze_panes(1, 0)
            if cols:
                ws.autofilter(0, 0, max(len(df), 1), len(cols) - 1)
    finally:
        wb.close()
    return path


def _json_value(v):
    if _missing(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isinf(f) else f
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    return v


def _write_json(path: Path, sheets) -> Path:
    doc = {str(name): [{str(k): _json_value(v) for k, v in zip(df.columns, row)}
                       for row in df.itertuples(index=False, name=None)]
           for name, df in sheets.items()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path
