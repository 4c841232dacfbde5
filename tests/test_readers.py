"""Tests for chaingraph.readers: every format, exact row numbers, every row accounted for."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pathlib
import random
import zipfile

import openpyxl
import numpy as np
import pandas as pd
import pytest

from chaingraph.exc import ReadError
from chaingraph.readers import BadRow, detect_encoding, iter_files, open_tables

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "readers"
BANK_HEADER = ["交易卡号", "交易时间", "交易金额", "收付标志", "对手账号", "对手户名", "摘要"]


def write(path: pathlib.Path, text: str, encoding: str = "utf-8") -> pathlib.Path:
    path.write_bytes(text.encode(encoding))
    return path


def read_all(sheet, size=50_000):
    """All rows of a sheet as one DataFrame, and all bad rows."""
    chunks = list(sheet.chunks(size))
    rows = [c.rows for c in chunks]
    bad = [b for c in chunks for b in c.bad]
    if not rows:
        return pd.DataFrame(columns=sheet.header + ["_row"]), bad
    return pd.concat(rows, ignore_index=True), bad


def only(path, **kw):
    [sheet] = open_tables(path, **kw)
    return sheet


# --------------------------------------------------------------------------- CSV / TSV


def test_utf8_csv_cells_are_stripped_strings_with_row_numbers(tmp_path):
    path = write(tmp_path / "a.csv", "card, name ,amount\n'6222021234567890123,  张三 ,\n6217,李四,\\t10\n")
    sheet = only(path)
    assert (sheet.format, sheet.encoding, sheet.name) == ("csv", "utf-8", None)
    assert sheet.header == ["card", "name", "amount"] and sheet.header_row == 1
    rows, bad = read_all(sheet)
    assert bad == []
    assert rows.to_dict("records") == [
        # the "'" prefix and a literal backslash-t are left for the type cleaners
        {"card": "'6222021234567890123", "name": "张三", "amount": "", "_row": 2},
        {"card": "6217", "name": "李四", "amount": "\\t10", "_row": 3},
    ]
    assert all(isinstance(v, str) for v in rows[["card", "name", "amount"]].to_numpy().ravel())
    assert rows["_row"].dtype == "int64"


def test_utf8_bom_is_detected_and_removed_from_the_header(tmp_path):
    path = write(tmp_path / "bom.csv", "交易卡号,交易金额\n6222,1.00\n", "utf-8-sig")
    sheet = only(path)
    assert sheet.encoding == "utf-8-sig"
    assert sheet.header == ["交易卡号", "交易金额"]
    assert read_all(sheet)[0]["交易卡号"].tolist() == ["6222"]


def test_gb18030_bank_export_with_title_lines(tmp_path):
    text = ("账户交易明细\n查询时间: 2024-03-01 10:00:00\n\n"
            + ",".join(BANK_HEADER) + "\n"
            + "6222021234567890123,2024-02-01 09:15:02,5000.00,进,6217001234567890,张三,转账\n"
            + "6222021234567890123,2024-02-01 09:30:00,10.00,出,,,ATM取现\n")
    path = write(tmp_path / "flow.csv", text, "gb18030")
    assert detect_encoding(path) == "gb18030"
    sheet = only(path)
    assert sheet.encoding == "gb18030"
    assert sheet.header == BANK_HEADER and sheet.header_row == 4
    rows, bad = read_all(sheet)
    assert bad == []
    assert rows["_row"].tolist() == [5, 6]
    assert rows["收付标志"].tolist() == ["进", "出"]
    assert rows["对手账号"].tolist() == ["6217001234567890", ""]


def test_committed_bank_statement_fixture():
    """GB18030, CRLF, three title lines, a stray delimiter ending every line,
    tab-prefixed card numbers, a blank line, a cell spanning two lines, a row
    with a surplus value and a totals line."""
    path = FIXTURES / "bank_statement_gb18030.csv"
    sheet = only(path, find_header=lambda cells: "交易卡号" in cells)
    assert sheet.header == BANK_HEADER and sheet.header_row == 4
    rows, bad = read_all(sheet)
    assert rows["_row"].tolist() == [5, 6, 8, 10]
    assert rows["交易卡号"].tolist()[:3] == ["6222021234567890123"] * 3  # a real tab is whitespace
    assert rows["交易金额"].tolist() == ["5,000.00", "4990.00", "10.00", "5210.00"]
    assert rows["摘要"].tolist()[2] == "ATM取现\n（跨行）"
    assert bad == [BadRow(9, None, "\t6222021234567890123,2024-02-02 11:00:00,200.00,进,"
                                   "6217001234567890,张三,转账,多余的一列,",
                          "expected 7 fields, found 9")]


@pytest.mark.parametrize("suffix, delimiter, fmt", [
    (".tsv", "\t", "tsv"), (".txt", "\t", "tsv"), (".csv", ";", "csv"), (".txt", "|", "csv"),
])
def test_delimiter_is_sniffed(tmp_path, suffix, delimiter, fmt):
    lines = ["本机号码 对方号码 呼叫类型 开始时间".split(), ["13800000000", "13900000000", "主叫", "2024-01-01 08:00:00"],
             ["13800000000", "1,234", "被叫", "2024-01-01 09:00:00"]]
    path = write(tmp_path / f"calls{suffix}", "".join(delimiter.join(r) + "\n" for r in lines), "gb18030")
    sheet = only(path)
    assert sheet.format == fmt
    assert sheet.header == lines[0]
    rows, bad = read_all(sheet)
    assert bad == [] and rows["对方号码"].tolist() == ["13900000000", "1,234"]


def test_pipe_delimiter_inside_gbk_double_byte_characters(tmp_path):
    # Some GBK characters have "|" (0x7C) as their second byte: decode before splitting.
    char = next(c for c in map(chr, range(0x4E00, 0x9FA5)) if b"|" in c.encode("gb18030"))
    path = write(tmp_path / "p.txt", f"户名|金额\n{char}三|1\n李{char}|2\n", "gb18030")
    rows, bad = read_all(only(path))
    assert bad == [] and rows["户名"].tolist() == [f"{char}三", f"李{char}"]


def test_wrong_field_counts_are_bad_rows_with_exact_row_numbers(tmp_path):
    text = "a,b,c\n1,2,3\n1,2,3,4\n1,2\n1,2,3,,\n1,2,3, x ,\n7,8,9\n"
    rows, bad = read_all(only(write(tmp_path / "w.csv", text)))
    # trailing empty fields are ignored; a short row is not padded
    assert rows["_row"].tolist() == [2, 5, 7]
    assert [(b.row, b.column, b.raw, b.reason) for b in bad] == [
        (3, None, "1,2,3,4", "expected 3 fields, found 4"),
        (4, None, "1,2", "expected 3 fields, found 2"),
        (6, None, "1,2,3, x ,", "expected 3 fields, found 5"),
    ]


def test_stray_delimiter_at_the_end_of_every_line(tmp_path):
    text = 'a,b,c,\n1,2,3,\n4,5,6\n7,8,"9,5",x\n10,11,12,\n'
    sheet = only(write(tmp_path / "s.csv", text))
    assert sheet.header == ["a", "b", "c"]
    rows, bad = read_all(sheet)
    assert rows[["a", "_row"]].values.tolist() == [["1", 2], ["4", 3], ["10", 5]]
    assert [(b.row, b.raw, b.reason) for b in bad] == [(4, '7,8,"9,5",x', "expected 3 fields, found 4")]


def test_blank_lines_are_skipped_but_counted(tmp_path):
    text = "\n\na,b\n\n1,2\n   \n,,\n , \n3,4\n\n"
    sheet = only(write(tmp_path / "b.csv", text))
    assert sheet.header_row == 3
    rows, bad = read_all(sheet)
    assert bad == [] and rows["_row"].tolist() == [5, 9]


def test_quoted_cells_with_newlines_and_delimiters(tmp_path):
    text = 'a,memo,c\r\n1,"line one\r\nline two, with comma",x\r\n2,"say ""hi""",y\r\n3,"",z\r\n'
    rows, bad = read_all(only(write(tmp_path / "q.csv", text)))
    assert bad == []
    assert rows["memo"].tolist() == ["line one\r\nline two, with comma", 'say "hi"', ""]
    assert rows["_row"].tolist() == [2, 3, 4]  # records, as Excel numbers its rows


