"""Lead lists on a small hand-built chain with traps beside it."""

from __future__ import annotations

import csv
import re

import pandas as pd
import pytest

from chaingraph.leads import leads
from chaingraph.schema import load_schema
from chaingraph.view import MemoryView

T0 = pd.Timestamp("2024-03-01 10:00", tz="UTC")
MIN = pd.Timedelta(minutes=1)

FARMER_ID = "110101199003071234"
EVIL_ID = "110101198001011237"
A1, A2, A3 = "6222020000000000011", "6222020000000000029", "6222020000000000037"
B1, B2 = "6217000000000000041", "6217000000000000058"
BOUND = "13800001111"
CALLER = "13912345678"
EVIL_NAME = '=HYPERLINK("http://x","y")'


class FakeStore:
    """Just what MemoryView needs: nodes, edges, schema and evidence(ids)."""

    def __init__(self, nodes, edges):
        self.nodes, self.edges, self.schema = nodes, edges, load_schema()

    def evidence(self, ids):
        ids = [ids] if isinstance(ids, (str, int)) else list(ids)
        return pd.DataFrame({"id": ids, "file_id": 1, "file": "流水.csv", "sheet": "",
                             "row": [int(i) % 1000 + 2 if not isinstance(i, str) else 2 for i in ids]})


