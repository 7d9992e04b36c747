"""Anchor's REST API inside Splunk: ``/servicesNS/-/anchor/anchor/<endpoint>``.

splunkd hands a persistent REST handler each request as JSON (method,
``path_info``, ``query`` and ``form`` as [name, value] pairs, ``payload``,
``session`` with the caller's user and token, ``server.rest_uri``, and the
``system_authtoken`` because restmap.conf sets ``passSystemAuth``). This
module turns that into a call of the same operations the commands and the
CLI use, and returns ``{"status": ..., "payload": ...}``.

Reads open the memory with the caller's own token, so KV Store permissions
apply; writes check the caller's capability first (``anchor_feedback`` for
feedback, ``anchor_configure`` for settings, ``anchor_narrate`` for
narration, ``anchor_alert`` for alert delivery). The system token is used
only after that check: to write settings, to read the LLM key for
``narrate`` and the webhook URL for ``alerts/deliver``, because
storage/passwords needs more than a normal role has. No response ever
contains a secret.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from anchor import operations
from anchor.backends import MemoryBackend
from anchor.diff import DEFAULT_ALPHA, check_alpha
from anchor.errors import AnchorError, InputError, NotFound
from anchor.memory import check_name
from anchor.splguard import check_spl, checked_spl, spl_string
from anchor.splunk.access import (
    ALERT_CAPABILITY,
    CONFIGURE_CAPABILITY,
    FEEDBACK_CAPABILITY,
    NARRATE_CAPABILITY,
    AccessDenied,
    current_capabilities,
    open_memory,
)

MAX_LIMIT = 1000
COMPARE_SECONDS = 300.0
MAX_DELIVERIES = 30  # alert messages per user per DELIVERY_WINDOW_S, in one handler process
DELIVERY_WINDOW_S = 60.0
DRIFT_ID = re.compile(r"^[0-9a-f]{8,64}$|^latest$")


class RestError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra  # more fields for the error payload, e.g. an LLM failure's kind


@dataclass
class HtmlPage:
    """An endpoint's answer that is a page, not JSON (the drift report)."""

    __slots__ = ("html",)
    html: str


@dataclass
class Request:
    method: str
    path: list[str]
    query: dict[str, str]
    body: Any
    user: str
    token: str
    system_token: Optional[str]
    splunkd_uri: str


def parse_request(raw: Mapping[str, Any]) -> Request:
    """splunkd's request document as a ``Request``; bad JSON bodies are a 400."""
    pairs = lambda items: {str(k): str(v) for k, v in (items or [])}  # noqa: E731
    method = str(raw.get("method") or "GET").upper()
    body: Any = None
    payload = raw.get("payload")
    if method in ("POST", "PUT"):
        if payload:
            try:
                body = json.loads(payload)
            except ValueError as exc:
                raise RestError(400, f"the request body is not valid JSON: {exc}") from None
        else:
            body = pairs(raw.get("form"))
    session = raw.get("session") or {}
    if not session.get("authtoken"):
        raise RestError(401, "no session: call through splunkd with a valid token")
    path_info = str(raw.get("path_info") or "").strip("/")
    return Request(
        method=method,
        path=[p for p in path_info.split("/") if p],
        query=pairs(raw.get("query")),
        body=body,
        user=str(session.get("user") or "unknown"),
        token=str(session["authtoken"]),
        system_token=raw.get("system_authtoken"),
        splunkd_uri=str((raw.get("server") or {}).get("rest_uri") or "https://127.0.0.1:8089"),
    )


