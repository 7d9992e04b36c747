"""`make inspect`: AppInspect (precert, cloud tags) and slim validate on the built package.

Fails (exit 1) on any AppInspect failure or error, or any slim error, and
prints the counts. The JSON report is kept in dist/ for docs/PACKAGING.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    package = Path(sys.argv[1])
    tools = Path(sys.argv[2])  # the inspect virtualenv's bin/
    report = package.with_suffix(".appinspect.json")
    subprocess.run(
        [
            str(tools / "splunk-appinspect"),
            "inspect",
            str(package),
            "--mode",
            "precert",
            "--included-tags",
            "cloud",
            "--data-format",
            "json",
            "--output-file",
            str(report),
        ],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    try:
        summary = json.loads(report.read_text())["summary"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"inspect: AppInspect produced no readable report ({exc})", file=sys.stderr)
        return 1
    print("AppInspect (precert, cloud): " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    data = json.loads(report.read_text())
    for group in data.get("reports", [{}])[0].get("groups", []):
        for check in group.get("checks", []):
            if check.get("result") in ("failure", "error", "warning"):
                messages = {
                    m.get("message", "").split("\n")[0][:160] for m in check.get("messages", [])
                }
                print(f"  {check['result']}: {check['name']}: {'; '.join(sorted(messages))[:300]}")
    slim = subprocess.run(
        [str(tools / "slim"), "validate", str(package)],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": os.environ.get("HOME", str(ROOT))},
    )
    slim_errors = [line for line in slim.stderr.splitlines() if "[ERROR]" in line]
    slim_warnings = [line for line in slim.stderr.splitlines() if "[WARNING]" in line]
    # app.conf must be clean: a setting slim does not know there (setup_view outside [ui])
    # is one Splunk ignores, so the app would have no setup link.
    app_conf_warnings = [line for line in slim_warnings if "app.conf" in line]
    print(
        f"slim validate: exit {slim.returncode}, {len(slim_errors)} error(s), {len(slim_warnings)} warning(s)"
    )
    for line in slim_errors + app_conf_warnings:
        print("  " + line)
    failed = (
        summary.get("failure", 0) + summary.get("error", 0) > 0
        or slim.returncode != 0
        or slim_errors
        or app_conf_warnings
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
