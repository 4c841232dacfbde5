"""Link analysis: clusters of entities tied together by a shared identifier.

The strongest signals of a card farm or of a dealer's stock are identifiers
shared by several accounts: one person holding many cards, one phone bound to
many accounts, one device or IP address logging into many accounts, and cards
opened in a burst by one holder or at one outlet.

Identifiers shared by *very many* unrelated users (a NAT gateway, a busy
outlet, a hotel Wi-Fi) are the usual false alarms. Every cluster therefore
carries a ``weight`` that falls with the number of members, ``1 / log(1 + n)``
(in the spirit of Adamic-Adar / inverse document frequency), and clusters of
more than ``max_share`` members are dropped altogether.

All functions take a :class:`~chaingraph.view.View` first and use only its
methods; rows are sorted by identifier so results are identical on every
backend.

Examples
--------
>>> import pandas as pd
>>> from chaingraph.view import MemoryView
>>> nodes = pd.DataFrame({"id": ["device:d1", "bank_account:1", "bank_account:2"],
...                       "kind": ["device", "bank_account", "bank_account"]})
>>> edges = pd.DataFrame({"id": [1, 2], "kind": "logged_in_from",
...                       "source": ["bank_account:1", "bank_account:2"], "target": "device:d1"})
>>> c = shared_identifiers(MemoryView(nodes, edges))
>>> c[["identifier", "members", "count"]].to_dict("records")
[{'identifier': 'device:d1', 'members': ('bank_account:1', 'bank_account:2'), 'count': 2}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["identity_links", "shared_identifiers", "shared_devices", "shared_phones", "shared_holders",
           "card_bursts", "share_weight", "CLUSTER_COLUMNS"]

# which end of an identity link is the shared identifier (the other end is the member)
DEFAULT_LINKS = {"holds": "source", "bound_to": "target", "logged_in_from": "target"}

CLUSTER_COLUMNS = ["identifier", "identifier_kind", "link", "members", "count", "degree",
                   "weight", "start", "end", "edge_ids"]


def share_weight(n) -> float | np.ndarray:
    """Down-weighting of an identifier shared by ``n`` members: ``1 / log(1 + n)``.

    >>> round(share_weight(2), 3), round(share_weight(300), 3)
    (0.91, 0.175)
    """
    n = np.maximum(np.asarray(n, dtype="float64"), 1.0)
    w = 1.0 / np.log1p(n)
    return float(w) if w.ndim == 0 else w


def duration(value) -> pd.Timedelta | None:
    """A time window from ``"72h"``, ``"30min"``, ``"7D"``, a Timedelta or seconds."""
    if value is None or isinstance(value, pd.Timedelta):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return pd.Timedelta(seconds=float(value))
    return pd.Timedelta(str(value).strip())


def _kind_of(ids: pd.Series) -> pd.Series:
    """Node kind of each node id (``kind:key``); safe on empty series."""
    if not len(ids):
        return pd.Series([], index=ids.index, dtype="str")
    return ids.astype("str").str.split(":", n=1).str[0]


def _edge_time(edges: pd.DataFrame) -> pd.Series:
    """The time an edge was seen: ``time``, else ``last_seen``, else ``first_seen``."""
    t = pd.Series(pd.NaT, index=edges.index, dtype="datetime64[ns, UTC]")
    for col in ("first_seen", "last_seen", "time"):
        if col in edges:
            v = pd.to_datetime(edges[col], utc=True, errors="coerce")
            t = v.where(v.notna(), t)
    return t


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=CLUSTER_COLUMNS)


def identity_links(view, links: dict | None = None, max_share: int | None = 50, min_members: int = 1,
                   since=None, until=None) -> pd.DataFrame:
    """Every identity link as ``identifier, member, link, edge_id, time, degree, weight`` (vectorised).

    ``degree`` is the identifier's number of distinct members and ``weight``
    ``1/log(1 + degree)``; identifiers with more than ``max_share`` or fewer than
    ``min_members`` members are dropped. Used by :func:`shared_identifiers` and
    by the ``operated`` projection of :func:`chaingraph.rings.rings`.
    """
    links = dict(DEFAULT_LINKS if links is None else links)
    for kind, end in links.items():
        if kind not in view.schema.edges or end not in ("source", "target"):
            raise ValueError(f"links: {kind!r} -> {end!r}: need an edge kind of the schema and 'source' or 'target'")
    cols = ["identifier", "member", "link", "edge_id", "time", "degree", "weight"]
    e = view.all_edges(list(links))
    if not len(e):
        return pd.DataFrame(columns=cols)
    t = _edge_time(e)
    if since is not None:
        e, t = e[t >= pd.Timestamp(since)], t[t >= pd.Timestamp(since)]
    if until is not None:
        e, t = e[t <= pd.Timestamp(until)], t[t <= pd.Timestamp(until)]
    parts = []
    for kind, end in links.items():
        m = (e["kind"] == kind).to_numpy()
        other = "target" if end == "source" else "source"
        parts.append(pd.DataFrame({"identifier": e[end][m].astype("str").to_numpy(),
                                   "member": e[other][m].astype("str").to_numpy(), "link": kind,
                                   "edge_id": e["id"][m].astype("int64").to_numpy(), "time": t[m].to_numpy()}))
    p = pd.concat(parts, ignore_index=True)
    deg = p.drop_duplicates(["identifier", "member"]).groupby("identifier").size()
    p["degree"] = p["identifier"].map(deg).astype("int64")
    keep = p["degree"] >= min_members
    if max_share is not None:
        keep &= p["degree"] <= max_share
    p = p[keep].reset_index(drop=True)
    p["weight"] = share_weight(p["degree"].to_numpy()) if len(p) else np.zeros(0)
    return p[cols]


def shared_identifiers(view, links: dict | None = None, identifier_kinds=None, member_kinds=None,
                       min_members: int = 2, max_share: int | None = 50,
                       since=None, until=None) -> pd.DataFrame:
    """Identifiers (person, phone, device, IP…) shared by several members.

    Parameters
    ----------
    view : View
    links : dict, optional
        Identity edge kind -> the end that is the shared identifier
        (``"source"`` or ``"target"``). Default: a person holding many
        accounts (``holds``), a phone bound to many accounts (``bound_to``),
        a device or IP logging into many accounts (``logged_in_from``).
    identifier_kinds, member_kinds : iterable of str, optional
        Keep only identifiers / members of these node kinds.
    min_members : int
        Smallest cluster reported.
    max_share : int or None
        Clusters with more members than this are dropped (NAT gateways, busy
        outlets); ``degree`` reports the identifier's full member count.
    since, until : time, optional
        Only links seen in this period (edge ``time``, else ``last_seen`` /
        ``first_seen``); links without any time are kept unless a bound is given.

    Returns
    -------
    DataFrame with columns ``identifier, identifier_kind, link, members``
    (sorted tuple), ``count, degree, weight`` (``1/log(1+count)``), ``start, end``
    (time span of the links, when known) and ``edge_ids`` (sorted tuple),
    sorted by weight descending then identifier.
    """
    p = identity_links(view, links, max_share=None, since=since, until=until)
    p["identifier_kind"] = _kind_of(p["identifier"])
    p["member_kind"] = _kind_of(p["member"])
    if identifier_kinds is not None:
        p = p[p["identifier_kind"].isin(list(identifier_kinds))]
    if member_kinds is not None:
        p = p[p["member_kind"].isin(list(member_kinds))]
    if not len(p):
        return _empty()
    deg = p.drop_duplicates(["identifier", "member"]).groupby("identifier").size()
    keep = deg[deg >= min_members]
    if max_share is not None:
        keep = keep[keep <= max_share]
    p = p[p["identifier"].isin(keep.index)].rename(columns={"edge_id": "eid", "time": "t"})
    if not len(p):
        return _empty()
    rows = []
    for ident, g in p.sort_values(["identifier", "member", "eid"]).groupby("identifier", sort=True):
        members = tuple(sorted(set(g["member"])))
        rows.append({
            "identifier": ident, "identifier_kind": g["identifier_kind"].iat[0],
            "link": ",".join(sorted(set(g["link"]))), "members": members, "count": len(members),
            "degree": int(g["degree"].iat[0]), "weight": share_weight(len(members)),
            "start": g["t"].min(), "end": g["t"].max(), "edge_ids": tuple(sorted(int(x) for x in g["eid"])),
        })
    out = pd.DataFrame(rows, columns=CLUSTER_COLUMNS)
    return out.sort_values(["weight", "identifier"], ascending=[False, True], kind="stable").reset_index(drop=True)


def shared_devices(view, min_members: int = 2, max_share: int | None = 50, since=None, until=None,
                   identifier_kinds=("device", "ip")) -> pd.DataFrame:
    """Devices and IP addresses that several accounts logged in from (see :func:`shared_identifiers`)."""
    return shared_identifiers(view, {"logged_in_from": "target"}, identifier_kinds=identifier_kinds,
                              min_members=min_members, max_share=max_share, since=since, until=until)


def shared_phones(view, min_members: int = 2, max_share: int | None = 50) -> pd.DataFrame:
    """Phones bound to several accounts (see :func:`shared_identifiers`)."""
    return shared_identifiers(view, {"bound_to": "target"}, min_members=min_members, max_share=max_share)


def shared_holders(view, min_members: int = 2, max_share: int | None = 50, member_kinds=None) -> pd.DataFrame:
    """People and organisations holding several accounts, phones or devices."""
    return shared_identifiers(view, {"holds": "source"}, member_kinds=member_kinds,
                              min_members=min_members, max_share=max_share)


def _time_property(view, kind: str) -> str | None:
    """The first property of type ``time`` the schema declares for a node kind."""
    for name, typ in view.schema.nodes[kind].properties.items():
        if typ == "time":
            return name
    return None


def _bursts(times: np.ndarray, window: np.int64, min_cards: int) -> list[tuple[int, int]]:
    """Greedy non-overlapping windows ``[t_i, t_i + window]`` holding >= min_cards sorted times."""
    out, i, n = [], 0, len(times)
    while i < n:
        j = int(np.searchsorted(times, times[i] + window, side="right"))
        if j - i >= min_cards:
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def card_bursts(view, window="7D", min_cards: int = 3, kinds=("bank_account", "phone"),
                by=("holder", "outlet"), holder_link: str = "holds", outlet_link: str = "registered_at",
                max_share: int | None = None) -> pd.DataFrame:
    """Cards (bank accounts, SIMs…) opened in a burst by one holder or at one outlet.

    A card's opening time is the first ``time`` property the schema declares
    for its kind (``bank_account.opened``, ``phone.activated``), else the time of
    its ``registered_at`` edge. Cards of one group (a holder via ``holds``, an
    outlet via ``registered_at``) are sorted by time and cut greedily into
    non-overlapping windows ``[t, t + window]`` holding at least ``min_cards``.

    A legitimate person opening five cards over years gives no burst. A busy
    outlet gives many; its ``weight`` is ``1/log(1 + cards registered there)``
    and ``share`` (in ``count / degree``) says how much of its volume a burst is.

    Returns
    -------
    DataFrame with the columns of :func:`shared_identifiers` (``identifier`` is
    the holder or outlet, ``link`` the edge kind, ``degree`` the group's total
    number of cards of ``kinds``), one row per burst, sorted by identifier and start.
    """
    window = duration(window)
    kinds = list(kinds)
    groups = {"holder": (holder_link, "source"), "outlet": (outlet_link, "target")}
    unknown = [b for b in by if b not in groups]
    if unknown:
        raise ValueError(f"by: {unknown}: expected 'holder' and/or 'outlet'")
    link_kinds = [groups[b][0] for b in by]
    e = view.all_edges(link_kinds)
    if not len(e):
        return _empty()
    cards = view.nodes(kinds=kinds)
    t = pd.Series(pd.NaT, index=cards.index, dtype="datetime64[ns, UTC]")
    for kind in kinds:
        prop = _time_property(view, kind)
        if prop and prop in cards:
            m = cards["kind"] == kind
            t[m] = pd.to_datetime(cards.loc[m, prop], utc=True, errors="coerce")
    opened = pd.Series(t.to_numpy(), index=cards["id"].astype("str"))
    rows = []
    for b in by:
        link, end = groups[b]
        other = "target" if end == "source" else "source"
        sub = e[e["kind"] == link]
        p = pd.DataFrame({"group": sub[end].astype("str"), "card": sub[other].astype("str"),
                          "eid": sub["id"].astype("int64"),
                          "edge_t": pd.to_datetime(sub["time"], utc=True, errors="coerce") if "time" in sub
                          else pd.NaT})
        p = p[p["card"].isin(opened.index)]
        p["t"] = opened.reindex(p["card"]).to_numpy()
        p["t"] = p["t"].where(p["t"].notna(), p["edge_t"])
        degree = p.groupby("group")["card"].nunique()
        p = p.dropna(subset=["t"]).sort_values(["group", "t", "card", "eid"])
        # one time per card and group (several edges may link the same card)
        first = p.drop_duplicates(["group", "card"])
        first = first[first.groupby("group")["card"].transform("size").to_numpy() >= min_cards]
        edges_of = p.groupby("group", sort=False).indices  # each group's rows of p
        p_card, p_eid = p["card"].to_numpy(object), p["eid"].to_numpy()
        for group, g in first.groupby("group", sort=True):
            if max_share is not None and degree[group] > max_share:
                continue
            times = g["t"].to_numpy("datetime64[ns]").view("int64")
            for i, j in _bursts(times, np.int64(window.value), min_cards):
                members = tuple(sorted(g["card"].iloc[i:j]))
                rows_of, inside = edges_of[group], set(members)
                eids = p_eid[rows_of][[c in inside for c in p_card[rows_of]]]
                rows.append({
                    "identifier": group, "identifier_kind": group.partition(":")[0], "link": link,
                    "members": members, "count": len(members), "degree": int(degree[group]),
                    "weight": share_weight(int(degree[group])),
                    "start": g["t"].iloc[i], "end": g["t"].iloc[j - 1],
                    "edge_ids": tuple(sorted(int(x) for x in eids)),
                })
    if not rows:
        return _empty()
    out = pd.DataFrame(rows, columns=CLUSTER_COLUMNS)
    return out.sort_values(["identifier", "start"], kind="stable").reset_index(drop=True)
