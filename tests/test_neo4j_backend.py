"""The Neo4j backend: push/sync, and the same answers as the embedded view on a synthetic world.

One world (seed 1, 3000 transfers) is loaded in two steps (two bank statements arrive later),
pushed once per module (first load interrupted and resumed, then the second load synced, then
pushed again), and every parity test reads that database. Tests that need an empty database
(``neo4j_driver`` wipes it) come last in this file.
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from chaingraph.exc import BackendError
from chaingraph.store import Store, Tables, empty_tables
from chaingraph.view import MemoryView

LATER = ("ICBC_中国工商银行_流水_补充导出.csv", "CMB_招商银行_流水_01.csv")
INJECTION = "x'}) DETACH DELETE n //"


# -- the world, loaded in two steps ------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from chaingraph.ingest import load
    from chaingraph.world import generate

    tmp = tmp_path_factory.mktemp("neo4j-world")
    w = generate(tmp / "world", seed=1, n_transfers=3000)
    files = sorted(p for p in w.data_dir.rglob("*") if p.is_file())
    later = [p for p in files if p.name in LATER]
    assert len(later) == 2
    load([p for p in files if p not in later], tmp / "store")
    shutil.copytree(tmp / "store", tmp / "store_a")
    load(later, tmp / "store")
    return SimpleNamespace(first=Store.open(tmp / "store_a"), full=Store.open(tmp / "store"))


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Frames equal; a column the store holds as all-missing ``object`` may come back as ``str``."""
    a, b = a.copy(), b.copy()
    for c in a.columns:
        if c in b.columns and a[c].dtype == object and a[c].isna().all():
            a[c] = a[c].astype(b[c].dtype)
        if c in b.columns and (isinstance(a[c].dtype, pd.CategoricalDtype) or isinstance(b[c].dtype, pd.CategoricalDtype)):
            a[c], b[c] = a[c].astype(object).astype("str"), b[c].astype(object).astype("str")  # ids: categorical on one side
    pd.testing.assert_frame_equal(a, b)


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def pushed(world, neo4j_uri, neo4j_auth):
    import neo4j
    import neo4j_server

    from chaingraph.neo4j import Neo4jView, push

    driver = neo4j.GraphDatabase.driver(neo4j_uri, auth=neo4j_auth)
    neo4j_server.wipe(driver)
    batches = []

    def interrupt(msg):
        if "rows/s" in msg:
            batches.append(msg)
            if len(batches) == 2:
                raise Stop()

    with pytest.raises(Stop):
        push(world.first, driver, batch_size=1000, progress=interrupt)
    resumed = push(world.first, driver, batch_size=1000)
    synced = push(world.full, driver)
    again = push(world.full, driver)
    try:
        yield SimpleNamespace(driver=driver, view=Neo4jView(driver), mem=MemoryView(world.full), store=world.full,
                              resumed=resumed, synced=synced, again=again)
    finally:
        driver.close()


# -- push and sync -------------------------------------------------------------------------

@pytest.mark.neo4j
def test_push_resumes_syncs_and_is_idempotent(pushed, world):
    n, e = len(world.full.nodes), len(world.full.edges)
    r = pushed.resumed
    assert r.resumed                       # the interrupted push was noticed
    assert r.nodes_written < len(world.first.nodes)   # the first 2000 nodes were not sent again
    assert (r.nodes, r.edges) == (len(world.first.nodes), len(world.first.edges))
    s = pushed.synced                      # the second load: only what it added or changed
    assert not s.resumed
    assert 0 < s.edges_written < e and s.nodes_written < n
    assert s.edges_replaced > 0 and s.nodes_updated > 0   # records added to edges and nodes already pushed
    assert s.edges_written > s.edges_replaced             # and edges only the new statements show
    assert (s.nodes, s.edges) == (n, e)
    a = pushed.again                       # pushing again writes nothing
    assert (a.nodes_written, a.edges_written, a.nodes_deleted, a.edges_deleted) == (0, 0, 0, 0)
    assert (a.nodes, a.edges) == (n, e)


@pytest.mark.neo4j
def test_constraints_derived_from_the_schema(pushed):
    from chaingraph.neo4j.cypher import Cypher

    cy = Cypher(pushed.store.schema)
    rows = pushed.view.runner.read(cy.SHOW_CONSTRAINTS)
    have = {(tuple(lt), tuple(p)) for _, lt, p, _ in rows}
    assert (("Entity",), ("id",)) in have
    for kind in pushed.store.schema.edges:
        assert ((cy.rel_type(kind),), ("id",)) in have
    labels = {r[0] for r in pushed.view.runner.read("CALL db.labels() YIELD label RETURN label")}
    assert {cy.label(k) for k in pushed.store.schema.nodes} <= labels


# -- the same frames -----------------------------------------------------------------------

