"""The operations every interface calls: capture, compare, feedback, recall.

The CLI, the Splunk commands, the REST endpoint and the MCP server all call
these functions, so each operation has exactly one implementation. The
operations take already-built fingerprints; ``read_fingerprint`` builds one
from exported log files for the offline interfaces (CLI, MCP).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, TypedDict

from anchor.diff import (
    DEFAULT_ALPHA,
    SEVERITIES,
    Severity,
    Signal,
    check_alpha,
    compare_fingerprints,
)
from anchor.errors import InputError, NoCoverage, NoEvents, NotFound
from anchor.findings import group_signals
from anchor.fingerprint import Fingerprint, content_digest
from anchor.memory import (
    DRIFT_SUMMARY_FIELDS,
    RECALL_FIELDS,
    Memory,
    anchor_key,
    check_name,
    digest,
)
from anchor.narrate import Narrative, Narrator, offline_narrative
from anchor.patterns.merge import generalize_fingerprint
from anchor.recall import drift_profile, recall_similar, signal_profile
from anchor.timeline import hourly_timeline

DEFAULT_LIMIT = 20
STORED_SIGNALS = 200
RECALL_K = 3
# Recall compares a drift with at most this many of the newest drifts of the
# same anchor (three weeks of a compare every 15 minutes), fetched as signal
# ids and severities only, so a compare's cost does not grow with history.
RECALL_SCAN = 2000
TIMELINES = 3  # top signals whose sourcetype gets an hourly timeline in the drift record


def read_fingerprint(paths: Sequence[str], **options: Any) -> tuple[Fingerprint, list[str]]:
    """A fingerprint of the events in ``paths``, and warnings about skipped records.

    ``options`` are the reader's, as ``anchor.parallel.read_fingerprint`` takes them
    (``fmt``, ``sourcetype``, ``metrics``, ``jobs``, ``fields``; ``observe`` wraps the
    event stream when one process reads it, as the CLI does to count events for its
    progress line).
    """
    from anchor import parallel
    from anchor.events import ReadReport

    if not paths:
        raise InputError("no input files given")
    report = ReadReport()
    fingerprint = parallel.read_fingerprint(paths, report=report, **options)
    if report.events == 0:
        raise NoEvents(
            f"no events read from {', '.join(paths)}: is the file empty or in another format? "
            "Nothing was compared or stored"
        )
    return fingerprint, report.warnings()


def check_coverage(anchor_sourcetypes: Sequence[str], current: Fingerprint) -> None:
    """Raise ``NoCoverage`` when events were read but none is of an anchor sourcetype."""
    seen = set(current.sourcetypes)
    if not seen or seen & set(anchor_sourcetypes):
        return
    raise NoCoverage(
        f"none of the anchor's sourcetypes ({_few(anchor_sourcetypes)}) is in the input, "
        f"which has {_few(sorted(seen))}: likely the wrong input or format "
        "(check --format, --sourcetype, or the file)"
    )


def _few(names: Sequence[str], shown: int = 5) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def capture(
    memory: Memory,
    name: str,
    fingerprint: Fingerprint,
    *,
    user: str,
    now: float,
    metrics: Optional[Sequence[str]] = None,
    search: Optional[str] = None,
) -> dict[str, Any]:
    """Store ``fingerprint`` as anchor ``name`` (replacing one of the same name)."""
    check_name(name)
    if fingerprint.count <= 0:
        raise InputError("no events to capture: check the input or the search's time range")
    generalize_fingerprint(fingerprint)
    fingerprint.trim()
    return memory.save_anchor(
        name, fingerprint, user=user, now=now, metrics=list(metrics or []), search=search
    )


ADHOC_PREFIX = "ad hoc: "


def check_baseline(baseline: Fingerprint) -> None:
    if baseline.count <= 0:
        raise InputError(
            "no events in the baseline window: check its time range (or split= and baseline=)"
        )


def adhoc_description(label: str, baseline: Fingerprint) -> str:
    """What a drift against an ad hoc baseline records as its anchor: the label and the window."""
    window = baseline.window()
    if window is None:
        return ADHOC_PREFIX + label
    start, end = (time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) for t in window)
    if start[:10] == end[:10]:
        end = end[11:]
    return f"{ADHOC_PREFIX}{label}, {start} to {end} UTC"


@dataclass
class DriftReport:
    drift_id: str
    anchor: str
    signals: list[Signal]
    narrative: Narrative
    notes: list[str] = field(default_factory=list)
    # Recalled drifts: PastIncidents, or of a stored drift only their ids and similarity.
    similar: Sequence[Mapping[str, Any]] = field(default_factory=list)
    stored: bool = True
    created: Optional[float] = None  # when the drift was recorded
    # {"anchor": {start, end, events}, "current": {...}}: "since when" for every view.
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    total: Optional[int] = None  # signals found; ``signals`` holds the shown ones
    top_severity: Optional[str] = None  # the highest severity of all signals found
    timelines: dict[str, dict] = field(default_factory=dict)  # sourcetype -> hourly timeline
    origin: Optional[str] = None  # the CLI command or SPL search that made it

    def to_dict(self) -> dict[str, Any]:
        """The CLI's ``--json`` document."""
        narrative = self.narrative.to_dict()
        return {
            "drift_id": self.drift_id,
            "anchor": self.anchor,
            "created": self.created,
            "windows": self.windows,
            "signal_count": len(self.signals) if self.total is None else self.total,
            "top_severity": self.top_severity,
            "signals": [s.to_dict() for s in self.signals],
            "narrative": narrative,
            "notes": self.notes,
            "similar": self.similar,
        }


