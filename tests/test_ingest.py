"""Loading real-looking case files: every row accounted for, one node per real thing."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

from chaingraph.cli import main
from chaingraph.exc import ChaingraphError
from chaingraph.ingest import load
from chaingraph.store import Store, StoreError

CARD_A = "6222020200112233445"
CARD_B = "6228480000000000001"
CARD_C = "6217000010001234567"
ID_A = "11010519491231002X"

# payer's statement (layout A, GB18030): 进/出, joined date-time, thousands separators
STATEMENT_A = f"""交易卡号,交易户名,交易证件号码,交易时间,交易金额,交易余额,收付标志,对手账号,对手户名,对手开户行,摘要,交易流水号,IP地址,MAC地址
{CARD_A},张三,{ID_A},2024-01-02 10:11:12,"5,000.00",5000.00,进,{CARD_C},李四,建设银行,转账,A001,1.2.3.4,00-11-22-33-44-55
{CARD_A},张三,{ID_A},2024-01-02 10:20:00,4900.00,100.00,出,{CARD_B},王五,农业银行,转账,A002,1.2.3.4,
{CARD_A},张三,{ID_A},2024-01-02 10:20:00,4900.00,100.00,出,{CARD_B},王五,农业银行,转账,A002,1.2.3.4,
{CARD_A},张三,{ID_A},2024-01-02 11:00:00,abc,100.00,出,{CARD_B},王五,农业银行,转账,A003,,
{CARD_A},张三,{ID_A},2024-01-02 12:00:00,100.00,0.00,出,,,,ATM取现,A004,,
"""

# payee's statement (layout B, UTF-8 with BOM): 借/贷, date and time in separate columns,
# a spaced card number and full-width digits
STATEMENT_B = f"""账号,户名,交易日期,交易时刻,借贷标志,发生额,余额,对方账号,对方户名,摘要,流水号
6228 4800 0000 0000 001,王五,20240102,102003,贷,４９００.００,4900,{CARD_A},张三,转账,B777
6228 4800 0000 0000 001,王五,2024/01/03,08:00:00,借,4800.00,100,,,ATM取款,B778
"""

# layout C: English headers, signed amounts, no direction column, TSV
STATEMENT_C = (
    "account_no\tdatetime\tamount\tcounterparty_account\ttxn_id\n"
    f"{CARD_C}\t2024-01-02T10:11:09+08:00\t-5000\t{CARD_A}\tC9\n"
    f"{CARD_C}\tnot a date\t-10\t{CARD_A}\tC10\n"
)


@pytest.fixture
def case_dir(tmp_path):
    d = tmp_path / "case"
    d.mkdir()
    (d / "a.csv").write_bytes(STATEMENT_A.encode("gb18030"))
    (d / "b.csv").write_bytes(STATEMENT_B.encode("utf-8-sig"))
    (d / "sub").mkdir()
    (d / "sub" / "c.tsv").write_text(STATEMENT_C, encoding="utf-8")
    return d


def _report(r):
    return {f.file.rsplit("/", 1)[-1]: f for f in r.files}


def test_every_row_is_loaded_merged_or_rejected(case_dir, tmp_path):
    r = load(case_dir, tmp_path / "store")
    files = _report(r)
    assert not r.unrecognised
    assert files["a.csv"].encoding == "gb18030"
    assert files["b.csv"].encoding == "utf-8-sig"
    for f in r.files:
        assert f.kind == "bank_statement"
        assert f.read == f.loaded + f.merged + f.rejected
    a, b, c = files["a.csv"], files["b.csv"], files["c.tsv"]
    assert (a.read, a.rejected, a.merged) == (5, 1, 1)  # 'abc' amount; the exact duplicate row
    assert (b.read, b.merged, b.rejected) == (2, 1, 0)  # the payee's side of A002
    assert (c.read, c.merged, c.rejected) == (2, 1, 1)  # the payer's side of A001; a bad date
    rej = r.rejects
    rows = {(f.rsplit("/", 1)[-1], int(row), col) for f, row, col in rej[rej["action"] == "row rejected"][["file", "row", "column"]].itertuples(index=False)}
    # the column as the file names it, then the mapping's name for it
    assert rows == {("a.csv", 5, "交易金额 (amount)"), ("c.tsv", 3, "datetime (time)")}
    assert (tmp_path / "store" / "rejects.csv").read_text(encoding="utf-8-sig").count("\n") == 1 + len(rej)


def test_one_node_per_account_and_one_edge_per_transfer(case_dir, tmp_path):
    st = load(case_dir, tmp_path / "store").store
    nodes = st.nodes.set_index("id")
    # the spaced, full-width card from statement B is the same node as in statement A
    assert f"bank_account:{CARD_B}" in nodes.index
    assert nodes.loc[f"bank_account:{CARD_B}", "holder_name"] == "王五"
    assert nodes.loc[f"person:{ID_A}", "name"] == "张三"
    t = st.edges[st.edges["kind"] == "transfer"]
    # A001 (in A's and C's statement), A002 (in A's and B's statement): two transfers, both seen by both ends
    assert len(t) == 2
    assert set(t["seen_by"]) == {"both"}
    a002 = t[t["target"] == f"bank_account:{CARD_B}"].iloc[0]
    assert a002["source"] == f"bank_account:{CARD_A}" and a002["amount"] == 4900.0
    assert a002["time"] == pd.Timestamp("2024-01-02 02:20:00", tz="UTC")  # Asia/Shanghai by default
    a001 = t[t["target"] == f"bank_account:{CARD_A}"].iloc[0]
    assert a001["source"] == f"bank_account:{CARD_C}" and a001["amount"] == 5000.0
    # cash withdrawals are cash-out edges to the account's cash point
    co = st.edges[st.edges["kind"] == "cash_out"]
    assert set(co["source"]) == {f"bank_account:{CARD_A}", f"bank_account:{CARD_B}"}
    # evidence: both statement rows behind the merged transfer
    ev = st.evidence([int(a002["id"])])
    assert {(f.rsplit("/", 1)[-1], int(r)) for f, r in ev[["file", "row"]].itertuples(index=False)} == {("a.csv", 3), ("a.csv", 4), ("b.csv", 2)}


def test_store_tables_read_as_pandas_reads_them(case_dir, tmp_path):
    # the store reads a column at a time (less memory): same columns, dtypes and values,
    # text written as a dictionary (kind, file, sheet) read as text
    import pyarrow.parquet as pq

    from chaingraph.store import TABLES, _read_parquet

    load(case_dir, tmp_path / "store")
    load(case_dir / "sub", tmp_path / "store")  # (a second version: an incremental load)
    vdir = tmp_path / "store" / Store.open(tmp_path / "store").version
    assert str(pq.ParquetFile(vdir / "edge_obs.parquet").schema_arrow.field("kind").type).startswith("dictionary")
    for name in TABLES:
        want = pd.read_parquet(vdir / f"{name}.parquet")
        for c in want.columns:
            if isinstance(want[c].dtype, pd.CategoricalDtype):
                want[c] = want[c].astype(want[c].cat.categories.dtype)
        got = _read_parquet(vdir / f"{name}.parquet")
        assert len(got) == len(want) > 0
        assert not any(isinstance(got[c].dtype, pd.CategoricalDtype) for c in got.columns)
        pd.testing.assert_frame_equal(got, want)
    # a file pandas wrote with its index: read as pandas reads it
    df = pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], name="k"))
    df.to_parquet(tmp_path / "indexed.parquet")
    pd.testing.assert_frame_equal(_read_parquet(tmp_path / "indexed.parquet"), df)


def test_evidence_reads_only_the_records_it_needs(case_dir, tmp_path):
    # a store just opened answers evidence from the provenance files without reading them
    # whole; the answer is the one the tables in memory give
    load(case_dir, tmp_path / "store")
    st = Store.open(tmp_path / "store")
    ids = [int(st.edges["id"].iloc[0]), int(st.edges["id"].iloc[-1]), st.nodes["id"].iloc[0], "person:nobody", 12345]
    cases = [ids, ids[:2], ids[2:4], ["person:nobody", 12345]]
    lazy = [st.evidence(i) for i in cases]
    assert "edge_obs" not in st.tables.__dict__ and "node_obs" not in st.tables.__dict__
    assert len(lazy[1]) >= 2 and len(lazy[2]) >= 1 and len(lazy[3]) == 0
    st.tables.edge_obs, st.tables.node_obs  # now read whole
    for i, got in zip(cases, lazy):
        pd.testing.assert_frame_equal(got, st.evidence(i))


def test_cli_evidence_of_entities_and_edges(case_dir, tmp_path, capsys):
    import json

    from chaingraph.cli import main

    st = load(case_dir, tmp_path / "store").store
    t = st.edges[(st.edges["kind"] == "transfer") & (st.edges["target"] == f"bank_account:{CARD_B}")].iloc[0]
    store = str(tmp_path / "store")
    # an entity (kind:value) and an edge by its id
    assert main(["evidence", "--store", store, f"bank_account:{CARD_B}", f"edge:{t['id']}", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = st.evidence([f"bank_account:{CARD_B}", int(t["id"])])
    assert [(r["id"], r["file"], r["row"]) for r in got] == list(zip(want["id"], want["file"], want["row"]))
    assert {(r["file"].rsplit("/", 1)[-1], r["row"]) for r in got if r["id"] == int(t["id"])} == {("a.csv", 3), ("a.csv", 4), ("b.csv", 2)}
    assert main(["evidence", "--store", store, f"edge:{t['id']}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"edge:{t['id']}" and sorted(line.split("/")[-1] for line in lines[1:]) == ["a.csv row 3", "a.csv row 4", "b.csv row 2"]
    assert main(["evidence", "--store", store, "edge:12"]) == 2
    assert "no such edge" in capsys.readouterr().err
    assert main(["evidence", "--store", store, "edge:x1"]) == 2
    assert "whole number" in capsys.readouterr().err
    assert main(["evidence", "--store", store, "bank_account:nope"]) == 2
    assert main(["evidence", "--store", store, CARD_B]) == 2   # a card and its cash point: which?
    assert "bank_account:" in capsys.readouterr().err


def test_an_old_excel_xls_statement_loads(tmp_path):
    # Excel 97-2003 (.xls), as many bank systems still export: every row accounted for
    from pathlib import Path

    xls = Path(__file__).parent / "fixtures" / "readers" / "statement.xls"
    r = load(xls, tmp_path / "store")
    [f] = r.files
    assert (f.kind, f.sheet, f.read) == ("bank_statement", "交易明细", 4)
    assert f.read == f.loaded + f.merged + f.rejected and f.loaded >= 1
    assert "bank_account:6222021234567890123" in set(r.store.nodes["id"])
    assert {u["sheet"] for u in r.unrecognised} == {"话单"}  # (call records without a time: said why)


def test_loading_again_changes_nothing(case_dir, tmp_path):
    load(case_dir, tmp_path / "store")
    first = Store.open(tmp_path / "store")
    nodes, edges = first.nodes.copy(), first.edges.copy()
    r = load(case_dir, tmp_path / "store")
    again = Store.open(tmp_path / "store")
    pd.testing.assert_frame_equal(again.nodes, nodes)
    pd.testing.assert_frame_equal(again.edges.sort_values("id", ignore_index=True), edges.sort_values("id", ignore_index=True))
    for f in r.files:
        assert f.loaded == 0 or f.file.endswith("x")  # every accepted row merged
        assert f.read == f.merged + f.rejected


def test_a_copy_of_a_file_in_the_same_load_adds_nothing(case_dir, tmp_path):
    # the same export saved in two folders: one read's records are all merged into the other's
    import shutil

    for d in ("x", "y"):
        (tmp_path / "in" / d).mkdir(parents=True)
        shutil.copy(case_dir / "a.csv", tmp_path / "in" / d / "a.csv")
    once = load(case_dir / "a.csv", tmp_path / "once").store
    r = load(tmp_path / "in", tmp_path / "twice")
    first, second = r.files
    assert first.read == second.read and second.merged + second.rejected == second.read
    assert second.loaded == 0
    pd.testing.assert_frame_equal(r.store.nodes.drop(columns=["n_obs"]), once.nodes.drop(columns=["n_obs"]))
    assert len(r.store.edges) == len(once.edges)


def test_loading_later_files_adds_to_the_store(case_dir, tmp_path):
    load(case_dir / "a.csv", tmp_path / "store")
    st = load(case_dir / "b.csv", tmp_path / "store").store
    t = st.edges[st.edges["kind"] == "transfer"]
    assert len(t[t["target"] == f"bank_account:{CARD_B}"]) == 1


def test_xlsx_every_sheet_and_formula_errors(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "张三"
    ws.append(["交易卡号", "交易时间", "交易金额", "收付标志", "对手账号"])
    ws.append([CARD_A, "2024-01-02 10:20:00", 4900, "出", CARD_B])
    ws.append([CARD_A, "2024-01-02 10:30:00", "#REF!", "出", CARD_B])
    ws2 = wb.create_sheet("王五")
    ws2.append(["账号", "交易日期", "交易时刻", "借贷标志", "发生额", "对方账号"])
    ws2.append([CARD_B, "2024-01-02", "10:20:05", "贷", 4900, CARD_A])
    wb.save(tmp_path / "book.xlsx")
    r = load(tmp_path / "book.xlsx", tmp_path / "store")
    by_sheet = {f.sheet: f for f in r.files}
    assert set(by_sheet) == {"张三", "王五"}
    assert by_sheet["张三"].rejected == 1 and by_sheet["王五"].merged == 1
    rej = r.rejects[r.rejects["action"] == "row rejected"].iloc[0]
    assert (rej["sheet"], int(rej["row"])) == ("张三", 3) and "REF" in rej["reason"]
    assert len(r.store.edges[r.store.edges["kind"] == "transfer"]) == 1


def test_jsonl_and_other_sources(tmp_path):
    (tmp_path / "reg.jsonl").write_text("\n".join([
        json.dumps({"手机号码": "+86 138 0000 0000", "ICCID": "89860012345678901234", "机主姓名": "张三", "证件号码": ID_A, "入网时间": "2024-01-01 09:00", "营业厅": "某某营业厅"}, ensure_ascii=False),
        "{broken json",
        json.dumps({"手机号码": "0086-138-0000-0000", "机主姓名": "张三", "证件号码": ID_A, "营业厅": "某某营业厅"}, ensure_ascii=False),
    ]), encoding="utf-8")
    (tmp_path / "cases.csv").write_text(
        "案件编号,报案人,受骗金额,案发时间,诈骗类型,收款账号,诈骗电话,诈骗网址\n"
        f"A2024001,赵六,\"¥5,000\",2024年1月2日 10时00分,刷单返利,{CARD_C},13800000000,https://Fake-Shop.example.com/pay\n",
        encoding="utf-8")
    r = load(tmp_path, tmp_path / "store")
    files = _report(r)
    assert files["reg.jsonl"].kind == "phone_registration"
    assert (files["reg.jsonl"].read, files["reg.jsonl"].rejected, files["reg.jsonl"].merged) == (3, 1, 1)
    st = r.store
    ids = set(st.nodes["id"])
    assert {"phone:13800000000", f"person:{ID_A}", "outlet:某某营业厅", "case:A2024001", f"bank_account:{CARD_C}", "domain:fake-shop.example.com"} <= ids
    paid = st.edges[st.edges["kind"] == "paid_to"].iloc[0]
    assert paid["amount"] == 5000.0
    # the case and the registration meet at one phone node
    assert set(st.edges[st.edges["target"] == "phone:13800000000"]["kind"]) >= {"contacted_by", "holds"}


def test_bad_input_is_one_clear_line_and_other_files_still_load(case_dir, tmp_path, capsys):
    (case_dir / "empty.csv").write_bytes(b"")
    (case_dir / "noheader.csv").write_text("\n\n", encoding="utf-8")
    (case_dir / "people.csv").write_text("姓名,年龄\n张三,30\n", encoding="utf-8")
    code = main(["load", str(case_dir), str(tmp_path / "missing.csv"), "--store", str(tmp_path / "store")])
    out, err = capsys.readouterr()
    assert code == 3  # something was not loaded
    assert "a.csv" in out and "b.csv" in out
    lines = [l for l in err.splitlines() if l.startswith("not loaded:")]
    assert len(lines) == 4
    assert any("missing.csv" in l for l in lines)
    assert any("empty.csv" in l and "empty" in l for l in lines)
    assert any("people.csv" in l and "bank_statement lacks" in l for l in lines)
    assert "Traceback" not in err


def test_cli_workers_report_as_none_do_and_bad_input_still_one_line(case_dir, tmp_path, capsys):
    (case_dir / "empty.csv").write_bytes(b"")
    reports = []
    for n in ("0", "2"):
        code = main(["load", str(case_dir), str(tmp_path / "missing.csv"), "--store", str(tmp_path / n), "--json", "--workers", n])
        reports.append((code, json.loads(capsys.readouterr().out)))
    assert reports[0][0] == reports[1][0] == 3
    assert reports[1][1] == reports[0][1] and len(reports[0][1]["unrecognised"]) == 2
    assert Store.open(tmp_path / "2").stats() == Store.open(tmp_path / "0").stats()
    main(["load", str(case_dir), "--store", str(tmp_path / "again"), "--workers", "2"])
    assert "cleaning rows in 2 worker processes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["load", str(case_dir), "--store", str(tmp_path / "s"), "--workers", "-1"])
    assert "expected 0 (none) or more" in capsys.readouterr().err


def test_an_error_while_cleaning_in_a_worker_is_raised_and_the_store_is_unchanged(case_dir, tmp_path, monkeypatch):
    import multiprocessing

    import chaingraph.ingest as ingest_mod

    load(case_dir / "b.csv", tmp_path / "store")
    version = Store.open(tmp_path / "store").version

    def boom(self, rows):
        raise MemoryError("out of memory while cleaning")
    monkeypatch.setattr(ingest_mod._Applier, "apply", boom)  # (the workers are forked with it)
    with pytest.raises(MemoryError, match="while cleaning"):
        load(case_dir, tmp_path / "store", workers=2, chunk_size=1)
    assert not multiprocessing.active_children()
    assert Store.open(tmp_path / "store").version == version
    assert not list(ingest_mod._SHM.glob(f"chaingraph-{os.getpid()}-*"))  # (chunks handed but not taken)


def test_a_posting_without_another_party_is_listed_as_kept_without_an_edge(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("交易卡号,交易时间,交易金额,收付标志,对手账号,摘要\n"
                 f"{CARD_A},2024-01-01 00:00:00,100,出,{CARD_B},转账\n"
                 f"{CARD_A},2024-01-02 00:00:00,0.35,进,,利息\n"      # interest: no other party
                 f"{CARD_A},2024-01-03 00:00:00,50,出,,ATM取现\n", encoding="utf-8")  # a cash-out
    r = load(f, tmp_path / "store")
    assert (r.files[0].loaded, r.files[0].rejected) == (3, 0)
    rej = r.store.rejects
    assert rej[["row", "action"]].values.tolist() == [[3, "row kept, no edge"]]
    assert rej["reason"].iat[0] == "no cash_out or transfer made: the row names no other party for one"
    # so every row is in a record or in the rejects
    obs = r.store.tables.edge_obs
    assert set(obs.loc[obs["primary"].astype(bool), "row"]) | set(rej["row"]) == {2, 3, 4}


def test_rejected_cells_that_look_like_formulas_are_written_safe_for_spreadsheets(tmp_path, capsys):
    import csv

    f = tmp_path / "s.csv"
    f.write_text("交易卡号,交易时间,交易金额,对手账号\n"
                 f"{CARD_A},2024-01-01 00:00:00,=1+2,{CARD_B}\n"
                 f'"=HYPERLINK(""http://x"",""y"")",2024-01-01 00:00:00,5,{CARD_B}\n', encoding="utf-8")
    assert main(["load", str(f), "--store", str(tmp_path / "store"), "--rejects", str(tmp_path / "rej.csv")]) == 0
    capsys.readouterr()
    for out in (tmp_path / "store" / "rejects.csv", tmp_path / "rej.csv"):
        with open(out, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [(r["row"], r["raw"]) for r in rows] == [("2", "'=1+2"), ("3", "'=HYPERLINK(\"http://x\",\"y\")")], out
    # the store keeps the cells as written
    assert Store.open(tmp_path / "store").rejects["raw"].tolist() == ["=1+2", '=HYPERLINK("http://x","y")']


def test_stats_json(case_dir, tmp_path, capsys):
    load(case_dir, tmp_path / "store")
    assert main(["stats", "--store", str(tmp_path / "store"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["edges"]["transfer"] == 2 and stats["nodes"]["bank_account"] == 3


def test_user_mapping(tmp_path, capsys):
    m = tmp_path / "mybank.yaml"
    m.write_text("""
