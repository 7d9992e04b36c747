"""What the Splunk commands compute, as plain functions over records and options.

Nothing here imports splunklib: the command classes in ``commands.py`` only
parse options, open the memory and hand records to these functions, so the
logic is testable on its own and the CLI and the commands share the engine.
A map phase turns events into a serialized partial fingerprint; the reduce
phase merges partials and runs the operation.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional, Protocol, TypedDict
from urllib.parse import unquote

from anchor import operations
from anchor.diff import SIGNAL_FIELDS
from anchor.errors import InputError
from anchor.events import (
    LEVEL_FIELDS,
    MESSAGE_FIELDS,
    NO_CHOICE,
    TIME_FIELDS,
    WEIGHT_FIELD,
    FieldChoice,
    event_from_record,
    field_choice,
)
from anchor.fingerprint import Fingerprint
from anchor.memory import Memory
from anchor.narrate import drill_in_spl
from anchor.operations import DriftReport
from anchor.patterns import template_of

PARTIAL_FIELD = "anchor_partial"
PARTIAL_PREFIX = "zjson1:"

CAPTURE_FIELDS = ("anchor", "events", "sourcetypes", "templates", "window_start", "window_end")


class NarrativeRow(TypedDict):
    """The narrative's fields of anchorcompare's rank-1 row, in the row's order."""

    summary: str
    hypothesis: Optional[str]
    drill_in_spl: Optional[str]
    narrative_source: str
    cited_signals: Optional[list[str]]
    narrative_model: Optional[str]
    prompt_version: Optional[int]
    fallback_reason: Optional[str]
    investigation_steps: Optional[list[str]]
    investigation_truncated: Optional[bool]
    notes: Optional[list[str]]


NARRATIVE_FIELDS = tuple(NarrativeRow.__annotations__)
COMPARE_FIELDS = (*SIGNAL_FIELDS, "drift_id", "anchor", *NARRATIVE_FIELDS)


class Invocation(TypedDict):
    """Who runs a search, when, and its text (stored with the anchor or drift it makes)."""

    user: str
    now: float
    search: Optional[str]


class CaptureOptions(Protocol):
    anchor_name: str
    metrics: Optional[str]


class CompareOptions(Protocol):
    anchor: str
    metrics: Optional[str]
    alpha: float
    limit: int


def field_options(named: Optional[str], excluded: Optional[str]) -> FieldChoice:
    """``fields=status,tier exclude_fields=user`` as a FieldChoice."""
    return field_choice(metric_list(named), metric_list(excluded))


def metric_list(text: Optional[str]) -> Optional[list[str]]:
    """``metrics=a,b c`` as a list; None means detect numeric fields."""
    if not text:
        return None
    names = [n for n in text.replace(",", " ").split() if n]
    return names or None


# What the map phase reads of an event besides its metrics (see anchor.events),
# and what the reduce reads of the map's output.
EVENT_FIELDS = (
    "host",
    "source",
    "sourcetype",
    *TIME_FIELDS,
    *MESSAGE_FIELDS,
    *LEVEL_FIELDS,
    WEIGHT_FIELD,
)


def required_fields(
    metrics: Optional[Sequence[str]], named: Sequence[Optional[str]] = ()
) -> Optional[list[str]]:
    """The fields one invocation reads, for getinfo's ``required_fields``, so that
    splunkd sends only those instead of every extracted field of every event.

    ``metrics`` are the named metrics; ``named`` every other field an option
    names (``split=``). None (splunkd sends every field) when the metrics are
    to be discovered: any numeric field may be one, so none can be left out.
    """
    if metrics is None:
        return None
    fields: list[str] = []
    for name in (*EVENT_FIELDS, *metrics, *named, PARTIAL_FIELD, SIDE_FIELD):
        if name and name not in fields:
            fields.append(name)
    return fields


def is_partial(record: Mapping[str, Any]) -> bool:
    value = record.get(PARTIAL_FIELD)
    return isinstance(value, str) and value.startswith(PARTIAL_PREFIX)


def encode_partial(fingerprint: Fingerprint) -> dict[str, str]:
    text = json.dumps(fingerprint.to_dict(), sort_keys=True, separators=(",", ":"))
    packed = base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")
    return {PARTIAL_FIELD: PARTIAL_PREFIX + packed}