def test_undecodable_bytes_in_gb18030_are_bad_rows(tmp_path):
    good = "户名,金额\n张三,1\n".encode("gb18030")
    path = tmp_path / "u.csv"
    path.write_bytes(good + "李".encode("gb18030") + b"\x81\x20,2\n" + "王五,3\n".encode("gb18030"))
    sheet = only(path)
    assert sheet.encoding == "gb18030"
    rows, bad = read_all(sheet)
    assert rows["户名"].tolist() == ["张三", "王五"] and rows["_row"].tolist() == [2, 4]
    assert [(b.row, b.column, b.reason) for b in bad] == [(3, "户名", "undecodable bytes")]
    assert "\ufffd" in bad[0].raw


def test_utf8_file_with_one_stray_byte_stays_utf8(tmp_path):
    path = tmp_path / "mostly.csv"
    body = "".join(f"张三{i},李四{i}\n" for i in range(50)).encode()
    path.write_bytes("户名,对手户名\n".encode() + body + b"\xd5\xc5,x\n")
    sheet = only(path)
    assert sheet.encoding == "utf-8"
    rows, bad = read_all(sheet)
    assert len(rows) == 50 and [(b.row, b.reason) for b in bad] == [(52, "undecodable bytes")]


def test_detect_encoding_handles_a_character_cut_by_the_sample(tmp_path):
    path = tmp_path / "cut.csv"
    pad = b"x" * ((1 << 20) - 1)  # the 1 MiB sample ends inside the next character
    path.write_bytes(pad + "张三\n".encode())
    assert detect_encoding(path) == "utf-8"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 300_000 + "张三,1\n".encode("gb18030"))
    assert detect_encoding(path) == "gb18030"  # found beyond a pure ASCII first MiB
    path.write_bytes(b"a,b\n1,2\n")
    assert detect_encoding(path) == "utf-8"


