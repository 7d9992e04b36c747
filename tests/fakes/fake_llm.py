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
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes.loopback import LoopbackFake, send


class FakeLLM(LoopbackFake):
    methods = ("POST",)

    def __init__(self) -> None:
        self.script: list[tuple] = []
        self.requests: list[dict[str, Any]] = []

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(
            handler.rfile.read(int(handler.headers.get("Content-Length") or 0)) or b"{}"
        )
        self.requests.append({"path": handler.path, "headers": dict(handler.headers), "body": body})
        step = self.script.pop(0) if self.script else ("status", 500, {})
        kind = step[0]
        if kind == "close":
            handler.close_connection = True
            return
        if kind == "hang":
            time.sleep(step[1])
            step = ("json", {"summary": "late"})
            kind = step[0]
        if kind == "status":
            payload = json.dumps({"error": {"message": "scripted", "type": "test"}}).encode()
            status, headers = step[1], {**step[2], "Content-Type": "application/json"}
        else:
            if kind == "tools":
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"call_{len(self.requests)}_{n}",
                            "type": "function",
                            "function": {
                                "name": name,
                                "arguments": args if isinstance(args, str) else json.dumps(args),
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
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            ).encode()
            status, headers = 200, {"Content-Type": "application/json"}
        send(handler, status, payload, headers)  # after a hang, often to a client gone

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
