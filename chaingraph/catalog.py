"""The query catalogue: named investigative queries declared in ``queries/*.yaml``.

Each file declares one query::

    name: fan_in                       # must equal the file name
    description: Accounts paid by many payers within a window.
    call: fan_in                       # a registered primitive (PRIMITIVES)
    params:
      min_payers: {type: int, default: 5, description: distinct payers}
      window: {type: duration, default: 24h}
    args:                              # optional; default: every param by its name
      min_counterparties: $min_payers  # "$name" is the param's (typed) value
      window: $window

Files are parsed strictly: an unknown key, a missing key, an unknown type or
primitive is a :class:`~chaingraph.exc.DeclarationError` naming the file and
the key. Adding a query means adding a file; primitives are imported only
when a query using them runs.

Param types: ``str``, ``int``, ``float``, ``bool``, ``duration`` (``72h``),
``time`` (ISO date/time, UTC), ``ref`` (an entity reference, resolved through
the view), ``refs`` (comma-separated references), ``list`` (comma-separated
strings), ``ints`` / ``floats`` (comma-separated numbers).
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .exc import DeclarationError, InvalidValue
from .export import LIMIT, print_table, print_written, row_limit, write_table

__all__ = ["Query", "Param", "PRIMITIVES", "load_query", "list_queries", "get_query", "run_query", "QUERY_DIR"]

QUERY_DIR = Path(__file__).resolve().parent.parent / "queries"

# name -> "module:function"; imported on first call
PRIMITIVES = {
    "trace": "chaingraph.trace:trace",
    "flow": "chaingraph.flow:flow",
    "paths": "chaingraph.paths:paths",
    "shared_identifiers": "chaingraph.links:shared_identifiers",
    "shared_devices": "chaingraph.links:shared_devices",
    "shared_phones": "chaingraph.links:shared_phones",
    "shared_holders": "chaingraph.links:shared_holders",
    "card_bursts": "chaingraph.links:card_bursts",
    "fan_in": "chaingraph.typologies:fan_in",
    "fan_out": "chaingraph.typologies:fan_out",
    "scatter_gather": "chaingraph.typologies:scatter_gather",
    "gather_scatter": "chaingraph.typologies:gather_scatter",
    "cycles": "chaingraph.typologies:cycles",
    "pass_through": "chaingraph.typologies:pass_through",
    "structuring": "chaingraph.typologies:structuring",
    "rings": "chaingraph.rings:rings",
    "ring_centrality": "chaingraph.rings:ring_centrality",
    "dealers_across_rings": "chaingraph.rings:dealers_across_rings",
    "roles": "chaingraph.roles:roles",
}

TOP_KEYS = {"name", "description", "call", "params", "args"}
PARAM_KEYS = {"type", "default", "description", "required", "choices"}
TYPES = ("str", "int", "float", "bool", "duration", "time", "ref", "refs", "list", "ints", "floats")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: object = None
    description: str = ""
    required: bool = False
    choices: tuple = ()


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    call: str
    params: dict = field(default_factory=dict)
    args: dict | None = None
    file: str = ""


def _convert(value, typ, where):
    """Convert a CLI string (or a Python value) to a param type."""
    try:
        if value is None:
            return None
        if typ == "str":
            return str(value)
        if typ == "int":
            if isinstance(value, bool):
                raise ValueError("not an integer")
            return int(value) if not isinstance(value, str) else int(value.strip())
        if typ == "float":
            return float(value)
        if typ == "bool":
            if isinstance(value, bool):
                return value
            v = str(value).strip().lower()
            if v in ("true", "yes", "1", "on"):
                return True
            if v in ("false", "no", "0", "off"):
                return False
            raise ValueError("expected true or false")
        if typ == "duration":
            td = pd.Timedelta(str(value).strip()) if not isinstance(value, pd.Timedelta) else value
            return str(value).strip() if isinstance(value, str) else td
        if typ == "time":
            return pd.Timestamp(value, tz="UTC") if pd.Timestamp(value).tzinfo is None else pd.Timestamp(value)
        if typ in ("refs", "list", "ints", "floats"):
            items = value if isinstance(value, (list, tuple)) else [x.strip() for x in str(value).split(",") if x.strip()]
            conv = {"ints": int, "floats": float}.get(typ, str)
            return [conv(x) for x in items]
        if typ == "ref":
            return str(value).strip()
    except (ValueError, TypeError) as e:
        raise InvalidValue(f"{where}: {value!r} is not a valid {typ}: {e}") from None
    raise InvalidValue(f"{where}: unknown type {typ!r}")


def load_query(path) -> Query:
    """Parse one query file strictly."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DeclarationError(path, "(file)", f"not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise DeclarationError(path, "(file)", "must be a mapping with keys " + ", ".join(sorted(TOP_KEYS)))
    for k in data:
        if k not in TOP_KEYS:
            raise DeclarationError(path, k, "unknown key; valid keys: " + ", ".join(sorted(TOP_KEYS)))
    for k in ("name", "description", "call"):
        if not isinstance(data.get(k), str) or not data[k].strip():
            raise DeclarationError(path, k, "is required (a non-empty string)")
    if data["name"] != path.stem:
        raise DeclarationError(path, "name", f"{data['name']!r} must equal the file name {path.stem!r}")
    if data["call"] not in PRIMITIVES:
        raise DeclarationError(path, "call", f"{data['call']!r} is not a primitive; valid: " + ", ".join(sorted(PRIMITIVES)))
    params = {}
    raw = data.get("params") or {}
    if not isinstance(raw, dict):
        raise DeclarationError(path, "params", "must be a mapping of name -> {type, default, …}")
    for pname, spec in raw.items():
        where = f"params.{pname}"
        if not isinstance(spec, dict):
            raise DeclarationError(path, where, "must be a mapping with keys " + ", ".join(sorted(PARAM_KEYS)))
        for k in spec:
            if k not in PARAM_KEYS:
                raise DeclarationError(path, f"{where}.{k}", "unknown key; valid keys: " + ", ".join(sorted(PARAM_KEYS)))
        typ = spec.get("type")
        if typ not in TYPES:
            raise DeclarationError(path, f"{where}.type", f"{typ!r}; valid types: " + ", ".join(TYPES))
        default = spec.get("default")
        if default is not None:
            try:
                _convert(default, typ, where)
            except InvalidValue as e:
                raise DeclarationError(path, f"{where}.default", str(e)) from None
        params[pname] = Param(pname, typ, default, str(spec.get("description", "")), bool(spec.get("required", False)),
                              tuple(spec.get("choices") or ()))
    args = data.get("args")
    if args is not None:
        if not isinstance(args, dict):
            raise DeclarationError(path, "args", "must be a mapping of argument -> value or $param")
        for a, v in args.items():
            if isinstance(v, str) and v.startswith("$") and v[1:] not in params:
                raise DeclarationError(path, f"args.{a}", f"{v!r} names no param; params: " + ", ".join(params))
    return Query(data["name"], data["description"].strip(), data["call"], params, args, str(path))


