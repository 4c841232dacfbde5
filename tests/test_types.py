"""Tests of chaingraph.types: one canonical form per identifier, vectorised columns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from chaingraph.exc import InvalidValue
from chaingraph.types import TIME, TYPES, TimeType, combine_date_time, get_type

UTC = dt.timezone.utc


# -- tiny independent implementations of the check characters -----------------


def luhn_complete(body: str) -> str:
    """``body`` plus the digit that makes it pass Luhn."""
    for last in "0123456789":
        digits = [int(c) for c in body + last][::-1]
        total = sum(d if i % 2 == 0 else sum(divmod(2 * d, 10)) for i, d in enumerate(digits))
        if total % 10 == 0:
            return body + last
    raise AssertionError("unreachable")


def luhn_break(number: str) -> str:
    """``number`` with a wrong last digit."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def id_complete(first17: str) -> str:
    """GB 11643: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10 -> X."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    check = (12 - total % 11) % 11
    return first17 + ("X" if check == 10 else str(check))


CARD = luhn_complete("622202100112345678")  # 19 digits, ICBC-like BIN
CARD16 = luhn_complete("621700123456789")  # 16 digits
IMEI = luhn_complete("35209900176148")  # 15 digits
ICCID = luhn_complete("8986001234567890123")  # 20 digits
ICCID19 = luhn_complete("898600123456789012")  # 19 digits, stored padded with F
ID_SAMPLE = "11010519491231002X"  # the sample number of GB 11643
ID_OTHER = id_complete("33010619850315123")


def local(*args) -> pd.Timestamp:
    """A Beijing wall-clock time as the UTC Timestamp chaingraph returns."""
    return pd.Timestamp(dt.datetime(*args), tz="Asia/Shanghai").tz_convert("UTC")


# -- the registry ----------------------------------------------------------------


def test_every_type_the_schema_names_exists():
    schema = yaml.safe_load((Path(__file__).parents[1] / "chaingraph" / "schema.yaml").read_text())
    named = {n["key"] for n in schema["nodes"].values()}
    for section in ("nodes", "edges"):
        for kind in schema[section].values():
            named |= set((kind.get("properties") or {}).values())
    assert named <= set(TYPES)
    assert set(TYPES) == {
        "text", "name", "resident_id", "bank_card", "account_id", "mobile", "device_id",
        "imei", "iccid", "imsi", "ip", "domain", "case_id", "money", "time", "integer",
    }
    assert all(t.name == name for name, t in TYPES.items())
    assert TIME is TYPES["time"]


def test_get_type_unknown_lists_valid_names():
    assert get_type("mobile") is TYPES["mobile"]
    with pytest.raises(ValueError, match="unknown type 'phone'.*bank_card.*resident_id"):
        get_type("phone")


# -- empty cells -----------------------------------------------------------------


@pytest.mark.parametrize("type_name", sorted(TYPES))
@pytest.mark.parametrize(
    "raw", [None, np.nan, pd.NA, "", "   ", "\u3000", "nan", "NaN", "null", "NULL", "-", "--", "无", "/", "'"]
)
def test_empty_markers_clean_to_none(type_name, raw):
    assert TYPES[type_name].clean(raw) is None


# -- resident_id -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (ID_SAMPLE, ID_SAMPLE),
        ("11010519491231002x", ID_SAMPLE),
        (" 110105 19491231 002X ", ID_SAMPLE),
        ("１１０１０５１９４９１２３１００２Ｘ", ID_SAMPLE),
        ("'11010519491231002X", ID_SAMPLE),
        ("\t11010519491231002X\t", ID_SAMPLE),
        ("110105491231002", ID_SAMPLE),  # legacy 15 digits: the same person
        ("330106850315123", id_complete("33010619850315123")),
        (ID_OTHER, ID_OTHER),
    ],
)
def test_resident_id_clean(raw, expected):
    t = TYPES["resident_id"]
    assert t.clean(raw) == expected
    assert t.check(expected)


@pytest.mark.parametrize(
    "raw",
    ["1101051949123100", "11010519491231002XX", "A1010519491231002X", "11010519491231X02X", "E12345678", "1.10105E+17"],
)
def test_resident_id_invalid(raw):
    with pytest.raises(InvalidValue, match="resident_id"):
        TYPES["resident_id"].clean(raw)


def test_resident_id_bad_check_char_is_kept_and_flagged():
    wrong = ID_SAMPLE[:17] + "1"
    t = TYPES["resident_id"]
    assert t.clean(wrong) == wrong and not t.check(wrong)
    values, errors, flags = t.clean_series(pd.Series([wrong, ID_SAMPLE, "x"]))
    assert values.tolist() == [wrong, ID_SAMPLE, None]
    assert flags.tolist() == ["check_failed", None, None]
    assert errors.isna().tolist() == [True, True, False]


# -- bank_card -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (CARD, CARD),
        (" ".join([CARD[:4], CARD[4:8], CARD[8:12], CARD[12:16], CARD[16:]]), CARD),
        ("-".join([CARD16[:4], CARD16[4:8], CARD16[8:12], CARD16[12:]]), CARD16),
        ("".join(chr(ord(c) + 0xFEE0) for c in CARD), CARD),  # full-width digits
        ("'" + CARD, CARD),
        ("\t" + CARD + "\t", CARD),
        ('="' + CARD + '"', CARD),
        (CARD16 + ".0", CARD16),
        (int(CARD16), CARD16),
        (float(4111111111111111), "4111111111111111"),
        ("12345678", "12345678"),  # short corporate account
        ("1" * 30, "1" * 30),
    ],
)
def test_bank_card_clean(raw, expected):
    assert TYPES["bank_card"].clean(raw) == expected


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("6.22202E+18", "precision"),
        ("6.22202e18", "precision"),
        (6.222021001123457e18, "precision"),
        ("1234567", "7 digits"),
        ("1" * 31, "31 digits"),
        ("6222O2100112345678", "not all digits"),
        ("卡号未知", "not all digits"),
    ],
)
def test_bank_card_invalid(raw, reason):
    with pytest.raises(InvalidValue, match=reason):
        TYPES["bank_card"].clean(raw)


@pytest.mark.parametrize(
    "value, ok",
    [(CARD, True), (CARD16, True), ("4111111111111111", True), (luhn_break(CARD), False),
     (luhn_break(CARD16), False), ("12345678", True), ("1" * 25, True)],
)
def test_bank_card_check_is_luhn_for_card_lengths(value, ok):
    assert TYPES["bank_card"].check(value) is ok


# -- account_id, case_id, name, text ---------------------------------------------


@pytest.mark.parametrize(
    "type_name, raw, expected",
    [
        ("account_id", " TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE ", "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE"),
        ("account_id", "0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886E0F7030069857D2E4169EE7"),
        ("account_id", "zhang san@163.com", "zhangsan@163.com"),
        ("account_id", "ｃｏｍ．ｆａｋｅ．ｌｏａｎ", "com.fake.loan"),
        ("account_id", "2088 1020 3040 5060", "2088102030405060"),
        ("case_id", " a3301 0220 2401 0000 01 ", "A330102202401000001"),
        ("case_id", "杭公（西）立字[2024] 123号", "杭公(西)立字[2024]123号"),
        ("name", " 张 三 ", "张三"),
        ("name", "张\u3000三", "张三"),
        ("name", "欧阳  娜娜", "欧阳娜娜"),
        ("name", "买买提 • 吐尔逊", "买买提·吐尔逊"),
        ("name", "某某科技（杭州） 有限公司", "某某科技(杭州)有限公司"),
        ("name", "ＪＯＨＮ  Smith", "JOHN Smith"),
        ("text", "  ATM取现   现金 ", "ATM取现 现金"),
        ("text", "转账\t备注：货款", "转账 备注:货款"),
        ("text", "ＡＢＣ１２３", "ABC123"),
    ],
)
def test_text_like_types(type_name, raw, expected):
    assert TYPES[type_name].clean(raw) == expected


def test_account_id_rejects_scientific_notation():
    with pytest.raises(InvalidValue, match="precision"):
        TYPES["account_id"].clean("6.22202E+18")


# -- mobile ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13800000000", "138 0000 0000", "+86 13800000000", "0086-138-0000-0000", "+8613800000000",
        "8613800000000", "86 138 0000 0000", "(+86) 138-0000-0000", "+86 (138) 0000 0000",
        "１３８ ００００ ００００", "＋８６１３８００００００００", "'13800000000", "13800000000.0",
        13800000000, 13800000000.0, "013800000000", "138.0000.0000",
    ],
)
def test_mobile_spellings_are_one_number(raw):
    assert TYPES["mobile"].clean(raw) == "13800000000"


@pytest.mark.parametrize(
    "raw, expected, mobile",
    [
        ("+852 1234 5678", "+85212345678", False),
        ("00852-1234-5678", "+85212345678", False),
        ("+1 (415) 555-0100", "+14155550100", False),
        ("010-8888 6666", "01088886666", False),
        ("+86 10 8888 6666", "01088886666", False),
        ("0571-87654321", "057187654321", False),
        ("10086", "10086", False),
        ("95588", "95588", False),
        ("19912345678", "19912345678", True),
        ("14512345678", "14512345678", True),
    ],
)
def test_mobile_other_numbers_are_kept(raw, expected, mobile):
    t = TYPES["mobile"]
    assert t.clean(raw) == expected
    assert t.check(expected) is mobile


@pytest.mark.parametrize("raw", ["110", "1234", "1380000000012345", "138abc00000", "手机号"])
def test_mobile_invalid(raw):
    with pytest.raises(InvalidValue, match="mobile"):
        TYPES["mobile"].clean(raw)


# -- device_id, imei, iccid, imsi ------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("aa-bb-cc-dd-ee-ff", "AA:BB:CC:DD:EE:FF"),
        ("AA:BB:CC:DD:EE:FF", "AA:BB:CC:DD:EE:FF"),
        ("aabb.ccdd.eeff", "AA:BB:CC:DD:EE:FF"),
        ("aabbccddeeff", "AA:BB:CC:DD:EE:FF"),
        ("ＡＡ－ＢＢ－ＣＣ－ＤＤ－ＥＥ－ＦＦ", "AA:BB:CC:DD:EE:FF"),
        (" 9774d56d682e549c ", "9774D56D682E549C"),
        (IMEI, IMEI),
        ("box-01 gw", "BOX-01GW"),
    ],
)
def test_device_id(raw, expected):
    assert TYPES["device_id"].clean(raw) == expected


@pytest.mark.parametrize(
    "type_name, raw, expected, ok",
    [
        ("imei", IMEI, IMEI, True),
        ("imei", f"{IMEI[:2]}-{IMEI[2:8]}-{IMEI[8:14]}-{IMEI[14]}", IMEI, True),
        ("imei", f"{IMEI[:8]}/{IMEI[8:]}", IMEI, True),
        ("imei", luhn_break(IMEI), luhn_break(IMEI), False),
        ("imei", IMEI[:14], IMEI[:14], True),  # without check digit
        ("imei", IMEI[:14] + "01", IMEI[:14] + "01", True),  # IMEISV
        ("iccid", ICCID, ICCID, True),
        ("iccid", ICCID19 + "F", ICCID19, True),
        ("iccid", ICCID19.lower() + "f", ICCID19, True),
        ("iccid", " ".join([ICCID[:4], ICCID[4:10], ICCID[10:]]), ICCID, True),
        ("iccid", luhn_break(ICCID), luhn_break(ICCID), False),
        ("imsi", "460001234567890", "460001234567890", True),
        ("imsi", "460 01 1234567890", "460011234567890", True),
        ("imsi", "46000123456789", "46000123456789", True),
    ],
)
def test_imei_iccid_imsi(type_name, raw, expected, ok):
    t = TYPES[type_name]
    assert t.clean(raw) == expected
    assert t.check(expected) is ok


@pytest.mark.parametrize(
    "type_name, raw",
    [
        ("imei", "1234567890123"),
        ("imei", "35209900176148123"),
        ("imei", "35209900176148X"),
        ("iccid", "898600123456789012"),
        ("iccid", "898600123456789012345"),
        ("imsi", "4600012345678"),
        ("imsi", "4600012345678901"),
        ("imsi", "4.60001E+14"),
    ],
)
def test_imei_iccid_imsi_invalid(type_name, raw):
    with pytest.raises(InvalidValue, match=type_name):
        TYPES[type_name].clean(raw)


# -- ip, domain ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4:8080 ", "1.2.3.4"),
        ("１．２．３．４", "1.2.3.4"),
        ("010.001.002.003", "10.1.2.3"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("fe80::1", "fe80::1"),
    ],
)
def test_ip(raw, expected):
    assert TYPES["ip"].clean(raw) == expected


@pytest.mark.parametrize("raw", ["1.2.3", "256.1.1.1", "example.com", "1.2.3.4/24", "gggg::1"])
def test_ip_invalid(raw):
    with pytest.raises(InvalidValue, match="ip"):
        TYPES["ip"].clean(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("https://Www.Example.com/a?b", "www.example.com"),
        ("www.example.com.", "www.example.com"),
        ("HTTP://user:pw@Example.COM:8443/login", "example.com"),
        ("example.com/path/to?x=1#frag", "example.com"),
        ("*.fake-bank.cn", "fake-bank.cn"),
        ("例子.中国", "xn--fsqu00a.xn--fiqs8s"),
        ("http://例子。中国/", "xn--fsqu00a.xn--fiqs8s"),
        ("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "www.example.com"),
        ("xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_domain(raw, expected):
    t = TYPES["domain"]
    assert t.clean(raw) == expected
    assert t.check(expected)


@pytest.mark.parametrize("raw", ["http://", "http://1.2.3.4/x", "a..b.com", "bad!name.com", "a" * 64 + ".com"])
def test_domain_invalid(raw):
    with pytest.raises(InvalidValue, match="domain"):
        TYPES["domain"].clean(raw)


@pytest.mark.parametrize("value", ["localhost", "-bad.com", "bad-.com", "_dmarc.example.com", "example.123"])
def test_domain_check_fails_but_value_kept(value):
    t = TYPES["domain"]
    assert t.clean(value) == value
    assert not t.check(value)


# -- integer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [("123", 123), ("1,234", 1234), (" 12.0 ", 12), (45, 45), (45.0, 45), ("-3", -3),
     ("00:02:03", 123), ("2:03", 123), ("1:00:00", 3600), ("2分3秒", 123), ("90秒", 90),
     ("1小时2分3秒", 3723), ("1时", 3600), ("5分钟", 300), ("2m3s", 123), ("１２３", 123)],
)
def test_integer(raw, expected):
    assert TYPES["integer"].clean(raw) == expected


@pytest.mark.parametrize("raw", ["12.5", "abc", "1:2:3:4", "3天", True])
def test_integer_invalid(raw):
    with pytest.raises(InvalidValue, match="integer"):
        TYPES["integer"].clean(raw)


# -- money -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1234.5", 1234.5),
        ("1,234.50", 1234.5),
        ("1,234,567.891", 1234567.89),
        ("１，２３４．５０", 1234.5),
        ("¥1,234.50", 1234.5),
        ("￥1,234.50", 1234.5),
        ("1234.50元", 1234.5),
        ("RMB 1,000", 1000.0),
        ("rmb1000", 1000.0),
        ("CNY 88.8", 88.8),
        ("100 CNY", 100.0),
        ("$12.5", 12.5),
        ("USD 12.50", 12.5),
        ("人民币500元", 500.0),
        ("500-", -500.0),
        ("(500.00)", -500.0),
        ("（５００．００）", -500.0),
        ("-500", -500.0),
        ("+500", 500.0),
        ("−500", -500.0),
        ("-¥500", -500.0),
        ("¥-500", -500.0),
        ("1.5万", 15000.0),
        ("1.5万元", 15000.0),
        ("2亿", 200000000.0),
        ("-0.00", 0.0),
        ("0.001", 0.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("'1,234.50", 1234.5),
        (" 1 234.50 ", 1234.5),
        ('="88.00"', 88.0),
        (1234.567, 1234.57),
        (500, 500.0),
        (np.int64(7), 7.0),
        ("元", None),
    ],
)
def test_money(raw, expected):
    assert TYPES["money"].clean(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "12元3角", "五百", "1,2a", "--5", "inf", True])
def test_money_invalid(raw):
    with pytest.raises(InvalidValue, match="money"):
        TYPES["money"].clean(raw)


def test_money_series_of_numbers_and_strings():
    s = pd.Series([1234.567, None, 3], dtype=object)
    values, errors, flags = TYPES["money"].clean_series(s)
    assert values.dtype == "float64"
    assert values.tolist()[0] == 1234.57 and np.isnan(values[1]) and values[2] == 3.0
    values, errors, _ = TYPES["money"].clean_series(pd.Series([1.005, np.nan, np.inf]))
    assert np.isnan(values[1]) and errors[1] is None
    assert np.isnan(values[2]) and "money" in errors[2]


def test_money_clean_series_on_200k_values():
    rng = np.random.default_rng(7)
    amounts = np.round(rng.uniform(-1e6, 1e6, 200_000), 2)
    forms = [f"{a:,.2f}" for a in amounts[:100_000]] + [f"￥{a:.2f}元" for a in amounts[100_000:]]
    s = pd.Series(forms, index=pd.RangeIndex(5, 200_005))
    values, errors, flags = TYPES["money"].clean_series(s)
    assert values.index.equals(s.index)
    assert errors.isna().all() and flags.isna().all()
    np.testing.assert_allclose(values.to_numpy(), amounts)


# -- time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2024-01-02 10:11:12", local(2024, 1, 2, 10, 11, 12)),
        ("2024/1/2 10:11", local(2024, 1, 2, 10, 11)),
        ("2024/01/02 10:11:12", local(2024, 1, 2, 10, 11, 12)),
        ("2024.01.02 10:11:12", local(2024, 1, 2, 10, 11, 12)),
        ("20240102101112", local(2024, 1, 2, 10, 11, 12)),
        ("20240102 101112", local(2024, 1, 2, 10, 11, 12)),
        ("20240102", local(2024, 1, 2)),
        ("2024-01-02T10:11:12", local(2024, 1, 2, 10, 11, 12)),
        ("2024-01-02T10:11:12+08:00", local(2024, 1, 2, 10, 11, 12)),
        ("2024-01-02T10:11:12Z", pd.Timestamp("2024-01-02 10:11:12", tz="UTC")),
        ("2024-01-02 10:11:12-05:00", pd.Timestamp("2024-01-02 15:11:12", tz="UTC")),
        ("2024年1月2日 10时11分12秒", local(2024, 1, 2, 10, 11, 12)),
        ("2024年01月02日 10:11:12", local(2024, 1, 2, 10, 11, 12)),
        ("2024年1月2日", local(2024, 1, 2)),
        ("2024年1月2日 10时11分", local(2024, 1, 2, 10, 11)),
        ("2024-01-02", local(2024, 1, 2)),
        ("２０２４－０１－０２　１０：１１：１２", local(2024, 1, 2, 10, 11, 12)),
        ("2024-01-02 10:11:12.345", local(2024, 1, 2, 10, 11, 12, 345000)),
        ("2024-01-02 10:11:12.123456789", local(2024, 1, 2, 10, 11, 12, 123456)),
        ("2024/1/2 下午 3:11:12", local(2024, 1, 2, 15, 11, 12)),
        ("2024/1/2 12:05 AM", local(2024, 1, 2, 0, 5)),
        ("45293", local(2024, 1, 2)),
        ("45293.4236", local(2024, 1, 2, 10, 9, 59)),
        (45293.5, local(2024, 1, 2, 12)),
        ("1704161472", pd.Timestamp("2024-01-02 02:11:12", tz="UTC")),
        ("1704161472123", pd.Timestamp("2024-01-02 02:11:12.123", tz="UTC")),
        (dt.datetime(2024, 1, 2, 10, 11, 12), local(2024, 1, 2, 10, 11, 12)),
        (dt.date(2024, 1, 2), local(2024, 1, 2)),
        (pd.Timestamp("2024-01-02 02:11:12", tz="UTC"), local(2024, 1, 2, 10, 11, 12)),
        ("0000-00-00 00:00:00", None),
        ("9999-12-31", local(9999, 12, 31)),
    ],
)
def test_time(raw, expected):
    got = TIME.clean(raw)
    assert got == expected
    if got is not None:
        assert str(got.tz) == "UTC"


@pytest.mark.parametrize(
    "raw", ["2024-02-30", "2024-13-01", "2024-01-02 25:00:00", "12345", "99999", "hello", "2024-01", "01/02/2024"]
)
def test_time_invalid(raw):
    with pytest.raises(InvalidValue, match="time"):
        TIME.clean(raw)


def test_time_zone_is_configurable():
    utc = TimeType(zone="UTC")
    assert utc.clean("2024-01-02 10:11:12") == pd.Timestamp("2024-01-02 10:11:12", tz="UTC")
    assert utc.clean("2024-01-02T10:11:12+08:00") == local(2024, 1, 2, 10, 11, 12)
    values, _, _ = TimeType(zone="Europe/Berlin").clean_series(pd.Series(["2024-07-01 12:00:00"]))
    assert values[0] == pd.Timestamp("2024-07-01 10:00:00", tz="UTC")
    with pytest.raises(ValueError, match="zone"):
        TimeType(zone="Mars/Olympus")


def test_time_series_of_datetimes():
    naive = pd.Series(pd.to_datetime(["2024-01-02 10:11:12", None]))
    values, errors, flags = TIME.clean_series(naive)
    assert str(values.dtype) == "datetime64[us, UTC]"
    assert values[0] == local(2024, 1, 2, 10, 11, 12) and pd.isna(values[1])
    mixed = pd.Series([dt.datetime(2024, 1, 2, 10, 11, 12), "2024/1/3 9:00", None], dtype=object)
    values, errors, _ = TIME.clean_series(mixed)
    assert values.tolist()[:2] == [local(2024, 1, 2, 10, 11, 12), local(2024, 1, 3, 9)]
    assert errors.isna().all()


@pytest.mark.parametrize(
    "dates, times, expected",
    [
        ("2024-01-02", "101112", local(2024, 1, 2, 10, 11, 12)),
        ("2024/1/2", "10:11:12", local(2024, 1, 2, 10, 11, 12)),
        ("20240102", "10.11.12", local(2024, 1, 2, 10, 11, 12)),
        ("2024年1月2日", "10时11分12秒", local(2024, 1, 2, 10, 11, 12)),
        ("2024-01-02", "91112", local(2024, 1, 2, 9, 11, 12)),
        ("2024-01-02", 91112, local(2024, 1, 2, 9, 11, 12)),
        ("2024-01-02", "1011", local(2024, 1, 2, 10, 11)),
        ("2024-01-02", 0.5, local(2024, 1, 2, 12)),
        ("2024-01-02", dt.time(10, 11, 12), local(2024, 1, 2, 10, 11, 12)),
        ("45293", "10:11:12", local(2024, 1, 2, 10, 11, 12)),
        ("2024-01-02", None, local(2024, 1, 2)),
    ],
)
def test_combine_date_time(dates, times, expected):
    values, errors, flags = combine_date_time(
        pd.Series([dates], dtype=object), pd.Series([times], dtype=object)
    )
    assert values[0] == expected
    assert errors[0] is None


def test_combine_date_time_errors():
    values, errors, _ = combine_date_time(
        pd.Series(["2024-01-02", "bad", None]), pd.Series(["25:00:00", "10:00:00", "10:00:00"])
    )
    assert values.isna().all()
    assert "time of day" in errors[0] and "time" in errors[1] and errors[2] is None


# -- vectorised == scalar -------------------------------------------------------

MIXED = {
    "money": [
        "1,234.50", "￥88", "(500.00)", "500-", "1.5万", "abc", None, "", "-", "−3", 12.345, 7,
        "RMB 1,000", "1,234.50", "１２", "元", "2e3", "1.2.3", "$-5", '="9"', "0.005",
        "(-5)", "5--", "--5", "(", "万", "1.5 万 元", "¥", "(1,234.50)", "1,234.50-", "①",
        "１，０００．００元", "''7", "1e400", "nan", " 3 ", "\u200b42",
    ],
    "time": [
        "2024-01-02 10:11:12", "2024/1/2 10:11", "2024.01.02 10:11:12", "20240102101112",
        "20240102 101112", "2024-01-02T10:11:12+08:00", "2024-01-02T10:11:12Z",
        "2024年1月2日 10时11分12秒", "2024年01月02日 10:11:12", "2024-01-02", "20240102",
        "2024-01-02 10:11:12.345", "45293.4236", "1704161472", "1704161472123", "0000-00-00",
        "2024/1/2 下午 3:11:12", "2024-02-30", "hello", "12345", None, "", "无",
        "２０２４－０１－０２", "2024-01-02 10:11:12.1234567", "2024-01-02 10:11:12",
        dt.datetime(2024, 5, 6, 7, 8, 9), 45293.5, "2024-1-2 1:2:3", "2024-01-02 24:00:00",
        "20240102250000", "20240102T101112", "2024 0102 1011 12", "2024010210111", "020240102101112",
        "+45293", "045293", "2e4", "17041614720", "2024-01-02 10:11:12+0800", "2024/1/2",
        "2024-01-02 10:11:12.", "2024-1-2T1:2:3", "2024-01-02 10:11:12 +08:00", "2023.02.29",
    ],
    "mobile": ["138 0000 0000", "+86 13800000000", "x", None, "10086", "138 0000 0000", 13900000000.0],
    "bank_card": [CARD, luhn_break(CARD), "6.22202E+18", None, CARD, "12345678"],
    "resident_id": [ID_SAMPLE, "110105491231002", ID_SAMPLE[:17] + "1", "abc", None],
    "integer": ["123", "00:02:03", "2分3秒", "x", None, 5, "1,234"],
    "domain": ["https://Www.Example.com/a", "例子.中国", "localhost", "http://", None],
    "ip": ["1.2.3.4:80", "::ffff:1.2.3.4", "bad", None],
    "name": [" 张 三", "张三", None, "--"],
}


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and np.isnan(a)) or a is pd.NaT or a is pd.NA:
        return b is None or pd.isna(b)
    return a == b


@pytest.mark.parametrize("type_name", sorted(MIXED))
def test_clean_series_agrees_with_clean(type_name):
    t = TYPES[type_name]
    raw = MIXED[type_name] * 4  # long enough for the fast path of time
    s = pd.Series(raw, dtype=object, index=[f"r{i}" for i in range(len(raw))])
    values, errors, flags = t.clean_series(s)
    assert values.index.equals(s.index) and errors.index.equals(s.index) and flags.index.equals(s.index)
    for i, cell in enumerate(raw):
        try:
            expected, error = t.clean(cell), None
        except InvalidValue as exc:
            expected, error = None, str(exc)
        assert _same(expected, values.iloc[i]), (cell, expected, values.iloc[i])
        assert errors.iloc[i] == error, (cell, error, errors.iloc[i])
        check_failed = expected is not None and not t.check(expected)
        assert flags.iloc[i] == ("check_failed" if check_failed else None), cell


def test_time_series_many_rows_and_formats():
    # three formats in bulk (the fast path) plus a few odd cells (the fallback)
    base = pd.date_range("2024-01-01", periods=3000, freq="37min")
    cells = (
        list(base[:1000].strftime("%Y-%m-%d %H:%M:%S"))
        + list(base[1000:2000].strftime("%Y/%m/%d %H:%M:%S"))
        + list(base[2000:].strftime("%Y%m%d%H%M%S"))
    )
    cells[5], cells[1500], cells[2500] = "2024年1月2日 10时11分12秒", "bad", None
    values, errors, _ = TIME.clean_series(pd.Series(cells))
    expected = pd.Series(base).dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
    keep = np.ones(3000, bool)
    keep[[5, 1500, 2500]] = False
    assert (values[keep] == expected[keep]).all()
    assert values[5] == local(2024, 1, 2, 10, 11, 12)
    assert pd.isna(values[1500]) and "time" in errors[1500]
    assert pd.isna(values[2500]) and errors[2500] is None
    assert errors.notna().sum() == 1


def test_clean_series_dtypes_and_plain_lists():
    assert TYPES["integer"].clean_series(["1", None])[0].dtype == "Int64"
    assert TYPES["mobile"].clean_series(["13800000000"])[0].dtype == object
    assert str(TIME.clean_series(["2024-01-02"])[0].dtype) == "datetime64[us, UTC]"
    assert TYPES["money"].clean_series(pd.Series([], dtype=object))[0].dtype == "float64"
    assert len(TIME.clean_series(pd.Series([], dtype=object))[0]) == 0


@pytest.mark.parametrize("cell", MIXED["time"], ids=repr)
def test_time_fast_path_agrees_with_clean_per_format(cell):
    # a column of one format is parsed by that format's fast path
    column = pd.Series([cell] * (TIME.fast_path_min + 10), dtype=object)
    values, errors, _ = TIME.clean_series(column)
    try:
        expected, error = TIME.clean(cell), None
    except InvalidValue as exc:
        expected, error = None, str(exc)
    assert all(_same(expected, v) for v in values), (cell, expected, values[0])
    assert (errors == error).all() if error else errors.isna().all()


# -- the vectorised fast paths of clean_series agree with clean ------------------

_FUZZ_PIECES = [
    "0", "1", "9", "00", "13800000000", "11010519491231002", "x", "X", "-", " ", "  ", ".", ":", "'", '="', '"',
    "6222020000000000", "622202100112345678", "255", "256", "010", "1.2.3.4", "::1", "a", "F", "f", "e", "E5",
    "nan", "NULL", "无", "张", "三", "·", "（", "）", "(", ")", "１", "\u3000", "\u00a0", "\u200b", "\t", "\n", "_",
    "@", "+86", "0086", "aa-bb-cc-dd-ee-ff", "AABBCCDDEEFF", "1e5", "㈠", "ﬁ", "é", "e\u0301", "\x1c", "\x85",
    "\u2028", "A", "z", "T", "中国", "/", "--", "+", ",", "ABCDEF012345",
]


def _fuzz_cells(seed: int, n: int) -> list:
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(n):
        k = int(rng.integers(1, 5))
        cells.append("".join(_FUZZ_PIECES[int(i)] for i in rng.integers(0, len(_FUZZ_PIECES), k)))
    # plain forms the fast paths take, valid and not
    cells += [CARD, luhn_break(CARD), CARD16, "6222 0200 0000 0000", "6222-0200-0000-0000", ID_SAMPLE,
              ID_SAMPLE.lower(), ID_OTHER, ID_SAMPLE[:17] + "1", "13800000000", "12000000000", "010.001.002.003",
              "1.2.3.256", "0.0.0.0", "255.255.255.255", "00.0.000.1", IMEI, ICCID, ICCID19, "8986 0012 3456 7890 123F",
              "460001234567890", "aa:bb:cc:dd:ee:ff", "aabbccddeeff", "9774d56d682e549c", "张三", "张 三", "A B",
              "ATM取现 2024", "T0000000001", "wx_pay0001", "6.22202E+18", "123e4", "-5", "007", "0"]
    return cells


@pytest.mark.parametrize("type_name", sorted(set(TYPES) - {"money", "time"}))
def test_clean_series_fast_paths_agree_with_clean_fuzzed(type_name):
    t = TYPES[type_name]
    cells = _fuzz_cells(len(type_name), 3000)
    for s in (pd.Series(cells, dtype="str"), pd.Series(cells + [None], dtype=object)):
        values, errors, flags = t.clean_series(s)
        for i, cell in enumerate(s.tolist()):
            try:
                expected, error = t.clean(cell), None
            except InvalidValue as exc:
                expected, error = None, str(exc)
            assert _same(expected, values.iloc[i]), (cell, expected, values.iloc[i])
            assert errors.iloc[i] == error, (cell, error, errors.iloc[i])
            check_failed = expected is not None and not t.check(expected)
            assert flags.iloc[i] == ("check_failed" if check_failed else None), cell
