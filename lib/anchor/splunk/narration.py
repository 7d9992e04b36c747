"""The LLM narrator for ``anchorcompare narrate=true|deep=true``, and the relay it talks to.

The API key lives in storage/passwords (realm ``anchor``, name
``llm_api_key``). Reading it with a user's token needs
``list_storage_passwords``, which exposes every app's secrets and which no
Anchor role has, so the search process never reads it: each LLM chat turn is
sent to the app's REST endpoint ``POST narrate`` with the user's session
(``RelayClient``). That handler checks ``anchor_narrate``, reads the
``[llm]`` settings (``url``, ``model``, ``timeout_s``) and the key with
splunkd's system token, makes the call and returns the answer. Anything
missing or failing gives the offline narrator with the reason, so a
comparison never fails because of narration. SPL asked for by a deep
investigation runs in the search process through splunkd's oneshot search as
the invoking user, after the SPL guard, with a row cap and a time cap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from splunklib import binding

from anchor.errors import AnchorError, InputError
from anchor.investigate import (
    DEEP_PROMPT,
    SEARCH_SECONDS,
    TOOLS,
    SearchRunner,
    Toolbox,
    deep_narrator,
)
from anchor.llm import ChatClient, ChatRequest, ChatResult, LLMConfig, LLMError, ToolCall
from anchor.memory import Memory
from anchor.narrate import SYSTEM_PROMPT, llm_narrator
from anchor.operations import Narrator
from anchor.splguard import require_safe_spl
from anchor.splunk.kvstore import APP, JSON_HEADERS, connect, splunkd_content
from anchor.splunk.search import run_oneshot
from anchor.splunk.secrets import read_secret

SETTINGS_PATH = "/servicesNS/nobody/anchor/configs/conf-anchor/llm"
KEY_NAME = "llm_api_key"
RELAY_PATH = "anchor/narrate"
# The handler may retry once with [llm] timeout_s up to 300 s: wait for that.
RELAY_SECONDS = 2 * 300 + 30
RELAYED_ROLES = ("system", "user", "assistant", "tool")
RELAYED_PROMPTS = (SYSTEM_PROMPT, DEEP_PROMPT)
MAX_RELAYED_CHARS = 2_000_000


def read_llm_config(splunkd_uri: str, session_key: str) -> LLMConfig:
    """The configured LLM, key included (system token only); raises ``AnchorError`` saying what to set."""
    try:
        content = splunkd_content(splunkd_uri, session_key, SETTINGS_PATH)
    except binding.HTTPError as exc:
        raise AnchorError(
            f"the [llm] settings could not be read (HTTP {exc.status}); set them on the setup page"
        ) from None
    url, model = (content.get("url") or "").strip(), (content.get("model") or "").strip()
    if not url or not model:
        raise AnchorError("no LLM is configured: set url and model in [llm] on the setup page")
    try:
        timeout = float(content.get("timeout_s") or 30)
    except ValueError:
        raise AnchorError("[llm] timeout_s must be a number of seconds") from None
    key = read_secret(splunkd_uri, session_key, KEY_NAME) or ""
    return LLMConfig(url, model, api_key=key, timeout_s=timeout)


def oneshot_runner(splunkd_uri: str, session_key: str, user: str) -> SearchRunner:
    """Run read-only SPL as ``user`` (their token, their namespace), capped in rows and time."""

    def run(query: str, earliest: str, latest: str, max_rows: int, max_seconds: float) -> list:
        require_safe_spl(query)  # the guard again at the edge: nothing unchecked reaches splunkd
        capped = f"{query.strip()} | head {int(max_rows)}"
        require_safe_spl(capped)  # and the query as sent, cap included
        return run_oneshot(
            splunkd_uri,
            session_key,
            user,
            capped,
            earliest=earliest,
            latest=latest,
            max_rows=max_rows,
            max_seconds=max_seconds,
        )

    return run


def check_relayed_chat(body: Mapping[str, Any]) -> tuple[list, bool, Optional[list], float]:
    """A relayed chat turn's messages and options, if it is one of Anchor's own conversations."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError("narrate needs messages: a list of chat messages")
    if len(json.dumps(messages)) > MAX_RELAYED_CHARS:
        raise InputError(f"the conversation is larger than {MAX_RELAYED_CHARS} characters")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in RELAYED_ROLES:
            raise InputError(f"each message needs a role among {', '.join(RELAYED_ROLES)}")
    first = messages[0]
    if first["role"] != "system" or first.get("content") not in RELAYED_PROMPTS:
        raise InputError("narrate relays Anchor's own narration prompts only")
    temperature = body.get("temperature", 0.2)
    if not isinstance(temperature, (int, float)) or not 0.0 <= temperature <= 1.0:
        raise InputError("temperature must be a number from 0 to 1")
    tools = TOOLS if body.get("tools") is True else None
    return messages, body.get("json_mode") is True, tools, float(temperature)


