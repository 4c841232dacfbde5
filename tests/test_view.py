"""MemoryView: edge slices, per-node time ranges for money edges, statements."""

import pandas as pd
import pytest

from chaingraph.view import MemoryView

T = pd.Timestamp("2024-03-01", tz="UTC")


def view():
    ids = ["bank_account:A", "bank_account:B", "bank_account:C", "person:H"]
    n = pd.DataFrame({"id": ids, "kind": [i.split(":")[0] for i in ids], "key": [i.split(":")[1] for i in ids]})
    e = pd.DataFrame({
        "id": [1, 2, 3, 4, 5],
        "kind": ["transfer", "transfer", "transfer", "holds", "transfer"],
        "source": ["bank_account:A", "bank_account:A", "bank_account:B", "person:H", "bank_account:A"],
        "target": ["bank_account:B", "bank_account:C", "bank_account:C", "bank_account:A", "bank_account:C"],
        "time": [T, T + pd.Timedelta("1h"), T + pd.Timedelta("2h"), pd.NaT, pd.NaT],
        "amount": [10.0, 20.0, 30.0, None, 5.0],
        "seen_by": ["source", "source", "target", "", "both"],
    })
    return MemoryView(n, e)


def test_edges_directions_and_bounds():
    v = view()
    assert list(v.edges(["bank_account:A"], "out")["id"]) == [5, 1, 2]
    assert sorted(v.edges(["bank_account:A"], "both")["id"]) == [1, 2, 4, 5]
    assert list(v.edges(["bank_account:A"], "out", since=T + pd.Timedelta("30min"))["id"]) == [2]
    assert list(v.edges(["nope"], "out")["id"]) == []


def test_columns_asked_for_are_the_full_rows_cut():
    v = view()
    ids = ["person:H", "bank_account:B", "nope", "bank_account:A"]
    full = v.nodes(ids)
    for _ in range(2):  # (the second call uses the narrow table kept by the first)
        pd.testing.assert_frame_equal(v.nodes(ids, columns=("key", "absent")), full[["id", "key"]])
    pd.testing.assert_frame_equal(v.nodes(ids, kinds=["bank_account"], columns=("key",)),
                                  v.nodes(ids, kinds=["bank_account"])[["id", "key"]])
    pd.testing.assert_frame_equal(v.nodes(columns=("kind",)), v.nodes()[["id", "kind"]])
    e = v.edges(["bank_account:A"], "both", kinds=["transfer"], since=T)
    pd.testing.assert_frame_equal(v.edges(["bank_account:A"], "both", kinds=["transfer"], since=T, columns=("amount", "time")),
                                  e[["id", "amount", "time"]])


def test_money_edges_per_node_ranges():
    v = view()
    m = v.money_edges(["bank_account:A", "bank_account:B"], "out",
                      since=[T + pd.Timedelta("30min"), T], until=[None, T + pd.Timedelta("1h")])
    assert sorted(m["id"]) == [2]
    m = v.money_edges(["bank_account:A"], "out")
    assert sorted(m["id"]) == [1, 2, 5]                  # no bound: untimed edge kept
    m = v.money_edges(["bank_account:C"], "in", since=T, until=T + pd.Timedelta("2h"))
    assert sorted(m["id"]) == [2, 3]
    assert set(m.columns) >= {"id", "kind", "source", "target", "time", "amount", "seen_by"}
    assert list(m.sort_values("id")["source"].astype(str)) == ["bank_account:A", "bank_account:B"]


def test_has_statement():
    s = view().has_statement(["bank_account:A", "bank_account:B", "bank_account:C", "person:H", "x"])
    assert s.to_dict() == {"bank_account:A": True, "bank_account:B": False, "bank_account:C": True,
                           "person:H": False, "x": False}


