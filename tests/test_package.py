"""`make package` output: what is inside the tgz, and that it runs on its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import package as package_tool
import pytest

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("package")

ROOT = Path(__file__).resolve().parent.parent


def build(out):
    """`make package` into ``out``, with pip's many modules compiled as the venv has them
    (not in the suite's bytecode folder, see conftest.pytest_configure)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "package.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    result = build(tmp_path_factory.mktemp("dist"))
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


def test_a_second_build_takes_the_wheels_from_the_cache_and_gives_the_same_archive(
    package, tmp_path
):
    result = build(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wheels: from the cache" in result.stderr
    again = Path(result.stdout.strip().splitlines()[-1])
    assert again.read_bytes() == package.read_bytes()


def test_a_compiled_wheel_in_the_cache_is_refused(tmp_path):
    cached = tmp_path / "cache" / package_tool.wheel_key()
    cached.mkdir(parents=True)
    (cached / "pure-1.0-py3-none-any.whl").write_bytes(b"")
    (cached / "fast-1.0-cp39-cp39-linux_x86_64.whl").write_bytes(b"")
    target = tmp_path / "lib"
    with pytest.raises(
        package_tool.PackageError, match=re.escape("fast-1.0-cp39-cp39-linux_x86_64.whl")
    ):
        package_tool.vendor(target, cache=tmp_path / "cache")
    assert not target.exists()


def test_a_new_pin_keys_a_new_cache_folder(tmp_path, monkeypatch):
    before = package_tool.wheel_key()
    pins = (ROOT / "requirements-vendor.txt").read_text()
    (tmp_path / "requirements-vendor.txt").write_text(pins.replace("idna==3.10", "idna==3.11"))
    monkeypatch.setattr(package_tool, "ROOT", tmp_path)
    assert package_tool.wheel_key() != before


@pytest.fixture(scope="module")
def app_dir(package, tmp_path_factory):
    """The package unpacked, as Splunk installs it: ``<folder>/anchor``."""
    folder = tmp_path_factory.mktemp("installed")
    with tarfile.open(package) as tar:
        tar.extractall(folder, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return folder / "anchor"


PROBE = ROOT / "tests" / "old_openssl_probe.py"
# What must import: every entry point splunkd runs, and the modules the
# commands import only for some options (narrate=true, deep=true, the REST
# compare and settings endpoints, maintenance actions).
ENTRY_POINTS = {
    "bin/anchor_drift_alert.py",
    "bin/anchor_maintenance.py",
    "bin/anchor_rest.py",
    "bin/anchorcapture.py",
    "bin/anchorcompare.py",
    "bin/anchorfeedback.py",
    "bin/anchormaintenance.py",
    "bin/anchorpattern.py",
    "bin/anchorshow.py",
    "anchor_maintenance.py --scheme",
    "anchor_rest.AnchorRestHandler.handle",
    "anchor.splunk.narration",
    "anchor.investigate",
    "anchor.llm",
    "anchor.narrate",
    "anchor.splunk.settings",
    "anchor.splunk.search",
    "anchor.splunk.maintenance_input",
    "anchor.maintenance",
    "anchor.oss",
    "anchor.httpclient",
    "anchor.httpclient retried request",
    "anchor.report",
    "requests",
    "urllib3",
}


def probe(app):
    # -I -S: no user site, no site-packages: only the standard library and the package.
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(PROBE), str(app)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1])


def test_every_entry_point_imports_on_a_python_built_against_openssl_1_0_2(app_dir):
    # Splunk 9.x's Python is linked against OpenSSL 1.0.2 (FIPS).
    status, report = probe(app_dir)
    assert status == 0 and not report["failed"], report["failed"]
    assert report["openssl"].startswith("OpenSSL 1.0.2")
    assert set(report["imported"]) >= ENTRY_POINTS, ENTRY_POINTS - set(report["imported"])
    assert report["urllib3"].startswith("1.26."), report["urllib3"]
    assert report["urllib3_from"].startswith(str(app_dir / "lib"))


def test_the_probe_fails_when_the_package_vendors_urllib3_2(app_dir, tmp_path):
    import urllib3  # the dev environment's own, a 2.x as the package vendored before

    if not urllib3.__version__.startswith("2."):
        pytest.skip(f"the dev environment has urllib3 {urllib3.__version__}, not 2.x")
    app = tmp_path / "anchor"
    shutil.copytree(app_dir, app)
    shutil.rmtree(app / "lib" / "urllib3")
    shutil.copytree(Path(urllib3.__file__).parent, app / "lib" / "urllib3")
    status, report = probe(app)
    assert status == 1 and report["urllib3"] is None
    # The modules that make sessions (anchor.llm, anchor.oss) import requests only then:
    # they still import, and the request made through the policy is what fails.
    assert set(report["failed"]) >= {"urllib3", "requests", "anchor.httpclient retried request"}
    for entry, error in report["failed"].items():
        assert "only supports OpenSSL 1.1.1+" in error, entry