def test_utf16_excel_unicode_text(tmp_path):
    path = write(tmp_path / "u16.txt", "户名\t金额\r\n张三\t1\r\n", "utf-16")
    sheet = only(path)
    assert (sheet.encoding, sheet.format, sheet.header) == ("utf-16", "tsv", ["户名", "金额"])
    assert read_all(sheet)[0]["户名"].tolist() == ["张三"]


def test_header_names_are_made_unique(tmp_path):
    path = write(tmp_path / "h.csv", "\ufeff金额, 金额 ,,_row,金额,,\n1,2,,4,5,,\n")
    sheet = only(path)
    assert sheet.header == ["金额", "金额 (2)", "column 3", "_row (2)", "金额 (3)"]
    rows, _ = read_all(sheet)
    assert rows.iloc[0].tolist() == ["1", "2", "", "4", "5", 2]


def test_find_header_and_default_header_pick(tmp_path):
    text = "账户交易明细\n户名:张三,账号:6222\n卡号,时间,金额\n6222,2024-01-01,1\n"
    path = write(tmp_path / "t.csv", text)
    assert only(path).header_row == 3  # the first of the widest rows
    assert only(path, find_header=lambda cells: cells[:1] == ["户名:张三"]).header_row == 2
    with pytest.raises(ReadError, match="no header row in the first 30 rows"):
        open_tables(path, find_header=lambda cells: False)


def test_header_only_file_has_no_rows(tmp_path):
    sheet = only(write(tmp_path / "h.csv", "a,b\n"))
    assert sheet.header == ["a", "b"]
    assert list(sheet.chunks()) == []


def test_chunks_split_rows_and_keep_bad_rows_in_place(tmp_path):
    text = "a,b\n" + "".join(f"{i},x\n" if i % 4 else f"{i}\n" for i in range(1, 11))
    sheet = only(write(tmp_path / "c.csv", text))
    chunks = list(sheet.chunks(size=3))
    assert [len(c.rows) for c in chunks] == [3, 3, 2]
    assert [c.rows["_row"].tolist() for c in chunks] == [[2, 3, 4], [6, 7, 8], [10, 11]]
    assert [[b.row for b in c.bad] for c in chunks] == [[], [5], [9]]
    assert all(c.rows.index.tolist() == list(range(len(c.rows))) for c in chunks)


