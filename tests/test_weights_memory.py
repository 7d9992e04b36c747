"""Feedback log, derived weights, concurrency, recall over all of history."""

from __future__ import annotations

import multiprocessing
import random

import pytest

from anchor.diff import Signal
from anchor.errors import InputError, NotFound
from anchor.memory import Memory
from anchor.recall import recall_similar, weighted_jaccard
from anchor.store import SQLiteStore
from anchor.weights import derive_weights

DAY = 86400.0
NOW = 1_800_000_000.0


def entry(signal="s", outcome="confirmed", user="u", drift="d", time=NOW, key=None):
    return {
        "_key": key or f"{drift}{signal}{user}{outcome}{time}",
        "drift_id": drift,
        "signal_id": signal,
        "outcome": outcome,
        "user": user,
        "time": time,
    }


def test_confirmed_and_false_positive_steps():
    assert derive_weights([entry(outcome="confirmed")], NOW)["s"].weight == pytest.approx(1.1)
    assert derive_weights([entry(outcome="false_positive")], NOW)["s"].weight == pytest.approx(0.8)


def test_contributions_decay_toward_neutral_with_a_30_day_half_life():
    old = [entry(outcome="false_positive", drift=f"d{i}", time=NOW - 30 * DAY) for i in range(3)]
    assert derive_weights(old, NOW)["s"].weight == pytest.approx(1.0 - 0.6 * 0.5)
    assert derive_weights(old, NOW + 30 * DAY)["s"].weight == pytest.approx(1.0 - 0.6 * 0.25)


def test_weights_are_clamped():
    many_fp = [entry(outcome="false_positive", drift=f"d{i}") for i in range(20)]
    many_ok = [entry(outcome="confirmed", drift=f"d{i}") for i in range(40)]
    assert derive_weights(many_fp, NOW)["s"].weight == 0.1
    assert derive_weights(many_ok, NOW)["s"].weight == 3.0


def test_repeated_feedback_by_one_user_on_one_drift_counts_once_and_last_wins():
    entries = [
        entry(outcome="confirmed", time=NOW - 10),
        entry(outcome="false_positive", time=NOW - 5),
        entry(outcome="false_positive", time=NOW - 1),
    ]
    info = derive_weights(entries, NOW)["s"]
    assert info.weight == pytest.approx(0.8, abs=1e-6)
    assert (info.confirmed, info.false_positive) == (0, 1)
    other_user = entries + [entry(outcome="false_positive", user="v")]
    assert derive_weights(other_user, NOW)["s"].weight == pytest.approx(0.6, abs=1e-6)


def _memory_with_drift(path) -> Memory:
    memory = Memory(SQLiteStore(str(path)))
    signal = Signal(
        "template:appeared:svc:abc", "template", "appeared", "svc", "HIGH", 0.0, 5.0, 1e-9, 2.0
    )
    memory.save_drift(
        {"drift_id": "drift1", "anchor": "a", "created": NOW, "signals": [signal.to_record()]}
    )
    return memory


def _give_feedback(args):
    path, worker, rounds = args
    memory = Memory(SQLiteStore(path))
    for i in range(rounds):
        memory.record_feedback(
            "drift1",
            "template:appeared:svc:abc",
            "confirmed",
            user=f"user{worker}-{i}",
            now=NOW + i,
        )
    memory.store.close()


def test_concurrent_feedback_from_many_processes_loses_nothing(tmp_path):
    path = tmp_path / "shared.db"
    _memory_with_drift(path).store.close()
    workers, rounds = 6, 15
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        pool.map(_give_feedback, [(str(path), w, rounds) for w in range(workers)])
    memory = Memory(SQLiteStore(str(path)))
    assert len(list(memory.feedback())) == workers * rounds
    info = memory.weights(NOW + rounds)["template:appeared:svc:abc"]
    assert info.confirmed == workers * rounds
    assert info.weight == 3.0  # 90 confirmations, clamped
    view = list(memory.store.scan("anchor_weights"))
    assert len(view) == 1 and view[0]["signal_id"] == "template:appeared:svc:abc"


