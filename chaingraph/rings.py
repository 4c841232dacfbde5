"""Rings and key players: deterministic community detection on chain projections.

The graph communities are found on is a weighted, undirected *projection* of
the chain graph, summed over:

``operated``  an identifier and each account it is shared by (holder, bound
              phone, device, IP), weighted ``1/log(1 + members)``; identifiers
              shared by more than ``max_share`` members are left out
              (:func:`chaingraph.links.identity_links`)
``money``     payer and payee of the schema's money edges, one link per pair,
              weighted ``log(1 + n_transfers) + log(1 + total) / log(10 000)``
``supply``    seller and what or whom they supplied (``supplied``), weight 1
``cases``     a case and the accounts, phones and sites it names (the schema's
              ``pivot`` edges leaving a ``victim`` node), weight 1

Nodes linked to more than ``max_degree`` others (shops, payroll accounts, ATMs,
big settlement platforms) are *hubs*: they are left out of the projection and
listed in :attr:`Rings.hubs`, so a busy legitimate node never glues rings
together. A connected component of fewer than ``min_split`` entities is one
community as it is; the larger ones are split in one run of igraph's Leiden
(modularity, ``resolution``) with a seeded random generator. Nodes are numbered
in sorted id order and edges aggregated per pair before anything runs, so the
answer depends neither on the order the backend returned edges in nor on the
run. Communities of at least ``min_size`` entities are rings, numbered 1, 2, …
by size (largest first) then smallest member id.

Examples
--------
>>> import pandas as pd
>>> from chaingraph.view import MemoryView
>>> ids = ["bank_account:a1", "bank_account:a2", "bank_account:a3"]
>>> n = pd.DataFrame({"id": ids, "kind": "bank_account"})
>>> e = pd.DataFrame({"id": [1, 2], "kind": "transfer", "source": ids[:2], "target": ids[1:],
...                   "time": pd.Timestamp("2024-01-01", tz="UTC"), "amount": 100.0})
>>> r = rings(MemoryView(n, e))
>>> r.rings[["ring", "size"]].to_dict("records")
[{'ring': 1, 'size': 3}]
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .links import DEFAULT_LINKS, _kind_of, identity_links

__all__ = ["Rings", "rings", "ring_centrality", "dealers_across_rings", "PROJECTIONS"]

PROJECTIONS = ("operated", "money", "supply", "cases")


@dataclass
class Rings:
    """Result of :func:`rings`.

    Attributes
    ----------
    members : DataFrame
        ``entity, kind, ring, strength, internal_share`` for every entity in a
        ring (``internal_share``: the part of its link weight inside its ring).
    rings : DataFrame
        ``ring, size, n_cases, cases, members`` (tuples sorted by id).
    hubs : DataFrame
        ``entity, degree``: nodes left out for having more than ``max_degree`` links.
    """

    members: pd.DataFrame
    rings: pd.DataFrame
    hubs: pd.DataFrame
    names: np.ndarray = field(repr=False, default=None)
    community: np.ndarray = field(repr=False, default=None)   # per node: ring number, 0 = none
    u: np.ndarray = field(repr=False, default=None)
    v: np.ndarray = field(repr=False, default=None)
    w: np.ndarray = field(repr=False, default=None)

    def ring_of(self, ids) -> pd.Series:
        """Ring number of each id (0 when it is in no ring)."""
        s = pd.Series(self.members["ring"].to_numpy(), index=self.members["entity"].to_numpy())
        ids = list(ids)
        return s.reindex(ids).fillna(0).astype("int64").set_axis(ids)


def _money(view, kinds):
    e = view.all_edges(kinds)
    return pd.DataFrame({"a": e["source"], "b": e["target"],
                         "amount": pd.to_numeric(e["amount"], errors="coerce") if "amount" in e else np.nan})


def _projection_parts(view, projections, max_share, money_kinds):
    schema = view.schema
    parts = []
    for p in projections:
        if p == "operated":
            links = identity_links(view, DEFAULT_LINKS, max_share=max_share)
            parts.append((links["identifier"], links["member"], links["weight"].to_numpy(), None))
        elif p == "money":
            kinds = list(money_kinds) if money_kinds is not None else list(schema.money_edges)
            m = _money(view, kinds)
            parts.append((m["a"], m["b"], None, m["amount"].to_numpy(dtype="float64")))
        elif p == "supply":
            e = view.all_edges(["supplied"])
            parts.append((e["source"], e["target"], np.ones(len(e)), None))
        elif p == "cases":
            victims = {k for k, nk in schema.nodes.items() if nk.segment == "victim"}
            kinds = [k for k, ek in schema.edges.items() if ek.pivot and set(ek.source) & victims]
            e = view.all_edges(kinds)
            parts.append((e["source"], e["target"], np.ones(len(e)), None))
        else:
            raise ValueError(f"projections: {p!r}: expected some of {', '.join(PROJECTIONS)}")
    return parts


def _codes(parts):
    """Shared integer codes for every end, numbered in sorted id order."""
    ends = [s for a, b, _, _ in parts for s in (a, b)]
    if not ends or not sum(len(s) for s in ends):
        return np.array([], dtype=object), [np.zeros(0, "int64")] * len(ends)
    cats = [s for s in ends if isinstance(s.dtype, pd.CategoricalDtype)]
    if len(cats) == len(ends) and all(s.cat.categories.equals(cats[0].cat.categories) for s in cats):
        cat = cats[0].cat.categories
        order = np.argsort(np.asarray(cat, dtype=object), kind="stable")
        rank = np.empty(len(cat), "int64")
        rank[order] = np.arange(len(cat))
        codes = [rank[s.cat.codes.to_numpy()] for s in ends]
        names = np.asarray(cat, dtype=object)[order]
    else:  # factorize each end, then number the (far fewer) distinct ids in sorted order
        facs = [pd.factorize(s.astype("str")) for s in ends]
        names = pd.Index(np.concatenate([np.asarray(u, dtype=object) for _, u in facs])).unique().sort_values()
        names = np.asarray(names, dtype=object)
        lookup = pd.Index(names)
        codes = [lookup.get_indexer(np.asarray(u, dtype=object)).astype("int64")[c] for c, u in facs]
    return names, codes


def _aggregate(parts, codes, n):
    """Undirected weighted pairs (u < v) summed over every projection."""
    us, vs, ws = [], [], []
    for k, (_, _, w, amount) in enumerate(parts):
        a, b = codes[2 * k], codes[2 * k + 1]
        ok = a != b
        a, b = a[ok], b[ok]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = lo * n + hi
        uk, inv = np.unique(key, return_inverse=True)
        if amount is not None:  # money: one link per pair from count and total amount
            cnt = np.bincount(inv, minlength=len(uk))
            tot = np.bincount(inv, weights=np.nan_to_num(amount[ok]), minlength=len(uk))
            wk = np.log1p(cnt) + np.log1p(tot) / np.log(10_000)
        else:
            wk = np.bincount(inv, weights=w[ok], minlength=len(uk))
        us.append(uk // n)
        vs.append(uk % n)
        ws.append(wk)
    if not us:
        return np.zeros(0, "int64"), np.zeros(0, "int64"), np.zeros(0)
    u, v, w = np.concatenate(us), np.concatenate(vs), np.concatenate(ws)
    key = u * n + v
    uk, inv = np.unique(key, return_inverse=True)
    return uk // n, uk % n, np.bincount(inv, weights=w, minlength=len(uk))


def _leiden(n, u, v, w, resolution, seed, n_iterations):
    import igraph as ig

    g = ig.Graph(n=n, edges=np.column_stack([u, v]).tolist())
    g.es["weight"] = w.tolist()
    ig.set_random_number_generator(random.Random(seed))
    try:
        part = g.community_leiden(objective_function="modularity", weights="weight", resolution=resolution,
                                  n_iterations=n_iterations)
    finally:
        ig.set_random_number_generator(random)
    return np.asarray(part.membership, dtype="int64")


def rings(view, projections=PROJECTIONS, resolution: float = 1.0, seed: int = 42, min_size: int = 3,
          max_share: int | None = 50, max_degree: int | None = 200,
          money_kinds=None, n_iterations: int = -1, min_split: int = 12) -> Rings:
    """Detect rings: communities of the weighted chain projection (see the module docstring).

    Parameters
    ----------
    projections : iterable of str
        Some of ``operated``, ``money``, ``supply``, ``cases``.
    resolution : float
        Leiden modularity resolution (higher: smaller rings).
    seed : int
        Seed of the random generator Leiden uses; same seed, same rings.
    min_size : int
        Smallest community reported as a ring.
    max_share : int or None
        Identifiers shared by more members are left out of ``operated``.
    max_degree : int or None
        Nodes linked to more others are hubs, left out of the projection.
    min_split : int
        Connected components of fewer entities are one community as they are;
        larger ones are split by Leiden.
    """
    parts = _projection_parts(view, list(projections), max_share, money_kinds)
    names, codes = _codes(parts)
    n = len(names)
    u, v, w = _aggregate(parts, codes, n)
    hubs = pd.DataFrame({"entity": pd.Series([], dtype="str"), "degree": pd.Series([], dtype="int64")})
    if max_degree is not None and len(u):
        deg = np.bincount(u, minlength=n) + np.bincount(v, minlength=n)
        hub = deg > max_degree
        if hub.any():
            hubs = pd.DataFrame({"entity": names[hub].astype(str), "degree": deg[hub]})
            keep = ~hub[u] & ~hub[v]
            u, v, w = u[keep], v[keep], w[keep]
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    _, comp = connected_components(csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False)
    touched = np.zeros(n, bool)
    touched[u] = touched[v] = True
    label = comp.astype("int64")
    # components too small to hold a ring stay whole; the rest are split in one Leiden run
    csize = np.bincount(comp, minlength=1)
    big_node = touched & (csize[comp] >= max(min_size, min_split))
    if big_node.any():
        nodes = np.flatnonzero(big_node)
        local = np.full(n, -1, "int64")
        local[nodes] = np.arange(len(nodes))
        sel = big_node[u]
        memb = _leiden(len(nodes), local[u[sel]], local[v[sel]], w[sel], resolution, seed, n_iterations)
        label[nodes] = comp.max() + 1 + memb
    label[~touched] = -1
    # number communities: size descending, then smallest member (codes follow sorted ids)
    ok = label >= 0
    uniq, inv, size = np.unique(label[ok], return_inverse=True, return_counts=True)
    first = np.full(len(uniq), n, "int64")
    np.minimum.at(first, inv, np.flatnonzero(ok))
    order = np.lexsort((first, -size))
    ring_no = np.zeros(len(uniq), "int64")
    keep_c = order[size[order] >= min_size]
    ring_no[keep_c] = np.arange(1, len(keep_c) + 1)
    community = np.zeros(n, "int64")
    community[ok] = ring_no[inv]
    # strength and the part of it inside the ring
    strength = np.bincount(u, weights=w, minlength=n) + np.bincount(v, weights=w, minlength=n)
    same = (community[u] == community[v]) & (community[u] > 0)
    inside = np.bincount(u[same], weights=w[same], minlength=n) + np.bincount(v[same], weights=w[same], minlength=n)
    idx = np.flatnonzero(community > 0)
    idx = idx[np.lexsort((idx, community[idx]))]
    ent = names[idx].astype(str)
    members = pd.DataFrame({"entity": ent, "kind": _kind_of(pd.Series(ent, dtype="str")).to_numpy(),
                            "ring": community[idx], "strength": strength[idx],
                            "internal_share": np.divide(inside[idx], strength[idx], out=np.zeros(len(idx)),
                                                        where=strength[idx] > 0)})
    victims = {k for k, nk in view.schema.nodes.items() if nk.segment == "victim"}
    ring_ids = community[idx]
    cut = np.flatnonzero(np.diff(ring_ids)) + 1
    kinds = members["kind"].to_numpy()
    rows = []
    for ents, ks in zip(np.split(ent.astype(object), cut), np.split(kinds, cut)):
        if not len(ents):
            continue
        mem = tuple(ents.tolist())
        cases = tuple(x for x, k in zip(mem, ks.tolist()) if k in victims)
        rows.append((len(rows) + 1, len(mem), len(cases), cases, mem))
    ring_df = pd.DataFrame(rows, columns=["ring", "size", "n_cases", "cases", "members"])
    ring_df["ring"] = ring_df["ring"].astype("int64")
    return Rings(members=members, rings=ring_df, hubs=hubs, names=names, community=community, u=u, v=v, w=w)


def ring_centrality(view, result: Rings | None = None, min_rings: int = 2, **ring_args) -> pd.DataFrame:
    """Brokers between rings: entities whose links reach several rings.

    For every entity linked to at least ``min_rings`` rings (its own counted):
    ``participation`` (Guimerà-Amaral participation coefficient over ring
    links, ``1 - sum_s (k_s / k)^2``), ``n_rings``, ``rings`` (sorted tuple),
    ``strength``, and ``ring_betweenness``: the largest betweenness, on the
    graph whose nodes are rings (links weighted by the weight between them,
    distance ``1 / weight``), of the rings it touches. Sorted by participation
    descending, then entity.
    """
    r = result if result is not None else rings(view, **ring_args)
    cols = ["entity", "kind", "ring", "participation", "n_rings", "rings", "strength", "ring_betweenness"]
    if r.u is None or not len(r.u):
        return pd.DataFrame(columns=cols)
    n, com, u, v, w = len(r.names), r.community, r.u, r.v, r.w
    # link weight of each node to each ring (both directions of every pair)
    node = np.concatenate([u, v])
    other = np.concatenate([com[v], com[u]])
    ww = np.concatenate([w, w])
    k = np.bincount(node, weights=ww, minlength=n)
    m = other > 0
    key = node[m] * (com.max() + 1) + other[m]
    uk, inv = np.unique(key, return_inverse=True)
    kr = np.bincount(inv, weights=ww[m])
    kn, kring = uk // (com.max() + 1), uk % (com.max() + 1)
    part = 1.0 - np.bincount(kn, weights=(kr / k[kn]) ** 2, minlength=n)
    nr = np.bincount(kn, minlength=n)
    own_extra = (com > 0) & ~np.isin(np.arange(n), kn[kring == com[kn]])
    nr = nr + own_extra
    sel = np.flatnonzero(nr >= min_rings)
    # ring graph betweenness
    cross = (com[u] > 0) & (com[v] > 0) & (com[u] != com[v])
    rb = {}
    if cross.any():
        import igraph as ig

        a, b = np.minimum(com[u][cross], com[v][cross]), np.maximum(com[u][cross], com[v][cross])
        R = int(com.max()) + 1
        pk, pinv = np.unique(a * R + b, return_inverse=True)
        pw = np.bincount(pinv, weights=w[cross])
        g = ig.Graph(n=R, edges=np.column_stack([pk // R, pk % R]).tolist())
        bt = g.betweenness(weights=(1.0 / pw).tolist(), directed=False)
        rb = {i: float(x) for i, x in enumerate(bt)}
    pick = np.isin(kn, sel)
    touched_by = {}
    for node_i, ring_i in zip(kn[pick].tolist(), kring[pick].tolist()):
        touched_by.setdefault(node_i, set()).add(ring_i)
    rows = []
    for i in sel.tolist():
        touched = tuple(sorted(touched_by.get(i, set()) | ({int(com[i])} if com[i] > 0 else set())))
        ent = str(r.names[i])
        rows.append({"entity": ent, "kind": ent.partition(":")[0], "ring": int(com[i]),
                     "participation": float(max(part[i], 0.0)) if k[i] > 0 else 0.0, "n_rings": len(touched),
                     "rings": touched, "strength": float(k[i]),
                     "ring_betweenness": max((rb.get(t, 0.0) for t in touched), default=0.0)})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["participation", "entity"], ascending=[False, True], kind="stable").reset_index(drop=True)


def dealers_across_rings(view, result: Rings | None = None, min_rings: int = 2, supply_kind: str = "supplied",
                         **ring_args) -> pd.DataFrame:
    """Suppliers whose cards, phones or buyers sit in at least ``min_rings`` rings.

    A supplied item (or buyer) counts for the ring it is in; an item in no ring
    counts for the rings of the cases paying or naming it. Returns ``entity, n_rings, rings,
    n_items, items, edge_ids`` sorted by ``n_rings`` descending, then entity.
    """
    r = result if result is not None else rings(view, **ring_args)
    cols = ["entity", "n_rings", "rings", "n_items", "items", "edge_ids"]
    e = view.all_edges([supply_kind])
    if not len(e):
        return pd.DataFrame(columns=cols)
    e = pd.DataFrame({"s": e["source"].astype("str"), "t": e["target"].astype("str"), "id": e["id"].astype("int64")})
    ring = r.ring_of(e["t"]).to_numpy()
    victims = {k for k, nk in view.schema.nodes.items() if nk.segment == "victim"}
    ckinds = [k for k, ek in view.schema.edges.items() if ek.pivot and set(ek.source) & victims]
    c = view.edges(sorted(set(e["t"])), "in", ckinds)
    case_ring = pd.DataFrame({"t": c["target"].astype("str"), "ring": r.ring_of(c["source"].astype("str")).to_numpy()})
    own = pd.DataFrame({"t": e["t"], "ring": ring}).query("ring > 0")
    case_ring = case_ring[~case_ring["t"].isin(set(own["t"]))]
    lk = pd.concat([own, case_ring]).query("ring > 0").drop_duplicates()
    j = e.merge(lk, on="t")
    rows = []
    for s, g in j.groupby("s", sort=True):
        rs = tuple(sorted(set(int(x) for x in g["ring"])))
        if len(rs) >= min_rings:
            items = tuple(sorted(set(g["t"])))
            rows.append({"entity": s, "n_rings": len(rs), "rings": rs, "n_items": len(items), "items": items,
                         "edge_ids": tuple(sorted(set(int(x) for x in g["id"])))})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["n_rings", "entity"], ascending=[False, True], kind="stable").reset_index(drop=True)
