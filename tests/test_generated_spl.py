"""Every query Anchor writes from log-derived names stays one harmless query.

Hostile names (a JSON key that closes a parenthesis and pipes into ``collect``, a
sourcetype and a host that close their quotes) go through capture and compare, in the CLI
and in the Splunk commands over the chunked protocol; every emitted query must pass the
guard and contain no command but the ones Anchor writes.
"""

from __future__ import annotations

import json
import random

import pytest
from chunked import run_command, run_distributed
from conftest import T0, run_cli

from anchor.splguard import check_spl, spl_field, spl_string

HOSTILE_METRIC = "a) | collect index=main | eval b=(1"
HOSTILE_SOURCETYPE = 'web" | delete | eval x="'
HOSTILE_HOST = 'h\\" | collect index=x | eval y=\\"'
WRITTEN_COMMANDS = {"search", "timechart", "rename"}


def hostile_events(start: float, hours: int, *, incident: bool, seed: int) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for n in range(hours * 400):
        slow = incident and n % 2 == 0
        record = {
            "_time": start + n * 9.0,
            "sourcetype": HOSTILE_SOURCETYPE,
            "host": HOSTILE_HOST if incident and n % 3 == 0 else f"web-{n % 4}",
            HOSTILE_METRIC: rng.gauss(900 if slow else 100, 10),
            "_raw": "request served user=alice"
            if not incident or n % 5
            else 'ERROR TimeoutError in `sh` "```" | collect index=main backend=db',
        }
        if incident and n % 5 == 0:
            record["level"] = "ERROR"
        events.append(record)
    return events


def assert_written_safely(query):
    verdict = check_spl(query)
    assert verdict.allowed, (query, verdict.reason)
    assert set(verdict.commands) <= WRITTEN_COMMANDS, (query, verdict.commands)


@pytest.fixture(scope="module")
def windows():
    return hostile_events(T0, 24, incident=False, seed=1), hostile_events(
        T0 + 86400 + 3600, 2, incident=True, seed=2
    )


def test_the_quoting_helpers_keep_hostile_text_one_value():
    assert spl_field(HOSTILE_METRIC) is None and spl_field("latency_ms") == "latency_ms"
    assert spl_field("latency_ms\n") is None
    for text in (HOSTILE_SOURCETYPE, HOSTILE_HOST, "a\\", "`macro`", "x\x1by", '"'):
        quoted = spl_string(text)
        verdict = check_spl(f"sourcetype={quoted} | stats count")
        assert verdict.allowed and verdict.commands == ["search", "stats"], (text, verdict.reason)


def test_hostile_names_through_the_cli_emit_only_guarded_queries(windows, tmp_path):
    baseline, current = (tmp_path / "b.jsonl", tmp_path / "c.jsonl")
    for path, events in ((baseline, windows[0]), (current, windows[1])):
        path.write_text("\n".join(json.dumps(e) for e in events))
    db = tmp_path / "m.db"
    assert run_cli("capture", "hostile", "--input", str(baseline), db=db).returncode == 0
    result = run_cli("compare", "hostile", "--input", str(current), "--json", "--no-llm", db=db)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    # The hostile names did become signals (a finding's lead or its evidence).
    members = [e for s in document["signals"] for e in [s, *s.get("evidence", [])]]
    kinds = {m["kind"] for m in members}
    assert {"metric", "host"} <= kinds, kinds
    assert any(m.get("field") == HOSTILE_METRIC for m in members)
    assert_written_safely(document["narrative"]["drill_in_spl"])


def test_hostile_names_through_the_commands_emit_only_guarded_queries(windows, tmp_path):
    env = {"ANCHOR_STORE": f"sqlite:{tmp_path / 'm.db'}", "PYTHONPATH": ""}
    captured = run_distributed("anchorcapture", ["name=hostile"], [windows[0]], env=env)
    assert captured.returncode == 0, captured.stderr[-800:]
    compared = run_distributed("anchorcompare", ["anchor=hostile"], [windows[1]], env=env)
    assert compared.returncode == 0 and compared.records, compared.stderr[-800:]
    assert_written_safely(compared.records[0]["drill_in_spl"])
    rows = run_command("anchorshow", ["what=drift"], [], env=env).records
    # The hostile metric is a finding's lead or in its evidence ids.
    seen = [str(r.get("field")) + " " + str(r.get("evidence")) for r in rows]
    assert any(HOSTILE_METRIC in text for text in seen), seen
    queries = [r["signal_spl"] for r in rows]
    assert len(queries) == len(rows) and all(queries)
    for query in queries:
        assert_written_safely(query)
