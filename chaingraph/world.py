"""A synthetic chain world with ground truth: real-looking case files and the answers.

Investigators cannot share real case files, so chaingraph tests, benchmarks and
demonstrates itself on a generated world. :func:`generate` builds the whole chain
of DOMAIN.md from a seed — card farmers, dealers, corrupt outlets, technical
providers, fraud rings, cases with their money split over three levels to
settlement, crypto/OTC exit and ATM cash-out, a large background population and
traps that look suspicious but are not — and writes it as the files an
investigator would actually hold (bank statements in three layouts, GB18030 and
UTF-8 with BOM, CSV and XLSX, phone registrations, call records, payment logins,
case reports, a seized card-trade ledger, domain and hosting records), with
duplicates, malformed rows, full-width digits and spaced card numbers.

The same code makes a few thousand or ten million transfers. Statements are
written per bank in CSV files of at most a million rows, encoded 200,000 rows
at a time from integer-coded tables (memory grows with the transfers, not with
their text); workbooks stay small at any size (the bank workbook holds at most
``XLSX_ROWS`` rows, the case-report workbook the first ``XLSX_CASES`` cases,
the rest follow in a CSV), since reading XLSX is slow. 10 million transfers
take about 200 s of CPU and 3.6 GB.

Layout of ``OUT``::

    OUT/data/...              the case files (load this folder)
    OUT/truth.json            the ground truth (fields below)
    OUT/transfers.parquet     every transfer of the world, one row each

The same seed and size give the same bytes.

truth.json fields
-----------------
``format``, ``seed``, ``n_transfers``, ``timezone`` ("+08:00": the files hold
local times), ``period`` {start, end} (ISO, local), ``data_dir`` ("data").

``entities``
    node id (chaingraph's canonical ``kind:key``) -> ``{"role", "roles",
    "ring", "label"}`` for every suspicious entity and every victim. ``role`` is
    the main role, ``roles`` all of them, ``ring`` the ring id (``R01``...) the
    entity works for, or null for suppliers serving several rings (their rings
    are in ``dealers`` / ``providers``). Roles: card_farmer, farmed_card,
    card_dealer, corrupt_outlet, technical_provider, provider_ip, ring_member,
    ring_front, ring_im, ring_phone, ring_device, ring_ip, ring_domain, ring_app,
    ring_account, first_level, second_level, third_level, settlement, exit,
    cash_out (the mule account that withdraws), cash_point (where it withdrew),
    victim, victim_account, case.
``rings``
    ring id -> ``{"fraud_type", "members", "front", "im_accounts",
    "first_level", "second_level", "third_level", "cash_out", "phones",
    "devices", "ips", "domains", "apps", "dealers", "providers", "cases"}``.
``dealers``
    dealer node id -> ``{"farmers", "rings", "cards", "phones"}``.
``farmers``
    farmer person id -> ``{"im", "cards", "phones", "outlet", "device", "dealer"}``.
``providers``
    provider organisation id -> ``{"ips", "domains", "apps", "rings", "account"}``.
``settlement_platform``, ``exit_traders``: the downstream service accounts.
``cases``
    case node id -> ``{"ring", "victim", "victim_account", "fraud_type", "loss",
    "time", "paid_to", "phone", "site", "app", "reached": [{"node", "level",
    "role", "amount"}], "dealers", "farmers", "providers", "outlets"}``:
    ``reached`` lists every account (and cash point) the case's money reached,
    level 1 = first-level account, 2, 3, then 4 for settlement / exit / cash-out
    mule accounts and 5 for the cash point of an ATM withdrawal; ``amount`` is
    the money of this case that reached it (yuan). ``dealers``, ``farmers``,
    ``outlets`` are upstream of the cards and phones the case used;
    ``providers`` host its site or app.
``traps``
    list of ``{"node", "trap", "note"}``: entities that look suspicious but are
    not (trap types payroll_fan_out, shop_fan_in, shared_nat_ip,
    multi_bank_person, busy_outlet, shared_cloud_host).
``rejects``
    list of ``{"file", "row", "column", "problem"}``: the rows the loader must
    reject (``file`` relative to ``data_dir``; ``row`` is the row number the
    loader reports: the data row's line in the file, header = line 1, or the
    sheet row for XLSX).
``files``
    list of ``{"file", "source", "encoding", "rows"}`` for every file written
    (``rows`` = data rows including duplicates and malformed rows).
``transfers``
    ``{"file": "transfers.parquet", "count", "columns"}``: the transfer table.
    Columns: ``source``, ``target`` (node ids; an ATM withdrawal goes to
    ``cash_point:<account>``), ``amount`` (yuan), ``time`` (UTC, the payer's
    record), ``payee_time`` (UTC), ``kind`` (transfer | cash_out), ``label``
    (background, payroll, shop, atm, victim_payment, split_1_2, split_2_3,
    to_settlement, to_exit, to_mule, mule_atm, provider_payment, legit_person),
    ``case`` (case node id or ""), ``payer_txn``, ``payee_txn``,
    ``payer_exported``, ``payee_exported`` (a statement of that account was
    written), ``payer_rows``, ``payee_rows`` (statement rows written, counting
    duplicates), ``visible`` (at least one of its statement rows loads).
``chain_transfers``
    the criminal part of the transfer table (labels other than background,
    payroll, shop, atm, legit_person) as a list of records, for quick checks.

Examples
--------
>>> import tempfile
>>> w = generate(tempfile.mkdtemp(), seed=1, n_transfers=3000)
>>> sorted(w.truth["rings"])[:2]
['R01', 'R02']
"""

from __future__ import annotations

import json
import math
import random
import sys
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TZ = "+08:00"
FORMAT = 1
START = np.datetime64("2024-01-01T00:00:00", "s")
DAYS = 90

# code, name, BIN, length, statement layout, file encoding
BANKS = [
    ("ICBC", "中国工商银行", "622202", 19, "A", "gb18030"),
    ("BOC", "中国银行", "621661", 19, "A", "utf-8-sig"),
    ("ABC", "中国农业银行", "622848", 19, "B", "gb18030"),
    ("CCB", "中国建设银行", "621700", 19, "B", "gb18030"),
    ("CMB", "招商银行", "622588", 16, "C", "utf-8-sig"),
    ("PSBC", "中国邮政储蓄银行", "621799", 19, "C", "utf-8-sig"),
]
BANK_WEIGHTS = np.array([0.25, 0.12, 0.2, 0.2, 0.13, 0.10])
BANK_CODES = [b[0] for b in BANKS]
BANK_NAMES = [b[1] for b in BANKS]

LAYOUT_A = ["交易卡号", "交易户名", "交易证件号码", "交易时间", "交易金额", "交易余额", "收付标志", "对手账号",
            "对手户名", "对手开户行", "摘要", "交易流水号", "IP地址", "MAC地址", "商户号", "商户名称"]
LAYOUT_B = ["账号", "户名", "交易日期", "交易时刻", "借贷标志", "发生额", "余额", "对方账号", "对方户名", "摘要",
            "流水号", "商户编号", "商户名称"]
LAYOUT_C = ["account_no", "holder_name", "id_number", "transaction_time", "amount", "balance",
            "counterparty_account", "counterparty_name", "counterparty_bank", "memo", "transaction_id",
            "merchant_id", "merchant_name", "currency"]

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华飞玉萍红鹏斌宇浩凯健俊帆帅旭宁龙林欣雪琳晨阳佳怡思雨子涵梓轩博文嘉颖诗琪建国志强海燕晓东振华丹婷")
REGIONS = ["110101", "110105", "120101", "130102", "210102", "310104", "310115", "320102", "320506", "330106",
           "340104", "350203", "360102", "370102", "410105", "420106", "430104", "440106", "440305", "441900",
           "450103", "500103", "510107", "520102", "530102", "610113", "620102", "360502", "431102", "452501"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "武汉", "成都", "长沙", "南宁", "昆明", "贵阳", "福州", "合肥", "郑州"]
MOBILE_PREFIXES = [134, 135, 136, 137, 138, 139, 150, 151, 152, 157, 158, 159, 182, 183, 187, 188, 130, 131, 132,
                   155, 156, 185, 186, 133, 153, 180, 181, 189, 177, 199]
CARRIERS = {"移动": "46000", "联通": "46001", "电信": "46011"}
FRAUD_TYPES = ["刷单返利", "虚假投资理财", "冒充电商物流客服", "冒充公检法", "虚假网络贷款", "网络交友诱导投资"]
TLDS = ["com", "top", "xyz", "vip", "cc", "net", "shop"]
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = np.array(list("10X98765432"))
ID_CHECK_CODES = np.array([ord(c) for c in "10X98765432"], dtype=np.uint8)
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
LAYOUT_COLUMNS = {"A": LAYOUT_A, "B": LAYOUT_B, "C": LAYOUT_C}
LAYOUT_CP = {"A": LAYOUT_A.index("对手账号"), "B": LAYOUT_B.index("对方账号"), "C": LAYOUT_C.index("counterparty_account")}
LAYOUT_AMOUNT_TIME = {"A": ("交易金额", "交易时间"), "B": ("发生额", "交易日期"), "C": ("amount", "transaction_time")}
TKINDS = ("bank", "merchant", "cash")
# transfer labels; the innocent ones first (chain_transfers are those from victim_payment on)
LABELS = ("background", "payroll", "shop", "atm", "legit_person", "victim_payment", "split_1_2", "split_2_3",
          "to_settlement", "to_exit", "to_mule", "mule_atm", "provider_payment")
BG_MEMOS = ("转账", "网银转账", "手机银行转账", "跨行转账", "还款", "红包", "ATM取现")
TXN_PREFIX = pa.array(BANK_CODES)
CHUNK = 200_000  # CSV rows encoded at a time
XLSX_CASES = 2000  # case reports in the workbook; more go to a CSV
XLSX_ROWS = 4000  # statement rows in the bank workbook, at any scale


@dataclass
class World:
    """A generated world: where its files are and its ground truth.

    Attributes
    ----------
    out_dir : Path
    data_dir : Path      the case files; load this folder
    truth : dict         the content of ``truth.json`` (JSON-serialisable)
    truth_path, transfers_path : Path
    timings : dict       seconds per generation step
    """

    out_dir: Path
    data_dir: Path
    truth: dict
    truth_path: Path
    transfers_path: Path
    timings: dict = field(default_factory=dict)

    def transfers(self) -> pd.DataFrame:
        """The transfer table (see the module docs for its columns)."""
        return pd.read_parquet(self.transfers_path)


# ---------------------------------------------------------------------------
# identifiers, vectorised

def _digits_str(d: np.ndarray) -> np.ndarray:
    """(n, k) digit array -> array of k-character strings."""
    if d.shape[0] == 0:
        return np.array([], dtype=f"<U{d.shape[1]}")
    b = (d.astype(np.uint8) + 48).tobytes()
    return np.frombuffer(b, dtype=f"S{d.shape[1]}").astype(f"U{d.shape[1]}")


def _luhn_check(body: np.ndarray) -> np.ndarray:
    """Luhn check digit for each row of a digit array (the number without its check digit)."""
    n = body.shape[1]
    # from the right, positions 1, 3, 5, ... (counting the check digit as 0) are doubled
    dbl = ((n - 1 - np.arange(n)) % 2) == 0
    d = body.astype(np.int64)
    d2 = np.where(dbl, d * 2, d)
    d2 = np.where(d2 > 9, d2 - 9, d2)
    return (10 - d2.sum(axis=1) % 10) % 10


def luhn_ok(number: str) -> bool:
    """True when ``number`` (digits) passes the Luhn check.

    >>> luhn_ok("6222020000000000005")
    False
    >>> luhn_ok("4539578763621486")
    True
    """
    d = [int(c) for c in number][::-1]
    s = sum(d[0::2]) + sum(sum(divmod(2 * x, 10)) for x in d[1::2])
    return s % 10 == 0


def resident_id_ok(rid: str) -> bool:
    """True when an 18-character resident ID has the right ISO 7064 MOD 11-2 check character.

    >>> resident_id_ok("11010519491231002X")
    True
    """
    if len(rid) != 18 or not rid[:17].isdigit():
        return False
    s = sum(int(c) * w for c, w in zip(rid[:17], ID_WEIGHTS))
    return ID_CHECK[s % 11] == rid[17].upper()


def _unique(gen, n, rng, taken=None):
    """Draw ``n`` distinct strings from ``gen(rng, k)``, avoiding ``taken`` (first drawn first kept)."""
    taken = set() if taken is None else taken
    parts, have = [], 0
    while have < n:
        k = n - have
        cand = pd.unique(gen(rng, int(k * 1.05) + 8).astype(object))  # hashing, in order of first draw
        if taken:
            cand = cand[np.fromiter((c not in taken for c in cand), dtype=bool, count=len(cand))]
        cand = cand[:k]
        taken.update(cand.tolist())
        parts.append(cand)
        have += len(cand)
    return np.concatenate(parts) if parts else np.array([], dtype=object)


