"""Reading large inputs on every core, for the offline CLI (``--jobs N``).

Fingerprints are mergeable, so a large input is read as the indexers read
a search: JSONL and raw files are cut into byte ranges at line starts, each
range is read by a worker process into a partial fingerprint, and the
partials are merged in input order. A gzip file, a CSV export (a quoted cell
may span lines) and stdin cannot be cut: each is one part, read whole by one
worker (stdin by this process). Inputs smaller than ``SPLIT_BYTES`` are read
here, in one process: starting workers would cost more than it saves.

The merged fingerprint equals the single-process one (sums of floats may
differ in their last bits by addition order, as between indexers; see
``fingerprint.content_digest``), and skipped-record warnings name the same
lines.
"""

from __future__ import annotations

import io
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, NamedTuple, Optional

from anchor.errors import InputError
from anchor.events import (
    DEFAULT_SOURCETYPE,
    FORMATS,
    NO_CHOICE,
    FieldChoice,
    ReadReport,
    _open_text,
    detect_format,
    read_events,
    read_handle,
)
from anchor.fingerprint import Fingerprint
from anchor.patterns import template_of

SPLIT_BYTES = 8 * 1024 * 1024  # below this in all, one process reads everything
PART_BYTES = 16 * 1024 * 1024  # at most this much of a file per part (each is streamed)
# Workers are replaced after about this many parts each. A worker that read 28 parts once
# peaked 42% above one that had read 14; most of that was each part read into memory whole
# (now streamed: over 12 parts a worker's peak stays flat), the rest the churn of a long run
# among bounded caches. Python 3.9's executors cannot recycle a worker (max_tasks_per_child
# is 3.11+), so each run of ``workers x PARTS_PER_WORKER`` parts gets a fresh executor; a
# fork costs milliseconds.
PARTS_PER_WORKER = 8


class Part(NamedTuple):
    """A piece of one input: bytes [start, end) of a file, or the whole file (end None)."""

    path: str
    kind: str
    start: int
    end: Optional[int]


class PartResult(NamedTuple):
    value: Any
    events: int
    lines: int
    skipped: int
    first_skipped: Optional[tuple[int, str]]


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _kind(path: str, fmt: Optional[str]) -> str:
    kind = fmt or detect_format(path)
    if kind not in FORMATS:
        raise InputError(f"unknown format {kind!r}: use one of {', '.join(FORMATS)}")
    return kind


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _cuts(path: str, size: int, part_bytes: int) -> list[int]:
    """Offsets of line starts about ``part_bytes`` apart, from 0 to ``size``."""
    cuts = [0]
    with open(path, "rb") as handle:
        for target in range(part_bytes, size, part_bytes):
            if target <= cuts[-1]:
                continue  # a line longer than a part
            handle.seek(target - 1)
            handle.readline()  # to the end of the line that holds byte target - 1
            position = handle.tell()
            if position < size:
                cuts.append(position)
    cuts.append(size)
    return cuts


