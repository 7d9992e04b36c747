"""Compare without capturing first: ``anchorcompare split=<field> baseline=<value>``.

Both windows arrive in one search (as after the ``anchor_shift`` macro); the
real bin/ command runs over the chunked protocol, on one and on three
simulated indexers, and must find exactly what capturing the baseline events
as an anchor and comparing the current events against it finds.
"""

from __future__ import annotations

import html
import random
import re

import pytest
from chunked import run_command, run_distributed
from conftest import DAY, T0, splunk_events
from test_commands import split
from test_conf import conf

from anchor.memory import Memory
from anchor.operations import stored_report
from anchor.report import render_html
from anchor.splguard import check_spl
from anchor.splunk.rows import SIGNAL_FIELDS
from anchor.store import SQLiteStore

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("split_compare")

HOUR = 3600.0
# The incident window is 2 hours from T0 + 3d + 10h; the baseline is the same
# two hours one day earlier (inside the 72-hour healthy data).
CURRENT = (T0 + 3 * DAY + 10 * HOUR, T0 + 3 * DAY + 12 * HOUR)
BEFORE = (CURRENT[0] - DAY, CURRENT[1] - DAY)


def _labelled(events, label, window):
    """What `anchor_shift` adds to each event: its window's label and time bounds."""
    return [
        {**e, "anchor_window": label, "anchor_earliest": window[0], "anchor_latest": window[1]}
        for e in events
    ]


@pytest.fixture(scope="module")
def windows(demo_files):
    healthy = [
        e
        for e in splunk_events(demo_files["healthy"])
        if BEFORE[0] <= float(e["_time"]) < BEFORE[1]
    ]
    incident = splunk_events(demo_files["incident"])
    assert len(healthy) > 1000 and len(incident) > 1000
    return healthy, incident


def _span(window):
    return {"earliest_time": str(window[0]), "latest_time": str(window[1])}


def _signals(records):
    return [{k: r.get(k) for k in SIGNAL_FIELDS} for r in records]


@pytest.fixture(scope="module")
def reference(command_env, windows):
    """Capture the baseline events as an anchor, then compare the current events with it."""
    environment, _db = command_env
    healthy, incident = windows

    def run(script, argument, events, window):
        arguments = [argument, "metrics=latency_ms"]
        span = _span(window)
        return run_distributed(
            script, arguments, [events], env=environment, searchinfo_overrides=span
        )

    captured = run("anchorcapture", "name=yesterday", healthy, BEFORE)
    assert captured.records, captured.messages
    result = run("anchorcompare", "anchor=yesterday", incident, CURRENT)
    assert result.records and result.records[0]["rank"] == "1", result.messages
    return result.records


def _split_by_window(environment, windows, indexers):
    healthy, incident = windows
    events = _labelled(healthy, "before", BEFORE) + _labelled(incident, "after", CURRENT)
    random.Random(indexers).shuffle(events)
    return run_distributed(
        "anchorcompare",
        ["split=anchor_window", "baseline=before", "metrics=latency_ms"],
        split(events, indexers, seed=indexers),
        env=environment,
        chunk_size=1500,
        # The search's own range spans both windows; each window's rate uses its own.
        searchinfo_overrides=_span((BEFORE[0], CURRENT[1])),
    )


@pytest.fixture(scope="module")
def split_on_one_indexer(command_env, windows):
    """The split compare on one indexer, run once: checked against the reference, then
    the drift that feedback is given on."""
    return _split_by_window(command_env[0], windows, 1)


@pytest.mark.parametrize("indexers", [1, 3])
def test_split_by_window_finds_what_capture_then_compare_finds(
    command_env, windows, reference, split_on_one_indexer, indexers
):
    environment, db = command_env
    if indexers == 1:
        result = split_on_one_indexer
    else:
        result = _split_by_window(environment, windows, indexers)
    assert result.returncode == 0, result.stderr
    assert not [m for m in result.messages if m[0] == "ERROR"], result.messages
    assert _signals(result.records) == _signals(reference)
    kinds = {(r["kind"], r["change"], r["sourcetype"]) for r in result.records}
    assert ("template", "appeared", "payments") in kinds
    first = result.records[0]
    assert first["anchor"] == "ad hoc: anchor_window=before, 2025-11-26 10:00 to 12:00 UTC"
    assert first["summary"] and first["narrative_source"] == "offline"
    # Recorded like any other drift, so feedback and the dashboard find it.
    memory = Memory(SQLiteStore(str(db)))
    drift = memory.drift(first["drift_id"])
    assert drift["anchor"] == first["anchor"]
    assert [s["signal_id"] for s in drift["signals"]][: len(result.records)] == [
        r["signal_id"] for r in result.records
    ]


