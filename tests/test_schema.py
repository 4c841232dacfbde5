"""The schema declaration is parsed strictly and drives the rest."""

import copy

import pytest
import yaml

from chaingraph.exc import DeclarationError
from chaingraph.schema import SCHEMA_FILE, load_schema, parse_schema, read_schema


@pytest.fixture
def raw():
    return yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))


def test_packaged_schema_has_the_chain():
    s = load_schema()
    for kind in ["person", "organisation", "bank_account", "payment_account", "wallet", "phone",
                 "device", "ip", "domain", "app", "outlet", "case"]:
        assert kind in s.nodes
    for kind in ["transfer", "holds", "supplied", "registered_at", "bound_to", "logged_in_from",
                 "called", "resolves_to", "hosted_by", "member_of", "reported", "paid_to",
                 "contacted_by", "cash_out"]:
        assert kind in s.edges
    # every edge declares its chain direction
    assert s.downstream_end("transfer") == "target"
    assert s.downstream_end("registered_at") == "source"  # the outlet is upstream of the SIM
    assert s.downstream_end("holds") is None
    assert s.edges["paid_to"].pivot


@pytest.mark.parametrize("path,key,message", [
    (("nodes", "phone", "colour"), "nodes.phone.colour", "unknown key"),
    (("edges", "transfer", "upstrem"), "edges.transfer.upstrem", "unknown key"),
    (("flavour",), "schema.flavour", "unknown key"),
])
def test_unknown_keys_are_errors_naming_file_and_key(raw, path, key, message):
    d = raw
    for p in path[:-1]:
        d = d[p]
    d[path[-1]] = "x"
    with pytest.raises(DeclarationError) as e:
        parse_schema(raw, "my-schema.yaml")
    assert key in str(e.value) and "my-schema.yaml" in str(e.value) and message in str(e.value)
    assert "valid keys are" in str(e.value)


def test_unknown_kind_and_type_are_errors(raw):
    bad = copy.deepcopy(raw)
    bad["edges"]["transfer"]["source"] = ["bank_acount"]
    with pytest.raises(DeclarationError, match=r"edges.transfer.source.*'bank_acount' is not one of"):
        parse_schema(bad, "s.yaml")
    bad = copy.deepcopy(raw)
    bad["nodes"]["phone"]["key"] = "mobil"
    with pytest.raises(DeclarationError, match=r"nodes.phone.key"):
        parse_schema(bad, "s.yaml")
    bad = copy.deepcopy(raw)
    bad["edges"]["transfer"]["upstream"] = "left"
    with pytest.raises(DeclarationError, match=r"edges.transfer.upstream"):
        parse_schema(bad, "s.yaml")


def test_bad_yaml_names_the_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("nodes: [unclosed", encoding="utf-8")
    with pytest.raises(DeclarationError, match="s.yaml"):
        read_schema(p)
