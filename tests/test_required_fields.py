"""getinfo's ``required_fields``: splunkd sends a command only the fields it declares.

The real bin/ commands answer getinfo over the chunked protocol; the emulator
(tools/chunked.py) then sends only the declared fields, as splunkd does, so a
field the engine reads but the command forgot to declare shows up here as a
changed result.
"""

from __future__ import annotations

import pytest
from chunked import preop_args, project, run_command, run_distributed, widen
from conftest import splunk_events
from test_commands import split

from anchor.memory import Memory
from anchor.store import SQLiteStore

BASE = ["host", "source", "sourcetype", "_time", "_raw", "message", "level", "count"]


@pytest.fixture(scope="module")
def incident(demo_files):
    return splunk_events(demo_files["incident"], limit=4000)


def _declared(script, args, env):
    """required_fields of the reduce invocation and of the map phase it asks for."""
    reduce = run_command(script, args, None, env=env)
    assert reduce.returncode == 0, reduce.stderr
    mapped = run_command(script, preop_args(reduce.getinfo, script), None, env=env)
    assert mapped.returncode == 0, mapped.stderr
    return reduce.getinfo.get("required_fields"), mapped.getinfo.get("required_fields")


def test_capture_declares_the_event_fields_and_the_named_metrics(command_env):
    environment, _db = command_env
    reduce, mapped = _declared(
        "anchorcapture", ["name=x", "metrics=latency_ms,bytes", "fields=status"], environment
    )
    assert reduce == mapped
    for name in (*BASE, "latency_ms", "bytes", "status", "anchor_partial"):
        assert name in reduce
    assert "*" not in reduce and "punct" not in reduce and "date_hour" not in reduce


def test_split_compare_declares_the_split_field_and_the_window_bounds(command_env):
    environment, _db = command_env
    args = ["split=anchor_window", "baseline=before", "metrics=latency_ms", "fields=status"]
    reduce, mapped = _declared("anchorcompare", args, environment)
    assert reduce == mapped
    for name in (
        *BASE,
        "latency_ms",
        "anchor_window",
        "anchor_earliest",
        "anchor_latest",
        "anchor_partial",
        "anchor_side",
    ):
        assert name in reduce
    plain, _ = _declared(
        "anchorcompare", ["anchor=x", "metrics=latency_ms", "fields=status"], environment
    )
    assert "anchor_window" not in plain and "anchor_earliest" not in plain


def test_without_metrics_every_field_is_asked_for(command_env):
    """Metrics are discovered among all numeric fields: none may be left out."""
    environment, _db = command_env
    for script, args in (("anchorcapture", ["name=x"]), ("anchorcompare", ["anchor=x"])):
        reduce, mapped = _declared(script, args, environment)
        assert reduce is None and mapped is None
    # Category fields (status, code, ...) are discovered too unless fields= names them.
    reduce, mapped = _declared("anchorcapture", ["name=x", "metrics=latency_ms"], environment)
    assert reduce is None and mapped is None


def test_the_emulator_sends_only_the_declared_fields():
    records = [{"_raw": "a", "host": "h", "extra": "1"}]
    assert project(records, ["_raw", "host"]) == [{"_raw": "a", "host": "h"}]
    assert project(records, None) == records and project(records, ["*"]) == records


def test_wide_events_give_the_same_anchor_as_narrow_ones(command_env, incident):
    """60 fields per event, of which splunkd sends only the declared ones."""
    environment, db = command_env
    wide = widen(incident, 60)
    assert len(wide[0]) == 60 and len(incident[0]) < 20
    args = ["metrics=latency_ms", "fields=status"]
    narrow_run = run_distributed(
        "anchorcapture", ["name=narrow", *args], split(incident, 2), env=environment
    )
    wide_run = run_distributed(
        "anchorcapture", ["name=wide", *args], split(wide, 2), env=environment
    )
    assert narrow_run.returncode == 0 and wide_run.returncode == 0, wide_run.stderr
    memory = Memory(SQLiteStore(str(db)))
    narrow_fp = memory.load_fingerprint(memory.anchor("narrow")).to_dict()
    wide_fp = memory.load_fingerprint(memory.anchor("wide")).to_dict()
    assert narrow_fp == wide_fp
    assert narrow_fp["sourcetypes"]["payments"]["metrics"].keys() == {"latency_ms"}


def test_without_metrics_a_numeric_extraction_is_still_discovered(command_env, incident):
    environment, db = command_env
    wide = widen(incident[:1500], 60)
    result = run_distributed("anchorcapture", ["name=discovered"], [wide], env=environment)
    assert result.returncode == 0, result.stderr
    memory = Memory(SQLiteStore(str(db)))
    fingerprint = memory.load_fingerprint(memory.anchor("discovered")).to_dict()
    metrics = set(fingerprint["sourcetypes"]["payments"]["metrics"])
    assert "latency_ms" in metrics and any(m.startswith("extracted_") for m in metrics)
