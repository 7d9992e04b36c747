"""Mask the variable parts of a message into a readable, stable template.

A token (whitespace-separated) that contains a digit is a variable: it is
masked by type (``<UUID>``, ``<IP>``, ``<HEX>``, ``<NUM>``, else ``<*>``);
absolute paths are ``<PATH>``. In ``key=value`` pairs the key is a constant
and the value a variable. Words without digits are kept, so templates stay
readable. The pattern id is a hash of the template's shape (its text with
every mask counted as one): the same in every process and independent of any
other line. Where one id is seen with differently typed masks, the
fingerprint shows the lexicographically smallest text, whatever the order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple, Optional

from anchor.patterns.header import CACHE_ENTRIES, digit_shape

MESSAGE_FIELDS = ("message", "msg", "log", "text", "event", "description")


class Template(NamedTuple):
    pattern_id: str
    template: str


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?")
_HEX = re.compile(r"0x[0-9a-fA-F]+|(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}")
_NUM = re.compile(r"[-+]?\d+(?:[.,]\d+)*")
_KEY_VALUE = re.compile(r"(?<![^\s,;({\[])([A-Za-z_][\w.-]{0,40})=(?!<)([^\s,;)}\]]+)")
_PATH_TOKEN = re.compile(r"(?<![^\s(\[\"'=])/[^\s/<>]+/[^\s<>]*")
# (A match always starts where a token does: said with the lookbehind, a token without
# a digit is scanned once, not again from each of its characters, which took seconds
# on an 8,192-character token.)
_DIGIT_TOKEN = re.compile(r"(?<![^\s<>])[^\s<>]*\d[^\s<>]*")
_EDGE = re.compile(r"([\[({\"']*)(.*?)([\])}\"',;:.]*)")
_ANY_MASK = re.compile(r"<(?:UUID|IP|HEX|NUM|PATH|DATE|DUR|SIZE|EMAIL|URL|VAR|\*)>")
ANY_MASK = _ANY_MASK
# Typed variables that masking by digits alone splits or misses. Every
# pattern tests digits as \d only (never their values), as the shape caches
# require (see template_of).
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:Mon|Tue(?:s)?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?,?"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?[AaPp][Mm]\b)?"
_ZONE = r"(?:\s?(?:Z|[+-]\d{2}:?\d{2}|UTC|GMT)\b)?"
_DATE = re.compile(
    # (the lookahead only lets the alternatives be tried where a date can start: faster)
    r"(?<![\w:./-])(?=[\dJFMASONDTW])(?:"
    # Sun Jul 10 03:55:15 2005, Jul 10, 2005, July 10 03:55
    rf"(?:{_WEEKDAY}\s+)?{_MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?(?:,?\s+{_CLOCK}{_ZONE})?(?:\s+\d{{4}})?"
    # Sunday, 10 Jul 2005 03:55:15 / 10/Jul/2005:03:55:15
    rf"|(?:{_WEEKDAY}\s+)?\d{{1,2}}[ /-]{_MONTH}[ /-]\d{{2,4}}(?:[ :T]{_CLOCK})?{_ZONE}"
    # 2005-07-10T03:55:15.123+02:00, 2005/07/10 03:55, 07/10/2005
    rf"|\d{{4}}[-/.]\d{{2}}[-/.]\d{{2}}(?:[T ]{_CLOCK}{_ZONE})?"
    r"|\d{1,2}/\d{1,2}/\d{2,4}"
    rf"|{_CLOCK}{_ZONE}"
    r"|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
    r")(?![\w:/-])"
)
_PID_SUFFIX = re.compile(r"(?<=[A-Za-z)])\[\d+\](?=:?(?:\s|$))")
_URL = re.compile(r"\b[A-Za-z][\w+.-]*://[^\s\"'<>?]*\?[^\s\"'<>]*")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_DURATION = re.compile(r"[-+]?\d+(?:[.,]\d+)?(?:ns|us|µs|ms|s|sec|secs|min|mins|h|hr|hrs)")
# (no bare "B": "10B" is a hex run, which the shape cache canonicalizes)
_SIZE = re.compile(r"\d+(?:[.,]\d+)?(?:[KMGTP]i?B|[kKMGT]|bytes?)")
# A long token without digits that is not a word: hex letters only, or
# base64-like with upper and lower case mixed throughout.
_HEX_LETTERS = re.compile(r"[a-fA-F]+")
_CAPITAL_PAIR = re.compile(r"[A-Z]{2}")
_LONG_WORD = re.compile(r"[A-Za-z+/_-]{12}")
_WORDLESS = re.compile(r"(?<![^\s(\[\"'=:,])[A-Za-z+/_-]{12,}={0,2}(?![^\s)\]\"',;.])")


def _type_of(core: str) -> str:
    if core.count(".") == 3 and _IP.fullmatch(core):
        return "<IP>"
    if _NUM.fullmatch(core):
        return "<NUM>"
    if _DURATION.fullmatch(core):
        return "<DUR>"
    if _SIZE.fullmatch(core):
        return "<SIZE>"
    if _UUID.fullmatch(core):
        return "<UUID>"
    if len(core) >= 6 and _HEX.fullmatch(core):
        return "<HEX>"
    return "<*>"


@lru_cache(maxsize=CACHE_ENTRIES)
def _masked(token: str) -> str:
    edges = _EDGE.fullmatch(token)
    if edges is None:  # only a line break, which no token holds, escapes _EDGE
        return token
    head, core, tail = edges.groups()
    return f"{head}{_type_of(core)}{tail}" if core else token


def _mask_token(match: re.Match) -> str:
    # Messages arrive as digit shapes (see DIGIT_SHAPE), so token shapes repeat and hit the cache.
    return _masked(match.group(0))


def _mask_wordless(match: re.Match) -> str:
    token = match.group(0)
    core = token.rstrip("=")
    if _HEX_LETTERS.fullmatch(core):
        return "<HEX>"
    # Random base64 changes case about every other character and often has two
    # capitals in a row; camelCase names change case at word starts only.
    if len(core) < 16 or not _CAPITAL_PAIR.search(core):
        return token
    pairs = [
        (a.isupper(), b.isupper()) for a, b in zip(core, core[1:]) if a.isalpha() and b.isalpha()
    ]
    flips = sum(a != b for a, b in pairs)
    capitals = sum(a and b for a, b in pairs)
    return "<*>" if len(core) >= 16 and flips * 3 >= len(core) and capitals >= 2 else token


def message_of(record: Mapping[str, Any]) -> Optional[str]:
    for name in MESSAGE_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def pattern_id_of(template: str) -> str:
    """The id of a template's shape: masks of every type count as one, so a
    variable that is sometimes all digits and sometimes hex stays one pattern."""
    shape = _ANY_MASK.sub("<*>", template)
    return hashlib.blake2b(shape.encode("utf-8"), digest_size=8).hexdigest()


def template_of(message: str, shape: Optional[str] = None) -> Template:
    """The template of a message (``shape``: its ``DIGIT_SHAPE``, when the caller has it).

    Masking depends only on which characters are digits, not on their values
    (except the 0 of a ``0x`` prefix), so messages that differ only in digits
    share one cached result: the key is the message's ``DIGIT_SHAPE``. The
    rare message with another digit before an x is templated uncached.
    """
    if ("x" in message or "X" in message) and _DIGIT_X.search(message):
        return _template_cached.__wrapped__(message)
    if shape is None:
        shape = digit_shape(message)
    if "-" in shape:
        # Random UUIDs would make nearly every shape new (their hex letters are not digits).
        shape = _LONE_UUID.sub(_CANONICAL_UUID, shape)
    return _template_by_shape(shape)


# A UUID that holds a digit and stands alone (between spaces, brackets, quotes or
# separators) is a digit token of its own, masked whole as <UUID> whatever its
# letters are, and no other pattern looks inside it (not a key=value key, a URL
# scheme, an e-mail domain or a name before a [pid]): so in a shape it is written
# canonically. (Shapes hold digits as 0 only.)
_LONE_UUID = re.compile(
    r"(?<![^\s\[({\"'=,;])(?=[0-9a-fA-F-]{0,35}0)"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"(?=[\s\])}\"',;]|[.:]?$|[.:]\s)"
)
_CANONICAL_UUID = "00000000-0000-0000-0000-000000000000"


_DIGIT_X = re.compile(r"[1-9][xX]")


def digits_may_matter(shape: str) -> bool:
    """Whether some message of this digit shape has a template that depends on its digits'
    values (see ``template_of``): one with a digit before an x, which a shape writes 0x."""
    return "0x" in shape or "0X" in shape


def _masked_value(match: re.Match) -> str:
    # ``_KEY_VALUE.sub(r"\1=<*>", ...)``, faster: Python 3.9 expands a template per match.
    return match.group(1) + "=<*>"


@lru_cache(maxsize=CACHE_ENTRIES)
def _template_by_shape(shape: str) -> Template:
    """The template of a message already in its digit shape (see ``template_of``).

    Two caches: by shape, and on a miss by a canonical key in which values of
    ``key=value`` pairs are ``<*>`` (they become that whatever they hold) and
    hex runs are canonical (see ``_hex_blind``), so that ids such as
    ``id=ch_653f63af83`` or UUIDs do not make every message a new template.
    """
    # A miss here (a new shape) first tries the canonical key below, which
    # most new shapes share with an earlier message; only then is it masked.
    key = _KEY_VALUE.sub(_masked_value, shape) if "=" in shape else shape
    # (a hex run holds a digit, which a shape writes 0: without one, the scan is spared)
    return _template_cached(_HEX_RUN.sub(_hex_blind, key) if "0" in key else key)


# A run of hex characters holding a digit, between non-word characters, is
# always masked whole (as part of a digit token, a key=value value or a
# path). What decides how: its length, whether it starts with a letter (a
# key must), whether it ends with one (a name before a ``[pid]`` must) and
# whether it holds a hex letter at all, not where else or how many.
# So for the cache key such a run is written canonically ("0a0aa" becomes
# "0000a", "00a0" becomes "0a00"): hex ids stop making every message a new key.
# The template never contains the run's characters. (Runs of digits only are left
# as they are, so the pattern skips them: one call of _hex_blind fewer each.)
_HEX_RUN = re.compile(
    r"(?<![0-9A-Za-z_])(?=[0-9]*[a-fA-F])[0-9a-fA-F]*[0-9][0-9a-fA-F]*(?![0-9A-Za-z_])"
)


def _hex_blind(match: re.Match) -> str:
    run = match.group()
    if run.isdigit():
        return run
    head = "0" if run[0] == "0" else "a"
    if len(run) == 2:
        return head + ("0" if run[1] == "0" else "a")
    tail = "0" if run[-1] == "0" else "a"
    # (a run of 3 or more: the middle holds the hex letter when neither end does)
    middle = "0" * (len(run) - 2) if head == "a" or tail == "a" else "a" + "0" * (len(run) - 3)
    return head + middle + tail


@lru_cache(maxsize=CACHE_ENTRIES)
def _template_cached(message: str) -> Template:
    text = _KEY_VALUE.sub(_masked_value, message)
    if "://" in text:
        text = _URL.sub("<URL>", text)
    if "@" in text:
        text = _EMAIL.sub("<EMAIL>", text)
    text = _DATE.sub("<DATE>", text)
    if "[" in text:  # a pid glued to a name (syslog's ``sshd(pam_unix)[19939]:``) keeps the name
        text = _PID_SUFFIX.sub("[<NUM>]", text)
    text = _PATH_TOKEN.sub("<PATH>", text)
    text = _DIGIT_TOKEN.sub(_mask_token, text)
    if _LONG_WORD.search(text):
        text = _WORDLESS.sub(_mask_wordless, text)
    text = " ".join(text.split())
    return Template(pattern_id_of(text), text)


def clear_template_cache() -> None:
    """Forget cached templates, header peels and merge shapes (benchmarks measure cold runs)."""
    from anchor.patterns import _split_by_shape
    from anchor.patterns.header import _peel_cached
    from anchor.patterns.merge import _shape_tokens

    _split_by_shape.clear()
    _template_cached.cache_clear()
    _template_by_shape.cache_clear()
    _masked.cache_clear()
    _peel_cached.cache_clear()
    _shape_tokens.cache_clear()
