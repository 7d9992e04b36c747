"""A loopback webhook receiver (Slack incoming webhooks and generic JSON endpoints).

LOUDLY: this is NOT Slack. It accepts ``POST`` with a JSON body and answers
from a script of ``(status, headers)`` steps set by each test (then 200 with
Slack's ``ok`` body), recording every request's path, headers and parsed
JSON body so tests can check what would have been posted.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from fakes.loopback import send, serve, stop


class FakeWebhook:
    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.requests: list[dict[str, Any]] = []
        self._server: Optional[ThreadingHTTPServer] = None

    def __enter__(self) -> FakeWebhook:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                )
                status, headers = fake.script.pop(0) if fake.script else (200, {})
                send(self, status, b"ok" if status < 300 else b"error", headers)

        self._server = serve(Handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        stop(self._server)

    @property
    def url(self) -> str:
        return (
            f"http://127.0.0.1:{self._server.server_address[1]}/services/T000/B000/XXXXSECRETPATH"
        )
