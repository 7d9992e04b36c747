"""Run a Python script and write its peak resident memory (VmHWM, kB) to $ANCHOR_RSS_FILE.

``getrusage``'s ru_maxrss of a child started from a large parent includes
the parent's pages (fork and vfork charge the parent's memory before exec),
so benchmarks read the script's own high-water mark from /proc instead.
Linux only.
"""

import atexit
import os
import runpy
import sys


def _report() -> None:
    with open("/proc/self/status", encoding="ascii") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["ANCHOR_RSS_FILE"], "w", encoding="ascii") as out:
        out.write(peak)


if __name__ == "__main__":
    atexit.register(_report)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
