"""``anchor mcp`` driven by the official MCP client over stdio, as an assistant would.

The server is the real CLI in a subprocess. Against the local memory every
tool is called; against Splunk, the tools go through the REST endpoint of
the fake splunkd, which hands each request to the real REST handler class.
The MCP SDK needs Python 3.10+: on 3.9 (Splunk 9's Python) these tests are
skipped, since ``anchor mcp`` is an optional extra of the CLI, not part of
the Splunk package.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import LIB, ROOT, T0, copy_memory, run_cli

if sys.version_info < (3, 10):
    pytest.skip("the MCP SDK needs Python 3.10 or newer", allow_module_level=True)
mcp = pytest.importorskip("mcp", reason="pip install -r requirements-dev.txt installs it")

import anyio  # noqa: E402
from fakes.fake_splunkd import FakeSplunkd  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from anchor import operations  # noqa: E402
from anchor.memory import Memory  # noqa: E402
from anchor.splunk.kvstore import open_kvstore  # noqa: E402

READ_TOOLS = [
    "list_anchors",
    "show_anchor",
    "list_drifts",
    "show_drift",
    "recall_similar",
    "learned_weights",
    "blind_spots",
]
WRITE_TOOLS = ["capture", "compare", "feedback"]


def session_run(args, script, env=None):
    """Start ``python -m anchor <args>`` and run ``script(session)`` in an MCP client session."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "anchor", *args],
        cwd=str(ROOT),
        env={"PYTHONPATH": str(LIB), "PATH": os.environ.get("PATH", ""), **(env or {})},
    )
    outcome = {}

    async def main():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            outcome["value"] = await script(session)

    anyio.run(main)
    return outcome["value"]


def content(result):
    assert not result.isError, result.content[0].text
    return result.structuredContent or json.loads(result.content[0].text)


def error_text(result):
    assert result.isError
    return result.content[0].text


def test_local_memory_every_tool_and_bad_arguments(demo_files, healthy_anchor, tmp_path):
    db = tmp_path / "mcp.db"
    copy_memory(healthy_anchor, db)

    async def script(session):
        tools = (await session.list_tools()).tools
        names = [t.name for t in tools]
        assert names == READ_TOOLS + WRITE_TOOLS
        hints = {t.name: t.annotations.readOnlyHint for t in tools}
        assert [n for n, ro in hints.items() if ro] == READ_TOOLS
        assert all(t.inputSchema["type"] == "object" for t in tools)
        seen = {}
        seen["anchors"] = content(await session.call_tool("list_anchors", {}))
        seen["anchor"] = content(await session.call_tool("show_anchor", {"name": "healthy"}))
        seen["compare"] = content(
            await session.call_tool(
                "compare", {"anchor": "healthy", "paths": [str(demo_files["incident"])], "limit": 5}
            )
        )
        drift_id = seen["compare"]["drift_id"]
        seen["drifts"] = content(await session.call_tool("list_drifts", {"limit": 5}))
        seen["drift"] = content(await session.call_tool("show_drift", {"drift_id": "latest"}))
        seen["recall"] = content(await session.call_tool("recall_similar", {"drift_id": drift_id}))
        signal = seen["compare"]["signals"][0]["signal_id"]
        seen["feedback"] = content(
            await session.call_tool(
                "feedback",
                {
                    "drift_id": drift_id,
                    "signal_id": signal,
                    "outcome": "false_positive",
                    "reason": "known batch",
                },
            )
        )
        seen["weights"] = content(await session.call_tool("learned_weights", {}))
        seen["spots"] = content(await session.call_tool("blind_spots", {}))
        seen["capture"] = content(
            await session.call_tool("capture", {"name": "calm", "paths": [str(demo_files["calm"])]})
        )
        seen["errors"] = [
            error_text(await session.call_tool("show_anchor", {})),
            error_text(
                await session.call_tool(
                    "feedback", {"drift_id": drift_id, "signal_id": signal, "outcome": "maybe"}
                )
            ),
            error_text(await session.call_tool("show_drift", {"drift_id": "nope"})),
            error_text(
                await session.call_tool("compare", {"anchor": "healthy", "search": "index=web"})
            ),
            error_text(await session.call_tool("list_drifts", {"limit": 5, "colour": "red"})),
        ]
        return seen

    seen = session_run(["--db", str(db), "mcp", "--user", "assistant"], script)
    assert [a["name"] for a in seen["anchors"]["anchors"]] == ["healthy"]
    assert {s["sourcetype"] for s in seen["anchor"]["sourcetypes"]} >= {"payments", "checkout"}
    # At most the limit asked for; findings fold related signals, so the demo gives fewer.
    assert 1 <= len(seen["compare"]["signals"]) <= 5
    assert all(s["evidence"] for s in seen["compare"]["signals"])
    assert seen["drifts"]["drifts"][0]["drift_id"] == seen["compare"]["drift_id"]
    assert seen["drift"]["drift_id"] == seen["compare"]["drift_id"]
    assert seen["recall"] == {"similar": []}
    assert seen["feedback"]["user"] == "assistant" and seen["feedback"]["weight"] == pytest.approx(
        0.8
    )
    assert seen["weights"]["weights"][0]["weight"] == pytest.approx(0.8)
    assert [s["signal_id"] for s in seen["spots"]["blind_spots"]] == [seen["feedback"]["signal_id"]]
    assert seen["capture"]["name"] == "calm" and seen["capture"]["events"] > 0
    required, outcome, unknown, offline_search, extra = seen["errors"]
    assert "'name' is a required property" in required
    assert "'maybe' is not one of" in outcome
    assert "unknown drift 'nope'" in unknown
    assert "needs a Splunk backend" in offline_search
    assert "Additional properties" in extra
    # The CLI sees what the assistant did: one memory, one implementation.
    assert seen["compare"]["drift_id"] in run_cli("history", db=db).stdout