def decode_partial(record: Mapping[str, Any]) -> Fingerprint:
    value = record[PARTIAL_FIELD]
    try:
        text = zlib.decompress(base64.b64decode(value[len(PARTIAL_PREFIX) :])).decode("utf-8")
        return Fingerprint.from_dict(json.loads(text))
    except (ValueError, zlib.error) as exc:
        raise InputError(f"a partial fingerprint from the map phase is corrupt: {exc}") from exc


def search_span(earliest: Any, latest: Any) -> Optional[tuple[float, float]]:
    """The search's time range, when it is a real range (not all time)."""
    try:
        start, end = float(earliest), float(latest)
    except (TypeError, ValueError):
        return None
    if start > 0 and end > start:
        return (start, end)
    return None


def fingerprint_records(
    records: Iterable[Mapping[str, Any]],
    metrics: Optional[Sequence[str]] = None,
    fields: FieldChoice = NO_CHOICE,
) -> Fingerprint:
    """Map phase: events (or already-merged partials) into one fingerprint."""
    fingerprint = Fingerprint()
    add = fingerprint.add
    for record in records:
        if is_partial(record):
            fingerprint.merge(decode_partial(record))
        else:
            add(event_from_record(record, metrics=metrics, fields=fields))
    return fingerprint


class Reducer:
    """Reduce phase state: splunklib calls reduce once per chunk, so partials
    are merged as they arrive and the operation runs once, on the last chunk."""

    def __init__(self) -> None:
        self.fingerprint = Fingerprint()

    def add(
        self,
        records: Iterable[Mapping[str, Any]],
        metrics: Optional[Sequence[str]],
        fields: FieldChoice = NO_CHOICE,
    ) -> None:
        self.fingerprint.merge(fingerprint_records(records, metrics, fields))

    def finish(self, span: Optional[tuple[float, float]]) -> Fingerprint:
        if span is not None:
            self.fingerprint.span = span
        return self.fingerprint


# Split-by comparisons (``anchorcompare split=<field> baseline=<value>``): the
# map phase emits one partial per window, tagged with its side, and the reduce
# keeps the two apart. Events may carry their own window's time bounds (the
# ``anchor_shift`` macro sets them) so that rates use each window's span.
SIDE_FIELD = "anchor_side"
SIDES = ("baseline", "current")
WINDOW_FIELDS = ("anchor_earliest", "anchor_latest")


class SplitOptions(CompareOptions, Protocol):
    split: str
    baseline: str


def split_mode(anchor: Optional[str], split: Optional[str], baseline: Optional[str]) -> bool:
    """True for a split-by comparison; a clear error when the options do not fit together."""
    if anchor and not split and baseline is None:
        return False
    if split and baseline is not None and not anchor:
        return True
    if anchor:
        raise InputError("give either anchor=<name> or split=<field> baseline=<value>, not both")
    if split or baseline is not None:
        raise InputError(
            "split=<field> and baseline=<value> go together, e.g. split=anchor_window "
            "baseline=before"
        )
    raise InputError(
        "anchorcompare needs anchor=<name>, or split=<field> baseline=<value> to compare "
        "two windows of one search (e.g. after `anchor_shift(1h,7d)`: "
        "split=anchor_window baseline=before)"
    )


def _record_window(record: Mapping[str, Any]) -> Optional[tuple[float, float]]:
    try:
        start, end = float(record[WINDOW_FIELDS[0]]), float(record[WINDOW_FIELDS[1]])
    except (KeyError, TypeError, ValueError):
        return None
    return (start, end) if end > start else None


def _widen(fingerprint: Fingerprint, window: tuple[float, float]) -> None:
    span = fingerprint.span
    if span is None:
        fingerprint.span = window
    elif window[0] < span[0] or window[1] > span[1]:
        fingerprint.span = (min(span[0], window[0]), max(span[1], window[1]))


