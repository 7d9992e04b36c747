"""The ``anchor_drift`` alert action, run the way splunkd runs it.

``bin/anchor_drift_alert.py --execute`` gets the JSON payload on stdin and a
gzipped CSV results file made from real ``anchorcompare`` rows (produced by
the bin/ script over the chunked protocol). The alert's owner is ``bob``, an ``anchor_user``: no
``list_storage_passwords``, so the fake splunkd refuses his reads of
storage/passwords as splunkd does. The script sends the message to Anchor's
REST endpoint ``alerts/deliver`` (the real handler, which the fake splunkd runs
in this process with a system token), which reads the webhook URL from the
fake's storage/passwords; deliveries go to a loopback receiver.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import os
import socket
import subprocess
import sys

import pytest
from chunked import run_command
from conftest import ROOT, copy_memory, made_once, splunk_events
from fakes.fake_splunkd import FakeSplunkd
from fakes.fake_webhook import FakeWebhook
from test_conf import conf

from anchor import alert as alerting
from anchor.memory import Memory
from anchor.splunk import rest
from anchor.splunk.secrets import read_secret
from anchor.store import SQLiteStore, StoreError

SCRIPT = ROOT / "bin" / "anchor_drift_alert.py"
SEARCH = "Anchor - compare every 15 minutes"
# What default/authorize.conf grants anchor_user, so the test follows the shipped roles.
ANCHOR_USER = tuple(
    name for name, value in conf("authorize.conf")["role_anchor_user"].items() if value == "enabled"
)
SYSTEM = ("admin_all_objects", "list_storage_passwords")


@pytest.fixture(scope="module")
def compared(demo_files, tmp_path_factory):
    """A memory with anchor 'healthy' and the rows of one anchorcompare run against it.

    Both are made once per run (test_silent_source uses them too); each module gets a copy
    of the memory.
    """

    def make(folder):
        env = {"ANCHOR_STORE": f"sqlite:{folder / 'memory.db'}"}
        healthy = splunk_events(demo_files["healthy"], limit=20000)
        assert run_command("anchorcapture", ["name=healthy"], healthy, env=env).records
        rows = run_command(
            "anchorcompare", ["anchor=healthy"], splunk_events(demo_files["incident"]), env=env
        ).records
        assert rows and rows[0]["drift_id"]
        (folder / "rows.json").write_text(json.dumps(rows), encoding="utf-8")

    made = made_once(tmp_path_factory, "alert-compared", make)
    db = copy_memory(made / "memory.db", tmp_path_factory.mktemp("alert") / "memory.db")
    return db, json.loads((made / "rows.json").read_text(encoding="utf-8"))


def write_results(folder, rows):
    """Splunk's results.csv.gz: every field as a column, plus an ``__mv_`` column."""
    fields = list(dict.fromkeys(k for r in rows for k in r)) + ["__mv_notes"]
    path = folder / "results.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (";".join(v) if isinstance(v, list) else v) for k, v in row.items()}
            )
    return path


@pytest.fixture
def alert(compared, tmp_path):
    db, rows = compared
    dispatch = tmp_path / "dispatch" / "scheduler__admin_YW5jaG9y__RMD5abc_at_1764000000_42"
    dispatch.mkdir(parents=True)
    results = write_results(dispatch, rows)
    with (
        FakeSplunkd(user="bob", capabilities=ANCHOR_USER) as splunkd,
        FakeWebhook() as hook,
        pytest.MonkeyPatch.context() as mp,
    ):
        splunkd.passwords["webhook_url"] = hook.url
        splunkd.add_token("system-token", "splunk-system-user", SYSTEM)
        splunkd.system_token = "system-token"
        # The REST handler runs in this process: it trusts the fake's CA, and starts
        # each test with no deliveries counted against bob.
        mp.setenv("ANCHOR_SPLUNKD_CA", splunkd.ca_file(tmp_path))
        mp.setattr(rest, "DELIVERIES", rest.DeliveryLimit())

        def fire(configuration=None, argv=("--execute",), payload=None, session_key=None):
            document = payload or {
                "app": "anchor",
                "owner": "bob",
                "sid": dispatch.name,
                "search_name": SEARCH,
                "results_file": str(results),
                "server_uri": splunkd.uri,
                "session_key": session_key or splunkd.session_key,
                "server_host": "sh1",
                "results_link": f"https://splunk.example.com:8000/app/anchor/@go?sid={dispatch.name}",
                "configuration": configuration or {"webhook_format": "slack", "max_signals": "3"},
                "result": rows[0],
            }
            process = subprocess.run(
                [sys.executable, str(SCRIPT), *argv],
                input=json.dumps(document),
                capture_output=True,
                text=True,
                timeout=120,
                env={
                    "ANCHOR_STORE": f"sqlite:{db}",
                    "ANCHOR_SPLUNKD_CA": splunkd.ca_file(tmp_path),
                    "PATH": "/usr/bin:/bin",
                },
            )
            assert "Traceback" not in process.stderr, process.stderr
            assert "SECRETPATH" not in process.stderr + process.stdout
            return process

        yield fire, splunkd, hook, dispatch, rows, db


