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

import math
from collections import defaultdict, deque
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
        # the same without money edges: what links an account to its holder, phone, device…
        # (a busy account's thousands of transfers are not walked for them)
        self.links_out = defaultdict(list)
        self.links_inn = defaultdict(list)
        for i in order[~np.isin(self.kind[order], list(self.money))]:
            self.links_out[self.src[i]].append(i)
            self.links_inn[self.dst[i]].append(i)
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


def _money(view, g: _Graph, cases, window: pd.Timedelta, hops: int, min_amount: float):
    """Follow each case's money as :func:`chaingraph.flow.flow` does (FIFO, one case at a time).

    Returns ({case: {account: _Hit}}, {case: {frontier account: amount}}). Each
    case is traced on its own, so the amounts are that case's money; FIFO
    replays every account it reaches, so the other cases' money (and any other
    money) already there is spent first, and the per-case amounts add up to
    what one joint trace would attribute. The path behind each account is the
    case's ``paid_to`` edge, then the earliest-followed transfer into each
    account back to the first-level account.
    """
    from .flow import DEFAULT_EXIT_KINDS, DEFAULT_LOOKBACK, _start_chunks, _trace_money, _window_ns

    pos = pd.Index(g.eid)
    hits: dict[str, dict[str, _Hit]] = {c: {} for c in cases}
    frontier: dict[str, dict[str, float]] = {c: {} for c in cases}
    # every case's starting money found at once (the same as flow() finds it case by case)
    init, _ = _start_chunks(view, list(cases), "forward", _window_ns(window), None, None, DEFAULT_LOOKBACK)
    by_case = defaultdict(list)
    for chunk in init:
        by_case[chunk[5]].append(chunk)
    for c in cases:
        r = _trace_money(view, [c], by_case.get(c, []), window, hops, min_amount, "fifo", "forward", DEFAULT_EXIT_KINDS)
        if not len(r.accounts):
            continue
        paid = {g.dst[i]: i for i in g.out.get(c, ()) if g.kind[i] != "contacted_by"}
        paid.update({g.dst[i]: i for i in g.out.get(c, ()) if g.kind[i] == "paid_to"})
        e = r.edges.sort_values(["hop", "attributed", "id"], ascending=[True, False, True], kind="stable")
        idx = pos.get_indexer(e["id"].to_numpy())
        t_in: dict = defaultdict(list)
        parent: dict = {}
        for tgt, i, t in zip(e["target"].to_numpy(object), idx, e["time"].to_numpy("datetime64[ns]").view("int64")):
            if i < 0:
                continue
            parent.setdefault(tgt, i)            # the earliest-followed edge into it
            t_in[tgt].append(int(t))

        def path_to(acct, level):
            path, node, seen = [], acct, set()
            while level.get(node, 0) > 1 and node in parent and node not in seen:
                seen.add(node)
                i = parent[node]
                path.append(i)
                node = g.src[i]
            if node in paid:
                path.append(paid[node])
            return path[::-1]

        level = dict(zip(r.accounts["id"], r.accounts["level"].astype(int)))
        for acct, lev, rec, st, rest in zip(r.accounts["id"], r.accounts["level"], r.accounts["received"],
                                            r.accounts["status"], r.accounts["remainder"]):
            lev = int(lev)
            path = path_to(acct, level)
            if not path:
                continue
            last = path[-1]
            link = "cash_out" if g.kind[last] == "cash_out" else ("level1" if lev == 1 else "levelN")
            times = t_in.get(acct) or ([int(g.time[last])] if g.time[last] != g.nat else [])
            amt = 0.0 if rec != rec else float(rec)
            hits[c][acct] = _Hit(link, lev, path, amt, lev, min(times) if times else None,
                                 max(times) if times else None)
            if st == "frontier" and rest == rest and rest >= min_amount:
                frontier[c][acct] = float(rest)
    return hits, frontier


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
    queue = deque((n, h.hops, 0) for n, h in hits.items())
    while queue:
        node, hop, steps = queue.popleft()
        if steps >= max_steps:
            continue
        nk = g.kind_of(node)
        path = hits[node].path
        moves = []  # (edge index, next node, link)
        for i in g.links_inn.get(node, ()):
            k = g.kind[i]
            if k == "holds" and steps == 0:
                moves.append((i, g.src[i], "contact_holder" if hits[node].link == "contact" else "holder"))
            elif k == "holds" and nk == "im_account":
                moves.append((i, g.src[i], "supplier_holder"))
            elif k == "supplied":
                moves.append((i, g.src[i], "supplier" if steps <= 1 else "chain"))
            elif k == "member_of" and nk == "organisation":
                moves.append((i, g.src[i], "member"))
        for i in g.links_out.get(node, ()):
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
    idcol = next((c for c in ("entity", "id", "node") if c in df), None)
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

    per_case, frontier = _money(view, g, cases, window, hops, min_amount)
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
    ev = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS[:EVIDENCE_COLUMNS.index("amount") + 1] + ["_eid"])
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
    from .export import print_written
    from .store import Store
    from .view import MemoryView

    store = Store.open(args.store)
    ll = leads(MemoryView(store), starts=args.starts or None, top=args.top, window=args.window, hops=args.hops)
    print_written(ll.save(args.out, mask=args.mask, salt=args.salt), args.mask)
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
