"""Restore refuses exports Anchor could not use, even when their manifest digests match.

Anyone who can write the bucket can recompute a manifest, so these exports are crafted with
correct digests: each must be refused with one line and exit 2, and the memory it was to be
restored into must stay exactly as it was.
"""

from __future__ import annotations

import copy
import json
import zlib

import pytest
from conftest import recompute_manifest, run_cli

from anchor import maintenance
from anchor.errors import InputError
from anchor.store import COLLECTIONS, SQLiteStore


@pytest.fixture(scope="module")
def export(small_export):
    return small_export[0]


crafted = recompute_manifest  # the manifest an attacker with bucket access would write


def first(document, collection, kind=None):
    docs = document["collections"][collection]
    return next(d for d in docs if kind is None or d.get("kind") == kind)


def _set(collection, field, value, kind=None):
    def mutate(document):
        first(document, collection, kind)[field] = value

    return mutate


def _signal(field, value):
    def mutate(document):
        first(document, "anchor_drifts")["signals"][0][field] = value

    return mutate


def _body(text):
    def mutate(document):
        first(document, "anchor_anchors", "anchor_part")["body"] = text

    return mutate


def _fingerprint(change):
    def mutate(document):
        part = first(document, "anchor_anchors", "anchor_part")
        data = json.loads(part["body"])
        change(data)
        part["body"] = json.dumps(data)

    return mutate


def _first_sourcetype(data):
    return next(iter(data["sourcetypes"].values()))


CRAFTED = {
    "feedback time is text": (_set("anchor_feedback", "time", "yesterday"), "time"),
    "feedback outcome unknown": (_set("anchor_feedback", "outcome", "pwned"), "outcome"),
    "feedback time 1e17": (_set("anchor_feedback", "time", 1e17), "time"),
    "weight out of range": (_set("anchor_weights", "weight", 1e300), "weight"),
    "weight is text": (_set("anchor_weights", "weight", "1.5"), "weight"),
    "drift created is text": (_set("anchor_drifts", "created", "now"), "created"),
    "drift id malformed": (_set("anchor_drifts", "drift_id", "../x"), "drift_id"),
    "drift signals not a list": (_set("anchor_drifts", "signals", "x"), "signals"),
    # (compare reads the head's list first: an empty one refused every input; found by the fuzz suite)
    "anchor sourcetypes emptied": (
        _set("anchor_anchors", "sourcetypes", [], "anchor"),
        "sourcetypes",
    ),
    "anchor sourcetypes not its fingerprint's": (
        _set("anchor_anchors", "sourcetypes", ["other"], "anchor"),
        "sourcetypes",
    ),
    "drift windows a number": (_set("anchor_drifts", "windows", 1), "windows"),
    "drift window missing": (_set("anchor_drifts", "windows", {"anchor": {}}), "windows.current"),
    "drift window start is text": (
        _set("anchor_drifts", "windows", {"anchor": {"start": "x"}, "current": {}}),
        "start",
    ),
    "signal kind unknown": (_signal("kind", "evil"), "kind"),
    "signal score is text": (_signal("score", "high"), "score"),
    "anchor name hostile": (_set("anchor_anchors", "name", "a\n|b", "anchor"), "name"),
    "anchor events negative": (_set("anchor_anchors", "events", -5, "anchor"), "events"),
    "anchor part missing": (
        _set(
            "anchor_anchors", "parts", ["anchor-0000000000000000.0000000000000000.0000"], "anchor"
        ),
        "part",
    ),
    "fingerprint not JSON": (_body("{not json"), "fingerprint"),
    "fingerprint NaN": (_body('{"schema_version": 1, "sourcetypes": NaN}'), "fingerprint"),
    "fingerprint count is text": (
        _fingerprint(lambda d: _first_sourcetype(d).update(count="x")),
        "fingerprint",
    ),
    "fingerprint hours short": (
        _fingerprint(lambda d: _first_sourcetype(d).update(hours=[1])),
        "fingerprint",
    ),
    "fingerprint negative count": (
        _fingerprint(lambda d: _first_sourcetype(d).update(count=-3)),
        "fingerprint",
    ),
    "fingerprint time 1e17": (
        _fingerprint(lambda d: _first_sourcetype(d).update(latest=1e17)),
        "fingerprint",
    ),
    "fingerprint host count text": (
        _fingerprint(lambda d: _first_sourcetype(d).update(hosts=[["h", "x"]])),
        "fingerprint",
    ),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_export_with_a_recomputed_manifest_is_refused(export, case):
    mutate, field = CRAFTED[case]
    document = copy.deepcopy(export)
    mutate(document)
    with pytest.raises(InputError, match=field):
        maintenance.verify_export(crafted(document))


def test_the_untouched_export_still_verifies(export):
    assert maintenance.verify_export(crafted(copy.deepcopy(export)))["format"] == "anchor-memory"


def _state(db):
    store = SQLiteStore(str(db))
    return {name: sorted(d["_key"] for d in store.scan(name)) for name in COLLECTIONS}


def bomb(size_mib: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    return b"".join(packer.compress(block) for _ in range(size_mib)) + packer.flush()


def test_cli_refuses_crafted_corrupt_truncated_and_bomb_exports_and_changes_nothing(
    export, tmp_path
):
    db = tmp_path / "live.db"
    good = tmp_path / "good.json.gz"
    good.write_bytes(crafted(copy.deepcopy(export)))
    assert run_cli("maintenance", "restore", str(good), db=db).returncode == 0
    before = _state(db)
    document = copy.deepcopy(export)
    _set("anchor_feedback", "outcome", "pwned")(document)
    data = good.read_bytes()
    files = {
        "crafted": crafted(document),
        "truncated": data[: len(data) // 2],
        "corrupt": data[:30] + bytes(b ^ 0x5A for b in data[30:60]) + data[60:],
        "bomb": bomb(100),
        "empty": b"",
        "not gzip": b"hello",
    }
    for name, content in files.items():
        path = tmp_path / f"{name.replace(' ', '_')}.json.gz"
        path.write_bytes(content)
        for action in ("verify", "restore"):
            result = run_cli("maintenance", action, str(path), db=db)
            assert result.returncode == 2, (name, action, result.stderr[-500:])
            assert len(result.stderr.strip().splitlines()) == 1, (name, action, result.stderr)
            assert "Traceback" not in result.stderr
    assert _state(db) == before
    assert "bomb" in run_cli("maintenance", "verify", str(tmp_path / "bomb.json.gz")).stderr
