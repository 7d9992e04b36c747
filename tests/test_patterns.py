"""Header stripping, typed masking, structured messages and id stability."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import examples

from anchor.events import event_from_record
from anchor.patterns import split_raw, template_of
from anchor.timefmt import parse_iso

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "line, stamp, level, message",
    [
        ("2024-01-02T03:04:05Z ERROR boom 12", "2024-01-02T03:04:05Z", "error", "boom 12"),
        (
            "2024-01-02 03:04:05,250 INFO [main] org.a.B: Created x",
            "2024-01-02T03:04:05.250Z",
            "info",
            "Created x",
        ),
        ("[2024-01-02T03:04:05+02:00] WARN disk low", "2024-01-02T01:04:05Z", "warn", "disk low"),
        (
            "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
            "2005-12-04T04:47:44Z",
            "info",
            "workerEnv.init() ok",
        ),
        (
            "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
            "2008-11-09T20:36:15Z",
            "info",
            "PacketResponder 1 terminating",
        ),
        (
            "17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls",
            "2017-06-09T20:10:40Z",
            "info",
            "Changing view acls",
        ),
        (
            "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
            "2017-12-23T22:15:29.606Z",
            None,
            "onStandStepChanged 3579",
        ),
        ("2024-01-02T03:04:05Z INFO last line\r\n", "2024-01-02T03:04:05Z", "info", "last line"),
        (
            "no header at all: Component State Change",
            None,
            None,
            "no header at all: Component State Change",
        ),
    ],
)
def test_headers_are_stripped_and_timestamps_parsed(line, stamp, level, message):
    parts = split_raw(line)
    assert parts.message == message
    assert parts.level == level
    if stamp is None:
        assert parts.timestamp is None
    else:
        assert parts.timestamp == pytest.approx(parse_iso(stamp))


def test_formats_without_a_year_take_the_latest_past_date():
    android = split_raw("03-17 16:13:38.811  1702  2395 D WindowManager: printFreezing")
    syslog = split_raw("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass")
    assert android.message == "printFreezing" and android.level == "debug"
    assert android.timestamp is not None and syslog.timestamp is not None
    import time

    assert android.timestamp <= time.time() + 86400 and syslog.timestamp <= time.time() + 86400


@pytest.mark.parametrize(
    "message, template",
    [
        (
            "PaymentGatewayTimeout after 4211ms gateway=stripe",
            "PaymentGatewayTimeout after <DUR> gateway=<*>",
        ),
        (
            "user 42 logged in from 10.0.0.1 (10.0.0.2:80), id=ab12",
            "user <NUM> logged in from <IP> (<IP>), id=<*>",
        ),
        ("id 123e4567-e89b-12d3-a456-426614174000 done", "id <UUID> done"),
        ("addr 0xdeadbeef and deadbeef12", "addr <HEX> and <HEX>"),
        ("open /var/log/app.log failed", "open <PATH> failed"),
        ("block blk_-695229 size 3.5", "block <*> size <NUM>"),
        ("user=alice action=login", "user=<*> action=<*>"),
    ],
)
def test_variables_are_masked_by_type_and_constants_kept(message, template):
    assert template_of(message).template == template


def test_json_events_use_their_message_field():
    event = event_from_record(
        {"_raw": json.dumps({"level": "error", "message": "Timeout after 5ms", "x": 1})}
    )
    assert event.message == "Timeout after 5ms" and event.level == "error"
    assert template_of(event.message).template == "Timeout after <DUR>"


def test_same_shape_same_id_different_shape_different_id():
    a = template_of("dear 1234abcd iar 00112233")
    b = template_of("dear 12345678 iar ffee0011")
    assert a.pattern_id == b.pattern_id
    assert template_of("dear 1 iar 2 extra").pattern_id != a.pattern_id


def test_ids_are_the_same_in_another_process_with_another_hash_seed():
    messages = ["PaymentGatewayTimeout after 4211ms gateway=stripe", "user 42 logged in", "a b c"]
    here = [template_of(m).pattern_id for m in messages]
    code = "import json,sys; from anchor.patterns import template_of; print(json.dumps([template_of(m).pattern_id for m in json.loads(sys.argv[1])]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib"), "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(reversed(messages)))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert list(reversed(json.loads(other.stdout))) == here


def test_grouping_accuracy_on_a_tuning_dataset_stays_high():
    sys.path.insert(0, str(ROOT / "bench"))
    from patterns_loghub import DATA, anchor_labels, grouping_accuracy, load

    raw, _, truth = load(DATA, "Hadoop")
    assert grouping_accuracy(anchor_labels(raw), truth) >= 0.95
    raw, _, truth = load(DATA, "HDFS")
    assert grouping_accuracy(anchor_labels(raw), truth) >= 0.99


@pytest.mark.fuzz
def test_the_digit_blind_cache_never_changes_a_template():
    """Masking depends on which characters are digits, not on their values (see mask.py)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from anchor.patterns import mask

    alphabet = st.sampled_from(
        list("0123456789abcdefxX.:-_/=,()[] <>'\"")
        + ["ms", "id=", "0x", "ERROR "]
        # the typed masks' pieces: dates, units, emails, URLs, pids, wordless tokens
        + ["Jul ", "Sun ", "Monday", "MB", "s", "B", "GiB", "@", "ex.com", "http://", "?", "AM"]
        + ["sshd[", "deadbeefcafe", "aGVsbG9XBbGQhIHRo"]
        # UUIDs starting with a digit or a letter, with digitless groups, and without a digit
        + ["8d41e805-3c93-49c7-8f08-b39d94f0bb10", "aBcdefab-abcd-4bcd-abcd-abcdefabcdef"]
        + ["DeCafbad-abcd-abcd-abcd-abcdefabcdef", "Feb", "-abcd-ef01", "[1]", ";"]
    )

    @settings(max_examples=examples(1500), deadline=None)
    @given(st.lists(alphabet, max_size=30).map("".join))
    def check(message):
        mask.clear_template_cache()
        expected = mask._template_cached.__wrapped__(message)
        mask.clear_template_cache()
        assert mask.template_of(message) == expected

    check()