def list_queries(dirs=None) -> list[Query]:
    """Every query of the catalogue folders (default ``queries/``), sorted by name."""
    dirs = [QUERY_DIR] if dirs is None else [Path(d) for d in dirs]
    out = {}
    for d in dirs:
        for p in sorted(Path(d).glob("*.yaml")):
            q = load_query(p)
            out.setdefault(q.name, q)
    return [out[k] for k in sorted(out)]


def get_query(name: str, dirs=None) -> Query:
    qs = {q.name: q for q in list_queries(dirs)}
    if name not in qs:
        raise InvalidValue(f"no query named {name!r}; known: " + ", ".join(sorted(qs)))
    return qs[name]


def _primitive(name):
    mod, _, fn = PRIMITIVES[name].partition(":")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise InvalidValue(f"primitive {name!r} is not available ({e})") from None


def bind(query: Query, view, params: dict) -> dict:
    """Typed, validated keyword arguments for the primitive."""
    unknown = sorted(set(params) - set(query.params))
    if unknown:
        raise InvalidValue(f"query {query.name}: unknown param(s) {', '.join(unknown)}; "
                           f"valid: {', '.join(query.params) or '(none)'}")
    values = {}
    for p in query.params.values():
        where = f"query {query.name}: param {p.name}"
        v = params.get(p.name, p.default)
        if v is None:
            if p.required:
                raise InvalidValue(f"{where} is required")
            values[p.name] = None
            continue
        v = _convert(v, p.type, where)
        if p.choices and v not in p.choices:
            raise InvalidValue(f"{where}: {v!r} not one of {', '.join(map(str, p.choices))}")
        if p.type == "ref":
            v = view.resolve(v)
        elif p.type == "refs":
            v = [view.resolve(x) for x in v]
        values[p.name] = v
    if query.args is None:
        return {k: v for k, v in values.items() if v is not None}
    out = {}
    for a, t in query.args.items():
        if isinstance(t, str) and t.startswith("$"):
            if values[t[1:]] is not None:
                out[a] = values[t[1:]]
        else:
            out[a] = t
    return out


