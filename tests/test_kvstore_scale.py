"""At scale: 50,000 drifts and 200,000 feedback entries in the (fake) KV Store.

A compare, the dashboard's reads (``anchorshow`` over the chunked protocol)
and recall each make a small, fixed number of KV Store requests and read a
bounded number of bytes, however large the collections are. Timing lives in
bench/kvstore_scale.py; here only requests and answer sizes are asserted.
"""

from __future__ import annotations

import os
import time

import pytest
from chunked import run_command
from fakes.fake_splunkd import FakeSplunkd
from scale_data import populate

from anchor import operations
from anchor.memory import Memory
from anchor.splunk.kvstore import KVStore, connect

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("kvstore_scale")

DRIFTS, FEEDBACK = 50_000, 200_000
MB = 1024 * 1024


@pytest.fixture(scope="module")
def big(tmp_path_factory, demo_fingerprints):
    folder = tmp_path_factory.mktemp("scale")
    with FakeSplunkd() as splunkd:
        now = time.time()
        ids = populate(splunkd.data, now=now, drifts=DRIFTS, feedback=FEEDBACK)
        ca = splunkd.ca_file(folder)
        saved = os.environ.get("ANCHOR_SPLUNKD_CA")
        os.environ["ANCHOR_SPLUNKD_CA"] = ca
        try:
            memory = Memory(KVStore(connect(splunkd.uri, splunkd.session_key)))
            anchor, incident = demo_fingerprints
            operations.capture(memory, "svc00", anchor, user="admin", now=now)
            yield splunkd, memory, incident, ids, ca
        finally:
            if saved is None:
                os.environ.pop("ANCHOR_SPLUNKD_CA", None)
            else:
                os.environ["ANCHOR_SPLUNKD_CA"] = saved


def _kv_requests(splunkd, since):
    return [(m, p) for m, p in splunkd.requests[since:] if "/storage/collections/" in p]


def measure(splunkd, action):
    start, sent = len(splunkd.requests), splunkd.answered_bytes
    result = action()
    return result, _kv_requests(splunkd, start), splunkd.answered_bytes - sent


def test_compare_reads_a_bounded_slice_of_history(big):
    splunkd, memory, incident, _, _ = big
    report, requests, answered = measure(
        splunkd,
        lambda: operations.compare(memory, "svc00", incident, user="admin", now=time.time()),
    )
    assert report.signals and report.stored
    # anchor head + part, the weights view (2,000 rows), the newest 2,000 drifts of
    # svc00 as ids and severities, the latest feedback of each recalled drift, one save.
    assert len(requests) <= 12, requests
    assert answered < 4 * MB
    drift_reads = [p for m, p in requests if m == "GET" and p.endswith("anchor_drifts")]
    assert len(drift_reads) <= 2  # never a page-by-page walk through 50,000 drifts
    assert not [p for m, p in requests if p.endswith("anchor_feedback") and m == "GET"][3:]
    assert len(splunkd.data["anchor_drifts"]) == DRIFTS + 1


def test_recall_compares_the_newest_drifts_of_the_same_anchor_only(big):
    splunkd, memory, _, ids, _ = big
    similar, requests, answered = measure(splunkd, lambda: operations.recall(memory, ids[-20]))
    assert similar and all(s["anchor"] == "svc00" for s in similar)
    assert len(requests) <= 4 and answered < 2 * MB


@pytest.mark.parametrize(
    "view, most_requests",
    # drift: the drift, plus its "is it new?" columns from recall's bounded candidates
    # (the newest RECALL_SCAN drifts of its anchor, ids only) and the weights view.
    [("drifts", 2), ("drift", 6), ("feedback", 2), ("weights", 4), ("blind_spots", 4)],
)
def test_dashboard_reads_stay_small(big, tmp_path, view, most_requests):
    splunkd, _, _, _, ca = big
    start, sent = len(splunkd.requests), splunkd.answered_bytes
    result = run_command(
        "anchorshow",
        [f"what={view}", "limit=100"],
        [],
        env={"ANCHOR_SPLUNKD_CA": ca, "ANCHOR_STORE": ""},
        searchinfo_overrides={"splunkd_uri": splunkd.uri, "session_key": splunkd.session_key},
    )
    assert not [m for m in result.messages if m[0] == "ERROR"], result.messages
    assert 1 <= len(result.records) <= 100
    requests = _kv_requests(splunkd, start)
    assert len(requests) <= most_requests, requests
    assert splunkd.answered_bytes - sent < 2 * MB


def test_retention_deletes_on_the_server_in_a_few_requests(big):
    splunkd, memory, _, _, _ = big
    from anchor import maintenance

    keep = maintenance.DriftRetention(30.0, 10_000)
    newest_before = max(d["created"] for d in splunkd.data["anchor_drifts"].values())
    detail, requests, _ = measure(
        splunkd, lambda: maintenance.apply_retention(memory, time.time(), keep)
    )
    assert len(splunkd.data["anchor_drifts"]) <= 10_000
    newest = max(d["created"] for d in splunkd.data["anchor_drifts"].values())
    assert newest == newest_before  # the newest drift is kept (however long the suite ran)
    assert len(requests) <= 10, requests
    assert "beyond the newest 10000 removed" in detail
