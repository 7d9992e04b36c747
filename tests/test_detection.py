"""What the diff sees beyond templates: new rare errors, category fields, one bad host, builds."""

from __future__ import annotations

import json
import math
import random

import pytest
from conftest import T0, run_cli

from anchor.diff import NEW_ERROR_ALPHA, compare_fingerprints
from anchor.errors import InputError
from anchor.events import event_from_record, field_choice, is_identifier
from anchor.fingerprint import fingerprint_events
from anchor.narrate import describe, drill_in_spl
from anchor.rank import rank_signals
from anchor.splguard import check_spl

MESSAGES = ["GET /api/cart done", "GET /api/items done", "POST /api/order done"]


def window(seed, start, *, events=4000, status_500=0.005, slow_host=None, slow=1.0, build=8812):
    """Two hours of a web service on eight hosts: status, latency, region and a build number."""
    rng = random.Random(seed)
    out = []
    for i in range(events):
        host = f"web-{rng.randrange(8)}"
        scale = slow if host == slow_host or slow_host == "*" else 1.0
        status = 500 if rng.random() < status_500 else rng.choice([200] * 30 + [404])
        out.append(
            {
                "time": start + i * 7200 / events,
                "host": host,
                "sourcetype": "web",
                "level": "INFO",
                "message": rng.choice(MESSAGES),
                "status": status,
                "latency_ms": round(rng.lognormvariate(math.log(80), 0.4) * scale, 1),
                "build": build,
                "region": rng.choice(["eu", "us"]),
            }
        )
    return out


def lines(text, count, start, level="FATAL", seed=0):
    rng = random.Random(seed)
    return [
        {
            "time": start + rng.random() * 7200,
            "host": "web-1",
            "sourcetype": "web",
            "level": level,
            "message": text,
            "latency_ms": 80.0,
        }
        for _ in range(count)
    ]


def ranked(anchor_records, current_records):
    anchor = fingerprint_events(event_from_record(r) for r in anchor_records).trim()
    current = fingerprint_events(event_from_record(r) for r in current_records)
    comparison = compare_fingerprints(anchor, current)
    return rank_signals(comparison.signals, {}), comparison


ANCHOR = window(1, T0)
LATER = T0 + 86400


def test_unchanged_windows_give_nothing():
    signals, _ = ranked(ANCHOR, window(2, LATER))
    assert signals == []


def test_a_status_code_share_shift_with_unchanged_messages_is_one_field_signal():
    signals, _ = ranked(ANCHOR, window(2, LATER, status_500=0.08))
    assert [s.signal_id for s in signals] == ["field:up:web:status=500"]
    [signal] = signals
    assert signal.kind == "field" and signal.field == "status" and signal.severity == "HIGH"
    assert signal.baseline < 1.0 and 6.0 < signal.current < 10.0
    assert "status=500 went up in web" in describe(signal)
    assert check_spl(drill_in_spl(signal)).allowed


def test_one_slow_host_among_eight_is_named_and_the_fleet_row_is_folded_into_it():
    signals, _ = ranked(ANCHOR, window(2, LATER, slow_host="web-3", slow=3.0))
    assert signals and {s.host for s in signals} == {"web-3"}
    lead = signals[0]
    assert lead.kind == "metric" and lead.field == "latency_ms" and lead.severity == "HIGH"
    assert lead.current > 2.0 * lead.baseline
    assert not [s for s in signals if s.kind == "metric" and s.host is None]
    assert "on host web-3" in describe(lead)
    spl = drill_in_spl(lead)
    assert 'host="web-3"' in spl and check_spl(spl).allowed


def test_a_fleet_wide_slowdown_stays_one_sourcetype_level_finding():
    signals, _ = ranked(ANCHOR, window(2, LATER, slow_host="*", slow=3.0))
    metric_rows = [s for s in signals if s.kind == "metric"]
    assert metric_rows and all(s.host is None for s in metric_rows)


def test_a_build_bump_is_not_a_metric_or_field_change():
    signals, _ = ranked(ANCHOR, window(2, LATER, build=8813))
    assert signals == []
    # build is not even summarized; an unnamed constant number that changes is skipped too
    records = [dict(r, rel=r.pop("build")) for r in window(2, LATER, build=20240611)]
    anchor = [dict(r, rel=r.pop("build")) for r in window(1, T0, build=20240501)]
    signals, _ = ranked(anchor, records)
    assert signals == []


def test_a_field_whose_every_value_changed_is_a_note_not_a_signal():
    anchor = [dict(r, image="web:r41") for r in ANCHOR]
    current = [dict(r, image="web:r42") for r in window(2, LATER)]
    signals, comparison = ranked(anchor, current)
    assert signals == []
    assert any("field image not compared" in note for note in comparison.notes)


@pytest.mark.parametrize("count", [5, 8])
def test_five_new_fatal_lines_against_an_equal_anchor_surface_first(count):
    current = window(2, LATER) + lines("Kernel panic: cannot mount root fs", count, LATER)
    signals, _ = ranked(ANCHOR, current)
    assert signals, "the new FATAL message was not reported"
    lead = signals[0]
    assert lead.kind == "template" and lead.change == "appeared"
    assert "Kernel panic" in lead.template
    assert lead.q_value < NEW_ERROR_ALPHA and lead.p_value == pytest.approx(0.5**count, rel=0.1)


def test_more_lines_and_error_level_rank_a_new_error_higher():
    current = (
        window(2, LATER)
        + lines("disk controller reset on bus 3", 6, LATER, level="ERROR", seed=1)
        + lines("Kernel panic: cannot mount root fs", 30, LATER, seed=2)
        + lines("retry failed for upstream call", 6, LATER, level="INFO", seed=3)
    )
    signals, _ = ranked(ANCHOR, current)
    order = [s.template for s in signals if s.kind == "template"]
    assert order[0].startswith("Kernel panic")
    assert order.index("disk controller reset on bus <NUM>") < order.index(
        "retry failed for upstream call"
    )