source: my_bank
columns:
  acct: [我的卡号]
  when: [我的时间]
  amt: [我的金额]
  peer: [我的对手]
required: [acct, amt, when]
nodes:
  own: {kind: bank_account, key: acct}
  peer: {kind: bank_account, key: peer}
edges:
  - {kind: transfer, source: own, target: peer, side: own, primary: true, properties: {amount: amt, time: when}}
""", encoding="utf-8")
    f = tmp_path / "x.csv"
    f.write_text(f"我的卡号,我的时间,我的金额,我的对手\n{CARD_A},2024-01-01 00:00:00,1,{CARD_B}\n", encoding="utf-8")
    r = load(f, tmp_path / "store", mappings=[m])
    assert r.files[0].kind == "my_bank" and r.files[0].loaded == 1
    m.write_text("source: x\ncolumns: {a: [b]}\nrequired: [a]\nnodes: {}\nedges: []\nextra: 1\n", encoding="utf-8")
    assert main(["load", str(f), "--store", str(tmp_path / "s2"), "--mapping", str(m)]) == 2
    assert "mybank.yaml: extra: unknown key" in capsys.readouterr().err


def test_crash_during_write_leaves_previous_store(case_dir, tmp_path, monkeypatch):
    load(case_dir / "a.csv", tmp_path / "store")
    before = Store.open(tmp_path / "store").edges.copy()
    import chaingraph.store as store_mod

    def boom(df, path, *args):
        raise OSError("disk full")
    monkeypatch.setattr(store_mod, "_to_parquet", boom)
    with pytest.raises(OSError):
        load(case_dir / "b.csv", tmp_path / "store")
    monkeypatch.undo()
    after = Store.open(tmp_path / "store")
    pd.testing.assert_frame_equal(after.edges, before)
    assert not list((tmp_path / "store").glob(".tmp-*"))  # the half-written version is removed


def test_a_version_left_half_written_by_a_killed_load_is_removed_by_the_next(case_dir, tmp_path):
    import subprocess
    import sys

    load(case_dir / "a.csv", tmp_path / "store")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / "store" / f".tmp-v000001-{int(gone.stdout)}"   # a PID no longer running
    alive = tmp_path / "store" / f".tmp-v000001-{os.getppid()}"      # a running process's
    for d in (dead, alive):
        d.mkdir()
        (d / "nodes.parquet").write_bytes(b"half")
    load(case_dir / "b.csv", tmp_path / "store")
    assert not dead.exists() and alive.exists()
    assert Store.open(tmp_path / "store").version == "v000001"


def test_failure_after_the_node_tables_are_written_leaves_previous_store(case_dir, tmp_path, monkeypatch):
    # the merge makes the node tables in a second thread and hands them to the store
    # writer while it makes the edges; a failure there waits for them
    load(case_dir / "a.csv", tmp_path / "store")
    before = Store.open(tmp_path / "store")
    version, nodes = before.version, before.nodes.copy()
    import chaingraph.ingest as ingest_mod

    written = []
    real_write = ingest_mod.Store.writer

    def spy(self):
        w = real_write(self)
        orig = w.write
        w.write = lambda name, df: (written.append(name), orig(name, df))[1]
        return w

    def boom(*a, **k):
        raise MemoryError("out of memory while merging edges")
    monkeypatch.setattr(ingest_mod.Store, "writer", spy)
    monkeypatch.setattr(ingest_mod, "derive_edges", boom)
    with pytest.raises(MemoryError):
        load(case_dir / "b.csv", tmp_path / "store")
    monkeypatch.undo()
    assert written == ["node_obs", "nodes"]
    after = Store.open(tmp_path / "store")
    assert after.version == version
    pd.testing.assert_frame_equal(after.nodes, nodes)
    assert not list((tmp_path / "store").glob(".tmp-*"))


def test_failure_making_the_nodes_is_raised_and_leaves_previous_store(case_dir, tmp_path, monkeypatch):
    import threading

    import chaingraph.ingest as ingest_mod

    load(case_dir / "a.csv", tmp_path / "store")
    version = Store.open(tmp_path / "store").version

    def boom(*a, **k):
        raise MemoryError("out of memory while merging nodes")
    monkeypatch.setattr(ingest_mod, "derive_nodes", boom)
    with pytest.raises(MemoryError, match="merging nodes"):
        load(case_dir / "b.csv", tmp_path / "store")
    monkeypatch.undo()
    assert Store.open(tmp_path / "store").version == version
    assert not list((tmp_path / "store").glob(".tmp-*"))
    assert not [t for t in threading.enumerate() if t.name.startswith("chaingraph-nodes")]


def test_a_load_writes_each_table_once(case_dir, tmp_path, monkeypatch):
    # two writes of one table run in two threads into one file at once
    import chaingraph.store as store_mod

    written = []
    real = store_mod._to_parquet
    monkeypatch.setattr(store_mod, "_to_parquet", lambda df, path, *a: (written.append(path.stem), real(df, path, *a))[1])
    load([case_dir / "a.csv", case_dir / "b.csv"], tmp_path / "store")
    assert sorted(written) == sorted(store_mod.TABLES)
    w = Store.open(tmp_path / "store").writer()
    w.write("files", pd.DataFrame({"file": ["a.csv"]}))
    with pytest.raises(StoreError, match="table files written twice"):
        w.write("files", pd.DataFrame({"file": ["a.csv"]}))
    w.abort()


def test_split_date_and_clock_columns_parse_and_reject_with_the_cells_as_written(tmp_path):
    head = "账号,交易日期,交易时刻,借贷标志,发生额,对方账号\n"
    good = [f"{CARD_A},202401{d:02d},{h:02d}3005,借,{d}.00,{CARD_B}\n" for d in range(1, 29) for h in (7, 19)]
    bad = f"{CARD_A},20241399,074039,借,1.00,{CARD_B}\n"
    (tmp_path / "s.csv").write_text(head + "".join(good) + bad, encoding="utf-8")
    r = load(tmp_path / "s.csv", tmp_path / "store")
    assert (r.files[0].read, r.files[0].rejected) == (57, 1)
    times = r.store.edges.loc[r.store.edges["kind"] == "transfer", "time"]
    # read in Asia/Shanghai: 2024-01-01 07:30:05 +08:00 is 2023-12-31 23:30:05 UTC
    assert times.min() == pd.Timestamp("2023-12-31 23:30:05", tz="UTC")
    assert times.max() == pd.Timestamp("2024-01-28 11:30:05", tz="UTC")
    rej = r.rejects.iloc[0]
    assert (int(rej["row"]), rej["column"], rej["raw"]) == (58, "交易日期+交易时刻 (time)", "20241399 074039")
    assert "month" in rej["reason"]


def test_first_of_groups_matches_a_groupby_with_missing_times_and_wide_integers():
    from chaingraph.ingest import _first_of_groups

    rng = np.random.default_rng(3)
    n = 5000
    t = pd.Series(pd.to_datetime(rng.integers(0, 4, n), unit="s", utc=True))
    t[t.index % 3 == 0] = pd.NaT
    keys = {"a": rng.integers(0, 5, n) * 10**12, "b": rng.integers(-3, 7, n), "t": t,
            "c": pd.Series(rng.integers(0, 3, n) > 0), "d": rng.integers(0, 2**30, n) % 4}
    gid = pd.DataFrame(keys).groupby(list(keys), sort=False, dropna=False).ngroup().to_numpy()
    _, first = np.unique(gid, return_index=True)
    got = _first_of_groups(keys)
    assert np.array_equal(got, first[gid])
    assert len(np.unique(got)) == len(first) > 100  # (many groups, rows merged into them)


def test_first_of_groups_of_integer_keys_by_hash_and_after_a_collision(monkeypatch):
    import chaingraph.ingest as ingest_mod

    rng = np.random.default_rng(5)
    n = 20000
    keys = {"s": rng.integers(0, 50, n), "t": rng.integers(0, 50, n), "ns": rng.integers(0, 3, n) * 10**15 + 7,
            "txn": rng.integers(-1, 2, n), "end": rng.integers(0, 3, n).astype(np.int8)}
    gid = pd.DataFrame(keys).groupby(list(keys), sort=False).ngroup().to_numpy()
    _, first = np.unique(gid, return_index=True)
    assert ingest_mod._first_by_hash(list(keys.values())) is not None
    assert np.array_equal(ingest_mod._first_of_groups(keys), first[gid])
    # every row hashed alike: the check finds the collision and the keys are packed instead
    monkeypatch.setattr(ingest_mod, "_mix64", lambda x: x.fill(7) or x)
    assert ingest_mod._first_by_hash(list(keys.values())) is None
    assert np.array_equal(ingest_mod._first_of_groups(keys), first[gid])


def test_transfer_pairing_is_the_same_whatever_the_prefilter_hash_lets_through(monkeypatch):
    # records whose ends and amount never occur on the other side are left out of the
    # pairing by a hash; with every record hashed alike, all go through, with the same result
    import chaingraph.ingest as ingest_mod

    rng = np.random.default_rng(11)
    n = 4000
    # payer -> payee, from the payer's statement (end 1) or the payee's (end 2); some
    # payer-payee-amount combinations occur in one kind of statement only
    key = {"source": rng.integers(0, 6, n), "target": rng.integers(6, 12, n), "cents": rng.integers(1, 6, n) * 100,
           "time": np.sort(rng.integers(0, 36000, n)) * 10**9, "txn": np.where(rng.random(n) < 0.2, rng.integers(0, 300, n), -1),
           "end": rng.integers(1, 3, n), "pos": np.arange(n)}
    key["end"][key["source"] == 0] = 1
    tol = pd.Timedelta("10min")
    got = ingest_mod._transfer_groups(key, tol)
    assert (got < np.arange(n)).sum() > 200  # (many records paired)
    monkeypatch.setattr(ingest_mod, "_row_hash", lambda arrays: np.zeros(len(arrays[0]), dtype=np.uint64))
    assert np.array_equal(ingest_mod._transfer_groups(key, tol), got)


def test_edge_ids_are_the_pandas_hash_of_the_first_records_text():
    from chaingraph.ingest import _edge_hash

    obs = pd.DataFrame({"kind": ["transfer", "holds", "transfer", "transfer"],
                        "file_id": pd.Categorical(["f1", "f1", "f2", "f1"]), "sheet": ["", "", "S", ""],
                        "row": pd.array([2, 2, 10**12, 3], dtype="Int64"), "spec": [0, 1, 0, 0],
                        "source": ["account:1", "person:x", "account:2", "account:1"],
                        "target": ["account:2", "account:1", "account:1", "account:3"]})
    ids = ["account:1", "account:2", "person:x", "account:3"]
    src = np.array([ids.index(v) for v in obs["source"]])
    dst = np.array([ids.index(v) for v in obs["target"]])
    reps = np.array([0, 1, 2, 3])
    # row numbers far apart (a hash table of them) and close together (marked in their range)
    for rows in ([2, 2, 10**12, 3], [2, 2, 7, 3]):
        o = obs.assign(row=pd.array(rows, dtype="Int64"))
        want = pd.util.hash_pandas_object(o[["kind", "source", "target", "file_id", "sheet", "row", "spec"]].astype("str"),
                                          index=False).to_numpy().view("int64")
        for row in (o["row"], o["row"].astype("int64")):
            assert np.array_equal(_edge_hash(o.assign(row=row), reps, src, dst, ids), want)
    assert not np.array_equal(_edge_hash(obs.assign(row=pd.array([2, 2, 7, 4], dtype="Int64")), reps, src, dst, ids),
                              _edge_hash(obs.assign(row=pd.array([2, 2, 7, 3], dtype="Int64")), reps, src, dst, ids))


def test_a_worker_killed_while_cleaning_is_one_clear_error_and_the_store_is_unchanged(case_dir, tmp_path, monkeypatch):
    import multiprocessing
    import os
    import signal

    import chaingraph.ingest as ingest_mod

    load(case_dir / "b.csv", tmp_path / "store")
    version = Store.open(tmp_path / "store").version

    def killed(self, rows):  # (as the kernel's out-of-memory killer would)
        os.kill(os.getpid(), signal.SIGKILL)
    monkeypatch.setattr(ingest_mod._Applier, "apply", killed)
    with pytest.raises(ChaingraphError, match="worker process .* stopped"):
        load(case_dir, tmp_path / "store", workers=2, chunk_size=1)
    assert not multiprocessing.active_children()
    assert Store.open(tmp_path / "store").version == version
    assert not list(ingest_mod._SHM.glob(f"chaingraph-{os.getpid()}-*"))  # (chunks handed but not taken)


def test_chunks_left_in_shared_memory_by_a_killed_load_are_removed_by_the_next(case_dir, tmp_path):
    import subprocess
    import sys

    import chaingraph.ingest as ingest_mod

    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)
    dead = ingest_mod._SHM / f"chaingraph-{gone}-{gone + 1}-0"       # a load no longer running
    alive = ingest_mod._SHM / f"chaingraph-{os.getppid()}-{gone + 1}-0"  # a running one's
    theirs = ingest_mod._SHM / f"chaingraph-{gone}-{gone + 2}-0"     # another user's: not ours to remove
    real_unlink = Path.unlink

    def unlink(self, missing_ok=False):
        if self == theirs:
            raise PermissionError(13, "Operation not permitted", str(self))
        return real_unlink(self, missing_ok=missing_ok)
    try:
        for p in (dead, alive, theirs):
            p.write_bytes(b"rows")
        with pytest.MonkeyPatch.context() as m:
            m.setattr(Path, "unlink", unlink)
            load(case_dir, tmp_path / "store", workers=2, chunk_size=1)
        assert not dead.exists() and alive.exists() and theirs.exists()
    finally:
        for p in (dead, alive, theirs):
            p.unlink(missing_ok=True)


def test_ctrl_c_while_workers_clean_stops_the_load_in_one_line(tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) while rows are being cleaned in
    workers: one line, exit code 130, no worker's traceback, no process left."""
    import signal
    import subprocess
    import sys
    import time

    f = tmp_path / "big.csv"
    row = f"{CARD_A},张三,{ID_A},2024-01-02 10:11:12,\"5,000.00\",5000.00,进,{CARD_C},李四,建设银行,转账,A001,1.2.3.4,\n"
    f.write_bytes((STATEMENT_A.splitlines()[0] + "\n" + row * 600_000).encode("gb18030"))  # (about 3 s of loading)
    cmd = [sys.executable, "-m", "chaingraph.cli", "load", str(f), "--store", str(tmp_path / "s"), "--workers", "2"]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in p.stderr:  # wait until it is reading, then a moment more
        lines.append(line)
        if line.startswith("reading"):
            break
    time.sleep(0.8)  # (the first chunks are with the workers, most rows not read yet)
    os.killpg(p.pid, signal.SIGINT)
    err = "".join(lines) + p.stderr.read()
    assert p.wait(timeout=60) == 130, err
    assert "cleaning rows in 2 worker processes" in err and "chaingraph: interrupted" in err
    assert "Traceback" not in err
    assert subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True).stdout == b""
    # a worker waiting for its next chunk would print the interrupted wait: they leave SIGINT to the load
    from chaingraph.ingest import _Cleaning, _NodeCodes

    cleaning = _Cleaning(2, _NodeCodes())
    try:
        assert cleaning.pool.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN
    finally:
        cleaning.close()


