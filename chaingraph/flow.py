"""Fund tracing ("fund penetration"): follow a case's money hop by hop.

From a case (the accounts it paid), an account or a set of accounts, money is
followed forward along money edges (``schema.money_edges``: transfers,
cash-outs) or backward to its sources. A later transfer only continues an
earlier one if it happened at or after the money arrived and within the dwell
``window`` (default 72 h). Amounts are attributed so that an account never
passes on more of the traced money than it received:

``fifo``
    The account's statement is replayed from one window before the traced
    money arrived: its inflows (other money and the traced money, in time
    order) form a queue, and each outgoing transfer takes from the head of
    the queue and carries the traced share of what it takes. So other money
    already in the account is spent before the traced money, and outflows
    before the traced money arrived spend that other money first. Money older
    than the window leaves the queue (it stays in the account, untraced).
    Backward, the same in reversed time: the account's outflows (the traced
    one and the others up to one window after it) are funded by its inflows,
    latest first, so later outflows take the most recent inflows before the
    traced outflow's sources are counted.
``proportional``
    Each outgoing transfer carries the traced share of the account's total
    inflow over the window before it, capped by the traced money still there.

An account whose own statement is not loaded (no money edge of it was seen
from its end, see ``seen_by``) cannot be followed reliably: it is the
**frontier**, "statement to request next", with the amount that reached it.
Accounts of a kind that can only receive money (cash-out points: derived from
the schema) and accounts of ``exit_kinds`` are end points.

Only :class:`~chaingraph.view.View` methods are used (``money_arrays`` does the
heavy lifting), so the same answers come from the in-memory view and Neo4j.

Examples
--------
>>> import pandas as pd
>>> from chaingraph.view import MemoryView
>>> t = pd.Timestamp("2024-03-01 10:00", tz="UTC")
>>> nodes = pd.DataFrame({"id": ["case:C1", "bank_account:A", "bank_account:B"],
...                       "kind": ["case", "bank_account", "bank_account"], "key": ["C1", "A", "B"]})
>>> edges = pd.DataFrame({"id": [1, 2], "kind": ["paid_to", "transfer"],
...     "source": ["case:C1", "bank_account:A"], "target": ["bank_account:A", "bank_account:B"],
...     "time": [t, t + pd.Timedelta("5min")], "amount": [1000.0, 800.0], "seen_by": ["", "source"]})
>>> r = flow(MemoryView(nodes, edges), "case:C1")
>>> r.accounts[["id", "level", "received", "passed", "status"]].values.tolist()
[['bank_account:A', 1, 1000.0, 800.0, 'through'], ['bank_account:B', 2, 800.0, 0.0, 'frontier']]
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .exc import ChaingraphError
from .trace import records, resolve_refs, to_subgraph
from .view import money_arrays

__all__ = ["flow", "reach", "FlowResult", "DEFAULT_EXIT_KINDS"]

METHODS = ("fifo", "proportional")
DIRECTIONS = ("forward", "backward")
# Node kinds where money leaves what bank statements can show (the trail goes
# on chain): end points even when nothing further is known. A parameter.
DEFAULT_EXIT_KINDS = ("wallet",)
_NAT = np.iinfo(np.int64).min
_NEG, _POS = -(2**62), 2**62          # unbounded, in (mirrored) nanoseconds


def _window_ns(window) -> int:
    if isinstance(window, str) and window in _WINDOWS:
        return _WINDOWS[window]
    try:
        w = pd.Timedelta(window) if not isinstance(window, (int, float)) else pd.Timedelta(seconds=window)
    except (ValueError, TypeError):
        raise ChaingraphError(f"window {window!r} is not a duration (e.g. 72h, 30min, 3d)") from None
    if w < pd.Timedelta(0):
        raise ChaingraphError(f"window {window!r} must not be negative")
    if isinstance(window, str) and len(_WINDOWS) < 64:
        _WINDOWS[window] = int(w.value)
    return int(w.value)


_WINDOWS: dict = {}      # window text -> ns, parsed once


def _ns(v) -> int:
    if isinstance(v, pd.Timestamp) and v.tzinfo is not None:  # (the common case: no copies)
        return int(v.as_unit("ns").value)
    ts = pd.Timestamp(v)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


@dataclass
class FlowResult:
    """What :func:`flow` found.

    ``accounts``: ``id, kind, key, label, level, received, passed, remainder,
    has_statement, status, reason`` — one row per account reached (``level``
    1 = first-level account; ``status`` is ``through``, ``end``,
    ``frontier`` or ``hop_limit``). ``edges``: full rows of the money edges
    followed, with ``attributed`` (the traced money it carried, ≤ ``amount``),
    ``level`` (of its sending account, in the direction followed) and ``hop``
    (the step at which it was first followed).
    ``end_points`` and ``frontier`` are views of ``accounts``; ``untraced``
    breaks down the money not followed to an end point.
    """

    accounts: pd.DataFrame
    edges: pd.DataFrame
    start: list[str]
    method: str
    direction: str
    window: str
    traced: float
    untraced: dict = field(default_factory=dict)
    view: object = field(default=None, repr=False, compare=False)

    @property
    def end_points(self) -> pd.DataFrame:
        return self.accounts[self.accounts["status"] == "end"].reset_index(drop=True)

    @property
    def frontier(self) -> pd.DataFrame:
        """Accounts whose statement to request next, most money first."""
        f = self.accounts[self.accounts["status"] == "frontier"]
        return f.sort_values(["remainder", "id"], ascending=[False, True], ignore_index=True)

    @property
    def nodes(self) -> pd.DataFrame:
        return self.accounts

    def to_json(self) -> dict:
        acc = ("kind", "key", "id", "level", "received", "passed", "remainder", "status", "reason")
        return {
            "start": list(self.start),
            "method": self.method,
            "direction": self.direction,
            "window": self.window,
            "traced": _num(self.traced),
            "accounts": records(self.accounts, acc),
            "transfers": records(self.edges, ("kind", "source", "target", "id", "time", "amount",
                                              "attributed", "level", "hop")),
            "end_points": records(self.end_points, acc),
            "frontier": [dict(r, amount=r["remainder"]) for r in records(self.frontier, acc)],
            "untraced": {k: _num(v) for k, v in self.untraced.items()},
        }

    def to_json_str(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2)

    def subgraph(self):
        """The flow as a networkx MultiDiGraph (edges carry ``attributed``, nodes ``level``)."""
        edges = self.edges
        if self.view is not None and len(edges):
            full = self.view.edges(sorted(set(edges["source"])), "out")
            full = full[full["id"].isin(edges["id"])]
            extra = [c for c in full.columns if c not in edges.columns or c == "id"]
            edges = edges.merge(full[extra], on="id", how="left")
        nodes = self.accounts
        if self.view is not None:
            missing = sorted(set(self.start) - set(nodes["id"]))
            nodes = pd.concat([nodes, self.view.nodes(missing)], ignore_index=True) if missing else nodes
            # the link from a start that is not an account (a case) to the accounts it paid
            if missing:
                links = self.view.edges(missing, "out")
                links = links[links["target"].isin(set(nodes["id"])) & ~links["id"].isin(edges["id"])]
                if len(links):
                    edges = pd.concat([edges, links], ignore_index=True)
        return to_subgraph(nodes, edges)


def _num(v):
    return None if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))) else round(float(v), 2)


class _Kernel:
    """Attribution at one account: chunks of traced money in, transfers out."""

    def __init__(self, method, w):
        self.method, self.w = method, w

    def run(self, chunks, outs, ins, used):
        """chunks: list of (tau, hi, amount, via); outs/ins: arrays (tau, amount, id) sorted.

        ``via`` is the id of the inflow that brought the chunk, or None.

        Returns a list of (out_row, attributed) and the traced money left behind.
        """
        if self.method == "fifo":
            return self._fifo(chunks, outs, ins, used)
        return self._proportional(chunks, outs, ins, used)

    @staticmethod
    def _items(chunks, ins, w, start):
        """Inflow items (tau, expiry, total, traced) of the account, traced parts marked."""
        traced = {}
        extra = []
        for tau, hi, amt, via in chunks:
            if via is not None:   # edge ids are signed hashes: None marks no edge
                traced[via] = traced.get(via, 0.0) + amt
            else:
                extra.append((tau, hi, amt if not math.isinf(amt) else math.inf, amt))
        items = []
        in_tau, in_amt, in_id = ins
        for k in range(len(in_tau)):
            eid = int(in_id[k])
            if in_tau[k] < start and eid not in traced:
                continue
            tot = float(in_amt[k]) if in_amt[k] == in_amt[k] else 0.0
            tr = traced.pop(eid, 0.0)
            items.append((int(in_tau[k]), int(in_tau[k]) + w, max(tot, tr), tr))
        # traced inflows the statement does not show (should not happen; kept whole)
        for eid, tr in traced.items():
            tau = next(c[0] for c in chunks if c[3] == eid)
            items.append((tau, tau + w, tr, tr))
        items += extra
        items.sort(key=lambda x: (x[0], x[1]))
        return items

    def _fifo(self, chunks, outs, ins, used):
        start = min(c[0] for c in chunks)
        # replay the account from one window before the traced money arrived:
        # other money still there is ahead of it in the queue (money older than
        # that has left the queue by then). A start account (all its money
        # traced, amount inf) needs no replay: nothing is ahead of it.
        whole = any(math.isinf(c[2]) for c in chunks)
        items = self._items(chunks, ins, self.w, start if whole else start - self.w)
        out_tau, out_amt, out_id = outs
        q = []          # [expiry, remaining total, traced ratio, remaining traced]
        head = 0
        i = 0
        result, stayed = [], 0.0
        for j in range(len(out_tau)):
            t = out_tau[j]
            while i < len(items) and items[i][0] <= t:
                tau, exp, tot, tr = items[i]
                ratio = 1.0 if math.isinf(tr) else (tr / tot if tot > 0 else 0.0)
                q.append([exp, tot, ratio, tr])
                i += 1
            while head < len(q) and (q[head][0] < t or q[head][1] <= 0):
                if q[head][0] < t and not math.isinf(q[head][3]):
                    stayed += q[head][3]
                head += 1
            x = float(out_amt[j]) if out_amt[j] == out_amt[j] else 0.0
            got = 0.0
            k = head
            while x > 1e-9 and k < len(q):
                it = q[k]
                if it[0] < t or it[1] <= 0:
                    k += 1
                    continue
                c = min(x, it[1])
                part = c * it[2]
                if not math.isinf(it[3]):
                    part = min(part, it[3])
                    it[3] -= part
                it[1] -= c
                x -= c
                got += part
                k += 1 if it[1] <= 0 else 0
            if got > 0:
                eid = int(out_id[j])
                cap = float(out_amt[j]) - used.get(eid, 0.0)
                got = min(got, cap)
                if got > 0:
                    result.append((j, got))
        for it in q[head:]:
            if not math.isinf(it[3]):
                stayed += it[3]
        for tau, exp, tot, tr in items[i:]:
            if not math.isinf(tr):
                stayed += tr
        return result, stayed

    def _proportional(self, chunks, outs, ins, used):
        start = min(c[0] for c in chunks)
        items = self._items(chunks, ins, self.w, start - self.w)
        tau = np.array([it[0] for it in items], np.int64)
        exp = np.array([it[1] for it in items], np.int64)
        tot = np.array([it[2] for it in items], np.float64)
        tr = np.array([it[3] for it in items], np.float64)
        out_tau, out_amt, out_id = outs
        result = []
        passed = 0.0
        for j in range(len(out_tau)):
            t = out_tau[j]
            live = (tau <= t) & (exp >= t)
            case_in = tr[live].sum()
            if case_in <= 0:
                continue
            if math.isinf(case_in):
                share = 1.0
            else:
                total_in = tot[live].sum()
                share = min(1.0, case_in / total_in) if total_in > 0 else 0.0
            x = float(out_amt[j]) if out_amt[j] == out_amt[j] else 0.0
            arrived = tr[tau <= t].sum()
            got = min(x * share, arrived - passed)
            eid = int(out_id[j])
            got = min(got, float(out_amt[j]) - used.get(eid, 0.0))
            if got > 0:
                result.append((j, got))
                passed += got
        received = tr.sum()
        return result, (0.0 if math.isinf(received) else received - passed)


# How far before a case report the victim's own payment into the paid account is looked for:
# victims report hours or days after they paid. A parameter of flow().
DEFAULT_LOOKBACK = "7D"
# node properties that hold a person's name (a victim, an account holder)
NAME_PROPERTIES = ("victim_name", "holder_name", "name")


def _names(row) -> set:
    out = set()
    for col in NAME_PROPERTIES:
        v = row.get(col)
        if isinstance(v, str) and v.strip():
            out.add(v.strip())
    return out


def _start_chunks(view, starts, direction, w, since, until, lookback):
    """Initial traced money: [(account, tau, hi, amount, via, start)] and the case edges used.

    ``start`` is the start (of ``starts``) the money belongs to: several cases
    can be started in one call and traced apart (:func:`chaingraph.leads.leads`).
    Accounts start with all their money in ``since``/``until``. A case starts at
    the accounts it paid (downstream chain edges from the case to accounts),
    with the money *at the time the victim paid*, found in the paid account's
    incoming transfers (see :func:`flow`); ``via`` is that transfer's id, so
    the attribution places the traced money in the account's inflow queue where
    the statement shows it.
    """
    schema = view.schema
    money_kinds = set()
    for k in schema.money_edges:
        money_kinds |= set(schema.edges[k].source) | set(schema.edges[k].target)
    lo = _NEG if since is None else _ns(since)
    hi = _POS if until is None else _ns(until)
    if direction == "backward":
        lo, hi = -hi, -lo
    chunks = []   # (account, tau, hi, amount, via)
    others = [s for s in starts if schema.split_id(s)[0] not in money_kinds]
    for s in starts:
        if schema.split_id(s)[0] in money_kinds:
            chunks.append((s, lo, hi, math.inf, None, s))
    if not others:
        return chunks, []
    if direction == "backward":
        raise ChaingraphError("backward fund tracing starts from accounts, not from "
                              + ", ".join(others))
    other_set = set(others)
    e = view.edges(others, "both", columns=("kind", "source", "target", "amount", "time"))
    paid_rows, victims = [], {}     # victims: start -> upstream non-account nodes (who reported it)
    for row in e.itertuples(index=False):
        ek = schema.edges.get(row.kind)
        if ek is None or ek.upstream == "none" or ek.is_money:
            continue
        frm, to = (row.source, row.target) if ek.upstream == "source" else (row.target, row.source)
        if frm in other_set and schema.split_id(to)[0] in money_kinds:
            paid_rows.append((frm, to, row))
        elif to in other_set and schema.split_id(frm)[0] not in money_kinds and frm not in other_set:
            victims.setdefault(to, set()).add(frm)
    if not paid_rows:
        return chunks, []
    # who the victim is: the case's victim name, the reporters' names and the accounts they hold
    persons = sorted({p for ps in victims.values() for p in ps})
    info = view.nodes(list(other_set) + persons, columns=("loss", *NAME_PROPERTIES))
    info = {r["id"]: r for r in info.to_dict("records")}
    held: dict = {}
    if persons:
        for row in view.edges(persons, "out", columns=("kind", "source", "target")).itertuples(index=False):
            ek = schema.edges.get(row.kind)
            if ek is not None and ek.upstream == "none" and schema.split_id(row.target)[0] in money_kinds:
                held.setdefault(row.source, set()).add(row.target)
    names, accounts = {}, {}
    for s in others:
        names[s] = _names(info.get(s, {}))
        accounts[s] = set()
        for p in victims.get(s, ()):
            names[s] |= _names(info.get(p, {}))
            accounts[s] |= held.get(p, set())
    # the amount each paid edge stands for: its own, else the case loss shared over the unknown ones
    by_start: dict = {}
    for frm, to, row in paid_rows:
        by_start.setdefault(frm, []).append((to, row))
    paid = []     # (start, account, amount, report time or None, edge id)
    for frm, lst in by_start.items():
        loss = pd.to_numeric(pd.Series([info.get(frm, {}).get("loss")]), errors="coerce").iloc[0]
        amounts = [pd.to_numeric(pd.Series([getattr(r, "amount", None)]), errors="coerce").iloc[0] for _, r in lst]
        known = sum(a for a in amounts if a == a)
        n_unknown = sum(1 for a in amounts if a != a)
        fill = (float(loss) - known) / n_unknown if n_unknown and loss == loss and loss > known else math.inf
        for (to, row), a in zip(lst, amounts):
            t = getattr(row, "time", None)
            paid.append((frm, to, float(a) if a == a else fill,
                         None if t is None or pd.isna(t) else _ns(t), int(row.id)))
    # the victim's payments into each paid account, from the account's incoming transfers
    lb = _window_ns(lookback)
    ids = [p[1] for p in paid]
    s_ = np.array([_NAT if p[3] is None else p[3] - lb for p in paid], np.int64)
    u_ = np.array([_NAT if p[3] is None else p[3] + w for p in paid], np.int64)
    m = view.money_edges(ids, "in", since=s_, until=u_)
    # an account paid twice (by one case or by several) is asked for twice: each transfer once
    m = m.drop_duplicates("id", ignore_index=True)
    m = m.assign(source=m["source"].astype(object), target=m["target"].astype(object))
    payer_names = {}
    if len(m):
        for r in view.nodes(sorted(set(m["source"])), columns=NAME_PROPERTIES).to_dict("records"):
            payer_names[r["id"]] = _names(r)
    # each paid account's incoming transfers, in time order (a missing time last)
    into, by_time = {}, np.zeros(0, np.int64)
    m_src, m_id, m_amt, m_t = np.zeros(0, object), by_time, np.zeros(0), by_time
    if len(m):
        m_src, m_id = m["source"].to_numpy(object), m["id"].to_numpy("int64")
        m_amt = pd.to_numeric(m["amount"], errors="coerce").to_numpy("float64")
        m_t = m["time"].to_numpy("datetime64[ns]").view("int64")
        by_time = np.lexsort((m_id, np.where(m_t == _NAT, np.iinfo(np.int64).max, m_t)))
        into = pd.Series(by_time).groupby(m["target"].to_numpy(object)[by_time], sort=False).indices
    for frm, to, amt, t, eid in paid:
        cand = by_time[into[to]] if to in into else by_time[:0]
        tt = m_t[cand]
        if t is not None:
            cand = cand[(tt >= t - lb) & (tt <= t + w)]
            tt = m_t[cand]
        mine = [i for i, src in enumerate(m_src[cand])
                if src in accounts[frm] or (names[frm] & payer_names.get(src, set()))]
        picks = []
        if mine:
            left = amt
            for i in mine:
                x = min(float(m_amt[cand[i]]), left)
                if x > 0:
                    picks.append((i, x))
                    left -= x
        elif not math.isinf(amt):
            # a transfer of exactly the amount paid, made before the report (the
            # latest such); without a report time, the first one
            same = np.abs(m_amt[cand] - amt) < 0.01
            if t is not None:
                same &= tt <= t
            same = np.flatnonzero(same)
            if len(same):
                picks.append((same[-1] if t is not None else same[0], amt))
        if picks:
            for i, x in picks:
                ti = int(m_t[cand[i]])
                chunks.append((to, max(ti, lo), min(ti + w, hi), x, int(m_id[cand[i]]), frm))
        elif t is None:
            chunks.append((to, lo, hi, amt, None, frm))
        else:
            chunks.append((to, max(t, lo), min(t + w, hi), amt, None, frm))
    return chunks, [p[4] for p in paid]


def flow(view, ref_or_refs, window="72h", hops: int = 6, min_amount: float = 0, method: str = "fifo",
         direction: str = "forward", since=None, until=None, exit_kinds=DEFAULT_EXIT_KINDS,
         lookback=DEFAULT_LOOKBACK) -> FlowResult:
    """Follow money from a case, an account or accounts, hop by hop.

    Parameters
    ----------
    view : View
    ref_or_refs : str or list of str
        A case, an account, or several. From an account, every transfer out
        (within ``since``/``until``) is followed in full. From a case, its
        downstream edges to accounts (``paid_to``) give the first-level
        accounts and the amount paid (else the case loss). The time on a
        case report is usually when the victim *reported*, often hours after
        the money moved on, so the money starts at the victim's own payments
        found in the paid account's incoming transfers from ``lookback``
        before the report time to ``window`` after it: transfers from an
        account the reporting person holds or whose holder name is the
        victim's (the case's ``victim_name``, the reporter's name), up to the
        amount paid; else the one transfer of exactly the amount paid nearest
        the report (preferring one before it); else the report's time.
    window : str or pandas.Timedelta
        Dwell window: a transfer continues money that arrived at most this
        long before it (``72h``, ``30min``, ``3d``).
    hops : int
        Most transfers followed from a first-level account.
    min_amount : float
        Transfers carrying less traced money than this are not followed
        (the money counts as untraced at the sending account).
    method : {"fifo", "proportional"}
    direction : {"forward", "backward"}
        ``backward`` traces the sources of the money into the start accounts.
    since, until : timestamp, optional
        Bounds of the first hop when starting from accounts.
    exit_kinds : sequence of str
        Node kinds that are end points even without a statement.
    lookback : str or pandas.Timedelta
        How long before a case's report time the victim's payment is looked
        for (default 7 days).

    Returns
    -------
    FlowResult
    """
    if method not in METHODS:
        raise ChaingraphError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if direction not in DIRECTIONS:
        raise ChaingraphError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if hops < 0:
        raise ChaingraphError("hops must not be negative")
    w = _window_ns(window)
    starts = resolve_refs(view, ref_or_refs)
    init, _ = _start_chunks(view, starts, direction, w, since, until, lookback)
    return _trace_money(view, starts, init, window, hops, min_amount, method, direction, exit_kinds)


def _trace_money(view, starts, init, window, hops, min_amount, method, direction, exit_kinds) -> FlowResult:
    """:func:`flow` from its initial money ``init`` (see :func:`_start_chunks`)."""
    w = _window_ns(window)
    schema = view.schema
    src_kinds, dst_kinds = set(), set()
    for k in schema.money_edges:
        src_kinds |= set(schema.edges[k].source)
        dst_kinds |= set(schema.edges[k].target)
    terminal = dst_kinds - src_kinds if direction == "forward" else src_kinds - dst_kinds
    exit_kinds = set(exit_kinds or ())
    nxt_dir, oth_dir = ("out", "in") if direction == "forward" else ("in", "out")
    sign = 1 if direction == "forward" else -1
    kernel = _Kernel(method, w)
    level: dict = {}
    received: dict = {}
    passed: dict = {}
    for acc, *_ in init:
        level.setdefault(acc, 1)
    chunks: dict = {}
    for acc, tau, hi, amt, via, _ in init:
        chunks.setdefault(acc, []).append((tau, hi, amt, via))
        received[acc] = received.get(acc, 0.0) + amt
    used: dict = {}
    picked: dict = {}   # edge id -> row of the flow table
    traced_total = sum(received.values())
    expanded_last = set()
    for h in range(1, hops + 1):
        todo = [a for a in chunks if schema.split_id(a)[0] not in terminal]
        if not todo:
            chunks = {}
            break
        lo = np.array([min(c[0] for c in chunks[a]) for a in todo], np.int64)
        hi = np.array([max(c[1] for c in chunks[a]) for a in todo], np.int64)
        pad = w   # both methods look one window back: FIFO replays the account, proportional shares
        def bounds(a, b):  # mirrored [a, b] -> view since/until (unbounded as NaT)
            a2, b2 = (a, b) if sign > 0 else (-b, -a)
            a2 = np.where(np.abs(a2) >= _POS, _NAT, a2)
            b2 = np.where(np.abs(b2) >= _POS, _NAT, b2)
            return a2, b2
        lo_pad = np.where(lo <= _NEG, lo, lo - pad)
        s1, u1 = bounds(lo_pad if method == "fifo" else lo, hi)
        s2, u2 = bounds(lo_pad, hi)
        outs = _arrays(money_arrays(view, todo, nxt_dir, s1, u1), sign)
        ins = _arrays(money_arrays(view, todo, oth_dir, s2, u2), sign)
        og, ig = _groups(outs), _groups(ins)
        empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
        new_chunks: dict = {}
        for k, a in enumerate(todo):
            o = og.get(k)
            if o is None:
                continue  # nothing goes on: the traced money stays here
            res, _left = kernel.run(chunks[a], o[:3], ig.get(k, empty)[:3], used)
            rows = o[3]
            for jj, got in res:
                if got < min_amount or got <= 0:
                    continue
                r = rows[jj]
                eid = int(outs["id"][r])
                used[eid] = used.get(eid, 0.0) + got
                passed[a] = passed.get(a, 0.0) + got
                nb = outs["other"][r]
                tau = int(outs["tau"][r])
                new_chunks.setdefault(nb, []).append((tau, tau + w, got, eid))
                if eid in picked:
                    picked[eid][7] += got
                else:
                    src, dst = (a, nb) if sign > 0 else (nb, a)
                    picked[eid] = [eid, outs["kind"][r], src, dst,
                                   outs["time"][r], outs["amount"][r], outs["seen_by"][r], got, level[a], h]
        for nb, lst in new_chunks.items():
            level.setdefault(nb, h + 1)
            received[nb] = received.get(nb, 0.0) + sum(c[2] for c in lst)
        chunks = new_chunks
    expanded_last = set(chunks)   # reached at the last hop, not followed further

    ids = sorted(level, key=lambda a: (level[a], a))
    has = view.has_statement(ids) if ids else pd.Series(dtype=bool)
    has = {a: bool(x) for a, x in zip(has.index, has.to_numpy())}
    rows = []
    for a in ids:
        kind = schema.split_id(a)[0]
        rec = received.get(a, 0.0)
        rec = math.nan if math.isinf(rec) else rec
        pas = passed.get(a, 0.0)
        rest = max(rec - pas, 0.0) if rec == rec else math.nan
        hs = has.get(a, False)
        if kind in terminal:
            st, why = "end", "cash_out" if direction == "forward" else "source"
        elif pas > 0:
            st, why = ("frontier", "no statement loaded") if not hs and rest > 0.005 else ("through", "")
        elif a in expanded_last:
            st, why = "hop_limit", "hop limit reached"
        elif kind in exit_kinds:
            st, why = "end", "exit"
        elif not hs:
            st, why = "frontier", "no statement loaded"
        else:
            st, why = "end", "no further transfer in window"
        rows.append((a, level[a], rec, pas, rest, hs, st, why))
    nodes = view.nodes(ids, columns=("kind", "key", "label"))
    info = {}
    if len(nodes):
        cols = [c for c in ("id", "kind", "key", "label") if c in nodes.columns]
        info = {r[0]: r[1:] for r in zip(*(nodes[c].to_numpy(dtype=object) for c in cols))}
        pad = (None,) * (len(cols) - 1)
    else:
        cols, pad = ["id"], ()
    acc = pd.DataFrame([(r[0],) + tuple(info.get(r[0], pad)) + r[1:] for r in rows],
                       columns=cols + ["level", "received", "passed", "remainder", "has_statement",
                                       "status", "reason"])
    cols = ["id", "kind", "source", "target", "time", "amount", "seen_by", "attributed", "level", "hop"]
    flat = sorted(picked.values(), key=lambda r: (r[8], r[4], r[0]))
    col = list(zip(*flat)) if flat else [()] * len(cols)
    edges = pd.DataFrame({
        "id": np.array(col[0], np.int64),
        "kind": np.array(col[1], object),
        "source": np.array(col[2], object),
        "target": np.array(col[3], object),
        "time": pd.DatetimeIndex(np.array(col[4], np.int64).view("datetime64[ns]"), tz="UTC"),
        "amount": np.array(col[5], np.float64),
        "attributed": np.array(col[7], np.float64),
        "level": np.array(col[8], np.int64),
        "hop": np.array(col[9], np.int64),
        "seen_by": np.array(col[6], object),
    })
    untraced = {"frontier": 0.0, "hop_limit": 0.0, "stayed": 0.0}
    at_ends = 0.0
    for a, lev, rec, pas, rest, hs, st, why in rows:
        rest = 0.0 if rest != rest else rest
        if st == "through":
            untraced["stayed"] += rest
        elif st in untraced:
            untraced[st] += rest
        elif st == "end" and rec == rec:
            at_ends += rec
    untraced["total"] = sum(untraced.values())
    untraced["at_end_points"] = at_ends
    return FlowResult(accounts=acc, edges=edges, start=starts, method=method, direction=direction,
                      window=str(window), traced=traced_total, untraced=untraced, view=view)


def _arrays(a: dict, sign: int) -> dict:
    """``money_arrays`` output with mirrored time ``tau``, sorted by (slot, tau, id)."""
    out = dict(a)
    out["tau"] = out["time"] * sign
    order = np.lexsort((out["id"], out["tau"], out["slot"]))
    return {k: v[order] for k, v in out.items()}


def _groups(a: dict) -> dict:
    """Per account slot: (tau, amount, id, row positions) arrays of its edges, in order."""
    n = len(a["slot"])
    if not n:
        return {}
    keys = a["slot"]
    cut = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    bounds = np.concatenate([[0], cut, [n]])
    return {int(keys[s]): (a["tau"][s:e], a["amount"][s:e], a["id"][s:e], np.arange(s, e))
            for s, e in zip(bounds[:-1], bounds[1:])}


def reach(view, ref_or_refs, window="72h", hops: int = 6, since=None, until=None) -> pd.DataFrame:
    """Time-respecting reach from accounts: where their money *could* have gone.

    No amounts are attributed: from each account, every money edge that leaves
    it at or after money arrived there (and within ``window`` of that arrival)
    is followed, up to ``hops`` transfers; the start accounts' money is the
    transfers they send within ``since``/``until``. Each edge is followed once,
    at the first hop that reaches it (an earlier hop leaves more hops to go).
    Windows of one account less than a second apart are merged. A transfer
    without a time is followed only from a start with neither ``since`` nor
    ``until``, and its receiver is reached but followed no further.

    Returns a DataFrame ``id, hop, first`` (``first``: the earliest arrival,
    UTC, at the hop that first reached the account), ordered by hop, then by
    node; start accounts first with hop 0. On the in-memory view a compiled
    kernel (numba, :mod:`chaingraph._reach`) does the whole search in one pass
    over its money index; other views are asked once per hop
    (``view.money_arrays``).

    Examples
    --------
    >>> import pandas as pd
    >>> from chaingraph.view import MemoryView
    >>> t = pd.Timestamp("2024-03-01", tz="UTC")
    >>> e = pd.DataFrame({"id": [1, 2, 3], "kind": "transfer", "seen_by": "both", "amount": 1.0,
    ...     "source": ["bank_account:A", "bank_account:B", "bank_account:B"],
    ...     "target": ["bank_account:B", "bank_account:C", "bank_account:D"],
    ...     "time": [t, t - pd.Timedelta("1h"), t + pd.Timedelta("1h")]})
    >>> n = pd.DataFrame({"id": ["bank_account:" + k for k in "ABCD"], "kind": "bank_account", "key": list("ABCD")})
    >>> reach(MemoryView(n, e), "bank_account:A")[["id", "hop"]].values.tolist()
    [['bank_account:A', 0], ['bank_account:B', 1], ['bank_account:D', 2]]
    """
    w = _window_ns(window)
    if hops < 0:
        raise ChaingraphError("hops must not be negative")
    starts = resolve_refs(view, ref_or_refs)
    lo0 = _NAT if since is None else _ns(since)
    hi0 = _NAT if until is None else _ns(until)
    if all(hasattr(view, m) for m in ("money_rows", "ids_categorical")):
        codes, hop, first = _reach_rows(view, starts, w, hops, lo0, hi0)
        ids = view.ids_categorical(codes)
    else:
        codes, hop, first, decode = _reach_arrays(view, starts, w, hops, lo0, hi0)
        ids = decode(codes)
    # columns made from the arrays without checks or copies
    first = pd.arrays.DatetimeArray._simple_new(first.view("datetime64[ns]"), dtype=_UTC_NS)
    if _column_manager is not None:   # ~0.07 ms; the DataFrame constructor takes ~0.4 ms
        try:
            mgr = _column_manager([ids, hop, first], [_REACH_COLUMNS, pd.RangeIndex(len(hop))],
                                  consolidate=False, refs=[None] * 3)
            return pd.DataFrame._from_mgr(mgr, axes=mgr.axes)
        except (TypeError, AttributeError):   # another pandas: its constructor
            pass
    return pd.DataFrame({"id": ids, "hop": hop, "first": first}, copy=False)


_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_REACH_COLUMNS = pd.Index(["id", "hop", "first"])
try:   # a DataFrame straight from its columns (pandas internals, checked in tests)
    from pandas.core.internals.managers import create_block_manager_from_column_arrays as _column_manager
except ImportError:
    _column_manager = None


def _next_windows(other, t, w):
    """Arrivals (node code, time) -> one merged window per node and run: (node, lo, hi), and the
    nodes reached with their first arrival: (uniq, first). An arrival without a time reaches
    its node but opens no window (as in :func:`chaingraph._reach.reach_bfs`)."""
    order = np.argsort(other, kind="stable")
    g = np.ones(len(t), bool)
    g[1:] = other[order][1:] != other[order][:-1]
    gs = np.flatnonzero(g)
    uniq, first = other[order][gs], np.minimum.reduceat(t[order], gs)
    timed = t != _NAT
    other, t = other[timed], t[timed]
    if not len(t):
        return other, t, t, uniq, first
    tmin = int(t.min())
    sec_lo = (t - tmin) // 1_000_000_000
    key = (other << 34) | sec_lo
    order = np.argsort(key, kind="stable")
    other, t, klo = other[order], t[order], key[order]
    khi = np.maximum.accumulate((other << 34) | ((t + w - tmin) // 1_000_000_000 + 1))
    start = np.ones(len(t), bool)
    start[1:] = klo[1:] > khi[:-1]
    run = np.flatnonzero(start)
    return other[run], np.minimum.reduceat(t, run), np.maximum.reduceat(t, run) + w, uniq, first


def _reach_rows(view, starts, w, hops, lo0, hi0):
    """reach() on the embedded view: one compiled pass over its money CSR
    (:func:`chaingraph._reach.reach_bfs`). Returns (codes, hop, first), by hop, then code."""
    from . import _reach   # numba, loaded on first use

    seeds = view.codes(starts)
    seeds = np.unique(seeds[seeds >= 0]).astype(np.int64)
    # kept on the view: its money index is built once and never replaced
    scratch = view.__dict__.get("_reach_scratch")
    if scratch is None:
        with _SCRATCH_LOCK:
            scratch = view.__dict__.get("_reach_scratch")
            if scratch is None:
                ix = view.money_rows(np.zeros(0, np.int64), "out")[0]
                scratch = view.__dict__["_reach_scratch"] = _reach.Scratch(ix["start"], ix["t"], ix["other"])
    hi0 = np.iinfo(np.int64).max if hi0 == _NAT else hi0
    return _reach.run(seeds, lo0, hi0, w, hops, scratch)


_SCRATCH_LOCK = threading.Lock()


def _reach_arrays(view, starts, w, hops, lo0, hi0):
    """reach() over any view: ``money_arrays`` per hop (codes when the view has them)."""
    if hasattr(view, "codes") and hasattr(view, "money_arrays"):
        encode, decode, fetch = view.codes, view.ids_of, view.money_arrays
    else:   # a view without codes: number the ids here
        table: dict = {}
        names: list = []

        def encode(ids):
            return _encode(ids, table, names)

        def decode(codes):
            return np.array(names, dtype=object)[np.asarray(codes, np.int64)]

        def fetch(codes, direction, s, u):
            a = money_arrays(view, list(decode(codes)), direction, s, u)
            a["other"] = _encode(a["other"], table, names)
            return a
    cur = encode(starts)
    cur = np.unique(cur[cur >= 0])
    lo = np.full(len(cur), lo0, np.int64)
    hi = np.full(len(cur), hi0, np.int64)
    done = set()
    seen = set(cur.tolist())
    out_codes, out_hop, out_first = [cur], [np.zeros(len(cur), np.int64)], [np.full(len(cur), _NAT, np.int64)]
    for h in range(1, hops + 1):
        if not len(cur):
            break
        a = fetch(cur, "out", lo, hi)
        new = np.fromiter((i not in done for i in a["id"].tolist()), bool, len(a["id"]))
        if not new.any():
            break
        done.update(a["id"][new].tolist())
        cur, lo, hi, uniq, first = _next_windows(np.asarray(a["other"], np.int64)[new], a["time"][new], w)
        fresh = np.fromiter((u not in seen for u in uniq.tolist()), bool, len(uniq))
        seen.update(uniq[fresh].tolist())
        out_codes.append(uniq[fresh])
        out_hop.append(np.full(int(fresh.sum()), h, np.int64))
        out_first.append(first[fresh])
    return np.concatenate(out_codes), np.concatenate(out_hop), np.concatenate(out_first), decode


def _encode(ids, table: dict, names: list) -> np.ndarray:
    out = np.empty(len(ids), np.int64)
    for k, i in enumerate(ids):
        c = table.get(i)
        if c is None:
            c = table[i] = len(names)
            names.append(i)
        out[k] = c
    return out
