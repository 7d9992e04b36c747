"""Scenario records and a small generator of production-like logs for the eval suite.

A scenario is an anchor window, a current window and the causes planted in
the current one (none for a no-change scenario). Scenario modules
(``eval/scenarios_*.py``) expose ``scenarios(seed, scale) -> list[Scenario]``
and build their windows with the generator below: services (sourcetypes) with
hosts, a daily traffic curve, weighted message templates, log levels and a
latency field. Every number comes from ``random.Random(seed)``, so a seed
gives the same windows everywhere.

The suite is an evaluation, not a unit test: scenarios tell production
stories (night windows, deploys, a bad host, floods, rare new errors) and are
never shaped to what the detector happens to do.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Optional

HOUR = 3600.0
DAY = 86400.0
# Monday 2 March 2026 00:00 UTC: anchors start here; current windows later.
EPOCH = datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp()


@dataclass
class Cause:
    label: str  # e.g. "payments new PaymentGatewayTimeout error"
    # Over one signal or evidence dict of `anchor compare --json` (keys: kind,
    # change, sourcetype, host, field, stat, template, ...).
    match: Callable[[dict], bool]


@dataclass
class Scenario:
    name: str  # e.g. "three_causes/seed3/cur2h"
    anchor: list[dict]  # JSON events: time, host, sourcetype, level, message, fields
    current: list[dict]
    causes: list[Cause]  # empty for a no-change scenario


# -- matching helpers for causes ----------------------------------------------
def signal_is(**wanted) -> Callable[[dict], bool]:
    """A matcher: every given key equals the signal's value (a tuple value means any of)."""

    def match(signal: dict) -> bool:
        for key, value in wanted.items():
            got = signal.get(key)
            if isinstance(value, tuple):
                if got not in value:
                    return False
            elif got != value:
                return False
        return True

    return match


def template_has(text: str, **wanted) -> Callable[[dict], bool]:
    """A matcher: the signal's template (or example) contains ``text`` and the keys match."""
    base = signal_is(**wanted)

    def match(signal: dict) -> bool:
        shown = (signal.get("template") or "") + " " + (signal.get("example") or "")
        return text in shown and base(signal)

    return match


# -- the generator --------------------------------------------------------------
Render = Callable[[random.Random], str]


@dataclass
class Template:
    weight: float
    level: str
    render: Render
    latency_factor: float = 1.0  # this message's latency relative to the service's


@dataclass
class Service:
    sourcetype: str
    hosts: Sequence[str]
    rate: float  # events per hour at the daily peak
    templates: Sequence[Template]
    latency_ms: Optional[float] = None  # median; None: no latency field
    latency_sigma: float = 0.5
    # Relative traffic per hour of day (UTC); None: the shared daily curve.
    hours: Optional[Sequence[float]] = None
    host_weights: Optional[Sequence[float]] = None


def daily_curve(hour: float) -> float:
    """Relative traffic: peak mid-afternoon, about a quarter of it at night."""
    return 0.25 + 0.75 * math.exp(-((hour - 14.0) ** 2) / (2 * 4.5**2))


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 60:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def events_of(
    service: Service,
    start: float,
    hours: float,
    rng: random.Random,
    *,
    latency_scale: float = 1.0,
    rate_scale: float = 1.0,
) -> list[dict]:
    """The service's events from ``start`` for ``hours`` hours (a Poisson process per hour)."""
    out: list[dict] = []
    weights = [t.weight for t in service.templates]
    host_weights = list(service.host_weights) if service.host_weights else None
    end = start + hours * HOUR
    slot = start
    while slot < end:
        slot_end = min(end, (math.floor(slot / HOUR) + 1) * HOUR)
        hour_of_day = (slot % DAY) / HOUR
        shape = service.hours[int(hour_of_day)] if service.hours else daily_curve(hour_of_day)
        mean = service.rate * rate_scale * shape * (slot_end - slot) / HOUR
        for _ in range(poisson(rng, mean)):
            template = rng.choices(service.templates, weights)[0]
            event = {
                "time": round(rng.uniform(slot, slot_end), 3),
                "host": rng.choices(service.hosts, host_weights)[0],
                "sourcetype": service.sourcetype,
                "level": template.level,
                "message": template.render(rng),
            }
            if service.latency_ms is not None:
                median = service.latency_ms * template.latency_factor * latency_scale
                event["latency_ms"] = round(
                    rng.lognormvariate(math.log(median), service.latency_sigma), 1
                )
            out.append(event)
        slot = slot_end
    return out


def window(
    services: Sequence[Service], start: float, hours: float, rng: random.Random, **scales
) -> list[dict]:
    events: list[dict] = []
    for service in services:
        events.extend(events_of(service, start, hours, rng, **scales))
    events.sort(key=lambda e: e["time"])
    return events


