"""Pictures of a chain graph: interactive HTML that works offline, and static PNG/SVG.

:func:`render` takes a networkx graph with the attributes :meth:`Store.graph
<chaingraph.store.Store.graph>` produces (a whole store, a neighbourhood, or a
trace / fund-flow result) and returns a :class:`Figure`:

- ``fig.html`` is one standalone HTML page: vis-network's script and stylesheet
  (read from the installed pyvis package) are inlined, and a Content Security
  Policy forbids every request, so it opens on a machine cut off from any
  network; ``fig.save(path)`` writes it.
- In a notebook the figure displays itself in an ``<iframe srcdoc=…>`` (JupyterLab,
  classic Notebook, VS Code); nothing is written to the current directory.
- ``fig.to_image("chain.png")`` draws the same picture with matplotlib for
  printed reports (PNG, SVG or PDF by the file's suffix).

Every style comes from ``schema.yaml``: colour and shape per node kind, colour
and dashes per edge kind. Edge width grows with the log of the amount. Labels,
tooltips and the legend are data from suspects: they are never parsed as HTML
(tooltips are built as DOM nodes with ``textContent``; the JSON is escaped for
``<script>``; the page's policy lets only its own two scripts run).

Large graphs stay usable: many leaves of one kind hanging off one node become one
node ("37 bank accounts"), and at most ``max_nodes`` are drawn (highlighted nodes
first, then by ``score`` if nodes carry one, then by degree), with a note of what
was left out.

>>> import networkx as nx
>>> g = nx.MultiDiGraph()
>>> g.add_node("bank_account:1", kind="bank_account", key="1", label="6222 0001")
>>> g.add_node("bank_account:2", kind="bank_account", key="2", label="6222 0002")
>>> _ = g.add_edge("bank_account:1", "bank_account:2", key=7, kind="transfer", amount=50000.0)
>>> fig = render(g, title="two accounts", layout="flow")
>>> fig.n_nodes, fig.n_edges, 'src="http' in fig.html, "¥50,000" in fig.html
(2, 1, False, True)
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import networkx as nx

from .exc import ChaingraphError
from .schema import Schema, load_schema

__all__ = ["render", "Figure", "add_commands"]

LAYOUTS = ("force", "flow")
DEFAULT_COLOR = "#9d9d9d"
DEFAULT_SHAPE = "dot"
HIGHLIGHT_BORDER = "#111111"
LABEL_MAX = 26  # characters of a label drawn on the canvas; the tooltip has all of it
LEAF_GROUP_MIN = 5  # collapse_leaves=True: this many leaves of one kind on one node become one
PARALLEL_BUNDLE = 2  # more parallel edges than this are drawn as one
EVIDENCE_MAX = 6  # provenance lines per tooltip
FONT_STACK = 'system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif'
# attributes shown in the tooltip header or not at all
_HIDDEN_ATTRS = {"kind", "key", "label"}
# matplotlib markers for vis-network shapes
_MARKERS = {"dot": "o", "circle": "o", "ellipse": "o", "square": "s", "box": "s", "hexagon": "h",
            "diamond": "D", "star": "*", "triangle": "^", "triangleDown": "v", "database": "s", "text": "o"}
# vis shapes that draw their label inside the shape (text colour must contrast with the fill)
_LABEL_INSIDE = {"box", "ellipse", "circle", "database", "text"}


# ---------------------------------------------------------------------------
# the plotted model: what both the HTML and the static image draw
# ---------------------------------------------------------------------------
@dataclass
class _PNode:
    id: str
    kind: str
    label: str  # full label
    tip_head: str
    tip_rows: list
    evidence: list = field(default_factory=list)
    highlighted: bool = False
    members: int = 0  # > 0 for a collapsed leaf group
    score: float | None = None
    level: int | None = None


@dataclass
class _PEdge:
    source: str
    target: str
    kind: str
    amount: float | None
    tip_rows: list
    evidence: list = field(default_factory=list)
    highlighted: bool = False
    count: int = 1
    keys: list = field(default_factory=list)


@dataclass
class _Plot:
    nodes: dict
    edges: list
    notes: list
    layout: str
    fade: bool


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------
class Figure:
    """A rendered graph. ``html`` is a complete standalone page (no external request).

    Display it in a notebook (it is its own ``_repr_html_``), write it with
    :meth:`save`, or draw a static picture with :meth:`to_image`.
    """

    def __init__(self, html: str, plot: _Plot, title: str | None, schema: Schema):
        self.html = html
        self.title = title
        self._plot = plot
        self._schema = schema

    @property
    def n_nodes(self) -> int:
        """Nodes drawn (a collapsed leaf group counts as one)."""
        return len(self._plot.nodes)

    @property
    def n_edges(self) -> int:
        """Edges drawn (parallel edges into one collapsed group count as one)."""
        return len(self._plot.edges)

    @property
    def notes(self) -> list[str]:
        """What was left out or collapsed, as shown at the bottom of the picture."""
        return list(self._plot.notes)

    def save(self, path) -> Path:
        """Write the HTML page to ``path`` (UTF-8) and return the path."""
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        # srcdoc keeps the page self-contained: no file, no server, no CDN; works in
        # JupyterLab, classic Notebook and VS Code. The sandbox lets only scripts run.
        return (
            '<iframe srcdoc="' + _html.escape(self.html, quote=True) + '" '
            'sandbox="allow-scripts" style="width:100%;height:640px;border:1px solid #ddd" '
            'title="' + _html.escape(self.title or "chaingraph", quote=True) + '"></iframe>'
        )

    def show(self):
        """Display in a notebook; outside one, open the page in the web browser.

        Outside a notebook the page is written to a new temporary file (never the
        current directory), whose path is returned.
        """
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            get_ipython = None
        if get_ipython is not None and getattr(get_ipython(), "kernel", None) is not None:
            display(self)
            return None
        import tempfile
        import webbrowser

        fd, name = tempfile.mkstemp(prefix="chaingraph-", suffix=".html")
        with open(fd, "w", encoding="utf-8") as f:
            f.write(self.html)
        webbrowser.open(Path(name).as_uri())
        return Path(name)

    def to_image(self, path, *, dpi: int = 150, size: tuple[float, float] | None = None) -> Path:
        """Draw the figure with matplotlib into ``path`` (.png, .svg or .pdf) and return it."""
        return _draw_static(self._plot, self._schema, self.title, Path(path), dpi=dpi, size=size)

    def __repr__(self) -> str:
        return f"<chaingraph Figure {self.title or ''!s}: {self.n_nodes} nodes, {self.n_edges} edges>"


def render(graph, *, title: str | None = None, highlight=None, layout: str = "force",
           max_nodes: int = 500, collapse_leaves=True, evidence=None, top_k: int | None = None,
           schema: Schema | None = None) -> Figure:
    """Draw ``graph`` (a networkx graph as :meth:`Store.graph` makes) as a :class:`Figure`.

    Parameters
    ----------
    graph : networkx graph
        Nodes with ``kind``, ``key``, ``label`` and properties (optionally ``score``,
        ``level``); edges with ``kind``, ``amount``, ``time``, … (optionally
        ``attributed``, the amount a fund flow attributes to the edge).
    title : str, optional
        Shown above the graph.
    highlight : iterable, optional
        Node ids (``"kind:key"``) and edge ids (the integer edge keys) to emphasise.
        With more than one node, or any edge, everything else is faded; edges
        between two highlighted nodes are highlighted too.
    layout : {"force", "flow"}
        ``force``: a force-directed layout that stops once it has settled.
        ``flow``: hierarchical, left to right by the node attribute ``level``
        (computed from the chain direction of the edges when absent), with amounts
        written on the edges.
    max_nodes : int
        At most this many nodes are drawn; the rest are left out with a note.
    collapse_leaves : bool or int
        Collapse this many (True: 5) or more leaves of one kind hanging off one node
        into a single node ("37 bank accounts"). False keeps every leaf.
    evidence : DataFrame or object with ``.evidence(ids)``, optional
        Provenance (``id, file, sheet, row``), e.g. a Store or a View; tooltips then
        list the file and row behind each node and edge.
    top_k : int, optional
        Draw only the ``top_k`` nodes with the highest ``score`` (plus highlighted).
    schema : Schema, optional
        Styles come from it (default: the packaged schema).
    """
    if layout not in LAYOUTS:
        raise ChaingraphError(f"render: layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise ChaingraphError(f"render: max_nodes must be a positive integer, not {max_nodes!r}")
    if not isinstance(graph, nx.Graph):
        raise ChaingraphError(f"render: expected a networkx graph, not {type(graph).__name__}")
    schema = schema or load_schema()
    plot = _build_plot(graph, schema, highlight=highlight, layout=layout, max_nodes=max_nodes,
                       collapse_leaves=collapse_leaves, evidence=evidence, top_k=top_k)
    return Figure(_to_html(plot, schema, title), plot, title, schema)


# ---------------------------------------------------------------------------
# selecting what to draw
# ---------------------------------------------------------------------------
def _neighbours(g, n) -> set:
    if g.is_directed():
        s = set(g.succ[n]) | set(g.pred[n])
    else:
        s = set(g.adj[n])
    s.discard(n)
    return s


def _iter_edges(g, nodes):
    """(u, v, key, data) of every edge leaving ``nodes`` (every incident edge once if undirected)."""
    if g.is_multigraph():
        it = g.out_edges(nodes, keys=True, data=True) if g.is_directed() else g.edges(nodes, keys=True, data=True)
        yield from it
    else:
        it = g.out_edges(nodes, data=True) if g.is_directed() else g.edges(nodes, data=True)
        for u, v, d in it:
            yield u, v, None, d


def _number(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _plural(label: str, n: int) -> str:
    words = label.split(" ")
    if len(words[0]) > 1 and words[0][1:2].islower():
        words[0] = words[0][0].lower() + words[0][1:]
    text = " ".join(words)
    if n == 1:
        return f"1 {text}"
    if text.endswith(("s", "x", "ch", "sh")):
        text += "es"
    elif text.endswith("y") and text[-2:-1] not in "aeiou":
        text = text[:-1] + "ies"
    else:
        text += "s"
    return f"{n:,} {text}"


def _split_highlight(g, highlight):
    nodes, edges = set(), set()
    if highlight is None:
        return nodes, edges
    if isinstance(highlight, (str, int)):
        highlight = [highlight]
    for h in highlight:
        if isinstance(h, str) and h in g:
            nodes.add(h)
        elif isinstance(h, tuple) and len(h) >= 2:
            nodes.update(x for x in h[:2] if x in g)
            if len(h) == 3:
                edges.add(h[2])
        elif h in g:
            nodes.add(h)
        else:
            edges.add(h)
    return nodes, edges


def _build_plot(g, schema, *, highlight, layout, max_nodes, collapse_leaves, evidence, top_k) -> _Plot:
    hl_nodes, hl_edges = _split_highlight(g, highlight)
    if hl_edges:  # the ends of highlighted edges are highlighted too
        for u, v, k, _ in _iter_edges(g, list(g.nodes)) if len(g) < 200_000 else ():
            if k in hl_edges:
                hl_nodes.update((u, v))
    fade = len(hl_nodes) > 1 or bool(hl_edges)
    notes = []
    scores = {n: s for n, d in g.nodes(data=True) if (s := _number(d.get("score"))) is not None}

    candidates = set(g.nodes)
    if top_k is not None:
        if not scores:
            raise ChaingraphError("render: top_k needs nodes with a 'score' attribute; none has one")
        ranked = sorted(scores, key=lambda n: (-scores[n], str(n)))
        candidates = set(ranked[:top_k]) | hl_nodes
        if len(g) > len(candidates):
            notes.append(f"top {top_k:,} by score: {len(g) - len(candidates):,} other nodes not shown")

    # -- collapse leaf groups ------------------------------------------------
    threshold = LEAF_GROUP_MIN if collapse_leaves is True else int(collapse_leaves or 0)
    rep = {}  # original node -> plotted node id
    groups = {}  # group id -> (hub, kind, [members])
    if threshold > 1:
        by_hub = defaultdict(list)
        for n in g.nodes:
            if n not in candidates or n in hl_nodes:
                continue
            nb = _neighbours(g, n)
            if len(nb) == 1:
                (hub,) = nb
                if hub in candidates:
                    by_hub[(hub, g.nodes[n].get("kind", ""))].append(n)
        for (hub, kind), members in by_hub.items():
            # a leaf pair (two nodes only linked to each other) must not swallow itself
            if len(members) >= threshold and hub not in members:
                gid = f"~group~{hub}~{kind}"
                groups[gid] = (hub, kind, sorted(members, key=str))
                for m in members:
                    rep[m] = gid
        if groups:
            n_members = sum(len(v[2]) for v in groups.values())
            notes.append(f"{len(groups):,} leaf group{'s' if len(groups) > 1 else ''} collapsed "
                         f"({n_members:,} nodes drawn as {len(groups):,})")

    # -- cap -------------------------------------------------------------------
    units = [n for n in g.nodes if n in candidates and n not in rep] + list(groups)  # graph order: stable
    if len(units) > max_nodes:
        def rank(u):
            if u in groups:
                members = groups[u][2]
                return (u not in hl_nodes, -(max((scores.get(m, -math.inf) for m in members), default=-math.inf)),
                        -len(members), str(u))
            return (u not in hl_nodes, -scores.get(u, -math.inf), -g.degree(u), str(u))
        units.sort(key=rank)
        dropped = units[max_nodes:]
        units = units[:max_nodes]
        n_dropped = sum(len(groups[u][2]) if u in groups else 1 for u in dropped)
        by = "score, then degree" if scores else "degree"
        notes.insert(0, f"{n_dropped:,} nodes not shown (drawing the {max_nodes:,} "
                        f"highest by {by}; raise max_nodes to see more)")
        for u in dropped:
            if u in groups:
                for m in groups.pop(u)[2]:
                    rep.pop(m, None)
    keep = set(units)
    for u in units:
        if u not in groups:
            rep[u] = u

    # -- evidence --------------------------------------------------------------
    plotted_orig = [n for n, r in rep.items() if r in keep]
    raw_edges = [(u, v, k, d) for u, v, k, d in _iter_edges(g, plotted_orig) if v in rep and rep[v] in keep]
    ev = _evidence_lookup(evidence, [n for n in plotted_orig if rep[n] == n],
                          [k for _, _, k, _ in raw_edges if k is not None])

    # -- nodes -----------------------------------------------------------------
    nodes = {}
    for u in units:
        if u in groups:
            hub, kind, members = groups[u]
            nk = schema.nodes.get(kind)
            label = _plural(nk.label if nk else (kind or "node"), len(members))
            mlabels = [_text(g.nodes[m].get("label", g.nodes[m].get("key", m))) for m in members]
            rows = [("collapsed", f"{len(members):,} leaves hanging off {_text(g.nodes[hub].get('label', hub))}")]
            rows += [("", x) for x in mlabels[:12]]
            if len(mlabels) > 12:
                rows.append(("", f"… and {len(mlabels) - 12:,} more"))
            ms = [scores[m] for m in members if m in scores]
            nodes[u] = _PNode(u, kind, label, label, rows, members=len(members), score=max(ms) if ms else None)
        else:
            d = g.nodes[u]
            kind = _text(d.get("kind", ""))
            nk = schema.nodes.get(kind)
            label = _text(d.get("label") or d.get("key") or u)
            head = f"{nk.label if nk else kind or 'node'}: {_text(d.get('key', u))}"
            nodes[u] = _PNode(u, kind, label, head, _attr_rows(d, nk.properties if nk else {}),
                              evidence=ev.get(str(u), []), highlighted=u in hl_nodes,
                              score=scores.get(u), level=_int(d.get("level")))

    # -- edges (edges into a collapsed group are merged per kind and direction) --
    edges = []
    merged = {}
    # many parallel edges of one kind between two nodes (repeated withdrawals, a
    # stream of transfers) are drawn as one edge "n x" with their total
    parallel = Counter((rep[u], rep[v], d.get("kind", "")) for u, v, k, d in raw_edges)
    for u, v, k, d in raw_edges:
        a, b = rep[u], rep[v]
        kind = _text(d.get("kind", ""))
        amount = _number(d.get("attributed", d.get("amount")))
        bundle = parallel[(a, b, d.get("kind", ""))] > PARALLEL_BUNDLE and k not in hl_edges
        if a in groups or b in groups or bundle:
            mk = (a, b, kind)
            if mk in merged:
                e = merged[mk]
                e.count += 1
                e.keys.append(k)
                if amount is not None:
                    e.amount = (e.amount or 0.0) + amount
                continue
            e = _PEdge(a, b, kind, amount, [], keys=[k])
            merged[mk] = e
        else:
            ek = schema.edges.get(kind)
            rows = [("edge", f"{ek.label if ek else kind} #{k}" if k is not None else (ek.label if ek else kind))]
            rows += _attr_rows(d, ek.properties if ek else {}, skip={"kind"})
            e = _PEdge(a, b, kind, amount, rows, evidence=ev.get(str(k), []),
                       highlighted=(k in hl_edges) or (not hl_edges and u in hl_nodes and v in hl_nodes and fade),
                       keys=[k])
        edges.append(e)
    for e in merged.values():
        ek = schema.edges.get(e.kind)
        e.tip_rows = [("edges", f"{e.count:,} × {ek.label if ek else e.kind}")]
        if e.amount is not None:
            e.tip_rows.append(("total amount", _money(e.amount)))

    if layout == "flow":
        _assign_levels(nodes, edges, schema)
    return _Plot(nodes, edges, notes, layout, fade)


def _int(v):
    f = _number(v)
    return int(f) if f is not None else None


def _assign_levels(nodes, edges, schema):
    """Give every node a ``level``: its own, else from the chain direction of the edges."""
    if all(n.level is not None for n in nodes.values()):
        return
    dg = nx.DiGraph()
    dg.add_nodes_from(nodes)
    for e in edges:
        ek = schema.edges.get(e.kind)
        end = schema.downstream_end(e.kind) if ek else "target"
        a, b = (e.target, e.source) if end == "source" else (e.source, e.target)
        if a != b:
            dg.add_edge(a, b, step=1 if end else 0)  # identity links (no chain end) keep the level
    given = {n: p.level for n, p in nodes.items() if p.level is not None}
    if given:  # e.g. a fund flow: victims, holders and phones sit next to what they attach to
        frontier, seen = sorted(given, key=lambda n: given[n]), dict(given)
        while frontier:
            nxt = []
            for n in frontier:
                steps = [(m, seen[n] + d["step"]) for m, d in dg.succ[n].items()]
                steps += [(m, seen[n] - d["step"]) for m, d in dg.pred[n].items()]
                for m, lv in steps:
                    if m not in seen:
                        seen[m] = lv
                        nxt.append(m)
            frontier = nxt
        low = min(seen.values())
        for n, p in nodes.items():
            p.level = seen.get(n, low) - min(low, 0)
        return
    cond = nx.condensation(dg)
    level = {}
    for c in nx.topological_sort(cond):
        preds = [level[p] for p in cond.predecessors(c)]
        level[c] = max(preds) + 1 if preds else 0
    mapping = cond.graph["mapping"]
    for n, p in nodes.items():
        if p.level is None:
            p.level = level[mapping[n]]


def _evidence_lookup(evidence, node_ids, edge_ids) -> dict:
    """{str(id): ["file [sheet] row N", ...]} from a DataFrame or an object with .evidence()."""
    if evidence is None:
        return {}
    ids = list(node_ids) + list(edge_ids)
    if hasattr(evidence, "evidence") and callable(evidence.evidence):
        df = evidence.evidence(ids) if ids else None
    else:
        df = evidence
    if df is None or len(df) == 0:
        return {}
    if "id" not in df.columns and "edge_id" in df.columns:
        df = df.rename(columns={"edge_id": "id"})
    out = defaultdict(list)
    for rec in df.to_dict("records"):
        where = _text(rec.get("file", ""))
        sheet = rec.get("sheet")
        if sheet is not None and sheet == sheet and str(sheet):
            where += f" [{_text(sheet)}]"
        row = rec.get("row")
        if row is not None and row == row:
            where += f":{_int(row) if _int(row) is not None else _text(row)}"
        out[str(rec.get("id"))].append(where)
    return out


def _text(v, limit: int = 300) -> str:
    s = str(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _money(a: float) -> str:
    return f"¥{a:,.0f}" if abs(a) >= 100 else f"¥{a:,.2f}"


def _fmt(name, v) -> str:
    if hasattr(v, "strftime"):
        try:
            s = v.strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return _text(v)
        return s[:-9] if s.endswith(" 00:00:00") else s
    if name in ("amount", "attributed", "balance", "price", "loss") and _number(v) is not None:
        return _money(float(v))
    if isinstance(v, float) and v.is_integer():
        return f"{int(v)}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return _text(v)


def _attr_rows(d: dict, declared: dict, skip=()) -> list:
    """(name, value) rows: declared properties first, in schema order, then the rest."""
    names = [p for p in declared if p in d] + sorted(k for k in d if k not in declared)
    rows = []
    for k in names:
        if k in _HIDDEN_ATTRS or k in skip or str(k).startswith("_"):
            continue
        v = d[k]
        if v is None or (isinstance(v, float) and v != v) or v == "":
            continue
        rows.append((_text(k, 60), _fmt(k, v)))
    return rows


# ---------------------------------------------------------------------------
# styles, from the schema only
# ---------------------------------------------------------------------------
def _node_style(schema, kind):
    nk = schema.nodes.get(kind)
    st = nk.style if nk else {}
    return str(st.get("color", DEFAULT_COLOR)), str(st.get("shape", DEFAULT_SHAPE))


def _edge_style(schema, kind):
    ek = schema.edges.get(kind)
    st = ek.style if ek else {}
    return str(st.get("color", DEFAULT_COLOR)), bool(st.get("dashes", False))


def _rgb(color: str):
    c = color.lstrip("#")
    if len(c) == 3:
        c = "".join(x * 2 for x in c)
    try:
        return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return (157, 157, 157)


def _rgba(color: str, alpha: float) -> str:
    r, g, b = _rgb(color)
    return f"rgba({r},{g},{b},{alpha})"


def _dark(color: str) -> bool:
    r, g, b = (x / 255 for x in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.55


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


def _edge_widths(edges):
    amounts = [e.amount for e in edges if e.amount is not None and e.amount > 0]
    top = math.log1p(max(amounts)) if amounts else 1.0
    return [1.0 + 7.0 * math.log1p(e.amount) / top if (e.amount or 0) > 0 and top > 0 else 1.0 for e in edges]


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _vis_assets() -> tuple[str, str]:
    """vis-network's JS and CSS, read from the installed pyvis package."""
    try:
        from importlib.resources import files

        lib = files("pyvis") / "lib"
    except ModuleNotFoundError:
        raise ChaingraphError("interactive pictures need pyvis: pip install 'pyvis>=0.3.2'") from None
    dirs = sorted((p for p in lib.iterdir() if p.name.startswith("vis-") and (p / "vis-network.min.js").is_file()),
                  key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.name)))
    if not dirs:
        raise ChaingraphError(f"pyvis at {lib} ships no vis-network script; reinstall pyvis")
    js = (dirs[-1] / "vis-network.min.js").read_text(encoding="utf-8")
    css = (dirs[-1] / "vis-network.css").read_text(encoding="utf-8")
    # the stylesheet embeds ~200 kB of icons for the editing toolbar we never show
    css = re.sub(r'url\("data:[^"]*"\)', "none", css)
    if re.search(r"</(script|style)", js + css, re.I) or re.search(r"url\((?!\s*[\"']?(data:|none))", css):
        raise ChaingraphError(f"{dirs[-1]}: unexpected vis-network assets (cannot inline them safely)")
    return js, css