def test_money_arrays_match_money_edges_and_take_codes():
    v = view()
    a = v.money_arrays(["bank_account:A", "bank_account:B"], "out",
                       since=[T + pd.Timedelta("30min"), T], until=[None, T + pd.Timedelta("1h")])
    assert a["id"].tolist() == [2] and a["slot"].tolist() == [0] and a["other"].tolist() == ["bank_account:C"]
    codes = v.codes(["bank_account:C", "nope"])
    assert codes[1] == -1
    a = v.money_arrays(codes[:1], "in", since=T, until=T + pd.Timedelta("2h"))
    assert sorted(a["id"].tolist()) == [2, 3]
    assert sorted(v.ids_of(a["other"]).tolist()) == ["bank_account:A", "bank_account:B"]
    assert a["time"].dtype == "int64" and a["amount"].tolist() == sorted(a["amount"].tolist())


def test_busy_node_ranges_match_a_plain_filter():
    # a node with more money edges than are scanned: its range is binary-searched in its rows
    import numpy as np

    rng = np.random.default_rng(0)
    k = 200
    t = pd.to_datetime(rng.integers(0, 10**6, k) * 10**9 + rng.integers(0, 10**9, k), utc=True)
    t = pd.Series(t).where(rng.random(k) > 0.1)                       # some untimed edges
    ids = ["bank_account:A"] + [f"bank_account:B{i}" for i in range(k)]
    n = pd.DataFrame({"id": ids, "kind": "bank_account", "key": ids})
    e = pd.DataFrame({"id": np.arange(k), "kind": "transfer", "source": "bank_account:A", "target": ids[1:],
                      "time": t, "amount": 1.0, "seen_by": "source"})
    v = MemoryView(n, e)
    for lo, hi in [(None, None), (2 * 10**5, None), (None, 7 * 10**5), (3 * 10**5, 3 * 10**5 + 500), (10**7, None)]:
        since = None if lo is None else pd.Timestamp(lo * 10**9, tz="UTC")
        until = None if hi is None else pd.Timestamp(hi * 10**9, tz="UTC")
        want = e
        if since is not None or until is not None:
            want = e[e["time"].notna()]
            want = want[(want["time"] >= since) if since is not None else want["time"].notna()]
            want = want[(want["time"] <= until) if until is not None else want["time"].notna()]
        got = v.money_edges(["bank_account:A"], "out", since=since, until=until)
        assert sorted(got["id"]) == sorted(want["id"]), (lo, hi)


@pytest.mark.parametrize("segments", [3, 500])
def test_segment_search_is_numpys_searchsorted(segments):
    # a few busy accounts are searched one by one, many together: both give numpy's answer
    import numpy as np

    from chaingraph.view import _FEW, _search

    assert (segments <= _FEW) == (segments == 3)
    rng = np.random.default_rng(segments)
    lengths = rng.integers(0, 300, segments)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    t = np.concatenate([np.sort(rng.integers(0, 1000, n)) for n in lengths]).astype(np.int64)
    x = rng.integers(-10, 1010, segments)
    x[::7] = t[np.minimum(starts[::7], len(t) - 1)]      # ties at a segment's first value
    for side in ("left", "right"):
        want = [a + np.searchsorted(t[a:b], v, side) for a, b, v in zip(starts, ends, x)]
        assert _search(t, starts, ends, x, side).tolist() == want


def test_categorical_ends_and_ends_that_are_not_nodes():
    ids = ["bank_account:A", "bank_account:B"]
    n = pd.DataFrame({"id": ids, "kind": "bank_account", "key": ["A", "B"]})
    cat = pd.CategoricalDtype(["bank_account:B", "bank_account:X", "bank_account:A"])
    e = pd.DataFrame({"id": [1, 2], "kind": "transfer",
                      "source": pd.Series(["bank_account:A", "bank_account:X"], dtype=cat),
                      "target": pd.Series(["bank_account:B", "bank_account:A"], dtype=cat),
                      "time": [T, T], "amount": [1.0, 2.0]})
    v = MemoryView(n, e)
    assert v._src.tolist() == [0, -1] and v._dst.tolist() == [1, 0]
    assert list(v.edges(["bank_account:A"], "both")["id"]) == [1, 2]   # the edge row is kept as it is
    assert list(v.money_edges(["bank_account:A"], "in")["id"]) == []     # not between two nodes
    assert v.build_indexes().has_statement(["bank_account:A"]).tolist() == [True]
