"""KV Store backend specifics: TLS, auth, transient failures, and the commands against it."""

from __future__ import annotations

import dataclasses

import pytest
from chunked import run_distributed
from fakes.fake_splunkd import FakeSplunkd

from anchor.splunk import kvstore
from anchor.splunk.access import require_capability
from anchor.splunk.kvstore import KVStore, connect
from anchor.store import StoreError


@pytest.fixture
def splunkd(tmp_path, monkeypatch):
    with FakeSplunkd() as fake:
        monkeypatch.setenv("ANCHOR_SPLUNKD_CA", fake.ca_file(tmp_path))
        monkeypatch.delenv("ANCHOR_STORE", raising=False)
        yield fake


def test_tls_verification_is_on(splunkd, monkeypatch):
    monkeypatch.delenv("ANCHOR_SPLUNKD_CA")
    with pytest.raises(StoreError, match="not trusted"):
        KVStore(connect(splunkd.uri, splunkd.session_key)).get("anchor_drifts", "x")


def test_wrong_session_is_a_clear_error(splunkd):
    store = KVStore(connect(splunkd.uri, "not-the-key"))
    with pytest.raises(StoreError, match="HTTP 401"):
        store.put_many("anchor_drifts", [{"_key": "a"}])


def test_transient_503_is_retried(splunkd, monkeypatch):
    waits: list[float] = []  # the backoff, recorded instead of slept
    monkeypatch.setattr(kvstore, "RETRY", dataclasses.replace(kvstore.RETRY, sleep=waits.append))
    store = KVStore(connect(splunkd.uri, splunkd.session_key))
    splunkd.fail_next = 2
    store.put_many("anchor_drifts", [{"_key": "a", "v": 1}])
    assert splunkd.data["anchor_drifts"]["a"]["v"] == 1
    assert waits == [0.2, 0.4]


def test_limits_are_read_from_the_server(tmp_path, monkeypatch):
    with FakeSplunkd(max_rows_per_query=3, max_documents_per_batch_save=2) as fake:
        monkeypatch.setenv("ANCHOR_SPLUNKD_CA", fake.ca_file(tmp_path))
        store = KVStore(connect(fake.uri, fake.session_key))
        assert (store.limits.max_rows_per_query, store.limits.max_documents_per_batch_save) == (
            3,
            2,
        )


def test_capability_check(splunkd):
    require_capability(splunkd.uri, splunkd.session_key, "anchor_write")
    splunkd.capabilities = ["anchor_feedback"]
    with pytest.raises(Exception, match="needs the anchor_write capability"):
        require_capability(splunkd.uri, splunkd.session_key, "anchor_write")


def _events(n, sourcetype="web"):
    return [
        {
            "_time": str(1_700_000_000 + i * 30),
            "_raw": f"GET /item/{i % 7} 200 in {i % 50}ms",
            "host": f"web-{i % 3}",
            "sourcetype": sourcetype,
        }
        for i in range(n)
    ]


def test_commands_store_memory_in_kv_store_as_the_running_user(splunkd, tmp_path):
    env = {"ANCHOR_SPLUNKD_CA": splunkd.ca_file(tmp_path)}
    info = {"splunkd_uri": splunkd.uri, "session_key": splunkd.session_key}
    captured = run_distributed(
        "anchorcapture",
        ["name=kv_base"],
        [_events(600), _events(600)],
        env=env,
        searchinfo_overrides=info,
    )
    assert not [m for m in captured.messages if m[0] == "ERROR"], captured.messages
    heads = [d for d in splunkd.data["anchor_anchors"].values() if d.get("kind") == "anchor"]
    assert [h["name"] for h in heads] == ["kv_base"]
    compared = run_distributed(
        "anchorcompare",
        ["anchor=kv_base"],
        [_events(300, sourcetype="api")],
        env=env,
        searchinfo_overrides=info,
    )
    assert not [m for m in compared.messages if m[0] == "ERROR"], compared.messages
    assert {r["kind"] for r in compared.records} >= {"volume"}
    assert len(splunkd.data["anchor_drifts"]) == 1


def test_a_user_without_the_capability_cannot_capture(splunkd, tmp_path):
    splunkd.capabilities = []
    env = {"ANCHOR_SPLUNKD_CA": splunkd.ca_file(tmp_path)}
    info = {"splunkd_uri": splunkd.uri, "session_key": splunkd.session_key}
    result = run_distributed(
        "anchorcapture", ["name=nope"], [_events(100)], env=env, searchinfo_overrides=info
    )
    assert any("needs the anchor_write capability" in text for _, text in result.messages)
    assert splunkd.data["anchor_anchors"] == {}


def test_batches_respect_the_server_limit(tmp_path, monkeypatch):
    with FakeSplunkd(max_documents_per_batch_save=5) as fake:
        monkeypatch.setenv("ANCHOR_SPLUNKD_CA", fake.ca_file(tmp_path))
        store = KVStore(connect(fake.uri, fake.session_key))
        store.put_many("anchor_drifts", [{"_key": f"k{i:02d}"} for i in range(12)])
        saves = [r for r in fake.requests if r[1].endswith("/batch_save")]
        assert len(saves) == 3
        assert len(list(store.scan("anchor_drifts"))) == 12
