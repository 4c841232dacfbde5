"""Chain traversal on a small hand-built chain, with exact expected answers."""

import pandas as pd
import pytest

from chaingraph.exc import AmbiguousReference, UnknownReference
from chaingraph.trace import trace
from chaingraph.view import MemoryView

EDGES = [
    ("contacted_by", "case:C1", "phone:13800000000"),
    ("registered_at", "phone:13800000000", "outlet:O1"),
    ("paid_to", "case:C1", "bank_account:A"),
    ("supplied", "im_account:dealer", "bank_account:A"),
    ("supplied", "person:F", "im_account:dealer"),
    ("transfer", "bank_account:A", "bank_account:B"),
    ("holds", "person:H", "bank_account:A"),
    ("holds", "person:H", "bank_account:A2"),
]


def make_view(extra=()):
    e = pd.DataFrame(list(EDGES) + list(extra), columns=["kind", "source", "target"])
    e.insert(0, "id", range(1, len(e) + 1))
    e["time"] = pd.NaT
    ids = sorted(set(e["source"]) | set(e["target"]))
    n = pd.DataFrame({"id": ids, "kind": [i.split(":")[0] for i in ids], "key": [i.split(":")[1] for i in ids]})
    return MemoryView(n, e)


def reached(r):
    return {row.id: (row.hops, row.pivots) for row in r.nodes.itertuples()}


def test_upstream_from_case_to_dealer_through_pivot():
    r = trace(make_view(), "case:C1", direction="upstream", hops=4, max_pivots=2)
    assert reached(r) == {
        "case:C1": (0, 0), "phone:13800000000": (1, 0), "bank_account:A": (1, 1),
        "outlet:O1": (2, 0), "im_account:dealer": (2, 1), "person:H": (2, 2), "person:F": (3, 1),
    }
    assert r.paths_to("person:F") == [[3, 4, 5]]
    steps = dict(zip(r.edges["id"], r.edges["step"]))
    assert steps == {1: "chain", 3: "pivot", 2: "chain", 4: "chain", 7: "pivot", 5: "chain"}
    j = r.to_json()
    assert {"kind": "im_account", "key": "dealer"}.items() <= j["nodes"][4].items()
    assert set(j["edges"][0]) >= {"kind", "source", "target"}
    g = r.subgraph()
    assert g.nodes["person:F"]["hops"] == 3 and g.nodes["person:F"]["kind"] == "person"
    assert g.has_edge("im_account:dealer", "bank_account:A", 4)


def test_pivot_budget_respected():
    assert set(reached(trace(make_view(), "case:C1", "upstream", max_pivots=1))) == {
        "case:C1", "phone:13800000000", "bank_account:A", "outlet:O1", "im_account:dealer", "person:F"}
    assert set(reached(trace(make_view(), "case:C1", "upstream", max_pivots=0))) == {
        "case:C1", "phone:13800000000", "outlet:O1"}


def test_downstream_kinds_and_hops():
    r = trace(make_view(), "case:C1", direction="downstream", hops=3)
    assert reached(r) == {
        "case:C1": (0, 0), "bank_account:A": (1, 0), "phone:13800000000": (1, 1),
        "bank_account:B": (2, 0), "person:H": (2, 1), "bank_account:A2": (3, 2),
    }
    r = trace(make_view(), "case:C1", direction="downstream", hops=3, kinds=["bank_account"])
    assert list(r.nodes["id"]) == ["case:C1", "bank_account:A", "bank_account:B", "bank_account:A2"]
    r = trace(make_view(), "case:C1", direction="downstream", hops=1)
    assert set(reached(r)) == {"case:C1", "bank_account:A", "phone:13800000000"}


def test_both_directions_and_time_bounds():
    r = trace(make_view(), "bank_account:A", direction="both", hops=1, max_pivots=0)
    d = dict(zip(r.nodes["id"], r.nodes["direction"]))
    assert d == {"bank_account:A": "start", "im_account:dealer": "upstream", "case:C1": "upstream",
                 "bank_account:B": "downstream"}
    v = make_view()
    v._edges.loc[5, "time"] = pd.Timestamp("2024-01-01", tz="UTC")    # the transfer A -> B
    r = trace(v, "bank_account:A", hops=1, max_pivots=0, since="2024-02-01")
    assert set(reached(r)) == {"bank_account:A"}


def test_reference_errors_list_candidates():
    v = make_view([("supplied", "im_account:13800000000", "bank_account:B")])
    with pytest.raises(AmbiguousReference) as e:
        trace(v, "13800000000")
    assert set(e.value.candidates) == {"phone:13800000000", "im_account:13800000000"}
    with pytest.raises(UnknownReference):
        trace(v, "bank_account:999999")
    assert set(reached(trace(v, "phone:13800000000", "upstream", hops=1, max_pivots=0))) == {"phone:13800000000", "outlet:O1"}


def test_cli_trace_flow_path_json(tmp_path, capsys):
    import json

    from chaingraph.cli import main
    from chaingraph.store import Store, empty_tables

    v = make_view()
    store = Store.open(tmp_path / "s", create=True)
    tables = empty_tables(store.schema)
    tables.nodes = pd.concat([tables.nodes, v.nodes()], ignore_index=True)
    e = v.all_edges().copy()
    e["amount"] = [None] * 5 + [100.0, None, None]
    e["time"] = [pd.NaT] * 5 + [pd.Timestamp("2024-03-01", tz="UTC"), pd.NaT, pd.NaT]
    e["seen_by"] = ""
    tables.edges = pd.concat([tables.edges, e], ignore_index=True)
    store.save(tables)
    assert main(["trace", "--store", str(tmp_path / "s"), "--from", "case:C1", "--direction", "upstream",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {(n["kind"], n["key"], n["hops"]) for n in out["nodes"]} >= {("im_account", "dealer", 2)}
    assert {"kind", "source", "target"} <= set(out["edges"][0])
    assert main(["flow", "--store", str(tmp_path / "s"), "--from", "bank_account:A", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(f["key"], f["amount"]) for f in out["frontier"]] == [("B", 100.0)]
    assert main(["path", "--store", str(tmp_path / "s"), "case:C1", "person:F", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["paths"][0]["length"] == 3
    assert main(["trace", "--store", str(tmp_path / "s"), "--from", "bank_account:nope"]) == 2
    assert "error" in capsys.readouterr().err
    # the terminal table: the first --limit rows, and how many more on stderr
    assert main(["trace", "--store", str(tmp_path / "s"), "--from", "case:C1", "--direction", "upstream"]) == 0
    whole = capsys.readouterr().out.splitlines()
    assert len(whole) > 3
    assert main(["trace", "--store", str(tmp_path / "s"), "--from", "case:C1", "--direction", "upstream",
                 "--limit", "2"]) == 0
    got = capsys.readouterr()
    cells = [line.split() for line in got.out.splitlines()]   # (columns as wide as the rows shown)
    assert cells == [line.split() for line in whole[:3]] and f"{len(whole) - 3} more rows of {len(whole) - 1}" in got.err