def _whole(text: str, name: str, low: int, high: int) -> int:
    """A whole number in [low, high] from ASCII digits only (``isdigit`` also accepts ``²``)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 9 and low <= int(text) <= high):
        raise RestError(400, f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _limit(request: Request, default: int = 100) -> int:
    return _whole(request.query.get("limit", str(default)), "limit", 1, MAX_LIMIT)


def _epoch(request: Request, name: str) -> Optional[float]:
    text = request.query.get(name)
    if not text:  # absent or empty
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not -1e11 < value < 1e11:  # also refuses nan and inf
        raise RestError(400, f"{name} must be epoch seconds, for example 1764000000")
    return value


def _drift_id(value: str) -> str:
    if not DRIFT_ID.fullmatch(value):
        raise RestError(400, f"{value!r} is not a drift id (hex, from GET drifts) or latest")
    return value


def _require(request: Request, capability: str) -> None:
    if capability not in current_capabilities(request.splunkd_uri, request.token):
        raise AccessDenied(f"this endpoint needs the {capability} capability")


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise RestError(400, "the request body must be a JSON object")
    return body


# -- endpoints ----------------------------------------------------------------
def _backend(request: Request) -> MemoryBackend:
    return MemoryBackend(open_memory(request.splunkd_uri, request.token), request.user)


def list_anchors(request: Request) -> Any:
    return _backend(request).list_anchors()


def show_anchor(request: Request) -> Any:
    return _backend(request).show_anchor(check_name(request.path[1]))


def list_drifts(request: Request) -> Any:
    return _backend(request).list_drifts(
        anchor=request.query.get("anchor") or None,
        limit=_limit(request),
        since=_epoch(request, "since"),
        until=_epoch(request, "until"),
    )


def show_drift(request: Request) -> Any:
    drift_id = _drift_id(request.path[1])
    return _backend(request).show_drift(drift_id, anchor=request.query.get("anchor") or None)


def drift_report(request: Request) -> HtmlPage:
    """The drift's HTML report, rendered from the stored drift: it lives as long as the drift."""
    from anchor.report import render_html

    drift_id = _drift_id(request.path[1])
    memory = open_memory(request.splunkd_uri, request.token)
    report = operations.stored_report(memory, drift_id, anchor=request.query.get("anchor") or None)
    return HtmlPage(render_html(report, created=report.created))


def recall(request: Request) -> Any:
    k = _whole(request.query.get("k", "5"), "k", 1, 20)
    return _backend(request).recall_similar(_drift_id(request.path[1]), k=k)


def weights(request: Request) -> Any:
    return _backend(request).learned_weights(limit=_limit(request))


def blind_spots(request: Request) -> Any:
    return _backend(request).blind_spots(limit=_limit(request))


def feedback(request: Request) -> Any:
    body = _object(request.body)
    missing = [k for k in ("drift_id", "signal_id", "outcome") if not body.get(k)]
    if missing:
        raise RestError(400, f"feedback needs {', '.join(missing)}")
    _require(request, FEEDBACK_CAPABILITY)
    return _backend(request).feedback(
        str(body["drift_id"]),
        str(body["signal_id"]),
        str(body["outcome"]),
        reason=str(body.get("reason") or ""),
    )


def compare(request: Request) -> Any:
    """Run ``<search> | anchorcompare anchor=<name>`` as the caller and return its rows."""
    from anchor.splunk.search import run_oneshot

    body = _object(request.body)
    search, anchor = str(body.get("search") or "").strip(), str(body.get("anchor") or "")
    if not search:
        raise RestError(400, "compare needs search, for example index=web sourcetype=nginx")
    check_name(anchor)
    verdict = check_spl(search)
    if not verdict.allowed:
        raise RestError(400, f"search refused by the SPL guard: {verdict.reason}")
    alpha, limit = body.get("alpha", DEFAULT_ALPHA), body.get("limit", operations.DEFAULT_LIMIT)
    try:  # a JSON body sends numbers, a form body sends text: both are read the same strict way
        alpha = float(alpha if isinstance(alpha, (int, float, str)) and alpha is not True else "x")
    except ValueError:
        alpha = math.nan
    try:
        check_alpha(alpha)
    except InputError as error:
        raise RestError(400, str(error)) from None
    if not isinstance(limit, bool) and isinstance(limit, int):
        limit = str(limit) if abs(limit) < 10**9 else ""  # str() of a huge int can itself fail
    limit = _whole(limit if isinstance(limit, str) else "", "limit", 1, MAX_LIMIT)
    spl = checked_spl(
        f"{search} | anchorcompare anchor={spl_string(anchor)} alpha={alpha!r} limit={limit}",
        also_allow={"anchorcompare"},
    )
    if spl is None:  # the whole query is checked too, not only the caller's part of it
        raise RestError(400, "the compare search could not be built safely; simplify the search")
    rows = run_oneshot(
        request.splunkd_uri,
        request.token,
        request.user,
        spl,
        earliest=str(body.get("earliest") or "-60m"),
        latest=str(body.get("latest") or "now"),
        max_rows=limit,
        max_seconds=COMPARE_SECONDS,
    )
    return {"search": spl, "rows": rows}


