"""The real bin/ commands driven over the chunked protocol in subprocesses, as splunkd runs them.

The memory is SQLite through the ``ANCHOR_STORE`` developer setting; the KV
Store backend is tested separately against a fake splunkd.
"""

from __future__ import annotations

import json
import random

import pytest
from chunked import run_command, run_distributed
from conftest import T0, assert_same_fingerprint, run_cli, splunk_events

from anchor.memory import Memory
from anchor.splunk.rows import COMPARE_FIELDS
from anchor.store import SQLiteStore

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("commands")


@pytest.fixture(scope="module")
def healthy(demo_files):
    return splunk_events(demo_files["healthy"], limit=30000)


@pytest.fixture(scope="module")
def incident(demo_files):
    return splunk_events(demo_files["incident"])


def split(events, parts, seed=0):
    rng = random.Random(seed)
    buckets = [[] for _ in range(parts)]
    for event in events:
        buckets[rng.randrange(parts)].append(event)
    return buckets


def test_getinfo_declares_a_reporting_command_with_a_map_preop(command_env):
    result = run_command("anchorcapture", ["name=healthy"], None, env=command_env[0])
    assert result.returncode == 0, result.stderr
    assert result.getinfo["type"] == "reporting"
    assert result.getinfo["streaming_preop"] == 'anchorcapture phase="map" name="healthy"'


@pytest.fixture(scope="module")
def base(command_env, healthy):
    """The healthy events captured once on one indexer as anchor 'base', for the tests that
    compare against it; the feedback test, which changes its weights, runs last of them.
    """
    return run_distributed(
        "anchorcapture", ["name=base", "metrics=latency_ms"], [healthy], env=command_env[0]
    )


@pytest.fixture(scope="module")
def compared(command_env, base, incident):
    """The incident compared once with 'base' on one indexer, before any feedback: the
    tests that read this run's rows share it."""
    return run_distributed("anchorcompare", ["anchor=base"], [incident], env=command_env[0])


def test_capture_on_three_indexers_equals_the_single_node_run(command_env, healthy, base):
    environment, db = command_env
    single = base
    spread = run_distributed(
        "anchorcapture",
        ["name=spread", "metrics=latency_ms"],
        split(healthy, 3),
        env=environment,
        chunk_size=4000,
    )
    assert single.returncode == 0 and spread.returncode == 0, spread.stderr
    assert not [m for m in single.messages + spread.messages if m[0] == "ERROR"]
    [one], [three] = single.records, spread.records
    assert one["events"] == three["events"] == str(len(healthy))
    assert (
        one["sourcetypes"] == three["sourcetypes"] == ["auth", "checkout", "inventory", "payments"]
    )
    assert {k: v for k, v in one.items() if k != "anchor"} == {
        k: v for k, v in three.items() if k != "anchor"
    }
    memory = Memory(SQLiteStore(str(db)))
    first = memory.load_fingerprint(memory.anchor("base")).to_dict()
    second = memory.load_fingerprint(memory.anchor("spread")).to_dict()
    assert_same_fingerprint(first, second)


def test_category_fields_and_host_metrics_on_three_indexers_equal_the_single_node_run(
    command_env, healthy
):
    environment, db = command_env
    rng = random.Random(5)
    events = [
        {
            **event,
            "status": rng.choice(["200", "200", "200", "404", "503"]),
            "tier": rng.choice(["gold", "free"]),
            "shard": str(rng.randrange(4)),
            "user": f"u{rng.randrange(10_000)}",
            "build": "8812",
        }
        for event in healthy[:12000]
    ]
    # No metrics=: nothing is declared as required_fields, so every field is discovered
    # (with metrics= and fields= both given, splunkd would send only the named ones).
    args = ["fields=shard", "exclude_fields=tier"]
    single = run_distributed("anchorcapture", ["name=f1", *args], [events], env=environment)
    spread = run_distributed(
        "anchorcapture",
        ["name=f3", *args],
        split(events, 3, seed=4),
        env=environment,
        chunk_size=1500,
    )
    assert single.returncode == 0 and spread.returncode == 0, spread.stderr
    assert not [m for m in single.messages + spread.messages if m[0] == "ERROR"]
    memory = Memory(SQLiteStore(str(db)))
    first = memory.load_fingerprint(memory.anchor("f1")).to_dict()
    second = memory.load_fingerprint(memory.anchor("f3")).to_dict()
    payments = first["sourcetypes"]["payments"]
    # status is a code, shard was named, tier excluded, user has too many values to keep,
    # build is an identifier
    assert set(payments["fields"]) == {"status", "shard", "user"}
    assert payments["fields"]["user"]["overflow"] and not payments["fields"]["user"]["values"]
    assert {v for v, _ in payments["fields"]["status"]["values"]} == {"200", "404", "503"}
    assert {v for v, _ in payments["fields"]["shard"]["values"]} == {"0", "1", "2", "3"}
    assert payments["host_metrics"] and all(
        set(m) == {"latency_ms"} for m in payments["host_metrics"].values()
    )
    assert_same_fingerprint(first, second)


