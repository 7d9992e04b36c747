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
from anchor.patterns import message_of, split_raw
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
    return not (
        name.startswith("_") or name in _NOT_METRICS or name.endswith("_id") or name.endswith("Id")
    )


_names_cache: dict[tuple[str, ...], list[str]] = {}


def _candidate_names(record: Mapping[str, Any]) -> list[str]:
    """Metric candidates among a record's fields, cached per field layout."""
    layout = tuple(record)
    names = _names_cache.get(layout)
    if names is None:
        names = [n for n in layout if _is_candidate_metric(n)]
        if len(_names_cache) > 1000:
            _names_cache.clear()
        _names_cache[layout] = names
    return names


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
    time_value = None
    for name in TIME_FIELDS:
        if name in record:
            time_value = parse_time(record[name])
            if time_value is not None:
                break
    raw = None
    for name in MESSAGE_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and value:
            raw = value
            break
    nested: Mapping[str, Any] = record
    level = None
    for name in LEVEL_FIELDS:
        if name in record:
            level = normalize_level(record[name])
            if level:
                break
    if raw is None:
        message = message_of(record) or ""
    elif raw.startswith("{"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            nested = parsed
            message = message_of(parsed) or raw
            if level is None:
                for name in LEVEL_FIELDS:
                    if name in parsed:
                        level = normalize_level(parsed[name])
                        if level:
                            break
        else:
            message = raw
    else:
        parts = split_raw(raw)
        message = parts.message
        if level is None:
            level = parts.level
        if time_value is None:
            time_value = parts.timestamp
    numbers: dict[str, float] = {}
    sources = (record,) if nested is record else (record, nested)
    for source in sources:
        names = metrics if metrics is not None else _candidate_names(source)
        for name in names:
            number = _number(source.get(name))
            if number is not None:
                numbers[name] = number
    weight = _number(record.get(WEIGHT_FIELD))
    return Event(
        time=time_value,
        host=str(record.get("host") or ""),
        sourcetype=str(record.get("sourcetype") or default_sourcetype),
        source=str(record.get("source") or ""),
        message=message[:MAX_MESSAGE_CHARS],
        level=level,
        metrics=numbers,
        weight=weight if weight is not None and weight > 0 else 1.0,
    )


def event_from_line(
    line: str, *, sourcetype: str = DEFAULT_SOURCETYPE, source: str = "", host: str = ""
) -> Event:
    parts = split_raw(line)
    return Event(
        parts.timestamp,
        host,
        sourcetype,
        source,
        parts.message[:MAX_MESSAGE_CHARS],
        parts.level,
        {},
        1.0,
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


def _jsonl(handle, path, sourcetype, metrics, report) -> Iterator[Event]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            report.skip(path, number, "not valid JSON")
            continue
        if not isinstance(record, dict):
            report.skip(path, number, "not a JSON object")
            continue
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