def _card_numbers(rng, banks: np.ndarray, taken: set) -> np.ndarray:
    """Luhn-valid card numbers for bank indexes ``banks``."""
    out = np.empty(len(banks), dtype=object)
    for b in np.unique(banks):
        idx = np.flatnonzero(banks == b)
        _, _, bin_, length, _, _ = BANKS[b]

        def gen(rng, k, bin_=bin_, length=length):
            d = rng.integers(0, 10, size=(k, length), dtype=np.int8)
            d[:, :6] = np.array([int(c) for c in bin_])
            d[:, -1] = _luhn_check(d[:, :-1])
            return _digits_str(d)

        out[idx] = _unique(gen, len(idx), rng, taken)
    return out


def _resident_ids(rng, n, taken: set, birth_lo=1960, birth_hi=2003, male=None) -> np.ndarray:
    regions = np.array([[int(c) for c in r] for r in REGIONS], dtype=np.int8)

    def gen(rng, k):
        d = np.zeros((k, 18), dtype=np.int8)
        d[:, :6] = regions[rng.integers(0, len(REGIONS), k)]
        birth = np.datetime64(f"{birth_lo}-01-01") + rng.integers(0, (birth_hi - birth_lo) * 365, k).astype("timedelta64[D]")
        ymd = (birth.astype("datetime64[Y]").astype(np.int64) + 1970) * 10000 \
            + ((birth.astype("datetime64[M]") - birth.astype("datetime64[Y]")).astype(np.int64) + 1) * 100 \
            + (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
        seq = rng.integers(0, 1000, k)
        for j in range(8):
            d[:, 6 + j] = ymd // 10 ** (7 - j) % 10
        for j in range(3):
            d[:, 14 + j] = seq // 10 ** (2 - j) % 10
        c = d.astype(np.uint8) + 48
        c[:, 17] = ID_CHECK_CODES[(d[:, :17].astype(np.int64) * ID_WEIGHTS).sum(axis=1) % 11]
        return np.frombuffer(c.tobytes(), dtype="S18").astype("U18")

    return _unique(gen, n, rng, taken)


def _mobiles(rng, n, taken: set) -> np.ndarray:
    def gen(rng, k):
        num = np.array(MOBILE_PREFIXES, dtype=np.int64)[rng.integers(0, len(MOBILE_PREFIXES), k)] * 10**8 \
            + rng.integers(0, 10**8, k)
        return num.astype("U11")

    return _unique(gen, n, rng, taken)


def _luhn_numbers(rng, n, prefix: str, length: int, taken: set) -> np.ndarray:
    """IMEIs (15 digits) and ICCIDs (20 digits), Luhn-valid."""
    def gen(rng, k):
        body = rng.integers(0, 10, size=(k, length - 1), dtype=np.int8)
        body[:, :len(prefix)] = np.array([int(c) for c in prefix])
        return np.char.add(_digits_str(body), _luhn_check(body).astype("U1"))

    return _unique(gen, n, rng, taken)


def _names(rng, n) -> np.ndarray:
    s = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    g1 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    g2 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    two = rng.random(n) < 0.6
    return np.where(two, np.char.add(np.char.add(s, g1), g2), np.char.add(s, g1)).astype(object)


def _ips(rng, n, taken: set) -> np.ndarray:
    def gen(rng, k):
        a = np.array([36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 119, 120,
                      121, 122, 123, 124, 125, 171, 175, 180, 182, 183, 218, 219, 220, 221, 222])[rng.integers(0, 34, k)]
        rest = rng.integers(1, 255, size=(k, 3))
        return np.array([f"{x}.{r[0]}.{r[1]}.{r[2]}" for x, r in zip(a, rest)], dtype=object)

    return _unique(gen, n, rng, taken)


def _macs(rng, n, taken: set) -> np.ndarray:
    def gen(rng, k):
        b = rng.integers(0, 256, size=(k, 6))
        b[:, 0] = b[:, 0] & 0xFC  # unicast, globally administered
        return np.array([":".join(f"{x:02X}" for x in r) for r in b], dtype=object)

    return _unique(gen, n, rng, taken)


def _handles(rng, n, taken: set, prefix="") -> np.ndarray:
    syl = ["ka", "shang", "long", "feng", "xiao", "hu", "jin", "bao", "tian", "yun", "ming", "hai", "wang",
           "ge", "jie", "shou", "ka888", "vip", "pay", "qian", "fa", "da", "ye", "lao", "a"]

    def gen(rng, k):
        a = np.array(syl)[rng.integers(0, len(syl), k)]
        b = np.array(syl)[rng.integers(0, len(syl), k)]
        num = rng.integers(10, 9999, k).astype(str)
        return np.char.add(np.char.add(np.char.add(prefix, a), b), num).astype(object)

    return _unique(gen, n, rng, taken)


def _domains(rng, n, taken: set) -> np.ndarray:
    letters = np.array(list("abcdefghijkmnpqrstuvwxyz"))

    def gen(rng, k):
        ln = rng.integers(5, 10, k)
        body = ["".join(letters[rng.integers(0, len(letters), m)]) for m in ln]
        num = rng.integers(0, 100, k)
        tld = np.array(TLDS)[rng.integers(0, len(TLDS), k)]
        return np.array([f"{b}{x if x < 60 else ''}.{t}" for b, x, t in zip(body, num, tld)], dtype=object)

    return _unique(gen, n, rng, taken)


def _fmt_local(t: np.ndarray) -> np.ndarray:
    """datetime64[s] (local) -> 'YYYY-MM-DD HH:MM:SS'."""
    return np.char.replace(np.datetime_as_string(t.astype("datetime64[s]"), unit="s"), "T", " ")


def _iso_local(t) -> str:
    return str(np.datetime64(t, "s")) + TZ


def _utc(t: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(t.astype("datetime64[s]")).tz_localize(TZ_NAME).tz_convert("UTC"))


TZ_NAME = "Asia/Shanghai"


# ---------------------------------------------------------------------------
# the generator

class _Gen:
    def __init__(self, out_dir, seed, n_transfers, n_rings, n_cases, progress):
        self.rng = np.random.default_rng(seed)
        self.seed, self.n_transfers = seed, int(n_transfers)
        self.out = Path(out_dir)
        self.data = self.out / "data"
        self.progress = progress or (lambda msg: None)
        n = self.n_transfers
        self.n_rings = n_rings or int(min(60, max(4, round(n / 250_000) + 3)))
        self.n_cases = n_cases or int(max(12, min(20_000, n // 400)))
        self.taken = {k: set() for k in ("card", "id", "mobile", "ip", "mac", "imei", "iccid", "handle", "domain")}
        # accounts: column lists (bank accounts only)
        self.acc = {k: [] for k in ("number", "bank", "holder_name", "holder_id", "phone", "opened", "branch",
                                    "open_ip", "open_device", "role", "ring", "export", "ops_ip", "ops_mac", "card_type")}
        self.entities: dict[str, dict] = {}
        self.tr = {k: [] for k in ("source", "target", "tkind", "amount", "time", "label", "case", "memo", "merchant")}
        self.files = []
        self.rejects = []
        self.traps = []
        self.phone_reg = []   # rows for the registration file
        self.pay_logins = []  # rows for payment logins
        self.calls = []
        self.ledger = []
        self.hosting = []
        self.case_rows = []
        self.merchants = {}   # merchant id -> name
        self.timings = {}

    # -- helpers ---------------------------------------------------------
    def role(self, nid, role, ring=None, label=None):
        e = self.entities.get(nid)
        if e is None:
            e = self.entities[nid] = {"role": role, "roles": [role], "ring": ring, "label": label}
        else:
            if role not in e["roles"]:
                e["roles"].append(role)
            if ring and not e["ring"]:
                e["ring"] = ring
            if label and not e["label"]:
                e["label"] = label
        return nid

    def add_accounts(self, numbers, banks, names, ids, phones=None, opened=None, branch=None, role="background",
                     ring="", export=None, open_ip=None, open_device=None, card_type="借记卡"):
        n = len(numbers)

        def col(v, default):
            if v is None:
                return [default] * n
            if isinstance(v, (str, bool, int, float, np.datetime64, np.generic)):
                return [v] * n
            return list(v)
        a = self.acc
        start = len(a["number"])
        a["number"] += list(numbers)
        a["bank"] += [int(b) for b in banks]
        a["holder_name"] += col(names, "")
        a["holder_id"] += col(ids, "")
        a["phone"] += col(phones, "")
        a["opened"] += col(opened, None)
        a["branch"] += col(branch, "")
        a["open_ip"] += col(open_ip, "")
        a["open_device"] += col(open_device, "")
        a["role"] += col(role, "background")
        a["ring"] += col(ring, "")
        a["export"] += col(export, False)
        a["ops_ip"] += [""] * n
        a["ops_mac"] += [""] * n
        a["card_type"] += col(card_type, "借记卡")
        return np.arange(start, start + n)

    def transfer(self, src, dst, tkind, amount_cents, t, label, case="", memo="转账", merchant=""):
        tr = self.tr
        tr["source"].append(src)
        tr["target"].append(dst)
        tr["tkind"].append(tkind)
        tr["amount"].append(int(amount_cents))
        tr["time"].append(int(np.datetime64(t, "s").astype(np.int64)))
        tr["label"].append(label)
        tr["case"].append(case)
        tr["memo"].append(memo)
        tr["merchant"].append(merchant)

    def branch_name(self, bank_idx, rng):
        city = CITIES[int(rng.integers(0, len(CITIES)))]
        return f"{BANK_NAMES[bank_idx]}{city}{['城东', '城西', '高新', '开发区', '中山路', '人民路', '解放路', '火车站'][int(rng.integers(0, 8))]}支行"

    # -- population ------------------------------------------------------
    def background(self):
        rng = self.rng
        n = self.n_transfers
        n_acc = int(max(1500, n // 8))
        self.n_bg_export = int(max(60, n // 120))
        ids = _resident_ids(rng, n_acc, self.taken["id"])
        names = _names(rng, n_acc)
        phones = _mobiles(rng, n_acc, self.taken["mobile"])
        banks = rng.choice(len(BANKS), n_acc, p=BANK_WEIGHTS)
        nums = _card_numbers(rng, banks, self.taken["card"])
        opened = START - rng.integers(30, 3650, n_acc).astype("timedelta64[D]")
        export = np.zeros(n_acc, dtype=bool)
        export[rng.choice(n_acc, self.n_bg_export, replace=False)] = True
        self.bg = self.add_accounts(nums, banks, names, ids, phones, opened, role="background", export=export)
        self.bg_person = {"id": ids, "name": names, "phone": phones}

    def upstream_and_rings(self):
        rng = self.rng
        R = self.n_rings
        # technical providers
        n_prov = max(2, R // 2)
        prov_names = [f"{CITIES[i % len(CITIES)]}{['云启', '速联', '天擎', '星河', '飞鸟', '极光', '凌云', '北斗'][i % 8]}网络科技有限公司" + ("" if i < 8 else str(i)) for i in range(n_prov)]
        prov_ips = [_ips(rng, int(rng.integers(2, 5)), self.taken["ip"]) for _ in range(n_prov)]
        prov_banks = rng.choice(len(BANKS), n_prov, p=BANK_WEIGHTS)
        prov_acc = self.add_accounts(_card_numbers(rng, prov_banks, self.taken["card"]), prov_banks, prov_names, None,
                                     opened=START - np.timedelta64(400, "D"), role="technical_provider",
                                     export=rng.random(n_prov) < 0.6, card_type="对公账户")
        self.providers = []
        for i in range(n_prov):
            org = self.role(f"organisation:{prov_names[i]}", "technical_provider", label=prov_names[i])
            for ip in prov_ips[i]:
                self.role(f"ip:{ip}", "provider_ip")
            self.role(f"bank_account:{self.acc['number'][prov_acc[i]]}", "technical_provider", label=prov_names[i])
            self.providers.append({"org": org, "name": prov_names[i], "ips": list(prov_ips[i]), "acc": int(prov_acc[i]),
                                   "domains": [], "apps": [], "rings": []})
        # corrupt telecom outlets
        n_corrupt = max(2, R // 3 + 1)
        carriers = list(CARRIERS)
        self.corrupt = []
        for i in range(n_corrupt):
            c = carriers[i % 3]
            name = f"{CITIES[(i * 5 + 3) % len(CITIES)]}{['城中村', '工业园', '长途汽车站', '大学城', '步行街'][i % 5]}{c}{['通讯', '手机', '卡号'][i % 3]}代理点{i + 1}"
            self.corrupt.append((name, c))
            self.role(f"outlet:{name}", "corrupt_outlet", label=name)
        # dealers
        n_dealers = max(3, R // 2 + 1)
        dealer_handles = _handles(rng, n_dealers, self.taken["handle"], prefix="kashang_")
        self.dealers = [{"im": h, "farmers": [], "rings": [], "cards": [], "phones": []} for h in dealer_handles]
        for h in dealer_handles:
            self.role(f"im_account:{h}", "card_dealer", label=h)
        # rings and their needs
        self.rings = []
        for r in range(R):
            rid = f"R{r + 1:02d}"
            need = {"first_level": int(rng.integers(4, 8)), "second_level": int(rng.integers(4, 8)),
                    "third_level": int(rng.integers(3, 6)), "cash_out": int(rng.integers(2, 4))}
            dealers = [r % n_dealers]
            if rng.random() < 0.6 or r == 0:
                dealers.append((r + 1 + int(rng.integers(0, n_dealers - 1))) % n_dealers)
            dealers = sorted(set(dealers))
            self.rings.append({"id": rid, "fraud_type": FRAUD_TYPES[r % len(FRAUD_TYPES)], "need": need,
                               "dealers": dealers, "providers": sorted({r % n_prov, int(rng.integers(0, n_prov))}),
                               "cases": []})
        # make sure some dealer serves two rings (a card in two rings' cases points to it)
        if all(len(x["dealers"]) == 1 for x in self.rings):
            self.rings[0]["dealers"].append(1 % n_dealers)
        # stock each dealer needs
        stock_need = np.zeros(n_dealers, dtype=int)
        sim_need = np.zeros(n_dealers, dtype=int)
        for ring in self.rings:
            ncards = sum(ring["need"].values()) + 2  # 2 spare cards: bound to the ring's payment accounts
            ring["n_phones"] = int(rng.integers(3, 6))
            share = np.array_split(np.arange(ncards), len(ring["dealers"]))
            pshare = np.array_split(np.arange(ring["n_phones"]), len(ring["dealers"]))
            ring["alloc"] = []
            for d, s, p in zip(ring["dealers"], share, pshare):
                stock_need[d] += len(s)
                sim_need[d] += len(p)
                ring["alloc"].append((d, len(s), len(p)))
        # farmers per dealer: each opens 3-6 cards at distinct banks and 2-3 SIMs, in a burst
        self.farmers = []
        for d in range(n_dealers):
            cards, sims = [], []
            while len(cards) < stock_need[d] + 1 or len(sims) < sim_need[d] + 1:
                cards_f, sims_f = self.one_farmer(d)
                cards += cards_f
                sims += sims_f
            order = rng.permutation(len(cards))
            self.dealers[d]["stock"] = [cards[i] for i in order]
            self.dealers[d]["sim_stock"] = [sims[i] for i in rng.permutation(len(sims))]
        # dealers sell to rings
        for ring in self.rings:
            rid = ring["id"]
            n_mem = int(rng.integers(3, 7))
            ids = _resident_ids(rng, n_mem, self.taken["id"], 1975, 2002)
            names = _names(rng, n_mem)
            ring["members"] = [self.role(f"person:{x}", "ring_member", rid, n) for x, n in zip(ids, names)]
            ring["member_rows"] = list(zip(ids, names))
            ims = _handles(rng, int(rng.integers(1, 3)), self.taken["handle"], prefix="")
            ring["im_accounts"] = [self.role(f"im_account:{h}", "ring_im", rid, h) for h in ims]
            front = f"{CITIES[int(rng.integers(0, len(CITIES)))]}{['鼎盛', '汇通', '聚财', '宏图', '瑞丰', '金诚'][int(rng.integers(0, 6))]}信息咨询工作室{rid}"
            ring["front"] = self.role(f"organisation:{front}", "ring_front", rid, front)
            ring["front_name"] = front
            ring["cards"], ring["phone_list"] = [], []
            t_buy = START - np.timedelta64(int(rng.integers(3, 12)), "D")
            for d, nc, nphone in ring["alloc"]:
                dealer = self.dealers[d]
                if rid not in dealer["rings"]:
                    dealer["rings"].append(rid)
                for _ in range(nc):
                    acc = dealer["stock"].pop()
                    ring["cards"].append((acc, d))
                    t = t_buy + np.timedelta64(int(rng.integers(0, 86400 * 2)), "s")
                    self.ledger.append({"seller": dealer["im"], "buyer": str(rng.choice(ims)), "card": self.acc["number"][acc],
                                        "phone": "", "price": int(rng.integers(15, 40)) * 100, "time": t, "item": "银行卡四件套", "dealer": d})
                for _ in range(nphone):
                    ph, outlet = dealer["sim_stock"].pop()
                    ring["phone_list"].append((ph, d, outlet))
                    t = t_buy + np.timedelta64(int(rng.integers(0, 86400 * 2)), "s")
                    self.ledger.append({"seller": dealer["im"], "buyer": str(rng.choice(ims)), "card": "", "phone": ph,
                                        "price": int(rng.integers(2, 8)) * 100, "time": t, "item": "实名手机卡", "dealer": d})
            # assign levels
            cards = [c for c, _ in ring["cards"]]
            k = 0
            for lvl in ("first_level", "second_level", "third_level", "cash_out"):
                ring[lvl] = cards[k:k + ring["need"][lvl]]
                k += ring["need"][lvl]
            ring["spare"] = cards[k:]
            export_p = {"first_level": 1.0, "second_level": 0.85, "third_level": 0.5, "cash_out": 0.8}
            ring["devices"] = list(_macs(rng, int(rng.integers(2, 4)), self.taken["mac"]))
            ring["ips"] = list(_ips(rng, int(rng.integers(1, 3)), self.taken["ip"]))
            ring["simbox"] = list(_luhn_numbers(rng, int(rng.integers(1, 3)), "86" + str(int(rng.integers(10, 99))), 15, self.taken["imei"]))
            for lvl in ("first_level", "second_level", "third_level", "cash_out"):
                for acc in ring[lvl]:
                    self.acc["role"][acc] = lvl
                    self.acc["ring"][acc] = rid
                    self.acc["export"][acc] = bool(rng.random() < export_p[lvl]) or lvl == "first_level"
                    self.acc["ops_ip"][acc] = str(rng.choice(ring["ips"]))
                    self.acc["ops_mac"][acc] = str(rng.choice(ring["devices"]))
                    self.role(f"bank_account:{self.acc['number'][acc]}", lvl, rid)
            for acc in ring["spare"]:
                self.acc["ring"][acc] = rid
                self.acc["role"][acc] = "ring_account"
                self.role(f"bank_account:{self.acc['number'][acc]}", "ring_account", rid)
            for x in ring["devices"]:
                self.role(f"device:{x}", "ring_device", rid)
            for x in ring["simbox"]:
                self.role(f"device:{x}", "ring_device", rid)
            for x in ring["ips"]:
                self.role(f"ip:{x}", "ring_ip", rid)
            ring["phones"] = [self.role(f"phone:{p}", "ring_phone", rid) for p, _, _ in ring["phone_list"]]
            # sites, apps, hosting
            doms = _domains(rng, int(rng.integers(2, 4)), self.taken["domain"])
            ring["domains"], ring["apps"] = [], []
            for j, dom in enumerate(doms):
                p = self.providers[ring["providers"][j % len(ring["providers"])]]
                ip = str(rng.choice(p["ips"]))
                ring["domains"].append(self.role(f"domain:{dom}", "ring_domain", rid))
                p["domains"].append(f"domain:{dom}")
                if rid not in p["rings"]:
                    p["rings"].append(rid)
                self.hosting.append({"domain": dom, "ip": ip, "provider": p["name"], "registrant": front,
                                     "registrar": ["NameSilo", "GoDaddy", "阿里云（万网）", "Gname"][int(rng.integers(0, 4))],
                                     "created": START - np.timedelta64(int(rng.integers(20, 120)), "D"),
                                     "app": "", "app_name": "", "developer": "", "first_seen": START + np.timedelta64(int(rng.integers(1, 60)), "D")})
            if rng.random() < 0.7:
                pkg = f"com.{['licai', 'shuadan', 'kefu', 'jinrong', 'jiaoyou', 'daikuan'][int(rng.integers(0, 6))]}.{str(doms[0]).split('.')[0]}"
                p = self.providers[ring["providers"][-1]]
                app_name = ["财富通", "聚宝盆", "优选返利", "安心贷", "缘分", "金牛投资"][int(rng.integers(0, 6))] + rid[-2:]
                ring["apps"].append(self.role(f"app:{pkg}", "ring_app", rid, app_name))
                p["apps"].append(f"app:{pkg}")
                self.hosting.append({"domain": str(doms[0]), "ip": "", "provider": "", "registrant": "", "registrar": "",
                                     "created": None, "app": pkg, "app_name": app_name, "developer": p["name"],
                                     "first_seen": START + np.timedelta64(int(rng.integers(1, 60)), "D")})

    def one_farmer(self, d):
        """A card farmer who sells to dealer ``d``: returns (card account indexes, [(phone, outlet)])."""
        rng = self.rng
        pid = _resident_ids(rng, 1, self.taken["id"], 1985, 2004)[0]
        name = _names(rng, 1)[0]
        im = _handles(rng, 1, self.taken["handle"], prefix="")[0]
        device = _macs(rng, 1, self.taken["mac"])[0]
        ip = _ips(rng, 1, self.taken["ip"])[0]
        outlet, carrier = self.corrupt[int(rng.integers(0, len(self.corrupt)))]
        t0 = START - np.timedelta64(int(rng.integers(15, 60)), "D") + np.timedelta64(int(rng.integers(9 * 3600, 17 * 3600)), "s")
        n_sims = int(rng.integers(2, 4))
        sims = _mobiles(rng, n_sims, self.taken["mobile"])
        iccids = _luhn_numbers(rng, n_sims, "898600", 20, self.taken["iccid"])
        for j, (ph, ic) in enumerate(zip(sims, iccids)):
            t = t0 + np.timedelta64(j * int(rng.integers(60, 900)), "s")
            self.phone_reg.append({"msisdn": ph, "iccid": ic, "imsi": CARRIERS[carrier] + f"{int(rng.integers(0, 10**10)):010d}",
                                   "name": name, "id": pid, "time": t, "outlet": outlet, "carrier": carrier})
        n_cards = int(rng.integers(3, 7))
        banks = rng.choice(len(BANKS), n_cards, replace=False)
        opened = t0 + (np.sort(rng.integers(0, 3 * 86400, n_cards))).astype("timedelta64[s]")
        nums = _card_numbers(rng, banks, self.taken["card"])
        branches = [self.branch_name(b, rng) for b in banks]
        accs = self.add_accounts(nums, banks, [name] * n_cards, [pid] * n_cards, [sims[0]] * n_cards, opened, branches,
                                 role="farmed_card", open_ip=[ip] * n_cards, open_device=[device] * n_cards)
        dealer = self.dealers[d]
        fid = self.role(f"person:{pid}", "card_farmer", label=name)
        self.role(f"im_account:{im}", "card_farmer", label=name)
        self.role(f"device:{device}", "card_farmer")
        for a in accs:
            self.role(f"bank_account:{self.acc['number'][a]}", "farmed_card")
            t = opened[-1] + np.timedelta64(int(rng.integers(3600, 5 * 86400)), "s")
            self.ledger.append({"seller": im, "buyer": dealer["im"], "card": self.acc["number"][a], "phone": "",
                                "price": int(rng.integers(8, 20)) * 100, "time": t, "item": "银行卡四件套", "dealer": d})
        for ph in sims:
            self.role(f"phone:{ph}", "farmed_sim")
            t = opened[-1] + np.timedelta64(int(rng.integers(3600, 5 * 86400)), "s")
            self.ledger.append({"seller": im, "buyer": dealer["im"], "card": "", "phone": ph,
                                "price": int(rng.integers(1, 4)) * 100, "time": t, "item": "实名手机卡", "dealer": d})
        self.farmers.append({"person": fid, "im": f"im_account:{im}", "device": f"device:{device}", "outlet": f"outlet:{outlet}",
                             "cards": [f"bank_account:{self.acc['number'][a]}" for a in accs],
                             "phones": [f"phone:{p}" for p in sims], "dealer": f"im_account:{dealer['im']}"})
        dealer["farmers"].append(fid)
        dealer["cards"] += [f"bank_account:{self.acc['number'][a]}" for a in accs]
        dealer["phones"] += [f"phone:{p}" for p in sims]
        self.card_farmer = getattr(self, "card_farmer", {})
        for a in accs:
            self.card_farmer[int(a)] = (len(self.farmers) - 1, d)
        self.phone_farmer = getattr(self, "phone_farmer", {})
        for p in sims:
            self.phone_farmer[p] = (len(self.farmers) - 1, d)
        return list(accs), [(p, outlet) for p in sims]

    def downstream_services(self):
        rng = self.rng
        # score-running settlement platform: merchant accounts on a fourth-party aggregator
        n_m = max(3, self.n_rings)
        self.settlement = []
        ids = _resident_ids(rng, n_m, self.taken["id"], 1980, 2003)
        names = _names(rng, n_m)
        plat_ips = _ips(rng, 2, self.taken["ip"])
        plat_dev = _macs(rng, 2, self.taken["mac"])
        phones = _mobiles(rng, n_m, self.taken["mobile"])
        for i in range(n_m):
            mid = f"8{int(rng.integers(10**13, 10**14 - 1))}"
            mname = f"{names[i]}{['百货', '商贸', '电子产品', '服饰', '便利'][i % 5]}经营部"
            self.merchants[mid] = mname
            nid = self.role(f"payment_account:{mid}", "settlement", label=mname)
            self.settlement.append(mid)
            for k in range(int(rng.integers(2, 5))):
                self.pay_logins.append({"account": mid, "platform": "汇聚宝聚合支付", "name": names[i], "id": ids[i],
                                        "phone": phones[i], "card": "", "ip": str(plat_ips[k % 2]), "device": str(plat_dev[k % 2]),
                                        "time": START + np.timedelta64(int(rng.integers(0, DAYS * 86400)), "s"), "merchant": mname})
        for x in plat_ips:
            self.role(f"ip:{x}", "settlement")
        # crypto / OTC traders' bank accounts (USDT exit)
        n_x = max(2, self.n_rings // 2)
        banks = rng.choice(len(BANKS), n_x, p=BANK_WEIGHTS)
        xnames = _names(rng, n_x)
        xids = _resident_ids(rng, n_x, self.taken["id"], 1980, 2000)
        self.exit = self.add_accounts(_card_numbers(rng, banks, self.taken["card"]), banks, xnames, xids,
                                      opened=START - np.timedelta64(800, "D"), role="exit", export=rng.random(n_x) < 0.5)
        for a in self.exit:
            self.role(f"bank_account:{self.acc['number'][a]}", "exit", label="USDT承兑商")

    def cases(self):
        rng = self.rng
        nc = self.n_cases
        ids = _resident_ids(rng, nc, self.taken["id"], 1950, 2004)
        names = _names(rng, nc)
        phones = _mobiles(rng, nc, self.taken["mobile"])
        banks = rng.choice(len(BANKS), nc, p=BANK_WEIGHTS)
        vacc = self.add_accounts(_card_numbers(rng, banks, self.taken["card"]), banks, names, ids, phones,
                                 START - rng.integers(200, 5000, nc).astype("timedelta64[D]"), role="victim_account",
                                 export=rng.random(nc) < 0.1)
        ring_of = rng.integers(0, self.n_rings, nc)
        ring_of[: self.n_rings] = np.arange(min(nc, self.n_rings))[: nc]
        t_case = START + rng.integers(1 * 86400, (DAYS - 3) * 86400, nc).astype("timedelta64[s]")
        t_case = t_case - (t_case - START).astype("int64") % 86400 * np.timedelta64(1, "s") + rng.integers(9 * 3600, 21 * 3600, nc).astype("timedelta64[s]")
        loss = np.round(np.exp(rng.normal(np.log(30000), 0.9, nc)) / 100) * 10000  # cents, whole yuan
        loss = np.clip(loss, 200_000, 200_000_000).astype(np.int64)
        self.case_truth = {}
        A = self.acc["number"]
        # the per-case draws are many small scalars: Python's generator (seeded from the world's) is
        # ten times cheaper per draw than numpy's, which matters at 20,000 cases
        r = random.Random(int(rng.integers(0, 2**63)))
        randint, uniform, rnd, choice = r.randint, r.uniform, r.random, r.choice
        t_case_s = t_case.astype("int64").tolist()
        phones_l, names_l, ids_l = phones.tolist(), names.tolist(), ids.tolist()
        vacc_l, ring_l, loss_l = vacc.tolist(), ring_of.tolist(), loss.tolist()
        settlement, exits = self.settlement, [int(x) for x in self.exit]
        tr = self.tr
        put = [tr[k].append for k in ("source", "target", "tkind", "amount", "time", "label", "case", "memo", "merchant")]

        def transfer(src, dst, tkind, amount, t, label, case, memo, merchant=""):
            for f_, v in zip(put, (src, dst, tkind, amount, t, label, case, memo, merchant)):
                f_(v)

        for c in range(nc):
            ring = self.rings[ring_l[c]]
            rid = ring["id"]
            cid = f"A{4401 + ring_l[c] % 7:04d}{2024}{c + 1:07d}"
            case = self.role(f"case:{cid}", "case", rid)
            ring["cases"].append(case)
            victim = self.role(f"person:{ids_l[c]}", "victim", None, names_l[c])
            vnum = A[vacc_l[c]]
            self.role(f"bank_account:{vnum}", "victim_account")
            f = choice(ring["first_level"])
            ph_i = randint(0, len(ring["phone_list"]) - 1)
            phone = ring["phone_list"][ph_i][0]
            imei = ring["simbox"][ph_i % len(ring["simbox"])]
            site = choice(ring["domains"]).split(":", 1)[1] if ring["domains"] else ""
            app = ring["apps"][0].split(":", 1)[1] if ring["apps"] and rnd() < 0.4 else ""
            if app:
                site = ""
            reached: dict[str, dict] = {}

            def reach(nid, level, role, amt):
                x = reached.get(nid)
                if x is None:
                    reached[nid] = {"node": nid, "level": level, "role": role, "amount": amt}
                else:
                    x["level"] = min(x["level"], level)
                    x["amount"] += amt

            t0 = t_case_s[c]
            # the calls before the payment
            for k in range(randint(1, 4)):
                self.calls.append({"own": phone, "other": phones_l[c], "type": "主叫" if k % 3 else "短信",
                                   "time": t0 - randint(600, 3 * 86400 - 1),
                                   "duration": randint(30, 1799) if k % 3 else 0, "imei": imei,
                                   "cell": f"{randint(10000, 64999)}-{randint(1000, 59999)}"})
            pays = _split(loss_l[c], randint(1, 3), r, fee=0.0)
            t = t0
            used_cards = {f}
            af = A[f]
            for j, p in enumerate(pays):
                t = t + (randint(120, 2399) if j else 0)
                transfer(vnum, af, "bank", p, t, "victim_payment", case, choice(("转账", "网银转账", "手机银行转账")))
                reach(f"bank_account:{af}", 1, "first_level", p)
                l2s = r.sample(ring["second_level"], min(randint(2, 3), len(ring["second_level"])))
                t1 = t
                for part, l2 in zip(_split(p, len(l2s), r, fee=uniform(0, 0.01)), l2s):
                    t1 = t1 + randint(40, 399)
                    a2 = A[l2]
                    transfer(af, a2, "bank", part, t1, "split_1_2", case, "转账")
                    reach(f"bank_account:{a2}", 2, "second_level", part)
                    used_cards.add(l2)
                    l3s = r.sample(ring["third_level"], min(randint(1, 2), len(ring["third_level"])))
                    t2 = t1
                    for part3, l3 in zip(_split(part, len(l3s), r, fee=uniform(0, 0.01)), l3s):
                        t2 = t2 + randint(60, 899)
                        a3 = A[l3]
                        transfer(a2, a3, "bank", part3, t2, "split_2_3", case, choice(("转账", "网银转账")))
                        reach(f"bank_account:{a3}", 3, "third_level", part3)
                        used_cards.add(l3)
                        t3 = t2 + randint(60, 1199)
                        out = int(part3 * (1 - uniform(0, 0.01)))
                        route = rnd()
                        if route < 0.35:
                            mid = choice(settlement)
                            transfer(a3, "", "merchant", out, t3, "to_settlement", case, "快捷支付", mid)
                            reach(f"payment_account:{mid}", 4, "settlement", out)
                        elif route < 0.7:
                            ax = A[choice(exits)]
                            transfer(a3, ax, "bank", out, t3, "to_exit", case, choice(("转账", "货款")))
                            reach(f"bank_account:{ax}", 4, "exit", out)
                        else:
                            m = choice(ring["cash_out"])
                            am = A[m]
                            used_cards.add(m)
                            transfer(a3, am, "bank", out, t3, "to_mule", case, "转账")
                            reach(f"bank_account:{am}", 4, "cash_out", out)
                            left, t4 = out, t3
                            cp = self.role(f"cash_point:{am}", "cash_point", rid)
                            while left > 0:
                                piece = min(left, randint(20, 50) * 10000)
                                if left - piece < 10000:
                                    piece = left
                                t4 = t4 + randint(120, 1799)
                                transfer(am, "", "cash", piece, t4, "mule_atm", case, "ATM取现")
                                reach(cp, 5, "cash_point", piece)
                                left -= piece
            dealers = sorted({f"im_account:{self.dealers[self.card_farmer[u][1]]['im']}" for u in used_cards if u in self.card_farmer}
                             | {f"im_account:{self.dealers[self.phone_farmer[phone][1]]['im']}"})
            farmers = sorted({self.farmers[self.card_farmer[u][0]]["person"] for u in used_cards if u in self.card_farmer}
                             | {self.farmers[self.phone_farmer[phone][0]]["person"]})
            provs = sorted({p["org"] for p in self.providers if (site and f"domain:{site}" in p["domains"]) or (app and f"app:{app}" in p["apps"])})
            outlets = sorted({self.farmers[self.phone_farmer[phone][0]]["outlet"]})
            for x in reached.values():
                x["amount"] = round(x["amount"] / 100, 2)
            self.case_truth[case] = {
                "ring": rid, "victim": victim, "victim_account": f"bank_account:{vnum}", "fraud_type": ring["fraud_type"],
                "loss": round(loss_l[c] / 100, 2), "time": _iso_local(np.datetime64(t0, "s")), "paid_to": f"bank_account:{af}",
                "phone": f"phone:{phone}", "site": f"domain:{site}" if site else None, "app": f"app:{app}" if app else None,
                "reached": sorted(reached.values(), key=lambda x: (x["level"], x["node"])),
                "dealers": dealers, "farmers": farmers, "providers": provs, "outlets": outlets,
            }
            self.case_rows.append({"case_id": cid, "victim": names_l[c], "victim_id": ids_l[c], "loss": loss_l[c] / 100,
                                   "time": t0 + randint(3600, 3 * 86400 - 1), "type": ring["fraud_type"],
                                   "payee": A[f], "payee_name": self.acc["holder_name"][f], "payee_bank": BANK_NAMES[self.acc["bank"][f]],
                                   "caller": phone, "site": site, "app": app})
        # rings pay their technical providers
        for ring in self.rings:
            for pi in ring["providers"]:
                p = self.providers[pi]
                for _ in range(int(rng.integers(2, 4))):
                    src = int(rng.choice(ring["second_level"]))
                    t = START + np.timedelta64(int(rng.integers(86400, (DAYS - 1) * 86400)), "s")
                    self.transfer(A[src], A[p["acc"]], "bank", int(rng.integers(50, 500)) * 10000, t, "provider_payment", "",
                                  str(rng.choice(["技术服务费", "服务器费用", "货款"])))
        # ring payment accounts logged in from ring IPs and devices
        for ring in self.rings:
            for acc in ring["spare"][:2]:
                pa = f"{int(rng.integers(10**10, 10**11 - 1))}"
                self.role(f"payment_account:{pa}", "ring_account", ring["id"])
                for k in range(int(rng.integers(2, 6))):
                    self.pay_logins.append({"account": pa, "platform": "某宝", "name": self.acc["holder_name"][acc],
                                            "id": self.acc["holder_id"][acc], "phone": ring["phone_list"][k % len(ring["phone_list"])][0],
                                            "card": self.acc["number"][acc], "ip": str(rng.choice(ring["ips"])),
                                            "device": str(rng.choice(ring["devices"])),
                                            "time": START + np.timedelta64(int(rng.integers(0, DAYS * 86400)), "s"), "merchant": ""})

    def traps_and_background_flows(self):
        rng = self.rng
        A = self.acc["number"]
        bg = self.bg
        nbg = len(bg)
        # payroll: a company account paying ~300 employees monthly
        n_emp = 300 if self.n_transfers >= 20_000 else 120
        pay_bank = 0
        payroll = self.add_accounts(_card_numbers(rng, np.array([pay_bank]), self.taken["card"]), [pay_bank],
                                    ["广州华立精密制造有限公司"], None, opened=START - np.timedelta64(3000, "D"),
                                    role="trap_payroll", export=True, card_type="对公账户")[0]
        emps = rng.choice(bg, n_emp, replace=False)
        for m in range(3):
            t = START + np.timedelta64(m * 30 + 9, "D") + np.timedelta64(10 * 3600, "s")
            sal = np.round(rng.normal(7500, 2000, n_emp).clip(3000, 30000), 2)
            for e, s in zip(emps, sal):
                self.transfer(A[payroll], A[e], "bank", int(s * 100), t + np.timedelta64(int(rng.integers(0, 600)), "s"), "payroll", "", "代发工资")
        self.traps.append({"node": f"bank_account:{A[payroll]}", "trap": "payroll_fan_out", "note": f"pays {n_emp} employees monthly"})
        # shop: a merchant's account receiving from ~300 customers
        shop = self.add_accounts(_card_numbers(rng, np.array([2]), self.taken["card"]), [2], ["东莞市樟木头优选生鲜超市"], None,
                                 opened=START - np.timedelta64(2000, "D"), role="trap_shop", export=True, card_type="对公账户")[0]
        cust = rng.choice(bg, n_emp, replace=False)
        for c in cust:
            for _ in range(int(rng.integers(1, 4))):
                t = START + np.timedelta64(int(rng.integers(0, DAYS * 86400)), "s")
                self.transfer(A[c], A[shop], "bank", int(rng.integers(1500, 60000)), t, "shop", "", "消费")
        self.traps.append({"node": f"bank_account:{A[shop]}", "trap": "shop_fan_in", "note": f"receives from {n_emp} customers"})
        # a legitimate person with cards at five banks, opened over years
        pid = _resident_ids(rng, 1, self.taken["id"], 1970, 1985)[0]
        pname = _names(rng, 1)[0]
        pphone = _mobiles(rng, 1, self.taken["mobile"])[0]
        banks5 = np.array([0, 1, 2, 3, 4])
        opened = np.array([np.datetime64(f"{y}-0{m}-1{d}T10:00:00", "s") for y, m, d in [(2013, 3, 2), (2015, 7, 5), (2017, 4, 1), (2020, 9, 3), (2022, 5, 8)]])
        legit = self.add_accounts(_card_numbers(rng, banks5, self.taken["card"]), banks5, [pname] * 5, [pid] * 5, [pphone] * 5, opened,
                                  [self.branch_name(b, rng) for b in banks5], role="trap_person", export=True)
        self.traps.append({"node": f"person:{pid}", "trap": "multi_bank_person", "note": "five cards at five banks opened 2013-2022"})
        for a in legit:
            self.traps.append({"node": f"bank_account:{A[a]}", "trap": "multi_bank_person", "note": pname})
            for _ in range(int(rng.integers(5, 15))):
                other = int(rng.choice(bg))
                t = START + np.timedelta64(int(rng.integers(0, DAYS * 86400)), "s")
                if rng.random() < 0.5:
                    self.transfer(A[a], A[other], "bank", int(rng.integers(5000, 500000)), t, "legit_person", "", "转账")
                else:
                    self.transfer(A[other], A[a], "bank", int(rng.integers(5000, 500000)), t, "legit_person", "", "转账")
        # busy legitimate outlet
        busy = "广州天河城中国移动自营厅"
        n_busy = 300 if self.n_transfers >= 20_000 else 120
        self.traps.append({"node": f"outlet:{busy}", "trap": "busy_outlet", "note": f"registers {n_busy} SIMs to distinct people"})
        who = rng.choice(nbg, n_busy, replace=False)
        bp = self.bg_person
        for i, w in enumerate(who):
            self.phone_reg.append({"msisdn": bp["phone"][w], "iccid": _luhn_numbers(rng, 1, "898600", 20, self.taken["iccid"])[0],
                                   "imsi": "46000" + f"{int(rng.integers(0, 10**10)):010d}", "name": bp["name"][w], "id": bp["id"][w],
                                   "time": START - np.timedelta64(int(rng.integers(0, 200 * 86400)), "s"), "outlet": busy, "carrier": "移动"})
        # ordinary registrations at ordinary outlets
        n_reg = int(min(20_000, max(200, self.n_transfers // 100)))
        outs = [f"{CITIES[i % len(CITIES)]}{['联通', '电信', '移动'][i % 3]}营业厅{i + 1}号店" for i in range(20)]
        who = rng.choice(nbg, n_reg, replace=False)
        for w in who:
            c = rng.integers(0, 20)
            self.phone_reg.append({"msisdn": bp["phone"][w], "iccid": "", "imsi": "", "name": bp["name"][w], "id": bp["id"][w],
                                   "time": START - np.timedelta64(int(rng.integers(0, 3000 * 86400)), "s"), "outlet": outs[c],
                                   "carrier": ["联通", "电信", "移动"][c % 3]})
        # a campus NAT IP shared by hundreds of unrelated payment accounts
        nat = "202.114.64.10"
        self.taken["ip"].add(nat)
        n_nat = 300 if self.n_transfers >= 20_000 else 120
        self.traps.append({"node": f"ip:{nat}", "trap": "shared_nat_ip", "note": f"campus NAT: {n_nat} students' payment accounts"})
        who = rng.choice(nbg, n_nat, replace=False)
        devs = _macs(rng, n_nat, self.taken["mac"])
        for w, dv in zip(who, devs):
            pa = f"{int(rng.integers(10**10, 10**11 - 1))}"
            for _ in range(int(rng.integers(1, 4))):
                self.pay_logins.append({"account": pa, "platform": "某宝", "name": bp["name"][w], "id": bp["id"][w], "phone": bp["phone"][w],
                                        "card": "", "ip": nat, "device": dv,
                                        "time": START + np.timedelta64(int(rng.integers(0, DAYS * 86400)), "s"), "merchant": ""})
        # ordinary payment accounts
        n_pay = int(min(20_000, max(200, self.n_transfers // 100)))
        who = rng.choice(nbg, n_pay, replace=False)
        ips = _ips(rng, n_pay, self.taken["ip"])
        devs = _macs(rng, n_pay, self.taken["mac"])
        for w, ip, dv in zip(who, ips, devs):
            pa = f"{int(rng.integers(10**10, 10**11 - 1))}"
            self.pay_logins.append({"account": pa, "platform": ["某宝", "某信支付"][int(w) % 2], "name": bp["name"][w], "id": bp["id"][w],
                                    "phone": bp["phone"][w], "card": "", "ip": ip, "device": dv,
                                    "time": START + np.timedelta64(int(rng.integers(0, DAYS * 86400)), "s"), "merchant": ""})
        # a big cloud provider hosting many legitimate sites
        cloud = "阿里云计算有限公司"
        n_dom = int(min(5000, max(100, self.n_transfers // 200)))
        cips = _ips(rng, max(5, n_dom // 20), self.taken["ip"])
        for dom in _domains(rng, n_dom, self.taken["domain"]):
            self.hosting.append({"domain": dom, "ip": str(rng.choice(cips)), "provider": cloud, "registrant": "", "registrar": "阿里云（万网）",
                                 "created": START - np.timedelta64(int(rng.integers(30, 3000)), "D"), "app": "", "app_name": "", "developer": "",
                                 "first_seen": START + np.timedelta64(int(rng.integers(0, DAYS)), "D")})
        self.traps.append({"node": f"organisation:{cloud}", "trap": "shared_cloud_host", "note": f"hosts {n_dom} legitimate sites"})
        # ordinary calls between ordinary phones (a few exported numbers' records)
        n_calls = int(min(500_000, max(500, self.n_transfers // 20)))
        own = bp["phone"][rng.choice(nbg, max(20, n_calls // 50), replace=False)]
        self.bg_calls = pd.DataFrame({
            "own": own[rng.integers(0, len(own), n_calls)], "other": bp["phone"][rng.integers(0, nbg, n_calls)],
            "type": np.array(["主叫", "被叫", "短信", "主叫"])[rng.integers(0, 4, n_calls)],
            "time": START + rng.integers(0, DAYS * 86400, n_calls).astype("timedelta64[s]"),
            "duration": rng.integers(5, 900, n_calls), "imei": "", "cell": ""})
        # background transfers, vectorised: anchored on exported accounts
        n_crim = len(self.tr["source"])
        n = max(0, self.n_transfers - n_crim)
        exp = bg[np.asarray(self.acc["export"], dtype=bool)[bg]]
        w = np.exp(rng.normal(0, 1, len(exp)))
        anchor = exp[rng.choice(len(exp), n, p=w / w.sum())]
        other = bg[rng.integers(0, nbg, n)]
        other = np.where(other == anchor, bg[(np.searchsorted(bg, other) + 1) % nbg], other)
        out = rng.random(n) < 0.5
        atm = out & (rng.random(n) < 0.04)
        src = np.where(out, anchor, other)
        dst = np.where(out, other, anchor)
        amt = np.round(np.exp(rng.normal(np.log(800), 1.3, n)) * 100).astype(np.int64).clip(100, 50_000_000)
        amt = np.where(atm, (rng.integers(1, 30, n) * 10000), amt)
        t = START + rng.integers(0, DAYS * 86400, n).astype("timedelta64[s]")
        memo = rng.integers(0, 6, n).astype(np.int16)  # codes into BG_MEMOS
        memo[atm] = BG_MEMOS.index("ATM取现")
        self.bg_tr = {"src": src, "dst": np.where(atm, -1, dst), "amount": amt, "time": t, "memo": memo, "atm": atm}

    # -- the transfer table and statements ---------------------------------
    def transfer_table(self):
        """Every transfer as integer-coded numpy columns, in time order (``self.T``)."""
        rng = self.rng
        acc = self.acc
        idx_of = {a: i for i, a in enumerate(acc["number"])}
        tr = self.tr
        n1 = len(tr["source"])
        kind_of = {k: i for i, k in enumerate(TKINDS)}
        label_of = {k: i for i, k in enumerate(LABELS)}
        self.memos = list(BG_MEMOS)
        memo_of = {m: i for i, m in enumerate(self.memos)}
        self.case_ids = [""]
        case_of = {"": 0}
        self.merchant_ids = [""] + list(self.settlement)
        merchant_of = {m: i for i, m in enumerate(self.merchant_ids)}

        def code(table: dict, names: list, v):
            c = table.get(v)
            if c is None:
                c = table[v] = len(names)
                names.append(v)
            return c

        b = self.bg_tr
        nb = len(b["src"])
        T = {
            "src": np.concatenate([np.fromiter((idx_of[s] for s in tr["source"]), np.int64, n1), b["src"]]),
            "dst": np.concatenate([np.fromiter((idx_of[d] if d else -1 for d in tr["target"]), np.int64, n1), b["dst"]]),
            "kind": np.concatenate([np.fromiter((kind_of[k] for k in tr["tkind"]), np.int8, n1),
                                    np.where(b["atm"], kind_of["cash"], kind_of["bank"]).astype(np.int8)]),
            "amount": np.concatenate([np.array(tr["amount"], dtype=np.int64), b["amount"]]),
            "t": np.concatenate([np.array(tr["time"], dtype=np.int64), b["time"].astype("datetime64[s]").astype(np.int64)]),
            "label": np.concatenate([np.fromiter((label_of[x] for x in tr["label"]), np.int8, n1),
                                     np.where(b["atm"], label_of["atm"], label_of["background"]).astype(np.int8)]),
            "case": np.concatenate([np.fromiter((code(case_of, self.case_ids, x) for x in tr["case"]), np.int32, n1),
                                    np.zeros(nb, np.int32)]),
            "memo": np.concatenate([np.fromiter((code(memo_of, self.memos, x) for x in tr["memo"]), np.int16, n1),
                                    b["memo"].astype(np.int16)]),
            "merchant": np.concatenate([np.fromiter((merchant_of[x] for x in tr["merchant"]), np.int32, n1),
                                        np.zeros(nb, np.int32)]),
        }
        self.tr = self.bg_tr = None
        n = len(T["src"])
        bank = np.asarray(acc["bank"], dtype=np.int8)
        export = np.asarray(acc["export"], dtype=bool)
        sb = bank[T["src"]]
        has_dst = T["dst"] >= 0
        db = np.where(has_dst, bank[np.maximum(T["dst"], 0)], -1).astype(np.int8)
        T["same"] = sb == db
        T["serial"] = rng.permutation(n).astype(np.int64) + 10_000_000
        delay = np.where(T["same"], 0, rng.integers(0, 6, n))
        T["t_payee"] = T["t"] + delay
        T["payer_exported"] = export[T["src"]]
        T["payee_exported"] = (T["kind"] == kind_of["bank"]) & export[np.maximum(T["dst"], 0)]
        order = np.lexsort((T["src"], T["t"]))  # by time, then payer (stable)
        self.T = {k: v[order] for k, v in T.items()}

    def txn_ids(self, tid: np.ndarray, payee: np.ndarray) -> pa.Array:
        """Transaction ids of transfers ``tid`` as their payer (``payee`` False) or payee records them.

        Within one bank both statements share the payer's id; across banks the payee's bank has its
        own; a cash withdrawal or merchant payment has no payee id ("").
        """
        T = self.T
        bank = self.acc_bank
        src, dst = T["src"][tid], T["dst"][tid]
        other = payee & ~T["same"][tid]
        bk = np.where(payee & (dst >= 0), bank[np.maximum(dst, 0)], bank[src])
        num = (T["serial"][tid] * 7919 + np.where(other, 977, 13)) % 10**12
        ids = pc.binary_join_element_wise(pc.take(TXN_PREFIX, pa.array(bk)), _pad(num, 12), "")
        none = payee & (dst < 0)
        return pc.if_else(pa.array(none), "", ids) if none.any() else ids

    def statements(self):
        """Statement rows per exported account (integer columns ``self.R``), with balances."""
        T = self.T
        pay = np.flatnonzero(T["payer_exported"])
        rec = np.flatnonzero(T["payee_exported"])
        R = {
            "tid": np.concatenate([pay, rec]),
            "acc": np.concatenate([T["src"][pay], T["dst"][rec]]),
            "cp": np.concatenate([T["dst"][pay], T["src"][rec]]),
            "out": np.concatenate([np.ones(len(pay), bool), np.zeros(len(rec), bool)]),
            "t": np.concatenate([T["t"][pay], T["t_payee"][rec]]),
        }
        order = np.lexsort((R["tid"], R["t"], R["acc"]))
        R = {k: v[order] for k, v in R.items()}
        n = len(order)
        amount = T["amount"][R["tid"]]
        signed = np.where(R["out"], -amount, amount)
        # running balance per account: a cumulative sum restarted at each account's first row
        starts = np.flatnonzero(np.r_[True, R["acc"][1:] != R["acc"][:-1]]) if n else np.array([], np.int64)
        grp = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
        cs = np.cumsum(signed)
        cum = cs - (cs[starts] - signed[starts])[grp]
        low = np.minimum.reduceat(cum, starts)[grp] if n else cum
        mule = np.isin(np.asarray(self.acc["role"], dtype=object),
                       ["first_level", "second_level", "third_level", "cash_out", "exit"])[R["acc"]]
        base = self.rng.integers(0, 30000, n)[starts][grp]
        R["balance"] = np.maximum(0, -low) + np.where(mule, base // 100, base * 20) + cum
        R["amount"] = amount
        self.R = R

    # -- writing -----------------------------------------------------------
    def write_table(self, rel, columns, n, make, encoding, source, bad_lines=None, bad_cells=None, dup_rows=None,
                    check=None):
        """Write ``n`` rows as CSV, ``make(lo, hi)`` giving the string columns of rows ``lo:hi``.

        ``columns`` are the header names; ``make`` may also be a DataFrame (small tables).
        Malformed lines and duplicates are injected:

        bad_cells: list of (position, column, value, column name for rejects, problem)
        bad_lines: list of (position, raw line text, problem): a line inserted before data row ``position``
        dup_rows: positions whose row is written twice
        check: indexes of the columns whose values may need quotes (default: all)

        Rows are encoded in chunks of at most 200,000 (Arrow string kernels; no per-cell Python).
        Returns the line number of every data row.
        """
        if isinstance(make, pd.DataFrame):
            make = _frame_columns(make)
        path = self.data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        cells = {}
        for pos, col, val, _, _ in bad_cells or []:
            cells.setdefault(columns.index(col), {})[pos] = val
        inserts = {}
        for pos, line, problem in bad_lines or []:
            inserts.setdefault(pos, []).append((line, problem))
        dups = set(dup_rows or [])
        cuts = sorted(set(inserts) | {p + 1 for p in dups} | set(range(0, n, CHUNK)) | {n})
        line_no = 1  # the header
        bad_line_of = {}
        row_line = np.zeros(n, dtype=np.int64)

        def lines(lo, hi):
            cols = make(lo, hi)
            for ci, vals in cells.items():
                hit = [p for p in vals if lo <= p < hi]
                if hit:
                    mask = np.zeros(hi - lo, bool)
                    mask[np.array(hit) - lo] = True
                    cols[ci] = pc.replace_with_mask(cols[ci], pa.array(mask), pa.array([vals[p] for p in sorted(hit)]))
            return _encode(_csv_lines(cols, check), encoding)

        with open(path, "wb") as f:
            if encoding == "utf-8-sig":
                f.write(b"\xef\xbb\xbf")
            f.write(_encode_text(",".join(columns) + "\r\n", encoding))
            prev = 0
            for cut in cuts:
                if cut > prev:
                    f.write(lines(prev, cut))
                    row_line[prev:cut] = line_no + 1 + np.arange(cut - prev)
                    line_no += cut - prev
                    if cut - 1 in dups:
                        f.write(lines(cut - 1, cut))
                        line_no += 1
                    prev = cut
                for line, problem in inserts.get(cut, []):
                    f.write(_encode_text(line + "\r\n", encoding))
                    line_no += 1
                    bad_line_of.setdefault(cut, []).append((line_no, problem))
        for pos, col, val, cname, problem in bad_cells or []:
            self.rejects.append({"file": rel, "row": int(row_line[pos]), "column": cname, "problem": problem})
        for cut, items in bad_line_of.items():
            for ln, problem in items:
                self.rejects.append({"file": rel, "row": int(ln), "column": None, "problem": problem})
        self.files.append({"file": rel, "source": source, "encoding": encoding, "rows": int(line_no - 1)})
        return row_line

    def write_frame(self, rel, df: pd.DataFrame, encoding, source):
        """Write a small DataFrame (any values; None / NaN empty) as CSV."""
        return self.write_table(rel, list(df.columns), len(df), df, encoding, source)

    def statement_columns(self, layout, code, ix, over) -> list:
        """String columns (Arrow) of statement rows ``ix`` in a bank's layout; ``over`` replaces cells.

        ``over``: {column name: (sorted row indexes, values)} for decorated cells.
        """
        R, T, S = self.R, self.T, self.strings
        ix = np.asarray(ix)
        acc, tid, out = R["acc"][ix], R["tid"][ix], R["out"][ix]
        kind = T["kind"][tid]
        none = S["none"]  # index of the empty string in the per-account tables

        def by_acc(name, where=None):
            return pc.take(S[name], pa.array(acc if where is None else np.where(where, acc, none)))

        cp = R["cp"][ix]
        cpi = np.where((cp >= 0) & (kind == 0), cp, none)
        ts = R["t"][ix]
        amt, bal = _money(R["amount"][ix]), _money(R["balance"][ix])
        memo = pc.take(S["memo"], pa.array(T["memo"][tid]))
        txn = self.txn_ids(tid, ~out)
        mcode = pa.array(np.where(out, T["merchant"][tid], 0))
        merchant, merchant_name = pc.take(S["merchant"], mcode), pc.take(S["merchant_name"], mcode)
        ops = out & (kind != 2)
        own, cpnum = by_acc("number"), pc.take(S["number"], pa.array(cpi))
        if layout == "A":
            cols = {"交易卡号": own, "交易户名": by_acc("name"), "交易证件号码": by_acc("hid"),
                    "交易时间": _fmt_pa(ts), "交易金额": amt, "交易余额": bal,
                    "收付标志": pc.take(pa.array(["进", "出"]), pa.array(out.astype(np.int8))), "对手账号": cpnum,
                    "对手户名": pc.take(S["name"], pa.array(cpi)), "对手开户行": pc.take(S["bank_name"], pa.array(cpi)),
                    "摘要": memo, "交易流水号": txn, "IP地址": by_acc("ops_ip", ops), "MAC地址": by_acc("ops_mac", ops),
                    "商户号": merchant, "商户名称": merchant_name}
        elif layout == "B":
            cols = {"账号": own, "户名": by_acc("name"), "交易日期": _fmt_pa(ts, "date"),
                    "交易时刻": _fmt_pa(ts, "time"),
                    "借贷标志": pc.take(pa.array(["贷", "借"]), pa.array(out.astype(np.int8))),
                    "发生额": _thousands(R["amount"][ix]) if code == "ABC" else amt, "余额": bal, "对方账号": cpnum,
                    "对方户名": pc.take(S["name"], pa.array(cpi)), "摘要": memo, "流水号": txn,
                    "商户编号": merchant, "商户名称": merchant_name}
        else:
            cols = {"account_no": own, "holder_name": by_acc("name"), "id_number": by_acc("hid"),
                    "transaction_time": _fmt_pa(ts),
                    "amount": pc.if_else(pa.array(out), pc.binary_join_element_wise("-", amt, ""), amt), "balance": bal,
                    "counterparty_account": cpnum, "counterparty_name": pc.take(S["name"], pa.array(cpi)),
                    "counterparty_bank": pc.take(S["bank_name"], pa.array(cpi)), "memo": memo, "transaction_id": txn,
                    "merchant_id": merchant, "merchant_name": merchant_name,
                    "currency": pc.take(pa.array(["CNY"]), pa.array(np.zeros(len(ix), np.int8)))}
        for name, (rows, vals) in over.items():
            if not len(rows):
                continue
            pos = np.minimum(np.searchsorted(rows, ix), len(rows) - 1)
            hit = rows[pos] == ix
            if hit.any():
                cols[name] = pc.replace_with_mask(cols[name], pa.array(hit), pa.array(vals[pos[hit]]))
        return list(cols.values())

    def write_statements(self):
        """Bank statements: per bank, CSV files of at most a million rows and for one bank a small workbook."""
        rng = self.rng
        R, T = self.R, self.T
        acc = self.acc
        na = len(acc["number"])
        self.acc_bank = np.asarray(acc["bank"], dtype=np.int64)
        bank_names = np.array(BANK_NAMES, dtype=object)
        self.strings = {
            "none": na,
            "number": pa.array(acc["number"] + [""]), "name": pa.array(acc["holder_name"] + [""]),
            "hid": pa.array(acc["holder_id"] + [""]), "bank_name": pa.array(list(bank_names[self.acc_bank]) + [""]),
            "ops_ip": pa.array(acc["ops_ip"] + [""]), "ops_mac": pa.array(acc["ops_mac"] + [""]),
            "memo": pa.array(self.memos), "merchant": pa.array(self.merchant_ids),
            "merchant_name": pa.array([self.merchants.get(m, "") for m in self.merchant_ids]),
        }
        n = len(R["tid"])
        decorated = np.zeros(n, dtype=bool)
        self.row_ok = np.ones(n, dtype=bool)   # loads (not a rejected row)
        self.row_copies = np.ones(n, dtype=np.int64)
        role = np.asarray(acc["role"], dtype=object)
        row_bank = self.acc_bank[R["acc"]]
        kind = T["kind"][R["tid"]]
        label = T["label"][R["tid"]]
        both = (T["payer_exported"] & T["payee_exported"])[R["tid"]]
        late = R["t"] >= (START + np.timedelta64(DAYS - 20, "D")).astype(np.int64)
        for bi, (code, bname, _, _, layout, enc) in enumerate(BANKS):
            sel = np.flatnonzero(row_bank == bi)
            if not len(sel):
                continue
            columns = LAYOUT_COLUMNS[layout]
            own_col, cp_col = columns[0], columns[LAYOUT_CP[layout]]
            # spaced and full-width card numbers in a few counterparty / own cells (not on withdrawals)
            cand = np.flatnonzero(kind[sel] != 2)
            k = min(len(cand), max(2, len(sel) // 500))
            deco = np.sort(sel[rng.choice(cand, k, replace=False)]) if k else np.array([], dtype=np.int64)
            num = self.strings["number"]
            own_rows, own_vals, cp_rows, cp_vals = [], [], [], []
            cp_of = np.where((R["cp"][deco] >= 0) & (kind[deco] == 0), R["cp"][deco], na)
            for j, (p, a, c) in enumerate(zip(deco.tolist(), R["acc"][deco].tolist(), cp_of.tolist())):
                if j % 2 == 0 and c != na:
                    s = num[c].as_py()
                    cp_rows.append(p)
                    cp_vals.append(" ".join(s[i:i + 4] for i in range(0, len(s), 4)))
                else:
                    own_rows.append(p)
                    own_vals.append(num[a].as_py().translate(FULLWIDTH))
            decorated[deco] = True
            over = {own_col: (np.array(own_rows, np.int64), np.array(own_vals, dtype=object)),
                    cp_col: (np.array(cp_rows, np.int64), np.array(cp_vals, dtype=object))}
            in_x = np.zeros(len(sel), bool)
            if code == "CCB":
                # XLSX: one workbook, one sheet per account, for a few accounts only (workbooks are slow to read)
                accs_b = R["acc"][sel]
                first = pd.unique(accs_b)
                r_first = role[first]
                crim = first[~np.isin(r_first, ["background", "victim_account"])][:25]
                bgs = first[r_first == "background"][:5]
                cand_x = np.concatenate([crim, bgs])
                size = np.bincount(accs_b, minlength=na)[cand_x]
                fits = size <= XLSX_ROWS // 4  # no account too big for a sheet, and a small workbook
                in_x = np.isin(accs_b, cand_x[fits & (np.cumsum(np.where(fits, size, 0)) <= XLSX_ROWS)])
                if in_x.any():
                    self.write_xlsx_statement(f"bank/{code}_{bname}_交易明细.xlsx", layout, code, sel[in_x], over)
            csv_sel = sel[~in_x]
            if not len(csv_sel):
                continue
            # background-only malformed rows and duplicates, for the rows whose transfer is background
            # (only on background transfers seen from this side alone, so that each malformed row
            # hides exactly one transfer and pairs with nothing)
            bgrow = np.flatnonzero((label[csv_sel] == LABELS.index("background")) & ~both[csv_sel] & ~decorated[csv_sel])
            bad_cells, bad_lines, dups = [], [], []
            amount_col, time_col = LAYOUT_AMOUNT_TIME[layout]
            if len(bgrow) > 10:
                pick = rng.choice(bgrow, 4, replace=False)
                if layout == "A":
                    bad_cells = [(int(pick[0]), amount_col, "12O0.5", "amount", "bad amount"),
                                 (int(pick[1]), time_col, "2024-02-30 25:61:00", "time", "bad date")]
                elif layout == "B":
                    bad_cells = [(int(pick[0]), amount_col, "壹佰元", "amount", "bad amount"),
                                 (int(pick[1]), time_col, "20241345", "time or date", "bad date")]
                else:
                    bad_cells = [(int(pick[0]), amount_col, "--", "amount", "bad amount")]
                if enc == "gb18030" or layout == "C":
                    vals = [c[0].as_py() for c in self.statement_columns(layout, code, csv_sel[[int(pick[2])]], over)]
                    bad_lines = [(int(pick[2]), ",".join(vals[:5]), "wrong field count")]
                dups = [int(pick[3])]
                for p, *_ in bad_cells:
                    self.row_ok[csv_sel[p]] = False
                self.row_copies[csv_sel[dups[0]]] += 1

            # generated names, memos and injected values hold no comma or quote: only amounts with
            # thousands separators need quoting
            quoted = {columns.index("发生额")} if code == "ABC" else set()

            def make(lo, hi, rows=csv_sel):
                return self.statement_columns(layout, code, rows[lo:hi], over)

            parts = max(1, math.ceil(len(csv_sel) / 1_000_000))
            bounds = np.linspace(0, len(csv_sel), parts + 1).astype(int)
            for pi in range(parts):
                lo, hi = bounds[pi], bounds[pi + 1]
                self.write_table(f"bank/{code}_{bname}_流水_{pi + 1:02d}.csv", columns, hi - lo,
                                 lambda a, b, lo=lo: make(lo + a, lo + b), enc, "bank_statement",
                                 [(p - lo, l, pr) for p, l, pr in bad_lines if lo <= p < hi],
                                 [(p - lo, c, v, cn, pr) for p, c, v, cn, pr in bad_cells if lo <= p < hi],
                                 [p - lo for p in dups if lo <= p < hi], check=quoted)
            if layout == "A" and code == "ICBC":
                # an overlapping second export of the last weeks of some accounts: exact duplicates
                accs = R["acc"][csv_sel]
                some = np.isin(accs, np.unique(accs)[::3])
                sel2 = csv_sel[late[csv_sel] & some & self.row_ok[csv_sel]]
                if len(sel2):
                    self.write_table(f"bank/{code}_{bname}_流水_补充导出.csv", columns, len(sel2),
                                     lambda a, b: self.statement_columns(layout, code, sel2[a:b], over), enc, "bank_statement",
                                     check=quoted)
                    self.row_copies[sel2] += 1

    def write_xlsx_statement(self, rel, layout, code, rows, over):
        import xlsxwriter

        path = self.data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
        wb.set_properties({"created": pd.Timestamp("2024-04-01").to_pydatetime(), "author": "bank"})
        columns = LAYOUT_COLUMNS[layout]
        cols = [c.to_pylist() for c in self.statement_columns(layout, code, rows, over)]
        accs = self.R["acc"][rows]
        for a in pd.unique(accs):
            m = np.flatnonzero(accs == a)
            ws = wb.add_worksheet(str(self.acc["number"][a])[-31:])
            ws.write_row(0, 0, columns)
            for i, j in enumerate(m.tolist(), start=1):
                ws.write_row(i, 0, [c[j] for c in cols])
            self.files.append({"file": rel, "sheet": ws.name, "source": "bank_statement", "encoding": None, "rows": len(m)})
        wb.close()

    def write_others(self):
        rng = self.rng
        A = self.acc
        # account opening information: every card with an opening record (ring cards, traps, some others)
        idx = [i for i in range(len(A["number"])) if A["branch"][i]]
        exp = np.flatnonzero(np.asarray(A["export"], dtype=bool))
        idx = sorted(set(idx) | set(exp.tolist()))
        ai = pd.DataFrame({
            "卡号": [A["number"][i] for i in idx], "户名": [A["holder_name"][i] for i in idx], "证件号码": [A["holder_id"][i] for i in idx],
            "开户行": [BANK_NAMES[A["bank"][i]] for i in idx], "开户网点": [A["branch"][i] or self.branch_name(A["bank"][i], rng) for i in idx],
            "开户日期": [str(A["opened"][i]).replace("T", " ") if A["opened"][i] is not None else "2019-06-01 10:00:00" for i in idx],
            "卡种": [A["card_type"][i] for i in idx], "绑定手机号": [A["phone"][i] for i in idx],
            "开户IP": [A["open_ip"][i] for i in idx], "开户设备号": [A["open_device"][i] for i in idx]})
        self.write_frame("bank/开户信息_汇总.csv", ai, "gb18030", "bank_account_info")
        # phone registrations
        pr = pd.DataFrame(self.phone_reg)
        pr = pd.DataFrame({"手机号码": pr["msisdn"], "ICCID": pr["iccid"], "IMSI": pr["imsi"], "机主姓名": pr["name"],
                           "证件号码": pr["id"], "入网时间": _fmt_local(pr["time"].to_numpy().astype("datetime64[s]")),
                           "营业厅": pr["outlet"], "运营商": pr["carrier"]})
        pr = pr.iloc[rng.permutation(len(pr))]
        self.write_frame("telecom/入网登记信息.csv", pr, "gb18030", "phone_registration")
        # call records
        calls = self.bg_calls
        if self.calls:
            calls = pd.DataFrame(self.calls)
            calls["time"] = calls["time"].to_numpy().astype("datetime64[s]")
            calls = pd.concat([calls, self.bg_calls], ignore_index=True)
        calls = calls.sort_values(["own", "time"], kind="stable")
        cr = pd.DataFrame({"本机号码": calls["own"].to_numpy(), "对方号码": calls["other"].to_numpy(), "呼叫类型": calls["type"].to_numpy(),
                           "开始时间": _fmt_local(calls["time"].to_numpy().astype("datetime64[s]")),
                           "通话时长": calls["duration"].astype(str).to_numpy(), "IMEI": calls["imei"].to_numpy(), "基站": calls["cell"].to_numpy()})
        # a few ring numbers written as +86 ..., as some operators do
        plus = rng.random(len(cr)) < 0.02
        cr.loc[plus, "本机号码"] = "+86 " + cr.loc[plus, "本机号码"]
        self.write_frame("telecom/话单_调证.csv", cr, "gb18030", "call_records")
        # payment logins
        pl = pd.DataFrame(self.pay_logins)
        pl = pl.iloc[rng.permutation(len(pl))]
        self.write_frame("payment/支付账户登录日志.csv", pd.DataFrame({
            "支付账号": pl["account"].to_numpy(), "支付平台": pl["platform"].to_numpy(), "实名姓名": pl["name"].to_numpy(),
            "实名证件": pl["id"].to_numpy(), "绑定手机": pl["phone"].to_numpy(), "绑定银行卡": pl["card"].to_numpy(),
            "登录IP": pl["ip"].to_numpy(), "设备号": pl["device"].to_numpy(),
            "登录时间": _fmt_local(pl["time"].to_numpy().astype("datetime64[s]")), "商户名称": pl["merchant"].to_numpy()}),
            "utf-8-sig", "payment_accounts")
        # case reports: a workbook of the first cases (workbooks stay small: they are slow to read),
        # the rest as a later CSV export
        cs = pd.DataFrame(self.case_rows)
        cr = pd.DataFrame({
            "案件编号": cs["case_id"], "报案人": cs["victim"], "报案人证件号码": cs["victim_id"], "受骗金额": cs["loss"].map("{:.2f}".format),
            "案发时间": _fmt_local(cs["time"].to_numpy().astype("datetime64[s]")), "诈骗类型": cs["type"], "收款账号": cs["payee"],
            "收款户名": cs["payee_name"], "收款银行": cs["payee_bank"], "诈骗电话": cs["caller"], "诈骗网址": cs["site"], "诈骗APP": cs["app"]})
        self.write_xlsx_simple("cases/报案登记_汇总.xlsx", "报案信息", cr.iloc[:XLSX_CASES], "case_reports")
        if len(cr) > XLSX_CASES:
            self.write_frame("cases/报案登记_续报.csv", cr.iloc[XLSX_CASES:], "utf-8-sig", "case_reports")
        # seized card-trade ledger: one file per dealer (two as XLSX)
        lg = pd.DataFrame(self.ledger)
        for d, dealer in enumerate(self.dealers):
            sub = lg[lg["dealer"] == d].sort_values("time", kind="stable")
            df = pd.DataFrame({"卖家": sub["seller"].to_numpy(), "买家": sub["buyer"].to_numpy(), "卡号": sub["card"].to_numpy(),
                               "手机号": sub["phone"].to_numpy(), "价格": sub["price"].astype(str).to_numpy(),
                               "时间": _fmt_local(sub["time"].to_numpy().astype("datetime64[s]")),
                               "聊天软件": "飞机", "物品": sub["item"].to_numpy()})
            if d < 2:
                self.write_xlsx_simple(f"seized/卡商{d + 1}_收卡出卡账本.xlsx", "账本", df, "card_trade_ledger")
            else:
                self.write_frame(f"seized/卡商{d + 1}_收卡出卡账本.csv", df, "utf-8-sig", "card_trade_ledger")
        # domains and hosting
        h = pd.DataFrame(self.hosting)
        h = h.iloc[rng.permutation(len(h))]
        self.write_frame("infra/域名解析与服务器.csv", pd.DataFrame({
            "域名": h["domain"].to_numpy(), "解析IP": h["ip"].to_numpy(), "服务器提供商": h["provider"].to_numpy(),
            "注册人": h["registrant"].to_numpy(), "注册商": h["registrar"].to_numpy(),
            "注册时间": [str(x).replace("T", " ") if x is not None and x == x else "" for x in h["created"]],
            "APP包名": h["app"].to_numpy(), "APP名称": h["app_name"].to_numpy(), "开发者": h["developer"].to_numpy(),
            "发现时间": [str(x).replace("T", " ") for x in h["first_seen"]]}), "utf-8-sig", "domain_hosting")

    def write_xlsx_simple(self, rel, sheet, df, source):
        import xlsxwriter

        path = self.data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
        wb.set_properties({"created": pd.Timestamp("2024-04-01").to_pydatetime()})
        ws = wb.add_worksheet(sheet)
        ws.write_row(0, 0, list(df.columns))
        for i, row in enumerate(df.itertuples(index=False, name=None), start=1):
            ws.write_row(i, 0, ["" if v is None else str(v) for v in row])
        wb.close()
        self.files.append({"file": rel, "sheet": sheet, "source": source, "encoding": None, "rows": len(df)})

    # -- truth -------------------------------------------------------------
    def truth(self):
        import pyarrow.parquet as pq

        T, R = self.T, self.R
        n = len(T["src"])
        tid, out = R["tid"], R["out"]
        payer_rows = np.bincount(tid[out], weights=self.row_copies[out], minlength=n).astype(np.int64)
        payee_rows = np.bincount(tid[~out], weights=self.row_copies[~out], minlength=n).astype(np.int64)
        ok = np.bincount(tid, weights=self.row_ok.astype(np.int64), minlength=n) > 0
        self.R = None
        A = self.acc["number"]
        na = len(A)
        acc_node = pa.array(["bank_account:" + a for a in A])
        # target: a bank account, the cash point of the withdrawing account, or a merchant
        nodes = pa.concat_arrays([acc_node, pa.array(["cash_point:" + a for a in A]),
                                  pa.array(["payment_account:" + m for m in self.merchant_ids])])
        kinds = pa.array(["transfer", "transfer", "cash_out"])
        labels, cases = pa.array(list(LABELS)), pa.array(self.case_ids)

        def utc(t):  # local seconds -> UTC timestamps (Asia/Shanghai has been UTC+8 since 1991)
            return pa.array((t - 8 * 3600).astype("datetime64[s]").astype("datetime64[ns]")).cast(pa.timestamp("ns", tz="UTC"))

        def table(lo, hi):
            s = slice(lo, hi)
            k = T["kind"][s]
            tgt = np.where(k == 0, T["dst"][s], np.where(k == 2, na + T["src"][s], 2 * na + T["merchant"][s]))
            ids = np.arange(lo, hi)
            return pa.table({
                "source": pc.take(acc_node, pa.array(T["src"][s])), "target": pc.take(nodes, pa.array(tgt)),
                "amount": pa.array(T["amount"][s] / 100), "time": utc(T["t"][s]), "payee_time": utc(T["t_payee"][s]),
                "kind": pc.take(kinds, pa.array(k)), "label": pc.take(labels, pa.array(T["label"][s])),
                "case": pc.take(cases, pa.array(T["case"][s])),
                "payer_txn": self.txn_ids(ids, np.zeros(hi - lo, bool)), "payee_txn": self.txn_ids(ids, np.ones(hi - lo, bool)),
                "payer_exported": pa.array(T["payer_exported"][s]), "payee_exported": pa.array(T["payee_exported"][s]),
                "payer_rows": pa.array(payer_rows[s]), "payee_rows": pa.array(payee_rows[s]), "visible": pa.array(ok[s]),
            })

        tp = self.out / "transfers.parquet"
        writer = None
        for lo in range(0, max(n, 1), 1_000_000):
            t = table(lo, min(n, lo + 1_000_000))
            if writer is None:
                writer = pq.ParquetWriter(tp, t.schema, compression="zstd", compression_level=1,
                                          use_dictionary=["kind", "label", "case"], write_statistics=False)
            writer.write_table(t)
        writer.close()
        columns = t.column_names
        crim = np.flatnonzero(T["label"] >= LABELS.index("victim_payment"))
        ct = pa.table({"source": pc.take(acc_node, pa.array(T["src"][crim])),
                       "target": pc.take(nodes, pa.array(np.where(T["kind"][crim] == 0, T["dst"][crim],
                                                                  np.where(T["kind"][crim] == 2, na + T["src"][crim],
                                                                           2 * na + T["merchant"][crim])))),
                       "amount": pa.array(T["amount"][crim] / 100),
                       "time": pa.array(np.char.add(np.datetime_as_string((T["t"][crim] - 8 * 3600).astype("datetime64[s]"), unit="s"),
                                                    "+00:00")),
                       "label": pc.take(labels, pa.array(T["label"][crim])), "case": pc.take(cases, pa.array(T["case"][crim])),
                       "visible": pa.array(ok[crim])})
        chain = ct.to_pylist()
        rings = {}
        for ring in self.rings:
            rings[ring["id"]] = {
                "fraud_type": ring["fraud_type"], "members": ring["members"], "front": ring["front"],
                "im_accounts": ring["im_accounts"],
                **{lvl: [f"bank_account:{A[a]}" for a in ring[lvl]] for lvl in ("first_level", "second_level", "third_level", "cash_out")},
                "phones": ring["phones"], "devices": [f"device:{x}" for x in ring["devices"] + ring["simbox"]],
                "ips": [f"ip:{x}" for x in ring["ips"]], "domains": ring["domains"], "apps": ring["apps"],
                "dealers": [f"im_account:{self.dealers[d]['im']}" for d in ring["dealers"]],
                "providers": [self.providers[p]["org"] for p in ring["providers"]], "cases": ring["cases"],
            }
        dealers = {f"im_account:{d['im']}": {"farmers": d["farmers"], "rings": d["rings"], "cards": d["cards"], "phones": d["phones"]}
                   for d in self.dealers}
        farmers = {f["person"]: {k: f[k] for k in ("im", "cards", "phones", "outlet", "device", "dealer")} for f in self.farmers}
        providers = {p["org"]: {"ips": [f"ip:{x}" for x in p["ips"]], "domains": p["domains"], "apps": p["apps"],
                                "rings": p["rings"], "account": f"bank_account:{A[p['acc']]}"} for p in self.providers}
        truth = {
            "format": FORMAT, "generator": "chaingraph.world", "seed": self.seed, "n_transfers": int(n),
            "timezone": TZ, "period": {"start": _iso_local(START), "end": _iso_local(START + np.timedelta64(DAYS, "D"))},
            "data_dir": "data",
            "entities": dict(sorted(self.entities.items())),
            "rings": rings, "dealers": dealers, "farmers": farmers, "providers": providers,
            "settlement_platform": [f"payment_account:{m}" for m in self.settlement],
            "exit_traders": [f"bank_account:{A[a]}" for a in self.exit],
            "cases": self.case_truth,
            "traps": self.traps,
            "rejects": sorted(self.rejects, key=lambda r: (r["file"], r["row"])),
            "files": self.files,
            "transfers": {"file": tp.name, "count": int(n), "visible": int(ok.sum()), "columns": columns},
            "chain_transfers": chain,
        }
        return truth, tp


def _split(total: int, k: int, r: random.Random, fee: float) -> list[int]:
    """Split ``total`` cents into ``k`` positive parts whose sum is ``total`` less a fee.

    The weights are Dirichlet(2, ..., 2) (gamma variates, normalised); parts are whole yuan
    except the last, which takes the remainder.
    """
    net = int(total * (1 - fee))
    if k <= 1:
        return [net]
    w = [r.gammavariate(2.0, 1.0) for _ in range(k)]
    s = sum(w)
    parts = [int(x / s * net / 100) * 100 for x in w[:-1]]
    parts.append(net - sum(parts))
    if min(parts) <= 0:
        return [net]
    return parts


_PADDED = {}


def _pad(v: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers as zero-padded strings (below 10**width; widths 2 and 3 by table lookup)."""
    if width <= 3:
        table = _PADDED.get(width)
        if table is None:
            table = _PADDED[width] = pa.array([f"{i:0{width}d}" for i in range(10 ** width)])
        return pc.take(table, pa.array(np.asarray(v, dtype=np.int32)))
    return pc.utf8_lpad(pa.array(v).cast(pa.string()), width=width, padding="0")


def _datetime_parts(t: np.ndarray) -> dict:
    """Local seconds (int64 since 1970) -> zero-padded Arrow strings Y, m, d, H, M, S.

    numpy calendar arithmetic and Arrow casts: ``pc.strftime`` costs ~7 us a value here.
    """
    t = np.asarray(t).astype("datetime64[s]")
    day = t.astype("datetime64[D]")
    month = t.astype("datetime64[M]")
    year = t.astype("datetime64[Y]")
    sec = (t - day).astype(np.int64)
    return {"Y": pa.array(year.astype(np.int64) + 1970).cast(pa.string()),
            "m": _pad((month - year).astype(np.int64) + 1, 2), "d": _pad((day - month).astype(np.int64) + 1, 2),
            "H": _pad(sec // 3600, 2), "M": _pad(sec // 60 % 60, 2), "S": _pad(sec % 60, 2)}


def _fmt_pa(t: np.ndarray, layout: str = "datetime") -> pa.Array:
    """Local seconds as ``YYYY-MM-DD HH:MM:SS`` ("datetime"), ``YYYYMMDD`` ("date") or ``HHMMSS`` ("time")."""
    p = _datetime_parts(t)
    if layout == "date":
        return pc.binary_join_element_wise(p["Y"], p["m"], p["d"], "")
    if layout == "time":
        return pc.binary_join_element_wise(p["H"], p["M"], p["S"], "")
    date = pc.binary_join_element_wise(p["Y"], p["m"], p["d"], "-")
    return pc.binary_join_element_wise(date, pc.binary_join_element_wise(p["H"], p["M"], p["S"], ":"), " ")


def _money(cents: np.ndarray) -> pa.Array:
    """Cents as yuan strings: ``1234.50``, ``-3.05``."""
    a = np.abs(cents)
    s = pc.binary_join_element_wise(pa.array(a // 100).cast(pa.string()), _pad(a % 100, 2), ".")
    neg = cents < 0
    return pc.if_else(pa.array(neg), pc.binary_join_element_wise("-", s, ""), s) if neg.any() else s


def _thousands(cents: np.ndarray) -> pa.Array:
    """Cents as yuan strings with thousands separators: ``1,234,567.00``."""
    a = np.abs(cents)
    y = a // 100
    s = pa.array(y).cast(pa.string())
    for k in (1, 2, 3):  # up to 999,999,999,999 yuan
        big = y >= 1000 ** k
        if not big.any():
            break
        head = pa.array(y // 1000 ** k).cast(pa.string())
        tail = [_pad((y // 1000 ** j) % 1000, 3) for j in range(k - 1, -1, -1)]
        s = pc.if_else(pa.array(big), pc.binary_join_element_wise(head, *tail, ","), s)
    return pc.binary_join_element_wise(s, _pad(a % 100, 2), ".")


def _frame_columns(df: pd.DataFrame):
    """``make(lo, hi)`` for :meth:`_Gen.write_table` over a small DataFrame (None / NaN written empty)."""
    cols = []
    for c in df.columns:
        v = df[c].to_numpy(dtype=object)
        cols.append(pa.array(["" if x is None or x != x else str(x) for x in v], type=pa.string()))
    return lambda lo, hi: [c.slice(lo, hi - lo) for c in cols]


def _csv_lines(cols: list, check=None) -> pa.Array:
    """One CSV line (with CRLF) per row; a cell is quoted only when it holds a comma, quote or line break.

    ``check``: the indexes of the columns that may need quotes (default all; the scan is the
    costliest step, so statements name the one column that can hold a comma).
    """
    out = []
    for i, c in enumerate(cols):
        if check is not None and i not in check:
            out.append(c)
            continue
        need = pc.match_substring_regex(c, r'[,"\r\n]')
        if pc.any(need).as_py():
            q = pc.binary_join_element_wise('"', pc.replace_substring(c, '"', '""'), '"', "")
            c = pc.if_else(need, q, c)
        out.append(c)
    line = pc.binary_join_element_wise(*out, ",") if len(out) > 1 else out[0]
    return pc.binary_join_element_wise(line, "", "\r\n")


def _encode(lines: pa.Array, encoding: str) -> bytes:
    """The bytes of all ``lines`` one after the other, in ``encoding``."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if not len(lines):
        return b""
    off = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    raw = memoryview(lines.buffers()[2])[off[0]:off[-1]]
    if encoding in ("utf-8", "utf-8-sig"):
        return raw
    return bytes(raw).decode("utf-8").encode(encoding)


def _encode_text(text: str, encoding: str) -> bytes:
    return text.encode("utf-8" if encoding == "utf-8-sig" else encoding)


def generate(out_dir, *, seed: int = 0, n_transfers: int = 20_000, n_rings: int | None = None, n_cases: int | None = None,
             progress=None) -> World:
    """Generate a world into ``out_dir`` and return it.

    Parameters
    ----------
    out_dir : path
        Created if absent; ``data/``, ``truth.json`` and ``transfers.parquet``
        in it are overwritten.
    seed : int
        The same seed and sizes give the same files, byte for byte.
    n_transfers : int
        About how many transfers the world has (every one of them in at least
        one written statement, except those whose only row is malformed).
    n_rings, n_cases : int, optional
        Default to values growing with ``n_transfers``.
    progress : callable(str), optional
        Called with a short message before each step.

    Returns
    -------
    World
    """
    import shutil

    out = Path(out_dir)
    if (out / "data").exists():
        shutil.rmtree(out / "data")
    (out / "data").mkdir(parents=True, exist_ok=True)
    g = _Gen(out, seed, n_transfers, n_rings, n_cases, progress)
    steps = [("background population", g.background), ("upstream suppliers and rings", g.upstream_and_rings),
             ("settlement and exit", g.downstream_services), ("cases and money flows", g.cases),
             ("traps and background transfers", g.traps_and_background_flows), ("transfer table", g.transfer_table),
             ("statement rows", g.statements), ("writing statements", g.write_statements), ("writing other sources", g.write_others)]
    for name, fn in steps:
        g.progress(name)
        t0 = _time.perf_counter()
        fn()
        g.timings[name] = round(_time.perf_counter() - t0, 3)
    g.progress("ground truth")
    t0 = _time.perf_counter()
    truth, tp = g.truth()
    tpath = out / "truth.json"
    # indented for reading when small; compact (and written by the C encoder) when large
    indent = 1 if n_transfers <= 200_000 else None
    tpath.write_text(json.dumps(truth, ensure_ascii=False, indent=indent), encoding="utf-8")
    g.timings["ground truth"] = round(_time.perf_counter() - t0, 3)
    return World(out, out / "data", truth, tpath, tp, g.timings)


# ---------------------------------------------------------------------------
# command line

def cmd_world(args) -> int:
    def progress(msg):
        print(f"  {msg} ...", file=sys.stderr)

    t0 = _time.perf_counter()
    w = generate(args.out, seed=args.seed, n_transfers=args.transfers, progress=progress)
    t = w.truth
    print(f"world: {len(t['rings'])} rings, {len(t['cases'])} cases, {t['transfers']['count']} transfers, "
          f"{len(t['files'])} files/sheets, {len(t['rejects'])} malformed rows ({_time.perf_counter() - t0:.1f} s)")
    print(f"files:  {w.data_dir}   (load with: chaingraph load {w.data_dir} --store STORE)")
    print(f"truth:  {w.truth_path}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("world", help="generate a synthetic chain world (case files + ground truth)")
    p.add_argument("--out", required=True, help="output folder (data/ and truth.json are written in it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--transfers", type=int, default=20_000, help="about how many transfers (default 20000)")
    p.set_defaults(func=cmd_world)
