"""The HTML drift report: written by the CLI, loaded in headless Chromium (Debian's package).

Chromium runs with console logging on stderr; a control page with a script
error proves that the console check sees errors when there are some.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest
from conftest import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INJECTED = '<script>document.title="pwned"</script><img src=x onerror="alert(1)"> payment exploded'

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


def chromium(*args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM, "chromium is required in CI: apt-get install chromium"
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


@pytest.fixture(scope="module")
def written(demo_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    db = folder / "memory.db"
    incident = folder / "incident.jsonl"
    lines = demo_files["incident"].read_text().splitlines()
    sample = json.loads(lines[0])
    extra = [json.dumps({**sample, "sourcetype": "payments", "level": "ERROR", "message": INJECTED})
             for _ in range(300)]  # fmt: skip
    incident.write_text("\n".join(lines + extra) + "\n")
    assert (
        run_cli("capture", "healthy", "--input", str(demo_files["healthy"]), db=db).returncode == 0
    )
    compared = run_cli("compare", "healthy", "--input", str(incident), "--json", db=db)
    document = json.loads(compared.stdout)
    page = folder / "drift.html"
    result = run_cli("report", "latest", "--html", str(page), db=db)
    assert result.returncode == 0, result.stderr
    return document, page, db


def test_the_report_is_self_contained_and_escapes_log_text(written):
    document, page, _ = written
    text = page.read_text()
    assert document["drift_id"] in text
    assert html.escape(document["narrative"]["summary"][:40]) in text
    assert "<script" not in text and 'onerror="alert' not in text
    assert "&lt;script&gt;document.title=&quot;pwned&quot;" in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched from outside


def test_report_errors_are_one_line(written, tmp_path):
    _, _, db = written
    missing = run_cli("report", "nope", "--html", str(tmp_path / "x.html"), db=db)
    assert missing.returncode != 0 and "unknown drift 'nope'" in missing.stderr
    blocked = run_cli("report", "latest", "--html", str(tmp_path / "no" / "x.html"), db=db)
    assert blocked.returncode == 2 and "cannot write" in blocked.stderr
    assert "Traceback" not in missing.stderr + blocked.stderr


@needs_chromium
def test_chromium_loads_it_shows_every_signal_and_logs_no_console_errors(written, tmp_path):
    _, page, db = written
    stored = run_cli("history", db=db).stdout
    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    from anchor.memory import Memory
    from anchor.store import SQLiteStore

    drift = next(iter(Memory(SQLiteStore(str(db))).drifts()))
    rendered = re.findall(r'data-signal="([^"]+)"', dom.stdout)
    assert rendered == [s["signal_id"] for s in drift["signals"]] and drift["drift_id"] in stored
    assert "pwned" not in dom.stdout.split("</title>")[0]  # the injected script never ran
    assert console_errors(dom.stderr) == []
    # Control: the same check does see a script error on a broken page.
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefinedFunction()</script></body></html>")
    assert console_errors(chromium("--dump-dom", broken.as_uri()).stderr)
    shot = tmp_path / "report.png"
    chromium("--hide-scrollbars", "--window-size=1100,900", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
