"""Shared pytest configuration: the real Neo4j plugin (fixtures neo4j_uri, neo4j_auth, neo4j_driver)."""

pytest_plugins = ["neo4j_server"]
