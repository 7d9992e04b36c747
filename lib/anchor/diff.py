"""Compare a current fingerprint with an anchor: statistical tests, never raw counts.

Every comparison is a test on rates or shares: volume as events per hour
(conditional binomial test of two Poisson rates), template and host shares
within a sourcetype, error rate, metric quantiles (share of events above the
anchor's quantile) plus a two-sample KS test on the sketches, and the
hour-of-day profile when both windows span a day. All p-values of one
comparison go through one Benjamini-Hochberg pass. A signal needs both
significance (q < alpha) and an effect above a floor, so large windows do not
turn trivial wobble into drift. Tests whose effect cannot reach the floor are
kept in the BH family with p = 1 (conservative, and it keeps compare fast).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from anchor.fingerprint import Fingerprint, SourcetypeSummary
from anchor.patterns.merge import align_fingerprints
from anchor.sketch import ks_statistic
from anchor.stats import (
    benjamini_hochberg,
    chi2_homogeneity,
    kolmogorov_sf,
    rate_test,
    two_proportion,
)

DEFAULT_ALPHA = 0.01
DAY = 86400.0

VOLUME_RATIO_FLOOR = 1.5
SHARE_RATIO_FLOOR = 2.0
MIN_NEW_EVENTS = 3
MIN_EXPECTED_GONE = 5.0
ERROR_RATE_FLOOR = 0.01
METRIC_CHANGE_FLOOR = 0.25
KS_FLOOR = 0.1
PROFILE_TVD_FLOOR = 0.15
MIN_PROFILE_EVENTS = 200
QUANTILES = (("p50", 0.50, 20), ("p95", 0.95, 40), ("p99", 0.99, 100))

KINDS = ("volume", "template", "error_rate", "metric", "host", "hourly_profile")
CHANGES = ("appeared", "disappeared", "up", "down", "shifted")
SEVERITIES = ("HIGH", "MEDIUM", "LOW")


@dataclass
class Signal:
    """One ranked difference. Field names are the CLI's JSON and the SPL row contract."""

    signal_id: str
    kind: str
    change: str
    sourcetype: str
    severity: str
    baseline: Optional[float]
    current: Optional[float]
    p_value: float
    effect: float
    field: Optional[str] = None
    stat: Optional[str] = None
    template: Optional[str] = None
    host: Optional[str] = None
    example: Optional[str] = None
    pattern: Optional[str] = None
    q_value: float = 1.0
    weight: float = 1.0
    score: float = 0.0
    rank: int = 0

    @property
    def delta_pct(self) -> Optional[float]:
        if self.baseline is None or self.current is None or self.baseline == 0:
            return None
        return (self.current - self.baseline) / abs(self.baseline) * 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "signal_id": self.signal_id,
            "kind": self.kind,
            "change": self.change,
            "sourcetype": self.sourcetype,
            "field": self.field,
            "stat": self.stat,
            "template": self.template,
            "host": self.host,
            "severity": self.severity,
            "baseline": _round(self.baseline),
            "current": _round(self.current),
            "delta_pct": _round(self.delta_pct),
            "p_value": _round(self.p_value),
            "q_value": _round(self.q_value),
            "weight": _round(self.weight),
            "score": _round(self.score),
        }

    def to_record(self) -> dict[str, Any]:
        """Everything, for the drift record (adds effect, example and pattern id)."""
        record = asdict(self)
        record["delta_pct"] = self.delta_pct
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Signal:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in record.items() if k in names})


def _round(value: Optional[float], digits: int = 6) -> Optional[float]:
    """Round to significant digits so results do not depend on float summation order."""
    if value is None:
        return None
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


@dataclass
class Comparison:
    """The outcome of one diff: significant signals plus what could not be compared."""

    signals: list[Signal]
    tests: int
    notes: list[str] = field(default_factory=list)


def _ratio_severity(ratio: float, high: float, medium: float) -> str:
    spread = max(ratio, 1.0 / ratio) if ratio > 0 else math.inf
    if spread >= high:
        return "HIGH"
    if spread >= medium:
        return "MEDIUM"
    return "LOW"


