"""The query catalogue: strict parsing, typed params, every shipped query runs."""

import json

import pandas as pd
import pytest

from chaingraph.catalog import QUERY_DIR, bind, get_query, list_queries, load_query, run_query
from chaingraph.exc import DeclarationError, InvalidValue
from chaingraph.view import MemoryView

T0 = pd.Timestamp("2024-03-01 08:00", tz="UTC")
SHIPPED = {"case_downstream", "case_upstream", "account_flow", "fan_in", "fan_out", "pass_through", "cycles",
           "structuring", "shared_devices", "shared_phones", "card_burst", "rings", "roles", "dealers_across_rings"}


def view():
    e = [(1, "paid_to", "case:C1", "bank_account:a0", T0, 9000.0)]
    for i in range(5):
        e.append((10 + i, "transfer", f"bank_account:p{i}", "bank_account:a0", T0 + pd.Timedelta(minutes=i), 1000.0))
    e.append((20, "transfer", "bank_account:a0", "bank_account:a1", T0 + pd.Timedelta(minutes=30), 8900.0))
    e.append((21, "transfer", "bank_account:a1", "bank_account:a0", T0 + pd.Timedelta(minutes=40), 100.0))
    for i in range(3):
        e.append((30 + i, "logged_in_from", f"bank_account:p{i}", "device:d1", pd.NaT, float("nan")))
    edges = pd.DataFrame(e, columns=["id", "kind", "source", "target", "time", "amount"])
    edges["time"] = pd.to_datetime(edges["time"], utc=True)
    ids = sorted(set(edges["source"]) | set(edges["target"]))
    nodes = pd.DataFrame({"id": ids, "kind": [i.partition(":")[0] for i in ids], "key": [i.partition(":")[2] for i in ids],
                          "label": ids})
    return MemoryView(nodes, edges)


def test_shipped_queries_parse():
    names = {q.name for q in list_queries()}
    assert SHIPPED <= names
    for q in list_queries():
        assert q.description and q.call


def test_run_with_string_params():
    r = run_query(view(), "fan_in", min_counterparties="5", window="1h")
    assert list(r["entity"]) == ["bank_account:a0"] and r.iloc[0]["count"] == 6  # p0..p4 and a1
    assert run_query(view(), "fan_in", min_counterparties="7").empty
    c = run_query(view(), "cycles", max_length="2")
    assert list(c["edge_ids"]) == [(20, 21)]
    d = run_query(view(), "shared_devices")
    assert list(d["identifier"]) == ["device:d1"]


@pytest.mark.parametrize("name", sorted(SHIPPED - {"case_downstream", "case_upstream", "account_flow"}))
def test_every_query_runs_with_defaults(name):
    run_query(view(), name)


def test_trace_and_flow_queries():
    f = run_query(view(), "account_flow", ref="case:C1", window="2h")
    assert "bank_account:a1" in set(f.accounts["id"])
    t = run_query(view(), "case_downstream", ref="case:C1", hops="2")
    assert t is not None


def test_bad_params():
    with pytest.raises(InvalidValue, match="unknown param"):
        run_query(view(), "fan_in", min_payers=3)
    with pytest.raises(InvalidValue, match="not a valid int"):
        run_query(view(), "fan_in", min_counterparties="many")
    with pytest.raises(InvalidValue, match="not one of"):
        run_query(view(), "structuring", by="sideways")
    with pytest.raises(InvalidValue, match="required"):
        run_query(view(), "account_flow")
    with pytest.raises(InvalidValue, match="no query named"):
        get_query("nope")


def write(tmp_path, name, text):
    p = tmp_path / f"{name}.yaml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = "name: q\ndescription: d\ncall: fan_in\nparams:\n  k: {type: int, default: 5}\nargs:\n  min_counterparties: $k\n"


def test_strict_declarations(tmp_path):
    assert load_query(write(tmp_path, "q", GOOD)).params["k"].default == 5
    cases = [
        (GOOD + "limit: 3\n", "limit"),
        (GOOD.replace("{type: int, default: 5}", "{type: int, defualt: 5}"), "params.k.defualt"),
        (GOOD.replace("type: int", "type: integer"), "params.k.type"),
        (GOOD.replace("default: 5", "default: five"), "params.k.default"),
        (GOOD.replace("call: fan_in", "call: fan_inn"), "call"),
        (GOOD.replace("$k", "$kk"), "args.min_counterparties"),
        (GOOD.replace("description: d\n", ""), "description"),
        (GOOD.replace("name: q", "name: other"), "name"),
    ]
    for text, key in cases:
        p = write(tmp_path, "q", text)
        with pytest.raises(DeclarationError) as e:
            load_query(p)
        assert e.value.key == key and str(p) in str(e.value)


