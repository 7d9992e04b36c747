"""A loopback webhook receiver (Slack incoming webhooks and generic JSON endpoints).

LOUDLY: this is NOT Slack. It accepts ``POST`` with a JSON body and answers
from a script of ``(status, headers)`` steps set by each test (then 200 with
Slack's ``ok`` body), recording every request's path, headers and parsed
JSON body so tests can check what would have been posted.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes.loopback import LoopbackFake, send


class FakeWebhook(LoopbackFake):
    methods = ("POST",)

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.requests: list[dict[str, Any]] = []

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self.requests.append(
            {"path": handler.path, "headers": dict(handler.headers), "body": json.loads(raw)}
        )
        status, headers = self.script.pop(0) if self.script else (200, {})
        send(handler, status, b"ok" if status < 300 else b"error", headers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/XXXXSECRETPATH"
