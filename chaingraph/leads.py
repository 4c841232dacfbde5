"""Lead lists: the entities to act on next, ranked, explained, with their evidence.

:func:`leads` links every case to the entities its chain evidence reaches —

* **money**: the accounts its money reached, hop by hop, in time order within a
  dwell window, with the amount of the case's money attributed to each (an
  account never passes on more than it received), the cash-out points, and the
  *frontier*: accounts the money reached whose own statement is not loaded;
* **supply, registration, hosting, identity**: from the accounts, numbers, sites
  and apps of the case, one to three steps against the chain (who sold the card,
  where it was registered, who holds it, which server hosts the site, which
  device logged in, which ring the holder belongs to);

— and scores each entity by its chain role, the number of cases it links to,
the case money it handled, its distance from the case and the strength of the
records behind it. Volume alone never counts: an entity with no chain link to a
case is not a lead, and an identifier shared mostly with entities that have no
link to any case (a NAT gateway, a busy outlet, a shop taking payments from
everyone) is scored down by the share of its neighbours that are case-linked.

The result is a :class:`LeadList` with the leads (``.df``), the records behind
them (``.evidence``, with file, sheet and row) and the statements to request
next (``.requests``); ``.save(path, mask=...)`` writes CSV, XLSX or JSON through
:mod:`chaingraph.export`.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .exc import ChaingraphError

__all__ = ["leads", "LeadList", "LEAD_COLUMNS"]

DEFAULT_WINDOW = pd.Timedelta(hours=72)
SEGMENTS = ("upstream", "core", "downstream")

LEAD_COLUMNS = ["rank", "segment", "kind", "key", "name", "role", "score", "reasons", "n_cases", "cases",
                "case_money", "money_in", "money_out", "first_seen", "last_seen", "n_records"]
EVIDENCE_COLUMNS = ["rank", "lead_kind", "lead_key", "path_no", "case", "step", "edge", "source_kind",
                    "source_key", "target_kind", "target_key", "time", "amount", "file", "sheet", "row"]
REQUEST_COLUMNS = ["kind", "key", "name", "amount_reached", "n_cases", "cases", "level", "first_seen",
                   "last_seen", "reason"]

# How a link reached an entity: (role, segment, base weight, specificity exponent).
# The exponent damps the share-of-case-linked-neighbours factor (0: ignore it).
LINKS = {
    "level1": ("first-level account", "downstream", 3.0, 0.5),
    "levelN": ("onward account", "downstream", 2.5, 0.5),
    "cash_out": ("cash-out point", "downstream", 2.0, 0.5),
    "contact": ("contact number / site", "core", 2.0, 0.0),
    "holder": ("holder of case account", "upstream", 2.0, 0.3),
    "contact_holder": ("user of contact number", "core", 2.0, 0.3),
    "supplier": ("supplier (card dealer)", "upstream", 3.0, 0.3),
    "supplier_holder": ("supplier (card dealer)", "upstream", 2.5, 0.3),
    "outlet": ("registering outlet", "upstream", 2.0, 1.0),
    "bound_phone": ("bound phone number", "core", 1.5, 0.7),
    "login": ("shared device / IP", "core", 1.2, 1.0),
    "hosting": ("hosting / server", "upstream", 1.8, 0.7),
    "provider": ("technical provider", "upstream", 2.5, 0.7),
    "ring": ("ring", "core", 2.5, 0.3),
    "member": ("ring member", "core", 2.0, 0.3),
    "chain": ("upstream supplier", "upstream", 1.5, 0.7),
}
ACCOUNT_LINKS = ("level1", "levelN", "cash_out")


@dataclass
class LeadList:
    """A ranked lead list. ``df`` leads, ``evidence`` records, ``requests`` statements to request."""

    df: pd.DataFrame
    evidence: pd.DataFrame
    requests: pd.DataFrame
    starts: list = field(default_factory=list)

    def section(self, segment: str) -> pd.DataFrame:
        """The leads of one chain segment: ``upstream``, ``core`` or ``downstream``."""
        if segment not in SEGMENTS:
            raise ChaingraphError(f"unknown section {segment!r}; use one of {', '.join(SEGMENTS)}")
        return self.df[self.df["segment"] == segment].reset_index(drop=True)

    @property
    def sections(self) -> dict[str, pd.DataFrame]:
        """``{"upstream": …, "core": …, "downstream": …, "requests": …}``."""
        out = {s: self.section(s) for s in SEGMENTS}
        out["requests"] = self.requests
        return out

    def sheets(self) -> dict[str, pd.DataFrame]:
        """The tables an export writes: leads, evidence, statements to request."""
        return {"leads": self.df, "evidence": self.evidence, "requests": self.requests}

    def save(self, path, mask: bool = False, salt: str | None = None, schema=None) -> list[Path]:
        """Write the list (extension picks CSV, XLSX or JSON); returns the paths written."""
        from .export import write_table

        return write_table(path, self.sheets(), mask=mask, salt=salt, schema=schema)

    def __len__(self) -> int:
        return len(self.df)


# -- the graph as plain arrays ----------------------------------------------------

class _Graph:
    """Edges of a view as arrays with per-node adjacency (built once per call)."""

    def __init__(self, view):
        self.schema = view.schema
        nodes = view.nodes()
        self.nodes = nodes.set_index("id", drop=False)
        e = view.all_edges().reset_index(drop=True)
        self.e = e
        n = len(e)
        self.kind = e["kind"].astype(str).to_numpy()
        self.src = e["source"].astype(str).to_numpy()
        self.dst = e["target"].astype(str).to_numpy()
        self.eid = e["id"].to_numpy()
        amt = pd.to_numeric(e["amount"], errors="coerce") if "amount" in e else pd.Series(np.nan, index=e.index)
        self.amount = amt.to_numpy(dtype=float)
        if "time" in e and n:
            t = pd.to_datetime(e["time"], utc=True)
            self.time = t.to_numpy("datetime64[ns]").view("int64").copy()
            self.time[t.isna().to_numpy()] = np.iinfo("int64").min
        else:
            self.time = np.full(n, np.iinfo("int64").min, dtype="int64")
        self.nat = np.iinfo("int64").min
        self.seen_by = e["seen_by"].astype(str).to_numpy() if "seen_by" in e else None
        order = np.lexsort((self.time,))
        self.out = defaultdict(list)
        self.inn = defaultdict(list)
        for i in order:  # time-sorted adjacency
            self.out[self.src[i]].append(i)
            self.inn[self.dst[i]].append(i)
        self.money = set(self.schema.money_edges)
        self._statement = None

    def kind_of(self, node: str) -> str:
        return node.partition(":")[0]

    def has_statement(self, node: str) -> bool:
        """True if the node's own statement is loaded (some money edge seen from its side)."""
        if self._statement is None:
            st = set()
            for i in range(len(self.kind)):
                if self.kind[i] not in self.money:
                    continue
                sb = self.seen_by[i] if self.seen_by is not None else "both"
                if sb in ("both", "source", "nan", "None", ""):
                    st.add(self.src[i])
                if sb in ("both", "target"):
                    st.add(self.dst[i])
            self._statement = st
        return node in self._statement

    def money_in(self, node: str) -> float:
        return float(np.nansum([self.amount[i] for i in self.inn.get(node, ()) if self.kind[i] in self.money]))

    def money_out(self, node: str) -> float:
        return float(np.nansum([self.amount[i] for i in self.out.get(node, ()) if self.kind[i] in self.money]))


