"""Nothing lost, on statements hypothesis makes: every row loaded, merged or rejected.

Each example is a bank statement of random rows written in one of the formats
and encodings chaingraph reads. Most rows are well formed, written the ways
real exports write them (spaced or full-width card numbers, thousands
separators, currency signs, one time format per file); some have a cell that
cannot be read; some repeat an earlier row exactly; free text holds commas,
quotes, line breaks, tabs, formula-like text and any Unicode. The load must
account for every row, and every well-formed row must arrive with the values
that were written (checked against the values the rows were made from, not
against chaingraph's own cleaning).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from chaingraph.ingest import load

pytestmark = pytest.mark.slow

# valid bank cards (Luhn) the rows draw from, so that nodes and transfers merge
CARDS = ["6222020200112233445", "6228480000000000001", "6217000010001234567", "4111111111111111",
         "6212260200012345678"]
HEADER = ["交易卡号", "交易时间", "交易金额", "收付标志", "对手账号", "摘要", "交易流水号"]
TIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y.%m.%d %H:%M:%S",
                "%Y%m%d%H%M%S"]
FULL_WIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")
# cells no statement loader can read, per column (each a reason to reject the row)
BAD = {"交易卡号": ["", "卡号不详", "n/a"], "交易时间": ["", "nope", "2024-13-45 99:99:99"],
       "交易金额": ["", "abc", "12..5", "--"]}


def _card(draw):
    card = draw(st.sampled_from(CARDS))
    how = draw(st.sampled_from(["plain", "spaced", "full", "padded"]))
    if how == "spaced":
        return " ".join(card[i:i + 4] for i in range(0, len(card), 4))
    if how == "full":
        return card.translate(FULL_WIDTH)
    if how == "padded":
        return f" {card}\t"
    return card


def _amount_text(draw, cents: int) -> str:
    text = f"{Decimal(cents) / 100:.2f}"
    how = draw(st.sampled_from(["plain", "thousands", "yuan", "full", "int"]))
    if how == "thousands":
        return f"{Decimal(cents) / 100:,.2f}"
    if how == "yuan":
        return "￥" + f"{Decimal(cents) / 100:,.2f}"
    if how == "full":
        return text.translate(FULL_WIDTH)
    if how == "int" and cents % 100 == 0:
        return str(cents // 100)
    return text


free_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12) | st.sampled_from(
    ["=cmd|' /C calc'!A0", '+SUM(1,2)', "-1+2", "@x", 'a "quoted", text', "line\nbreak", "tab\there", "转账,备注", ""])


@st.composite
def statements(draw):
    container = draw(st.sampled_from(["csv:utf-8", "csv:utf-8-sig", "csv:gb18030", "tsv:gb18030", "xlsx", "jsonl"]))
    fmt = draw(st.sampled_from(TIME_FORMATS))
    n = draw(st.integers(1, 25))
    rows, expect = [], []
    t0 = datetime(2024, 1, 1)
    for i in range(n):
        if rows and draw(st.integers(0, 9)) == 0:   # an exact repeat of an earlier row
            j = draw(st.integers(0, len(rows) - 1))
            rows.append(list(rows[j]))
            expect.append(dict(expect[j], repeat_of=j))
            continue
        own = _card(draw)
        cp = _card(draw)
        when = t0 + timedelta(seconds=draw(st.integers(0, 400 * 86400)))
        cents = draw(st.integers(1, 10**11))
        inward = draw(st.booleans())
        row = [own, when.strftime(fmt), _amount_text(draw, cents), draw(st.sampled_from(["进", "贷", "收"] if inward else ["出", "借", "付"])),
               cp, draw(free_text), f"T{i:04d}"]
        e = {"good": True, "own": own, "cp": cp, "time": pd.Timestamp(when, tz="Asia/Shanghai"), "amount": cents / 100,
             "inward": inward, "txn": f"T{i:04d}"}
        if container == "xlsx" and draw(st.booleans()):   # a workbook's own date and number cells
            row[1], row[2] = when, cents / 100
        spoil = draw(st.integers(0, 9))
        if spoil < 2:   # one cell nothing can read
            col = draw(st.sampled_from(sorted(BAD)))
            row[HEADER.index(col)] = draw(st.sampled_from(BAD[col]))
            e = {"good": False, "column": col}
        elif spoil == 2 and ":" in container:   # a delimiter left unquoted in the memo (text files only): a field too many
            row[HEADER.index("摘要")] = "转账{SEP}备注"
            e = {"good": False, "column": None, "broken": True}
        rows.append(row)
        expect.append(e)
    return container, rows, expect


def _write(path, container, rows, expect):
    """The statement as an export writes it; returns the path and the row number of each record."""
    if container == "xlsx":
        wb = Workbook()
        ws = wb.active
        ws.append(HEADER)
        for r in rows:
            ws.append(r)
        path = path.with_suffix(".xlsx")
        wb.save(path)
    elif container == "jsonl":
        path = path.with_suffix(".jsonl")
        path.write_text("".join(json.dumps(dict(zip(HEADER, r)), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        kind, enc = container.split(":")
        path = path.with_suffix("." + kind)
        sep = "\t" if kind == "tsv" else ","
        out = io.StringIO()
        # Windows line ends, as most exports: the csv module then quotes a cell holding "\r"
        w = csv.writer(out, delimiter=sep, lineterminator="\r\n")
        w.writerow(HEADER)
        for r, e in zip(rows, expect):
            if e.get("broken"):   # written by an exporter that does not quote
                out.write(sep.join(c.replace("{SEP}", sep) for c in r) + "\r\n")
            else:
                w.writerow(r)
        path.write_bytes(out.getvalue().encode(enc))
    return path


def _writable(container, rows):
    """Text an exporter could have written in that container (XML has no control characters;
    a tab inside a TSV cell is written quoted by pandas, which real TSV exports never do)."""
    text = "".join(c for r in rows for c in r if isinstance(c, str))
    if container == "xlsx":
        return not any(ord(c) < 32 and c not in "\t\n\r" for c in text) and "\r" not in text
    return True


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(statements())
def test_every_row_is_accounted_for_and_well_formed_rows_keep_their_values(tmp_path_factory, example):
    check_statement(tmp_path_factory.mktemp("stmt"), *example)


def _digits(card: str) -> str:
    return card.translate(str.maketrans("０１２３４５６７８９", "0123456789")).replace(" ", "").strip()


def check_statement(d, container, rows, expect):
    if not _writable(container, rows):
        return
    made = [expect[e["repeat_of"]] if "repeat_of" in e else e for e in expect]
    path = _write(d / "statement", container, rows, made)
    r = load(path, d / "store")
    assert not r.unrecognised, r.unrecognised
    (f,) = r.files
    # a record's row: its spreadsheet row (the header is row 1), or its line in a JSON Lines file
    first = 1 if container == "jsonl" else 2
    n = len(rows)
    assert f.read == n and f.read == f.loaded + f.merged + f.rejected, f

    rej = r.store.rejects
    rej = rej[rej["action"] == "row rejected"]
    assert rej["row"].is_unique and len(rej) == f.rejected
    bad = {first + i: e for i, e in enumerate(made) if not e["good"]}
    got = {int(x.row): x for x in rej.itertuples()}
    assert set(got) == set(bad), (sorted(got), sorted(bad))
    for row, e in bad.items():
        if e.get("broken"):   # the whole line is the raw value
            assert pd.isna(got[row].column), got[row]
            m = re.fullmatch(rf"expected {len(HEADER)} fields, found (\d+)", got[row].reason)
            assert m and int(m[1]) > len(HEADER), got[row]
            assert "转账" in got[row].raw and "备注" in got[row].raw
        else:   # the cell as written
            assert got[row].column.startswith(e["column"]), (row, got[row])
            assert got[row].raw == rows[row - first][HEADER.index(e["column"])].strip(), (row, got[row])

    # every well-formed row has its transfer record, with the values it was made from; an
    # exact repeat of a row is a second record of the same transfer, and counts as merged
    obs = r.store.tables.edge_obs
    transfers = obs[(obs["kind"] == "transfer") & obs["primary"].astype(bool)]
    by_row = {int(k): g for k, g in transfers.groupby(transfers["row"].astype(int))}
    good = [i for i, e in enumerate(made) if e["good"]]
    assert set(by_row) == {first + i for i in good}
    assert f.merged == sum("repeat_of" in expect[i] for i in good)
    edge_of = {}
    for i in good:
        e = made[i]
        (rec,) = by_row[first + i].itertuples()
        own, cp = "bank_account:" + _digits(e["own"]), "bank_account:" + _digits(e["cp"])
        assert (rec.source, rec.target) == ((cp, own) if e["inward"] else (own, cp)), (i, rows[i])
        assert rec.amount == pytest.approx(e["amount"], abs=0.001), (i, rows[i])
        assert rec.time == e["time"], (i, rows[i])
        assert rec.txn_id == e["txn"]
        edge_of[i] = rec.edge_id
    for i in good:
        j = expect[i].get("repeat_of", i)
        assert edge_of[i] == edge_of[j]
    originals = {edge_of[i] for i in good if "repeat_of" not in expect[i]}
    assert len(originals) == sum("repeat_of" not in expect[i] for i in good)

    again = load(path, d / "store")
    (g,) = again.files
    assert (g.read, g.loaded, g.merged + g.rejected) == (n, 0, n)


# ---------------------------------------------------------------------------
# a transfer seen in both the payer's and the payee's statement is one edge

X, Y, Z = CARDS[0], CARDS[1], CARDS[2]   # X and Y have statements; Z has none


@st.composite
def transfer_pairs(draw):
    """Transfers between X, Y and Z; the payee's bank stamps each up to 2 minutes off the
    payer's. Amounts come from a few values, so the same amount often goes between the
    same accounts several times in a few minutes (as split payments do)."""
    n = draw(st.integers(1, 30))
    out, used = [], set()
    t0 = datetime(2024, 3, 1, 9)
    for _ in range(n):
        src, dst = draw(st.sampled_from([(X, Y), (Y, X), (X, Z), (Z, X), (Y, Z), (Z, Y)]))
        cents = draw(st.sampled_from([500000, 499900, 100]))
        when = t0 + timedelta(seconds=draw(st.integers(0, 3600)))
        if (src, dst, cents, when) in used:   # (one account pays the same amount once a second at most)
            continue
        used.add((src, dst, cents, when))
        skew = timedelta(seconds=draw(st.integers(-120, 120)))
        out.append({"src": src, "dst": dst, "cents": cents, "t_payer": when, "t_payee": when + skew})
    return out


def _statements(transfers):
    """X's statement (layout A: joined time, 进/出) and Y's (layout B: date and clock apart, 借/贷)."""
    a = ["交易卡号,交易时间,交易金额,收付标志,对手账号"]
    b = ["账号,交易日期,交易时刻,借贷标志,发生额,对方账号"]
    for t in transfers:
        amount = f"{Decimal(t['cents']) / 100:.2f}"
        for own, rows, layout in ((X, a, "A"), (Y, b, "B")):
            if own not in (t["src"], t["dst"]):
                continue
            out = own == t["src"]
            when = t["t_payer"] if out else t["t_payee"]
            other = t["dst"] if out else t["src"]
            if layout == "A":
                rows.append(f"{own},{when:%Y-%m-%d %H:%M:%S},{amount},{'出' if out else '进'},{other}")
            else:
                rows.append(f"{own},{when:%Y%m%d},{when:%H%M%S},{'借' if out else '贷'},{amount},{other}")
    return "\n".join(a) + "\n", "\n".join(b) + "\n"


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(transfer_pairs())
@example([   # two 5,000 payments a second apart, stamped 0 s and 1 s later by the payee's bank
    {"src": X, "dst": Y, "cents": 500000, "t_payer": datetime(2024, 3, 1, 9), "t_payee": datetime(2024, 3, 1, 9)},
    {"src": X, "dst": Y, "cents": 500000, "t_payer": datetime(2024, 3, 1, 9, 0, 1), "t_payee": datetime(2024, 3, 1, 9, 0, 2)}])
def test_each_transfer_is_one_edge_when_both_statements_show_it_loaded_together_or_apart(tmp_path_factory, transfers):
    check_pairs(tmp_path_factory.mktemp("pair"), transfers)


def check_pairs(d, transfers):
    a, b = _statements(transfers)
    (d / "in").mkdir()
    (d / "in" / "x.csv").write_bytes(a.encode("gb18030"))
    (d / "in" / "y.csv").write_text(b, encoding="utf-8-sig")
    r = load(d / "in", d / "store")
    assert not r.unrecognised and sum(f.rejected for f in r.files) == 0
    e = r.store.edges
    e = e[e["kind"] == "transfer"]
    # one edge per transfer, and the transfers between the two statements' accounts are seen from both
    want = pd.DataFrame([("bank_account:" + t["src"], "bank_account:" + t["dst"], t["cents"] / 100,
                          "both" if {t["src"], t["dst"]} == {X, Y} else "source" if t["src"] != Z else "target")
                         for t in transfers], columns=["source", "target", "amount", "seen_by"])
    got = e[["source", "target", "amount", "seen_by"]].astype({"source": str, "target": str})
    key = ["source", "target", "amount", "seen_by"]
    assert (got.value_counts(key).sort_index().to_dict() == want.value_counts(key).sort_index().to_dict()), transfers
    for f in r.files:
        assert f.read == f.loaded + f.merged
    # the payee's statement loaded later into the payer's store: the same graph
    load(d / "in" / "x.csv", d / "later")
    later = load(d / "in" / "y.csv", d / "later").store
    for name in ("nodes", "edges"):
        one, two = (getattr(s, name).sort_values("id", ignore_index=True) for s in (r.store, later))
        pd.testing.assert_frame_equal(one.astype(str), two.astype(str))
