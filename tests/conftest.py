"""Shared pytest configuration: the real Neo4j plugin (fixtures neo4j_uri, neo4j_auth, neo4j_driver)."""

pytest_plugins = ["neo4j_server"]

# scripts that made fixture files, run by hand (they need packages chaingraph does not)
collect_ignore_glob = ["fixtures/*"]