# -- linking cases to entities -----------------------------------------------------

@dataclass
class _Hit:
    """One entity reached from one case: how, at what hop, by which path, with how much money."""

    link: str
    hops: int
    path: list  # edge indices from the case to the entity
    amount: float = 0.0
    level: int = 0
    first: int | None = None
    last: int | None = None


LOOKBACK = pd.Timedelta(days=7)


def _holder_name(g: _Graph, node: str) -> str:
    if node in g.nodes.index:
        r = g.nodes.loc[node]
        for col in ("holder_name", "name"):
            v = r.get(col) if col in r else None
            if isinstance(v, str) and v.strip():
                return v.strip()
        lab = r.get("label")
        if isinstance(lab, str):
            return lab.split(" (", 1)[0].strip()
    return ""


def _payments(g: _Graph, case: str, loss):
    """The victim's payments of a case: [(paid_to edge, time, amount)].

    A case report's time is often the time of the report, after the money has
    moved on; the payment itself is found in the first-level account's
    statement: the incoming transfers from an account of the victim (same
    name) in the days before the report, else one transfer of the amount paid.
    Without either, the report's time and amount are used.
    """
    names = set()
    if "victim_name" in g.nodes.columns and case in g.nodes.index:
        v = g.nodes.at[case, "victim_name"]
        if isinstance(v, str) and v.strip():
            names.add(v.strip())
    for i in g.inn.get(case, ()):
        if g.kind[i] == "reported":
            n = _holder_name(g, g.src[i])
            if n:
                names.add(n)
    out = []
    lb, slack = int(LOOKBACK.value), int(pd.Timedelta(days=1).value)
    for i in g.out.get(case, ()):
        if g.kind[i] != "paid_to":
            continue
        amt = g.amount[i] if g.amount[i] > 0 else (loss if loss and loss > 0 else 0.0)
        t = int(g.time[i])
        acct = g.dst[i]
        if t != g.nat:
            ins = [j for j in g.inn.get(acct, ()) if g.kind[j] in g.money and g.time[j] != g.nat
                   and t - lb <= g.time[j] <= t + slack]
            mine = [j for j in ins if names and _holder_name(g, g.src[j]) in names]
            if mine:
                left = amt if amt > 0 else math.inf
                for j in mine:
                    x = min(float(g.amount[j]), left)
                    if x > 0:
                        out.append((i, int(g.time[j]), x))
                        left -= x
                continue
            same = [j for j in ins if amt > 0 and abs(g.amount[j] - amt) < 0.01]
            if same:
                out.append((i, int(g.time[same[0]]), float(amt)))
                continue
        out.append((i, t, float(amt)))
    return out


