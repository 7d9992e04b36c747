"""Findings: the signals that share one cause, folded into one ranked row.

An on-call engineer reads the top of the list; one cause must not fill it.
The diff's signals (each one statistical test) are grouped here into
findings by these rules, applied in this order; every signal lands in
exactly one finding, and what is folded is never dropped: it is the
finding's ``evidence``.

1. **One metric.** The p50, p95, p99 and distribution signals of one numeric
   field of one sourcetype are one finding.
2. **A new or surging message explains its sourcetype.** In one sourcetype,
   when a template appeared or went up: an error-rate rise is folded into it
   when the template is mostly errors; a volume rise when the template's added
   events per hour are at least half of the sourcetype's; a metric rise (the
   service got slower) when the template is mostly errors. The strongest
   such template takes them. With no such template they stay findings of
   their own.
3. **A fleet rollover.** In a sourcetype whose volume did not fall, hosts that
   went quiet together with hosts that appeared are pods replaced by new
   pods (a deploy): all rollovers of the comparison are one finding, at most
   MEDIUM.
4. **One host.** The remaining signals of one host that move the same way
   (quiet or gone, versus new or louder) across sourcetypes are one finding;
   signals scoped to a host (a per-host metric, a field value on one host)
   join it.
5. **One metric across the fleet.** Metric findings (rule 1) of the same
   field moving the same way in several sourcetypes by a similar factor
   (within 1.5x of each other) are one finding; a sourcetype whose metric
   moved by a clearly different factor is a different cause and keeps its
   own row.
6. **Moving with the sourcetype.** A template or host that went up or down
   with its sourcetype's volume, by a factor within 2x of the volume's, is
   folded into the volume finding; one that moved clearly more is its own,
   except a host that went up by at least half of its sourcetype's added
   events per hour (a burst from one pod): it is folded into the finding
   holding the volume rise.

A finding's row is its lead: the member with the highest score (severity x
learned weight x effect), so its severity and score are the strongest
member's. Feedback on the finding's id (the lead's id) or on any evidence id
re-weights that signal, so it moves the finding next time. Signals of other
kinds (field values, per-host metrics) follow the same rules through their
``host``, ``field`` and ``sourcetype``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Optional

from anchor.diff import Severity, Signal
from anchor.rank import SEVERITY_POINTS, score_signal

MOSTLY_ERRORS = 0.5
VOLUME_SHARE_EXPLAINED = 0.5
SIMILAR_METRIC_FACTOR = 1.5
WITH_VOLUME_FACTOR = 2.0
HOST_SHARE_OF_RISE = 0.5
ROLLOVER_SEVERITY: Severity = "MEDIUM"

Group = list[Signal]


def _best(group: Sequence[Signal]) -> Signal:
    return min(group, key=lambda s: (-round(s.score, 9), s.q_value, s.signal_id))


def _log_ratio(signal: Signal) -> Optional[float]:
    if not signal.baseline or not signal.current or signal.baseline <= 0 or signal.current <= 0:
        return None
    return math.log(signal.current / signal.baseline)


def _rising(signal: Signal) -> bool:
    return signal.change in ("appeared", "up")


def _quiet(signal: Signal) -> bool:
    return signal.change in ("disappeared", "down")


def _metric_groups(signals: list[Signal]) -> tuple[list[Group], list[Signal]]:
    """Rule 1: one group per (sourcetype, host, field) of metric signals."""
    groups: dict[tuple[str, str, str], Group] = defaultdict(list)
    rest = []
    for signal in signals:
        if signal.kind == "metric" and signal.field:
            groups[(signal.sourcetype, signal.host or "", signal.field)].append(signal)
        else:
            rest.append(signal)
    return list(groups.values()), rest


def _direction(group: Group) -> str:
    """A metric group's direction: up, down, or shifted (quantiles disagree or only KS)."""
    changes = {s.change for s in group if s.change in ("up", "down")}
    return changes.pop() if len(changes) == 1 else "shifted"


def _explained_by_templates(
    templates: list[Signal], others: list[Signal], metrics: list[Group]
) -> tuple[list[Group], list[Signal], list[Group]]:
    """Rule 2: a sourcetype's rises folded into its new or surging template."""
    groups: dict[str, Group] = {}
    by_sourcetype: dict[str, list[Signal]] = defaultdict(list)
    for signal in templates:
        groups[signal.signal_id] = [signal]
        if _rising(signal):
            by_sourcetype[signal.sourcetype].append(signal)
    kept = []
    for signal in others:
        eligible = signal.kind in ("volume", "error_rate") and _rising(signal)
        candidates = by_sourcetype.get(signal.sourcetype, []) if eligible else []
        owner = _owner(signal, candidates)
        if owner is None:
            kept.append(signal)
        else:
            groups[owner.signal_id].append(signal)
    kept_metrics = []
    for group in metrics:
        lead = group[0]
        candidates = by_sourcetype.get(lead.sourcetype, [])
        errors = [t for t in candidates if (t.error_share or 0.0) >= MOSTLY_ERRORS]
        if _direction(group) == "up" and errors:
            groups[_best(errors).signal_id].extend(group)
        else:
            kept_metrics.append(group)
    return list(groups.values()), kept, kept_metrics


