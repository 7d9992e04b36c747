"""Shared fixtures: generated datasets and CLI runners that run Anchor as a user would."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import io
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from anchor import operations
from anchor.events import parse_time
from anchor.synthetic import generate, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "lib"
DAY = 86400.0
# A fixed midnight so generated data is identical on every run.
T0 = 1_763_942_400.0


def examples(full: int) -> int:
    """``max_examples`` for a property test marked ``fuzz`` outside tests/test_fuzz.py.

    ``make fuzz`` (ANCHOR_FUZZ_EXAMPLES set) runs the test's ``full`` budget, or that
    setting if larger; the normal suite runs a fifth of it.
    """
    fuzz = os.environ.get("ANCHOR_FUZZ_EXAMPLES")
    return max(full, int(fuzz)) if fuzz else max(10, full // 5)


def assert_same_fingerprint(first, second) -> None:
    """Two fingerprints (or their ``to_dict()``) hold the same content. Float sums depend
    on addition order in their last bits, so they are compared to 12 digits; everything
    else exactly. (``content_digest`` rounds instead, which a sum that lands either side
    of a rounding boundary defeats: not for asserting that splits agree.)"""
    first = first.to_dict() if hasattr(first, "to_dict") else first
    second = second.to_dict() if hasattr(second, "to_dict") else second
    for name, summary in first["sourcetypes"].items():
        other = second["sourcetypes"][name]
        pairs = [(summary["metrics"], other["metrics"])]
        pairs += [(m, other["host_metrics"][h]) for h, m in summary["host_metrics"].items()]
        for mine, theirs in pairs:
            for metric, stats in mine.items():
                for key in ("sum", "sum_sq"):
                    assert theirs[metric].pop(key) == pytest.approx(stats.pop(key), rel=1e-12)
    assert first == second


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(LIB)
    env.pop("ANCHOR_DB", None)
    env.update(extra)
    return env


def _cli_argv(args: Sequence[object], db: Path | None) -> list[str]:
    return (["--db", str(db)] if db is not None else []) + [str(arg) for arg in args]


@dataclass
class CliResult:
    """What a user sees of one `anchor` run: the exit status and both streams."""

    __slots__ = ("returncode", "stderr", "stdout")
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: object, db: Path | None = None, stdin: str | None = None, env=None):
    """`python -m anchor ARGS` run in-process: the same main(argv), streams and exit status.

    No interpreter start-up per call. The environment (``env``, default cli_env()),
    stdin (empty unless given) and working directory are those the subprocess would
    have, and restored afterwards; an uncaught exception becomes exit 1 with its
    traceback on stderr, as Python itself reports it. run_cli_process keeps the real
    entry point covered.
    """
    from anchor import cli

    out, err = io.StringIO(), io.StringIO()
    data = io.TextIOWrapper(io.BytesIO((stdin or "").encode("utf-8")), encoding="utf-8")
    cwd = os.getcwd()
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, env or cli_env(), clear=True))
        stack.enter_context(mock.patch.object(sys, "stdin", data))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        os.chdir(ROOT)
        try:
            code = cli.main(_cli_argv(args, db))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except Exception:
            traceback.print_exc()
            code = 1
        finally:
            os.chdir(cwd)
    return CliResult(code, out.getvalue(), err.getvalue())


def run_cli_process(*args: object, db: Path | None = None, stdin: str | None = None, env=None):
    """`python -m anchor ARGS` in a subprocess: the real entry point, start-up and all."""
    return subprocess.run(
        [sys.executable, "-m", "anchor", *_cli_argv(args, db)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=str(ROOT),
        timeout=300,
    )


@pytest.fixture(scope="module")
def command_env(tmp_path_factory):
    """The bin/ commands' environment with their memory in SQLite (the ``ANCHOR_STORE``
    developer setting) rather than the KV Store, one memory per test module: (env, db).
    """
    db = tmp_path_factory.mktemp("commands") / "memory.db"
    return {"ANCHOR_STORE": f"sqlite:{db}", "PYTHONPATH": ""}, db


def pytest_configure(config):
    """Bytecode is kept in build/pycache/ (git-ignored, never packaged, nothing written
    next to the sources), for this process, the xdist workers it starts and the
    subprocesses the tests start.

    With PYTHONDONTWRITEBYTECODE set (as here and in CI), pytest would rewrite the
    asserts of every test module again in each worker on every run (half of collecting
    the suite), and each of some 190 Python subprocesses (the bin/ commands as splunkd
    runs them, the CLI, the modular input) would compile the modules of lib/ it imports
    again in a fresh clone. Kept, each is compiled once per checkout and again only when
    it changes. The code that runs is the same: only its compilation is kept.
    """
    prefix = str(ROOT / "build" / "pycache")
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder ``name``, filled by ``make(folder)`` once per run of the suite.

    Under pytest-xdist each worker has a session of its own, so a session fixture is
    computed by every worker. The workers' temporary folders share a parent made for
    this run: the first worker to take the lock there makes the folder, the others wait
    for it and read it. What is made there is shared: use it read-only.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not (folder / ".made").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".made").touch()
    return folder


def _write_demo(folder: Path) -> None:
    write_jsonl(str(folder / "healthy.jsonl"), generate(T0, 72, seed=1, rate_scale=0.5))
    write_jsonl(
        str(folder / "incident.jsonl"),
        generate(T0 + 3 * DAY + 10 * 3600, 2, scenario="incident", seed=2, rate_scale=0.5),
    )
    write_jsonl(
        str(folder / "calm.jsonl"), generate(T0 + 3 * DAY + 10 * 3600, 2, seed=3, rate_scale=0.5)
    )


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory) -> dict[str, Path]:
    """A 3-day healthy window and a 2-hour incident window (see anchor.synthetic).

    Shared by the run (made_once): read them, never write to them.
    """
    folder = made_once(tmp_path_factory, "demo", _write_demo)
    return {name: folder / f"{name}.jsonl" for name in ("healthy", "incident", "calm")}


@pytest.fixture(scope="session")
def demo_fingerprints(demo_files, tmp_path_factory):
    """The healthy window's fingerprint (trimmed, as a capture stores it) and the incident's."""

    def make(folder: Path) -> None:
        from anchor.events import read_events
        from anchor.fingerprint import Fingerprint

        anchor = Fingerprint().add_all(read_events([str(demo_files["healthy"])]))
        incident = Fingerprint().add_all(read_events([str(demo_files["incident"])]))
        (folder / "fingerprints.pickle").write_bytes(pickle.dumps((anchor.trim(), incident)))

    folder = made_once(tmp_path_factory, "demo-fingerprints", make)
    # Each worker unpickles objects of its own, as it had made them itself.
    return pickle.loads((folder / "fingerprints.pickle").read_bytes())


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


def copy_memory(source: Path, target: Path) -> Path:
    """A copy of a SQLite memory made with SQLite's backup API.

    A byte copy of the file can miss pages still in the write-ahead log.
    """
    origin, copy = sqlite3.connect(str(source)), sqlite3.connect(str(target))
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()
    return target


def _captured_demo(tmp_path_factory, demo_files, name: str, *options: str) -> Path:
    def make(folder: Path) -> None:
        result = run_cli(
            "capture", name, "--input", demo_files["healthy"], *options, db=folder / "anchor.db"
        )
        assert result.returncode == 0, result.stderr
        assert f"captured anchor '{name}'" in result.stdout

    return made_once(tmp_path_factory, name, make) / "anchor.db"


@pytest.fixture(scope="session")
def healthy_week(demo_files, tmp_path_factory) -> Path:
    """A memory with the demo's healthy window captured as 'healthy_week' (metric latency_ms).

    Shared by the run (made_once): write only to a copy (copy_memory).
    """
    return _captured_demo(tmp_path_factory, demo_files, "healthy_week", "--metric", "latency_ms")


@pytest.fixture(scope="session")
def healthy_anchor(demo_files, tmp_path_factory) -> Path:
    """A memory with the demo's healthy window captured as 'healthy', the CLI's defaults.

    Shared by the run (made_once): write only to a copy (copy_memory).
    """
    return _captured_demo(tmp_path_factory, demo_files, "healthy")


def judged_drift(
    memory,
    baseline,
    current,
    *,
    times: tuple[float, float, float],
    user: str = "alice",
    outcome: str = "confirmed",
    signal: int = 0,
    reason: str = "",
    anchor: str = "healthy",
):
    """The memory most tests start from: ``baseline`` captured as ``anchor``, ``current``
    compared against it, and one of its signals judged; ``times`` says when each happened.

    Returns the drift's report.
    """
    captured, compared, judged = times
    operations.capture(memory, anchor, baseline, user=user, now=captured)
    report = operations.compare(memory, anchor, current, user=user, now=compared)
    signal_id = report.signals[signal].signal_id
    operations.feedback(
        memory, report.drift_id, signal_id, outcome, user=user, now=judged, reason=reason
    )
    return report


@pytest.fixture(scope="session")
def small_export(tmp_path_factory):
    """An export of a small memory (12 healthy hours, a 2-hour incident, one confirmed
    signal) as its decoded document, and the incident's file; tests change only copies.
    """
    from anchor import maintenance
    from anchor.events import read_events
    from anchor.fingerprint import Fingerprint
    from anchor.memory import Memory
    from anchor.store import SQLiteStore

    folder = tmp_path_factory.mktemp("small-export")
    healthy, incident = folder / "h.jsonl", folder / "i.jsonl"
    write_jsonl(str(healthy), generate(T0, 12, seed=1, rate_scale=0.1))
    write_jsonl(str(incident), generate(T0 + DAY, 2, scenario="incident", seed=2, rate_scale=0.1))
    memory = Memory(SQLiteStore(str(folder / "m.db")))
    now = T0 + 5 * DAY
    judged_drift(
        memory,
        Fingerprint().add_all(read_events([str(healthy)])),
        Fingerprint().add_all(read_events([str(incident)])),
        times=(now - 3600, now - 1800, now - 60),
    )
    return json.loads(gzip.decompress(maintenance.build_export(memory.store, now))), incident


def recompute_manifest(document) -> bytes:
    """The export ``document`` with its manifest recomputed, as anyone who can write the
    bucket can do, gzipped. maintenance._digest is the unit here: no public path
    digests documents that were never in a store.
    """
    from anchor import maintenance
    from anchor.store import COLLECTIONS

    for name in COLLECTIONS:
        docs = document["collections"][name]
        document["manifest"][name] = {"count": len(docs), "sha256": maintenance._digest(docs)}
    return gzip.compress(json.dumps(document).encode())