def get_settings(request: Request) -> Any:
    from anchor.splunk.settings import read_settings

    _require(request, CONFIGURE_CAPABILITY)
    return read_settings(request.splunkd_uri, request.system_token or request.token)


def post_settings(request: Request) -> Any:
    from anchor.splunk.settings import apply_update, validate_update

    _require(request, CONFIGURE_CAPABILITY)
    update = validate_update(request.body)
    if not request.system_token:
        raise RestError(
            500, "restmap.conf must set passSystemAuth = true for the settings endpoint"
        )
    changed = apply_update(request.splunkd_uri, request.system_token, update)
    return {"saved": changed}


def narrate(request: Request) -> Any:
    """One LLM chat turn of Anchor's narration, made here so the API key never leaves splunkd.

    Reading storage/passwords needs ``list_storage_passwords``, which would
    expose every app's secrets, so no Anchor role has it: the search command
    sends the conversation here with the user's session, and this handler
    checks ``anchor_narrate``, reads the [llm] settings and the key with the
    system token, calls the LLM and returns its answer. Only Anchor's own
    prompts and tools are relayed: this is not a general LLM proxy.
    """
    from anchor.llm import LLMClient, LLMError
    from anchor.splunk.narration import check_relayed_chat, read_llm_config

    _require(request, NARRATE_CAPABILITY)
    messages, json_mode, tools, temperature = check_relayed_chat(_object(request.body))
    if not request.system_token:
        raise RestError(500, "restmap.conf must set passSystemAuth = true for the narrate endpoint")
    try:
        config = read_llm_config(request.splunkd_uri, request.system_token)
        answer = LLMClient(config).chat(
            messages, json_mode=json_mode, tools=tools, temperature=temperature
        )
    except LLMError as error:
        raise RestError(502, str(error), kind=error.kind) from None
    except AnchorError as error:  # not configured: say so, as the offline fallback's reason
        raise RestError(502, str(error), kind="config") from None
    return {
        "content": answer.content,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in answer.tool_calls
        ],
        "finish_reason": answer.finish_reason,
        "model": answer.model or config.model,
    }