def _money(g: _Graph, cases, window: pd.Timedelta, hops: int, min_amount: float, loss: dict):
    """Follow the cases' money: ({case: {account: _Hit}}, {case: {frontier account: amount}}).

    Greedy time-ordered attribution over all cases at once: money arriving at
    an account at time t continues along its outgoing transfers in
    (t, t + window], earliest first; each transfer passes on at most its amount
    (shared by all the cases' money arriving before it) and each arrival at
    most what arrived.
    """
    w = int(window.value)
    hits: dict[str, dict[str, _Hit]] = {c: {} for c in cases}
    frontier: dict[str, dict[str, float]] = {c: defaultdict(float) for c in cases}
    budget: dict[int, float] = {}
    heap = []
    seq = 0
    for c in cases:
        for i, t0, amt in _payments(g, c, loss.get(c)):
            heapq.heappush(heap, (t0, seq, c, g.dst[i], amt, 1, [i]))
            seq += 1
    n_packets = 0
    while heap and n_packets < 2_000_000:
        t, _, c, acct, amt, level, path = heapq.heappop(heap)
        n_packets += 1
        h = hits[c].get(acct)
        kind_link = "cash_out" if g.kind[path[-1]] == "cash_out" else ("level1" if level == 1 else "levelN")
        tt = None if t == g.nat else t
        if h is None:
            hits[c][acct] = _Hit(kind_link, level, path, amt, level, tt, tt)
        else:
            h.amount += amt
            if tt is not None:
                h.first = tt if h.first is None else min(h.first, tt)
                h.last = tt if h.last is None else max(h.last, tt)
        if level > hops or g.kind[path[-1]] == "cash_out":
            continue
        left = amt
        outs = [i for i in g.out.get(acct, ()) if g.kind[i] in g.money]
        for i in outs:
            if left < min_amount:
                break
            ti = int(g.time[i])
            if t != g.nat and (ti == g.nat or ti < t or ti > t + w):
                continue
            cap = budget.get(i, g.amount[i] if g.amount[i] > 0 else 0.0)
            x = min(cap, left)
            if x < min_amount:
                continue
            budget[i] = cap - x
            left -= x
            if any(g.src[j] == g.dst[i] for j in path):
                continue  # a cycle back into the path: amount counted, not followed
            heapq.heappush(heap, (ti, seq, c, g.dst[i], x, level + 1, path + [i]))
            seq += 1
        if left >= min_amount and not g.has_statement(acct):
            frontier[c][acct] += left
    return hits, {c: dict(f) for c, f in frontier.items()}