def split_fingerprints(
    records: Iterable[Mapping[str, Any]],
    metrics: Optional[Sequence[str]],
    split: str,
    baseline: str,
    fields: FieldChoice = NO_CHOICE,
) -> dict[str, Fingerprint]:
    """Events (or tagged partials) into a baseline and a current fingerprint.

    An event belongs to the baseline when its ``split`` field equals
    ``baseline`` (or, multivalued, contains it); every other event is current.
    The split field and the window bounds say which window, not what happened
    in it: they are neither metrics nor categories.
    """
    fields = fields._replace(excluded=fields.excluded | {split, *WINDOW_FIELDS})
    sides = {side: Fingerprint() for side in SIDES}
    seen: dict[str, Any] = {}
    for record in records:
        if is_partial(record):
            side = record.get(SIDE_FIELD)
            if side not in sides:
                raise InputError(
                    "a partial fingerprint from the map phase names no window: run the map "
                    "phase with the same split= and baseline= as the reduce"
                )
            sides[side].merge(decode_partial(record))
            continue
        value = record.get(split)
        is_base = baseline in value if isinstance(value, list) else value == baseline
        side = "baseline" if is_base else "current"
        fingerprint = sides[side]
        fingerprint.add(event_from_record(record, metrics=metrics, fields=fields))
        # Events of one window carry the same bounds: parse them once per change.
        bounds = (record.get(WINDOW_FIELDS[0]), record.get(WINDOW_FIELDS[1]))
        if seen.get(side) != bounds:
            seen[side] = bounds
            window = _record_window(record)
            if window is not None:
                _widen(fingerprint, window)
    return sides


def encode_sides(sides: Mapping[str, Fingerprint]) -> Iterator[dict[str, str]]:
    """Map phase output of a split-by comparison: one tagged partial per non-empty window."""
    for side in SIDES:
        fingerprint = sides[side]
        if fingerprint.count > 0:
            yield {**encode_partial(fingerprint), SIDE_FIELD: side}


class SplitReducer:
    """Reduce phase state of a split-by comparison: two fingerprints, merged chunk by chunk."""

    def __init__(self, split: str, baseline: str) -> None:
        self.split, self.baseline = split, baseline
        self.sides = {side: Fingerprint() for side in SIDES}

    def add(
        self,
        records: Iterable[Mapping[str, Any]],
        metrics: Optional[Sequence[str]],
        fields: FieldChoice = NO_CHOICE,
    ) -> None:
        sides = split_fingerprints(records, metrics, self.split, self.baseline, fields)
        for side, part in sides.items():
            self.sides[side].merge(part)

    def finish(self, span: Optional[tuple[float, float]]) -> tuple[Fingerprint, Fingerprint]:
        """(baseline, current); a window without bounds of its own gets the search's range."""
        before, after = self.sides["baseline"].span, self.sides["current"].span
        if before and after and before[0] < after[1] and after[0] < before[1]:
            raise InputError(
                "the baseline and current windows overlap: shift them apart by at least "
                "the window's length (e.g. `anchor_shift(1h,7d)`, not `anchor_shift(7d,1h)`)"
            )
        for fingerprint in self.sides.values():
            if fingerprint.span is None and span is not None:
                fingerprint.span = span
        return self.sides["baseline"], self.sides["current"]


def one_name(name: Optional[str], anchor: Optional[str]) -> str:
    """anchorcapture's anchor from ``name=`` or ``anchor=`` (one of them, or both equal)."""
    if name and anchor and name != anchor:
        raise InputError(f"name={name} and anchor={anchor} differ: give one of them")
    if not (name or anchor):
        raise InputError("anchorcapture needs name=<anchor> (or anchor=<anchor>)")
    return str(name or anchor)


def capture_rows(
    memory: Memory, options: CaptureOptions, fingerprint: Fingerprint, run: Invocation
) -> list[dict[str, Any]]:
    head = operations.capture(
        memory, options.anchor_name, fingerprint, metrics=metric_list(options.metrics), **run
    )
    return [
        {
            "anchor": head["name"],
            "events": int(head["events"]),
            "sourcetypes": head["sourcetypes"],
            "templates": head["templates"],
            "window_start": head["window_start"],
            "window_end": head["window_end"],
        }
    ]


def drift_rows(report: DriftReport) -> list[dict[str, Any]]:
    """One row per ranked signal, each with every field so ``| table`` sees them all.

    The narrative rides on the rank-1 row (and on the single row of a
    comparison without signals).
    """
    narrative = report.narrative
    story: NarrativeRow = {
        "summary": narrative.summary,
        "hypothesis": narrative.hypothesis,
        "drill_in_spl": narrative.drill_in_spl,
        "narrative_source": narrative.source,
        "cited_signals": list(narrative.cited_signals) or None,
        "narrative_model": narrative.model,
        "prompt_version": narrative.prompt_version,
        "fallback_reason": narrative.fallback_reason,
        "investigation_steps": describe_steps(narrative.steps) or None,
        "investigation_truncated": narrative.truncated,
        "notes": list(report.notes) or None,
    }
    blank_story = dict.fromkeys(story)
    base = {"drift_id": report.drift_id, "anchor": report.anchor}
    signals = [
        {**s.to_dict(), "evidence": [e.signal_id for e in s.evidence or [s]]}
        for s in report.signals
    ]
    if not signals:
        return [{**dict.fromkeys(SIGNAL_FIELDS), "rank": 0, **base, **story}]
    return [
        {**signal, **base, **(story if signal["rank"] == 1 else blank_story)} for signal in signals
    ]