def test_without_window_bounds_both_sides_use_the_search_range(command_env, windows):
    """A split that is not by time (canary hosts against the rest) shares one range."""
    environment, _db = command_env
    _healthy, incident = windows
    canary = {e["host"] for e in incident if e["sourcetype"] == "payments"}
    assert canary
    result = run_distributed(
        "anchorcompare",
        ["split=host", f"baseline={sorted(canary)[0]}"],
        [incident],
        env=environment,
        searchinfo_overrides=_span(CURRENT),
    )
    assert not [m for m in result.messages if m[0] == "ERROR"], result.messages
    anchor = result.records[0]["anchor"]
    assert anchor == f"ad hoc: host={sorted(canary)[0]}, 2025-11-27 10:00 to 12:00 UTC"


def test_a_split_drift_is_shown_and_feedback_changes_its_weight(
    command_env, windows, split_on_one_indexer
):
    environment, db = command_env
    top = split_on_one_indexer.records[0]
    feedback = run_command(
        "anchorfeedback",
        [f"drift={top['drift_id']}", f"signal={top['signal_id']}", "outcome=false_positive"],
        [],
        env=environment,
    )
    assert not [m for m in feedback.messages if m[0] == "ERROR"], feedback.messages
    assert float(feedback.records[0]["weight"]) < 1.0
    again = _split_by_window(environment, windows, 1).records  # the same search, run again
    weights = {r["signal_id"]: float(r["weight"]) for r in again}
    assert weights[top["signal_id"]] < 1.0
    # The dashboard's panels and the HTML report read it like any other drift.
    drifts = run_command("anchorshow", ["what=drifts"], [], env=environment).records
    assert top["drift_id"] in {d["drift_id"] for d in drifts if d["anchor"] == top["anchor"]}
    shown = run_command(
        "anchorshow", ["what=drift", f"drift={top['drift_id']}"], [], env=environment
    ).records
    assert [r["signal_id"] for r in shown] == [r["signal_id"] for r in again]
    page = render_html(stored_report(Memory(SQLiteStore(str(db))), top["drift_id"]))
    assert html.escape(top["anchor"]) in page


def test_save_baseline_stores_the_anchor_and_records_the_drift_against_it(command_env, windows):
    environment, db = command_env
    healthy, incident = windows
    events = _labelled(healthy, "before", BEFORE) + _labelled(incident, "after", CURRENT)
    result = run_distributed(
        "anchorcompare",
        ["split=anchor_window", "baseline=before", "save_baseline=last_week_hour"],
        [events],
        env=environment,
        searchinfo_overrides=_span((BEFORE[0], CURRENT[1])),
    )
    assert not [m for m in result.messages if m[0] == "ERROR"], result.messages
    assert result.records[0]["anchor"] == "last_week_hour"
    memory = Memory(SQLiteStore(str(db)))
    head = memory.anchor("last_week_hour")
    assert head["events"] == len(healthy)
    assert (head["window_start"], head["window_end"]) == BEFORE


@pytest.mark.parametrize(
    "args, events, message",
    [
        (["split=anchor_window"], "both", "split=<field> and baseline=<value> go together"),
        (["anchor=x", "split=anchor_window", "baseline=before"], "both", "not both"),
        ([], "both", "anchorcompare needs anchor=<name>, or split=<field>"),
        (["split=anchor_window", "baseline=befor"], "both", "no events in the baseline window"),
        (["split=anchor_window", "baseline=before"], "before", "no events in the current window"),
        (
            ["split=anchor_window", "baseline=before", "save_baseline=bad|name"],
            "both",
            "invalid anchor name",
        ),
        (["split=anchor_window", "baseline=before"], "overlap", "windows overlap"),
    ],
)
def test_split_errors_are_one_clear_line_and_write_nothing(
    command_env, windows, args, events, message
):
    environment, db = command_env
    healthy, incident = windows
    shifted = (CURRENT[0] - HOUR, CURRENT[1] - HOUR)  # `anchor_shift(2h,1h)`
    chosen = _labelled(healthy[:300], "before", shifted if events == "overlap" else BEFORE)
    if events in ("both", "overlap"):
        chosen += _labelled(incident[:300], "after", CURRENT)
    memory = Memory(SQLiteStore(str(db)))
    before = (len(list(memory.drifts())), [a["name"] for a in memory.anchors()])
    # The reduce alone (a search on one node); the map phase checks the same options.
    result = run_command("anchorcompare", args, chosen, env=environment)
    errors = [text for level, text in result.messages if level == "ERROR"]
    assert any(message in text for text in errors), (result.messages, result.stderr[-1000:])
    assert not any("Traceback" in text or '.py", line' in text for text in errors)
    assert not result.records
    assert (len(list(memory.drifts())), [a["name"] for a in memory.anchors()]) == before


