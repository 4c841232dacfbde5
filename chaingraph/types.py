"""Identifier and value types: clean raw export text into one canonical form.

Bank statements, phone-card registrations and case reports spell the same thing
in many ways (``138 0000 0000``, ``+86 13800000000``, ``０086-138-0000-0000``).
Each type here turns a raw cell into ONE canonical value, so that the same
real-world identifier becomes one graph node whichever file it came from.

The schema (``chaingraph/schema.yaml``) names these types; look them up with
:func:`get_type`. Every type has three methods:

``clean(raw)``
    the canonical value, ``None`` for an empty cell (blank, ``nan``, ``null``,
    ``-``, ``--``, ``无``, ``/``), or :class:`~chaingraph.exc.InvalidValue` with
    the reason when the cell cannot be of this type.
``check(value)``
    the checksum / structure check on a cleaned value (Luhn for cards, MOD 11-2
    for resident IDs, ...). A failed check never drops a value: loaders keep it
    and flag it ``"check_failed"``.
``clean_series(s)``
    the same for a whole column: ``(values, errors, flags)`` aligned with
    ``s.index``. ``money`` and ``time`` are vectorised; the other types clean
    each distinct value once (identifiers repeat a lot) and map back.

Canonical values and the dtype of ``values`` from ``clean_series``:

=============  ==============================  ==========================
type           canonical value                 ``values`` dtype
=============  ==============================  ==========================
identifiers    ``str``                         ``object`` (``None`` = missing)
``money``      ``float`` yuan, 2 decimals      ``float64`` (``NaN``)
``time``       tz-aware UTC ``pd.Timestamp``   ``datetime64[us, UTC]`` (``NaT``)
``integer``    ``int``                         ``Int64`` (``<NA>``)
=============  ==============================  ==========================

Examples
--------
>>> get_type("mobile").clean("+86 138 0000 0000")
'13800000000'
>>> get_type("bank_card").clean("6222 0200 0000 0000")
'6222020000000000'
>>> get_type("money").clean("￥1,234.50")
1234.5
>>> get_type("time").clean("2024年1月2日 10时11分12秒")
Timestamp('2024-01-02 02:11:12+0000', tz='UTC')
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .exc import InvalidValue

__all__ = [
    "Type", "TimeType", "TYPES", "TIME", "get_type", "combine_date_time",
    "luhn_ok", "resident_id_check_char",
]

CHECK_FAILED = "check_failed"

# cells that mean "no value" (compared after NFKC, strip and lower-casing)
EMPTY_MARKERS = frozenset(
    {"", "nan", "null", "none", "nat", "n/a", "<na>", "-", "--", "无", "/"}
)
# zero-width characters and the byte-order mark that survive into cells
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\ufeff"), None)
_SPACE = re.compile(r"\s+")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")


def _shorten(raw, limit=40) -> str:
    text = repr(raw)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _prep(raw) -> str | None:
    """The common first step of every type: raw cell -> stripped ASCII-ish text.

    NFKC turns full-width digits, letters and punctuation into ASCII and
    ideographic / no-break spaces into spaces; the apostrophe (or ``="..."``)
    Excel exports put before long numbers is dropped; empty markers give None.
    A float that holds a whole number (a phone column read by pandas with a
    gap in it) is written without its ``.0``.
    """
    if type(raw) is not str:
        if raw is None:
            return None
        if isinstance(raw, (float, np.floating)):
            if math.isnan(raw):
                return None
            if float(raw).is_integer() and abs(raw) < 2**53:
                return str(int(raw))
            return repr(float(raw))
        if pd.api.types.is_scalar(raw) and pd.isna(raw):
            return None
        raw = str(raw)
    s = raw if raw.isascii() else unicodedata.normalize("NFKC", raw).translate(_INVISIBLE)
    s = s.strip()
    if s.startswith('="') and s.endswith('"'):
        s = s[2:-1].strip()
    if s.startswith("'"):
        s = s.lstrip("'").strip()
    return None if len(s) < 6 and s.lower() in EMPTY_MARKERS else s


def _as_series(s) -> pd.Series:
    return s if isinstance(s, pd.Series) else pd.Series(s)


def _arrow_text(s: pd.Series) -> pa.Array:
    """Vectorised :func:`_prep` for money and time: a pyarrow string array, null where empty.

    Uses only pyarrow kernels that need no regular expression over the whole
    column; NFKC runs only on the rows that hold characters it would change.
    """
    if s.dtype != "str":
        s = s.astype("str")
    a = pa.array(s)
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if not pc.all(pc.string_is_ascii(a)).as_py():
        # NFKC only the rows with full-width forms, odd spaces or zero-width characters
        rows = _compat_rows(a)
        if rows.any():
            fixed = pc.utf8_normalize(a.filter(rows), "NFKC")
            for ch in "\u200b\ufeff":  # zero-width space, byte-order mark
                if _any(pc.find_substring(fixed, ch)):
                    fixed = pc.replace_substring(fixed, ch, "")
            a = pc.replace_with_mask(a, pa.array(rows), fixed)
    a = pc.utf8_trim_whitespace(a)
    if pc.any(pc.starts_with(a, '="')).as_py():  # ="6222..." from some exports
        wrapped = pc.and_(pc.starts_with(a, '="'), pc.ends_with(a, '"'))
        a = pc.if_else(wrapped, pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(a, 2, -1)), a)
    if pc.any(pc.starts_with(a, "'")).as_py():
        a = pc.utf8_trim_whitespace(pc.utf8_ltrim(a, "'"))
    short = pc.less(pc.binary_length(a), 6)
    if pc.any(short).as_py():
        empty = pc.and_(short, pc.is_in(pc.utf8_lower(a), value_set=_EMPTY_ARROW))
        a = pc.if_else(empty, pa.scalar(None, a.type), a)
    return a


_EMPTY_ARROW = pa.array(sorted(EMPTY_MARKERS))


_COMPAT_LEAD = np.zeros(256, dtype=bool)
_COMPAT_LEAD[[0xC2, 0xE2, 0xEF]] = True


def _compat_rows(a: pa.Array) -> np.ndarray:
    """Rows that NFKC may change in cleaning: full-width forms and BOM (UTF-8 lead
    byte EF), no-break space (C2), U+2000-2FFF (E2) and U+3000-303F (E3 80)."""
    offsets, data = _buffers(pc.fill_null(a, ""))
    lead = _COMPAT_LEAD[data]
    lead[:-1] |= (data[:-1] == 0xE3) & (data[1:] == 0x80)
    return _count_per_row(lead, offsets) > 0


def _any(found) -> bool:
    """True if a pc.find_substring result found the substring in any row."""
    return bool(pc.any(pc.greater_equal(found, 0)).as_py())


def _mask(x) -> np.ndarray:
    """A pyarrow boolean result as a numpy mask, null counting as False."""
    return pc.fill_null(x, False).to_numpy(zero_copy_only=False)



# -- vectorised helpers of the fast paths (see Type._fast) ---------------------

def _string_array(s: pd.Series) -> pa.Array | None:
    """The column as one pyarrow string array (null where missing), None unless it holds only text."""
    if not (isinstance(s.dtype, pd.StringDtype) or s.dtype == object):
        return None
    try:
        a = pa.array(s.to_numpy() if s.dtype == object else s, from_pandas=True)
    except Exception:  # mixed types (a float among strings): the per-value path
        return None
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return a if pa.types.is_string(a.type) or pa.types.is_large_string(a.type) else None


def _re(a: pa.Array, pattern: str) -> np.ndarray:
    """Mask of the strings of ``a`` matching the RE2 ``pattern`` (use ``^...$`` for a full match)."""
    return _mask(pc.match_substring_regex(a, pattern))


def _is_marker(a: pa.Array) -> np.ndarray:
    """Mask of the strings of ``a`` that are empty markers (``nan``, ``-``, ...), as :func:`_prep` sees them."""
    return _mask(pc.is_in(pc.utf8_lower(a), value_set=_EMPTY_ARROW))


# printable ASCII and CJK ideographs (which NFKC leaves alone), single spaces between words
_PLAIN_CHARS = r"[!-~\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}]"
_PLAIN_TEXT = rf"^{_PLAIN_CHARS}+(?: {_PLAIN_CHARS}+)*$"


def _plain_text(a: pa.Array) -> np.ndarray:
    """Mask of the strings :func:`_prep` and whitespace collapsing leave as they are."""
    ok = _re(a, _PLAIN_TEXT)
    ok &= ~_is_marker(a)
    ok &= ~_mask(pc.starts_with(a, "'")) & ~_mask(pc.starts_with(a, '="'))
    return ok


def _take(a: pa.Array, mask: np.ndarray) -> pa.Array:
    return a.filter(pa.array(mask))


def _objects(a: pa.Array) -> np.ndarray:
    """A string array as a numpy array of Python strings."""
    return a.to_numpy(zero_copy_only=False)


_LUHN_DOUBLE = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)


def _digit_rows(a: pa.Array, width: int) -> np.ndarray:
    """Strings of ASCII digits, all ``width`` long, as an (n, width) int array of digits."""
    _, data = _buffers(a)
    return data.reshape(-1, width).astype(np.int64) - 48


def _luhn_failed(a: pa.Array, lengths: np.ndarray, checked) -> np.ndarray:
    """Vectorised ``not luhn_ok`` for the digit strings ``a`` whose length is in ``checked``."""
    failed = np.zeros(len(a), dtype=bool)
    for width in np.unique(lengths):
        if int(width) not in checked:
            continue
        idx = np.flatnonzero(lengths == width)
        d = _digit_rows(a.take(pa.array(idx)), int(width))[:, ::-1]
        d[:, 1::2] = _LUHN_DOUBLE[d[:, 1::2]]
        failed[idx] = d.sum(axis=1) % 10 != 0
    return failed


def luhn_ok(digits: str) -> bool:
    """True if a string of digits passes the Luhn (mod 10) check.

    Examples
    --------
    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a mainland resident ID (GB 11643).

    Examples
    --------
    >>> resident_id_check_char("11010519491231002")
    'X'
    """
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    return "10X98765432"[total % 11]


# ---------------------------------------------------------------------------
# the base type and the identifier types


class Type:
    """Base of all types: cleans raw cells into one canonical value.

    Subclasses override :meth:`clean` and, where the identifier has a checksum
    or structure to verify, :meth:`check`. :meth:`clean_series` cleans each
    distinct value of a column once and maps the results back.

    Examples
    --------
    >>> t = get_type("text")
    >>> t.clean("  a   b ")
    'a b'
    >>> values, errors, flags = t.clean_series(pd.Series(["x", " x", None]))
    >>> values.tolist()
    ['x', 'x', None]
    """

    name = "type"
    dtype: object = object

    def clean(self, raw):
        """The canonical value of ``raw``; None if empty; InvalidValue if impossible."""
        return _prep(raw)

    def check(self, value) -> bool:
        """Checksum / structure check of a cleaned value; True when there is none."""
        return True

    def invalid(self, raw, reason: str) -> InvalidValue:
        """An :class:`InvalidValue` naming this type, the raw cell and the reason."""
        return InvalidValue(f"{self.name}: {_shorten(raw)}: {reason}")

    def clean_series(self, s):
        """Clean a column: ``(values, errors, flags)``, each aligned with ``s.index``.

        ``values`` holds the cleaned values (missing where empty or invalid),
        ``errors`` the reason where a cell is invalid, ``flags`` ``"check_failed"``
        where a value cleaned but failed :meth:`check` (the value is kept).

        A column of text is dictionary-encoded once; :meth:`_fast` cleans the
        distinct values in the common plain form with pyarrow / numpy kernels,
        and :meth:`clean` takes the others one at a time.
        """
        s = _as_series(s)
        codes, values, errors, flags = self.clean_codes(s)
        return (
            pd.Series(values[codes], index=s.index, dtype=self.dtype),
            pd.Series(errors[codes], index=s.index, dtype=object),
            pd.Series(flags[codes], index=s.index, dtype=object),
        )

    def clean_codes(self, s):
        """:meth:`clean_series` before it is spread over the cells: ``(codes, values,
        errors, flags)``, the last three with one slot per distinct cell and a last one
        for an empty cell, ``codes[i]`` the slot of cell ``i`` (-1: empty).

        (Money and time clean whole columns their own way; this still gives their
        values, one distinct cell at a time.)
        """
        s = _as_series(s)
        a = _string_array(s)
        if a is None:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            todo, values, errors, flags = self._slots(len(uniques))
            self._clean_each(uniques, np.arange(len(uniques)), values, errors, flags)
        else:
            enc = pc.dictionary_encode(a)
            codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
            uniques = enc.dictionary
            todo, values, errors, flags = self._slots(len(uniques))
            fast = self._fast(uniques) if len(uniques) else None
            if fast is not None:
                ok, v, failed = fast
                idx = np.flatnonzero(ok)
                values[idx] = v
                if failed is not None:
                    flags[idx[failed]] = CHECK_FAILED
                todo[idx] = False
            rest = np.flatnonzero(todo)
            if len(rest):
                self._clean_each(uniques.take(pa.array(rest)).to_pylist(), rest, values, errors, flags)
        return codes, values, errors, flags

    @staticmethod
    def _slots(n):
        # the last slot serves code -1 (missing)
        return (np.ones(n, dtype=bool), np.empty(n + 1, dtype=object),
                np.empty(n + 1, dtype=object), np.empty(n + 1, dtype=object))

    def _clean_each(self, raws, slots, values, errors, flags):
        for i, raw in zip(slots, raws):
            try:
                v = self.clean(raw)
            except InvalidValue as exc:
                errors[i] = str(exc)
                continue
            values[i] = v
            if v is not None and not self.check(v):
                flags[i] = CHECK_FAILED

    def _fast(self, u: pa.Array):
        """Vectorised :meth:`clean` and :meth:`check` of the distinct values ``u`` in plain form.

        Returns None, or ``(ok, values, failed)``: the mask of the values of ``u``
        cleaned here, their canonical values (numpy object array, in order) and
        the mask (over those) of the ones failing :meth:`check` (None: all pass).
        Every value a fast path takes must clean exactly as :meth:`clean` would;
        the others (odd spacing, full-width forms, errors, ...) are left to it.
        """
        return None

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class TextType(Type):
    """Free text (memo, bank name, fraud type): whitespace collapsed, full-width to ASCII.

    Chinese characters are kept; NFKC turns full-width letters, digits and
    punctuation such as ``（`` into their ASCII forms.

    Examples
    --------
    >>> TYPES["text"].clean(" ＡＴＭ取现\u3000 ２０２４ ")
    'ATM取现 2024'
    >>> TYPES["text"].clean("--") is None
    True
    """

    name = "text"

    def clean(self, raw):
        s = _prep(raw)
        return None if s is None else _SPACE.sub(" ", s)

    def _fast(self, u):
        ok = _plain_text(u)
        return ok, _objects(_take(u, ok)), None


_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}·]) (?=[{_CJK}·])")
_MIDDLE_DOTS = str.maketrans(dict.fromkeys("\u2022\u2027\u2219\u30fb\u00b7", "·"))


class NameType(TextType):
    """Person and organisation names: like text, and no spaces between Chinese characters.

    The middle dot of transliterated names is unified (``买买提•吐尔逊`` and
    ``买买提・吐尔逊`` become ``买买提·吐尔逊``). Case is kept.

    Examples
    --------
    >>> TYPES["name"].clean(" 张 三 ")
    '张三'
    >>> TYPES["name"].clean("某某科技（杭州） 有限公司")
    '某某科技(杭州)有限公司'
    >>> TYPES["name"].clean("John   Smith")
    'John Smith'
    """

    name = "name"

    def clean(self, raw):
        s = super().clean(raw)
        if s is None:
            return None
        s = s.translate(_MIDDLE_DOTS)
        s = re.sub(r" ?· ?", "·", s)
        s = _CJK_SPACE.sub("", s)
        s = re.sub(rf"(?<=[{_CJK}]) (?=[()])|(?<=[()]) (?=[{_CJK}])", "", s)
        return s

    def _fast(self, u):
        ok = _plain_text(u) & ~_mask(pc.match_substring(u, " "))
        return ok, _objects(_take(u, ok)), None


class CaseIdType(Type):
    """Case numbers: no spaces, latin letters upper-cased.

    Examples
    --------
    >>> TYPES["case_id"].clean(" a3301 0220 24 ")
    'A3301022024'
    >>> TYPES["case_id"].clean("杭公（西）立字[2024] 123号")
    '杭公(西)立字[2024]123号'
    """

    name = "case_id"

    def clean(self, raw):
        s = _prep(raw)
        return None if s is None else _SPACE.sub("", s).upper()

    def _fast(self, u):
        ok = _plain_text(u)
        v = pc.ascii_upper(pc.replace_substring(_take(u, ok), " ", ""))
        return ok, _objects(v), None


class AccountIdType(Type):
    """Generic account identifiers: payment accounts, wallets, app packages, cash points.

    Whitespace is removed and full-width characters become ASCII; case is kept
    (wallet addresses are case-sensitive). A number Excel turned into scientific
    notation is rejected: its digits are lost.

    Examples
    --------
    >>> TYPES["account_id"].clean(" TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE ")
    'TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE'
    >>> TYPES["account_id"].clean("ｗｘ＿ｐａｙ 0001")
    'wx_pay0001'
    """

    name = "account_id"

    def clean(self, raw):
        s = _prep(raw)
        if s is None:
            return None
        s = _SPACE.sub("", s)
        if _SCIENTIFIC.fullmatch(s):
            raise self.invalid(raw, _PRECISION_LOST)
        return s

    def _fast(self, u):
        ok = _re(u, r"^[0-9A-Za-z_@.\-]+$") & ~_is_marker(u)
        ok &= ~_re(u, r"^[+-]?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+$")
        return ok, _objects(_take(u, ok)), None


_PRECISION_LOST = (
    "number in scientific notation: the spreadsheet rounded it and the digits "
    "are lost (precision lost); re-export the column as text"
)


class DigitsType(Type):
    """Identifiers made of digits only (bank card, IMEI, ICCID, IMSI).

    Spaces, dashes and the other ``separators`` are removed; a trailing ``.0``
    (a number that went through a float) is dropped; scientific notation such
    as ``6.22202E+18`` is rejected because the digits are lost.

    Parameters
    ----------
    name : str
        The type name.
    lengths : tuple of int
        Smallest and largest accepted number of digits.
    checked : tuple of int
        Lengths for which :meth:`check` runs the Luhn check; other lengths pass.
    separators : str
        Regular-expression character class of separators to remove.

    Examples
    --------
    >>> TYPES["imei"].clean("35-209900-176148-1")
    '352099001761481'
    >>> TYPES["imei"].check("352099001761481")
    True
    """

    def __init__(self, name, lengths, checked=(), separators=r"[\s\-]"):
        self.name, self.lengths, self.checked = name, lengths, tuple(checked)
        self._separators = re.compile(separators)

    def clean(self, raw):
        s = _prep(raw)
        if s is None:
            return None
        s = self._separators.sub("", s)
        if _SCIENTIFIC.fullmatch(s):
            raise self.invalid(raw, _PRECISION_LOST)
        s = re.sub(r"(?<=\d)\.0+$", "", s)
        return self._digits(raw, s)

    def _digits(self, raw, s):
        if not (s.isascii() and s.isdigit()):
            raise self.invalid(raw, "not all digits")
        lo, hi = self.lengths
        if not lo <= len(s) <= hi:
            raise self.invalid(raw, f"{len(s)} digits, expected {lo} to {hi}")
        return s

    def check(self, value):
        return len(value) not in self.checked or luhn_ok(value)

    def _luhn_lengths(self):
        return self.checked

    def _fast(self, u):
        # digits with spaces or dashes between them: both are separators of every digits type
        ok = _re(u, r"^[0-9-](?:[0-9 -]*[0-9-])?$")
        if not ok.any():
            return None
        idx = np.flatnonzero(ok)
        d = _take(u, ok)
        for sep in " -":
            if _mask(pc.match_substring(d, sep)).any():
                d = pc.replace_substring(d, sep, "")
        n = pc.binary_length(d).to_numpy(zero_copy_only=False)
        lo, hi = self.lengths
        good = (n >= lo) & (n <= hi)  # the others get their error from clean()
        ok[idx[~good]] = False
        d, n = _take(d, good), n[good]
        return ok, _objects(d), _luhn_failed(d, n, self._luhn_lengths())


class IccidType(DigitsType):
    """SIM card serial numbers: 19-20 digits, a trailing ``F`` padding removed; Luhn check.

    Examples
    --------
    >>> TYPES["iccid"].clean("8986 0012 3456 7890 123F")
    '8986001234567890123'
    """

    def clean(self, raw):
        s = _prep(raw)
        if s is None:
            return None
        s = re.sub(r"[fF]$", "", self._separators.sub("", s))
        if _SCIENTIFIC.fullmatch(s):
            raise self.invalid(raw, _PRECISION_LOST)
        return self._digits(raw, s)

    def check(self, value):
        return luhn_ok(value)

    def _luhn_lengths(self):
        return range(self.lengths[0], self.lengths[1] + 1)


class ResidentIdType(Type):
    """Mainland resident ID numbers (GB 11643): 18 characters, the last may be ``X``.

    Legacy 15-digit numbers are upgraded to 18 (``19`` inserted before the
    birth year, check character computed), so both spellings are one person.
    :meth:`check` verifies the ISO 7064 MOD 11-2 check character.

    Examples
    --------
    >>> t = TYPES["resident_id"]
    >>> t.clean("110105 19491231 002x")
    '11010519491231002X'
    >>> t.check("11010519491231002X"), t.check("110105194912310021")
    (True, False)
    >>> t.clean("110105491231002")  # the same person's 15-digit number
    '11010519491231002X'
    """

    name = "resident_id"

    def clean(self, raw):
        s = _prep(raw)
        if s is None:
            return None
        s = _SPACE.sub("", s).upper()
        if _SCIENTIFIC.fullmatch(s):
            raise self.invalid(raw, _PRECISION_LOST)
        if re.fullmatch(r"\d{17}[\dX]", s, re.ASCII):
            return s
        if re.fullmatch(r"\d{15}", s, re.ASCII):
            first17 = s[:6] + "19" + s[6:]
            return first17 + resident_id_check_char(first17)
        raise self.invalid(raw, "not a resident ID (18 characters, or 15 digits)")

    def check(self, value):
        return len(value) == 18 and resident_id_check_char(value[:17]) == value[17]

    def _fast(self, u):
        ok = _re(u, r"^[0-9]{17}[0-9Xx]$")
        v = pc.ascii_upper(_take(u, ok))
        d = _digit_rows(v, 18) + 48  # bytes
        total = ((d[:, :17] - 48) * np.array(_ID_WEIGHTS)).sum(axis=1) % 11
        failed = np.frombuffer(b"10X98765432", dtype=np.uint8)[total] != d[:, 17]
        return ok, _objects(v), failed


class MobileType(Type):
    """Phone numbers; canonical mainland mobile = 11 digits starting with 1.

    ``+86``, ``0086`` and ``86`` before an 11-digit mobile are removed, as are
    spaces, dashes, dots and brackets, and the ``0`` some call records put before
    a mobile. Landlines, service numbers and foreign numbers occur in call records
    and are kept: 5 to 15 digits, with a leading ``+`` for non-Chinese
    international numbers (``+85212345678``); ``+86`` before a landline becomes
    the domestic ``0`` prefix. :meth:`check` is True only for a mainland mobile.

    Examples
    --------
    >>> t = TYPES["mobile"]
    >>> [t.clean(v) for v in ["138 0000 0000", "+86 13800000000", "0086-138-0000-0000"]]
    ['13800000000', '13800000000', '13800000000']
    >>> t.clean("+852 1234 5678"), t.clean("010-8888 6666")
    ('+85212345678', '01088886666')
    >>> t.check("13800000000"), t.check("01088886666")
    (True, False)
    """

    name = "mobile"
    _mobile = re.compile(r"1\d{10}", re.ASCII)

    def clean(self, raw):
        s = _prep(raw)
        if s is None:
            return None
        s = re.sub(r"^(\+?\d+)\.0+$", r"\1", s)  # 13800000000.0: went through a float
        s = re.sub(r"[\s\-().]", "", s)
        international = s.startswith(("+", "00"))
        s = s[1:] if s.startswith("+") else s[2:] if international else s
        if not (s.isascii() and s.isdigit()):
            raise self.invalid(raw, "not a phone number")
        if s.startswith("86") and (international or len(s) == 13):
            if self._mobile.fullmatch(s[2:]):
                return s[2:]
            if international:
                s, international = "0" + s[2:], False
        if not international and len(s) == 12 and self._mobile.fullmatch(s[1:]) and s[0] == "0":
            s = s[1:]
        if not 5 <= len(s) <= 15:
            raise self.invalid(raw, f"{len(s)} digits, expected 5 to 15")
        return "+" + s if international else s

    def check(self, value):
        return bool(re.fullmatch(r"1[3-9]\d{9}", value))

    def _fast(self, u):
        ok = _re(u, r"^1[0-9]{10}$")
        v = _take(u, ok)
        return ok, _objects(v), ~_re(v, r"^1[3-9]")


class DeviceIdType(Type):
    """Generic device identifiers (MAC, IMEI, Android id): upper case, no spaces.

    MAC addresses written with ``-``, ``:``, ``.`` or no separators become
    ``AA:BB:CC:DD:EE:FF``.

    Examples
    --------
    >>> t = TYPES["device_id"]
    >>> [t.clean(v) for v in ["aa-bb-cc-dd-ee-ff", "aabb.ccdd.eeff", "AABBCCDDEEFF"]]
    ['AA:BB:CC:DD:EE:FF', 'AA:BB:CC:DD:EE:FF', 'AA:BB:CC:DD:EE:FF']
    >>> t.clean(" 9774d56d682e549c ")
    '9774D56D682E549C'
    """

    name = "device_id"
    _mac = re.compile(
        r"(?:[0-9A-F]{2}[-:]){5}[0-9A-F]{2}|(?:[0-9A-F]{4}\.){2}[0-9A-F]{4}|[0-9A-F]{12}"
    )

    def clean(self, raw):
        s = _prep(raw)
        if s is None:
            return None
        s = _SPACE.sub("", s).upper()
        if self._mac.fullmatch(s):
            h = re.sub(r"[-:.]", "", s)
            return ":".join(h[i : i + 2] for i in range(0, 12, 2))
        return s

    def _fast(self, u):
        mac = _re(u, r"^(?:[0-9A-Fa-f]{2}[-:]){5}[0-9A-Fa-f]{2}$")
        plain = _re(u, r"^[0-9A-Za-z]+$") & ~_is_marker(u)
        ok = mac | plain
        v = pc.ascii_upper(_take(u, ok))
        v = pc.replace_substring(v, "-", ":")
        v = pc.replace_substring_regex(v, "^" + "([0-9A-F]{2})" * 6 + "$", r"\1:\2:\3:\4:\5:\6")
        return ok, _objects(v), None


class IpType(Type):
    """IPv4 and IPv6 addresses in the compressed form of :mod:`ipaddress`.

    A port is removed (``1.2.3.4:8080``, ``[2001:db8::1]:443``), zero padding
    of IPv4 parts (``010.001.002.003``) is dropped and IPv4-mapped IPv6
    addresses become IPv4.

    Examples
    --------
    >>> t = TYPES["ip"]
    >>> t.clean("1.2.3.4:8080"), t.clean("::ffff:1.2.3.4"), t.clean("2001:0DB8:0:0::1")
    ('1.2.3.4', '1.2.3.4', '2001:db8::1')
    """

    name = "ip"

    def clean(self, raw):
        s = _prep(raw)
        if s is None:
            return None
        s = _SPACE.sub("", s)
        if s.startswith("[") and "]" in s:
            s = s[1 : s.index("]")]
        elif s.count(":") == 1:
            s = s.split(":")[0]
        if re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", s, re.ASCII):
            s = ".".join(str(int(p)) for p in s.split("."))
        try:
            addr = ipaddress.ip_address(s)
        except ValueError:
            raise self.invalid(raw, "not an IPv4 or IPv6 address") from None
        if addr.version == 6 and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        return str(addr)

    _octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

    def _fast(self, u):
        # dotted-quad IPv4; the zero padding of its parts dropped
        ok = _re(u, r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$")
        idx = np.flatnonzero(ok)
        v = _take(u, ok)
        if _re(v, r"(?:^|\.)0[0-9]").any():
            v = pc.replace_substring_regex(v, r"(^|\.)0+([0-9])", r"\1\2")
        good = _re(v, rf"^{self._octet}(?:\.{self._octet}){{3}}$")  # parts above 255: clean() says why
        ok[idx[~good]] = False
        return ok, _objects(_take(v, good)), None


class DomainType(Type):
    """Domain names: lower case, punycode, without scheme, user, port, path or final dot.

    Internationalised names are encoded with Python's ``idna`` codec. :meth:`check`
    validates the label syntax (letters, digits, inner hyphens, at most 63
    characters a label, at least two labels, a non-numeric top label).

    Examples
    --------
    >>> t = TYPES["domain"]
    >>> t.clean("https://Www.Example.com/a?b")
    'www.example.com'
    >>> t.clean("例子.中国")
    'xn--fsqu00a.xn--fiqs8s'
    >>> t.check("www.example.com"), t.check("-bad-.com")
    (True, False)
    """

    name = "domain"
    _label = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

    def clean(self, raw):
        s = _prep(raw)
        if s is None:
            return None
        s = _SPACE.sub("", s).lower().replace("\u3002", ".")
        s = re.sub(r"^[a-z][a-z0-9+.\-]*://", "", s)
        s = re.split(r"[/?#\\]", s, maxsplit=1)[0]
        s = s.rsplit("@", 1)[-1]
        s = re.sub(r":\d*$", "", s)
        s = s.removeprefix("*.").rstrip(".")
        if not s:
            raise self.invalid(raw, "no host name")
        try:
            ipaddress.ip_address(s.strip("[]"))
        except ValueError:
            pass
        else:
            raise self.invalid(raw, "an IP address, not a domain")
        try:
            s = s.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise self.invalid(raw, f"not a domain name ({exc})") from None
        if not re.fullmatch(r"[a-z0-9._-]+", s):
            raise self.invalid(raw, "not a domain name")
        return s

    def check(self, value):
        labels = value.split(".")
        return (
            len(value) <= 253
            and len(labels) >= 2
            and not labels[-1].isdigit()
            and all(self._label.fullmatch(label) for label in labels)
        )


# ---------------------------------------------------------------------------
# integer


class IntegerType(Type):
    """Counts and durations in seconds.

    Accepts ``1,234``, ``12.0``, ``h:m:s`` (``00:02:03`` = 123 s), ``m:s``
    (``2:03`` = 123 s) and Chinese units (``2分3秒``, ``1小时5分``).

    Examples
    --------
    >>> t = TYPES["integer"]
    >>> [t.clean(v) for v in ["123", "1,234", "00:02:03", "2分3秒", "1小时"]]
    [123, 1234, 123, 123, 3600]
    """

    name = "integer"
    dtype = "Int64"
    _units = re.compile(
        r"(?:(\d+)(?:小时|时|h))?(?:(\d+)(?:分钟|分|min|m))?(?:(\d+)(?:秒钟|秒|sec|s))?",
        re.IGNORECASE | re.ASCII,
    )

    def clean(self, raw):
        v = self._clean(raw)
        if v is not None and not -(2**63) < v < 2**63:  # would not fit the Int64 column
            raise self.invalid(raw, "too large a number")
        return v

    def _clean(self, raw):
        if isinstance(raw, (bool, np.bool_)):
            raise self.invalid(raw, "a boolean, not a number")
        if isinstance(raw, (int, np.integer)):
            return int(raw)
        s = _prep(raw)
        if s is None:
            return None
        s = re.sub(r"[\s,]", "", s)
        if m := re.fullmatch(r"([+-]?\d+)(?:\.0*)?", s, re.ASCII):
            return int(m[1])
        if m := re.fullmatch(r"(\d+):(\d{1,2})(?::(\d{1,2}))?", s, re.ASCII):
            parts = [int(p) for p in m.groups() if p is not None]
            h, mi, sec = ([0] + parts)[-3:]
            return h * 3600 + mi * 60 + sec
        m = self._units.fullmatch(s)
        if m and any(m.groups()):
            h, mi, sec = (int(p or 0) for p in m.groups())
            return h * 3600 + mi * 60 + sec
        raise self.invalid(raw, "not a whole number or a duration")

    def _fast(self, u):
        ok = _re(u, r"^-?[0-9]{1,18}$")
        v = pc.cast(_take(u, ok), pa.int64()).to_numpy(zero_copy_only=False)
        out = np.empty(len(v), dtype=object)
        out[:] = v.tolist()
        return ok, out, None


# ---------------------------------------------------------------------------
# money


_PLAIN_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_MINUS_SIGNS = ("\u2212", "\u2013", "\u2014")  # minus sign, en dash, em dash


def _byte_table(chars: str) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[list(chars.encode("ascii"))] = True
    return table


_NUMBER_BYTES = _byte_table("0123456789.+-eE")
_JUNK = ",'_$ \t"  # thousands separators, Excel quote, dollar, spaces
_JUNK_BYTES = _byte_table(_JUNK)
_MONEY_JUNK = dict.fromkeys(map(ord, _JUNK), None)
_PLAIN_RE = re.compile(_PLAIN_NUMBER, re.ASCII)


def _buffers(a: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (from 0) and UTF-8 bytes of a string array without nulls, as numpy arrays."""
    a = pc.cast(a, pa.large_string())
    offsets = np.frombuffer(a.buffers()[1], dtype=np.int64)[a.offset : a.offset + len(a) + 1]
    data = np.frombuffer(a.buffers()[2], dtype=np.uint8) if a.buffers()[2] else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def _count_per_row(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many bytes of each row are flagged (``flags``: one bool per byte)."""
    flags = np.append(flags, False)  # so that trailing empty rows have a valid start
    counts = np.add.reduceat(flags, offsets[:-1], dtype=np.int64)
    counts[offsets[1:] == offsets[:-1]] = 0  # reduceat gives an empty row its next byte
    return counts


def _rows_with_bytes(a: pa.Array, table: np.ndarray) -> np.ndarray:
    """Mask of the rows holding at least one byte marked in ``table`` (vectorised)."""
    offsets, data = _buffers(a)
    return _count_per_row(table[data], offsets) > 0


def _drop_bytes(a: pa.Array, table: np.ndarray) -> pa.Array:
    """The strings of ``a`` (no nulls) without the ASCII bytes marked in ``table``."""
    offsets, data = _buffers(a)
    keep = ~table[data]
    new_offsets = np.concatenate([[0], np.cumsum(_count_per_row(keep, offsets))])
    return pa.Array.from_buffers(
        pa.large_string(), len(a), [None, pa.py_buffer(new_offsets), pa.py_buffer(data[keep].tobytes())]
    )


def _to_float(a: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Cast text to float: values (NaN where not a number) and the mask of numbers.

    Rows with nothing but digits, signs, dots and exponents are cast at once
    (a failing pyarrow cast is slow, so the others are left out first); if
    one of them is still malformed (``1.2.3``) they are matched one by one.
    """
    values = np.full(len(a), np.nan)
    candidate = ~_mask(pc.is_null(a))
    candidate[candidate] = ~_rows_with_bytes(a.filter(candidate), ~_NUMBER_BYTES)
    sub = a.filter(candidate)
    try:
        cast = pc.cast(sub, pa.float64())
    except pa.ArrowInvalid:
        ok = _mask(pc.match_substring_regex(sub, _PLAIN_NUMBER))
        candidate[candidate] = ok
        cast = pc.cast(sub.filter(ok), pa.float64())
    values[candidate] = cast.to_numpy(zero_copy_only=False)
    return values, candidate


def _money_values(a: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse prepared money text: float values (NaN if not parsed) and a 'bad' mask.

    Stages, each only on the cells the one before could not read: a plain
    cast; separators and currency signs removed; currency words, parentheses,
    a trailing minus and the units 万 / 亿.
    """
    present = ~_mask(pc.is_null(a))
    values, ok = _to_float(a)
    empty = np.zeros(len(a), dtype=bool)
    idx = np.flatnonzero(present & ~ok)
    if len(idx):
        b = _drop_bytes(a.take(idx), _JUNK_BYTES)
        if not pc.all(pc.string_is_ascii(b)).as_py():
            for token in ("¥", "元", "圆", "人民币"):
                if _any(pc.find_substring(b, token)):
                    b = pc.replace_substring(b, token, "")
            for token in _MINUS_SIGNS:
                if _any(pc.find_substring(b, token)):
                    b = pc.replace_substring(b, token, "-")
        v, ok_b = _to_float(b)
        rest = np.flatnonzero(~ok_b)
        if len(rest):
            c = pc.replace_substring_regex(b.take(rest), "(?i)rmb|cny|usd|hkd", "")
            paren = _mask(pc.and_(pc.starts_with(c, "("), pc.ends_with(c, ")")))
            c = pc.if_else(paren, pc.utf8_slice_codeunits(c, 1, -1), c)
            trailing = _mask(pc.ends_with(c, "-")) & (pc.binary_length(c).to_numpy() > 1)
            c = pc.if_else(trailing, pc.utf8_slice_codeunits(c, 0, -1), c)
            scale = np.where(_mask(pc.ends_with(c, "万")), 1e4, 1.0)
            scale[_mask(pc.ends_with(c, "亿"))] = 1e8
            c = pc.if_else(scale != 1.0, pc.utf8_slice_codeunits(c, 0, -1), c)
            v_c, _ = _to_float(c)
            v[rest] = np.where(paren ^ trailing, -v_c, v_c) * scale
            # a cell of nothing but a currency word ("元") is empty, not wrong
            empty[idx[rest]] = _mask(pc.equal(c, ""))
        values[idx] = v
    values[np.isinf(values)] = np.nan
    bad = present & np.isnan(values) & ~empty
    return np.round(values, 2) + 0.0, bad  # + 0.0 turns -0.0 into 0.0


class MoneyType(Type):
    """Amounts of money: a signed float in yuan, rounded to 2 decimals.

    Thousands separators, full-width digits, currency signs and words
    (``¥ ￥ $ 元 RMB CNY USD 人民币``), a leading ``+``,
    ``−`` (U+2212), a trailing minus (``500-``), parentheses (``(500.00)``) and the
    units ``万`` and ``亿`` are understood. No currency is converted. Rounding is
    that of :func:`numpy.round` on the float (``12.345`` -> ``12.34``).
    :meth:`clean_series` is vectorised (pyarrow compute and numpy on the string
    buffers); :meth:`clean` runs the same stages on one value in Python.

    Examples
    --------
    >>> t = TYPES["money"]
    >>> [t.clean(v) for v in ["1,234.50", "(500.00)", "500-", "1.5万", "−３０.１"]]
    [1234.5, -500.0, -500.0, 15000.0, -30.1]
    """

    name = "money"
    dtype = "float64"

    def clean(self, raw):
        # the same stages as _money_values, for one value
        if isinstance(raw, (bool, np.bool_)):
            raise self.invalid(raw, "a boolean, not an amount")
        if isinstance(raw, (int, float, np.integer, np.floating)):
            value = float(raw)
            if math.isnan(value):
                return None
        else:
            s = _prep(raw)
            if s is None:
                return None
            value = self._parse(s)
            if value is None:
                return None
        if math.isinf(value) or math.isnan(value):
            raise self.invalid(raw, "not an amount of money")
        return float(np.round(value, 2)) + 0.0

    def _parse(self, s: str) -> float | None:
        if _PLAIN_RE.fullmatch(s):
            return float(s)
        s = s.translate(_MONEY_JUNK)
        for token in ("¥", "元", "圆", "人民币"):
            s = s.replace(token, "")
        for token in _MINUS_SIGNS:
            s = s.replace(token, "-")
        if _PLAIN_RE.fullmatch(s):
            return float(s)
        s = re.sub("(?i)rmb|cny|usd|hkd", "", s)
        paren = s.startswith("(") and s.endswith(")")
        s = s[1:-1] if paren else s
        trailing = s.endswith("-") and len(s) > 1
        s = s[:-1] if trailing else s
        scale = {"万": 1e4, "亿": 1e8}.get(s[-1:], 1.0)
        s = s[:-1] if scale != 1.0 else s
        if not s:
            return None  # nothing but a currency word ("元")
        if not _PLAIN_RE.fullmatch(s):
            return float("nan")
        return (-float(s) if paren ^ trailing else float(s)) * scale

    def clean_series(self, s):
        s = _as_series(s)
        errors = np.full(len(s), None, dtype=object)
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            values = np.round(s.to_numpy(dtype="float64", na_value=np.nan), 2) + 0.0
            bad = np.isinf(values)
            values[bad] = np.nan
            text = None
        else:
            text = _arrow_text(s)
            values, bad = _money_values(text)
        for i in np.flatnonzero(bad):
            raw = text[int(i)].as_py() if text is not None else s.iloc[i]
            errors[i] = str(self.invalid(raw, "not an amount of money"))
        none = np.full(len(s), None, dtype=object)
        return (
            pd.Series(values, index=s.index, dtype=self.dtype),
            pd.Series(errors, index=s.index, dtype=object),
            pd.Series(none, index=s.index, dtype=object),
        )


# ---------------------------------------------------------------------------
# time

# The fast path of TimeType.clean_series: pd.to_datetime formats (all parsed by
# pandas' fast ISO-like parser), plus "compact" (20240102101112), "chinese"
# (2024年1月2日 ..., rewritten to one of the formats), "excel" and "epoch".
_FAST_FORMATS = [
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S.%f",
    "%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M", "%Y.%m.%d",
    "%Y%m%d",
]
_CANDIDATES = _FAST_FORMATS + ["compact", "excel", "epoch", "chinese"]
_CHINESE = (("年", "-"), ("月", "-"), ("日 ", " "), ("日", " "), ("时", ":"), ("点", ":"),
            ("分", ":"), ("秒", ""))
_EXCEL_RANGE = (20000, 80000)  # Excel serial days: 1954-10-03 .. 2119-01-10
_EXCEL_ORIGIN = "1899-12-30"

# the scalar parser (also the fallback of clean_series)
_DATE_TIME = re.compile(
    r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"
    r"(?:(?:\s*T\s*|\s+)(?P<H>\d{1,2})[:.](?P<M>\d{1,2})"
    r"(?:[:.](?P<S>\d{1,2})(?:[.,](?P<f>\d{0,9}))?)?)?"
    r"\s*(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)
_COMPACT = re.compile(
    r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"
    r"(?:[\sT]?(?P<H>\d{2}):?(?P<M>\d{2})(?::?(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?"
    r"(?P<z>)",
    re.ASCII,
)
_ZERO_DATE = re.compile(r"0{4}\D?0{2}\D?0{2}.*")  # MySQL's "0000-00-00 00:00:00"


class TimeType(Type):
    """Points in time, returned as timezone-aware UTC :class:`pandas.Timestamp`.

    Times without an offset are read in ``zone`` (default ``Asia/Shanghai``,
    the zone of mainland exports); an explicit offset (``+08:00``, ``Z``) is
    respected. Accepted: ``2024-01-02 10:11:12``, ``2024/1/2 10:11``,
    ``2024.01.02 10:11:12``, ``20240102101112``, ``20240102 101112``, ISO 8601
    with ``T`` and offset, ``2024年1月2日 10时11分12秒``, ``2024年01月02日 10:11:12``,
    date only, fractions of a second (kept to the microsecond), ``上午/下午`` and
    ``AM/PM``, Excel serial dates (``45293.4236``, only between 20000 and 80000,
    rounded to the second, read in ``zone``) and Unix epoch seconds or
    milliseconds (10 or 13 digits starting with 1, UTC). ``0000-00-00`` is empty.

    :meth:`clean_series` detects the format from a sample of the column, parses
    every cell of that format at once (``pd.to_datetime(format=...)``), repeats
    for up to two more formats, and cleans only the cells left over one
    distinct value at a time with :meth:`clean`. Columns of fewer than
    ``fast_path_min`` cells go straight to :meth:`clean`.

    Parameters
    ----------
    zone : str
        IANA zone of times written without an offset.

    Examples
    --------
    >>> t = TimeType()
    >>> t.clean("2024-01-02 10:11:12")
    Timestamp('2024-01-02 02:11:12+0000', tz='UTC')
    >>> t.clean("2024-01-02T10:11:12Z")
    Timestamp('2024-01-02 10:11:12+0000', tz='UTC')
    >>> TimeType(zone="UTC").clean("20240102 101112")
    Timestamp('2024-01-02 10:11:12+0000', tz='UTC')
    """

    name = "time"
    dtype = "datetime64[us, UTC]"
    max_rounds = 3  # formats tried on the whole column before the per-value fallback
    sample_size = 200  # cells the format is detected from
    fast_path_min = 50  # shorter columns go straight to the per-value parser

    def __init__(self, zone: str = "Asia/Shanghai"):
        try:
            pd.Timestamp("2000-01-01").tz_localize(zone)
        except Exception as exc:
            raise ValueError(f"unknown time zone {zone!r}") from exc
        self.zone = zone

    def __repr__(self):
        return f"<TimeType zone={self.zone!r}>"

    # -- scalar -------------------------------------------------------------
    def _utc(self, ts: pd.Timestamp) -> pd.Timestamp:
        if ts.tzinfo is None:
            ts = ts.tz_localize(self.zone)
        return ts.tz_convert("UTC").as_unit("us")

    def clean(self, raw):
        if isinstance(raw, (pd.Timestamp, np.datetime64)) or hasattr(raw, "timetuple"):
            if pd.isna(raw):
                return None
            return self._utc(pd.Timestamp(raw))
        s = _prep(raw)
        if s is None or _ZERO_DATE.fullmatch(s):
            return None
        try:
            return self._parse(s)
        except (ValueError, OverflowError) as exc:
            raise self.invalid(raw, f"not a time ({exc})") from None

    def _parse(self, s: str) -> pd.Timestamp:
        if re.fullmatch(r"\d{5}(?:\.\d+)?", s):
            days = float(s)
            if not _EXCEL_RANGE[0] <= days <= _EXCEL_RANGE[1]:
                raise ValueError("a number outside the range of Excel dates")
            ts = pd.Timestamp(_EXCEL_ORIGIN) + pd.Timedelta(days=days)
            return self._utc(ts.round("s"))
        if re.fullmatch(r"1\d{9}(?:\d{3})?", s):
            return pd.Timestamp(int(s), unit="s" if len(s) == 10 else "ms", tz="UTC").as_unit("us")
        pm = bool(re.search(r"下午|晚上|PM", s, re.IGNORECASE))
        am = bool(re.search(r"上午|凌晨|早上|AM", s, re.IGNORECASE))
        s = re.sub(r"上午|下午|晚上|凌晨|早上|中午|AM|PM", " ", s, flags=re.IGNORECASE)
        s = s.replace("年", "-").replace("月", "-").replace("日", " ").replace("号", " ")
        s = re.sub(r"(\d)\s*[时点]\s*", r"\1:", s).replace("分", ":").replace("秒", "")
        s = re.sub(r"\s+", " ", s).strip().rstrip(":").strip()
        m = _DATE_TIME.fullmatch(s) or _COMPACT.fullmatch(s)
        if not m:
            raise ValueError("unknown format")
        g = {k: int(v) if v and k not in "fz" else v for k, v in m.groupdict().items()}
        hour = g["H"] or 0
        if pm and hour < 12:
            hour += 12
        elif am and hour == 12:
            hour = 0
        micro = int((g["f"] or "0").ljust(6, "0")[:6])
        ts = pd.Timestamp(
            year=g["y"], month=g["m"], day=g["d"], hour=hour,
            minute=g["M"] or 0, second=g["S"] or 0, microsecond=micro,
        )
        if g["z"]:
            z = "+00:00" if g["z"] == "Z" else g["z"]
            ts = pd.Timestamp(ts.isoformat() + (z if len(z) > 3 else z + ":00"))
        return self._utc(ts)

    # -- vectorised ---------------------------------------------------------
    def _parse_as(self, a: pa.Array, fmt: str) -> pd.Series:
        """Parse every cell of ``a`` as ``fmt`` at once: UTC times, NaT where it does not fit."""
        if fmt == "chinese":
            for old, new in _CHINESE:
                if _any(pc.find_substring(a, old)):
                    a = pc.replace_substring(a, old, new)
            text = pd.Series(pc.utf8_rtrim(a, ": "), dtype="str")
            out = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
            for f in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
                missing = out.isna().to_numpy()
                if missing.any():
                    out[missing] = pd.to_datetime(text[missing], format=f, errors="coerce")
        elif fmt == "compact":  # 20240102101112, 20240102 101112, 20240102T101112
            date, sep, clock = (pc.utf8_slice_codeunits(a, *span) for span in ((0, 8), (8, -6), (-6, None)))
            fits = pc.and_(
                pc.and_(pc.utf8_is_digit(date), pc.utf8_is_digit(clock)),
                pc.and_(pc.is_in(sep, value_set=pa.array(["", " ", "T"])),
                        pc.is_in(pc.utf8_length(a), value_set=pa.array([14, 15], pa.int64()))),
            )
            joined = pc.binary_join_element_wise(date, clock, pa.scalar("", a.type))
            digits = pc.if_else(fits, joined, pa.scalar(None, a.type))
            n = pc.fill_null(pc.cast(digits, pa.int64()), 0).to_numpy()
            parts = {}
            for unit, div in (("year", 10**10), ("month", 10**8), ("day", 10**6),
                              ("hour", 10**4), ("minute", 100), ("second", 1)):
                parts[unit], n = np.divmod(n, div)
            clock_ok = (parts["hour"] < 24) & (parts["minute"] < 60) & (parts["second"] < 60)
            out = pd.to_datetime(pd.DataFrame(parts), errors="coerce").where(clock_ok)
        elif fmt == "excel":  # 45293.4236: days since 1899-12-30, read in the zone
            fits = _mask(pc.match_substring_regex(a, r"^\d{5}(?:\.\d+)?$"))
            days = pd.Series(_to_float(a)[0]).where(fits)
            days = days.where(days.between(*_EXCEL_RANGE))
            out = pd.to_datetime(days, unit="D", origin=_EXCEL_ORIGIN).dt.round("s")
        elif fmt == "epoch":  # 1704161472 (seconds), 1704161472123 (milliseconds), UTC
            fits = _mask(pc.match_substring_regex(a, r"^1\d{9}(?:\d{3})?$"))
            x = pd.Series(_to_float(a)[0]).where(fits)
            out = pd.to_datetime(x.where(x < 1e10), unit="s", utc=True).fillna(
                pd.to_datetime(x.where(x >= 1e10), unit="ms", utc=True)
            )
        else:
            if fmt == "%Y%m%d":  # pandas would also read 6 or 7 digits (1-digit month, day)
                a = pc.if_else(pc.equal(pc.utf8_length(a), 8), a, pa.scalar(None, a.type))
            text = pd.Series(a, dtype="str")
            out = pd.to_datetime(text, format=fmt, errors="coerce", utc="%z" in fmt)
        if out.dt.tz is None:
            out = out.dt.tz_localize(self.zone, ambiguous="NaT", nonexistent="NaT")
        return out.dt.tz_convert("UTC").dt.as_unit("us")

    def _detect(self, sample: pa.Array, tried) -> str | None:
        """The candidate format that parses most of ``sample`` (None if none parses any)."""
        best, best_count = None, 0
        for fmt in _CANDIDATES:
            if fmt not in tried:
                count = int(self._parse_as(sample, fmt).notna().sum())
                if count > best_count:
                    best, best_count = fmt, count
                if count == len(sample):
                    break
        return best

    def clean_series(self, s):
        s = _as_series(s)
        n = len(s)
        errors = np.full(n, None, dtype=object)
        flags = pd.Series(np.full(n, None, dtype=object), index=s.index, dtype=object)
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
            if s.dt.tz is None:
                s = s.dt.tz_localize(self.zone, ambiguous="NaT", nonexistent="NaT")
            values = s.dt.tz_convert("UTC").dt.as_unit("us")
            return values, pd.Series(errors, index=s.index, dtype=object), flags
        text = _arrow_text(s)
        out = np.full(n, np.datetime64("NaT", "us"), dtype="datetime64[us]")
        todo = ~_mask(pc.is_null(text))
        tried = set()
        rounds = self.max_rounds if todo.sum() >= self.fast_path_min else 0
        for _ in range(rounds):
            idx = np.flatnonzero(todo)
            if not len(idx):
                break
            pick = np.unique(idx[np.linspace(0, len(idx) - 1, self.sample_size).astype(int)])
            fmt = self._detect(text.take(pick), tried)
            if fmt is None:
                break
            tried.add(fmt)
            parsed = self._parse_as(text if len(idx) == n else text.take(idx), fmt)
            good = parsed.notna().to_numpy()
            out[idx[good]] = parsed[good].dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
            todo[idx[good]] = False
        # what the fast path left: the scalar parser, once per distinct raw value
        rest = np.flatnonzero(todo)
        if len(rest):
            v, e, _ = Type.clean_series(self, s.iloc[rest].reset_index(drop=True))
            ok = v.notna().to_numpy()
            out[rest[ok]] = v[ok].dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
            errors[rest] = e.to_numpy()
        values = pd.Series(out, index=s.index).dt.tz_localize("UTC")
        return values, pd.Series(errors, index=s.index, dtype=object), flags


def _time_of_day(raw) -> float | None:
    """Seconds since midnight of a time-of-day cell: ``101112``, ``10:11:12``, ``10.11.12``.

    Numbers below 1 are Excel fractions of a day; whole numbers are ``HHMMSS``
    whose leading zero was lost (``91112`` = 09:11:12).
    """
    if isinstance(raw, (float, np.floating, int, np.integer)) and not isinstance(raw, bool):
        if isinstance(raw, (float, np.floating)) and math.isnan(raw):
            return None
        if 0 <= raw < 1:
            return round(float(raw) * 86400)
    s = _prep(raw)
    if s is None:
        return None
    s = re.sub(r"(\d)\s*[时点分]\s*", r"\1:", s).replace("秒", "").rstrip(":")
    s = s.replace(".", ":") if s.count(".") >= 1 and ":" not in s else s
    if re.fullmatch(r"\d{3,6}", s, re.ASCII):
        s = s.zfill(6) if len(s) > 4 else s.zfill(4) + "00"
        s = f"{s[:2]}:{s[2:4]}:{s[4:]}"
    m = re.fullmatch(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.:](\d{1,6}))?)?", s, re.ASCII)
    if not m:
        raise InvalidValue(f"time of day: {_shorten(raw)}: not a time of day")
    h, mi, sec = (int(p or 0) for p in m.groups()[:3])
    if h > 23 or mi > 59 or sec > 59:
        raise InvalidValue(f"time of day: {_shorten(raw)}: out of range")
    return h * 3600 + mi * 60 + sec + float("0." + (m[4] or "0"))


def combine_date_time(dates, times, time_type: TimeType | None = None):
    """Clean a date column and a time-of-day column into one time column.

    For sources with the date and the time in separate columns. The date may
    be in any format :class:`TimeType` reads (its time part, if any, is
    ignored); the time may be ``101112``, ``10:11:12``, ``10.11.12``,
    ``10时11分12秒`` or an Excel fraction of a day. A missing time gives
    midnight; a missing date gives a missing value.

    Parameters
    ----------
    dates, times : pd.Series
        The two columns, aligned.
    time_type : TimeType, optional
        The zone to read them in; default :data:`TIME`.

    Returns
    -------
    tuple of pd.Series
        ``(values, errors, flags)`` as from :meth:`Type.clean_series`.

    Examples
    --------
    >>> v, e, f = combine_date_time(pd.Series(["2024-01-02", "20240103"]),
    ...                             pd.Series(["101112", "10.11.12"]))
    >>> v.dt.strftime("%Y-%m-%d %H:%M:%S").tolist()
    ['2024-01-02 02:11:12', '2024-01-03 02:11:12']
    """
    tt = time_type or TIME
    dates = _as_series(dates)
    times = pd.Series(_as_series(times).to_numpy(), index=dates.index)
    day, errors, flags = tt.clean_series(dates)
    local_midnight = day.dt.tz_convert(tt.zone).dt.normalize()
    codes, uniques = pd.factorize(times, use_na_sentinel=True)
    secs = np.full(len(uniques) + 1, np.nan)
    errs = np.full(len(uniques) + 1, None, dtype=object)
    for i, raw in enumerate(uniques):
        try:
            v = _time_of_day(raw)
            secs[i] = np.nan if v is None else v
        except InvalidValue as exc:
            errs[i] = str(exc)
    seconds = pd.Series(secs[codes], index=dates.index).fillna(0.0)
    values = (local_midnight + pd.to_timedelta(seconds, unit="s")).dt.tz_convert("UTC")
    time_errors = pd.Series(errs[codes], index=dates.index, dtype=object)
    values = values.where(time_errors.isna())
    errors = errors.where(errors.notna(), time_errors)
    return values.dt.as_unit("us"), errors, flags


# ---------------------------------------------------------------------------
# the registry

TYPES: dict[str, Type] = {
    t.name: t
    for t in (
        TextType(),
        NameType(),
        ResidentIdType(),
        DigitsType("bank_card", (8, 30), checked=range(12, 20), separators=r"[\s\-]"),
        AccountIdType(),
        MobileType(),
        DeviceIdType(),
        DigitsType("imei", (14, 16), checked=(15,), separators=r"[\s\-/.]"),
        IccidType("iccid", (19, 20)),
        DigitsType("imsi", (14, 15)),
        IpType(),
        DomainType(),
        CaseIdType(),
        MoneyType(),
        TimeType(),
        IntegerType(),
    )
}
TIME: TimeType = TYPES["time"]  # type: ignore[assignment]


def get_type(name: str) -> Type:
    """The type called ``name``.

    Raises
    ------
    ValueError
        If there is no such type; the message lists the valid names. Callers
        reading a declaration wrap it in :class:`~chaingraph.exc.DeclarationError`.

    Examples
    --------
    >>> get_type("imsi").clean("460 00 1234567890")
    '460001234567890'
    >>> get_type("phone")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown type 'phone'; valid types: account_id, bank_card, case_id, ...
    """
    try:
        return TYPES[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(TYPES))
        raise ValueError(f"unknown type {name!r}; valid types: {valid}") from None
