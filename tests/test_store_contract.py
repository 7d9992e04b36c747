"""One behaviour, two backends: SQLite and KV Store (through splunklib, against a fake splunkd)."""

from __future__ import annotations

import pytest
from fakes.fake_splunkd import FakeSplunkd

from anchor.splunk.kvstore import KVLimits, KVStore, connect
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


def test_find_sorts_skips_limits_and_projects(store):
    store.put_many(
        "anchor_drifts",
        [
            {"_key": f"d{i:02d}", "anchor": "ab"[i % 2], "created": float(i // 3), "big": "x" * 50}
            for i in range(20)
        ],
    )
    newest = list(
        store.find(
            "anchor_drifts",
            {"anchor": "a"},
            sort=[("created", -1), ("_key", -1)],
            limit=4,
            fields=("created",),
        )
    )
    assert newest == [
        {"_key": "d18", "created": 6.0},
        {"_key": "d16", "created": 5.0},
        {"_key": "d14", "created": 4.0},
        {"_key": "d12", "created": 4.0},
    ]
    page = list(
        store.find("anchor_drifts", None, sort=[("created", 1)], skip=9, limit=3, fields=())
    )
    assert page == [{"_key": "d09"}, {"_key": "d10"}, {"_key": "d11"}]
    assert len(list(store.find("anchor_drifts", {"created": {"$gte": 2.0}}))) == 14
    store.delete_where("anchor_drifts", {"created": {"$lt": 3.0}})
    assert [d["_key"] for d in store.scan("anchor_drifts")] == [f"d{i:02d}" for i in range(9, 20)]
    with pytest.raises(StoreError, match="needs a query"):
        store.delete_where("anchor_drifts", {})


def test_kvstore_pages_by_answer_size_within_max_size_per_result_mb(tmp_path, monkeypatch):
    # 0.01 MB answers at most: 40 documents of 2 KB cannot come back in one page.
    with FakeSplunkd(max_size_per_result_mb=0.01) as splunkd:
        monkeypatch.setenv("ANCHOR_SPLUNKD_CA", splunkd.ca_file(tmp_path))
        kv = KVStore(connect(splunkd.uri, splunkd.session_key))
        assert kv.limits.max_size_per_result_mb == 1  # limits.conf holds whole MB
        kv.limits = KVLimits(max_size_per_result_mb=0.01)  # as the fake enforces it
        splunkd.data["anchor_drifts"] = {
            f"k{i:03d}": {"_key": f"k{i:03d}", "blob": "y" * 2000} for i in range(40)
        }
        before = len(splunkd.requests)
        keys = [d["_key"] for d in kv.find("anchor_drifts")]
        assert keys == [f"k{i:03d}" for i in range(40)]
        # The first pages are refused until small enough; later pages are sized from the answers.
        assert len(splunkd.requests) - before < 40
        splunkd.size_limit = "truncate"  # a server that cuts the first answer short instead
        assert [d["_key"] for d in kv.find("anchor_drifts")] == keys
        splunkd.size_limit = "refuse"
        splunkd.data["anchor_drifts"]["huge"] = {"_key": "huge", "blob": "z" * 20000}
        with pytest.raises(StoreError, match="larger than the KV Store's max_size_per_result_mb"):
            list(kv.find("anchor_drifts", {"_key": "huge"}))