def test_read_only_mode_offers_no_writing_tool(tmp_path):
    async def script(session):
        names = [t.name for t in (await session.list_tools()).tools]
        refused = await session.call_tool(
            "feedback", {"drift_id": "a", "signal_id": "b", "outcome": "confirmed"}
        )
        return names, refused

    names, refused = session_run(["--db", str(tmp_path / "ro.db"), "mcp", "--read-only"], script)
    assert names == READ_TOOLS
    assert refused.isError and "unknown tool 'feedback' (read-only mode)" in refused.content[0].text


def test_splunk_backend_goes_through_the_rest_endpoint(demo_fingerprints, tmp_path, monkeypatch):
    with FakeSplunkd(user="alice", capabilities=("anchor_feedback",)) as splunkd:
        ca = splunkd.ca_file(tmp_path)
        monkeypatch.setenv("ANCHOR_SPLUNKD_CA", ca)  # the in-process handler calls back over TLS
        monkeypatch.delenv("ANCHOR_STORE", raising=False)
        memory = Memory(open_kvstore(splunkd.uri, splunkd.session_key))
        baseline, incident = demo_fingerprints
        operations.capture(memory, "healthy", baseline, user="admin", now=T0)
        first = operations.compare(memory, "healthy", incident, user="alice", now=T0 + 60)
        splunkd.search_results = [{"rank": "1", "signal_id": first.signals[0].signal_id}]

        async def script(session):
            drifts = content(await session.call_tool("list_drifts", {"limit": 3}))
            drift = content(await session.call_tool("show_drift", {"drift_id": first.drift_id}))
            given = content(
                await session.call_tool(
                    "feedback",
                    {
                        "drift_id": first.drift_id,
                        "signal_id": first.signals[0].signal_id,
                        "outcome": "confirmed",
                    },
                )
            )
            compared = content(
                await session.call_tool(
                    "compare", {"anchor": "healthy", "search": "index=web", "limit": 3}
                )
            )
            capture = error_text(await session.call_tool("capture", {"name": "x", "paths": ["y"]}))
            missing = error_text(await session.call_tool("show_drift", {"drift_id": "0123abcd"}))
            return drifts, drift, given, compared, capture, missing

        env = {"ANCHOR_SPLUNK_TOKEN": splunkd.session_key, "ANCHOR_SPLUNKD_CA": ca}
        drifts, drift, given, compared, capture, missing = session_run(
            ["mcp", "--splunk-url", splunkd.uri], script, env=env
        )
        assert drifts["drifts"][0]["drift_id"] == first.drift_id
        assert drift["signals"][0]["signal_id"] == first.signals[0].signal_id
        assert given["user"] == "alice" and given["weight"] == pytest.approx(1.1)
        assert compared["rows"] == splunkd.search_results
        assert splunkd.searches[-1]["search"].startswith("search index=web | anchorcompare")
        assert "anchorcapture" in capture and "unknown drift" in missing
