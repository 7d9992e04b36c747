"""The Drift history dashboard: its definition is valid, its SPL passes the guard, its panels run.

Dashboard Studio has no public JSON schema to validate against offline, so
the checks are the ones Splunk's editor enforces when it loads a
definition: every visualization's data source exists, every layout item
and global input exists, ``ds.chain`` extends a real source, every token a
query uses is set by an input, and every ``$row.<field>.value$`` in a
drilldown names a field its data source returns. Each ``| anchorshow``
stage then runs through the real bin/ script over the chunked protocol
against a memory built with the CLI, and the fields the rest of the query
uses must be in its rows.
"""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET

import pytest
from chunked import run_command
from conftest import ROOT, copy_memory, run_cli

from anchor.splguard import check_spl

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("dashboard")

VIEW = ROOT / "default" / "data" / "ui" / "views" / "drift_history.xml"
NAV = ROOT / "default" / "data" / "ui" / "nav" / "default.xml"
# $name$, $name|s$ (a token filter: quoted and escaped), $source:result.field$ (smart source).
TOKEN = re.compile(r"\$([A-Za-z_][\w.:]*)(?:\|[a-z]+)?\$")
VIZ_TYPES = {
    "splunk.table",
    "splunk.column",
    "splunk.line",
    "splunk.markdown",
    "splunk.singlevalue",
}
INPUT_TYPES = {"input.timerange", "input.dropdown", "input.text"}
DEFAULTS = {
    "tr.earliest": "-7d@h",
    "tr.latest": "now",
    "anchor": "*",
    "sourcetype": "*",
    "drift": "latest",
}
# Tokens the feedback form needs before its panel runs: the user sets each of them.
USER_SET = {"fb_drift": '"d1"', "fb_signal": '"s1"', "outcome": '"confirmed"', "reason": '"x"'}


@pytest.fixture(scope="module")
def definition():
    root = ET.parse(VIEW).getroot()
    assert root.tag == "dashboard" and root.get("version") == "2"
    return json.loads(root.find("definition").text)


def queries(definition):
    return {name: ds["options"]["query"] for name, ds in definition["dataSources"].items()}


def full_query(definition, name):
    """A chain's query is its parent's with its own appended, as Splunk runs it."""
    source = definition["dataSources"][name]
    own = source["options"]["query"]
    if source["type"] == "ds.chain":
        return full_query(definition, source["options"]["extend"]) + " " + own
    return own


def fill(query):
    return TOKEN.sub(lambda m: {**DEFAULTS, **USER_SET}[m.group(1)], query)


def test_the_definition_is_consistent(definition):
    sources, visuals, inputs = (
        definition["dataSources"],
        definition["visualizations"],
        definition["inputs"],
    )
    assert definition["title"] == "Drift history"
    for name, viz in visuals.items():
        assert viz["type"] in VIZ_TYPES, name
        primary = viz.get("dataSources", {}).get("primary")
        assert primary is None or primary in sources, name
    for name, source in sources.items():
        assert source["type"] in ("ds.search", "ds.chain") and source["options"]["query"], name
        if source["type"] == "ds.chain":
            assert source["options"]["extend"] in sources
    layout = definition["layout"]
    placed = [item["item"] for item in layout["structure"]]
    assert sorted(placed) == sorted(visuals), "every visualization is placed exactly once"
    assert set(layout["globalInputs"]) == set(inputs)
    for name, item in inputs.items():
        assert item["type"] in INPUT_TYPES, name
    tokens = {i["options"]["token"] for i in inputs.values()} | clicked_tokens(definition)
    defined = {f"{t}.earliest" for t in tokens} | {f"{t}.latest" for t in tokens} | tokens
    used = set()
    for query in queries(definition).values():
        used |= set(TOKEN.findall(query))
    used |= set(TOKEN.findall(json.dumps(definition["defaults"])))
    assert used <= defined and used <= set(DEFAULTS) | set(USER_SET)
    # Until the user sets them, only the feedback form waits; everything else has a default.
    defaulted = {i["options"]["token"] for i in inputs.values() if "defaultValue" in i["options"]}
    defaulted |= set(definition["defaults"]["tokens"]["default"])
    assert tokens - defaulted == {"fb_drift", "fb_signal", "outcome"}
    root = ET.parse(NAV).getroot()
    assert root.find("view[@default='true']").get("name") == "drift_history"


def test_every_data_source_passes_the_spl_guard(definition):
    for name in definition["dataSources"]:
        verdict = check_spl(fill(full_query(definition, name)), also_allow={"anchorshow"})
        assert verdict.allowed, (name, verdict.reason)
    # The guard is not a rubber stamp: the same queries with a write are refused.
    assert not check_spl(
        "| anchorshow what=drifts | outputlookup x", also_allow={"anchorshow"}
    ).allowed


