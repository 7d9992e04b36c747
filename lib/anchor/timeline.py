"""A sourcetype's event rate per clock hour of the current window, against the anchor's band.

Fingerprints keep hour-of-day counts, so a current window of up to a day
can be drawn hour by hour; the anchor's expected rate for each hour of day
(with a Poisson band of two standard deviations) is what a healthy hour
looked like. Shorter or longer windows, or fewer than two hours, give no
timeline: the report then simply leaves it out.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from anchor.fingerprint import Fingerprint

HOUR = 3600.0
DAY = 86400.0
MIN_POINTS = 2


def hourly_timeline(anchor: Fingerprint, current: Fingerprint, sourcetype: str) -> Optional[dict]:
    """``{sourcetype, start, rate, expected, low, high}`` lists per hour, or None."""
    window, anchor_seconds = current.window(), anchor.duration()
    base, now = anchor.sourcetypes.get(sourcetype), current.sourcetypes.get(sourcetype)
    if window is None or not anchor_seconds or base is None or now is None:
        return None
    start, end = window
    if end - start > DAY - HOUR:  # hour-of-day counts would mix two days' hours
        return None
    slots = [math.floor(start / HOUR) * HOUR]
    while slots[-1] + HOUR <= end:
        slots.append(slots[-1] + HOUR)
    if len(slots) < MIN_POINTS:
        return None
    days = anchor_seconds / DAY
    points: dict[str, list[Any]] = {k: [] for k in ("start", "rate", "expected", "low", "high")}
    for slot in slots:
        covered = max(min(slot + HOUR, end) - max(slot, start), 60.0) / HOUR
        hour = int(slot // HOUR) % 24
        # Under a day of anchor, not every hour of day was seen: use its flat rate.
        expected = base.hours[hour] / days if days >= 1 else base.timed / (anchor_seconds / HOUR)
        spread = 2.0 * math.sqrt(expected * covered) / covered
        points["start"].append(slot)
        points["rate"].append(round(now.hours[hour] / covered, 3))
        points["expected"].append(round(expected, 3))
        points["low"].append(round(max(0.0, expected - spread), 3))
        points["high"].append(round(expected + spread, 3))
    return {"sourcetype": sourcetype, **points}