def test_a_node_record_repeated_in_a_chunk_is_kept_once_however_its_cells_are_spelled(tmp_path):
    # the counterparty account three times: twice the same holder (full-width letters the
    # second time: one cleaned value), once another; the own account three times the same
    rows = [f"{CARD_A},张三,{ID_A},2024-01-02 1{i}:00:00,100.00,0.00,出,{CARD_B},{name},农业银行,转账,R{i},,"
            for i, name in enumerate(["ABC公司", "ＡＢＣ公司", "王六"])]
    (tmp_path / "s.csv").write_text(STATEMENT_A.splitlines()[0] + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    st = load([tmp_path / "s.csv"], tmp_path / "store", workers=0).store
    obs = st.tables.node_obs
    peer = obs[obs["id"] == f"bank_account:{CARD_B}"]
    assert peer[["holder_name", "row"]].values.tolist() == [["ABC公司", 2], ["王六", 4]]
    own = obs[obs["id"] == f"bank_account:{CARD_A}"]
    assert own["row"].tolist() == [2]


def test_workers_exit_when_the_load_is_killed(tmp_path):
    """A load killed outright (SIGKILL, as the out-of-memory killer does) leaves no worker
    waiting for chunks for ever."""
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys, time; from chaingraph.ingest import _Cleaning, _NodeCodes\n"
            "c = _Cleaning(2, _NodeCodes()); print(*c.pool._processes, flush=True); time.sleep(600)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    workers = [int(w) for w in p.stdout.readline().split()]
    assert len(workers) == 2
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=10)

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # (a zombie has exited)
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(w) for w in workers)


def test_a_files_id_is_the_start_of_its_sha256(tmp_path):
    import hashlib

    from chaingraph.ingest import _sha

    for n in (0, 5, (16 << 20) + 3):  # (empty, small, and across the 16 MB reads)
        f = tmp_path / f"f{n}"
        data = os.urandom(n)
        f.write_bytes(data)
        assert _sha(f) == hashlib.sha256(data).hexdigest()[:16]
