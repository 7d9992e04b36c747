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
from conftest import ROOT, copy_memory, run_cli

from anchor.splguard import check_spl

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("report")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INJECTED = '<script>document.title="pwned"</script><img src=x onerror="alert(1)"> payment exploded'

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


def chromium(*args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM, "chromium is required in CI: apt-get install chromium"
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


@pytest.fixture(scope="module")
def written(demo_files, healthy_anchor, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    db = folder / "memory.db"
    incident = folder / "incident.jsonl"
    lines = demo_files["incident"].read_text().splitlines()
    sample = json.loads(lines[0])
    extra = [
        json.dumps({**sample, "sourcetype": "payments", "level": "ERROR", "message": INJECTED})
        for _ in range(300)
    ]
    incident.write_text("\n".join(lines + extra) + "\n")
    copy_memory(healthy_anchor, db)
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
    shot = tmp_path / "report.png"
    # One run: the DOM once scripts have run, and a screenshot of the same page.
    dom = chromium(
        "--dump-dom",
        "--hide-scrollbars",
        "--window-size=1100,900",
        f"--screenshot={shot}",
        page.as_uri(),
    )
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
    assert shot.stat().st_size > 10_000


@pytest.fixture(scope="module")
def judged(written):
    """The written drift after feedback (one reason carries markup) and a second, similar drift."""
    document, _, db = written
    first = document["signals"][0]["signal_id"]
    given = run_cli(
        "feedback",
        document["drift_id"],
        "1",
        "confirmed",
        "--user",
        "dana",
        "--reason",
        "<b>gateway</b> & co",
        db=db,
    )
    assert given.returncode == 0, given.stderr
    page = run_cli("report", document["drift_id"], "--html", "-", db=db)
    assert page.returncode == 0, page.stderr
    return document, first, page.stdout, db


def test_the_report_carries_windows_units_feedback_legend_and_reproduction(judged):
    from anchor import __version__

    document, first, text, _ = judged
    for label in ("anchor", "current"):
        assert f'data-window="{label}"' in text
        events = document["windows"][label]["events"]
        assert f"{events:,.0f} events" in text
    assert "Legend." in text and "learned weight" in text
    # Values carry their unit (shares and error rates in percent; latency, folded into
    # the payments finding as evidence, is unit-tested in test_cli_terminal).
    assert "%</div>" in text or "% &rarr;" in text
    row = text.split(f'data-signal="{first}"', 1)[1].split("</tr>", 1)[0]
    assert "confirmed by dana" in row and "&lt;b&gt;gateway&lt;/b&gt; &amp; co" in row
    assert "weight 1.00 when ranked" in row  # the weight it was ranked with, before feedback
    assert "<h2>Similar past drifts</h2>" in text
    assert f"anchor report {document['drift_id']}" in text
    assert "recorded by: anchor --db " in text and " compare healthy --input " in text
    assert f"Anchor {html.escape(__version__)}</footer>" in text


def test_each_drill_in_is_limited_to_the_current_window_and_read_only(judged):
    document, _, text, _ = judged
    current = document["windows"]["current"]
    spls = [html.unescape(s) for s in re.findall(r"Drill in: <code>([^<]+)</code>", text)]
    assert len(spls) == len(document["signals"])
    for spl in spls:
        assert f"earliest={int(current['start'])} latest={int(current['end']) + 1}" in spl
        verdict = check_spl(spl)
        assert verdict.allowed, (spl, verdict.reason)


def test_timelines_follow_the_data():
    """An hourly timeline needs at least two clock hours of a window no longer than a day."""
    from anchor.events import Event
    from anchor.fingerprint import Fingerprint
    from anchor.report import timeline_svg
    from anchor.timeline import hourly_timeline

    def window(start, hours, per_hour):
        events = [
            Event(start + h * 3600 + i * (3600 / per_hour), "h", "web", "s", "ok", None, {}, 1.0)
            for h in range(hours)
            for i in range(per_hour)
        ]
        return Fingerprint().add_all(events)

    anchor = window(0.0, 72, 60)
    line = hourly_timeline(anchor, window(80 * 3600.0, 4, 240), "web")
    assert line is not None and len(line["rate"]) == 4
    assert line["expected"] == [60.0] * 4 and all(
        r == pytest.approx(240, rel=0.01) for r in line["rate"]
    )
    assert all(lo < 60 < hi for lo, hi in zip(line["low"], line["high"]))
    assert hourly_timeline(anchor, window(80 * 3600.0, 4, 240), "other") is None
    assert hourly_timeline(anchor, window(80 * 3600.0 + 60, 0, 1), "web") is None
    assert hourly_timeline(anchor, window(80 * 3600.0, 30, 10), "web") is None  # over a day
    svg = timeline_svg(line)
    assert svg.startswith('<svg class="timeline"') and svg.count("<polyline") == 2


@needs_chromium
def test_chromium_renders_the_new_parts(judged, tmp_path):
    document, _, text, _ = judged
    page = tmp_path / "judged.html"
    page.write_text(text, encoding="utf-8")
    shot = tmp_path / "judged.png"
    dom = chromium(
        "--dump-dom",
        "--hide-scrollbars",
        "--window-size=1100,1500",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert dom.returncode == 0 and console_errors(dom.stderr) == []
    assert re.findall(r'data-signal="([^"]+)"', dom.stdout) == [
        s["signal_id"] for s in document["signals"]
    ]
    assert dom.stdout.count('data-window="') == 2
    if '<svg class="timeline"' in text:
        assert dom.stdout.count("<polyline") == text.count("<polyline")
    assert shot.stat().st_size > 10_000
    assert (ROOT / "docs" / "drift-report.png").stat().st_size > 10_000  # the README's picture
