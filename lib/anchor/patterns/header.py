"""Find and strip the header of a raw log line: timestamp, level, pids, thread, component.

Headers come in many shapes (ISO, syslog, ctime, compact dates, pipes), so
the line's head is peeled step by step: first a timestamp in one of the
common formats, then any pids, a level word (or a single-letter level before
a component), a bracketed thread name and a ``component:`` token. What is
left is the message. A component is only peeled after a timestamp or level
was found, so a message that merely starts with ``Word:`` keeps it.

Formats without a year (syslog ``Jun 14 15:16:01``, Android
``03-17 16:13:38.811``) take the most recent such date that is not in the
future, as syslog readers do; when unsure, the timestamp is None rather than
wrong.
"""

from __future__ import annotations

import calendar
import re
import time
from functools import lru_cache
from typing import NamedTuple, Optional

from anchor.timefmt import parse_iso_fast

LEVELS = {
    "TRACE": "debug",
    "DEBUG": "debug",
    "FINE": "debug",
    "INFO": "info",
    "NOTICE": "info",
    "WARN": "warn",
    "WARNING": "warn",
    "ERROR": "error",
    "ERR": "error",
    "SEVERE": "error",
    "CRITICAL": "error",
    "CRIT": "error",
    "FATAL": "error",
    "ALERT": "error",
    "EMERG": "error",
    "PANIC": "error",
}
LETTER_LEVELS = {"V": "debug", "D": "debug", "I": "info", "W": "warn", "E": "error", "F": "error"}
MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}


class RawParts(NamedTuple):
    timestamp: Optional[float]
    level: Optional[str]
    message: str


_MON = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"


@lru_cache(maxsize=4096)
def _minute(year: int, month: int, day: int, hour: int, minute: int) -> Optional[float]:
    """Epoch seconds of a UTC minute, or None for an impossible date (cached: lines share minutes)."""
    if not (
        1 <= month <= 12
        and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour < 24
        and minute < 60
    ):
        return None
    return float(calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0)))


def _epoch(year: int, month: int, day: int, clock: str, fraction: str = "") -> Optional[float]:
    hour, minute, second = (int(part) for part in clock.split(":"))
    base = _minute(year, month, day, hour, minute)
    if base is None or second > 60:
        return None
    return base + second + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _no_year(month: int, day: int, clock: str, fraction: str = "") -> Optional[float]:
    now = time.time()
    year = time.gmtime(now).tm_year
    for candidate in (year, year - 1):
        stamp = _epoch(candidate, month, day, clock, fraction)
        if stamp is None:
            return None
        if stamp <= now + 86400:
            return stamp
    return None


def _clock(text: str) -> str:
    return f"{text[0:2]}:{text[2:4]}:{text[4:6]}"


# (regex at the line's start, function from the match to epoch seconds or None)
_TIMESTAMPS = [
    (
        re.compile(
            r"\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:\s?(?:Z|[+-]\d{2}:?\d{2}))?)\]?[\s|]+"
        ),
        lambda m: parse_iso_fast(m.group(1).replace(",", ".")),
    ),
    (
        re.compile(
            r"\[?"
            + _DAY
            + r" "
            + _MON
            + r" +(\d{1,2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))? (\d{4})\]?\s+"
        ),
        lambda m: _epoch(
            int(m.group(5)), MONTHS[m.group(1)], int(m.group(2)), m.group(3), m.group(4) or ""
        ),
    ),
    (
        re.compile(_MON + r" +(\d{1,2}) (\d{2}:\d{2}:\d{2})\s+"),
        lambda m: _no_year(MONTHS[m.group(1)], int(m.group(2)), m.group(3)),
    ),
    (
        re.compile(r"(\d{2})-(\d{2}) (\d{2}:\d{2}:\d{2})\.(\d{1,6})\s+"),
        lambda m: _no_year(int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)),
    ),
    (
        re.compile(r"(\d{2})/(\d{2})/(\d{2}) (\d{2}:\d{2}:\d{2})\s+"),
        lambda m: _epoch(2000 + int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)),
    ),
    (
        re.compile(r"(\d{2})(\d{2})(\d{2}) (\d{6})\s+"),
        lambda m: _epoch(
            2000 + int(m.group(1)), int(m.group(2)), int(m.group(3)), _clock(m.group(4))
        ),
    ),
    (
        re.compile(r"(\d{4})(\d{2})(\d{2})-(\d{1,2}):(\d{1,2}):(\d{1,2}):(\d{1,3})\|"),
        lambda m: _epoch(
            int(m.group(1)),
            int(m.group(2)),
            int(m.group(3)),
            f"{m.group(4)}:{m.group(5)}:{m.group(6)}",
            m.group(7),
        ),
    ),
]