def run_query(view, name: str, dirs=None, **params):
    """Run the named query on ``view`` with ``params`` (strings are converted to the declared types)."""
    q = get_query(name, dirs)
    return _primitive(q.call)(view, **bind(q, view, params))


# -- results as tables / JSON -------------------------------------------------
def as_frame(result) -> pd.DataFrame:
    """The main table of a result (DataFrame, Rings, FlowResult, TraceResult…)."""
    if isinstance(result, pd.DataFrame):
        return result
    for attr in ("members", "accounts", "nodes", "paths"):
        v = getattr(result, attr, None)
        if isinstance(v, pd.DataFrame):
            return v
    raise InvalidValue(f"cannot show a {type(result).__name__} as a table")


def as_json(result):
    if hasattr(result, "to_json") and not isinstance(result, pd.DataFrame):
        return result.to_json()
    df = as_frame(result)
    return json.loads(df.to_json(orient="records", date_format="iso", force_ascii=False, default_handler=str))


# -- CLI -------------------------------------------------------------------------
def cmd_queries(args) -> int:
    qs = list_queries()
    if args.json:
        print(json.dumps([{"name": q.name, "description": q.description, "call": q.call,
                           "params": {p.name: {"type": p.type, "default": p.default, "description": p.description}
                                      for p in q.params.values()}} for q in qs], ensure_ascii=False, indent=2,
                         default=str))
        return 0
    width = max((len(q.name) for q in qs), default=0)
    for q in qs:
        ps = " ".join(f"{p.name}={p.default}" for p in q.params.values())
        print(f"{q.name.ljust(width)}  {q.description.splitlines()[0]}")
        if ps:
            print(f"{' ' * width}    params: {ps}")
    return 0


def cmd_query(args) -> int:
    from .store import Store
    from .view import MemoryView

    params = {}
    for kv in args.param or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise InvalidValue(f"--param {kv!r}: expected NAME=VALUE")
        params[k.strip()] = v
    if (args.mask or args.salt) and not args.out:
        raise InvalidValue("--mask and --salt mask a written file: give --out FILE")
    view = MemoryView(Store.open(args.store))
    result = run_query(view, args.name, **params)
    if args.out:   # the whole table, as the lead list is written (formula-safe cells, masking)
        print_written(write_table(args.out, {args.name: as_frame(result)}, mask=args.mask, salt=args.salt,
                                  schema=view.schema), args.mask)
    elif args.json:
        print(json.dumps(as_json(result), ensure_ascii=False, indent=2, default=str))
    else:   # long cells (metrics, edge ids) cut at 60 characters; --json has them whole
        print_table(as_frame(result), args.limit, "(no rows)", max_colwidth=60)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("queries", help="list the named queries of the catalogue")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_queries)
    p = sub.add_parser("query", help="run a named query: chaingraph query NAME --store STORE --param k=v")
    p.add_argument("name")
    p.add_argument("--store", required=True)
    p.add_argument("--param", action="append", help="NAME=VALUE (repeatable)")
    p.add_argument("--json", action="store_true", help="every row and value as JSON")
    p.add_argument("--limit", type=row_limit, default=LIMIT, help=f"rows printed as a table (default {LIMIT}; 0: all)")
    p.add_argument("--out", metavar="FILE", help="write every row to FILE (.csv, .xlsx or .json) instead")
    p.add_argument("--mask", action="store_true", help="with --out: mask ID, phone and card numbers; add key_hash")
    p.add_argument("--salt", help="with --out --mask: salt for key_hash (default: $CHAINGRAPH_MASK_SALT, else random, "
                                  "written next to FILE)")
    p.set_defaults(func=cmd_query)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
