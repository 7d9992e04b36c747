"""Events: one normalized shape for Splunk records, JSONL, CSV exports and raw lines.

An ``Event`` is what the fingerprint consumes. Readers turn files into events
and count what they had to skip, so the caller can say so at the end rather
than crash on the first bad line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from anchor.errors import InputError
from anchor.patterns import Template, message_of, split_raw, split_template
from anchor.patterns.header import normalize_level
from anchor.timefmt import parse_iso_fast

DEFAULT_SOURCETYPE = "default"
FORMATS = ("jsonl", "csv", "raw")
TIME_FIELDS = ("_time", "time", "timestamp", "@timestamp")
MESSAGE_FIELDS = ("_raw", "message", "msg", "log")
LEVEL_FIELDS = ("level", "log_level", "loglevel", "severity", "lvl")
WEIGHT_FIELD = "count"
MAX_MESSAGE_CHARS = 8192

# Fields Splunk adds to every event, and identifiers that are numbers but not measurements.
_NOT_METRICS = frozenset(
    {
        "count",
        "linecount",
        "timestartpos",
        "timeendpos",
        "date_second",
        "date_minute",
        "date_hour",
        "date_mday",
        "date_month",
        "date_year",
        "date_wday",
        "date_zone",
        "punct",
        "index",
        "splunk_server",
        "splunk_server_group",
        "eventtype",
        "tag",
        "pid",
        "tid",
        "port",
        "line",
        "lineno",
        "thread",
        "status",
        "code",
        "status_code",
        "http_status",
        "id",
        "host",
        "source",
        "sourcetype",
    }
    | set(TIME_FIELDS)
    | set(LEVEL_FIELDS)
    | set(MESSAGE_FIELDS)
)


class Event(NamedTuple):
    time: Optional[float]
    host: str
    sourcetype: str
    source: str
    message: str
    level: Optional[str]
    metrics: dict[str, float]
    weight: float
    # Filled by readers that already computed it on the way (see split_template).
    template: Optional[Template] = None


def parse_time(value: Any) -> Optional[float]:
    """Epoch seconds from an epoch number (s or ms) or an ISO-8601-like string."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        if text[:4].isdigit() and text[4:5] == "-":
            return parse_iso_fast(text)
        try:
            number = float(text)
        except ValueError:
            parts = split_raw(text)
            return parts.timestamp if not parts.message else None
    if not math.isfinite(number):
        return None
    return number / 1000.0 if number > 1e11 else number


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and value and (value[0].isdigit() or value[0] in "-+."):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _is_candidate_metric(name: str) -> bool:
    if name.startswith("anchor_"):
        # Anchor's own fields (anchor_earliest and anchor_latest from the
        # anchor_shift macro, anchor_pattern) describe the search, not the service.
        return False
    return not (
        name.startswith("_") or name in _NOT_METRICS or name.endswith("_id") or name.endswith("Id")
    )


class _Plan(NamedTuple):
    """Where a record layout keeps each part of an event (records of one source share it)."""

    time_fields: tuple[str, ...]
    message_fields: tuple[str, ...]
    level_fields: tuple[str, ...]
    metric_names: tuple[str, ...]
    weighted: bool


_plans: dict[tuple[str, ...], _Plan] = {}


def _plan(record: Mapping[str, Any]) -> _Plan:
    layout = tuple(record)
    plan = _plans.get(layout)
    if plan is None:
        present = set(layout)
        plan = _Plan(
            tuple(n for n in TIME_FIELDS if n in present),
            tuple(n for n in MESSAGE_FIELDS if n in present),
            tuple(n for n in LEVEL_FIELDS if n in present),
            tuple(n for n in layout if _is_candidate_metric(n)),
            WEIGHT_FIELD in present,
        )
        if len(_plans) > 1000:
            _plans.clear()
        _plans[layout] = plan
    return plan


_level_words: dict[Any, Optional[str]] = {}


def _level(value: Any) -> Optional[str]:
    """``normalize_level`` with a cache: a source uses a handful of level words."""
    try:
        return _level_words[value]
    except (KeyError, TypeError):  # TypeError: an unhashable value (a list)
        level = normalize_level(value)
        if isinstance(value, str) and len(_level_words) < 256:
            _level_words[value] = level
        return level


def _first_level(record: Mapping[str, Any], names: Iterable[str]) -> Optional[str]:
    for name in names:
        level = _level(record[name])
        if level:
            return level
    return None


def _metrics(
    source: Mapping[str, Any], names: Iterable[str], into: dict[str, float]
) -> dict[str, float]:
    for name in names:
        value = source.get(name)
        if value.__class__ is float:  # the common case, checked first
            if value - value == 0.0:  # finite
                into[name] = value
        elif value is not None:
            number = _number(value)
            if number is not None:
                into[name] = number
    return into


def _text(value: Any) -> str:
    return value if value.__class__ is str else str(value or "")


