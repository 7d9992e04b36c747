"""Events: one normalized shape for Splunk records, JSONL, CSV exports and raw lines.

An ``Event`` is what the fingerprint consumes. Readers turn files into events
and count what they had to skip, so the caller can say so at the end rather
than crash on the first bad line.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import sys
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from anchor.errors import InputError
from anchor.patterns import Template, message_of, split_raw, split_template
from anchor.patterns.header import normalize_level
from anchor.timefmt import EARLIEST_TIME, LATEST_TIME, parse_iso_fast, plausible_time

DEFAULT_SOURCETYPE = "default"
FORMATS = ("jsonl", "csv", "raw")
TIME_FIELDS = ("_time", "time", "timestamp", "@timestamp")
MESSAGE_FIELDS = ("_raw", "message", "msg", "log")
LEVEL_FIELDS = ("level", "log_level", "loglevel", "severity", "lvl", "priority")
PRIORITY_FIELD = "priority"  # syslog: facility * 8 + severity
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


# Numbers that are codes, not measurements: their values are categories (HTTP status).
CODE_FIELDS = frozenset(
    {
        "status",
        "code",
        "status_code",
        "http_status",
        "http_code",
        "response_code",
        "return_code",
        "rc",
        "exit_code",
        "errno",
        "error_code",
        "reason_code",
    }
)
# Identifier-like fields are neither measurements nor categories: their values
# name things (a build, a version, a port, a row) and change without anything
# being wrong. Matched on the lower-cased name: exact names, then suffixes.
_IDENTIFIER_NAMES = frozenset(
    {
        "id",
        "uuid",
        "guid",
        "build",
        "build_number",
        "buildnumber",
        "version",
        "ver",
        "release",
        "revision",
        "rev",
        "commit",
        "sha",
        "hash",
        "port",
        "sport",
        "dport",
        "seq",
        "sequence",
        "offset",
        "counter",
        "trace",
        "span",
        "session",
        "request",
        "ip",
    }
)
_IDENTIFIER_SUFFIXES = (
    "_id",
    "_uuid",
    "_guid",
    "_port",
    "_version",
    "_build",
    "_seq",
    "_offset",
    "_total",
    "_ip",
    "_hash",
    "_sha",
    "_key",
    "_token",
)
MAX_VALUE_CHARS = 100


def is_identifier(name: str) -> bool:
    """True for a field whose values name things rather than measure or classify them."""
    lowered = name.lower()
    # ``Id`` as a camel-case suffix (requestId), not any word ending in "id" (paid, valid).
    return (
        lowered in _IDENTIFIER_NAMES
        or lowered.endswith(_IDENTIFIER_SUFFIXES)
        or name.endswith("Id")
    )


class FieldChoice(NamedTuple):
    """The user's say on fields: ``named`` are kept as categories (even numbers,
    even identifier-like names); ``excluded`` are neither metrics nor categories."""

    named: frozenset = frozenset()
    excluded: frozenset = frozenset()


NO_CHOICE = FieldChoice()


def field_choice(
    named: Optional[Iterable[str]] = None, excluded: Optional[Iterable[str]] = None
) -> FieldChoice:
    """The user's field options as a FieldChoice; a field both named and excluded is an error."""
    keep = frozenset(n.strip() for n in named or () if n and n.strip())
    drop = frozenset(n.strip() for n in excluded or () if n and n.strip())
    both = sorted(keep & drop)
    if both:
        raise InputError(
            f"field {both[0]!r} is both named and excluded: give it to only one of the two options"
        )
    return FieldChoice(keep, drop) if keep or drop else NO_CHOICE


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
    # Category fields: name -> value (status codes, regions, outcomes).
    values: Optional[dict[str, str]] = None


def parse_time(value: Any) -> Optional[float]:
    """Epoch seconds from an epoch number (s or ms) or an ISO-8601-like string."""
    if value.__class__ is str and value[-1:] == "Z" and value[4:5] == "-":
        # ISO UTC (2025-01-01T00:00:00.123Z), as Splunk and most JSON loggers write it:
        # straight to the parser (this runs once per event).
        stamp = parse_iso_fast(value)
        if stamp is not None:
            return stamp if EARLIEST_TIME <= stamp < LATEST_TIME else None
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        if text[:4].isdigit() and text[4:5] == "-":
            stamp = parse_iso_fast(text)
            return stamp if stamp is None or EARLIEST_TIME <= stamp < LATEST_TIME else None
        try:
            number = float(text)
        except ValueError:
            parts = split_raw(text)
            return parts.timestamp if not parts.message else None
    if not math.isfinite(number):
        return None
    seconds = number / 1000.0 if number > 1e11 else number
    # 1e17 or -1e12 is no time at all (compared inline: this runs once per event)
    return seconds if EARLIEST_TIME <= seconds < LATEST_TIME else None


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


