"""Where assistant tools get their answers: the local SQLite memory, or a Splunk search head.

Both backends expose the same methods with the same JSON-ready results. The
local one calls ``anchor.operations`` on an SQLite memory; the Splunk one
calls Anchor's REST endpoint (``/servicesNS/-/anchor/anchor/...``), whose
handler calls the same operations inside Splunk. Neither implements an
operation itself. Results never contain secrets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Optional, Protocol
from urllib.parse import quote, urlsplit

import requests

from anchor import operations
from anchor.errors import AnchorError, InputError
from anchor.memory import Memory


class Backend(Protocol):
    def list_anchors(self) -> Any: ...
    def show_anchor(self, name: str) -> Any: ...
    def list_drifts(self, anchor: Optional[str] = None, limit: int = 20) -> Any: ...
    def show_drift(self, drift_id: str) -> Any: ...
    def recall_similar(self, drift_id: str, k: int = 5) -> Any: ...
    def learned_weights(self, limit: int = 50) -> Any: ...
    def blind_spots(self, limit: int = 50) -> Any: ...
    def capture(
        self, name: str, paths: Sequence[str], metrics: Optional[Sequence[str]] = None
    ) -> Any: ...
    def compare(
        self,
        anchor: str,
        paths: Sequence[str] = (),
        search: Optional[str] = None,
        earliest: Optional[str] = None,
        limit: int = 20,
    ) -> Any: ...  # fmt: skip
    def feedback(self, drift_id: str, signal_id: str, outcome: str, reason: str = "") -> Any: ...


class MemoryBackend:
    """A memory opened here: SQLite offline, or KV Store inside Splunk's REST handler."""

    def __init__(self, memory: Memory, user: str) -> None:
        self.memory, self.user = memory, user

    def list_anchors(self) -> Any:
        keep = ("name", "created", "created_by", "events", "sourcetypes", "templates",
                "window_start", "window_end")  # fmt: skip
        return {"anchors": [{k: a.get(k) for k in keep} for a in self.memory.anchors()]}

    def show_anchor(self, name: str) -> Any:
        return operations.describe_anchor(self.memory, name)

    def list_drifts(self, anchor: Optional[str] = None, limit: int = 20,
                    since: Optional[float] = None, until: Optional[float] = None) -> Any:  # fmt: skip
        keep = ("drift_id", "anchor", "created", "created_by", "events", "signal_count",
                "top_severity", "top_signal", "summary")  # fmt: skip
        drifts = operations.list_drifts(self.memory, anchor=anchor, since=since, until=until,
                                        limit=limit)  # fmt: skip
        return {"drifts": [{k: d.get(k) for k in keep} for d in drifts]}

    def show_drift(self, drift_id: str, anchor: Optional[str] = None) -> Any:
        report = operations.stored_report(self.memory, drift_id, anchor=anchor)
        return {**report.to_dict(), "created": report.created}

    def recall_similar(self, drift_id: str, k: int = 5) -> Any:
        return {"similar": operations.recall(self.memory, drift_id, k=k)}

    def learned_weights(self, limit: int = 50) -> Any:
        return {"weights": operations.learned_weights(self.memory, time.time())[:limit]}

    def blind_spots(self, limit: int = 50) -> Any:
        return {"blind_spots": operations.blind_spots(self.memory, time.time())[:limit]}

    def capture(
        self, name: str, paths: Sequence[str], metrics: Optional[Sequence[str]] = None
    ) -> Any:
        fingerprint, warnings = operations.read_fingerprint(paths, metrics=metrics)
        head = operations.capture(self.memory, name, fingerprint, user=self.user, now=time.time(),
                                  metrics=metrics)  # fmt: skip
        keep = ("name", "events", "sourcetypes", "templates", "window_start", "window_end")
        return {**{k: head.get(k) for k in keep}, "warnings": warnings}

    def compare(self, anchor: str, paths: Sequence[str] = (), search: Optional[str] = None,
                earliest: Optional[str] = None, limit: int = 20) -> Any:  # fmt: skip
        if search:
            raise InputError("search= needs a Splunk backend; offline, give paths to exported logs")
        self.memory.anchor(anchor)  # an unknown anchor fails before any file is read
        fingerprint, warnings = operations.read_fingerprint(paths)
        report = operations.compare(self.memory, anchor, fingerprint, user=self.user,
                                    now=time.time(), limit=limit)  # fmt: skip
        return {**report.to_dict(), "warnings": warnings}

    def feedback(self, drift_id: str, signal_id: str, outcome: str, reason: str = "") -> Any:
        return operations.feedback(self.memory, drift_id, signal_id, outcome, user=self.user,
                                   now=time.time(), reason=reason)  # fmt: skip


