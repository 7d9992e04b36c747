"""`make demo`: generate the demo data, then run Anchor on it as a user would.

Every step is the real CLI in a subprocess, printed before it runs, so the
output doubles as a tutorial.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))

from anchor.synthetic import generate, write_jsonl  # noqa: E402

OUT = ROOT / "demo-out"
DAY = 86400.0
START = 1_763_942_400.0  # a fixed Monday midnight (UTC): the demo is the same every run


def banner(text: str) -> None:
    print(f"\n=== {text}")


def anchor(*args: str, capture: bool = False) -> str:
    command = [sys.executable, "-m", "anchor", "--db", str(OUT / "anchor.db"), *args]
    shown = ["anchor", *args]
    print(
        "$ "
        + " ".join(
            shlex.quote(os.path.relpath(a, ROOT) if a.startswith(str(ROOT)) else a) for a in shown
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    result = subprocess.run(command, env=env, cwd=str(ROOT), capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"demo step failed: {' '.join(shown)}")
    if result.stderr:
        sys.stderr.write(result.stderr)
    if not capture:
        print(result.stdout, end="")
    return result.stdout


def splunk_side(healthy: Path, incident: Path) -> None:
    """The same engine as Splunk runs it: the bin/ commands over the chunked protocol."""
    sys.path.insert(0, str(ROOT / "tools"))
    from chunked import run_distributed

    from anchor.events import parse_time

    def as_splunk_events(path: Path, limit: int) -> list[dict]:
        events = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                if number >= limit:
                    break
                record = json.loads(line)
                events.append(
                    {
                        "_time": f"{parse_time(record.pop('_time')):.3f}",
                        "_raw": json.dumps(record),
                        "host": record["host"],
                        "sourcetype": record["sourcetype"],
                        "latency_ms": record["latency_ms"],
                    }
                )
        return events

    banner(
        "7. Inside Splunk: the packaged bin/ commands over splunkd's chunked protocol (emulated)"
    )
    env = {"ANCHOR_STORE": f"sqlite:{OUT / 'splunk-memory.db'}"}
    for stale in OUT.glob("splunk-memory.db*"):
        stale.unlink()
    base = as_splunk_events(healthy, 60_000)
    indexers = [base[i::3] for i in range(3)]
    print(
        "index=web earliest=-3d | anchorcapture name=healthy_week metrics=latency_ms   (3 indexers)"
    )
    captured = run_distributed(
        "anchorcapture", ["name=healthy_week", "metrics=latency_ms"], indexers, env=env
    )
    print("  " + json.dumps(captured.records[0]))
    print(
        "index=web earliest=-2h | anchorcompare anchor=healthy_week limit=5 | table rank severity signal_id current"
    )
    compared = run_distributed(
        "anchorcompare",
        ["anchor=healthy_week", "limit=5"],
        [as_splunk_events(incident, 10_000)],
        env=env,
    )
    for row in compared.records:
        print(
            f"  {row['rank']:>2}  {row['severity']:<6}  {row['signal_id']:<55}  {row.get('current', '')}"
        )
    errors = [text for level, text in captured.messages + compared.messages if level == "ERROR"]
    if errors:
        raise SystemExit("demo step failed: " + "; ".join(errors))


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for stale in OUT.glob("anchor.db*"):
        stale.unlink()
    healthy, incident = OUT / "healthy.jsonl", OUT / "incident.jsonl"
    banner("Generating demo logs: 4 services, 3 healthy days, then a 2-hour incident window")
    count = write_jsonl(str(healthy), generate(START, 72, seed=1))
    print(f"{os.path.relpath(healthy, ROOT)}: {count} events (checkout, payments, auth, inventory)")
    count = write_jsonl(
        str(incident), generate(START + 3 * DAY + 14 * 3600, 2, scenario="incident", seed=2)
    )
    print(
        f"{os.path.relpath(incident, ROOT)}: {count} events (payments timeouts, slow payments, inventory-3 silent)"
    )

    banner("1. Capture the healthy window as an anchor")
    anchor("capture", "healthy_week", "--input", str(healthy), "--metric", "latency_ms")
    banner(
        "2. Compare the incident window against it: one row per finding, "
        "(+N related) = signals of the same cause folded into it"
    )
    anchor("compare", "healthy_week", "--input", str(incident), "--no-llm", "--limit", "10")
    document = json.loads(
        anchor(
            "compare", "healthy_week", "--input", str(incident), "--json", "--no-llm", capture=True
        )
    )
    top = document["signals"][0]
    folded = top["evidence"][-1]["signal_id"] if len(top["evidence"]) > 1 else top["signal_id"]
    banner(
        f"3. The on-call engineer confirms {folded}, a signal folded into finding 1 "
        "(feedback works on any evidence id)"
    )
    anchor(
        "feedback",
        "latest",  # the newest drift: no need to copy its id
        folded,
        "confirmed",
        "--reason",
        "payment gateway outage confirmed with the provider",
        "--user",
        "oncall",
    )
    banner("4. The same comparison, re-ranked by what the team has taught Anchor")
    anchor("compare", "healthy_week", "--input", str(incident), "--no-llm", "--limit", "10")
    banner("5. What Anchor has learned")
    anchor("learned")
    anchor("history")
    banner("6. An HTML drift report to attach to the incident ticket")
    anchor("report", "latest", "--html", os.path.relpath(OUT / "drift-report.html", ROOT))
    splunk_side(healthy, incident)
    print(
        "\nDone. The memory is in demo-out/anchor.db; try `PYTHONPATH=lib python -m anchor "
        "--db demo-out/anchor.db --help`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
