"""Compare what the template and sourcetype tests cannot see: category fields and single hosts.

- **Field values.** For each category field (``status``, ``region``) the share
  of each value among the events carrying the field is tested like a
  template's share (conditional binomial test), and a field yields at most
  one signal: its most significant value, the others folded into it as
  evidence. A field is compared only when its values repeat (at most one
  distinct value per ``MIN_EVENTS_PER_VALUE`` events, so ids and user names
  stay out) and when the windows share values at all: a field whose every
  value changed (a version, a build, a deploy id) names the release, it does
  not measure it, and gets a note instead of a signal.
- **Per-host metrics.** Each busy host's metric sketch is compared with its
  own anchor sketch. When the hosts that moved carry less than half of the
  metric's events and the others did not move, each moved host is a signal
  naming the host, and the sourcetype-level metric signals of that field are
  folded into it (the same cause, seen from further away). A fleet-wide move
  stays one sourcetype-level signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from anchor.fingerprint import FieldValues, MetricSummary, SourcetypeSummary
from anchor.stats import rate_test, two_proportion

if TYPE_CHECKING:  # diff imports this module: its types are for the checker only
    from anchor.diff import Change, Severity

MIN_EVENTS_PER_VALUE = 5
MIN_FIELD_EVENTS = 30
VALUE_RATIO_FLOOR = 2.0
VALUE_SHARE_FLOOR = 0.5  # percentage points: smaller moves are not worth a row
MIN_NEW_VALUE_EVENTS = 3
MIN_OVERLAP = 0.1
HOST_MIN_EVENTS = 10
HOST_MOVED_SHARE = 0.5
METRIC_CHANGE_FLOOR = 0.25
HOST_QUANTILES = (("p50", 0.50, HOST_MIN_EVENTS), ("p95", 0.95, 40), ("p99", 0.99, 100))


@dataclass
class ValueMove:
    """One value of one field whose share changed."""

    value: str
    change: Change
    base_pct: float
    cur_pct: float
    p_value: float
    ratio: float
    count_c: float


def comparable_field(a: FieldValues, c: FieldValues) -> Optional[str]:
    """None when the field can be compared as a category, else why not (for a note)."""
    if a.overflow or c.overflow:
        return "too many distinct values"
    if a.count < MIN_FIELD_EVENTS or c.count < MIN_FIELD_EVENTS:
        return "too few events"
    if a.count < MIN_EVENTS_PER_VALUE * a.distinct or c.count < MIN_EVENTS_PER_VALUE * c.distinct:
        return "values rarely repeat (identifier-like)"
    shared_c = sum(n for v, n in c.values.items() if v in a.values) / c.count
    shared_a = sum(n for v, n in a.values.items() if v in c.values) / a.count
    if shared_c < MIN_OVERLAP and shared_a < MIN_OVERLAP:
        return "every value changed (a version, build or release id)"
    return None


def value_moves(a: FieldValues, c: FieldValues) -> tuple[list[ValueMove], int]:
    """Values whose share moved past the floors, and how many values were tested in all.

    HTTP-like status codes are also tested by class (``5xx``): a surge of
    server errors spread over 500, 502, 503 and 504 is one move of the class.
    """
    n_a, n_c = a.count, c.count
    share_c = n_c / (n_a + n_c)
    moves: list[ValueMove] = []
    tested = 0
    for value in sorted(set(a.values) | set(c.values)):
        in_a, in_c = value in a.values, value in c.values
        # A value missing from a trimmed side may hide in its "other": not comparable.
        if (not in_a and a.other > 0) or (not in_c and c.other > 0):
            continue
        tested += 1
        move = _move(value, a.values.get(value, 0.0), c.values.get(value, 0.0), n_a, n_c, share_c)
        if move is not None:
            moves.append(move)
    classes_a, classes_c = _status_classes(a), _status_classes(c)
    if classes_a is not None and classes_c is not None:
        for name in sorted(set(classes_a) | set(classes_c)):
            tested += 1
            count_a, count_c = classes_a.get(name, 0.0), classes_c.get(name, 0.0)
            move = _move(name, count_a, count_c, n_a, n_c, share_c)
            if move is not None:
                moves.append(move)
    return moves, tested


def _status_classes(values: FieldValues) -> Optional[dict[str, float]]:
    """Counts per status class (``2xx``...) when every value is a 3-digit code 100-599."""
    if values.other > 0 or not values.values:
        return None
    classes: dict[str, float] = {}
    for value, count in values.values.items():
        if not (len(value) == 3 and value.isdigit() and "1" <= value[0] <= "5"):
            return None
        name = f"{value[0]}xx"
        classes[name] = classes.get(name, 0.0) + count
    return classes


def _move(
    value: str, count_a: float, count_c: float, n_a: float, n_c: float, share_c: float
) -> Optional[ValueMove]:
    base, cur = count_a / n_a * 100.0, count_c / n_c * 100.0
    if abs(cur - base) < VALUE_SHARE_FLOOR:
        return None
    change: Change
    if count_a == 0:
        if count_c < MIN_NEW_VALUE_EVENTS:
            return None
        change, ratio = "appeared", math.inf
    elif count_c == 0:
        if count_a * n_c / n_a < MIN_NEW_VALUE_EVENTS:
            return None
        change, ratio = "disappeared", 0.0
    else:
        ratio = (count_c / n_c) / (count_a / n_a)
        if max(ratio, 1.0 / ratio) < VALUE_RATIO_FLOOR:
            return None
        change = "up" if ratio > 1 else "down"
    p = rate_test(count_a, count_c, share_c)
    return ValueMove(value, change, base, cur, p, ratio, count_c)


def value_severity(move: ValueMove) -> Severity:
    if move.change == "appeared":
        return "HIGH" if move.count_c >= 20 and move.cur_pct >= 1.0 else "MEDIUM"
    spread = max(move.ratio, 1.0 / move.ratio) if 0 < move.ratio < math.inf else math.inf
    gap = abs(move.cur_pct - move.base_pct)
    if spread >= 4.0 and gap >= 2.0:
        return "HIGH"
    return "MEDIUM" if spread >= 2.5 else "LOW"


def value_effect(move: ValueMove) -> float:
    """1 up to 2: the larger of the share moved (saturating at 25 points) and the ratio."""
    gap = min(abs(move.cur_pct - move.base_pct), 25.0) / 25.0
    if 0 < move.ratio < math.inf:
        fold = min(abs(math.log2(move.ratio)), 4.0) / 4.0
    else:
        fold = 1.0
    return 1.0 + max(gap, fold)


@dataclass
class QuantileMove:
    stat: str
    change: Change
    base: float
    cur: float
    p_value: float
    change_ratio: float


def quantile_moves(sa: MetricSummary, sc: MetricSummary) -> tuple[list[QuantileMove], int]:
    """Quantiles of one metric that moved past the floor, and how many were tested."""
    moves: list[QuantileMove] = []
    tested = 0
    for stat, q, min_count in HOST_QUANTILES:
        base, cur = sa.sketch.quantile(q), sc.sketch.quantile(q)
        if sa.count < min_count or sc.count < min_count or base is None or cur is None:
            continue
        tested += 1
        change_ratio = abs(cur - base) / abs(base) if base else (math.inf if cur else 0.0)
        if change_ratio < METRIC_CHANGE_FLOOR:
            continue
        # Under the null the current window has as many events above the
        # anchor's quantile as the anchor itself.
        above_a = sa.sketch.fraction_above(base)
        above_c = sc.sketch.fraction_above(base)
        p = two_proportion(above_a * sa.count, sa.count, above_c * sc.count, sc.count)
        moves.append(QuantileMove(stat, "up" if cur > base else "down", base, cur, p, change_ratio))
    return moves, tested


@dataclass
class HostMove:
    host: str
    move: QuantileMove


def hosts_moved_alone(
    metric: str, a: SourcetypeSummary, c: SourcetypeSummary, alpha: float
) -> tuple[list[HostMove], int]:
    """The hosts whose ``metric`` moved while the rest of the fleet did not.

    Returns the moved hosts (strongest quantile each) and the number of host
    tests run. Empty when no host moved, when most of the metric's events
    come from moved hosts (a fleet-wide change: the sourcetype signal says
    it), or when fewer than two hosts can be compared.
    """
    hosts = sorted(
        h
        for h in set(a.host_metrics) & set(c.host_metrics)
        if metric in a.host_metrics[h] and metric in c.host_metrics[h]
        if a.host_metrics[h][metric].count >= HOST_MIN_EVENTS
        and c.host_metrics[h][metric].count >= HOST_MIN_EVENTS
    )
    if len(hosts) < 2:
        return [], 0
    moved: list[HostMove] = []
    tested = 0
    moved_events = total_events = 0.0
    for host in hosts:
        sc = c.host_metrics[host][metric]
        moves, count = quantile_moves(a.host_metrics[host][metric], sc)
        tested += count
        total_events += sc.count
        strong = [m for m in moves if m.p_value < alpha]
        if strong:
            best = max(strong, key=lambda m: (m.change_ratio, -m.p_value, m.stat))
            moved.append(HostMove(host, best))
            moved_events += sc.count
    if not moved or moved_events >= HOST_MOVED_SHARE * total_events:
        return [], tested
    return moved, tested


def host_severity(move: QuantileMove) -> Severity:
    return "HIGH" if move.change_ratio >= 1.0 else "MEDIUM" if move.change_ratio >= 0.5 else "LOW"


def quantile_effect(move: QuantileMove) -> float:
    return 1.0 + min(math.log2(1.0 + move.change_ratio), 4.0) / 4.0


def shown_values(moves: Sequence[ValueMove]) -> list[ValueMove]:
    """Most significant first (ties: larger share moved, then value)."""
    return sorted(moves, key=lambda m: (m.p_value, -abs(m.cur_pct - m.base_pct), m.value))
