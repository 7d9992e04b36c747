"""Anchor over splunkd's chunked protocol, measured against the protocol's floor, in one run.

    PYTHONPATH=lib python bench/protocol.py [--quick]

1. Protocol floor: the map phase of bin/anchorcapture.py and a do-nothing
   streaming command on the same splunklib (tools/passthrough_command.py),
   each fed the same generated events through tools/chunked.py in chunks of
   50,000; events per second and peak RSS of each process.
2. Scale-out: the map phase on 1, 2, 4 and 8 simulated indexers (separate
   processes, disjoint event sets, run concurrently) plus one reduce; the
   rows must equal the single-node run; wall time of the map phase.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "tools"))

from chunked import preop_args, run_command  # noqa: E402

from anchor.events import parse_time  # noqa: E402
from anchor.synthetic import generate  # noqa: E402

T0 = 1_763_942_400.0


def splunk_events(count: int) -> list[dict]:
    events = []
    for record in generate(T0, count / 2100.0 + 1, seed=11):
        events.append({"_time": f"{parse_time(record['_time']):.3f}", "host": record["host"],
                       "sourcetype": record["sourcetype"], "latency_ms": str(record["latency_ms"]),
                       "_raw": json.dumps({"level": record["level"], "message": record["message"]})})  # fmt: skip
        if len(events) == count:
            break
    return events


def child_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def timed_run(script: str, args: list[str], events: list[dict], env: dict) -> tuple[float, object]:
    start = time.perf_counter()
    result = run_command(script, args, events, env=env, chunk_size=50_000)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{script} failed: {result.stderr[-2000:]}")
    return elapsed, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 20_000 if args.quick else 200_000
    env = {"ANCHOR_STORE": "sqlite::memory:"}
    events = splunk_events(count)
    print(f"1. protocol floor, {len(events):,} events in chunks of 50,000", flush=True)
    floor_s, _ = timed_run(str(ROOT / "tools" / "passthrough_command.py"), [], events, env)
    floor_rss = child_peak_rss_mb()
    map_s, _ = timed_run("anchorcapture", ["name=bench", "phase=map"], events, env)
    print(
        f"   pass-through: {len(events) / floor_s:,.0f} events/s (peak RSS of children so far {floor_rss:.0f} MB)"
    )
    print(
        f"   anchorcapture map phase: {len(events) / map_s:,.0f} events/s "
        f"(peak RSS of children so far {child_peak_rss_mb():.0f} MB)"
    )
    print(f"   ratio: {floor_s / map_s:.2f} of the pass-through's rate")
    print("2. scale-out of the map phase", flush=True)
    probe = run_command("anchorcapture", ["name=bench"], None, env=env)
    map_args = preop_args(probe.getinfo, "anchorcapture")
    reference = None
    for indexers in (1, 2, 4, 8):
        parts = [events[i::indexers] for i in range(indexers)]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=indexers) as pool:
            outputs = list(pool.map(lambda part: run_command("anchorcapture", map_args, part, env=env,
                                                              chunk_size=50_000), parts))  # fmt: skip
        wall = time.perf_counter() - start
        partials = [row for out in outputs for row in out.records]
        reduced = run_command("anchorcapture", ["name=bench"], partials, env=env)
        rows = reduced.records
        reference = reference or rows
        same = "identical" if rows == reference else "DIFFERENT"
        print(f"   {indexers} indexer(s): map wall {wall:.2f} s, result {same} to 1 indexer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
