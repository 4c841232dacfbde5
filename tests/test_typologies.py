"""Each typology on a small hand-built money graph, with exact answers."""

import pandas as pd
import pytest

from chaingraph.typologies import (cycles, fan_in, fan_out, gather_scatter, pass_through, scatter_gather,
                                   structuring)
from chaingraph.view import MemoryView

T0 = pd.Timestamp("2024-03-01 08:00", tz="UTC")
H = pd.Timedelta(hours=1)
M = pd.Timedelta(minutes=1)


def money_view():
    tx = []  # (id, source, target, time, amount, balance)

    def t(i, s, d, when, amount, balance=float("nan")):
        tx.append((i, f"bank_account:{s}", f"bank_account:{d}", T0 + when, float(amount), balance))

    for i in range(5):                      # fan-in: five payers into H1 within 5 hours
        t(100 + i, f"A{i}", "H1", i * H, 1000)
    for i in range(6):                      # shop: six payers over six days (no 24h fan-in)
        t(110 + i, f"B{i}", "SHOP", i * 24 * H, 50)
    for i in range(6):                      # payroll fans out to six
        t(120 + i, "PAY", f"E{i}", 10 * M, 8000)
    for i in range(3):                      # scatter-gather S1 -> M0..M2 -> T1
        t(130 + i, "S1", f"M{i}", 0 * H, 3000)
        t(140 + i, f"M{i}", "T1", 1 * H + i * M, 2990)
    for i in range(3):                      # gather-scatter at G
        t(150 + i, f"X{i}", "G", i * H, 2000)
        t(160 + i, "G", f"Y{i}", (3 + i) * H, 1900)
    t(170, "C1", "C2", 1 * H, 500)          # time-respecting cycle C1 -> C2 -> C3 -> C1
    t(171, "C2", "C3", 2 * H, 490)
    t(172, "C3", "C1", 3 * H, 480)
    t(180, "D1", "D2", 5 * H, 500)          # a loop in the wrong time order: no cycle
    t(181, "D2", "D3", 3 * H, 500)
    t(182, "D3", "D1", 6 * H, 500)
    t(190, "V1", "PT", 0 * H, 10_000)       # pass-through PT: in, two outs within 20 minutes, balance 50
    t(191, "PT", "W1", 10 * M, 6000, 4050)
    t(192, "PT", "W2", 20 * M, 3950, 50)
    t(193, "V2", "SLOW", 0 * H, 10_000)     # out after 3 hours: not quick
    t(194, "SLOW", "W3", 3 * H, 9900, 100)
    t(195, "V3", "KEEP", 0 * H, 10_000)     # out quickly but the balance stays high
    t(196, "KEEP", "W4", 5 * M, 9950, 20_000)
    for i, a in enumerate([4900, 4800, 4950]):  # structuring just under 5,000 within five days
        t(200 + i, "Q", f"R{i}", i * 48 * H, a)
    t(203, "Q", "R9", 10 * H, 4000)          # not within the 10 % margin
    e = pd.DataFrame(tx, columns=["id", "source", "target", "time", "amount", "balance"])
    e["kind"], e["seen_by"] = "transfer", "source"
    ids = sorted(set(e["source"]) | set(e["target"]))
    n = pd.DataFrame({"id": ids, "kind": "bank_account", "key": [i.partition(":")[2] for i in ids]})
    return MemoryView(n, e)


def ents(df):
    return list(df["entity"])


def test_fan_in():
    r = fan_in(money_view(), min_counterparties=5, window="24h")
    assert ents(r) == ["bank_account:H1"]
    assert r.iloc[0]["count"] == 5 and r.iloc[0]["edge_ids"] == (100, 101, 102, 103, 104)
    assert r.iloc[0]["amount"] == 5000
    # the shop's six payers only count over a week
    assert ents(fan_in(money_view(), min_counterparties=6, window="7D")) == ["bank_account:SHOP"]


def test_fan_out():
    r = fan_out(money_view(), min_counterparties=5, window="1h")
    assert ents(r) == ["bank_account:PAY"]
    assert r.iloc[0]["count"] == 6


def test_scatter_gather():
    r = scatter_gather(money_view(), min_intermediates=3, window="2h")
    assert ents(r) == ["bank_account:S1"]
    row = r.iloc[0]
    assert row["metrics"]["target"] == "bank_account:T1"
    assert row["metrics"]["intermediates"] == ["bank_account:M0", "bank_account:M1", "bank_account:M2"]
    assert row["edge_ids"] == (130, 131, 132, 140, 141, 142)
    assert scatter_gather(money_view(), min_intermediates=3, window="30min").empty


def test_gather_scatter():
    r = gather_scatter(money_view(), min_sources=3, min_targets=3, window="6h")
    assert ents(r) == ["bank_account:G"]
    assert r.iloc[0]["edge_ids"] == (150, 151, 152, 160, 161, 162)
    assert gather_scatter(money_view(), window="4h").empty


def test_cycles_time_respecting():
    r = cycles(money_view(), max_length=4, window="72h")
    assert ents(r) == ["bank_account:C1"]
    row = r.iloc[0]
    assert row["edge_ids"] == (170, 171, 172)
    assert row["metrics"]["path"] == ["bank_account:C1", "bank_account:C2", "bank_account:C3", "bank_account:C1"]
    assert cycles(money_view(), max_length=2).empty
    assert cycles(money_view(), window="30min").empty


def test_pass_through():
    r = pass_through(money_view(), max_dwell="30min", tolerance=0.05)
    assert ents(r) == ["bank_account:PT"]
    row = r.iloc[0]
    assert row["count"] == 1 and row["edge_ids"] == (190, 191, 192)
    assert row["metrics"]["max_dwell_min"] == pytest.approx(20)
    # with a 4-hour dwell the slow account qualifies (so do the legs of the cycle and the
    # scatter-gather); the one keeping a high balance never does
    slow = ents(pass_through(money_view(), max_dwell="4h", tolerance=0.05))
    assert "bank_account:SLOW" in slow and "bank_account:KEEP" not in slow
    assert ents(pass_through(money_view(), max_dwell="60min", tolerance=0.05)) == [
        "bank_account:C2", "bank_account:C3", "bank_account:G", "bank_account:M0", "bank_account:PT"]


def test_structuring():
    r = structuring(money_view(), thresholds=(50_000, 5_000), margin=0.1, min_count=3, window="7D")
    assert ents(r) == ["bank_account:Q"]
    assert r.iloc[0]["edge_ids"] == (200, 201, 202)
    assert r.iloc[0]["metrics"]["threshold"] == 5000
    assert structuring(money_view(), window="2D").empty


def test_restrict_to_ids():
    r = fan_in(money_view(), min_counterparties=5, window="7D", ids=["bank_account:SHOP"])
    assert ents(r) == ["bank_account:SHOP"]
