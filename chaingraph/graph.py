"""The store as a networkx graph.

The networkx ``MultiDiGraph`` is the public face of a store: nodes are ids
``kind:key`` and carry ``kind``, ``key``, ``label`` and their non-empty
properties; edges are keyed by their integer edge id and carry ``kind`` and
their non-empty properties (``time`` as a pandas Timestamp in UTC, ``amount``
in yuan). Any networkx algorithm runs on it.
"""

from __future__ import annotations

import networkx as nx
import pandas as pd


def _records(df: pd.DataFrame, skip=()):
    cols = [c for c in df.columns if c not in skip]
    for row in df[cols].itertuples(index=False, name=None):
        yield {c: v for c, v in zip(cols, row) if v is not None and not (isinstance(v, float) and v != v) and v is not pd.NaT and v is not pd.NA and v != ""}


def to_networkx(nodes: pd.DataFrame, edges: pd.DataFrame) -> nx.MultiDiGraph:
    """Build a MultiDiGraph from node and edge tables (see module docs)."""
    g = nx.MultiDiGraph()
    g.add_nodes_from((attrs.pop("id"), attrs) for attrs in _records(nodes))
    g.add_edges_from(
        (a.pop("source"), a.pop("target"), int(a.pop("id")), a) for a in _records(edges, skip=("n_obs",))
    )
    return g
