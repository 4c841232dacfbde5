"""Fund tracing on small hand-built graphs, with exact expected answers."""

import pandas as pd
import pytest

from chaingraph.exc import ChaingraphError
from chaingraph.flow import flow
from chaingraph.view import MemoryView

T = pd.Timestamp("2024-03-01 10:00", tz="UTC")


def m(minutes):
    return T + pd.Timedelta(minutes=minutes)


def view(edges):
    """edges: (kind, source, target, time, amount, seen_by); nodes derived from the ids."""
    e = pd.DataFrame(edges, columns=["kind", "source", "target", "time", "amount", "seen_by"])
    e.insert(0, "id", range(1, len(e) + 1))
    ids = sorted(set(e["source"]) | set(e["target"]))
    n = pd.DataFrame({"id": ids, "kind": [i.split(":")[0] for i in ids], "key": [i.split(":")[1] for i in ids]})
    n["loss"] = [5000.0 if i == "case:C2" else None for i in ids]
    return MemoryView(n, e)


def acc(r):
    return {row.key: (row.level, row.received, row.passed, row.status)
            for row in r.accounts.itertuples()}


def flows(r):
    return {(s.split(":")[1], t.split(":")[1]): a for s, t, a in r.edges[["source", "target", "attributed"]].values}


SPLIT = [
    ("paid_to", "case:C1", "bank_account:A", T, 1000.0, ""),
    ("transfer", "bank_account:A", "bank_account:D", m(-60), 500.0, "source"),   # before the money came
    ("transfer", "bank_account:A", "bank_account:B", m(10), 600.0, "source"),
    ("transfer", "bank_account:A", "bank_account:C", m(20), 400.0, "source"),
    ("cash_out", "bank_account:B", "cash_point:ATM1", m(60), 600.0, "source"),
]


def test_split_time_order_frontier_and_cash_out():
    r = flow(view(SPLIT), "case:C1")
    assert acc(r) == {
        "A": (1, 1000.0, 1000.0, "through"),
        "B": (2, 600.0, 600.0, "through"),
        "C": (2, 400.0, 0.0, "frontier"),
        "ATM1": (3, 600.0, 0.0, "end"),
    }
    assert "D" not in set(r.accounts["key"])            # time order excludes the earlier transfer
    assert flows(r) == {("A", "B"): 600.0, ("A", "C"): 400.0, ("B", "ATM1"): 600.0}
    assert list(r.frontier["key"]) == ["C"] and r.frontier["remainder"].tolist() == [400.0]
    assert list(r.end_points["key"]) == ["ATM1"]
    assert r.untraced["frontier"] == 400.0 and r.untraced["total"] == 400.0
    j = r.to_json()
    assert [f["key"] for f in j["frontier"]] == ["C"] and j["frontier"][0]["amount"] == 400.0
    assert {t["id"] for t in j["transfers"]} == {3, 4, 5}
    g = r.subgraph()
    assert g.nodes["bank_account:C"]["level"] == 2
    assert g.edges["bank_account:A", "bank_account:B", 3]["attributed"] == 600.0
    assert g.edges["bank_account:A", "bank_account:B", 3]["kind"] == "transfer"


def test_dwell_window_excludes_late_transfer():
    e = [("paid_to", "case:C1", "bank_account:A", T, 1000.0, ""),
         ("transfer", "bank_account:A", "bank_account:B", T + pd.Timedelta("73h"), 1000.0, "source")]
    r = flow(view(e), "case:C1", window="72h")
    assert acc(r) == {"A": (1, 1000.0, 0.0, "end")}
    assert r.accounts["reason"].tolist() == ["no further transfer in window"]
    r = flow(view(e), "case:C1", window="74h")
    assert acc(r)["B"] == (2, 1000.0, 0.0, "frontier")


def test_merge_and_case_loss_when_paid_amount_unknown():
    e = [("paid_to", "case:C2", "bank_account:A1", T, None, ""),
         ("paid_to", "case:C2", "bank_account:A2", T, 2000.0, ""),
         ("transfer", "bank_account:A1", "bank_account:M", m(5), 3000.0, "both"),
         ("transfer", "bank_account:A2", "bank_account:M", m(6), 2000.0, "both"),
         ("cash_out", "bank_account:M", "cash_point:X", m(30), 5000.0, "source")]
    r = flow(view(e), "case:C2")
    assert acc(r) == {
        "A1": (1, 3000.0, 3000.0, "through"),        # loss 5000 minus the 2000 known
        "A2": (1, 2000.0, 2000.0, "through"),
        "M": (2, 5000.0, 5000.0, "through"),
        "X": (3, 5000.0, 0.0, "end"),
    }


