"""Fast ISO-8601 parsing that behaves the same on Python 3.9 and 3.13.

``datetime.fromisoformat`` only accepts a ``Z`` suffix from 3.11 on, and
``strptime`` is slow on the per-event path, so timestamps are parsed here
with one regex and integer arithmetic.
"""

from __future__ import annotations

import calendar
import re
from typing import Optional

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)


# Epoch seconds of each minute seen, keyed by ``YYYY-MM-DDTHH:MM`` and its offset as
# written, if any (None: not a time), read by parse_iso_fast: events share their minutes.
_minutes: dict[str, Optional[float]] = {}
_UNSEEN = -1.0  # (no minute starts at -1.0: epoch minutes are whole multiples of 60)


def _minute_start(key: str) -> Optional[float]:
    """Epoch seconds of a minute not in ``_minutes`` yet, remembered there."""
    minute = key[:16] + ":00" + key[16:]
    value = parse_iso(minute) if _ISO.match(minute) else None
    if len(_minutes) > 4096:
        _minutes.clear()
    _minutes[key] = value
    return value


def parse_iso_fast(text: str) -> Optional[float]:
    """``parse_iso`` with a fast path for the usual shapes: ``2025-01-01T00:00:00.123``
    followed by ``Z``, ``+HH:MM``, ``-HHMM`` or no zone. splunkd sends ``_time`` as
    ``2014-06-11T08:19:58.000-0700``, and log headers often carry ``+00:00``."""
    if len(text) >= 20 and text[-1] == "Z" and text[16] == ":" and text[13] == ":":
        key, seconds = text[:16], text[17:-1]  # (tested first: the most common shape)
    elif len(text) >= 19 and text[16] == ":" and text[13] == ":":
        # An offset is part of the key; no zone means UTC, as Z does: the same key.
        if text[-5] in "+-":  # -0700
            key, seconds = text[:16] + text[-5:], text[17:-5]
        elif text[-6] in "+-":  # +07:00
            key, seconds = text[:16] + text[-6:], text[17:-6]
        else:  # no zone, or one left to parse_iso
            key, seconds = text[:16], text[17:]
    else:
        return parse_iso(text)
    base = _minutes.get(key, _UNSEEN)  # (read inline: this runs once per event)
    if base == _UNSEEN:
        base = _minute_start(key)
    if (
        base is not None
        and seconds[:2].isdigit()
        and (len(seconds) == 2 or (seconds[2] == "." and seconds[3:].isdigit()))
    ):
        return base + float(seconds)
    return parse_iso(text)


def parse_iso(text: str) -> Optional[float]:
    """Epoch seconds for ISO-8601 date-times (no zone means UTC), else None."""
    match = _ISO.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        seconds = float(
            calendar.timegm(
                (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
            )
        )
    except (ValueError, OverflowError):
        return None
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31 and int(hour) < 24 and int(minute) < 60):
        return None
    if fraction:
        seconds += float("0." + fraction)  # (int() would refuse over 4,300 digits on 3.11+)
    if zone and zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) > 2 else 0)
        seconds -= offset if zone[0] == "+" else -offset
    return float(seconds)


# Epoch seconds Anchor accepts as an event or record time: 1970 to 2100. Anything outside is a
# corrupt or hostile value (1e17 overflows datetime and would crash every later listing).
EARLIEST_TIME = 0.0
LATEST_TIME = 4_102_444_800.0


def plausible_time(value: object) -> bool:
    """Whether ``value`` is a number of epoch seconds between 1970 and 2100."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and EARLIEST_TIME <= value < LATEST_TIME
    )