def test_chunks_are_put_together_from_quarter_pieces_the_first_handed_on_alone(tmp_path):
    n = 400_000
    lines = ["id,name,amount"] + [f"{i:012d},name-{i % 1000:04d}-padding,{i}.00" if i % 50_001 else f"{i}" for i in range(n)]
    sheet = only(write(tmp_path / "big.csv", "\n".join(lines) + "\n"))
    chunks = list(sheet.chunks(size=200_000))
    sizes = [len(c.rows) for c in chunks]
    assert sizes[0] < 100_000 and max(sizes) <= 200_000 and len(chunks) == 3  # (a quarter first, then whole ones)
    rows = np.concatenate([c.rows["_row"].to_numpy() for c in chunks])
    bad = [b.row for c in chunks for b in c.bad]
    assert bad == [i + 2 for i in range(0, n, 50_001)]
    assert sorted(rows.tolist() + bad) == list(range(2, n + 2))
    last = 1
    for c in chunks:  # each bad row in the chunk whose stretch of the file holds it
        assert all(last < b.row <= c.rows["_row"].iloc[-1] or c is chunks[-1] for b in c.bad)
        last = c.rows["_row"].iloc[-1]
    assert chunks[1].rows["id"].iloc[0] == f"{rows[sizes[0]] - 2:012d}"


def test_row_numbers_stay_exact_across_parser_blocks(tmp_path):
    """Several MiB, so the parser reads several blocks, with irregular rows
    (bad, blank, stray delimiters, quoted line breaks) scattered through."""
    lines, expected_rows, expected_bad = ["标题", "卡号,户名,金额"], [], []
    for i in range(60_000):
        row = len(lines) + 1
        kind = i % 997
        if kind == 1:
            lines.append(f"{i},张三")  # short
            expected_bad.append(row)
        elif kind == 2:
            lines.append("")
        elif kind == 3:
            lines.append(f"{i},张三,{i}.00,")  # stray delimiter on some lines only
            expected_rows.append(row)
        elif kind == 4:
            lines.append(f'{i},"张\n三",{i}')
            expected_rows.append(row)
        elif kind == 5:
            lines.append("   ")
        else:
            lines.append(f"{i},{'张三' * (i % 7)},{i}.50")
            expected_rows.append(row)
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n", "gb18030")
    sheet = only(path)
    assert sheet.header_row == 2
    rows, bad = read_all(sheet, size=7_000)
    assert rows["_row"].tolist() == expected_rows
    assert [b.row for b in bad] == expected_bad
    assert rows["卡号"].tolist() == [lines[r - 1].split(",")[0] for r in expected_rows]


def _reference(text, width, header_row):
    """What the rules say, by Python's csv module over the whole text."""
    rows, bad = [], []
    for number, record in enumerate(csv.reader(io.StringIO(text, newline="")), 1):
        cells = [c.strip() for c in record]
        if number <= header_row or not any(cells):
            continue
        while len(cells) > width and not cells[-1]:
            cells.pop()
        if len(cells) == width:
            rows.append([*cells, number])
        else:
            bad.append(number)
    return rows, bad


@pytest.mark.parametrize("seed", range(40))
def test_random_messy_csv_matches_the_csv_module(tmp_path, seed):
    rng = random.Random(seed)
    width = rng.randint(1, 5)
    cells = ["张三", "", " x ", "李四\u3000", '"a,b"', '"line\nbreak"', '"say ""hi"""', 'a"b', "6222"]
    lines = [",".join(f"h{i}" for i in range(width))]
    for _ in range(rng.randint(0, 60)):
        k = rng.random()
        n = max(width + rng.choice([-2, -1, 1, 2]), 1) if k < 0.1 else width
        line = "" if k > 0.95 else "  " if k > 0.9 else ",".join(rng.choice(cells) for _ in range(n))
        lines.append(line + ("," if rng.random() < 0.2 else ""))
    text = rng.choice(["\n", "\r\n", "\r"]).join(lines)
    sheet = only(write(tmp_path / "r.csv", text), find_header=lambda c: c[:1] == ["h0"])
    rows, bad = read_all(sheet, size=rng.randint(1, 20))
    assert (rows.values.tolist(), [b.row for b in bad]) == _reference(text, width, sheet.header_row)


# --------------------------------------------------------------------------- errors


