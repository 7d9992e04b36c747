"""Anchor over splunkd's chunked protocol, measured against the protocol's floor, in one run.

    PYTHONPATH=lib python bench/protocol.py [--quick]

1. Protocol floor: the map phase of bin/anchorcapture.py and a do-nothing
   streaming command on the same splunklib (tools/passthrough_command.py),
   each fed the same generated events through tools/chunked.py in chunks of
   50,000: narrow events (5 fields) and wide ones (60 fields, as index-time
   plus search-time extractions leave them). The map phase runs with
   ``metrics=latency_ms fields=status`` (it declares required_fields, so the emulator sends
   it only those, as splunkd would) and without (metrics discovered: every
   field is sent). Each command runs from a fresh helper process, so the helper's
   child rusage is that command's alone: its CPU time (user + system, the
   command's own cost; the emulator's encoding is excluded), wall time,
   and peak RSS.
2. Scale-out: the map phase on 1, 2, 4 and 8 simulated indexers (separate
   processes, disjoint event sets, run concurrently) plus one reduce; the
   rows must equal the single-node run; wall time of the map phase and the
   speed-up against one indexer (bounded by the machine's cores).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "tools"))

from chunked import preop_args, run_command, widen  # noqa: E402

from anchor.events import parse_time  # noqa: E402
from anchor.synthetic import generate  # noqa: E402

T0 = 1_763_942_400.0


def splunk_events(count: int) -> list[dict]:
    events = []
    for record in generate(T0, count / 2100.0 + 1, seed=11):
        events.append(
            {
                "_time": f"{parse_time(record['_time']):.3f}",
                "host": record["host"],
                "sourcetype": record["sourcetype"],
                "latency_ms": str(record["latency_ms"]),
                "_raw": json.dumps({"level": record["level"], "message": record["message"]}),
            }
        )
        if len(events) == count:
            break
    return events


def _measure(
    script: str, args: list[str], count: int, env: dict, width: int, make_events, queue
) -> None:
    """In a fresh process: run one command over ``count`` events, report its own usage."""
    events = make_events(count)
    if width:
        events = widen(events, width)
    with tempfile.TemporaryDirectory() as folder:
        rss_file = os.path.join(folder, "rss")
        start = time.perf_counter()
        result = run_command(
            script,
            args,
            events,
            env={**env, "ANCHOR_RSS_FILE": rss_file},
            chunk_size=50_000,
            wrapper=str(ROOT / "tools" / "rss_probe.py"),
        )
        wall = time.perf_counter() - start
        with open(rss_file, encoding="ascii") as handle:
            rss_mb = int(handle.read()) / 1024.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    errors = [text for level, text in result.messages if level == "ERROR"]
    queue.put(
        {
            "ok": result.returncode == 0 and not errors,
            "stderr": result.stderr[-2000:],
            "errors": errors,
            "wall": wall,
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": rss_mb,
            "events": len(events),
            "partials": len(result.records),
        }
    )


def measure(
    script: str,
    args: list[str],
    count: int,
    env: dict,
    width: int = 0,
    make_events=splunk_events,
) -> dict:
    """One command over ``make_events(count)`` (widened to ``width`` fields), measured
    from a fresh helper process (also bench/split.py's measuring loop)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    helper = context.Process(
        target=_measure, args=(script, args, count, env, width, make_events, queue)
    )
    helper.start()
    outcome = queue.get()
    helper.join()
    if not outcome["ok"]:
        raise SystemExit(f"{script} failed: {outcome['errors']} {outcome['stderr']}")
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 20_000 if args.quick else 200_000
    env = {"ANCHOR_STORE": "sqlite::memory:"}
    passthrough = str(ROOT / "tools" / "passthrough_command.py")
    capture = ["name=bench", "phase=map"]
    declared: dict[str, float] = {}
    for width, label in ((0, "narrow events (5 fields)"), (60, "wide events (60 fields)")):
        print(f"1. protocol floor, {label}, {count:,} events in chunks of 50,000", flush=True)
        floor = measure(passthrough, [], count, env, width)
        runs = [
            ("pass-through", floor),
            (
                "anchorcapture map, metrics= and fields= (required_fields declared)",
                measure(
                    "anchorcapture",
                    [*capture, "metrics=latency_ms", "fields=status"],
                    count,
                    env,
                    width,
                ),
            ),
            (
                "anchorcapture map, metrics discovered (every field sent)",
                measure("anchorcapture", capture, count, env, width),
            ),
        ]
        for name, run in runs:
            print(
                f"   {name}: {run['events'] / run['cpu']:,.0f} events per CPU-second, "
                f"{run['events'] / run['wall']:,.0f} events/s wall, peak RSS {run['rss_mb']:.0f} MB"
            )
        declared["wide" if width else "narrow"] = floor["cpu"] / runs[1][1]["cpu"]
        for name, ours in runs[1:]:
            print(
                f"   ratio, {name.split(', ', 1)[1]}: CPU {floor['cpu'] / ours['cpu']:.2f} of the "
                f"pass-through's rate; wall {floor['wall'] / ours['wall']:.2f}; "
                f"peak RSS {ours['rss_mb'] / floor['rss_mb']:.2f}x"
            )
    print(
        "   target: map phase (metrics= and fields=) vs the pass-through, events per "
        f"CPU-second: wide {declared['wide']:.2f}x (goal 1.0x), narrow {declared['narrow']:.2f}x"
    )
    events = splunk_events(count)
    print("2. scale-out of the map phase", flush=True)
    probe = run_command("anchorcapture", ["name=bench"], None, env=env)
    map_args = preop_args(probe.getinfo, "anchorcapture")
    reference, single = None, None
    for indexers in (1, 2, 4, 8):
        parts = [events[i::indexers] for i in range(indexers)]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=indexers) as pool:
            outputs = list(
                pool.map(
                    lambda part: run_command(
                        "anchorcapture", map_args, part, env=env, chunk_size=50_000
                    ),
                    parts,
                )
            )
        wall = time.perf_counter() - start
        partials = [row for out in outputs for row in out.records]
        reduced = run_command("anchorcapture", ["name=bench"], partials, env=env)
        rows = reduced.records
        reference = reference or rows
        single = single or wall
        same = "identical" if rows == reference else "DIFFERENT"
        print(
            f"   {indexers} indexer(s): map wall {wall:.2f} s, speed-up {single / wall:.2f}x, "
            f"result {same} to 1 indexer"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
