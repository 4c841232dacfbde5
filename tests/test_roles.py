"""Role rules on a small hand-built chain, each with a trap that must stay unlabelled."""

import numpy as np
import pandas as pd
import pytest

from chaingraph.roles import roles
from chaingraph.view import MemoryView

T0 = pd.Timestamp("2024-03-01 08:00", tz="UTC")
MIN = pd.Timedelta(minutes=1)
DAY = pd.Timedelta(days=1)


def chain_world():
    e, nodes = [], {}
    nid = iter(range(1, 100_000))

    def add(kind, s, t, when=None, amount=np.nan, **p):
        i = next(nid)
        e.append({"id": i, "kind": kind, "source": s, "target": t,
                  "time": T0 + when if when is not None else pd.NaT, "amount": amount, **p})
        return i

    # ring a: case C1 pays a0, split to a1..a3, gathered at S, out to a wallet
    add("paid_to", "case:C1", "bank_account:a0", 0 * MIN, 10_000.0)
    for i in (1, 2, 3):
        add("transfer", "bank_account:a0", f"bank_account:a{i}", 10 * MIN, 3000.0)
        add("transfer", f"bank_account:a{i}", "bank_account:S", 30 * MIN, 2900.0)
    add("transfer", "bank_account:S", "wallet:w1", 60 * MIN, 8500.0)
    # trap: a shop fanning in from 30 customers gets 50 from a1
    add("transfer", "bank_account:a1", "bank_account:SHOP", 20 * MIN, 50.0)
    for i in range(30):
        add("transfer", f"bank_account:cust{i:02d}", "bank_account:SHOP", i * 60 * MIN, 200.0)
    # ring b: case C2 pays b0 -> b1 -> cash
    add("paid_to", "case:C2", "bank_account:b0", 0 * MIN, 10_000.0)
    add("transfer", "bank_account:b0", "bank_account:b1", 15 * MIN, 9900.0)
    add("transfer", "bank_account:b1", "bank_account:b2", 20 * MIN, 100.0)
    add("cash_out", "bank_account:b1", "cash_point:atm", 40 * MIN, 9800.0)
    # trap: payroll account fanning out to 250 employees
    add("transfer", "bank_account:company", "bank_account:payroll", -DAY, 2_000_000.0)
    for i in range(250):
        add("transfer", "bank_account:payroll", f"bank_account:emp{i:03d}", -DAY + 10 * MIN, 8000.0)
    # trap: NAT IP shared by 100 employees and a0
    for i in range(100):
        add("logged_in_from", f"bank_account:emp{i:03d}", "ip:10.0.0.1")
    add("logged_in_from", "bank_account:a0", "ip:10.0.0.1")
    # dealer: cards a0 and b0, buyers A and B; buyer A also bought a0 (not a dealer)
    add("supplied", "im_account:dealer", "bank_account:a0", -5 * DAY)
    add("supplied", "im_account:dealer", "bank_account:b0", -5 * DAY)
    add("supplied", "im_account:dealer", "im_account:buyerA", -5 * DAY)
    add("supplied", "im_account:dealer", "im_account:buyerB", -5 * DAY)
    add("supplied", "im_account:buyerA", "bank_account:a0", -5 * DAY)
    # farmer: a0, f1, f2 opened within three days (a0 sold); three SIMs
    for c, d in (("bank_account:a0", -10), ("bank_account:f1", -9), ("bank_account:f2", -8)):
        nodes[c] = {"opened": T0 + d * DAY}
        add("holds", "person:farmer", c)
    # trap: legitimate person with cards at five banks opened over years
    for i in range(5):
        nodes[f"bank_account:L{i}"] = {"opened": T0 - (2000 - 400 * i) * DAY}
        add("holds", "person:legit", f"bank_account:L{i}")
    add("transfer", "bank_account:L0", "bank_account:SHOP", 2 * DAY, 200.0)
    # trap: three cards opened in a burst but never sold nor used
    for i in range(3):
        nodes[f"bank_account:B{i}"] = {"opened": T0 - (30 - i) * DAY}
        add("holds", "person:bursty", f"bank_account:B{i}")
    # corrupt outlet: four SIMs, three of them the farmer's
    for i in range(4):
        add("registered_at", f"phone:1380000000{i}", "outlet:bad", -20 * DAY)
    for i in range(3):
        add("holds", "person:farmer", f"phone:1380000000{i}")
    # trap: busy outlet registering 100 SIMs, three of which called victims
    for i in range(100):
        add("registered_at", f"phone:139000{i:05d}", "outlet:busy", -20 * DAY + i * MIN)
    for i in range(3):
        add("contacted_by", "case:C1" if i < 2 else "case:C2", f"phone:139000{i:05d}", 0 * MIN)
    # technical provider: hosts a.com (via its IP) and b.com, named by cases of two rings
    add("contacted_by", "case:C1", "domain:a.com", 0 * MIN)
    add("contacted_by", "case:C2", "domain:b.com", 0 * MIN)
    add("resolves_to", "domain:a.com", "ip:1.1.1.1")
    add("hosted_by", "ip:1.1.1.1", "organisation:host1")
    add("hosted_by", "domain:b.com", "organisation:host1")
    add("hosted_by", "domain:a.com", "organisation:host2")   # trap: one ring only
    edges = pd.DataFrame(e)
    edges["time"] = pd.to_datetime(edges["time"], utc=True)
    edges["seen_by"] = "both"
    ids = sorted(set(edges["source"]) | set(edges["target"]))
    n = pd.DataFrame([{"id": i, "kind": i.partition(":")[0], "key": i.partition(":")[2], **nodes.get(i, {})}
                      for i in ids])
    n["opened"] = pd.to_datetime(n["opened"], utc=True)
    return MemoryView(n, edges)


