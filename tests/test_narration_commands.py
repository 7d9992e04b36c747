"""``anchorcompare narrate=true`` and ``deep=true``: the real bin/ script over the chunked protocol.

The memory is SQLite (``ANCHOR_STORE``), but each LLM chat turn and the deep
investigation's searches go to the fake splunkd over HTTPS, as they would on
a search head; the LLM is the loopback fake. The user is ``bob``, an
``anchor_user``: no ``list_storage_passwords``, so the fake splunkd refuses
his storage/passwords reads as splunkd does. The command sends each chat
turn to Anchor's REST endpoint ``narrate`` (the real handler, which the fake
splunkd runs in process with a system token) and never sees the key. What
reaches search.log is the command's stderr, so the key is checked there too.
"""

from __future__ import annotations

import json

import pytest
from chunked import run_command
from conftest import ROOT, copy_memory, splunk_events
from fakes.fake_llm import FakeLLM
from fakes.fake_splunkd import FakeSplunkd

from anchor.memory import Memory
from anchor.splunk.secrets import read_secret
from anchor.store import SQLiteStore, StoreError

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("narration_commands")

KEY = "sk-splunk-DISTINCTIVE-31337"
ANCHOR_USER = ("anchor_feedback", "anchor_narrate")  # authorize.conf [role_anchor_user]
SYSTEM = ("admin_all_objects", "list_storage_passwords")


@pytest.fixture(scope="module")
def events(demo_files):
    return splunk_events(demo_files["healthy"], limit=20000), splunk_events(demo_files["incident"])


def _session(splunkd, db, folder):
    env = {"ANCHOR_STORE": f"sqlite:{db}", "ANCHOR_SPLUNKD_CA": splunkd.ca_file(folder)}
    info = {"splunkd_uri": splunkd.uri, "session_key": splunkd.session_key, "username": "bob"}
    return env, info


@pytest.fixture(scope="module")
def captured(tmp_path_factory, events):
    """The healthy events captured once by bob as anchor 'healthy'; each test gets a copy."""
    folder = tmp_path_factory.mktemp("narration")
    db = folder / "memory.db"
    with FakeSplunkd(user="bob", capabilities=ANCHOR_USER) as splunkd:
        env, info = _session(splunkd, db, folder)
        result = run_command(
            "anchorcapture", ["name=healthy"], events[0], env=env, searchinfo_overrides=info
        )
    assert result.records and result.records[0]["anchor"] == "healthy", result.stderr
    return db


@pytest.fixture
def setup(tmp_path, captured):
    db = copy_memory(captured, tmp_path / "memory.db")
    with (
        FakeSplunkd(user="bob", capabilities=ANCHOR_USER) as splunkd,
        FakeLLM() as llm,
        pytest.MonkeyPatch.context() as mp,
    ):
        env, info = _session(splunkd, db, tmp_path)
        mp.setenv("ANCHOR_SPLUNKD_CA", env["ANCHOR_SPLUNKD_CA"])  # the handler runs in this process
        splunkd.add_token("system-token", "splunk-system-user", SYSTEM)
        splunkd.system_token = "system-token"
        splunkd.conf["llm"] = {"url": llm.url, "model": "qwen-plus", "timeout_s": "2"}
        splunkd.passwords["llm_api_key"] = KEY
        yield splunkd, llm, env, info, db


def compare(setup, events, *args, block=None):
    _, _, env, info, _ = setup
    if block:
        env = {**env, "ANCHOR_BLOCK_IMPORTS": block}
    return run_command(
        "anchorcompare",
        ["anchor=healthy", *args],
        events[1],
        env=env,
        searchinfo_overrides=info,
        wrapper=str(ROOT / "tests" / "blocked_import.py") if block else None,
    )


def top_signals(result, n=1):
    return [r["signal_id"] for r in result.records[:n]]


def assert_no_key(result, db):
    everything = result.stderr + json.dumps(result.records) + json.dumps(result.messages)
    assert KEY not in everything
    assert KEY.encode() not in db.read_bytes()


