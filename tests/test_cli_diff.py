"""``anchor diff``: two inputs compared directly, through the real ``python -m anchor``."""

from __future__ import annotations

import json

from conftest import run_cli


def _diff_argv(baseline, current, *extra):
    return ["diff", "--baseline", str(baseline), "--input", str(current), *extra]


def _diff(db, demo_files, *extra):
    # The 2-hour calm window as the baseline: what diff does needs no 3-day file.
    argv = _diff_argv(demo_files["calm"], demo_files["incident"], "--metric", "latency_ms")
    return run_cli(*argv, *extra, db=db)


def test_diff_finds_what_capture_then_compare_finds(tmp_path, demo_files):
    captured = tmp_path / "captured.db"
    baseline = run_cli(
        "capture", "h", "--input", demo_files["calm"], "--metric", "latency_ms", db=captured
    )
    assert baseline.returncode == 0, baseline.stderr
    compared = run_cli(
        "compare", "h", "--input", str(demo_files["incident"]), "--json", db=captured
    )
    assert compared.returncode == 0, compared.stderr
    result = _diff(tmp_path / "diff.db", demo_files, "--json")
    assert result.returncode == 0, result.stderr
    expected, document = json.loads(compared.stdout), json.loads(result.stdout)
    assert document["signals"] == expected["signals"]
    assert document["anchor"].startswith("ad hoc: calm.jsonl, 2025-11-27 10:00 to ")
    assert any(s["kind"] == "template" and s["change"] == "appeared" for s in document["signals"])


def test_diff_is_recorded_so_feedback_history_and_report_work(tmp_path, demo_files):
    db = tmp_path / "memory.db"
    result = _diff(db, demo_files)
    assert result.returncode == 0, result.stderr
    assert "against anchor 'ad hoc: calm.jsonl" in result.stdout
    assert "Summary (offline):" in result.stdout
    document = json.loads(_diff(db, demo_files, "--json").stdout)
    top = document["signals"][0]
    feedback = run_cli("feedback", document["drift_id"], top["signal_id"], "false_positive", db=db)
    assert feedback.returncode == 0, feedback.stderr
    again = json.loads(_diff(db, demo_files, "--json").stdout)
    weights = {s["signal_id"]: s["weight"] for s in again["signals"]}
    assert weights[top["signal_id"]] < 1.0
    assert document["drift_id"] in run_cli("history", db=db).stdout
    html = tmp_path / "drift.html"
    report = run_cli("report", document["drift_id"], "--html", str(html), db=db)
    assert report.returncode == 0, report.stderr
    assert "ad hoc: calm.jsonl" in html.read_text()


def test_save_baseline_stores_an_anchor_and_records_the_drift_against_it(tmp_path, demo_files):
    db = tmp_path / "memory.db"
    result = _diff(db, demo_files, "--save-baseline", "last_week", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["anchor"] == "last_week"
    assert "last_week" in run_cli("list", db=db).stdout


def test_diff_help_shows_the_options_shared_with_compare():
    result = run_cli("diff", "--help")
    assert result.returncode == 0
    for option in ("--baseline", "--input", "--json", "--alpha", "--limit", "--save-baseline"):
        assert option in result.stdout, option
    assert "example: anchor diff --baseline" in result.stdout
    assert "diff" in run_cli("--help").stdout


def test_diff_errors_are_one_line_and_write_nothing(tmp_path, demo_files):
    db = tmp_path / "memory.db"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    cases = [
        (["diff", "--input", str(demo_files["incident"])], "--baseline"),
        (["diff", "--baseline", str(empty), "--input", str(demo_files["incident"])], "no events"),
        (["diff", "--baseline", "-", "--input", "-"], "only one of --baseline and --input"),
        (
            _diff_argv(demo_files["calm"], demo_files["incident"], "--save-baseline", "bad|name"),
            "invalid anchor name",
        ),
    ]
    for args, message in cases:
        result = run_cli(*args, db=db)
        assert result.returncode == (4 if message == "no events" else 2), (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, args
    assert not db.exists()  # the memory is not even created
