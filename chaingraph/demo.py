"""The demo main job: a synthetic case world, loaded, analysed end to end.

``chaingraph demo --out DIR`` generates a world (:mod:`chaingraph.world`),
loads its files into an embedded store, traces the money of every case, finds
rings, ranks leads and writes:

- ``DIR/leads.xlsx`` and ``DIR/leads.csv`` — the lead list with evidence and the
  statements to request next (``--mask`` masks ID, phone and card numbers);
- ``DIR/ring.html`` — an interactive, offline picture of the most connected ring;
- ``DIR/report.md`` and ``DIR/report.html`` — what was found, with figures;
- ``DIR/store/`` and ``DIR/world/`` — the store and the world's files, for
  further queries (``chaingraph trace --store DIR/store --from …``).
"""

from __future__ import annotations

import html
import sys
import time
from pathlib import Path

import pandas as pd


def _step(msg: str, quiet: bool) -> float:
    if not quiet:
        print(f"[chaingraph demo] {msg}", file=sys.stderr, flush=True)
    return time.perf_counter()


def money_by_level(view, cases, window="72h", hops=6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trace every case's money; return (per level totals, per case summary)."""
    from .flow import flow

    levels, per_case = [], []
    for cid in cases:
        res = flow(view, cid, window=window, hops=hops)
        acc = res.accounts
        acc = acc[acc["level"].notna() & (acc["level"] > 0)]
        levels.append(acc.groupby("level")["received"].sum())
        per_case.append({"case": cid, "accounts": len(acc), "traced": res.traced,
                         "frontier": int((res.accounts["status"] == "frontier").sum()),
                         "end_points": len(res.end_points)})
    lv = pd.concat(levels, axis=1).fillna(0).sum(axis=1) if levels else pd.Series(dtype=float)
    lv = lv.rename("received").rename_axis("level").reset_index()
    return lv, pd.DataFrame(per_case)


def _figure_levels(levels: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=120)
    ax.bar([str(int(x)) for x in levels["level"]], levels["received"] / 10_000, color="#f28e2b")
    ax.set_xlabel("account level (1 = first-level account paid by victims)")
    ax.set_ylabel("case money received (10k yuan)")
    ax.set_title("Money traced per level")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _figure_roles(counts: pd.Series, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.35 * max(len(counts), 3) + 1), dpi=120)
    ax.barh(list(counts.index)[::-1], list(counts.values)[::-1], color="#4e79a7")
    ax.set_xlabel("entities")
    ax.set_title("Leads by inferred role")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _md_table(df: pd.DataFrame, columns, n=20) -> str:
    cols = [c for c in columns if c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df[cols].head(n).itertuples(index=False):
        cells = [str(v).replace("|", "\\|").replace("\n", " ") for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _md_to_html(md: str, title: str) -> str:
    """A small, safe Markdown-to-HTML for the report (tables, headings, images, text)."""
    out, in_table = [], False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            if set(line) <= set("|-"):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells) + "</tr>")
                continue
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("![") and "](" in line:
            alt, src = line[2:].split("](", 1)
            out.append(f'<img alt="{html.escape(alt)}" src="{html.escape(src.rstrip(")"))}">')
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:3px 6px}th{background:#eee}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(out)}</body></html>")


def run_demo(out, *, seed=0, n_transfers=20_000, mask=False, quiet=False) -> dict:
    """Run the whole demo into ``out``; return the paths written."""
    from .evaluate import evaluate, format_table
    from .ingest import load
    from .leads import leads
    from .view import MemoryView
    from .viz import render
    from .world import generate

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = _step(f"generating a synthetic world (seed {seed}, {n_transfers:,} transfers)", quiet)
    world_dir = out / "world"
    world = generate(world_dir, seed=seed, n_transfers=n_transfers)
    data_dir = world_dir / "data"

    _step("loading its files into the embedded store", quiet)
    store_dir = out / "store"
    if store_dir.exists():
        import shutil

        shutil.rmtree(store_dir)
    report = load(data_dir, store_dir, progress=None if quiet else (lambda m: print(f"  {m}", file=sys.stderr)))
    st = report.store
    view = MemoryView(st)
    stats = st.stats()

    cases = sorted(st.nodes.loc[st.nodes["kind"] == "case", "id"])
    _step(f"tracing the money of {len(cases)} cases", quiet)
    levels, per_case = money_by_level(view, cases)

    _step("ranking leads", quiet)
    ll = leads(view, top=100)
    paths = {}
    paths["leads_xlsx"] = ll.save(out / "leads.xlsx", mask=mask)
    paths["leads_csv"] = ll.save(out / "leads.csv", mask=mask)

    _step("finding rings and drawing the most connected one", quiet)
    ring_note = ""
    try:
        from .rings import rings

        r = rings(view)
        top = r.rings.sort_values(["n_cases", "size"], ascending=False).iloc[0] if len(r.rings) else None
    except ImportError:
        r, top = None, None
    g = st.graph()
    if top is not None:
        members = list(top["members"])
        focus = set(members)
        for m in members:  # one step out: the cards, phones and suppliers around the ring
            focus.update(g.successors(m))
            focus.update(g.predecessors(m))
        sub = g.subgraph(focus).copy()
        ring_note = f"ring {int(top['ring'])}: {int(top['size'])} entities, {int(top['n_cases'])} cases"
        fig = render(sub, title=f"Most connected ring — {ring_note}", highlight=members, evidence=st, max_nodes=400)
    else:
        first = per_case.sort_values("accounts", ascending=False).iloc[0]["case"]
        from .flow import flow

        fig = render(flow(view, first).subgraph(), title=f"Money of {first}", layout="flow", evidence=st)
    paths["ring_html"] = fig.save(out / "ring.html")

    _step("scoring against the world's ground truth", quiet)
    table = evaluate(world_dir, st)

    _step("writing the report", quiet)
    _figure_levels(levels, out / "money_by_level.png")
    role_counts = ll.df["role"].value_counts()
    _figure_roles(role_counts, out / "roles.png")
    rejected = sum(f.rejected for f in report.files)
    read = sum(f.read for f in report.files)
    md = [
        "# chaingraph demo report",
        "",
        f"A synthetic case world (seed {seed}) of {len(report.files)} files / sheets, {read:,} rows: "
        f"{sum(f.loaded for f in report.files):,} loaded, {sum(f.merged for f in report.files):,} merged as duplicates "
        f"(including both statements of one transfer), {rejected} rejected with their reasons (store/rejects.csv).",
        "",
        f"The graph: {sum(stats['nodes'].values()):,} entities, {sum(stats['edges'].values()):,} links.",
        "",
        "## Money traced per level",
        f"Fund tracing (72 h dwell window, 6 hops) from each of the {len(cases)} cases.",
        "",
        "![money per level](money_by_level.png)",
        "",
        _md_table(levels.assign(received=levels["received"].round(2)), ["level", "received"]),
        "",
        "## Roles found",
        "![roles](roles.png)",
        "",
        _md_table(role_counts.rename_axis("role").reset_index(name="leads"), ["role", "leads"], n=30),
        "",
        "## Top leads",
        _md_table(ll.df, ["rank", "segment", "kind", "key", "name", "role", "score", "reasons"], n=20),
        "",
        "## Statements to request next",
        _md_table(ll.requests, list(ll.requests.columns)[:5], n=15),
        "",
        "## The most connected ring",
        f"{ring_note or 'no ring found'} — interactive picture: ring.html",
        "",
        "## Against the ground truth",
        format_table(table),
        "",
    ]
    text = "\n".join(md)
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "report.html").write_text(_md_to_html(text, "chaingraph demo report"), encoding="utf-8")
    paths["report_md"] = out / "report.md"
    paths["report_html"] = out / "report.html"
    paths["store"] = store_dir
    paths["world"] = world_dir
    _step(f"done in {time.perf_counter() - t0:.0f} s", quiet)
    return paths


def cmd_demo(args) -> int:
    paths = run_demo(args.out, seed=args.seed, n_transfers=args.transfers, mask=args.mask)
    print("chaingraph demo wrote:")
    labels = {"leads_xlsx": "lead list (Excel)", "leads_csv": "lead list (CSV)", "ring_html": "ring picture",
              "report_html": "report", "report_md": "report (Markdown)", "store": "store", "world": "world files and truth"}
    for k, label in labels.items():
        v = paths[k]
        v = ", ".join(str(p) for p in v) if isinstance(v, list) else str(v)
        print(f"  {label:<22} {v}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("demo", help="generate a synthetic case world, load it, analyse it and write the outputs")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--transfers", type=int, default=20_000)
    p.add_argument("--mask", action="store_true", help="mask ID, phone and card numbers in the lead list")
    p.set_defaults(func=cmd_demo)
