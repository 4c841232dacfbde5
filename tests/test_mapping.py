"""Loader mappings are declarations: parsed strictly, recognised from headers."""

import pytest
import yaml

from chaingraph.exc import DeclarationError
from chaingraph.mapping import LOADERS_DIR, builtin_mappings, parse_mapping, recognise


def _raw(name):
    return yaml.safe_load((LOADERS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def test_every_source_kind_has_a_mapping():
    sources = {m.source for m in builtin_mappings()}
    assert {"bank_statement", "phone_registration", "call_records", "payment_accounts",
            "case_reports", "card_trade_ledger", "domain_hosting"} <= sources


@pytest.mark.parametrize("headers,source", [
    (["交易卡号", "交易户名", "交易时间", "交易金额", "收付标志", "对手账号"], "bank_statement"),
    (["账号", "户名", "交易日期", "交易时刻", "借贷标志", "发生额", "对方账号"], "bank_statement"),
    (["account_no", "datetime", "amount", "counterparty_account"], "bank_statement"),
    (["手机号码", "ICCID", "机主姓名", "证件号码", "入网时间", "营业厅"], "phone_registration"),
    (["本机号码", "对方号码", "呼叫类型", "开始时间", "通话时长", "IMEI"], "call_records"),
    (["案件编号", "报案人", "受骗金额", "收款账号", "诈骗电话"], "case_reports"),
    (["卖家", "买家", "卡号", "价格", "时间"], "card_trade_ledger"),
    (["域名", "解析IP", "服务器提供商"], "domain_hosting"),
    (["支付账号", "绑定手机", "登录IP", "设备号"], "payment_accounts"),
    ([" 交易金额（元） ", "交易卡号", "交易时间"], "bank_statement"),
])
def test_recognised_from_headers(headers, source):
    m, found, _ = recognise(headers, builtin_mappings())
    assert m is not None and m.source == source


def test_unrecognised_headers_report_what_each_source_lacks():
    m, found, missing = recognise(["姓名", "年龄"], builtin_mappings())
    assert m is None
    assert "amount" in " ".join(missing["bank_statement"])


@pytest.mark.parametrize("mutate,key", [
    (lambda d: d.update(colums={}), "colums"),
    (lambda d: d["nodes"]["own"].update(kind="bank_acount"), "nodes.own.kind"),
    (lambda d: d["nodes"]["own"].update(key="acount"), "nodes.own.key"),
    (lambda d: d["nodes"]["own"]["properties"].update(colour="bank"), "nodes.own.properties.colour"),
    (lambda d: d["edges"][0].update(kind="transfers"), "edges[0].kind"),
    (lambda d: d["edges"][0].update(target="nobody"), "edges[0].target"),
    (lambda d: d["edges"][0]["properties"].update(weight="amount"), "edges[0].properties.weight"),
    (lambda d: d["edges"][0].update(reverse_when={"column": "direction", "equal": "in"}), "edges[0].reverse_when[0].equal"),
    (lambda d: d["required"].append("amount_cny"), "required[3]"),
])
def test_mapping_errors_name_file_and_key(mutate, key):
    d = _raw("bank_statement")
    mutate(d)
    with pytest.raises(DeclarationError) as e:
        parse_mapping(d, "my_bank.yaml")
    assert "my_bank.yaml" in str(e.value) and key in str(e.value)


def test_edge_end_must_fit_the_schema():
    d = _raw("phone_registration")
    d["edges"][0]["target"] = "holder"  # registered_at a person
    with pytest.raises(DeclarationError, match="registered_at cannot have a person as target"):
        parse_mapping(d, "x.yaml")
