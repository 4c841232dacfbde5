"""Every Cypher statement chaingraph sends to Neo4j, in one place.

Values always travel as parameters (``$rows``, ``$ids``, ``$kinds``, ...).
Labels, relationship types and property names cannot be parameters in
Cypher; here they come only from the schema (``chaingraph/schema.yaml``),
are checked against a strict identifier pattern and are back-quoted. Nothing
a user types (a reference, a kind passed to a query) is ever pasted into a
statement: kinds are first looked up in the schema, and unknown kinds are
dropped before any Cypher is written.

The graph in Neo4j
------------------
- every node: ``(:Entity:<Kind> {id, kind, key, label, flags, n_obs, <properties>})``,
  ``<Kind>`` the node kind in CamelCase (``bank_account`` -> ``BankAccount``);
- every edge: ``-[:<KIND> {id, kind, n_obs, seen_by, <properties>}]->`` with the
  edge kind upper-cased (``cash_out`` -> ``CASH_OUT``);
- times are Neo4j ``DATETIME`` in UTC, money ``FLOAT``, integers ``INTEGER``;
- bookkeeping properties start with ``cg_``: ``cg_hash`` (content hash, for
  incremental sync), ``cg_seq`` (an edge's position in the store, so rows come
  back in the embedded order), ``cg_file_id``/``cg_file``/``cg_sheet``/``cg_row``
  (provenance: parallel lists, one item per source record);
- one ``(:ChaingraphMeta {name: 'store'})`` node records the last push.

Queries that can return many rows return them as one list of rows
(``RETURN collect([…]) AS rows``): the Python driver unpacks one big list
several times faster than as many records. Read them with
:meth:`Runner.table <chaingraph.neo4j.runner.Runner.table>`.

Examples
--------
>>> from chaingraph.schema import load_schema
>>> c = Cypher(load_schema())
>>> c.label("bank_account"), c.rel_type("cash_out")
('BankAccount', 'CASH_OUT')
>>> c.types_pattern(["transfer", "cash_out", "no such kind"])
'`TRANSFER`|`CASH_OUT`'
"""

from __future__ import annotations

import re
from functools import cached_property

from ..exc import BackendError
from ..schema import Schema

ENTITY = "Entity"
META = "ChaingraphMeta"
PREFIX = "cg_"
PROVENANCE_PROPS = ("cg_file_id", "cg_file", "cg_sheet", "cg_row")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# store column -> Neo4j value type, for the columns every node / edge has
NODE_BASE = {"id": "text", "kind": "text", "key": "text", "label": "text", "flags": "text", "n_obs": "integer"}
EDGE_BASE = {"id": "integer", "kind": "text", "source": "text", "target": "text", "n_obs": "integer",
             "seen_by": "text"}


def _q(name: str) -> str:
    """Back-quote a schema-derived name after checking it is a plain identifier."""
    if not _NAME.match(name):
        raise BackendError(f"schema name {name!r} cannot be used in Neo4j (letters, digits and _ only)")
    return f"`{name}`"


def value_type(t: str) -> str:
    """Schema property type -> ``text`` | ``money`` | ``time`` | ``integer``."""
    return t if t in ("money", "time", "integer") else "text"


