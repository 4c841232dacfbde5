"""Role inference: label entities with their place in the chain, with the rule and the evidence.

Every rule needs *chain evidence* — a case, a supply record, or money traced
from a case — never volume alone, so a payroll account fanning out to
hundreds, a shop fanning in, a NAT address shared by hundreds of accounts, a
person with cards at five banks opened over years and a busy legitimate outlet
get no criminal role.

==================  =========================================================================
role                rule
==================  =========================================================================
first_level         a case paid into the account (``paid_to``)
second_level        case money traced (:func:`chaingraph.flow.flow`) to level 2, from a labelled
third_level         account, and case money is at least ``min_chain_share`` of what the account
                    received (level 3 and beyond are ``third_level``; ``rule`` says the level)
settlement          a level >= 2 account receiving case money from >= ``settlement_min_sources``
                    labelled accounts
exit                a node of ``exit_kinds`` (crypto wallets) that case money reached
cash_out            a labelled account that withdrew case money (``cash_out`` edge in the flow)
card_dealer         supplied >= ``dealer_min_buyers`` buyers, or supplied items that sit in (or
                    were paid by cases of) >= ``min_rings`` rings
card_farmer         holder of a burst of cards (:func:`chaingraph.links.card_bursts`) of which at
                    least one was sold (supplied) or used in the chain
technical_provider  an organisation hosting domains / IPs / apps named by cases of >= ``min_rings``
                    rings (cases outside any ring count one each)
ring_member         member of a ring holding a case or an entity labelled by a rule above, with
                    at least ``ring_min_internal`` of its link weight inside the ring
corrupt_outlet      an outlet at which >= ``outlet_min_bad`` of the SIMs / cards it registered are
                    chain-linked, and they are >= ``outlet_min_ratio`` of all it registered
==================  =========================================================================

:func:`roles` returns one row per (entity, role, rule): ``entity, kind, role, rule,
evidence`` (sorted tuple of edge ids) and ``related`` (sorted tuple of entity ids),
sorted by role order, then entity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["roles", "ROLES", "ROLE_COLUMNS"]

ROLES = ("card_farmer", "card_dealer", "corrupt_outlet", "technical_provider", "first_level", "second_level",
         "third_level", "settlement", "exit", "cash_out", "ring_member")
ROLE_COLUMNS = ["entity", "kind", "role", "rule", "evidence", "related"]


def _t(ids) -> tuple:
    return tuple(sorted(set(ids)))


def _victim_pivots(schema):
    victims = {k for k, nk in schema.nodes.items() if nk.segment == "victim"}
    return victims, [k for k, ek in schema.edges.items() if ek.pivot and set(ek.source) & victims]


def _money_roles(view, paid_kind, window, hops, min_chain_share, settlement_min_sources, exit_kinds, cash_kind):
    """first/second/third level, settlement, exit, cash_out from the fund flow of every case."""
    rows, chain = [], set()
    paid = view.all_edges([paid_kind])
    if not len(paid):
        return rows, chain
    paid = paid.assign(source=paid["source"].astype("str"), target=paid["target"].astype("str"))
    for acc, g in paid.groupby("target", sort=True):
        rows.append((acc, "first_level", "paid by a case", _t(g["id"]), _t(g["source"])))
        chain.add(acc)
    from .flow import flow  # lazily: written alongside

    res = flow(view, sorted(set(paid["source"])), window=window, hops=hops, exit_kinds=tuple(exit_kinds))
    acc, fe = res.accounts, res.edges
    if not len(acc) or not len(fe):
        return rows, chain
    fe = fe[pd.to_numeric(fe["attributed"], errors="coerce").fillna(0) > 0]
    fe = fe.assign(source=fe["source"].astype("str"), target=fe["target"].astype("str"))
    acc = acc.assign(id=acc["id"].astype("str")).sort_values(["level", "id"])
    money = list(view.schema.money_edges)
    accounts = {k for m in money for k in view.schema.edges[m].source}  # kinds that pass money on
    cand = [a for a in acc["id"] if a not in chain]
    inflow = view.edges(cand, "in", money) if cand else view.all_edges([])
    total_in = pd.to_numeric(inflow["amount"], errors="coerce").groupby(inflow["target"].astype("str")).sum()
    got = pd.to_numeric(fe["attributed"], errors="coerce").groupby(fe["target"]).sum()
    levels = {}
    into_rows = fe.groupby("target", sort=False).indices
    fe_source = fe["source"].to_numpy(object)
    for r in acc.itertuples():
        if r.id in chain:
            levels[r.id] = 1
            continue
        into = into_rows.get(r.id, np.zeros(0, np.int64))
        from_chain = fe.iloc[into[[s in chain for s in fe_source[into]]]]
        if not len(from_chain):
            continue
        share = float(got.get(r.id, 0.0)) / float(total_in.get(r.id, 0.0) or np.inf)
        kind = r.id.partition(":")[0]
        if kind in exit_kinds:
            rows.append((r.id, "exit", f"case money reached this {kind}", _t(from_chain["id"]),
                         _t(from_chain["source"])))
            continue
        if share < min_chain_share or kind not in accounts:
            continue
        lvl = int(r.level)
        levels[r.id] = lvl
        chain.add(r.id)
        role = "second_level" if lvl == 2 else "third_level"
        rows.append((r.id, role, f"case money traced to level {lvl} ({share:.0%} of its inflow)",
                     _t(from_chain["id"]), _t(from_chain["source"])))
        if lvl >= 2 and from_chain["source"].nunique() >= settlement_min_sources:
            rows.append((r.id, "settlement", f"gathers case money from {from_chain['source'].nunique()} chain accounts",
                         _t(from_chain["id"]), _t(from_chain["source"])))
    co = fe[(fe["kind"] == cash_kind) & fe["source"].isin(chain)]
    for a, g in co.groupby("source", sort=True):
        rows.append((a, "cash_out", "withdrew case money", _t(g["id"]), _t(g["target"])))
    return rows, chain


def roles(view, window="72h", hops: int = 6, min_chain_share: float = 0.5, settlement_min_sources: int = 3,
          exit_kinds=("wallet",), dealer_min_buyers: int = 2, min_rings: int = 2, farmer_window="7D",
          farmer_min_cards: int = 3, outlet_min_bad: int = 3, outlet_min_ratio: float = 0.3,
          ring_min_internal: float = 0.5, rings_result=None, ring_args: dict | None = None,
          paid_kind: str = "paid_to", supply_kind: str = "supplied", cash_kind: str = "cash_out",
          outlet_link: str = "registered_at", hosting_kind: str = "hosted_by",
          resolve_kind: str = "resolves_to") -> pd.DataFrame:
    """Label entities with chain roles (see the module docstring for the rules)."""
    from .links import _kind_of, card_bursts
    from .rings import dealers_across_rings, rings

    schema = view.schema
    victims, case_kinds = _victim_pivots(schema)
    rows, chain = _money_roles(view, paid_kind, window, hops, min_chain_share, settlement_min_sources,
                               exit_kinds, cash_kind)
    r = rings_result if rings_result is not None else rings(view, **(ring_args or {}))
    ring_of = dict(zip(r.members["entity"], r.members["ring"]))
    case_rings = r.rings[r.rings["n_cases"] > 0]

    # supply: dealers
    sup = view.all_edges([supply_kind])
    sup = pd.DataFrame({"s": sup["source"].astype("str"), "t": sup["target"].astype("str"),
                        "id": sup["id"].astype("int64")})
    parties = set(schema.edges[supply_kind].source)
    sup["t_kind"] = _kind_of(sup["t"])
    buyers = sup[sup["t_kind"].isin(parties)]
    for s, g in buyers.groupby("s", sort=True):
        if g["t"].nunique() >= dealer_min_buyers:
            rows.append((s, "card_dealer", f"supplied {g['t'].nunique()} buyers", _t(g["id"]), _t(g["t"])))
    for d in dealers_across_rings(view, r, min_rings=min_rings, supply_kind=supply_kind).itertuples():
        rows.append((d.entity, "card_dealer", f"supplied items in {d.n_rings} rings", d.edge_ids, d.items))
    sold = set(sup.loc[~sup["t_kind"].isin(parties), "t"])

    # farmers: a burst of cards, at least one sold or used in the chain
    cases_named = view.all_edges(case_kinds)
    named = set(cases_named["target"].astype("str"))
    used = sold | chain | named
    bursts = card_bursts(view, window=farmer_window, min_cards=farmer_min_cards, by=("holder",))
    farmer_cards = set()
    for b in bursts.itertuples():
        bad = [c for c in b.members if c in used]
        if bad:
            ev = list(b.edge_ids) + list(sup.loc[sup["t"].isin(bad), "id"])
            rows.append((b.identifier, "card_farmer",
                         f"{b.count} cards opened within {farmer_window}, {len(bad)} sold or used",
                         _t(ev), _t(b.members)))
            farmer_cards |= set(b.members)
    farmers = {x[0] for x in rows if x[1] == "card_farmer"}
    if farmers:
        held = view.edges(sorted(farmers), "out", ["holds"])
        farmer_cards |= set(held["target"].astype("str"))

    # corrupt outlets: ratio of chain-linked registrations to volume
    case_ring_ids = set(case_rings["ring"])
    ring_members = {e for e, k in ring_of.items() if k in case_ring_ids}
    bad_items = used | farmer_cards | ring_members
    reg = view.all_edges([outlet_link])
    reg = pd.DataFrame({"item": reg["source"].astype("str"), "outlet": reg["target"].astype("str"),
                        "id": reg["id"].astype("int64")})
    reg["bad"] = [x in bad_items for x in reg["item"]]
    for o, g in reg.groupby("outlet", sort=True):
        total = g["item"].nunique()
        bad = g[g["bad"]]
        nb = bad["item"].nunique()
        if nb >= outlet_min_bad and nb / total >= outlet_min_ratio:
            rows.append((o, "corrupt_outlet", f"{nb} of {total} registrations chain-linked ({nb / total:.0%})",
                         _t(bad["id"]), _t(bad["item"])))

    # technical providers: hosting infrastructure named by cases of several rings
    cn = pd.DataFrame({"case": cases_named["source"].astype("str"), "thing": cases_named["target"].astype("str"),
                       "id": cases_named["id"].astype("int64")})
    cn["ring"] = [f"ring {ring_of[c]}" if c in ring_of else c for c in cn["case"]]
    reach = cn[["thing", "ring", "id"]].assign(ev=cn["id"].map(lambda x: (int(x),)))[["thing", "ring", "ev"]]
    res = view.all_edges([resolve_kind])
    res = pd.DataFrame({"a": res["source"].astype("str"), "b": res["target"].astype("str"), "id": res["id"].astype("int64")})
    for _ in range(2):  # domain -> ip, domain -> domain -> ip
        step = reach.merge(res, left_on="thing", right_on="a")
        step = pd.DataFrame({"thing": step["b"], "ring": step["ring"],
                             "ev": [e + (int(i),) for e, i in zip(step["ev"], step["id"])]})
        reach = pd.concat([reach, step], ignore_index=True).drop_duplicates(["thing", "ring"])
    host = view.all_edges([hosting_kind])
    host = pd.DataFrame({"thing": host["source"].astype("str"), "org": host["target"].astype("str"),
                         "id": host["id"].astype("int64")})
    hj = reach.merge(host, on="thing")
    for o, g in hj.groupby("org", sort=True):
        if g["ring"].nunique() >= min_rings:
            ev = [i for e in g["ev"] for i in e] + list(g["id"])
            rows.append((o, "technical_provider", f"hosts infrastructure of {g['ring'].nunique()} rings",
                         _t(ev), _t(g["thing"])))

    # ring members: rings with chain evidence (a case, a labelled account, dealer or farmer)
    anchors = {x[0] for x in rows if x[1] not in ("corrupt_outlet", "technical_provider", "exit")}
    chain_rings = set(case_rings["ring"]) | {ring_of[a] for a in anchors if a in ring_of}
    m = r.members[r.members["ring"].isin(chain_rings) & (r.members["internal_share"] >= ring_min_internal)
                  & ~r.members["kind"].isin(victims)]
    if len(m):
        e = view.edges(list(m["entity"]), "both")
        e = pd.DataFrame({"s": e["source"].astype("str"), "t": e["target"].astype("str"), "id": e["id"].astype("int64")})
        e["rs"], e["rt"] = e["s"].map(ring_of), e["t"].map(ring_of)
        e = e[e["rs"] == e["rt"]]
        why = {}
        for a in sorted(anchors | set(x for c in case_rings["cases"] for x in c)):
            if a in ring_of and ring_of[a] in chain_rings:
                why.setdefault(ring_of[a], []).append(a)
        for x in m.itertuples():
            ev = e[(e["s"] == x.entity) | (e["t"] == x.entity)]["id"]
            rel = tuple(a for a in why[x.ring] if a != x.entity)
            rows.append((x.entity, "ring_member", f"ring {x.ring} holds {len(why[x.ring])} case(s) or labelled entities",
                         _t(ev), rel))

    out = pd.DataFrame(rows, columns=["entity", "role", "rule", "evidence", "related"])
    out["kind"] = _kind_of(out["entity"])
    order = {k: i for i, k in enumerate(ROLES)}
    out["_o"] = out["role"].map(order)
    out = out.sort_values(["_o", "entity", "rule"], kind="stable").drop(columns="_o")
    return out[ROLE_COLUMNS].reset_index(drop=True)
