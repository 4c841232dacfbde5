"""chaingraph on Neo4j: push a store to a server, and run the same queries there.

- :func:`push` writes (and later syncs) a store into Neo4j;
- :class:`Neo4jView` is a :class:`~chaingraph.view.View` over the server, so
  ``trace``, ``flow``, ``leads`` and the catalogue's queries run on it unchanged;
- :func:`export_csv` writes CSV files for ``neo4j-admin database import``;
- :class:`Runner` is the one connection every statement goes through
  (all statements live in :mod:`chaingraph.neo4j.cypher`).

Commands: ``chaingraph neo4j push`` and ``chaingraph neo4j export``.
"""

from __future__ import annotations

from .export import export_csv
from .push import PushReport, push  # binds ``push`` to the function, not the module of that name
from .runner import Runner, connect
from .view import Neo4jView

__all__ = ["Neo4jView", "push", "PushReport", "export_csv", "Runner", "connect"]


def add_commands(sub) -> None:
    from .commands import add_commands as add

    add(sub)
