"""Read the tables a case produced: CSV/TSV text, Excel workbooks, JSON Lines.

A reader turns a file into :class:`Sheet` objects (one per table: one per sheet
of a workbook) that know their header, and stream their data as :class:`Chunk`
objects: a DataFrame of string cells plus the rows that could not be read.
Nothing is typed or cleaned here beyond stripping surrounding whitespace; the
type cleaners do the rest.

Row numbers are what an investigator sees when opening the file: the spreadsheet
row in a workbook, the record number in a CSV file as Excel shows it (title
lines, the header and blank lines count; a quoted cell spanning several lines is
one row), the line number in a JSON Lines file. Every row of a file ends in
exactly one place: in ``Chunk.rows``, in ``Chunk.bad``, or skipped because it
is blank (or lies above the header).

Decisions worth knowing:

- Cells are stripped of surrounding whitespace (Unicode whitespace: a real tab
  and the full-width space U+3000 too) and of nothing else; the ``'`` and
  ``="…"`` prefixes of Excel-bound exports are left for the type cleaners.
- CSV records with more fields than the header are fine when the surplus fields
  are empty (many exports end every line with a delimiter). Short records are
  bad rows, not padded: their usual cause is a line break inside an unquoted
  cell, which cuts one record into two short ones, and padding would load the
  first half as a transfer without counterparty -- which reads as a cash-out.
- A text row holding U+FFFD after decoding is a bad row ``"undecodable bytes"``.
- A workbook row with an Excel error value (``#REF!`` …) is a bad row naming
  the first such column, and so is a row with a value right of the last header
  column; the other cells of such a row are not loaded half.
- Workbooks are read by calamine (Rust, ~15x faster than openpyxl), which parses
  a whole sheet into memory (at most 1,048,576 rows) when the workbook is opened;
  the data rows are then read from that parse (kept up to 20M cells a workbook,
  parsed again beyond). A workbook with an error cell, a
  16-digit integer (which calamine cannot tell apart or keep exact) or a huge
  declared area in some sheet is opened by openpyxl, row by row, and only its
  clean sheets are read by calamine. Both give the same cells (tested).
- JSON Lines: the header is the keys of the first 1000 lines in first-seen
  order; a key first seen later is appended to ``Sheet.header`` and appears as
  a column from the chunk that meets it on.
- A file with a header and no data rows yields no chunks.

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> text = "账户交易明细\\n交易卡号,交易金额\\n6222021234567890123, 100.00\\n"
>>> _ = (folder / "flow.csv").write_text(text, encoding="gb18030")
>>> [sheet] = open_tables(folder / "flow.csv")
>>> sheet.format, sheet.encoding, sheet.header, sheet.header_row
('csv', 'gb18030', ['交易卡号', '交易金额'], 2)
>>> [chunk] = sheet.chunks()
>>> chunk.rows.to_dict("records")
[{'交易卡号': '6222021234567890123', '交易金额': '100.00', '_row': 3}]
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import os
import pathlib
import queue
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from chaingraph.exc import ReadError

__all__ = ["BadRow", "Chunk", "Sheet", "detect_encoding", "iter_files", "open_tables"]

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
XLS_SUFFIXES = (".xls",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
#: Extensions :func:`iter_files` picks up in folders.
TABLE_SUFFIXES = TEXT_SUFFIXES + XLSX_SUFFIXES + JSONL_SUFFIXES + XLS_SUFFIXES

HEADER_SEARCH_ROWS = 30  # the header is looked for among this many first rows
JSONL_KEY_LINES = 1000  # the header of a JSON Lines file: keys of this many first lines
DELIMITERS = (",", "\t", ";", "|")
EXCEL_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
                          "#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!",
                          "#CONNECT!", "#BUSY!", "#UNKNOWN!"})
MAX_RAW = 1000  # BadRow.raw is cut to this many characters

_SAMPLE = 1 << 20  # bytes looked at to guess an encoding, characters read for the header
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and encrypted .xlsx


@dataclass
class BadRow:
    """A source row that could not be turned into cells.

    Attributes
    ----------
    row : int
        1-based row number in the source (see the module docstring).
    column : str or None
        Header name of the offending cell, None when the whole row is at fault.
    raw : str
        The row as found: the record's text for CSV, cells joined by tabs for
        XLSX (as Excel copies them), the line for JSON Lines; cut to 1000 characters.
    reason : str
        What is wrong, e.g. ``"expected 15 fields, found 17"``,
        ``"undecodable bytes"``, ``"formula error #REF!"``.
    """

    row: int
    column: str | None
    raw: str
    reason: str


@dataclass
class Chunk:
    """A slice of a table's data rows.

    Attributes
    ----------
    rows : pandas.DataFrame
        One column per header name, every value a ``str`` (an empty cell is
        ``""``), plus the int column ``"_row"``: the 1-based source row number.
        Rows are in file order.
    bad : list of BadRow
        The rows of this stretch of the file that could not be read.
    """

    rows: pd.DataFrame
    bad: list[BadRow]


@dataclass
class Sheet:
    """One table of a file: where it is, its header, and how to stream its rows.

    Attributes
    ----------
    path : pathlib.Path
    name : str or None
        The sheet name in a workbook, None for text and JSON Lines files.
    format : str
        ``"csv"`` (any delimiter but tab), ``"tsv"`` (tab), ``"xlsx"``, ``"xls"`` (Excel
        97-2003) or ``"jsonl"``.
    encoding : str or None
        ``"utf-8"``, ``"utf-8-sig"``, ``"gb18030"`` or ``"utf-16"`` (text and JSON
        Lines files), None for workbooks.
    header : list of str
        Header cells in file order, stripped, made unique (see :func:`open_tables`).
        For JSON Lines, keys first seen after the first 1000 lines are appended
        while streaming.
    header_row : int
        1-based row number of the header; 0 for JSON Lines (no header line, the
        data starts at line 1).
    """

    path: pathlib.Path
    name: str | None
    format: str
    encoding: str | None
    header: list[str]
    header_row: int
    # How to read the rest of the file, found while looking for the header.
    _delimiter: str = field(default=",", repr=False, compare=False)
    _data_start: int = field(default=0, repr=False, compare=False)  # characters before the data
    _fields: int = field(default=0, repr=False, compare=False)  # fields of a regular data record
    _row_bytes: int = field(default=200, repr=False, compare=False)  # typical size of a record
    _keys: dict = field(default_factory=dict, repr=False, compare=False)  # JSON key -> header
    _cells: object = field(default=None, repr=False, compare=False)  # a worksheet calamine parsed on opening

    def chunks(self, size: int = 50_000) -> Iterator[Chunk]:
        """Stream the data rows below the header.

        The file is opened anew on every call and never read whole into memory.

        Parameters
        ----------
        size : int
            Maximum number of rows in one chunk.

        Yields
        ------
        Chunk
            Chunks in file order; every bad row is reported in the chunk whose
            stretch of the file holds it.

        Raises
        ------
        chaingraph.exc.ReadError
            When the file changed or broke since :func:`open_tables`, or when a
            CSV file cannot be parsed past some row (an unclosed quote swallowing
            more than the parser's block).
        """
        if size < 1:
            raise ValueError(f"chunk size must be at least 1, not {size}")
        if self.format == "xlsx":
            pieces = _xlsx_pieces(self, size)
        elif self.format == "xls":
            pieces = _xls_pieces(self, size)
        elif self.format == "jsonl":
            pieces = _jsonl_pieces(self, size)
        else:
            # parsed a quarter chunk at a time, and put together again: the first
            # chunk, a quarter of the others, is ready four times sooner
            pieces = _joined(_text_pieces(self, max(size // 4, 1)), size)
        for rows, bad in pieces:
            yield from _split(rows, bad, size)


# --------------------------------------------------------------------------- files


def iter_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> Iterator[pathlib.Path]:
    """Expand files and folders into the table files to read.

    Folders are walked recursively, in sorted order, keeping files whose
    extension is a table format (``.csv .tsv .txt .xlsx .xlsm .xls .jsonl
    .ndjson``, any case) and skipping hidden files and folders (``.name``) and
    Office lock files (``~$name``). A path named explicitly is yielded as it is,
    whatever its extension, and so is a missing one, so that the caller reports
    it through :func:`open_tables`.

    Parameters
    ----------
    paths : path or iterable of paths

    Yields
    ------
    pathlib.Path

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["b.csv", "a/c.xlsx", "a/~$c.xlsx", ".hidden.csv", "notes.pdf"]:
    ...     (folder / name).parent.mkdir(exist_ok=True)
    ...     _ = (folder / name).write_text("x")
    >>> [p.relative_to(folder).as_posix() for p in iter_files(folder)]
    ['a/c.xlsx', 'b.csv']
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in map(pathlib.Path, paths):
        if not path.is_dir():
            yield path
            continue
        found = []
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = [d for d in subfolders if not d.startswith(".")]
            found += [pathlib.Path(folder, n) for n in names
                      if not n.startswith((".", "~$")) and n.lower().endswith(TABLE_SUFFIXES)]
        yield from sorted(found)


def open_tables(path: str | os.PathLike, *,
                find_header: Callable[[list[str]], bool] | None = None) -> list[Sheet]:
    """Open a file and find its tables and their headers.

    Parameters
    ----------
    path : path
        A ``.csv .tsv .txt`` (delimiter and encoding detected), ``.xlsx .xlsm``,
        ``.xls`` (Excel 97-2003) or ``.jsonl .ndjson`` file.
    find_header : callable, optional
        ``find_header(cells) -> bool`` is given the stripped cells of each of the
        first 30 rows and says whether that row is the header (bank exports put
        title lines such as ``账户交易明细`` above it). By default the header is
        the first of those rows with at least as many non-empty cells as the
        median non-blank row below it: the widest row, in practice, without
        being fooled by a data row with surplus fields.

    Returns
    -------
    list of Sheet
        One per table: a text file has one, a workbook one per sheet that has a
        header (empty sheets are left out). A file with a header and no data
        rows is fine.

    Raises
    ------
    chaingraph.exc.ReadError
        With one line saying why, for: a missing path, a folder, an empty file,
        no header row, an unknown format, a corrupt or password-protected
        workbook, and an ``.xls`` that is really a web page or text (as some bank
        systems export).

    Notes
    -----
    Header cells are stripped of whitespace and byte-order marks; empty cells
    at the end of the header are dropped (a stray delimiter), other empty ones
    are named ``column 7`` after their 1-based position, and a repeated name
    gets a suffix: ``交易金额``, ``交易金额 (2)``. ``_row`` is reserved for the
    row number, so a header cell named so becomes ``_row (2)``.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise ReadError(path, "no such file")
    if path.is_dir():
        raise ReadError(path, "is a folder, not a file (iter_files expands folders)")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        known = " ".join(TABLE_SUFFIXES)
        raise ReadError(path, f"unknown file type {path.suffix or '(no extension)'!r}: "
                              f"chaingraph reads {known}")
    try:
        if path.stat().st_size == 0:
            raise ReadError(path, "empty file")
        with open(path, "rb") as f:
            magic = f.read(8)
        if suffix in XLS_SUFFIXES:
            if magic.startswith(_OLE_MAGIC):
                return _open_xls(path, find_header)
            raise ReadError(path, _xls_message(path, magic))
        if suffix in XLSX_SUFFIXES:
            return _open_xlsx(path, find_header)
        if magic.startswith(_ZIP_MAGIC):
            raise ReadError(path, f"is an Excel workbook, not a {suffix} text file: "
                                  "rename it to .xlsx")
        if magic.startswith(_OLE_MAGIC):
            raise ReadError(path, f"is an old .xls or password-protected Excel workbook, not "
                                  f"a {suffix} text file: open it in Excel or WPS and save as .xlsx")
        if suffix in JSONL_SUFFIXES:
            return [_open_jsonl(path)]
        return [_open_text(path, find_header)]
    except OSError as e:
        raise ReadError(path, f"cannot read: {e.strerror or e}") from e


def detect_encoding(path: str | os.PathLike) -> str:
    """Guess the encoding of a text file from its bytes.

    A byte-order mark decides (``"utf-8-sig"``, ``"utf-16"``). Otherwise the
    first MiB is decoded as UTF-8 (if it is all ASCII, reading goes on until
    non-ASCII bytes turn up; a character cut by the end of the sample is not
    an error). Without errors the file is ``"utf-8"``, otherwise ``"gb18030"``
    (a superset of GBK and GB2312) -- unless the errors are rare among valid
    UTF-8 characters (under 1 in 10; GBK text read as UTF-8 has more errors
    than valid characters): a UTF-8 file with a few stray bytes stays
    ``"utf-8"`` and its broken rows are reported as bad rows, instead of every
    Chinese character turning into mojibake.

    Parameters
    ----------
    path : path

    Returns
    -------
    str
        A Python codec name.
    """
    with open(path, "rb") as f:
        sample = f.read(_SAMPLE)
        if sample.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        while sample.isascii():  # look further, for the first non-ASCII bytes
            sample = f.read(_SAMPLE)  # starts on a character boundary: all before was ASCII
            if not sample:
                return "utf-8"
        sample += f.read(_SAMPLE)
        final = not f.read(1)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(sample, final)
    errors = text.count("\ufffd")
    decoded = len(text) - len(text.encode("ascii", "ignore")) - errors  # non-ASCII characters
    return "utf-8" if decoded >= 10 * errors else "gb18030"


# --------------------------------------------------------------------------- shared helpers


def _header_names(cells: list[str]) -> list[str]:
    """Header names from a header row: stripped, named when empty, unique."""
    cells = [c.replace("\ufeff", "").strip() for c in cells]
    while cells and not cells[-1]:
        cells.pop()
    names, seen = [], {"_row"}
    for i, cell in enumerate(cells, 1):
        base = cell or f"column {i}"
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base} ({n})"
        seen.add(name)
        names.append(name)
    return names


def _pick_header(rows: list[list[str]], find_header) -> int | None:
    """Index of the header among the (stripped) first rows, None if none is."""
    rows = rows[:HEADER_SEARCH_ROWS]
    if find_header is not None:
        return next((i for i, cells in enumerate(rows) if find_header(list(cells))), None)
    # The first row at least as full as the typical (median) row below it. This
    # is the widest row when title lines sit above a header and its data, and
    # unlike "the first of the widest rows" it is not fooled by a data row with
    # a surplus field (an unquoted "5,000.00") among the first rows.
    filled = [sum(1 for c in cells if c) for cells in rows]
    for i, n in enumerate(filled):
        below = sorted(c for c in filled[i + 1:] if c)
        if n and (not below or n >= below[(len(below) - 1) // 2]):
            return i
    return None


def _cut(raw: str) -> str:
    return raw if len(raw) <= MAX_RAW else raw[:MAX_RAW] + "…"


def _frame(header: list[str], columns: list, rows: Iterable[int]) -> pd.DataFrame:
    """A chunk's DataFrame from column value lists (all str) and row numbers."""
    data = {name: pd.Series(values, dtype=str) for name, values in zip(header, columns)}
    data["_row"] = pd.Series(np.asarray(list(rows), dtype=np.int64))
    return pd.DataFrame(data)


def _joined(pieces, size: int):
    """Consecutive ``(rows, bad)`` pieces (of about a quarter of ``size`` rows) put together
    until they hold three quarters of it or more; the first piece alone."""
    held, n, enough = [], 0, 1
    for rows, bad in pieces:
        held.append((rows, bad))
        n += len(rows)
        if n >= enough:
            yield _join_pieces(held)
            held, n, enough = [], 0, size - size // 4
    if held:
        yield _join_pieces(held)


def _join_pieces(held):
    if len(held) == 1:
        return held[0]
    return (pd.concat([r for r, _ in held], ignore_index=True), [b for _, bad in held for b in bad])


def _split(rows: pd.DataFrame, bad: list[BadRow], size: int) -> Iterator[Chunk]:
    """Cut a piece into chunks of at most ``size`` rows, bad rows where they belong."""
    if len(rows) <= size:
        if len(rows) or bad:
            yield Chunk(rows.reset_index(drop=True), bad)
        return
    starts = list(range(0, len(rows), size))
    for n, start in enumerate(starts):
        part = rows.iloc[start:start + size].reset_index(drop=True)
        if n == len(starts) - 1:
            mine, bad = bad, []
        else:
            last = part["_row"].iloc[-1]
            mine, bad = [b for b in bad if b.row <= last], [b for b in bad if b.row > last]
        yield Chunk(part, mine)


# --------------------------------------------------------------------------- CSV / TSV


def _open_text(path: pathlib.Path, find_header) -> Sheet:
    encoding = detect_encoding(path)
    with open(path, "rb") as f:
        raw = f.read(_SAMPLE)
        at_eof = not f.read(1)
    head = codecs.getincrementaldecoder(encoding)(errors="replace").decode(raw, at_eof)
    if not at_eof:  # keep whole lines only
        cut = max(head.rfind("\n"), head.rfind("\r"))
        head = head[:cut + 1] if cut >= 0 else head
    if not head.strip():
        raise ReadError(path, "empty file (only blank lines)" if at_eof
                        else "no header row: the first MiB holds no line of text")

    default = "\t" if path.suffix.lower() == ".tsv" else ","
    delimiter = _sniff_delimiter(head, default)
    records, ends = _head_records(head, delimiter, limit=200)
    stripped = [[c.replace("\ufeff", "").strip() for c in r] for r in records]
    at = _pick_header(stripped, find_header)
    if at is None:
        raise ReadError(path, f"no header row in the first {HEADER_SEARCH_ROWS} rows")
    header = _header_names(records[at])

    # A regular data record may carry stray empty fields after the last column
    # (a delimiter at the end of every line); have the parser expect them.
    widths = Counter(len(r) for r in stripped[at + 1:] if any(r))
    fields = len(header)
    if widths:
        common = widths.most_common(1)[0][0]
        if common > fields and not any(any(r[fields:]) for r in stripped[at + 1:] if len(r) == common):
            fields = common
    data_bytes = len(head[ends[at]:ends[-1]].encode("utf-8"))
    rows_seen = max(len(records) - at - 1, 1)
    return Sheet(path, None, "tsv" if delimiter == "\t" else "csv", encoding, header, at + 1,
                 _delimiter=delimiter, _data_start=ends[at], _fields=max(fields, 1),
                 _row_bytes=max(data_bytes // rows_seen, 16))


def _head_records(text: str, delimiter: str, limit: int) -> tuple[list[list[str]], list[int]]:
    """Parse up to ``limit`` records of ``text``; also the character offset after each."""
    ends, pos = [], 0

    def lines():
        nonlocal pos
        for line in io.StringIO(text, newline=""):
            pos += len(line)
            yield line

    records = []
    reader = csv.reader(lines(), delimiter=delimiter)
    try:
        for record in itertools.islice(reader, limit):
            records.append(record)
            ends.append(pos)
    except csv.Error:  # a quoted cell running past the sample: use what came before
        pass
    return records, ends


def _join(cells, delimiter: str) -> str:
    """A record's text again, quoted as a CSV writer would."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(cells)
    return out.getvalue()


def _sniff_delimiter(head: str, default: str) -> str:
    """The delimiter that splits the first rows most consistently and widely."""
    best, best_score = default, (0, 0)
    for delimiter in sorted(DELIMITERS, key=lambda d: d != default):
        records, _ = _head_records(head, delimiter, limit=HEADER_SEARCH_ROWS)
        widths = Counter(len(r) for r in records if len(r) > 1 and any(c.strip() for c in r))
        if widths:
            width, count = max(widths.items(), key=lambda wc: (wc[1], wc[0]))
            if (count, width) > best_score:
                best, best_score = delimiter, (count, width)
    return best


_DECODE_SLICE = 1 << 18  # bytes decoded at a time (a few milliseconds)


class _Utf8Stream(io.RawIOBase):
    """The text of a file from a character offset on, re-encoded as UTF-8.

    Decoding runs in a background thread so that it overlaps with Arrow's parsing
    (which releases the GIL). Undecodable bytes become U+FFFD; ``replaced`` is
    set as soon as one has been produced, so that only then rows are searched
    for it.
    """

    def __init__(self, path, encoding, skip_chars, block=1 << 22):
        super().__init__()
        self.replaced = False
        self._queue = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._buffer, self._pos, self._eof = b"", 0, False
        self._thread = threading.Thread(target=self._produce, daemon=True,
                                        args=(path, encoding, skip_chars, block))
        self._thread.start()

    def _produce(self, path, encoding, skip, block):
        try:
            decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            with open(path, "rb") as f:
                while not self._stop.is_set():
                    raw = f.read(block)
                    # decoded a slice at a time: a codec holds the GIL while it runs, and
                    # the reading thread's own Python work would wait for a whole block
                    pieces = []
                    for at in range(0, max(len(raw), 1), _DECODE_SLICE):
                        text = decoder.decode(raw[at : at + _DECODE_SLICE], final=not raw)
                        if skip:
                            text, skip = text[skip:], max(skip - len(text), 0)
                        if "\ufffd" in text:
                            self.replaced = True
                        pieces.append(text.encode("utf-8"))
                    if any(pieces):
                        self._put(b"".join(pieces))
                    if not raw:
                        break
            self._put(None)
        except Exception as e:  # handed to the reading thread
            self._put(e)

    def _put(self, item):
        while not self._stop.is_set():
            try:
                return self._queue.put(item, timeout=0.1)
            except queue.Full:
                pass

    def readable(self):
        return True

    def _fetch(self):
        while True:
            try:
                item = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if self._stop.is_set():  # closed: the producer puts nothing more (Arrow's
                    item = None          # read-ahead would otherwise wait here for ever)
                    break
        if item is None:
            self._eof = True
        elif isinstance(item, Exception):
            raise item
        else:
            self._buffer, self._pos = self._buffer[self._pos:] + item, 0

    def empty(self):
        """Whether there is no text at all."""
        while not self._eof and self._pos == len(self._buffer):
            self._fetch()
        return self._pos == len(self._buffer)

    def read(self, n=-1):
        while not self._eof and (n < 0 or len(self._buffer) - self._pos < n):
            self._fetch()
        end = len(self._buffer) if n < 0 else self._pos + n
        out = self._buffer[self._pos:end]
        self._pos += len(out)
        return out

    def close(self):
        self._stop.set()
        super().close()


def _text_pieces(sheet: Sheet, size: int):
    """Stream a CSV/TSV file as (DataFrame, bad rows) pieces.

    Arrow's CSV parser does the work, one thread, so that it can say which
    record a malformed row is (its ``number`` counts records like Excel rows).
    Regular records (``sheet._fields`` fields, blank lines included) come back
    in batches; every other one goes to ``irregular`` and is judged here. The
    number of a regular record follows from how many irregular ones came
    before it.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [str(i) for i in range(sheet._fields)]
    irregular = []  # (relative record number, text), ascending

    def on_invalid(row):
        irregular.append((row.number, row.text))
        return "skip"

    block = min(max(size * sheet._row_bytes, 1 << 20), 1 << 26)  # a batch of about size rows
    stream = _Utf8Stream(sheet.path, sheet.encoding, sheet._data_start)
    valid = placed = 0  # regular records read; irregular records handed out
    try:
        if stream.empty():  # a header and nothing below it
            return
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=block),
            parse_options=pacsv.ParseOptions(delimiter=sheet._delimiter, newlines_in_values=True,
                                             ignore_empty_lines=False, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.large_string() for n in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False, check_utf8=False))  # UTF-8 by construction
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                batch = None
            n = 0 if batch is None else batch.num_rows
            # Regular record j (0-based) comes after every irregular record that
            # has at most j regular records before it.
            before = np.array([num - (placed + i) - 1 for i, (num, _) in enumerate(irregular)],
                              dtype=np.int64)
            j = np.arange(valid, valid + n, dtype=np.int64)
            numbers = j + 1 + placed + np.searchsorted(before, j, side="right")
            valid += n
            if batch is None:
                mine = len(irregular)
            else:
                mine = sum(1 for num, _ in irregular if n and num <= numbers[-1])
            if n or mine:
                yield _text_piece(sheet, batch, numbers, irregular[:mine], stream.replaced)
            del irregular[:mine]
            placed += mine
            if batch is None:
                return
    except pa.ArrowInvalid as e:
        after = sheet.header_row + valid + placed + len(irregular)
        raise ReadError(sheet.path, f"cannot parse the file after row {after}: {e} "
                                    "(an unclosed quote is the usual cause)", row=after + 1) from e
    except OSError as e:
        raise ReadError(sheet.path, f"cannot read: {e.strerror or e}") from e
    finally:
        stream.close()


def _text_piece(sheet: Sheet, batch, numbers, irregular, check_replaced: bool):
    """Judge one batch of regular records plus the irregular ones among them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    width, fields, delimiter = len(sheet.header), sheet._fields, sheet._delimiter
    bad = []
    columns = list(batch.columns) if batch is not None else [pa.array([], pa.large_string())] * fields

    # Irregular records: blank (whitespace only), stray empty fields at the end,
    # or a wrong field count. Short records are not padded: the usual cause is a
    # line break inside an unquoted cell, which cuts one record into two short ones.
    repaired, repaired_numbers = [], []
    for number, text in irregular:
        row = sheet.header_row + number
        try:
            [cells] = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        except (csv.Error, ValueError) as e:
            bad.append(BadRow(row, None, _cut(text), f"unreadable record: {e} (an unclosed quote?)"))
            continue
        if not any(c.strip() for c in cells):
            continue
        found = len(cells)
        while len(cells) > width and not cells[-1].strip():
            cells.pop()
        if len(cells) != width:
            bad.append(BadRow(row, None, _cut(text), f"expected {width} fields, found {found}"))
            continue
        repaired.append(cells + [""] * (fields - width))
        repaired_numbers.append(number)
    if repaired:
        columns = [pa.chunked_array([c, pa.array([r[i] for r in repaired], pa.large_string())])
                   for i, c in enumerate(columns)]
        numbers = np.concatenate([numbers, np.asarray(repaired_numbers, dtype=np.int64)])

    trimmed = [pc.utf8_trim_whitespace(c) for c in columns]

    def filled(i, rows=None):  # whether cells of column i (in some rows) are not empty
        cells = trimmed[i] if rows is None else trimmed[i].take(rows)
        return pc.greater(pc.binary_length(cells), 0).to_numpy(zero_copy_only=False)

    keep = filled(0)  # blank rows go; the first column usually settles it
    for i in range(1, fields):
        if keep.all():
            break
        blank = np.flatnonzero(~keep)
        keep[blank] = filled(i, blank)
    problems = {}  # index -> (column, reason)
    for i in range(width, fields):  # stray fields that are not empty
        for k in np.flatnonzero(filled(i) & keep):
            problems.setdefault(k, (None, f"expected {width} fields, found {fields}"))
    if check_replaced:
        for i in range(fields):
            hits = pc.match_substring(trimmed[i], "\ufffd").to_numpy(zero_copy_only=False)
            for k in np.flatnonzero(hits & keep):
                problems.setdefault(k, (sheet.header[i] if i < width else None, "undecodable bytes"))
    if problems:
        at = sorted(problems)
        raws = pa.table(columns, names=[str(i) for i in range(fields)]).take(at).to_pylist()
        for k, cells in zip(at, raws):
            column, reason = problems[k]
            bad.append(BadRow(sheet.header_row + int(numbers[k]), column,
                              _cut(_join(cells.values(), delimiter)), reason))
        keep[at] = False

    table = pa.table(trimmed[:width], names=sheet.header)
    if not keep.all():
        table = table.filter(pa.array(keep))
    rows = table.to_pandas()
    rows["_row"] = (numbers[keep] + sheet.header_row).astype(np.int64)
    if repaired:
        rows = rows.sort_values("_row", kind="stable")
        bad.sort(key=lambda b: b.row)
    return rows, bad


# --------------------------------------------------------------------------- XLSX


def _xls_message(path: pathlib.Path, magic: bytes) -> str:
    if magic.startswith(_ZIP_MAGIC):
        return "is an .xlsx workbook under an .xls name: rename it to .xlsx"
    if magic.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return ("is a web page (HTML) under an .xls name, as some bank systems export: "
                "open it in Excel or WPS and save as .xlsx")
    return ("is a text file under an .xls name, as some bank systems export: "
            "rename it to .txt or .csv")


def _load_workbook(path: pathlib.Path):
    _check_workbook(path)
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():  # e.g. "Workbook contains no default style"
            warnings.simplefilter("ignore", UserWarning)
            return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # zipfile, XML and KeyError failures of a damaged file
        raise ReadError(path, f"corrupt .xlsx workbook ({type(e).__name__}: {e})") from e


def _check_workbook(path: pathlib.Path) -> None:
    """A clear error for a file that is not an .xlsx workbook at all."""
    if path.stat().st_size == 0:
        raise ReadError(path, "empty file")
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(_OLE_MAGIC):
        raise ReadError(path, "is password-protected, or an old .xls under an .xlsx name: "
                              "open it in Excel or WPS and save as .xlsx without a password")
    if not magic.startswith(_ZIP_MAGIC):
        raise ReadError(path, "is not an .xlsx workbook (corrupt, or another format under "
                              "an .xlsx name)")


def _cell_text(value) -> str:
    """The text of a workbook cell value.

    Examples
    --------
    >>> [_cell_text(v) for v in [None, " 张三 ", 6222021234567890, 100.0, 0.1 + 0.2, 6.2e18]]
    ['', '张三', '6222021234567890', '100', '0.3', '6.2e+18']
    >>> _cell_text(dt.datetime(2024, 1, 5, 9, 30, 59, 600_000)), _cell_text(dt.datetime(2024, 1, 5))
    ('2024-01-05 09:31:00', '2024-01-05')
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if abs(value) >= 1e15:  # Excel keeps 15 digits: a card number is already lost
            return str(value)
        if value.is_integer():
            return str(int(value))
        return repr(float(f"{value:.15g}"))  # as Excel shows it: 15 significant digits
    if isinstance(value, dt.datetime):
        value = (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        if value.time() == dt.time(0):  # openpyxl gives dates as datetimes at midnight
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.replace(microsecond=0).isoformat() if isinstance(value, dt.time) \
            else value.isoformat()
    return str(value).strip()


@contextlib.contextmanager
def _workbook_errors(path: pathlib.Path, ext: str):
    """Any failure but a ReadError while reading a workbook: one line naming the file."""
    try:
        yield
    except ReadError:
        raise
    except Exception as e:  # zip, XML, BIFF and engine errors of a damaged file
        raise ReadError(path, f"corrupt {ext} workbook ({type(e).__name__}: {e})") from e


def _workbook_sheet(path: pathlib.Path, fmt: str, name: str, rows, find_header, **extra):
    """``(Sheet or None, any cell filled)`` of a workbook sheet from the cell values of its
    first rows: None when no header is among them."""
    head = [[_cell_text(v) for v in values] for values in itertools.islice(rows, HEADER_SEARCH_ROWS)]
    at = _pick_header(head, find_header)
    sheet = None if at is None else Sheet(path, name, fmt, None, _header_names(head[at]), at + 1, **extra)
    return sheet, any(any(r) for r in head)


def _open_xlsx(path: pathlib.Path, find_header) -> list[Sheet]:
    _check_workbook(path)
    book = _calamine_book(path)
    if book is not None:   # every worksheet readable by calamine: its first rows from there
        try:
            return _open_calamine(path, *book, find_header)
        except ReadError:
            raise
        except Exception:  # (calamine failed on a sheet: openpyxl reads it, or says what is wrong)
            pass
    wb = _load_workbook(path)
    found = []
    try:
        with _workbook_errors(path, ".xlsx"):
            for ws in wb.worksheets:
                ws.reset_dimensions()  # some writers record wrong sheet sizes
                found.append(_workbook_sheet(path, "xlsx", ws.title, ws.iter_rows(values_only=True), find_header))
    finally:
        wb.close()
    return _found(path, found)


def _open_calamine(path: pathlib.Path, wb, names: list[str], find_header) -> list[Sheet]:
    found, kept = [], 0
    for name in names:
        ws = wb.get_sheet_by_name(name)
        # kept for reading its rows, unless the workbook's sheets kept so far are already
        # large (then parsed again when read: one at a time in memory)
        keep = kept + ws.height * ws.width <= _KEEP_CELLS
        sheet, filled = _workbook_sheet(path, "xlsx", name, _calamine_iter(ws), find_header, _cells=ws if keep else None)
        kept += ws.height * ws.width if keep and sheet is not None else 0
        found.append((sheet, filled))
        del ws
    return _found(path, found)


def _found(path, found: list) -> list[Sheet]:
    """The sheets with a header of a workbook's ``(Sheet or None, any cell filled)``."""
    sheets = [sheet for sheet, _ in found if sheet is not None]
    any_cells = any(filled for _, filled in found)
    if not sheets:
        raise ReadError(path, f"no sheet has a header row in its first {HEADER_SEARCH_ROWS} rows"
                        if any_cells else "empty workbook: no sheet has any cells")
    return sheets


def _xlsx_pieces(sheet: Sheet, size: int):
    """Stream a worksheet's data rows as (DataFrame, bad rows) pieces.

    The values are read by calamine (Rust): 200k rows of 14 columns in about 6 s, where
    openpyxl takes 83 s. calamine holds the whole sheet while it is read (an .xlsx sheet
    has at most 1,048,576 rows), reads a formula error as an empty cell and every number
    as a double: a sheet whose XML holds an error cell, or an integer of 16 digits or more
    (a card number some exporters write as a number; openpyxl keeps it exact), is read by
    openpyxl instead, a row at a time, as are sheets whose XML cannot be found or that
    declare an area too large for calamine's dense grid."""
    values = _calamine_rows(sheet)
    if values is None:
        yield from _openpyxl_pieces(sheet, size)
        return
    with _workbook_errors(sheet.path, ".xlsx"):
        yield from _cell_pieces(sheet, values, size)


def _openpyxl_pieces(sheet: Sheet, size: int):
    wb = _load_workbook(sheet.path)
    try:
        with _workbook_errors(sheet.path, ".xlsx"):
            ws = wb[sheet.name]
            ws.reset_dimensions()
            first = sheet.header_row + 1
            yield from _cell_pieces(sheet, enumerate(ws.iter_rows(min_row=first, values_only=True), first), size)
    finally:
        wb.close()


def _cell_pieces(sheet: Sheet, numbered, size: int):
    """(DataFrame, bad rows) pieces of ``numbered``: (row number, cell values) below the header.
    A bad row's text leaves out empty cells at its end (engines pad rows differently)."""
    from openpyxl.utils import get_column_letter

    header, width = sheet.header, len(sheet.header)
    columns, numbers, bad = [[] for _ in header], [], []
    for number, values in numbered:
        cells = [v.strip() if type(v) is str else _cell_text(v) for v in values]
        if not any(cells):
            continue
        errors = [] if EXCEL_ERRORS.isdisjoint(values) else \
            [(i, v) for i, v in enumerate(values) if isinstance(v, str) and v in EXCEL_ERRORS]
        beyond = [i for i in range(width, len(cells)) if cells[i]]
        if errors:
            i, code = errors[0]
            column = header[i] if i < width else get_column_letter(i + 1)
            bad.append(BadRow(number, column, _cut("\t".join(cells).rstrip("\t")), f"formula error {code}"))
        elif beyond:
            bad.append(BadRow(number, None, _cut("\t".join(cells).rstrip("\t")), f"value in column {get_column_letter(beyond[0] + 1)}"
                                                                    ", right of the last header column"))
        else:
            cells += [""] * (width - len(cells))
            for column, cell in zip(columns, cells):
                column.append(cell)
            numbers.append(number)
        if len(numbers) >= size:
            yield _frame(header, columns, numbers), bad
            columns, numbers, bad = [[] for _ in header], [], []
    if numbers or bad:
        yield _frame(header, columns, numbers), bad


# an error cell (t="e"), or a number of 16 digits or more before any decimal point or exponent
_XLSX_ERROR_CELL = re.compile(rb"<(?:\w+:)?c\s[^>]*?\bt\s*=\s*[\"']e[\"']")
_XLSX_LONG_NUMBER = re.compile(rb"<(?:\w+:)?v>\s*-?\d{16}")


_CALAMINE_MAX_CELLS = 200_000_000   # ~3 GB of calamine's cells
_XLSX_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=[\"']\$?([A-Z]+)\$?(\d+)(?::\$?([A-Z]+)\$?(\d+))?[\"']")


def _xlsx_area(head: bytes) -> int:
    """Cells in the area a worksheet's XML declares (its ``<dimension>``; 0 if none)."""
    from openpyxl.utils import column_index_from_string

    m = _XLSX_DIMENSION.search(head[:4096])
    if not m or not m.group(3):
        return 0
    rows = int(m.group(4)) - int(m.group(2)) + 1
    cols = column_index_from_string(m.group(3).decode()) - column_index_from_string(m.group(1).decode()) + 1
    return rows * cols


def _calamine_rows(sheet: Sheet):
    """(row number, cell values) of the rows below the header, read by calamine, or None
    when openpyxl must read the sheet (see :func:`_xlsx_pieces`). A worksheet parsed when
    the workbook was opened is used once, then let go."""
    ws, sheet._cells = sheet._cells, None
    if ws is None:
        book = _calamine_book(sheet.path, sheet.name)
        if book is None or not book[1]:
            return None
        try:
            ws = book[0].get_sheet_by_name(sheet.name)
        except Exception:  # (openpyxl reads it, or says what is wrong)
            return None
    first = sheet.header_row + 1
    return enumerate(itertools.islice(_calamine_iter(ws), first - 1, None), first)


def _calamine_iter(ws):
    """The rows of a calamine worksheet from row 1 and column A (calamine starts its rows at
    row 1 but at the first used column)."""
    start = ws.start   # (row, column) of the first cell, None if there is none
    if start is None:
        return iter(())
    if not start[1]:
        return ws.iter_rows()
    pad = [""] * start[1]
    return (pad + row for row in ws.iter_rows())


_KEEP_CELLS = 20_000_000   # cells of a workbook's sheets kept parsed from opening to reading (~0.5 GB)


def _calamine_book(path: pathlib.Path, only: str | None = None):
    """``(calamine workbook, names of its worksheets)`` (or of the one named ``only``), or
    None when openpyxl must read some of them: an error cell, an integer of 16 digits or
    more, or a huge declared area in its XML, or no python-calamine."""
    import zipfile

    try:
        from python_calamine import CalamineWorkbook, SheetTypeEnum
    except ImportError:
        return None
    try:
        with zipfile.ZipFile(path) as z:
            wb = CalamineWorkbook.from_path(str(path))
            names = [m.name for m in wb.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet and (only is None or m.name == only)]
            for name in names:
                part = _sheet_part(z, name)
                if part is None or not _calamine_can_read(z, part):
                    return None
            return wb, names
    except Exception:  # zip, XML or calamine's own error: openpyxl reads it, or says what is wrong
        return None


def _calamine_can_read(z, part: str) -> bool:
    """Whether calamine reads the worksheet XML ``part`` as openpyxl does (see :func:`_calamine_book`)."""
    with z.open(part) as f:
        tail = b""
        while block := f.read(1 << 22):
            if not tail and _xlsx_area(block) > _CALAMINE_MAX_CELLS:
                return False   # (calamine would allocate every cell of the area)
            text = tail + block
            if (b'"e"' in text or b"'e'" in text) and _XLSX_ERROR_CELL.search(text):
                return False
            if _XLSX_LONG_NUMBER.search(text):
                return False
            tail = text[-128:]
    return True


def _sheet_part(z, name: str) -> str | None:
    """The zip member holding worksheet ``name`` (from the workbook's relationships), or None."""
    import posixpath
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(z.read("_rels/.rels"))
        book = next(r.get("Target") for r in root if r.get("Type", "").endswith("/officeDocument"))
        book = book.lstrip("/")
        rels_path = posixpath.join(posixpath.dirname(book), "_rels", posixpath.basename(book) + ".rels")
        targets = {r.get("Id"): r.get("Target") for r in ET.fromstring(z.read(rels_path))}
        for el in ET.fromstring(z.read(book)).iter():
            if el.tag.rsplit("}", 1)[-1] == "sheet" and el.get("name") == name:
                rid = next(v for k, v in el.attrib.items() if k.rsplit("}", 1)[-1] == "id")
                target = targets[rid]
                part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                    posixpath.join(posixpath.dirname(book), target))
                return part if part in z.namelist() else None
    except (KeyError, StopIteration, ET.ParseError):
        return None
    return None


# --------------------------------------------------------------------------- old Excel (.xls)


def _xls_book(path: pathlib.Path):
    import xlrd

    try:
        return xlrd.open_workbook(str(path), on_demand=True)
    except Exception as e:  # xlrd's and the compound file's errors on a damaged file
        if "encrypt" in str(e).lower():
            raise ReadError(path, "is password-protected: open it in Excel or WPS and save it "
                                  "without a password") from e
        raise ReadError(path, f"corrupt .xls workbook ({type(e).__name__}: {e})") from e


def _xls_values(book, ws, i: int) -> list:
    """Row ``i`` of an xlrd sheet as the values openpyxl gives for a workbook cell: text,
    numbers, booleans, datetimes (a time of day alone for a date cell below 1), None for an
    empty cell and the error's text (``#REF!``) for an error cell."""
    import xlrd

    out = []
    for t, v in zip(ws.row_types(i), ws.row_values(i)):
        if t in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
            v = None
        elif t == xlrd.XL_CELL_BOOLEAN:
            v = bool(v)
        elif t == xlrd.XL_CELL_ERROR:
            v = xlrd.error_text_from_code.get(v, "#N/A")
        elif t == xlrd.XL_CELL_DATE:
            try:
                d = xlrd.xldate.xldate_as_datetime(v, book.datemode)
                v = d.time() if 0 <= v < 1 else d
            except (ValueError, OverflowError, xlrd.xldate.XLDateError):
                pass  # (left as the number)
        out.append(v)
    return out


def _open_xls(path: pathlib.Path, find_header) -> list[Sheet]:
    """Sheets of an old Excel 97-2003 workbook (read by xlrd; at most 65,536 rows a sheet)."""
    book = _xls_book(path)
    found = []
    try:
        with _workbook_errors(path, ".xls"):
            for name in book.sheet_names():
                ws = book.sheet_by_name(name)
                rows = (_xls_values(book, ws, i) for i in range(ws.nrows))
                found.append(_workbook_sheet(path, "xls", name, rows, find_header))
                book.unload_sheet(name)
    finally:
        book.release_resources()
    return _found(path, found)


def _xls_pieces(sheet: Sheet, size: int):
    book = _xls_book(sheet.path)
    try:
        with _workbook_errors(sheet.path, ".xls"):
            ws = book.sheet_by_name(sheet.name)
            yield from _cell_pieces(sheet, ((i + 1, _xls_values(book, ws, i)) for i in range(sheet.header_row, ws.nrows)), size)
    finally:
        book.release_resources()


# --------------------------------------------------------------------------- JSON Lines


def _add_key(sheet: Sheet, key: str) -> str:
    """The header name of a JSON key, appending a new one to the header."""
    name = sheet._keys.get(key)
    if name is None:
        base = key.replace("\ufeff", "").strip() or f"column {len(sheet.header) + 1}"
        taken, name, n = set(sheet.header) | {"_row"}, base, 1
        while name in taken:
            n += 1
            name = f"{base} ({n})"
        sheet._keys[key] = name
        sheet.header.append(name)
    return name


def _json_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)  # numbers as written (large integers exact), true / false


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true/false", type(None): "null"}


