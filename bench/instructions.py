"""Instructions per event of offline capture, counted by valgrind: the previous code and
this one side by side.

    PYTHONPATH=lib python bench/instructions.py [--before REV] [--events N]

This machine's wall-clock speed drifts by a third from minute to minute; an
instruction count does not (the hash seed is fixed), so a change to the per-event
path can be measured while the machine is busy. Each figure is one process reading
N generated JSONL events minus the same process reading an empty file (imports and
start-up), divided by N, for:

- capture: ``read_events`` into a ``Fingerprint`` (``anchor capture --jobs 1``);
- a worker's part: ``parallel._read_part`` of the whole file, as each ``--jobs``
  worker reads its parts.

Also printed: first-level instruction- and data-cache misses per event, from
cachegrind's simulation of this machine's caches. Instructions are not time: compare
revisions of Anchor with them, not programs (drain3, which templates messages at
about capture's speed here, executes about twice as many instructions per message).
Needs valgrind; takes a few minutes at the default size.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))

from engine import events_file  # noqa: E402
from revisions import old_lib  # noqa: E402

BEFORE = "9c532be"  # the code before the fourth round of per-event work

# Runs under valgrind: reads one file one way, nothing else.
DRIVER = r"""
import os, sys
from anchor import parallel
from anchor.events import read_events
from anchor.fingerprint import Fingerprint
how, path = sys.argv[1], sys.argv[2]
if how == "capture":
    Fingerprint().add_all(read_events([path]))
else:
    part = parallel.Part(path, "jsonl", 0, os.path.getsize(path))
    parallel._read_part(part, "main", None, parallel._fold_fingerprint)
"""

COUNTERS = {"instructions": "I   refs", "I1 misses": "I1  misses", "D1 misses": "D1  misses"}


def counts(python_path: str, how: str, path: str) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": python_path, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=yes",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-c",
            DRIVER,
            how,
            path,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for name, label in COUNTERS.items():
        match = re.search(re.escape(label) + r":\s+([\d,]+)", done.stderr)
        if match is None:
            raise SystemExit(f"valgrind printed no {label!r} line:\n{done.stderr[-2000:]}")
        found[name] = int(match.group(1).replace(",", ""))
    return found


def per_event(python_path: str, how: str, path: str, empty: str, events: int) -> dict[str, float]:
    full, idle = counts(python_path, how, path), counts(python_path, how, empty)
    return {name: (full[name] - idle[name]) / events for name in COUNTERS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help="git revision of the previous code")
    parser.add_argument("--events", type=int, default=20_000, help="events to read (about)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing measured")
        return 1
    vendored = [p for p in sys.path if p.endswith("site-packages")]
    with tempfile.TemporaryDirectory() as folder:
        path = events_file(folder, args.events)
        with open(path, encoding="utf-8") as handle:
            events = sum(1 for _ in handle)
        empty = os.path.join(folder, "empty.jsonl")
        Path(empty).touch()
        libs = {
            f"before ({args.before})": old_lib(args.before, os.path.join(folder, "before")),
            "this code": os.pathsep.join([str(ROOT / "lib"), *vendored]),
        }
        print(f"instructions per event, {events:,} events (valgrind cachegrind, hash seed 0)")
        for how, title in (("capture", "capture, one process"), ("part", "a --jobs worker's part")):
            results = {name: per_event(lib, how, path, empty, events) for name, lib in libs.items()}
            print(f"  {title}:")
            for name, result in results.items():
                print(
                    f"    {name:<22} {result['instructions']:>9,.0f} instructions, "
                    f"{result['I1 misses']:>6,.0f} I1 and {result['D1 misses']:>6,.0f} D1 misses"
                )
            before, after = results.values()
            change = after["instructions"] / before["instructions"] - 1
            print(f"    change: {change:+.1%} instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
