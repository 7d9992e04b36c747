"""Rank signals: score = severity x learned weight x effect."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from anchor.diff import Severity, Signal

SEVERITY_POINTS: dict[Severity, float] = {"HIGH": 3.0, "MEDIUM": 2.0, "LOW": 1.0}


def score_signal(signal: Signal, weights: Mapping[str, float]) -> Signal:
    """score = severity points x learned weight (1.0 without feedback) x effect."""
    signal.weight = weights.get(signal.signal_id, 1.0)
    signal.score = SEVERITY_POINTS[signal.severity] * signal.weight * signal.effect
    return signal


def rank_signals(signals: Iterable[Signal], weights: Mapping[str, float]) -> list[Signal]:
    """Score and order signals, best first; ties fall back to q-value, then id."""
    ranked = []
    for signal in signals:
        ranked.append(score_signal(signal, weights))
    ranked.sort(key=lambda s: (-round(s.score, 9), s.q_value, s.signal_id))
    for position, signal in enumerate(ranked, 1):
        signal.rank = position
    return ranked
