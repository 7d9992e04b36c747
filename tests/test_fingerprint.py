"""Fingerprints: mergeable in any split, bounded in size, versioned."""

from __future__ import annotations

import functools
import json
import random

import pytest
from conftest import T0, assert_same_fingerprint, examples
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from anchor.diff import compare_fingerprints
from anchor.events import event_from_record
from anchor.fingerprint import (
    KEEP_METRIC_HOSTS,
    KEEP_VALUES,
    SCHEMA_VERSION,
    TRACK_HOST_SKETCHES,
    TRACK_TEMPLATES,
    TRACK_VALUES,
    Fingerprint,
    FingerprintError,
    MetricSummary,
    _settle,
    fingerprint_events,
)
from anchor.sketch import QuantileSketch
from anchor.synthetic import generate

# One xdist worker runs this module (make test: --dist loadgroup), so the windows below
# are made once per run, on first use (not at import: every worker imports every module).
pytestmark = pytest.mark.xdist_group("fingerprint")


@functools.cache
def anchor() -> Fingerprint:
    events = [event_from_record(r) for r in generate(T0, 30, seed=11, rate_scale=0.2)]
    return fingerprint_events(events).trim()


@functools.cache
def current_events() -> list:
    return [
        event_from_record(r)
        for r in generate(T0 + 2 * 86400, 3, scenario="incident", seed=12, rate_scale=0.2)
    ]


def canonical(fingerprint: Fingerprint) -> str:
    return json.dumps(fingerprint.to_dict(), sort_keys=True)


def compare_rows(current: Fingerprint) -> list[dict]:
    return [s.to_dict() for s in compare_fingerprints(anchor(), current).signals]


@functools.cache
def single_pass() -> list:
    return compare_rows(fingerprint_events(current_events()))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=10**6),
)
def test_split_fingerprint_and_merge_gives_the_same_compare_result(parts, seed):
    rng = random.Random(seed)
    buckets = [[] for _ in range(parts)]
    for event in current_events():
        buckets[rng.randrange(parts)].append(event)
    partials = [fingerprint_events(bucket) for bucket in buckets]
    rng.shuffle(partials)
    merged = Fingerprint()
    for partial in partials:
        # Each partial travels serialized, as an indexer's map output does.
        merged.merge(Fingerprint.from_dict(json.loads(json.dumps(partial.to_dict()))))
    assert compare_rows(merged) == single_pass()
    single = fingerprint_events(current_events())
    for name, summary in single.sourcetypes.items():
        other = merged.sourcetypes[name]
        assert summary.count == other.count
        assert summary.templates == other.templates  # counts, template text and example
        assert summary.hosts == other.hosts
        for metric, stats in summary.metrics.items():
            assert stats.sketch.to_dict() == other.metrics[metric].sketch.to_dict()
        assert canonical_part(summary.host_metrics) == canonical_part(other.host_metrics)


def canonical_part(host_metrics) -> str:
    # settled: sums may differ in their last bits by merge order
    return json.dumps(
        _settle({h: {n: m.to_dict() for n, m in ms.items()} for h, ms in host_metrics.items()}),
        sort_keys=True,
    )


