"""Issue 16's scenarios: incidents an on-call engineer reads as a ranked list.

- three_causes: a payments gateway starts timing out (new error template),
  the database slows down, and one web VM goes silent, all at once.
- night_window: a quiet two hours at night against a week-long anchor that
  contains a nightly backup job (runs every night): no change.
- rolling_deploy: every pod of three services is replaced by a new pod and
  their heartbeat carries a new version string: routine, no incident.
- latency_creep: latency of six services creeps up by half: one cause.
- sourcetype_stops: the search service stops logging (timed, and a variant
  whose exports carry no timestamps).
- no_change: windows of unequal length (45 minutes, 8 hours) with no change.
"""

from __future__ import annotations

import random
from dataclasses import replace

from scenario import (
    Cause,
    Scenario,
    Template,
    anchor_and_current,
    either,
    fleet,
    fleet_size,
    nightly_backup,
    pods,
    signal_is,
    template_has,
    window,
    windows,
)


def three_causes(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    services = fleet(rng, fleet_size(rng, scale))
    at = windows(rng.choice([1, 2, 3]), rng.choice([1.0, 2.0, 3.0]), rng.uniform(9, 15))
    anchor = window(services, at.anchor_start, at.anchor_hours, rng)
    changed = []
    for service in services:
        if service.sourcetype == "payments":
            timeout = Template(
                rng.uniform(1.5, 3.0),
                "error",
                lambda r: f"PaymentGatewayTimeout after {r.choice([3000, 5000])}ms gateway=adyen order=ord-{r.randrange(100000, 999999)}",
                latency_factor=15.0,
            )
            service = replace(service, templates=list(service.templates) + [timeout])
        if service.sourcetype in ("web:access", "web:app"):
            service = replace(service, hosts=[h for h in service.hosts if h != "web-03"])
        changed.append(service)
    current = []
    for service in changed:
        latency = rng.uniform(2.5, 4.0) if service.sourcetype == "db" else 1.0
        current += window([service], at.current_start, at.current_hours, rng, latency_scale=latency)
    current.sort(key=lambda e: e["time"])
    causes = [
        Cause(
            "payments new PaymentGatewayTimeout error",
            either(
                template_has("PaymentGatewayTimeout"),
                signal_is(kind="error_rate", sourcetype="payments", change="up"),
                # The timeouts take seconds: payments' latency rises with them.
                signal_is(kind="metric", sourcetype="payments", field="latency_ms", change="up"),
            ),
        ),
        Cause(
            "db latency up",
            signal_is(kind="metric", sourcetype="db", field="latency_ms", change="up"),
        ),
        Cause(
            "web-03 silent", signal_is(kind="host", host="web-03", change=("disappeared", "down"))
        ),
    ]
    return Scenario(f"three_causes/seed{seed}/cur{at.current_hours:g}h", anchor, current, causes)


def night_window(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    services = fleet(rng, fleet_size(rng, scale)) + [nightly_backup(fleet_size(rng, scale))]
    hours = rng.choice([2.0, 3.0])
    at = windows(7, hours, rng.uniform(0.5, 1.5))
    anchor, current = anchor_and_current(at, rng, services)
    return Scenario(f"night_window/seed{seed}/cur{hours:g}h", anchor, current, [])


def rolling_deploy(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    services = fleet(rng, fleet_size(rng, scale))
    at = windows(rng.choice([1, 2]), rng.choice([1.0, 2.0]), rng.uniform(9, 17))
    old, new = rng.choice([("2.14.1", "2.15.0"), ("1.9.3", "1.10.0")])

    def heartbeat(version: str) -> Template:
        return Template(
            0.5,
            "info",
            lambda r: f"heartbeat ok version={version} uptime={r.randrange(60, 90000)}s",
        )

    before, after = [], []
    for service in services:
        if service.sourcetype in ("checkout", "payments", "auth"):
            name = service.sourcetype
            before.append(replace(service, templates=list(service.templates) + [heartbeat(old)]))
            after.append(
                replace(
                    service,
                    hosts=pods(rng, name, len(service.hosts)),
                    templates=list(service.templates) + [heartbeat(new)],
                )
            )
        else:
            before.append(service)
            after.append(service)
    anchor, current = anchor_and_current(at, rng, before, after)
    return Scenario(f"rolling_deploy/seed{seed}/cur{at.current_hours:g}h", anchor, current, [])


def latency_creep(seed: int, scale: float) -> Scenario:
    rng = random.Random(seed)
    services = fleet(rng, fleet_size(rng, scale))
    at = windows(rng.choice([1, 2, 3]), rng.choice([2.0, 4.0]), rng.uniform(8, 16))
    anchor = window(services, at.anchor_start, at.anchor_hours, rng)
    creeping = {"web:access", "web:app", "checkout", "payments", "auth", "inventory"}
    factor = rng.uniform(1.5, 1.9)
    current = []
    for service in services:
        scale_by = factor if service.sourcetype in creeping else 1.0
        current += window(
            [service], at.current_start, at.current_hours, rng, latency_scale=scale_by
        )
    current.sort(key=lambda e: e["time"])
    cause = Cause(
        "latency creeps up across the fleet",
        signal_is(
            kind="metric",
            field="latency_ms",
            change=("up", "shifted"),
            sourcetype=tuple(sorted(creeping)),
        ),
    )
    return Scenario(f"latency_creep/seed{seed}/cur{at.current_hours:g}h", anchor, current, [cause])


def sourcetype_stops(seed: int, scale: float, timed: bool) -> Scenario:
    rng = random.Random(seed)
    services = fleet(rng, fleet_size(rng, scale))
    at = windows(rng.choice([1, 2]), rng.choice([1.0, 2.0]), rng.uniform(8, 18))
    anchor = window(services, at.anchor_start, at.anchor_hours, rng)
    current = window(
        [s for s in services if s.sourcetype != "search"], at.current_start, at.current_hours, rng
    )
    if not timed:
        for event in anchor + current:
            del event["time"]
    cause = Cause("search stopped logging", signal_is(sourcetype="search", change="disappeared"))
    name = "sourcetype_stops" if timed else "sourcetype_stops_untimed"
    return Scenario(f"{name}/seed{seed}/cur{at.current_hours:g}h", anchor, current, [cause])


def no_change(seed: int, scale: float, hours: float) -> Scenario:
    rng = random.Random(seed)
    services = fleet(rng, fleet_size(rng, scale))
    at = windows(rng.choice([1, 2, 3]), hours, rng.uniform(0, 24 - hours))
    anchor, current = anchor_and_current(at, rng, services)
    return Scenario(f"no_change/seed{seed}/cur{hours:g}h", anchor, current, [])


def scenarios(seed: int, scale: float) -> list[Scenario]:
    # Each story gets its own seed so adding one never changes another's windows.
    return [
        three_causes(seed * 100 + 1, scale),
        night_window(seed * 100 + 2, scale),
        rolling_deploy(seed * 100 + 3, scale),
        latency_creep(seed * 100 + 4, scale),
        sourcetype_stops(seed * 100 + 5, scale, timed=True),
        sourcetype_stops(seed * 100 + 6, scale, timed=False),
        no_change(seed * 100 + 7, scale, 0.75),
        no_change(seed * 100 + 8, scale, 8.0),
    ]
