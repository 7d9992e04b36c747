"""The fingerprint: a bounded, mergeable summary of a window of events.

``fp.add(event)`` folds one event in; ``fp.merge(other)`` folds in another
partial fingerprint (an indexer's map output); both give the same result in
any order or split. Memory is bounded by the tracking limits and sketch
sizes, never by the number of events: when a sourcetype tracks more distinct
templates or hosts than its limit, the rarest are dropped and the largest
dropped count is kept as ``*_floor``, an upper bound on any untracked count,
which the diff uses to stay conservative.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import reduce
from itertools import repeat
from operator import add, mul
from typing import Any, Optional

from anchor.errors import AnchorError
from anchor.events import Event
from anchor.patterns import template_of
from anchor.patterns.merge import generalize_summary
from anchor.sketch import QuantileSketch

SCHEMA_VERSION = 1
LEVELS = ("error", "warn", "info", "debug")
TRACK_TEMPLATES = 20000
TRACK_HOSTS = 5000
TRACK_METRICS = 32
KEEP_TEMPLATES = 1000
KEEP_HOSTS = 500
KEEP_METRICS = 8
# Per-template hour-of-day counts are kept for the most frequent templates
# only: enough to recognise a nightly job, bounded at 24 numbers each.
KEEP_TEMPLATE_PROFILES = 200
EXAMPLE_CHARS = 512
# Category fields (status codes, regions): a field with more distinct values
# than TRACK_VALUES is high-cardinality (an identifier, a user, a path) and
# keeps no values; storage keeps the KEEP_VALUES commonest plus their rest.
TRACK_FIELDS = 32
TRACK_VALUES = 256
KEEP_FIELDS = 16
KEEP_VALUES = 20
# Per-host metric sketches: while a sourcetype has at most TRACK_HOST_SKETCHES
# (host, metric) pairs; past that it keeps none (a fleet that large is
# compared per sourcetype only). Storage keeps the KEEP_METRIC_HOSTS busiest
# hosts. Host sketches are coarser than the sourcetype's (2% instead of 1%).
TRACK_HOST_SKETCHES = 512
KEEP_METRIC_HOSTS = 16
HOST_SKETCH_ACCURACY = 0.02
HOST_SKETCH_BINS = 256


class FingerprintError(AnchorError):
    """A stored fingerprint cannot be read; the message says why."""


def _widen(
    low: Optional[float],
    high: Optional[float],
    other_low: Optional[float],
    other_high: Optional[float],
) -> tuple[Optional[float], Optional[float]]:
    """The range [low, high] widened to hold [other_low, other_high] (None: nothing seen yet)."""
    for value in (other_low, other_high):
        if value is not None:
            low = value if low is None else min(low, value)
            high = value if high is None else max(high, value)
    return low, high


# Weight-1 values a metric summary holds back before folding them in (see MetricSummary).
PENDING_VALUES = 256


class MetricSummary:
    """Count, sum, sum of squares, range and quantile sketch of one metric.

    Values of weight 1 (nearly every event's) wait in ``pending`` and are folded
    in together, in order and with the same arithmetic as one by one, before
    anything reads the summary: its fields are properties that fold them in first. The
    per-event path then costs one append instead of two method calls.
    """

    __slots__ = ("_count", "_maximum", "_minimum", "_sketch", "_total", "_total_sq", "pending")

    def __init__(self, sketch: Optional[QuantileSketch] = None) -> None:
        self._count = 0.0
        self._total = 0.0
        self._total_sq = 0.0
        self._minimum: Optional[float] = None
        self._maximum: Optional[float] = None
        self._sketch = sketch if sketch is not None else QuantileSketch()
        self.pending: list[float] = []

    def add(self, value: float, weight: float) -> None:
        if weight == 1.0:
            pending = self.pending
            pending.append(value)
            if len(pending) >= PENDING_VALUES:
                self.fold_pending()
            return
        self.fold_pending()
        self._count += weight
        self._total += value * weight
        self._total_sq += value * value * weight
        minimum = self._minimum
        if minimum is None or value < minimum:
            self._minimum = value
        maximum = self._maximum
        if maximum is None or value > maximum:
            self._maximum = value
        self._sketch.add(value, weight)

    def fold_pending(self) -> None:
        """Fold in the pending values, as ``add(value, 1.0)`` one by one would."""
        pending = self.pending
        if not pending:
            return
        self.pending = []
        # Left folds in C, in order: the same sums, rounding included, as += per value
        # (times a weight of 1.0, which changes nothing).
        self._count = reduce(add, repeat(1.0, len(pending)), self._count)
        self._total = reduce(add, pending, self._total)
        self._total_sq = reduce(add, map(mul, pending, pending), self._total_sq)
        lowest, highest = min(pending), max(pending)  # the first of equal values, as in add
        if self._minimum is None or lowest < self._minimum:
            self._minimum = lowest
        if self._maximum is None or highest > self._maximum:
            self._maximum = highest
        self._sketch.add_ones(pending)

    @property
    def count(self) -> float:
        self.fold_pending()
        return self._count

    @property
    def total(self) -> float:
        self.fold_pending()
        return self._total

    @property
    def total_sq(self) -> float:
        self.fold_pending()
        return self._total_sq

    @property
    def minimum(self) -> Optional[float]:
        self.fold_pending()
        return self._minimum

    @property
    def maximum(self) -> Optional[float]:
        self.fold_pending()
        return self._maximum

    @property
    def sketch(self) -> QuantileSketch:
        self.fold_pending()
        return self._sketch

    def merge(self, other: MetricSummary) -> None:
        self.fold_pending()
        self._count += other.count
        self._total += other.total
        self._total_sq += other.total_sq
        self._minimum, self._maximum = _widen(
            self._minimum, self._maximum, other.minimum, other.maximum
        )
        self._sketch.merge(other.sketch)

    @property
    def mean(self) -> Optional[float]:
        return self.total / self.count if self.count else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sum": self.total,
            "sum_sq": self.total_sq,
            "min": self.minimum,
            "max": self.maximum,
            "sketch": self.sketch.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSummary:
        summary = cls(QuantileSketch.from_dict(data["sketch"]))
        summary._count = float(data["count"])
        summary._total = float(data["sum"])
        summary._total_sq = float(data["sum_sq"])
        summary._minimum = data.get("min")
        summary._maximum = data.get("max")
        return summary


class TemplateEntry:
    """One template of a sourcetype: how often, how many errors, its text and one example.

    ``hours`` counts its timed events per hour of day (UTC); None when not kept
    (beyond ``KEEP_TEMPLATE_PROFILES``, or an anchor captured before profiles
    existed): the diff then assumes the template follows its sourcetype's day.
    """

    __slots__ = ("count", "errors", "example", "hours", "template")

    def __init__(
        self,
        count: float,
        errors: float,
        template: str,
        example: str,
        hours: Optional[list[float]] = None,
    ) -> None:
        self.count = count
        self.errors = errors
        self.template = template
        self.example = example
        self.hours = hours

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TemplateEntry):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        return f"TemplateEntry({self.count!r}, {self.errors!r}, {self.template!r})"

    def merge(self, other: TemplateEntry) -> None:
        self.count += other.count
        self.errors += other.errors
        self.template = min(self.template, other.template)
        self.example = min(self.example, other.example)
        # An unknown profile on either side leaves the sum unknown: order-independent.
        if self.hours is None or other.hours is None:
            self.hours = None
        else:
            self.hours = [a + b for a, b in zip(self.hours, other.hours)]

    def to_dict(self, pattern_id: str) -> dict[str, Any]:
        data = {
            "id": pattern_id,
            "count": self.count,
            "errors": self.errors,
            "template": self.template,
            "example": self.example,
        }
        if self.hours is not None:
            data["hours"] = self.hours
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemplateEntry:
        hours = data.get("hours")
        return cls(
            float(data["count"]),
            float(data["errors"]),
            data["template"],
            data["example"],
            [float(v) for v in hours] if hours is not None else None,
        )


def host_metric_summary() -> MetricSummary:
    return MetricSummary(QuantileSketch(HOST_SKETCH_ACCURACY, HOST_SKETCH_BINS))


class FieldValues:
    """How often each value of one category field occurs (weighted counts).

    ``count`` counts every event carrying the field, so ``count - sum(values)``
    is the share of values not kept ("other"). ``overflow`` marks a field seen
    with more than TRACK_VALUES distinct values: exact under any split, since a
    field overflows exactly when its values, all taken together, are too many.
    """

    __slots__ = ("count", "distinct", "overflow", "values")

    def __init__(self) -> None:
        self.count = 0.0
        self.values: dict[str, float] = {}
        self.distinct = 0
        self.overflow = False

    @property
    def other(self) -> float:
        return max(self.count - sum(self.values.values()), 0.0)

    def add(self, value: str, weight: float) -> None:
        self.count += weight
        if self.overflow:
            return
        values = self.values
        if value in values:
            values[value] += weight
            return
        values[value] = weight
        if len(values) > TRACK_VALUES:
            self._overflow()
        elif len(values) > self.distinct:
            self.distinct = len(values)

    def _overflow(self) -> None:
        self.overflow = True
        self.values = {}
        self.distinct = TRACK_VALUES + 1

    def merge(self, other: FieldValues) -> None:
        self.count += other.count
        if self.overflow:
            return
        if other.overflow:
            return self._overflow()
        for value, count in other.values.items():
            self.values[value] = self.values.get(value, 0.0) + count
        if len(self.values) > TRACK_VALUES:
            return self._overflow()
        self.distinct = max(self.distinct, other.distinct, len(self.values))
        return None

    def trim(self, keep: int) -> None:
        _prune(self.values, keep, float)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "distinct": self.distinct,
            "overflow": self.overflow,
            "values": [[value, self.values[value]] for value in sorted(self.values)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldValues:
        field = cls()
        field.count = float(data["count"])
        field.distinct = int(data["distinct"])
        field.overflow = bool(data["overflow"])
        field.values = {str(value): float(count) for value, count in data["values"]}
        return field


def _prune(counts: dict[str, Any], limit: int, count_of) -> float:
    """Drop the rarest entries down to ``limit``; return the largest dropped count."""
    if len(counts) <= limit:
        return 0.0
    ranked = sorted(counts, key=lambda key: (-count_of(counts[key]), key))
    dropped = 0.0
    for key in ranked[limit:]:
        dropped = max(dropped, count_of(counts.pop(key)))
    return dropped


class SourcetypeSummary:
    """Everything the diff compares for one sourcetype."""

    __slots__ = (
        "count",
        "earliest",
        "fields",
        "host_floor",
        "host_metrics",
        "host_metrics_overflow",
        "hosts",
        "hours",
        "latest",
        "levels",
        "metrics",
        "template_floor",
        "templates",
        "timed",
    )

    def __init__(self) -> None:
        self.count = 0.0
        self.timed = 0.0
        self.earliest: Optional[float] = None
        self.latest: Optional[float] = None
        self.hours = [0.0] * 24
        self.levels = {level: 0.0 for level in LEVELS}
        self.templates: dict[str, TemplateEntry] = {}
        self.template_floor = 0.0
        self.hosts: dict[str, float] = {}
        self.host_floor = 0.0
        self.metrics: dict[str, MetricSummary] = {}
        self.fields: dict[str, FieldValues] = {}
        # host -> metric -> summary, while the pairs stay within TRACK_HOST_SKETCHES
        self.host_metrics: dict[str, dict[str, MetricSummary]] = {}
        self.host_metrics_overflow = False

    @property
    def errors(self) -> float:
        return self.levels["error"]

    @property
    def has_levels(self) -> bool:
        return any(self.levels.values())

    def add(self, event: Event) -> None:
        # (unpacked once: attribute reads of a named tuple cost more, once per event)
        when, host, _, _, message, level, metrics, weight, known_template, values = event
        self.count += weight
        hour = None
        if when is not None:
            self.timed += weight
            if self.earliest is None or when < self.earliest:
                self.earliest = when
            if self.latest is None or when > self.latest:
                self.latest = when
            hour = int(when // 3600) % 24
            self.hours[hour] += weight
        if level is not None:
            self.levels[level] += weight
        pattern_id, template = known_template or template_of(message)
        entry = self.templates.get(pattern_id)
        example = message[:EXAMPLE_CHARS]
        if entry is None:
            hours = [0.0] * 24
            entry = self.templates[pattern_id] = TemplateEntry(
                weight, weight if level == "error" else 0.0, template, example, hours
            )
            if hour is not None:
                hours[hour] += weight
            if len(self.templates) > TRACK_TEMPLATES:
                # Merge word-valued variables first, so they are not dropped as rare templates.
                generalize_summary(self)
                if len(self.templates) > TRACK_TEMPLATES * 3 // 4:
                    self.template_floor += _prune(self.templates, TRACK_TEMPLATES // 2, _first)
        else:
            entry.count += weight
            if level == "error":
                entry.errors += weight
            if example < entry.example:
                entry.example = example
            if template < entry.template:
                entry.template = template
            if hour is not None and entry.hours is not None:
                entry.hours[hour] += weight
        hosts = self.hosts
        if host in hosts:
            hosts[host] += weight
        else:
            hosts[host] = 0.0 + weight
            if len(hosts) > TRACK_HOSTS:
                self.host_floor += _prune(hosts, TRACK_HOSTS // 2, float)
        if metrics:
            mine = self.metrics
            for name, value in metrics.items():
                summary = mine.get(name)
                if summary is None:
                    if len(mine) >= TRACK_METRICS:
                        continue
                    summary = mine[name] = MetricSummary()
                summary.add(value, weight)
            if not self.host_metrics_overflow:
                self._add_host_metrics(host, metrics, weight)
        if values:
            fields = self.fields
            for name, text in values.items():
                counts = fields.get(name)
                if counts is None:
                    if len(fields) >= TRACK_FIELDS:
                        continue
                    counts = fields[name] = FieldValues()
                counts.add(text, weight)

    def _add_host_metrics(self, host: str, metrics: Mapping[str, float], weight: float) -> None:
        mine = self.host_metrics.get(host)
        if mine is None:
            mine = self.host_metrics[host] = {}
        for name, value in metrics.items():
            if name not in self.metrics:
                continue  # past TRACK_METRICS: not kept per sourcetype either
            summary = mine.get(name)
            if summary is None:
                summary = mine[name] = host_metric_summary()
                self._check_host_sketches()
                if self.host_metrics_overflow:
                    return
            summary.add(value, weight)

    def _check_host_sketches(self) -> None:
        if sum(len(m) for m in self.host_metrics.values()) > TRACK_HOST_SKETCHES:
            self.host_metrics_overflow = True
            self.host_metrics = {}

    def merge(self, other: SourcetypeSummary) -> None:
        self.count += other.count
        self.timed += other.timed
        self.earliest, self.latest = _widen(
            self.earliest, self.latest, other.earliest, other.latest
        )
        self.hours = [a + b for a, b in zip(self.hours, other.hours)]
        for level, count in other.levels.items():
            self.levels[level] += count
        for pattern_id, theirs in other.templates.items():
            entry = self.templates.get(pattern_id)
            if entry is None:
                self.templates[pattern_id] = TemplateEntry(
                    theirs.count,
                    theirs.errors,
                    theirs.template,
                    theirs.example,
                    list(theirs.hours) if theirs.hours is not None else None,
                )
            else:
                entry.merge(theirs)
        self.template_floor += other.template_floor
        self.template_floor += _prune(self.templates, TRACK_TEMPLATES, _first)
        for host, count in other.hosts.items():
            self.hosts[host] = self.hosts.get(host, 0.0) + count
        self.host_floor += other.host_floor
        self.host_floor += _prune(self.hosts, TRACK_HOSTS, float)
        for name, summary in other.metrics.items():
            mine = self.metrics.get(name)
            if mine is None:
                mine = self.metrics[name] = MetricSummary()
            mine.merge(summary)
        _prune(self.metrics, TRACK_METRICS, _metric_count)
        self._merge_host_metrics(other)
        for name, values in other.fields.items():
            mine_values = self.fields.get(name)
            if mine_values is None:
                mine_values = self.fields[name] = FieldValues()
            mine_values.merge(values)
        _prune(self.fields, TRACK_FIELDS, _field_count)

    def _merge_host_metrics(self, other: SourcetypeSummary) -> None:
        if other.host_metrics_overflow:
            self.host_metrics_overflow = True
            self.host_metrics = {}
        if self.host_metrics_overflow:
            return
        for host, metrics in other.host_metrics.items():
            mine = self.host_metrics.get(host)
            if mine is None:
                mine = self.host_metrics[host] = {}
            for name, summary in metrics.items():
                if name not in mine:
                    mine[name] = host_metric_summary()
                mine[name].merge(summary)
        for host in list(self.host_metrics):
            metrics = self.host_metrics[host]
            for name in [n for n in metrics if n not in self.metrics]:
                del metrics[name]
        self._check_host_sketches()

    def trim(
        self,
        keep_templates: int,
        keep_hosts: int,
        keep_metrics: int,
        keep_fields: int = KEEP_FIELDS,
        keep_values: int = KEEP_VALUES,
        keep_metric_hosts: int = KEEP_METRIC_HOSTS,
    ) -> None:
        """Bound the summary for storage: top templates, hosts, metrics, fields and
        values by count, and per-host metrics of the busiest hosts only."""
        self.template_floor += _prune(self.templates, keep_templates, _first)
        self.host_floor += _prune(self.hosts, keep_hosts, float)
        _prune(self.metrics, keep_metrics, _metric_count)
        ranked = sorted(self.templates, key=lambda key: (-self.templates[key].count, key))
        for key in ranked[KEEP_TEMPLATE_PROFILES:]:
            self.templates[key].hours = None
        _prune(self.fields, keep_fields, _field_count)
        for values in self.fields.values():
            values.trim(keep_values)
        busiest = sorted(self.host_metrics, key=lambda h: (-self.hosts.get(h, 0.0), h))
        for host in busiest[keep_metric_hosts:]:
            del self.host_metrics[host]
        for metrics in self.host_metrics.values():
            for name in [n for n in metrics if n not in self.metrics]:
                del metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "timed": self.timed,
            "earliest": self.earliest,
            "latest": self.latest,
            "hours": self.hours,
            "levels": self.levels,
            "templates": [entry.to_dict(pid) for pid, entry in sorted(self.templates.items())],
            "template_floor": self.template_floor,
            "hosts": [[host, self.hosts[host]] for host in sorted(self.hosts)],
            "host_floor": self.host_floor,
            "metrics": {name: self.metrics[name].to_dict() for name in sorted(self.metrics)},
            "fields": {name: self.fields[name].to_dict() for name in sorted(self.fields)},
            "host_metrics": {
                host: {name: m[name].to_dict() for name in sorted(m)}
                for host, m in sorted(self.host_metrics.items())
            },
            "host_metrics_overflow": self.host_metrics_overflow,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourcetypeSummary:
        summary = cls()
        summary.count = float(data["count"])
        summary.timed = float(data["timed"])
        summary.earliest = data["earliest"]
        summary.latest = data["latest"]
        summary.hours = [float(v) for v in data["hours"]]
        summary.levels = {level: float(data["levels"].get(level, 0.0)) for level in LEVELS}
        summary.templates = {t["id"]: TemplateEntry.from_dict(t) for t in data["templates"]}
        summary.template_floor = float(data["template_floor"])
        summary.hosts = {host: float(count) for host, count in data["hosts"]}
        summary.host_floor = float(data["host_floor"])
        summary.metrics = {
            name: MetricSummary.from_dict(metric) for name, metric in data["metrics"].items()
        }
        # Absent from fingerprints stored before category fields and host metrics existed.
        summary.fields = {
            name: FieldValues.from_dict(values) for name, values in data.get("fields", {}).items()
        }
        summary.host_metrics = {
            host: {name: MetricSummary.from_dict(m) for name, m in metrics.items()}
            for host, metrics in data.get("host_metrics", {}).items()
        }
        summary.host_metrics_overflow = bool(data.get("host_metrics_overflow", False))
        return summary


def _first(entry: TemplateEntry) -> float:
    return entry.count


def _metric_count(summary: MetricSummary) -> float:
    return summary.count


def _field_count(values: FieldValues) -> float:
    return values.count


class Fingerprint:
    """Per-sourcetype summaries plus the window they cover.

    ``span`` is the search's time range when known (Splunk passes it); without
    it the window is the observed first-to-last event time.
    """

    def __init__(self, span: Optional[tuple[float, float]] = None) -> None:
        self.sourcetypes: dict[str, SourcetypeSummary] = {}
        self.span = span

    def add(self, event: Event) -> None:
        summary = self.sourcetypes.get(event.sourcetype)
        if summary is None:
            summary = self.sourcetypes[event.sourcetype] = SourcetypeSummary()
        summary.add(event)

    def add_all(self, events: Iterable[Event]) -> Fingerprint:
        # ``add`` per event, one call fewer each (this loop is the whole of a capture).
        sourcetypes = self.sourcetypes
        for event in events:
            summary = sourcetypes.get(event.sourcetype)
            if summary is None:
                summary = sourcetypes[event.sourcetype] = SourcetypeSummary()
            summary.add(event)
        return self

    def merge(self, other: Fingerprint) -> Fingerprint:
        for name, summary in other.sourcetypes.items():
            mine = self.sourcetypes.get(name)
            if mine is None:
                mine = self.sourcetypes[name] = SourcetypeSummary()
            mine.merge(summary)
        if other.span is not None:
            if self.span is None:
                self.span = other.span
            else:
                self.span = (min(self.span[0], other.span[0]), max(self.span[1], other.span[1]))
        return self

    def trim(
        self,
        keep_templates: int = KEEP_TEMPLATES,
        keep_hosts: int = KEEP_HOSTS,
        keep_metrics: int = KEEP_METRICS,
    ) -> Fingerprint:
        for summary in self.sourcetypes.values():
            summary.trim(keep_templates, keep_hosts, keep_metrics)
        return self

    @property
    def count(self) -> float:
        return sum(s.count for s in self.sourcetypes.values())

    @property
    def template_count(self) -> int:
        return sum(len(s.templates) for s in self.sourcetypes.values())

    def window(self) -> Optional[tuple[float, float]]:
        """(start, end) epoch seconds, or None when no event had a timestamp."""
        if self.span is not None:
            return self.span
        starts = [s.earliest for s in self.sourcetypes.values() if s.earliest is not None]
        ends = [s.latest for s in self.sourcetypes.values() if s.latest is not None]
        if not starts:
            return None
        return (min(starts), max(ends))

    def duration(self) -> Optional[float]:
        """Seconds covered, or None when rates cannot be computed.

        An observed window of n events spanning ``d`` seconds really covers
        about ``d * n / (n - 1)``: the gap after the last event belongs to it too.
        """
        window = self.window()
        if window is None:
            return None
        seconds = window[1] - window[0]
        if self.span is None:
            timed = sum(s.timed for s in self.sourcetypes.values())
            if timed > 1:
                seconds *= timed / (timed - 1)
        return seconds if seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "span": list(self.span) if self.span else None,
            "sourcetypes": {
                name: self.sourcetypes[name].to_dict() for name in sorted(self.sourcetypes)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        version = data.get("schema_version") if isinstance(data, Mapping) else None
        if version != SCHEMA_VERSION:
            raise FingerprintError(
                f"fingerprint schema version {version!r} is not supported by this Anchor "
                f"(it reads version {SCHEMA_VERSION}); re-capture the anchor or upgrade Anchor"
            )
        span = data.get("span")
        fingerprint = cls(tuple(span) if span else None)
        try:
            fingerprint.sourcetypes = {
                name: SourcetypeSummary.from_dict(summary)
                for name, summary in data["sourcetypes"].items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise FingerprintError(f"stored fingerprint is malformed: {exc}") from exc
        return fingerprint


def _settle(value: Any) -> Any:
    """Round floats to 12 significant digits: sums may differ in their last bits by merge order."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _settle(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_settle(v) for v in value]
    return value


def content_digest(fingerprint: Fingerprint) -> str:
    """A digest of a fingerprint's content, the same however its events were split, but
    for the rare float sum whose last bits (which depend on addition order) fall either
    side of the 12-digit rounding (see ``_settle``): tests compare the content itself."""
    text = json.dumps(_settle(fingerprint.to_dict()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint_events(
    events: Iterable[Event], span: Optional[Sequence[float]] = None
) -> Fingerprint:
    return Fingerprint((span[0], span[1]) if span else None).add_all(events)
