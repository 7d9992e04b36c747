"""Compare a current fingerprint with an anchor: statistical tests, never raw counts.

Where both windows carry timestamps, everything countable is a *rate*:
sourcetype volume, each template and each host are events per hour, tested
against the anchor's rate for the same hours of day when the anchor covers
every hour of the day (its mean rate otherwise). A template that the anchor
saw only at night (a nightly job) is expected only at night: per-template
hour profiles are kept for the most frequent templates (see
``fingerprint.KEEP_TEMPLATE_PROFILES``); other templates and hosts are
expected to follow their sourcetype's day. Without timestamps the same tests
run on shares within the sourcetype (and, for a sourcetype that appeared or
vanished, its share of all events). Every count test is the conditional
binomial test of two Poisson rates. A template or host that went up or down
must have moved both its rate and its share (the larger p-value of the two
tests): one that only followed its sourcetype's volume is not a change.

The error rate is a two-proportion test, metric quantiles compare the share
of events above the anchor's quantile, plus a two-sample KS test on the
sketches, and the hour-of-day profile is compared when both windows span a
day. p-values go through Benjamini-Hochberg *within each family* (one family
per kind: volume, template, host, error_rate, metric, hourly_profile), so
FDR is at most alpha in each family. A signal needs both significance
(q < alpha) and an effect above a floor; HIGH also needs q below alpha/10.
Tests whose effect cannot reach the floor stay in their family with p = 1
(conservative, and it keeps compare fast).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from dataclasses import field as _dataclass_field  # Signal has an attribute named field
from typing import Any, Callable, Literal, Optional, TypedDict, cast, get_args

from anchor import fielddiff
from anchor.errors import InputError
from anchor.fingerprint import Fingerprint, SourcetypeSummary, TemplateEntry
from anchor.patterns.merge import align_fingerprints
from anchor.sketch import ks_statistic
from anchor.stats import (
    benjamini_hochberg,
    binom_sf,
    chi2_homogeneity,
    kolmogorov_sf,
    rate_test,
    two_proportion,
)

DEFAULT_ALPHA = 0.01
DAY = 86400.0
HOUR = 3600.0

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
# HIGH needs q below alpha / HIGH_Q_FACTOR: a large effect seen on thin
# evidence is reported, but not as something to wake up for.
HIGH_Q_FACTOR = 10.0
# The anchor "covers the day" when every hour of day has at least this much of it.
MIN_HOUR_EXPOSURE = 0.5
# A template or host whose rate moved must also have moved its share by this factor.
SHARE_AGREES_FLOOR = 1.5
# A template keeps its own hour-of-day profile when it differs from its
# sourcetype's at this significance (chi-square homogeneity).
OWN_HOURS_P = 1e-3

# New error messages are tested in their own family at this FDR level (or the
# comparison's alpha, if larger); see _new_errors and docs/DETECTION.md.
NEW_ERROR_ALPHA = 0.05
NEW_ERROR_FAMILY = "new_error"
ERROR_WORDS = re.compile(
    r"(?i)\b(?:error|errors|fatal|exception|fail|failed|failure|panic|crash(?:ed)?|abort(?:ed)?"
    r"|denied|refused|unreachable|timed out|timeout|corrupt(?:ed)?|traceback|segfault)\b"
)

Kind = Literal["volume", "template", "error_rate", "metric", "host", "hourly_profile", "field"]
Change = Literal["appeared", "disappeared", "up", "down", "shifted"]
Severity = Literal["HIGH", "MEDIUM", "LOW"]
KINDS: tuple[str, ...] = get_args(Kind)
CHANGES: tuple[str, ...] = get_args(Change)
SEVERITIES: tuple[str, ...] = get_args(Severity)
# A signal's public fields (the CLI's JSON and the SPL row contract), in order:
# its rank, what and where (text), the measured values (numbers, rounded so
# that output does not depend on float summation order), then ``evidence``.
SIGNAL_TEXT_FIELDS = (
    "signal_id",
    "kind",
    "change",
    "sourcetype",
    "field",
    "stat",
    "template",
    "host",
    "severity",
)
SIGNAL_NUMBER_FIELDS = ("baseline", "current", "delta_pct", "p_value", "q_value", "weight", "score")
SIGNAL_FIELDS = ("rank", *SIGNAL_TEXT_FIELDS, *SIGNAL_NUMBER_FIELDS, "evidence")
# The fields of a folded signal in a finding's ``evidence`` (the JSON contract).
EVIDENCE_FIELDS = (
    "signal_id",
    "kind",
    "change",
    "sourcetype",
    "host",
    "field",
    "stat",
    "template",
    "severity",
    "baseline",
    "current",
    "q_value",
)


class SignalDict(TypedDict):
    """A ranked signal (a finding) as JSON: ``Signal.to_dict``, the CLI's ``--json``
    and the MCP/REST answers; ``evidence`` holds ``Signal.evidence_dict`` of each
    folded signal, the lead first."""

    rank: int
    signal_id: str
    kind: Kind
    change: Change
    sourcetype: str
    field: Optional[str]
    stat: Optional[str]
    template: Optional[str]
    host: Optional[str]
    severity: Severity
    baseline: Optional[float]
    current: Optional[float]
    delta_pct: Optional[float]
    p_value: Optional[float]
    q_value: Optional[float]
    weight: Optional[float]
    score: Optional[float]
    evidence: list[dict[str, Any]]


def check_alpha(alpha: float) -> None:
    """The false discovery rate is a probability strictly between 0 and 1 (NaN is not)."""
    if not 0.0 < alpha < 1.0:
        raise InputError(
            f"alpha must be between 0 and 1 (exclusive), for example 0.01; got {alpha}"
        )


@dataclass
class Signal:
    """One ranked difference. Field names are the CLI's JSON and the SPL row contract.

    A ranked row is a *finding*: its lead signal's fields plus ``evidence``,
    every signal folded into it (the lead first); see ``anchor.findings``.
    """

    signal_id: str
    kind: Kind
    change: Change
    sourcetype: str
    severity: Severity
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
    # For a template: the share of its current events that are errors (grouping reads it).
    error_share: Optional[float] = None
    evidence: list[Signal] = _dataclass_field(default_factory=list)

    @property
    def delta_pct(self) -> Optional[float]:
        if self.baseline is None or self.current is None or self.baseline == 0:
            return None
        return (self.current - self.baseline) / abs(self.baseline) * 100.0

    def _public(self, names: Sequence[str]) -> dict[str, Any]:
        """These fields, the measured values rounded."""
        return {
            name: _round(getattr(self, name))
            if name in SIGNAL_NUMBER_FIELDS
            else getattr(self, name)
            for name in names
        }

    def evidence_dict(self) -> dict[str, Any]:
        return self._public(EVIDENCE_FIELDS)

    def to_dict(self) -> SignalDict:
        data = self._public(SIGNAL_FIELDS)
        data["evidence"] = [e.evidence_dict() for e in self.evidence or [self]]
        return cast(SignalDict, data)

    def to_record(self) -> dict[str, Any]:
        """Everything, for the drift record (adds effect, example and pattern id)."""
        record = asdict(self)
        record["delta_pct"] = self.delta_pct
        for folded, member in zip(record["evidence"], self.evidence):
            folded["delta_pct"] = member.delta_pct
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Signal:
        names = set(cls.__dataclass_fields__)
        signal = cls(**{k: v for k, v in record.items() if k in names and k != "evidence"})
        # Evidence rebuilt from SPL rows holds ids only: those stay out of the Signal.
        signal.evidence = [cls.from_record(e) for e in record.get("evidence") or () if "kind" in e]
        return signal

    def ids(self) -> list[str]:
        """This row's id and the id of every signal folded into it."""
        return list(dict.fromkeys([self.signal_id] + [e.signal_id for e in self.evidence]))


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