@pytest.mark.neo4j
def test_nodes_and_edges_frames_equal(pushed):
    mem, neo = pushed.mem, pushed.view
    same(mem.nodes(), neo.nodes())
    same(mem.all_edges(), neo.all_edges())
    same(mem.all_edges(["holds", "transfer"]), neo.all_edges(["holds", "transfer"]))
    ids = list(mem.all_edges(["transfer"])["source"].iloc[::40]) + ["nope:1"]
    same(mem.nodes(ids + ids[:3]), neo.nodes(ids + ids[:3]))
    for d in ("out", "in", "both"):
        same(mem.edges(ids, d), neo.edges(ids, d))
        same(mem.edges(ids, d, kinds=["transfer", "holds"], since="2024-02-01"),
                                      neo.edges(ids, d, kinds=["transfer", "holds"], since="2024-02-01"))
    pd.testing.assert_series_equal(mem.has_statement(ids), neo.has_statement(ids))
    t = pd.Timestamp("2024-02-01", tz="UTC")
    lo = [t if k % 2 else None for k in range(len(ids))]
    for d in ("out", "in"):
        a = mem.money_edges(ids, d, since=lo, until=t + pd.Timedelta("30D"))
        b = neo.money_edges(ids, d, since=lo, until=t + pd.Timedelta("30D"))
        a = a.astype({"kind": str, "source": str, "target": str, "seen_by": str}).sort_values("id", ignore_index=True)
        same(a, b.sort_values("id", ignore_index=True))
        codes = neo.codes(ids)
        assert codes[-1] == -1
        arr = neo.money_arrays(codes[:-1], d)
        ref = mem.money_arrays(ids[:-1], d)
        assert sorted(zip(arr["id"], neo.ids_of(arr["other"]), arr["slot"])) == \
            sorted(zip(ref["id"], ref["other"], ref["slot"]))


@pytest.mark.neo4j
def test_resolve_and_evidence(pushed):
    mem, neo = pushed.mem, pushed.view
    acc = mem.nodes(kinds=["bank_account"])["id"].iloc[5]
    assert neo.resolve(acc) == mem.resolve(acc) == acc
    assert neo.resolve(acc.partition(":")[2]) == mem.resolve(acc.partition(":")[2])
    from chaingraph.exc import UnknownReference

    with pytest.raises(UnknownReference) as a:
        mem.resolve("bank_account:" + acc[-19:-3] + "999")
    with pytest.raises(UnknownReference) as b:
        neo.resolve("bank_account:" + acc[-19:-3] + "999")
    assert a.value.candidates == b.value.candidates
    eids = list(mem.all_edges(["transfer"])["id"].iloc[:20])
    same(mem.evidence([acc] + eids), neo.evidence([acc] + eids))
    near = list(mem.edges([acc], "both")["target"].astype(str)) + [acc]
    same(mem.nodes(near, columns=("kind", "label")), neo.nodes(near, columns=("kind", "label")))
    same(mem.edges([acc], "both", columns=("kind", "amount")), neo.edges([acc], "both", columns=("kind", "amount")))


# -- the same answers ----------------------------------------------------------------------

