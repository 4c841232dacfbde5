"""Shared-identifier clusters and card bursts on a small hand-built graph."""

import pandas as pd
import pytest

from chaingraph.links import card_bursts, share_weight, shared_devices, shared_holders, shared_identifiers, shared_phones
from chaingraph.view import MemoryView

T0 = pd.Timestamp("2024-03-01", tz="UTC")


def graph(nodes, edges):
    """nodes: {id: {prop: value}}; edges: [(id, kind, source, target, {prop: value})]."""
    n = pd.DataFrame([{"id": i, "kind": i.partition(":")[0], "key": i.partition(":")[2], **p}
                      for i, p in nodes.items()])
    e = pd.DataFrame([{"id": i, "kind": k, "source": s, "target": t, "time": pd.NaT, "amount": float("nan"),
                       **p} for i, k, s, t, p in edges])
    e["time"] = pd.to_datetime(e["time"], utc=True)
    return MemoryView(n, e)


def world():
    nodes = {}
    edges = []
    eid = iter(range(1, 10_000))
    # farmer P1: three cards opened within four days, plus a later one
    nodes["person:P1"] = {}
    for i, day in enumerate([0, 1, 3, 200]):
        c = f"bank_account:F{i}"
        nodes[c] = {"opened": T0 + pd.Timedelta(days=day)}
        edges.append((next(eid), "holds", "person:P1", c, {}))
    # legitimate person P2: five cards at five banks over years
    nodes["person:P2"] = {}
    for i in range(5):
        c = f"bank_account:L{i}"
        nodes[c] = {"opened": T0 + pd.Timedelta(days=400 * i)}
        edges.append((next(eid), "holds", "person:P2", c, {}))
    # device D1 behind three accounts; NAT IP behind 100 accounts
    nodes["device:D1"] = {}
    for c in ("bank_account:F0", "bank_account:F1", "bank_account:X1"):
        nodes.setdefault(c, {})
        edges.append((next(eid), "logged_in_from", c, "device:D1", {}))
    nodes["ip:10.0.0.1"] = {}
    for i in range(100):
        c = f"bank_account:N{i}"
        nodes[c] = {}
        edges.append((next(eid), "logged_in_from", c, "ip:10.0.0.1", {}))
    # phone bound to two accounts
    nodes["phone:13800000001"] = {"activated": T0}
    for c in ("bank_account:F0", "bank_account:X1"):
        edges.append((next(eid), "bound_to", c, "phone:13800000001", {}))
    # outlet O1 registered three SIMs within two days
    nodes["outlet:O1"] = {}
    for i in range(3):
        ph = f"phone:1390000000{i}"
        nodes[ph] = {"activated": T0 + pd.Timedelta(hours=12 * i)}
        edges.append((next(eid), "registered_at", ph, "outlet:O1", {}))
    return graph(nodes, edges)


def test_shared_identifiers_exact():
    v = world()
    c = shared_identifiers(v)
    got = {r.identifier: (r.members, r.count, r.link) for r in c.itertuples()}
    assert set(got) == {"person:P1", "person:P2", "device:D1", "phone:13800000001"}  # NAT IP cut by max_share
    assert got["device:D1"] == (("bank_account:F0", "bank_account:F1", "bank_account:X1"), 3, "logged_in_from")
    assert got["phone:13800000001"][1] == 2
    row = c[c["identifier"] == "device:D1"].iloc[0]
    assert row["edge_ids"] == (10, 11, 12)
    assert row["weight"] == pytest.approx(share_weight(3))
    # sorted by weight (fewer members first), then id
    assert list(c["identifier"]) == ["phone:13800000001", "device:D1", "person:P1", "person:P2"]


def test_nat_kept_with_higher_max_share_but_down_weighted():
    c = shared_devices(world(), max_share=None)
    nat = c[c["identifier"] == "ip:10.0.0.1"].iloc[0]
    dev = c[c["identifier"] == "device:D1"].iloc[0]
    assert nat["count"] == 100 and nat["weight"] < dev["weight"] / 3


def test_shared_phones_and_holders():
    assert list(shared_phones(world())["identifier"]) == ["phone:13800000001"]
    h = shared_holders(world(), member_kinds=["bank_account"])
    assert list(h["identifier"]) == ["person:P1", "person:P2"]
    assert h.iloc[0]["count"] == 4


def test_card_bursts_holder_and_outlet():
    b = card_bursts(world(), window="7D", min_cards=3)
    assert list(b["identifier"]) == ["outlet:O1", "person:P1"]
    p1 = b[b["identifier"] == "person:P1"].iloc[0]
    assert p1["members"] == ("bank_account:F0", "bank_account:F1", "bank_account:F2")
    assert p1["start"] == T0 and p1["end"] == T0 + pd.Timedelta(days=3)
    assert p1["degree"] == 4 and p1["edge_ids"] == (1, 2, 3)
    o1 = b[b["identifier"] == "outlet:O1"].iloc[0]
    assert o1["count"] == 3 and o1["link"] == "registered_at"


def test_card_bursts_window_excludes_slow_opener():
    b = card_bursts(world(), window="2D", min_cards=3)
    assert list(b["identifier"]) == ["outlet:O1"]  # P1's third card came on day 3


def test_bad_link_spec():
    with pytest.raises(ValueError):
        shared_identifiers(world(), {"holds": "middle"})
