"""Score what chaingraph finds on a synthetic world against its ground truth.

``chaingraph evaluate WORLD --store STORE`` (or :func:`evaluate`) compares a
store loaded from ``WORLD/data`` with ``WORLD/truth.json`` (see
:mod:`chaingraph.world`) and prints one table:

- rows: rows read and rejected per the truth (exactly the expected rejects?);
- downstream: per-case recall and precision of the accounts fund tracing reaches,
  against the accounts the case's money really reached *and that the loaded
  statements can show* (a hop behind an account without a statement is not
  visible to anyone);
- upstream: share of cases whose supplying dealer, and whose technical provider,
  an upstream trace finds;
- leads: precision at 20 / 50 / 100 against the truth's suspicious entities, and
  the number of traps in the top 100;
- roles: traps labelled with a criminal role;
- rings: adjusted Rand index of ring recovery over the truth's ring entities.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

# roles in the truth that are not suspicious (victims and their cases)
INNOCENT_ROLES = {"victim", "victim_account", "case"}


def _truth(world) -> dict:
    p = Path(world) / "truth.json"
    if not p.is_file():
        from .exc import ChaingraphError

        raise ChaingraphError(f"{world}: no truth.json here (generate a world with 'chaingraph world --out DIR')")
    return json.loads(p.read_text(encoding="utf-8"))


def adjusted_rand_index(a, b) -> float:
    """Adjusted Rand index of two labelings of the same items.

    >>> adjusted_rand_index([0, 0, 1, 1], [5, 5, 7, 7])
    1.0
    >>> round(adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]), 2)
    -0.5
    """
    n = len(a)
    if n < 2:
        return 1.0
    c2 = lambda x: x * (x - 1) / 2  # noqa: E731
    pairs = Counter(zip(a, b))
    sum_ij = sum(c2(v) for v in pairs.values())
    sum_a = sum(c2(v) for v in Counter(a).values())
    sum_b = sum(c2(v) for v in Counter(b).values())
    expected = sum_a * sum_b / c2(n)
    top = (sum_a + sum_b) / 2
    return 1.0 if top == expected else (sum_ij - expected) / (top - expected)


def _visible_reach(truth, transfers: pd.DataFrame, case_id: str) -> set:
    """Accounts a case's money reached through transfers some loaded statement shows."""
    c = truth["cases"][case_id]
    t = transfers[(transfers["case"] == case_id) & transfers["visible"]]
    succ = {}
    for s, d in t[["source", "target"]].itertuples(index=False):
        succ.setdefault(s, set()).add(d)
    reached = set()
    frontier = [c["paid_to"]] if isinstance(c["paid_to"], str) else list(c["paid_to"])
    while frontier:
        n = frontier.pop()
        if n in reached:
            continue
        reached.add(n)
        frontier.extend(succ.get(n, ()))
    truth_nodes = {r["node"] for r in c["reached"]}
    return reached & truth_nodes


