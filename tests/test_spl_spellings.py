"""anchorcapture takes anchor= as well as name= (anchorcompare's spelling), run as splunkd runs it."""

from __future__ import annotations

import pytest
from chunked import run_distributed
from conftest import splunk_events


@pytest.fixture(scope="module")
def setup(command_env, demo_files):
    return command_env[0], splunk_events(demo_files["calm"], limit=2000)


def test_anchor_is_a_synonym_of_name(setup):
    env, events = setup
    result = run_distributed("anchorcapture", ["anchor=by_anchor"], [events], env=env)
    assert result.returncode == 0, result.stderr[-800:]
    assert [r["anchor"] for r in result.records] == ["by_anchor"]
    compared = run_distributed("anchorcompare", ["anchor=by_anchor"], [events], env=env)
    assert compared.returncode == 0 and compared.records
    assert compared.records[0]["anchor"] == "by_anchor"
    # The drift remembers the search that made it (splunkd sends it URL-encoded).
    from anchor.memory import Memory
    from anchor.store import SQLiteStore

    db = env["ANCHOR_STORE"].split(":", 1)[1]
    drift = Memory(SQLiteStore(db)).drift(compared.records[0]["drift_id"])
    assert drift["origin"] == "search index=web | anchorcompare"
    same = run_distributed("anchorcapture", ["name=both", "anchor=both"], [events], env=env)
    assert [r["anchor"] for r in same.records] == ["both"]


@pytest.mark.parametrize("args, message", [(["name=a", "anchor=b"], "differ"), ([], "needs name=")])
def test_conflicting_or_missing_names_are_one_clear_error(setup, args, message):
    env, events = setup
    result = run_distributed("anchorcapture", args, [events], env=env)
    assert not result.records
    assert any(message in text for _, text in result.messages), result.messages