def _is_candidate_category(name: str, choice: FieldChoice) -> bool:
    if name in choice.named:
        return True
    if name in choice.excluded or name.startswith("_") or "::" in name or is_identifier(name):
        return False
    return name in CODE_FIELDS or name not in _NOT_METRICS


class _Plan(NamedTuple):
    """Where a record layout keeps each part of an event (records of one source share it)."""

    time_fields: tuple[str, ...]
    message_fields: tuple[str, ...]
    level_fields: tuple[str, ...]
    metric_names: tuple[str, ...]
    weighted: bool
    # Fields whose values may be categories, and which of them are codes
    # (numbers kept as values) rather than possible measurements.
    category_names: tuple[str, ...] = ()
    code_names: frozenset = frozenset()


_plans: dict[tuple, _Plan] = {}


# The last layout's plan: records of one source come one after another.
_last: list[Any] = [None, None, None]


def _plan(record: Mapping[str, Any], choice: FieldChoice = NO_CHOICE) -> _Plan:
    layout = tuple(record)
    last_layout, last_choice, plan = _last
    if layout == last_layout and choice is last_choice:
        return plan
    key = (layout, choice)
    plan = _plans.get(key)
    if plan is None:
        present = set(layout)
        categories = tuple(n for n in layout if _is_candidate_category(n, choice))
        codes = choice.named | CODE_FIELDS
        plan = _Plan(
            tuple(n for n in TIME_FIELDS if n in present),
            tuple(n for n in MESSAGE_FIELDS if n in present),
            tuple(n for n in LEVEL_FIELDS if n in present),
            tuple(
                n
                for n in layout
                if _is_candidate_metric(n)
                and not is_identifier(n)
                and n not in choice.named
                and n not in choice.excluded
            ),
            WEIGHT_FIELD in present,
            categories,
            frozenset(n for n in categories if n in codes),
        )
        if len(_plans) > 1000:
            _plans.clear()
        _plans[key] = plan
    _last[:] = [layout, choice, plan]
    return plan


def _values(source: Mapping[str, Any], plan: _Plan, into: dict[str, str]) -> dict[str, str]:
    """Category values: short strings that are not numbers, and codes of any kind."""
    codes = plan.code_names
    for name in plan.category_names:
        value = source.get(name)
        if value.__class__ is str:
            if not value or len(value) > MAX_VALUE_CHARS:
                continue
            if name in codes or _number(value) is None:
                into[name] = value
        elif name in codes and value is not None and not isinstance(value, (dict, list)):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            into[name] = str(value).lower() if isinstance(value, bool) else str(value)
        elif isinstance(value, bool):
            into[name] = "true" if value else "false"
    return into


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
        value = record[name]
        level = _level(value) if name != PRIORITY_FIELD else normalize_level(value, priority=True)
        if level:
            return level
    return None


def _metrics(
    source: Mapping[str, Any], names: Iterable[str], into: dict[str, float]
) -> dict[str, float]:
    for name in names:
        value: Any = source.get(name)  # the class test below narrows it; mypy cannot see that
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


# ``Event(...)`` without the Python-level ``__new__`` namedtuple generates (once per event).
_new_event = tuple.__new__


def _first_time(record: Mapping[str, Any], names: Iterable[str]) -> Optional[float]:
    for name in names:
        stamp = parse_time(record[name])
        if stamp is not None:
            return stamp
    return None


def _first_message(record: Mapping[str, Any], names: Iterable[str]) -> Optional[str]:
    for name in names:
        value = record[name]
        if isinstance(value, str) and value:
            return value
    return None


class _Inner(NamedTuple):
    """What a JSON ``_raw`` adds to its record's event."""

    message: str
    level: Optional[str]
    values: Optional[dict[str, str]]


def _json_raw(
    raw: str,
    fields: FieldChoice,
    metrics: Optional[Sequence[str]],
    level: Optional[str],
    numbers: dict[str, float],
    values: Optional[dict[str, str]],
) -> _Inner:
    """The message of a JSON ``_raw``, with its level, metrics (added to ``numbers``) and
    category values where the record itself had none; a ``_raw`` that is not a JSON
    object is its own message."""
    try:
        parsed = _json_line(raw)
    except (ValueError, RecursionError):  # RecursionError: nested thousands deep
        parsed = None
    if not isinstance(parsed, dict):
        return _Inner(raw, level, values)
    inner = _plan(parsed, fields)
    if level is None and inner.level_fields:
        level = _first_level(parsed, inner.level_fields)
    _metrics(parsed, inner.metric_names if metrics is None else metrics, numbers)
    if inner.category_names:
        values = _values(parsed, inner, values if values is not None else {})
    return _Inner(message_of(parsed) or raw, level, values)