def _expand(g: _Graph, case: str, hits: dict, max_steps: int = 3) -> None:
    """Add to ``hits`` what the case's accounts, numbers and sites reach against the chain.

    Only supply, registration, hosting and identity links are followed; never
    money backwards, never into another case, and never from a shared device,
    IP or ring back out to other accounts.
    """
    for i in g.out.get(case, ()):
        if g.kind[i] == "contacted_by" and g.dst[i] not in hits:
            hits[g.dst[i]] = _Hit("contact", 1, [i])
    accounts_like = {k for k, ek in g.schema.edges.items() if ek.is_money for k in ek.source}
    queue = [(n, h.hops, 0) for n, h in hits.items()]
    while queue:
        node, hop, steps = queue.pop(0)
        if steps >= max_steps:
            continue
        nk = g.kind_of(node)
        path = hits[node].path
        moves = []  # (edge index, next node, link)
        for i in g.inn.get(node, ()):
            k = g.kind[i]
            if k == "holds" and steps == 0:
                moves.append((i, g.src[i], "contact_holder" if hits[node].link == "contact" else "holder"))
            elif k == "holds" and nk == "im_account":
                moves.append((i, g.src[i], "supplier_holder"))
            elif k == "supplied":
                moves.append((i, g.src[i], "supplier" if steps <= 1 else "chain"))
            elif k == "member_of" and nk == "organisation":
                moves.append((i, g.src[i], "member"))
        for i in g.out.get(node, ()):
            k = g.kind[i]
            if k == "registered_at":
                moves.append((i, g.dst[i], "outlet"))
            elif k == "bound_to" and steps == 0:
                moves.append((i, g.dst[i], "bound_phone"))
            elif k == "logged_in_from" and steps == 0:
                moves.append((i, g.dst[i], "login"))
            elif k == "resolves_to":
                moves.append((i, g.dst[i], "hosting"))
            elif k == "hosted_by":
                moves.append((i, g.dst[i], "provider"))
            elif k == "member_of" and hits[node].link in ("holder", "supplier_holder", "contact_holder"):
                moves.append((i, g.dst[i], "ring"))
        for i, nxt, link in moves:
            if nxt == case or g.kind_of(nxt) == "case" or nxt in hits:
                continue
            if g.kind_of(nxt) in accounts_like and link not in ("supplier", "chain"):
                continue
            hits[nxt] = _Hit(link, hop + 1, path + [i])
            if link in ("login",):
                continue  # shared identifiers are end points of the expansion
            queue.append((nxt, hop + 1, steps + 1))


# -- scoring ---------------------------------------------------------------------------

def _fmt_money(x: float) -> str:
    return f"¥{x:,.0f}"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def _load_roles(view):
    """Roles inferred by chaingraph.roles, if that module is available: {node id: (role, rule)}."""
    try:
        from . import roles as roles_mod  # noqa: F401
    except ImportError:
        return {}
    fn = getattr(roles_mod, "roles", None) or getattr(roles_mod, "infer_roles", None)
    if fn is None:
        return {}
    try:
        df = fn(view)
    except Exception:  # roles are an enrichment: a failure there must not stop the list
        return {}
    df = getattr(df, "df", df)
    if not isinstance(df, pd.DataFrame) or "role" not in df:
        return {}
    idcol = "id" if "id" in df else ("node" if "node" in df else None)
    if idcol is None:
        return {}
    rule = df["rule"] if "rule" in df else pd.Series("", index=df.index)
    out = {}
    for nid, role, r in zip(df[idcol], df["role"], rule):
        out.setdefault(str(nid), (str(role), "" if pd.isna(r) else str(r)))
    return out


