"""flow.reach on hand-built graphs (exact answers), and its compiled kernel against plain code."""

import numpy as np
import pandas as pd
import pytest

from chaingraph.flow import reach
from chaingraph.view import MemoryView

T = pd.Timestamp("2024-03-01 10:00", tz="UTC")
H72 = pd.Timedelta("72h")


def at(minutes=0, **kw):
    return T + pd.Timedelta(minutes=minutes, **kw)


def make_view(transfers):
    """transfers: (source key, target key, time); every account a bank_account."""
    e = pd.DataFrame(transfers, columns=["source", "target", "time"])
    e["source"] = "bank_account:" + e["source"]
    e["target"] = "bank_account:" + e["target"]
    e.insert(0, "id", range(1, len(e) + 1))
    e["kind"], e["amount"], e["seen_by"] = "transfer", 1.0, "both"
    e["time"] = pd.to_datetime(e["time"], utc=True)
    ids = sorted(set(e["source"]) | set(e["target"]))
    n = pd.DataFrame({"id": ids, "kind": "bank_account", "key": [i.split(":")[1] for i in ids]})
    return MemoryView(n, e)


class Plain:
    """The same graph behind only the DataFrame methods of a View: reach's generic path."""

    def __init__(self, v):
        self.schema, self.resolve, self.money_edges = v.schema, v.resolve, v.money_edges


def hops(r):
    return {i.split(":")[1]: h for i, h in zip(r["id"], r["hop"])}


def check(v, start, **kw):
    """reach() on the in-memory view (compiled kernel) and on the generic path: same rows
    (the generic path numbers accounts as it meets them: its order within a hop differs)."""
    r = reach(v, "bank_account:" + start, **kw)
    g = reach(Plain(v), "bank_account:" + start, **kw)
    assert r["hop"].is_monotonic_increasing and g["hop"].is_monotonic_increasing
    rows = lambda df: sorted(map(tuple, df.astype({"id": object}).values.tolist()), key=str)  # noqa: E731
    assert rows(r) == rows(g)
    return r


def test_time_order_split_merge_and_cycle():
    v = make_view([("A", "B", at(0)), ("A", "C", at(1)),           # split
                   ("B", "X", at(-5)),                              # before the money came: not followed
                   ("B", "D", at(10)), ("C", "D", at(5)),           # merge: D first reached at 5
                   ("D", "B", at(20)), ("B", "E", at(30)),          # cycle back to B, then on
                   ("E", "F", at(40))])
    r = check(v, "A")
    assert r["id"].astype(object).tolist() == ["bank_account:" + k for k in "ABCDEF"]   # by hop, then node
    assert hops(r) == {"A": 0, "B": 1, "C": 1, "D": 2, "E": 2, "F": 3}
    first = dict(zip(r["id"].astype(object), r["first"]))
    assert first["bank_account:D"] == at(5)          # the earliest arrival at its first hop
    assert pd.isna(first["bank_account:A"])
    assert hops(check(v, "A", hops=2)) == {"A": 0, "B": 1, "C": 1, "D": 2, "E": 2}
    assert hops(check(v, "A", hops=0)) == {"A": 0}
    # since/until bound the start's own transfers
    assert hops(check(v, "A", since=at(1), until=at(1))) == {"A": 0, "C": 1, "D": 2, "B": 3, "E": 4, "F": 5}


def test_each_transfer_is_followed_once_at_the_first_hop_reaching_it():
    # B is reached at hop 1 (A->B) and again at hop 3 (through C, D); B->E is followed at
    # hop 2 from the first arrival, so E is at hop 2 and B->E is not followed again
    v = make_view([("A", "B", at(0)), ("A", "C", at(0)), ("C", "D", at(1)), ("D", "B", at(2)),
                   ("B", "E", at(3)), ("E", "G", at(4))])
    assert hops(check(v, "A")) == {"A": 0, "B": 1, "C": 1, "D": 2, "E": 2, "G": 3}


def test_window_boundary_is_inclusive():
    v = make_view([("A", "B", at(0)), ("B", "C", at(0) + H72), ("B", "D", at(0) + H72 + pd.Timedelta(1, "ns")),
                   ("B", "Z", at(0))])                      # at the same instant as the arrival: followed
    assert hops(check(v, "A")) == {"A": 0, "B": 1, "C": 2, "Z": 2}
    assert hops(check(v, "A", window="0s")) == {"A": 0, "B": 1, "Z": 2}


def test_windows_less_than_a_second_apart_are_merged():
    # D receives at x (from B) and again at x + 72h + gap (from C, who received two hours
    # after B); D -> E leaves between the two windows
    def world(gap_s, out_s):
        x = at(1)
        return make_view([("A", "B", at(0)), ("A", "C", at(120)),
                          ("B", "D", x), ("C", "D", x + H72 + pd.Timedelta(seconds=gap_s)),
                          ("D", "E", x + H72 + pd.Timedelta(seconds=out_s))])

    assert "E" in hops(check(world(0.5, 0.25), "A"))     # windows merged: the gap is covered
    assert "E" not in hops(check(world(3, 1.5), "A"))     # 3 s apart: two windows, E in neither
    assert "E" in hops(check(world(3, 3), "A"))           # at the second arrival


def test_transfers_without_a_time():
    v = make_view([("A", "B", pd.NaT), ("B", "C", pd.NaT), ("A", "D", at(0)), ("D", "E", at(1))])
    r = check(v, "A")
    assert hops(r) == {"A": 0, "B": 1, "D": 1, "E": 2}   # B reached, its money not followed
    assert pd.isna(dict(zip(r["id"].astype(object), r["first"]))["bank_account:B"])
    assert hops(check(v, "A", since=at(-60))) == {"A": 0, "D": 1, "E": 2}


