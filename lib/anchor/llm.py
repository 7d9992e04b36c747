"""An OpenAI-compatible chat client over ``requests`` (DashScope, OpenAI, Ollama, vLLM...).

Failures are classified: 400/401/403/404 are fatal (no retry); 408, 409,
425, 429, 5xx, connection errors and timeouts are retried once with backoff
(``Retry-After`` honoured, capped); everything raises ``LLMError`` so callers
fall back to the offline narrator. The API key travels only in the
``Authorization`` header: it is never in a message, a log line or a repr.
TLS verification is always on.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import requests

from anchor.errors import AnchorError

MODEL_NAME = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
RETRYABLE = {408, 409, 425, 429}
MAX_RETRY_AFTER = 10.0


class LLMError(AnchorError):
    def __init__(self, kind: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.kind, self.status = kind, status


@dataclass
class LLMConfig:
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout_s: float = 30.0
    max_retries: int = 1

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LLMError("config", f"LLM URL {self.base_url!r} is not an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise LLMError(
                "config",
                "LLM URL must use https (plain http only to a loopback server such as Ollama)",
            )
        if not MODEL_NAME.fullmatch(self.model or ""):
            raise LLMError(
                "config", f"model name {self.model!r} is not valid ([A-Za-z0-9._:/-], at most 128)"
            )
        self.base_url = self.base_url.rstrip("/")


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: Any


@dataclass
class ChatResult:
    content: Optional[str]
    tool_calls: list[ToolCall]
    finish_reason: Optional[str]
    model: Optional[str]


class LLMClient:
    def __init__(
        self,
        config: LLMConfig,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.sleep = sleep

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        url = self.config.base_url + path
        for attempt in range(self.config.max_retries + 1):
            last = attempt == self.config.max_retries
            try:
                response = self.session.post(
                    url, json=body, headers=headers, timeout=self.config.timeout_s
                )
            except requests.Timeout:
                if last:
                    raise LLMError(
                        "timeout", f"the LLM did not answer within {self.config.timeout_s:g} s"
                    ) from None
                self.sleep(1.0)
                continue
            except requests.RequestException as exc:
                if last:
                    raise LLMError(
                        "retryable", f"cannot reach the LLM endpoint ({type(exc).__name__})"
                    ) from None
                self.sleep(1.0)
                continue
            status = response.status_code
            if status < 300:
                try:
                    return response.json()
                except ValueError:
                    raise LLMError(
                        "invalid_response",
                        "the LLM endpoint answered with something other than JSON",
                    ) from None
            if status in RETRYABLE or status >= 500:
                if last:
                    raise LLMError("retryable", f"the LLM endpoint answered HTTP {status}", status)
                self.sleep(self._retry_after(response))
                continue
            raise LLMError("fatal", f"the LLM endpoint refused the request (HTTP {status})", status)
        raise AssertionError("unreachable")

    @staticmethod
    def _retry_after(response: requests.Response) -> float:
        try:
            return min(MAX_RETRY_AFTER, max(0.0, float(response.headers.get("Retry-After", "1"))))
        except ValueError:
            return 1.0

    def chat(
        self,
        messages: Sequence[dict],
        *,
        json_mode: bool = False,
        tools: Optional[list] = None,
        temperature: float = 0.2,
    ) -> ChatResult:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": list(messages),
            "temperature": temperature,
        }
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        data = self._post("/chat/completions", body)
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise LLMError("invalid_response", "the LLM answer has no choices[0].message") from None
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            arguments = function.get("arguments")
            # Arguments arrive as a JSON string; a malformed one is kept raw for the caller to refuse.
            with contextlib.suppress(ValueError):
                arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
            calls.append(ToolCall(call.get("id", ""), function.get("name", ""), arguments))
        return ChatResult(
            message.get("content"), calls, choice.get("finish_reason"), data.get("model")
        )

    def embed(self, texts: Sequence[str], *, model: Optional[str] = None) -> list[list[float]]:
        """Embedding vectors for ``texts``, in input order (``POST /embeddings``)."""
        data = self._post(
            "/embeddings", {"model": model or self.config.model, "input": list(texts)}
        )
        try:
            items = sorted(data["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError):
            raise LLMError(
                "invalid_response", "the embeddings answer has no data[].embedding"
            ) from None
        if len(vectors) != len(texts):
            raise LLMError(
                "invalid_response", f"asked for {len(texts)} embeddings, got {len(vectors)}"
            )
        return vectors


def parse_json_object(text: Optional[str]) -> dict:
    """The JSON object in a model's answer (code fences and chatter around it are tolerated)."""
    if not text:
        raise LLMError("invalid_response", "the model's answer was empty")
    cleaned = re.sub(r"^```(?:json)?|```$", "", text.strip(), flags=re.MULTILINE).strip()
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or end <= start:
        raise LLMError("invalid_response", "the model's answer holds no JSON object")
    try:
        value = json.loads(cleaned[start : end + 1])
    except ValueError as exc:
        raise LLMError("invalid_response", f"the model's JSON does not parse: {exc.msg}") from None
    if not isinstance(value, dict):
        raise LLMError("invalid_response", "the model's JSON is not an object")
    return value
