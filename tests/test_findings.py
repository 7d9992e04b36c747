"""Findings: the grouping rules of anchor.findings, coverage, format sniffing, feedback on evidence."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, run_cli_process

from anchor.diff import Signal
from anchor.events import read_events, sniff_format
from anchor.findings import group_signals


def sig(signal_id: str, kind: str, change: str, sourcetype: str, severity="MEDIUM", **extra):
    values = {"baseline": 10.0, "current": 20.0, "p_value": 1e-6, "effect": 1.5, "q_value": 1e-5}
    values.update(extra)
    return Signal(
        signal_id=signal_id,
        kind=kind,
        change=change,
        sourcetype=sourcetype,
        severity=severity,
        **values,
    )


def metric(sourcetype: str, stat: str, base: float, cur: float, severity="MEDIUM"):
    change = "up" if cur > base else "down"
    return sig(
        f"metric:{change}:{sourcetype}:latency_ms:{stat}",
        "metric",
        change,
        sourcetype,
        severity,
        baseline=base,
        current=cur,
        field="latency_ms",
        stat=stat,
    )


def rate(kind: str, change: str, sourcetype: str, severity: str, base: float, cur: float):
    """A volume (events per hour) or error rate (percent) signal of a whole sourcetype."""
    stat = "error_pct" if kind == "error_rate" else "events_per_hour"
    return sig(
        f"{kind}:{change}:{sourcetype}",
        kind,
        change,
        sourcetype,
        severity,
        baseline=base,
        current=cur,
        stat=stat,
    )


def host(sourcetype: str, name: str, change: str, severity="HIGH"):
    return sig(
        f"host:{change}:{sourcetype}:{name}",
        "host",
        change,
        sourcetype,
        severity,
        host=name,
        stat="events_per_hour",
        baseline=0.0 if change == "appeared" else 50.0,
        current=0.0 if change == "disappeared" else 50.0,
    )


def members(finding: Signal) -> set[str]:
    return {e.signal_id for e in finding.evidence}


def test_quantiles_of_one_metric_are_one_finding_led_by_the_strongest():
    found = group_signals(
        [
            metric("db", "p50", 8, 30, "HIGH"),
            metric("db", "p95", 20, 60),
            metric("db", "p99", 40, 90),
        ],
        {},
    )
    assert len(found) == 1
    assert found[0].stat == "p50" and found[0].severity == "HIGH"
    assert len(found[0].evidence) == 3
    assert found[0].evidence[0].signal_id == found[0].signal_id


def test_a_silent_host_is_one_finding_across_its_sourcetypes():
    found = group_signals(
        [
            host("web:access", "web-03", "disappeared"),
            host("web:app", "web-03", "disappeared"),
            host("web:app", "web-01", "up", "LOW"),
        ],
        {},
    )
    assert len(found) == 2
    assert members(found[0]) == {
        "host:disappeared:web:access:web-03",
        "host:disappeared:web:app:web-03",
    }


def test_a_fleet_rollover_is_one_finding_at_most_medium():
    signals = []
    for service in ("checkout", "auth"):
        signals += [host(service, f"{service}-old-{n}", "disappeared") for n in range(3)]
        signals += [host(service, f"{service}-new-{n}", "appeared", "MEDIUM") for n in range(3)]
    found = group_signals(signals, {})
    assert len(found) == 1
    assert found[0].severity == "MEDIUM" and found[0].change == "shifted"
    assert found[0].baseline == 6 and found[0].current == 6
    assert len(found[0].evidence) == 13  # the rollover itself and the 12 hosts


def test_hosts_gone_while_the_sourcetype_fell_are_not_a_rollover():
    signals = [
        host("checkout", "checkout-old-1", "disappeared"),
        host("checkout", "checkout-new-1", "appeared", "MEDIUM"),
        rate("volume", "down", "checkout", "HIGH", 100.0, 20.0),
    ]
    found = group_signals(signals, {})
    assert all(f.stat != "hosts_replaced" for f in found)
    assert any(f.host == "checkout-old-1" and f.severity == "HIGH" for f in found)


def test_a_fleet_wide_creep_is_one_finding_but_a_clearly_larger_rise_stays_apart():
    """Folding must never hide a distinct cause: db tripled while the fleet crept by half."""
    signals = [metric(st, "p50", 100, 150) for st in ("web", "checkout", "auth", "payments")]
    signals += [metric("db", "p50", 8, 26, "HIGH"), metric("db", "p95", 20, 70, "HIGH")]
    found = group_signals(signals, {})
    assert len(found) == 2
    db = next(f for f in found if f.sourcetype == "db")
    assert {e.sourcetype for e in db.evidence} == {"db"}
    fleet = next(f for f in found if f.sourcetype != "db")
    assert {e.sourcetype for e in fleet.evidence} == {"web", "checkout", "auth", "payments"}


def test_a_new_error_template_takes_the_error_rate_volume_and_latency_rise_of_its_sourcetype():
    template = sig(
        "template:appeared:payments:abc",
        "template",
        "appeared",
        "payments",
        "HIGH",
        baseline=0.0,
        current=60.0,
        stat="events_per_hour",
        error_share=1.0,
        template="PaymentGatewayTimeout after <NUM>ms",
    )
    signals = [
        template,
        rate("error_rate", "up", "payments", "HIGH", 1.0, 30.0),
        rate("volume", "up", "payments", "MEDIUM", 100.0, 160.0),
        metric("payments", "p95", 200, 3000, "HIGH"),
        # Another service's error rate is another cause: not folded.
        rate("error_rate", "up", "auth", "HIGH", 1.0, 20.0),
    ]
    found = group_signals(signals, {})
    payments = next(f for f in found if f.sourcetype == "payments")
    assert payments.kind == "template" and payments.template.startswith("PaymentGateway")
    assert len(payments.evidence) == 4
    assert any(f.signal_id == "error_rate:up:auth" for f in found)


def test_a_volume_rise_that_a_small_template_cannot_explain_is_its_own_finding():
    signals = [
        sig(
            "template:appeared:web:x",
            "template",
            "appeared",
            "web",
            "MEDIUM",
            baseline=0.0,
            current=5.0,
            stat="events_per_hour",
            error_share=0.0,
        ),
        rate("volume", "up", "web", "HIGH", 100.0, 300.0),
    ]
    assert len(group_signals(signals, {})) == 2


def test_feedback_on_any_member_moves_the_finding():
    signals = [metric("db", "p50", 8, 30, "HIGH"), metric("db", "p95", 20, 60)]
    plain = group_signals([metric("db", "p50", 8, 30, "HIGH"), metric("db", "p95", 20, 60)], {})
    damped = group_signals(signals, {"metric:up:db:latency_ms:p95": 0.2})
    assert damped[0].weight == pytest.approx(0.2)
    assert damped[0].score < plain[0].score


def test_sniffing_tells_jsonl_csv_and_raw_apart():
    assert sniff_format(['{"message": "a", "sourcetype": "x"}\n', '{"message": "b"}\n']) == "jsonl"
    assert sniff_format(["_time,host,sourcetype,_raw\n", "1,h,x,hello\n"]) == "csv"
    assert sniff_format(["2026-03-02 10:00:00 INFO started, ready\n"]) == "raw"
    assert sniff_format([]) == "raw"


def test_a_jsonl_file_without_a_telling_extension_is_read_as_jsonl(tmp_path):
    path = tmp_path / "app.log"
    path.write_text('{"time": 1772445600, "sourcetype": "svc", "message": "hello"}\n')
    (event,) = list(read_events([str(path)]))
    assert event.sourcetype == "svc" and event.message == "hello"


def _events(sourcetypes, count=60, timed=True):
    lines = []
    for n in range(count):
        for st in sourcetypes:
            record = {"host": "h1", "sourcetype": st, "message": f"request ok id={n}"}
            if timed:
                record["time"] = 1772445600 + n * 60
            lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


@pytest.fixture()
def anchored(tmp_path):
    db = tmp_path / "anchor.db"
    anchor = tmp_path / "anchor.jsonl"
    anchor.write_text(_events(["web", "search"], timed=False))
    assert run_cli("capture", "base", "--input", str(anchor), db=db).returncode == 0
    return db


def test_jsonl_on_stdin_is_sniffed_and_a_missing_sourcetype_is_reported_without_timestamps(
    anchored,
):
    # Through the real entry point: stdin is piped to `python -m anchor`.
    result = run_cli_process(
        "compare",
        "base",
        "--input",
        "-",
        "--json",
        db=anchored,
        stdin=_events(["web"], timed=False),
    )
    assert result.returncode == 0, result.stderr
    signals = json.loads(result.stdout)["signals"]
    assert [(s["kind"], s["change"], s["sourcetype"]) for s in signals] == [
        ("volume", "disappeared", "search")
    ]


def test_input_with_none_of_the_anchors_sourcetypes_exits_4_and_records_nothing(anchored):
    result = run_cli(
        "compare", "base", "--input", "-", db=anchored, stdin=_events(["other"], timed=False)
    )
    assert result.returncode == 5  # none of the anchor's sourcetypes: its own exit status
    assert "none of the anchor's sourcetypes" in result.stderr
    assert "search, web" in result.stderr
    history = run_cli("history", db=anchored)
    assert "base" not in history.stdout.split("\n", 2)[-1]


def test_feedback_on_an_evidence_id_is_accepted(tmp_path):
    db = tmp_path / "anchor.db"
    anchor, current = tmp_path / "a.jsonl", tmp_path / "c.jsonl"
    anchor.write_text(_events(["web:access", "web:app"], count=200))
    # host h1 goes silent in both sourcetypes, h2 keeps logging.
    lines = [
        json.dumps(
            {
                "time": 1772445600 + 86400 + n * 60,
                "host": "h2",
                "sourcetype": st,
                "message": f"request ok id={n}",
            }
        )
        for n in range(200)
        for st in ("web:access", "web:app")
    ]
    anchor.write_text(
        anchor.read_text()
        + "\n".join(
            json.dumps(
                {
                    "time": 1772445600 + n * 60 + 1,
                    "host": "h2",
                    "sourcetype": st,
                    "message": f"request ok id={n}",
                }
            )
            for n in range(200)
            for st in ("web:access", "web:app")
        )
        + "\n"
    )
    current.write_text("\n".join(lines) + "\n")
    assert run_cli("capture", "base", "--input", str(anchor), db=db).returncode == 0
    result = run_cli("compare", "base", "--input", str(current), "--json", db=db)
    document = json.loads(result.stdout)
    finding = next(s for s in document["signals"] if len(s["evidence"]) > 1)
    folded = finding["evidence"][1]["signal_id"]
    answer = run_cli("feedback", document["drift_id"], folded, "false_positive", db=db)
    assert answer.returncode == 0, answer.stderr
    assert folded in answer.stdout


def test_a_bad_host_is_one_finding_and_another_host_stays_apart():
    """Signals scoped to one host (a per-host metric, its error share) fold into that host."""
    slow = metric("checkout", "p95", 100, 400, "HIGH")
    slow.host, slow.signal_id = "checkout-7", "metric:up:checkout:checkout-7:latency_ms:p95"
    other = metric("checkout", "p95", 100, 300, "HIGH")
    other.host, other.signal_id = "checkout-2", "metric:up:checkout:checkout-2:latency_ms:p95"
    loud = host("checkout", "checkout-7", "up", "MEDIUM")
    found = group_signals([slow, other, loud], {})
    assert len(found) == 2
    seven = next(f for f in found if f.host == "checkout-7")
    assert members(seven) == {slow.signal_id, loud.signal_id}


def test_a_missing_sourcetype_too_small_to_call_gone_is_still_named_in_the_notes():
    from anchor.diff import compare_fingerprints
    from anchor.events import event_from_record
    from anchor.fingerprint import fingerprint_events

    def fp(records):
        return fingerprint_events(event_from_record(r) for r in records)

    start = 1772409600
    anchor = [{"time": start + n * 60, "sourcetype": "web", "message": "ok"} for n in range(2880)]
    anchor += [
        {"time": start + n * 3600, "sourcetype": "cron", "message": "tick"} for n in range(48)
    ]
    current = [
        {"time": start + 3 * 86400 + n * 60, "sourcetype": "web", "message": "ok"}
        for n in range(60)
    ]
    result = compare_fingerprints(fp(anchor), fp(current))
    assert not [s for s in result.signals if s.sourcetype == "cron"]
    assert any("cron" in note and "too few" in note for note in result.notes)