def leads(view, starts=None, top: int | None = 100, *, window="72h", hops: int = 6,
          min_amount: float = 1.0, min_score: float = 0.05, max_paths: int = 3) -> LeadList:
    """Rank the entities linked by chain evidence to ``starts`` (or to every case).

    Parameters
    ----------
    view : View
        The graph (``MemoryView(store)`` or a server view).
    starts : list of str, optional
        References (``kind:value`` or bare identifiers): cases, rings
        (organisations), accounts, persons… Leads are the entities linked to the
        cases these are linked to; ``None`` ranks over every case in the store.
    top : int, optional
        Keep the best ``top`` leads (``None``: all).
    window : str or Timedelta
        Dwell window for fund tracing: money continues from an account only by
        transfers within this time after it arrived (default 72 h).
    hops : int
        Maximum money hops from the case.

    Returns
    -------
    LeadList
    """
    window = pd.Timedelta(window)
    g = _Graph(view)
    schema = view.schema
    nodes = g.nodes
    cases = list(nodes.index[nodes["kind"] == "case"]) if len(nodes) else []
    start_ids = [view.resolve(r) for r in (starts or [])]
    start_ids = list(dict.fromkeys(start_ids))

    loss = pd.to_numeric(nodes["loss"], errors="coerce") if "loss" in nodes else pd.Series(np.nan, index=nodes.index)
    loss_of = {c: float(v) for c, v in loss.items() if c in set(cases) and pd.notna(v)}
    per_case, frontier = _money(g, cases, window, hops, min_amount, loss_of)
    for c in cases:
        _expand(g, c, per_case[c])

    # which cases the list is about
    if start_ids:
        scope = set()
        for s in start_ids:
            if s in per_case:
                scope.add(s)
            scope |= {c for c, h in per_case.items() if s in h}
    else:
        scope = set(cases)

    # global linked set (for specificity: share of a node's neighbours linked to any case)
    linked_any: dict[str, set] = defaultdict(set)
    for c, hits in per_case.items():
        for n in hits:
            linked_any[n].add(c)

    roles = _load_roles(view)

    rows, paths_of = [], {}
    for node, cs in linked_any.items():
        in_scope = sorted(cs & scope)
        if not in_scope or node in start_ids:
            continue
        hs = [per_case[c][node] for c in sorted(cs)]
        best = min(hs, key=lambda h: (h.hops, -LINKS[h.link][2]))
        link = max((h.link for h in hs), key=lambda k: LINKS[k][2])
        role, segment, base, alpha = LINKS[link]
        n_cases = len(cs)
        case_money = sum(h.amount for h in hs)
        kind = g.kind_of(node)
        reasons = []
        factor = 1.0
        k_linked = 1
        # specificity: share of the node's neighbours (over the edge kind that linked it) linked to a case
        ekind = g.kind[best.path[-1]]
        if link in ACCOUNT_LINKS:
            tot_in = g.money_in(node)
            share = min(1.0, case_money / tot_in) if tot_in > 0 else 1.0
            if alpha:
                factor *= share ** alpha
            if share < 0.5 and tot_in > 0:
                reasons.append(f"case money is {share:.0%} of its {_fmt_money(tot_in)} incoming")
        else:
            nbrs = {g.dst[i] for i in g.out.get(node, ()) if g.kind[i] == ekind}
            nbrs |= {g.src[i] for i in g.inn.get(node, ()) if g.kind[i] == ekind}
            nbrs.discard(node)
            nbrs = {x for x in nbrs if g.kind_of(x) != "case"}
            k_linked = sum(1 for x in nbrs if x in linked_any)
            if nbrs:
                share = k_linked / len(nbrs)
                if alpha:
                    factor *= max(share, 1e-3) ** alpha
                if len(nbrs) >= 5 and share < 0.5:
                    reasons.append(f"only {sum(1 for x in nbrs if x in linked_any)} of its "
                                   f"{len(nbrs)} {schema.edges[ekind].label} links are case-linked")
        # the reasons that raised it
        levels = sorted({h.level for h in hs if h.level})
        if link == "level1":
            reasons.insert(0, f"first-level account of {_plural(n_cases, 'case')}")
        elif link == "levelN":
            reasons.insert(0, f"level-{'/'.join(map(str, levels))} account of {_plural(n_cases, 'case')}")
        elif link == "cash_out":
            reasons.insert(0, f"cash-out point of {_plural(n_cases, 'case')}")
        elif link in ("supplier", "supplier_holder", "chain"):
            sup = _supplied(g, node if link != "supplier_holder" else None, node, linked_any)
            reasons.insert(0, sup or f"supplied accounts or numbers used in {_plural(n_cases, 'case')}")
        elif link == "contact_holder":
            reasons.insert(0, f"holds a number or account that contacted the victims of {_plural(n_cases, 'case')}")
        elif link == "holder":
            held = [x for x in (g.dst[i] for i in g.out.get(node, ()) if g.kind[i] == "holds") if x in linked_any]
            reasons.insert(0, f"holds {_plural(len(held), 'case-linked account or number', 'case-linked accounts or numbers')} "
                              f"({_plural(n_cases, 'case')})")
        elif link == "outlet":
            reg = {g.src[i] for i in g.inn.get(node, ()) if g.kind[i] == "registered_at"}
            n_l = sum(1 for x in reg if x in linked_any)
            reasons.insert(0, f"registered {n_l} case-linked cards or numbers (of {len(reg)})")
        elif link in ("hosting", "provider"):
            reasons.insert(0, f"hosts sites or apps of {_plural(n_cases, 'case')}")
        elif link == "login":
            users = {g.src[i] for i in g.inn.get(node, ()) if g.kind[i] == "logged_in_from"}
            reasons.insert(0, f"used by {sum(1 for x in users if x in linked_any)} case-linked accounts "
                              f"(of {len(users)}) in {_plural(n_cases, 'case')}")
        elif link == "contact":
            reasons.insert(0, f"contacted the victims of {_plural(n_cases, 'case')}")
        elif link == "ring":
            mem = {g.src[i] for i in g.inn.get(node, ()) if g.kind[i] == "member_of"}
            reasons.insert(0, f"ring with {_plural(sum(1 for x in mem if x in linked_any), 'case-linked member')} "
                              f"({_plural(n_cases, 'case')})")
        elif link == "member":
            reasons.insert(0, f"member of a ring linked to {_plural(n_cases, 'case')}")
        elif link == "bound_phone":
            reasons.insert(0, f"phone bound to case accounts of {_plural(n_cases, 'case')}")
        if case_money >= 1 and link in ACCOUNT_LINKS:
            reasons.insert(1, f"received {_fmt_money(case_money)} of case money within "
                              f"{_window_text(window)} of its arrival")
        # evidence strength: records behind the linking paths
        n_records = int(sum(len(h.path) for h in hs))
        if node in roles:
            r, rule = roles[node]
            if r and r.lower() not in ("none", "legitimate", "unknown"):
                role = r
                factor *= 1.3
                reasons.append(f"role {r}" + (f" ({rule})" if rule else ""))
        # a shared identifier counts by the case-linked things it serves; an account by its cases
        mult = (1 + math.log2(n_cases)) if link in ACCOUNT_LINKS or link == "contact" else \
            (1 + 0.5 * math.log2(n_cases) + math.log2(max(k_linked, 1)))
        score = (base * factor * mult
                 * (1 + 0.15 * math.log10(1 + case_money / 1000.0))
                 * (1 + 0.05 * min(n_records, 20))
                 / (1 + 0.1 * max(best.hops - 1, 0)))
        if score < min_score:
            continue
        times = [t for h in hs for t in (h.first, h.last) if t is not None]
        times += [int(g.time[i]) for h in hs for i in h.path if g.time[i] != g.nat]
        row = {
            "id": node, "segment": _segment(schema, kind, segment), "kind": kind,
            "key": node.partition(":")[2], "name": _name(nodes, node), "role": role,
            "score": round(score, 3), "reasons": "; ".join(reasons), "n_cases": n_cases,
            "cases": "; ".join(c.partition(":")[2] for c in sorted(cs)),
            "case_money": round(case_money, 2) if link in ACCOUNT_LINKS else np.nan,
            "money_in": g.money_in(node) if kind in _account_kinds(schema) else np.nan,
            "money_out": g.money_out(node) if kind in _account_kinds(schema) else np.nan,
            "first_seen": pd.Timestamp(min(times), tz="UTC") if times else pd.NaT,
            "last_seen": pd.Timestamp(max(times), tz="UTC") if times else pd.NaT,
            "n_records": n_records,
        }
        for col in schema.nodes[kind].export if kind in schema.nodes else ():
            if col in nodes.columns:
                row[col] = nodes.at[node, col]
        rows.append(row)
        paths_of[node] = sorted(((c, per_case[c][node].path) for c in in_scope),
                                key=lambda cp: len(cp[1]))[:max_paths]

    export_cols = []
    for nk in schema.nodes.values():
        export_cols += [c for c in nk.export if c not in export_cols and c not in LEAD_COLUMNS]
    df = pd.DataFrame(rows, columns=["id"] + LEAD_COLUMNS[1:] + export_cols)
    df = df.sort_values(["score", "n_cases", "id"], ascending=[False, False, True], kind="stable")
    if top is not None:
        df = df.head(top)
    df = df.reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    keep = [c for c in export_cols if c in df.columns and df[c].notna().any()]
    df = df[["rank"] + LEAD_COLUMNS[1:] + keep + ["id"]]
    for c in ("first_seen", "last_seen"):
        df[c] = pd.to_datetime(df[c], utc=True)
    evidence = _evidence(view, g, df, paths_of, start_ids, per_case)
    requests = _requests(g, nodes, frontier, scope)
    return LeadList(df.drop(columns=["id"]), evidence, requests, start_ids)


