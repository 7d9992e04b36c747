"""Drive a bin/ search command over splunkd's chunked protocol (v2), as splunkd does.

Used by the tests and by `make demo` to run the Splunk commands without a Splunk.

Each chunk is ``chunked 1.0,<metadata bytes>,<body bytes>\\n`` followed by a
JSON metadata object and a CSV body. splunkd first sends ``getinfo`` with the
search's ``searchinfo`` (arguments, user, session, time range), reads the
command's configuration, then sends ``execute`` chunks of CSV records, the
last one marked ``finished``; when the command's getinfo answer declares
``required_fields``, the events carry only those fields. Multivalue fields travel as a newline-joined
value plus a ``__mv_<field>`` companion column (``$a$;$b$``). This mirrors
the sessions recorded from Splunk 6.3 in splunk-sdk-python's test data.

For reporting commands, ``run_distributed`` starts the reduce process and
asks it getinfo, runs the map phase as separate processes over disjoint event
sets (one per simulated indexer) with the command line splunkd takes from the
reduce's ``streaming_preop``, and feeds their outputs to the waiting reduce.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "bin"


def encode_chunk(metadata: Mapping[str, Any], body: str = "") -> bytes:
    # splunkd writes getinfo metadata with spaces after separators and execute
    # metadata without (as in the recorded sessions); so do we, byte for byte.
    separators = (", ", ": ") if metadata.get("action") == "getinfo" else (",", ":")
    meta = json.dumps(metadata, separators=separators).encode("utf-8")
    data = body.encode("utf-8")
    return b"chunked 1.0,%d,%d\n" % (len(meta), len(data)) + meta + data


def decode_chunks(data: bytes) -> list[tuple[dict, str]]:
    chunks, position = [], 0
    while position < len(data):
        newline = data.index(b"\n", position)
        header = data[position:newline].decode("ascii")
        if not header.startswith("chunked 1.0,"):
            raise ValueError(f"not a chunk header: {header!r}")
        meta_length, body_length = (int(x) for x in header[len("chunked 1.0,") :].split(","))
        start = newline + 1
        metadata = json.loads(data[start : start + meta_length]) if meta_length else {}
        body = data[start + meta_length : start + meta_length + body_length].decode("utf-8")
        chunks.append((metadata, body))
        position = start + meta_length + body_length
    return chunks


_PLAIN = re.compile(r"^[A-Za-z0-9]*$")


# Cached: events repeat most of their values (hosts, sourcetypes, levels, empty cells).
@functools.lru_cache(maxsize=1 << 16)
def _cell(value: str) -> str:
    """splunkd's CSV quoting: anything but letters and digits is double-quoted."""
    return value if _PLAIN.match(value) else '"' + value.replace('"', '""') + '"'


def records_to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """Records as splunkd writes them: every field, then every ``__mv_`` companion, LF lines."""
    if not records:
        return ""
    names = list(dict.fromkeys(name for record in records for name in record))
    lines = [",".join(map(_cell, [*names, *("__mv_" + n for n in names)]))]
    for record in records:
        single, multi = [], []
        for name in names:
            value = record.get(name)
            if isinstance(value, (list, tuple)):
                single.append("\n".join(map(str, value)))
                multi.append("$" + "$;$".join(str(v).replace("$", "$$") for v in value) + "$")
            else:
                single.append("" if value is None else str(value))
                multi.append("")
        lines.append(",".join(map(_cell, single + multi)))
    return "\n".join(lines) + "\n"


def csv_to_records(body: str) -> list[dict[str, Any]]:
    if not body:
        return []
    reader = csv.reader(io.StringIO(body))
    header = next(reader)
    records = []
    for row in reader:
        record: dict[str, Any] = {}
        for name, value in zip(header, row):
            if name.startswith("__mv_"):
                if value:
                    record[name[5:]] = [v.replace("$$", "$") for v in value[1:-1].split("$;$")]
            elif value != "" and name not in record:
                record[name] = value
        records.append(record)
    return records


