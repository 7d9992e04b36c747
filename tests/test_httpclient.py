"""The one HTTP policy: the URL rule, and retries through the real requests/urllib3 stack
against a scripted loopback server (no sleeping: the policy's ``sleep`` records the waits)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from email.utils import formatdate
from typing import Optional

import pytest
import requests
import trustme
from conftest import cli_env
from fakes.fake_oss import FakeOSS
from fakes.fake_webhook import FakeWebhook
from fakes.loopback import LoopbackFake, send

from anchor import httpclient
from anchor.alert import deliver
from anchor.errors import InputError
from anchor.httpclient import MAX_WAIT, RetryPolicy, UnsafeURL, check_url, parse_retry_after
from anchor.oss import OSSClient, OSSConfig, OSSError


class Scripted(LoopbackFake):
    """Answers any method from a script: ``(status, headers)``, ``"close"`` (drop the
    connection without answering) or ``("hang", seconds)``; then 200. Records each request."""

    def __init__(self, *script, tls: Optional[ssl.SSLContext] = None) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, str]] = []
        self.tls = tls

    def tls_context(self) -> Optional[ssl.SSLContext]:
        return self.tls

    def handle(self, handler) -> None:
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self.requests.append((handler.command, handler.path))
        step = self.script.pop(0) if self.script else (200, {})
        if step == "close":
            handler.close_connection = True
            return
        if step[0] == "hang":
            time.sleep(step[1])
            send(handler, 200, b"{}", {})  # the client has usually timed out and hung up
            return
        send(handler, step[0], b"{}", step[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/path"


def policy(waits: list, **fields) -> RetryPolicy:
    return RetryPolicy(sleep=waits.append, **fields)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://example.com:8443/v1",
        "http://127.0.0.1:11434/v1",
        "http://localhost:8089",
        "http://[::1]:8080/hook",
    ],
)
def test_https_anywhere_and_http_to_a_loopback_host_are_accepted(url):
    assert check_url(url, "the URL").geturl() == url


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://example.com/services/SECRETPATH", "must use https"),
        ("http://127.0.0.1.example.com/SECRETPATH", "must use https"),
        ("http://10.0.0.5:8089", "must use https"),
        ("ftp://example.com/SECRETPATH", "is not an http(s) URL"),
        ("file:///etc/passwd", "is not an http(s) URL"),
        ("example.com/v1", "is not an http(s) URL"),
        ("https://", "is not an http(s) URL"),
        ("", "is not an http(s) URL"),
        ("https://user:SECRETPATH@example.com/v1", "user name or password"),
        ("https://token@example.com/v1", "user name or password"),
    ],
)
def test_other_urls_are_refused_in_one_line_that_does_not_repeat_the_url(url, message):
    with pytest.raises(UnsafeURL) as error:
        check_url(url, "the webhook URL")
    text = str(error.value)
    assert message in text and text.startswith("the webhook URL") and "\n" not in text
    assert "SECRETPATH" not in text
    assert isinstance(error.value, InputError)  # the CLI's exit status 2, a search's error


def test_credentials_are_allowed_where_the_whole_url_is_a_secret():
    parts = check_url("https://user:pw@hooks.example.com/x", "the webhook URL", credentials_ok=True)
    assert parts.hostname == "hooks.example.com"


def test_retry_after_in_seconds_or_as_an_http_date_capped():
    now = 1_800_000_000.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("3600") == MAX_WAIT
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(formatdate(now + 5, usegmt=True), now=now) == 5.0
    assert parse_retry_after(formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after(formatdate(now + 3600, usegmt=True), now=now) == MAX_WAIT
    for unusable in (None, "", "soon", "nan", "Fri, 99 Foo 2026 00:00:00 GMT"):
        assert parse_retry_after(unusable) is None


def test_backoff_doubles_from_the_policy_s_first_wait_and_is_capped():
    rule = RetryPolicy(backoff=0.5)
    assert [rule.wait(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert rule.wait(10) == MAX_WAIT
    assert rule.wait(1, "7") == 7.0 and rule.wait(2, "garbage") == 1.0


def test_429_waits_as_long_as_retry_after_says():
    waits: list[float] = []
    with Scripted((429, {"Retry-After": "2"})) as server:
        response = httpclient.session(policy(waits)).get(server.url, timeout=5)
    assert response.status_code == 200 and len(server.requests) == 2
    assert waits == [2.0]


def test_retry_after_as_an_http_date_and_its_cap():
    waits: list[float] = []
    later = formatdate(time.time() + 4, usegmt=True)
    with Scripted((503, {"Retry-After": later}), (429, {"Retry-After": "86400"})) as server:
        response = httpclient.session(policy(waits)).get(server.url, timeout=5)
    assert response.status_code == 200 and len(server.requests) == 3
    assert 2.0 < waits[0] <= 4.0 and waits[1] == MAX_WAIT


def test_5xx_then_success_backs_off_between_attempts():
    waits: list[float] = []
    with Scripted((503, {}), (502, {})) as server:
        response = httpclient.session(policy(waits, backoff=0.5)).get(server.url, timeout=5)
    assert response.status_code == 200 and len(server.requests) == 3
    assert waits == [0.5, 1.0]


def test_attempts_are_bounded_and_the_last_answer_comes_back():
    waits: list[float] = []
    with Scripted(*[(500, {})] * 6) as server:
        response = httpclient.session(policy(waits, attempts=3)).get(server.url, timeout=5)
    assert response.status_code == 500 and len(server.requests) == 3 and len(waits) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408])
def test_a_refusal_is_not_retried(status):
    waits: list[float] = []
    with Scripted((status, {"Retry-After": "1"})) as server:
        response = httpclient.session(policy(waits)).get(server.url, timeout=5)
    assert response.status_code == status and len(server.requests) == 1 and waits == []


def test_a_client_may_add_statuses():
    waits: list[float] = []
    rule = policy(waits, statuses=httpclient.TRANSIENT | {408})
    with Scripted((408, {})) as server:
        response = httpclient.session(rule).get(server.url, timeout=5)
    assert response.status_code == 200 and len(server.requests) == 2


def test_a_post_is_retried_only_where_the_client_allows_it():
    waits: list[float] = []
    with Scripted((503, {}), "close") as server:
        http = httpclient.session(policy(waits))
        assert http.post(server.url, json={}, timeout=5).status_code == 503
        with pytest.raises(httpclient.RequestFailed) as dropped:
            http.post(server.url, json={}, timeout=5)  # dropped after it was sent
        assert isinstance(dropped.value.cause, requests.ConnectionError)
        assert [m for m, _ in server.requests] == ["POST", "POST"] and waits == []
    with Scripted((503, {}), "close") as server:
        rule = policy(waits, methods=frozenset({"POST"}))
        response = httpclient.session(rule).post(server.url, json={}, timeout=5)
        assert response.status_code == 200 and len(server.requests) == 3


def test_a_refused_connection_is_retried_for_any_method_and_then_fails():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    with pytest.raises(httpclient.RequestFailed) as error:
        httpclient.session(policy(waits, attempts=3)).post(f"http://127.0.0.1:{port}/", timeout=5)
    assert len(waits) == 2 and not error.value.timed_out
    assert error.value.kind == "ConnectionError" and str(port) not in str(error.value)


def test_a_read_timeout_is_retried_and_still_reads_as_a_timeout():
    waits: list[float] = []
    with Scripted(("hang", 1.0), ("hang", 1.0)) as server:
        with pytest.raises(httpclient.RequestFailed) as error:
            httpclient.session(policy(waits, attempts=2)).get(server.url, timeout=0.3)
        assert len(server.requests) == 2 and len(waits) == 1
    assert error.value.timed_out


def test_call_with_retries_for_clients_outside_requests():
    waits: list[float] = []
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("dropped")
        return "done"

    rule = policy(waits, attempts=4, backoff=0.2)
    assert httpclient.call_with_retries(flaky, rule, lambda e: isinstance(e, OSError)) == "done"
    assert len(calls) == 3 and waits == [0.2, 0.4]
    calls.clear()
    with pytest.raises(ConnectionResetError):
        httpclient.call_with_retries(flaky, policy(waits, attempts=2), lambda e: True)
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(ConnectionResetError):
        httpclient.call_with_retries(flaky, rule, lambda e: False)
    assert len(calls) == 1


def test_tls_is_verified_and_a_ca_bundle_is_trusted_when_given(tmp_path):
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    waits: list[float] = []
    with Scripted(tls=context) as server:
        with pytest.raises(httpclient.RequestFailed) as error:
            httpclient.session(policy(waits)).get(server.url, timeout=5)
        assert isinstance(error.value.cause, requests.exceptions.SSLError)
        assert waits == []  # a certificate that is not trusted is not retried
        trusted = httpclient.session(policy(waits), ca_bundle=str(bundle))
        assert trusted.get(server.url, timeout=5).status_code == 200


def test_the_offline_cli_runs_without_requests(demo_files, tmp_path):
    """requests is an optional dependency of the CLI: capture and compare never import it."""
    program = (
        "import runpy, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('requests', 'urllib3'):\n"
        "            raise ImportError(name + ' is blocked by the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['anchor'] + sys.argv[1:]\n"
        "runpy.run_module('anchor', run_name='__main__', alter_sys=True)\n"
    )
    db, window = str(tmp_path / "offline.db"), str(demo_files["incident"])
    for args in (
        ["capture", "incident", "--input", window],
        ["compare", "incident", "--input", window],
    ):
        result = subprocess.run(
            [sys.executable, "-c", program, "--db", db, *args],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "blocked" not in result.stderr


def test_the_splunk_entry_points_start_without_requests():
    """The search commands, the alert action and the nightly input import requests only
    when they make a session (an LLM call, an OSS export): not to start."""
    program = (
        "import sys\n"
        "import anchor.splunk.alert_action, anchor.splunk.commands, anchor.splunk.maintenance_input\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'urllib3')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=cli_env(), timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_the_webhook_posts_by_the_policy_and_counts_its_attempts():
    waits: list[float] = []
    with FakeWebhook() as hook:
        hook.script = [(429, {"Retry-After": "1"}), (503, {})]
        sent = deliver(hook.url, {"text": "x"}, sleep=waits.append)
        assert (sent.status, sent.attempts, sent.http_status) == ("delivered", 3, 200)
        assert waits == [1.0, 1.0] and len(hook.requests) == 3
        hook.script = [(404, {})]
        refused = deliver(hook.url, {"text": "x"}, sleep=waits.append)
        assert (refused.status, refused.attempts, refused.reason) == (
            "failed",
            1,
            "127.0.0.1 answered HTTP 404",
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = deliver(f"http://127.0.0.1:{port}/SECRETPATH", {}, sleep=waits.append)
    assert (dead.status, dead.attempts) == ("failed", 3) and "SECRETPATH" not in dead.reason


def test_oss_does_not_repeat_a_multipart_post_once_sent(tmp_path):
    with FakeOSS("anchor-backups", "AKID", "secret") as fake:
        config = OSSConfig(
            endpoint=fake.endpoint,
            bucket="anchor-backups",
            access_key_id="AKID",
            access_key_secret="secret",
            ca_bundle=fake.ca_file(tmp_path),
            multipart_threshold=150 * 1024,
            part_size=100 * 1024,
        )
        fake.fail_next = 1
        with pytest.raises(OSSError, match="500 InternalError"):
            OSSClient(config).put_object("anchor-memory/big.json.gz", bytes(200 * 1024))
        assert [(method, params) for method, _, params in fake.requests] == [
            ("POST", {"uploads": ""})
        ]
