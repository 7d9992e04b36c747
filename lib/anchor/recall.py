"""Recall: the past drifts most like this one, among the drifts it is given.

Similarity is weighted Jaccard over signal ids (sum of minima over sum of
maxima of per-signal masses), with a signal's severity as its mass. Drifts
are streamed page by page and only the best ``k`` are kept, so memory stays
bounded; which drifts are compared (the newest of the same anchor, read as
signal ids and severities only) is decided by ``anchor.operations``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from anchor.rank import SEVERITY_POINTS


def signal_profile(signals: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    return {s["signal_id"]: SEVERITY_POINTS.get(s.get("severity", "LOW"), 1.0) for s in signals}


def drift_profile(drift: Mapping[str, Any]) -> dict[str, float]:
    """A stored drift's profile: from its signals, or from ``signal_ids`` and
    ``signal_severities`` when only those were read (recall's projection).
    Drifts recorded before severities were stored count each signal as LOW."""
    if "signals" in drift:
        return signal_profile(drift.get("signals") or [])
    ids = drift.get("signal_ids") or []
    severities = drift.get("signal_severities") or ["LOW"] * len(ids)
    return {sid: SEVERITY_POINTS.get(sev, 1.0) for sid, sev in zip(ids, severities)}


def weighted_jaccard(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    keys = set(a) | set(b)
    if not keys:
        return 0.0
    top = sum(min(a.get(k, 0.0), b.get(k, 0.0)) for k in keys)
    bottom = sum(max(a.get(k, 0.0), b.get(k, 0.0)) for k in keys)
    return top / bottom if bottom else 0.0


def recall_similar(
    drifts: Iterable[Mapping[str, Any]],
    profile: Mapping[str, float],
    *,
    k: int = 3,
    min_similarity: float = 0.1,
    exclude: Optional[str] = None,
) -> list[tuple[float, Mapping[str, Any]]]:
    """The ``k`` most similar drifts as (similarity, drift), best first."""
    best: list[tuple[float, str, Mapping[str, Any]]] = []
    for drift in drifts:
        if drift["drift_id"] == exclude:
            continue
        score = weighted_jaccard(profile, drift_profile(drift))
        if score < min_similarity:
            continue
        # Newer drifts win ties: compare (score, created) and keep the top k.
        item = (score, f"{drift.get('created', 0):020.3f}{drift['drift_id']}", drift)
        if len(best) < k:
            heapq.heappush(best, item)
        elif item[:2] > best[0][:2]:
            heapq.heapreplace(best, item)
    return [(score, drift) for score, _, drift in sorted(best, key=lambda i: i[:2], reverse=True)]