def project(
    records: Sequence[Mapping[str, Any]], required: Optional[Sequence[str]]
) -> Sequence[Mapping[str, Any]]:
    """The records as splunkd sends them to a command that declared
    ``required_fields``: only those fields (and their ``__mv_`` companions);
    no list, or one with ``*``, selects every field."""
    if not required or "*" in required:
        return records
    wanted = set(required)
    return [{k: v for k, v in record.items() if k in wanted} for record in records]


_WIDE_VALUES = (
    "GET",
    "200",
    "10.1.4.17",
    "Mozilla/5.0 (X11; Linux x86_64)",
    "eu-west-1",
    "/api/v2/orders?page=3",
    "0.0413",
    "tcp",
    "svc-payments",
    "true",
)


def widen(records: Sequence[Mapping[str, Any]], width: int = 60) -> list[dict[str, Any]]:
    """The records padded to ``width`` fields, as index-time plus search-time
    extractions leave real events (words, addresses, paths, numbers)."""
    wide = []
    for number, record in enumerate(records):
        padded = dict(record)
        for extra in range(width - len(padded)):
            value = _WIDE_VALUES[(number + extra) % len(_WIDE_VALUES)]
            padded[f"extracted_{extra:02d}"] = value
        wide.append(padded)
    return wide


def _write_all(pipe, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[pipe.write(view) :]


def _read_exactly(pipe, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = pipe.read(size - len(data))
        if not part:
            break
        data += part
    return data


def _read_chunk(pipe) -> bytes:
    """One whole chunk from an unbuffered pipe (b"" when the command wrote none)."""
    header = b""
    while not header.endswith(b"\n"):
        byte = pipe.read(1)
        if not byte:
            return header
        header += byte
    if not header.startswith(b"chunked 1.0,"):
        return header
    meta_length, body_length = (int(x) for x in header[len(b"chunked 1.0,") : -1].split(b","))
    return header + _read_exactly(pipe, meta_length + body_length)


@dataclass
class CommandResult:
    getinfo: dict
    records: list[dict[str, Any]]
    messages: list[tuple[str, str]]
    chunks: list[tuple[dict, str]]
    stderr: str
    returncode: int
    finished: bool = False
    raw_args: list[str] = field(default_factory=list)


def searchinfo(args: Sequence[str], **overrides: Any) -> dict[str, Any]:
    info = {
        "args": list(args),
        "raw_args": list(args),
        "dispatch_dir": os.environ.get("TMPDIR", "/tmp"),
        "sid": "1700000000.42",
        "app": "anchor",
        "owner": "admin",
        "username": "admin",
        "splunkd_uri": "https://127.0.0.1:8089",
        "session_key": "test-session-key",
        "earliest_time": "0",
        "latest_time": "0",
        "search": "search%20index%3Dweb%20%7C%20anchorcompare",
        "splunk_version": "9.2.1",
        "maxresultrows": 50000,
        "command": "",
    }
    info.update(overrides)
    return info


@dataclass
class _Started:
    """A command process that has answered getinfo and waits for its execute chunks."""

    __slots__ = ("answer", "first", "process")
    process: subprocess.Popen
    first: bytes
    answer: dict


def _start(
    script: str,
    args: Sequence[str],
    env: Optional[Mapping[str, str]],
    searchinfo_overrides: Optional[Mapping[str, Any]],
    wrapper: Optional[str] = None,
) -> _Started:
    info = searchinfo(args, command=script, **(searchinfo_overrides or {}))
    path = script if script.endswith(".py") else str(BIN / f"{script}.py")
    process = subprocess.Popen(
        [sys.executable, *([wrapper] if wrapper else []), path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        bufsize=0,
    )
    # splunkd reads the command's getinfo answer before it sends any event:
    # the answer's required_fields decide which fields the events carry.
    getinfo = encode_chunk({"action": "getinfo", "preview": False, "searchinfo": info})
    with contextlib.suppress(BrokenPipeError):
        _write_all(process.stdin, getinfo)
    first = _read_chunk(process.stdout)
    return _Started(process, first, decode_chunks(first)[0][0] if first else {})


def _finish(
    started: _Started, records: Optional[Sequence[Mapping[str, Any]]], chunk_size: int
) -> CommandResult:
    """Send the execute chunks (none for records=None) and read the command's answer."""
    process = started.process
    stream = []
    if records is not None:
        records = project(records, started.answer.get("required_fields"))
    batches = (
        []
        if records is None
        else [records[i : i + chunk_size] for i in range(0, len(records), chunk_size)] or [[]]
    )
    for index, batch in enumerate(batches):
        finished = index == len(batches) - 1
        stream.append(
            encode_chunk({"action": "execute", "finished": finished}, records_to_csv(batch))
        )
    try:
        out, err = process.communicate(b"".join(stream), timeout=600)
    except BrokenPipeError:  # the command quit after getinfo (an option error)
        out, err = process.stdout.read() or b"", process.stderr.read() or b""
        process.wait(timeout=600)
    chunks = decode_chunks(started.first + out)
    output, messages = [], []
    for metadata, body in chunks:
        for level, text in (metadata.get("inspector") or {}).get("messages", []):
            messages.append((level, text))
        output += csv_to_records(body)
    return CommandResult(
        getinfo=chunks[0][0] if chunks else {},
        records=output,
        messages=messages,
        chunks=chunks,
        stderr=err.decode("utf-8", "replace"),
        returncode=process.returncode,
        finished=bool(chunks and chunks[-1][0].get("finished")),
    )


def run_command(
    script: str,
    args: Sequence[str],
    records: Optional[Sequence[Mapping[str, Any]]] = (),
    *,
    env: Optional[Mapping[str, str]] = None,
    chunk_size: int = 5000,
    searchinfo_overrides: Optional[Mapping[str, Any]] = None,
    wrapper: Optional[str] = None,
) -> CommandResult:
    """Run one command as splunkd does; ``wrapper`` (a Python file) is started
    with the script's path as its argument instead of the script itself.
    ``records=None`` sends getinfo only, as when splunkd just asks for the configuration."""
    started = _start(script, args, env, searchinfo_overrides, wrapper)
    return _finish(started, records, chunk_size)


def preop_args(getinfo: Mapping[str, Any], script: str) -> list[str]:
    """The map phase's arguments from ``streaming_preop``, as splunkd passes them.

    The recorded sessions show splunkd unquoting the arguments and moving
    ``phase=map`` after the others.
    """
    words = shlex.split(getinfo["streaming_preop"])
    if words[0] != script:
        raise AssertionError(f"streaming_preop names {words[0]!r}, not {script!r}")
    phase = [w for w in words[1:] if w.startswith("phase=")]
    return [w for w in words[1:] if not w.startswith("phase=")] + phase


def run_distributed(
    script: str,
    args: Sequence[str],
    partitions: Sequence[Sequence[Mapping[str, Any]]],
    *,
    env: Optional[Mapping[str, str]] = None,
    chunk_size: int = 5000,
    searchinfo_overrides: Optional[Mapping[str, Any]] = None,
) -> CommandResult:
    """Map on each partition (one process per simulated indexer), then the reduce.

    As on a search head, the reduce process answers getinfo first: its
    ``streaming_preop`` gives the map phase's command line. It then waits while
    the maps run and receives their output as its execute chunks. If getinfo
    declares no map phase (an option error), that answer is the result.
    """
    reduce = _start(script, args, env, searchinfo_overrides)
    if "streaming_preop" not in reduce.answer:
        return _finish(reduce, None, chunk_size)
    partials: list[dict[str, Any]] = []
    try:
        map_args = preop_args(reduce.answer, script)
        for events in partitions:
            mapped = run_command(
                script,
                map_args,
                events,
                env=env,
                chunk_size=chunk_size,
                searchinfo_overrides=searchinfo_overrides,
            )
            if mapped.returncode != 0 or any(level == "ERROR" for level, _ in mapped.messages):
                raise AssertionError(f"map phase failed: {mapped.messages} {mapped.stderr[-2000:]}")
            partials += mapped.records
    except BaseException:
        reduce.process.kill()
        reduce.process.communicate()
        raise
    return _finish(reduce, partials, chunk_size)