def _owner(signal: Signal, candidates: list[Signal]) -> Optional[Signal]:
    if not candidates:
        return None
    if signal.kind == "error_rate":
        errors = [t for t in candidates if (t.error_share or 0.0) >= MOSTLY_ERRORS]
        return _best(errors) if errors else None
    added = (signal.current or 0.0) - (signal.baseline or 0.0)
    if signal.stat != "events_per_hour" or added <= 0:
        return None
    explaining = [
        t
        for t in candidates
        if t.stat == "events_per_hour"
        and (t.current or 0.0) - (t.baseline or 0.0) >= VOLUME_SHARE_EXPLAINED * added
    ]
    return _best(explaining) if explaining else None


def _rollover(hosts: list[Signal], volumes: list[Signal]) -> tuple[Optional[Group], list[Signal]]:
    """Rule 3: hosts replaced by new hosts in sourcetypes whose volume held."""
    fell = {v.sourcetype for v in volumes if _quiet(v)}
    by_sourcetype: dict[str, list[Signal]] = defaultdict(list)
    for signal in hosts:
        by_sourcetype[signal.sourcetype].append(signal)
    rolled, rest = [], []
    for sourcetype, members in by_sourcetype.items():
        gone = [s for s in members if _quiet(s)]
        new = [s for s in members if s.change == "appeared"]
        if gone and new and sourcetype not in fell:
            rolled += gone + new
        else:
            rest += members
    return (rolled or None), rest


def _rollover_lead(members: Group, weights: Mapping[str, float]) -> Signal:
    sourcetypes = sorted({s.sourcetype for s in members})
    gone = {s.host for s in members if _quiet(s)}
    new = {s.host for s in members if s.change == "appeared"}
    strongest = _best(members)
    lead = Signal(
        signal_id="host:shifted:rollover:" + ",".join(sourcetypes),
        kind="host",
        change="shifted",
        sourcetype=max(sourcetypes, key=lambda st: sum(s.sourcetype == st for s in members)),
        severity="LOW" if strongest.severity == "LOW" else ROLLOVER_SEVERITY,
        baseline=float(len(gone)),
        current=float(len(new)),
        p_value=min(s.p_value for s in members),
        effect=strongest.effect,
        stat="hosts_replaced",
        q_value=min(s.q_value for s in members),
    )
    return score_signal(lead, weights)


def _by_host(hosts: list[Signal], host_metrics: list[Group]) -> list[Group]:
    """Rule 4: one host's signals that move the same way, across sourcetypes and kinds."""
    groups: dict[tuple[str, bool], Group] = defaultdict(list)
    for signal in hosts:
        groups[(signal.host or "", _quiet(signal))].append(signal)
    for group in host_metrics:
        groups[(group[0].host or "", _direction(group) == "down")].extend(group)
    return list(groups.values())


def _across_fleet(metrics: list[Group]) -> list[Group]:
    """Rule 5: one field moving the same way by a similar factor in several sourcetypes."""
    keyed: dict[tuple[str, str], list[tuple[float, Group]]] = defaultdict(list)
    alone = []
    for group in metrics:
        direction = _direction(group)
        ratios = [r for r in (_log_ratio(s) for s in group if s.stat == "p50") if r is not None]
        ratios = ratios or [r for r in (_log_ratio(s) for s in group) if r is not None]
        if direction == "shifted" or not ratios:
            alone.append(group)
            continue
        keyed[(group[0].field or "", direction)].append((sum(ratios) / len(ratios), group))
    merged = []
    for entries in keyed.values():
        entries.sort(key=lambda e: e[0])
        cluster: list[tuple[float, Group]] = []
        for entry in entries:
            if cluster and entry[0] - cluster[0][0] > math.log(SIMILAR_METRIC_FACTOR):
                merged.append([s for _, g in cluster for s in g])
                cluster = []
            cluster.append(entry)
        if cluster:
            merged.append([s for _, g in cluster for s in g])
    return merged + alone


