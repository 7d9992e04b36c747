"""Against real splunkd bytes: sessions recorded from Splunk 6.3 (protocol v2).

The fixtures in tests/data/scpv2/ are input recordings from splunk-sdk-python's
test data (Apache-2.0), removed from that repository in commit 81ab83c and
taken from its parent: ``countmatches.input.gz`` (a streaming command over
tweets: unicode, quoting) and ``sum.map.input.gz`` (a reporting command's map
phase over 50,000 events with Splunk's default fields, ISO ``_time`` with an
offset and ``__mv_`` columns).
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chunked import BIN, csv_to_records, decode_chunks, encode_chunk, records_to_csv, run_command

DATA = Path(__file__).parent / "data" / "scpv2"


def recording(name: str) -> bytes:
    return gzip.decompress((DATA / name).read_bytes())


@pytest.mark.parametrize("name", ["countmatches.input.gz", "sum.map.input.gz"])
def test_harness_framing_is_byte_identical_to_splunkd(name):
    raw = recording(name)
    chunks = decode_chunks(raw)
    assert chunks[0][0]["action"] == "getinfo" and chunks[-1][0] == {
        "action": "execute",
        "finished": True,
    }
    assert b"".join(encode_chunk(meta, body) for meta, body in chunks) == raw


def test_harness_csv_writer_reproduces_splunkd_bodies():
    body = decode_chunks(recording("countmatches.input.gz"))[1][1]
    assert records_to_csv(csv_to_records(body)).encode("utf-8") == body.encode("utf-8")


def _replay(raw: bytes, script: str, args: list[str], env: dict) -> list[tuple[dict, str]]:
    """Feed a recorded session to our command: its getinfo arguments swapped for ours, bodies untouched."""
    chunks = decode_chunks(raw)
    getinfo = chunks[0][0]
    getinfo["searchinfo"]["args"] = args
    getinfo["searchinfo"]["raw_args"] = args
    stream = encode_chunk(getinfo) + b"".join(encode_chunk(m, b) for m, b in chunks[1:])
    process = subprocess.run(
        [sys.executable, str(BIN / f"{script}.py")],
        input=stream,
        capture_output=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert process.returncode == 0, process.stderr.decode()[-2000:]
    return decode_chunks(process.stdout)


def test_pattern_command_on_a_recorded_streaming_session(tmp_path):
    raw = recording("countmatches.input.gz")
    sent = csv_to_records(decode_chunks(raw)[1][1])
    output = _replay(raw, "anchorpattern", [], {"ANCHOR_STORE": f"sqlite:{tmp_path / 'm.db'}"})
    rows = [r for _, body in output for r in csv_to_records(body)]
    assert len(rows) == len(sent) > 0
    assert [r.get("text") for r in rows] == [r.get("text") for r in sent]
    assert all(r["anchor_pattern"] for r in rows)
    assert all(r.get("anchor_template") for r in rows if r.get("text", "").strip())


def test_capture_map_and_reduce_on_a_recorded_map_session(tmp_path):
    raw = recording("sum.map.input.gz")
    sent = csv_to_records(decode_chunks(raw)[1][1])
    env = {"ANCHOR_STORE": f"sqlite:{tmp_path / 'm.db'}"}
    mapped = _replay(raw, "anchorcapture", ["name=recorded", "phase=map"], env)
    partials = [r for _, body in mapped for r in csv_to_records(body)]
    assert len(partials) == 1 and partials[0]["anchor_partial"].startswith("zjson1:")
    reduced = run_command("anchorcapture", ["name=recorded"], partials, env=env)
    assert not [m for m in reduced.messages if m[0] == "ERROR"], reduced.messages
    [row] = reduced.records
    assert int(row["events"]) == len(sent)
    # _time arrives as ISO 8601 with an offset (2014-06-11T08:19:58.000-0700).
    assert float(row["window_start"]) > 1.4e9
    assert "value1" not in row.get("sourcetypes", "")
