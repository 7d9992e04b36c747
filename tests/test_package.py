"""`make package` output: what is inside the tgz, and that it runs on its own."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "package.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0 and "Could not find a version" in result.stderr + result.stdout:
        pytest.skip("the package registry is unreachable: cannot vendor dependencies")
    assert result.returncode == 0, result.stderr[-3000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    version = re.search(
        r'__version__ = "([^"]+)"', (ROOT / "lib/anchor/__init__.py").read_text()
    ).group(1)
    assert path.name == f"anchor-{version}.tgz"
    return path


def names(path):
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_layout_and_exclusions(package):
    entries = names(package)
    assert all(name == "anchor" or name.startswith("anchor/") for name in entries)
    for required in (
        "anchor/app.manifest",
        "anchor/default/app.conf",
        "anchor/default/commands.conf",
        "anchor/metadata/default.meta",
        "anchor/bin/anchorcompare.py",
        "anchor/lib/anchor/diff.py",
        "anchor/lib/splunklib/__init__.py",
        "anchor/lib/requests/__init__.py",
        "anchor/static/appIcon.png",
        "anchor/LICENSE",
    ):
        assert required in entries, required
    forbidden = re.compile(
        r"\.(pyc|pyo|so|pyd|dll|dylib|exe)$|__pycache__|/local/|local\.meta$|"
        r"^anchor/(tests|bench|tools|\.ci|\.git|Makefile|pyproject|requirements)"
    )
    assert not [n for n in entries if forbidden.search(n)]
    assert "anchor/lib/anchor/mcp_server.py" not in entries


def test_archive_is_deterministic_and_permissions_are_sane(package):
    with tarfile.open(package) as tar:
        for member in tar.getmembers():
            assert member.uid == 0 and member.gid == 0
            assert not member.mode & 0o022, member.name
            if member.isfile() and member.name.startswith("anchor/bin/"):
                assert member.mode & 0o100


def test_vendored_libraries_import_in_an_isolated_python(package, tmp_path):
    with tarfile.open(package) as tar:
        # "data" filter where this Python has it (3.9.17+, 3.12+): no links or odd modes.
        tar.extractall(tmp_path, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    lib = tmp_path / "anchor" / "lib"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import splunklib.searchcommands, splunklib.client, requests, anchor.splunk.commands; "
        "print(requests.__file__.startswith(sys.argv[1]), splunklib.__file__.startswith(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(lib)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
