"""The CLI as an on-call engineer meets it: ids, windows, JSON for scripts, the terminal.

Most tests call the real entry point in-process (``anchor.cli.main(argv)``
with pytest capturing stdout/stderr, which are not terminals); a few run it
as a subprocess, under a pseudo-terminal where colour and progress matter.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import json
import os
import pty
import re
import select
import subprocess
import sys

import pytest
from conftest import ROOT, cli_env, copy_memory, run_cli

from anchor.cli import EXIT_FAIL_ON, build_parser, main, signals_table
from anchor.terminal import Progress, Terminal, format_number, safe, unit, wants_colour, with_unit


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def db(healthy_week, tmp_path_factory):
    return copy_memory(healthy_week, tmp_path_factory.mktemp("ux") / "anchor.db")


@pytest.fixture()
def drift(db, demo_files, capsys):
    code, out, _ = run(
        capsys, "--db", db, "compare", "healthy_week", "--input", demo_files["incident"], "--json"
    )
    assert code == 0
    return json.loads(out)


def test_compare_shows_both_windows_in_text_and_json(db, demo_files, drift, capsys):
    windows = drift["windows"]
    assert set(windows) == {"anchor", "current"}
    for window in windows.values():
        assert set(window) == {"start", "end", "events"}
        assert window["start"] < window["end"] and window["events"] > 0
    assert windows["anchor"]["end"] < windows["current"]["start"]
    assert windows["anchor"]["events"] == pytest.approx(68_200, rel=0.2)
    code, out, _ = run(
        capsys, "compare", "healthy_week", "--input", demo_files["incident"], "--db", db
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("anchor ") and "72h" in lines[1] and "events" in lines[1]
    assert lines[2].startswith("current ") and "(2h, " in lines[2]
    # The summary line closes the output: events, sourcetypes, templates, elapsed.
    assert lines[-1].startswith("compared: ") and "sourcetype(s)" in lines[-1]
    assert "template(s) in " in lines[-1] and lines[-1].endswith("s")


def test_show_history_and_report_show_windows(db, drift, capsys):
    code, out, _ = run(capsys, "show", "healthy_week", "--db", db)
    assert code == 0 and out.splitlines()[1].startswith("window ") and "72h" in out
    shown = json.loads(run(capsys, "show", "healthy_week", "--json", "--db", db)[1])
    assert shown["window"]["events"] == shown["events"]
    history = json.loads(run(capsys, "history", "--json", "--db", db)[1])
    assert history[0]["drift_id"] == drift["drift_id"]
    assert history[0]["windows"] == drift["windows"]
    report = json.loads(run(capsys, "report", "latest", "--json", "--db", db)[1])
    assert report["windows"] == drift["windows"] and report["signals"] == drift["signals"]
    code, out, _ = run(capsys, "report", drift["drift_id"], "--db", db)
    assert code == 0 and "current " in out and "#  SEV" in out


def test_feedback_by_rank_and_latest_and_repeating_it_says_it_replaced(db, drift, capsys):
    second = drift["signals"][1]["signal_id"]
    code, out, _ = run(
        capsys, "feedback", "latest", "2", "confirmed", "--user", "carol", "--db", db, "--json"
    )
    entry = json.loads(out)
    assert code == 0 and entry["signal_id"] == second and entry["drift_id"] == drift["drift_id"]
    assert entry["replaced"] is None
    code, out, _ = run(
        capsys, "feedback", drift["drift_id"], "#2", "false_positive", "--user", "carol", "--db", db
    )
    assert code == 0 and f"on {second}" in out
    assert "replaces your earlier confirmed" in out
    code, _, err = run(capsys, "feedback", "latest", "999", "confirmed", "--db", db)
    assert code == 2 and "has no signal ranked 999" in err
    code, out, _ = run(capsys, "recall", "latest", "--json", "--db", db)
    assert code == 0 and isinstance(json.loads(out), list)


def test_fail_on_exits_with_its_own_code(db, demo_files, capsys):
    incident = ["compare", "healthy_week", "--input", demo_files["incident"], "--db", db, "--json"]
    assert run(capsys, *incident, "--fail-on", "HIGH")[0] == EXIT_FAIL_ON == 6
    assert run(capsys, *incident, "--fail-on", "low")[0] == EXIT_FAIL_ON
    calm = ["compare", "healthy_week", "--input", demo_files["calm"], "--db", db, "--json"]
    code, out, _ = run(capsys, *calm, "--fail-on", "HIGH")
    assert code == 0 and not [s for s in json.loads(out)["signals"] if s["severity"] == "HIGH"]
    code, _, err = run(capsys, *incident, "--fail-on", "urgent")
    assert code == 2 and "--fail-on" in err


def test_every_read_command_prints_one_json_document(db, drift, tmp_path, capsys):
    export = tmp_path / "exports"
    code, out, _ = run(capsys, "maintenance", "export", "--dest", export, "--json", "--db", db)
    assert code == 0
    written = json.loads(out)["file"]
    expected = {
        ("list",): list,
        ("show", "healthy_week"): dict,
        ("history",): list,
        ("learned",): list,
        ("blind-spots",): list,
        ("recall", "latest"): list,
        ("report", "latest"): dict,
        ("maintenance", "decay", "--dry-run"): dict,
        ("maintenance", "compact", "--dry-run"): dict,
        ("maintenance", "verify", written): dict,
        ("purge-drifts", "--older-than", "365", "--dry-run"): dict,
        ("check-spl", "index=web | stats count"): dict,
    }
    for argv, kind in expected.items():
        code, out, err = run(capsys, *argv, "--json", "--db", db)
        assert code == 0, (argv, err)
        assert isinstance(json.loads(out), kind), argv
    assert json.loads(run(capsys, "list", "--json", "--db", db)[1])[0]["name"] == "healthy_week"


def test_db_is_accepted_after_the_subcommand(db, tmp_path):
    env = cli_env(ANCHOR_DB=str(tmp_path / "elsewhere.db"))
    result = subprocess.run(
        [sys.executable, "-m", "anchor", "list", "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=120,
    )
    assert result.returncode == 0 and "healthy_week" in result.stdout
    # Before the command still works, and the subcommand does not reset it.
    assert "healthy_week" in run_cli("list", db=db).stdout


def compare_incident(capsys, db, demo_files, *extra):
    argv = ["compare", "healthy_week", "--input", demo_files["incident"], "--db", db, *extra]
    return run(capsys, *argv)


def test_tables_fit_80_columns_unless_wide(db, demo_files, capsys):
    code, out, _ = compare_incident(capsys, db, demo_files, "--limit", "3")
    assert code == 0
    table = [line for line in out.splitlines() if re.match(r"(#|\d+)  ", line)]
    assert len(table) == 4 and all(len(line) <= 80 for line in table)
    assert "3 of " in out.splitlines()[0]
    wide = compare_incident(capsys, db, demo_files, "--limit", "3", "--wide", "--json")[1]
    ids = [s["signal_id"] for s in json.loads(wide)["signals"]]
    code, out, _ = compare_incident(capsys, db, demo_files, "--limit", "3", "--wide")
    assert all(signal_id in out for signal_id in ids)
    assert max(len(line) for line in out.splitlines()) > 80
    assert "\033[" not in out  # never colour when not on a terminal


def test_units_and_shown_counts(db, demo_files, capsys):
    def compare(limit):
        return compare_incident(capsys, db, demo_files, "--limit", limit)

    code, out, _ = compare(8)
    assert code == 0
    # Shares and error rates in percent (latency folds into the payments finding: its
    # unit is checked through unit() below).
    assert "%" in out
    code, out, _ = compare(2)
    total = json.loads(run(capsys, "report", "latest", "--json", "--db", db)[1])["signal_count"]
    assert f"2 of {total} finding(s) shown" in out.splitlines()[0]
    assert f"2 of {total} shown; --limit {total} shows all" in out
    assert unit({"kind": "volume", "stat": "events_per_hour"}) == "/h"
    assert unit({"kind": "metric", "field": "latency_ms", "stat": "p95"}) == "ms"
    assert unit({"kind": "metric", "field": "queue_depth", "stat": "p95"}) == ""
    assert with_unit(8351.96, "ms") == "8,352ms" and with_unit(None, "%") == "-"
    # One formatter for tables, reports and narratives: whole numbers from 100 up
    # (never 1e+03), three significant digits below.
    assert [format_number(v) for v in (999.7, 123.4, 0.01234, None)] == [
        "1,000",
        "123",
        "0.0123",
        "n/a",
    ]
    assert with_unit(999.7, "/h") == "1,000/h"


def test_empty_states_and_did_you_mean(db, tmp_path, capsys):
    fresh = tmp_path / "fresh" / "anchor.db"
    for command, text in (
        ("list", "no anchors in"),
        ("history", "no drifts in"),
        ("learned", "no feedback in"),
        ("blind-spots", "no blind spots in"),
    ):
        code, out, _ = run(capsys, command, "--db", fresh)
        assert code == 0 and out.startswith(text) and str(fresh) in out, command
    assert not fresh.exists()
    code, _, err = run(capsys, "show", "helthy_week", "--db", db)
    assert code == 2 and "did you mean 'healthy_week'?" in err
    code, _, err = run(capsys, "show", "zzzz", "--db", db)
    assert code == 2 and "did you mean" not in err


def test_small_ones(db, drift, capsys, tmp_path):
    code, out, _ = run(capsys, "report", "latest", "--html", "-", "--db", db)
    assert code == 0 and out.startswith("<!DOCTYPE html>") and drift["drift_id"] in out
    code, _, err = run(
        capsys, "compare", "healthy_week", "--input", "x.jsonl", "--narrate", "--no-llm", "--db", db
    )
    assert code == 2 and "--no-llm" in err and len(err.strip().splitlines()) == 1
    fresh = tmp_path / "never.db"
    code, _, err = run(
        capsys,
        "diff",
        "--baseline",
        "a.jsonl",
        "--input",
        "b.jsonl",
        "--deep",
        "--no-llm",
        "--db",
        fresh,
    )
    assert code == 2 and "--no-llm" in err and not fresh.exists()
    code, out, _ = run(capsys, "maintenance", "compact", "--dry-run", "--db", db)
    assert code == 0 and "would remove" in out
    before = len(json.loads(run(capsys, "history", "--json", "--db", db)[1]))
    code, _, err = run(capsys, "purge-drifts", "--older-than", "0", "--db", db)
    assert code == 2 and "--yes" in err
    code, out, _ = run(capsys, "purge-drifts", "--older-than", "0", "--dry-run", "--db", db)
    assert code == 0 and f"would purge {before} drift(s)" in out
    assert len(json.loads(run(capsys, "history", "--json", "--db", db)[1])) == before
    copy = copy_memory(db, tmp_path / "copy.db")
    code, out, _ = run(capsys, "purge-drifts", "--older-than", "0", "--yes", "--db", copy)
    assert code == 0 and out.startswith(f"purged {before}")
    assert run(capsys, "history", "--db", copy)[1].startswith("no drifts in")


def test_metric_and_metrics_spellings(demo_files, tmp_path, capsys):
    path = tmp_path / "m.db"
    code, _, _ = run(
        capsys,
        "capture",
        "m",
        "--input",
        demo_files["calm"],
        "--metrics",
        "latency_ms,missing_field",
        "--db",
        path,
    )
    assert code == 0
    shown = json.loads(run(capsys, "show", "m", "--json", "--db", path)[1])
    assert shown["metrics"] == ["latency_ms", "missing_field"]
    assert any(s["metrics"] == ["latency_ms"] for s in shown["sourcetypes"])


def walk(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from walk(sub)


def test_every_argument_has_help_and_help_shows_examples(capsys):
    parser = build_parser()
    for sub in walk(parser):
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, (sub.prog, action.dest)
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    top = capsys.readouterr().out
    assert "examples:" in top and "anchor feedback latest 1 confirmed" in top
    for command in ("compare", "feedback", "report"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = capsys.readouterr().out
        assert "example:" in text and "--db" in text
    with pytest.raises(SystemExit):
        parser.parse_args(["compare", "--help"])
    assert "--fail-on SEVERITY" in capsys.readouterr().out


def test_evidence_is_shown_compactly_and_log_text_cannot_drive_the_terminal():
    row = {
        "rank": 1,
        "severity": "HIGH",
        "score": 2.0,
        "weight": 1.0,
        "kind": "template",
        "change": "appeared",
        "sourcetype": "app",
        "template": "boom \033]0;owned\007 <*>",
        "host": None,
        "field": None,
        "stat": None,
        "baseline": None,
        "current": 12.5,
        "delta_pct": None,
        "signal_id": "template:appeared:app:1",
        "evidence": [1, 2, 3],
    }
    text = signals_table([row], Terminal(200, False, False))
    assert "(+3 related)" in text and "\033" not in text and "\007" not in text
    narrow = signals_table([{**row, "template": "x" * 200}], Terminal(80, False, False))
    assert "app (+3 related): new" in narrow and max(map(len, narrow.splitlines())) <= 80
    plain = signals_table([{**row, "evidence": None}], Terminal(200, False, False))
    assert "related" not in plain
    assert safe("a\033[2Jb\r\nc") == "a\ufffd[2Jb\ufffd\ufffdc"
    coloured = signals_table([row], Terminal(80, True, False))
    assert "\033[1;31mHIGH" in coloured


class _Stream:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


def test_colour_only_on_a_terminal_and_never_with_no_color():
    assert wants_colour(_Stream(True), {}) is True
    assert wants_colour(_Stream(False), {}) is False
    assert wants_colour(_Stream(True), {"NO_COLOR": ""}) is False
    assert wants_colour(_Stream(True), {"TERM": "dumb"}) is False


def run_in_pty(argv, env):
    """Run the CLI with stdout and stderr on a pseudo-terminal; return all it wrote."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "anchor", *argv],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
        cwd=str(ROOT),
    )
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(controller, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=120)
    os.close(controller)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_on_a_terminal_severities_are_coloured_and_progress_is_shown(db, demo_files):
    argv = ["compare", "healthy_week", "--input", str(demo_files["incident"]), "--db", str(db)]
    code, text = run_in_pty(argv, cli_env())
    assert code == 0
    assert "\033[1;31mHIGH" in text
    assert "reading: 1,000 events" in text  # the progress line, redrawn on stderr
    assert "compared: " in text
    code, text = run_in_pty(argv, cli_env(NO_COLOR="1"))
    assert code == 0 and "\033[1;31m" not in text


