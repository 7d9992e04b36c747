"""The map phase on a recorded splunkd session, this code and an earlier revision side by side.

    python bench/recorded.py [--before REV] [--rounds N] [--instructions]

``tests/data/scpv2/sum.map.input.gz`` is a real session from splunk-sdk-python's test
data: 50,000 events in one execute chunk, as Splunk sent them (``_time`` as
``2014-06-11T08:19:58.000-0700``, Splunk's default fields, a bracketed ISO time at the
start of each ``_raw``). Each round runs ``bin/anchorcapture.py phase=map`` on it in a
fresh process, the earlier revision's and this one's in turn, and reports the child's
CPU-seconds; the ratio is taken within a round (this machine's speed drifts from minute
to minute) and the median printed. The two answers are compared byte for byte
(a change that should not change the partial must leave them identical).
``--instructions`` counts instead, with valgrind (cachegrind, hash seed 0), the
instructions of each whole run, start-up included: one round is enough, the count does
not drift.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "bench"))

from chunked import decode_chunks, encode_chunk  # noqa: E402
from revisions import old_lib  # noqa: E402

RECORDING = ROOT / "tests" / "data" / "scpv2" / "sum.map.input.gz"


def session(args: list[str]) -> bytes:
    """The recording with our command's arguments in its getinfo, bodies untouched."""
    chunks = decode_chunks(gzip.decompress(RECORDING.read_bytes()))
    getinfo = chunks[0][0]
    getinfo["searchinfo"]["args"] = args
    getinfo["searchinfo"]["raw_args"] = args
    return encode_chunk(getinfo) + b"".join(encode_chunk(m, b) for m, b in chunks[1:])


def run(tree: Path, stream: bytes, folder: str, instructions: bool) -> tuple[float, bytes]:
    """CPU-seconds (or instructions) of one map process of ``tree``'s bin/, and what it wrote."""
    command = [sys.executable, str(tree / "bin" / "anchorcapture.py")]
    env = {**os.environ, "ANCHOR_STORE": f"sqlite:{folder}/memory.db", "PYTHONPATH": ""}
    if instructions:
        valgrind = ["valgrind", "--tool=cachegrind", "--cache-sim=no"]
        command = [*valgrind, "--cachegrind-out-file=/dev/null", *command]
        env["PYTHONHASHSEED"] = "0"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, input=stream, capture_output=True, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if instructions:
        found = re.search(rb"I\s+refs:\s+([\d,]+)", done.stderr)
        if found is None:
            raise SystemExit(f"valgrind printed no instruction count: {done.stderr[-2000:]!r}")
        return float(found.group(1).replace(b",", b"")), done.stdout
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return used, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="HEAD~1", help="the earlier revision (git)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="count, with valgrind")
    options = parser.parse_args()
    unit = "instructions" if options.instructions else "CPU-seconds"
    rounds = 1 if options.instructions else options.rounds
    stream = session(["name=recorded", "phase=map"])
    with tempfile.TemporaryDirectory() as folder:
        old_lib(options.before, os.path.join(folder, "before"), "bin")
        trees = {"before": Path(folder) / "before", "this code": ROOT}
        print(f"map phase on {RECORDING.name} (50,000 recorded events), {unit} per run")
        ratios, answers = [], {}
        for number in range(1, rounds + 1):
            used = {}
            for name, tree in trees.items():
                used[name], answers[name] = run(tree, stream, folder, options.instructions)
            ratios.append(used["before"] / used["this code"])
            shown = {
                k: f"{v:,.0f}" if options.instructions else f"{v:.2f}" for k, v in used.items()
            }
            print(
                f"  round {number}: before ({options.before}) {shown['before']},"
                f" this code {shown['this code']}: {ratios[-1]:.2f}x"
            )
        print(f"  median {statistics.median(ratios):.2f}x as fast as {options.before}")
        same = answers["before"] == answers["this code"]
        print(f"  answers {'identical' if same else 'different'} byte for byte")
    return 0


if __name__ == "__main__":
    sys.exit(main())