def _window_text(w: pd.Timedelta) -> str:
    h = w.total_seconds() / 3600
    return f"{h:g} h" if h < 48 or h % 24 else f"{h / 24:g} days" if h != 72 else "72 h"


def _account_kinds(schema) -> set:
    return {k for ek in schema.edges.values() if ek.is_money for k in ek.source + ek.target}


def _segment(schema, kind: str, link_segment: str) -> str:
    """The chain segment: the link's role decides; the schema's kind segment otherwise."""
    if link_segment in SEGMENTS:
        return link_segment
    seg = schema.nodes[kind].segment if kind in schema.nodes else "core"
    return seg if seg in SEGMENTS else "core"


def _name(nodes: pd.DataFrame, node: str) -> str:
    r = nodes.loc[node]
    for col in ("label", "name", "holder_name", "nickname", "merchant_name"):
        v = r.get(col) if col in r else None
        if isinstance(v, str) and v.strip() and v != r.get("key"):
            return v
    return ""


def _supplied(g: _Graph, seller, node, linked_any) -> str:
    """'supplied 12 cards to 2 buyers' for a seller (or for the im accounts a person holds)."""
    sellers = [seller] if seller else [g.dst[i] for i in g.out.get(node, ()) if g.kind[i] == "holds"]
    items, buyers = set(), set()
    for s in sellers:
        for i in g.out.get(s, ()):
            if g.kind[i] != "supplied":
                continue
            t = g.dst[i]
            k = g.kind_of(t)
            if k in ("person", "organisation", "im_account"):
                buyers.add(t)
            else:
                items.add(t)
    if not items and not buyers:
        return ""
    n_linked = sum(1 for x in items if x in linked_any)
    by_kind = defaultdict(int)
    for x in items:
        by_kind[g.kind_of(x)] += 1
    words = {"bank_account": "card", "phone": "SIM card"}
    parts = [_plural(c, words.get(k, g.schema.nodes[k].label.lower() if k in g.schema.nodes else k))
             for k, c in sorted(by_kind.items(), key=lambda kc: -kc[1])]
    text = "supplied " + (" and ".join(parts) if parts else "nothing listed")
    if buyers:
        text += f" to {_plural(len(buyers), 'buyer')}"
    return text + f", {n_linked} of them used in cases"


