"""Anchor's memory: anchors, drifts, feedback and weights on any ``Store``.

This is the one place the documents' shapes and keys are defined; the SQLite
and KV Store backends only move documents. Keys are deterministic, so a
retried write replaces rather than duplicates. Every operation that changes
memory ends in a single commit-point write (a drift, a feedback entry, an
anchor's head document), so a failure before it leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Optional

from anchor.errors import InputError, NotFound
from anchor.fingerprint import Fingerprint
from anchor.store import Store
from anchor.weights import OUTCOMES, WeightInfo, derive_weights

ANCHORS = "anchor_anchors"
DRIFTS = "anchor_drifts"
FEEDBACK = "anchor_feedback"
WEIGHTS = "anchor_weights"

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A fingerprint larger than this is split into several documents (KV Store
# documents are limited to 16 MB of BSON; 4 MB parts leave ample headroom).
PART_CHARS = 4 * 1024 * 1024
MAX_REASON_CHARS = 1000


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InputError(
            f"invalid anchor name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def digest(*parts: str, size: int = 16) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:size]


def anchor_key(name: str) -> str:
    return "anchor-" + digest(check_name(name))


class Memory:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- anchors -------------------------------------------------------------
    def save_anchor(
        self, name: str, fingerprint: Fingerprint, *, user: str, now: float, **details: Any
    ) -> dict[str, Any]:
        key = anchor_key(name)
        previous = self.store.get(ANCHORS, key)
        text = json.dumps(fingerprint.to_dict(), sort_keys=True, separators=(",", ":"))
        version = digest(key, str(now), text)
        pieces = [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]
        part_keys = [f"{key}.{version}.{i:04d}" for i in range(len(pieces))]
        window = fingerprint.window()
        head = {
            "_key": key,
            "kind": "anchor",
            "name": name,
            "created": now,
            "created_by": user,
            "events": fingerprint.count,
            "sourcetypes": sorted(fingerprint.sourcetypes),
            "templates": fingerprint.template_count,
            "window_start": window[0] if window else None,
            "window_end": window[1] if window else None,
            "parts": part_keys,
            "size_chars": len(text),
            **details,
        }
        self.store.put_many(
            ANCHORS,
            [
                {"_key": k, "kind": "anchor_part", "anchor": key, "body": piece}
                for k, piece in zip(part_keys, pieces)
            ],
        )
        self.store.put_many(ANCHORS, [head])
        if previous:
            stale = [k for k in previous.get("parts", []) if k not in part_keys]
            self.store.delete(ANCHORS, stale)
        return head

    def anchor(self, name: str) -> dict[str, Any]:
        head = self.store.get(ANCHORS, anchor_key(name))
        if head is None:
            raise NotFound(f"unknown anchor {name!r}: capture it first or see `anchor list`")
        return head

    def load_fingerprint(self, head: Mapping[str, Any]) -> Fingerprint:
        pieces = []
        for key in head["parts"]:
            part = self.store.get(ANCHORS, key)
            if part is None:
                raise NotFound(
                    f"anchor {head['name']!r} is incomplete (part {key} missing): capture it again"
                )
            pieces.append(part["body"])
        return Fingerprint.from_dict(json.loads("".join(pieces)))

    def anchors(self) -> list[dict[str, Any]]:
        return sorted(self.store.scan(ANCHORS, {"kind": "anchor"}), key=lambda d: d["name"])

    # -- drifts --------------------------------------------------------------
    def save_drift(self, drift: Mapping[str, Any]) -> None:
        self.store.put_many(DRIFTS, [{**drift, "_key": drift["drift_id"]}])

    def drift(self, drift_id: str) -> dict[str, Any]:
        drift = self.store.get(DRIFTS, drift_id) if drift_id else None
        if drift is None:
            raise NotFound(f"unknown drift {drift_id!r}: see `anchor history` for drift ids")
        return drift

    def drifts(self) -> Iterator[dict[str, Any]]:
        return self.store.scan(DRIFTS)

    def delete_drift(self, drift_id: str) -> None:
        self.drift(drift_id)
        self.store.delete(DRIFTS, [drift_id])

    def purge_drifts(self, older_than: float) -> int:
        stale = [d["_key"] for d in self.store.scan(DRIFTS, {"created": {"$lt": older_than}})]
        self.store.delete(DRIFTS, stale)
        return len(stale)

    # -- feedback and weights -----------------------------------------------
    def record_feedback(
        self,
        drift_id: str,
        signal_id: str,
        outcome: str,
        *,
        user: str,
        now: float,
        reason: str = "",
    ) -> dict[str, Any]:
        if outcome not in OUTCOMES:
            raise InputError(
                f"invalid outcome {outcome!r}: use one of {', '.join(sorted(OUTCOMES))}"
            )
        drift = self.drift(drift_id)
        known = {s["signal_id"] for s in drift.get("signals", [])}
        if signal_id not in known:
            raise NotFound(
                f"signal {signal_id!r} is not part of drift {drift_id}: "
                f"see `anchor history` or the compare output for its signal ids"
            )
        entry = {
            "_key": "fb-" + digest(drift_id, signal_id, user, outcome, repr(now)),
            "drift_id": drift_id,
            "signal_id": signal_id,
            "outcome": outcome,
            "user": user,
            "reason": (reason or "")[:MAX_REASON_CHARS],
            "time": now,
            "anchor": drift.get("anchor"),
        }
        self.store.put_many(FEEDBACK, [entry])
        self._refresh_weight_view(signal_id, now)
        return entry

    def feedback(self, query: Optional[Mapping[str, Any]] = None) -> Iterator[dict[str, Any]]:
        return self.store.scan(FEEDBACK, query)

    def weights(self, now: float) -> dict[str, WeightInfo]:
        return derive_weights(self.feedback(), now)

    def _refresh_weight_view(self, signal_id: str, now: float) -> None:
        """Keep the ``anchor_weights`` lookup current for dashboards.

        It is a view: rankings always derive weights from the feedback log.
        """
        info = derive_weights(self.feedback({"signal_id": signal_id}), now).get(signal_id)
        if info is not None:
            self.store.put_many(WEIGHTS, [self.weight_document(info, now)])

    @staticmethod
    def weight_document(info: WeightInfo, now: float) -> dict[str, Any]:
        return {"_key": "w-" + digest(info.signal_id), **info.to_dict(), "updated": now}
