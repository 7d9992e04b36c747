"""A search head's Anchor REST API as an assistant backend (``anchor mcp --splunk-url``).

It speaks to ``/servicesNS/-/anchor/anchor/...`` with a Splunk authentication
token, so it knows Splunk's REST paths and lives here; its methods mirror
``anchor.backends.MemoryBackend``, whose operations the endpoint runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional
from urllib.parse import quote

from anchor import httpclient
from anchor.errors import AnchorError, InputError

API_PATH = "/servicesNS/-/anchor/anchor/"


class SplunkBackend:
    """A search head's Anchor REST endpoint, with a Splunk authentication token.

    The policy of ``anchor.httpclient``: TLS verification stays on (``ca_file``
    names a private CA), plain http only to a loopback address, reads (GET)
    retried on 429, 5xx and dropped connections; a compare or feedback POST is
    not repeated once sent.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        ca_file: Optional[str] = None,
        timeout: float = 330.0,
    ) -> None:
        httpclient.check_url(url, "the Splunk URL")
        if not token:
            raise InputError("a Splunk authentication token is needed (ANCHOR_SPLUNK_TOKEN)")
        self.base = url.rstrip("/") + API_PATH
        self.http = httpclient.session(
            httpclient.RetryPolicy(),
            ca_bundle=ca_file,
            headers={"Authorization": f"Bearer {token}"},
        )
        self.timeout = timeout

    def _call(
        self, method: str, path: str, *, query: Optional[dict] = None, body: Optional[dict] = None
    ) -> Any:
        params = {
            "output_mode": "json",
            **{k: v for k, v in (query or {}).items() if v is not None},
        }
        try:
            response = self.http.request(
                method,
                self.base + path,
                params=params,
                json=body,
                timeout=self.timeout,
            )
        except httpclient.RequestFailed as exc:
            raise AnchorError(f"cannot reach Splunk ({exc.kind})") from None
        try:
            data = response.json()
        except ValueError:
            raise AnchorError(f"Splunk answered HTTP {response.status_code} without JSON") from None
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise AnchorError(message or f"Splunk answered HTTP {response.status_code}")
        return data

    def list_anchors(self) -> dict[str, Any]:
        return self._call("GET", "anchors")

    def show_anchor(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"anchors/{quote(name, safe='')}")

    def list_drifts(self, anchor: Optional[str] = None, limit: int = 20) -> dict[str, Any]:
        return self._call("GET", "drifts", query={"anchor": anchor, "limit": limit})

    def show_drift(self, drift_id: str) -> dict[str, Any]:
        return self._call("GET", f"drifts/{quote(drift_id, safe='')}")

    def recall_similar(self, drift_id: str, k: int = 5) -> dict[str, Any]:
        return self._call("GET", f"drifts/{quote(drift_id, safe='')}/recall", query={"k": k})

    def learned_weights(self, limit: int = 50) -> dict[str, Any]:
        return self._call("GET", "weights", query={"limit": limit})

    def blind_spots(self, limit: int = 50) -> dict[str, Any]:
        return self._call("GET", "blind_spots", query={"limit": limit})

    def capture(
        self, name: str, paths: Sequence[str], metrics: Optional[Sequence[str]] = None
    ) -> dict[str, Any]:
        raise InputError(
            f"capture on Splunk runs as a search: ... | anchorcapture name={name} (not over REST)"
        )

    def compare(
        self,
        anchor: str,
        paths: Sequence[str] = (),
        search: Optional[str] = None,
        earliest: Optional[str] = None,
        limit: int = 20,
    ) -> dict[str, Any]:
        if paths or not search:
            raise InputError("on Splunk, compare takes search= (for example index=web), not paths")
        return self._call(
            "POST",
            "compare",
            body={"search": search, "anchor": anchor, "earliest": earliest, "limit": limit},
        )

    def feedback(
        self, drift_id: str, signal_id: str, outcome: str, reason: str = ""
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "feedback",
            body={
                "drift_id": drift_id,
                "signal_id": signal_id,
                "outcome": outcome,
                "reason": reason,
            },
        )
