"""The synthetic world: deterministic, loadable, and consistent with its ground truth."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from chaingraph import world as W

N = 6000  # small: the whole module runs in well under a minute


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return W.generate(tmp_path_factory.mktemp("world"), seed=7, n_transfers=N)


@pytest.fixture(scope="module")
def loaded(world, tmp_path_factory):
    from chaingraph.ingest import load

    return load(world.data_dir, tmp_path_factory.mktemp("store") / "s")


@pytest.mark.parametrize("shared_memory", [True, False])
def test_worker_processes_load_the_same_store(world, tmp_path, monkeypatch, shared_memory):
    """Rows cleaned by worker processes (small chunks, so both workers code node ids
    in turn) give the store cleaned in this process gives, table for table; whether
    chunks cross through shared memory or, where there is none, through the pipe."""
    from chaingraph import ingest
    from chaingraph.store import TABLES, Store

    here = ingest.load(world.data_dir, tmp_path / "here", chunk_size=97, workers=0)
    if not shared_memory:
        monkeypatch.setattr(ingest, "_SHM", tmp_path / "no-shm")
    handed = []
    real = ingest._handed
    monkeypatch.setattr(ingest, "_handed", lambda obj, pid: (handed.append(real(obj, pid)), handed[-1])[1])
    there = ingest.load(world.data_dir, tmp_path / "there", chunk_size=97, workers=2)
    assert len(handed) > 100 and all(isinstance(h, ingest._Handed) == shared_memory for h in handed)
    assert not list(ingest._SHM.glob(f"chaingraph-{os.getpid()}-*"))  # (each file removed once read)
    assert [f.as_dict() for f in there.files] == [f.as_dict() for f in here.files]
    assert there.unrecognised == here.unrecognised
    a, b = Store.open(tmp_path / "here").tables, Store.open(tmp_path / "there").tables
    for t in TABLES:
        x, y = (getattr(s, t).drop(columns=["loaded_at"], errors="ignore") for s in (a, b))
        assert len(x) > 0 or t == "rejects"
        pd.testing.assert_frame_equal(y, x, obj=t)


def test_node_keys_coded_by_distinct_cell_give_the_store_of_a_factorised_column(world, tmp_path, monkeypatch):
    """Node keys are coded from the distinct cells their type cleaned (raw spellings of one
    key, invalid and empty cells among them); coding the cleaned column gives the same store."""
    from chaingraph import ingest
    from chaingraph.store import TABLES, Store

    ingest.load(world.data_dir, tmp_path / "by_cell", chunk_size=97, workers=0)
    monkeypatch.setattr(ingest, "Type", type("NoType", (), {"clean_series": None}))  # every key column factorised
    ingest.load(world.data_dir, tmp_path / "factorised", chunk_size=97, workers=0)
    a, b = Store.open(tmp_path / "by_cell").tables, Store.open(tmp_path / "factorised").tables
    for t in TABLES:
        x, y = (getattr(s, t).drop(columns=["loaded_at"], errors="ignore") for s in (a, b))
        pd.testing.assert_frame_equal(x, y, obj=t)


def test_workers_only_for_a_large_load(world, monkeypatch):
    from chaingraph import ingest

    files = sorted(p for p in world.data_dir.rglob("*") if p.is_file())
    assert ingest.default_workers(files) == 0
    monkeypatch.setattr(ingest, "PARALLEL_BYTES", 1)
    assert ingest.default_workers(files) == min(len(os.sched_getaffinity(0)), 8)


def _rel(world, f):
    return str(Path(f).resolve().relative_to(world.data_dir.resolve()))


# --------------------------------------------------------------------------- generator

def test_deterministic_for_a_seed(world, tmp_path):
    again = W.generate(tmp_path / "again", seed=7, n_transfers=N)
    assert _digest(again.out_dir) == _digest(world.out_dir)
    other = W.generate(tmp_path / "other", seed=8, n_transfers=N)
    assert _digest(other.data_dir) != _digest(world.data_dir)


def test_truth_is_plain_json(world):
    text = world.truth_path.read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(json.dumps(world.truth, ensure_ascii=False))


def test_identifiers_have_valid_structure(world):
    from chaingraph.types import get_type

    ents = world.truth["entities"]
    cards = [k.split(":", 1)[1] for k in ents if k.startswith("bank_account:")]
    assert cards and all(len(c) in (16, 19) and W.luhn_ok(c) for c in cards)
    assert {c[:6] for c in cards} >= {"622202", "621700", "622848"}
    ids = [k.split(":", 1)[1] for k in ents if k.startswith("person:")]
    assert ids and all(W.resident_id_ok(i) for i in ids)
    # every truth node id is already in chaingraph's canonical form
    schema_keys = {"bank_account": "bank_card", "person": "resident_id", "phone": "mobile", "ip": "ip",
                   "domain": "domain", "device": "device_id", "case": "case_id", "im_account": "account_id",
                   "payment_account": "account_id", "cash_point": "account_id", "app": "account_id"}
    for nid in ents:
        kind, key = nid.split(":", 1)
        if kind in schema_keys:
            assert get_type(schema_keys[kind]).clean(key) == key, nid


def test_whole_chain_is_in_the_truth(world):
    t = world.truth
    roles = {r for e in t["entities"].values() for r in e["roles"]}
    for role in ("card_farmer", "card_dealer", "corrupt_outlet", "technical_provider", "ring_member", "ring_phone",
                 "ring_device", "first_level", "second_level", "third_level", "settlement", "exit", "cash_out",
                 "cash_point", "victim", "case"):
        assert role in roles, role
    # a dealer serving two rings (one card dealer behind unrelated cases)
    assert any(len(d["rings"]) >= 2 for d in t["dealers"].values())
    assert any(len(p["rings"]) >= 2 for p in t["providers"].values())
    for case in t["cases"].values():
        levels = {r["level"] for r in case["reached"]}
        assert {1, 2, 3, 4} <= levels
        assert case["paid_to"] in {r["node"] for r in case["reached"] if r["level"] == 1}
        assert case["dealers"] and case["farmers"]
        # money is conserved down the levels (less fees)
        by_level = {lv: sum(r["amount"] for r in case["reached"] if r["level"] == lv) for lv in (1, 2, 3)}
        assert by_level[1] == pytest.approx(case["loss"], abs=0.01)
        assert by_level[1] >= by_level[2] >= by_level[3] > 0.95 * by_level[1]


def test_quick_in_quick_out(world):
    tr = world.transfers()
    chain = tr[tr["case"] != ""]
    ins = chain[chain["label"] == "victim_payment"].groupby("target")["time"].min()
    outs = chain[chain["label"] == "split_1_2"].groupby("source")["time"].min()
    dt = (outs.reindex(ins.index) - ins).dropna()
    assert len(dt) and (dt > pd.Timedelta(0)).all() and (dt < pd.Timedelta("15min")).all()


# --------------------------------------------------------------------------- loading

def test_every_file_is_recognised(world, loaded):
    assert loaded.unrecognised == []
    sources = {f.kind for f in loaded.files}
    assert sources >= {"bank_statement", "bank_account_info", "phone_registration", "call_records",
                       "payment_accounts", "case_reports", "card_trade_ledger", "domain_hosting"}
    assert all(f.read == f.loaded + f.merged + f.rejected for f in loaded.files)
    # at least three layouts, both encodings, some workbooks
    encs = {f.encoding for f in loaded.files}
    assert {"gb18030", "utf-8-sig", None} <= encs
    assert any(f.sheet for f in loaded.files if f.kind == "bank_statement")


def _rejected(world, loaded):
    rej = loaded.rejects
    rej = rej[rej["action"] == "row rejected"]
    return {(_rel(world, f), int(r)) for f, r in zip(rej["file"], rej["row"])}


def test_exactly_the_expected_rejects(world, loaded):
    expected = {(r["file"], r["row"]) for r in world.truth["rejects"]}
    assert _rejected(world, loaded) == expected


def _edges(loaded):
    e = loaded.store.edges
    e = e[e["kind"].isin(["transfer", "cash_out"])].copy()
    e["cents"] = (e["amount"] * 100).round().astype("int64")
    return e


def test_truth_transfers_are_edges(world, loaded):
    tr = world.transfers()
    vis = tr[tr["visible"]].copy()
    vis["cents"] = (vis["amount"] * 100).round().astype("int64")
    e = _edges(loaded)
    e = e[e["time"].notna()]
    key = ["source", "target", "cents"]
    # an edge takes its time from one of the two statements: the payer's or the payee's
    a = vis.reset_index().merge(e[key + ["time", "id"]], on=key + ["time"], how="left")
    b = vis.reset_index().merge(e[key + ["time", "id"]].rename(columns={"time": "payee_time"}), on=key + ["payee_time"], how="left")
    found = pd.concat([a[a["id"].notna()], b[b["id"].notna()]])
    missing = set(vis.index) - set(found["index"])
    assert not missing, vis.loc[sorted(missing)[:5]].to_dict("records")
    # and nothing more: one edge per visible transfer
    assert len(e) == len(vis)
    assert found["id"].nunique() == len(vis)


def test_both_sides_make_one_edge(world, loaded):
    tr = world.transfers()
    both = tr[tr["visible"] & (tr["payer_rows"] > 0) & (tr["payee_rows"] > 0)].copy()
    assert len(both) > 50
    both["cents"] = (both["amount"] * 100).round().astype("int64")
    e = _edges(loaded)
    m = both.merge(e[["source", "target", "cents", "time", "seen_by", "n_obs"]], on=["source", "target", "cents", "time"])
    m2 = both.merge(e[["source", "target", "cents", "time", "seen_by", "n_obs"]].rename(columns={"time": "payee_time"}),
                    on=["source", "target", "cents", "payee_time"])
    m = pd.concat([m, m2]).drop_duplicates(subset=["payer_txn", "source", "target"])
    assert len(m) == len(both)
    assert (m["seen_by"] == "both").all()
    # the two cross-bank statements of one transfer differ in transaction id and by seconds
    cross = both[both["payer_txn"] != both["payee_txn"]]
    assert len(cross) and (cross["payee_time"] >= cross["time"]).all()


def test_duplicates_merge(world, loaded):
    sup = [f for f in loaded.files if "补充" in f.file]
    assert sup and all(f.merged == f.read for f in sup)


def test_traps_exist(world, loaded):
    nodes = set(loaded.store.nodes["id"])
    traps = world.truth["traps"]
    assert {t["trap"] for t in traps} >= {"payroll_fan_out", "shop_fan_in", "shared_nat_ip", "multi_bank_person", "busy_outlet"}
    for t in traps:
        assert t["node"] in nodes, t
    e = loaded.store.edges
    by = {}
    for t in traps:
        by.setdefault(t["trap"], t["node"])  # the first node of a trap is the trap itself
    assert (e[(e["kind"] == "transfer")]["source"] == by["payroll_fan_out"]).sum() >= 100
    assert (e[(e["kind"] == "transfer")]["target"] == by["shop_fan_in"]).sum() >= 100
    assert (e[(e["kind"] == "logged_in_from")]["target"] == by["shared_nat_ip"]).sum() >= 100
    assert (e[(e["kind"] == "registered_at")]["target"] == by["busy_outlet"]).sum() >= 100
    assert (e[(e["kind"] == "holds")]["source"] == by["multi_bank_person"]).sum() >= 5


def test_truth_entities_are_in_the_store(world, loaded):
    nodes = set(loaded.store.nodes["id"])
    t = world.truth
    must = set(t["cases"]) | {c["paid_to"] for c in t["cases"].values()} | set(t["dealers"]) | set(t["providers"])
    must |= {p for c in t["cases"].values() for p in c["farmers"] + c["outlets"]}
    must |= {c["phone"] for c in t["cases"].values()}
    assert must - nodes == set()
    # the upstream links the truth claims are in the files: dealer -> card, farmer -> SIM outlet
    e = loaded.store.edges
    sup = e[e["kind"] == "supplied"]
    for did, d in t["dealers"].items():
        sold = set(sup[sup["source"] == did]["target"])
        assert set(d["cards"]) & sold


# --------------------------------------------------------------------------- string kernels and scale

def test_string_kernels():
    import numpy as np

    assert W._money(np.array([0, 5, 123456, -305])).to_pylist() == ["0.00", "0.05", "1234.56", "-3.05"]
    assert W._thousands(np.array([99999, 100000, 123456789012])).to_pylist() == ["999.99", "1,000.00", "1,234,567,890.12"]
    t = np.array([np.datetime64("2024-02-29T23:59:59", "s"), np.datetime64("2024-01-01T00:00:00", "s")]).astype(np.int64)
    assert W._fmt_pa(t).to_pylist() == ["2024-02-29 23:59:59", "2024-01-01 00:00:00"]
    assert W._fmt_pa(t, "date").to_pylist() == ["20240229", "20240101"]
    assert W._fmt_pa(t, "time").to_pylist() == ["235959", "000000"]
    import pyarrow as pa

    lines = W._csv_lines([pa.array(["a", "1,234.00", 'say "hi"']), pa.array(["张三", "", "x"])])
    assert W._encode(lines, "gb18030") == 'a,张三\r\n"1,234.00",\r\n"say ""hi""",x\r\n'.encode("gb18030")


def test_workbooks_stay_small(world):
    sheets = [f for f in world.truth["files"] if f["file"].endswith(".xlsx")]
    assert sum(f["rows"] for f in sheets if f["source"] == "bank_statement") <= W.XLSX_ROWS


def test_case_reports_overflow_to_csv(tmp_path, monkeypatch):
    """Past XLSX_CASES the case reports continue in a CSV; both load, every case is in the store."""
    from chaingraph.ingest import load

    monkeypatch.setattr(W, "XLSX_CASES", 5)
    w = W.generate(tmp_path / "w", seed=3, n_transfers=4000)
    files = {f["file"]: f for f in w.truth["files"] if f["source"] == "case_reports"}
    assert files["cases/报案登记_汇总.xlsx"]["rows"] == 5
    assert files["cases/报案登记_续报.csv"]["rows"] == len(w.truth["cases"]) - 5
    r = load(w.data_dir, tmp_path / "s")
    assert r.unrecognised == []
    assert set(w.truth["cases"]) <= set(r.store.nodes["id"])