def _ratio_effect(ratio: float) -> float:
    """1 for no change up to 2 for a 16-fold change (or anything new or gone)."""
    if ratio <= 0 or math.isinf(ratio):
        return 2.0
    return 1.0 + min(abs(math.log2(ratio)), 4.0) / 4.0


def _share_effect(share_pct: float) -> float:
    """Effect of something new or gone: 1 plus its share of the events, saturating at 50%."""
    return 1.0 + min(share_pct, 50.0) / 50.0


class _Collector:
    """Gathers candidate signals and the p-values of every test performed."""

    def __init__(self) -> None:
        self.candidates: list[tuple[int, Signal]] = []
        self.p_values: list[float] = []

    def untested(self) -> None:
        self.p_values.append(1.0)

    def add(self, signal: Signal) -> None:
        self.candidates.append((len(self.p_values), signal))
        self.p_values.append(signal.p_value)


def _volume(
    name: str,
    a: Optional[SourcetypeSummary],
    c: Optional[SourcetypeSummary],
    hours_a: float,
    hours_c: float,
    out: _Collector,
) -> None:
    count_a = a.count if a else 0.0
    count_c = c.count if c else 0.0
    rate_a, rate_c = count_a / hours_a, count_c / hours_c
    share_c = hours_c / (hours_a + hours_c)
    signal_id = f"volume:{{}}:{name}"
    if count_a == 0:
        if count_c < MIN_NEW_EVENTS:
            return out.untested()
        p = rate_test(0, count_c, share_c)
        out.add(
            Signal(
                signal_id.format("appeared"),
                "volume",
                "appeared",
                name,
                "HIGH" if count_c >= 100 else "MEDIUM",
                0.0,
                rate_c,
                p,
                2.0,
                stat="events_per_hour",
            )
        )
        return None
    expected_c = rate_a * hours_c
    if count_c == 0:
        if expected_c < MIN_EXPECTED_GONE:
            return out.untested()
        p = rate_test(count_a, 0, share_c)
        out.add(
            Signal(
                signal_id.format("disappeared"),
                "volume",
                "disappeared",
                name,
                "HIGH" if expected_c >= 50 else "MEDIUM",
                rate_a,
                0.0,
                p,
                2.0,
                stat="events_per_hour",
            )
        )
        return None
    ratio = rate_c / rate_a
    if max(ratio, 1 / ratio) < VOLUME_RATIO_FLOOR:
        return out.untested()
    p = rate_test(count_a, count_c, share_c)
    change = "up" if ratio > 1 else "down"
    out.add(
        Signal(
            signal_id.format(change),
            "volume",
            change,
            name,
            _ratio_severity(ratio, 2.5, 1.8),
            rate_a,
            rate_c,
            p,
            _ratio_effect(ratio),
            stat="events_per_hour",
        )
    )
    return None


def _shares(
    name: str,
    kind: str,
    counts_a: Mapping[str, float],
    floor_a: float,
    counts_c: Mapping[str, float],
    floor_c: float,
    n_a: float,
    n_c: float,
    describe,
    out: _Collector,
) -> None:
    """Share tests for templates or hosts of one sourcetype."""
    share_c = n_c / (n_a + n_c)
    for key in sorted(set(counts_a) | set(counts_c)):
        in_a, in_c = key in counts_a, key in counts_c
        count_a = counts_a.get(key, floor_a)
        count_c = counts_c.get(key, floor_c)
        base, cur = count_a / n_a * 100.0, count_c / n_c * 100.0
        details = describe(key)
        if not in_a and count_a == 0:
            if count_c < MIN_NEW_EVENTS:
                out.untested()
                continue
            change, ratio = "appeared", math.inf
            severity = details.pop("appeared_severity")(count_c, cur)
        elif not in_c and count_c == 0:
            expected = count_a * n_c / n_a
            if expected < MIN_EXPECTED_GONE:
                out.untested()
                continue
            change, ratio = "disappeared", 0.0
            severity = "HIGH" if expected >= 20 else "MEDIUM" if expected >= 10 else "LOW"
        else:
            if not (in_a and in_c):
                out.untested()
                continue
            ratio = (count_c / n_c) / (count_a / n_a)
            if max(ratio, 1 / ratio) < SHARE_RATIO_FLOOR:
                out.untested()
                continue
            change = "up" if ratio > 1 else "down"
            severity = _ratio_severity(ratio, 4.0, 2.5)
            if kind == "host" and severity == "HIGH":
                severity = "MEDIUM"
        details.pop("appeared_severity", None)
        p = rate_test(count_a, count_c, share_c)
        if change == "appeared":
            effect = _share_effect(cur)
        elif change == "disappeared":
            effect = _share_effect(base)
        else:
            effect = _ratio_effect(ratio)
        out.add(
            Signal(
                f"{kind}:{change}:{name}:{key}",
                kind,
                change,
                name,
                severity,
                0.0 if change == "appeared" else base,
                cur,
                p,
                effect,
                **details,
            )
        )


