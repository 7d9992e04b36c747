"""Anchor's memory: anchors, drifts, feedback and weights on any ``Store``.

This is the one place the documents' shapes and keys are defined; the SQLite
and KV Store backends only move documents. Keys are deterministic, so a
retried write replaces rather than duplicates. Every operation that changes
memory ends in a single commit-point write (a drift, a feedback entry, an
anchor's head document), so a failure before it leaves nothing behind.

Reads ask the store for exactly what they need (filter, sort, limit and
projection happen on the server), so none of them grows with the size of a
collection: the newest drifts of an anchor, the latest feedback on a drift,
one weight. ``anchor_weights`` is a maintained, materialised view of the
feedback log: each feedback re-derives its signal's row from that signal's
entries (never read-modify-write), and checks afterwards that no entry
arrived meanwhile, so concurrent feedback loses nothing; the nightly decay
re-derives every row from the whole log.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Optional

from anchor.errors import InputError, NotFound
from anchor.fingerprint import Fingerprint
from anchor.store import Store
from anchor.weights import OUTCOMES, WeightInfo, derive_weights, weight_at

ANCHORS = "anchor_anchors"
DRIFTS = "anchor_drifts"
FEEDBACK = "anchor_feedback"
WEIGHTS = "anchor_weights"

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A fingerprint larger than this is split into several documents (KV Store
# documents are limited to 16 MB of BSON; 4 MB parts leave ample headroom).
PART_CHARS = 4 * 1024 * 1024
MAX_REASON_CHARS = 1000
# What a list of anchors shows of each (the CLI adds the metrics it summarizes).
ANCHOR_SUMMARY_FIELDS = (
    "name",
    "created",
    "created_by",
    "events",
    "sourcetypes",
    "templates",
    "window_start",
    "window_end",
)
# What a list of drifts shows of each (never the up-to-200 stored signals):
# DRIFT_LIST_FIELDS to a client, DRIFT_SUMMARY_FIELDS read from the memory
# (adding what the CLI and the dashboard derive the windows from).
DRIFT_LIST_FIELDS = (
    "drift_id",
    "anchor",
    "created",
    "created_by",
    "events",
    "signal_count",
    "top_severity",
    "top_signal",
    "summary",
)
DRIFT_SUMMARY_FIELDS = (
    *DRIFT_LIST_FIELDS,
    "narrative",
    "windows",
    "window_start",
    "window_end",
)
# What recall compares: signal ids and their severities, nothing else.
RECALL_FIELDS = ("drift_id", "anchor", "created", "top_signal", "signal_ids", "signal_severities")
WEIGHT_FIELDS = (
    "signal_id",
    "weight",
    "confirmed",
    "false_positive",
    "last_feedback",
    "deviation",
    "updated",
)
NEWEST_FIRST = (("created", -1), ("_key", -1))
# Derivations of one signal's weight row before a feedback gives up re-checking (each
# retry means another feedback on the same signal landed meanwhile). Six processes giving
# feedback on one signal in a tight loop on a loaded machine outran 3 attempts.
REFRESH_ATTEMPTS = 20


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):  # $ alone lets "x\n" in
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
            known = [a["name"] for a in self.anchors()]
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise NotFound(f"unknown anchor {name!r}: {hint}capture it first or see `anchor list`")
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

    def recent_drifts(
        self,
        *,
        anchor: Optional[str] = None,
        since: Optional[float] = None,
        until: Optional[float] = None,
        limit: Optional[int] = None,
        fields: Optional[tuple[str, ...]] = None,
    ) -> Iterator[dict[str, Any]]:
        """Drifts newest first, filtered, limited and projected by the store."""
        query: dict[str, Any] = {}
        if anchor is not None:
            query["anchor"] = anchor
        created = {op: v for op, v in (("$gte", since), ("$lte", until)) if v is not None}
        if created:
            query["created"] = created
        return self.store.find(DRIFTS, query or None, sort=NEWEST_FIRST, limit=limit, fields=fields)

    def delete_drift(self, drift_id: str) -> None:
        self.drift(drift_id)
        self.store.delete(DRIFTS, [drift_id])

    def _delete_drifts_where(self, query: Mapping[str, Any], *, dry_run: bool = False) -> int:
        count = sum(1 for _ in self.store.find(DRIFTS, query, fields=()))
        if count and not dry_run:
            self.store.delete_where(DRIFTS, query)
        return count

    def purge_drifts(self, older_than: float, *, dry_run: bool = False) -> int:
        """Delete drifts recorded up to ``older_than``; returns how many (would go).

        Up to and including: ``--older-than 0`` must remove a drift recorded this very second.
        """
        return self._delete_drifts_where({"created": {"$lte": older_than}}, dry_run=dry_run)

    def trim_drifts(self, keep: int) -> int:
        """Keep about the newest ``keep`` drifts (ties at the boundary go too); returns how many went."""
        first_dropped = next(
            self.store.find(
                DRIFTS,
                {"created": {"$gt": 0}},
                sort=NEWEST_FIRST,
                skip=keep,
                limit=1,
                fields=("created",),
            ),
            None,
        )
        if first_dropped is None:
            return 0
        return self._delete_drifts_where({"created": {"$lte": first_dropped["created"]}})

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
        # A finding's id or the id of any signal folded into it (its evidence).
        known = {
            signal_id
            for s in drift.get("signals", [])
            for signal_id in [s["signal_id"]] + [e["signal_id"] for e in s.get("evidence") or ()]
        }
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

    def recent_feedback(
        self,
        *,
        drift_id: Optional[str] = None,
        since: Optional[float] = None,
        until: Optional[float] = None,
        limit: Optional[int] = None,
    ) -> list[dict[str, Any]]:
        """Feedback entries newest first (by ``time``), filtered and limited by the store."""
        query: dict[str, Any] = {"drift_id": drift_id} if drift_id is not None else {}
        when = {op: v for op, v in (("$gte", since), ("$lte", until)) if v is not None}
        if when:
            query["time"] = when
        return list(
            self.store.find(FEEDBACK, query or None, sort=(("time", -1), ("_key", -1)), limit=limit)
        )

    def weights(self, now: float) -> dict[str, WeightInfo]:
        """Every learned weight as of ``now``, from the ``anchor_weights`` view."""
        rows = self.store.find(WEIGHTS, fields=WEIGHT_FIELDS)
        return {row["signal_id"]: weight_at(row, now) for row in rows if row.get("signal_id")}

    def weight(self, signal_id: str, now: float) -> Optional[WeightInfo]:
        row = self.store.get(WEIGHTS, weight_key(signal_id))
        return weight_at(row, now) if row and row.get("signal_id") else None

    def derived_weights(self, now: float) -> dict[str, WeightInfo]:
        """Every weight re-derived from the whole feedback log (nightly, not per compare)."""
        return derive_weights(self.feedback(), now)

    def _refresh_weight_view(self, signal_id: str, now: float) -> None:
        """Re-derive one signal's row of ``anchor_weights`` from its feedback entries.

        Two feedbacks at once may each derive from a log missing the other's
        entry; whoever writes last then reads the entries again and, if they
        changed, derives again. The last write therefore always saw every
        entry written before it (the nightly decay repairs a row whose writer
        died in between).
        """
        query = {"signal_id": signal_id}
        for _ in range(REFRESH_ATTEMPTS):
            entries = list(self.feedback(query))
            info = derive_weights(entries, now).get(signal_id)
            if info is not None:
                self.store.put_many(WEIGHTS, [self.weight_document(info, now)])
            seen = {e["_key"] for e in entries}
            if {e["_key"] for e in self.store.find(FEEDBACK, query, fields=())} == seen:
                return

    @staticmethod
    def weight_document(info: WeightInfo, now: float) -> dict[str, Any]:
        return {
            "_key": weight_key(info.signal_id),
            **info.to_dict(),
            "deviation": round(info.deviation, 9),
            "updated": now,
        }


def weight_key(signal_id: str) -> str:
    return "w-" + digest(signal_id)
