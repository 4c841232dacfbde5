"""Safe table export: CSV with BOM, XLSX with strings only, JSON; masking and salted hashes."""

from __future__ import annotations

import csv
import json
import re

import openpyxl
import pandas as pd
import pytest

from chaingraph.exc import ChaingraphError
from chaingraph.export import key_hash, mask_text, neutralise, write_table

EVIL = '=HYPERLINK("http://x","y")'
PID, CARD, PHONE = "110101199003071234", "6222021234567890123", "13800001111"
ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
CARD_RE = re.compile(r"(?<!\d)\d{12,19}(?!\d)")


def sheets():
    leads = pd.DataFrame({
        "rank": [1, 2, 3, 4],
        "kind": ["person", "bank_account", "phone", "domain"],
        "key": [PID, CARD, PHONE, "evil.example"],
        "name": [EVIL, "王五的卡", "张三", "+cmd|' /C calc'!A0"],
        "reasons": [f"holds card {CARD}", f"first-level account of 3 cases; holder {PID}",
                    f"bound to {CARD}; called +86 {PHONE}", "@SUM(1+1)"],
        "money_in": [float("nan"), -1500.5, 0.0, 12.0],
        "holder_id": [None, PID, None, None],
    })
    evidence = pd.DataFrame({
        "lead_kind": ["bank_account", "phone"], "lead_key": [CARD, PHONE],
        "source_key": [f"case C1 → {CARD}", "-bad"], "file": ["流水（工行）.csv", "话单.xlsx"], "row": [2, 17],
    })
    requests = pd.DataFrame({"kind": ["bank_account"], "key": [CARD], "amount_reached": [70000.0]})
    return {"leads": leads, "evidence": evidence, "requests": requests}


def all_cells_xlsx(path):
    wb = openpyxl.load_workbook(path)
    return {ws.title: [[c for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def test_mask_text_rules():
    assert mask_text(f"id {PID}") == "id 110101********1234"
    assert mask_text(f"tel +86 {PHONE}") == "tel +86 138****1111"
    assert mask_text(f"card {CARD}.") == "card 622202*********0123."
    assert mask_text("amount 482000.00, 72 h") == "amount 482000.00, 72 h"
    assert neutralise("-1") == "'-1" and neutralise("\tx") == "'\tx" and neutralise("a=b") == "a=b"


def test_xlsx_strings_only_chinese_and_layout(tmp_path):
    p = tmp_path / "out.xlsx"
    assert write_table(p, sheets()) == [p]
    wb = openpyxl.load_workbook(p)
    assert wb.sheetnames == ["leads", "evidence", "requests"]
    ws = wb["leads"]
    head = [c.value for c in ws[1]]
    assert head[:4] == ["rank", "kind", "key", "name"]
    assert ws["A1"].font.bold and ws.freeze_panes == "A2" and ws.auto_filter.ref
    name = ws.cell(row=2, column=4)
    assert name.value == EVIL and name.data_type == "s"  # a plain string, not a formula
    assert ws.cell(row=3, column=4).value == "王五的卡"
    assert ws.cell(row=5, column=5).data_type == "s"
    money = ws.cell(row=3, column=6)
    assert money.value == -1500.5 and money.data_type == "n"  # negative numbers stay numbers
    assert ws.cell(row=3, column=3).value == CARD and ws.cell(row=3, column=3).data_type == "s"
    assert wb["evidence"].cell(row=2, column=4).value == "流水（工行）.csv"
    # CJK counts double: the Chinese file name column is wider than its character count
    assert wb["evidence"].column_dimensions["D"].width >= 2 * len("流水（工行）.csv") - 4
    for rows in all_cells_xlsx(p).values():
        for row in rows:
            for c in row:
                assert c.data_type != "f"


def test_csv_bom_inert_numeric(tmp_path):
    p = tmp_path / "out.csv"
    paths = write_table(p, sheets())
    assert [x.name for x in paths] == ["out.csv", "out.evidence.csv", "out.requests.csv"]
    assert all(x.read_bytes().startswith(b"\xef\xbb\xbf") for x in paths)
    rows = list(csv.DictReader(p.open(encoding="utf-8-sig", newline="")))
    assert rows[0]["name"] == "'" + EVIL
    assert rows[3]["name"].startswith("'+") and rows[3]["reasons"] == "'@SUM(1+1)"
    assert rows[1]["name"] == "王五的卡"
    assert rows[1]["money_in"] == "-1500.5"  # a number, not neutralised
    assert rows[0]["money_in"] == ""
    ev = pd.read_csv(paths[1], encoding="utf-8-sig", dtype=str)
    assert ev.loc[1, "source_key"] == "'-bad" and ev.loc[0, "file"] == "流水（工行）.csv"
    df = pd.read_csv(p, encoding="utf-8-sig", dtype={"key": str})
    assert df["money_in"].dtype.kind == "f"


def test_json_utf8(tmp_path):
    p = tmp_path / "out.json"
    write_table(p, sheets())
    raw = p.read_text(encoding="utf-8")
    assert "王五的卡" in raw  # not \\u-escaped
    doc = json.loads(raw)
    assert set(doc) == {"leads", "evidence", "requests"}
    assert doc["leads"][0]["name"] == EVIL and doc["leads"][0]["money_in"] is None


@pytest.mark.parametrize("ext", ["csv", "xlsx", "json"])
def test_masked_no_identifier_left_and_joinable(tmp_path, ext):
    p = tmp_path / f"m.{ext}"
    paths = write_table(p, sheets(), mask=True, salt="pepper")
    cells = []
    if ext == "xlsx":
        for rows in all_cells_xlsx(p).values():
            cells += [str(c.value) for row in rows for c in row if c.value is not None]
    elif ext == "csv":
        for x in paths:
            cells += [v for row in csv.reader(x.open(encoding="utf-8-sig")) for v in row]
    else:
        for sheet in json.loads(p.read_text(encoding="utf-8")).values():
            cells += [str(v) for row in sheet for v in row.values()]
    for v in cells:
        assert not ID_RE.search(v) and not PHONE_RE.search(v) and not CARD_RE.search(v), v
    text = "\n".join(cells)
    assert "110101********1234" in text and "622202*********0123" in text and "138****1111" in text
    assert "evil.example" in text and "王五的卡" in text  # not personal, not masked
    h = key_hash(f"bank_account:{CARD}", "pepper")
    assert text.count(h) == 3  # leads.key_hash, evidence.lead_key_hash, requests.key_hash: joinable


def test_mask_salt_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAINGRAPH_MASK_SALT", raising=False)
    paths = write_table(tmp_path / "a.csv", {"leads": sheets()["leads"]}, mask=True)
    assert paths[-1].name == "a.salt.txt"
    salt = paths[-1].read_text(encoding="utf-8").strip()
    rows = list(csv.DictReader(paths[0].open(encoding="utf-8-sig")))
    assert rows[0]["key_hash"] == key_hash(f"person:{PID}", salt)
    monkeypatch.setenv("CHAINGRAPH_MASK_SALT", "envsalt")
    paths = write_table(tmp_path / "b.csv", {"leads": sheets()["leads"]}, mask=True)
    assert len(paths) == 1
    rows = list(csv.DictReader(paths[0].open(encoding="utf-8-sig")))
    assert rows[0]["key_hash"] == key_hash(f"person:{PID}", "envsalt")


def test_unknown_format(tmp_path):
    with pytest.raises(ChaingraphError, match="unknown export format"):
        write_table(tmp_path / "x.txt", sheets())