@pytest.fixture(scope="module")
def top(tmp_path_factory, captured, events):
    """The rank-1 signal id of a run without narration, on a copy of the captured memory:
    what the scripted LLM answers cite. Run once; every test's memory starts the same."""
    folder = tmp_path_factory.mktemp("plain")
    db = copy_memory(captured, folder / "memory.db")
    with FakeSplunkd(user="bob", capabilities=ANCHOR_USER) as splunkd, FakeLLM() as llm:
        env, info = _session(splunkd, db, folder)
        splunkd.conf["llm"] = {"url": llm.url, "model": "qwen-plus", "timeout_s": "2"}
        result = compare((splunkd, llm, env, info, db), events)
        assert llm.requests == []
    assert result.records[0]["narrative_source"] == "offline", result.stderr
    return result.records[0]["signal_id"]


def test_narrate_true_puts_the_llm_narrative_on_the_rank_1_row_and_in_the_drift(setup, events, top):
    _, llm, _, _, db = setup
    llm.script = [
        (
            "json",
            {
                "summary": "Payments are timing out.",
                "hypothesis": "Likely the gateway.",
                "drill_in_spl": 'sourcetype="payments" | timechart count by host',
                "cited_signals": [top],
            },
        )
    ]
    result = compare(setup, events, "narrate=true")
    first, second = result.records[0], result.records[1]
    assert first["narrative_source"] == "llm", result.stderr
    assert first["summary"] == "Payments are timing out."
    assert first["cited_signals"] == top and first["narrative_model"] == "qwen-plus"
    assert first["prompt_version"] == "1" and not first.get("fallback_reason")
    assert not second.get("summary") and not second.get("narrative_source")
    assert llm.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    drift = Memory(SQLiteStore(str(db))).drift(first["drift_id"])
    assert drift["narrative"]["source"] == "llm" and drift["summary"] == "Payments are timing out."
    assert_no_key(result, db)


def test_llm_errors_fall_back_offline_without_leaking_the_key(setup, events):
    _, llm, _, _, db = setup
    llm.script = [("status", 401, {})]
    result = compare(setup, events, "narrate=true")
    first = result.records[0]
    assert first["narrative_source"] == "offline", result.stderr
    assert "LLM fatal" in first["fallback_reason"] and "401" in first["fallback_reason"]
    assert first["summary"].startswith("Against anchor 'healthy'")
    assert_no_key(result, db)


def test_an_unconfigured_llm_narrates_offline_and_says_why(setup, events):
    splunkd, llm, _, _, _ = setup
    del splunkd.conf["llm"]
    result = compare(setup, events, "narrate=true")
    assert result.records[0]["narrative_source"] == "offline"
    assert "set them on the setup page" in result.records[0]["fallback_reason"]
    splunkd.conf["llm"] = {"url": "http://example.com/v1", "model": "m"}
    result = compare(setup, events, "narrate=true")
    assert "must use https" in result.records[0]["fallback_reason"]
    assert llm.requests == []


def test_deep_true_runs_guarded_searches_as_the_user_and_reports_its_steps(setup, events, top):
    splunkd, llm, _, _, db = setup
    splunkd.search_results = [{"host": f"web-{n}", "count": str(n)} for n in range(80)]
    llm.script = [
        (
            "tools",
            [
                ("run_spl", {"query": "index=* | delete"}),
                (
                    "run_spl",
                    {"query": 'sourcetype="payments" | stats count by host', "earliest": "-2h"},
                ),
            ],
        ),
        ("tools", [("list_recent_drifts", {"limit": 3})]),
        (
            "json",
            {
                "summary": "Gateway timeouts on every payments host.",
                "hypothesis": None,
                "drill_in_spl": None,
                "cited_signals": [top],
            },
        ),
    ]
    result = compare(setup, events, "deep=true")
    first = result.records[0]
    assert first["narrative_source"] == "llm", (first["fallback_reason"], result.stderr)
    steps = first["investigation_steps"]
    steps = steps if isinstance(steps, list) else [steps]
    assert len(steps) == 3 and first["investigation_truncated"] in ("0", "False")
    assert "refused" in steps[0] and "-> ok" in steps[1] and "list_recent_drifts" in steps[2]
    # Only the allowed query reached splunkd, as the invoking user, with the caps.
    [search] = splunkd.searches
    assert search["path"] == "/servicesNS/bob/anchor/search/jobs"
    assert search["search"] == 'search sourcetype="payments" | stats count by host | head 50'
    assert (search["count"], search["max_time"], search["earliest_time"]) == ("50", "30", "-2h")
    tool_result = next(
        m
        for m in llm.requests[1]["body"]["messages"]
        if m["role"] == "tool" and m["content"].startswith("{")
    )
    assert len(json.loads(tool_result["content"])["rows"]) == 50
    drift = Memory(SQLiteStore(str(db))).drift(first["drift_id"])
    assert [s["status"] for s in drift["narrative"]["steps"]] == ["refused", "ok", "ok"]
    assert_no_key(result, db)


