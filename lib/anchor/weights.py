"""Learned weights, derived from the append-only feedback log.

A weight is never read-modified-written: it is computed from every feedback
entry, so concurrent feedback loses nothing. Each entry contributes
+0.1 (confirmed) or -0.2 (false positive), and that contribution decays
toward zero with a 30-day half-life, so the weight drifts back toward the
neutral 1.0 as lessons age. The sum is clamped to [0.1, 3.0]. Repeated
feedback by one user on the same signal of the same drift counts once: the
latest entry wins.

Because every contribution decays at the same rate, the sum of contributions
at time T (``deviation``) gives the sum at any later time exactly:
``deviation * decay_factor(now - T)``. That is what lets the ``anchor_weights``
view, derived per signal from its feedback and stamped with T, stand in for
a re-derivation from the whole log when a compare ranks signals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

OUTCOMES = {"confirmed": 0.1, "false_positive": -0.2}
HALF_LIFE_DAYS = 30.0
NEUTRAL = 1.0
MIN_WEIGHT = 0.1
MAX_WEIGHT = 3.0
DAY = 86400.0


@dataclass
class WeightInfo:
    signal_id: str
    weight: float
    confirmed: int
    false_positive: int
    last_feedback: Optional[float]
    deviation: float = 0.0  # unclamped sum of decayed contributions when derived

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal_id": self.signal_id,
            "weight": round(self.weight, 6),
            "confirmed": self.confirmed,
            "false_positive": self.false_positive,
            "last_feedback": self.last_feedback,
        }


def decay_factor(age_seconds: float, half_life_days: float = HALF_LIFE_DAYS) -> float:
    return 0.5 ** (max(age_seconds, 0.0) / (half_life_days * DAY))


def latest_per_voter(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One entry per (drift, signal, user): the newest (ties broken by key)."""
    latest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for entry in entries:
        voter = (entry["drift_id"], entry["signal_id"], entry["user"])
        seen = latest.get(voter)
        if seen is None or (entry["time"], entry["_key"]) > (seen["time"], seen["_key"]):
            latest[voter] = entry
    return list(latest.values())


def derive_weights(
    entries: Iterable[Mapping[str, Any]], now: float, half_life_days: float = HALF_LIFE_DAYS
) -> dict[str, WeightInfo]:
    """Weights for every signal that has feedback, as of ``now`` (epoch seconds)."""
    totals: dict[str, WeightInfo] = {}
    for entry in sorted(latest_per_voter(entries), key=lambda e: (e["time"], e["_key"])):
        info = totals.get(entry["signal_id"])
        if info is None:
            info = totals[entry["signal_id"]] = WeightInfo(entry["signal_id"], NEUTRAL, 0, 0, None)
        outcome = entry["outcome"]
        info.weight += OUTCOMES[outcome] * decay_factor(now - entry["time"], half_life_days)
        if outcome == "confirmed":
            info.confirmed += 1
        else:
            info.false_positive += 1
        info.last_feedback = entry["time"]
    for info in totals.values():
        info.deviation = info.weight - NEUTRAL
        info.weight = clamp(info.weight)
    return totals


def clamp(weight: float) -> float:
    return min(MAX_WEIGHT, max(MIN_WEIGHT, weight))


def weight_at(row: Mapping[str, Any], now: float) -> WeightInfo:
    """A weight view row (derived at ``row["updated"]``) carried forward to ``now``.

    Rows written before ``deviation`` was stored decay from their stored
    weight; rows without a time keep it.
    """
    deviation, updated = row.get("deviation"), row.get("updated")
    if deviation is None and isinstance(row.get("weight"), (int, float)):
        deviation = float(row["weight"]) - NEUTRAL
    if isinstance(deviation, (int, float)) and isinstance(updated, (int, float)):
        weight = clamp(NEUTRAL + deviation * decay_factor(now - updated))
        deviation = float(deviation) * decay_factor(now - updated)
    else:
        weight, deviation = float(row.get("weight", NEUTRAL)), 0.0
    return WeightInfo(
        str(row["signal_id"]),
        weight,
        int(row.get("confirmed") or 0),
        int(row.get("false_positive") or 0),
        row.get("last_feedback"),
        deviation,
    )