@pytest.mark.neo4j
def test_trace_parity(pushed):
    from chaingraph.trace import trace

    cases = list(pushed.mem.nodes(kinds=["case"])["id"])
    for case in cases[:: max(1, len(cases) // 4)]:
        for direction in ("upstream", "downstream"):
            a, b = trace(pushed.mem, case, direction=direction), trace(pushed.view, case, direction=direction)
            assert set(a.nodes["id"]) == set(b.nodes["id"])
            same(a.nodes, b.nodes)
            same(a.edges, b.edges)


@pytest.mark.neo4j
def test_flow_parity(pushed):
    from chaingraph.flow import flow, reach

    for case in list(pushed.mem.nodes(kinds=["case"])["id"])[:6]:
        a, b = flow(pushed.mem, case), flow(pushed.view, case)
        for col in ("received", "passed", "remainder"):
            ra = a.accounts.set_index("id")[col].astype(float).round(2)
            rb = b.accounts.set_index("id")[col].astype(float).round(2)
            pd.testing.assert_series_equal(ra, rb)
        same(a.accounts, b.accounts)
        a, b = reach(pushed.mem, case), reach(pushed.view, case)
        same(a.sort_values("id", ignore_index=True), b.sort_values("id", ignore_index=True))


@pytest.mark.neo4j
def test_leads_parity(pushed):
    from chaingraph.leads import leads

    a, b = leads(pushed.mem, top=20), leads(pushed.view, top=20)
    assert len(a.df) == 20
    same(a.df, b.df)


@pytest.mark.neo4j
def test_every_named_query_gives_the_same_table(pushed):
    from chaingraph.catalog import as_frame, list_queries, run_query

    cases = list(pushed.mem.nodes(kinds=["case"])["id"])
    queries = list_queries()
    assert len(queries) >= 18
    for q in queries:
        refs = {p.name: cases[1] for p in q.params.values() if p.type in ("ref", "refs")}
        a = as_frame(run_query(pushed.mem, q.name, **refs))
        b = as_frame(run_query(pushed.view, q.name, **refs))
        assert len(a) or q.name in {"structuring"}, q.name  # (the world shows every other pattern)
        try:
            same(a, b)
        except AssertionError as e:
            raise AssertionError(f"query {q.name}: {e}") from None


@pytest.mark.neo4j
def test_subgraph_is_the_stores_neighbourhood(pushed):
    case = pushed.mem.nodes(kinds=["case"])["id"].iloc[0]
    g = pushed.view.subgraph([case], hops=2)
    full = pushed.store.graph()
    near = set(nx.ego_graph(full.to_undirected(as_view=True), case, radius=2))
    assert set(g.nodes) == near
    ref = full.subgraph(near)
    assert set(g.edges(keys=True)) == set(ref.edges(keys=True))
    for n in list(near)[:50]:
        assert g.nodes[n] == ref.nodes[n]
    for u, v, k in list(ref.edges(keys=True))[:200]:
        assert g.edges[u, v, k] == ref.edges[u, v, k]


# -- tests that start from an empty database (neo4j_driver wipes it) ------------------------

def tiny_store(tmp_path, name=INJECTION) -> Store:
    from chaingraph.schema import load_schema

    schema = load_schema()
    t = empty_tables(schema)
    nodes = pd.DataFrame({"id": ["person:110101199003074514", "bank_account:6222020000000000"],
                          "kind": ["person", "bank_account"], "key": ["110101199003074514", "6222020000000000"],
                          "label": [name, "6222020000000000"], "flags": ["", ""], "n_obs": [1, 1],
                          "name": [name, None], "holder_name": [None, name]})
    edges = pd.DataFrame({"id": [7], "kind": ["holds"], "source": [nodes["id"][0]], "target": [nodes["id"][1]],
                          "n_obs": pd.array([1], dtype="Int64"), "seen_by": [""]})
    t = Tables(nodes=pd.concat([t.nodes, nodes], ignore_index=True),
               edges=pd.concat([t.edges, edges], ignore_index=True),
               node_obs=t.node_obs, edge_obs=t.edge_obs, files=t.files, rejects=t.rejects)
    return Store(tmp_path / "tiny", t, None, schema)


@pytest.mark.neo4j
def test_injected_name_survives_as_data(neo4j_driver, tmp_path):
    from chaingraph.neo4j import Neo4jView, push

    st = tiny_store(tmp_path)
    rep = push(st, neo4j_driver)
    assert (rep.nodes, rep.edges) == (2, 1)
    recorded = []
    v = Neo4jView(neo4j_driver, record=recorded)
    n = v.nodes()
    assert INJECTION in set(n["name"].dropna()) and INJECTION in set(n["holder_name"].dropna())
    assert len(v.all_edges()) == 1
    with pytest.raises(Exception):
        v.resolve(INJECTION)
    assert recorded and all(INJECTION not in q for q, _ in recorded)   # values travel as parameters only
    assert push(st, neo4j_driver).nodes == 2


@pytest.mark.neo4j
def test_connection_failure_is_one_line_without_password(monkeypatch):
    from chaingraph.neo4j import Neo4jView

    secret = "s3cret-Passw0rd"
    monkeypatch.setenv("CHAINGRAPH_NEO4J_PASSWORD", secret)
    for uri in ("bolt://127.0.0.1:9", "neo4j+s://127.0.0.1:9"):
        with pytest.raises(BackendError) as e:
            Neo4jView(uri, user="neo4j", max_retry_time=1).nodes()
        msg = str(e.value)
        assert "\n" not in msg and secret not in msg and "127.0.0.1:9" in msg


@pytest.mark.neo4j
def test_auth_failure_is_one_line_without_password(monkeypatch, neo4j_uri):
    import neo4j

    from chaingraph.neo4j.runner import Runner

    secret = "wrong-Passw0rd"

    class Refusing:
        def session(self, **kw):
            raise neo4j.exceptions.AuthError("The client is unauthorized due to authentication failure.")

    r = Runner(neo4j_uri, user="neo4j", password=secret)
    r.driver.close()
    r.driver = Refusing()
    with pytest.raises(BackendError) as e:
        r.read("RETURN 1")
    msg = str(e.value)
    assert "authentication failed" in msg and secret not in msg and "\n" not in msg and neo4j_uri in msg
    assert secret not in repr(r.settings)


def test_export_headers(tmp_path):
    from chaingraph.neo4j import export_csv

    res = export_csv(tiny_store(tmp_path), tmp_path / "csv")
    head = (tmp_path / "csv" / "nodes_person.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert head[:2] == ['"id:ID"', '":LABEL"'] and '"n_obs:long"' in head and '"cg_row:long[]"' in head
    head = (tmp_path / "csv" / "edges_holds.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert head[:4] == ['":START_ID"', '":END_ID"', '":TYPE"', '"id:long"']
    assert '"amount:double"' in head and '"time:datetime"' in head
    row = (tmp_path / "csv" / "edges_holds.csv").read_text(encoding="utf-8").splitlines()[1]
    assert row.startswith('"person:110101199003074514","bank_account:6222020000000000","HOLDS",7,')
    assert res.command[:4] == ["neo4j-admin", "database", "import", "full"]
    assert res.command[-1] == "neo4j" and "--array-delimiter=U+001F" in res.command
    assert any(a.startswith("--nodes=") and a.endswith("nodes_person.csv") for a in res.command)
