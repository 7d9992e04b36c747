"""Build dist/anchor-<version>.tgz: the app directory plus vendored pure-Python dependencies.

    python tools/package.py [--out DIR]

Only what Splunk needs goes in: app.manifest, default/, metadata/default.meta,
bin/, lib/ (the engine and the vendored wheels), static/, appserver/,
README/, README.md, LICENSE. Tests, dev files, caches, local/ and local.meta
never do. The build fails if any compiled file ends up inside. The archive is
deterministic: sorted entries, fixed times, root ownership.

The wheels built from requirements-vendor.txt are kept in build/wheels/, one
folder per hash of the pins, the build options and the interpreter, so later
builds skip pip's build step; `make clean` empties it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
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


# Built wheels are kept here between builds (git-ignored with the rest of build/):
# building splunk-sdk and charset-normalizer from their sdists is nearly all of a build's time.
WHEEL_CACHE = ROOT / "build" / "wheels"
WHEEL_BUILD = (
    "--no-deps",
    "--use-pep517",
    "--no-binary",
    "charset-normalizer",
)
WHEEL_ENV = {"CHARSET_NORMALIZER_USE_MYPYC": "0"}


def wheel_key() -> str:
    """What decides the wheels: the pins, how they are built, and the interpreter building them."""
    digest = hashlib.sha256()
    digest.update((ROOT / "requirements-vendor.txt").read_bytes())
    digest.update(repr((WHEEL_BUILD, sorted(WHEEL_ENV.items()))).encode())
    # A setup.py may write different metadata on another Python: key on the interpreter too.
    digest.update(sys.implementation.cache_tag.encode())
    return digest.hexdigest()[:24]


def build_wheels(cache: Path) -> Path:
    """The pinned wheels, built once per key: built in a scratch folder, renamed into place."""
    folder = cache / wheel_key()
    if folder.is_dir():
        print(f"wheels: from the cache ({folder.name})", file=sys.stderr)
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        # Build wheels first (splunk-sdk ships only an sdist); vendor() insists every one is pure.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                *WHEEL_BUILD,
                "-r",
                str(ROOT / "requirements-vendor.txt"),
                "-w",
                str(scratch),
            ],
            check=True,
            env={**os.environ, **WHEEL_ENV},
        )
        try:
            # Atomic: a concurrent build either sees no folder or a complete one.
            scratch.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
            # Another build put the same wheels in place first: use those.
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wheels: built ({folder.name})", file=sys.stderr)
    return folder


def vendor(target: Path, cache: Path = WHEEL_CACHE) -> None:
    """Install the pinned wheels into ``target`` without compiling anything."""
    wheels = build_wheels(cache)
    built = sorted(wheels.glob("*.whl"))
    # Checked on every build, cached or not: nothing compiled may reach the package.
    impure = [w.name for w in built if not w.name.endswith("-none-any.whl")]
    if impure:
        raise PackageError(f"refusing compiled wheels: {', '.join(impure)}")
    # By name from the wheel folder, not by path: pip then records no direct_url.json
    # (which would carry this machine's path into the package).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--no-index",
            "--find-links",
            str(wheels),
            "--target",
            str(target),
            "-r",
            str(ROOT / "requirements-vendor.txt"),
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