def _evidence(view, g: _Graph, df: pd.DataFrame, paths_of: dict, start_ids, per_case) -> pd.DataFrame:
    rows = []
    for rank, node, kind, key in zip(df["rank"], df["id"], df["kind"], df["key"]):
        for n, (case, path) in enumerate(paths_of.get(node, ()), start=1):
            # a non-case start is linked through the case too: show its path first
            full = []
            for s in start_ids:
                if s != case and s in per_case.get(case, {}):
                    full += [(i, "start") for i in per_case[case][s].path]
                    break
            full += [(i, "lead") for i in path]
            for step, (i, _) in enumerate(full, start=1):
                rows.append({"rank": rank, "lead_kind": kind, "lead_key": key, "path_no": n,
                             "case": case.partition(":")[2], "step": step, "edge": g.kind[i], "_eid": g.eid[i],
                             "source_kind": g.kind_of(g.src[i]), "source_key": g.src[i].partition(":")[2],
                             "target_kind": g.kind_of(g.dst[i]), "target_key": g.dst[i].partition(":")[2],
                             "time": pd.Timestamp(int(g.time[i]), tz="UTC") if g.time[i] != g.nat else pd.NaT,
                             "amount": g.amount[i]})
    ev = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS[:12] + ["_eid"])
    if not len(ev):
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    prov = view.evidence(list(dict.fromkeys(int(x) for x in ev["_eid"])))
    if len(prov):
        prov = prov.assign(_eid=prov["id"].astype("int64"))[["_eid", "file", "sheet", "row"]]
        ev = ev.merge(prov, on="_eid", how="left", sort=False)
    else:
        ev = ev.assign(file=None, sheet=None, row=pd.NA)
    ev["row"] = pd.to_numeric(ev["row"], errors="coerce").astype("Int64")
    ev["time"] = pd.to_datetime(ev["time"], utc=True)
    return ev.drop(columns=["_eid"]).reindex(columns=EVIDENCE_COLUMNS).reset_index(drop=True)


