"""Shared fixtures: generated datasets and a CLI runner that runs Anchor as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anchor.events import parse_time
from anchor.synthetic import generate, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "lib"
DAY = 86400.0
# A fixed midnight so generated data is identical on every run.
T0 = 1_763_942_400.0


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(LIB)
    env.pop("ANCHOR_DB", None)
    env.update(extra)
    return env


def run_cli(*args: str, db: Path | None = None, stdin: str | None = None, env=None):
    command = [sys.executable, "-m", "anchor"]
    if db is not None:
        command += ["--db", str(db)]
    command += list(args)
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=str(ROOT),
        timeout=300,
    )


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory) -> dict[str, Path]:
    """A 3-day healthy window and a 2-hour incident window (see anchor.synthetic)."""
    folder = tmp_path_factory.mktemp("demo")
    healthy = folder / "healthy.jsonl"
    incident = folder / "incident.jsonl"
    calm = folder / "calm.jsonl"
    write_jsonl(str(healthy), generate(T0, 72, seed=1, rate_scale=0.5))
    write_jsonl(
        str(incident),
        generate(T0 + 3 * DAY + 10 * 3600, 2, scenario="incident", seed=2, rate_scale=0.5),
    )
    write_jsonl(str(calm), generate(T0 + 3 * DAY + 10 * 3600, 2, seed=3, rate_scale=0.5))
    return {"healthy": healthy, "incident": incident, "calm": calm}


@pytest.fixture(scope="session")
def demo_fingerprints(demo_files):
    from anchor.events import read_events
    from anchor.fingerprint import Fingerprint

    anchor = Fingerprint().add_all(read_events([str(demo_files["healthy"])]))
    incident = Fingerprint().add_all(read_events([str(demo_files["incident"])]))
    return anchor.trim(), incident


def splunk_events(path, limit=None):
    """JSONL demo events as splunkd would hand them over: epoch _time, JSON _raw, default fields."""
    events = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if limit is not None and number >= limit:
                break
            record = json.loads(line)
            epoch = parse_time(record["_time"])
            raw = json.dumps(
                {
                    "level": record["level"],
                    "message": record["message"],
                    "latency_ms": record["latency_ms"],
                }
            )
            events.append(
                {
                    "_time": f"{epoch:.3f}",
                    "_raw": raw,
                    "host": record["host"],
                    "sourcetype": record["sourcetype"],
                    "source": "/var/log/app.json",
                    "index": "web",
                    "linecount": "1",
                    "splunk_server": "idx1",
                    "punct": '{"":"",',
                    "date_hour": "3",
                    "latency_ms": str(record["latency_ms"]),
                    "level": record["level"],
                    "tag": ["prod", "payments"] if record["sourcetype"] == "payments" else "",
                }
            )
    return events