def test_new_info_noise_does_not_flood_the_list():
    noise = []
    for k in range(40):
        word = "".join(chr(97 + int(d)) for d in f"{k:03d}")
        noise += lines(f"cache shard {word} warmed", 5, LATER, level="INFO", seed=k)
    signals, _ = ranked(ANCHOR, window(2, LATER) + noise)
    # The template merge stage makes the 40 shapes one new message (200 lines):
    # at most that one row (a new message of 200 lines is a change), never one per word.
    assert len(signals) <= 1
    assert all(s.template == "cache shard <VAR> warmed" for s in signals)


def test_four_new_fatal_lines_at_equal_windows_cannot_reach_the_level_and_are_not_reported():
    current = window(2, LATER) + lines("Kernel panic: cannot mount root fs", 4, LATER)
    signals, _ = ranked(ANCHOR, current)
    assert signals == []


@pytest.mark.parametrize(
    "name, identifier",
    [
        ("request_id", True),
        ("requestId", True),
        ("build", True),
        ("version", True),
        ("dest_port", True),
        ("bytes_total", True),
        ("paid", False),
        ("status", False),
        ("latency_ms", False),
        ("valid", False),
    ],
)
def test_identifier_like_names(name, identifier):
    assert is_identifier(name) == identifier


def test_named_and_excluded_fields():
    record = {"message": "m", "shard": 3, "tier": "gold", "latency_ms": 5, "status": 200}
    default = event_from_record(record)
    assert default.values == {"tier": "gold", "status": "200"} and "shard" in default.metrics
    chosen = event_from_record(record, fields=field_choice(["shard"], ["tier", "latency_ms"]))
    assert chosen.values == {"shard": "3", "status": "200"} and chosen.metrics == {}
    with pytest.raises(InputError, match="both named and excluded"):
        field_choice(["tier"], ["tier"])


def test_cli_field_options_reach_the_fingerprint(tmp_path):
    anchor, current = tmp_path / "a.jsonl", tmp_path / "c.jsonl"
    for path, records in ((anchor, ANCHOR), (current, window(2, LATER, status_500=0.08))):
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = str(tmp_path / "m.db")
    done = run_cli("--db", db, "capture", "a", "--input", str(anchor), "--exclude-field", "status")
    assert done.returncode == 0, done.stderr
    result = run_cli(
        "--db", db, "compare", "a", "--input", str(current), "--json", "--exclude-field", "status"
    )
    assert result.returncode == 0, result.stderr
    assert not [s for s in json.loads(result.stdout)["signals"] if s["kind"] == "field"]
    run_cli("--db", db, "capture", "b", "--input", str(anchor))
    result = run_cli("--db", db, "compare", "b", "--input", str(current), "--json")
    assert [s["signal_id"] for s in json.loads(result.stdout)["signals"]] == [
        "field:up:web:status=500"
    ]
    bad = run_cli(
        "--db", db, "capture", "c", "--input", str(anchor), "--field", "x", "--exclude-field", "x"
    )
    assert bad.returncode != 0 and "both named and excluded" in bad.stderr


def _rate(signal_id, kind, change, base, cur, **extra):
    from anchor.diff import Signal

    return Signal(
        signal_id=signal_id,
        kind=kind,
        change=change,
        sourcetype="inventory",
        severity="MEDIUM",
        baseline=base,
        current=cur,
        p_value=1e-6,
        effect=1.5,
        stat="events_per_hour",
        **extra,
    )


def test_a_burst_from_one_pod_is_one_finding_with_the_volume_rise():
    from anchor.findings import group_signals

    volume = _rate("volume:up:inventory", "volume", "up", 100.0, 300.0)
    pod = _rate("host:up:inventory:pod-a", "host", "up", 33.0, 230.0, host="pod-a")
    other = _rate("host:up:inventory:pod-b", "host", "up", 10.0, 80.0, host="pod-b")
    findings = group_signals([volume, pod, other], {})
    by_id = {f.signal_id: {e.signal_id for e in f.evidence} for f in findings}
    # pod-a logged most of the added events: folded; pod-b's smaller rise is its own row
    assert by_id["volume:up:inventory"] == {"volume:up:inventory", "host:up:inventory:pod-a"}
    assert "host:up:inventory:pod-b" in by_id


def test_the_split_field_and_window_bounds_are_neither_categories_nor_metrics():
    from anchor.splunk.rows import split_fingerprints

    records = [
        {
            "_time": str(T0 + i),
            "host": "h",
            "sourcetype": "web",
            "_raw": "GET / done",
            "anchor_window": "before" if i % 2 else "after",
            "anchor_earliest": str(T0),
            "anchor_latest": str(T0 + 100),
            "status": "200",
            "latency_ms": "12",
        }
        for i in range(40)
    ]
    sides = split_fingerprints(records, None, "anchor_window", "before")
    for side in sides.values():
        summary = side.sourcetypes["web"]
        assert set(summary.fields) == {"status"}
        assert set(summary.metrics) == {"latency_ms"}


def test_server_errors_spread_over_several_codes_are_one_move_of_their_class():
    rng = random.Random(8)
    current = window(2, LATER, status_500=0.0)
    for record in current:
        if rng.random() < 0.03:
            record["status"] = rng.choice([500, 502, 503, 504])
    signals, _ = ranked(ANCHOR, current)
    assert [s.signal_id for s in signals] == ["field:up:web:status=5xx"]
