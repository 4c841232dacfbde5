"""Smoke tests of the real Neo4j the suite runs against (see tests/neo4j_server.py)."""

from __future__ import annotations

import datetime as dt

import pytest

# tests/conftest.py loads this plugin for the whole suite; naming it here too keeps this file
# runnable on its own (a plugin already loaded is not loaded twice). The module itself is
# imported inside the tests, after pytest has loaded it as a plugin.
pytest_plugins = ["neo4j_server"]


def _plugin():
    import neo4j_server

    return neo4j_server

N = 2000


def _rows():
    base = dt.datetime(2024, 1, 1, 12, 0, 0)
    return [
        {
            "address": f"bc1q{i:06d}",
            "chain": "bitcoin",
            "seen": (base + dt.timedelta(hours=i)).isoformat(),
            "next": f"bc1q{i + 1:06d}" if i + 1 < N else None,
            "amount": i / 100,
        }
        for i in range(N)
    ]


@pytest.mark.neo4j
def test_unwind_merge_with_constraint_and_temporal_queries(neo4j_driver):
    rows = _rows()
    with neo4j_driver.session() as session:
        session.run(
            "CREATE CONSTRAINT wallet_address IF NOT EXISTS "
            "FOR (w:Wallet) REQUIRE w.address IS UNIQUE"
        ).consume()

        merge = (
            "UNWIND $rows AS row "
            "MERGE (w:Wallet {address: row.address}) "
            "SET w.chain = row.chain, w.first_seen = localdatetime(row.seen)"
        )
        summary = session.run(merge, rows=rows).consume()
        assert summary.counters.nodes_created == N
        # MERGE is idempotent under the constraint: a second pass creates nothing.
        assert session.run(merge, rows=rows).consume().counters.nodes_created == 0

        links = session.run(
            "UNWIND $rows AS row WITH row WHERE row.next IS NOT NULL "
            "MATCH (a:Wallet {address: row.address}), (b:Wallet {address: row.next}) "
            "MERGE (a)-[t:SENT]->(b) "
            "SET t.amount = row.amount, t.at = datetime({datetime: localdatetime(row.seen), "
            "timezone: 'UTC'})",
            rows=rows,
        ).consume()
        assert links.counters.relationships_created == N - 1

        counts = session.run(
            "MATCH (w:Wallet) WITH count(w) AS wallets "
            "MATCH ()-[t:SENT]->() RETURN wallets, count(t) AS sent, sum(t.amount) AS total"
        ).single()
        assert counts["wallets"] == N
        assert counts["sent"] == N - 1
        assert counts["total"] == pytest.approx(sum(r["amount"] for r in rows[:-1]))

        # Temporal functions and temporal parameters (a naive and an aware Python datetime).
        record = session.run(
            "MATCH (w:Wallet) WHERE w.first_seen >= localdatetime($since) "
            "AND w.first_seen < $until "
            "RETURN count(w) AS recent, min(w.first_seen) AS first, "
            "localdatetime() AS local_now, datetime() AS now, datetime($at) AS at",
            since="2024-01-02T12:00:00",
            until=dt.datetime(2024, 1, 3, 12, 0, 0),
            at=dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.timezone.utc),
        ).single()
        assert record["recent"] == 24
        assert record["first"].to_native() == dt.datetime(2024, 1, 2, 12, 0, 0)
        assert record["at"].to_native() == dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.timezone.utc)
        now = record["now"].to_native()
        assert now.tzinfo is not None
        assert abs(now - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)
        assert record["local_now"].to_native().tzinfo is None

        latest = session.run(
            "MATCH (:Wallet)-[t:SENT]->(:Wallet) RETURN max(t.at) AS latest"
        ).single()["latest"]
        assert latest.to_native() == dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc) + dt.timedelta(
            hours=N - 2
        )

        names = [r["name"] for r in session.run("SHOW CONSTRAINTS YIELD name")]
        assert names == ["wallet_address"]


@pytest.mark.neo4j
def test_uniqueness_constraint_rejects_a_duplicate(neo4j_driver):
    from neo4j.exceptions import ConstraintError

    with neo4j_driver.session() as session:
        session.run(
            "CREATE CONSTRAINT wallet_address IF NOT EXISTS "
            "FOR (w:Wallet) REQUIRE w.address IS UNIQUE"
        ).consume()
        session.run("CREATE (:Wallet {address: $a})", a="bc1qdup").consume()
        with pytest.raises(ConstraintError):
            session.run("CREATE (:Wallet {address: $a})", a="bc1qdup").consume()
        # A failed write inside a managed transaction rolls back the whole transaction.
        with pytest.raises(ConstraintError):
            session.execute_write(
                lambda tx: tx.run(
                    "CREATE (:Wallet {address: 'bc1qnew'}) CREATE (:Wallet {address: 'bc1qdup'})"
                ).consume()
            )
        count = session.run("MATCH (w:Wallet) RETURN count(w) AS n").single()["n"]
        assert count == 1


@pytest.mark.neo4j
def test_each_test_starts_on_an_empty_database(neo4j_driver):
    """Runs after the tests above: their nodes, constraints and indexes are gone."""
    with neo4j_driver.session() as session:
        assert session.run("MATCH (n) RETURN count(n) AS n").single()["n"] == 0
        assert list(session.run("SHOW CONSTRAINTS YIELD name")) == []
        kinds = {r["type"] for r in session.run("SHOW INDEXES YIELD type")}
        assert kinds <= {"LOOKUP"}
        session.run("CREATE INDEX wallet_chain IF NOT EXISTS FOR (w:Wallet) ON (w.chain)").consume()
        session.run("CREATE (:Wallet {address: 'x', chain: 'bitcoin'})").consume()
    _plugin().wipe(neo4j_driver)
    with neo4j_driver.session() as session:
        assert session.run("MATCH (n) RETURN count(n) AS n").single()["n"] == 0
        assert [r["name"] for r in session.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'")] == []


# ----------------------------------------------------------- skip/fail policy (no Neo4j needed)


def test_missing_java_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("CHAINGRAPH_JAVA", "/nonexistent/java")
    assert _plugin().find_tool("CHAINGRAPH_JAVA", "java") is None
    with pytest.raises(pytest.skip.Exception, match="no Java"):
        _plugin().start_server()


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_java_fails_on_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("CHAINGRAPH_JAVA", "/nonexistent/java")
    with pytest.raises(pytest.fail.Exception, match="no Java.*CI is set"):
        _plugin().start_server()