def test_getinfo_accepts_the_new_options_and_rejects_bad_values(setup, events):
    _, _, env, info, _ = setup
    bad = run_command(
        "anchorcompare",
        ["anchor=healthy", "deep=maybe"],
        events[1][:10],
        env=env,
        searchinfo_overrides=info,
    )
    text = " ".join(message for _, message in bad.messages)
    assert "deep" in text and not bad.records


def test_an_anchor_user_without_storage_passwords_access_gets_the_llm_narrative(setup, events, top):
    splunkd, llm, _, _, db = setup
    with pytest.raises(StoreError, match="403"):  # splunkd refuses bob's read of the key
        read_secret(splunkd.uri, splunkd.session_key, "llm_api_key")
    llm.script = [
        (
            "json",
            {
                "summary": "Checkout errors.",
                "hypothesis": None,
                "drill_in_spl": None,
                "cited_signals": [top],
            },
        )
    ]
    splunkd.requests.clear()
    result = compare(setup, events, "narrate=true")
    assert result.records[0]["narrative_source"] == "llm", result.records[0]["fallback_reason"]
    assert result.records[0]["summary"] == "Checkout errors."
    # One relayed turn, as bob; the key was read once, by the handler with the system token.
    assert ("POST", "/servicesNS/bob/anchor/anchor/narrate") in splunkd.requests
    assert splunkd.requests.count(("GET", "/servicesNS/nobody/anchor/storage/passwords")) == 1
    assert llm.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert_no_key(result, db)


def test_without_anchor_narrate_the_story_is_offline_and_says_which_capability(setup, events):
    splunkd, llm, _, _, db = setup
    splunkd.capabilities = ["anchor_feedback"]
    result = compare(setup, events, "narrate=true")
    first = result.records[0]
    assert first["narrative_source"] == "offline" and "anchor_narrate" in first["fallback_reason"]
    assert llm.requests == []
    assert Memory(SQLiteStore(str(db))).drift(first["drift_id"])["narrative"]["source"] == "offline"


def test_when_narration_cannot_even_load_the_drift_is_still_recorded(setup, events):
    _, llm, _, _, db = setup
    result = compare(setup, events, "narrate=true", block="anchor.splunk.narration")
    assert not [m for m in result.messages if m[0] == "ERROR"], result.messages
    first = result.records[0]
    assert first["narrative_source"] == "offline", result.stderr
    assert "narration could not be loaded" in first["fallback_reason"]
    assert "blocked by the test" in first["fallback_reason"]
    assert Memory(SQLiteStore(str(db))).drift(first["drift_id"])["anchor"] == "healthy"
    assert llm.requests == []


def test_an_import_error_inside_a_command_is_a_one_line_search_error(setup, events):
    _, _, env, info, _ = setup
    result = run_command(
        "anchormaintenance",
        ["action=decay", "dry_run=true"],
        [],
        env={**env, "ANCHOR_BLOCK_IMPORTS": "anchor.maintenance"},
        searchinfo_overrides=info,
        wrapper=str(ROOT / "tests" / "blocked_import.py"),
    )
    errors = [text for level, text in result.messages if level == "ERROR"]
    assert errors and "could not load a library" in errors[0] and "\n" not in errors[0], errors
    assert "Traceback" not in errors[0] and not result.records
