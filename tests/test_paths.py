"""Evidence paths on a small hand-built graph."""

import pandas as pd
import pytest

from chaingraph.exc import ChaingraphError
from chaingraph.paths import paths
from chaingraph.view import MemoryView

EDGES = [
    (1, "bound_to", "bank_account:A", "phone:P"),
    (2, "bound_to", "bank_account:B", "phone:P"),
    (3, "holds", "person:H", "bank_account:A"),
    (4, "holds", "person:H", "bank_account:X"),
    (5, "transfer", "bank_account:X", "bank_account:B"),
    (6, "transfer", "bank_account:X", "bank_account:B"),
    (7, "holds", "person:Z", "bank_account:Q"),
]


def view():
    e = pd.DataFrame(EDGES, columns=["id", "kind", "source", "target"])
    ids = sorted(set(e["source"]) | set(e["target"]))
    n = pd.DataFrame({"id": ids, "kind": [i.split(":")[0] for i in ids], "key": [i.split(":")[1] for i in ids]})
    return MemoryView(n, e)


def test_k_shortest_paths_ignore_direction_and_split_parallel_edges():
    r = paths(view(), "bank_account:A", "bank_account:B", k=3)
    got = [list(g["id"]) for _, g in r.edges.groupby("path")]
    assert got == [[1, 2], [3, 4, 5], [3, 4, 6]]
    j = r.to_json()
    assert j["paths"][0]["nodes"] == ["bank_account:A", "phone:P", "bank_account:B"]
    assert j["paths"][0]["edges"][0]["evidence"] == []      # no store behind a hand-built view
    assert r.subgraph().number_of_edges() == 6


def test_max_hops_and_no_path():
    r = paths(view(), "bank_account:A", "bank_account:B", k=3, max_hops=2)
    assert r.count == 1
    assert paths(view(), "bank_account:A", "bank_account:Q").count == 0
    with pytest.raises(ChaingraphError):
        paths(view(), "bank_account:A", "bank_account:A")