@pytest.fixture(scope="module")
def labelled():
    return roles(chain_world())


def who(r, role):
    return sorted(r.loc[r["role"] == role, "entity"].unique())


def test_money_roles(labelled):
    assert who(labelled, "first_level") == ["bank_account:a0", "bank_account:b0"]
    assert who(labelled, "second_level") == ["bank_account:a1", "bank_account:a2", "bank_account:a3",
                                             "bank_account:b1"]
    assert who(labelled, "third_level") == ["bank_account:S", "bank_account:b2"]  # b2: all its money is C2's
    assert who(labelled, "settlement") == ["bank_account:S"]
    assert who(labelled, "exit") == ["wallet:w1"]
    assert who(labelled, "cash_out") == ["bank_account:b1"]
    row = labelled[(labelled["role"] == "cash_out")].iloc[0]
    assert row["related"] == ("cash_point:atm",) and len(row["evidence"]) == 1


def test_supply_roles(labelled):
    assert who(labelled, "card_dealer") == ["im_account:dealer"]
    rules = sorted(labelled.loc[labelled["role"] == "card_dealer", "rule"])
    assert rules == ["supplied 2 buyers", "supplied items in 2 rings"]
    assert who(labelled, "card_farmer") == ["person:farmer"]
    assert who(labelled, "corrupt_outlet") == ["outlet:bad"]
    assert who(labelled, "technical_provider") == ["organisation:host1"]


def test_traps_get_no_criminal_role(labelled):
    traps = ["bank_account:SHOP", "bank_account:payroll", "ip:10.0.0.1", "person:legit", "person:bursty",
             "outlet:busy", "organisation:host2"]
    traps += [f"bank_account:emp{i:03d}" for i in range(250)] + [f"bank_account:L{i}" for i in range(5)]
    assert not set(labelled["entity"]) & set(traps)
    # a buyer is no dealer; a cash point gets no money level
    assert set(labelled.loc[labelled["entity"] == "im_account:buyerA", "role"]) <= {"ring_member"}
    assert set(labelled.loc[labelled["entity"] == "cash_point:atm", "role"]) <= {"ring_member"}


def test_ring_members_have_a_case(labelled):
    members = set(who(labelled, "ring_member"))
    assert "bank_account:a1" in members and "bank_account:b0" in members
    assert not any(m.startswith("case:") for m in members)
    assert (labelled["evidence"].map(len) > 0).all()


def test_deterministic(labelled):
    pd.testing.assert_frame_equal(labelled, roles(chain_world()))