def test_cycle_is_followed_in_time_order():
    e = [("paid_to", "case:C1", "bank_account:A", T, 1000.0, ""),
         ("transfer", "bank_account:A", "bank_account:B", m(1), 1000.0, "both"),
         ("transfer", "bank_account:B", "bank_account:A", m(2), 1000.0, "both"),
         ("transfer", "bank_account:A", "bank_account:C", m(3), 1000.0, "source")]
    r = flow(view(e), "case:C1")
    assert flows(r) == {("A", "B"): 1000.0, ("B", "A"): 1000.0, ("A", "C"): 1000.0}
    assert acc(r) == {
        "A": (1, 2000.0, 2000.0, "through"),         # the same money, twice round
        "B": (2, 1000.0, 1000.0, "through"),
        "C": (4, 1000.0, 0.0, "frontier"),
    }
    assert r.edges.set_index("id")["hop"].to_dict() == {2: 1, 3: 2, 4: 3}


MIXED = [("paid_to", "case:C1", "bank_account:A", T, 1000.0, ""),
         ("transfer", "bank_account:Z", "bank_account:A", m(1), 1000.0, "both"),
         ("transfer", "bank_account:A", "bank_account:B", m(10), 1500.0, "source"),
         ("transfer", "bank_account:A", "bank_account:C", m(20), 500.0, "source")]


def test_fifo_and_proportional_amounts():
    r = flow(view(MIXED), "case:C1", method="fifo")
    assert flows(r) == {("A", "B"): 1000.0}
    r = flow(view(MIXED), "case:C1", method="proportional")
    assert flows(r) == {("A", "B"): 750.0, ("A", "C"): 250.0}
    assert acc(r)["A"] == (1, 1000.0, 1000.0, "through")


def test_min_amount_and_hops():
    r = flow(view(MIXED), "case:C1", method="proportional", min_amount=300)
    assert flows(r) == {("A", "B"): 750.0}
    assert r.untraced["stayed"] == 250.0
    r = flow(view(SPLIT), "case:C1", hops=1)
    assert acc(r)["B"] == (2, 600.0, 0.0, "hop_limit")


def test_from_account_and_backward():
    e = [("transfer", "bank_account:A1", "bank_account:M", m(5), 600.0, "both"),
         ("transfer", "bank_account:A2", "bank_account:M", m(6), 400.0, "target"),
         ("transfer", "bank_account:M", "bank_account:N", m(30), 1000.0, "source"),
         ("transfer", "bank_account:Q", "bank_account:A1", m(-600), 600.0, "target")]
    r = flow(view(e), "bank_account:M")
    assert flows(r) == {("M", "N"): 1000.0}
    r = flow(view(e), "bank_account:M", direction="backward")
    assert flows(r) == {("A1", "M"): 600.0, ("A2", "M"): 400.0, ("Q", "A1"): 600.0}   # 10 h earlier
    r = flow(view(e), "bank_account:M", direction="backward", window="1h")
    assert flows(r) == {("A1", "M"): 600.0, ("A2", "M"): 400.0}
    assert acc(r)["A1"][3] == "end" and acc(r)["A2"][3] == "frontier"
    with pytest.raises(ChaingraphError):
        flow(view(SPLIT), "case:C1", direction="backward")


def test_bad_arguments():
    with pytest.raises(ChaingraphError):
        flow(view(SPLIT), "case:C1", method="lifo")
    with pytest.raises(ChaingraphError):
        flow(view(SPLIT), "case:C1", window="soon")


