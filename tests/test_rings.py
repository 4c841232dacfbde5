"""Rings, brokers and dealers across rings on a small hand-built chain graph."""

import numpy as np
import pandas as pd

from chaingraph.rings import dealers_across_rings, ring_centrality, rings
from chaingraph.view import MemoryView

T0 = pd.Timestamp("2024-03-01 08:00", tz="UTC")
H = pd.Timedelta(hours=1)


def world(shuffle_seed=None):
    e = []
    nid = iter(range(1, 100_000))

    def add(kind, s, t, when=None, amount=np.nan):
        e.append((next(nid), kind, s, t, T0 + when if when is not None else pd.NaT, amount))

    for r in ("a", "b"):                                  # two rings of five accounts each
        acc = [f"bank_account:{r}{i}" for i in range(5)]
        add("paid_to", f"case:{r.upper()}1", acc[0], 0 * H, 10_000.0)
        for i in range(5):
            for j in range(i + 1, 5):
                add("transfer", acc[i], acc[j], (i + 1) * H + j * pd.Timedelta(minutes=5), 3000.0)
        for a in acc:
            add("logged_in_from", a, f"device:{r}", None)
    add("supplied", "im_account:dealer", "bank_account:a0", -48 * H)   # one dealer, cards in both rings
    add("supplied", "im_account:dealer", "bank_account:b0", -47 * H)
    for i in range(250):                                  # payroll hub
        add("transfer", "bank_account:payroll", f"bank_account:emp{i:03d}", 0 * H, 8000.0)
    add("transfer", "bank_account:payroll", "bank_account:a4", 0 * H, 8000.0)
    for i in range(100):                                  # NAT IP shared by 100 accounts, two of them ring accounts
        add("logged_in_from", f"bank_account:emp{i:03d}", "ip:10.0.0.1", None)
    add("logged_in_from", "bank_account:a1", "ip:10.0.0.1", None)
    add("logged_in_from", "bank_account:b1", "ip:10.0.0.1", None)
    edges = pd.DataFrame(e, columns=["id", "kind", "source", "target", "time", "amount"])
    edges["time"] = pd.to_datetime(edges["time"], utc=True)
    if shuffle_seed is not None:
        edges = edges.sample(frac=1, random_state=shuffle_seed)
    ids = sorted(set(edges["source"]) | set(edges["target"]))
    nodes = pd.DataFrame({"id": ids, "kind": [i.partition(":")[0] for i in ids]})
    return MemoryView(nodes, edges)


def test_two_rings_and_hubs():
    r = rings(world())
    assert list(r.rings["size"]) == [8, 7]  # dealer joins one ring; size order, then smallest id
    a = set(r.rings.iloc[0]["members"])
    b = set(r.rings.iloc[1]["members"])
    ra = {f"bank_account:a{i}" for i in range(5)} | {"case:A1", "device:a"}
    rb = {f"bank_account:b{i}" for i in range(5)} | {"case:B1", "device:b"}
    assert (ra <= a and rb <= b) or (rb <= a and ra <= b)
    assert "im_account:dealer" in a | b
    assert list(r.hubs["entity"]) == ["bank_account:payroll"]
    assert "ip:10.0.0.1" not in set(r.members["entity"])        # NAT left out by max_share
    assert not any(x.startswith("bank_account:emp") for x in r.members["entity"])
    assert list(r.rings["n_cases"]) == [1, 1]


def test_ring_ids_deterministic_across_runs_and_edge_order():
    base = rings(world()).members
    for s in (None, 1, 2, 3):
        other = rings(world(s)).members
        pd.testing.assert_frame_equal(base, other)


