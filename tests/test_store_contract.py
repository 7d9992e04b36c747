"""One behaviour, two backends: SQLite and KV Store (through splunklib, against a fake splunkd)."""

from __future__ import annotations

import pytest
from fakes.fake_splunkd import FakeSplunkd

from anchor.splunk.kvstore import KVStore, connect
from anchor.store import SQLiteStore, StoreError


@pytest.fixture(params=["sqlite", "kvstore"])
def store(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        yield SQLiteStore(str(tmp_path / "contract.db"))
        return
    with FakeSplunkd(max_rows_per_query=7, max_documents_per_batch_save=5) as splunkd:
        monkeypatch.setenv("ANCHOR_SPLUNKD_CA", splunkd.ca_file(tmp_path))
        kv = KVStore(connect(splunkd.uri, splunkd.session_key))
        kv.splunkd = splunkd
        yield kv


def docs(n, **extra):
    return [{"_key": f"k{i:03d}", "n": i, **extra} for i in range(n)]


def test_put_get_replace(store):
    store.put_many("anchor_drifts", [{"_key": "a", "v": 1}])
    assert store.get("anchor_drifts", "a")["v"] == 1
    store.put_many("anchor_drifts", [{"_key": "a", "v": 2}])
    assert store.get("anchor_drifts", "a")["v"] == 2
    assert store.get("anchor_drifts", "missing") is None
    assert len(list(store.scan("anchor_drifts"))) == 1


def test_scan_pages_past_the_server_row_limit_in_key_order(store):
    store.put_many("anchor_feedback", list(reversed(docs(23))))
    keys = [d["_key"] for d in store.scan("anchor_feedback")]
    assert keys == [f"k{i:03d}" for i in range(23)]


def test_query_operators(store):
    store.put_many("anchor_drifts", docs(10, kind="x") + [{"_key": "z", "n": 100, "kind": "y"}])
    assert [d["n"] for d in store.scan("anchor_drifts", {"n": {"$lt": 3}})] == [0, 1, 2]
    assert [d["n"] for d in store.scan("anchor_drifts", {"n": {"$gte": 8, "$lte": 9}})] == [8, 9]
    assert [d["_key"] for d in store.scan("anchor_drifts", {"kind": "y"})] == ["z"]
    assert len(list(store.scan("anchor_drifts", {"kind": {"$ne": "y"}}))) == 10
    assert [d["n"] for d in store.scan("anchor_drifts", {"n": {"$gt": 99}})] == [100]


def test_delete_ignores_missing_keys(store):
    store.put_many("anchor_weights", docs(4))
    store.delete("anchor_weights", ["k001", "k002", "nope"])
    assert [d["_key"] for d in store.scan("anchor_weights")] == ["k000", "k003"]


def test_retried_write_is_idempotent(store):
    batch = docs(12)
    store.put_many("anchor_anchors", batch)
    store.put_many("anchor_anchors", batch)
    assert len(list(store.scan("anchor_anchors"))) == 12


def test_bad_input_is_a_store_error(store):
    with pytest.raises(StoreError, match="unknown collection"):
        store.get("other", "k")
    with pytest.raises(StoreError, match="_key"):
        store.put_many("anchor_drifts", [{"v": 1}])
