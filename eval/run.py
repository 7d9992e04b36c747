"""Run the scenario suite through Anchor and the peer detector; score both the same way.

    python eval/run.py                 # held-out seeds (the quoted figures)
    python eval/run.py --tune          # tuning seeds (what rules may be looked at with)
    python eval/run.py --quick         # one held-out seed, smaller windows
    python eval/run.py --only three    # scenarios whose name contains "three"

Every module ``eval/scenarios_*.py`` contributes ``scenarios(seed, scale)``.
Each scenario's windows are written as JSONL (the offline contract: time,
host, sourcetype, level, message, fields) and run through ``anchor capture``
and ``anchor compare --json`` (in this process) and through the peer
detector (``<repo>/../shared/peer``, a subprocess; skipped with a note when
absent). Scoring (one function for both): a row *finds* a cause when the row
or any item of its ``evidence`` matches the cause; per scenario the top 10
rows, the rank at which each cause was first found, false HIGH rows (HIGH
rows matching no cause), duplicate rows (top-10 rows whose every matched
cause was already found by a higher row) and, for no-change scenarios, the
HIGH and MEDIUM counts.

Targets: every cause in the top 5, no false HIGH, no duplicate row in the top
10, and a no-change scenario has no HIGH and at most 2 MEDIUM rows.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _peer_dir() -> str:
    """``$ANCHOR_PEER``, else ``shared/peer`` beside the repository (or beside a parent)."""
    if os.environ.get("ANCHOR_PEER"):
        return os.environ["ANCHOR_PEER"]
    parent = os.path.dirname(REPO)
    while True:
        candidate = os.path.join(parent, "shared", "peer")
        if os.path.isdir(candidate) or os.path.dirname(parent) == parent:
            return (
                os.path.join(os.path.dirname(REPO), "shared", "peer")
                if not os.path.isdir(candidate)
                else candidate
            )
        parent = os.path.dirname(parent)


PEER = _peer_dir()
sys.path.insert(0, HERE)
# ANCHOR_EVAL_LIB: another version's lib/ folder, to measure it side by side.
sys.path.insert(0, os.environ.get("ANCHOR_EVAL_LIB") or os.path.join(REPO, "lib"))

from scenario import Scenario  # noqa: E402

# Seeds the rules may be developed with, and seeds they never were: quoted
# figures come from the held-out ones.
TUNING_SEEDS = (1, 2, 3)
HELD_OUT_SEEDS = (11, 12, 13)
TOP = 10
CAUSE_RANK_TARGET = 5
NO_CHANGE_MEDIUM_LIMIT = 2


@dataclass
class Score:
    detector: str
    scenario: str
    rows: list[dict]
    found: list[Optional[int]]  # per cause: the rank first finding it, None when missed
    false_high: int
    duplicates: int
    high: int
    medium: int
    no_change: bool
    exit_code: int = 0
    note: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        if self.no_change:
            return self.high == 0 and self.medium <= NO_CHANGE_MEDIUM_LIMIT
        return (
            all(r is not None and r <= CAUSE_RANK_TARGET for r in self.found)
            and self.false_high == 0
            and self.duplicates == 0
        )


def _items(row: dict) -> list:
    return [row] + list(row.get("evidence") or [])


def score(detector: str, scenario: Scenario, rows: list, **extra) -> Score:
    """Score one ranked list against a scenario's planted causes (the same code for every detector)."""
    top = rows[:TOP]
    found: list[Optional[int]] = [None] * len(scenario.causes)
    false_high = duplicates = 0
    for rank, row in enumerate(top, 1):
        matched = [
            i for i, cause in enumerate(scenario.causes) if any(cause.match(x) for x in _items(row))
        ]
        if not matched:
            false_high += row.get("severity") == "HIGH"
            continue
        if all(found[i] is not None for i in matched):
            duplicates += 1
        for i in matched:
            if found[i] is None:
                found[i] = rank
    high = sum(r.get("severity") == "HIGH" for r in rows)
    medium = sum(r.get("severity") == "MEDIUM" for r in rows)
    return Score(
        detector,
        scenario.name,
        top,
        found,
        false_high,
        duplicates,
        high,
        medium,
        not scenario.causes,
        **extra,
    )