@dataclass
class RelayConfig:
    model: str = ""  # the handler names the model in each answer


class RelayClient(ChatClient):
    """``LLMClient.chat`` over the app's ``POST narrate`` endpoint, as the invoking user."""

    config: RelayConfig

    def __init__(self, splunkd_uri: str, session_key: str, user: str) -> None:
        self.splunkd_uri, self.session_key, self.user = splunkd_uri, session_key, user
        self.config = RelayConfig()

    def send(self, request: ChatRequest) -> ChatResult:
        if request.tools is not None and request.tools is not TOOLS:
            raise LLMError("config", "only Anchor's investigation tools can be relayed")
        body = {
            "messages": request.messages,
            "json_mode": request.json_mode,
            "tools": request.tools is not None,
            "temperature": request.temperature,
        }
        try:
            service = connect(self.splunkd_uri, self.session_key, timeout=RELAY_SECONDS)
            response = service.post(
                RELAY_PATH, owner=self.user, app=APP, headers=JSON_HEADERS, body=json.dumps(body)
            )
            data = json.loads(response.body.read().decode("utf-8"))
        except binding.HTTPError as exc:
            raise _relayed_error(exc) from None
        except (OSError, ValueError, AnchorError) as exc:
            raise LLMError(
                "retryable", f"Anchor's narrate endpoint failed ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(data, dict):
            raise LLMError(
                "invalid_response",
                "Anchor's narrate endpoint answered something other than an object",
            )
        calls = [
            ToolCall(str(c.get("id", "")), str(c.get("name", "")), c.get("arguments"))
            for c in data.get("tool_calls") or []
            if isinstance(c, dict)
        ]
        self.config.model = str(data.get("model") or self.config.model)
        return ChatResult(data.get("content"), calls, data.get("finish_reason"), data.get("model"))


def _relayed_error(exc: binding.HTTPError) -> LLMError:
    """The handler's error as an ``LLMError`` (its kind kept), or what splunkd said."""
    try:
        payload = json.loads(exc.body.decode("utf-8") if isinstance(exc.body, bytes) else exc.body)
        message, kind = str(payload["error"]), str(payload.get("kind") or "fatal")
    except (ValueError, KeyError, TypeError, AttributeError):
        message, kind = f"Anchor's narrate endpoint answered HTTP {exc.status}", "fatal"
    if exc.status == 403:
        kind = "config"
    return LLMError(kind, message, exc.status)


def search_narrator(
    splunkd_uri: str, session_key: str, user: str, memory: Memory, *, deep: bool
) -> Narrator:
    """The narrator for one compare: the LLM through the narrate endpoint (plain or deep)."""
    client = RelayClient(splunkd_uri, session_key, user)
    if not deep:
        return llm_narrator(client)
    toolbox = Toolbox(
        memory,
        run_search=oneshot_runner(splunkd_uri, session_key, user),
        search_seconds=SEARCH_SECONDS,
    )
    return deep_narrator(client, toolbox)