def test_adding_a_query_is_adding_a_file(tmp_path):
    write(tmp_path, "big_fan_in", "name: big_fan_in\ndescription: six payers in an hour\ncall: fan_in\n"
          "params:\n  window: {type: duration, default: 1h}\nargs:\n  min_counterparties: 5\n  window: $window\n")
    r = run_query(view(), "big_fan_in", dirs=[tmp_path])
    assert list(r["entity"]) == ["bank_account:a0"]
    assert bind(get_query("big_fan_in", [tmp_path]), view(), {}) == {"min_counterparties": 5, "window": "1h"}


def test_cli_lists_queries(capsys):
    from chaingraph.cli import main

    assert main(["queries", "--json"]) == 0
    names = {q["name"] for q in json.loads(capsys.readouterr().out)}
    assert SHIPPED <= names
    assert main(["queries"]) == 0
    assert "fan_in" in capsys.readouterr().out
    assert QUERY_DIR.is_dir()


def fan_store(path):
    """A store where one account pays 40 others within minutes: a finding with long cells."""
    from chaingraph.store import Store, empty_tables

    ids = ["bank_account:PAYER"] + [f"bank_account:{6222020000000000000 + i}" for i in range(40)]
    edges = pd.DataFrame({"id": range(1, 41), "kind": "transfer", "source": ids[0], "target": ids[1:],
                          "time": [T0 + pd.Timedelta(minutes=i) for i in range(40)], "amount": 100.0, "seen_by": "source"})
    store = Store.open(path, create=True)
    tables = empty_tables(store.schema)
    nodes = pd.DataFrame({"id": ids, "kind": "bank_account", "key": [i.partition(":")[2] for i in ids], "label": ids})
    tables.nodes = pd.concat([tables.nodes, nodes], ignore_index=True)
    tables.edges = pd.concat([tables.edges, edges], ignore_index=True)
    store.save(tables)
    return path


def test_cli_query_table_fits_a_terminal_and_json_has_every_value(tmp_path, capsys):
    from chaingraph.cli import main

    s = str(fan_store(tmp_path / "s"))
    assert main(["query", "fan_out", "--store", s]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "bank_account:PAYER" in lines[1] and "..." in lines[1]
    assert max(map(len, lines)) < 300  # (the whole cells run to thousands of characters)
    assert main(["query", "fan_out", "--store", s, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["count"] == 40 and len(row["metrics"]["counterparties"]) == 40 and len(row["edge_ids"]) == 40


def test_cli_query_limit_cuts_the_table_and_out_writes_every_row(tmp_path, capsys):
    from chaingraph.cli import main

    s = str(fan_store(tmp_path / "s"))
    q = ["query", "account_flow", "--store", s, "--param", "ref=bank_account:PAYER"]
    assert main(q + ["--limit", "3"]) == 0
    got = capsys.readouterr()
    assert len(got.out.splitlines()) == 1 + 3 and "38 more rows of 41" in got.err
    assert main(q + ["--limit", "0"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 41
    # every row to a file, as the lead list is written: card numbers masked on request
    out = tmp_path / "flow.csv"
    assert main(q + ["--limit", "3", "--out", str(out), "--mask", "--salt", "s"]) == 0
    assert capsys.readouterr().out.split() == [str(out)]
    text = out.read_text(encoding="utf-8-sig")
    assert len(text.splitlines()) == 1 + 41
    assert "key_hash" in text.splitlines()[0] and "6222020000000000000" not in text
    assert "622202*********0000" in text
    with pytest.raises(SystemExit):
        main(q + ["--limit", "-1"])           # argparse: "expected 0 (every row) or more"
    assert main(q + ["--mask"]) == 2          # masking is for a written file


def test_cli_output_to_a_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    s = str(fan_store(tmp_path / "s"))
    p = subprocess.Popen([sys.executable, "-m", "chaingraph.cli", "query", "fan_out", "--store", s],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # as `| head` does once it has its lines
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and err == ""


def test_the_readmes_query_examples_name_real_params():
    import re
    import shlex
    from pathlib import Path

    from chaingraph.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lines = re.findall(r"^chaingraph query .*$", readme, flags=re.M)
    assert lines
    for line in lines:
        args = build_parser().parse_args(shlex.split(line.split("#")[0])[1:])
        params = dict(kv.split("=", 1) for kv in args.param or [])
        bind(get_query(args.name), view(), params)  # raises on an unknown param or a bad value