def _with_volume(groups: list[Group]) -> list[Group]:
    """Rule 6: single template or host changes that only follow their sourcetype's volume."""
    volume_of: dict[str, Group] = {}
    for group in groups:
        lead = group[0]
        if lead.kind == "volume" and lead.change in ("up", "down"):
            volume_of[lead.sourcetype] = group
    # A volume rise already folded into a template (rule 2) is found there.
    rises = {
        s.sourcetype: group
        for group in groups
        for s in group
        if s.kind == "volume" and s.change == "up"
    }
    kept = []
    for group in groups:
        lead = group[0]
        if _host_explains_rise(group, rises.get(lead.sourcetype)):
            rises[lead.sourcetype].append(lead)
            continue
        volume = volume_of.get(lead.sourcetype)
        if (
            len(group) == 1
            and volume is not None
            and lead.kind in ("template", "host")
            and lead.change == volume[0].change
        ):
            mine, theirs = _log_ratio(lead), _log_ratio(volume[0])
            if (
                mine is not None
                and theirs is not None
                and abs(mine - theirs) <= math.log(WITH_VOLUME_FACTOR)
            ):
                volume.append(lead)
                continue
        kept.append(group)
    return kept


def _host_explains_rise(group: Group, rise: Optional[Group]) -> bool:
    """Rule 6b: one host that logged at least half of its sourcetype's added events
    per hour (a burst from one pod) is that rise, not a cause of its own."""
    lead = group[0]
    if rise is None or len(group) != 1 or lead.kind != "host" or lead.change != "up":
        return False
    volume = next(s for s in rise if s.kind == "volume")
    if lead.stat != "events_per_hour" or volume.current is None or volume.baseline is None:
        return False
    added = volume.current - volume.baseline
    mine = (lead.current or 0.0) - (lead.baseline or 0.0)
    return added > 0 and mine >= HOST_SHARE_OF_RISE * added


def group_signals(signals: Iterable[Signal], weights: Mapping[str, float]) -> list[Signal]:
    """Scored findings, best first: each a lead signal whose ``evidence`` lists its members."""
    scored = [score_signal(s, weights) for s in signals]
    metrics, rest = _metric_groups(scored)
    templates = [s for s in rest if s.kind == "template"]
    hosts = [s for s in rest if s.kind == "host"]
    others = [s for s in rest if s.kind not in ("template", "host")]
    template_groups, others, metrics = _explained_by_templates(templates, others, metrics)
    rolled, hosts = _rollover(hosts, [s for s in others if s.kind == "volume"])
    # Signals of one host (a host's metric, a field value on one host) join its host finding.
    hosted = [s for s in others if s.host]
    others = [s for s in others if not s.host]
    host_metrics = [g for g in metrics if g[0].host]
    metrics = [g for g in metrics if not g[0].host]
    groups: list[Group] = template_groups + [[s] for s in others]
    groups += _by_host(hosts + hosted, host_metrics) + _across_fleet(metrics)
    groups = _with_volume(groups)
    findings = []
    for group in groups:
        # A template or volume group is led by that template or volume (the
        # cause; the rest are its symptoms); any other group by its strongest.
        lead = group[0] if group[0].kind in ("template", "volume") else _best(group)
        findings.append(_finding(lead, _by_score(group)))
    if rolled:
        findings.append(_finding(_rollover_lead(rolled, weights), _by_score(rolled), "MEDIUM"))
    findings.sort(key=lambda s: (-round(s.score, 9), s.q_value, s.signal_id))
    for position, finding in enumerate(findings, 1):
        finding.rank = position
    return findings


def _by_score(members: Group) -> Group:
    return sorted(members, key=lambda s: (-round(s.score, 9), s.q_value, s.signal_id))


def _finding(lead: Signal, members: Group, cap: Optional[Severity] = None) -> Signal:
    """The lead signal as a row, with every member (the lead first) as its evidence.

    Severity: the strongest member's (at most ``cap``). Weight: the member
    weight furthest from neutral, so feedback on the finding's id or on any
    evidence id moves the finding. Score: the strongest member's severity
    points x effect, times that weight.
    """
    row = Signal.from_record({k: v for k, v in lead.to_record().items() if k != "evidence"})
    row.evidence = [lead] + [m for m in members if m is not lead]
    for member in row.evidence:
        member.evidence = []
    points = max(SEVERITY_POINTS[m.severity] for m in row.evidence)
    if cap is not None:
        points = min(points, SEVERITY_POINTS[cap])
    row.severity = next(k for k, v in SEVERITY_POINTS.items() if v == points)
    row.weight = max((m.weight for m in row.evidence), key=lambda w: (abs(w - 1.0), -w))
    row.score = max(SEVERITY_POINTS[m.severity] * m.effect for m in row.evidence) * row.weight
    if cap is not None:
        row.score = min(row.score, points * 2.0 * row.weight)
    return row