def describe_steps(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per deep-investigation step, for a multivalue search field."""
    return [
        f"{s['step']}. {s['tool']}({s['arguments']}) -> {s['status']}: {s['observation'][:200]}"
        for s in steps
    ]


def compare_rows(
    memory: Memory,
    options: CompareOptions,
    fingerprint: Fingerprint,
    run: Invocation,
    narrator: Optional[operations.Narrator] = None,
) -> list[dict[str, Any]]:
    search = run["search"]
    report = operations.compare(
        memory,
        options.anchor,
        fingerprint,
        user=run["user"],
        now=run["now"],
        alpha=options.alpha,
        limit=options.limit,
        narrator=narrator,
        # splunkd sends the search URL-encoded; the report shows it to reproduce the drift.
        origin=unquote(search) if search else None,
    )
    return drift_rows(report)


def compare_split_rows(
    memory: Memory,
    options: SplitOptions,
    baseline: Fingerprint,
    current: Fingerprint,
    run: Invocation,
    *,
    save_baseline: Optional[str] = None,
    narrator: Optional[operations.Narrator] = None,
) -> list[dict[str, Any]]:
    """``anchorcompare split=<field> baseline=<value>``: both windows came from this search."""
    report = operations.compare_adhoc(
        memory,
        f"{options.split}={options.baseline}",
        baseline,
        current,
        save_as=save_baseline,
        metrics=metric_list(options.metrics),
        alpha=options.alpha,
        limit=options.limit,
        narrator=narrator,
        **run,
    )
    return drift_rows(report)


class ShowOptions(Protocol):
    what: str
    anchor: Optional[str]
    drift: Optional[str]
    limit: int


def window_fields(windows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Both windows as flat fields: ``window_*`` is the current one (where to drill in)."""
    anchor, current = windows.get("anchor") or {}, windows.get("current") or {}
    return {
        "window_start": current.get("start"),
        "window_end": current.get("end"),
        "window_events": current.get("events"),
        "anchor_window_start": anchor.get("start"),
        "anchor_window_end": anchor.get("end"),
        "anchor_events": anchor.get("events"),
    }


Span = Optional[tuple[float, float]]


def _span_bounds(span: Span) -> tuple[Optional[float], Optional[float]]:
    return span if span else (None, None)


def _show_anchors(
    memory: Memory, options: ShowOptions, anchor: Optional[str], span: Span, now: float
) -> list[dict[str, Any]]:
    return [
        {
            "_time": a["created"],
            "anchor": a["name"],
            "events": a["events"],
            "sourcetypes": a["sourcetypes"],
            "templates": a["templates"],
            "window_start": a["window_start"],
            "window_end": a["window_end"],
            "created_by": a.get("created_by"),
        }
        for a in memory.anchors()
        if anchor is None or a["name"] == anchor
    ][: options.limit]


def _show_drifts(
    memory: Memory, options: ShowOptions, anchor: Optional[str], span: Span, now: float
) -> list[dict[str, Any]]:
    since, until = _span_bounds(span)
    drifts = operations.list_drifts(
        memory, anchor=anchor, since=since, until=until, limit=options.limit
    )
    return [
        {
            "_time": d.get("created"),
            "drift_id": d["drift_id"],
            "anchor": d.get("anchor"),
            "top_severity": d.get("top_severity") or "NONE",
            "top_signal": d.get("top_signal"),
            "signal_count": d.get("signal_count"),
            "events": d.get("events"),
            "summary": d.get("summary"),
            "narrative_source": (d.get("narrative") or {}).get("source"),
            "created_by": d.get("created_by"),
            **window_fields(operations.drift_windows(memory, d)),
        }
        for d in drifts
    ]


def _show_drift(
    memory: Memory, options: ShowOptions, anchor: Optional[str], span: Span, now: float
) -> list[dict[str, Any]]:
    report = operations.stored_report(memory, options.drift or "latest", anchor=anchor)
    report.signals = report.signals[: options.limit]
    seen = operations.finding_history(memory, report.drift_id, report.created)
    windows = window_fields(report.windows)
    return [
        {
            "_time": report.created,
            **row,
            "signal_spl": signal_spl,
            **windows,
            **seen.get(str(row.get("signal_id")), {}),
        }
        for row, signal_spl in zip(
            drift_rows(report),
            [drill_in_spl(s) for s in report.signals] or [None],
        )
    ]


def _show_weight_list(listing: Callable[[Memory, float], list[dict[str, Any]]]):
    """A view of learned weights: all of them, or those users keep marking false positive."""

    def view(
        memory: Memory, options: ShowOptions, anchor: Optional[str], span: Span, now: float
    ) -> list[dict[str, Any]]:
        return [{"_time": w["last_feedback"], **w} for w in listing(memory, now)[: options.limit]]

    return view


def _show_feedback(
    memory: Memory, options: ShowOptions, anchor: Optional[str], span: Span, now: float
) -> list[dict[str, Any]]:
    since, until = _span_bounds(span)
    entries = memory.recent_feedback(since=since, until=until, limit=options.limit)
    return [
        {
            "_time": e["time"],
            **{k: e.get(k) for k in ("drift_id", "signal_id", "outcome", "user", "reason")},
        }
        for e in entries
    ]


# anchorshow's views (what=), in the order its documentation lists them.
_SHOW_VIEWS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "anchors": _show_anchors,
    "drifts": _show_drifts,
    "drift": _show_drift,
    "weights": _show_weight_list(operations.learned_weights),
    "blind_spots": _show_weight_list(operations.blind_spots),
    "feedback": _show_feedback,
}
SHOW_VIEWS = tuple(_SHOW_VIEWS)