def test_slack_message_report_and_log_line(alert):
    fire, _, hook, dispatch, rows, _ = alert
    process = fire()
    assert process.returncode == 0, process.stderr
    assert "status=ok" in process.stderr and "delivery=delivered" in process.stderr
    assert (
        f"drift_id={rows[0]['drift_id']}" in process.stderr and "recorded=already" in process.stderr
    )
    [request] = hook.requests
    body = request["body"]
    assert request["path"].endswith("XXXXSECRETPATH")
    assert rows[0]["drift_id"] in body["text"] and body["blocks"][0]["type"] == "section"
    listed = next(b["text"]["text"] for b in body["blocks"] if "•" in b["text"].get("text", ""))
    assert listed.count("•") == 3 and rows[0]["signal_id"] in listed
    assert rows[0]["summary"][:60] in json.dumps(body)
    link = "https://splunk.example.com:8000/app/anchor/drift_history?form.anchor=healthy"
    assert link in json.dumps(body)
    report = (dispatch / "anchor_drift_report.html").read_text()
    stored = [r["signal_id"] for r in rows]
    assert all(signal in report for signal in stored)


@pytest.fixture
def waits(monkeypatch):
    """The delivery's pauses between attempts, recorded instead of slept: the REST handler
    runs in this process and ``anchor.alert.deliver`` takes its ``sleep`` as a parameter."""
    recorded: list[float] = []
    monkeypatch.setattr(
        alerting, "deliver", functools.partial(alerting.deliver, sleep=recorded.append)
    )
    return recorded


def test_transient_failures_are_retried_honouring_retry_after(alert, waits):
    fire, _, hook, _, _, _ = alert
    hook.script = [(429, {"Retry-After": "1"}), (503, {})]
    process = fire()
    assert process.returncode == 0, process.stderr
    assert len(hook.requests) == 3 and "attempts=3" in process.stderr
    assert waits == [1.0, 1.0]  # the Retry-After asked for, then the backoff's second step


def test_a_permanent_refusal_is_not_retried(alert):
    fire, _, hook, _, _, _ = alert
    hook.script = [(404, {})]
    process = fire()
    assert process.returncode == 2 and len(hook.requests) == 1
    assert "delivery=failed" in process.stderr and "HTTP 404" in process.stderr


def test_a_dead_endpoint_fails_after_retries_and_the_drift_is_still_recorded(alert, waits):
    fire, splunkd, hook, _, rows, db = alert
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    splunkd.passwords["webhook_url"] = f"http://127.0.0.1:{dead_port}/services/XXXXSECRETPATH"
    memory = Memory(SQLiteStore(str(db)))
    memory.delete_drift(rows[0]["drift_id"])  # the alert must record it again from its rows
    process = fire()
    assert process.returncode == 2 and hook.requests == []
    assert "delivery=failed" in process.stderr and "attempts=3" in process.stderr
    assert waits == [0.5, 1.0]  # the backoff between the three attempts
    assert "recorded=added" in process.stderr
    drift = memory.drift(rows[0]["drift_id"])
    assert drift["recorded_by"] == "anchor_drift alert action"
    assert [s["signal_id"] for s in drift["signals"]] == [r["signal_id"] for r in rows]
    assert drift["narrative"]["summary"] == rows[0]["summary"]