def event_from_record(
    record: Mapping[str, Any],
    *,
    default_sourcetype: str = DEFAULT_SOURCETYPE,
    metrics: Optional[Sequence[str]] = None,
    fields: FieldChoice = NO_CHOICE,
) -> Event:
    """Normalize one structured record (JSONL object, CSV row or Splunk result).

    ``metrics`` names the numeric fields to keep; None keeps every numeric
    field that looks like a measurement (the fingerprint bounds how many).
    Short string fields and codes become category values (``fields`` names
    more or excludes some); identifier-like fields are neither.
    A JSON ``_raw`` (Splunk's JSON sourcetypes) is parsed for its message.
    """
    plan = _plan(record, fields)
    # One field of each kind is the common layout: read without a loop (once per event).
    names = plan.time_fields
    if len(names) == 1:
        time_value = parse_time(record[names[0]])
    else:
        time_value = _first_time(record, names) if names else None
    names = plan.message_fields
    raw = record[names[0]] if len(names) == 1 else None
    if raw.__class__ is not str or not raw:
        raw = _first_message(record, names)
    names = plan.level_fields
    if len(names) == 1 and names[0] != PRIORITY_FIELD:
        level = _level(record[names[0]])
    else:
        level = _first_level(record, names) if names else None
    numbers = _metrics(record, plan.metric_names if metrics is None else metrics, {})
    values = _values(record, plan, {}) if plan.category_names else None
    template = None
    if raw is None:
        message = message_of(record) or ""
    elif raw[0] == "{":
        message, level, values = _json_raw(raw, fields, metrics, level, numbers, values)
    else:
        # The header and the template come from one digit-blind shape of the line.
        parts, template = split_template(raw, MAX_MESSAGE_CHARS)
        message = parts.message
        if level is None:
            level = parts.level
        if time_value is None:
            time_value = parts.timestamp
    weight = _number(record.get(WEIGHT_FIELD)) if plan.weighted else None
    get = record.get
    host, sourcetype, source = get("host"), get("sourcetype"), get("source")
    return _new_event(
        Event,
        (
            time_value,
            host if host.__class__ is str else _text(host),
            (sourcetype if sourcetype.__class__ is str else _text(sourcetype))
            or default_sourcetype,
            source if source.__class__ is str else "" if source is None else _text(source),
            message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS],
            level,
            numbers,
            weight if weight is not None and weight > 0 else 1.0,
            template,
            values or None,
        ),
    )


def event_from_line(
    line: str, *, sourcetype: str = DEFAULT_SOURCETYPE, source: str = "", host: str = ""
) -> Event:
    parts, template = split_template(line, MAX_MESSAGE_CHARS)
    stamp = parts.timestamp if plausible_time(parts.timestamp) else None
    return Event(stamp, host, sourcetype, source, parts.message, parts.level, {}, 1.0, template)


SNIFF_LINES = 5
# Column names that make a comma-separated first line a CSV header (Splunk exports).
CSV_HEADER_NAMES = {"_raw", "_time", "host", "sourcetype", "source", "message", "time", "level"}


def telling_format(path: str) -> Optional[str]:
    """The format a file's extension names (.jsonl/.ndjson/.json, .csv), else None."""
    lowered = path.lower()
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    return None


def sniff_format(lines: Sequence[str]) -> str:
    """JSONL when the first non-blank lines are JSON objects, CSV when the first is a
    header naming known columns, else raw lines."""
    sample = [line for line in lines if line.strip()][:SNIFF_LINES]
    if not sample:
        return "raw"
    try:
        if all(isinstance(_json_line(line), dict) for line in sample):
            return "jsonl"
    except ValueError:
        pass
    try:
        rows = list(csv.reader(line[:4096] for line in sample))
    except csv.Error:
        return "raw"
    header = {cell.strip().lower() for cell in rows[0]}
    same_width = all(len(row) == len(rows[0]) for row in rows[1:2])
    if len(rows[0]) >= 2 and header & CSV_HEADER_NAMES and same_width:
        return "csv"
    return "raw"


def detect_format(path: str) -> str:
    """A file's format: the one its name tells, else sniffed from its first lines."""
    told = telling_format(path)
    if told is not None or path == "-":
        return told or "raw"
    try:
        with _open_text(path) as handle:
            return sniff_format(list(itertools.islice(handle, SNIFF_LINES)))
    except (OSError, EOFError, zlib.error, UnicodeError):
        return "raw"  # the reader reports the real problem when it opens the file


