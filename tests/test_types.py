"""The typed records and protocols match what the code really builds and stores.

mypy checks the annotations (``make lint``); these tests check the runtime
side the checker cannot see: the keys of the records as stored and answered,
and the signatures of both assistant backends against the Backend protocol.
"""

import inspect
import json

from anchor import operations
from anchor.backends import Backend, MemoryBackend
from anchor.diff import SignalDict
from anchor.fingerprint import Fingerprint
from anchor.memory import Memory
from anchor.narrate import Narrator, llm_narrator, unavailable_narrator
from anchor.operations import DriftRecord, PastIncident
from anchor.splunk.remote import SplunkBackend
from anchor.store import SQLiteStore

NOW = 1_700_000_000.0


def _copy(fingerprint: Fingerprint) -> Fingerprint:
    return Fingerprint.from_dict(json.loads(json.dumps(fingerprint.to_dict())))


def _compared(demo_fingerprints):
    anchor, incident = demo_fingerprints
    memory = Memory(SQLiteStore(":memory:"))
    operations.capture(memory, "healthy", _copy(anchor), user="alice", now=NOW)
    report = operations.compare(memory, "healthy", _copy(incident), user="bob", now=NOW + 60)
    return memory, report


def test_the_stored_drift_has_exactly_the_drift_record_fields(demo_fingerprints):
    memory, report = _compared(demo_fingerprints)
    stored = memory.drift(report.drift_id)
    assert set(stored) - {"_key"} == set(DriftRecord.__annotations__)
    assert stored["created_by"] == "bob" and stored["created"] == NOW + 60
    assert stored["signal_count"] == report.total > 0
    assert stored["signal_ids"] == [s["signal_id"] for s in stored["signals"]]


def test_a_drift_record_survives_json_unchanged(demo_fingerprints):
    """The record is plain JSON (what SQLite and the KV Store keep): nothing is lost."""
    memory, report = _compared(demo_fingerprints)
    stored = memory.drift(report.drift_id)
    record = {k: v for k, v in stored.items() if k != "_key"}
    assert json.loads(json.dumps(record)) == record


def test_a_recalled_drift_has_exactly_the_past_incident_fields(demo_fingerprints):
    memory, first = _compared(demo_fingerprints)
    anchor, incident = demo_fingerprints
    # Ad hoc, so a new drift id, recalled among all drifts: the first is found.
    report = operations.compare(
        memory, "ad hoc", _copy(incident), user="bob", now=NOW + 120, baseline=_copy(anchor)
    )
    assert [p["drift_id"] for p in report.similar] == [first.drift_id]
    assert set(report.similar[0]) == set(PastIncident.__annotations__)
    stored = memory.drift(report.drift_id)["similar"]
    assert stored == [{"drift_id": first.drift_id, "similarity": report.similar[0]["similarity"]}]


def test_a_finding_as_json_has_exactly_the_signal_dict_fields_in_order(demo_fingerprints):
    _, report = _compared(demo_fingerprints)
    for finding in report.to_dict()["signals"]:
        assert list(finding) == list(SignalDict.__annotations__)
        assert finding["evidence"][0]["signal_id"] == finding["signal_id"]


def _protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def test_both_backends_accept_every_call_of_the_backend_protocol():
    methods = _protocol_methods(Backend)
    assert {"list_anchors", "compare", "feedback"} <= set(methods)
    for backend in (MemoryBackend, SplunkBackend):
        for name, wanted in methods.items():
            got = inspect.signature(getattr(backend, name)).parameters
            for parameter in wanted.parameters.values():
                assert parameter.name in got, f"{backend.__name__}.{name} lacks {parameter.name}"
                assert got[parameter.name].default == parameter.default, (backend, name, parameter)
            extra = [p for p in got.values() if p.name not in wanted.parameters]
            assert all(p.default is not inspect.Parameter.empty for p in extra), (backend, name)


def test_every_narrator_is_called_as_the_narrator_protocol_says():
    wanted = inspect.signature(Narrator.__call__).parameters
    for narrator in (unavailable_narrator("offline"), llm_narrator(object())):
        got = inspect.signature(narrator).parameters
        assert list(got) == [p for p in wanted if p != "self"]
        assert all(got[name].kind == wanted[name].kind for name in got)
