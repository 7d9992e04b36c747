"""``lib/`` of an earlier git revision, for benchmarks that run the previous code and this
one side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def old_lib(rev: str, folder: str, *also: str) -> str:
    """Extract ``lib/`` of ``rev`` (and the folders in ``also``, such as ``bin``) under
    ``folder``; the PYTHONPATH that imports it."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "lib", *also], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        # "data" filter where this Python has it (3.9.17+, 3.12+): no links or odd modes.
        tar.extractall(folder, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    vendored = [p for p in sys.path if p.endswith("site-packages")]
    return os.pathsep.join([os.path.join(folder, "lib"), *vendored])