def evaluate(world, store, *, window="72h", hops=6, progress=None) -> pd.DataFrame:
    """Compute the evaluation table (metric, value, target, note)."""
    from .store import Store
    from .view import MemoryView

    truth = _truth(world)
    st = store if isinstance(store, Store) else Store.open(store)
    view = MemoryView(st)
    rows = []

    def add(metric, value, target="", note=""):
        rows.append({"metric": metric, "value": value, "target": target, "note": note})

    # rows ---------------------------------------------------------------------------
    files = st.files
    read = int(files["read"].sum()) if len(files) else 0
    expected_rows = sum(f["rows"] for f in truth["files"])
    rej = st.rejects[st.rejects["action"] == "row rejected"]
    got = {(Path(f).name, int(r)) for f, r in rej[["file", "row"]].itertuples(index=False)}
    want = {(Path(r["file"]).name, int(r["row"])) for r in truth["rejects"]}
    add("rows read / written", f"{read} / {expected_rows}", "equal")
    add("rows rejected / expected", f"{len(got)} / {len(want)}", "equal",
        "exactly the expected rows" if got == want else f"unexpected {len(got - want)}, missed {len(want - got)}")

    # downstream ----------------------------------------------------------------------
    tpath = Path(world) / truth["transfers"]["file"]
    transfers = pd.read_parquet(tpath) if tpath.is_file() else None
    cases = sorted(truth["cases"])
    if progress:
        progress(f"tracing the money of {len(cases)} cases")
    try:
        from .flow import flow
    except ImportError:
        flow = None
    if flow is not None and transfers is not None:
        recalls, precisions = [], []
        for cid in cases:
            want_nodes = _visible_reach(truth, transfers, cid)
            try:
                res = flow(view, cid, window=window, hops=hops)
            except Exception as e:  # noqa: BLE001 — a case the store lacks scores zero
                res, note = None, str(e)
            found = set(res.accounts["id"]) if res is not None else set()
            found -= {cid}
            hit = found & want_nodes
            recalls.append(len(hit) / len(want_nodes) if want_nodes else 1.0)
            precisions.append(len(found & {r["node"] for r in truth["cases"][cid]["reached"]}) / len(found) if found else 0.0)
        add("downstream recall (mean per case)", round(sum(recalls) / len(recalls), 3), ">= 0.95")
        add("downstream precision (mean per case)", round(sum(precisions) / len(precisions), 3), ">= 0.90")

    # upstream ------------------------------------------------------------------------
    try:
        from .trace import trace
    except ImportError:
        trace = None
    if trace is not None:
        dealer_hits = provider_hits = n_d = n_p = 0
        for cid in cases:
            c = truth["cases"][cid]
            try:
                res = trace(view, cid, direction="upstream", hops=4, max_pivots=2)
                found = set(res.nodes["id"])
            except Exception:  # noqa: BLE001
                found = set()
            if c.get("dealers"):
                n_d += 1
                dealer_hits += bool(found & set(c["dealers"]))
            if c.get("providers"):
                n_p += 1
                provider_hits += bool(found & set(c["providers"]))
        add("cases whose dealer is found upstream", round(dealer_hits / n_d, 3) if n_d else "n/a", ">= 0.90")
        add("cases whose technical provider is found upstream", round(provider_hits / n_p, 3) if n_p else "n/a")

    suspicious = {n for n, e in truth["entities"].items() if e["role"] not in INNOCENT_ROLES}
    traps = {t["node"] for t in truth["traps"]}

    # leads ---------------------------------------------------------------------------
    if progress:
        progress("ranking leads")
    try:
        from .leads import leads
    except ImportError:
        leads = None
    if leads is not None:
        ll = leads(view, top=100)
        ids = [f"{k}:{v}" for k, v in ll.df[["kind", "key"]].itertuples(index=False)]
        for k in (20, 50, 100):
            top = ids[:k]
            add(f"lead precision at {k}", round(sum(i in suspicious for i in top) / len(top), 3) if top else "n/a",
                ">= 0.90" if k == 50 else "")
        add("traps in the top 100 leads", sum(i in traps for i in ids[:100]), "0")

    # roles ---------------------------------------------------------------------------
    try:
        from . import roles as roles_mod
    except ImportError:
        roles_mod = None
    if roles_mod is not None and hasattr(roles_mod, "roles"):
        if progress:
            progress("inferring roles")
        r = roles_mod.roles(view)
        labelled = set(r["entity"]) if len(r) else set()
        wrong = sorted(labelled & traps)
        add("traps labelled with a criminal role", len(wrong), "0", ", ".join(wrong[:5]))
        add("suspicious entities given a role", f"{len(labelled & suspicious)} / {len(suspicious)}")

    # rings ---------------------------------------------------------------------------
    try:
        from . import rings as rings_mod
    except ImportError:
        rings_mod = None
    if rings_mod is not None and hasattr(rings_mod, "rings"):
        res = rings_mod.rings(view)
        table = res.members if hasattr(res, "members") else res
        col = "ring" if "ring" in table.columns else "cluster"
        idcol = "entity" if "entity" in table.columns else "id"
        found = dict(zip(table[idcol], table[col]))
        ent = [(n, e["ring"]) for n, e in truth["entities"].items() if e.get("ring") and n in found]
        if ent:
            add("ring recovery (adjusted Rand index)", round(adjusted_rand_index([t for _, t in ent], [found[n] for n, _ in ent]), 3),
                note=f"over {len(ent)} ring entities found in clusters")
    return pd.DataFrame(rows)


def format_table(df: pd.DataFrame) -> str:
    """The evaluation table as Markdown."""
    lines = ["| metric | value | target | note |", "|---|---|---|---|"]
    for r in df.itertuples(index=False):
        lines.append(f"| {r.metric} | {r.value} | {r.target} | {r.note} |")
    return "\n".join(lines)


def cmd_evaluate(args) -> int:
    import sys

    table = evaluate(args.world, args.store, progress=lambda m: print(m, file=sys.stderr))
    if args.json:
        print(table.to_json(orient="records", force_ascii=False, indent=2))
    else:
        print(format_table(table))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("evaluate", help="score a store loaded from a synthetic world against its ground truth")
    p.add_argument("world", help="the world folder (with truth.json)")
    p.add_argument("--store", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)


