"""``--jobs N``: large inputs read by N worker processes give what one process gives."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import assert_same_fingerprint, run_cli

from anchor import parallel
from anchor.events import ReadReport, read_events
from anchor.fingerprint import Fingerprint

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("parallel")

LOGHUB = Path(__file__).resolve().parent.parent / "bench" / "data" / "loghub"
# Small parts, so that these small files are cut into many (the 1.7 MB JSONL file in 107).
PART = 16 * 1024


def jsonl_with_bad_lines(source, count, path):
    """The first ``count`` lines of ``source`` with two unreadable lines late in them."""
    lines = Path(source).read_text(encoding="utf-8").splitlines(keepends=True)[:count]
    lines.insert(len(lines) - 500, "{not json\n")
    lines.insert(len(lines) - 100, "[1, 2]\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def inputs(demo_files, tmp_path_factory):
    """A JSONL file with bad lines late in it, a raw log, a gzip file and a CSV export."""
    folder = tmp_path_factory.mktemp("parallel")
    jsonl = jsonl_with_bad_lines(demo_files["healthy"], 10000, folder / "events.jsonl")
    raw = folder / "hdfs.log"
    shutil.copy(LOGHUB / "HDFS" / "HDFS_2k.log", raw)
    packed = folder / "incident.jsonl.gz"
    with gzip.open(packed, "wb") as handle:
        handle.write(Path(demo_files["incident"]).read_bytes())
    csv = folder / "export.csv"
    csv.write_text('_time,host,_raw\n1700000000,a,"two\nlines"\n1700000060,b,one line\n')
    return [str(jsonl), str(raw), str(packed), str(csv)]


def _read(paths, jobs):
    report = ReadReport()
    fingerprint = parallel.read_fingerprint(paths, jobs=jobs, report=report, part_bytes=PART)
    return fingerprint, report


def test_parts_start_at_line_starts_and_cover_each_file_once(inputs):
    parts = parallel.plan(inputs, None, 4, PART)
    jsonl, raw, packed, csv = inputs
    assert [p for p in parts if p.path in (packed, csv)] == [
        parallel.Part(packed, "jsonl", 0, None),
        parallel.Part(csv, "csv", 0, None),
    ]
    for path in (jsonl, raw):
        pieces = [p for p in parts if p.path == path]
        data = Path(path).read_bytes()
        assert len(pieces) > 3
        assert pieces[0].start == 0 and pieces[-1].end == len(data)
        for before, after in zip(pieces, pieces[1:]):
            assert before.end == after.start and data[after.start - 1 : after.start] == b"\n"


def test_small_inputs_and_stdin_are_read_by_one_process(inputs):
    assert parallel.plan(inputs, None, 4) is None  # under SPLIT_BYTES in all
    assert parallel.plan(inputs, None, 1, PART) is None
    assert parallel.plan(["-", inputs[0]], None, 4, PART) is None


@pytest.fixture(scope="module")
def one_job(inputs):
    """What one process reads, computed once for the tests that compare N jobs with it."""
    return _read(inputs, 1)


@pytest.fixture(scope="module")
def one_job_templates(inputs):
    return list(parallel.templates(inputs, jobs=1, report=ReadReport()))


@pytest.mark.parametrize("jobs", [2, 3, 4])
def test_any_number_of_jobs_gives_the_single_process_fingerprint(inputs, one_job, jobs):
    one, one_report = one_job
    many, many_report = _read(inputs, jobs)
    assert_same_fingerprint(many, one)
    assert many.count == one.count == one_report.events == many_report.events
    # Skipped lines are named by their line in the whole file, not in a part.
    assert many_report.warnings() == one_report.warnings()
    assert "skipped 2 unreadable record(s) in events.jsonl" in one_report.warnings()[0]


def test_one_job_is_the_plain_reader(inputs, one_job):
    fingerprint, _report = one_job
    plain = Fingerprint().add_all(read_events(inputs))
    assert fingerprint.to_dict() == plain.to_dict()


@pytest.mark.parametrize("jobs", [1, 2, 3, 4])
def test_templates_come_in_input_order_for_any_number_of_jobs(inputs, one_job_templates, jobs):
    expected = one_job_templates
    report = ReadReport()
    assert list(parallel.templates(inputs, jobs=jobs, report=report, part_bytes=PART)) == expected
    assert report.events == len(expected)


def test_cli_capture_and_patterns_with_jobs_match_one_job(
    demo_files, inputs, tmp_path, monkeypatch
):
    """A file over SPLIT_BYTES, so the CLI really splits it (in-process, so the threshold
    can be lowered: the last 3 MiB of a 7 MB JSONL file, its bad lines included, make 3
    parts: the CLI's parts are at least 1 MiB).
    """
    monkeypatch.setattr(parallel, "SPLIT_BYTES", 2 * 1024 * 1024)
    source = jsonl_with_bad_lines(demo_files["healthy"], 40000, tmp_path / "events.jsonl")
    data = source.read_bytes()
    big = tmp_path / "big.jsonl"
    big.write_bytes(data[data.index(b"\n", len(data) - 3 * 1024 * 1024) + 1 :])
    assert len(parallel.plan([str(big)], None, 3)) == 3
    results = []
    for jobs in ("1", "3"):
        db = tmp_path / f"jobs{jobs}.db"
        capture = run_cli("capture", "base", "--input", str(big), "--jobs", jobs, db=db)
        assert capture.returncode == 0, capture.stderr
        compare = run_cli("compare", "base", "--input", inputs[2], "--json", "--jobs", jobs, db=db)
        assert compare.returncode == 0, compare.stderr
        signals = json.loads(compare.stdout)["signals"]
        # The summary line ends with the elapsed time, which differs run to run.
        summary = re.sub(r", in [0-9.]+s$", "", capture.stdout.strip())
        results.append((summary, capture.stderr, signals))
    assert results[0] == results[1]
    assert "skipped" in results[0][1]


def test_jobs_must_be_positive(tmp_path, inputs):
    result = run_cli("capture", "x", "--input", inputs[0], "--jobs", "0", db=tmp_path / "m.db")
    assert result.returncode == 2 and "--jobs" in result.stderr


def _worker_pid(events):
    return os.getpid(), sum(1 for _ in events)


def test_workers_are_replaced_after_their_share_of_parts(inputs, monkeypatch):
    # A long run fragments a worker's heap; each worker reads at most PARTS_PER_WORKER parts.
    monkeypatch.setattr(parallel, "PARTS_PER_WORKER", 2)
    parts = parallel.plan(inputs[:1], None, 2, PART)
    pids = list(parallel._run(parts, 2, "demo", None, _worker_pid, ReadReport()))
    assert len(parts) > 8 and len(pids) == len(parts)
    # Each run of 2 workers x 2 parts has its own workers: a worker never reads past its run.
    windows = {pid: {index // 4 for index, seen in enumerate(pids) if seen == pid} for pid in pids}
    assert all(len(runs) == 1 for runs in windows.values())
    assert len({run for runs in windows.values() for run in runs}) == (len(parts) + 3) // 4