def test_patterns_ends_with_a_summary_on_stderr(demo_files, capsys):
    code, out, err = run(capsys, "patterns", "--input", demo_files["calm"])
    assert code == 0 and out.count("\n") > 1000
    assert err.startswith("patterns: ") and "sourcetype(s)" in err


def test_splunk_export_json_lines_are_read_as_events(tmp_path, capsys):
    """The REST export endpoint's JSON: one {"preview", "offset", "result"} object per line."""
    lines = [
        json.dumps(
            {
                "preview": False,
                "offset": i,
                "result": {
                    "_time": f"2025-01-01T00:{i:02d}:00.000+00:00",
                    "host": "web-1",
                    "sourcetype": "access",
                    "_raw": f"GET /a/{i} 200",
                    "latency_ms": str(10 + i),
                },
            }
        )
        for i in range(40)
    ] + [json.dumps({"preview": False, "lastrow": True})]
    path = tmp_path / "export.json"
    path.write_text("\n".join(lines) + "\n")
    db = tmp_path / "e.db"
    code, out, err = run(
        capsys, "capture", "exported", "--input", path, "--format", "jsonl", "--db", db
    )
    assert code == 0 and "40 events" in out and "skipped" not in err
    shown = json.loads(run(capsys, "show", "exported", "--json", "--db", db)[1])
    assert [s["sourcetype"] for s in shown["sourcetypes"]] == ["access"]
    assert shown["sourcetypes"][0]["metrics"] == ["latency_ms"]


