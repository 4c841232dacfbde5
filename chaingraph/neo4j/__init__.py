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

import importlib

__all__ = ["Neo4jView", "push", "PushReport", "export_csv", "Runner", "connect"]

_WHERE = {"Neo4jView": "view", "push": "push", "PushReport": "push", "export_csv": "export",
          "Runner": "runner", "connect": "runner"}


def __getattr__(name):  # the driver and pandas are imported only when used
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(name)


def add_commands(sub) -> None:
    from .commands import add_commands as add

    add(sub)