def test_broker_and_dealer():
    v = world()
    r = rings(v)
    c = ring_centrality(v, r)
    assert c.iloc[0]["entity"] == "im_account:dealer"
    assert c.iloc[0]["n_rings"] == 2 and c.iloc[0]["participation"] == 0.5
    d = dealers_across_rings(v, r)
    assert list(d["entity"]) == ["im_account:dealer"]
    assert d.iloc[0]["rings"] == (1, 2) and d.iloc[0]["items"] == ("bank_account:a0", "bank_account:b0")
    assert len(d.iloc[0]["edge_ids"]) == 2


def test_custody_and_brokers_keep_rings_apart():
    """A farmer's identity on cards sold to two rings, and a settlement account both rings pay,
    do not merge the rings; the shared account is a broker or joins neither ring's core."""
    e = []
    nid = iter(range(1, 10_000))

    def add(kind, s, t, when=None, amount=np.nan, last=None):
        e.append((next(nid), kind, s, t, T0 + when if when is not None else pd.NaT, amount,
                  T0 + last if last is not None else pd.NaT))

    for r in ("a", "b"):
        acc = [f"bank_account:{r}{i}" for i in range(8)]
        for k in range(2):
            add("paid_to", f"case:{r.upper()}{k}", acc[k], 0 * H, 10_000.0)
        for i in range(8):
            for j in range(i + 1, min(i + 4, 8)):
                add("transfer", acc[i], acc[j], (i + 1) * H, 3000.0)
            add("logged_in_from", acc[i], f"device:{r}", last=10 * H)        # the ring's own device, after the sale
            add("holds", "person:farmer", acc[i])                              # holder of record: the farmer
            add("logged_in_from", acc[i], "device:farm", last=-100 * H)       # farmer opened the card
            add("supplied", "im_account:dealer", acc[i], -50 * H)
        add("supplied", "im_account:dealer", f"im_account:buyer_{r}", -50 * H)
        for i in (6, 7):
            add("transfer", acc[i], "payment_account:settle", 20 * H, 5000.0)
    edges = pd.DataFrame(e, columns=["id", "kind", "source", "target", "time", "amount", "last_seen"])
    edges["time"] = pd.to_datetime(edges["time"], utc=True)
    ids = sorted(set(edges["source"]) | set(edges["target"]))
    v = MemoryView(pd.DataFrame({"id": ids, "kind": [i.partition(":")[0] for i in ids]}), edges)
    r = rings(v)
    ring = r.ring_of([f"bank_account:a{i}" for i in range(8)] + [f"bank_account:b{i}" for i in range(8)])
    assert ring.iloc[:8].nunique() == 1 and ring.iloc[8:].nunique() == 1
    assert ring.iloc[0] != ring.iloc[8] and ring.iloc[0] > 0 and ring.iloc[8] > 0
    assert r.ring_of(["person:farmer"]).iloc[0] not in (ring.iloc[0], ring.iloc[8]) or \
        r.ring_of(["person:farmer"]).iloc[0] == 0
    merged = rings(v, broker_share=None)
    assert set(r.brokers.columns) >= {"entity", "n_rings", "rings"}
    assert len(merged.members) >= len(r.members) - 2


def test_rings_are_kept_per_view_and_parameters(monkeypatch):
    # brokers, dealers and roles each start from the rings: on the in-memory view they are
    # found once per parameters, and each caller gets its own copy
    from chaingraph import rings as rings_module

    want = rings(world()).members               # (another view: its own rings)
    calls = []
    real = rings_module._partition
    monkeypatch.setattr(rings_module, "_partition", lambda *a, **k: calls.append(1) or real(*a, **k))
    v = world()
    first = rings(v)
    n = len(calls)
    assert n > 0
    first.members.loc[:, "ring"] = 99          # the caller's copy: changing it changes nothing kept
    first.community[:] = 99
    again = rings(v)
    assert len(calls) == n                      # not computed again
    pd.testing.assert_frame_equal(again.members, want)
    assert again.community.max() < 99
    ring_centrality(v)
    dealers_across_rings(v)
    assert len(calls) == n
    rings(v, resolution=2.0)                    # other parameters: computed
    assert len(calls) > n
