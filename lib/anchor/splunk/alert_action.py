"""The ``anchor_drift`` custom alert action, as splunkd runs it.

splunkd starts ``bin/anchor_drift_alert.py --execute`` with the JSON payload
on stdin (``configuration`` holds the ``param.*`` values, ``results_file``
the gzipped CSV of the alert's results, ``session_key`` the alert owner's
token). Everything the script reports goes to stderr, which splunkd puts in
splunkd.log under ``sendmodalert``; the webhook URL (a secret in
storage/passwords, name ``webhook_url``) never does. Exit code 0 means the
drift is recorded and the message was delivered (or no webhook is set); 2
means something failed, and the log line says what.
"""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any, Optional

from anchor.alert import format_log, parse_settings, read_results, run_alert
from anchor.errors import AnchorError
from anchor.splunk.access import open_memory
from anchor.splunk.secrets import read_secret

REPORT_NAME = "anchor_drift_report.html"


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
        results_link=payload.get("results_link"),
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