def show_rows(
    memory: Memory, options: ShowOptions, *, span: Span, now: float
) -> list[dict[str, Any]]:
    """``anchorshow``: Anchor's memory as rows for dashboards and ad-hoc searches.

    ``drifts`` and ``feedback`` honour the search's time range (on when they
    were recorded); ``anchor=*`` or no anchor means every anchor.
    """
    view = _SHOW_VIEWS.get(options.what)
    if view is None:
        raise InputError(f"what must be one of {', '.join(SHOW_VIEWS)}, got {options.what!r}")
    anchor = options.anchor if options.anchor not in (None, "", "*") else None
    return view(memory, options, anchor, span, now)


def feedback_rows(
    memory: Memory,
    drift: str,
    signal: str,
    outcome: str,
    *,
    user: str,
    now: float,
    reason: str = "",
) -> list[dict[str, Any]]:
    entry = operations.feedback(memory, drift, signal, outcome, user=user, now=now, reason=reason)
    return [
        {
            "_time": now,
            "drift_id": entry["drift_id"],
            "signal_id": entry["signal_id"],
            "outcome": entry["outcome"],
            "user": entry["user"],
            "reason": entry["reason"],
            "weight": entry["weight"],
        }
    ]


def maintenance_rows(
    memory: Memory,
    action: str,
    *,
    dry_run: bool,
    name: Optional[str],
    folder: str,
    now: float,
    retention: Optional[Any] = None,
) -> list[dict[str, Any]]:
    """``anchormaintenance``: the same steps as the nightly input and the CLI."""
    from anchor import maintenance
    from anchor.splunk.maintenance_input import validate_settings

    settings = validate_settings({"destination": "local", "local_dir": folder})
    destination = maintenance.LocalDestination(settings["local_dir"])
    data = None
    if action in ("verify", "restore"):
        if not name:
            raise InputError(
                f"action={action} needs file=anchor-memory/<time>.json.gz (see action=export)"
            )
        try:
            data = destination.get(name)
        except OSError as exc:
            raise InputError(f"cannot read export {name}: {exc.strerror or exc}") from exc
    result = maintenance.run_step(
        memory,
        action,
        now=now,
        dry_run=dry_run,
        destination=destination,
        data=data,
        source=name or "",
        retention=retention or maintenance.DEFAULT_RETENTION,
    )
    file = result.file
    if action == "export" and file:
        file = maintenance.export_name(now)  # the name verify/restore take, not the full path
    row: dict[str, Any] = {
        "_time": now,
        "action": action,
        "dry_run": dry_run,
        "status": "ok",
        "detail": result.detail,
        "file": file,
    }
    return [row]


def label_records(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``anchorpattern``: add ``anchor_pattern`` and ``anchor_template`` to each event."""
    for record in records:
        pattern_id, template = template_of(event_from_record(record, metrics=()).message)
        record["anchor_pattern"] = pattern_id
        record["anchor_template"] = template
        yield record