def deliver_alert(request: Request) -> Any:
    """Post an alert message to the webhook, so the URL (a secret) never leaves splunkd.

    The ``anchor_drift`` alert action runs with its owner's session, which
    cannot read storage/passwords; it sends the message it built here. After
    ``anchor_alert`` is checked and the message validated and rate-limited,
    the URL is read with the system token and the message delivered by
    ``anchor.alert.deliver`` (the HTTP policy's URL rule and retries). The
    answer says the outcome and at most the webhook's host.
    """
    from anchor.alert import check_webhook_url, deliver
    from anchor.splunk.alert_action import check_alert_message
    from anchor.splunk.secrets import read_secret

    _require(request, ALERT_CAPABILITY)
    message = check_alert_message(_object(request.body))
    if not request.system_token:
        raise RestError(
            500, "restmap.conf must set passSystemAuth = true for the alerts/deliver endpoint"
        )
    if not DELIVERIES.allow(request.user, time.monotonic()):
        raise RestError(
            429,
            f"{request.user} sent more than {DELIVERIES.most} alert messages in "
            f"{DELIVERIES.window:.0f} s; fire the alert less often",
        )
    try:
        url = read_secret(request.splunkd_uri, request.system_token, "webhook_url")
    except AnchorError as error:
        raise RestError(502, f"cannot read webhook_url: {error}") from None
    if not url:
        return {
            "delivery": "skipped",
            "attempts": 0,
            "reason": "no webhook_url in storage/passwords",
        }
    try:
        check_webhook_url(url)
    except InputError as error:  # the stored URL is wrong, not the caller's request
        raise RestError(502, str(error)) from None
    delivery = deliver(url, message)
    return {
        "delivery": delivery.status,
        "attempts": delivery.attempts,
        "http_status": delivery.http_status,
        "reason": delivery.reason,
    }


class DeliveryLimit:
    """At most ``most`` deliveries per ``window`` seconds for each user.

    One per handler process (splunkd keeps a persistent handler alive, and may
    run a few): a scheduled alert fires a few times an hour, a runaway one far
    more, and the team's channel should not pay for it.
    """

    def __init__(self, most: int = MAX_DELIVERIES, window: float = DELIVERY_WINDOW_S) -> None:
        self.most, self.window = most, window
        self.recent: dict[str, deque] = {}
        self.lock = threading.Lock()

    def allow(self, user: str, now: float) -> bool:
        with self.lock:
            times = self.recent.setdefault(user, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.most:
                return False
            times.append(now)
            return True


DELIVERIES = DeliveryLimit()

Handler = Callable[[Request], Any]
ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("GET", ("anchors",), list_anchors),
    ("GET", ("anchors", "*"), show_anchor),
    ("GET", ("drifts",), list_drifts),
    ("GET", ("drifts", "*"), show_drift),
    ("GET", ("drifts", "*", "recall"), recall),
    ("GET", ("drifts", "*", "report"), drift_report),
    ("GET", ("weights",), weights),
    ("GET", ("blind_spots",), blind_spots),
    ("POST", ("feedback",), feedback),
    ("POST", ("compare",), compare),
    ("POST", ("narrate",), narrate),
    ("POST", ("alerts", "deliver"), deliver_alert),
    ("GET", ("settings",), get_settings),
    ("POST", ("settings",), post_settings),
]


def _route(request: Request) -> Handler:
    shaped = [
        (m, p, h)
        for m, p, h in ROUTES
        if len(p) == len(request.path) and all(a == "*" or a == b for a, b in zip(p, request.path))
    ]
    if not shaped:
        known = ", ".join(sorted({"/".join(p) for _, p, _ in ROUTES}))
        raise RestError(404, f"unknown endpoint {'/'.join(request.path)!r}; endpoints: {known}")
    for method, _, handler in shaped:
        if method == request.method:
            return handler
    raise RestError(405, f"{request.method} is not allowed here; use {shaped[0][0]}")


def handle(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One request document in, one response document out; never raises."""
    try:
        request = parse_request(raw)
        answer = _route(request)(request)
        if isinstance(answer, HtmlPage):
            return {
                "status": 200,
                "payload": answer.html,
                "content_type": "text/html; charset=utf-8",
            }
        return {"status": 200, "payload": answer}
    except RestError as error:
        return {"status": error.status, "payload": {"error": str(error), **error.extra}}
    except AccessDenied as error:
        return {"status": 403, "payload": {"error": str(error)}}
    except NotFound as error:
        return {"status": 404, "payload": {"error": str(error)}}
    except InputError as error:
        return {"status": 400, "payload": {"error": str(error)}}
    except AnchorError as error:
        return {"status": 502, "payload": {"error": str(error)}}