def clicked_tokens(definition):
    """Tokens set by clicking a visualization (drilldown.setToken)."""
    return {
        token["token"]
        for viz in definition["visualizations"].values()
        for handler in viz.get("eventHandlers", [])
        if handler["type"] == "drilldown.setToken"
        for token in handler["options"]["tokens"]
    }


def drilldown_fields(definition, viz):
    text = json.dumps(viz.get("eventHandlers", []))
    return re.findall(r"\$row\.(\w+)\.value(?:\|[a-z]+)?\$", text) + re.findall(
        r'"key": "row\.(\w+)\.value"', text
    )


def test_row_values_spliced_into_a_query_are_quoted_by_the_s_filter(definition):
    # Dashboard Studio's |s filter quotes the value and escapes its quotes, so a signal id
    # taken from logs cannot end its string; only signal_spl, a whole guarded query, goes in bare.
    queries = [
        handler["options"]["query"]
        for viz in definition["visualizations"].values()
        for handler in viz.get("eventHandlers", [])
        if "query" in handler.get("options", {})
    ]
    assert queries
    for query in queries:
        bare = re.findall(r"\$row\.(\w+)\.value\$", query)
        assert bare in ([], ["signal_spl"]) and (bare or "|s$" in query), query


def table_fields(query):
    tables = re.findall(r"\|\s*table\s+([^|]+)", query)
    return tables[-1].split() if tables else []


def test_drilldowns_name_fields_their_source_returns(definition):
    checked = 0
    for viz in definition["visualizations"].values():
        fields = drilldown_fields(definition, viz)
        if not fields:
            continue
        returned = table_fields(full_query(definition, viz["dataSources"]["primary"]))
        assert set(fields) <= set(returned), (fields, returned)
        checked += 1
    assert checked == 4


@pytest.fixture(scope="module")
def memory_env(demo_files, healthy_anchor, tmp_path_factory):
    """A memory with an anchor, two drifts and feedback (one signal confirmed, one a blind spot)."""
    db = tmp_path_factory.mktemp("dash") / "memory.db"
    copy_memory(healthy_anchor, db)
    for window in ("incident", "calm"):
        assert (
            run_cli("compare", "healthy", "--input", str(demo_files[window]), db=db).returncode == 0
        )
    drift = json.loads(
        run_cli(
            "compare", "healthy", "--input", str(demo_files["incident"]), "--json", db=db
        ).stdout
    )
    first, second = drift["signals"][0]["signal_id"], drift["signals"][1]["signal_id"]
    for signal, outcome in ((first, "confirmed"), (second, "false_positive")):
        given = run_cli("feedback", drift["drift_id"], signal, outcome, "--reason", outcome, db=db)
        assert given.returncode == 0, given.stderr
    return {"ANCHOR_STORE": f"sqlite:{db}"}, drift


def fields_used_after(query):
    """Field names the rest of the pipeline reads from anchorshow's rows."""
    rest = query.split("|", 2)[2] if query.count("|") >= 2 else ""
    names = set(re.findall(r"\bby\s+(\w+)", rest)) | set(re.findall(r"(\w+)=\"", rest))
    names |= set(re.findall(r"\btable\s+([^|]+)", rest)[0].split()) if "table" in rest else set()
    names |= set(re.findall(r"strftime\((\w+)", rest))
    computed = set(re.findall(r"(?:\beval|,)\s*(\w+)=", rest))  # made by eval in the query
    return names - computed


def test_each_anchorshow_panel_runs_and_returns_what_the_rest_of_the_query_uses(
    definition, memory_env
):
    env, drift = memory_env
    ran = 0
    # Panels that share a stage (a chain and its parent, the drift's five panels) get the
    # same rows: anchorshow only reads, so each distinct stage runs once.
    results = {}
    for name in definition["dataSources"]:
        query = fill(full_query(definition, name))
        if not query.startswith("| anchorshow"):
            continue
        args = tuple(shlex.split(query.split("|")[1])[1:])
        if args not in results:
            results[args] = run_command(
                "anchorshow",
                args,
                [],
                env=env,
                searchinfo_overrides={"earliest_time": "0", "latest_time": "0"},
            )
        result = results[args]
        assert result.returncode == 0 and not result.messages, (name, result.stderr[-800:])
        assert result.records, name
        returned = set().union(*result.records)  # empty values are not sent, as in splunkd
        missing = fields_used_after(query) - returned
        assert not missing, (name, missing)
        ran += 1
    assert ran == 13
    signals = run_command("anchorshow", ["what=drift"], [], env=env).records
    assert signals[0]["drift_id"] == drift["drift_id"]
    assert [r["signal_id"] for r in signals][:3] == [s["signal_id"] for s in drift["signals"]][:3]
    # Every signal's drill-in query is read-only by the guard's rules.
    assert all(check_spl(r["signal_spl"]).allowed for r in signals)
    spots = run_command("anchorshow", ["what=blind_spots"], [], env=env).records
    assert [s["signal_id"] for s in spots] == [drift["signals"][1]["signal_id"]]


