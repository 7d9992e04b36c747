"""KV Store at scale: the previous code and this one, side by side, against one fake splunkd.

    PYTHONPATH=lib python bench/kvstore_scale.py [--quick] [--before REV]

One fake splunkd (tests/fakes/fake_splunkd.py: the KV Store REST API over
loopback HTTPS, with splunkd's row and answer-size limits, no indexes) holds
a year of heavy use (tests/scale_data.py): 50,000 drifts of 20 anchors with
10 stored signals each, 200,000 feedback entries on 2,000 signals, and the
maintained weights view (``--quick``: a tenth of that). Each operation runs
in a fresh process, once with ``lib/`` of git revision REV (default: the
last commit before server-side queries) and once with this ``lib/``:

- compare: ``operations.compare`` of a 2-hour incident against anchor svc00;
- recall: ``operations.recall`` of one recorded drift;
- dashboard: ``anchorshow``'s rows (``rows.show_rows``) for drifts, drift,
  feedback, weights and blind_spots, limit 100 each.

Printed per operation: KV Store requests, MB of answers, and wall time of
the operation inside its process (imports and connecting excluded). The
fake has no indexes, so its time per request grows with the collection for
both versions alike; the request and byte counts do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.fake_splunkd import FakeSplunkd  # noqa: E402
from revisions import old_lib  # noqa: E402
from scale_data import populate  # noqa: E402

from anchor import operations  # noqa: E402
from anchor.events import read_events  # noqa: E402
from anchor.fingerprint import Fingerprint  # noqa: E402
from anchor.memory import Memory  # noqa: E402
from anchor.splunk.kvstore import KVStore, connect  # noqa: E402
from anchor.synthetic import generate, write_jsonl  # noqa: E402

BEFORE = "4802060"  # the last commit before server-side KV Store queries
T0 = 1_763_942_400.0
VIEWS = ("drifts", "drift", "feedback", "weights", "blind_spots")

# Runs inside the measured process: connect, then time one operation.
DRIVER = r"""
import json, sys, time
from types import SimpleNamespace
from anchor import operations
from anchor.fingerprint import Fingerprint
from anchor.memory import Memory
from anchor.splunk.kvstore import KVStore, connect
uri, key, op, arg = sys.argv[1:5]
memory = Memory(KVStore(connect(uri, key)))
now = time.time()
start = time.perf_counter()
if op == "compare":
    with open(arg) as handle:
        current = Fingerprint.from_dict(json.load(handle))
    operations.compare(memory, "svc00", current, user="bench", now=now)
elif op == "recall":
    operations.recall(memory, arg)
else:
    from anchor.splunk import rows
    options = SimpleNamespace(what=op, anchor=None, drift="latest", limit=100)
    rows.show_rows(memory, options, span=None, now=now)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def run_once(splunkd, lib_path: str, op: str, arg: str, ca: str) -> dict:
    env = {**os.environ, "PYTHONPATH": lib_path, "ANCHOR_SPLUNKD_CA": ca}
    env.pop("ANCHOR_STORE", None)
    start, sent = len(splunkd.requests), splunkd.answered_bytes
    process = subprocess.run(
        [sys.executable, "-c", DRIVER, splunkd.uri, splunkd.session_key, op, arg],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    if process.returncode != 0:
        raise SystemExit(f"{op} failed:\n{process.stderr[-2000:]}")
    kv = [p for _, p in splunkd.requests[start:] if "/storage/collections/" in p]
    return {
        "requests": len(kv),
        "mb": (splunkd.answered_bytes - sent) / 1048576,
        **json.loads(process.stdout.strip().splitlines()[-1]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 drifts, 20,000 feedback")
    parser.add_argument("--before", default=BEFORE, help="git revision of the previous code")
    args = parser.parse_args()
    drifts, feedback = (5_000, 20_000) if args.quick else (50_000, 200_000)
    with tempfile.TemporaryDirectory() as folder, FakeSplunkd() as splunkd:
        now = time.time()
        ids = populate(splunkd.data, now=now, drifts=drifts, feedback=feedback)
        ca = splunkd.ca_file(folder)
        os.environ["ANCHOR_SPLUNKD_CA"] = ca
        memory = Memory(KVStore(connect(splunkd.uri, splunkd.session_key)))
        events = {
            "healthy": generate(T0, 72, seed=1, rate_scale=0.5),
            "incident": generate(T0 + 82 * 3600, 2, scenario="incident", seed=2, rate_scale=0.5),
        }
        prints = {}
        for name, stream in events.items():
            write_jsonl(f"{folder}/{name}.jsonl", stream)
            prints[name] = Fingerprint().add_all(read_events([f"{folder}/{name}.jsonl"]))
        operations.capture(memory, "svc00", prints["healthy"], user="bench", now=now)
        incident = folder + "/incident.json"
        with open(incident, "w") as handle:
            json.dump(prints["incident"].to_dict(), handle)
        libs = {
            "before": old_lib(args.before, folder + "/old"),
            "after": os.pathsep.join(p for p in sys.path if p),
        }
        plan = [("compare", incident), ("recall", ids[-20])] + [(v, "") for v in VIEWS]
        print(
            f"{drifts:,} drifts, {feedback:,} feedback entries, "
            f"{len(splunkd.data['anchor_weights']):,} weights; before = {args.before}"
        )
        print(
            "| operation | requests before | after | MB before | after | s before | after | time ratio |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for op, arg in plan:
            before = run_once(splunkd, libs["before"], op, arg, ca)
            after = run_once(splunkd, libs["after"], op, arg, ca)
            name = op if op in ("compare", "recall") else f"anchorshow what={op}"
            print(
                f"| {name} | {before['requests']} | {after['requests']} | {before['mb']:.1f} | "
                f"{after['mb']:.2f} | {before['seconds']:.2f} | {after['seconds']:.2f} | "
                f"{before['seconds'] / max(after['seconds'], 1e-6):.0f}x |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
