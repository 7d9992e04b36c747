"""Realistic generated logs for the demo, the tests and the benchmarks.

Several services with templated messages and variable parts, levels, a
latency field, a daily traffic cycle and several hosts each. Scenarios:

- ``healthy``: the steady state.
- ``incident``: payments starts failing with a new ``PaymentGatewayTimeout``
  error (about a third of its events), payments latency triples, checkout
  sees more errors, and host ``inventory-3`` goes quiet.

Everything is driven by one seeded ``random.Random``: the same arguments give
the same events on every Python.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Callable

HOUR = 3600.0

Maker = Callable[[random.Random], tuple[str, str]]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _user(rng: random.Random) -> str:
    return f"u{rng.randint(1000, 99999)}"


# Each service: events per hour, hosts, latency (median ms, spread), and
# weighted message makers returning (level, message).
SERVICES: dict[str, dict[str, Any]] = {
    "checkout": {
        "rate": 900.0,
        "hosts": ["checkout-1", "checkout-2", "checkout-3", "checkout-4"],
        "latency": (80.0, 0.45),
        "messages": [
            (
                40,
                lambda r: (
                    "info",
                    f"order {_uuid(r)} placed items={r.randint(1, 9)} total={r.uniform(5, 400):.2f}",
                ),
            ),
            (30, lambda r: ("info", f"cart updated user={_user(r)} items={r.randint(1, 12)}")),
            (
                20,
                lambda r: (
                    "info",
                    f"GET /api/cart/{r.randint(1, 10**6)} 200 in {r.randint(3, 90)}ms",
                ),
            ),
            (
                6,
                lambda r: (
                    "warn",
                    f"retrying inventory lookup sku=SKU-{r.randint(100, 999)} attempt={r.randint(1, 3)}",
                ),
            ),
            (
                1,
                lambda r: (
                    "error",
                    f"inventory lookup failed sku=SKU-{r.randint(100, 999)} after {r.randint(1, 3)} attempts",
                ),
            ),
        ],
    },
    "payments": {
        "rate": 400.0,
        "hosts": ["payments-1", "payments-2", "payments-3"],
        "latency": (120.0, 0.35),
        "messages": [
            (
                50,
                lambda r: (
                    "info",
                    f"charge created id=ch_{r.getrandbits(40):010x} amount={r.randint(100, 50000)} currency=USD",
                ),
            ),
            (
                30,
                lambda r: (
                    "info",
                    f"charge captured id=ch_{r.getrandbits(40):010x} gateway={r.choice(['stripe', 'adyen'])}",
                ),
            ),
            (
                15,
                lambda r: (
                    "info",
                    f"refund issued id=re_{r.getrandbits(40):010x} amount={r.randint(100, 5000)}",
                ),
            ),
            (
                2,
                lambda r: (
                    "warn",
                    f"card declined code={r.choice(['insufficient_funds', 'expired_card'])} user={_user(r)}",
                ),
            ),
        ],
    },
    "auth": {
        "rate": 300.0,
        "hosts": ["auth-1", "auth-2"],
        "latency": (25.0, 0.3),
        "messages": [
            (
                60,
                lambda r: (
                    "info",
                    f"user login succeeded user={_user(r)} method={r.choice(['password', 'sso'])}",
                ),
            ),
            (30, lambda r: ("info", f"token refreshed user={_user(r)} ttl=3600")),
            (8, lambda r: ("warn", f"login failed user={_user(r)} reason=bad_password")),
        ],
    },
    "inventory": {
        "rate": 300.0,
        "hosts": ["inventory-1", "inventory-2", "inventory-3"],
        "latency": (40.0, 0.4),
        "messages": [
            (
                70,
                lambda r: (
                    "info",
                    f"stock level sku=SKU-{r.randint(100, 999)} on_hand={r.randint(0, 500)}",
                ),
            ),
            (25, lambda r: ("info", f"reservation {_uuid(r)} held for order {_uuid(r)}")),
            (
                3,
                lambda r: (
                    "warn",
                    f"low stock sku=SKU-{r.randint(100, 999)} on_hand={r.randint(0, 5)}",
                ),
            ),
        ],
    },
}

_TIMEOUT: Maker = lambda r: (  # noqa: E731
    "error",
    f"PaymentGatewayTimeout after {r.randint(3000, 9000)}ms gateway={r.choice(['stripe', 'adyen'])}",
)
_CHECKOUT_FAIL: Maker = lambda r: (  # noqa: E731
    "error",
    f"payment failed for order {_uuid(r)}: upstream timeout",
)


def diurnal(hour_of_day: float, amplitude: float) -> float:
    """Traffic multiplier over a day: quiet at night, busy in the afternoon."""
    return 1.0 + amplitude * math.sin((hour_of_day - 9.0) / 24.0 * 2.0 * math.pi)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def _pick(rng: random.Random, weighted: list[tuple[float, Maker]]) -> tuple[str, str]:
    total = sum(w for w, _ in weighted)
    roll = rng.random() * total
    for weight, maker in weighted:
        roll -= weight
        if roll <= 0:
            return maker(rng)
    return weighted[-1][1](rng)


def generate(
    start: float,
    hours: float,
    *,
    scenario: str = "healthy",
    seed: int = 0,
    amplitude: float = 0.25,
    rate_scale: float = 1.0,
    services: Any = None,
) -> Iterator[dict[str, Any]]:
    """Events as JSON-ready dicts, in time order, minute by minute."""
    if scenario not in ("healthy", "incident"):
        raise ValueError(f"unknown scenario {scenario!r}")
    rng = random.Random(seed)
    chosen = {name: SERVICES[name] for name in (services or SERVICES)}
    minutes = round(hours * 60)
    for minute in range(minutes):
        minute_start = start + minute * 60.0
        hour_of_day = (minute_start / HOUR) % 24
        batch = []
        for name, service in chosen.items():
            messages = list(service["messages"])
            median, spread = service["latency"]
            hosts = list(service["hosts"])
            if scenario == "incident":
                if name == "payments":
                    messages.append((sum(w for w, _ in messages) / 2, _TIMEOUT))
                    median *= 3.0
                if name == "checkout":
                    messages.append((6, _CHECKOUT_FAIL))
                if name == "inventory":
                    hosts.remove("inventory-3")
            mean = service["rate"] * rate_scale * diurnal(hour_of_day, amplitude) / 60.0
            if name == "inventory" and scenario == "incident":
                mean *= len(hosts) / len(service["hosts"])
            for _ in range(_poisson(rng, mean)):
                level, message = _pick(rng, messages)
                latency = median * math.exp(rng.gauss(0.0, spread))
                if level == "error" and name == "payments":
                    latency = float(message.split("after ", 1)[1].split("ms", 1)[0])
                batch.append(
                    {
                        "_time": minute_start + rng.random() * 60.0,
                        "host": rng.choice(hosts),
                        "sourcetype": name,
                        "level": level.upper(),
                        "message": message,
                        "latency_ms": round(latency, 1),
                    }
                )
        batch.sort(key=lambda e: e["_time"])
        for event in batch:
            event["_time"] = iso(event["_time"])
            yield event


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )


def write_jsonl(path: str, events: Iterator[dict[str, Any]]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")
            count += 1
    return count
