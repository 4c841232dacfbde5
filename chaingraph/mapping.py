"""Loader mappings: which columns of a source file make which nodes and edges.

A mapping is a YAML file in ``loaders/`` (or a user's own, ``--mapping FILE``).
It is parsed strictly against the schema: an unknown key, node kind, edge kind,
column or property is a :class:`~chaingraph.exc.DeclarationError` naming the
file and the key, before any data is read.

A mapping declares:

``source``, ``label``
    the source kind (``bank_statement``) and its human name.
``columns``
    logical column name -> list of header aliases (Chinese and English).
    Headers are matched after normalisation (case, spaces, brackets, full-width).
``required``
    logical columns a row cannot be loaded without; an item may be a list,
    meaning "one of these". A file is recognised as this source when its
    headers provide every required column.
``values``
    value maps for coded columns, e.g. ``direction: {in: [进, 贷], out: [出, 借]}``.
``derive``
    computed columns: ``time: {date: DATE_COLUMN, clock: CLOCK_COLUMN}`` joins a
    date and a time column; ``direction: {sign_of: amount}`` takes the direction
    from a signed amount where no direction column is given.
``types``
    type of a logical column that is used by no node or edge property
    (e.g. the ``direction`` column is ``text``).
``nodes``
    alias -> ``{kind, key, properties: {property: column}}``; a node exists on a
    row when its key column is not empty.
``edges``
    list of ``{kind, source, target, properties, when, reverse_when, side, primary}``:
    ``source`` and ``target`` name node aliases; ``when`` is a condition on the
    row (``{column: X, equals: v}``, ``{column: X, matches: regex}``,
    ``{column: X, empty: true}``), ``reverse_when`` swaps the ends when it holds
    (an incoming statement row), ``side`` names the node whose statement the row
    is (to merge both statements of one transfer) and ``primary: true`` marks the
    edge whose duplicate makes the row count as merged.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

from .exc import DeclarationError
from .schema import TYPE_NAMES, Schema, load_schema

MAPPING_KEYS = {"source", "label", "columns", "required", "values", "derive", "types", "nodes", "edges", "description"}
NODE_SPEC_KEYS = {"kind", "key", "properties"}
EDGE_SPEC_KEYS = {"kind", "source", "target", "properties", "when", "reverse_when", "side", "primary"}
COND_KEYS = {"column", "equals", "matches", "empty", "not_empty"}
DERIVE_KINDS = {"date", "clock", "sign_of", "from"}


def _data_dir(name: str) -> Path:
    """Packaged data folder: ``chaingraph/_data/NAME`` in a wheel, ``NAME/`` in a checkout."""
    here = Path(__file__).parent
    installed = here / "_data" / name
    return installed if installed.is_dir() else here.parent / name


LOADERS_DIR = _data_dir("loaders")


def normalise_header(h: str) -> str:
    """Normalise a header for alias matching.

    >>> normalise_header(" 交易金额（元） ")
    '交易金额'
    >>> normalise_header("Account No.")
    'accountno'
    """
    h = unicodedata.normalize("NFKC", str(h)).strip().lower()
    h = re.sub(r"[(\[{].*?[)\]}]", "", h)  # units in brackets: 金额(元)
    return re.sub(r"[\s_.\-:/*]+", "", h)


@dataclass(frozen=True)
class Condition:
    column: str
    equals: str | None = None
    matches: str | None = None
    empty: bool | None = None


@dataclass(frozen=True)
class NodeSpec:
    alias: str
    kind: str
    key: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeSpec:
    kind: str
    source: str
    target: str
    properties: dict[str, str] = field(default_factory=dict)
    when: tuple[Condition, ...] = ()
    reverse_when: tuple[Condition, ...] = ()
    side: str | None = None
    primary: bool = False


@dataclass(frozen=True)
class Mapping:
    """A parsed loader mapping. See the module docstring for the fields."""

    source: str
    label: str
    file: str
    columns: dict[str, tuple[str, ...]]
    required: tuple[tuple[str, ...], ...]
    values: dict[str, dict[str, tuple[str, ...]]]
    derive: dict[str, dict[str, str]]
    types: dict[str, str]
    nodes: dict[str, NodeSpec]
    edges: tuple[EdgeSpec, ...]

    def match_headers(self, headers) -> dict[str, str]:
        """Map logical column -> actual header for the headers this file has."""
        by_norm = {}
        for h in headers:
            by_norm.setdefault(normalise_header(h), h)
        found = {}
        for col, aliases in self.columns.items():
            for a in aliases:
                h = by_norm.get(normalise_header(a))
                if h is not None and h not in found.values():
                    found[col] = h
                    break
        return found

    def missing(self, found) -> list[str]:
        """Required columns (or groups) the found columns do not provide."""
        out = []
        for group in self.required:
            if not any(c in found or self._derivable(c, found) for c in group):
                out.append(" or ".join(group))
        return out

    def _derivable(self, col, found) -> bool:
        d = self.derive.get(col)
        if not d:
            return False
        if "date" in d:
            return d["date"] in found
        if "sign_of" in d:
            return d["sign_of"] in found
        return False

    def column_type(self, col: str, schema: Schema) -> str:
        """The value type a logical column is cleaned with."""
        if col in self.types:
            return self.types[col]
        for n in self.nodes.values():
            if n.key == col:
                return schema.nodes[n.kind].key
        for n in self.nodes.values():
            for prop, c in n.properties.items():
                if c == col:
                    return schema.nodes[n.kind].properties[prop]
        for e in self.edges:
            for prop, c in e.properties.items():
                if c == col:
                    return schema.edges[e.kind].properties[prop]
        return "text"


def _conds(raw, file, where, columns):
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, c in enumerate(items):
        w = f"{where}[{i}]"
        if not isinstance(c, dict):
            raise DeclarationError(file, w, "a condition is a mapping like {column: memo, matches: 取现}")
        bad = set(c) - COND_KEYS
        if bad:
            raise DeclarationError(file, f"{w}.{sorted(bad)[0]}", f"unknown key; valid: {', '.join(sorted(COND_KEYS))}")
        if c.get("column") not in columns:
            raise DeclarationError(file, f"{w}.column", f"{c.get('column')!r} is not a declared column")
        if c.get("matches"):
            try:
                re.compile(c["matches"])
            except re.error as e:
                raise DeclarationError(file, f"{w}.matches", f"bad regular expression: {e}") from None
        empty = c.get("empty")
        if c.get("not_empty"):
            empty = False
        out.append(Condition(c["column"], None if c.get("equals") is None else str(c["equals"]), c.get("matches"), empty))
    return tuple(out)


def _spec_kind(spec, allowed_keys, kinds, what, file, where) -> str:
    """Check a node or edge spec's keys and return its kind (which must be in the schema)."""
    if not isinstance(spec, dict):
        raise DeclarationError(file, where, f"must be a mapping with keys from: {', '.join(sorted(allowed_keys))}")
    bad = set(spec) - allowed_keys
    if bad:
        raise DeclarationError(file, f"{where}.{sorted(bad)[0]}", f"unknown key; valid: {', '.join(sorted(allowed_keys))}")
    kind = spec.get("kind")
    if kind not in kinds:
        raise DeclarationError(file, f"{where}.kind", f"{kind!r} is not a{'n' if what[0] in 'aeiou' else ''} {what} kind; valid: {', '.join(kinds)}")
    return kind