def _script_json(obj) -> str:
    """JSON safe inside <script type=application/json>: nothing can close the element."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (s.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


_SVG_SHAPES = {
    "dot": '<circle cx="8" cy="8" r="6"/>',
    "circle": '<circle cx="8" cy="8" r="6"/>',
    "ellipse": '<ellipse cx="8" cy="8" rx="7" ry="4.5"/>',
    "square": '<rect x="2.5" y="2.5" width="11" height="11"/>',
    "box": '<rect x="1" y="4" width="14" height="8" rx="2"/>',
    "diamond": '<polygon points="8,1 15,8 8,15 1,8"/>',
    "triangle": '<polygon points="8,1.5 15,14 1,14"/>',
    "triangleDown": '<polygon points="1,2 15,2 8,14.5"/>',
    "hexagon": '<polygon points="4.5,2 11.5,2 15,8 11.5,14 4.5,14 1,8"/>',
    "star": '<polygon points="8,1 9.9,6 15,6 10.9,9.2 12.4,14.5 8,11.3 3.6,14.5 5.1,9.2 1,6 6.1,6"/>',
}

_CSS = """
html,body{margin:0;padding:0;height:100%;background:#fff;font-family:%FONT%;color:#222}
body{display:grid;grid-template-columns:auto 1fr;grid-template-rows:auto 1fr auto;height:100vh;overflow:hidden}
#cg-head{grid-column:1 / 3;padding:6px 12px 4px;font-size:16px;font-weight:600;border-bottom:1px solid #eee}
#cg-legend{grid-column:1;grid-row:2;overflow:auto;max-width:230px;font-size:12px;padding:6px 10px;
 line-height:1.6;border-right:1px solid #eee;background:#fafafa}
#cg-graph{grid-column:2;grid-row:2;position:relative;min-width:0;min-height:0}
#cg-legend .cg-lg-title{font-weight:600;margin-top:2px}
#cg-legend .cg-lg-item{display:flex;align-items:center;gap:6px;white-space:nowrap}
#cg-legend .cg-lg-node{cursor:pointer;user-select:none}
#cg-legend .cg-lg-node.cg-off{opacity:.35;text-decoration:line-through}
#cg-legend .cg-n{color:#777}
#cg-note{grid-column:1 / 3;grid-row:3;padding:3px 12px 5px;font-size:12px;color:#8a4b00;border-top:1px solid #eee}
#cg-note:empty{display:none}
div.vis-tooltip{font-family:%FONT%;font-size:12px;max-width:420px;white-space:normal;padding:6px 8px;
 background:#fffef6;border:1px solid #bbb;box-shadow:0 2px 6px rgba(0,0,0,.2)}
.cg-tip-h{font-weight:600;margin-bottom:3px;word-break:break-all}
.cg-tip table{border-collapse:collapse}
.cg-tip td{vertical-align:top;padding:0 6px 0 0;word-break:break-all}
.cg-tip td:first-child{color:#666;white-space:nowrap;word-break:normal}
.cg-tip-src{margin-top:4px;color:#555;border-top:1px solid #e5e5e5;padding-top:3px}
""".replace("%FONT%", FONT_STACK)

# Runs in the page: builds tooltips as DOM nodes (textContent only), draws, stops the
# physics once stabilised, and records in <body data-nodes-drawn> that it drew.
_JS = r"""
(function(){
"use strict";
var D=JSON.parse(document.getElementById("cg-data").textContent);
function tip(t){
  var d=document.createElement("div");d.className="cg-tip";
  var h=document.createElement("div");h.className="cg-tip-h";h.textContent=t.h||"";d.appendChild(h);
  if(t.r&&t.r.length){var tb=document.createElement("table");
    t.r.forEach(function(r){var tr=tb.insertRow();tr.insertCell().textContent=r[0];tr.insertCell().textContent=r[1];});
    d.appendChild(tb);}
  if(t.e&&t.e.length){var s=document.createElement("div");s.className="cg-tip-src";
    var l=document.createElement("div");l.textContent="evidence (file:row)";l.style.fontWeight="600";s.appendChild(l);
    t.e.forEach(function(x){var e=document.createElement("div");e.textContent=x;s.appendChild(e);});
    d.appendChild(s);}
  return d;
}
D.nodes.forEach(function(n){if(n.tip){n.title=tip(n.tip);delete n.tip;}});
D.edges.forEach(function(e){if(e.tip){e.title=tip(e.tip);delete e.tip;}});
var nodes=new vis.DataSet(D.nodes),edges=new vis.DataSet(D.edges);
var box=document.getElementById("cg-graph");
var net=new vis.Network(box,{nodes:nodes,edges:edges},D.options);
window.chaingraphNetwork=net;
var settled=false;
function settle(){if(settled)return;settled=true;net.setOptions({physics:false});
  document.body.setAttribute("data-stabilized","1");
  setTimeout(function(){net.redraw();},0);}  // drawn now, not only at the next animation frame
if(D.options.physics&&D.options.physics.enabled){
  net.once("stabilizationIterationsDone",function(){settle();net.fit({animation:false});});
}else{settle();}
net.once("afterDrawing",function(){net.fit({animation:false});});
var moved=false;net.on("dragStart",function(){moved=true;});net.on("zoom",function(){moved=true;});
net.on("resize",function(){if(!moved&&settled)setTimeout(function(){net.fit({animation:false});},60);});
net.on("afterDrawing",function(){
  var n=0;nodes.forEach(function(x){if(!x.hidden)n++;});
  document.body.setAttribute("data-nodes-drawn",String(n));
});
Array.prototype.forEach.call(document.querySelectorAll("#cg-legend .cg-lg-node"),function(el){
  el.addEventListener("click",function(){
    var k=el.getAttribute("data-kind"),off=!el.classList.contains("cg-off");
    el.classList.toggle("cg-off",off);
    nodes.update(nodes.get({filter:function(x){return x.cgKind===k;}}).map(function(x){return {id:x.id,hidden:off};}));
  });
});
})();
"""


def _legend_html(plot: _Plot, schema: Schema) -> str:
    esc = _html.escape
    nkinds = Counter(n.kind for n in plot.nodes.values())
    nkinds_members = Counter()
    for n in plot.nodes.values():
        nkinds_members[n.kind] += n.members or 1
    ekinds = Counter(e.kind for e in plot.edges)
    order = {k: i for i, k in enumerate(schema.nodes)}
    parts = ['<div class="cg-lg-title">nodes <span class="cg-n">(click to hide)</span></div>']
    for kind in sorted(nkinds, key=lambda k: (order.get(k, len(order)), k)):
        color, shape = _node_style(schema, kind)
        nk = schema.nodes.get(kind)
        svg = (f'<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><g fill="{esc(color)}" '
               f'stroke="#555" stroke-width=".6">{_SVG_SHAPES.get(shape, _SVG_SHAPES["dot"])}</g></svg>')
        parts.append(f'<div class="cg-lg-item cg-lg-node" data-kind="{esc(kind)}">{svg}'
                     f'<span>{esc(nk.label if nk else kind or "node")}</span>'
                     f'<span class="cg-n">{nkinds_members[kind]:,}</span></div>')
    if ekinds:
        eorder = {k: i for i, k in enumerate(schema.edges)}
        parts.append('<div class="cg-lg-title">edges</div>')
        for kind in sorted(ekinds, key=lambda k: (eorder.get(k, len(eorder)), k)):
            color, dashes = _edge_style(schema, kind)
            ek = schema.edges.get(kind)
            dash = ' stroke-dasharray="4 3"' if dashes else ""
            svg = (f'<svg width="26" height="10" aria-hidden="true"><line x1="1" y1="5" x2="25" y2="5" '
                   f'stroke="{esc(color)}" stroke-width="2.5"{dash}/></svg>')
            parts.append(f'<div class="cg-lg-item">{svg}<span>{esc(ek.label if ek else kind or "edge")}</span>'
                         f'<span class="cg-n">{ekinds[kind]:,}</span></div>')
    return "".join(parts)


def _vis_data(plot: _Plot, schema: Schema) -> dict:
    flow = plot.layout == "flow"
    n = len(plot.nodes)
    scores = [p.score for p in plot.nodes.values() if p.score is not None]
    smin, smax = (min(scores), max(scores)) if scores else (0.0, 0.0)
    vnodes = []
    for p in plot.nodes.values():
        color, shape = _node_style(schema, p.kind)
        faded = plot.fade and not p.highlighted
        size = 16.0
        if p.score is not None and smax > smin:
            size = 12.0 + 16.0 * (p.score - smin) / (smax - smin)
        if p.members:
            size = min(16.0 + 4.0 * math.log2(p.members), 34.0)
        if p.highlighted:
            size += 6.0
        fill = _rgba(color, 0.3) if faded else color
        border = HIGHLIGHT_BORDER if p.highlighted else (_rgba("#555555", 0.3) if faded else "#555555")
        inside = shape in _LABEL_INSIDE
        font = {"face": FONT_STACK, "size": 15 if p.highlighted else 13,
                "color": "#9a9a9a" if faded else "#1d1d1d",
                "strokeWidth": 0 if inside else 4, "strokeColor": "#ffffff"}
        if inside and not faded:
            font["color"] = "#ffffff" if _dark(color) else "#1d1d1d"
        if p.highlighted:  # labels are drawn as plain text (no "multi" markup): a marker background instead
            font["background"] = "#ffe08a"
            font["strokeWidth"] = 0
        label = _short(p.label)
        d = {"id": p.id, "label": label, "cgKind": p.kind, "shape": shape, "size": size,
             "borderWidth": 4 if p.highlighted else (2 if p.members else 1),
             "color": {"background": fill, "border": border,
                       "highlight": {"background": color, "border": HIGHLIGHT_BORDER},
                       "hover": {"background": color, "border": HIGHLIGHT_BORDER}},
             "font": font,
             "tip": {"h": p.tip_head, "r": [list(r) for r in p.tip_rows]
                     + ([["score", f"{p.score:.4g}"]] if p.score is not None and not p.members else []),
                     "e": _cap_evidence(p.evidence)}}
        if p.members:
            d["shapeProperties"] = {"borderDashes": [4, 3]}
        if flow:
            d["level"] = int(p.level or 0)
        vnodes.append(d)

    vedges = []
    widths = _edge_widths(plot.edges)
    pair_count = Counter()
    many = len(plot.edges) > 400
    for i, (e, w) in enumerate(zip(plot.edges, widths)):
        color, dashes = _edge_style(schema, e.kind)
        faded = plot.fade and not e.highlighted
        if e.highlighted:
            w += 2.0
        pair = (min(e.source, e.target), max(e.source, e.target))
        j = pair_count[pair]
        pair_count[pair] += 1
        d = {"id": f"e{i}", "from": e.source, "to": e.target, "width": round(w, 2), "dashes": dashes,
             "arrows": {"to": {"enabled": True, "scaleFactor": 0.6}},
             "color": {"color": color, "highlight": color, "hover": color, "opacity": 0.25 if faded else 0.9},
             "tip": {"h": "", "r": [list(r) for r in e.tip_rows], "e": _cap_evidence(e.evidence)}}
        if j:  # parallel edges: fan them out instead of drawing one over the other
            d["smooth"] = {"enabled": True, "type": "curvedCW" if j % 2 else "curvedCCW",
                           "roundness": 0.15 * ((j + 1) // 2)}
        elif many:
            d["smooth"] = False
        label = None
        if flow and e.amount is not None:
            label = _money(e.amount)
        if e.count > 1:
            label = f"{e.count:,}×" + (f" {label}" if label else "")
        if label:
            d["label"] = label
            d["font"] = {"face": FONT_STACK, "size": 11, "color": "#9a9a9a" if faded else "#333333",
                         "strokeWidth": 3, "strokeColor": "#ffffff", "align": "horizontal"}
        vedges.append(d)

    options = {
        "autoResize": True,
        "nodes": {"borderWidth": 1},
        "edges": {"smooth": {"enabled": True, "type": "continuous", "roundness": 0.2},
                  "selectionWidth": 2, "hoverWidth": 1.5},
        "interaction": {"hover": True, "tooltipDelay": 120, "hideEdgesOnDrag": n > 300,
                        "multiselect": True, "navigationButtons": False, "keyboard": False},
    }
    if flow:
        options["layout"] = {"randomSeed": 7, "improvedLayout": n <= 150,
                             "hierarchical": {"enabled": True, "direction": "LR", "sortMethod": "directed",
                                              "levelSeparation": 240, "nodeSpacing": 95, "treeSpacing": 90,
                                              "blockShifting": True, "edgeMinimization": True,
                                              "parentCentralization": True}}
        options["physics"] = {"enabled": False}
        options["edges"]["smooth"] = {"enabled": True, "type": "cubicBezier", "forceDirection": "horizontal",
                                      "roundness": 0.4}
    else:
        options["layout"] = {"randomSeed": 7, "improvedLayout": n <= 150}
        options["physics"] = {
            "enabled": True, "solver": "forceAtlas2Based",
            "forceAtlas2Based": {"gravitationalConstant": -70, "centralGravity": 0.01, "springLength": 120,
                                 "springConstant": 0.06, "damping": 0.5, "avoidOverlap": 0.8},
            "minVelocity": 0.75, "maxVelocity": 40,
            "stabilization": {"enabled": True, "iterations": 1000 if n <= 200 else 300,
                              "updateInterval": 50, "fit": True},
        }
        if len(plot.edges) > 400:
            options["edges"]["smooth"] = False
    return {"nodes": vnodes, "edges": vedges, "options": options}


def _cap_evidence(ev: list) -> list:
    if len(ev) <= EVIDENCE_MAX:
        return list(ev)
    return list(ev[:EVIDENCE_MAX]) + [f"… and {len(ev) - EVIDENCE_MAX:,} more records"]


def _to_html(plot: _Plot, schema: Schema, title: str | None) -> str:
    js, css = _vis_assets()
    esc = _html.escape
    data = _script_json(_vis_data(plot, schema))
    csp = ("default-src 'none'; script-src " + _csp_hash(js) + " " + _csp_hash(_JS)
           + "; style-src 'unsafe-inline'; img-src data:; font-src data:; connect-src 'none'; "
           "base-uri 'none'; form-action 'none'")
    summary = f"{len(plot.nodes):,} nodes, {len(plot.edges):,} edges"
    head = esc(title) + f' <span style="font-weight:400;color:#777;font-size:13px">{summary}</span>' if title \
        else f'<span style="font-weight:400;color:#777;font-size:13px">{summary}</span>'
    note = esc(" · ".join(plot.notes))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{esc(csp, quote=False)}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"generator\" content=\"chaingraph\">\n"
        f"<title>{esc(title or 'chaingraph')}</title>\n"
        f"<style>{css}</style>\n<style>{_CSS}</style>\n"
        f"<script>{js}</script>\n"
        "</head>\n<body>\n"
        "<div id=\"cg-graph\"></div>\n"
        f"<div id=\"cg-head\">{head}</div>\n"
        f"<div id=\"cg-legend\">{_legend_html(plot, schema)}</div>\n"
        f"<div id=\"cg-note\">{note}</div>\n"
        f"<script type=\"application/json\" id=\"cg-data\">{data}</script>\n"
        f"<script>{_JS}</script>\n"
        "</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------
# static pictures (matplotlib)
# ---------------------------------------------------------------------------
def _cjk_fonts(font_manager) -> list:
    """CJK font families matplotlib can use; fonts installed after its cache was built are added."""
    have = {f.name for f in font_manager.fontManager.ttflist}
    found = [f for f in _CJK_FONTS if f in have]
    if not found:
        for path in font_manager.findSystemFonts():
            if any(k in path.lower() for k in ("wqy", "notosanscjk", "noto-cjk", "droidsansfallback", "sourcehansans")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        have = {f.name for f in font_manager.fontManager.ttflist}
        found = [f for f in _CJK_FONTS if f in have]
    return found


_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
              "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "Droid Sans Fallback", "AR PL UMing CN")


def _static_positions(plot: _Plot, schema: Schema) -> dict:
    ids = list(plot.nodes)
    if plot.layout == "flow":
        by_level = defaultdict(list)
        for n in ids:
            by_level[plot.nodes[n].level or 0].append(n)
        pos = {}
        for lv, members in by_level.items():
            members.sort(key=lambda n: (plot.nodes[n].kind, plot.nodes[n].label))
            k = len(members)
            for i, n in enumerate(members):
                pos[n] = (float(lv), (k - 1) / 2.0 - i)
        return pos
    ug = nx.Graph()
    ug.add_nodes_from(ids)
    ug.add_edges_from((e.source, e.target) for e in plot.edges)
    k = 1.6 / math.sqrt(max(len(ids), 1))
    return nx.spring_layout(ug, seed=7, k=k, iterations=200) if ids else {}


def _draw_static(plot: _Plot, schema: Schema, title, path: Path, *, dpi: int, size) -> Path:
    import warnings

    import matplotlib

    matplotlib.use("Agg", force=False) if matplotlib.get_backend().lower() == "agg" else None
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise ChaingraphError(f"{path}: static pictures are .png, .svg or .pdf")
    fonts = _cjk_fonts(font_manager) + ["DejaVu Sans"]
    pos = _static_positions(plot, schema)
    n = len(plot.nodes)
    if size is None:
        if plot.layout == "flow":
            levels = {p.level or 0 for p in plot.nodes.values()} or {0}
            widest = max(Counter(p.level or 0 for p in plot.nodes.values()).values(), default=1)
            size = (min(4 + 3.0 * len(levels), 30), min(3 + 0.6 * widest, 30))
        else:
            side = min(6 + 0.5 * math.sqrt(n) * 2, 24)
            size = (side * 1.25, side)
    widths = _edge_widths(plot.edges)
    with matplotlib.rc_context({"font.sans-serif": fonts, "font.family": "sans-serif", "svg.fonttype": "none"}), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
        fig, ax = plt.subplots(figsize=size, dpi=dpi)
        try:
            ax.set_axis_off()
            node_size = {}
            for nid, p in plot.nodes.items():
                s = 260.0
                if p.members:
                    s = 260.0 + 60.0 * math.log2(p.members)
                if p.highlighted:
                    s *= 1.6
                node_size[nid] = s
            pair_count = Counter()
            for e, w in zip(plot.edges, widths):
                if e.source not in pos or e.target not in pos:
                    continue
                color, dashes = _edge_style(schema, e.kind)
                faded = plot.fade and not e.highlighted
                pair = (min(e.source, e.target), max(e.source, e.target))
                j = pair_count[pair]
                pair_count[pair] += 1
                rad = 0.0 if not j else (0.18 * ((j + 1) // 2)) * (1 if j % 2 else -1)
                if e.source == e.target:
                    continue
                arrow = FancyArrowPatch(pos[e.source], pos[e.target], arrowstyle="-|>", mutation_scale=10,
                                        color=color, alpha=0.25 if faded else 0.85,
                                        linewidth=(w + (2 if e.highlighted else 0)) * 0.8,
                                        linestyle="--" if dashes else "-", connectionstyle=f"arc3,rad={rad}",
                                        shrinkA=8, shrinkB=8, zorder=1)
                ax.add_patch(arrow)
                label = _money(e.amount) if plot.layout == "flow" and e.amount is not None else None
                if e.count > 1:
                    label = f"{e.count:,}×" + (f" {label}" if label else "")
                if label:
                    (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
                    ax.text((x1 + x2) / 2, (y1 + y2) / 2, label, fontsize=7, ha="center", va="center",
                            color="#333333", zorder=3,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
            for nid, p in plot.nodes.items():
                color, shape = _node_style(schema, p.kind)
                faded = plot.fade and not p.highlighted
                x, y = pos[nid]
                ax.scatter([x], [y], s=node_size[nid], c=[color], marker=_MARKERS.get(shape, "o"),
                           alpha=0.35 if faded else 1.0, edgecolors=HIGHLIGHT_BORDER if p.highlighted else "#555555",
                           linewidths=2.5 if p.highlighted else 0.6, zorder=2)
                ax.annotate(_short(p.label), (x, y), xytext=(0, -11 - math.sqrt(node_size[nid]) / 2.5),
                            textcoords="offset points", ha="center", va="top", fontsize=8,
                            fontweight="bold" if p.highlighted else "normal",
                            color="#999999" if faded else "#1d1d1d", zorder=4,
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
            ax.margins(0.08)
            handles = []
            order = {k: i for i, k in enumerate(schema.nodes)}
            for kind in sorted({p.kind for p in plot.nodes.values()}, key=lambda k: (order.get(k, 99), k)):
                color, shape = _node_style(schema, kind)
                nk = schema.nodes.get(kind)
                handles.append(Line2D([], [], linestyle="none", marker=_MARKERS.get(shape, "o"), markersize=8,
                                      markerfacecolor=color, markeredgecolor="#555555",
                                      label=nk.label if nk else kind))
            eorder = {k: i for i, k in enumerate(schema.edges)}
            for kind in sorted({e.kind for e in plot.edges}, key=lambda k: (eorder.get(k, 99), k)):
                color, dashes = _edge_style(schema, kind)
                ek = schema.edges.get(kind)
                handles.append(Line2D([], [], color=color, linewidth=2, linestyle="--" if dashes else "-",
                                      label=ek.label if ek else kind))
            if handles:
                ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
                          frameon=True, title="legend", title_fontsize=8)
            ax.set_title((title + "\n" if title else "") + f"{len(plot.nodes):,} nodes, {len(plot.edges):,} edges",
                         fontsize=11, loc="left")
            if plot.notes:
                fig.text(0.01, 0.01, " · ".join(plot.notes), fontsize=8, color="#8a4b00", ha="left", va="bottom")
            fig.tight_layout()
            fig.savefig(path, format=suffix[1:], dpi=dpi, bbox_inches="tight")
        finally:
            plt.close(fig)
    return path


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------
def cmd_viz(args) -> int:
    from .store import Store
    from .view import MemoryView

    if args.hops < 0:
        raise ChaingraphError("--hops must be 0 or more")
    store = Store.open(args.store)
    focus = MemoryView(store).resolve(args.focus)
    g = store.graph()
    near = nx.ego_graph(g.to_undirected(as_view=True), focus, radius=args.hops)
    sub = g.subgraph(near.nodes)
    label = g.nodes[focus].get("label", focus)
    fig = render(sub, title=f"{label} ({focus}), {args.hops} hop{'s' if args.hops != 1 else ''}",
                 highlight=[focus], layout=args.layout, max_nodes=args.max_nodes, evidence=store,
                 schema=store.schema)
    out = Path(args.out) if args.out else Path(re.sub(r"[^\w.-]+", "_", f"chaingraph-{focus}") + ".html")
    fig.save(out)
    print(out)
    if args.png:
        print(fig.to_image(args.png))
    for note in fig.notes:
        print(f"note: {note}", file=__import__("sys").stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("viz", help="draw the neighbourhood of an entity as an offline HTML page (and PNG/SVG)")
    p.add_argument("--store", required=True, help="store folder")
    p.add_argument("--focus", required=True, help="entity: kind:value or a bare identifier")
    p.add_argument("--hops", type=int, default=2, help="neighbourhood radius, ignoring direction (default 2)")
    p.add_argument("--out", help="HTML file to write (default chaingraph-<focus>.html)")
    p.add_argument("--png", help="also draw a static picture to this .png/.svg/.pdf")
    p.add_argument("--layout", choices=LAYOUTS, default="force", help="force (default) or flow (left to right)")
    p.add_argument("--max-nodes", type=int, default=500, help="draw at most this many nodes (default 500)")
    p.set_defaults(func=cmd_viz)