def build():
    nodes, edges = {}, []

    def n(kind, key, **props):
        nodes[f"{kind}:{key}"] = {"id": f"{kind}:{key}", "kind": kind, "key": key,
                                  "label": props.get("name") or props.get("holder_name") or key, **props}
        return f"{kind}:{key}"

    def e(kind, s, t, amount=None, time=None, seen_by="both", **props):
        edges.append({"id": len(edges) + 1, "kind": kind, "source": s, "target": t, "amount": amount,
                      "time": time, "seen_by": seen_by, "n_obs": 1, **props})

    cases = [n("case", f"C{i}", fraud_type="刷单返利", loss=loss, victim_name=f"受害人{i}")
             for i, loss in ((1, 100000.0), (2, 50000.0), (3, 30000.0))]
    a = [n("bank_account", k, holder_name=h, bank="工商银行") for k, h in ((A1, "王五"), (A2, "王五"), (A3, EVIL_NAME))]
    b1 = n("bank_account", B1, holder_name="赵六", bank="建设银行")
    b2 = n("bank_account", B2, holder_name="钱七", bank="农业银行")
    atm = n("cash_point", "ATM-001", location="深圳", channel="ATM")
    farmer = n("person", FARMER_ID, name="王五")
    evil = n("person", EVIL_ID, name=EVIL_NAME)
    dealer = n("im_account", "wx_dealer", platform="微信", nickname="卡商老李")
    boss = n("im_account", "wx_boss", platform="微信", nickname="老板")
    phone = n("phone", BOUND, carrier="中国移动")
    caller = n("phone", CALLER, carrier="中国联通")
    ring = n("organisation", "某诈骗团伙", name="某诈骗团伙", org_type="诈骗团伙")
    member = n("person", "110101199501011238", name="孙八")
    bad_outlet = n("outlet", "城西营业厅", carrier="中国移动")
    site = n("domain", "evil.example")
    srv = n("ip", "203.0.113.7")
    host = n("organisation", "黑产主机商", name="黑产主机商", org_type="hosting")
    # the chain: victims pay first-level cards, money gathers at B1, B1 cashes out and forwards to B2
    for c, acct, amt, dt in zip(cases, a, (100000.0, 50000.0, 30000.0), (0, 1, 2)):
        t = T0 + pd.Timedelta(days=dt)
        e("paid_to", c, acct, amt, t)
        e("transfer", acct, b1, amt - 1000, t + 10 * MIN)
    e("transfer", a[0], n("bank_account", "6230000000000000099", holder_name="早到"), 5000.0, T0 - 60 * MIN)
    e("cash_out", b1, atm, 100000.0, T0 + pd.Timedelta(days=2, hours=1))
    e("transfer", b1, b2, 70000.0, T0 + pd.Timedelta(days=2, hours=2), seen_by="source")
    # supply: the dealer sold the three cards to the ring's buyer; farmer and evil opened them
    for acct in a:
        e("supplied", dealer, acct, time=T0 - pd.Timedelta(days=10), price=1500.0)
    e("supplied", dealer, boss, time=T0 - pd.Timedelta(days=10))
    e("holds", farmer, a[0]); e("holds", farmer, a[1]); e("holds", evil, a[2]); e("holds", farmer, phone)
    e("bound_to", a[0], phone); e("bound_to", a[1], phone)
    for acct in a:
        e("registered_at", acct, bad_outlet)
    e("registered_at", phone, bad_outlet)
    # contact and ring; site and its host
    e("contacted_by", cases[0], caller, time=T0 - 30 * MIN)
    e("holds", member, caller); e("member_of", member, ring)
    e("contacted_by", cases[1], site, time=T0)
    e("resolves_to", site, srv); e("hosted_by", srv, host)

    # traps
    payroll = n("bank_account", "6228000000000000001", holder_name="某公司工资户")
    for i in range(30):
        emp = n("bank_account", f"62280000000001{i:05d}", holder_name=f"员工{i}")
        e("transfer", payroll, emp, 8000.0, T0 + i * MIN)
    shop = n("bank_account", "6229000000000000002", holder_name="便利店")
    for i in range(40):
        cust = n("bank_account", f"62290000000002{i:05d}", holder_name=f"顾客{i}")
        e("transfer", cust, shop, 2000.0, T0 + i * MIN, seen_by="target")
    e("transfer", b1, shop, 1000.0, T0 + pd.Timedelta(days=2, hours=3))
    nat = n("ip", "100.64.0.1")
    e("logged_in_from", a[0], nat)
    for i in range(40):
        e("logged_in_from", f"bank_account:62290000000002{i:05d}", nat)
    busy = n("outlet", "火车站营业厅", carrier="中国电信")
    e("registered_at", caller, busy)
    for i in range(50):
        p = n("phone", f"1330000{i:04d}")
        e("registered_at", p, busy)
    legit = n("person", "110101197001011233", name="张三")
    for i in range(5):
        e("holds", legit, n("bank_account", f"62120000000003{i:05d}", holder_name="张三"))

    props = sorted({k for r in nodes.values() for k in r} - {"id", "kind", "key", "label"})
    ndf = pd.DataFrame(list(nodes.values())).reindex(columns=["id", "kind", "key", "label", "flags", "n_obs"] + props)
    edf = pd.DataFrame(edges)
    edf["time"] = pd.to_datetime(edf["time"], utc=True)
    edf["amount"] = pd.to_numeric(edf["amount"])
    return MemoryView(FakeStore(ndf, edf))


TRAPS = {"bank_account:6228000000000000001", "bank_account:6229000000000000002", "ip:100.64.0.1",
         "outlet:火车站营业厅", "person:110101197001011233"}


@pytest.fixture(scope="module")
def view():
    return build()


@pytest.fixture(scope="module")
def ll(view):
    return leads(view, top=None)


def ids(df):
    return list(df["kind"] + ":" + df["key"])


def test_real_leads_rank_above_every_trap(ll):
    got = ids(ll.df)
    real = ["bank_account:" + B1, "bank_account:" + A1, "im_account:wx_dealer", "person:" + FARMER_ID,
            "outlet:城西营业厅", "cash_point:ATM-001"]
    for r in real:
        assert r in got, r
    worst_real = max(got.index(r) for r in real)
    for t in TRAPS & set(got):
        assert got.index(t) > worst_real, (t, ll.df[["kind", "key", "score", "reasons"]])
    # no chain evidence, no lead: the payroll account, its employees, the legit holder, time-excluded transfer
    assert "bank_account:6228000000000000001" not in got
    assert "person:110101197001011233" not in got
    assert "bank_account:6230000000000000099" not in got
    assert not any(k.startswith("bank_account:62280000000001") for k in got)


