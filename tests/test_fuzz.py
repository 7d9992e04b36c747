"""Fuzzing the edges where outside input enters: readers, the SPL guard, restore, REST parameters.

Property everywhere: bad input ends in Anchor's own error (exit 2, HTTP 400, a search error),
never an unhandled exception, and a refused restore writes nothing. The budget is small in the
normal suite (CI); ``make fuzz`` runs the same tests with ``ANCHOR_FUZZ_EXAMPLES`` raised.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import os

import pytest
from conftest import recompute_manifest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from anchor import cli, maintenance
from anchor.errors import InputError
from anchor.events import ReadReport, read_events
from anchor.memory import Memory
from anchor.splguard import DENIED, READ_ONLY, check_spl
from anchor.store import COLLECTIONS, SQLiteStore

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("ANCHOR_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
RECORD = st.fixed_dictionaries(
    {},
    optional={
        "_time": JSON
        | st.sampled_from(["2025-11-24T10:00:00Z", "1e17", "-1e12", "9999-12-31T00:00:00Z"]),
        "_raw": st.text(max_size=40) | st.just("[" * 5000),
        "host": JSON,
        "sourcetype": JSON,
        "latency_ms": JSON,
        "level": JSON,
        "count": JSON,
    },
)
LINES = st.lists(
    st.one_of(RECORD.map(json.dumps), JSON.map(json.dumps), st.text(max_size=60)), max_size=30
).map("\n".join)


def _read(path: str) -> None:
    report = ReadReport()
    try:
        for _ in read_events([path], report=report):
            pass
    except InputError:
        pass


@FUZZ
@given(
    text=LINES,
    suffix=st.sampled_from([".jsonl", ".csv", ".log"]),
    packed=st.sampled_from(["no", "gzip", "cut"]),
)
def test_readers_never_raise_anything_but_an_input_error(tmp_path, text, suffix, packed):
    data = text.encode("utf-8", "surrogatepass")
    if packed != "no":
        suffix += ".gz"
        data = gzip.compress(data)
        if packed == "cut":
            data = data[: len(data) // 2]
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    _read(str(path))


@FUZZ
@given(
    data=st.binary(max_size=400),
    suffix=st.sampled_from([".jsonl.gz", ".csv.gz", ".log.gz", ".csv"]),
)
def test_readers_survive_arbitrary_bytes(tmp_path, data, suffix):
    path = tmp_path / f"bytes{suffix}"
    path.write_bytes(data)
    _read(str(path))


SPL = st.lists(
    st.sampled_from(list('ab |[]"`\\=*\n\t') + ["collect", "rest", "stats", "search ", "```"]),
    max_size=25,
).map("".join)


@FUZZ
@given(query=SPL | st.text(max_size=60))
def test_the_guard_answers_every_query_and_allows_only_read_only_commands(query):
    result = check_spl(query)
    if result.allowed:
        assert set(result.commands) <= READ_ONLY and not set(result.commands) & set(DENIED)


# -- restore ---------------------------------------------------------------------------------
def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutate(document, path, value, delete):
    target = document
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value


def _run(db: str, *argv: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return cli.main(["--db", db, *argv])


@FUZZ
@given(pick=st.integers(min_value=0), value=JSON, delete=st.booleans(), decode_body=st.booleans())
@example(pick=18866, value=[], delete=False, decode_body=False)  # an anchor's sourcetypes emptied
def test_a_restore_either_refuses_or_leaves_a_memory_every_command_can_use(
    small_export, tmp_path_factory, pick, value, delete, decode_body
):
    original, incident = small_export
    document = copy.deepcopy(original)
    collections = document["collections"]
    if decode_body:  # reach inside the fingerprint too, not only the documents around it
        part = next(d for d in collections["anchor_anchors"] if d["kind"] == "anchor_part")
        part["body"] = json.loads(part["body"])
    paths = [p for p in _paths(collections) if len(p) >= 3]
    _mutate(collections, paths[pick % len(paths)], value, delete)
    if decode_body and "body" in part:  # the mutation may have deleted the body itself
        part["body"] = json.dumps(part["body"])
    data = recompute_manifest(document)
    db = str(tmp_path_factory.mktemp("db") / "m.db")
    memory = Memory(SQLiteStore(db))
    try:
        maintenance.restore_export(memory.store, data)
    except InputError:
        assert all(list(memory.store.scan(name)) == [] for name in COLLECTIONS)
        return
    for argv in (
        ("list",),
        ("history",),
        ("learned",),
        ("blind-spots",),
        ("show", "healthy"),
        ("maintenance", "decay"),
        ("maintenance", "compact"),
        ("compare", "healthy", "--input", str(incident), "--no-llm", "--json"),
    ):
        assert _run(db, *argv) in (0, 2), argv


@FUZZ
@given(data=st.binary(max_size=300))
def test_verify_answers_arbitrary_bytes_with_an_input_error(data):
    with pytest.raises(InputError):
        maintenance.verify_export(data)


# -- REST parameters -------------------------------------------------------------------------
NUMBERS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["²", "1e400", "-5", "9" * 5000, "nan", "0x10", "٣"]),
    st.integers().map(str),
    st.floats().map(str),
)


@FUZZ
@given(
    name=st.sampled_from(["limit", "since", "until", "k"]),
    value=NUMBERS,
    path=st.sampled_from(["drifts", "weights", "blind_spots", "drifts/0123456789ab/recall"]),
)
def test_rest_query_parameters_are_parsed_or_refused_with_400(name, value, path):
    from anchor.splunk import rest

    request = rest.parse_request(
        {
            "method": "GET",
            "path_info": path,
            "query": [[name, value]],
            "session": {"authtoken": "t", "user": "u"},
        }
    )
    for parse in (
        rest._limit,
        lambda r: rest._epoch(r, name),
        lambda r: rest._whole(r.query.get(name, "5"), name, 1, 20),
    ):
        try:
            parsed = parse(request)
        except rest.RestError as error:
            assert error.status == 400
        else:
            assert parsed is None or (isinstance(parsed, (int, float)) and parsed == parsed)


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from(["search", "anchor", "alpha", "limit", "earliest"]), JSON, max_size=5
    )
)
def test_rest_compare_bodies_get_400_or_a_guarded_search(monkeypatch, body):
    from anchor.splunk import rest, search

    sent = []
    # A fake for splunkd's search endpoint (no splunkd runs here): it records the query.
    monkeypatch.setattr(search, "run_oneshot", lambda *args, **kwargs: sent.append(args[3]) or [])
    answer = rest.handle(
        {
            "method": "POST",
            "path_info": "compare",
            "payload": json.dumps(body),
            "session": {"authtoken": "t", "user": "u"},
        }
    )
    assert answer["status"] in (200, 400), answer
    for query in sent:
        assert check_spl(query, also_allow={"anchorcompare"}).allowed