def _requests(g: _Graph, nodes, frontier: dict, scope) -> pd.DataFrame:
    amt, cs = defaultdict(float), defaultdict(set)
    for c, front in frontier.items():
        if c not in scope:
            continue
        for a, x in front.items():
            amt[a] += x
            cs[a].add(c)
    rows = []
    for a, x in amt.items():
        ins = [i for i in g.inn.get(a, ()) if g.kind[i] in g.money and g.time[i] != g.nat]
        times = [int(g.time[i]) for i in ins]
        rows.append({"kind": g.kind_of(a), "key": a.partition(":")[2], "name": _name(nodes, a),
                     "amount_reached": round(x, 2), "n_cases": len(cs[a]),
                     "cases": "; ".join(c.partition(":")[2] for c in sorted(cs[a])), "level": np.nan,
                     "first_seen": pd.Timestamp(min(times), tz="UTC") if times else pd.NaT,
                     "last_seen": pd.Timestamp(max(times), tz="UTC") if times else pd.NaT,
                     "reason": "case money reached it; its own statement is not loaded"})
    df = pd.DataFrame(rows, columns=REQUEST_COLUMNS)
    df = df.drop(columns=["level"])
    return df.sort_values(["amount_reached", "key"], ascending=[False, True], kind="stable").reset_index(drop=True)


# -- command line ----------------------------------------------------------------------

def cmd_leads(args) -> int:
    from .store import Store
    from .view import MemoryView

    store = Store.open(args.store)
    ll = leads(MemoryView(store), starts=args.starts or None, top=args.top, window=args.window, hops=args.hops)
    paths = ll.save(args.out, mask=args.mask, salt=args.salt)
    for p in paths:
        print(p)
    if args.mask and any(str(p).endswith(".salt.txt") for p in paths):
        import sys

        print("masking salt generated and written to the .salt.txt file above; keep it to join later lists",
              file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("leads", help="write a ranked lead list (CSV, XLSX or JSON) with evidence and "
                                     "statements to request")
    p.add_argument("--store", required=True)
    p.add_argument("--from", dest="starts", action="append", metavar="REF",
                   help="starting point (case, ring, account, person…; repeatable); default: every case")
    p.add_argument("--top", type=int, default=100, help="number of leads (default 100)")
    p.add_argument("--window", default="72h", help="dwell window for fund tracing (default 72h)")
    p.add_argument("--hops", type=int, default=6, help="maximum money hops (default 6)")
    p.add_argument("--out", required=True, help="output file: .csv, .xlsx or .json")
    p.add_argument("--mask", action="store_true", help="mask ID, phone and card numbers; add key_hash")
    p.add_argument("--salt", help="salt for key_hash (default: $CHAINGRAPH_MASK_SALT, else random, "
                                  "written beside the output)")
    p.set_defaults(func=cmd_leads)