# Splunk's relative time modifiers (Search Reference, "Time modifiers";
# Search Manual, "Specify time modifiers in your search"):
# [+|-]<time_integer><time_unit>@<time_unit>, "now", and offsets chained after
# one another or after a snap ("@d-2h": snap to today, then 2 hours back).
_UNIT = (
    r"(?:s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours"
    r"|d|day|days|w[0-7]?|week|weeks|mon|month|months|q|qtr|qtrs|quarter|quarters"
    r"|y|yr|yrs|year|years)"
)
TIME_MODIFIER = re.compile(rf"^(?:now|(?:[+-]\d*{_UNIT}|@{_UNIT})+)$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _offset(modifier: str, now: float) -> float:
    """Evaluate a chain of plain offsets (no snaps), as the macro writes them."""
    if modifier == "now":
        return now
    for sign, amount, unit in re.findall(r"([+-])(\d*)([smhdw])", modifier):
        now += (1 if sign == "+" else -1) * int(amount or 1) * SECONDS[unit]
    return now


def _macro(name: str):
    macros = conf("macros.conf")
    stanza = next(s for s in macros.sections() if s.split("(")[0] == name)
    return macros[stanza]


def _expand(macro, *values: str) -> str:
    text = macro["definition"]
    for arg, value in zip([a.strip() for a in macro["args"].split(",")], values):
        text = text.replace(f"${arg}$", value)
    assert "$" not in text, text
    return text


@pytest.mark.parametrize("window, shift", [("1h", "7d"), ("15m", "1d"), ("1d", "7d")])
def test_anchor_shift_expands_to_guarded_spl_with_valid_time_modifiers(window, shift):
    macro = _macro("anchor_shift")
    assert macro.get("iseval", "0") == "0"
    search = f"index=web {_expand(macro, window, shift)} | anchorcompare split=anchor_window"
    verdict = check_spl(search, also_allow=("anchorcompare",))
    assert verdict.allowed, verdict.reason
    assert verdict.commands == ["search", "eval", "anchorcompare"]
    ranges = re.findall(r"\(earliest=([^\s)]+) latest=([^\s)]+)\)", search)
    relative = re.findall(r'relative_time\(now\(\), "([^"]+)"\)', search)
    assert len(ranges) == 2 and len(relative) == 4
    for modifier in [*sum(ranges, ()), *relative]:
        assert TIME_MODIFIER.match(modifier), modifier
    # The two ranges are the last <window> and the same <window> <shift> earlier.
    now = 1_800_000_000.0
    (after, before) = [(_offset(a, now), _offset(b, now)) for a, b in ranges]
    length = _offset(f"+{window}", 0)
    assert after == (now - length, now)
    assert before == (now - _offset(f"+{shift}", 0) - length, now - _offset(f"+{shift}", 0))
    # The eval labels with the same boundary and gives each window the bounds searched.
    label, earliest, latest = re.search(
        r"anchor_window=if\(_time>=relative_time\(now\(\), \"([^\"]+)\"\).*"
        r"anchor_earliest=if\(anchor_window==\"after\", relative_time\(now\(\), \"([^\"]+)\"\), "
        r"relative_time\(now\(\), \"([^\"]+)\"\)\)",
        search,
    ).groups()
    assert _offset(label, now) == after[0]
    assert (_offset(earliest, now), _offset(latest, now)) == (after[0], before[0])
    assert 'anchor_latest=if(anchor_window=="after", now(), relative_time(now(), "-' in search


def test_searchbnf_shows_the_incident_time_use_and_the_rolling_anchor_is_a_disabled_template():
    bnf = conf("searchbnf.conf")["anchorcompare-command"]
    examples = [v for k, v in bnf.items() if k.startswith("example")]
    shift = "index=web `anchor_shift(1h,7d)` | anchorcompare split=anchor_window baseline=before"
    assert shift in examples
    macros = conf("macros.conf")
    for example in examples:
        for name, args in re.findall(r"`(\w+)\(([^)]*)\)`", example):
            assert macros.has_section(f"{name}({len(args.split(','))})"), name
    rolling = conf("savedsearches.conf")["Anchor - capture last week nightly"]
    assert rolling["disabled"] == "1" and "anchorcapture name=" in rolling["search"]
    assert check_spl(rolling["search"], also_allow=("anchorcapture",)).allowed
    assert (rolling["dispatch.earliest_time"], rolling["dispatch.latest_time"]) == ("-7d@d", "@d")
    for key in ("dispatch.earliest_time", "dispatch.latest_time"):
        assert TIME_MODIFIER.match(rolling[key]), rolling[key]
