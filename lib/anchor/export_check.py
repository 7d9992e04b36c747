"""Validation of a memory export's documents before a restore writes any of them.

A manifest digest proves only that the file is intact: anyone who can write the
bucket can recompute it. So each collection's documents are checked here for
the shapes, types and ranges the rest of Anchor relies on (finite numbers,
known outcomes, weights in range, well-formed ids, plausible times), and each
anchor's fingerprint and each drift's signals are rebuilt the way ``compare``
and ``history`` will rebuild them. The first problem is reported as one line
naming the collection, the document and the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NoReturn

from anchor.diff import CHANGES, KINDS, SEVERITIES, Signal, compare_fingerprints
from anchor.errors import InputError
from anchor.fingerprint import Fingerprint
from anchor.memory import (
    ANCHORS,
    DRIFTS,
    FEEDBACK,
    MAX_REASON_CHARS,
    NAME_PATTERN,
    WEIGHTS,
    anchor_key,
)
from anchor.timefmt import plausible_time
from anchor.weights import MAX_WEIGHT, MIN_WEIGHT, OUTCOMES

DRIFT_ID = re.compile(r"[0-9a-f]{8,64}")
FEEDBACK_KEY = re.compile(r"fb-[0-9a-f]{8,64}")
WEIGHT_KEY = re.compile(r"w-[0-9a-f]{8,64}")
PART_KEY = re.compile(r"anchor-[0-9a-f]{16}\.[0-9a-f]{16}\.[0-9]{4}")
MAX_TEXT = 1_000_000


class _Bad(Exception):
    pass


def _fail(why: str) -> NoReturn:
    raise _Bad(why)


def _text(doc: Mapping, name: str, *, optional: bool = False, limit: int = MAX_TEXT) -> None:
    value = doc.get(name)
    if value is None and optional:
        return
    if not isinstance(value, str) or len(value) > limit:
        _fail(f"{name} must be text")


def _number(
    doc: Mapping, name: str, *, low: float = 0.0, high: float = math.inf, optional: bool = False
) -> None:
    value = doc.get(name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(f"{name} must be a number")
    if not (math.isfinite(value) and low <= value <= high):
        _fail(f"{name} is out of range ({value!r})")


def _time(doc: Mapping, name: str, *, optional: bool = False) -> None:
    value = doc.get(name)
    if value is None and optional:
        return
    if not plausible_time(value):
        _fail(f"{name} is not a plausible time ({value!r})")


def _ident(doc: Mapping, name: str, pattern: re.Pattern, *, optional: bool = False) -> None:
    value = doc.get(name)
    if value is None and optional:
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        _fail(f"{name} is not well-formed ({str(value)[:40]!r})")


def _present(doc: Mapping, names: Sequence[str]) -> None:
    """Fields every listing reads, even when their value may be null."""
    missing = [name for name in names if name not in doc]
    if missing:
        _fail(f"{missing[0]} is missing")


def _texts(doc: Mapping, name: str, *, optional: bool = True) -> None:
    value = doc.get(name)
    if value is None and optional:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        _fail(f"{name} must be a list of text")


def _anchor(doc: Mapping, parts: Mapping[str, Mapping]) -> None:
    _ident(doc, "name", NAME_PATTERN)
    if doc["_key"] != anchor_key(doc["name"]):
        _fail("_key does not belong to its name")
    _time(doc, "created")
    _text(doc, "created_by")
    _number(doc, "events")
    _present(doc, ("templates", "window_start", "window_end", "sourcetypes"))
    _number(doc, "templates")
    _number(doc, "size_chars", optional=True)
    _time(doc, "window_start", optional=True)
    _time(doc, "window_end", optional=True)
    _texts(doc, "sourcetypes", optional=False)
    _texts(doc, "metrics")
    _text(doc, "search", optional=True)
    _texts(doc, "parts", optional=False)
    bodies = []
    for key in doc["parts"]:
        part = parts.get(key)
        if (
            part is None
            or part.get("anchor") != doc["_key"]
            or not isinstance(part.get("body"), str)
        ):
            _fail(f"part {key[:60]!r} is missing")
        bodies.append(part["body"])
    try:  # rebuilt and compared as compare will: whatever would crash it is refused here
        data = json.loads("".join(bodies), parse_constant=_no_constant)
        _fingerprint_shape(data)
        fingerprint = Fingerprint.from_dict(data)
        compare_fingerprints(fingerprint, fingerprint)
        compare_fingerprints(fingerprint, Fingerprint())
    except Exception as exc:
        _fail(f"its fingerprint cannot be used ({type(exc).__name__}: {str(exc)[:80]})")
    # compare checks its input against this list before it loads the fingerprint
    if sorted(doc["sourcetypes"]) != sorted(fingerprint.sourcetypes):
        _fail("its sourcetypes are not its fingerprint's")


def _counts(values: Any, what: str) -> None:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError(f"{what} must be counts")


def _fingerprint_shape(data: Any) -> None:
    """The parts of a fingerprint that ``from_dict`` takes on trust and the diff indexes into."""
    sourcetypes = data.get("sourcetypes") if isinstance(data, dict) else None
    if not isinstance(sourcetypes, dict):
        raise ValueError("no sourcetypes")
    for summary in sourcetypes.values():
        if not isinstance(summary, dict):
            raise ValueError("a sourcetype summary is not an object")
        hours, levels = summary.get("hours"), summary.get("levels")
        if not isinstance(hours, list) or len(hours) != 24:
            raise ValueError("hours must hold 24 counts")
        if not isinstance(levels, dict):
            raise ValueError("levels must be an object")
        _counts(hours, "hours")
        _counts(levels.values(), "levels")
        _counts([summary.get("count"), summary.get("timed")], "count and timed")
        for name in ("earliest", "latest"):
            if summary.get(name) is not None and not plausible_time(summary[name]):
                raise ValueError(f"{name} is not a plausible time")
        if not isinstance(summary.get("templates"), list) or not isinstance(
            summary.get("hosts"), list
        ):
            raise ValueError("templates and hosts must be lists")
        _counts(
            [t.get("count") if isinstance(t, dict) else -1 for t in summary["templates"]],
            "templates",
        )
        _counts(
            [h[1] if isinstance(h, list) and len(h) == 2 else -1 for h in summary["hosts"]], "hosts"
        )


def _part(doc: Mapping) -> None:
    _ident(doc, "_key", PART_KEY)
    _text(doc, "anchor")
    _text(doc, "body", limit=64 * 1024 * 1024)


def _signal(record: Any) -> None:
    if not isinstance(record, dict):
        _fail("a signal is not an object")
    _text(record, "signal_id", limit=4096)
    _text(record, "sourcetype", limit=4096)
    if record.get("kind") not in KINDS or record.get("change") not in CHANGES:
        _fail("a signal has an unknown kind or change")
    if record.get("severity") not in SEVERITIES:
        _fail("a signal has an unknown severity")
    for name in ("baseline", "current", "delta_pct"):
        _number(record, name, low=-math.inf, optional=True)
    for name in ("p_value", "q_value"):
        _number(record, name, high=1.0, optional=True)
    for name in ("effect", "score"):
        _number(record, name, low=-math.inf, optional=True)
    _number(record, "weight", low=MIN_WEIGHT, high=MAX_WEIGHT, optional=True)
    _number(record, "rank", optional=True)
    for name in ("field", "stat", "template", "host", "example", "pattern"):
        _text(record, name, optional=True)
    try:  # rebuilt as history and the report rebuild it
        Signal.from_record(record).to_dict()
    except (TypeError, ValueError) as exc:
        _fail(f"a signal cannot be read ({str(exc)[:80]})")


def _drift(doc: Mapping) -> None:
    _ident(doc, "drift_id", DRIFT_ID)
    if doc["_key"] != doc["drift_id"]:
        _fail("_key differs from drift_id")
    _ident(doc, "anchor", NAME_PATTERN)
    _present(doc, ("signal_count", "top_severity", "top_signal"))
    _time(doc, "created")
    _text(doc, "created_by", optional=True)
    _number(doc, "events", optional=True)
    _number(doc, "signal_count", optional=True)
    _number(doc, "tests", optional=True)
    _number(doc, "alpha", high=1.0, optional=True)
    _time(doc, "window_start", optional=True)
    _time(doc, "window_end", optional=True)
    if doc.get("top_severity") not in (None, "NONE", *SEVERITIES):
        _fail("top_severity is unknown")
    _text(doc, "top_signal", optional=True)
    _text(doc, "summary", optional=True)
    _texts(doc, "signal_ids")
    _texts(doc, "notes")
    signals = doc.get("signals", [])
    if not isinstance(signals, list):
        _fail("signals must be a list")
    for record in signals:
        _signal(record)
    for name in ("narrative",):
        if doc.get(name) is not None and not isinstance(doc[name], dict):
            _fail(f"{name} must be an object")
    if doc.get("similar") is not None and not isinstance(doc["similar"], list):
        _fail("similar must be a list")
    _windows(doc.get("windows"))


def _windows(windows: Any) -> None:
    """A drift's stored windows, as operations.drift_windows and every listing read them."""
    if not windows:  # drifts recorded before windows were stored have none
        return
    if not isinstance(windows, dict):
        _fail("windows must be an object")
    for side in ("anchor", "current"):
        window = windows.get(side)
        if not isinstance(window, dict):
            _fail(f"windows.{side} must be an object")
        _time(window, "start", optional=True)
        _time(window, "end", optional=True)
        _number(window, "events", optional=True)


