"""An OpenAI-compatible chat client over ``requests`` (DashScope, OpenAI, Ollama, vLLM...).

Failures are classified: 400/401/403/404 are fatal (no retry); 408, 409,
425, 429, 5xx, connection errors and timeouts are retried once, by the
policy of ``anchor.httpclient`` (``Retry-After`` honoured, capped); a chat
POST may be retried because it changes nothing on the server. Everything
raises ``LLMError`` so callers fall back to the offline narrator. The API key
travels only in the ``Authorization`` header: it is never in a message, a log
line or a repr. TLS verification is always on.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

from anchor import httpclient
from anchor.errors import AnchorError

MODEL_NAME = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")
RETRYABLE = frozenset({408, 409, 425}) | httpclient.TRANSIENT


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
        try:
            httpclient.check_url(self.base_url, "the LLM URL")
        except httpclient.UnsafeURL as error:
            raise LLMError("config", str(error)) from None
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


@dataclass
class ChatRequest:
    """One chat turn, as ``chat`` received it."""

    __slots__ = ("json_mode", "messages", "temperature", "tools")
    messages: list
    json_mode: bool
    tools: Optional[list]
    temperature: float


class ModelConfig(Protocol):
    @property
    def model(self) -> str: ...


class ChatClient:
    """What narrators call: ``chat``; a subclass sends the turn (``send``) and names
    the model it asks in ``config.model``. ``LLMClient`` asks a model directly, the
    search-time ``anchor.splunk.narration.RelayClient`` through Anchor's narrate endpoint."""

    config: ModelConfig

    def chat(
        self,
        messages: Sequence[dict],
        *,
        json_mode: bool = False,
        tools: Optional[list] = None,
        temperature: float = 0.2,
    ) -> ChatResult:
        return self.send(ChatRequest(list(messages), json_mode, tools, temperature))

    def send(self, request: ChatRequest) -> ChatResult:
        raise NotImplementedError


class LLMClient(ChatClient):
    """The OpenAI-compatible ``POST /chat/completions``, with the retry policy mounted."""

    config: LLMConfig

    def __init__(self, config: LLMConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        policy = httpclient.RetryPolicy(
            attempts=config.max_retries + 1,
            backoff=1.0,
            statuses=RETRYABLE,
            methods=frozenset({"POST"}),
            sleep=sleep,
        )
        self.session = httpclient.session(policy)

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        try:
            response = self.session.post(
                self.config.base_url + path,
                json=body,
                headers=headers,
                timeout=self.config.timeout_s,
            )
        except httpclient.RequestFailed as exc:
            if exc.timed_out:
                raise LLMError(
                    "timeout", f"the LLM did not answer within {self.config.timeout_s:g} s"
                ) from None
            raise LLMError("retryable", f"cannot reach the LLM endpoint ({exc.kind})") from None
        status = response.status_code
        if status < 300:
            try:
                return response.json()
            except ValueError:
                raise LLMError(
                    "invalid_response", "the LLM endpoint answered with something other than JSON"
                ) from None
        if status in RETRYABLE:
            raise LLMError("retryable", f"the LLM endpoint answered HTTP {status}", status)
        raise LLMError("fatal", f"the LLM endpoint refused the request (HTTP {status})", status)

    def send(self, request: ChatRequest) -> ChatResult:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": request.messages,
            "temperature": request.temperature,
        }
        if request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.tools:
            body["tools"] = request.tools
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
    except json.JSONDecodeError as exc:
        raise LLMError("invalid_response", f"the model's JSON does not parse: {exc.msg}") from None
    if not isinstance(value, dict):
        raise LLMError("invalid_response", "the model's JSON is not an object")
    return value
