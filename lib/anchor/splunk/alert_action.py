"""The ``anchor_drift`` custom alert action, as splunkd runs it.

splunkd starts ``bin/anchor_drift_alert.py --execute`` with the JSON payload
on stdin (``configuration`` holds the ``param.*`` values, ``results_file``
the gzipped CSV of the alert's results, ``session_key`` the alert owner's
token). Everything the script reports goes to stderr, which splunkd puts in
splunkd.log under ``sendmodalert``; the webhook URL (a secret in
storage/passwords, name ``webhook_url``) never does. Exit code 0 means the
drift is recorded and the message was delivered (or no webhook is set); 2
means something failed, and the log line says what.

The script never reads the webhook URL: reading storage/passwords needs
``list_storage_passwords``, which exposes every app's secrets and which no
Anchor role has. It builds the message and sends it, with the owner's
session, to Anchor's REST endpoint ``POST alerts/deliver``
(``relay_delivery``); that handler checks ``anchor_alert``, validates and
rate-limits the message (``check_alert_message``, ``anchor.splunk.rest``), reads
the URL with splunkd's system token and delivers it with
``anchor.alert.deliver``. Its answer says only the outcome and the host.

The HTML report is written next to the results (it goes when the dispatch
folder expires) and, durably, served by Anchor's REST endpoint
``drifts/<id>/report``, rendered from the stored drift: the message links to
it through Splunk Web's ``/splunkd/__raw`` proxy (web.conf exposes
``anchor/*/*``), so it lives as long as the drift (anchor.conf
``[retention]``) and needs no second copy with its own retention.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import time
from collections.abc import Mapping
from typing import IO, Any, Callable, Optional
from urllib.parse import quote, urlsplit

from splunklib import binding

from anchor.alert import ATTEMPTS, AlertSettings, Delivery, format_log, parse_settings, run_alert
from anchor.errors import AnchorError, InputError
from anchor.httpclient import MAX_WAIT
from anchor.splunk.access import open_memory
from anchor.splunk.kvstore import APP, JSON_HEADERS, connect

REPORT_NAME = "anchor_drift_report.html"
DASHBOARD_PATH = "/app/anchor/drift_history"
REPORT_PATH = "/splunkd/__raw/servicesNS/-/anchor/anchor/drifts/{}/report"
DELIVER_PATH = "anchor/alerts/deliver"
# The handler makes up to ATTEMPTS posts of 10 s with waits of at most MAX_WAIT between them.
DELIVER_SECONDS = ATTEMPTS * 10 + (ATTEMPTS - 1) * MAX_WAIT + 30
# A Slack message Anchor builds is under 25 KB; a generic one with 20 signals well under this.
MAX_MESSAGE_BYTES = 256 * 1024
SLACK_KEYS = frozenset({"text", "blocks"})


def check_alert_message(body: Mapping[str, Any]) -> dict[str, Any]:
    """The message to deliver, if it is one Anchor's alert action builds; else one-line ``InputError``.

    The endpoint is not a general webhook proxy: it takes a Slack message
    (``text`` and ``blocks`` only) or Anchor's generic JSON (``source`` anchor
    and a ``drift_id``), no larger than ``MAX_MESSAGE_BYTES``.
    """
    extra = sorted(set(body) - {"message"})
    if extra:
        raise InputError(f"alerts/deliver takes only message, not {', '.join(extra)}")
    message = body.get("message")
    if not isinstance(message, dict) or not message:
        raise InputError("alerts/deliver needs message: the alert message as a JSON object")
    size = len(json.dumps(message).encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise InputError(
            f"the alert message is {size} bytes, more than {MAX_MESSAGE_BYTES}: lower max_signals"
        )
    slack = (
        set(message) <= SLACK_KEYS
        and isinstance(message.get("text"), str)
        and isinstance(message.get("blocks", []), list)
        and all(isinstance(b, dict) for b in message.get("blocks", []))
    )
    generic = message.get("source") == "anchor" and isinstance(message.get("drift_id"), str)
    if not (slack or generic):
        raise InputError(
            "message must be an Anchor alert message: Slack (text, blocks) "
            "or generic JSON (source anchor, drift_id)"
        )
    return message


def relay_delivery(
    splunkd_uri: str, session_key: str, owner: str
) -> Callable[[dict[str, Any]], Delivery]:
    """Deliver a message through ``POST alerts/deliver`` as the alert's owner; never raises."""

    def send(message: dict[str, Any]) -> Delivery:
        try:
            service = connect(splunkd_uri, session_key, timeout=DELIVER_SECONDS)
            response = service.post(
                DELIVER_PATH,
                owner=owner,
                app=APP,
                headers=JSON_HEADERS,
                body=json.dumps({"message": message}),
            )
            data = json.loads(response.body.read().decode("utf-8"))
        except binding.HTTPError as exc:
            return Delivery("failed", reason=_endpoint_error(exc))
        except (OSError, ValueError, AnchorError) as exc:
            return Delivery(
                "failed", reason=f"Anchor's alerts/deliver endpoint failed ({type(exc).__name__})"
            )
        if not isinstance(data, dict) or data.get("delivery") not in (
            "delivered",
            "failed",
            "skipped",
        ):
            return Delivery("failed", reason="Anchor's alerts/deliver endpoint answered no outcome")
        status = data.get("http_status")
        return Delivery(
            str(data["delivery"]),
            attempts=int(data.get("attempts") or 0),
            http_status=status if isinstance(status, int) else None,
            reason=str(data.get("reason") or ""),
        )

    return send