def test_compare_on_three_indexers_equals_the_single_node_run_and_the_cli(
    command_env, compared, incident
):
    environment, _db = command_env
    single = compared
    spread = run_distributed(
        "anchorcompare",
        ["anchor=base"],
        split(incident, 3, seed=9),
        env=environment,
        chunk_size=700,
    )
    assert single.returncode == 0, single.stderr
    assert single.records, single.messages
    assert single.records == spread.records
    kinds = {(r["kind"], r["change"], r["sourcetype"]) for r in single.records}
    assert ("template", "appeared", "payments") in kinds
    # The payments error rate rose with the new timeout error: it is that finding's evidence.
    payments = next(
        r for r in single.records if r["kind"] == "template" and r["sourcetype"] == "payments"
    )
    assert "error_rate:up:payments" in payments["evidence"]
    first = single.records[0]
    assert first["rank"] == "1" and first["summary"] and first["narrative_source"] == "offline"
    assert all("summary" not in r for r in single.records[1:])
    # Every chunk's header carries every field, so `| table` sees them all.
    header = single.chunks[-1][1].splitlines()[0].split(",")
    assert [h for h in header if not h.startswith("__mv_")] == list(COMPARE_FIELDS)


def test_spl_rows_match_the_cli_json(compared, healthy, incident, tmp_path):
    rows = compared.records
    healthy_file, incident_file = tmp_path / "h.jsonl", tmp_path / "i.jsonl"
    healthy_file.write_text("\n".join(json.dumps(e) for e in healthy))
    incident_file.write_text("\n".join(json.dumps(e) for e in incident))
    cli_db = tmp_path / "cli.db"
    assert (
        run_cli(
            "capture", "base", "--input", str(healthy_file), "--metric", "latency_ms", db=cli_db
        ).returncode
        == 0
    )
    document = json.loads(
        run_cli("compare", "base", "--input", str(incident_file), "--json", db=cli_db).stdout
    )
    assert [r["signal_id"] for r in rows] == [s["signal_id"] for s in document["signals"]]
    assert [r["severity"] for r in rows] == [s["severity"] for s in document["signals"]]


def test_feedback_command_records_as_the_running_user_and_reranks(command_env, compared, incident):
    environment, _db = command_env
    before = compared.records
    target = before[0]
    result = run_command(
        "anchorfeedback",
        [
            f"drift={target['drift_id']}",
            f"signal={target['signal_id']}",
            "outcome=false_positive",
            "reason=deploy noise",
        ],
        None,
        env=environment,
        searchinfo_overrides={"username": "carol"},
    )
    assert result.getinfo["type"] in ("reporting", "events", "streaming", "stateful")
    generated = run_command(
        "anchorfeedback",
        [
            f"drift={target['drift_id']}",
            f"signal={target['signal_id']}",
            "outcome=false_positive",
            "reason=deploy noise",
        ],
        [],
        env=environment,
        searchinfo_overrides={"username": "carol"},
    )
    assert generated.returncode == 0, generated.stderr
    [row] = generated.records
    assert (
        row["user"] == "carol"
        and row["outcome"] == "false_positive"
        and float(row["weight"]) == pytest.approx(0.8)
    )
    after = run_distributed("anchorcompare", ["anchor=base"], [incident], env=environment).records
    moved = next(r for r in after if r["signal_id"] == target["signal_id"])
    # Feedback decays by the second: on a loaded machine the compare runs long enough after it
    # for the sixth digit to move.
    assert int(moved["rank"]) > 1 and float(moved["weight"]) == pytest.approx(0.8, abs=1e-4)