@pytest.mark.fuzz
def test_the_digit_blind_header_peel_equals_peeling_the_line_itself():
    """split_raw peels the zeroed shape (cached) and reads only the timestamp from the line;
    split_template shares that shape with the template. Both must equal the direct answers."""
    from hypothesis import example, given, settings
    from hypothesis import strategies as st

    from anchor.patterns import header, mask, split_raw, split_template

    headers = st.sampled_from(
        [
            "",
            "2024-03-09T17:45:01.123Z ",
            "2015-10-18 18:01:47,978 ",
            "Jun 14 15:16:01 ",
            "03-17 16:13:38.811  1702  2395 D ",
            "081109 203615 148 ",
            "[Sun Dec 04 04:47:44 2005] ",
            "20171223-22:15:29:606|Step_LSC|30002312|",
        ]
    )
    words = st.sampled_from(
        list("0123456789abc:[]|.-_ ")
        + ["INFO ", "error: ", "[main] ", "Worker.run: ", "pid 42 "]
        # digit values that change a template (0x is hex, 1x not), a UUID, hex ids
        + ["0xdeadbeef ", "1x ", "7X", "8d41e805-3c93-49c7-8f08-b39d94f0bb10", "id=ch_0a3f "]
    )
    # Each line is checked with its digits changed too, so that split_template answers
    # from what it kept of the first (lines that differ only in digits share a shape).
    other_digits = str.maketrans("0123456789", "1234567890")

    @settings(max_examples=examples(400), deadline=None)
    @given(headers, st.lists(words, max_size=25).map("".join), st.integers(1, 40))
    @example(head="", body="0xdeadbeef ", limit=6)  # hex, then 1xdeadbeef: not hex
    def check(head, body, limit):
        for line in (head + body, (head + body).translate(other_digits)):
            # The reference: peel the line itself, not its digit shape, and no cache.
            text = line.rstrip("\r\n")
            stamp_format, start, level = header._peel(text)
            direct = header.RawParts(
                header.timestamp_at(text, stamp_format), level, text[start:].strip()
            )
            assert split_raw(line) == direct
            parts, template = split_template(line, limit)
            assert parts == direct._replace(message=direct.message[:limit])
            assert template == mask._template_cached.__wrapped__(direct.message[:limit])

    check()