class SimilarDrift(TypedDict):
    drift_id: str
    similarity: float


class DriftRecord(TypedDict):
    """A drift as the memory stores it (JSON in SQLite or the KV Store): these names are
    the stored format, which dashboards, recall and ``anchor history`` read back."""

    drift_id: str
    anchor: str
    created: float
    created_by: str
    events: float
    window_start: Optional[float]
    window_end: Optional[float]
    windows: dict[str, dict[str, Any]]
    timelines: dict[str, dict]
    origin: Optional[str]
    alpha: float
    tests: int
    signal_count: int
    top_severity: Optional[Severity]
    top_signal: Optional[str]
    signals: list[dict[str, Any]]  # Signal.to_record() of the top STORED_SIGNALS
    signal_ids: list[str]
    signal_severities: list[Severity]
    summary: str
    narrative: dict[str, Any]
    notes: list[str]
    similar: list[SimilarDrift]


def recall_candidates(memory: Memory, anchor: Optional[str]):
    """The drifts recall compares against: the newest ``RECALL_SCAN`` of ``anchor``."""
    return memory.recent_drifts(anchor=anchor, limit=RECALL_SCAN, fields=RECALL_FIELDS)


def top_severity(signals: Sequence[Signal]) -> Optional[str]:
    """The highest severity among ``signals`` (None when there are none)."""
    found = [s.severity for s in signals if s.severity in SEVERITIES]
    return min(found, key=SEVERITIES.index) if found else None


def window_of(start: Any, end: Any, events: Any) -> dict[str, Any]:
    """One window as every view shows it: start, end (epoch seconds or None) and events."""
    return {"start": start, "end": end, "events": events}