def test_pattern_command_labels_every_event(command_env, incident):
    events = incident[:1500]
    result = run_command("anchorpattern", [], events, env=command_env[0], chunk_size=400)
    assert result.returncode == 0, result.stderr
    assert len(result.records) == len(events) == 1500
    assert all(r["anchor_pattern"] and r["anchor_template"] for r in result.records)
    timeouts = {r["anchor_pattern"] for r in result.records if "PaymentGatewayTimeout" in r["_raw"]}
    assert len(timeouts) == 1
    assert result.records[0]["host"] == incident[0]["host"]
    tagged = next(r for r in result.records if r["sourcetype"] == "payments")
    assert tagged["tag"] == ["prod", "payments"]


def test_tstats_rows_weighted_by_count(command_env):
    rows = [
        {"_time": str(T0 + h * 3600), "sourcetype": "web", "host": f"web-{h % 3}", "count": "120"}
        for h in range(48)
    ]
    result = run_distributed(
        "anchorcapture", ["name=tstats_hourly"], [rows[:20], rows[20:]], env=command_env[0]
    )
    assert result.records[0]["events"] == str(48 * 120)


@pytest.mark.parametrize(
    "script, args, distributed, message",
    [
        ("anchorcompare", ["anchor=missing"], True, "unknown anchor 'missing'"),
        ("anchorcapture", ["name=bad|name"], True, "invalid anchor name"),
        ("anchorcompare", ["anchor=base", "alpha=3"], False, "Illegal value: alpha=3"),
        (
            "anchorcapture",
            ["name=x", "fields=status,tier", "exclude_fields=tier"],
            False,
            "field 'tier' is both named and excluded",
        ),
        ("anchorcompare", [], False, "anchorcompare needs anchor=<name>"),
        (
            "anchorfeedback",
            ["drift=nope", "signal=x", "outcome=confirmed"],
            False,
            "unknown drift 'nope'",
        ),
        (
            "anchorfeedback",
            ["drift=nope", "signal=x", "outcome=maybe"],
            False,
            "Illegal value: outcome=maybe",
        ),
    ],
)
def test_errors_are_one_clear_search_message_without_traceback(
    command_env, incident, script, args, distributed, message
):
    events = [] if script == "anchorfeedback" else incident[:200]
    if distributed:
        result = run_distributed(script, args, [events], env=command_env[0])
    else:
        result = run_command(script, args, events, env=command_env[0])
    errors = [text for level, text in result.messages if level == "ERROR"]
    assert any(message in text for text in errors), (result.messages, result.stderr[-1000:])
    assert not any("Traceback" in text or '.py", line' in text for text in errors)
    assert not result.records


def test_failed_capture_writes_nothing(command_env):
    environment, db = command_env
    before = sorted(d["_key"] for d in Memory(SQLiteStore(str(db))).store.scan("anchor_anchors"))
    result = run_distributed("anchorcapture", ["name=empty"], [[]], env=environment)
    assert any("no events to capture" in text for _, text in result.messages)
    after = sorted(d["_key"] for d in Memory(SQLiteStore(str(db))).store.scan("anchor_anchors"))
    assert before == after


def test_maintenance_command_exports_verifies_and_restores(command_env, tmp_path):
    environment = {**command_env[0], "SPLUNK_HOME": str(tmp_path / "splunk")}
    exported = run_command("anchormaintenance", ["action=export"], [], env=environment)
    assert not [m for m in exported.messages if m[0] == "ERROR"], exported.messages
    [row] = exported.records
    assert row["status"] == "ok" and row["file"].startswith("anchor-memory/")
    verified = run_command(
        "anchormaintenance", ["action=verify", f"file={row['file']}"], [], env=environment
    )
    assert verified.records[0]["detail"].startswith("verified anchor_anchors=")
    restored = run_command(
        "anchormaintenance", ["action=restore", f"file={row['file']}"], [], env=environment
    )
    assert restored.records[0]["detail"].startswith("restored")
    missing = run_command("anchormaintenance", ["action=restore"], [], env=environment)
    assert any("needs file=" in text for _, text in missing.messages)
    decayed = run_command(
        "anchormaintenance", ["action=decay", "dry_run=true"], [], env=environment
    )
    assert "dry run" in decayed.records[0]["detail"]