@dataclass
class ReadReport:
    """What a reader skipped, to be reported once at the end."""

    events: int = 0
    # Lines read (physical lines: a CSV cell may span several), so that a reader of one
    # part of a file can tell the next where its line numbers start.
    lines: int = 0
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
    fields: FieldChoice = NO_CHOICE,
) -> Iterator[Event]:
    """Events from files; ``fmt`` None detects each file's format from its name.

    Unreadable records (malformed JSON, non-object lines) are skipped and
    counted in ``report``; undecodable bytes are replaced, never fatal.
    """
    report = report if report is not None else ReadReport()
    default_st = sourcetype or DEFAULT_SOURCETYPE
    for path in paths:
        kind = fmt or telling_format(path)
        if kind is not None and kind not in FORMATS:
            raise InputError(f"unknown format {kind!r}: use one of {', '.join(FORMATS)}")
        try:
            handle = _open_text(path)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with handle:
            try:
                lines: Iterable[str] = handle
                if kind is None:
                    # stdin or a file whose name does not say: look at its first lines.
                    head = list(itertools.islice(handle, SNIFF_LINES))
                    kind = sniff_format(head)
                    lines = itertools.chain(head, handle)
                yield from read_handle(lines, path, kind, default_st, metrics, report, fields)
            except (EOFError, OSError, zlib.error) as exc:  # a corrupt or truncated .gz
                raise InputError(
                    f"cannot read {path}: the file is corrupt or truncated ({exc})"
                ) from None


def read_handle(
    handle: Iterable[str],
    path: str,
    kind: str,
    sourcetype: str,
    metrics: Optional[Sequence[str]],
    report: ReadReport,
    fields: FieldChoice = NO_CHOICE,
) -> Iterator[Event]:
    """Events from the lines of an open file (or of a part of one) of format ``kind``,
    counted in ``report.events``."""
    if kind == "jsonl":
        return _jsonl(handle, path, sourcetype, metrics, report, fields)
    if kind == "csv":
        return _csv(handle, path, sourcetype, metrics, report, fields)
    return _raw(handle, path, sourcetype, report)


# typeshed omits scan_once, which JSONDecoder.__init__ sets on every decoder.
_scan_value = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _json_line(line: str) -> Any:
    """``json.loads(line)``, faster: the C scanner is called directly, and only a
    line that does not parse that way goes through ``json.loads`` for its verdict."""
    try:
        value, end = _scan_value(line, 0)
    except (StopIteration, ValueError):
        return json.loads(line)
    if end != len(line) and line[end:] != "\n" and line[end:].strip(" \t\r\n"):
        return json.loads(line)  # trailing data: raises as json.loads would
    return value


def _jsonl(handle, path, sourcetype, metrics, report, fields) -> Iterator[Event]:
    number = 0
    for number, line in enumerate(handle, 1):
        if not line or line.isspace():  # (``not line.strip()`` without copying the line)
            continue
        try:
            record = _json_line(line)
        except ValueError:
            report.skip(path, number, "not valid JSON")
            continue
        except RecursionError:
            report.skip(path, number, "JSON nested too deeply")
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
        event = event_from_record(
            record, default_sourcetype=sourcetype, metrics=metrics, fields=fields
        )
        if event.time is None and _time_out_of_range(record):
            report.skip(path, number, "time out of range")
            continue
        report.events += 1
        yield event
    report.lines += number


def _csv(handle, path, sourcetype, metrics, report, fields) -> Iterator[Event]:
    csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))
    reader = csv.DictReader(handle)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            report.lines += reader.line_num
            return
        except csv.Error as exc:  # e.g. one oversize field: skip that row, keep reading
            report.skip(path, reader.line_num, f"CSV error: {exc}")
            continue
        if None in row:
            report.skip(path, reader.line_num, "more cells than header columns")
            continue
        event = event_from_record(
            row, default_sourcetype=sourcetype, metrics=metrics, fields=fields
        )
        if event.time is None and _time_out_of_range(row):
            report.skip(path, reader.line_num, "time out of range")
            continue
        report.events += 1
        yield event


def _time_out_of_range(record: Mapping[str, Any]) -> bool:
    """Whether a record's time is a number or ISO time outside 1970-2100 (asked of untimed events
    only; a time in a format Anchor does not read leaves the event untimed, as before)."""
    for name in TIME_FIELDS:
        value = record.get(name)
        if value is None or value == "" or isinstance(value, bool):
            continue
        text = str(value).strip()
        if text[:4].isdigit() and text[4:5] == "-":
            if parse_iso_fast(text) is not None:
                return True
            continue
        try:
            float(text)
        except ValueError:
            continue
        return True
    return False


def _raw(handle, path, sourcetype, report) -> Iterator[Event]:
    source = os.path.basename(path)
    number = 0
    for number, line in enumerate(handle, 1):  # noqa: B007 (the count is read after the loop)
        if line.strip():
            report.events += 1
            yield event_from_line(line, sourcetype=sourcetype, source=source)
    report.lines += number