def drift_windows(memory: Memory, drift: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A stored drift's windows; drifts recorded before windows were stored know only the
    current one (no per-drift anchor lookup: listings must stay a few requests)."""
    if drift.get("windows"):
        return dict(drift["windows"])
    current = window_of(drift.get("window_start"), drift.get("window_end"), drift.get("events"))
    return {"anchor": window_of(None, None, None), "current": current}


def resolve_drift(memory: Memory, drift_id: str, *, anchor: Optional[str] = None) -> dict:
    """The drift ``drift_id`` names; ``latest`` is the newest one (for ``anchor``, if given)."""
    if drift_id != "latest":
        return memory.drift(drift_id)
    newest = list_drifts(memory, anchor=anchor, limit=1, fields=None)
    if not newest:
        where = f" for anchor {anchor!r}" if anchor else ""
        raise NotFound(f"no drifts recorded{where} yet: run a compare first")
    return newest[0]


def resolve_signal(drift: Mapping[str, Any], signal: str) -> str:
    """A signal id from its full id or its rank in the drift (``3`` or ``#3``)."""
    text = str(signal).strip()
    number = text[1:] if text.startswith("#") else text
    if not number.isdigit():
        return text
    signals = drift.get("signals") or []
    rank = int(number)
    for position, record in enumerate(signals, 1):
        if (record.get("rank") or position) == rank:
            return record["signal_id"]
    raise NotFound(
        f"drift {drift['drift_id']} has no signal ranked {rank}: it has {len(signals)} "
        "(see `anchor report DRIFT`)"
    )


class Judgement(TypedDict):
    outcome: Optional[str]
    reason: Optional[str]


class PastIncident(Judgement):
    """A recalled drift, as the narrators and every view of a drift get it."""

    drift_id: str
    similarity: float
    created: Optional[float]
    anchor: Optional[str]
    signals: list[str]  # its top signal ids


def judgement(memory: Memory, drift_id: str) -> Judgement:
    """The latest feedback outcome and reason given on a drift (None when never judged)."""
    entries = memory.recent_feedback(drift_id=drift_id, limit=1)
    latest = entries[0] if entries else None
    return {
        "outcome": latest["outcome"] if latest else None,
        "reason": latest["reason"] if latest else None,
    }


def past_incidents(
    memory: Memory,
    profile: Mapping[str, float],
    exclude: str,
    *,
    k: int = RECALL_K,
    anchor: Optional[str] = None,
) -> list[PastIncident]:
    """Recalled drifts with the feedback given on them, for narration and display."""
    found = recall_similar(recall_candidates(memory, anchor), profile, k=k, exclude=exclude)
    past: list[PastIncident] = []
    for similarity, drift in found:
        past.append(
            {
                "drift_id": drift["drift_id"],
                "similarity": round(similarity, 4),
                "created": drift.get("created"),
                "anchor": drift.get("anchor"),
                **judgement(memory, drift["drift_id"]),
                "signals": list(drift_profile(drift))[:10],
            }
        )
    return past


def _narrate_or_explain(
    narrator: Narrator,
    shown: list[Signal],
    anchor_name: str,
    past: Sequence[Mapping[str, Any]],
    notes: list[str],
) -> Narrative:
    """The narrator's story; if it breaks anyway (a narrator must not raise, but an
    ImportError or a bug can), the offline one with the reason, so the drift is still recorded."""
    try:
        return narrator(shown, anchor_name=anchor_name, past=past, notes=notes)
    except Exception as error:  # narration is optional: never lose the drift to it
        reason = f"narration failed ({type(error).__name__}: {error})"
        return offline_narrative(shown, anchor_name, past=past, notes=notes, fallback_reason=reason)


def compare(
    memory: Memory,
    anchor_name: str,
    current: Fingerprint,
    *,
    user: str,
    now: float,
    alpha: float = DEFAULT_ALPHA,
    limit: int = DEFAULT_LIMIT,
    narrator: Optional[Narrator] = None,
    store: bool = True,
    baseline: Optional[Fingerprint] = None,
    origin: Optional[str] = None,
) -> DriftReport:
    """Diff ``current`` against the named anchor, rank, recall, narrate, then record.

    With ``baseline`` given (an ad hoc comparison: both windows from one
    search or two inputs), ``anchor_name`` only describes it (see
    ``adhoc_description``) and no stored anchor is read. The drift is written
    once, last, after narration: nothing half-done is ever stored.
    """
    if limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}")
    check_alpha(alpha)  # before any memory is read
    if baseline is None:
        head = memory.anchor(anchor_name)
        baseline = memory.load_fingerprint(head)
        baseline_id = (anchor_key(anchor_name), head["parts"][0])
    else:
        check_baseline(baseline)
        generalize_fingerprint(baseline)
        baseline.trim()  # as capture() stores an anchor: ad hoc and captured compare alike
        baseline_id = ("ad hoc", content_digest(baseline))
    if current.count <= 0 and current.window() is None:
        raise InputError(
            "no events in the current window and no time range to measure the silence over: "
            "give the search a time range (earliest/latest)"
        )
    # A window with no events is data: a silent source. Every anchor sourcetype's
    # volume test then reports it disappeared, so the alert fires.
    comparison = compare_fingerprints(baseline, current, alpha=alpha)
    if current.count <= 0:
        comparison.notes.append("no events at all in the current window: everything went quiet")
    weights = {sid: info.weight for sid, info in memory.weights(now).items()}
    ranked = group_signals(comparison.signals, weights)
    drift_id = digest(*baseline_id, content_digest(current), size=12)
    profile = signal_profile(s.to_dict() for s in ranked)
    # Recall looks among the same anchor's drifts; an ad hoc comparison has no anchor
    # of its own (its description names its window), so it looks among all of them.
    scope = anchor_name if baseline_id[0] != "ad hoc" else None
    past = past_incidents(memory, profile, drift_id, anchor=scope)
    shown = ranked[:limit]
    narrative = None
    if narrator is not None:
        narrative = _narrate_or_explain(narrator, shown, anchor_name, past, comparison.notes)
    if narrative is None:
        narrative = offline_narrative(ranked, anchor_name, past=past, notes=comparison.notes)
    report = DriftReport(
        drift_id,
        anchor_name,
        shown,
        narrative,
        comparison.notes,
        past,
        store,
        now,
        compared_windows(baseline, current),
        len(ranked),
        top_severity(ranked),
        _timelines(baseline, current, shown),
        origin,
    )
    if store:
        memory.save_drift(
            drift_record(
                report, ranked, current, user=user, now=now, alpha=alpha, tests=comparison.tests
            )
        )
    return report


def compared_windows(baseline: Fingerprint, current: Fingerprint) -> dict[str, dict[str, Any]]:
    """Both windows of a comparison; the baseline's own window, a stored anchor's or an
    ad hoc baseline's alike."""
    window, base = current.window(), baseline.window()
    return {
        "anchor": window_of(base and base[0], base and base[1], baseline.count),
        "current": window_of(window and window[0], window and window[1], current.count),
    }


def _timelines(
    baseline: Fingerprint, current: Fingerprint, shown: Sequence[Signal]
) -> dict[str, dict]:
    """Hourly timelines of the sourcetypes of the top shown signals."""
    timelines = {}
    for name in dict.fromkeys(s.sourcetype for s in shown[:TIMELINES]):
        line = hourly_timeline(baseline, current, name)
        if line is not None:
            timelines[name] = line
    return timelines


def drift_record(
    report: DriftReport,
    ranked: Sequence[Signal],
    current: Fingerprint,
    *,
    user: str,
    now: float,
    alpha: float,
    tests: int,
) -> DriftRecord:
    """What the memory keeps of a comparison: ``report`` shows the top signals, the
    record keeps up to ``STORED_SIGNALS`` of ``ranked`` (all of them, ranked)."""
    window = current.window()
    kept = ranked[:STORED_SIGNALS]
    return {
        "drift_id": report.drift_id,
        "anchor": report.anchor,
        "created": now,
        "created_by": user,
        "events": current.count,
        "window_start": window[0] if window else None,
        "window_end": window[1] if window else None,
        "windows": report.windows,
        "timelines": report.timelines,
        "origin": report.origin,
        "alpha": alpha,
        "tests": tests,
        "signal_count": len(ranked),
        "top_severity": ranked[0].severity if ranked else None,
        "top_signal": ranked[0].signal_id if ranked else None,
        "signals": [s.to_record() for s in kept],
        "signal_ids": [s.signal_id for s in kept],
        "signal_severities": [s.severity for s in kept],
        "summary": report.narrative.summary,
        "narrative": report.narrative.to_dict(),
        "notes": report.notes,
        "similar": [
            {"drift_id": p["drift_id"], "similarity": p["similarity"]} for p in report.similar
        ],
    }


def check_adhoc(baseline: Fingerprint, current: Fingerprint, save_as: Optional[str]) -> None:
    """What ``compare_adhoc`` refuses, for callers that check before opening the memory."""
    if save_as is not None:
        check_name(save_as)
    check_baseline(baseline)
    if current.count <= 0:
        raise InputError("no events in the current window: check the input or the time range")


def compare_adhoc(
    memory: Memory,
    label: str,
    baseline: Fingerprint,
    current: Fingerprint,
    *,
    user: str,
    now: float,
    save_as: Optional[str] = None,
    metrics: Optional[Sequence[str]] = None,
    search: Optional[str] = None,
    **options: Any,
) -> DriftReport:
    """Compare two windows without a stored anchor (``anchorcompare split=``, ``anchor diff``).

    With ``save_as`` the baseline is first captured as that anchor and the
    drift is recorded against it, exactly as a capture followed by a compare.
    Everything is checked before anything is written.
    """
    check_adhoc(baseline, current, save_as)
    if save_as is None:
        description = adhoc_description(label, baseline)
        return compare(
            memory, description, current, user=user, now=now, baseline=baseline, **options
        )
    capture(memory, save_as, baseline, user=user, now=now, metrics=metrics, search=search)
    return compare(memory, save_as, current, user=user, now=now, **options)


def feedback(
    memory: Memory,
    drift_id: str,
    signal_id: str,
    outcome: str,
    *,
    user: str,
    now: float,
    reason: str = "",
) -> dict[str, Any]:
    """Record feedback; ``drift_id`` may be ``latest`` and ``signal_id`` a rank.

    ``replaced`` is this user's earlier entry on the same signal of the same
    drift, which the new one supersedes (weights count the last one only).
    """
    drift = resolve_drift(memory, drift_id)
    drift_id, signal_id = drift["drift_id"], resolve_signal(drift, signal_id)
    earlier = [
        e
        for e in memory.feedback({"drift_id": drift_id, "signal_id": signal_id})
        if e.get("user") == user
    ]
    entry = memory.record_feedback(drift_id, signal_id, outcome, user=user, now=now, reason=reason)
    info = memory.weight(signal_id, now)
    replaced = max(earlier, key=lambda e: (e["time"], e["_key"])) if earlier else None
    return {
        **entry,
        "weight": round(info.weight, 6) if info else 1.0,
        "replaced": {k: replaced.get(k) for k in ("outcome", "time", "reason")}
        if replaced
        else None,
    }


def finding_history(
    memory: Memory, drift_id: str, before: Optional[float], now: Optional[float] = None
) -> dict[str, dict[str, Any]]:
    """Per signal of a drift: how many earlier drifts had it, and how users judged it.

    "Is it new?" for the dashboard, bounded like recall: ``seen_before`` counts
    the earlier drifts with the same signal id among recall's candidates (the
    newest ``RECALL_SCAN`` of the drift's anchor, ids only); ``judged`` comes
    from the maintained weights view (confirmed and false-positive counts),
    never from the whole feedback log.
    """
    drift = memory.drift(drift_id)
    wanted = {s["signal_id"] for s in drift.get("signals", [])}
    seen = dict.fromkeys(wanted, 0)
    for other in recall_candidates(memory, drift.get("anchor")):
        if other["drift_id"] == drift_id or (other.get("created") or 0) >= (before or 0):
            continue
        for signal_id in wanted.intersection(other.get("signal_ids") or []):
            seen[signal_id] += 1
    weights = memory.weights(now if now is not None else time.time())
    judged: dict[str, str] = {}
    for signal_id in wanted:
        info = weights.get(signal_id)
        parts = []
        if info is not None and info.confirmed:
            parts.append(f"{info.confirmed} confirmed")
        if info is not None and info.false_positive:
            parts.append(f"{info.false_positive} false_positive")
        judged[signal_id] = ", ".join(parts) or "never"
    return {s: {"seen_before": seen[s], "judged": judged[s]} for s in wanted}


def feedback_log(memory: Memory, drift_id: str) -> list[dict[str, Any]]:
    """Who said what about a drift's signals, oldest first."""
    entries = sorted(memory.feedback({"drift_id": drift_id}), key=lambda e: (e["time"], e["_key"]))
    keep = ("signal_id", "outcome", "user", "reason", "time")
    return [{k: e.get(k) for k in keep} for e in entries]


def recall(memory: Memory, drift_id: str, *, k: int = 5) -> list[dict[str, Any]]:
    drift = resolve_drift(memory, drift_id)
    drift_id = drift["drift_id"]
    found = recall_similar(
        recall_candidates(memory, drift.get("anchor")), drift_profile(drift), k=k, exclude=drift_id
    )
    return [
        {
            "drift_id": other["drift_id"],
            "similarity": round(similarity, 4),
            "anchor": other.get("anchor"),
            "created": other.get("created"),
            "top_signal": other.get("top_signal"),
            **judgement(memory, other["drift_id"]),
        }
        for similarity, other in found
    ]


def list_drifts(
    memory: Memory,
    *,
    anchor: Optional[str] = None,
    since: Optional[float] = None,
    until: Optional[float] = None,
    limit: Optional[int] = None,
    fields: Optional[tuple[str, ...]] = DRIFT_SUMMARY_FIELDS,
) -> list[dict[str, Any]]:
    """Stored drifts, newest first, optionally for one anchor and a time range of ``created``.

    Only ``fields`` of each are read (None: the whole drift, signals included).
    """
    return list(
        memory.recent_drifts(anchor=anchor, since=since, until=until, limit=limit, fields=fields)
    )


def stored_report(memory: Memory, drift_id: str, *, anchor: Optional[str] = None) -> DriftReport:
    """A recorded drift as a report; ``latest`` means the newest (for ``anchor``, if given)."""
    drift = resolve_drift(memory, drift_id, anchor=anchor)
    story = drift.get("narrative") or {"summary": drift.get("summary") or ""}
    known = set(Narrative.__dataclass_fields__)
    # A drift recorded without a full narrative (e.g. by an older version) still reads.
    fields: dict[str, Any] = {"hypothesis": None, "drill_in_spl": None}
    fields.update({k: v for k, v in story.items() if k in known})
    narrative = Narrative(**fields)
    signals = [Signal.from_record(s) for s in drift.get("signals", [])]
    return DriftReport(
        drift["drift_id"],
        drift.get("anchor", ""),
        signals,
        narrative,
        list(drift.get("notes") or []),
        [{**p, **judgement(memory, p["drift_id"])} for p in drift.get("similar") or []],
        created=drift.get("created"),
        windows=drift_windows(memory, drift),
        total=drift.get("signal_count"),
        top_severity=top_severity(signals),
        timelines=dict(drift.get("timelines") or {}),
        origin=drift.get("origin"),
    )


def describe_anchor(memory: Memory, name: str) -> dict[str, Any]:
    """One anchor's record and a summary per sourcetype of its fingerprint."""
    head = memory.anchor(name)
    fingerprint = memory.load_fingerprint(head)
    keep = (
        "name",
        "created",
        "created_by",
        "events",
        "templates",
        "window_start",
        "window_end",
        "metrics",
        "search",
    )
    return {
        **{k: head.get(k) for k in keep},
        "sourcetypes": [
            {
                "sourcetype": st,
                "events": s.count,
                "templates": len(s.templates),
                "hosts": len(s.hosts),
                "error_pct": round(s.errors / s.count * 100, 4) if s.count else 0.0,
                "metrics": sorted(s.metrics),
            }
            for st, s in sorted(fingerprint.sourcetypes.items())
        ],
    }


def learned_weights(memory: Memory, now: float) -> list[dict[str, Any]]:
    """Every learned weight, the ones furthest from neutral first."""
    infos = sorted(memory.weights(now).values(), key=lambda i: (-abs(i.weight - 1.0), i.signal_id))
    return [info.to_dict() for info in infos]


def blind_spots(memory: Memory, now: float) -> list[dict[str, Any]]:
    """Signals users keep marking false positive: candidates for tuning or suppression."""
    spots = [
        info.to_dict()
        for info in memory.weights(now).values()
        if info.false_positive >= 1 and info.false_positive > info.confirmed
    ]
    return sorted(spots, key=lambda d: (d["weight"], -d["false_positive"], d["signal_id"]))