class SplunkBackend:
    """A search head's Anchor REST endpoint, with a Splunk authentication token.

    TLS verification stays on (``ca_file`` adds a private CA); plain http is
    refused except to a loopback address.
    """

    def __init__(self, url: str, token: str, *, ca_file: Optional[str] = None,
                 session: Optional[requests.Session] = None, timeout: float = 330.0) -> None:  # fmt: skip
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"Splunk URL {url!r} is not an http(s) URL such as https://sh1:8089")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise InputError("the Splunk URL must use https")
        if not token:
            raise InputError("a Splunk authentication token is needed (ANCHOR_SPLUNK_TOKEN)")
        self.base = url.rstrip("/") + "/servicesNS/-/anchor/anchor/"
        self.http = session or requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.verify: Any = ca_file or True
        self.timeout = timeout

    def _call(self, method: str, path: str, *, query: Optional[dict] = None,
              body: Optional[dict] = None) -> Any:  # fmt: skip
        params = {
            "output_mode": "json",
            **{k: v for k, v in (query or {}).items() if v is not None},
        }
        try:
            response = self.http.request(method, self.base + path, params=params, json=body,
                                         verify=self.verify, timeout=self.timeout)  # fmt: skip
        except requests.RequestException as exc:
            raise AnchorError(f"cannot reach Splunk ({type(exc).__name__})") from None
        try:
            data = response.json()
        except ValueError:
            raise AnchorError(f"Splunk answered HTTP {response.status_code} without JSON") from None
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise AnchorError(message or f"Splunk answered HTTP {response.status_code}")
        return data

    def list_anchors(self) -> Any:
        return self._call("GET", "anchors")

    def show_anchor(self, name: str) -> Any:
        return self._call("GET", f"anchors/{quote(name, safe='')}")

    def list_drifts(self, anchor: Optional[str] = None, limit: int = 20) -> Any:
        return self._call("GET", "drifts", query={"anchor": anchor, "limit": limit})

    def show_drift(self, drift_id: str) -> Any:
        return self._call("GET", f"drifts/{quote(drift_id, safe='')}")

    def recall_similar(self, drift_id: str, k: int = 5) -> Any:
        return self._call("GET", f"drifts/{quote(drift_id, safe='')}/recall", query={"k": k})

    def learned_weights(self, limit: int = 50) -> Any:
        return self._call("GET", "weights", query={"limit": limit})

    def blind_spots(self, limit: int = 50) -> Any:
        return self._call("GET", "blind_spots", query={"limit": limit})

    def capture(
        self, name: str, paths: Sequence[str], metrics: Optional[Sequence[str]] = None
    ) -> Any:
        raise InputError(
            f"capture on Splunk runs as a search: ... | anchorcapture name={name} (not over REST)"
        )

    def compare(self, anchor: str, paths: Sequence[str] = (), search: Optional[str] = None,
                earliest: Optional[str] = None, limit: int = 20) -> Any:  # fmt: skip
        if paths or not search:
            raise InputError("on Splunk, compare takes search= (for example index=web), not paths")
        return self._call("POST", "compare", body={"search": search, "anchor": anchor,
                                                   "earliest": earliest, "limit": limit})  # fmt: skip

    def feedback(self, drift_id: str, signal_id: str, outcome: str, reason: str = "") -> Any:
        return self._call("POST", "feedback", body={"drift_id": drift_id, "signal_id": signal_id,
                                                    "outcome": outcome, "reason": reason})  # fmt: skip