def _feedback(doc: Mapping) -> None:
    _ident(doc, "_key", FEEDBACK_KEY)
    _ident(doc, "drift_id", DRIFT_ID)
    _text(doc, "signal_id", limit=4096)
    if not isinstance(doc.get("outcome"), str) or doc["outcome"] not in OUTCOMES:
        _fail(f"outcome must be one of {', '.join(sorted(OUTCOMES))}")
    _text(doc, "user", limit=1024)
    _text(doc, "reason", optional=True, limit=MAX_REASON_CHARS)
    _time(doc, "time")
    _ident(doc, "anchor", NAME_PATTERN, optional=True)


def _weight(doc: Mapping) -> None:
    _ident(doc, "_key", WEIGHT_KEY)
    _text(doc, "signal_id", limit=4096)
    _number(doc, "weight", low=MIN_WEIGHT, high=MAX_WEIGHT)
    _number(doc, "confirmed", optional=True)
    _number(doc, "false_positive", optional=True)
    _time(doc, "last_feedback", optional=True)
    _time(doc, "updated", optional=True)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number Anchor stores")


def check_collections(collections: Mapping[str, Sequence[Any]]) -> None:
    """Raise ``InputError`` naming the first document that Anchor could not use."""
    anchors = collections[ANCHORS]
    parts = {
        d["_key"]: d for d in anchors if isinstance(d, dict) and d.get("kind") == "anchor_part"
    }
    checks: dict[str, Callable[[Mapping], None]] = {
        DRIFTS: _drift,
        FEEDBACK: _feedback,
        WEIGHTS: _weight,
    }
    for name, docs in collections.items():
        for position, doc in enumerate(docs):
            try:
                if not isinstance(doc, dict) or not isinstance(doc.get("_key"), str):
                    _fail("it is not an object with a _key")
                if name == ANCHORS:
                    kind = doc.get("kind")
                    if kind == "anchor":
                        _anchor(doc, parts)
                    elif kind == "anchor_part":
                        _part(doc)
                    else:
                        _fail("kind must be anchor or anchor_part")
                else:
                    checks[name](doc)
            except (_Bad, TypeError, KeyError, ValueError, AttributeError) as bad:
                # Anything a check trips over is a malformed document, never a crash of restore.
                key = doc.get("_key") if isinstance(doc, dict) else None
                why = bad if isinstance(bad, _Bad) else f"malformed ({type(bad).__name__}: {bad})"
                raise InputError(
                    f"the export's {name} document {position} ({str(key)[:40]!r}) is not usable: "
                    f"{str(why)[:200]}; nothing was restored"
                ) from None