def test_the_recorded_command_leaves_an_endpoint_url_out(db, demo_files, tmp_path, capsys):
    copy = copy_memory(db, tmp_path / "origin.db")
    calm = tmp_path / "calm window.jsonl"
    calm.write_bytes(demo_files["calm"].read_bytes())
    url = "https://u:p@h/v1"  # no --narrate: the URL is recorded, never called
    for spelling, shown in (
        (["--llm-url", url], "--llm-url URL"),
        ([f"--llm-url={url}"], "--llm-url=URL"),
    ):
        code, _, err = run(
            capsys, "compare", "healthy_week", "--input", calm, *spelling, "--db", copy
        )
        assert code == 0, err
        page = run(capsys, "report", "latest", "--html", "-", "--db", copy)[1]  # "recorded by"
        assert html.escape(f"anchor compare healthy_week --input '{calm}' {shown}") in page
        assert "p@h" not in page


class _Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def test_progress_draws_on_the_stderr_main_runs_with(db, demo_files, monkeypatch):
    # In-process, main(argv) may run with stderr redirected after anchor was imported.
    monkeypatch.setattr(Progress, "_draw", lambda self: self.stream.write(f"[{self.count}]\r"))
    err = _Tty()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(
            ["compare", "healthy_week", "--input", str(demo_files["incident"]), "--db", str(db)]
        )
    assert code == 0
    assert "[1000]" in err.getvalue()