def _template_appeared_severity(errors_c: float):
    def severity(count: float, share_pct: float) -> str:
        mostly_errors = errors_c >= count / 2
        if count >= 20 and (share_pct >= 1.0 or mostly_errors):
            return "HIGH"
        if count >= 10 or share_pct >= 0.5:
            return "MEDIUM"
        return "LOW"

    return severity


def _host_appeared_severity(count: float, share_pct: float) -> str:
    return "MEDIUM" if share_pct >= 10.0 and count >= 20 else "LOW"


def _templates(name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector) -> None:
    def describe(pattern_id: str) -> dict[str, Any]:
        entry = c.templates.get(pattern_id) or a.templates[pattern_id]
        errors_c = c.templates[pattern_id][1] if pattern_id in c.templates else 0.0
        return {
            "template": entry[2],
            "example": entry[3],
            "pattern": pattern_id,
            "stat": "share_pct",
            "appeared_severity": _template_appeared_severity(errors_c),
        }

    counts_a = {k: v[0] for k, v in a.templates.items()}
    counts_c = {k: v[0] for k, v in c.templates.items()}
    _shares(
        name,
        "template",
        counts_a,
        a.template_floor,
        counts_c,
        c.template_floor,
        a.count,
        c.count,
        describe,
        out,
    )


def _hosts(name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector) -> None:
    def describe(host: str) -> dict[str, Any]:
        return {"host": host, "stat": "share_pct", "appeared_severity": _host_appeared_severity}

    if len(a.hosts) <= 1 and len(c.hosts) <= 1 and set(a.hosts) == set(c.hosts):
        return
    _shares(
        name, "host", a.hosts, a.host_floor, c.hosts, c.host_floor, a.count, c.count, describe, out
    )


def _error_rate(name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector) -> None:
    if not (a.has_levels or c.has_levels):
        return
    rate_a, rate_c = a.errors / a.count, c.errors / c.count
    gap = rate_c - rate_a
    if abs(gap) < ERROR_RATE_FLOOR or (rate_a > 0 and 1 / 1.5 < rate_c / rate_a < 1.5):
        return out.untested()
    p = rate_test(a.errors, c.errors, c.count / (a.count + c.count))
    change = "up" if gap > 0 else "down"
    if change == "up":
        severity = "HIGH" if gap >= 0.10 else "MEDIUM" if gap >= 0.03 else "LOW"
    else:
        severity = "MEDIUM" if -gap >= 0.10 else "LOW"
    out.add(
        Signal(
            f"error_rate:{change}:{name}",
            "error_rate",
            change,
            name,
            severity,
            rate_a * 100.0,
            rate_c * 100.0,
            p,
            1.0 + min(abs(gap) / 0.5, 1.0),
            stat="error_pct",
        )
    )
    return None