def _open_jsonl(path: pathlib.Path) -> Sheet:
    encoding = detect_encoding(path)
    sheet = Sheet(path, None, "jsonl", encoding, [], 0)
    any_text = False
    with open(path, encoding=encoding, errors="replace") as f:
        for line in itertools.islice(f, JSONL_KEY_LINES):
            if not line.strip():
                continue
            any_text = True
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                for key in record:
                    _add_key(sheet, key)
    if not any_text:
        raise ReadError(path, "empty file (only blank lines)")
    if not sheet.header:
        raise ReadError(path, f"no header: no JSON object in the first {JSONL_KEY_LINES} lines")
    return sheet


def _jsonl_pieces(sheet: Sheet, size: int):
    """Stream a JSON Lines file; keys first seen late are added to the header."""
    records, numbers, bad = [], [], []
    try:
        f = open(sheet.path, encoding=sheet.encoding, errors="replace")
    except OSError as e:
        raise ReadError(sheet.path, f"cannot read: {e.strerror or e}") from e
    with f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            text = line.rstrip("\r\n")
            if "\ufffd" in line:
                bad.append(BadRow(number, None, _cut(text), "undecodable bytes"))
                continue
            try:
                record = json.loads(text)
            except ValueError as e:
                msg = f"{e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else e
                bad.append(BadRow(number, None, _cut(text), f"invalid JSON: {msg}"))
                continue
            if not isinstance(record, dict):
                bad.append(BadRow(number, None, _cut(text),
                                  f"not a JSON object but {_JSON_TYPES.get(type(record), 'a value')}"))
            else:
                records.append({_add_key(sheet, k): _json_text(v) for k, v in record.items()})
                numbers.append(number)
            if len(records) >= size:
                yield _records_frame(sheet, records, numbers), bad
                records, numbers, bad = [], [], []
    if records or bad:
        yield _records_frame(sheet, records, numbers), bad


def _records_frame(sheet: Sheet, records: list[dict], numbers: list[int]) -> pd.DataFrame:
    return _frame(sheet.header, [[r.get(h, "") for r in records] for h in sheet.header], numbers)
