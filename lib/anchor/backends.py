"""Where assistant tools get their answers: the local SQLite memory, or a Splunk search head.

Both backends expose the same methods with the same JSON-ready results. The
local one (here) calls ``anchor.operations`` on a memory; the Splunk one
(``anchor.splunk.remote``) calls Anchor's REST endpoint, whose handler calls
the same operations inside Splunk. Neither implements an operation itself.
Results never contain secrets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Optional, Protocol

from anchor import operations
from anchor.errors import InputError
from anchor.memory import ANCHOR_SUMMARY_FIELDS, DRIFT_LIST_FIELDS, Memory

# A JSON object, as both backends answer (the remote one parses it off the wire).
JSONObject = dict[str, Any]


class Backend(Protocol):
    """What the assistant tools call: ``MemoryBackend`` here, ``SplunkBackend`` remotely."""

    def list_anchors(self) -> JSONObject: ...
    def show_anchor(self, name: str) -> JSONObject: ...
    def list_drifts(self, anchor: Optional[str] = None, limit: int = 20) -> JSONObject: ...
    def show_drift(self, drift_id: str) -> JSONObject: ...
    def recall_similar(self, drift_id: str, k: int = 5) -> JSONObject: ...
    def learned_weights(self, limit: int = 50) -> JSONObject: ...
    def blind_spots(self, limit: int = 50) -> JSONObject: ...
    def capture(
        self, name: str, paths: Sequence[str], metrics: Optional[Sequence[str]] = None
    ) -> JSONObject: ...
    def compare(
        self,
        anchor: str,
        paths: Sequence[str] = (),
        search: Optional[str] = None,
        earliest: Optional[str] = None,
        limit: int = 20,
    ) -> JSONObject: ...
    def feedback(
        self, drift_id: str, signal_id: str, outcome: str, reason: str = ""
    ) -> JSONObject: ...


class MemoryBackend:
    """A memory opened here: SQLite offline, or KV Store inside Splunk's REST handler."""

    def __init__(self, memory: Memory, user: str) -> None:
        self.memory, self.user = memory, user

    def list_anchors(self) -> JSONObject:
        return {
            "anchors": [{k: a.get(k) for k in ANCHOR_SUMMARY_FIELDS} for a in self.memory.anchors()]
        }

    def show_anchor(self, name: str) -> JSONObject:
        return operations.describe_anchor(self.memory, name)

    def list_drifts(
        self,
        anchor: Optional[str] = None,
        limit: int = 20,
        since: Optional[float] = None,
        until: Optional[float] = None,
    ) -> JSONObject:
        drifts = operations.list_drifts(
            self.memory, anchor=anchor, since=since, until=until, limit=limit
        )
        return {"drifts": [{k: d.get(k) for k in DRIFT_LIST_FIELDS} for d in drifts]}

    def show_drift(self, drift_id: str, anchor: Optional[str] = None) -> JSONObject:
        report = operations.stored_report(self.memory, drift_id, anchor=anchor)
        return {**report.to_dict(), "created": report.created}

    def recall_similar(self, drift_id: str, k: int = 5) -> JSONObject:
        return {"similar": operations.recall(self.memory, drift_id, k=k)}

    def learned_weights(self, limit: int = 50) -> JSONObject:
        return {"weights": operations.learned_weights(self.memory, time.time())[:limit]}

    def blind_spots(self, limit: int = 50) -> JSONObject:
        return {"blind_spots": operations.blind_spots(self.memory, time.time())[:limit]}

    def capture(
        self, name: str, paths: Sequence[str], metrics: Optional[Sequence[str]] = None
    ) -> JSONObject:
        fingerprint, warnings = operations.read_fingerprint(paths, metrics=metrics)
        head = operations.capture(
            self.memory, name, fingerprint, user=self.user, now=time.time(), metrics=metrics
        )
        keep = ("name", "events", "sourcetypes", "templates", "window_start", "window_end")
        return {**{k: head.get(k) for k in keep}, "warnings": warnings}

    def compare(
        self,
        anchor: str,
        paths: Sequence[str] = (),
        search: Optional[str] = None,
        earliest: Optional[str] = None,
        limit: int = 20,
    ) -> JSONObject:
        if search:
            raise InputError("search= needs a Splunk backend; offline, give paths to exported logs")
        self.memory.anchor(anchor)  # an unknown anchor fails before any file is read
        fingerprint, warnings = operations.read_fingerprint(paths)
        report = operations.compare(
            self.memory, anchor, fingerprint, user=self.user, now=time.time(), limit=limit
        )
        return {**report.to_dict(), "warnings": warnings}

    def feedback(self, drift_id: str, signal_id: str, outcome: str, reason: str = "") -> JSONObject:
        return operations.feedback(
            self.memory,
            drift_id,
            signal_id,
            outcome,
            user=self.user,
            now=time.time(),
            reason=reason,
        )
