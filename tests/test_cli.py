"""The CLI contract, run as a user runs it: files in, text or JSON out.

Through ``anchor.cli.main(argv)`` in-process (conftest.run_cli); a few tests run
``python -m anchor`` itself (run_cli_process), for the real entry point.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import cli_env, copy_memory, run_cli, run_cli_process

from anchor.diff import EVIDENCE_FIELDS, SIGNAL_FIELDS

# The JSON carries exactly the fields of the contract's one definition
# (docs/ and searchbnf describe the same list).
SIGNAL_KEYS = set(SIGNAL_FIELDS)
EVIDENCE_KEYS = set(EVIDENCE_FIELDS)


@pytest.fixture(scope="module")
def captured(healthy_week, tmp_path_factory):
    return copy_memory(healthy_week, tmp_path_factory.mktemp("cli") / "anchor.db")


def compare_json(db, path, *extra):
    result = run_cli(
        "compare", "healthy_week", "--input", str(path), "--json", "--no-llm", *extra, db=db
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compare_json_matches_the_contract(captured, demo_files):
    document = compare_json(captured, demo_files["incident"])
    assert {"drift_id", "anchor", "signals", "narrative"} <= set(document)
    assert document["anchor"] == "healthy_week"
    assert document["signals"], "the incident must produce signals"
    for position, signal in enumerate(document["signals"], 1):
        assert set(signal) == SIGNAL_KEYS
        assert signal["rank"] == position
        assert signal["kind"] in {
            "volume",
            "template",
            "error_rate",
            "metric",
            "host",
            "hourly_profile",
        }
        assert signal["change"] in {"appeared", "disappeared", "up", "down", "shifted"}
        assert signal["severity"] in {"HIGH", "MEDIUM", "LOW"}
        if signal["change"] == "appeared":
            assert signal["delta_pct"] is None
        # A finding lists what it folded, its own signal first.
        assert signal["evidence"][0]["signal_id"] == signal["signal_id"]
        for item in signal["evidence"]:
            assert set(item) == EVIDENCE_KEYS
    ids = [e["signal_id"] for s in document["signals"] for e in s["evidence"]]
    assert len(ids) == len(set(ids)), "a signal is folded into one finding only"
    scores = [s["score"] for s in document["signals"]]
    assert scores == sorted(scores, reverse=True)
    narrative = document["narrative"]
    assert {"summary", "hypothesis", "drill_in_spl", "source"} <= set(narrative)
    assert narrative["source"] == "offline"
    assert "PaymentGatewayTimeout" in json.dumps(document["signals"])
    assert narrative["drill_in_spl"].startswith("sourcetype=")


def test_compare_table_is_readable(captured, demo_files):
    result = run_cli(
        "compare",
        "healthy_week",
        "--input",
        str(demo_files["incident"]),
        "--no-llm",
        "--limit",
        "5",
        db=captured,
    )
    assert result.returncode == 0, result.stderr
    assert "SEV" in result.stdout and "Summary (offline):" in result.stdout
    assert "Drill in:" in result.stdout


def test_a_calm_window_has_no_high_signals(captured, demo_files):
    document = compare_json(captured, demo_files["calm"])
    assert not [s for s in document["signals"] if s["severity"] == "HIGH"]


def test_false_positive_feedback_lowers_the_signal_on_the_next_compare(captured, demo_files):
    first = compare_json(captured, demo_files["incident"])
    target = first["signals"][0]
    result = run_cli(
        "feedback",
        first["drift_id"],
        target["signal_id"],
        "false_positive",
        "--reason",
        "deploy noise",
        "--user",
        "alice",
        db=captured,
    )
    assert result.returncode == 0, result.stderr
    assert "weight now 0.80" in result.stdout
    second = compare_json(captured, demo_files["incident"])
    again = next(s for s in second["signals"] if s["signal_id"] == target["signal_id"])
    assert again["weight"] == pytest.approx(0.8, abs=1e-3)
    assert again["score"] < target["score"]
    assert again["rank"] > target["rank"]
    learned = run_cli("learned", db=captured)
    assert target["signal_id"] in learned.stdout and "0.80" in learned.stdout
    spots = run_cli("blind-spots", db=captured)
    assert target["signal_id"] in spots.stdout
    # The same user repeating the same feedback on the same drift counts once.
    run_cli(
        "feedback",
        first["drift_id"],
        target["signal_id"],
        "false_positive",
        "--user",
        "alice",
        db=captured,
    )
    third = compare_json(captured, demo_files["incident"])
    assert next(s for s in third["signals"] if s["signal_id"] == target["signal_id"])[
        "weight"
    ] == pytest.approx(0.8, abs=1e-3)


def test_list_show_history_recall_and_purge(captured, demo_files):
    drift = compare_json(captured, demo_files["incident"])["drift_id"]
    assert "healthy_week" in run_cli("list", db=captured).stdout
    shown = run_cli("show", "healthy_week", db=captured)
    assert shown.returncode == 0 and "payments" in shown.stdout and "latency_ms" in shown.stdout
    assert drift in run_cli("history", db=captured).stdout
    calm = compare_json(captured, demo_files["calm"])["drift_id"]
    recalled = run_cli("recall", calm, db=captured)
    assert recalled.returncode == 0, recalled.stderr
    assert run_cli("purge-drifts", "--older-than", "30", db=captured).stdout.startswith("purged 0")
    deleted = run_cli("delete-drift", calm, db=captured)
    assert deleted.returncode == 0
    assert calm not in run_cli("history", db=captured).stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "nope", "--input", "x.jsonl"], "unknown anchor 'nope'"),
        (["feedback", "deadbeef", "sig", "confirmed"], "unknown drift"),
        (["feedback", "deadbeef", "sig", "maybe"], "invalid choice"),
        (["show", "nope"], "unknown anchor"),
        (["compare", "healthy_week", "--input", "x.jsonl", "--alpha", "2"], "alpha"),
        (["compare", "healthy_week", "--input", "x.jsonl", "--limit", "0"], "limit"),
        (["delete-drift", "nope"], "unknown drift"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2_with_one_line(captured, args, message):
    result = run_cli(*args, db=captured)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_signal_not_in_drift_is_rejected(captured, demo_files):
    drift = compare_json(captured, demo_files["incident"])["drift_id"]
    result = run_cli("feedback", drift, "template:appeared:x:y", "confirmed", db=captured)
    assert result.returncode == 2 and "not part of drift" in result.stderr


def _rows(db):
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT collection, key, body FROM docs ORDER BY 1, 2").fetchall()


@pytest.mark.parametrize("content", ["", "\n\n", "not json at all\n{also bad\n"])
def test_empty_or_unreadable_input_fails_and_writes_nothing(tmp_path, content):
    db = tmp_path / "fresh.db"
    events = tmp_path / "empty.jsonl"
    events.write_text(content)
    result = run_cli("capture", "x", "--input", str(events), db=db)
    assert result.returncode == 4  # no events at all: its own exit status
    assert "no events read" in result.stderr
    assert not db.exists()


def test_failed_compare_writes_nothing(captured, tmp_path):
    before = _rows(captured)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    quiet = run_cli("compare", "healthy_week", "--input", str(empty), db=captured)
    assert quiet.returncode == 4 and "Nothing was compared or stored" in quiet.stderr
    missing = run_cli(
        "compare", "healthy_week", "--input", str(tmp_path / "missing.jsonl"), db=captured
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert _rows(captured) == before


@pytest.mark.parametrize("name", ["a|delete", "x y", "", "-lead", 'quote"d', "a" * 65, "[sub]"])
def test_names_with_spl_metacharacters_are_refused(tmp_path, demo_files, name):
    db = tmp_path / "a.db"
    result = run_cli("capture", "--input", str(demo_files["calm"]), "--", name, db=db)
    assert result.returncode == 2
    assert "invalid anchor name" in result.stderr
    assert not db.exists() or _rows(db) == []


def test_malformed_lines_are_skipped_counted_and_reported(tmp_path):
    good = [json.dumps({"_time": 1_700_000_000 + i, "message": f"ok {i}"}) for i in range(50)]
    lines = good[:10] + ["{broken", "[1,2]"] + good[10:] + ["\xff\xfe garbage"]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = run_cli("capture", "mixed", "--input", str(path), db=tmp_path / "m.db")
    assert result.returncode == 0, result.stderr
    assert "50 events" in result.stdout
    assert "skipped 3 unreadable record(s) in mixed.jsonl (first at line 11" in result.stderr


def test_non_utf8_huge_lines_crlf_and_missing_final_newline(tmp_path):
    path = tmp_path / "weird.log"
    lines = [
        b"2025-01-01T00:00:00Z INFO service started\r\n",
        b"2025-01-01T00:00:01.5Z ERROR bad byte \xff\xfe here\r\n",
        b"2025-01-01T00:00:02+01:00 WARN " + b"x" * 1_000_000 + b"\r\n",
        b"2025-01-01T00:00:03Z INFO last line without newline",
    ]
    path.write_bytes(b"".join(lines))
    db = tmp_path / "w.db"
    result = run_cli("capture", "weird", "--input", str(path), db=db)
    assert result.returncode == 0, result.stderr
    assert "4 events" in result.stdout
    assert "2024-12-31 23:00:02Z .. 2025-01-01 00:00:03Z" in result.stdout
    patterns = run_cli("patterns", "--input", str(path), "--json")
    rows = [json.loads(line) for line in patterns.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["template"] == "service started"


def test_patterns_json_one_line_per_event_in_order(tmp_path):
    path = tmp_path / "app.jsonl"
    records = [
        {"message": "PaymentGatewayTimeout after 4211ms gateway=stripe"},
        {"message": "user 42 logged in from 10.0.0.1"},
        {"message": "PaymentGatewayTimeout after 17ms gateway=adyen"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = run_cli("patterns", "--input", str(path), "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert rows[0]["pattern"] == rows[2]["pattern"] != rows[1]["pattern"]
    assert "PaymentGatewayTimeout" in rows[0]["template"] and "4211" not in rows[0]["template"]


def test_csv_export_and_raw_formats(tmp_path):
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(
        "_time,host,sourcetype,_raw,latency_ms\n"
        + "".join(
            f'2025-01-01T00:{i:02d}:00.000+00:00,web-1,access,"GET /a/{i} 200",{i + 10}\n'
            for i in range(30)
        )
    )
    db = tmp_path / "c.db"
    assert run_cli("capture", "csvwin", "--input", str(csv_path), db=db).returncode == 0
    shown = run_cli("show", "csvwin", db=db)
    assert "access" in shown.stdout and "latency_ms" in shown.stdout


def test_db_defaults_to_the_environment_setting(tmp_path, demo_files):
    db = tmp_path / "env.db"
    env = cli_env(ANCHOR_DB=str(db))
    captured = run_cli_process("capture", "fromenv", "--input", demo_files["calm"], env=env)
    assert captured.returncode == 0, captured.stderr
    assert db.exists()


def test_python_dash_m_anchor_exits_with_mains_status():
    """The real entry point: usage errors exit 2 with one line, --help exits 0."""
    bad = run_cli_process("bogus")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    helped = run_cli_process("--help")
    assert helped.returncode == 0 and "capture" in helped.stdout