def test_the_time_range_limits_drifts_and_feedback(memory_env):
    env, _ = memory_env
    future = {"earliest_time": "4102444800", "latest_time": "4102531200"}  # 2100-01-01
    for what in ("drifts", "feedback"):
        result = run_command(
            "anchorshow", [f"what={what}"], [], env=env, searchinfo_overrides=future
        )
        assert result.returncode == 0 and result.records == [], what
    bad = run_command("anchorshow", ["what=everything"], [], env=env)
    assert any("what" in text for _, text in bad.messages) and not bad.records


SMART = re.compile(r"\$([^$:|]+):result\.(\w+)\$")
WRITERS = ("anchorfeedback", "anchorcapture", "anchorcompare", "anchormaintenance")


def test_the_narrative_panel_reads_a_smart_source_that_returns_its_fields(definition):
    by_name = {ds["name"]: key for key, ds in definition["dataSources"].items()}
    used = SMART.findall(json.dumps(definition["visualizations"]))
    assert {field for _, field in used} >= {"summary", "hypothesis", "drill_in_spl"}
    for source, field in used:
        key = by_name[source]
        assert definition["dataSources"][key]["options"].get("enableSmartSources") is True
        assert field in table_fields(full_query(definition, key)), (source, field)


def test_nothing_writes_on_a_click_and_feedback_needs_a_chosen_outcome(definition):
    for name in definition["dataSources"]:
        query = full_query(definition, name)
        writes = re.search(r"\|\s*(" + "|".join(WRITERS) + r")\b", query)
        assert not writes, name  # panels only read
    writing = []
    for name, viz in definition["visualizations"].items():
        for handler in viz.get("eventHandlers", []):
            if "anchorfeedback" in json.dumps(handler):
                # Opens the search page, where Splunk asks before running a risky command.
                assert handler["type"] == "drilldown.linkToSearch"
                writing.append(name)
    assert writing == ["viz_feedback_submit"]
    outcome = definition["inputs"]["input_outcome"]["options"]
    assert "defaultValue" not in outcome  # the user must choose
    assert {i["value"] for i in outcome["items"]} == {"confirmed", "false_positive"}
    submit = full_query(definition, "ds_feedback_submit")
    assert "$outcome|s$" in submit and "$reason|s$" in submit  # quoted and escaped by Splunk
    handler = definition["visualizations"]["viz_feedback_submit"]["eventHandlers"][0]
    assert "outcome=$row.outcome.value|s$" in handler["options"]["query"]


def test_severity_columns_are_coloured(definition):
    coloured = 0
    for viz in definition["visualizations"].values():
        formats = viz.get("options", {}).get("columnFormat", {})
        for field, style in formats.items():
            assert field in ("severity", "top_severity")
            palette = re.search(r"matchValue\((\w+)\)", style["rowBackgroundColors"]).group(1)
            assert {m["match"] for m in viz["context"][palette]} >= {"HIGH", "MEDIUM", "LOW"}
            coloured += 1
    assert coloured == 2


def test_drift_rows_carry_windows_and_whether_each_signal_is_new(memory_env, demo_files, tmp_path):
    env, drift = memory_env
    db = env["ANCHOR_STORE"].split(":", 1)[1]
    later = tmp_path / "later.jsonl"
    later.write_text("".join(demo_files["incident"].read_text().splitlines(True)[:-1]))
    again = json.loads(run_cli("compare", "healthy", "--input", str(later), "--json", db=db).stdout)
    assert again["drift_id"] != drift["drift_id"]
    rows = run_command("anchorshow", ["what=drift", f"drift={again['drift_id']}"], [], env=env)
    assert rows.returncode == 0 and rows.records
    first = drift["signals"][0]["signal_id"]
    for row in rows.records:
        assert float(row["window_start"]) == pytest.approx(again["windows"]["current"]["start"])
        assert float(row["anchor_window_end"]) == pytest.approx(again["windows"]["anchor"]["end"])
        assert int(row["seen_before"]) >= 1 or row["signal_id"] not in {
            s["signal_id"] for s in drift["signals"]
        }
    mine = next(r for r in rows.records if r["signal_id"] == first)
    assert "1 confirmed" in mine["judged"]
    listed = run_command(
        "anchorshow",
        ["what=drifts"],
        [],
        env=env,
        searchinfo_overrides={"earliest_time": "0", "latest_time": "0"},
    )
    newest = listed.records[0]
    assert newest["drift_id"] == again["drift_id"]
    assert float(newest["window_end"]) == pytest.approx(again["windows"]["current"]["end"])
