"""The ``anchor_drift`` custom alert action, as splunkd runs it.

splunkd starts ``bin/anchor_drift_alert.py --execute`` with the JSON payload
on stdin (``configuration`` holds the ``param.*`` values, ``results_file``
the gzipped CSV of the alert's results, ``session_key`` the alert owner's
token). Everything the script reports goes to stderr, which splunkd puts in
splunkd.log under ``sendmodalert``; the webhook URL (a secret in
storage/passwords, name ``webhook_url``) never does. Exit code 0 means the
drift is recorded and the message was delivered (or no webhook is set); 2
means something failed, and the log line says what.

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
from typing import IO, Any, Optional
from urllib.parse import quote, urlsplit

from anchor.alert import AlertSettings, format_log, parse_settings, run_alert
from anchor.errors import AnchorError, InputError
from anchor.splunk.access import open_memory
from anchor.splunk.secrets import read_secret

REPORT_NAME = "anchor_drift_report.html"
DASHBOARD_PATH = "/app/anchor/drift_history"
REPORT_PATH = "/splunkd/__raw/servicesNS/-/anchor/anchor/drifts/{}/report"


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
    secret_error = None
    try:
        webhook = read_secret(uri, token, "webhook_url")
    except AnchorError as error:
        webhook, secret_error = None, f"cannot read webhook_url: {error}"
    summary = run_alert(
        memory,
        rows=rows,
        settings=settings,
        search_name=payload.get("search_name") or "ad hoc",
        links=lambda anchor, drift_id: (
            dashboard_link(settings, payload.get("results_link"), anchor),
            report_link(settings, payload.get("results_link"), drift_id),
        ),
        report_path=os.path.join(os.path.dirname(results_file), REPORT_NAME),
        webhook_url=webhook,
        user=payload.get("owner") or "alert",
        now=time.time() if now is None else now,
    )
    if secret_error:
        summary.update(delivery="failed", reason=secret_error)
    return summary


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