def late_report_view(extra_nodes=(), extra_edges=()):
    """The victim paid A at T; the case was reported 5 hours later (its time is the report's)."""
    e = [("paid_to", "case:C1", "bank_account:A", m(300), 1000.0, ""),
         ("transfer", "bank_account:Z", "bank_account:A", m(-3000), 1000.0, "target"),  # older, same amount
         ("transfer", "bank_account:A", "bank_account:Y", m(-2000), 1000.0, "both"),    # spends Z's money
         ("transfer", "bank_account:V", "bank_account:A", m(0), 600.0, "target"),
         ("transfer", "bank_account:V", "bank_account:A", m(20), 400.0, "target"),
         ("transfer", "bank_account:A", "bank_account:B", m(10), 600.0, "both"),
         ("transfer", "bank_account:A", "bank_account:C", m(30), 400.0, "both"),
         ("transfer", "bank_account:B", "bank_account:D", m(40), 600.0, "source"),
         ("transfer", "bank_account:A", "bank_account:E", m(400), 1000.0, "both")]    # after the report
    e += list(extra_edges)
    ed = pd.DataFrame(e, columns=["kind", "source", "target", "time", "amount", "seen_by"])
    ed.insert(0, "id", [-(i + 1) * 7919 for i in range(len(ed))])    # edge ids are signed hashes
    ids = sorted(set(ed["source"]) | set(ed["target"]))
    n = pd.DataFrame({"id": ids, "kind": [i.split(":")[0] for i in ids], "key": [i.split(":")[1] for i in ids]})
    n["holder_name"] = None
    n["victim_name"] = None
    for nid, col, val in extra_nodes:
        n.loc[n["id"] == nid, col] = val
    return MemoryView(n, ed)


def test_case_reported_after_payment_starts_at_the_victims_payments():
    # the victim named on the case holds V (the name on V's statement rows)
    v = late_report_view([("case:C1", "victim_name", "张三"), ("bank_account:V", "holder_name", "张三")])
    r = flow(v, "case:C1")
    assert flows(r) == {("A", "B"): 600.0, ("A", "C"): 400.0, ("B", "D"): 600.0}
    assert acc(r)["A"] == (1, 1000.0, 1000.0, "through")
    assert "E" not in set(r.accounts["key"])
    # the same through the person who reported the case and holds V
    v = late_report_view(extra_edges=[("reported", "person:P", "case:C1", m(300), None, ""),
                                      ("holds", "person:P", "bank_account:V", pd.NaT, None, "")])
    assert flows(flow(v, "case:C1")) == {("A", "B"): 600.0, ("A", "C"): 400.0, ("B", "D"): 600.0}
    # nothing says who the victim is: the latest transfer of the amount paid before the report (Z's)
    r = flow(late_report_view(), "case:C1", window="2h")
    assert flows(r) == {}                                       # Z's money is 50 h older than A's outflows
    assert acc(r)["A"] == (1, 1000.0, 0.0, "end")
    r = flow(late_report_view(), "case:C1", lookback="1h")   # Z's transfer is outside the look-back
    assert flows(r) == {("A", "E"): 1000.0}                      # from the report's own time


def test_cases_started_together_start_as_each_alone():
    # the lead list finds every case's starting money in one call: two cases paid A, so A's
    # incoming transfers are asked for twice (overlapping look-backs); each is still taken once
    from chaingraph.flow import _start_chunks

    v = late_report_view([("case:C1", "victim_name", "张三"), ("bank_account:V", "holder_name", "张三"),
                          ("case:C2", "victim_name", "李四"), ("bank_account:W", "holder_name", "李四")],
                         [("paid_to", "case:C2", "bank_account:A", m(310), 500.0, ""),
                          ("transfer", "bank_account:W", "bank_account:A", m(5), 500.0, "target")])
    w = 72 * 3600 * 10**9
    alone = {c: _start_chunks(v, [c], "forward", w, None, None, "7D")[0] for c in ("case:C1", "case:C2")}
    together, _ = _start_chunks(v, ["case:C1", "case:C2"], "forward", w, None, None, "7D")
    assert sorted(together) == sorted(alone["case:C1"] + alone["case:C2"])
    # the victims' own payments, each once: V's 600 and 400 for C1, W's 500 for C2
    assert sorted((c[5], c[3], c[1]) for c in together) == [
        ("case:C1", 400.0, m(20).value), ("case:C1", 600.0, m(0).value), ("case:C2", 500.0, m(5).value)]