def test_reasons_money_and_cases(ll):
    df = ll.df.set_index(ll.df["kind"] + ":" + ll.df["key"])
    b1 = df.loc["bank_account:" + B1]
    assert b1["n_cases"] == 3
    assert b1["case_money"] == pytest.approx(177000.0)
    assert "level-2 account of 3 cases" in b1["reasons"]
    assert "received ¥177,000 of case money" in b1["reasons"]
    assert b1["segment"] == "downstream"
    assert "first-level account of 1 case" in df.loc["bank_account:" + A1, "reasons"]
    dealer = df.loc["im_account:wx_dealer"]
    assert dealer["segment"] == "upstream" and dealer["n_cases"] == 3
    assert "supplied 3 cards to 1 buyer, 3 of them used in cases" in dealer["reasons"]
    assert df.loc["outlet:城西营业厅", "segment"] == "upstream"
    assert df.loc["organisation:黑产主机商", "segment"] == "upstream"
    assert df.loc["person:110101199501011238", "segment"] == "core"
    assert list(ll.df["rank"]) == list(range(1, len(ll.df) + 1))
    assert ll.df["score"].is_monotonic_decreasing


def test_requests_list_the_frontier(ll):
    r = ll.requests.set_index("key")
    assert list(r.index) == [B2]
    assert r.loc[B2, "amount_reached"] == pytest.approx(70000.0)
    assert r.loc[B2, "n_cases"] >= 1


def test_evidence_paths_have_file_and_row(ll):
    ev = ll.evidence
    b1 = ev[ev["lead_key"] == B1]
    assert set(b1["case"]) <= {"C1", "C2", "C3"} and len(b1)
    first = b1[b1["path_no"] == 1].sort_values("step")
    assert list(first["edge"]) == ["paid_to", "transfer"]
    assert first["file"].eq("流水.csv").all() and first["row"].notna().all()
    # each money step carries its amount (it was dropped once)
    assert first[first["edge"] == "transfer"]["amount"].notna().all()


def test_from_a_start_keeps_its_cases(view):
    one = leads(view, starts=["case:C3"], top=None)
    got = ids(one.df)
    assert "bank_account:" + A3 in got and "bank_account:" + A1 not in got
    assert "bank_account:" + B1 in got  # linked to C3, reports all 3 of its cases
    ring = leads(view, starts=["organisation:某诈骗团伙"], top=None)
    assert "phone:" + CALLER in ids(ring.df)
    assert set(ring.evidence["case"]) == {"C1"}


def test_top_and_sections(view):
    ll = leads(view, top=5)
    assert len(ll.df) == 5
    secs = ll.sections
    assert set(secs) == {"upstream", "core", "downstream", "requests"}
    assert sum(len(secs[s]) for s in ("upstream", "core", "downstream")) == 5


def test_save_masked_and_inert(ll, tmp_path):
    import openpyxl

    paths = ll.save(tmp_path / "leads.xlsx", mask=True, salt="s3cret")
    wb = openpyxl.load_workbook(paths[0])
    assert wb.sheetnames == ["leads", "evidence", "requests"]
    seen = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None:
                    seen.append(str(c.value))
                if isinstance(c.value, str) and c.value.startswith("=HYPERLINK"):
                    assert c.data_type == "s"
    text = "\n".join(seen)
    assert not re.search(r"(?<!\d)\d{17}[\dX](?!\d)", text)
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text)
    assert not re.search(r"(?<!\d)\d{15,19}(?!\d)", text)
    assert "王五" in text and "key_hash" in text
    out = ll.save(tmp_path / "leads.csv", mask=True, salt="s3cret")
    assert [p.name for p in out] == ["leads.csv", "leads.evidence.csv", "leads.requests.csv"]
    raw = out[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(out[0].open(encoding="utf-8-sig")))
    assert all(not r["name"].startswith("=") for r in rows)
    assert any(r["name"].startswith("'=HYPERLINK") for r in rows) or any(
        r.get("holder_name", "").startswith("'=HYPERLINK") for r in rows)