def test_a_refresh_outrun_by_other_feedback_still_leaves_the_view_complete(tmp_path):
    """Each time this feedback's refresh writes the weight view, another process has just
    given feedback on the same signal (and refreshed the view itself): the refresh writes
    a stale row, sees the log changed, and derives again until it has seen every entry."""
    path = tmp_path / "race.db"
    _memory_with_drift(path).store.close()
    other = Memory(SQLiteStore(str(path)))
    signal = "template:appeared:svc:abc"
    others = iter(range(5))

    class OutrunStore(SQLiteStore):
        def put_many(self, collection, docs):
            if collection == "anchor_weights":
                n = next(others, None)
                if n is not None:
                    other.record_feedback("drift1", signal, "confirmed", user=f"o{n}", now=NOW)
            super().put_many(collection, docs)

    memory = Memory(OutrunStore(str(path)))
    memory.record_feedback("drift1", signal, "confirmed", user="me", now=NOW)
    assert next(others, None) is None  # outrun five times
    assert len(list(memory.feedback())) == 6
    assert memory.weight(signal, NOW).confirmed == 6


def test_feedback_validation(tmp_path):
    memory = _memory_with_drift(tmp_path / "v.db")
    with pytest.raises(InputError, match="invalid outcome"):
        memory.record_feedback("drift1", "template:appeared:svc:abc", "meh", user="u", now=NOW)
    with pytest.raises(NotFound, match="unknown drift"):
        memory.record_feedback("nope", "x", "confirmed", user="u", now=NOW)
    with pytest.raises(NotFound, match="not part of drift"):
        memory.record_feedback("drift1", "x", "confirmed", user="u", now=NOW)


def test_weighted_jaccard():
    assert weighted_jaccard({"a": 3, "b": 1}, {"a": 3, "b": 1}) == 1.0
    assert weighted_jaccard({"a": 3}, {"b": 3}) == 0.0
    assert weighted_jaccard({"a": 3, "b": 1}, {"a": 1}) == pytest.approx(1 / 4)


def test_recall_searches_all_drifts_not_a_recent_slice(tmp_path):
    memory = Memory(SQLiteStore(str(tmp_path / "r.db")))
    rng = random.Random(5)
    drifts = []
    for i in range(2500):
        ids = {f"noise:{rng.randint(0, 10**6)}" for _ in range(3)}
        drifts.append(
            {
                "drift_id": f"d{i:05d}",
                "created": NOW + i,
                "anchor": "a",
                "signals": [{"signal_id": s, "severity": "HIGH"} for s in ids],
            }
        )
    # The best match is the OLDEST drift.
    drifts[0]["signals"] = [
        {"signal_id": "x", "severity": "HIGH"},
        {"signal_id": "y", "severity": "MEDIUM"},
    ]
    drifts[1]["signals"] = [{"signal_id": "x", "severity": "HIGH"}]
    for start in range(0, len(drifts), 500):
        memory.store.put_many(
            "anchor_drifts", [{**d, "_key": d["drift_id"]} for d in drifts[start : start + 500]]
        )
    found = recall_similar(memory.drifts(), {"x": 3.0, "y": 2.0}, k=3)
    assert [d["drift_id"] for _, d in found] == ["d00000", "d00001"]
    assert found[0][0] == 1.0


class _Interleaved(SQLiteStore):
    """The real SQLite store, plus another writer's feedback entry landing right after
    this process derived and wrote its weights row (and before it re-reads the log)."""

    def __init__(self, path, late_entry):
        super().__init__(path)
        self.late_entry = late_entry

    def put_many(self, collection, docs):
        super().put_many(collection, docs)
        if collection == "anchor_weights" and self.late_entry:
            late, self.late_entry = self.late_entry, None
            super().put_many("anchor_feedback", [late])  # its writer dies before refreshing


def test_the_weights_view_misses_no_feedback_written_while_it_was_derived(tmp_path):
    path = str(tmp_path / "view.db")
    _memory_with_drift(path).store.close()
    signal = "template:appeared:svc:abc"
    late = {
        "_key": "fb-late",
        "drift_id": "drift1",
        "signal_id": signal,
        "outcome": "confirmed",
        "user": "bob",
        "reason": "",
        "time": NOW,
        "anchor": "a",
    }
    memory = Memory(_Interleaved(path, late))
    memory.record_feedback("drift1", signal, "confirmed", user="alice", now=NOW)
    [row] = memory.store.scan("anchor_weights")
    assert row["confirmed"] == 2 and row["weight"] == pytest.approx(1.2)
    # The view is what compares rank with, carried forward exactly by the decay.
    assert memory.weights(NOW + 30 * 86400)[signal].weight == pytest.approx(1.1)
    assert memory.derived_weights(NOW + 30 * 86400)[signal].weight == pytest.approx(1.1)