_PID = re.compile(r"\[?\d+\]?:?\s+")
_LEVEL = re.compile(r"[\[<(]?([A-Za-z]{3,8})[\]>)]?:?\s+")
_LETTER = re.compile(r"([VDIWEF])\s+(?=[\w.$/-]+:\s)")
_THREAD = re.compile(r"\[[^\]]{1,200}\]:?\s+")
_COMPONENT = re.compile(r"([A-Za-z_][\w.$/-]{0,80}):\s+")


# Syslog severities 0-7 (RFC 5424): emerg, alert, crit, err | warning | notice, info | debug.
SYSLOG_SEVERITIES = ("error", "error", "error", "error", "warn", "info", "info", "debug")
# Numeric levels of bunyan/pino JSON loggers: 10 trace ... 60 fatal.
TENS_LEVELS = {10: "debug", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "error"}


def normalize_level(value: object, priority: bool = False) -> Optional[str]:
    """Map a level word (any case) to error|warn|info|debug, or None.

    A number 0-7 is a syslog severity and 10-60 a bunyan/pino level; with
    ``priority`` (a syslog ``priority`` field) a number up to 191 is a whole
    ``<PRI>`` (facility * 8 + severity), whose low three bits are the severity.
    """
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    level = LEVELS.get(text.upper())
    if level is not None or not text.isdigit() or len(text) > 3:
        return level
    number = int(text)
    if number < 8 or (priority and number < 192):
        return SYSLOG_SEVERITIES[number % 8]
    return None if priority else TENS_LEVELS.get(number)


# A level word standing as its own column among the first tokens of a header
# (``- 1117838570 2005.06.03 R02-M1 ... RAS KERNEL FATAL msg``): every column
# before it must look like a header field (digits, punctuation or an
# upper-case code), so prose such as ``Failed to read ERROR code`` never counts.
COLUMN_TOKENS = 10
_COLUMN_WORD = re.compile(r"(?<![\w.-])(?:" + "|".join(LEVELS) + r")(?![\w.-])")
# The same words without the lookbehind: a pattern that starts with literals lets the
# regex engine skip to their first letters, about 4x faster on lines without any.
_ANY_LEVEL_WORD = re.compile("|".join(LEVELS))


def _header_like(token: str) -> bool:
    return not token.isalpha() or token.isupper()


def column_level(shape: str) -> Optional[str]:
    """The level of a header whose level word is a column after others, or None."""
    head = shape[:200]
    # the common case: no upper-case level word at all (the first search is the quick filter)
    if _ANY_LEVEL_WORD.search(head) is None or _COLUMN_WORD.search(head) is None:
        return None
    for token in head.split(None, COLUMN_TOKENS)[:COLUMN_TOKENS]:
        level = LEVELS.get(token)
        if level is not None:
            return level
        if not _header_like(token):
            return None
    return None


# Entries per per-line cache (header peels, templates, masked tokens): a few
# MB each when full, so a capture's memory stops growing once they are.
CACHE_ENTRIES = 16384
# A line's shape for caching: every ASCII digit becomes 0, keeping lengths.
DIGIT_SHAPE = str.maketrans("123456789", "000000000")
_DIGIT_BYTES = bytes.maketrans(b"123456789", b"000000000")


