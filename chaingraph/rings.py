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

Two rules keep what one group *operates* apart from what it *buys* or *shares*:

- custody: a card or phone that was sold (target of a ``supplied`` edge) is
  operated by its buyer, so its holder of record, the phone bound at opening and
  the devices / IPs last seen before its last sale (the card farm) are left out of
  ``operated``; in ``supply`` a seller's link to an item someone sold again later
  is left out, and so are all links of a seller who supplied several buyers;
- brokers: after a first partition each community is split again on its own
  links (local modularity); an entity whose links go, with at least
  ``broker_share`` of its weight and two links each, to two such parts that are
  otherwise separate (under 5 % of the smaller part's strength between them,
  brokers' own links aside) is a broker. Brokers are taken out, the graph is
  partitioned again, and a broker whose links then fall mostly (second community
  under ``broker_share``) in one community joins it; the others are listed in
  :attr:`Rings.brokers` and belong to no ring.

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
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from .links import DEFAULT_LINKS, _kind_of, identity_links, share_weight

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
    brokers : DataFrame
        ``entity, kind, n_rings, rings, strength``: nodes linking otherwise separate
        communities (suppliers, shared settlement / exit accounts), kept out of every ring.
    """

    members: pd.DataFrame
    rings: pd.DataFrame
    hubs: pd.DataFrame
    brokers: pd.DataFrame = None
    names: np.ndarray = field(repr=False, default=None)      # node id of each code (sorted; numpy or pandas str array)
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


def _operated(view, max_share, supply_kind="supplied"):
    """Identity links for the ``operated`` projection, with the custody rule.

    A card or phone that was sold (the target of a ``supply_kind`` edge) is
    operated by its buyer: the holder of record, the phone bound at opening
    and the devices / IPs seen only up to its last sale are the seller's (the
    card farm), not the ring's. Those links are left out here (they remain in
    :func:`chaingraph.links.shared_identifiers`, where the farm is what one
    looks for); a link of a sold item counts only when last seen after the sale.
    """
    links = identity_links(view, DEFAULT_LINKS, max_share=None)
    if supply_kind in view.schema.edges and len(links):
        sup = view.all_edges([supply_kind])
        if len(sup):
            sold_t = pd.to_datetime(sup["time"], utc=True, errors="coerce") if "time" in sup else \
                pd.Series(pd.NaT, index=sup.index, dtype="datetime64[ns, UTC]")
            sold = pd.Series(sold_t.to_numpy(), index=sup["target"].astype("str").to_numpy())
            sold = sold.groupby(level=0).max()
            last = links["time"]  # time, else last_seen, else first_seen; prefer last_seen here
            e = view.all_edges(list(DEFAULT_LINKS))
            if "last_seen" in e:
                ls = pd.Series(pd.to_datetime(e["last_seen"], utc=True, errors="coerce").to_numpy(),
                               index=e["id"].astype("int64").to_numpy())
                ls = ls[~ls.index.duplicated()]
                lv = ls.reindex(links["edge_id"].to_numpy()).to_numpy()
                last = pd.Series(np.where(pd.isna(lv), links["time"].to_numpy(), lv), index=links.index)
            st = links["member"].map(sold)
            was_sold = links["member"].isin(sold.index)
            after = pd.to_datetime(last, utc=True).to_numpy() > pd.to_datetime(st, utc=True).to_numpy()
            links = links[~was_sold.to_numpy() | (after & st.notna().to_numpy())]
    if not len(links):
        return links
    deg = links.drop_duplicates(["identifier", "member"]).groupby("identifier").size()
    links = links.assign(degree=links["identifier"].map(deg).astype("int64").to_numpy())
    if max_share is not None:
        links = links[links["degree"] <= max_share]
    return links.assign(weight=share_weight(links["degree"].to_numpy()) if len(links) else np.zeros(0))


def _supply(view, supply_kind="supplied", max_buyers=1):
    """Supply links that can tie a seller to one group: a seller's link to an item it sold is left
    out when someone sold the item again later (it changed hands: the farmer's card resold by a
    dealer), and a seller who supplied more than ``max_buyers`` buyers is a supplier of several
    groups, not ring glue (it is reported by :func:`ring_centrality` and
    :func:`dealers_across_rings`, never merged into one ring)."""
    e = view.all_edges([supply_kind])
    if not len(e):
        return e
    e = pd.DataFrame({"source": e["source"].astype("str").to_numpy(), "target": e["target"].astype("str").to_numpy(),
                      "time": pd.to_datetime(e["time"], utc=True, errors="coerce").to_numpy() if "time" in e
                      else pd.NaT})
    parties = set(view.schema.edges[supply_kind].source)
    is_buyer = _kind_of(e["target"]).isin(parties).to_numpy()
    n_buyers = e[is_buyer].groupby("source")["target"].nunique()
    multi = e["source"].map(n_buyers).fillna(0).to_numpy() > max_buyers
    last = e[~is_buyer].groupby("target")["time"].max()
    resold = ~is_buyer & (e["time"].to_numpy() < e["target"].map(last).to_numpy())
    return e[~multi & ~resold].reset_index(drop=True)


def _projection_parts(view, projections, max_share, money_kinds):
    schema = view.schema
    parts = []
    for p in projections:
        if p == "operated":
            links = _operated(view, max_share)
            parts.append((links["identifier"], links["member"], links["weight"].to_numpy(), None))
        elif p == "money":
            kinds = list(money_kinds) if money_kinds is not None else list(schema.money_edges)
            m = _money(view, kinds)
            parts.append((m["a"], m["b"], None, m["amount"].to_numpy(dtype="float64")))
        elif p == "supply":
            e = _supply(view)
            parts.append((e["source"], e["target"], np.ones(len(e)), None))
        elif p == "cases":
            victims = {k for k, nk in schema.nodes.items() if nk.segment == "victim"}
            kinds = [k for k, ek in schema.edges.items() if ek.pivot and set(ek.source) & victims]
            e = view.all_edges(kinds)
            parts.append((e["source"], e["target"], np.ones(len(e)), None))
        else:
            raise ValueError(f"projections: {p!r}: expected some of {', '.join(PROJECTIONS)}")
    return parts


def _has_codes(view) -> bool:
    """Whether ``view`` is an in-memory view whose every edge end is a node (edges with integer node codes)."""
    need = ("_edges", "_nodes", "_src", "_dst", "_kcode", "_kinds")
    if not all(hasattr(view, x) for x in need) or len(view._src) != len(view._edges):
        return False
    if len(view._src) and (view._src.min() < 0 or view._dst.min() < 0):
        return False
    return True


def _ns(col: pd.Series, rows) -> np.ndarray:
    """Times of some rows of a column as int64 ns (NaT: int64 min), without Python objects."""
    x = col.iloc[rows]
    if not (pd.api.types.is_datetime64_any_dtype(x.dtype)):
        x = pd.to_datetime(x, utc=True, errors="coerce")
    if getattr(x.dt, "tz", None) is not None:
        x = x.dt.tz_convert("UTC").dt.tz_localize(None)
    return x.to_numpy("datetime64[ns]").view("int64")


def _sorted_ids(ids: pd.Series):
    """Node ids in sorted order, and the permutation that sorts them (None when already sorted).

    Sorted with Arrow on a string column (code point order, as Python sorts str): no
    Python string is made per node."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(ids)
    except (pa.ArrowException, TypeError, ValueError):
        arr = None
    if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        if len(arr) < 2 or pc.all(pc.less_equal(arr[:-1], arr[1:])).as_py():
            return pd.array(arr, dtype="str"), None
        order = pc.sort_indices(arr).to_numpy()
        return pd.array(arr.take(order), dtype="str"), order
    obj = np.asarray(ids, dtype=object)
    if pd.Index(obj).is_monotonic_increasing:
        return obj, None
    order = np.argsort(obj, kind="stable")
    return obj[order], order


