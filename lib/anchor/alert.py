"""The drift alert: what the ``anchor_drift`` alert action does, without splunklib.

Given the rows an ``anchorcompare`` alert search produced, it makes sure the
drift is recorded (from the rows, if the memory does not have it), writes
the HTML report next to the search's results, and posts a Slack-compatible
or generic JSON message with the top signals, the narrative, a link back
to the dashboard and a link to the drift's report (which is rendered from
the stored drift, so it outlives the search's dispatch folder and goes when
drift retention removes the drift). Reading Splunk's results file and
building Splunk Web links is ``anchor.splunk.alert_action``'s job. Transient webhook failures (429, 5xx, timeouts, refused
connections) are retried by the policy of ``anchor.httpclient`` (the POST
included: a repeated message is better than a lost one); the drift is
recorded before any delivery is tried, so a dead endpoint never loses it. The webhook URL is a
secret: it is never logged or put in an error message, only its host.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from anchor import httpclient, operations
from anchor.diff import SIGNAL_TEXT_FIELDS, Signal
from anchor.errors import InputError, NotFound
from anchor.memory import Memory
from anchor.report import render_html
from anchor.safetext import slack_escape

FORMATS = ("slack", "generic")
ATTEMPTS = 3
SIGNAL_KEYS = {f for f in Signal.__dataclass_fields__}


@dataclass
class AlertSettings:
    webhook_format: str = "slack"
    max_signals: int = 5
    dashboard_url: Optional[str] = None


@dataclass
class Delivery:
    status: str  # delivered | failed | skipped
    attempts: int = 0
    http_status: Optional[int] = None
    reason: str = ""


def check_webhook_url(url: str) -> str:
    """``url`` if it may be posted to (``user:password@`` is allowed: the whole URL is a secret)."""
    httpclient.check_url(url, "the webhook URL", credentials_ok=True)
    return url


def parse_settings(configuration: Mapping[str, Any]) -> AlertSettings:
    """The alert action's ``param.*`` values (Splunk passes them without the prefix)."""
    fmt = (configuration.get("webhook_format") or "slack").strip().lower()
    if fmt not in FORMATS:
        raise InputError(f"webhook_format must be slack or generic, got {fmt!r}")
    try:
        top = int(configuration.get("max_signals") or 5)
    except ValueError:
        raise InputError("max_signals must be a whole number from 1 to 20") from None
    if not 1 <= top <= 20:
        raise InputError("max_signals must be a whole number from 1 to 20")
    link = (configuration.get("dashboard_url") or "").strip() or None
    if link and urlsplit(link).scheme not in ("http", "https"):
        raise InputError("dashboard_url must be an http(s) URL of Splunk Web")
    return AlertSettings(fmt, top, link)


def _number(value: Any) -> Any:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def drift_from_rows(rows: Sequence[Mapping[str, str]], *, now: float, user: str) -> dict[str, Any]:
    """A drift record rebuilt from ``anchorcompare`` rows, for when the memory lacks it."""
    signals = []
    for row in rows:
        if not row.get("signal_id"):
            continue
        record: dict[str, Any] = {
            k: (v or None) if k in SIGNAL_TEXT_FIELDS else _number(v)
            for k, v in row.items()
            if k in SIGNAL_KEYS and k != "evidence"
        }
        # A multivalue field arrives as its values joined by newlines: keep the
        # ids so feedback on any folded signal is accepted.
        folded = [i for i in str(row.get("evidence") or "").split("\n") if i]
        record["evidence"] = [{"signal_id": i} for i in folded]
        record["rank"] = int(float(row.get("rank") or 0))
        record.setdefault("p_value", 1.0)
        record.setdefault("effect", 0.0)  # not in the rows; only ranking used it
        signals.append(record)
    signals.sort(key=lambda s: s["rank"])
    first = rows[0]
    narrative = {
        "summary": first.get("summary") or "",
        "hypothesis": first.get("hypothesis") or None,
        "drill_in_spl": first.get("drill_in_spl") or None,
        "source": first.get("narrative_source") or "offline",
    }
    return {
        "drift_id": first["drift_id"],
        "anchor": first.get("anchor") or "",
        "created": now,
        "created_by": user,
        "signal_count": len(signals),
        "top_severity": signals[0].get("severity") if signals else None,
        "top_signal": signals[0]["signal_id"] if signals else None,
        "signals": signals,
        "signal_ids": [s["signal_id"] for s in signals],
        "summary": narrative["summary"],
        "narrative": narrative,
        "notes": [],
        "similar": [],
        "recorded_by": "anchor_drift alert action",
    }


def ensure_recorded(
    memory: Memory, rows: Sequence[Mapping[str, str]], *, now: float, user: str
) -> tuple[str, bool]:
    """The drift id of these rows, recording the drift if the memory lacks it; (id, was_added)."""
    with_id = [r for r in rows if r.get("drift_id")]
    if not with_id:
        raise InputError(
            "the alert's results have no drift_id: the search must end in anchorcompare"
        )
    drift_id = with_id[0]["drift_id"]
    try:
        memory.drift(drift_id)
        return drift_id, False
    except NotFound:
        memory.save_drift(
            drift_from_rows([r for r in with_id if r["drift_id"] == drift_id], now=now, user=user)
        )
        return drift_id, True


