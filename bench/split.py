"""The split-by map phase against the plain one, on the same events, in one run.

    PYTHONPATH=lib python bench/split.py [--quick]

``anchorcompare split=anchor_window baseline=before`` routes each event to
one of two fingerprints and reads its window's bounds (as the
``anchor_shift`` macro labels them); ``anchorcapture``'s map phase builds one
fingerprint. Both run as splunkd runs them (tools/chunked.py, chunks of
50,000) from fresh helper processes over identical labelled events, three
times each, alternating; the ratio of their best CPU times is the cost of the
split itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "bench"))

import protocol  # noqa: E402
from protocol import splunk_events  # noqa: E402


def labelled(count: int) -> list[dict]:
    """Half the events labelled as last week's window, half as the current one."""
    events = splunk_events(count)
    middle = float(events[len(events) // 2]["_time"])
    windows = {"before": ("1763000000", "1763003600"), "after": ("1763604800", "1763608400")}
    for event in events:
        label = "before" if float(event["_time"]) < middle else "after"
        event["anchor_window"] = label
        event["anchor_earliest"], event["anchor_latest"] = windows[label]
    return events


def measure(script: str, args: list[str], count: int) -> dict:
    return protocol.measure(
        script, args, count, {"ANCHOR_STORE": "sqlite::memory:"}, make_events=labelled
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 20_000 if args.quick else 200_000
    print(f"split-by map phase, {count:,} labelled events in chunks of 50,000", flush=True)
    # Alternate the two, three times each, and keep each one's fastest run: on
    # a shared machine a single run's CPU time wobbles by tens of percent.
    runs: dict[str, list[dict]] = {"plain": [], "split": []}
    for _ in range(3):
        runs["plain"].append(measure("anchorcapture", ["name=bench", "phase=map"], count))
        runs["split"].append(
            measure("anchorcompare", ["split=anchor_window", "baseline=before", "phase=map"], count)
        )
    plain, split = (min(runs[k], key=lambda run: run["cpu"]) for k in ("plain", "split"))
    for label, run in (
        ("anchorcapture map (one fingerprint)", plain),
        ("anchorcompare split= map (two)", split),
    ):
        print(
            f"   {label}: {run['events'] / run['cpu']:,.0f} events per CPU-second, "
            f"{run['events'] / run['wall']:,.0f} events/s wall, {run['partials']} partial(s)"
        )
    print(
        f"   ratio (CPU): split runs at {plain['cpu'] / split['cpu']:.2f} of the plain map's rate"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