def parse_mapping(data, file="<mapping>", schema: Schema | None = None) -> Mapping:
    """Parse a mapping declaration strictly against the schema."""
    schema = schema or load_schema()
    if not isinstance(data, dict):
        raise DeclarationError(file, "mapping", "must be a YAML mapping")
    bad = set(data) - MAPPING_KEYS
    if bad:
        raise DeclarationError(file, sorted(bad)[0], f"unknown key; valid keys are: {', '.join(sorted(MAPPING_KEYS))}")
    for k in ("source", "columns", "required", "nodes", "edges"):
        if k not in data:
            raise DeclarationError(file, k, "is required")
    columns = {}
    for col, aliases in (data["columns"] or {}).items():
        if isinstance(aliases, str):
            aliases = [aliases]
        if not isinstance(aliases, list) or not aliases:
            raise DeclarationError(file, f"columns.{col}", "must be a list of header aliases")
        columns[str(col)] = tuple(str(a) for a in aliases)
    derive = {}
    for col, d in (data.get("derive") or {}).items():
        if not isinstance(d, dict) or set(d) - DERIVE_KINDS:
            raise DeclarationError(file, f"derive.{col}", f"must be a mapping with keys from: {', '.join(sorted(DERIVE_KINDS))}")
        for v in d.values():
            if v not in columns:
                raise DeclarationError(file, f"derive.{col}", f"{v!r} is not a declared column")
        derive[str(col)] = dict(d)
    known = set(columns) | set(derive)

    def col_ref(c, where):
        if c not in known:
            raise DeclarationError(file, where, f"{c!r} is not a declared column; declared: {', '.join(sorted(known))}")
        return c

    required = []
    for i, group in enumerate(data["required"] or []):
        group = group if isinstance(group, list) else [group]
        required.append(tuple(col_ref(c, f"required[{i}]") for c in group))
    values = {}
    for col, vm in (data.get("values") or {}).items():
        col_ref(col, f"values.{col}")
        if not isinstance(vm, dict):
            raise DeclarationError(file, f"values.{col}", "must map a code to a list of raw values")
        values[col] = {str(code): tuple(str(v) for v in (raw if isinstance(raw, list) else [raw])) for code, raw in vm.items()}
    types = {}
    for col, t in (data.get("types") or {}).items():
        col_ref(col, f"types.{col}")
        if t not in TYPE_NAMES:
            raise DeclarationError(file, f"types.{col}", f"{t!r} is not a type; valid: {', '.join(TYPE_NAMES)}")
        types[col] = t
    nodes = {}
    for alias, n in (data["nodes"] or {}).items():
        w = f"nodes.{alias}"
        kind = _spec_kind(n, NODE_SPEC_KEYS, schema.nodes, "node", file, w)
        props = {}
        for p, c in (n.get("properties") or {}).items():
            if p not in schema.nodes[kind].properties:
                raise DeclarationError(file, f"{w}.properties.{p}", f"{kind} has no property {p!r}; valid: {', '.join(schema.nodes[kind].properties)}")
            props[p] = col_ref(c, f"{w}.properties.{p}")
        nodes[alias] = NodeSpec(alias, kind, col_ref(n.get("key"), f"{w}.key"), props)
    edges = []
    for i, e in enumerate(data["edges"] or []):
        w = f"edges[{i}]"
        kind = _spec_kind(e, EDGE_SPEC_KEYS, schema.edges, "edge", file, w)
        ek = schema.edges[kind]
        for end in ("source", "target"):
            a = e.get(end)
            if a not in nodes:
                raise DeclarationError(file, f"{w}.{end}", f"{a!r} is not a node alias of this mapping; valid: {', '.join(nodes)}")
        rev = e.get("reverse_when") is not None
        for end, a in (("source", e["source"]), ("target", e["target"])):
            allowed = set(ek.source) | set(ek.target) if rev else set(getattr(ek, end))
            if nodes[a].kind not in allowed:
                raise DeclarationError(file, f"{w}.{end}", f"{kind} cannot have a {nodes[a].kind} as {end}; allowed: {', '.join(sorted(allowed))}")
        props = {}
        for p, c in (e.get("properties") or {}).items():
            if p not in ek.properties:
                raise DeclarationError(file, f"{w}.properties.{p}", f"{kind} has no property {p!r}; valid: {', '.join(ek.properties) or '(none)'}")
            props[p] = col_ref(c, f"{w}.properties.{p}")
        side = e.get("side")
        if side is not None and side not in nodes:
            raise DeclarationError(file, f"{w}.side", f"{side!r} is not a node alias")
        edges.append(EdgeSpec(
            kind, e["source"], e["target"], props,
            _conds(e.get("when"), file, f"{w}.when", known),
            _conds(e.get("reverse_when"), file, f"{w}.reverse_when", known),
            side, bool(e.get("primary", False)),
        ))
    return Mapping(
        source=str(data["source"]), label=str(data.get("label", data["source"])), file=str(file),
        columns=columns, required=tuple(required), values=values, derive=derive, types=types,
        nodes=nodes, edges=tuple(edges),
    )


def read_mapping(path, schema: Schema | None = None) -> Mapping:
    """Read and strictly parse one mapping file."""
    path = Path(path)
    if not path.is_file():
        raise DeclarationError(path, "file", "no such mapping file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as e:
        raise DeclarationError(path, "yaml", str(e).replace("\n", " ")) from None
    return parse_mapping(data, str(path), schema)


@lru_cache(maxsize=1)
def builtin_mappings() -> tuple[Mapping, ...]:
    """The mappings shipped in ``loaders/``, in file-name order."""
    return tuple(read_mapping(p) for p in sorted(LOADERS_DIR.glob("*.yaml")))


def recognise(headers, mappings) -> tuple[Mapping | None, dict[str, str], dict[str, list[str]]]:
    """Pick the mapping whose required columns the headers provide.

    Returns (mapping, found columns, missing-by-source). When several mappings
    fit, the one matching the most columns wins; ties go to the first.
    """
    best, best_found, best_score = None, {}, -1
    missing = {}
    for m in mappings:
        found = m.match_headers(headers)
        miss = m.missing(found)
        if miss:
            missing[m.source] = miss
            continue
        if len(found) > best_score:
            best, best_found, best_score = m, found, len(found)
    return best, best_found, missing