def _code_parts(view, projections, max_share, money_kinds):
    """Like :func:`_projection_parts` on integer node codes (node positions of the in-memory view,
    renumbered in sorted id order). Returns (names, the permutation sorting the view's node ids
    or None, each part's two code arrays, parts)."""
    e, src, dst = view._edges, view._src, view._dst
    n = len(view._nodes)
    schema = view.schema
    kcodes, kcats = view._kcode, view._kinds.tolist()

    def rows(kinds):
        want = [i for i, k in enumerate(kcats) if k in set(kinds)]
        return np.flatnonzero(np.isin(kcodes, want)) if want else np.zeros(0, "int64")

    nat = np.iinfo(np.int64).min
    parts = []
    for p in projections:
        if p == "operated":
            ident, memb, last = [], [], []
            for k, end in DEFAULT_LINKS.items():
                r = rows([k])
                ident.append((src if end == "source" else dst)[r].astype(np.int64))
                memb.append((dst if end == "source" else src)[r].astype(np.int64))
                t = np.full(len(r), nat, "int64")
                for col in ("first_seen", "time", "last_seen"):   # the latest known wins
                    if col in e:
                        x = _ns(e[col], r)
                        t = np.where(x != nat, x, t)
                last.append(t)
            a, b, t = np.concatenate(ident), np.concatenate(memb), np.concatenate(last)
            if "supplied" in schema.edges:
                r = rows(["supplied"])
                if len(r):
                    sold = np.full(n, nat, "int64")
                    np.maximum.at(sold, dst[r], _ns(e["time"], r) if "time" in e else np.zeros(len(r), "int64"))
                    was = np.zeros(n, bool)
                    was[dst[r]] = True
                    ok = ~was[b] | ((t != nat) & (sold[b] != nat) & (t > sold[b]))
                    a, b = a[ok], b[ok]
            pair = np.unique(a * n + b)
            deg = np.bincount(pair // n, minlength=n)
            d = deg[a]
            ok = d <= max_share if max_share is not None else np.ones(len(a), bool)
            parts.append((a[ok], b[ok], share_weight(d[ok]) if ok.any() else np.zeros(0), None))
        elif p == "money":
            kinds = list(money_kinds) if money_kinds is not None else list(schema.money_edges)
            r = rows(kinds)
            amount = pd.to_numeric(e["amount"], errors="coerce").to_numpy("float64")[r] if "amount" in e \
                else np.full(len(r), np.nan)
            parts.append((src[r], dst[r], None, amount))
            del r
        else:  # small projections: the id path, mapped onto the codes
            (pa_, pb, pw, pm), = _projection_parts(view, [p], max_share, money_kinds)
            look = pd.Index(view._nodes["id"])
            ca = look.get_indexer(pd.Index(np.asarray(pa_, dtype=object)))
            cb = look.get_indexer(pd.Index(np.asarray(pb, dtype=object)))
            ok = (ca >= 0) & (cb >= 0)
            parts.append((ca[ok], cb[ok], pw[ok] if pw is not None else None, pm[ok] if pm is not None else None))
    # number nodes in sorted id order so the answer does not depend on the view's row order
    names, order = _sorted_ids(view._nodes["id"])
    if order is None:
        return names, order, [x for a, b, _, _ in parts for x in (a, b)], parts
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    return names, order, [rank[x] for a, b, _, _ in parts for x in (a, b)], parts


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


def _ids(names, idx) -> np.ndarray:
    """Node ids of some codes as an object array (``names``: numpy object or pandas str array)."""
    return np.asarray(names[np.asarray(idx, np.int64)], dtype=object)


def _aggregate(parts, codes, n):
    """Undirected weighted pairs (u < v) summed over every projection."""
    us, vs, ws = [], [], []
    for k, (_, _, w, amount) in enumerate(parts):
        a, b = codes[2 * k], codes[2 * k + 1]
        ok = a != b
        a, b = a[ok], b[ok]
        key = np.minimum(a, b).astype(np.int64)
        key *= n
        key += np.maximum(a, b)
        del a, b
        uk, inv = np.unique(key, return_inverse=True)
        del key
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


def _partition(n, u, v, w, min_split, resolution, seed, n_iterations):
    """Community label per node (-1: no link): small components whole, larger ones split by Leiden."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    _, comp = connected_components(csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False)
    touched = np.zeros(n, bool)
    touched[u] = touched[v] = True
    label = comp.astype("int64")
    csize = np.bincount(comp, minlength=1)
    big_node = touched & (csize[comp] >= min_split)
    if big_node.any():
        nodes = np.flatnonzero(big_node)
        local = np.full(n, -1, "int64")
        local[nodes] = np.arange(len(nodes))
        sel = big_node[u]
        memb = _leiden(len(nodes), local[u[sel]], local[v[sel]], w[sel], resolution, seed, n_iterations)
        label[nodes] = comp.max() + 1 + memb
    label[~touched] = -1
    return label


def _refine(label, u, v, w, min_split, resolution, seed, n_iterations):
    """Split each community of at least ``min_split`` nodes by Leiden on its own links (local modularity)."""
    fine = label.copy()
    inside = (label[u] == label[v]) & (label[u] >= 0)
    size = np.bincount(label[label >= 0])
    big = inside & (size[np.maximum(label[u], 0)] >= min_split)
    if not big.any():
        return fine
    eu, ev, ew = u[big], v[big], w[big]
    order = np.argsort(label[eu], kind="stable")
    eu, ev, ew = eu[order], ev[order], ew[order]
    cut = np.flatnonzero(np.diff(label[eu])) + 1
    nxt = int(label.max()) + 1
    for su, sv, sw in zip(np.split(eu, cut), np.split(ev, cut), np.split(ew, cut)):
        nodes, inv = np.unique(np.concatenate([su, sv]), return_inverse=True)
        memb = _leiden(len(nodes), inv[:len(su)], inv[len(su):], sw, resolution, seed, n_iterations)
        fine[nodes] = nxt + memb
        nxt += int(memb.max()) + 1
    return fine


def _spread(label, u, v, w, n, min_links=1):
    """Per node: share of its link weight going to its largest community, to its second-largest
    (counted only when it holds ``min_links`` links or more), and the largest community."""
    node = np.concatenate([u, v])
    other = np.concatenate([label[v], label[u]])
    ww = np.concatenate([w, w])
    k = np.bincount(node, weights=ww, minlength=n)
    m = other >= 0
    L = int(label.max()) + 2
    key, inv = np.unique(node[m] * L + other[m], return_inverse=True)
    kw = np.bincount(inv, weights=ww[m])
    cnt = np.bincount(inv)
    kn, kc = key // L, key % L
    order = np.lexsort((kc, -kw, kn))                   # per node: heaviest community first
    kn, kc, kw, cnt = kn[order], kc[order], kw[order], cnt[order]
    first = np.r_[True, kn[1:] != kn[:-1]]
    rank = np.arange(len(kn)) - np.maximum.accumulate(np.where(first, np.arange(len(kn)), 0))
    top, second, best = np.zeros(n), np.zeros(n), np.full(n, -1, "int64")
    safe = np.where(k > 0, k, 1.0)
    r0, r1 = rank == 0, rank == 1
    top[kn[r0]] = kw[r0] / safe[kn[r0]]
    best[kn[r0]] = kc[r0]
    r1 &= cnt >= min_links
    second[kn[r1]] = kw[r1] / safe[kn[r1]]
    return top, second, best


def _brokers(fine, u, v, w, n, share, min_links=2, separate=0.05):
    """Nodes linking (with ``min_links`` links and ``share`` of their weight at least) two
    communities that are otherwise separate: the weight between them, not counting the
    links of such candidates, is under ``separate`` of the smaller one's strength."""
    top, second, best = _spread(fine, u, v, w, n, min_links=min_links)
    cand = np.flatnonzero(second >= share)
    out = np.zeros(n, bool)
    if not len(cand):
        return out
    # each candidate's two heaviest communities (with at least min_links links)
    node = np.concatenate([u, v])
    other = np.concatenate([fine[v], fine[u]])
    ww = np.concatenate([w, w])
    m = np.isin(node, cand)
    per = pd.DataFrame({"x": node[m], "c": other[m], "w": ww[m]}).groupby(["x", "c"])["w"].agg(["sum", "size"])
    per = per[per["size"] >= min_links].reset_index().sort_values(["x", "sum", "c"], ascending=[True, False, True])
    per = per.groupby("x").head(2)
    # weight between communities and each community's strength
    cu, cv = fine[u], fine[v]
    strength = pd.Series(np.r_[w, w]).groupby(np.r_[cu, cv]).sum()
    x_ = cu != cv
    a, b = np.minimum(cu[x_], cv[x_]), np.maximum(cu[x_], cv[x_])
    between = pd.Series(w[x_]).groupby([a, b]).sum().to_dict() if x_.any() else {}
    # each candidate's own links between communities
    is_cand = np.zeros(n, bool)
    is_cand[cand] = True
    ce = np.flatnonzero(x_ & (is_cand[u] | is_cand[v]))
    lo, hi = np.minimum(cu, cv), np.maximum(cu, cv)
    own = {}
    for end in (u, v):
        sel = ce[is_cand[end[ce]]]
        for x, i in zip(end[sel].tolist(), sel.tolist()):
            own.setdefault(x, []).append(i)
    # greedily, most spread first: a candidate is a broker when the two communities it links are
    # separate once its own links and those of the brokers already found are set aside
    tops = {x: tuple(g["c"].tolist()) for x, g in per.groupby("x", sort=False) if len(g) == 2}
    xs = np.array(sorted(tops), dtype="int64")
    removed = set()
    for x in xs[np.lexsort((xs, -second[xs]))].tolist():
        c1, c2 = tops[x]
        key = (min(c1, c2), max(c1, c2))
        mine = [i for i in own.get(x, ()) if i not in removed]
        direct = between.get(key, 0.0) - sum(w[i] for i in mine if (lo[i], hi[i]) == key)
        if direct < separate * min(strength.get(c1, 0.0), strength.get(c2, 0.0)):
            out[x] = True
            for i in mine:
                removed.add(i)
                k2 = (int(lo[i]), int(hi[i]))
                between[k2] = between.get(k2, 0.0) - w[i]
    return out


def rings(view, projections=PROJECTIONS, resolution: float = 1.0, seed: int = 42, min_size: int = 3,
          max_share: int | None = 50, max_degree: int | None = 200,
          money_kinds=None, n_iterations: int = -1, min_split: int = 12,
          broker_share: float | None = 0.2) -> Rings:
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
    broker_share : float or None
        Smallest share of its link weight an entity must send to a second, otherwise
        separate community to be a broker (see the module docstring); None: no broker step.

    On the in-memory view the result is kept, per parameters (the last
    ``_KEPT``), and handed out again as a copy: brokers, dealers and roles all
    start from the rings, and Leiden on a province's graph takes half a minute.
    A Neo4j graph can change between two calls, so it is computed every time.
    """
    args = (tuple(projections), resolution, seed, min_size, max_share, max_degree,
            None if money_kinds is None else tuple(sorted(money_kinds)), n_iterations, min_split, broker_share)
    if not _has_codes(view):
        return _rings(view, *args)
    kept = view.__dict__.setdefault("_rings_kept", {})
    if args not in kept:
        kept[args] = _rings(view, *args)
        while len(kept) > _KEPT:
            del kept[next(iter(kept))]
    r = kept[args]
    return replace(r, **{f.name: None if getattr(r, f.name) is None else getattr(r, f.name).copy() for f in fields(r)})


_KEPT = 2


def _rings(view, projections, resolution, seed, min_size, max_share, max_degree, money_kinds, n_iterations,
           min_split, broker_share) -> Rings:
    if _has_codes(view):
        names, order, codes, parts = _code_parts(view, list(projections), max_share, money_kinds)
        node_kind = None
        if "kind" in view._nodes:
            kk = view._nodes["kind"]
            kk = kk.astype("category") if not isinstance(kk.dtype, pd.CategoricalDtype) else kk
            node_kind = (kk.cat.codes.to_numpy(), np.asarray(kk.cat.categories, dtype=object))
            if order is not None:
                node_kind = (node_kind[0][order], node_kind[1])
    else:
        parts = _projection_parts(view, list(projections), max_share, money_kinds)
        names, codes = _codes(parts)
        node_kind = None
    n = len(names)
    u, v, w = _aggregate(parts, codes, n)
    hubs = pd.DataFrame({"entity": pd.Series([], dtype="str"), "degree": pd.Series([], dtype="int64")})
    if max_degree is not None and len(u):
        deg = np.bincount(u, minlength=n) + np.bincount(v, minlength=n)
        hub = deg > max_degree
        if hub.any():
            hubs = pd.DataFrame({"entity": _ids(names, np.flatnonzero(hub)), "degree": deg[hub]})
            keep = ~hub[u] & ~hub[v]
            u, v, w = u[keep], v[keep], w[keep]
    label = _partition(n, u, v, w, max(min_size, min_split), resolution, seed, n_iterations)
    broker = np.zeros(n, bool)
    if broker_share is not None and len(u):
        # brokers: entities whose links spread over several communities once each community is
        # looked at on its own (suppliers, shared settlement and exit accounts serving several groups)
        fine = _refine(label, u, v, w, max(min_size, min_split), resolution, seed, n_iterations)
        broker = _brokers(fine, u, v, w, n, broker_share)
        if broker.any():
            keep = ~broker[u] & ~broker[v]
            label = _partition(n, u[keep], v[keep], w[keep], max(min_size, min_split), resolution, seed, n_iterations)
            # a broker whose links mostly go into one community of the result belongs to it
            top, second, best = _spread(np.where(broker, -1, label), u, v, w, n)
            join = broker & (second < broker_share) & (best >= 0)
            label[join] = best[join]
            broker &= ~join
            label[broker] = -1
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
    ent = _ids(names, idx)
    kind_col = node_kind[1][node_kind[0][idx]] if node_kind is not None else \
        _kind_of(pd.Series(ent, dtype="str")).to_numpy()
    members = pd.DataFrame({"entity": ent, "kind": kind_col,
                            "ring": community[idx], "strength": strength[idx],
                            "internal_share": np.divide(inside[idx], strength[idx], out=np.zeros(len(idx)),
                                                        where=strength[idx] > 0)})
    victims = {k for k, nk in view.schema.nodes.items() if nk.segment == "victim"}
    ring_ids = community[idx]
    cut = np.flatnonzero(np.diff(ring_ids)) + 1
    kinds = members["kind"].to_numpy()
    rows = []
    for ents, ks in zip(np.split(ent, cut), np.split(kinds, cut)):
        if not len(ents):
            continue
        mem = tuple(ents.tolist())
        cases = tuple(x for x, k in zip(mem, ks.tolist()) if k in victims)
        rows.append((len(rows) + 1, len(mem), len(cases), cases, mem))
    ring_df = pd.DataFrame(rows, columns=["ring", "size", "n_cases", "cases", "members"])
    ring_df["ring"] = ring_df["ring"].astype("int64")
    # brokers: left out of every ring; listed with the rings their links reach
    bi = np.flatnonzero(broker)
    bcols = ["entity", "kind", "n_rings", "rings", "strength"]
    if len(bi):
        node = np.concatenate([u, v])
        other = np.concatenate([community[v], community[u]])
        m = broker[node] & (other > 0)
        touch = pd.DataFrame({"x": node[m], "r": other[m]}).drop_duplicates().sort_values(["x", "r"])
        rs = touch.groupby("x")["r"].agg(lambda s: tuple(int(x) for x in s))
        bent = _ids(names, bi)
        br = [rs.get(i, ()) for i in bi.tolist()]
        brokers = pd.DataFrame({"entity": bent, "kind": _kind_of(pd.Series(bent, dtype="str")).to_numpy(),
                                "n_rings": [len(x) for x in br], "rings": br, "strength": strength[bi]})
        brokers = brokers.sort_values(["n_rings", "entity"], ascending=[False, True], kind="stable").reset_index(drop=True)
    else:
        brokers = pd.DataFrame(columns=bcols)
    return Rings(members=members, rings=ring_df, hubs=hubs, brokers=brokers, names=names, community=community,
                 u=u, v=v, w=w)


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