@pytest.mark.fuzz
def test_the_fast_json_line_reader_agrees_with_json_loads():
    import json

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from anchor.events import _json_line

    pieces = st.sampled_from(
        [
            '{"a": 1}',
            "[1, 2]",
            '"x"',
            "1",
            " ",
            "\t",
            "\n",
            "}",
            "{",
            ",",
            '"b":',
            "NaN",
            "garbage",
            '{"a": "\\u00e9"}',
            "\u00a0",
            "null",
        ]
    )

    @settings(max_examples=examples(500), deadline=None)
    @given(st.lists(pieces, max_size=6).map("".join))
    def check(line):
        try:
            expected = ("ok", json.loads(line))
        except ValueError:
            expected = ("error", None)
        try:
            got = ("ok", _json_line(line))
        except ValueError:
            got = ("error", None)
        assert repr(got) == repr(expected)

    check()


@pytest.mark.fuzz
def test_the_fast_digit_shape_equals_str_translate():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from anchor.patterns.header import DIGIT_SHAPE, digit_shape

    @settings(max_examples=examples(500), deadline=None)
    @given(st.text())
    def check(text):
        assert digit_shape(text) == text.translate(DIGIT_SHAPE)

    check()


@pytest.mark.parametrize(
    "line, level",
    [
        (
            "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 "
            "R02-M1-N0-C:J12-U11 RAS KERNEL FATAL data TLB error interrupt",
            "error",
        ),
        ("1117838570 node-7 RAS APP WARNING disk slow", "warn"),
        ("2024-01-01 12:00:00 node1 RAS ERROR boom", "error"),
        # prose before the word: not a header column
        ("Failed to read ERROR code from device", None),
        ("2024-01-01 12:00:00 user saw an ERROR here", None),
        # a level word inside a longer token is not a column
        ('{"msg": "ERROR in handler"}', None),
        ("- 1117838570 2005.06.03 R02 RAS KERNEL ERRORS counted", None),
    ],
)
def test_a_level_column_anywhere_in_the_header_is_found(line, level):
    assert split_raw(line).level == level


@pytest.mark.parametrize(
    "record, level",
    [
        ({"message": "x", "priority": 11}, "error"),  # facility 1 (user) * 8 + 3 (err)
        ({"message": "x", "priority": "14"}, "info"),  # user.info
        ({"message": "x", "priority": 12}, "warn"),
        ({"message": "x", "priority": "high"}, None),
        ({"message": "x", "severity": 2}, "error"),  # syslog severity 0-7
        ({"message": "x", "lvl": "warning"}, "warn"),
        ({"message": "x", "loglevel": "FATAL"}, "error"),
        ({"message": "x", "level": 50}, "error"),  # bunyan/pino
        ({"message": "x", "level": 30}, "info"),
        ({"message": "x", "level": 40}, "warn"),
        ({"message": "x", "level": True}, None),
    ],
)
def test_levels_come_from_the_usual_fields_including_numeric_ones(record, level):
    assert event_from_record(record).level == level