def test_missing_directory_empty_unknown_files(tmp_path):
    def message(path):
        with pytest.raises(ReadError) as e:
            open_tables(path)
        assert "\n" not in str(e.value) and e.value.path == str(path)
        return str(e.value)

    assert "no such file" in message(tmp_path / "missing.csv")
    assert "is a folder" in message(tmp_path)
    assert "empty file" in message(write(tmp_path / "empty.csv", ""))
    assert "empty file" in message(write(tmp_path / "blank.csv", " \r\n\n\t\n"))
    assert "empty file" in message(write(tmp_path / "blank.jsonl", "\n\n"))
    assert "empty file" in message(write(tmp_path / "empty.xlsx", ""))
    assert "unknown file type '.pdf'" in message(write(tmp_path / "x.pdf", "%PDF"))
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert "corrupt .xls workbook" in message(old)
    assert "rename it to .xlsx" in message(write(tmp_path / "zip.xls", "PK\x03\x04 a zip"))
    assert "web page (HTML)" in message(write(tmp_path / "page.xls", "<html><table><tr><td>1</td></tr></table></html>"))
    assert "rename it to .txt" in message(write(tmp_path / "fake.xls", "户名\t金额\n张三\t1\n"))
    assert "corrupt" in message(write(tmp_path / "bad.xlsx", "PK\x03\x04 not really a zip"))
    assert "not an .xlsx workbook" in message(write(tmp_path / "text.xlsx", "a,b\n1,2\n"))


def test_workbook_renamed_to_csv(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["a"])
    wb.save(tmp_path / "book.csv")
    with pytest.raises(ReadError, match="rename it to .xlsx"):
        open_tables(tmp_path / "book.csv")


# --------------------------------------------------------------------------- XLSX


@pytest.fixture
def workbook(tmp_path):
    wb = openpyxl.Workbook()
    flow = wb.active
    flow.title = "流水"
    flow.append(["账户交易明细"])
    flow.merge_cells("A1:F1")
    flow.append(["交易卡号", "交易时间", "交易金额", "余额", "入账日期", "备注"])
    flow.append(["6222021234567890123", dt.datetime(2024, 1, 5, 9, 30, 15), 100.0, 2500.5,
                 dt.datetime(2024, 1, 5), "转账"])
    flow.append(["6222021234567890123", dt.datetime(2024, 1, 5, 10, 0), 50, "#REF!", None, None])
    flow.append([])  # an empty row: numbering goes on
    flow.append([6.222021234567891e18, "2024-01-06 08:00:00", 12345678901234, None, None, "  "])
    flow.append(["6217001234567890", None, 1, None, None, None, "右边多出的值"])
    wb.create_sheet("空表")
    calls = wb.create_sheet("话单")
    calls.append(["本机号码", "对方号码", "通话时长"])
    calls.append(["13800000000", 13900000000, 61])
    calls.append([True, "#N/A", 0.1 + 0.2])
    path = tmp_path / "case.xlsx"
    wb.save(path)
    return path


# the statement sheet of the workbook fixtures (.xlsx above, .xls in fixtures/readers) as read
STATEMENT_HEADER = ["交易卡号", "交易时间", "交易金额", "余额", "入账日期", "备注"]
STATEMENT_ROW_3 = {"交易卡号": "6222021234567890123", "交易时间": "2024-01-05 09:30:15", "交易金额": "100",
                   "余额": "2500.5", "入账日期": "2024-01-05", "备注": "转账", "_row": 3}
# a card number stored as a number has lost its digits: kept visibly so
STATEMENT_ROW_6 = {"交易卡号": "6.222021234567891e+18", "交易时间": "2024-01-06 08:00:00",
                   "交易金额": "12345678901234", "余额": "", "入账日期": "", "备注": "", "_row": 6}
STATEMENT_BAD = [(4, "余额", "formula error #REF!"), (7, None, "value in column G, right of the last header column")]
STATEMENT_BAD_RAW = "6222021234567890123\t2024-01-05 10:00:00\t50\t#REF!"


def check_statement_sheet(sheet, name, fmt, **row_6):
    assert (sheet.name, sheet.format, sheet.encoding, sheet.header_row) == (name, fmt, None, 2)
    assert sheet.header == STATEMENT_HEADER
    rows, bad = read_all(sheet)
    assert rows.to_dict("records") == [STATEMENT_ROW_3, {**STATEMENT_ROW_6, **row_6}]
    assert [(b.row, b.column, b.reason) for b in bad] == STATEMENT_BAD
    assert bad[0].raw == STATEMENT_BAD_RAW


