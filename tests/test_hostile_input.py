"""Bad or hostile input gets one clear line and exit 2, and nothing is written or lost."""

from __future__ import annotations

import pytest

from anchor.errors import InputError
from anchor.memory import check_name


@pytest.mark.parametrize("name", ["healthy\n", "healthy\r\n", "a" * 65, "", "-x", "a b"])
def test_anchor_names_must_match_whole(name):
    with pytest.raises(InputError):
        check_name(name)


# -- input readers: one bad record is skipped and counted, a bad file is one line -----------
import gzip  # noqa: E402
import json  # noqa: E402

from conftest import T0, run_cli  # noqa: E402

from anchor.memory import Memory  # noqa: E402
from anchor.store import SQLiteStore  # noqa: E402


def lines(count: int, start: float = T0, **extra) -> list[str]:
    return [
        json.dumps(
            {
                "_time": start + n * 30,
                "sourcetype": "app",
                "host": f"h{n % 3}",
                "_raw": f"request ok user=u{n % 7}",
                **extra,
            }
        )
        for n in range(count)
    ]


def one_error_line(result) -> bool:
    text = result.stderr.strip()
    return result.returncode == 2 and len(text.splitlines()) == 1 and "Traceback" not in text


def test_corrupt_and_truncated_gzip_inputs_are_one_line_and_store_nothing(tmp_path):
    data = gzip.compress("\n".join(lines(3000)).encode())
    files = {
        "truncated": data[: len(data) // 2],
        "corrupt": data[:40] + bytes(b ^ 0x33 for b in data[40:400]) + data[400:],
        "not gzip": b"plain text, not gzip",
    }
    db = tmp_path / "m.db"
    for name, content in files.items():
        path = tmp_path / f"{name.replace(' ', '_')}.jsonl.gz"
        path.write_bytes(content)
        result = run_cli("capture", "x", "--input", str(path), db=db)
        assert one_error_line(result), (name, result.stderr)
        assert "corrupt or truncated" in result.stderr, result.stderr
    assert not db.exists() or list(Memory(SQLiteStore(str(db))).anchors()) == []


def test_a_deeply_nested_json_line_is_one_skipped_record(tmp_path):
    path = tmp_path / "nested.jsonl"
    path.write_text("\n".join([*lines(50), "[" * 100_000, '{"_raw": ' + "[" * 100_000, *lines(50)]))
    db = tmp_path / "m.db"
    result = run_cli("capture", "nested", "--input", str(path), db=db)
    assert result.returncode == 0, result.stderr[-600:]
    assert "skipped 2 unreadable record(s)" in result.stderr
    assert Memory(SQLiteStore(str(db))).anchor("nested")["events"] == 100


def test_a_nested_json_raw_field_is_kept_as_text():
    from anchor.events import event_from_record

    event = event_from_record({"_time": T0, "_raw": '{"a":' * 100_000 + "1" + "}" * 100_000})
    assert event.message.startswith("{")


def test_out_of_range_times_are_skipped_with_a_count_and_listing_still_works(tmp_path):
    path = tmp_path / "times.jsonl"
    bad = [
        json.dumps({"_time": t, "_raw": "request ok", "sourcetype": "app"})
        for t in (1e17, -1e12, "9999-12-31T23:59:59Z")
    ]
    path.write_text("\n".join([*lines(100), *bad]))
    db = tmp_path / "m.db"
    result = run_cli("capture", "times", "--input", str(path), db=db)
    assert result.returncode == 0, result.stderr[-600:]
    assert (
        "skipped 3 unreadable record(s)" in result.stderr and "time out of range" in result.stderr
    )
    head = Memory(SQLiteStore(str(db))).anchor("times")
    assert T0 <= head["window_start"] <= head["window_end"] < T0 + 86400
    for command in (("list",), ("show", "times")):
        listed = run_cli(*command, db=db)
        assert listed.returncode == 0, listed.stderr[-600:]


def test_an_anchor_stored_with_a_bad_time_before_the_fix_still_lists_and_shows(tmp_path):
    from anchor import operations
    from anchor.events import Event
    from anchor.fingerprint import Fingerprint

    db = tmp_path / "m.db"
    memory = Memory(SQLiteStore(str(db)))
    events = [Event(t, "h", "app", "", "request ok", None, {}, 1.0) for t in (T0, 1e17)]
    operations.capture(memory, "legacy", Fingerprint().add_all(events), user="u", now=T0)
    for command in (("list",), ("show", "legacy")):
        listed = run_cli(*command, db=db)
        assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr[-600:]


def test_a_csv_with_one_oversize_field_skips_that_row_and_goes_on(tmp_path):
    path = tmp_path / "big.csv"
    row = "{t},app,h1,request ok\n"
    with open(path, "w") as handle:
        handle.write("_time,sourcetype,host,_raw\n")
        handle.writelines(row.format(t=T0 + n) for n in range(100))
        handle.write(f'{T0 + 100},app,h1,"{"x" * (17 * 1024 * 1024)}"\n')
        handle.writelines(row.format(t=T0 + 200 + n) for n in range(5000))
    db = tmp_path / "m.db"
    result = run_cli("capture", "big", "--input", str(path), db=db)
    assert result.returncode == 0, result.stderr[-600:]
    assert "skipped 1 unreadable record(s)" in result.stderr
    assert Memory(SQLiteStore(str(db))).anchor("big")["events"] == 5100


def test_cli_names_with_a_trailing_newline_are_refused(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines(20)))
    result = run_cli("capture", "healthy\n", "--input", str(path), db=tmp_path / "m.db")
    assert one_error_line(result) and "invalid anchor name" in result.stderr


