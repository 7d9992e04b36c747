"""Build dist/anchor-<version>.tgz: the app directory plus vendored pure-Python dependencies.

    python tools/package.py [--out DIR]

Only what Splunk needs goes in: app.manifest, default/, metadata/default.meta,
bin/, lib/ (the engine and the vendored wheels), static/, appserver/,
README/, README.md, LICENSE. Tests, dev files, caches, local/ and local.meta
never do. The build fails if any compiled file ends up inside. The archive is
deterministic: sorted entries, fixed times, root ownership.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "anchor"
APP_ITEMS = (
    "app.manifest",
    "default",
    "metadata",
    "bin",
    "lib",
    "static",
    "appserver",
    "README",
    "README.md",
    "LICENSE",
)
# Not part of the Splunk app: the MCP server needs an SDK the package does not ship.
LIB_EXCLUDES = {"anchor/mcp_server.py"}
COMPILED = re.compile(r"\.(pyc|pyo|so|pyd|dll|dylib|exe|o|a)$", re.IGNORECASE)
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis", "local"}
FIXED_MTIME = 1_700_000_000


class PackageError(SystemExit):
    pass


def version() -> str:
    text = (ROOT / "lib" / "anchor" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'__version__ = "([^"]+)"', text)
    if not match:
        raise PackageError("cannot find __version__ in lib/anchor/__init__.py")
    return match.group(1)


def vendor(target: Path) -> None:
    """Install the pinned wheels into ``target`` without compiling anything."""
    with tempfile.TemporaryDirectory() as wheels:
        # Build wheels first (splunk-sdk ships only an sdist), then insist every one is pure.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--use-pep517",
                "--no-binary",
                "charset-normalizer",
                "-r",
                str(ROOT / "requirements-vendor.txt"),
                "-w",
                wheels,
            ],
            check=True,
            env={**os.environ, "CHARSET_NORMALIZER_USE_MYPYC": "0"},
        )
        built = sorted(Path(wheels).glob("*.whl"))
        impure = [w.name for w in built if not w.name.endswith("-none-any.whl")]
        if impure:
            raise PackageError(f"refusing compiled wheels: {', '.join(impure)}")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-compile",
                "--target",
                str(target),
                *map(str, built),
            ],
            check=True,
        )
    for extra in target.glob("bin"):
        shutil.rmtree(extra)


def wanted(relative: str) -> bool:
    parts = relative.split("/")
    if any(part in SKIP_PARTS or part.startswith(".") for part in parts):
        return False
    if relative == "metadata/local.meta":
        return False
    return not (relative.startswith("lib/") and relative[4:] in LIB_EXCLUDES)


def collect(staging: Path) -> None:
    for item in APP_ITEMS:
        source = ROOT / item
        if not source.exists():
            continue
        if source.is_file():
            shutil.copy2(source, staging / item)
            continue
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and wanted(relative) and not COMPILED.search(relative):
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)


def check(staging: Path) -> None:
    problems = []
    for path in staging.rglob("*"):
        relative = path.relative_to(staging).as_posix()
        if COMPILED.search(relative) or path.name == "__pycache__":
            problems.append(f"compiled file {relative}")
        if "local" in relative.split("/") or relative.endswith("local.meta"):
            problems.append(f"local configuration {relative}")
    if problems:
        raise PackageError("package check failed:\n  " + "\n  ".join(sorted(problems)))


def archive(staging: Path, output: Path) -> None:
    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = FIXED_MTIME
        executable = info.isdir() or (
            info.name.startswith(f"{APP_ID}/bin/") and info.name.endswith(".py")
        )
        info.mode = 0o755 if executable else 0o644
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(staging, arcname=APP_ID, recursive=False, filter=normalize)
        for path in sorted(staging.rglob("*")):
            tar.add(
                path,
                arcname=f"{APP_ID}/{path.relative_to(staging).as_posix()}",
                recursive=False,
                filter=normalize,
            )
    with (
        open(output, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=FIXED_MTIME, filename="") as gz,
    ):
        gz.write(buffer.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(ROOT / "dist"), help="output directory (default dist/)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    output = out / f"{APP_ID}-{version()}.tgz"
    with tempfile.TemporaryDirectory() as temporary:
        staging = Path(temporary) / APP_ID
        staging.mkdir()
        collect(staging)
        vendor(staging / "lib")
        check(staging)
        archive(staging, output)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
