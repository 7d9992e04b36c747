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
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)


# Epoch seconds of each ``YYYY-MM-DDTHH:MM`` seen (None: not a time), read by
# parse_iso_fast: events share their minutes.
_minutes: dict[str, Optional[float]] = {}
_UNSEEN = -1.0  # (no minute starts at -1.0: epoch minutes are whole multiples of 60)


def _minute_start(prefix: str) -> Optional[float]:
    """Epoch seconds of a minute not in ``_minutes`` yet, remembered there."""
    value = parse_iso(prefix + ":00Z") if _ISO.match(prefix + ":00Z") else None
    if len(_minutes) > 4096:
        _minutes.clear()
    _minutes[prefix] = value
    return value


def parse_iso_fast(text: str) -> Optional[float]:
    """``parse_iso`` with a fast path for UTC times like ``2025-01-01T00:00:00.123Z``."""
    if len(text) >= 20 and text[-1] == "Z" and text[16] == ":" and text[13] == ":":
        prefix = text[:16]
        base = _minutes.get(prefix, _UNSEEN)  # (read inline: this runs once per event)
        if base == _UNSEEN:
            base = _minute_start(prefix)
        seconds = text[17:-1]
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
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
        )
    except (ValueError, OverflowError):
        return None
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31 and int(hour) < 24 and int(minute) < 60):
        return None
    if fraction:
        seconds += int(fraction) / 10 ** len(fraction)
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