def with_hosts(service: Service, hosts: Sequence[str]) -> Service:
    return replace(service, hosts=list(hosts), host_weights=None)


def pods(rng: random.Random, name: str, count: int) -> list[str]:
    """Kubernetes-style pod names: <name>-<replicaset hash>-<5 chars>."""
    letters = "bcdfghjklmnpqrstvwxz2456789"
    replica = "".join(rng.choice(letters) for _ in range(9))
    return [
        f"{name}-{replica}-{''.join(rng.choice(letters) for _ in range(5))}" for _ in range(count)
    ]


# -- message vocabularies ---------------------------------------------------------
def _order(rng: random.Random) -> str:
    return f"ord-{rng.randrange(100000, 999999)}"


def _user(rng: random.Random) -> str:
    return f"u{rng.randrange(1000, 99999)}"


def _path(rng: random.Random) -> str:
    return rng.choice(
        [
            f"/api/v1/orders/{rng.randrange(1, 90000)}",
            f"/api/v1/cart/{_user(rng)}",
            "/api/v1/catalog/search",
            f"/static/app.{rng.choice(['js', 'css'])}",
            "/healthz",
        ]
    )


def fleet(rng: random.Random, size: float = 1.0) -> list[Service]:
    """A small shop: web front, app, checkout, payments, auth, inventory, search, db.

    ``size`` scales every rate. web:access and web:app run on the same four
    VMs; the others are pods.
    """
    web_hosts = [f"web-{n:02d}" for n in range(1, 5)]
    return [
        Service(
            "web:access",
            web_hosts,
            240 * size,
            [
                Template(
                    8, "info", lambda r: f'GET {_path(r)} HTTP/1.1" 200 {r.randrange(200, 9000)}'
                ),
                Template(
                    2,
                    "info",
                    lambda r: f'POST /api/v1/orders HTTP/1.1" 201 {r.randrange(100, 900)}',
                ),
                Template(
                    0.3, "warn", lambda r: f'GET {_path(r)} HTTP/1.1" 404 {r.randrange(100, 300)}'
                ),
                Template(
                    0.05,
                    "error",
                    lambda r: f'POST /api/v1/orders HTTP/1.1" 502 {r.randrange(100, 300)}',
                ),
            ],
            latency_ms=40,
        ),
        Service(
            "web:app",
            web_hosts,
            90 * size,
            [
                Template(
                    5,
                    "info",
                    lambda r: f"rendered page {r.choice(['home', 'cart', 'product', 'account'])} for {_user(r)}",
                ),
                Template(
                    2,
                    "info",
                    lambda r: f"session refreshed user={_user(r)} ttl={r.choice([900, 1800])}",
                ),
                Template(
                    0.4,
                    "warn",
                    lambda r: f"slow template render page={r.choice(['home', 'product'])} took {r.randrange(300, 900)}ms",
                ),
            ],
            latency_ms=25,
        ),
        Service(
            "checkout",
            pods(rng, "checkout", 4),
            120 * size,
            [
                Template(
                    6,
                    "info",
                    lambda r: f"checkout started cart={_user(r)} items={r.randrange(1, 9)}",
                ),
                Template(
                    5,
                    "info",
                    lambda r: f"checkout completed order={_order(r)} total={r.randrange(5, 400)}.{r.randrange(10, 99)}",
                ),
                Template(
                    0.5,
                    "warn",
                    lambda r: f"inventory reservation retried order={_order(r)} attempt=2",
                ),
                Template(
                    0.1, "error", lambda r: f"checkout failed order={_order(r)} reason=cart_expired"
                ),
            ],
            latency_ms=120,
        ),
        Service(
            "payments",
            pods(rng, "payments", 3),
            80 * size,
            [
                Template(
                    6,
                    "info",
                    lambda r: f"charge accepted order={_order(r)} amount={r.randrange(5, 400)}.{r.randrange(10, 99)} currency=EUR",
                ),
                Template(
                    1,
                    "info",
                    lambda r: f"refund issued order={_order(r)} amount={r.randrange(5, 90)}.00",
                ),
                Template(
                    0.6,
                    "warn",
                    lambda r: f"charge retried order={_order(r)} gateway={r.choice(['adyen', 'stripe'])} attempt=2",
                ),
                Template(
                    0.15, "error", lambda r: f"card declined by issuer order={_order(r)} code=05"
                ),
            ],
            latency_ms=180,
            latency_sigma=0.4,
        ),
        Service(
            "auth",
            pods(rng, "auth", 3),
            150 * size,
            [
                Template(
                    7,
                    "info",
                    lambda r: f"login ok user={_user(r)} method={r.choice(['password', 'sso', 'token'])}",
                ),
                Template(4, "info", lambda r: f"token refreshed user={_user(r)}"),
                Template(
                    0.8, "warn", lambda r: f"login failed user={_user(r)} reason=bad_password"
                ),
            ],
            latency_ms=30,
        ),
        Service(
            "inventory",
            pods(rng, "inventory", 3),
            100 * size,
            [
                Template(
                    6,
                    "info",
                    lambda r: f"stock checked sku=SKU-{r.randrange(10000, 99999)} available={r.randrange(0, 500)}",
                ),
                Template(
                    2,
                    "info",
                    lambda r: f"reservation created order={_order(r)} skus={r.randrange(1, 6)}",
                ),
                Template(
                    0.3,
                    "warn",
                    lambda r: f"low stock sku=SKU-{r.randrange(10000, 99999)} available={r.randrange(0, 5)}",
                ),
            ],
            latency_ms=60,
        ),
        Service(
            "search",
            pods(rng, "search", 3),
            110 * size,
            [
                Template(
                    8,
                    "info",
                    lambda r: f"query served q_len={r.randrange(2, 40)} hits={r.randrange(0, 3000)}",
                ),
                Template(
                    0.5,
                    "warn",
                    lambda r: f"query timed out on shard {r.randrange(0, 12)} partial=true",
                ),
            ],
            latency_ms=70,
        ),
        Service(
            "db",
            ["db-primary-1", "db-replica-1", "db-replica-2"],
            130 * size,
            [
                Template(
                    8,
                    "info",
                    lambda r: f"query ok table={r.choice(['orders', 'users', 'carts', 'skus'])} rows={r.randrange(1, 200)}",
                ),
                Template(
                    1, "info", lambda r: f"checkpoint complete wal_segments={r.randrange(1, 30)}"
                ),
                Template(
                    0.3,
                    "warn",
                    lambda r: f"slow query table={r.choice(['orders', 'carts'])} took {r.randrange(500, 3000)}ms",
                ),
            ],
            latency_ms=8,
            latency_sigma=0.7,
        ),
    ]