def digit_shape(text: str) -> str:
    """``text.translate(DIGIT_SHAPE)``, several times faster: through UTF-8 bytes, where
    the ASCII digits are single bytes and other characters' bytes are never digits."""
    return (
        text.encode("utf-8", "surrogatepass")
        .translate(_DIGIT_BYTES)
        .decode("utf-8", "surrogatepass")
    )


SHAPE_CACHE_CHARS = 1024


def split_raw(line: str) -> RawParts:
    """Timestamp, level and message of a raw line."""
    text = line.rstrip("\r\n")
    stamp_format, start, level = peel_shape(digit_shape(text))
    return RawParts(timestamp_at(text, stamp_format), level, text[start:].strip())


def peel_shape(shape: str) -> tuple[Optional[int], int, Optional[str]]:
    """Where the header of a line ends, given the line's digit shape (``DIGIT_SHAPE``).

    Every pattern here tests digits only as ``\\d``, never their values, so
    the timestamp format, where the message starts and the level depend only
    on this shape; lines that differ only in digits share one cached peel.
    """
    if _plainly_headless(shape):
        level = column_level(shape) if shape[:1] not in _NO_COLUMNS else None
        return _NO_HEADER if level is None else (None, 0, level)
    if len(shape) <= SHAPE_CACHE_CHARS:
        return _peel_cached(shape)
    return _peel(shape)


_NO_HEADER: tuple[Optional[int], int, Optional[str]] = (None, 0, None)
# First characters of messages that are not a columned header (JSON, quotes). A line
# starting in lower case may still be one (`a0 INFO ...`): column_level decides.
_NO_COLUMNS = frozenset("{\"'")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TIME_WORDS = frozenset(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", *MONTHS])
_LEAD_WORD = re.compile(r"[A-Za-z]+")


def _plainly_headless(text: str) -> bool:
    """True when no header pattern can match at the start (most structured messages):
    every timestamp starts with a digit, '[' or a day or month name, and a level is
    a level word, optionally after '[', '<' or '('."""
    first = text[:1]
    if first in _ASCII_LETTERS:
        word = _LEAD_WORD.match(text).group()  # type: ignore[union-attr]
        return word[:3] not in _TIME_WORDS and word.upper() not in LEVELS
    return bool(first) and first not in "[<(" and not first.isdigit()


def timestamp_at(text: str, stamp_format: Optional[int]) -> Optional[float]:
    """The timestamp at the start of ``text`` in the format ``peel_shape`` found."""
    if stamp_format is None:
        return None
    regex, to_epoch = _TIMESTAMPS[stamp_format]
    return to_epoch(regex.match(text))


def _peel(line: str) -> tuple[Optional[int], int, Optional[str]]:
    text = line
    found: Optional[int] = None
    for index, (regex, _) in enumerate(_TIMESTAMPS):
        match = regex.match(text)
        if match:
            found = index
            text = text[match.end() :]
            break
    if found is not None and "|" in text[:80] and line[len(line) - len(text) - 1] == "|":
        # pipe-separated header (time|component|pid|message)
        fields = text.split("|", 2)
        text = fields[-1] if len(fields) == 3 and " " not in fields[0] else text
    level = None
    for _ in range(4):
        match = _PID.match(text) if found is not None else None
        if match:
            text = text[match.end() :]
            continue
        match = _LEVEL.match(text)
        if match and match.group(1).upper() in LEVELS and level is None:
            level = LEVELS[match.group(1).upper()]
            text = text[match.end() :]
            continue
        match = _LETTER.match(text) if found is not None and level is None else None
        if match:
            level = LETTER_LEVELS[match.group(1)]
            text = text[match.end() :]
            continue
        match = _THREAD.match(text) if (found is not None or level) else None
        if match:
            text = text[match.end() :]
            continue
        break
    if found is not None or level:
        match = _COMPONENT.match(text)
        if match and ("." in match.group(1) or "$" in match.group(1) or level is not None):
            text = text[match.end() :]
    if level is None:
        level = column_level(text)
    return found, len(line) - len(text), level


_peel_cached = lru_cache(maxsize=CACHE_ENTRIES)(_peel)
