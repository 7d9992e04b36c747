"""Run a bin/ script with some modules made unimportable: ``$ANCHOR_BLOCK_IMPORTS`` (comma list).

A test helper (``run_command(..., wrapper=...)``): it stands for a broken
install, such as a vendored library that refuses to import, so the tests can
check that a command turns that into a one-line search error or an offline
narrative, and never loses the drift.
"""

import os
import runpy
import sys

BLOCKED = {name for name in os.environ.get("ANCHOR_BLOCK_IMPORTS", "").split(",") if name}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED:
            raise ImportError(f"{name} is blocked by the test (a broken install)")
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, Blocker())
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