def _metrics(name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector) -> None:
    for metric in sorted(set(a.metrics) & set(c.metrics)):
        sa, sc = a.metrics[metric], c.metrics[metric]
        fired = False
        for stat, q, min_count in QUANTILES:
            base, cur = sa.sketch.quantile(q), sc.sketch.quantile(q)
            if sa.count < min_count or sc.count < min_count or base is None or cur is None:
                out.untested()
                continue
            change_ratio = abs(cur - base) / abs(base) if base else (math.inf if cur else 0.0)
            if change_ratio < METRIC_CHANGE_FLOOR:
                out.untested()
                continue
            # Under the null, the current window has as many events above the
            # anchor's quantile as the anchor itself does.
            above_a = sa.sketch.fraction_above(base)
            above_c = sc.sketch.fraction_above(base)
            p = two_proportion(above_a * sa.count, sa.count, above_c * sc.count, sc.count)
            severity = "HIGH" if change_ratio >= 1.0 else "MEDIUM" if change_ratio >= 0.5 else "LOW"
            change = "up" if cur > base else "down"
            out.add(
                Signal(
                    f"metric:{change}:{name}:{metric}:{stat}",
                    "metric",
                    change,
                    name,
                    severity,
                    base,
                    cur,
                    p,
                    1.0 + min(math.log2(1.0 + change_ratio), 4.0) / 4.0,
                    field=metric,
                    stat=stat,
                )
            )
            fired = True
        if sa.count < 20 or sc.count < 20:
            out.untested()
            continue
        gap = ks_statistic(sa.sketch, sc.sketch)
        if fired or gap < KS_FLOOR:
            out.untested()
            continue
        p = kolmogorov_sf(gap, sa.count, sc.count)
        out.add(
            Signal(
                f"metric:shifted:{name}:{metric}:distribution",
                "metric",
                "shifted",
                name,
                "MEDIUM" if gap >= 0.3 else "LOW",
                sa.mean,
                sc.mean,
                p,
                1.0 + min(gap, 1.0),
                field=metric,
                stat="distribution",
            )
        )


def _hourly(name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector) -> None:
    if a.timed < MIN_PROFILE_EVENTS or c.timed < MIN_PROFILE_EVENTS:
        return out.untested()
    shares_a = [h / a.timed for h in a.hours]
    shares_c = [h / c.timed for h in c.hours]
    gaps = [sc - sa for sa, sc in zip(shares_a, shares_c)]
    tvd = sum(abs(g) for g in gaps) / 2.0
    if tvd < PROFILE_TVD_FLOOR:
        return out.untested()
    p = chi2_homogeneity(a.hours, c.hours)
    hour = max(range(24), key=lambda h: (abs(gaps[h]), -h))
    out.add(
        Signal(
            f"hourly_profile:shifted:{name}",
            "hourly_profile",
            "shifted",
            name,
            "MEDIUM" if tvd >= 0.3 else "LOW",
            shares_a[hour] * 100.0,
            shares_c[hour] * 100.0,
            p,
            1.0 + min(tvd / 0.5, 1.0),
            field=f"hour={hour:02d}",
            stat="hour_share_pct",
        )
    )
    return None


def compare_fingerprints(
    anchor: Fingerprint, current: Fingerprint, *, alpha: float = DEFAULT_ALPHA
) -> Comparison:
    """Every test between two fingerprints; returns the significant, large-enough signals."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    # Templates of both windows merged over their union, so both land on the same ids.
    anchor, current = align_fingerprints(anchor, current)
    out = _Collector()
    notes: list[str] = []
    seconds_a, seconds_c = anchor.duration(), current.duration()
    timed = seconds_a is not None and seconds_c is not None
    if not timed:
        notes.append(
            "no usable timestamps in "
            + (
                "both windows"
                if seconds_a is None and seconds_c is None
                else "the anchor"
                if seconds_a is None
                else "the current window"
            )
            + ": volume and hour-of-day were not compared; everything else is compared by shares"
        )
    daily = timed and seconds_a >= DAY and seconds_c >= DAY
    for name in sorted(set(anchor.sourcetypes) | set(current.sourcetypes)):
        a, c = anchor.sourcetypes.get(name), current.sourcetypes.get(name)
        if timed:
            _volume(name, a, c, seconds_a / 3600.0, seconds_c / 3600.0, out)
        if a is None or c is None or a.count == 0 or c.count == 0:
            continue
        _templates(name, a, c, out)
        _hosts(name, a, c, out)
        _error_rate(name, a, c, out)
        _metrics(name, a, c, out)
        if daily:
            _hourly(name, a, c, out)
    q_values = benjamini_hochberg(out.p_values)
    for position, signal in out.candidates:
        signal.q_value = q_values[position]
    significant = [signal for _, signal in out.candidates if signal.q_value < alpha]
    return Comparison(significant, len(out.p_values), notes)