def test_xlsx_sheets_values_and_formula_errors(workbook):
    flow, calls = open_tables(workbook)
    check_statement_sheet(flow, "流水", "xlsx")

    assert (calls.name, calls.header, calls.header_row) == ("话单", ["本机号码", "对方号码", "通话时长"], 1)
    rows, bad = read_all(calls)
    assert rows.to_dict("records") == [
        {"本机号码": "13800000000", "对方号码": "13900000000", "通话时长": "61", "_row": 2}]
    assert [(b.row, b.column, b.reason) for b in bad] == [(3, "对方号码", "formula error #N/A")]


def test_xlsx_find_header_and_empty_workbook(workbook, tmp_path):
    sheets = open_tables(workbook, find_header=lambda cells: "本机号码" in cells)
    assert [s.name for s in sheets] == ["话单"]
    with pytest.raises(ReadError, match="no sheet has a header row"):
        open_tables(workbook, find_header=lambda cells: False)
    openpyxl.Workbook().save(tmp_path / "blank.xlsx")
    with pytest.raises(ReadError, match="empty workbook"):
        open_tables(tmp_path / "blank.xlsx")


def test_xlsx_chunks(workbook):
    flow, _ = open_tables(workbook)
    chunks = list(flow.chunks(size=1))
    # a bad row after the last good one comes in a chunk of its own
    assert [c.rows["_row"].tolist() for c in chunks] == [[3], [6], []]
    assert [[b.row for b in c.bad] for c in chunks] == [[], [4], [7]]
    assert list(chunks[2].rows.columns) == flow.header + ["_row"]


def _pieces_of(sheet, engine, size=2):
    from chaingraph import readers

    got = readers._openpyxl_pieces(sheet, size) if engine == "openpyxl" else readers._cell_pieces(sheet, readers._calamine_rows(sheet), size)
    return [(rows.to_dict("records"), [(b.row, b.column, b.raw, b.reason) for b in bad]) for rows, bad in got]


def test_xlsx_read_by_calamine_as_openpyxl_reads_it(tmp_path, monkeypatch):
    # a sheet without error cells is read by calamine: the same rows, cells and bad rows as openpyxl
    from chaingraph import readers

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "明细"
    ws["C2"] = "账户交易明细"   # data from column C, row 2 on, a merged title
    ws.merge_cells("C2:H2")
    rows = [["交易卡号", "交易时间", "交易金额", "余额", "入账日期", "备注"],
            ["6222021234567890123", dt.datetime(2024, 1, 5, 9, 30, 15, 700_000), 100.0, 2500.5, dt.datetime(2024, 1, 5), " 转账 "],
            ["6222021234567890124", dt.datetime(2024, 1, 5, 10, 0), 50, -0.1 + 0.3, dt.date(2024, 2, 1), True],
            [],
            [6.222021234567891e18, "2024-01-06 08:00:00", 12345678901234, None, dt.time(9, 30), "  "],
            ["6217001234567890", None, 1, None, None, None, "右边多出的值"],
            ["6217001234567891", "2024-01-07", 1e-7, 123456789012345.0, None, "x"]]
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            ws.cell(3 + i, 3 + j, v)
    wb.create_sheet("空")
    path = tmp_path / "book.xlsx"
    wb.save(path)
    [sheet] = open_tables(path)
    assert sheet.header_row == 3 and sheet._cells is not None  # (no error cell: calamine read it)
    # the header as openpyxl finds it
    monkeypatch.setattr(readers, "_calamine_book", lambda *a: None)
    assert open_tables(path) == [sheet] and open_tables(path, find_header=lambda c: "余额" in c) == [sheet]
    monkeypatch.undo()
    assert readers._calamine_rows(sheet) is not None and sheet._cells is None  # (used once, let go)
    # calamine failing on a workbook it was expected to read: openpyxl reads it
    def boom(*a):
        raise RuntimeError("calamine failed")

    monkeypatch.setattr(readers, "_open_calamine", boom)
    assert open_tables(path) == [sheet]
    monkeypatch.undo()
    # sheets not kept from opening (a large workbook) are parsed again when read: the same rows
    monkeypatch.setattr(readers, "_KEEP_CELLS", 0)
    [again] = open_tables(path)
    assert again == sheet and again._cells is None
    assert _pieces_of(again, "calamine") == _pieces_of(sheet, "openpyxl")
    fast, slow = _pieces_of(sheet, "calamine"), _pieces_of(sheet, "openpyxl")
    assert fast == slow
    records = [r for rows, _ in fast for r in rows]
    assert [r["_row"] for r in records] == [4, 5, 7, 9]
    assert records[0]["交易时间"] == "2024-01-05 09:30:16" and records[0]["入账日期"] == "2024-01-05"
    assert records[2]["交易卡号"] == "6.222021234567891e+18" and records[2]["入账日期"] == "09:30:00"
    assert [(b[0], b[3]) for _, bad in fast for b in bad] == [(8, "value in column I, right of the last header column")]