def _ratio_severity(ratio: float, high: float, medium: float) -> Severity:
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
    """Gathers candidate signals and the p-values of every test, per FDR family.

    A family is a kind, except new error messages: one family per sourcetype
    (``NEW_ERROR_FAMILY:<sourcetype>``).
    """

    def __init__(self) -> None:
        self.candidates: list[tuple[str, int, Signal]] = []
        self.p_values: dict[str, list[float]] = {}

    def untested(self, kind: str) -> None:
        self.p_values.setdefault(kind, []).append(1.0)

    def add(self, signal: Signal, family_name: Optional[str] = None) -> None:
        name = family_name or signal.kind
        family = self.p_values.setdefault(name, [])
        self.candidates.append((name, len(family), signal))
        family.append(signal.p_value)

    @property
    def tests(self) -> int:
        return sum(len(family) for family in self.p_values.values())

    def significant(self, alpha: float) -> list[Signal]:
        q_values = {kind: benjamini_hochberg(ps) for kind, ps in self.p_values.items()}
        new_errors = max(alpha, NEW_ERROR_ALPHA)
        found = []
        for kind, position, signal in self.candidates:
            signal.q_value = q_values[kind][position]
            level = new_errors if kind.startswith(NEW_ERROR_FAMILY) else alpha
            if signal.q_value >= level:
                continue
            if signal.severity == "HIGH" and signal.q_value >= level / HIGH_Q_FACTOR:
                signal.severity = "MEDIUM"
            found.append(signal)
        return found


