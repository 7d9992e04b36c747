"""A loopback webhook receiver (Slack incoming webhooks and generic JSON endpoints).

LOUDLY: this is NOT Slack. It accepts ``POST`` with a JSON body and answers
from a script of ``(status, headers)`` steps set by each test (then 200 with
Slack's ``ok`` body), recording every request's path, headers and parsed
JSON body so tests can check what would have been posted.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional


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
                payload = b"ok" if status < 300 else b"error"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return (
            f"http://127.0.0.1:{self._server.server_address[1]}/services/T000/B000/XXXXSECRETPATH"
        )
