"""A silent source must alert: a window with no events is data, not an error.

Through the real bin/anchorcompare.py over the chunked protocol with zero
records (what splunkd sends when the search found nothing), then the real
alert action on the rows the saved search keeps; and the offline CLI, where
an empty input file is refused with its own exit status instead.
"""

from __future__ import annotations

import configparser

import pytest
from chunked import run_command
from conftest import DAY, ROOT, T0, copy_memory, run_cli, splunk_events
from test_alert_action import alert, compared, write_results  # noqa: F401 (fixtures)

from anchor import operations
from anchor.errors import InputError
from anchor.fingerprint import Fingerprint
from anchor.memory import Memory
from anchor.store import SQLiteStore

SOURCETYPES = ["auth", "checkout", "inventory", "payments"]
WINDOW = {
    "earliest_time": f"{T0 + 3 * DAY + 10 * 3600:.0f}",
    "latest_time": f"{T0 + 3 * DAY + 12 * 3600:.0f}",
}


def threshold() -> float:
    macros = configparser.RawConfigParser()
    macros.read(ROOT / "default" / "macros.conf")
    return float(macros["anchor_alert_threshold"]["definition"])


@pytest.fixture(scope="module")
def silent(demo_files, tmp_path_factory):
    db = tmp_path_factory.mktemp("silent") / "memory.db"
    env = {"ANCHOR_STORE": f"sqlite:{db}"}
    healthy = splunk_events(demo_files["healthy"], limit=20000)
    assert run_command("anchorcapture", ["name=healthy"], healthy, env=env).records
    result = run_command(
        "anchorcompare", ["anchor=healthy"], [], env=env, searchinfo_overrides=WINDOW
    )
    return db, result


def test_an_empty_window_reports_every_sourcetype_gone_quiet(silent):
    db, result = silent
    assert result.returncode == 0 and not [m for m in result.messages if m[0] == "ERROR"], (
        result.messages
    )
    gone = {r["sourcetype"]: r for r in result.records if r["signal_id"].startswith("volume:")}
    assert sorted(gone) == SOURCETYPES
    for row in gone.values():
        assert (row["kind"], row["change"], row["severity"]) == ("volume", "disappeared", "HIGH")
        assert float(row["current"]) == 0.0 and float(row["score"]) >= threshold()
    first = result.records[0]
    assert "everything went quiet" in first["summary"]
    drift = Memory(SQLiteStore(str(db))).drift(first["drift_id"])
    assert drift["events"] == 0 and drift["top_severity"] == "HIGH"


def test_the_scheduled_alert_fires_on_a_silent_source(silent, alert):  # noqa: F811
    _, result = silent
    fire, _, hook, dispatch, _, _ = alert
    # What "Anchor - compare every 15 minutes" keeps: | where score >= `anchor_alert_threshold`
    kept = [r for r in result.records if float(r["score"]) >= threshold()]
    assert len(kept) == len(SOURCETYPES)
    results = write_results(dispatch, kept)
    process = fire(payload=None, configuration={"webhook_format": "slack", "max_signals": "5"})
    assert process.returncode == 0 and "delivery=delivered" in process.stderr, process.stderr
    assert results.exists()
    [request] = hook.requests
    text = str(request["body"])
    assert all(f"volume:disappeared:{name}" in text for name in SOURCETYPES)


def test_an_empty_window_without_a_time_range_is_a_clear_error(demo_fingerprints):
    baseline, _ = demo_fingerprints
    memory = Memory(SQLiteStore(":memory:"))
    operations.capture(memory, "base", Fingerprint().merge(baseline), user="u", now=T0)
    with pytest.raises(InputError, match="give the search a time range"):
        operations.compare(memory, "base", Fingerprint(), user="u", now=T0)


def test_offline_an_empty_file_is_refused_with_its_own_exit_status(healthy_anchor, tmp_path):
    db = copy_memory(healthy_anchor, tmp_path / "memory.db")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run_cli("compare", "healthy", "--input", str(empty), "--json", db=db)
    assert result.returncode == 4 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no events read" in result.stderr
    assert list(Memory(SQLiteStore(str(db))).drifts()) == []
