"""Decay, compaction, export, verify and restore of the memory."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from conftest import judged_drift, run_cli

from anchor import maintenance, operations
from anchor.errors import InputError
from anchor.memory import Memory
from anchor.store import SQLiteStore, StoreError

NOW = 1_800_000_000.0
DAY = 86400.0


@pytest.fixture
def populated(tmp_path, demo_fingerprints):
    # The session's demo fingerprints: re-reading the 3-day file per test cost ~2 s each.
    anchor, incident = demo_fingerprints
    memory = Memory(SQLiteStore(str(tmp_path / "m.db")))
    times = (NOW - 10 * DAY, NOW - 9 * DAY, NOW - 9 * DAY)
    report = judged_drift(memory, anchor, incident, times=times)
    operations.feedback(
        memory,
        report.drift_id,
        report.signals[1].signal_id,
        "false_positive",
        user="bob",
        now=NOW - 8 * DAY,
    )
    return memory, incident


def compare_again(memory, incident):
    report = operations.compare(memory, "healthy", incident, user="alice", now=NOW, store=False)
    return [s.to_dict() for s in report.signals], {
        k: v.to_dict() for k, v in memory.weights(NOW).items()
    }


def test_export_wipe_restore_gives_identical_drift_output_and_weights(populated, tmp_path):
    memory, incident = populated
    before = compare_again(memory, incident)
    result = maintenance.export(
        memory.store, maintenance.LocalDestination(str(tmp_path / "out")), now=NOW
    )
    assert result.name == "anchor-memory/20270115T080000Z.json.gz"
    assert result.counts["anchor_feedback"] == 2 and result.counts["anchor_drifts"] == 1
    wiped = Memory(SQLiteStore(str(tmp_path / "fresh.db")))
    data = Path(result.location).read_bytes()
    maintenance.restore_export(wiped.store, data)
    assert compare_again(wiped, incident) == before
    # Restoring twice is harmless: the same keys are replaced, nothing is duplicated.
    maintenance.restore_export(wiped.store, data)
    assert len(list(wiped.feedback())) == 2
    assert compare_again(wiped, incident) == before


def test_verify_refuses_corrupt_truncated_and_tampered_files(populated):
    memory, _ = populated
    data = maintenance.build_export(memory.store, NOW)
    with pytest.raises(InputError, match="corrupt or truncated"):
        maintenance.verify_export(data[: len(data) // 2])
    document = json.loads(gzip.decompress(data))
    entry = document["collections"]["anchor_feedback"][0]
    entry["outcome"] = "confirmed" if entry["outcome"] == "false_positive" else "false_positive"
    tampered = gzip.compress(json.dumps(document).encode())
    with pytest.raises(InputError, match="does not match its manifest"):
        maintenance.verify_export(tampered)
    document["version"] = 99
    with pytest.raises(InputError, match="version 99"):
        maintenance.verify_export(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(InputError, match="not an Anchor memory export"):
        maintenance.verify_export(gzip.compress(b'{"format": "other"}'))
    target = Memory(SQLiteStore(":memory:"))
    with pytest.raises(InputError):
        maintenance.restore_export(target.store, tampered)
    assert list(target.store.scan("anchor_drifts")) == []


class FailingStore:
    """A store whose reads fail part-way, as a KV Store might mid-export."""

    def __init__(self, inner, fail_on):
        self.inner, self.fail_on = inner, fail_on

    def scan(self, collection, query=None):
        if collection == self.fail_on:
            raise StoreError("KV Store answered 503 while reading " + collection)
        return self.inner.scan(collection, query)


def test_a_store_error_mid_export_writes_nothing(populated, tmp_path):
    memory, _ = populated
    destination = maintenance.LocalDestination(str(tmp_path / "out"))
    with pytest.raises(StoreError):
        maintenance.export(FailingStore(memory.store, "anchor_feedback"), destination, now=NOW)
    assert destination.names() == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_an_unwritable_destination_fails_clearly_and_leaves_no_partial_file(populated, tmp_path):
    memory, _ = populated
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the export directory should be")
    with pytest.raises(maintenance.MaintenanceError, match="cannot write"):
        maintenance.export(memory.store, maintenance.LocalDestination(str(blocker)), now=NOW)


def test_disk_full_leaves_no_file_that_looks_valid(populated, tmp_path, monkeypatch):
    memory, _ = populated
    destination = maintenance.LocalDestination(str(tmp_path / "out"))

    real_fsync = os.fsync

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(maintenance.MaintenanceError, match="No space left"):
        maintenance.export(memory.store, destination, now=NOW)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert destination.names() == []
    assert list((tmp_path / "out" / "anchor-memory").iterdir()) == []


def test_retention_prunes_only_our_old_exports(populated, tmp_path):
    memory, _ = populated
    folder = tmp_path / "out"
    destination = maintenance.LocalDestination(str(folder))
    for days_ago in (40, 35, 20):
        maintenance.export(memory.store, destination, now=NOW - days_ago * DAY)
    (folder / "anchor-memory" / "notes.txt").write_text("someone else's file")
    (folder / "anchor-memory" / "anchor-memory-manual.json.gz").write_bytes(b"x")
    result = maintenance.export(memory.store, destination, now=NOW, retention_days=30)
    assert len(result.pruned) == 2
    assert destination.names() == [
        maintenance.export_name(NOW - 20 * DAY),
        maintenance.export_name(NOW),
    ]
    assert (folder / "anchor-memory" / "notes.txt").exists()
    assert (folder / "anchor-memory" / "anchor-memory-manual.json.gz").exists()


def test_decay_refreshes_old_rows_skips_recent_ones_and_is_idempotent(populated):
    memory, _ = populated
    later = NOW + 40 * DAY
    first = maintenance.decay(memory, later)
    assert len(first.updated) == 2
    view = {row["signal_id"]: row for row in memory.store.scan("anchor_weights")}
    derived = memory.weights(later)
    for signal_id, row in view.items():
        assert row["weight"] == pytest.approx(derived[signal_id].weight, abs=1e-6)
        assert row["updated"] == later
    second = maintenance.decay(memory, later + 60)
    assert second.updated == [] and second.skipped_recent == 2
    assert {r["_key"]: r for r in memory.store.scan("anchor_weights")} == {
        r["_key"]: r for r in view.values()
    }


def test_decay_dry_run_writes_nothing_and_legacy_rows_are_reported(populated):
    memory, _ = populated
    memory.store.put_many(
        "anchor_weights", [{"_key": "legacy", "signal_id": "volume:up:old", "weight": 1.7}]
    )
    before = sorted(json.dumps(r, sort_keys=True) for r in memory.store.scan("anchor_weights"))
    report = maintenance.decay(memory, NOW + 40 * DAY, dry_run=True)
    assert report.legacy_without_time == ["volume:up:old"]
    assert "legacy row(s) without a timestamp" in report.summary()
    assert (
        sorted(json.dumps(r, sort_keys=True) for r in memory.store.scan("anchor_weights")) == before
    )


def test_compaction_removes_only_entries_that_no_longer_count(populated):
    memory, _ = populated
    drift = next(memory.drifts())
    signal = drift["signals"][0]["signal_id"]
    # alice changes her mind: her earlier entry is superseded.
    memory.record_feedback(drift["drift_id"], signal, "false_positive", user="alice", now=NOW - 1)
    weights_before = {k: v.weight for k, v in memory.weights(NOW).items()}
    assert maintenance.compact(memory, NOW, dry_run=True) == 1
    assert maintenance.compact(memory, NOW) == 1
    assert len(list(memory.feedback())) == 2
    assert {k: v.weight for k, v in memory.weights(NOW).items()} == pytest.approx(weights_before)
    # Four hundred days on, every contribution is negligible and may go.
    assert maintenance.compact(memory, NOW + 400 * DAY) == 2


def test_cli_maintenance_contract(tmp_path, demo_files):
    db = tmp_path / "cli.db"
    assert run_cli("capture", "healthy", "--input", str(demo_files["calm"]), db=db).returncode == 0
    exported = run_cli("maintenance", "export", "--dest", str(tmp_path / "exports"), db=db)
    assert exported.returncode == 0, exported.stderr
    path = exported.stdout.strip().splitlines()[-1]
    assert path.endswith(".json.gz") and os.path.exists(path)
    assert run_cli("maintenance", "verify", path).stdout.startswith("verified ")
    restored = run_cli("maintenance", "restore", path, db=tmp_path / "other.db")
    assert restored.returncode == 0 and "anchor_anchors=2" in restored.stdout
    assert "healthy" in run_cli("list", db=tmp_path / "other.db").stdout
    assert run_cli("maintenance", "decay", "--dry-run", db=db).returncode == 0
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(Path(path).read_bytes()[:50])
    result = run_cli("maintenance", "restore", str(broken), db=tmp_path / "third.db")
    assert result.returncode == 2 and "corrupt or truncated" in result.stderr
    assert not (tmp_path / "third.db").exists()


def test_one_dispatch_drift_retention_reads_the_same_from_cli_command_and_input(tmp_path):
    """Retention is one step of ``maintenance.run_step``: the CLI, ``anchormaintenance``
    and the nightly input all run it and report it in the same words."""
    import subprocess
    import sys
    import time as clock

    from chunked import run_command

    now = clock.time()

    def seeded(name):
        db = tmp_path / f"{name}.db"
        memory = Memory(SQLiteStore(str(db)))
        memory.store.put_many(
            "anchor_drifts",
            [
                {
                    "_key": f"d{age}",
                    "drift_id": f"d{age}",
                    "anchor": "a",
                    "created": now - age * DAY,
                }
                for age in (1, 10, 100, 200)
            ],
        )
        return db, memory

    db, memory = seeded("cli")
    cli = run_cli("maintenance", "retention", db=db)
    assert cli.returncode == 0, cli.stderr
    assert sorted(d["_key"] for d in memory.drifts()) == ["d1", "d10"]

    db, memory = seeded("command")
    env = {"ANCHOR_STORE": f"sqlite:{db}", "PYTHONPATH": "", "SPLUNK_HOME": str(tmp_path)}
    [row] = run_command("anchormaintenance", ["action=retention"], [], env=env).records
    assert sorted(d["_key"] for d in memory.drifts()) == ["d1", "d10"]

    db, memory = seeded("input")
    env["ANCHOR_STORE"] = f"sqlite:{db}"
    config = (
        "<input><server_uri>https://127.0.0.1:8089</server_uri><session_key>k</session_key><configuration>"
        '<stanza name="anchor_maintenance://nightly"><param name="destination">local</param>'
        '<param name="actions">retention</param></stanza></configuration></input>'
    )
    script = Path(__file__).resolve().parent.parent / "bin" / "anchor_maintenance.py"
    result = subprocess.run(
        [sys.executable, str(script)],
        input=config,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert sorted(d["_key"] for d in memory.drifts()) == ["d1", "d10"]

    expected = "retention: 2 drift(s) older than 90 days and 0 beyond the newest 100000 removed"
    assert cli.stdout.strip() == row["detail"] == expected
    assert (
        json.loads(result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1])[
            "retention"
        ]
        == expected
    )
