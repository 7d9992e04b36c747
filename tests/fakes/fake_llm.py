"""A loopback fake of an OpenAI-compatible chat completions endpoint.

LOUDLY: this is NOT a model. It answers ``POST /v1/chat/completions`` with
the documented response shape (``choices[0].message.content`` /
``tool_calls[].function.arguments`` as a JSON string, ``finish_reason``,
``model``, ``usage``) from a script of scenarios set by each test, and
records every request (headers and JSON body) so tests can check what the
client sent. Scenarios: ``("json", dict)`` content as JSON text,
``("text", str)`` raw content, ``("status", code, headers)`` an error
status, ``("hang", seconds)`` a slow answer, and ``("close",)`` a dropped
connection.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from fakes.loopback import send, serve, stop


class FakeLLM:
    def __init__(self) -> None:
        self.script: list[tuple] = []
        self.requests: list[dict[str, Any]] = []
        self._server: Optional[ThreadingHTTPServer] = None

    def __enter__(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}"
                )
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                if self.path.endswith("/embeddings"):
                    return self._embeddings(body)
                step = fake.script.pop(0) if fake.script else ("status", 500, {})
                kind = step[0]
                if kind == "close":
                    self.close_connection = True
                    return
                if kind == "hang":
                    time.sleep(step[1])
                    step = ("json", {"summary": "late"})
                    kind = step[0]
                if kind == "status":
                    payload = json.dumps(
                        {"error": {"message": "scripted", "type": "test"}}
                    ).encode()
                    status, headers = step[1], {**step[2], "Content-Type": "application/json"}
                else:
                    if kind == "tools":
                        message = {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": f"call_{len(fake.requests)}_{n}",
                                    "type": "function",
                                    "function": {
                                        "name": name,
                                        "arguments": args
                                        if isinstance(args, str)
                                        else json.dumps(args),
                                    },
                                }
                                for n, (name, args) in enumerate(step[1])
                            ],
                        }
                        finish = "tool_calls"
                    else:
                        content = json.dumps(step[1]) if kind == "json" else step[1]
                        message, finish = {"role": "assistant", "content": content}, "stop"
                    payload = json.dumps(
                        {
                            "id": "chatcmpl-fake",
                            "object": "chat.completion",
                            "model": body.get("model"),
                            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                            "usage": {
                                "prompt_tokens": 1,
                                "completion_tokens": 1,
                                "total_tokens": 2,
                            },
                        }
                    ).encode()
                    status, headers = 200, {"Content-Type": "application/json"}
                send(self, status, payload, headers)

            def _embeddings(self, body: dict) -> None:
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else texts
                data = [
                    {
                        "object": "embedding",
                        "index": n,
                        "embedding": [float(t.lower().count(c)) for c in "etaoinshrd"],
                    }
                    for n, t in enumerate(texts)
                ]
                payload = json.dumps(
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model"),
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                ).encode()
                send(self, 200, payload, {"Content-Type": "application/json"})

        self._server = serve(Handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        stop(self._server)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"