def test_generic_json_format(alert):
    fire, _, hook, _, rows, _ = alert
    process = fire({"webhook_format": "generic", "max_signals": "2"})
    assert process.returncode == 0, process.stderr
    body = hook.requests[0]["body"]
    assert body["drift_id"] == rows[0]["drift_id"] and body["anchor"] == "healthy"
    assert [s["signal_id"] for s in body["signals"]] == [r["signal_id"] for r in rows[:2]]
    assert body["narrative"]["summary"] == rows[0]["summary"]
    assert "drift_history" in body["link"]
    assert body["report_link"].endswith(f"/anchor/anchor/drifts/{rows[0]['drift_id']}/report")


def test_no_webhook_configured_still_records_and_reports(alert):
    fire, splunkd, hook, dispatch, _, _ = alert
    splunkd.passwords.clear()
    process = fire()
    assert process.returncode == 0 and "delivery=skipped" in process.stderr
    assert hook.requests == [] and (dispatch / "anchor_drift_report.html").exists()


@pytest.mark.parametrize(
    "configuration, argv, message, code",
    [
        ({"max_signals": "99"}, ("--execute",), "max_signals must be", 2),
        ({"webhook_format": "teams"}, ("--execute",), "webhook_format must be", 2),
        ({}, (), "with --execute", 1),
    ],
)
def test_bad_input_is_one_clear_line(alert, configuration, argv, message, code):
    fire, _, hook, _, _, _ = alert
    process = fire(configuration, argv=argv)
    assert process.returncode == code and message in process.stderr
    assert len(process.stderr.strip().splitlines()) == 1 and hook.requests == []


def test_an_insecure_remote_webhook_is_refused(alert):
    fire, splunkd, *_ = alert
    splunkd.passwords["webhook_url"] = "http://hooks.example.com/services/XXXXSECRETPATH"
    process = fire()
    assert process.returncode == 2 and "must use https" in process.stderr


def test_the_report_outlives_the_dispatch_folder_and_goes_with_the_drift(alert, monkeypatch):
    import shutil

    import requests

    fire, splunkd, hook, dispatch, rows, db = alert
    assert fire().returncode == 0
    body = json.dumps(hook.requests[0]["body"])
    drift_id = rows[0]["drift_id"]
    link = f"https://splunk.example.com:8000/splunkd/__raw/servicesNS/-/anchor/anchor/drifts/{drift_id}/report"
    assert f"<{link}|Open the report>" in body
    shutil.rmtree(dispatch)  # the dispatch folder expired
    # Splunk Web's /splunkd/__raw proxy forwards the rest of the path to splunkd.
    monkeypatch.setenv("ANCHOR_STORE", f"sqlite:{db}")
    path = link.split("/splunkd/__raw", 1)[1]
    session = requests.Session()
    session.headers["Authorization"] = f"Splunk {splunkd.session_key}"
    ca = splunkd.ca_file(dispatch.parent)
    page = session.get(splunkd.uri + path, verify=ca, timeout=60)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert all(r["signal_id"] in page.text for r in rows) and page.text.startswith("<!DOCTYPE")
    Memory(SQLiteStore(str(db))).purge_drifts(float("inf"))  # drift retention removes it
    gone = session.get(splunkd.uri + path, verify=ca, timeout=60)
    assert gone.status_code == 404 and "unknown drift" in gone.json()["error"]


def test_an_anchor_user_cannot_read_the_secret_but_their_alert_delivers(alert):
    fire, splunkd, hook, _, _, _ = alert
    with pytest.raises(StoreError, match="403"):  # splunkd refuses bob's read of the URL
        read_secret(splunkd.uri, splunkd.session_key, "webhook_url")
    process = fire()
    assert process.returncode == 0 and "delivery=delivered" in process.stderr, process.stderr
    assert len(hook.requests) == 1 and hook.requests[0]["path"].endswith("XXXXSECRETPATH")
    relayed = [p for m, p in splunkd.requests if p.endswith("/anchor/anchor/alerts/deliver")]
    assert relayed == ["/servicesNS/bob/anchor/anchor/alerts/deliver"]
    assert hook.url not in process.stderr + process.stdout