def test_reach_follows_every_transfer_in_the_window_on_both_paths():
    from chaingraph.flow import reach

    e = [("transfer", "bank_account:A", "bank_account:B", m(0), 100.0, "both"),
         ("transfer", "bank_account:B", "bank_account:C", m(-10), 100.0, "both"),     # before the money came
         ("transfer", "bank_account:B", "bank_account:D", m(5), 5000.0, "both"),      # more than arrived: reach ignores amounts
         ("transfer", "bank_account:D", "bank_account:E", m(5 + 60 * 80), 1.0, "both"),  # 80 h later: outside 72 h
         ("transfer", "bank_account:D", "bank_account:B", m(6), 1.0, "both"),         # a cycle
         ("transfer", "bank_account:B", "bank_account:F", m(7), 1.0, "both")]
    v = view(e)
    r = reach(v, "bank_account:A", window="72h")
    assert r[["id", "hop"]].values.tolist() == [["bank_account:A", 0], ["bank_account:B", 1],
                                                ["bank_account:D", 2], ["bank_account:F", 2]]
    assert r.set_index("id")["first"]["bank_account:D"] == m(5)

    class Plain:   # a view with only the DataFrame methods: the same answer
        schema = v.schema
        resolve = v.resolve
        money_edges = v.money_edges

    assert reach(Plain(), "bank_account:A").values.tolist() == r.values.tolist()
    assert reach(v, "bank_account:A", window="81h")["id"].tolist()[-1] == "bank_account:E"


def test_fifo_replays_the_account_older_money_goes_first():
    # other money (Z's 1200) arrived an hour before the victim's 1000: FIFO spends it first
    base = [("paid_to", "case:C1", "bank_account:A", m(0), 1000.0, ""),
            ("transfer", "bank_account:A", "bank_account:B", m(10), 1200.0, "source"),
            ("transfer", "bank_account:A", "bank_account:C", m(20), 1000.0, "source")]
    older = [("transfer", "bank_account:Z", "bank_account:A", m(-60), 1200.0, "both")]
    r = flow(view(base + older), "case:C1")
    assert flows(r) == {("A", "C"): 1000.0}
    assert acc(r)["A"] == (1, 1000.0, 1000.0, "through")
    # ... unless an earlier outflow already spent it
    spent = older + [("transfer", "bank_account:A", "bank_account:X", m(-30), 1200.0, "source")]
    assert flows(flow(view(base + spent), "case:C1")) == {("A", "B"): 1000.0}
    # ... or it is older than the window (it left the queue)
    stale = [("transfer", "bank_account:Z", "bank_account:A", m(-60 * 73), 1200.0, "both")]
    assert flows(flow(view(base + stale), "case:C1")) == {("A", "B"): 1000.0}
    # partly spent: 400 of Z's money is left ahead of the case's money
    part = older + [("transfer", "bank_account:A", "bank_account:X", m(-30), 800.0, "source")]
    assert flows(flow(view(base + part), "case:C1")) == {("A", "B"): 800.0, ("A", "C"): 200.0}


def test_fifo_replay_at_later_hops_and_the_cap():
    # B held 500 of other money when the case's 1000 arrived; B passes on at most what it received
    e = [("paid_to", "case:C1", "bank_account:A", m(0), 1000.0, ""),
         ("transfer", "bank_account:Q", "bank_account:B", m(-5), 500.0, "both"),
         ("transfer", "bank_account:A", "bank_account:B", m(10), 1000.0, "both"),
         ("transfer", "bank_account:B", "bank_account:C", m(20), 800.0, "source"),
         ("transfer", "bank_account:B", "bank_account:D", m(30), 2000.0, "source")]
    r = flow(view(e), "case:C1")
    assert flows(r) == {("A", "B"): 1000.0, ("B", "C"): 300.0, ("B", "D"): 700.0}
    assert acc(r)["B"] == (2, 1000.0, 1000.0, "through")


def test_fifo_backward_replays_in_reversed_time():
    # M's later outflow (to R) is funded first by the latest inflow before it (from A2)
    e = [("transfer", "bank_account:A1", "bank_account:M", m(0), 600.0, "both"),
         ("transfer", "bank_account:A2", "bank_account:M", m(5), 400.0, "both"),
         ("transfer", "bank_account:M", "bank_account:N", m(10), 600.0, "both"),
         ("transfer", "bank_account:M", "bank_account:R", m(20), 400.0, "both")]
    r = flow(view(e), "bank_account:N", direction="backward")
    assert flows(r) == {("M", "N"): 600.0, ("A1", "M"): 600.0}
    r = flow(view(e), "bank_account:R", direction="backward")
    assert flows(r) == {("M", "R"): 400.0, ("A2", "M"): 400.0}