@pytest.mark.fuzz
def test_the_fast_regex_forms_equal_their_plain_ones():
    """The per-event path's shortcuts against the forms they replace: ``key=value``
    values masked by a function (not a ``\\1`` template), hex runs of digits only
    skipped by the pattern, digit tokens matched only where a token starts, and the
    literal pre-filter before the level-column search."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from anchor.patterns import header, mask

    plain_hex_run = re.compile(r"(?<![0-9A-Za-z_])[0-9a-fA-F]*[0-9][0-9a-fA-F]*(?![0-9A-Za-z_])")
    # (quadratic on a long token without a digit: tried again from each of its characters)
    plain_digit_token = re.compile(r"[^\s<>]*\d[^\s<>]*")
    pieces = st.sampled_from(
        list("0123456789abcdefgxyzAF_=.,;:-/()[]{} <>\t\n")
        + ["ERROR", "INFO", "WARN", "WARNING", "id=", "key=", " ERR ", "-INFO", "x.DEBUG"]
    )

    @settings(max_examples=examples(1500), deadline=None)
    @given(st.lists(pieces, max_size=40).map("".join))
    def check(text):
        assert mask._KEY_VALUE.sub(mask._masked_value, text) == mask._KEY_VALUE.sub(r"\1=<*>", text)
        assert mask._HEX_RUN.sub(mask._hex_blind, text) == plain_hex_run.sub(mask._hex_blind, text)
        masked = mask._DIGIT_TOKEN.sub(mask._mask_token, text)
        assert masked == plain_digit_token.sub(mask._mask_token, text)
        head = text[:200]
        found = header._COLUMN_WORD.search(head) is not None
        assert (header._ANY_LEVEL_WORD.search(head) is not None) >= found
        level = None
        if found:
            for token in head.split(None, header.COLUMN_TOKENS)[: header.COLUMN_TOKENS]:
                level = header.LEVELS.get(token)
                if level is not None or not header._header_like(token):
                    break
        assert header.column_level(text) == level

    check()


def test_splunkds_time_and_header_offsets_take_the_fast_path_and_long_fractions_are_read():
    from anchor import timefmt

    # splunkd's own _time, then a header's +00:00: each read once through parse_iso,
    # for its minute, and then from the remembered minute.
    for first, second, expected in [
        ("2014-06-11T08:19:58.000-0700", "2014-06-11T08:19:59.250-0700", 1402499999.25),
        ("2014-06-11T15:19:58+00:00", "2014-06-11T15:19:59+00:00", 1402499999.0),
    ]:
        timefmt._minutes.clear()
        assert timefmt.parse_iso_fast(first) == parse_iso(first)
        assert len(timefmt._minutes) == 1
        assert timefmt.parse_iso_fast(second) == parse_iso(second) == expected
    long = "2020-01-01T00:00:00." + "1" * 5000 + "Z"  # int() refuses 4,300+ digits on 3.11+
    assert timefmt.parse_iso_fast(long) == parse_iso(long) == pytest.approx(1577836800.111111)


@pytest.mark.fuzz
def test_the_fast_iso_parser_equals_the_plain_one_cache_warm_or_cold():
    """parse_iso_fast remembers each minute (and each that is no time at all): asked
    twice, first with the minute unseen and then remembered, it answers as parse_iso."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from anchor import timefmt

    def two(low, high, *odd):  # mostly valid fields, sometimes one out of range
        return st.one_of(st.integers(low, high).map("{:02d}".format), st.sampled_from(odd))

    zones = st.one_of(
        st.sampled_from(["Z", "", "z", "UTC", " +0200", "+7:00", "-07a0", " "]),
        st.builds(
            "{}{}{}{}".format,
            st.sampled_from("+-"),
            two(0, 14, "99"),
            st.sampled_from(["", ":"]),
            two(0, 59, "60"),
        ),
    )
    stamps = st.builds(
        "{}-{}-{}{}{}:{}:{}{}{}".format,
        st.integers(1900, 2099).map(str),
        two(1, 12, "00", "13"),
        two(1, 31, "00", "32"),
        st.sampled_from(["T", " "]),
        two(0, 23, "24"),
        two(0, 59, "60"),
        two(0, 59, "60", "99"),
        st.sampled_from(["", ".5", ".123456", ".123456789", ".1234567890", ".", ".x", ",5"]),
        zones,
    )

    @settings(max_examples=examples(1000), deadline=None)
    @given(stamps)
    def check(text):
        for key in [k for k in timefmt._minutes if k.startswith(text[:16])]:
            del timefmt._minutes[key]
        expected = parse_iso(text)
        assert timefmt.parse_iso_fast(text) == expected
        assert timefmt.parse_iso_fast(text) == expected

    check()