def nightly_backup(size: float = 1.0) -> Service:
    """A backup job that runs every night from 02:00 to 03:00 UTC."""
    hours = [0.0] * 24
    hours[2] = 1.0
    return Service(
        "backup",
        ["batch-01"],
        400 * size,
        [
            Template(
                8,
                "info",
                lambda r: f"backup chunk {r.randrange(1, 5000)} of table {r.choice(['orders', 'users', 'carts'])} written",
            ),
            Template(1, "info", lambda r: f"backup verified checksum={r.getrandbits(64):016x}"),
        ],
        hours=hours,
    )


@dataclass
class Windows:
    """Where an anchor and a current window sit in time."""

    anchor_start: float
    anchor_hours: float
    current_start: float
    current_hours: float
    label: str = field(default="")


def windows(
    anchor_days: float, current_hours: float, current_hour_of_day: float, label: str = ""
) -> Windows:
    anchor_start = EPOCH
    after = anchor_start + anchor_days * DAY
    # The current window starts at the wanted hour of day on the day after the anchor.
    current_start = math.floor(after / DAY) * DAY + DAY + current_hour_of_day * HOUR
    return Windows(anchor_start, anchor_days * 24.0, current_start, current_hours, label)


def scaled(value: float, scale: float, least: float = 1.0) -> float:
    return max(least, value * scale)


def fleet_size(rng: random.Random, scale: float) -> float:
    """A fleet's size around ``scale``, so seeds differ in load too."""
    return scale * rng.uniform(0.6, 1.4)


def either(*matchers: Callable[[dict], bool]) -> Callable[[dict], bool]:
    return lambda signal: any(m(signal) for m in matchers)


def unchanged(
    rng: random.Random,
    scale: float,
    anchor_days: Sequence[float],
    current_hours: Sequence[float],
    hour_of_day: tuple[float, float],
) -> tuple[Windows, list[dict], list[dict]]:
    """Windows (days, hours and start hour drawn from the choices given) and the anchor and
    current events of one fleet that does not change, drawn from ``rng`` in that order.
    """
    services = fleet(rng, fleet_size(rng, scale))
    at = windows(rng.choice(anchor_days), rng.choice(current_hours), rng.uniform(*hour_of_day))
    return (at, *anchor_and_current(at, rng, services))


def anchor_and_current(
    at: Windows,
    rng: random.Random,
    before: Sequence[Service],
    after: Optional[Sequence[Service]] = None,
) -> tuple[list[dict], list[dict]]:
    """The anchor window's events of ``before``, then the current window's of ``after``
    (the same services unless given).
    """
    anchor = window(before, at.anchor_start, at.anchor_hours, rng)
    current = window(before if after is None else after, at.current_start, at.current_hours, rng)
    return anchor, current
