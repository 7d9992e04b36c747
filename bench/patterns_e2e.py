"""End to end, start-up included: `anchor patterns` on a 2k-line file next to a drain3 script.

    PYTHONPATH=lib python bench/patterns_e2e.py [--datasets HDFS,BGL] [--runs 10]

Each run starts a fresh Python process that reads the raw Loghub 2k file and
prints one template per line: `python -m anchor patterns --input FILE`
against `python bench/patterns_e2e.py --drain FILE` (drain3 with the masking
of its example configuration, fed the same raw lines). The two commands
alternate, hyperfine-style, and the median wall time of each is reported
with their ratio (above 1: Anchor is faster). Nothing is fetched at run time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "loghub"
TUNING = ("Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp")


def drain_main(path: str) -> None:
    """The drain3 side: what a user of drain3 would run over a file."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    sys.path.insert(0, str(ROOT / "bench"))
    from patterns_loghub import DRAIN_MASKING

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.masking_instructions = [MaskingInstruction(p, m) for p, m in DRAIN_MASKING]
    miner = TemplateMiner(config=config)
    with open(path, encoding="utf-8", errors="replace") as handle:
        ids = [miner.add_log_message(line.rstrip("\n"))["cluster_id"] for line in handle]
    final = {cluster.cluster_id: cluster.get_template() for cluster in miner.drain.clusters}
    out = sys.stdout
    for cluster in ids:
        out.write(f"{cluster}\t{final[cluster]}\n")


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(TUNING))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--drain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:
        drain_main(args.drain)
        return 0
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    print(f"{'dataset':<11} {'anchor ms':>9} {'drain3 ms':>9} {'ratio':>6}")
    ratios = []
    for name in [n for n in args.datasets.split(",") if n]:
        path = str(DATA / name / f"{name}_2k.log")
        ours_cmd = [sys.executable, "-m", "anchor", "patterns", "--input", path]
        theirs_cmd = [sys.executable, __file__, "--drain", path]
        wall(ours_cmd, env), wall(theirs_cmd, env)  # warm the file cache and .pyc files
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(wall(ours_cmd, env))
            theirs.append(wall(theirs_cmd, env))
        a, b = statistics.median(ours), statistics.median(theirs)
        ratios.append(b / a)
        print(f"{name:<11} {a * 1000:>9.0f} {b * 1000:>9.0f} {b / a:>5.2f}x")
    print(f"{'geo. mean':<11} {'':>9} {'':>9} {statistics.geometric_mean(ratios):>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