def literal_reach(src, dst, t, start, lo, hi, w, n_hops):
    """The definition, written plainly: a window per arrival, each transfer once."""
    out = {}
    for s, d, tt in zip(src, dst, t):
        out.setdefault(s, []).append((tt, d))
    frontier, reached, used = {start: [(lo, hi)]}, {start: (0, None)}, set()
    for h in range(1, n_hops + 1):
        new = {}
        for u, spans in frontier.items():
            for k, (tt, d) in enumerate(out.get(u, [])):
                if (u, k) in used or not any(a <= tt <= b for a, b in spans):
                    continue
                used.add((u, k))
                new.setdefault(d, []).append((tt, tt + w))
        for d, spans in new.items():
            if d not in reached:
                reached[d] = (h, min(a for a, _ in spans))
        frontier = new
        if not frontier:
            break
    return reached


@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_matches_the_definition_on_a_random_graph(seed):
    # 3000 accounts (radix sort in two passes), hubs with hundreds of transfers (binary
    # search, many arrivals per hop), times in whole minutes (windows merge only when they
    # overlap, as in the definition)
    rng = np.random.default_rng(seed)
    n, m = 3000, 30000
    hubs = rng.choice(n, 10, replace=False)
    src = np.where(rng.random(m) < 0.2, hubs[rng.integers(0, 10, m)], rng.integers(0, n, m))
    dst = np.where(rng.random(m) < 0.2, hubs[rng.integers(0, 10, m)], rng.integers(0, n, m))
    dst = np.where(src == dst, (dst + 1) % n, dst)
    minutes = rng.integers(0, 3 * 24 * 60, m)
    keys = np.array([f"K{i:05d}" for i in range(n)], dtype=object)
    v = make_view(list(zip(keys[src], keys[dst], [at(int(x)) for x in minutes])))
    w = 6 * 3600 * 10**9
    tns = np.array([at(int(x)).value for x in minutes])
    for start in rng.choice(src, 8, replace=False):
        t0 = int(tns[src == start].min())
        for since, until, n_hops in ((t0, t0 + w, 4), (t0, t0, 6), (None, None, 2)):
            kw = {"since": None if since is None else pd.Timestamp(since, tz="UTC"),
                  "until": None if until is None else pd.Timestamp(until, tz="UTC")}
            r = check(v, keys[start], window="6h", hops=n_hops, **kw)
            want = literal_reach(src, dst, tns, start, since if since is not None else -2**63,
                                 until if until is not None else 2**63 - 1, w, n_hops)
            got = {int(i.split(":K")[1]): (h, None if pd.isna(f) else f.value)
                   for i, h, f in zip(r["id"].astype(object), r["hop"], r["first"])}
            assert got == want


def test_marks_are_reused_across_many_calls():
    v = make_view([("A", "B", at(0)), ("B", "C", at(1)), ("C", "A", at(2)), ("A", "D", at(3))])
    want = hops(reach(v, "bank_account:A"))
    for _ in range(600):   # the reached-node bitset and the row marks are reused by every call
        assert hops(reach(v, "bank_account:A")) == want
        assert hops(reach(v, "bank_account:B", hops=1)) == {"B": 0, "C": 1}


def test_result_is_an_ordinary_dataframe():
    # reach() builds its DataFrame from the columns through pandas internals when it can
    # (flow._column_manager): the same frame as the constructor's, usable as any other
    from chaingraph import flow
    v = make_view([("A", "B", at(0)), ("B", "C", at(1)), ("B", "D", at(2))])
    r = reach(v, "bank_account:A", since=T, until=T + H72)
    assert flow._column_manager is not None   # the fast path exists on this pandas
    want = pd.DataFrame({"id": r["id"].astype(object).to_numpy(), "hop": np.array([0, 1, 2, 2]),
                         "first": [pd.NaT, at(0), at(1), at(2)]})
    want["id"] = pd.Categorical(want["id"], categories=r["id"].cat.categories)
    want["first"] = pd.to_datetime(want["first"], utc=True).dt.as_unit("ns")
    pd.testing.assert_frame_equal(r, want)
    assert isinstance(r.index, pd.RangeIndex) and list(r.columns) == ["id", "hop", "first"]
    r["hop"] += 1
    assert r["hop"].tolist() == [1, 2, 3, 3] and len(pd.concat([r, r[r["hop"] > 2]])) == 6


@pytest.mark.parametrize("since, until", [
    (T - pd.Timedelta("3650D"), T - pd.Timedelta("1D")),     # before every transfer
    (T + pd.Timedelta("3650D"), None),                          # after every transfer
    (T - pd.Timedelta("3650D"), T + pd.Timedelta("36500D")),    # around all of them
    (None, T + pd.Timedelta("1min")),
])
def test_windows_at_and_beyond_the_ends_of_the_data(since, until):
    # the kernel skips windows by time buckets spanning the data (first to last transfer):
    # windows outside it, or reaching past its ends, still get exactly the transfers in them
    ts = [at(0), at(1), at(2), at(3, days=40), at(4, days=80)]
    v = make_view([("A", "B", ts[0]), ("B", "C", ts[1]), ("A", "D", ts[2]), ("D", "E", ts[3]),
                   ("A", "F", ts[4]), ("F", "A", ts[4])])
    check(v, "A", since=since, until=until, window="100D")
    check(v, "A", since=since, until=until, window="1h")