def field_events(count: int, seed: int, distinct_users: int) -> list:
    """Events with category fields (a status code, a region, a user) and a latency."""
    rng = random.Random(seed)
    return [
        event_from_record(
            {
                "_time": T0 + i,
                "host": f"web-{rng.randrange(5)}",
                "message": "GET /checkout done",
                "status": rng.choice([200, 200, 200, 404, 500]),
                "region": rng.choice(["eu", "us", "ap"]),
                "user": f"u{rng.randrange(distinct_users)}",
                "build": 8812,
                "latency_ms": rng.expovariate(0.01),
            }
        )
        for i in range(count)
    ]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.integers(min_value=1, max_value=5),
    seed=st.integers(min_value=0, max_value=10**6),
    distinct_users=st.sampled_from([3, TRACK_VALUES // 4, TRACK_VALUES * 4]),
)
# (a split whose latency sum differs in its last bits right at a 12-digit rounding boundary)
@example(parts=2, seed=8888, distinct_users=3)
def test_category_fields_and_host_metrics_merge_exactly_in_any_split(parts, seed, distinct_users):
    events = field_events(1200, seed % 97, distinct_users)
    rng = random.Random(seed)
    buckets = [[] for _ in range(parts)]
    for event in events:
        buckets[rng.randrange(parts)].append(event)
    merged = Fingerprint()
    for bucket in buckets:
        partial = fingerprint_events(bucket)
        merged.merge(Fingerprint.from_dict(json.loads(json.dumps(partial.to_dict()))))
    single = fingerprint_events(events)
    assert_same_fingerprint(merged, single)
    summary = single.sourcetypes["default"]
    assert set(summary.fields) == {"status", "region", "user"}  # build is an identifier
    assert summary.fields["status"].values.keys() <= {"200", "404", "500"}
    assert summary.fields["user"].overflow == (distinct_users > TRACK_VALUES)
    assert "build" not in summary.metrics and "latency_ms" in summary.metrics
    assert len(summary.host_metrics) == 5


def test_category_values_and_host_sketches_are_bounded_for_storage():
    events = field_events(2000, 1, 100)
    events += [e._replace(host=f"extra-{i}") for i, e in enumerate(field_events(40, 2, 3))]
    fingerprint = fingerprint_events(events)
    summary = fingerprint.sourcetypes["default"]
    assert len(summary.fields["user"].values) == 100
    fingerprint.trim()
    assert len(summary.fields["user"].values) == KEEP_VALUES
    assert summary.fields["user"].other > 0 and summary.fields["user"].distinct == 100
    # the busiest hosts keep their sketches, the 40 one-event hosts do not
    assert len(summary.host_metrics) == KEEP_METRIC_HOSTS
    assert {f"web-{i}" for i in range(5)} <= set(summary.host_metrics)
    again = Fingerprint.from_dict(json.loads(canonical(fingerprint)))
    assert canonical(again) == canonical(fingerprint)


def test_too_many_host_sketches_turn_per_host_tracking_off_whatever_the_split():
    events = [
        event_from_record({"_time": T0 + i, "host": f"h{i}", "message": "m", "latency_ms": i})
        for i in range(TRACK_HOST_SKETCHES + 1)
    ]
    single = fingerprint_events(events).sourcetypes["default"]
    assert single.host_metrics_overflow and not single.host_metrics
    halves = fingerprint_events(events[::2]).merge(fingerprint_events(events[1::2]))
    assert_same_fingerprint(halves, fingerprint_events(events))
    below = fingerprint_events(events[:-1]).sourcetypes["default"]
    assert not below.host_metrics_overflow and len(below.host_metrics) == TRACK_HOST_SKETCHES


def test_fingerprints_stored_before_fields_existed_still_load():
    data = anchor().to_dict()
    for summary in data["sourcetypes"].values():
        for key in ("fields", "host_metrics", "host_metrics_overflow"):
            del summary[key]
    loaded = Fingerprint.from_dict(data)
    assert all(not s.fields and not s.host_metrics for s in loaded.sourcetypes.values())


def test_the_incident_is_visible_in_the_merged_result_too():
    kinds = {(s["kind"], s["change"]) for s in single_pass()}
    assert ("template", "appeared") in kinds and ("error_rate", "up") in kinds


def test_memory_is_bounded_by_tracking_limits_not_event_count():
    def unique_messages(n):
        for i in range(n):
            word = "".join(chr(97 + int(d)) for d in str(i))  # letters only: a constant per line
            yield event_from_record(
                {"_time": T0 + i, "host": "h", "message": f"event {word} happened"}
            )

    fingerprint = fingerprint_events(unique_messages(TRACK_TEMPLATES * 2 + 50))
    summary = fingerprint.sourcetypes["default"]
    assert len(summary.templates) <= TRACK_TEMPLATES
    assert summary.template_floor >= 1
    fingerprint.trim(keep_templates=100)
    assert len(summary.templates) == 100
    assert len(canonical(fingerprint)) < 200_000


def test_serialization_round_trip_is_exact():
    again = Fingerprint.from_dict(json.loads(canonical(anchor())))
    assert canonical(again) == canonical(anchor())


@pytest.mark.parametrize("version", [None, 0, SCHEMA_VERSION + 1, "1"])
def test_unknown_schema_version_is_a_clear_error(version):
    data = anchor().to_dict()
    data["schema_version"] = version
    with pytest.raises(FingerprintError, match="schema version"):
        Fingerprint.from_dict(data)


def test_malformed_fingerprint_is_a_clear_error():
    data = anchor().to_dict()
    del next(iter(data["sourcetypes"].values()))["hours"]
    with pytest.raises(FingerprintError, match="malformed"):
        Fingerprint.from_dict(data)


def test_weights_from_tstats_count_field_count_as_events():
    rows = [
        {"_time": T0 + i * 3600, "host": "h", "sourcetype": "web", "count": "250"}
        for i in range(10)
    ]
    fingerprint = fingerprint_events(event_from_record(r) for r in rows)
    assert fingerprint.sourcetypes["web"].count == 2500
    assert sum(fingerprint.sourcetypes["web"].hours) == 2500


@pytest.mark.fuzz
@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(
                st.floats(-1e6, 1e6, allow_nan=False),
                st.sampled_from([0.0, -0.0, 1e-12, 5.0, -5.0]),
                st.floats(1e-3, 1e12),
            ),
            # (1e16: where adding 1.0 n times and adding n differ)
            st.sampled_from([1.0, 1.0, 1.0, 0.3, 2.0, 1e16]),
        ),
        max_size=700,  # past PENDING_VALUES, so that the queue settles on its own too
    )
)
def test_queued_metric_values_give_what_adding_one_by_one_gives(values):
    """A summary holds weight-1 values back (see MetricSummary); the result must be the
    one ``count += w; total += v * w; ...; sketch.add(v, w)`` per value gives, with
    fractional weights between them and a sketch small enough to collapse."""
    queued = MetricSummary(QuantileSketch(0.02, 8))
    sketch = QuantileSketch(0.02, 8)
    count = total = total_sq = 0.0
    low = high = None
    for value, weight in values:
        queued.add(value, weight)
        count += weight
        total += value * weight
        total_sq += value * value * weight
        low = value if low is None or value < low else low
        high = value if high is None or value > high else high
        sketch.add(value, weight)
    expected = {"count": count, "sum": total, "sum_sq": total_sq, "min": low, "max": high}
    # (repr: == cannot tell 0.0 from -0.0)
    assert repr(queued.to_dict()) == repr({**expected, "sketch": sketch.to_dict()})


def test_the_remembered_record_layout_never_answers_for_another():
    """event_from_record reuses the last layout's plan (see events._plan): records of
    other layouts, an empty record and other field choices in between must each be
    read as on their own."""
    from anchor.events import _plans, field_choice

    records = [
        {"_time": "2025-11-24T00:00:01Z", "message": "a", "latency_ms": 5.0, "region": "eu"},
        {},
        {"message": "b", "status": 500},
        {"_time": "2025-11-24T00:00:01Z", "message": "a", "latency_ms": 5.0, "region": "eu"},
        {"message": "b", "status": 500},
    ]
    choices = [field_choice([], []), field_choice(["latency_ms"], ["region"])]
    # each record under both choices in turn: the same layout twice, with another choice
    together = [event_from_record(r, fields=c) for r in records for c in choices]
    alone = []
    for record in records:
        for choice in choices:
            _plans.clear()
            event_from_record({"other": 1})  # another layout remembered in between
            alone.append(event_from_record(record, fields=choice))
    assert together == alone
    assert together[2].message == "" and together[4].values == {"status": "500"}
    assert together[0].values != together[1].values  # the choices do differ