def test_an_owner_without_anchor_alert_gets_a_clear_refusal(alert):
    fire, splunkd, hook, _, rows, _ = alert
    splunkd.add_token("carl-token", "carl", ("anchor_feedback",))
    process = fire(session_key="carl-token")
    assert process.returncode == 2 and hook.requests == []
    assert "needs the anchor_alert capability" in process.stderr and "HTTP 403" in process.stderr
    assert "such as anchor_user" in process.stderr
    assert f"drift_id={rows[0]['drift_id']}" in process.stderr  # the drift is still recorded
    assert len(process.stderr.strip().splitlines()) == 1


def deliver_as(splunkd, token, body, content_type="application/json"):
    """A raw call of the endpoint, as any splunkd client could make it."""
    import requests

    return requests.post(
        f"{splunkd.uri}/servicesNS/bob/anchor/anchor/alerts/deliver",
        data=body if isinstance(body, (str, bytes)) else json.dumps(body),
        headers={"Authorization": f"Splunk {token}", "Content-Type": content_type},
        verify=os.environ["ANCHOR_SPLUNKD_CA"],  # the fixture's copy of the fake's CA
        timeout=60,
    )


@pytest.mark.parametrize(
    "body, message",
    [
        ({"message": {"text": "x" * 256 * 1024}}, "more than 262144"),
        ({"message": {"text": "hi", "url": "https://evil.example.com"}}, "must be an Anchor alert"),
        ({"message": {"source": "someone"}}, "must be an Anchor alert"),
        ({"message": "hello"}, "needs message"),
        ({"message": {"text": "hi"}, "webhook_url": "https://evil.example.com/x"}, "only message"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_bad_or_oversize_messages_are_refused_with_one_line(alert, body, message):
    _, splunkd, hook, _, _, _ = alert
    answer = deliver_as(splunkd, splunkd.session_key, body)
    assert answer.status_code == 400 and message in answer.json()["error"]
    assert "\n" not in answer.json()["error"] and hook.requests == []


def test_the_response_names_the_outcome_never_the_url(alert):
    _, splunkd, hook, _, _, _ = alert
    answer = deliver_as(splunkd, splunkd.session_key, {"message": {"text": "drift", "blocks": []}})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "delivery": "delivered",
        "attempts": 1,
        "http_status": 200,
        "reason": "",
    }
    assert hook.requests[0]["body"] == {"text": "drift", "blocks": []}
    hook.script = [(404, {})]
    refused = deliver_as(splunkd, splunkd.session_key, {"message": {"text": "drift"}})
    assert refused.json()["delivery"] == "failed" and "HTTP 404" in refused.json()["reason"]
    for text in (answer.text, refused.text):
        assert "SECRETPATH" not in text and hook.url not in text


def test_deliveries_are_rate_limited_per_user(alert, monkeypatch):
    _, splunkd, hook, _, _, _ = alert
    monkeypatch.setattr(rest, "DELIVERIES", rest.DeliveryLimit(most=2, window=3600))
    sent = [
        deliver_as(splunkd, splunkd.session_key, {"message": {"text": "drift"}}).status_code
        for _ in range(3)
    ]
    assert sent == [200, 200, 429] and len(hook.requests) == 2
    splunkd.add_token("ann-token", "ann", ANCHOR_USER)
    assert deliver_as(splunkd, "ann-token", {"message": {"text": "drift"}}).status_code == 200


def test_the_delivery_limit_is_a_sliding_window_per_user():
    limit = rest.DeliveryLimit(most=2, window=60)
    assert [limit.allow("bob", t) for t in (0, 10, 59)] == [True, True, False]
    assert limit.allow("ann", 59)  # another user has a budget of their own
    assert limit.allow("bob", 60.5) and not limit.allow("bob", 61)  # 0 left the window, 10 not
