"""A year of heavy use as KV Store documents: many drifts, much feedback, a maintained weights view.

Used by the scale test and by bench/kvstore_scale.py. The documents have the
shapes Anchor writes (drifts with stored signals, signal ids and severities;
feedback entries; ``anchor_weights`` rows derived from that feedback), put
straight into a fake splunkd's collections so building 250,000 documents
takes seconds, not 250 batch saves.
"""

from __future__ import annotations

import gc
import random
from typing import Any

from anchor.diff import Signal
from anchor.memory import Memory
from anchor.weights import derive_weights

DAY = 86400.0
SEVERITIES = ("HIGH", "MEDIUM", "LOW")


def signal_pool(distinct: int) -> list[dict[str, Any]]:
    pool = []
    for j in range(distinct):
        signal = Signal(
            f"template:appeared:svc{j % 20:02d}:{j:06x}",
            "template",
            "appeared",
            f"svc{j % 20:02d}",
            SEVERITIES[j % 3],
            0.0,
            5.0 + j % 7,
            1e-9,
            2.0,
            template=f"PaymentGatewayTimeout after <NUM>ms gateway=<*> code={j}",
        )
        pool.append(signal.to_record())
    return pool


def populate(
    data: dict[str, dict[str, dict]],
    *,
    now: float,
    drifts: int = 50_000,
    feedback: int = 200_000,
    anchors: int = 20,
    signals_per_drift: int = 10,
    distinct_signals: int = 2_000,
    seed: int = 7,
) -> list[str]:
    """Fill the fake's ``data`` (collection -> key -> document); returns the drift ids."""
    # A quarter of a million documents: the collector's passes over everything already
    # made would cost more than making them, and none of it is garbage.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _populate(
            data, now, drifts, feedback, anchors, signals_per_drift, distinct_signals, seed
        )
    finally:
        if enabled:
            gc.enable()


def _populate(
    data: dict[str, dict[str, dict]],
    now: float,
    drifts: int,
    feedback: int,
    anchors: int,
    signals_per_drift: int,
    distinct_signals: int,
    seed: int,
) -> list[str]:
    rng = random.Random(seed)
    pool = signal_pool(distinct_signals)
    ids, chosen_signals = [], []
    store = data["anchor_drifts"]
    for i in range(drifts):
        drift_id = f"{i:012x}"
        # choices(): one call per drift instead of one randrange per signal.
        picked = rng.choices(pool, k=signals_per_drift)
        store[drift_id] = {
            "_key": drift_id,
            "drift_id": drift_id,
            "anchor": f"svc{i % anchors:02d}",
            "created": now - 90 * DAY + i * (90 * DAY / drifts),
            "created_by": "scheduler",
            "events": 10_000 + i % 500,
            "signal_count": len(picked),
            "top_severity": picked[0]["severity"],
            "top_signal": picked[0]["signal_id"],
            "signals": picked,
            "signal_ids": [s["signal_id"] for s in picked],
            "signal_severities": [s["severity"] for s in picked],
            "summary": f"{len(picked)} signals; the top one is {picked[0]['signal_id']}",
            "narrative": {"summary": "offline summary", "source": "offline"},
            "notes": [],
            "similar": [],
            "_user": "nobody",
        }
        ids.append(drift_id)
        chosen_signals.append(picked)
    entries = data["anchor_feedback"]
    for i in range(feedback):
        n = int(rng.random() * drifts)
        signal_id = rng.choice(chosen_signals[n])["signal_id"]
        key = f"fb-{i:010d}"
        entries[key] = {
            "_key": key,
            "drift_id": ids[n],
            "signal_id": signal_id,
            "outcome": "confirmed" if rng.random() < 0.6 else "false_positive",
            "user": f"user{int(rng.random() * 40)}",
            "reason": "",
            "anchor": store[ids[n]]["anchor"],
            "time": store[ids[n]]["created"] + rng.random() * DAY,
            "_user": "nobody",
        }
    view = data["anchor_weights"]
    for info in derive_weights(entries.values(), now).values():
        row = Memory.weight_document(info, now)
        view[row["_key"]] = {**row, "_user": "nobody"}
    return ids