def _endpoint_error(exc: binding.HTTPError) -> str:
    """The handler's one-line error, or what splunkd said, with the HTTP status."""
    try:
        text = exc.body.decode("utf-8") if isinstance(exc.body, bytes) else exc.body
        reason = f"alerts/deliver: {json.loads(text)['error']} (HTTP {exc.status})"
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"Anchor's alerts/deliver endpoint answered HTTP {exc.status}"
    if exc.status == 403:
        reason += "; give the alert's owner a role that has it, such as anchor_user"
    return reason


def read_results(path: str) -> list[dict[str, str]]:
    """Splunk's results file (gzipped CSV) as rows; ``__mv_`` columns are dropped."""
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            text = handle.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read the alert's results file: {exc}") from None
    rows = csv.DictReader(io.StringIO(text))
    return [{k: v for k, v in row.items() if k and not k.startswith("__mv_")} for row in rows]


def web_base(settings: AlertSettings, results_link: Optional[str]) -> Optional[str]:
    """Splunk Web's ``scheme://host:port``: from dashboard_url, else from the results link."""
    for candidate in (settings.dashboard_url, results_link):
        parts = urlsplit(candidate or "")
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def dashboard_link(
    settings: AlertSettings, results_link: Optional[str], anchor: str
) -> Optional[str]:
    base = settings.dashboard_url
    if not base:
        web = web_base(settings, results_link)
        base = web + DASHBOARD_PATH if web else None
    if not base:
        return None
    return f"{base}{'&' if '?' in base else '?'}form.anchor={quote(anchor)}"


def report_link(
    settings: AlertSettings, results_link: Optional[str], drift_id: str
) -> Optional[str]:
    """The drift's HTML report through Splunk Web (the viewer's own session authorizes it)."""
    base = web_base(settings, results_link)
    return base + REPORT_PATH.format(quote(drift_id, safe="")) if base else None


def execute(payload: dict[str, Any], now: Optional[float] = None) -> dict[str, Any]:
    settings = parse_settings(payload.get("configuration") or {})
    results_file = payload.get("results_file") or ""
    rows = read_results(results_file)
    uri, token = payload.get("server_uri") or "", payload.get("session_key") or ""
    memory = open_memory(uri, token)
    owner = payload.get("owner") or "nobody"
    return run_alert(
        memory,
        rows=rows,
        settings=settings,
        search_name=payload.get("search_name") or "ad hoc",
        links=lambda anchor, drift_id: (
            dashboard_link(settings, payload.get("results_link"), anchor),
            report_link(settings, payload.get("results_link"), drift_id),
        ),
        report_path=os.path.join(os.path.dirname(results_file), REPORT_NAME),
        send=relay_delivery(uri, token, owner),
        user=payload.get("owner") or "alert",
        now=time.time() if now is None else now,
    )


def main(argv: list[str], stdin: IO[str], stderr: IO[str]) -> int:
    def log(**fields: Any) -> None:
        print("anchor_drift_alert " + format_log(fields), file=stderr, flush=True)

    if len(argv) < 2 or argv[1] != "--execute":
        log(status="failed", reason="run by splunkd with --execute and the JSON payload on stdin")
        return 1
    try:
        payload = json.load(stdin)
        if not isinstance(payload, dict):
            raise ValueError("the payload is not a JSON object")
    except ValueError as exc:
        log(status="failed", reason=f"the alert payload is not valid JSON: {exc}")
        return 2
    try:
        summary = execute(payload)
    except AnchorError as error:
        log(status="failed", reason=str(error))
        return 2
    except Exception as error:  # the edge: one log line for splunkd.log, never a traceback
        log(status="failed", reason=f"unexpected {type(error).__name__}: {error}")
        return 2
    ok = summary.get("delivery") in ("delivered", "skipped")
    log(status="ok" if ok else "failed", **summary)
    return 0 if ok else 2
