"""Find and strip the header of a raw log line: timestamp, level, pid, component."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NamedTuple, Optional

LEVELS = {
    "TRACE": "debug",
    "DEBUG": "debug",
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


class RawParts(NamedTuple):
    timestamp: Optional[float]
    level: Optional[str]
    message: str


_ISO = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?"
    r"\s?(Z|[+-]\d{2}:?\d{2})?\]?\s*"
)
_LEVEL = re.compile(
    r"^[\[<(]?(" + "|".join(sorted(LEVELS, key=len, reverse=True)) + r")[\]>)]?:?\s+",
    re.IGNORECASE,
)


def _iso_epoch(date: str, clock: str, frac: Optional[str], zone: Optional[str]) -> float:
    dt = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
    offset = 0
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    seconds = dt.replace(tzinfo=timezone.utc).timestamp() - offset
    if frac:
        seconds += int(frac) / 10 ** len(frac)
    return seconds


def normalize_level(value: object) -> Optional[str]:
    """Map a level word (any case) to error|warn|info|debug, or None."""
    if value is None:
        return None
    return LEVELS.get(str(value).strip().upper())


def split_raw(line: str) -> RawParts:
    text = line.rstrip("\r\n")
    timestamp = None
    match = _ISO.match(text)
    if match:
        timestamp = _iso_epoch(*match.groups())
        text = text[match.end() :]
    level = None
    match = _LEVEL.match(text)
    if match:
        level = LEVELS[match.group(1).upper()]
        text = text[match.end() :]
    return RawParts(timestamp, level, text.strip())
