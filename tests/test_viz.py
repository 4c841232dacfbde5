"""chaingraph.viz: offline HTML, escaping, large-graph handling, static images, the CLI, a real browser."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest

from chaingraph.exc import ChaingraphError
from chaingraph.viz import render

sys.path.insert(0, str(Path(__file__).parent))
import browser  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"


def small_graph():
    g = nx.MultiDiGraph()
    g.add_node("case:A1", kind="case", key="A1", label="A1 刷单诈骗", loss=380000.0)
    g.add_node("bank_account:6222", kind="bank_account", key="6222", label="张三 工商银行 6222",
               holder_name="张三", bank="工商银行")
    g.add_node("bank_account:6217", kind="bank_account", key="6217", label="6217", level=2)
    g.add_node("person:x", kind="person", key="x", label=XSS,
               name="</script><script>alert(2)</script>", address='"><svg onload=alert(3)>')
    g.add_node("phone:13800000000", kind="phone", key="13800000000", label="138 0000 0000")
    g.add_edge("case:A1", "bank_account:6222", key=1, kind="paid_to", amount=50000.0,
               time=pd.Timestamp("2024-03-01 10:00", tz="UTC"))
    g.add_edge("bank_account:6222", "bank_account:6217", key=2, kind="transfer", amount=48000.0,
               memo=XSS)
    g.add_edge("person:x", "bank_account:6222", key=3, kind="holds")
    g.add_edge("bank_account:6222", "phone:13800000000", key=4, kind="bound_to")
    return g


def evidence():
    return pd.DataFrame({"id": ["person:x", "2"], "file": [f"{XSS}.csv", "流水.xlsx"],
                         "sheet": [None, "Sheet1"], "row": [3, 17]})


def star(n_leaves, kind="bank_account"):
    g = nx.MultiDiGraph()
    g.add_node("person:hub", kind="person", key="hub", label="hub")
    for i in range(n_leaves):
        g.add_node(f"{kind}:{i}", kind=kind, key=str(i), label=str(i))
        g.add_edge("person:hub", f"{kind}:{i}", key=i, kind="holds")
    return g


# -- the page ------------------------------------------------------------------
def test_page_is_standalone_and_requests_nothing():
    html = render(small_graph(), title="t").html
    assert html.startswith("<!DOCTYPE html>")
    assert "vis.Network" in html and "Content-Security-Policy" in html
    assert "default-src 'none'" in html and "connect-src 'none'" in html
    # no external resource: no src/href/url() pointing anywhere, no @import, no font service
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", html, re.I)
    assert "@import" not in html and "fonts.googleapis" not in html


def test_suspect_text_is_never_markup():
    g = small_graph()
    fig = render(g, title=XSS, evidence=evidence())
    html = fig.html
    assert XSS not in html  # neither the label, the tooltip, the evidence file nor the title
    assert "<img" not in html.lower() and "<svg onload" not in html.lower()
    assert html.count("</script>") == 3  # vis-network, the data block, our script: nothing closed early
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the title, escaped as text


def test_legend_lists_kinds_present_with_schema_styles():
    html = render(small_graph()).html
    legend = re.search(r'<div id="cg-legend">(.*?)</div>\n', html, re.S).group(1)
    for label in ("Case", "Bank account", "Person", "Phone number", "transfer", "paid to", "holds", "bound to"):
        assert label in legend
    assert "Crypto wallet" not in legend
    assert "#f28e2b" in legend  # bank_account colour from schema.yaml


def test_flow_layout_levels_and_amount_labels():
    fig = render(small_graph(), layout="flow")
    assert '"hierarchical":{"enabled":true,"direction":"LR"' in fig.html
    assert "¥50,000" in fig.html and "¥48,000" in fig.html
    levels = {n.id: n.level for n in fig._plot.nodes.values()}
    assert levels["bank_account:6217"] == 2 and levels["bank_account:6222"] == 1 and levels["case:A1"] == 0


def test_highlight_a_path_fades_the_rest():
    fig = render(small_graph(), highlight=["case:A1", "bank_account:6222", 1])
    nodes = fig._plot.nodes
    assert nodes["case:A1"].highlighted and not nodes["phone:13800000000"].highlighted
    assert fig._plot.fade
    assert [e.keys for e in fig._plot.edges if e.highlighted] == [[1]]


def test_leaf_groups_collapse():
    fig = render(star(37))
    assert fig.n_nodes == 2
    assert "37 bank accounts" in fig.html
    assert "37 nodes drawn as 1" in " ".join(fig.notes)
    assert render(star(37), collapse_leaves=False).n_nodes == 38


def test_cap_keeps_highlighted_and_says_what_was_left_out():
    g = nx.barabasi_albert_graph(300, 2, seed=1)
    mg = nx.MultiDiGraph()
    for n in g:
        mg.add_node(f"phone:{n}", kind="phone", key=str(n), label=str(n))
    for i, (a, b) in enumerate(g.edges):
        mg.add_edge(f"phone:{a}", f"phone:{b}", key=i, kind="called")
    fig = render(mg, max_nodes=50, highlight=["phone:299"], collapse_leaves=False)
    assert fig.n_nodes == 50 and "phone:299" in fig._plot.nodes
    assert "250 nodes not shown" in fig.html
    hub = max(g.degree, key=lambda x: x[1])[0]
    assert f"phone:{hub}" in fig._plot.nodes


def test_top_k_by_score():
    g = star(10, kind="phone")
    for i in range(10):
        g.nodes[f"phone:{i}"]["score"] = float(i)
    fig = render(g, top_k=3, collapse_leaves=False)
    assert set(fig._plot.nodes) == {"phone:9", "phone:8", "phone:7"}
    with pytest.raises(ChaingraphError, match="score"):
        render(star(3), top_k=2)


def test_bad_arguments():
    with pytest.raises(ChaingraphError, match="layout"):
        render(small_graph(), layout="circle")
    with pytest.raises(ChaingraphError, match="max_nodes"):
        render(small_graph(), max_nodes=0)


def test_notebook_display_is_an_escaped_srcdoc_iframe_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = render(small_graph())
    out = fig._repr_html_()
    assert out.startswith("<iframe srcdoc=\"") and 'sandbox="allow-scripts"' in out
    inner = out[len('<iframe srcdoc="'):out.index('" sandbox=')]
    assert "<" not in inner and '"' not in inner
    assert list(tmp_path.iterdir()) == []


def test_static_images(tmp_path):
    fig = render(small_graph(), title="测试", layout="flow")
    png = fig.to_image(tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = render(small_graph()).to_image(tmp_path / "g.svg")
    assert "<svg" in svg.read_text(encoding="utf-8")
    with pytest.raises(ChaingraphError, match="png"):
        fig.to_image(tmp_path / "g.gif")


def test_cli_viz(tmp_path, capsys):
    from chaingraph.cli import main
    from chaingraph.store import Store, empty_tables

    store = Store.open(tmp_path / "store", create=True)
    t = empty_tables(store.schema)
    g = small_graph()
    nodes = [{"id": n, "kind": d["kind"], "key": d["key"], "label": d["label"], "flags": "", "n_obs": 1}
             for n, d in g.nodes(data=True)]
    edges = [{"id": k, "kind": d["kind"], "source": u, "target": v, "n_obs": 1, "seen_by": "source",
              "amount": d.get("amount")} for u, v, k, d in g.edges(keys=True, data=True)]
    t.nodes = pd.concat([t.nodes, pd.DataFrame(nodes)], ignore_index=True)
    t.edges = pd.concat([t.edges, pd.DataFrame(edges)], ignore_index=True).astype({"id": "int64"})
    t.node_obs = pd.DataFrame({c: pd.Series(dtype="object") for c in t.node_obs.columns})
    store.save(t)
    out = tmp_path / "v.html"
    png = tmp_path / "v.png"
    rc = main(["viz", "--store", str(tmp_path / "store"), "--focus", "bank_account:6222", "--hops", "1",
               "--out", str(out), "--png", str(png)])
    assert rc == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out), str(png)]
    html = out.read_text(encoding="utf-8")
    assert "张三 工商银行 6222" in html and png.is_file()
    rc = main(["viz", "--store", str(tmp_path / "store"), "--focus", "bank_account:999", "--out", str(out)])
    assert rc == 2


# -- a real browser --------------------------------------------------------------
ALERT_TRAP = ("window.alert=window.confirm=window.prompt=function(){"
              "document.documentElement.setAttribute('data-alerted','1');};"
              "document.addEventListener('securitypolicyviolation',function(e){"
              "document.documentElement.setAttribute('data-csp-violation',e.blockedURI||e.violatedDirective);});")


@pytest.fixture(scope="module")
def chromium():
    path = browser.find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("headless Chromium is required in CI: run scripts/install-browser")
        pytest.skip("no Chromium found (run scripts/install-browser)")
    return path


@pytest.mark.browser
def test_page_draws_in_offline_chromium_and_runs_no_suspect_code(chromium, tmp_path):
    from PIL import Image

    fig = render(small_graph(), title="离线测试 " + XSS, evidence=evidence())
    page = tmp_path / "page.html"
    page.write_text(browser.inject_script(fig.html, ALERT_TRAP), encoding="utf-8")
    shot = tmp_path / "shot.png"
    run = browser.run_page(chromium, page, screenshot=shot)

    body = re.search(r"<body[^>]*>", run.dom)
    assert body, run.stderr[-2000:]
    # (a) the graph drew: every node, and the canvas is not blank
    assert 'data-nodes-drawn="5"' in body.group(0), run.stderr[-2000:]
    assert 'data-stabilized="1"' in body.group(0)
    assert "<canvas" in run.dom
    assert run.screenshot is not None
    img = Image.open(run.screenshot).convert("RGB")
    w, h = img.size
    graph_area = img.crop((int(w * 0.25), int(h * 0.1), w, int(h * 0.9)))
    colours = graph_area.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    assert any(abs(r - 0xf2) < 8 and abs(g - 0x8e) < 8 and abs(b - 0x2b) < 8 for _, (r, g, b) in colours)
    # (b) nothing from the data ran or became markup
    root = re.search(r"<html[^>]*>", run.dom).group(0)
    assert "data-alerted" not in root
    assert "data-csp-violation" not in root
    assert "<img" not in run.dom.lower() and "<svg onload" not in run.dom.lower()
    assert "离线测试" in run.dom and "&lt;img src=x onerror=alert(1)&gt;" in run.dom
    # (c) no request left the page (NetLog of every request the page started)
    assert browser.external(run.page_requests) == []


@pytest.mark.browser
def test_network_check_would_catch_a_request(chromium, tmp_path):
    """The NetLog check above is not vacuous: a page that fetches something is caught."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://example.com/x.png"></body></html>', encoding="utf-8")
    run = browser.run_page(chromium, page, budget_ms=2000)
    assert browser.external(run.page_requests) == ["http://example.com/x.png"]