def test_xlsx_error_cells_long_integers_and_huge_areas_are_read_by_openpyxl(tmp_path, workbook):
    # calamine reads an error cell as empty and numbers as doubles: such sheets go to openpyxl
    from chaingraph import readers

    flow, calls = open_tables(workbook)
    assert readers._calamine_rows(flow) is None and readers._calamine_rows(calls) is None  # (#REF!, #N/A)
    wb = openpyxl.Workbook()
    wb.active.append(["交易卡号", "交易金额"])
    wb.active.append([1234, 1])
    wb.save(tmp_path / "short.xlsx")
    [sheet] = open_tables(tmp_path / "short.xlsx")
    assert readers._calamine_rows(sheet) is not None

    def rewrite(name, old, new):  # the workbook with its sheet's XML edited
        with zipfile.ZipFile(tmp_path / "short.xlsx") as src, zipfile.ZipFile(tmp_path / name, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                dst.writestr(item, data.replace(old, new) if "worksheets" in item.filename else data)
        [sheet] = open_tables(tmp_path / name)
        return sheet

    # an exporter writing the card number as an exact integer (openpyxl writes a double)
    sheet = rewrite("long.xlsx", b"<v>1234</v>", b"<v>6222021234567890123</v>")
    assert readers._calamine_rows(sheet) is None
    rows, bad = read_all(sheet)
    assert rows["交易卡号"].tolist() == ["6222021234567890123"] and not bad
    # an area calamine would allocate whole (a stray value in the last column)
    sheet = rewrite("wide.xlsx", b'<dimension ref="A1:B2"', b'<dimension ref="A1:XFD20000"')
    assert readers._calamine_rows(sheet) is None
    assert read_all(sheet)[0]["交易卡号"].tolist() == ["1234"]


def test_xls_sheets_values_and_formula_errors():
    # an Excel 97-2003 workbook (tests/fixtures/readers/make_statement_xls.py): the same
    # sheets, cells, row numbers and bad rows as the same workbook saved as .xlsx gives
    flow, calls = open_tables(FIXTURES / "statement.xls")
    # (its row 6 also has a time of day and a boolean)
    check_statement_sheet(flow, "交易明细", "xls", 入账日期="09:30:00", 备注="TRUE")
    assert (calls.name, calls.header_row) == ("话单", 1)
    assert read_all(calls)[0].to_dict("records") == [
        {"本机号码": "13800000000", "对方号码": "13900000000", "通话时长": "61", "_row": 2}]
    assert [s.name for s in open_tables(FIXTURES / "statement.xls", find_header=lambda c: "本机号码" in c)] == ["话单"]


# --------------------------------------------------------------------------- JSON Lines


def test_jsonl_rows_bad_lines_and_late_keys(tmp_path):
    lines = [
        json.dumps({"account": "6222021234567890123", "amount": 100.5, "ok": True, "ip": None}),
        "",
        '{"account": "6217", "amount": 1,',  # broken
        json.dumps({"account": " 6228 ", "tags": ["跑分", "USDT"], "meta": {"a": 1}}, ensure_ascii=False),
        "[1, 2]",
        json.dumps({"account": "6229", "device": "IMEI-1"}),
    ]
    path = write(tmp_path / "logins.jsonl", "\n".join(lines) + "\n")
    sheet = only(path)
    assert (sheet.format, sheet.header_row, sheet.name) == ("jsonl", 0, None)
    assert sheet.header == ["account", "amount", "ok", "ip", "tags", "meta", "device"]
    rows, bad = read_all(sheet)
    assert rows.to_dict("records") == [
        {"account": "6222021234567890123", "amount": "100.5", "ok": "true", "ip": "", "tags": "",
         "meta": "", "device": "", "_row": 1},
        {"account": "6228", "amount": "", "ok": "", "ip": "", "tags": '["跑分", "USDT"]',
         "meta": '{"a": 1}', "device": "", "_row": 4},
        {"account": "6229", "amount": "", "ok": "", "ip": "", "tags": "", "meta": "",
         "device": "IMEI-1", "_row": 6},
    ]
    assert [(b.row, b.raw, b.reason) for b in bad] == [
        (3, lines[2], "invalid JSON: Expecting property name enclosed in double quotes at column 33"),
        (5, "[1, 2]", "not a JSON object but an array"),
    ]


def test_jsonl_keys_first_seen_late_are_appended(tmp_path):
    lines = [json.dumps({"a": str(i)}) for i in range(1000)] + [json.dumps({"a": "x", "b": "late"})]
    sheet = only(write(tmp_path / "late.ndjson", "\n".join(lines)))
    assert sheet.header == ["a"]
    chunks = list(sheet.chunks(size=600))
    assert list(chunks[0].rows.columns) == ["a", "_row"]
    assert list(chunks[1].rows.columns) == ["a", "b", "_row"]
    assert chunks[1].rows["b"].tolist()[-2:] == ["", "late"]
    assert sheet.header == ["a", "b"]


def test_jsonl_without_objects(tmp_path):
    with pytest.raises(ReadError, match="no JSON object"):
        open_tables(write(tmp_path / "x.jsonl", "[1]\nnot json\n"))


# --------------------------------------------------------------------------- iter_files


def test_iter_files_recurses_sorted_and_skips_noise(tmp_path):
    for name in ["b/flow.CSV", "a/z.xlsx", "a/deep/calls.tsv", "a/~$z.xlsx", "a/.hidden.csv",
                 ".git/x.csv", "notes.pdf", "c.jsonl", "d.xls"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files(tmp_path)]
    assert found == ["a/deep/calls.tsv", "a/z.xlsx", "b/flow.CSV", "c.jsonl", "d.xls"]
    missing, pdf = tmp_path / "missing.csv", tmp_path / "notes.pdf"
    assert list(iter_files([pdf, str(missing)])) == [pdf, missing]
    assert list(iter_files(str(pdf))) == [pdf]


def test_file_gone_after_opening(tmp_path):
    sheets = [only(write(tmp_path / "a.csv", "a,b\n1,2\n")), only(write(tmp_path / "a.jsonl", '{"a": 1}\n'))]
    for sheet in sheets:
        sheet.path.unlink()
        with pytest.raises(ReadError, match="cannot read"):
            list(sheet.chunks())


def test_unclosed_quote(tmp_path):
    # The rest of the file becomes one bad record, as in Excel.
    text = 'a,b\n1,2\n"3,4\n5,6\n'
    rows, bad = read_all(only(write(tmp_path / "q.csv", text)))
    assert rows["_row"].tolist() == [2]
    assert [(b.row, b.raw, b.reason) for b in bad] == [(3, '"3,4\n5,6', "expected 2 fields, found 1")]
    big = "a,b\n" + "1,2\n" * 10 + '"3,4\n' + "5,6\n" * 400_000
    rows, bad = read_all(only(write(tmp_path / "big.csv", big)))
    assert rows["_row"].tolist() == list(range(2, 12))
    assert [b.row for b in bad] == [12] and "unclosed quote" in bad[0].reason
    assert len(bad[0].raw) == 1001


def test_stopping_early_returns_promptly(tmp_path):
    """A reader left after its first chunk (an error while cleaning, a worker failing)
    closes at once: Arrow's read-ahead, waiting for text that will no longer come, used
    to wait for ever and hang the load instead of raising."""
    import threading

    f = tmp_path / "big.csv"
    row = "6222020200112233445,张三,2024-01-02 10:11:12,5000.00,进,转账说明文字\n"
    f.write_bytes(("交易卡号,交易户名,交易时间,交易金额,收付标志,摘要\n" + row * 1_000_000).encode("gb18030"))  # (more than the read-ahead holds)
    sheet = open_tables(f)[0]
    for _ in range(3):
        chunks = sheet.chunks(1000)
        assert len(next(chunks).rows) == 1000
        closing = threading.Thread(target=chunks.close, daemon=True)
        closing.start()
        closing.join(timeout=20)
        assert not closing.is_alive()