def test_flow_subgraph_links_a_case_to_the_accounts_it_paid():
    from chaingraph.view import MemoryView

    nodes = pd.DataFrame({"id": ["case:C1", "bank_account:A", "bank_account:B"],
                          "kind": ["case", "bank_account", "bank_account"], "key": ["C1", "A", "B"],
                          "label": ["C1", "A", "B"]})
    t0 = pd.Timestamp("2024-01-01 00:00", tz="UTC")
    edges = pd.DataFrame({"id": [1, 2], "kind": ["paid_to", "transfer"],
                          "source": ["case:C1", "bank_account:A"], "target": ["bank_account:A", "bank_account:B"],
                          "time": [t0, t0 + pd.Timedelta("10min")], "amount": [100.0, 100.0],
                          "seen_by": ["", "source"]})
    g = flow(MemoryView(nodes, edges), "case:C1").subgraph()
    assert g.has_edge("case:C1", "bank_account:A") and g.has_edge("bank_account:A", "bank_account:B")


# ---------------------------------------------------------------------------
# properties on random small graphs (hypothesis, derandomized)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from chaingraph.flow import reach  # noqa: E402


@st.composite
def money_graphs(draw):
    """1-25 transfers among six accounts (and cash-outs), the first from A, at minutes from 10 h before the
    start to 4 days after, of a few amounts, seen from one side or both; a method, window, hops."""
    rows = []
    for i in range(draw(st.integers(1, 25))):
        s = "A" if i == 0 else draw(st.sampled_from("ABCDEF"))   # (the start account exists)
        t = draw(st.sampled_from([a for a in "ABCDEF" if a != s] + ["ATM"]))
        rows.append(("cash_out" if t == "ATM" else "transfer", f"bank_account:{s}",
                     "cash_point:ATM" if t == "ATM" else f"bank_account:{t}", m(draw(st.integers(-600, 6000))),
                     float(draw(st.sampled_from([100, 250, 500, 999.99, 3000]))),
                     draw(st.sampled_from(["source", "target", "both"])) if t != "ATM" else "source"))
    return rows, draw(st.sampled_from(["fifo", "proportional"])), draw(st.sampled_from(["30min", "6h", "72h"])), draw(st.integers(1, 6))


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(money_graphs())
def test_flow_conserves_money_follows_time_and_stays_within_reach(g):
    rows, method, window, hops = g
    v = view(rows)
    since, until = T, T + pd.Timedelta("72h")
    r = flow(v, "bank_account:A", window=window, hops=hops, method=method, since=since, until=until)
    a = r.accounts.set_index("id")
    start = a.loc["bank_account:A"]   # from an account, every transfer out in since..until, in full
    a = a.drop(index="bank_account:A")
    eps = 1e-6
    out = r.edges.groupby("source")["attributed"].sum()
    inn = r.edges.groupby("target")["attributed"].sum()
    assert (r.edges["attributed"] <= r.edges["amount"] + eps).all()
    assert abs(out.get("bank_account:A", 0.0) - start["passed"]) <= eps
    for acc, row in a.iterrows():
        # received is what the edges into it carried; passed, what the edges out carried, no more
        assert row["received"] == pytest.approx(inn.get(acc, 0.0), abs=eps)
        assert row["passed"] == pytest.approx(out.get(acc, 0.0), abs=eps)
        assert row["passed"] <= row["received"] + eps
    # all the money the start sent rests somewhere: at the accounts reached, or back at the start
    assert (a["received"] - a["passed"]).sum() + inn.get("bank_account:A", 0.0) == pytest.approx(start["passed"], abs=1e-3)
    # money leaves an account only after some of it arrived, within the window of an arrival
    w = pd.Timedelta(window)
    arrivals = r.edges.groupby("target")["time"].apply(list)
    for e in r.edges[r.edges["source"] != "bank_account:A"].itertuples():
        assert any(t <= e.time <= t + w for t in arrivals[e.source]), e
    # every account the money reached is in the (unattributed) reach, no later than its level
    rr = reach(v, "bank_account:A", window=window, hops=hops, since=since, until=until).set_index("id")["hop"]
    for acc, row in a.iterrows():
        assert acc in rr.index and rr[acc] <= row["level"], (acc, row["level"])
