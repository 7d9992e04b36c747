"""The REST API through its handler class (bin/anchor_rest.py), as splunkd's persistent handler calls it.

Each request is the JSON document splunkd passes (method, path_info, query
and form pairs, payload, session, server.rest_uri, system_authtoken). The
memory is KV Store on the fake splunkd, written by the real engine; the
caller's capabilities come from the fake's current-context per token.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import ROOT, T0, judged_drift
from fakes.fake_splunkd import FakeSplunkd

from anchor.memory import Memory
from anchor.splunk.kvstore import open_kvstore

KEY = "sk-rest-DISTINCTIVE-5150"
HOOK = "https://hooks.slack.com/services/T0/B0/RESTSECRETPATH"


def load_handler():
    spec = importlib.util.spec_from_file_location("anchor_rest", ROOT / "bin" / "anchor_rest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.AnchorRestHandler


@pytest.fixture(scope="module")
def server(demo_fingerprints, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rest")
    with FakeSplunkd(user="alice", capabilities=("anchor_feedback",)) as splunkd:
        splunkd.add_token(
            "admin-token", "admin", ("anchor_write", "anchor_feedback", "anchor_configure")
        )
        splunkd.add_token("reader-token", "rita", ())
        splunkd.add_token(
            "system-token", "splunk-system-user", ("admin_all_objects", "list_storage_passwords")
        )
        mp = pytest.MonkeyPatch()
        mp.setenv("ANCHOR_SPLUNKD_CA", splunkd.ca_file(folder))
        mp.delenv("ANCHOR_STORE", raising=False)
        memory = Memory(open_kvstore(splunkd.uri, splunkd.session_key))
        baseline, incident = demo_fingerprints
        times = (T0, T0 + 60, T0 + 120)
        first = judged_drift(
            memory, baseline, incident, times=times, outcome="false_positive", signal=1
        )
        splunkd.conf["llm"] = {"url": "", "model": "", "timeout_s": "30"}
        splunkd.inputs["nightly"] = {"destination": "local", "local_dir": "exports"}
        yield splunkd, first
        mp.undo()


def call(splunkd, method, path, *, query=(), body=None, token=None, system=True, raw_payload=None):
    document = {
        "method": method,
        "path_info": path,
        "rest_path": f"/anchor/{path}",
        "query": [list(pair) for pair in query],
        "form": [],
        "payload": raw_payload
        if raw_payload is not None
        else (json.dumps(body) if body is not None else ""),
        "session": {
            "user": {"admin-token": "admin", "reader-token": "rita"}.get(token, "alice"),
            "authtoken": token or splunkd.session_key,
        },
        "server": {"rest_uri": splunkd.uri, "hostname": "sh1"},
        "ns": {"app": "anchor", "user": "-"},
    }
    if system:
        document["system_authtoken"] = "system-token"
    response = load_handler()("", "").handle(json.dumps(document))
    assert response["headers"]["Content-Type"] == "application/json"
    text = response["payload"]
    assert KEY not in text and "RESTSECRETPATH" not in text  # no secret, ever
    return response["status"], json.loads(text)


def test_read_endpoints_call_the_engine(server):
    splunkd, first = server
    status, body = call(splunkd, "GET", "anchors")
    assert status == 200 and [a["name"] for a in body["anchors"]] == ["healthy"]
    status, body = call(splunkd, "GET", "anchors/healthy")
    assert status == 200 and {s["sourcetype"] for s in body["sourcetypes"]} >= {"payments"}
    status, body = call(splunkd, "GET", "drifts", query=[("anchor", "healthy"), ("limit", "5")])
    assert status == 200 and body["drifts"][0]["drift_id"] == first.drift_id
    for drift_id in (first.drift_id, "latest"):
        status, body = call(splunkd, "GET", f"drifts/{drift_id}")
        assert status == 200 and body["drift_id"] == first.drift_id
        assert body["signals"][0]["signal_id"] == first.signals[0].signal_id
        assert body["narrative"]["summary"] == first.narrative.summary
    status, body = call(splunkd, "GET", f"drifts/{first.drift_id}/recall", query=[("k", "3")])
    assert status == 200 and body["similar"] == []
    status, body = call(splunkd, "GET", "weights")
    assert status == 200 and body["weights"][0]["signal_id"] == first.signals[1].signal_id
    status, body = call(splunkd, "GET", "blind_spots")
    assert [s["signal_id"] for s in body["blind_spots"]] == [first.signals[1].signal_id]


@pytest.mark.parametrize(
    "method, path, query, status, message",
    [
        ("GET", "drifts/0123456789ab", (), 404, "unknown drift"),
        ("GET", "anchors/nope", (), 404, "unknown anchor"),
        ("GET", "anchors/bad|name", (), 400, "invalid anchor name"),
        ("GET", "drifts/x;rm -rf", (), 400, "is not a drift id"),
        ("GET", "drifts", (("limit", "0"),), 400, "limit must be"),
        ("GET", "drifts", (("since", "yesterday"),), 400, "epoch seconds"),
        ("GET", "drifts", (("limit", "\u00b2"),), 400, "limit must be"),
        ("GET", "drifts", (("limit", "1e400"),), 400, "limit must be"),
        ("GET", "drifts", (("limit", "-5"),), 400, "limit must be"),
        ("GET", "drifts", (("limit", "9" * 5000),), 400, "limit must be"),
        ("GET", "drifts", (("since", "1e400"),), 400, "epoch seconds"),
        ("GET", "drifts", (("since", "nan"),), 400, "epoch seconds"),
        ("GET", "drifts/0123456789ab/recall", (("k", "\u00b2"),), 400, "k must be"),
        ("GET", "drifts/0123456789ab\n", (), 400, "is not a drift id"),
        ("GET", "weights", (("limit", "\u0663"),), 400, "limit must be"),
        ("GET", "nothing", (), 404, "unknown endpoint"),
        ("DELETE", "anchors", (), 405, "not allowed"),
        ("POST", "weights", (), 405, "use GET"),
    ],
)
def test_bad_requests_get_clear_errors(server, method, path, query, status, message):
    splunkd, _ = server
    got, body = call(splunkd, method, path, query=query, body={} if method == "POST" else None)
    assert got == status and message in body["error"], body


def test_feedback_checks_the_capability_and_records_as_the_caller(server):
    splunkd, first = server
    target = {
        "drift_id": first.drift_id,
        "signal_id": first.signals[0].signal_id,
        "outcome": "confirmed",
        "reason": "gateway",
    }
    status, body = call(splunkd, "POST", "feedback", body=target, token="reader-token")
    assert status == 403 and "anchor_feedback" in body["error"]
    status, body = call(splunkd, "POST", "feedback", raw_payload="{not json")
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = call(splunkd, "POST", "feedback", body={"drift_id": first.drift_id})
    assert status == 400 and "signal_id, outcome" in body["error"]
    status, body = call(splunkd, "POST", "feedback", body={**target, "outcome": "maybe"})
    assert status == 400
    status, body = call(splunkd, "POST", "feedback", body=target)
    assert status == 200 and body["user"] == "alice" and body["weight"] == pytest.approx(1.1)


def test_compare_runs_a_guarded_search_as_the_caller(server):
    splunkd, _ = server
    splunkd.search_results = [{"rank": "1", "signal_id": "x", "drift_id": "abc"}]
    request = {
        "search": "index=web sourcetype=payments",
        "anchor": "healthy",
        "limit": 5,
        "earliest": "-2h",
    }
    status, body = call(splunkd, "POST", "compare", body=request)
    assert status == 200 and body["rows"] == splunkd.search_results
    sent = splunkd.searches[-1]
    assert sent["path"] == "/servicesNS/alice/anchor/search/jobs"
    assert sent["search"] == (
        'search index=web sourcetype=payments | anchorcompare anchor="healthy" alpha=0.01 limit=5'
    )
    assert sent["earliest_time"] == "-2h" and sent["count"] == "5"
    for bad, message in (
        ({**request, "search": "index=web | delete"}, "SPL guard"),
        ({**request, "anchor": 'x" | delete "'}, "invalid anchor name"),
        ({**request, "alpha": 2}, "alpha must be"),
        ({**request, "alpha": float("nan")}, "alpha must be"),
        ({**request, "limit": float("inf")}, "limit must be"),
        ({**request, "limit": 10**400}, "limit must be"),
        ({**request, "limit": -1}, "limit must be"),
        ({**request, "limit": "\u00b2"}, "limit must be"),
        (
            {**request, "search": 'index=main \\" | collect index=summary | eval x="abc\\"def"'},
            "collect",
        ),
        (
            {**request, "search": 'index=main "```" | collect index=summary | eval y="```"'},
            "collect",
        ),
        ({**request, "anchor": "healthy\n"}, "invalid anchor name"),
        ({"anchor": "healthy"}, "compare needs search"),
    ):
        before = len(splunkd.searches)
        status, body = call(splunkd, "POST", "compare", body=bad)
        assert status == 400 and message in body["error"] and len(splunkd.searches) == before


def test_settings_need_anchor_configure_and_never_return_secrets(server):
    splunkd, _ = server
    splunkd.passwords.update(llm_api_key=KEY, webhook_url=HOOK)
    status, body = call(splunkd, "GET", "settings")
    assert status == 403 and "anchor_configure" in body["error"]
    status, body = call(splunkd, "GET", "settings", token="admin-token")
    assert status == 200 and body["llm"]["api_key_set"] is True and body["webhook_url_set"] is True
    assert body["maintenance"]["oss_credentials_set"] is False
    # A URL stored with a credential (by hand, or before URLs were checked) is never shown.
    splunkd.conf.setdefault("llm", {})["url"] = f"https://u:{KEY}@llm.example.com/v1?key={KEY}"
    status, body = call(splunkd, "GET", "settings", token="admin-token")
    assert status == 200 and "withheld" in body["llm"]["url"]


def test_settings_are_validated_before_anything_is_written(server):
    splunkd, _ = server
    before = list(splunkd.writes)
    for bad, message in (
        ({"llm": {"url": "http://example.com/v1", "model": "m"}}, "must use https"),
        ({"llm": {"url": "https://x.example.com/v1", "model": "bad model!"}}, "model name"),
        ({"llm": {"url": "https://x.example.com/v1", "model": "m", "timeout_s": "0"}}, "timeout_s"),
        ({"webhook_url": "http://hooks.example.com/x"}, "must use https"),
        (
            {
                "maintenance": {
                    "destination": "oss",
                    "oss_bucket": "b",
                    "oss_endpoint": "http://oss",
                }
            },
            "maintenance",
        ),
        (
            {"llm": {"url": "https://x.example.com/v1", "model": "m"}, "colour": "blue"},
            "unknown setting",
        ),
        ({"llm": {"url": "https://user:sk-secret@x.example.com/v1", "model": "m"}}, "credential"),
        ({"llm": {"url": "https://x.example.com/v1?key=sk-secret", "model": "m"}}, "'key'"),
        (
            {"llm": {"url": "https://x.example.com/v1?api-version=1&access_token=t", "model": "m"}},
            "access_token",
        ),
        (
            {
                "llm": {
                    "url": "https://x.example.com/v1",
                    "model": "m",
                    "api_key": KEY,
                    "temperature": 1,
                }
            },
            "unknown setting llm.temperature",
        ),
    ):
        status, body = call(splunkd, "POST", "settings", body=bad, token="admin-token")
        assert status == 400 and message in body["error"], body
        assert "sk-secret" not in json.dumps(body)
    assert splunkd.writes == before
    status, body = call(splunkd, "POST", "settings", body={"llm": {}}, token="reader-token")
    assert status == 403
    status, body = call(
        splunkd, "POST", "settings", body={"llm": {}}, token="admin-token", system=False
    )
    assert status == 500 and "passSystemAuth" in body["error"]


def test_settings_are_saved_with_the_system_token_after_the_check(server):
    splunkd, _ = server
    new_key = "sk-rest-DISTINCTIVE-5150-rotated"
    update = {
        "llm": {
            "url": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            "model": "qwen-plus",
            "timeout_s": "20",
            "api_key": new_key,
        },
        "webhook_url": HOOK,
        "maintenance": {
            "destination": "oss",
            "oss_bucket": "anchor-backups",
            "oss_endpoint": "https://oss-cn-hangzhou.aliyuncs.com",
            "oss_access_key_id": "LTAI-id",
            "oss_access_key_secret": "oss-secret",
        },
    }
    splunkd.writes.clear()
    status, body = call(splunkd, "POST", "settings", body=update, token="admin-token")
    assert status == 200, body
    assert body["saved"] == [
        "llm",
        "maintenance",
        "llm_api_key",
        "webhook_url",
        "oss_access_key_id",
        "oss_access_key_secret",
    ]
    assert {user for user, _, _ in splunkd.writes} == {"splunk-system-user"}
    assert splunkd.app_configured is True
    assert splunkd.conf["llm"]["model"] == "qwen-plus" and splunkd.conf["llm"]["timeout_s"] == "20"
    assert splunkd.inputs["nightly"]["oss_bucket"] == "anchor-backups"
    assert splunkd.passwords["llm_api_key"] == new_key
    assert splunkd.passwords["oss_access_key_secret"] == "oss-secret"
    assert all(
        "LTAI" not in json.dumps(params) for _, _, params in splunkd.writes if "passwords" in _
    )
    status, body = call(splunkd, "GET", "settings", token="admin-token")
    assert (
        body["llm"]["model"] == "qwen-plus" and body["maintenance"]["oss_credentials_set"] is True
    )
    assert new_key not in json.dumps(body) and "oss-secret" not in json.dumps(body)


def test_no_session_is_refused():
    handler = load_handler()("", "")
    response = handler.handle(json.dumps({"method": "GET", "path_info": "anchors", "session": {}}))
    assert response["status"] == 401
    assert handler.handle("not json")["status"] == 400


def test_narrate_relays_only_anchors_own_conversations_for_callers_with_anchor_narrate(server):
    from anchor.narrate import SYSTEM_PROMPT

    splunkd, _ = server
    splunkd.conf["llm"] = {"url": "", "model": "", "timeout_s": "30"}
    turn = {
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "{}"},
        ],
        "json_mode": True,
    }
    status, body = call(splunkd, "POST", "narrate", body=turn)  # alice: anchor_feedback only
    assert status == 403 and "anchor_narrate" in body["error"]
    splunkd.add_token("narrator-token", "nora", ("anchor_narrate",))
    free = {"messages": [{"role": "system", "content": "You are a helpful assistant."}]}
    status, body = call(splunkd, "POST", "narrate", body=free, token="narrator-token")
    assert status == 400 and "Anchor's own narration prompts" in body["error"]
    status, body = call(splunkd, "POST", "narrate", body=turn, token="narrator-token")
    assert status == 502 and body["kind"] == "config"  # [llm] has no url in this fixture
    assert "no LLM is configured" in body["error"]