def event_from_record(
    record: Mapping[str, Any],
    *,
    default_sourcetype: str = DEFAULT_SOURCETYPE,
    metrics: Optional[Sequence[str]] = None,
) -> Event:
    """Normalize one structured record (JSONL object, CSV row or Splunk result).

    ``metrics`` names the numeric fields to keep; None keeps every numeric
    field that looks like a measurement (the fingerprint bounds how many).
    A JSON ``_raw`` (Splunk's JSON sourcetypes) is parsed for its message.
    """
    plan = _plan(record)
    time_value = None
    for name in plan.time_fields:
        time_value = parse_time(record[name])
        if time_value is not None:
            break
    raw = None
    for name in plan.message_fields:
        value = record[name]
        if isinstance(value, str) and value:
            raw = value
            break
    level = _first_level(record, plan.level_fields) if plan.level_fields else None
    numbers = _metrics(record, plan.metric_names if metrics is None else metrics, {})
    template = None
    if raw is None:
        message = message_of(record) or ""
    elif raw[0] == "{":
        try:
            parsed = _json_line(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            message = message_of(parsed) or raw
            inner = _plan(parsed)
            if level is None and inner.level_fields:
                level = _first_level(parsed, inner.level_fields)
            _metrics(parsed, inner.metric_names if metrics is None else metrics, numbers)
        else:
            message = raw
    else:
        # The header and the template come from one digit-blind shape of the line.
        parts, template = split_template(raw, MAX_MESSAGE_CHARS)
        message = parts.message
        if level is None:
            level = parts.level
        if time_value is None:
            time_value = parts.timestamp
    weight = _number(record.get(WEIGHT_FIELD)) if plan.weighted else None
    return Event(
        time_value,
        _text(record.get("host")),
        _text(record.get("sourcetype")) or default_sourcetype,
        _text(record.get("source")),
        message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS],
        level,
        numbers,
        weight if weight is not None and weight > 0 else 1.0,
        template,
    )


def event_from_line(
    line: str, *, sourcetype: str = DEFAULT_SOURCETYPE, source: str = "", host: str = ""
) -> Event:
    parts, template = split_template(line, MAX_MESSAGE_CHARS)
    return Event(
        parts.timestamp, host, sourcetype, source, parts.message, parts.level, {}, 1.0, template
    )


def detect_format(path: str) -> str:
    lowered = path.lower()
    for suffix in (".gz",):
        if lowered.endswith(suffix):
            lowered = lowered[: -len(suffix)]
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    return "raw"


@dataclass
class ReadReport:
    """What a reader skipped, to be reported once at the end."""

    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    first_skipped: dict[str, str] = field(default_factory=dict)

    def skip(self, path: str, line_number: int, why: str) -> None:
        self.skipped[path] = self.skipped.get(path, 0) + 1
        self.first_skipped.setdefault(path, f"line {line_number}: {why}")

    def warnings(self) -> list[str]:
        return [
            f"skipped {count} unreadable record(s) in {os.path.basename(path)} "
            f"(first at {self.first_skipped[path]})"
            for path, count in sorted(self.skipped.items())
        ]


def _open_text(path: str) -> io.TextIOBase:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="")
    if path.lower().endswith(".gz"):
        import gzip

        return io.TextIOWrapper(
            gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline=""
        )
    return open(path, encoding="utf-8", errors="replace", newline="")


def read_events(
    paths: Iterable[str],
    *,
    fmt: Optional[str] = None,
    sourcetype: Optional[str] = None,
    metrics: Optional[Sequence[str]] = None,
    report: Optional[ReadReport] = None,
) -> Iterator[Event]:
    """Events from files; ``fmt`` None detects each file's format from its name.

    Unreadable records (malformed JSON, non-object lines) are skipped and
    counted in ``report``; undecodable bytes are replaced, never fatal.
    """
    report = report if report is not None else ReadReport()
    default_st = sourcetype or DEFAULT_SOURCETYPE
    for path in paths:
        kind = fmt or detect_format(path)
        if kind not in FORMATS:
            raise InputError(f"unknown format {kind!r}: use one of {', '.join(FORMATS)}")
        try:
            handle = _open_text(path)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with handle:
            if kind == "jsonl":
                events = _jsonl(handle, path, default_st, metrics, report)
            elif kind == "csv":
                events = _csv(handle, path, default_st, metrics, report)
            else:
                events = _raw(handle, path, default_st, report)
            for event in events:
                report.events += 1
                yield event


_scan_value = json.JSONDecoder().scan_once


def _json_line(line: str) -> Any:
    """``json.loads(line)``, faster: the C scanner is called directly, and only a
    line that does not parse that way goes through ``json.loads`` for its verdict."""
    try:
        value, end = _scan_value(line, 0)
    except (StopIteration, ValueError):
        return json.loads(line)
    if end != len(line) and line[end:].strip(" \t\r\n"):
        return json.loads(line)  # trailing data: raises as json.loads would
    return value


def _jsonl(handle, path, sourcetype, metrics, report) -> Iterator[Event]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            record = _json_line(line)
        except ValueError:
            report.skip(path, number, "not valid JSON")
            continue
        if not isinstance(record, dict):
            report.skip(path, number, "not a JSON object")
            continue
        if "preview" in record and ("result" in record or "lastrow" in record):
            # Splunk's export endpoint (and `splunk search -output json`) wraps each
            # result as {"preview": ..., "offset": N, "result": {...}}.
            record = record.get("result")
            if not isinstance(record, dict):
                continue  # a status line without a result
        yield event_from_record(record, default_sourcetype=sourcetype, metrics=metrics)


def _csv(handle, path, sourcetype, metrics, report) -> Iterator[Event]:
    csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))
    reader = csv.DictReader(handle)
    try:
        for row in reader:
            if None in row:
                report.skip(path, reader.line_num, "more cells than header columns")
                continue
            yield event_from_record(row, default_sourcetype=sourcetype, metrics=metrics)
    except csv.Error as exc:
        report.skip(path, reader.line_num, f"CSV error: {exc}")


def _raw(handle, path, sourcetype, report) -> Iterator[Event]:
    source = os.path.basename(path)
    for line in handle:
        if line.strip():
            yield event_from_line(line, sourcetype=sourcetype, source=source)