def _write(path: str, events: list) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")


def run_anchor(workdir: str, anchor_path: str, current_path: str) -> tuple:
    from anchor.cli import main

    db = os.path.join(workdir, "anchor.db")
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(io.StringIO()):
        code = main(["--db", db, "capture", "base", "--input", anchor_path])
    if code != 0:
        return [], code
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            [
                "--db",
                db,
                "compare",
                "base",
                "--input",
                current_path,
                "--json",
                "--no-llm",
                "--limit",
                str(TOP),
            ]
        )
    text = sink.getvalue().strip()
    return (json.loads(text)["signals"] if text else []), code


def peer_available() -> Optional[str]:
    """None when the peer can run, else why not."""
    if not os.path.isdir(os.path.join(PEER, "anchor_peer")):
        return f"peer detector not found beside the repository ({os.path.relpath(PEER, REPO)})"
    try:
        importlib.import_module("drain3")
    except ImportError:
        return "the peer detector needs drain3 (pip install -r requirements-dev.txt)"
    return None


def run_peer(workdir: str, anchor_path: str, current_path: str) -> tuple:
    db = os.path.join(workdir, "peer.db")
    env = dict(os.environ, PYTHONPATH=PEER)
    base = [sys.executable, "-m", "anchor_peer", "--db", db]
    done = subprocess.run(
        base + ["capture", "base", "--input", anchor_path], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        return [], done.returncode
    done = subprocess.run(
        base + ["compare", "base", "--input", current_path, "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    text = done.stdout.strip()
    return (json.loads(text)["signals"] if text else []), done.returncode


def load_scenarios(seeds, scale: float, only: str = "") -> list[Scenario]:
    found = []
    for path in sorted(glob.glob(os.path.join(HERE, "scenarios_*.py"))):
        module = importlib.import_module(os.path.splitext(os.path.basename(path))[0])
        for seed in seeds:
            found += [s for s in module.scenarios(seed, scale) if only in s.name]
    return found


def evaluate(scenarios: list[Scenario], *, peer: bool = True, log=print) -> list[Score]:
    why_not = peer_available() if peer else "peer not asked for"
    if peer and why_not:
        log(f"note: {why_not}; scoring Anchor only")
    scores = []
    for scenario in scenarios:
        with tempfile.TemporaryDirectory(prefix="anchor-eval-") as workdir:
            anchor_path = os.path.join(workdir, "anchor.jsonl")
            current_path = os.path.join(workdir, "current.jsonl")
            _write(anchor_path, scenario.anchor)
            _write(current_path, scenario.current)
            runners = [("anchor", run_anchor)] + ([("peer", run_peer)] if not why_not else [])
            for name, runner in runners:
                started = time.perf_counter()
                rows, code = runner(workdir, anchor_path, current_path)
                scores.append(
                    score(
                        name, scenario, rows, exit_code=code, seconds=time.perf_counter() - started
                    )
                )
    return scores


def _what(row: dict) -> str:
    what = (
        row.get("template")
        or row.get("host")
        or " ".join(filter(None, (row.get("field"), row.get("stat"))))
    )
    return what if len(what) <= 48 else what[:45] + "..."


def show(score_: Score, scenario: Scenario, log=print) -> None:
    log(
        f"  [{score_.detector}] exit {score_.exit_code}, {len(score_.rows)} row(s) in the top {TOP}"
    )
    for rank, row in enumerate(score_.rows, 1):
        evidence = len(row.get("evidence") or [])
        extra = f" (+{evidence - 1} folded)" if evidence > 1 else ""
        log(
            f"    {rank:>2} {row.get('severity', '?'):<6} {row.get('kind', ''):<14} "
            f"{row.get('change', ''):<11} {row.get('sourcetype', ''):<12} {_what(row)}{extra}"
        )
    for cause, rank in zip(scenario.causes, score_.found):
        log(f"    cause {cause.label!r}: {'rank ' + str(rank) if rank else 'missed'}")
    if score_.no_change:
        log(f"    no change: {score_.high} HIGH, {score_.medium} MEDIUM")
    log(
        f"    false HIGH {score_.false_high}, duplicates {score_.duplicates}"
        f" -> {'PASS' if score_.passed else 'FAIL'}"
    )


def _cell(s: Optional[Score]) -> str:
    if s is None:
        return "-"
    if s.no_change:
        core = f"H{s.high} M{s.medium}"
    else:
        core = "ranks " + ",".join(str(r) if r else "miss" for r in s.found)
    return f"{core} fH{s.false_high} dup{s.duplicates} {'ok' if s.passed else 'FAIL'}"


def summary(scores: list[Score], log=print) -> None:
    names = list(dict.fromkeys(s.scenario for s in scores))
    by = {(s.detector, s.scenario): s for s in scores}
    width = max(len(n) for n in names) if names else 10
    log(f"{'scenario':<{width}}  {'anchor':<36}  peer")
    for name in names:
        log(
            f"{name:<{width}}  {_cell(by.get(('anchor', name))):<36}  {_cell(by.get(('peer', name)))}"
        )
    for detector in ("anchor", "peer"):
        mine = [s for s in scores if s.detector == detector]
        if not mine:
            continue
        causes = [r for s in mine for r in s.found]
        top5 = sum(r is not None and r <= CAUSE_RANK_TARGET for r in causes)
        quiet = [s for s in mine if s.no_change]
        log(
            f"{detector}: causes in top {CAUSE_RANK_TARGET} {top5}/{len(causes)}, "
            f"false HIGH {sum(s.false_high for s in mine)}, "
            f"duplicates {sum(s.duplicates for s in mine)}, "
            f"quiet windows clean {sum(s.passed for s in quiet)}/{len(quiet)}, "
            f"scenarios passed {sum(s.passed for s in mine)}/{len(mine)}, "
            f"{sum(s.seconds for s in mine):.1f}s"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tune", action="store_true", help="use the tuning seeds")
    parser.add_argument("--seeds", help="comma-separated seeds (overrides --tune)")
    parser.add_argument("--scale", type=float, default=1.0, help="event volume factor")
    parser.add_argument("--quick", action="store_true", help="one seed at half the volume")
    parser.add_argument("--only", default="", help="only scenarios whose name contains this")
    parser.add_argument("--no-peer", action="store_true", help="score Anchor only")
    parser.add_argument("--quiet", action="store_true", help="summary table only")
    parser.add_argument("--check", action="store_true", help="exit 1 when Anchor misses a target")
    args = parser.parse_args(argv)
    seeds = TUNING_SEEDS if args.tune else HELD_OUT_SEEDS
    if args.seeds:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    scale = args.scale
    if args.quick:
        seeds, scale = seeds[:1], scale * 0.5
    print(
        f"seeds {','.join(map(str, seeds))} ({'tuning' if args.tune else 'held-out'}), scale {scale:g}"
    )
    scenarios = load_scenarios(seeds, scale, args.only)
    scores = evaluate(scenarios, peer=not args.no_peer)
    if not args.quiet:
        by_name = {s.name: s for s in scenarios}
        for name in dict.fromkeys(s.scenario for s in scores):
            print(
                f"\n{name} ({len(by_name[name].anchor)} anchor events, {len(by_name[name].current)} current)"
            )
            for s in scores:
                if s.scenario == name:
                    show(s, by_name[name])
        print()
    summary(scores)
    failed = [s for s in scores if s.detector == "anchor" and not s.passed]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
