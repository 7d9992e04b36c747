"""Issue 17's scenarios: changes an on-call engineer expects to be caught beyond templates.

- rare_fatal: a handful (5 to 10) of brand-new FATAL lines in the database's
  log, against an anchor window exactly as long as the current one.
- status_shift: the API gateway's share of 5xx status codes jumps from about
  half a percent to several percent; its messages and levels do not change
  (the status is a field, as in any parsed access log).
- slow_host: one search pod of eight (a busy tier) serves about three
  times slower; the other seven do not change.
- build_bump: a release: every event's build number, version and image tag
  change, nothing else does (no change to report).
- unique_word_burst: a burst of lines that differ by one unique word each
  (a cache key made of letters, standing alone rather than as key=value),
  so no two lines share a template unless templates generalize such words;
  the burst's volume rise (the sourcetype's or its pod's) counts as finding
  it too.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from scenario import (
    DAY,
    EPOCH,
    HOUR,
    Cause,
    Scenario,
    Service,
    Template,
    Windows,
    anchor_and_current,
    either,
    fleet,
    fleet_size,
    pods,
    signal_is,
    template_has,
    unchanged,
    windows,
)


def _equal_windows(rng: random.Random, hours: float) -> Windows:
    """An anchor and a current window of the same length, a day apart, same hours of day."""
    start = EPOCH + rng.randrange(0, 3) * DAY + rng.uniform(8, 14) * HOUR
    return Windows(start, hours, start + DAY, hours, f"equal{hours:g}h")


def rare_fatal(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    services = fleet(rng, fleet_size(rng, scale))
    hours = rng.choice([1.0, 2.0, 4.0])
    at = _equal_windows(rng, hours)
    anchor, current = anchor_and_current(at, rng, services)
    lines = rng.randint(5, 10)
    segment = f"{rng.randrange(0x10000000, 0xFFFFFFFF):08X}"
    for _ in range(lines):
        current.append(
            {
                "time": round(rng.uniform(at.current_start, at.current_start + hours * HOUR), 3),
                "host": "db-primary-1",
                "sourcetype": "db",
                "level": "fatal",
                "message": f"could not write to file pg_wal/0000000100000000{segment}: "
                "No space left on device",
            }
        )
    current.sort(key=lambda e: e["time"])
    causes = [Cause("db new FATAL 'No space left on device'", template_has("No space left"))]
    return Scenario(f"rare_fatal/seed{seed}/{lines}lines/{hours:g}h", anchor, current, causes)


def _gateway(rng: random.Random, size: float) -> Service:
    return Service(
        "gateway",
        pods(rng, "gateway", 4),
        300 * size,
        [
            Template(6, "info", lambda r: "request proxied route=/api/v1/orders upstream=checkout"),
            Template(3, "info", lambda r: "request proxied route=/api/v1/cart upstream=checkout"),
            Template(4, "info", lambda r: "request proxied route=/api/v1/search upstream=search"),
            Template(2, "info", lambda r: "request proxied route=/api/v1/login upstream=auth"),
        ],
        latency_ms=35,
    )


def _statuses(events: list, rng: random.Random, error_share: float) -> None:
    """Give every gateway event a status (and a request id): mostly 2xx, some 4xx, a few 5xx."""
    for event in events:
        if event["sourcetype"] != "gateway":
            continue
        roll = rng.random()
        if roll < error_share:
            status = rng.choice([500, 502, 503, 503, 504])
        elif roll < error_share + 0.04:
            status = rng.choice([400, 401, 404, 404, 429])
        else:
            status = rng.choice([200, 200, 200, 201, 204, 304])
        event["status"] = status
        event["request_id"] = f"{rng.getrandbits(64):016x}"


def status_shift(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    size = fleet_size(rng, scale)
    services = fleet(rng, size) + [_gateway(rng, size)]
    at = windows(rng.choice([1, 2]), rng.choice([1.0, 2.0, 3.0]), rng.uniform(9, 16))
    anchor, current = anchor_and_current(at, rng, services)
    _statuses(anchor, rng, rng.uniform(0.003, 0.008))
    _statuses(current, rng, rng.uniform(0.05, 0.10))
    causes = [Cause("gateway 5xx share up", signal_is(kind="field", field="status"))]
    return Scenario(f"status_shift/seed{seed}/cur{at.current_hours:g}h", anchor, current, causes)


def slow_host(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    size = fleet_size(rng, scale)
    # A busy search tier: eight pods serving some 100 queries an hour each.
    services = [
        replace(s, hosts=pods(rng, "search", 8), rate=800 * size) if s.sourcetype == "search" else s
        for s in fleet(rng, size)
    ]
    search = next(s for s in services if s.sourcetype == "search")
    bad = rng.choice(list(search.hosts))
    factor = rng.uniform(2.5, 3.5)
    at = windows(rng.choice([1, 2]), rng.choice([1.0, 2.0, 3.0]), rng.uniform(9, 16))
    anchor, current = anchor_and_current(at, rng, services)
    for event in current:
        if event["host"] == bad and "latency_ms" in event:
            event["latency_ms"] = round(event["latency_ms"] * factor, 1)
    causes = [
        Cause(
            f"search pod {bad} slower",
            signal_is(kind="metric", sourcetype="search", host=bad, field="latency_ms"),
        )
    ]
    return Scenario(f"slow_host/seed{seed}/cur{at.current_hours:g}h", anchor, current, causes)


def _release(events: list, build: int, version: str, rng: random.Random) -> None:
    for event in events:
        event["build"] = build
        event["version"] = version
        event["image"] = f"registry.local/{event['sourcetype'].split(':')[0]}:{version}"
        event["port"] = rng.choice([8080, 8443])


def build_bump(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    at, anchor, current = unchanged(rng, scale, [1, 2], [1.0, 2.0], (9, 16))
    build = rng.randrange(4000, 9000)
    minor = rng.randrange(1, 30)
    _release(anchor, build, f"3.{minor}.0", rng)
    _release(current, build + rng.randrange(1, 40), f"3.{minor + 1}.0", rng)
    return Scenario(f"build_bump/seed{seed}/cur{at.current_hours:g}h", anchor, current, [])


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(6, 10)))


def unique_word_burst(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    at, anchor, current = unchanged(rng, scale, [1, 2], [1.0, 2.0], (9, 16))
    lines = round(rng.uniform(120, 300) * max(scale, 0.25))
    start = at.current_start + rng.uniform(0.1, 0.5) * at.current_hours * HOUR
    pod = rng.choice(sorted({e["host"] for e in current if e["sourcetype"] == "inventory"}))
    for _ in range(lines):
        current.append(
            {
                "time": round(start + rng.expovariate(1 / 120.0), 3),
                "host": pod,
                "sourcetype": "inventory",
                "level": "warn",
                "message": f"evicting cold cache entry {_word(rng)} before use",
            }
        )
    current.sort(key=lambda e: e["time"])
    causes = [
        Cause(
            "inventory burst of cache evictions",
            either(
                template_has("before use"),
                signal_is(kind="volume", sourcetype="inventory", change="up"),
                # the pod that logged the burst got louder: the same cause
                signal_is(kind="host", sourcetype="inventory", host=pod, change="up"),
            ),
        )
    ]
    name = f"unique_word_burst/seed{seed}/{lines}lines/cur{at.current_hours:g}h"
    return Scenario(name, anchor, current, causes)


def scenarios(seed: int, scale: float) -> list[Scenario]:
    # Each story gets its own seed so adding one never changes another's windows.
    return [
        rare_fatal(seed * 100 + 51, scale),
        status_shift(seed * 100 + 52, scale),
        slow_host(seed * 100 + 53, scale),
        build_bump(seed * 100 + 54, scale),
        unique_word_burst(seed * 100 + 55, scale),
    ]


if __name__ == "__main__":  # a quick look at sizes
    for s in scenarios(1, 1.0):
        print(s.name, len(s.anchor), len(s.current), math.fsum(1 for _ in s.causes))