# -- exposure: how the current window's hours compare with the anchor's ----------
def hour_exposure(window: Optional[tuple[float, float]], seconds: float) -> list[float]:
    """Hours of ``window`` falling in each hour of day (UTC), scaled to ``seconds`` in all."""
    exposure = [0.0] * 24
    if window is None or window[1] <= window[0]:
        return exposure
    start, end = window
    moment = start
    while moment < end:
        boundary = min(end, (math.floor(moment / HOUR) + 1) * HOUR)
        exposure[int(moment // HOUR) % 24] += (boundary - moment) / HOUR
        moment = boundary
    scale = seconds / (end - start)
    return [hours * scale for hours in exposure]


@dataclass
class _Clock:
    """What the anchor and current windows cover, to turn anchor counts into expected counts."""

    hours_a: float
    hours_c: float
    exposure_a: list[float]
    exposure_c: list[float]

    @property
    def daily(self) -> bool:
        """True when the anchor saw every hour of the day: rates by hour of day apply."""
        return all(h >= MIN_HOUR_EXPOSURE for h in self.exposure_a)

    def factor(self, hours: Optional[Sequence[float]]) -> float:
        """Expected current count per anchor count, for something with this hour profile.

        With a profile and a daily anchor: the anchor's rate in each hour of
        day, weighted by how long the current window spends in that hour.
        Otherwise the ratio of window lengths (mean rates).
        """
        if hours is None or not self.daily:
            return self.hours_c / self.hours_a
        total = sum(hours)
        if total <= 0:
            return self.hours_c / self.hours_a
        expected = sum(
            count * self.exposure_c[h] / self.exposure_a[h] for h, count in enumerate(hours)
        )
        return expected / total

    def matched(self, hours: Sequence[float]) -> tuple[float, float]:
        """(anchor count in the hours of day the current window touches, expected count).

        For something with its own hour profile, the evidence is the anchor's
        count in those hours only: the test's uncertainty is that count's.
        """
        base = sum(count for h, count in enumerate(hours) if self.exposure_c[h] > 0)
        expected = sum(
            count * self.exposure_c[h] / self.exposure_a[h] for h, count in enumerate(hours)
        )
        return base, expected


def _clock(anchor: Fingerprint, current: Fingerprint) -> Optional[_Clock]:
    seconds_a, seconds_c = anchor.duration(), current.duration()
    if seconds_a is None or seconds_c is None:
        return None
    return _Clock(
        seconds_a / HOUR,
        seconds_c / HOUR,
        hour_exposure(anchor.window(), seconds_a),
        hour_exposure(current.window(), seconds_c),
    )


def _volume(
    name: str,
    a: Optional[SourcetypeSummary],
    c: Optional[SourcetypeSummary],
    clock: _Clock,
    out: _Collector,
) -> None:
    count_a = a.count if a else 0.0
    count_c = c.count if c else 0.0
    factor = clock.factor(a.hours if a else None)
    expected_c = count_a * factor
    change: Change
    if count_a == 0:
        if count_c < MIN_NEW_EVENTS:
            return out.untested("volume")
        share_c = clock.hours_c / (clock.hours_a + clock.hours_c)
        change, baseline, p, effect = "appeared", 0.0, rate_test(0, count_c, share_c), 2.0
        severity: Severity = "HIGH" if count_c >= 100 else "MEDIUM"
    else:
        p = rate_test(count_a, count_c, factor / (1.0 + factor))
        baseline = expected_c / clock.hours_c
        if count_c == 0:
            if expected_c < MIN_EXPECTED_GONE:
                return out.untested("volume")
            change, effect = "disappeared", 2.0
            severity = "HIGH" if expected_c >= 50 else "MEDIUM"
        else:
            ratio = count_c / expected_c
            if max(ratio, 1 / ratio) < VOLUME_RATIO_FLOOR:
                return out.untested("volume")
            change = "up" if ratio > 1 else "down"
            severity, effect = _ratio_severity(ratio, 2.5, 1.8), _ratio_effect(ratio)
    out.add(
        Signal(
            signal_id=f"volume:{change}:{name}",
            kind="volume",
            change=change,
            sourcetype=name,
            severity=severity,
            baseline=baseline,
            current=count_c / clock.hours_c,
            p_value=p,
            effect=effect,
            stat="events_per_hour",
        )
    )
    return None


def _coverage(
    name: str,
    a: Optional[SourcetypeSummary],
    c: Optional[SourcetypeSummary],
    n_a: float,
    n_c: float,
    out: _Collector,
) -> None:
    """Without timestamps: a sourcetype that vanished or appeared, by its share of all events."""
    count_a, count_c = (a.count if a else 0.0), (c.count if c else 0.0)
    if count_a and count_c:
        return None
    if n_a <= 0 or n_c <= 0:  # a whole window empty and untimed: no share to compare
        return out.untested("volume")
    share_pct_a, share_pct_c = count_a / n_a * 100.0, count_c / n_c * 100.0
    change: Change
    severity: Severity
    if count_a == 0:
        change, severity, shown = "appeared", "HIGH" if count_c >= 100 else "MEDIUM", share_pct_c
        if count_c < MIN_NEW_EVENTS:
            return out.untested("volume")
    else:
        expected = count_a * n_c / n_a
        if expected < MIN_EXPECTED_GONE:
            return out.untested("volume")
        change, severity, shown = "disappeared", "HIGH" if expected >= 50 else "MEDIUM", share_pct_a
    out.add(
        Signal(
            signal_id=f"volume:{change}:{name}",
            kind="volume",
            change=change,
            sourcetype=name,
            severity=severity,
            baseline=share_pct_a,
            current=share_pct_c,
            p_value=rate_test(count_a, count_c, n_c / (n_a + n_c)),
            effect=_share_effect(shown),
            stat="share_pct",
        )
    )
    return None


@dataclass
class _Counts:
    """One family of counted things of a sourcetype (its templates or its hosts)."""

    kind: Kind
    counts_a: Mapping[str, float]
    floor_a: float
    counts_c: Mapping[str, float]
    floor_c: float
    factor: Callable[[str], float]  # expected current count per anchor count, per key
    per_hour: Optional[float]  # current window hours; None compares shares
    n_a: float
    n_c: float
    # Anchor counts of the keys whose share must move too (rates only): a template
    # or host whose rate moved only because its sourcetype's did is not a change of
    # its own. Keys absent here (a template with its own hours) are judged by rate.
    shares_a: Mapping[str, float] = field(default_factory=dict)


def _counted(name: str, family: _Counts, describe, out: _Collector) -> None:
    """Rate (or share) tests for every template or host of one sourcetype."""
    kind = family.kind
    for key in sorted(set(family.counts_a) | set(family.counts_c)):
        count_a = family.counts_a.get(key, family.floor_a)
        count_c = family.counts_c.get(key, family.floor_c)
        factor = family.factor(key)
        expected = count_a * factor
        if family.per_hour:
            base, cur = expected / family.per_hour, count_c / family.per_hour
        else:
            base, cur = count_a / family.n_a * 100.0, count_c / family.n_c * 100.0
        details = describe(key)
        appeared_severity = details.pop("appeared_severity")
        judged = _count_change(family, key, count_a, count_c, expected, appeared_severity)
        if judged is None:
            out.untested(kind)
            continue
        change, ratio, severity = judged
        p = rate_test(count_a, count_c, factor / (1.0 + factor))
        if family.per_hour and key in family.shares_a and change in ("up", "down"):
            # Both the rate and the share must have moved: the larger p-value
            # tests that conjunction (an intersection-union test).
            share_p = family.n_c / (family.n_a + family.n_c)
            p = max(p, rate_test(family.shares_a[key], count_c, share_p))
        if change == "appeared":
            effect = _share_effect(count_c / family.n_c * 100.0)
        elif change == "disappeared":
            effect = _share_effect(count_a / family.n_a * 100.0)
        else:
            effect = _ratio_effect(ratio)
        out.add(
            Signal(
                signal_id=f"{kind}:{change}:{name}:{key}",
                kind=kind,
                change=change,
                sourcetype=name,
                severity=severity,
                baseline=0.0 if change == "appeared" else base,
                current=cur,
                p_value=p,
                effect=effect,
                **details,
            )
        )


def _count_change(
    family: _Counts,
    key: str,
    count_a: float,
    count_c: float,
    expected: float,
    appeared_severity: Callable[[float, float], Severity],
) -> Optional[tuple[Change, float, Severity]]:
    """How one template or host changed: (change, ratio, severity), or None when it
    is not tested (too few events, or a move smaller than the floors)."""
    if count_a == 0:
        if count_c < MIN_NEW_EVENTS:
            return None
        return "appeared", math.inf, appeared_severity(count_c, count_c / family.n_c * 100.0)
    if key not in family.counts_c and count_c == 0:
        if expected < MIN_EXPECTED_GONE:
            return None
        severity: Severity = "HIGH" if expected >= 20 else "MEDIUM" if expected >= 10 else "LOW"
        return "disappeared", 0.0, severity
    if key not in family.counts_a or key not in family.counts_c or expected <= 0:
        return None
    ratio = count_c / expected
    if max(ratio, 1 / ratio) < SHARE_RATIO_FLOOR or not _share_agrees(family, key, ratio):
        return None
    severity = _ratio_severity(ratio, 4.0, 2.5)
    if family.kind == "host" and severity == "HIGH":
        severity = "MEDIUM"  # a host that merely went up or down (docs/DETECTION.md)
    return ("up" if ratio > 1 else "down"), ratio, severity


def _share_agrees(family: _Counts, key: str, ratio: float) -> bool:
    """With rates: does the key's share of its sourcetype move the same way, by at least
    ``SHARE_AGREES_FLOOR``? Always true for keys judged by rate alone."""
    if not family.per_hour or key not in family.shares_a or family.shares_a[key] <= 0:
        return True
    share_ratio = (family.counts_c.get(key, 0.0) / family.n_c) / (family.shares_a[key] / family.n_a)
    if ratio > 1:
        return share_ratio >= SHARE_AGREES_FLOOR
    return share_ratio <= 1.0 / SHARE_AGREES_FLOOR


def _template_appeared_severity(errors_c: float):
    def severity(count: float, share_pct: float) -> Severity:
        mostly_errors = errors_c >= count / 2
        if count >= 20 and (share_pct >= 1.0 or mostly_errors):
            return "HIGH"
        if count >= 10 or share_pct >= 0.5:
            return "MEDIUM"
        return "LOW"

    return severity


def _host_appeared_severity(count: float, share_pct: float) -> Severity:
    return "MEDIUM" if share_pct >= 10.0 and count >= 20 else "LOW"


def _factors(a: SourcetypeSummary, c: SourcetypeSummary, clock: Optional[_Clock]):
    """Per-key expected-count factor and the hours to express rates in (None: shares)."""
    if clock is None:
        share = c.count / a.count
        return (lambda _key: share), None
    sourcetype = clock.factor(a.hours)
    return (lambda _key: sourcetype), clock.hours_c


def _templates(
    name: str, a: SourcetypeSummary, c: SourcetypeSummary, clock: Optional[_Clock], out: _Collector
) -> None:
    def describe(pattern_id: str) -> dict[str, Any]:
        entry = c.templates.get(pattern_id) or a.templates[pattern_id]
        errors_c = c.templates[pattern_id].errors if pattern_id in c.templates else 0.0
        return {
            "template": entry.template,
            "example": entry.example,
            "pattern": pattern_id,
            "stat": "events_per_hour" if clock else "share_pct",
            "appeared_severity": _template_appeared_severity(errors_c),
        }

    default, per_hour = _factors(a, c, clock)
    counts_a = {k: v.count for k, v in a.templates.items()}
    own: dict[str, float] = {}
    if clock is not None and clock.daily:
        for pattern_id, entry in a.templates.items():
            if entry.hours is not None and _keeps_own_hours(entry.hours, a.hours):
                base, expected = clock.matched(entry.hours)
                counts_a[pattern_id] = base
                if base > 0:
                    own[pattern_id] = expected / base

    def factor(pattern_id: str) -> float:
        return own.get(pattern_id) or default(pattern_id)

    new_errors = _new_errors(name, a, c, factor, out)
    counts_c = {k: v.count for k, v in c.templates.items() if k not in new_errors}
    shares = {k: v.count for k, v in a.templates.items() if k not in own and k in counts_c}
    family = _Counts(
        "template",
        counts_a,
        a.template_floor,
        counts_c,
        c.template_floor,
        factor,
        per_hour,
        a.count,
        c.count,
        shares,
    )
    before = len(out.candidates)
    _counted(name, family, describe, out)
    for _, _, signal in out.candidates[before:]:
        entry_c = c.templates.get(signal.pattern or "")
        if entry_c is not None and entry_c.count > 0:
            signal.error_share = entry_c.errors / entry_c.count


def error_like(entry: TemplateEntry) -> bool:
    """A template whose lines are mostly error-level, or whose text carries an error word."""
    return (entry.errors > 0 and entry.errors >= entry.count / 2) or bool(
        ERROR_WORDS.search(entry.template)
    )


def _new_errors(
    name: str,
    a: SourcetypeSummary,
    c: SourcetypeSummary,
    factor: Callable[[str], float],
    out: _Collector,
) -> set:
    """The sourcetype's new-error family: error-like templates, tested for "more than before".

    Its p-values are exact one-sided conditional binomial tails: given a
    template's n lines in both windows, the chance that at least the current
    count falls in the current window if its rate did not change. Every
    error-like template of the sourcetype belongs to the family, new or not (a
    template the anchor had enters with p = 1, which is conservative), except
    those whose n lines could not reach the family's level even if all fell in
    the current window (Tarone's rule: a test that cannot reject does not
    dilute the others). BH at NEW_ERROR_ALPHA over this family bounds the
    expected share of chance findings among the sourcetype's new errors.
    Returns the ids tested here, which the template family then skips.
    """
    level = NEW_ERROR_ALPHA
    family = f"{NEW_ERROR_FAMILY}:{name}"
    tested: set = set()
    for pattern_id in sorted(set(a.templates) | set(c.templates)):
        entry_c = c.templates.get(pattern_id)
        if not error_like(entry_c or a.templates[pattern_id]):
            continue
        count_a = a.templates[pattern_id].count if pattern_id in a.templates else 0.0
        count_c = entry_c.count if entry_c else 0.0
        lines = round(count_a + count_c)
        expected_per_anchor = factor(pattern_id)
        share_c = expected_per_anchor / (1.0 + expected_per_anchor)
        if lines < 1 or binom_sf(lines, lines, share_c) > level:
            continue  # Tarone: cannot reach the level whatever the split
        if entry_c is None or count_a > 0 or a.template_floor > 0 or count_c < MIN_NEW_EVENTS:
            out.untested(family)
            continue
        tested.add(pattern_id)
        mostly_errors = entry_c.errors >= count_c / 2
        severity: Severity
        if mostly_errors:
            severity = "HIGH" if count_c >= 20 else "MEDIUM" if count_c >= 5 else "LOW"
        else:
            severity = "MEDIUM" if count_c >= 20 else "LOW"
        signal = Signal(
            signal_id=f"template:appeared:{name}:{pattern_id}",
            kind="template",
            change="appeared",
            sourcetype=name,
            severity=severity,
            baseline=0.0,
            current=count_c / c.count * 100.0,
            p_value=binom_sf(round(count_c), lines, share_c),
            # more lines rank higher: 1.35 for 5 lines up to 2 for 100 or more
            effect=1.0 + min(math.log10(max(count_c, 1.0)) / 2.0, 1.0),
            stat="share_pct",
            template=entry_c.template,
            example=entry_c.example,
            pattern=pattern_id,
            error_share=entry_c.errors / count_c,
        )
        out.add(signal, family)
    return tested


def _keeps_own_hours(hours: Optional[Sequence[float]], sourcetype: Sequence[float]) -> bool:
    """True when a template's hours of day differ clearly from its sourcetype's (a nightly job).

    Such a template is expected by its own hours; every other template follows
    its sourcetype's day, which rests on far more events.
    """
    if hours is None or sum(hours) < MIN_NEW_EVENTS:
        return False
    rest = [max(0.0, total - mine) for total, mine in zip(sourcetype, hours)]
    return sum(rest) <= 0 or chi2_homogeneity(hours, rest) < OWN_HOURS_P


def _hosts(
    name: str, a: SourcetypeSummary, c: SourcetypeSummary, clock: Optional[_Clock], out: _Collector
) -> None:
    def describe(host: str) -> dict[str, Any]:
        return {
            "host": host,
            "stat": "events_per_hour" if clock else "share_pct",
            "appeared_severity": _host_appeared_severity,
        }

    if len(a.hosts) <= 1 and len(c.hosts) <= 1 and set(a.hosts) == set(c.hosts):
        return
    factor, per_hour = _factors(a, c, clock)
    family = _Counts(
        "host",
        a.hosts,
        a.host_floor,
        c.hosts,
        c.host_floor,
        factor,
        per_hour,
        a.count,
        c.count,
        dict(a.hosts),
    )
    _counted(name, family, describe, out)


def _error_rate(name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector) -> None:
    if not (a.has_levels or c.has_levels):
        return
    rate_a, rate_c = a.errors / a.count, c.errors / c.count
    gap = rate_c - rate_a
    if abs(gap) < ERROR_RATE_FLOOR or (rate_a > 0 and 1 / 1.5 < rate_c / rate_a < 1.5):
        return out.untested("error_rate")
    p = rate_test(a.errors, c.errors, c.count / (a.count + c.count))
    change: Change = "up" if gap > 0 else "down"
    severity: Severity
    if change == "up":
        severity = "HIGH" if gap >= 0.10 else "MEDIUM" if gap >= 0.03 else "LOW"
    else:
        severity = "MEDIUM" if -gap >= 0.10 else "LOW"
    out.add(
        Signal(
            signal_id=f"error_rate:{change}:{name}",
            kind="error_rate",
            change=change,
            sourcetype=name,
            severity=severity,
            baseline=rate_a * 100.0,
            current=rate_c * 100.0,
            p_value=p,
            effect=1.0 + min(abs(gap) / 0.5, 1.0),
            stat="error_pct",
        )
    )
    return None


def _metrics(name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector) -> None:
    for metric in sorted(set(a.metrics) & set(c.metrics)):
        sa, sc = a.metrics[metric], c.metrics[metric]
        if _identifier_metric(sa, sc):
            continue
        fired = False
        for stat, q, min_count in QUANTILES:
            base, cur = sa.sketch.quantile(q), sc.sketch.quantile(q)
            if sa.count < min_count or sc.count < min_count or base is None or cur is None:
                out.untested("metric")
                continue
            change_ratio = abs(cur - base) / abs(base) if base else (math.inf if cur else 0.0)
            if change_ratio < METRIC_CHANGE_FLOOR:
                out.untested("metric")
                continue
            # Under the null, the current window has as many events above the
            # anchor's quantile as the anchor itself does.
            above_a = sa.sketch.fraction_above(base)
            above_c = sc.sketch.fraction_above(base)
            p = two_proportion(above_a * sa.count, sa.count, above_c * sc.count, sc.count)
            severity: Severity = (
                "HIGH" if change_ratio >= 1.0 else "MEDIUM" if change_ratio >= 0.5 else "LOW"
            )
            change: Change = "up" if cur > base else "down"
            out.add(
                Signal(
                    signal_id=f"metric:{change}:{name}:{metric}:{stat}",
                    kind="metric",
                    change=change,
                    sourcetype=name,
                    severity=severity,
                    baseline=base,
                    current=cur,
                    p_value=p,
                    effect=1.0 + min(math.log2(1.0 + change_ratio), 4.0) / 4.0,
                    field=metric,
                    stat=stat,
                )
            )
            fired = True
        if sa.count < 20 or sc.count < 20:
            out.untested("metric")
            continue
        gap = ks_statistic(sa.sketch, sc.sketch)
        if fired or gap < KS_FLOOR:
            out.untested("metric")
            continue
        p = kolmogorov_sf(gap, sa.count, sc.count)
        out.add(
            Signal(
                signal_id=f"metric:shifted:{name}:{metric}:distribution",
                kind="metric",
                change="shifted",
                sourcetype=name,
                severity="MEDIUM" if gap >= 0.3 else "LOW",
                baseline=sa.mean,
                current=sc.mean,
                p_value=p,
                effect=1.0 + min(gap, 1.0),
                field=metric,
                stat="distribution",
            )
        )


def _hourly(name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector) -> None:
    if a.timed < MIN_PROFILE_EVENTS or c.timed < MIN_PROFILE_EVENTS:
        return out.untested("hourly_profile")
    shares_a = [h / a.timed for h in a.hours]
    shares_c = [h / c.timed for h in c.hours]
    gaps = [sc - sa for sa, sc in zip(shares_a, shares_c)]
    tvd = sum(abs(g) for g in gaps) / 2.0
    if tvd < PROFILE_TVD_FLOOR:
        return out.untested("hourly_profile")
    p = chi2_homogeneity(a.hours, c.hours)
    hour = max(range(24), key=lambda h: (abs(gaps[h]), -h))
    out.add(
        Signal(
            signal_id=f"hourly_profile:shifted:{name}",
            kind="hourly_profile",
            change="shifted",
            sourcetype=name,
            severity="MEDIUM" if tvd >= 0.3 else "LOW",
            baseline=shares_a[hour] * 100.0,
            current=shares_c[hour] * 100.0,
            p_value=p,
            effect=1.0 + min(tvd / 0.5, 1.0),
            field=f"hour={hour:02d}",
            stat="hour_share_pct",
        )
    )
    return None


def _identifier_metric(sa: Any, sc: Any) -> bool:
    """A number constant in each window but different between them is a version or
    build number that moved, not a measurement that shifted."""
    return sa.minimum == sa.maximum and sc.minimum == sc.maximum and sa.minimum != sc.minimum


def _fields(
    name: str, a: SourcetypeSummary, c: SourcetypeSummary, out: _Collector, notes: list[str]
) -> None:
    """Category fields: one signal per field at most (its most significant value)."""
    for field_name in sorted(set(a.fields) & set(c.fields)):
        fa, fc = a.fields[field_name], c.fields[field_name]
        why_not = fielddiff.comparable_field(fa, fc)
        if why_not is not None:
            if why_not.startswith("every value"):
                notes.append(f"{name}: field {field_name} not compared: {why_not}")
            continue
        moves, tested = fielddiff.value_moves(fa, fc)
        shown = fielddiff.shown_values(moves)
        for _ in range(tested - (1 if shown else 0)):
            out.untested("field")
        if not shown:
            continue
        lead = shown[0]
        out.add(
            Signal(
                signal_id=f"field:{lead.change}:{name}:{field_name}={lead.value}",
                kind="field",
                change=lead.change,
                sourcetype=name,
                severity=fielddiff.value_severity(lead),
                baseline=lead.base_pct,
                current=lead.cur_pct,
                p_value=lead.p_value,
                effect=fielddiff.value_effect(lead),
                field=field_name,
                stat="share_pct",
                template=f"{field_name}={lead.value}",
            )
        )


def _host_metrics(
    name: str, a: SourcetypeSummary, c: SourcetypeSummary, alpha: float, out: _Collector
) -> set:
    """Hosts whose metric moved alone; returns the metrics they explain."""
    explained = set()
    for metric in sorted(set(a.metrics) & set(c.metrics)):
        moved, tested = fielddiff.hosts_moved_alone(metric, a, c, alpha)
        for _ in range(tested - len(moved)):
            out.untested("metric")
        for host_move in moved:
            move = host_move.move
            out.add(
                Signal(
                    signal_id=f"metric:{move.change}:{name}:{metric}:{move.stat}:{host_move.host}",
                    kind="metric",
                    change=move.change,
                    sourcetype=name,
                    severity=fielddiff.host_severity(move),
                    baseline=move.base,
                    current=move.cur,
                    p_value=move.p_value,
                    effect=fielddiff.quantile_effect(move),
                    field=metric,
                    stat=move.stat,
                    host=host_move.host,
                )
            )
        if moved:
            explained.add(metric)
    if explained:
        # The sourcetype-wide move of a metric that single hosts explain is
        # their move seen from further away: only the hosts are reported
        # (those p-values stay in the family, which keeps BH conservative).
        out.candidates = [
            entry
            for entry in out.candidates
            if not (
                entry[2].kind == "metric"
                and entry[2].sourcetype == name
                and entry[2].host is None
                and entry[2].field in explained
            )
        ]
    return explained


def compare_fingerprints(
    anchor: Fingerprint, current: Fingerprint, *, alpha: float = DEFAULT_ALPHA
) -> Comparison:
    """Every test between two fingerprints; returns the significant, large-enough signals."""
    check_alpha(alpha)
    # Templates of both windows merged over their union, so both land on the same ids.
    anchor, current = align_fingerprints(anchor, current)
    out = _Collector()
    clock = _clock(anchor, current)
    notes = _clock_notes(anchor, current, clock)
    daily = clock is not None and clock.hours_a * HOUR >= DAY and clock.hours_c * HOUR >= DAY
    for name in sorted(set(anchor.sourcetypes) | set(current.sourcetypes)):
        a, c = anchor.sourcetypes.get(name), current.sourcetypes.get(name)
        if clock is not None:
            _volume(name, a, c, clock, out)
        else:
            _coverage(name, a, c, anchor.count, current.count, out)
        if a is None or c is None or a.count == 0 or c.count == 0:
            continue
        _templates(name, a, c, clock, out)
        _hosts(name, a, c, clock, out)
        _error_rate(name, a, c, out)
        _metrics(name, a, c, out)
        _host_metrics(name, a, c, alpha, out)
        _fields(name, a, c, out, notes)
        if daily:
            _hourly(name, a, c, out)
    significant = out.significant(alpha)
    return Comparison(significant, out.tests, notes + _unseen_notes(anchor, current, significant))


def _clock_notes(anchor: Fingerprint, current: Fingerprint, clock: Optional[_Clock]) -> list[str]:
    """What the windows' timestamps left out of the comparison, if anything."""
    if clock is None:
        seconds_a, seconds_c = anchor.duration(), current.duration()
        return [
            "no usable timestamps in "
            + (
                "both windows"
                if seconds_a is None and seconds_c is None
                else "the anchor"
                if seconds_a is None
                else "the current window"
            )
            + ": volume and hour-of-day were not compared; templates and hosts are compared "
            "by shares, sourcetypes that vanished or appeared by their share of all events"
        ]
    if not clock.daily:
        return [
            "the anchor covers less than a day: rates are compared with its mean rate, "
            "not with the same hours of day"
        ]
    return []


def _unseen_notes(
    anchor: Fingerprint, current: Fingerprint, significant: Sequence[Signal]
) -> list[str]:
    """Sourcetypes absent now that were too quiet to report as gone: said, not signalled."""
    reported = {s.sourcetype for s in significant if s.change == "disappeared"}
    unseen = sorted(
        name
        for name, summary in anchor.sourcetypes.items()
        if summary.count > 0 and name not in current.sourcetypes and name not in reported
    )
    if not unseen:
        return []
    return [
        "not seen in the current window, but too few events were expected to call them "
        "gone: " + ", ".join(unseen)
    ]