def plan(
    paths: Sequence[str], fmt: Optional[str], jobs: int, part_bytes: Optional[int] = None
) -> Optional[list[Part]]:
    """The parts to read on ``jobs`` workers, or None when one process should read all."""
    if jobs <= 1 or "-" in paths:
        return None
    kinds = [_kind(path, fmt) for path in paths]
    sizes = [_size(path) for path in paths]
    if part_bytes is None:
        if sum(sizes) < SPLIT_BYTES:
            return None
        part_bytes = min(PART_BYTES, max(1024 * 1024, sum(sizes) // (jobs * 4) + 1))
    parts = []
    for path, kind, size in zip(paths, kinds, sizes):
        if kind == "csv" or path.lower().endswith(".gz") or size <= part_bytes:
            parts.append(Part(path, kind, 0, None))
            continue
        cuts = _cuts(path, size, part_bytes)
        parts += [Part(path, kind, a, b) for a, b in zip(cuts, cuts[1:])]
    return parts if len(parts) > 1 else None


_FIRST = re.compile(r"line (\d+): (.*)", re.S)


class _ByteRange(io.RawIOBase):
    """Bytes [start, end) of a file as a stream. A part is read a buffer at a time, never
    held whole: a worker that read 16 MB parts in one piece peaked 16 MB higher every
    few parts (the allocator keeps a freed block that large for the next one)."""

    def __init__(self, path: str, start: int, end: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close(), with the wrapper)
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        count = self._file.readinto(memoryview(buffer)[: self._left])
        self._left -= count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def _read_part(
    part: Part,
    sourcetype: str,
    metrics: Optional[Sequence[str]],
    fold: Callable,
    fields: FieldChoice = NO_CHOICE,
) -> PartResult:
    """In a worker: the events of one part, folded by ``fold`` into a picklable value."""
    if part.end is None:
        handle: Any = _open_text(part.path)
    else:
        # Decoded as _open_text decodes a whole file (a part starts after a newline
        # byte, never inside a UTF-8 sequence), a few kilobytes at a time.
        handle = io.TextIOWrapper(
            io.BufferedReader(_ByteRange(part.path, part.start, part.end)),
            encoding="utf-8",
            errors="replace",
            newline="",
        )
    report = ReadReport()
    with handle:
        events = read_handle(handle, part.path, part.kind, sourcetype, metrics, report, fields)
        value = fold(events)
    first = None
    if report.skipped:
        match = _FIRST.match(report.first_skipped[part.path])
        if match:
            first = (int(match.group(1)), match.group(2))
    return PartResult(value, report.events, report.lines, report.skipped.get(part.path, 0), first)


def _fold_fingerprint(events: Iterable) -> Fingerprint:
    # The partial travels pickled as it is: its classes pickle their slots, which
    # costs less on both sides than to_dict (sorting every table) and from_dict.
    return Fingerprint().add_all(events)


def _line_template(event: Any) -> tuple[str, Any]:
    # The header-aware template the reader computed, else the message's own.
    return event.sourcetype, event.template or template_of(event.message)


def _fold_templates(events: Iterable) -> list[tuple[str, Any]]:
    return [_line_template(event) for event in events]


def _run(
    parts: Sequence[Part],
    jobs: int,
    sourcetype: str,
    metrics: Optional[Sequence[str]],
    fold: Callable,
    report: ReadReport,
    fields: FieldChoice = NO_CHOICE,
) -> Iterator[Any]:
    """Each part's folded value, in input order, with at most 2 x ``jobs`` parts in flight
    (so memory stays bounded however slowly the caller consumes them)."""
    line_offset: dict[str, int] = {}
    workers = min(jobs, len(parts))
    pools: list[ProcessPoolExecutor] = []
    pending: deque[Future] = deque()
    queue = iter(enumerate(parts))

    def submit() -> None:
        item = next(queue, None)
        if item is None:
            return
        index, part = item
        if index % (workers * PARTS_PER_WORKER) == 0:
            if pools:  # the previous executor's workers exit once its parts are done
                pools[-1].shutdown(wait=False)
            pools.append(ProcessPoolExecutor(max_workers=workers))
        pending.append(pools[-1].submit(_read_part, part, sourcetype, metrics, fold, fields))

    try:
        for _ in range(2 * jobs):
            submit()
        for part in parts:
            result: PartResult = pending.popleft().result()
            submit()
            path = part.path
            offset = line_offset.get(path, 0)
            line_offset[path] = offset + result.lines
            report.events += result.events
            if result.skipped:
                report.skipped[path] = report.skipped.get(path, 0) + result.skipped
                if result.first_skipped and path not in report.first_skipped:
                    number, why = result.first_skipped
                    report.first_skipped[path] = f"line {offset + number}: {why}"
            yield result.value
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def read_fingerprint(
    paths: Sequence[str],
    *,
    fmt: Optional[str] = None,
    sourcetype: Optional[str] = None,
    metrics: Optional[Sequence[str]] = None,
    jobs: int = 1,
    report: ReadReport,
    part_bytes: Optional[int] = None,
    fields: FieldChoice = NO_CHOICE,
    observe: Optional[Callable[[Iterator[Any]], Iterator[Any]]] = None,
) -> Fingerprint:
    """The fingerprint of ``paths``, read by up to ``jobs`` processes (``observe`` wraps
    the event stream when one process reads it)."""
    parts = plan(paths, fmt, jobs, part_bytes)
    if parts is None:
        events: Iterator[Any] = read_events(
            paths, fmt=fmt, sourcetype=sourcetype, metrics=metrics, report=report, fields=fields
        )
        if observe is not None:
            events = observe(events)
        return Fingerprint().add_all(events)
    fingerprint: Optional[Fingerprint] = None
    for partial in _run(
        parts, jobs, sourcetype or DEFAULT_SOURCETYPE, metrics, _fold_fingerprint, report, fields
    ):
        # The first partial is the start of the result: one merge fewer.
        fingerprint = partial if fingerprint is None else fingerprint.merge(partial)
    return fingerprint if fingerprint is not None else Fingerprint()


def templates(
    paths: Sequence[str],
    *,
    fmt: Optional[str] = None,
    sourcetype: Optional[str] = None,
    jobs: int = 1,
    report: ReadReport,
    part_bytes: Optional[int] = None,
) -> Iterator[tuple[str, Any]]:
    """(sourcetype, template) of every event of ``paths`` in input order, on up to ``jobs``
    processes (the caller generalizes them: patterns/merge.py)."""
    parts = plan(paths, fmt, jobs, part_bytes)
    if parts is None:
        for event in read_events(paths, fmt=fmt, sourcetype=sourcetype, report=report):
            yield _line_template(event)
        return
    for chunk in _run(parts, jobs, sourcetype or DEFAULT_SOURCETYPE, None, _fold_templates, report):
        yield from chunk