def build_message(
    report: operations.DriftReport,
    settings: AlertSettings,
    *,
    search_name: str,
    link: Optional[str],
    report_link: Optional[str] = None,
) -> dict[str, Any]:
    from anchor.narrate import describe

    top = report.signals[: settings.max_signals]
    story = report.narrative
    if settings.webhook_format == "generic":
        return {
            "source": "anchor",
            "search_name": search_name,
            "drift_id": report.drift_id,
            "anchor": report.anchor,
            "signals": [{**s.to_dict(), "description": describe(s)} for s in top],
            "narrative": {
                k: getattr(story, k)
                for k in ("summary", "hypothesis", "drill_in_spl", "source", "cited_signals")
            },
            "link": link,
            "report_link": report_link,
        }
    # Log-derived text is escaped (& < >) so "<!channel>" or "<https://evil|click>" in a log
    # line reaches Slack as text, not as a mention or a disguised link.
    esc = slack_escape
    lines = [f"• *{s.severity}* {esc(describe(s))} (`{esc(s.signal_id)}`)" for s in top]
    title = f"Anchor drift `{report.drift_id}` against anchor *{esc(report.anchor)}* ({esc(search_name)})"
    summary = esc(story.summary)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": summary[:2900]}},
    ]
    if lines:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}}
        )
    if story.hypothesis:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": esc(story.hypothesis)[:2900]}],
            }
        )
    if link:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open Drift history>"}}
        )
    if report_link:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<{report_link}|Open the report>"},
            }
        )
    return {"text": f"{title}: {summary}"[:3000], "blocks": blocks}


def deliver(
    url: str,
    message: Mapping[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 10.0,
    attempts: int = ATTEMPTS,
) -> Delivery:
    """POST ``message`` as JSON; retry 429/5xx/network failures; never raises, never logs the URL."""
    host = urlsplit(url).hostname or "?"
    waits: list[float] = []

    def pause(seconds: float) -> None:
        waits.append(seconds)  # one wait per retry: how many attempts were made
        sleep(seconds)

    policy = httpclient.RetryPolicy(
        attempts=attempts, backoff=0.5, methods=frozenset({"POST"}), sleep=pause
    )
    result = Delivery("failed")
    try:
        with httpclient.session(policy) as http:
            response = http.post(url, json=message, timeout=timeout)
    except httpclient.RequestFailed as exc:
        result.reason = f"{exc.kind} talking to {host}"
    else:
        result.http_status = response.status_code
        if response.status_code < 300:
            result.status = "delivered"
        else:
            result.reason = f"{host} answered HTTP {response.status_code}"
    result.attempts = 1 + len(waits)
    return result


def run_alert(
    memory: Memory,
    *,
    rows: Sequence[Mapping[str, str]],
    settings: AlertSettings,
    search_name: str,
    links: Callable[[str, str], tuple[Optional[str], Optional[str]]],
    report_path: Optional[str],
    send: Callable[[dict[str, Any]], Delivery],
    user: str,
    now: float,
) -> dict[str, Any]:
    """Record, report, notify. Returns a summary for the log; raises only on bad input.

    ``links(anchor, drift_id)`` gives the dashboard link and the report link.
    ``send(message)`` delivers the message: the caller knows where the webhook
    URL is (in Splunk, only Anchor's REST handler may read it), this does not.
    """
    drift_id, added = ensure_recorded(memory, rows, now=now, user=user)
    report = operations.stored_report(memory, drift_id)
    summary: dict[str, Any] = {"drift_id": drift_id, "recorded": "added" if added else "already"}
    link, report_link = links(report.anchor, drift_id)
    if report_link:
        summary["report_link"] = report_link
    if report_path:
        try:
            with open(report_path, "w", encoding="utf-8") as handle:
                handle.write(render_html(report, created=now, link=link))
            summary["report"] = report_path
        except OSError as exc:
            summary["report_error"] = exc.strerror or str(exc)
    message = build_message(
        report, settings, search_name=search_name, link=link, report_link=report_link
    )
    delivery = send(message)
    if delivery.status == "skipped":
        summary.update(delivery="skipped", reason=delivery.reason)
        return summary
    summary.update(
        delivery=delivery.status,
        attempts=delivery.attempts,
        http_status=delivery.http_status,
        reason=delivery.reason,
    )
    return summary


def format_log(fields: Mapping[str, Any]) -> str:
    """key=value pairs for Splunk's own extraction (values with spaces are quoted)."""
    parts = []
    for key, value in fields.items():
        text = (
            json.dumps(value) if isinstance(value, str) and (" " in value or not value) else value
        )
        parts.append(f"{key}={text}")
    return " ".join(parts)