class Cypher:
    """The statements for one schema (names derived and checked once)."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.labels = {k: "".join(p.capitalize() for p in k.split("_")) for k in schema.nodes}
        self.types = {k: k.upper() for k in schema.edges}
        for name in list(self.labels.values()) + list(self.types.values()):
            _q(name)
        if ENTITY in self.labels.values() or META in self.labels.values():
            raise BackendError(f"a node kind may not be called {ENTITY!r} or {META!r} in Neo4j")
        if len(set(self.labels.values())) != len(self.labels):
            raise BackendError("two node kinds map to the same Neo4j label")
        self.node_props = {}
        for nk in schema.nodes.values():
            for p, t in nk.properties.items():
                self.node_props.setdefault(p, value_type(t))
        self.edge_props = {}
        for ek in schema.edges.values():
            for p, t in ek.properties.items():
                self.edge_props.setdefault(p, value_type(t))
        for p in list(self.node_props) + list(self.edge_props):
            _q(p)
            if p.startswith(PREFIX):
                raise BackendError(f"property {p!r}: names starting with {PREFIX!r} are reserved for chaingraph")
        self.node_columns = {**NODE_BASE, **{p: t for p, t in self.node_props.items() if p not in NODE_BASE}}
        self.edge_columns = {**EDGE_BASE, **{p: t for p, t in self.edge_props.items() if p not in EDGE_BASE}}

    # -- names --------------------------------------------------------------
    def label(self, kind: str) -> str:
        return self.labels[kind]

    def rel_type(self, kind: str) -> str:
        return self.types[kind]

    def types_pattern(self, kinds=None) -> str:
        """``\\`A\\`|\\`B\\``` for the schema's edge kinds among ``kinds`` (all when None); '' if none."""
        ks = list(self.schema.edges) if kinds is None else [k for k in dict.fromkeys(kinds) if k in self.types]
        return "|".join(_q(self.types[k]) for k in ks)

    # -- schema: constraints and indexes ------------------------------------
    def constraints(self) -> list[str]:
        """Uniqueness constraints and indexes derived from the schema (idempotent)."""
        out = [
            f"CREATE CONSTRAINT cg_entity_id IF NOT EXISTS FOR (n:{_q(ENTITY)}) REQUIRE n.id IS UNIQUE",
            f"CREATE CONSTRAINT cg_meta_name IF NOT EXISTS FOR (n:{_q(META)}) REQUIRE n.name IS UNIQUE",
        ]
        for kind, label in self.labels.items():
            out.append(f"CREATE INDEX {_q('cg_' + kind + '_key')} IF NOT EXISTS FOR (n:{_q(label)}) ON (n.key)")
        for kind, typ in self.types.items():
            out.append(f"CREATE CONSTRAINT {_q('cg_' + kind + '_id')} IF NOT EXISTS "
                       f"FOR ()-[e:{_q(typ)}]-() REQUIRE e.id IS UNIQUE")
        return out

    AWAIT_INDEXES = "CALL db.awaitIndexes($seconds)"
    SHOW_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties, type RETURN name, labelsOrTypes, properties, type"

    # -- writing -------------------------------------------------------------
    # Rows travel as lists: ``cols`` (name -> value type, in row order) says what ``r[i]`` is.
    # Times arrive as int64 nanoseconds since the epoch and become DATETIME (UTC) here.
    @staticmethod
    def _time(x: str) -> str:
        return (f"CASE WHEN {x} IS NULL THEN null ELSE datetime.fromepoch("
                f"{x} / 1000000000 - CASE WHEN {x} % 1000000000 < 0 THEN 1 ELSE 0 END, "
                f"({x} % 1000000000 + 1000000000) % 1000000000) END")

    def _map(self, cols: dict, skip=()) -> str:
        """``{`a`: r[0], `t`: <r[1] as DATETIME>, …}`` (a null value sets no property)."""
        parts = [f"{_q(c)}: {self._time(f'r[{i}]') if t == 'time' else f'r[{i}]'}"
                 for i, (c, t) in enumerate(cols.items()) if c not in skip]
        return "{" + ", ".join(parts) + "}"

    def create_nodes(self, kind: str, cols: dict) -> str:
        """``UNWIND $rows AS r CREATE (n:Entity:Kind {…})``: nodes not on the server yet."""
        return f"UNWIND $rows AS r CREATE (n:{_q(ENTITY)}:{_q(self.labels[kind])} {self._map(cols)})"

    def merge_nodes(self, kind: str, cols: dict) -> str:
        """``UNWIND $rows AS r MERGE (n:Entity {id: r[i]}) SET n = {…}, n:Kind``: changed nodes
        (their relationships stay)."""
        i = list(cols).index("id")
        return (f"UNWIND $rows AS r MERGE (n:{_q(ENTITY)} {{id: r[{i}]}}) "
                f"SET n = {self._map(cols)}, n:{_q(self.labels[kind])}")

    def create_edges(self, kind: str, cols: dict) -> str:
        """``UNWIND $rows AS r MATCH (a:Entity {id: …}) MATCH (b:Entity {id: …}) CREATE (a)-[e:KIND {…}]->(b)``:
        both ends found through the unique ``:Entity(id)`` index; edges not on the server (a changed
        edge is deleted first)."""
        names = list(cols)
        s, t = names.index("source"), names.index("target")
        return (f"UNWIND $rows AS r MATCH (a:{_q(ENTITY)} {{id: r[{s}]}}) MATCH (b:{_q(ENTITY)} {{id: r[{t}]}}) "
                f"CREATE (a)-[e:{_q(self.types[kind])} {self._map(cols, skip=('source', 'target'))}]->(b)")

    def delete_edges(self, kind: str) -> str:
        return f"UNWIND $ids AS i MATCH ()-[e:{_q(self.types[kind])} {{id: i}}]->() DELETE e"

    DELETE_NODES = f"UNWIND $ids AS i MATCH (n:{_q(ENTITY)} {{id: i}}) DETACH DELETE n"
    NODE_HASHES = f"MATCH (n:{_q(ENTITY)}) RETURN collect([n.id, n.cg_hash]) AS rows"

    def edge_hashes(self) -> str:
        return f"MATCH ()-[e:{self.types_pattern()}]->() RETURN collect([e.id, e.kind, e.cg_hash]) AS rows"

    META_START = (f"MERGE (m:{_q(META)} {{name: 'store'}}) "
                  "WITH m, m.complete = false AS interrupted "
                  "SET m.complete = false, m.started_at = datetime(), m.store = $store, m.version = $version "
                  "RETURN interrupted")
    META_DONE = (f"MATCH (m:{_q(META)} {{name: 'store'}}) "
                 "SET m.complete = true, m.pushed_at = datetime(), m.nodes = $nodes, m.edges = $edges")
    META = (f"MATCH (m:{_q(META)} {{name: 'store'}}) "
            "RETURN m.store, m.version, m.complete, toString(m.pushed_at), m.nodes, m.edges")
    COUNTS = (f"MATCH (n:{_q(ENTITY)}) WITH count(n) AS nodes "
              "MATCH ()-[e]->() RETURN nodes, count(e) AS edges")

    # -- reading -------------------------------------------------------------
    @staticmethod
    def _value(var: str, prop: str, t: str) -> str:
        if t == "time":  # as int64 nanoseconds since the epoch (null stays null)
            return f"{var}.{_q(prop)}.epochSeconds * 1000000000 + {var}.{_q(prop)}.nanosecond"
        return f"{var}.{_q(prop)}"

    @cached_property
    def _node_return(self) -> str:
        return ", ".join(self._value("n", c, t) for c, t in self.node_columns.items())

    def _edge_return(self, src: str = "a", dst: str = "b") -> str:
        parts = []
        for c, t in self.edge_columns.items():
            if c == "source":
                parts.append(f"{src}.id")
            elif c == "target":
                parts.append(f"{dst}.id")
            else:
                parts.append(self._value("e", c, t))
        return ", ".join(parts + ["e.cg_seq"])

    @cached_property
    def NODES_BY_ID(self) -> str:
        return f"UNWIND $ids AS i MATCH (n:{_q(ENTITY)} {{id: i}}) RETURN collect([{self._node_return}]) AS rows"

    @cached_property
    def NODES_ALL(self) -> str:
        return f"MATCH (n:{_q(ENTITY)}) WHERE $kinds IS NULL OR n.kind IN $kinds RETURN collect([{self._node_return}]) AS rows"

    EXISTING = f"UNWIND $ids AS i MATCH (n:{_q(ENTITY)} {{id: i}}) RETURN n.id"
    NEAR = (f"MATCH (n:{_q(ENTITY)}) WHERE n.key CONTAINS $value RETURN n.id ORDER BY n.id LIMIT 10")

    def edges_of(self, direction: str, kinds=None) -> str:
        """Edges leaving (``out``) or entering (``in``) the nodes ``$ids``, of ``kinds``; '' if no kind."""
        pat = self.types_pattern(kinds)
        if kinds is not None and not pat:
            return ""
        rel = f"[e:{pat}]" if pat else "[e]"
        hop = f"-{rel}->(b)" if direction == "out" else f"<-{rel}-(b)"
        ret = self._edge_return("a", "b") if direction == "out" else self._edge_return("b", "a")
        return (f"UNWIND $ids AS i MATCH (a:{_q(ENTITY)} {{id: i}}){hop} "
                f"WHERE ($since IS NULL OR e.time >= datetime($since)) AND ($until IS NULL OR e.time <= datetime($until)) "
                f"RETURN collect([{ret}]) AS rows")

    def all_edges(self, kinds=None) -> str:
        pat = self.types_pattern(kinds)
        if not pat:
            return ""
        return f"MATCH (a)-[e:{pat}]->(b) RETURN collect([{self._edge_return()}]) AS rows"

    def money_edges(self, direction: str) -> str:
        """The hot path of fund tracing: money edges of many nodes, each in its own time range.

        ``$rows``: ``{slot, id, since, until}`` (ISO times or null); rows come back with their slot.
        """
        pat = self.types_pattern(self.schema.money_edges)
        hop = f"-[e:{pat}]->(b)" if direction == "out" else f"<-[e:{pat}]-(b)"
        src, dst = ("a.id", "b.id") if direction == "out" else ("b.id", "a.id")
        return (f"UNWIND $rows AS r MATCH (a:{_q(ENTITY)} {{id: r.id}}){hop} "
                "WITH r, a, b, e, datetime(r.since) AS lo, datetime(r.until) AS hi "
                "WHERE (lo IS NULL OR e.time >= lo) AND (hi IS NULL OR e.time <= hi) "
                f"RETURN collect([r.slot, e.id, e.kind, {src}, {dst}, {self._value('e', 'time', 'time')}, "
                "e.amount, e.seen_by, e.cg_seq]) AS rows")

    def has_statement(self) -> str:
        """Whether each of ``$ids`` has its own statement loaded.

        The two subqueries need different variables (``e``, ``f``): with the same one
        Neo4j 5.26 answered true for accounts that only received transfers seen by the payer.
        """
        pat = self.types_pattern(self.schema.money_edges)
        return (f"UNWIND $ids AS i OPTIONAL MATCH (a:{_q(ENTITY)} {{id: i}}) "
                f"WITH i, a IS NOT NULL AND (EXISTS {{ (a)-[e:{pat}]->() WHERE e.seen_by IN ['source', 'both'] }} "
                f"OR EXISTS {{ (a)<-[f:{pat}]-() WHERE f.seen_by IN ['target', 'both'] }}) AS has "
                "RETURN collect([i, has]) AS rows")

    NODE_EVIDENCE = (f"UNWIND $ids AS i MATCH (n:{_q(ENTITY)} {{id: i}}) "
                     "RETURN n.id, n.cg_file_id, n.cg_file, n.cg_sheet, n.cg_row")

    def edge_evidence(self) -> str:
        """Provenance of edges ``$ids``: one index lookup per edge type (ids are unique per type)."""
        return " UNION ALL ".join(
            f"MATCH ()-[e:{_q(t)}]->() WHERE e.id IN $ids "
            "RETURN e.id AS id, e.cg_file_id AS file_id, e.cg_file AS file, e.cg_sheet AS sheet, e.cg_row AS row"
            for t in self.types.values())
