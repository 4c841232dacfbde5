"""The chain schema: node kinds, edge kinds and their chain direction.

The schema is declared once, in ``schema.yaml`` beside this module, and parsed
strictly: an unknown key, a misspelt kind or a type that does not exist is a
:class:`~chaingraph.exc.DeclarationError` naming the file and the key.

Examples
--------
>>> s = load_schema()
>>> s.nodes["bank_account"].key
'bank_card'
>>> s.edges["transfer"].upstream
'source'
>>> s.node_id("phone", "13800000000")
'phone:13800000000'
>>> s.split_id("phone:13800000000")
('phone', '13800000000')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

from .exc import DeclarationError

SCHEMA_FILE = Path(__file__).with_name("schema.yaml")

SEGMENTS = ("upstream", "core", "downstream", "victim", "neutral")
UPSTREAM = ("source", "target", "none")
MERGES = ("key", "time", "transfer")
# identifier and value types known to chaingraph.types (checked here so a
# misspelt type in the schema fails at parse time, without importing pandas)
TYPE_NAMES = (
    "text", "name", "resident_id", "bank_card", "account_id", "mobile", "device_id",
    "imei", "iccid", "imsi", "ip", "domain", "case_id", "money", "time", "integer",
)
NODE_KEYS = {"label", "key", "segment", "properties", "style", "export"}
EDGE_KEYS = {"label", "source", "target", "upstream", "pivot", "merge", "properties", "style"}
STYLE_KEYS = {"color", "shape", "dashes"}


@dataclass(frozen=True)
class NodeKind:
    """One kind of node: its key type, chain segment, properties and style."""

    name: str
    label: str
    key: str
    segment: str
    properties: dict[str, str] = field(default_factory=dict)
    style: dict[str, object] = field(default_factory=dict)
    export: tuple[str, ...] = ()


@dataclass(frozen=True)
class EdgeKind:
    """One kind of edge: allowed ends, which end is upstream, how records merge."""

    name: str
    label: str
    source: tuple[str, ...]
    target: tuple[str, ...]
    upstream: str
    pivot: bool
    merge: str
    properties: dict[str, str] = field(default_factory=dict)
    style: dict[str, object] = field(default_factory=dict)

    @property
    def is_chain(self) -> bool:
        """True if the edge is a step along the chain (not an identity link)."""
        return self.upstream != "none"

    @property
    def is_money(self) -> bool:
        """True for edges that carry money with a time (transfers, cash-outs)."""
        return self.merge == "transfer"


@dataclass(frozen=True)
class Schema:
    """The parsed schema. Use :func:`load_schema` to get the packaged one."""

    nodes: dict[str, NodeKind]
    edges: dict[str, EdgeKind]
    file: str = ""

    def node_id(self, kind: str, key: str) -> str:
        """The node id of the entity of ``kind`` with canonical ``key``."""
        return f"{kind}:{key}"

    @staticmethod
    def split_id(node_id: str) -> tuple[str, str]:
        """Split a node id into (kind, key)."""
        kind, _, key = node_id.partition(":")
        return kind, key

    def downstream_end(self, edge_kind: str) -> str | None:
        """'target' or 'source': the end a downstream step arrives at (None for links)."""
        up = self.edges[edge_kind].upstream
        return {"source": "target", "target": "source"}.get(up)

    @property
    def money_edges(self) -> tuple[str, ...]:
        return tuple(k for k, e in self.edges.items() if e.is_money)


def _need(mapping, key, file, where, kind=None):
    if key not in mapping:
        raise DeclarationError(file, f"{where}.{key}", "is required")
    value = mapping[key]
    if kind is not None and not isinstance(value, kind):
        raise DeclarationError(file, f"{where}.{key}", f"must be a {kind.__name__}, got {value!r}")
    return value


def _no_unknown(mapping, allowed, file, where):
    if not isinstance(mapping, dict):
        raise DeclarationError(file, where, f"must be a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise DeclarationError(
            file, f"{where}.{unknown[0]}",
            f"unknown key; valid keys are: {', '.join(sorted(allowed))}",
        )


def _one_of(value, allowed, file, where):
    if value not in allowed:
        raise DeclarationError(file, where, f"{value!r} is not one of: {', '.join(allowed)}")
    return value


def _properties(raw, file, where):
    raw = raw or {}
    if not isinstance(raw, dict):
        raise DeclarationError(file, where, "must be a mapping of property name to type")
    for name, typ in raw.items():
        _one_of(typ, TYPE_NAMES, file, f"{where}.{name}")
    return dict(raw)


def _style(raw, file, where):
    raw = raw or {}
    _no_unknown(raw, STYLE_KEYS, file, where)
    return dict(raw)


def parse_schema(data: dict, file: str = "<schema>") -> Schema:
    """Parse a schema declaration (already read from YAML) strictly.

    Raises
    ------
    DeclarationError
        On any unknown key, unknown kind or type, or missing required key.
    """
    _no_unknown(data, {"version", "nodes", "edges"}, file, "schema")
    if data.get("version") != 1:
        raise DeclarationError(file, "version", "must be 1")
    nodes = {}
    for name, raw in _need(data, "nodes", file, "schema", dict).items():
        where = f"nodes.{name}"
        _no_unknown(raw, NODE_KEYS, file, where)
        props = _properties(raw.get("properties"), file, f"{where}.properties")
        export = tuple(raw.get("export") or ())
        for col in export:
            if col not in props:
                raise DeclarationError(file, f"{where}.export", f"{col!r} is not a property of {name}")
        nodes[name] = NodeKind(
            name=name,
            label=str(_need(raw, "label", file, where)),
            key=_one_of(_need(raw, "key", file, where), TYPE_NAMES, file, f"{where}.key"),
            segment=_one_of(raw.get("segment", "neutral"), SEGMENTS, file, f"{where}.segment"),
            properties=props,
            style=_style(raw.get("style"), file, f"{where}.style"),
            export=export,
        )
    edges = {}
    for name, raw in _need(data, "edges", file, "schema", dict).items():
        where = f"edges.{name}"
        _no_unknown(raw, EDGE_KEYS, file, where)
        ends = {}
        for end in ("source", "target"):
            kinds = _need(raw, end, file, where, list)
            for k in kinds:
                _one_of(k, tuple(nodes), file, f"{where}.{end}")
            ends[end] = tuple(kinds)
        pivot = raw.get("pivot", False)
        if not isinstance(pivot, bool):
            raise DeclarationError(file, f"{where}.pivot", "must be true or false")
        edges[name] = EdgeKind(
            name=name,
            label=str(_need(raw, "label", file, where)),
            source=ends["source"],
            target=ends["target"],
            upstream=_one_of(_need(raw, "upstream", file, where), UPSTREAM, file, f"{where}.upstream"),
            pivot=pivot,
            merge=_one_of(raw.get("merge", "key"), MERGES, file, f"{where}.merge"),
            properties=_properties(raw.get("properties"), file, f"{where}.properties"),
            style=_style(raw.get("style"), file, f"{where}.style"),
        )
    return Schema(nodes=nodes, edges=edges, file=str(file))


def read_schema(path) -> Schema:
    """Read and strictly parse a schema YAML file."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as e:
        raise DeclarationError(path, "yaml", str(e).replace("\n", " ")) from None
    return parse_schema(data or {}, str(path))


@lru_cache(maxsize=1)
def load_schema() -> Schema:
    """The schema packaged with chaingraph (``schema.yaml``)."""
    return read_schema(SCHEMA_FILE)