def test_terminal_output_carries_no_control_characters(tmp_path):
    calm, noisy = tmp_path / "calm.jsonl", tmp_path / "noisy.jsonl"
    calm.write_text("\n".join(lines(2000)))

    def events(count, sourcetype, host, raw):
        return [
            json.dumps(
                {
                    "_time": T0 + 86400 + n * 5,
                    "sourcetype": sourcetype,
                    "host": host,
                    "_raw": raw(n),
                }
            )
            for n in range(count)
        ]

    hostile = events(
        600, "app", "h\x1b[2J", lambda n: f"ERROR \x1b]0;pwned\x07 boom \x1b[31mred\u202e{n % 2}"
    )
    # A new sourcetype whose name carries escapes: names are always shown in the table.
    hostile += events(300, "web\x1b[2J\u202e", "h2", lambda n: f"INFO served {n}")
    noisy.write_text("\n".join(hostile))
    db = tmp_path / "m.db"
    assert run_cli("capture", "calm", "--input", str(calm), db=db).returncode == 0
    result = run_cli("compare", "calm", "--input", str(noisy), "--no-llm", "--wide", db=db)
    assert result.returncode == 0, result.stderr[-600:]
    assert "\ufffd" in result.stdout  # the hostile text was shown, neutralized
    for text in (result.stdout, result.stderr):
        assert not any(c in text for c in "\x1b\x07\u202e"), text[:2000]


# -- output channels ------------------------------------------------------------------------
def test_slack_messages_escape_log_derived_mentions_and_links():
    from anchor.alert import build_message, parse_settings
    from anchor.diff import Signal
    from anchor.narrate import Narrative
    from anchor.operations import DriftReport

    evil = "<!channel> <https://evil.example|click> & more"
    signal = Signal(
        "template:appeared:app:1",
        "template",
        "appeared",
        "app<!here>",
        "HIGH",
        None,
        5.0,
        0.001,
        1.0,
        template=evil,
    )
    story = Narrative(summary=f"New template {evil}", hypothesis=f"maybe {evil}", drill_in_spl=None)
    report = DriftReport("0123456789ab", "healthy", [signal], story, [], [])
    message = build_message(
        report,
        parse_settings({"webhook_format": "slack", "max_signals": "3"}),
        search_name="s <!everyone>",
        link=None,
    )
    texts = [message["text"]] + [
        block.get("text", {}).get("text") or block["elements"][0]["text"]
        for block in message["blocks"]
    ]
    for text in texts:
        assert "<!" not in text and "<https://evil" not in text, text
    assert "&lt;!channel&gt;" in message["text"] and "&amp; more" in message["text"]
    assert any("&lt;https://evil.example|click&gt;" in t for t in texts)
