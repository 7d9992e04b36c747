"""Benchmarks of the offline engine, measured side by side in one run.

    PYTHONPATH=lib python bench/engine.py [--quick]

1. Capture throughput: ``anchor capture`` on N generated JSONL events against
   the ``drain3`` package mining the same messages, same run (ratio printed);
   then ``--jobs N`` (N worker processes; N=1 is one process) on the same
   file, each in a fresh process, against both.
2. Bounded memory: peak RSS of a capture subprocess at several sizes.
3. Fingerprint size: 5 sourcetypes x 10,000 templates, stored size against
   the KV Store document limit.
4. Compare latency as the template count grows.

Timings are wall-clock on this machine; ratios are what to read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))

from anchor.diff import compare_fingerprints  # noqa: E402
from anchor.events import Event, read_events  # noqa: E402
from anchor.fingerprint import Fingerprint  # noqa: E402
from anchor.memory import PART_CHARS  # noqa: E402
from anchor.patterns.mask import clear_template_cache  # noqa: E402
from anchor.patterns.merge import align_fingerprints  # noqa: E402
from anchor.synthetic import generate, write_jsonl  # noqa: E402

KV_DOCUMENT_LIMIT = 16 * 1024 * 1024  # MongoDB's BSON document limit, which KV Store inherits
T0 = 1_763_942_400.0


def events_file(folder: str, count: int) -> str:
    path = os.path.join(folder, f"events-{count}.jsonl")
    if not os.path.exists(path):
        rate_hours = count / 2100.0  # the generator makes about 2,100 events per hour
        written = write_jsonl(path, generate(T0, rate_hours, seed=7))
        print(f"  generated {written} events in {os.path.basename(path)}", flush=True)
    return path


def _drain3_miner():
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig
    from patterns_loghub import DRAIN_MASKING

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.masking_instructions = [MaskingInstruction(p, m) for p, m in DRAIN_MASKING]
    return TemplateMiner(config=config)


def bench_capture(path: str, rounds: int) -> dict:
    """Anchor in this process, drain3 on the same messages, then ``--jobs N`` in fresh
    processes, ``rounds`` times in turn. This machine's speed drifts by a third from
    minute to minute, so each ratio is taken within a round and the median reported."""
    messages = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            messages.append(json.loads(line)["message"])
    measured = []
    for _ in range(rounds):
        clear_template_cache()  # each round cold, as a CLI run
        start, cpu_start = time.perf_counter(), time.process_time()
        fingerprint = Fingerprint().add_all(read_events([path]))
        ours, ours_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        miner = _drain3_miner()
        start, cpu_start = time.perf_counter(), time.process_time()
        for message in messages:
            miner.add_log_message(message)
        drain, drain_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        events = fingerprint.count
        measured.append(
            {
                "anchor": events / ours,
                "drain3": len(messages) / drain,
                # CPU time: what a shared, loaded machine does not distort as much as wall time.
                "cpu_ratio": (events / ours_cpu) / (len(messages) / drain_cpu),
                "jobs": bench_jobs(path),
            }
        )
    drain3 = [m["drain3"] for m in measured]
    ratios = [m["anchor"] / m["drain3"] for m in measured]
    jobs = {}
    for n in measured[0]["jobs"]:
        runs = [m["jobs"][n] for m in measured]
        jobs[n] = {
            "events_per_s": median(r["events_per_s"] for r in runs),
            "speedup": median(r["speedup"] for r in runs),
            "vs_drain3": median(r["events_per_s"] / d for r, d in zip(runs, drain3)),
            "vs_drain3_rounds": [r["events_per_s"] / d for r, d in zip(runs, drain3)],
            "events_per_cpu_s": median(r["events_per_cpu_s"] for r in runs),
            "cpu_efficiency": median(r["cpu_efficiency"] for r in runs),
            "identical": all(r["identical"] for r in runs),
        }
    return {
        "events": int(fingerprint.count),
        "rounds": rounds,
        "anchor_events_per_s": median(m["anchor"] for m in measured),
        "drain3_messages_per_s": median(drain3),
        "ratio": median(ratios),
        "ratio_rounds": ratios,
        "cpu_ratio": median(m["cpu_ratio"] for m in measured),
        "note": "anchor: JSON parse + full fingerprint; drain3 (standard masking): template mining only",
        "jobs": jobs,
    }


def bench_jobs(path: str) -> dict:
    """``--jobs N`` on the same file, each N in a fresh process (cold caches, as a CLI run),
    parts of a quarter of a job's share (forced even under the CLI's 8 MB threshold, so
    that the quick run splits too)."""
    from anchor import parallel

    size = os.path.getsize(path)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    runs = {}
    for jobs in sorted({1, 2, 4, parallel.default_jobs()}):
        code = (
            "import json, time; from anchor import parallel; from anchor.events import ReadReport; "
            "from anchor.fingerprint import content_digest; start = time.perf_counter(); "
            f"fp = parallel.read_fingerprint([{path!r}], jobs={jobs}, report=ReadReport(), "
            f"part_bytes={size // (jobs * 4) + 1}); seconds = time.perf_counter() - start; "
            "import resource; cpu = sum(sum(resource.getrusage(w)[:2]) for w in "
            "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)); "
            "print(json.dumps([fp.count / seconds, fp.count / cpu, content_digest(fp)]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        rate, cpu_rate, digest = json.loads(out.stdout.strip().splitlines()[-1])
        runs[jobs] = {"events_per_s": rate, "events_per_cpu_s": cpu_rate, "digest": digest}
    reference, single = runs[1]["digest"], runs[1]["events_per_s"]
    for run in runs.values():
        run["speedup"] = run["events_per_s"] / single
        # CPU per event against one process: what splitting costs, whatever the load.
        run["cpu_efficiency"] = run["events_per_cpu_s"] / runs[1]["events_per_cpu_s"]
        # (a digest: a float sum at a rounding boundary would show as different; rare)
        run["identical"] = run.pop("digest") == reference
    return runs


def peak_rss_of_capture(path: str, folder: str) -> float:
    """Peak resident memory (MB) of ``anchor capture --jobs 1`` run in a fresh process.

    Read from /proc (VmHWM): ru_maxrss of a child would include the pages of
    this large parent process, which fork charges before exec."""
    code = (
        "from anchor.cli import main; "
        f"code = main(['--db', {os.path.join(folder, 'rss.db')!r}, 'capture', 'x', '--jobs', '1', '--input', {path!r}]); "
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def peak_rss_of_jobs(path: str, jobs: int = 2) -> tuple[float, float]:
    """Peak resident memory (MB) of the parent and of the largest worker reading ``path``
    with ``jobs`` workers, in a fresh process. Parts are sized as the CLI sizes them,
    without its 8 MB threshold (so that the quick sizes are split too). The workers are
    forked from that process: their ru_maxrss (as reaped) is their own peak, the pages
    they share with it included."""
    code = (
        "import os, resource; from anchor import parallel; from anchor.events import ReadReport; "
        f"size = os.path.getsize({path!r}); "
        f"part = min(parallel.PART_BYTES, max(1024 * 1024, size // ({jobs} * 4) + 1)); "
        f"parallel.read_fingerprint([{path!r}], jobs={jobs}, report=ReadReport(), part_bytes=part); "
        "parent = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')); "
        "print(parent, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    parent, worker = out.stdout.strip().splitlines()[-1].split()
    return int(parent) / 1024.0, int(worker) / 1024.0


def _word(number: int) -> str:
    """A letters-only word per number: digits would be masked as variables."""
    return "".join(chr(97 + int(d)) for d in str(number))


def synthetic_fingerprint(
    sourcetypes: int, templates: int, seed: int, shift: float = 1.0
) -> Fingerprint:
    rng = random.Random(seed)
    fingerprint = Fingerprint()
    for s in range(sourcetypes):
        for t in range(templates):
            weight = float(rng.randint(1, 50))
            # two words that change together: distinct templates the merge stage keeps apart
            message = (
                f"service {_word(s)} operation {_word(t)} on shard {_word(7 * t + 3)} "
                f"finished in {t % 97} ms"
            )
            fingerprint.add(
                Event(
                    T0 + rng.random() * 86400,
                    f"h{t % 20}",
                    f"st{s}",
                    "",
                    message,
                    "error" if t % 50 == 0 else "info",
                    {"latency_ms": rng.lognormvariate(4, 0.5) * shift},
                    weight,
                )
            )
    return fingerprint


def section_capture(folder: str, size: int, rounds: int) -> dict:
    print(f"1. capture throughput on {size} events ({rounds} round(s), medians)", flush=True)
    c = bench_capture(events_file(folder, size), rounds)
    each = ", ".join(f"{r:.2f}" for r in c["ratio_rounds"])
    print(
        f"   anchor {c['anchor_events_per_s']:,.0f} events/s, drain3 {c['drain3_messages_per_s']:,.0f} "
        f"messages/s, ratio {c['ratio']:.2f}x (rounds: {each}; by CPU time {c['cpu_ratio']:.2f}x)"
    )
    print(f"   --jobs N on this machine's {os.cpu_count()} core(s):")
    for jobs, run in c["jobs"].items():
        each = ", ".join(f"{r:.2f}" for r in run["vs_drain3_rounds"])
        print(
            f"   --jobs {jobs}: {run['events_per_s']:,.0f} events/s wall, {run['speedup']:.2f}x "
            f"one process, {run['vs_drain3']:.2f}x drain3 (rounds: {each}); "
            f"{run['events_per_cpu_s']:,.0f} events per CPU-second "
            f"({run['cpu_efficiency']:.2f} of one process's); fingerprint "
            f"{'identical' if run['identical'] else 'DIFFERENT'}"
        )
    return c


def section_memory(folder: str, sizes: list[int]) -> dict:
    print("2. peak RSS of capture (one process; --jobs 2: parent and largest worker)", flush=True)
    rss, rss_jobs = {}, {}
    for size in sizes:
        rss[size] = peak_rss_of_capture(events_file(folder, size), folder)
        rss_jobs[size] = peak_rss_of_jobs(events_file(folder, size))
        print(
            f"   {size:>9,} events: {rss[size]:.1f} MB; --jobs 2: parent "
            f"{rss_jobs[size][0]:.1f} MB, worker {rss_jobs[size][1]:.1f} MB",
            flush=True,
        )
    small, large = sizes[-2], sizes[-1]
    growth = (rss[large] - rss[small]) / rss[small] * 100
    growth_jobs = [
        (rss_jobs[large][i] - rss_jobs[small][i]) / rss_jobs[small][i] * 100 for i in (0, 1)
    ]
    print(
        f"   growth {small:,} -> {large:,}: {growth:+.1f}% (--jobs 2: parent "
        f"{growth_jobs[0]:+.1f}%, worker {growth_jobs[1]:+.1f}%)"
    )
    return {
        "rss_mb": rss,
        "rss_growth_pct": growth,
        "rss_jobs2_mb": rss_jobs,
        "rss_jobs2_growth_pct": growth_jobs,
        "sizes": (small, large),
    }


def section_size() -> dict:
    print("3. fingerprint size, 5 sourcetypes x 10,000 templates", flush=True)
    start = time.perf_counter()
    big = synthetic_fingerprint(5, 10_000, seed=1)
    built = time.perf_counter() - start
    big.trim(keep_templates=10_000)
    text = json.dumps(big.to_dict(), separators=(",", ":"))
    parts = -(-len(text) // PART_CHARS)
    print(
        f"   {len(text) / 1e6:.1f} MB of JSON in {parts} part(s) of at most {PART_CHARS / 1e6:.1f} MB "
        f"(KV document limit {KV_DOCUMENT_LIMIT / 1e6:.1f} MB); built in {built:.2f} s"
    )
    return {"bytes": len(text), "parts": parts, "build_s": built}


def section_compare(template_counts: list[int]) -> dict:
    print("4. compare latency by template count (1 sourcetype)", flush=True)
    latency, aligning = {}, {}
    for count in template_counts:
        a = synthetic_fingerprint(1, count, seed=2).trim(keep_templates=count)
        b = synthetic_fingerprint(1, count, seed=3, shift=1.4).trim(keep_templates=count)
        start = time.perf_counter()
        found = compare_fingerprints(a, b)
        latency[count] = time.perf_counter() - start
        start = time.perf_counter()
        align_fingerprints(a, b)  # the template merge stage alone, also part of the compare
        aligning[count] = time.perf_counter() - start
        print(
            f"   {count:>7,} templates: {latency[count] * 1000:.0f} ms ({len(found.signals)} signals, {found.tests} tests; "
            f"of which template merge {aligning[count] * 1000:.0f} ms)"
        )
    return {"compare_s": latency, "template_merge_s": aligning}


def print_targets(results: dict) -> None:
    print("targets (ratios from this run; paste into docs/BENCHMARKS.md):")
    c = results.get("capture")
    if c is not None:
        best = max(c["jobs"].values(), key=lambda run: run["vs_drain3"])
        print(
            f"   offline capture vs drain3, one process: {c['ratio']:.2f}x wall, "
            f"{c['cpu_ratio']:.2f}x CPU (goal 1.0x; medians of {c['rounds']} round(s))"
        )
        print(
            f"   offline capture vs drain3, all cores (best --jobs): "
            f"{best['vs_drain3']:.2f}x wall (goal 2x)"
        )
    m = results.get("memory")
    if m is not None:
        (small, large), growth_jobs = m["sizes"], m["rss_jobs2_growth_pct"]
        print(
            f"   memory growth {small:,} -> {large:,} events: {m['rss_growth_pct']:+.1f}% one "
            f"process, --jobs 2 parent {growth_jobs[0]:+.1f}%, worker {growth_jobs[1]:+.1f}% "
            "(goal under +20%)"
        )
    print(f"   load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} core(s)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help="which parts to run, comma-separated (default: all). Throughput wants an idle "
        "machine; peak memory does not, so the two can be run at different times",
    )
    parser.add_argument(
        "--data-dir",
        help="keep the generated event files here and reuse them in later runs "
        "(default: a temporary folder, removed at the end)",
    )
    parser.add_argument(
        "--rounds", type=int, help="capture rounds, medians reported (default 3; quick 1)"
    )
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    sections = args.sections.split(",")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {SECTIONS}")
    sizes = [20_000, 60_000] if args.quick else [100_000, 1_000_000, 5_000_000]
    throughput_size = sizes[-1] if args.quick else 1_000_000
    template_counts = [1_000, 5_000] if args.quick else [1_000, 10_000, 100_000]
    results: dict = {"quick": args.quick}
    with contextlib.ExitStack() as stack:
        folder = args.data_dir or stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(folder, exist_ok=True)
        if "capture" in sections:
            results["capture"] = section_capture(folder, throughput_size, args.rounds)
        if "memory" in sections:
            results["memory"] = section_memory(folder, sizes)
    if "size" in sections:
        results["fingerprint"] = section_size()
    if "compare" in sections:
        results["compare"] = section_compare(template_counts)
    print_targets(results)
    print(json.dumps(results, default=str))
    return 0


SECTIONS = ("capture", "memory", "size", "compare")


if __name__ == "__main__":
    sys.exit(main())
