"""Nightly maintenance: weight decay, feedback compaction, drift retention, export, verify, restore.

``run_step`` is the one dispatch of these steps: the CLI, the
``anchormaintenance`` command and the nightly input all call it.

Exports are one gzip JSON file per run, self-describing and versioned, with a
SHA-256 manifest per collection, named ``anchor-memory/<ISO-8601 basic
time>.json.gz``. A destination only ever sees a complete file: local writes
go to a temporary name and are renamed into place, and OSS objects appear
only when their upload completes. Restore verifies the whole file before it
writes anything, and writing the same documents twice is harmless because
keys are deterministic.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import tempfile
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional, Protocol

from anchor import __version__
from anchor.errors import AnchorError, InputError
from anchor.memory import DRIFTS, FEEDBACK, WEIGHTS, Memory
from anchor.store import COLLECTIONS, Store
from anchor.weights import OUTCOMES, decay_factor, derive_weights, latest_per_voter

EXPORT_FORMAT = "anchor-memory"
EXPORT_VERSION = 1
EXPORT_PREFIX = "anchor-memory/"
EXPORT_NAME = re.compile(r"^anchor-memory/(\d{8}T\d{6}Z)\.json\.gz$")
GRACE_SECONDS = 24 * 3600.0
# A contribution below this is invisible after rounding: such entries may go.
NEGLIGIBLE = 1e-4
RESTORE_BATCH = 500
MIN_EXPANSION_CAP = 64 << 20
EXPANSION_RATIO = 40


class MaintenanceError(AnchorError):
    """A maintenance run failed; nothing was deleted and no partial export looks valid."""


# -- decay and compaction -------------------------------------------------------
@dataclass
class DecayReport:
    updated: list[str] = field(default_factory=list)
    skipped_recent: int = 0
    legacy_without_time: list[str] = field(default_factory=list)
    unchanged: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        text = (
            f"decay: {len(self.updated)} weight(s) updated, {self.unchanged} unchanged, "
            f"{self.skipped_recent} skipped (updated in the last 24 h)"
        )
        if self.legacy_without_time:
            text += (
                f", {len(self.legacy_without_time)} legacy row(s) without a timestamp left as they"
                " are (give feedback on those signals once to backfill)"
            )
        return text + (" [dry run: nothing written]" if self.dry_run else "")


def decay(memory: Memory, now: float, *, dry_run: bool = False) -> DecayReport:
    """Refresh the ``anchor_weights`` view to the weights derived as of ``now``.

    Rankings always derive weights from the feedback log, so this only keeps
    the lookup the dashboards read in step. Rows refreshed within the last 24
    hours are skipped, which also makes a second run in a row a no-op.
    """
    report = DecayReport(dry_run=dry_run)
    derived = derive_weights(memory.feedback(), now)
    rows: dict[str, dict] = {str(row.get("signal_id")): row for row in memory.store.scan(WEIGHTS)}
    writes = []
    for signal_id in sorted(set(rows) | set(derived)):
        row = rows.get(signal_id, {})  # empty: no row in the view yet
        info = derived.get(signal_id)
        if info is None:  # in the view only: no feedback derives its weight any more
            if row.get("updated") is None and row.get("last_feedback") is None:
                report.legacy_without_time.append(signal_id)
            else:
                report.unchanged += 1
            continue
        updated = row.get("updated")
        if updated is not None and now - float(updated) < GRACE_SECONDS:
            report.skipped_recent += 1
            continue
        document = Memory.weight_document(info, now)
        if row and row.get("weight") == document["weight"]:
            report.unchanged += 1
            continue
        writes.append(document)
        report.updated.append(signal_id)
    if writes and not dry_run:
        memory.store.put_many(WEIGHTS, writes)
    return report


def compact(memory: Memory, now: float, *, dry_run: bool = False) -> int:
    """Remove feedback entries that no longer affect any weight.

    Superseded entries (a later entry by the same user on the same signal of
    the same drift exists) never count; very old entries contribute less than
    ``NEGLIGIBLE``. Returns how many entries were (or would be) removed.
    """
    entries = list(memory.feedback())
    kept = {e["_key"] for e in latest_per_voter(entries)}
    removable = [
        e["_key"]
        for e in entries
        if e["_key"] not in kept
        or abs(OUTCOMES.get(e["outcome"], 0.0)) * decay_factor(now - e["time"]) < NEGLIGIBLE
    ]
    if removable and not dry_run:
        memory.store.delete(FEEDBACK, removable)
    return len(removable)


# -- export, verify, restore ------------------------------------------------------
def export_name(now: float) -> str:
    stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{EXPORT_PREFIX}{stamp}.json.gz"


def _digest(docs: Sequence[Mapping[str, Any]]) -> str:
    text = json.dumps(list(docs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_export(store: Store, now: float) -> bytes:
    """Read every collection completely, then serialize; a read error raises before any write."""
    collections = {name: sorted(store.scan(name), key=lambda d: d["_key"]) for name in COLLECTIONS}
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "created": datetime.fromtimestamp(now, tz=timezone.utc).isoformat(),
        "anchor_version": __version__,
        "manifest": {
            name: {"count": len(docs), "sha256": _digest(docs)}
            for name, docs in collections.items()
        },
        "collections": collections,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def _gunzip(data: bytes) -> bytes:
    """``gzip.decompress`` with a ceiling: a small file must not expand into gigabytes.

    Exports are JSON numbers and text (about 3x smaller gzipped); the ceiling allows 64 MiB or
    40x the file, whichever is larger, so only a decompression bomb reaches it.
    """
    limit = max(MIN_EXPANSION_CAP, EXPANSION_RATIO * len(data))
    pieces, size, rest = [], 0, data
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while True:  # an empty input still flushes output held back by the size cap
            piece = inflater.decompress(rest, min(1 << 20, limit + 1 - size))
            rest = inflater.unconsumed_tail
            size += len(piece)
            pieces.append(piece)
            if size > limit:
                raise InputError(
                    f"the export expands past {limit // (1 << 20)} MiB: refused as a decompression bomb"
                )
            if inflater.eof or (not piece and not rest):
                break
        if not inflater.eof:
            raise EOFError("compressed data ended before the end-of-stream marker")
        rest = inflater.unused_data.lstrip(b"\0")  # gzip members may follow, then padding
    return b"".join(pieces)


def verify_export(data: bytes, *, documents: bool = True) -> dict[str, Any]:
    """The parsed export, or a clear error saying why it cannot be trusted.

    ``documents=False`` checks only that the file is complete and matches its manifest: an
    export of the live memory is written even if a document in it is odd, since a backup that
    refuses to happen helps no one; restore checks every document.
    """
    from anchor.export_check import check_collections

    try:
        text = _gunzip(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(
            f"not a complete gzip file ({exc}): the export is corrupt or truncated"
        ) from exc
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"the export is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise InputError("not an Anchor memory export (format field missing or different)")
    if document.get("version") != EXPORT_VERSION:
        raise InputError(
            f"export version {document.get('version')!r} is not supported "
            f"(this Anchor reads version {EXPORT_VERSION})"
        )
    manifest, collections = document.get("manifest"), document.get("collections")
    if not isinstance(manifest, dict) or not isinstance(collections, dict):
        raise InputError("the export has no manifest or no collections")
    for name in COLLECTIONS:
        docs = collections.get(name)
        entry = manifest.get(name)
        if not isinstance(docs, list) or not isinstance(entry, dict):
            raise InputError(f"the export lacks collection {name}")
        if entry.get("count") != len(docs) or entry.get("sha256") != _digest(docs):
            raise InputError(
                f"collection {name} does not match its manifest (count or SHA-256): "
                "the export was modified or damaged"
            )
        if any(not isinstance(d, dict) or not isinstance(d.get("_key"), str) for d in docs):
            raise InputError(f"collection {name} holds a document without a _key")
    unknown = set(collections) - set(COLLECTIONS)
    if unknown:
        raise InputError(f"the export holds unknown collections: {', '.join(sorted(unknown))}")
    if documents:
        check_collections(collections)
    return document


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number an export may hold")


def restore_export(store: Store, data: bytes) -> dict[str, int]:
    """Verify, then write every document; existing documents with the same key are replaced."""
    document = verify_export(data)
    counts = {}
    for name in COLLECTIONS:
        docs = document["collections"][name]
        for start in range(0, len(docs), RESTORE_BATCH):
            store.put_many(name, docs[start : start + RESTORE_BATCH])
        counts[name] = len(docs)
    return counts


# -- destinations ------------------------------------------------------------------
class Destination(Protocol):
    def put(self, name: str, data: bytes) -> str:
        """Store a complete export; return where it went (a path or a URL-like key)."""

    def names(self) -> list[str]:
        """Every stored export name (``anchor-memory/...``)."""

    def delete(self, name: str) -> None: ...

    def get(self, name: str) -> bytes: ...


class LocalDestination:
    """Exports under a directory: ``<dir>/anchor-memory/<time>.json.gz``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, name: str) -> str:
        if not EXPORT_NAME.fullmatch(name):
            raise InputError(f"not an Anchor export name: {name!r}")
        return os.path.join(self.directory, *name.split("/"))

    def put(self, name: str, data: bytes) -> str:
        path = self._path(name)
        folder = os.path.dirname(path)
        try:
            os.makedirs(folder, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".partial-", dir=folder)
        except OSError as exc:
            raise MaintenanceError(f"cannot write to {folder}: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise MaintenanceError(f"cannot write export {path}: {exc.strerror or exc}") from exc
        return path

    def names(self) -> list[str]:
        folder = os.path.join(self.directory, EXPORT_PREFIX.rstrip("/"))
        try:
            entries = os.listdir(folder)
        except FileNotFoundError:
            return []
        return sorted(
            EXPORT_PREFIX + entry
            for entry in entries
            if EXPORT_NAME.fullmatch(EXPORT_PREFIX + entry)
        )

    def delete(self, name: str) -> None:
        os.unlink(self._path(name))

    def get(self, name: str) -> bytes:
        with open(self._path(name), "rb") as stream:
            return stream.read()


def prune(destination: Destination, now: float, retention_days: float, keep: str) -> list[str]:
    """Delete our exports older than the retention; never ``keep`` (the newest run's)."""
    cutoff = now - retention_days * 86400.0
    removed = []
    for name in destination.names():
        match = EXPORT_NAME.fullmatch(name)
        if not match or name == keep:
            continue
        created = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        if created.timestamp() < cutoff:
            destination.delete(name)
            removed.append(name)
    return removed


@dataclass
class ExportResult:
    name: str
    location: str
    size: int
    counts: dict[str, int]
    pruned: list[str]


def export(
    store: Store,
    destination: Destination,
    *,
    now: Optional[float] = None,
    retention_days: Optional[float] = None,
) -> ExportResult:
    now = time.time() if now is None else now
    data = build_export(store, now)
    counts = {n: m["count"] for n, m in verify_export(data, documents=False)["manifest"].items()}
    name = export_name(now)
    location = destination.put(name, data)
    pruned = prune(destination, now, retention_days, keep=name) if retention_days else []
    return ExportResult(name, location, len(data), counts, pruned)


# -- drift retention ---------------------------------------------------------------
@dataclass(frozen=True)
class DriftRetention:
    """How long drifts are kept: anchor.conf ``[retention]`` (drift_days, drift_max_count)."""

    __slots__ = ("days", "max_count")
    days: float
    max_count: int


DEFAULT_RETENTION = DriftRetention(90.0, 100000)


def parse_retention(values: Mapping[str, Any]) -> DriftRetention:
    """anchor.conf ``[retention]`` values (strings, as splunkd returns them), checked."""
    try:
        days = float(values.get("drift_days") or DEFAULT_RETENTION.days)
    except (TypeError, ValueError):
        raise InputError("[retention] drift_days must be a number of days, e.g. 90") from None
    try:
        count = int(str(values.get("drift_max_count") or DEFAULT_RETENTION.max_count))
    except ValueError:
        raise InputError(
            "[retention] drift_max_count must be a whole number, e.g. 100000"
        ) from None
    if days < 1:
        raise InputError("[retention] drift_days must be at least 1")
    if count < 1:
        raise InputError("[retention] drift_max_count must be at least 1")
    return DriftRetention(days, count)


def apply_retention(
    memory: Memory, now: float, retention: DriftRetention, *, dry_run: bool = False
) -> str:
    """Delete drifts older than ``retention.days``, then all but the newest ``max_count``.

    Feedback stays: it is the source of the learned weights, and compaction
    ages it out on its own schedule.
    """
    cutoff = now - retention.days * 86400.0
    if dry_run:
        old = sum(1 for _ in memory.store.find(DRIFTS, {"created": {"$lt": cutoff}}, fields=()))
        return (
            f"retention: {old} drift(s) older than {retention.days:g} days would be removed, "
            f"then any beyond the newest {retention.max_count} [dry run: nothing written]"
        )
    aged = memory.purge_drifts(cutoff)
    excess = memory.trim_drifts(retention.max_count)
    return (
        f"retention: {aged} drift(s) older than {retention.days:g} days and {excess} beyond "
        f"the newest {retention.max_count} removed"
    )


# -- one dispatch for the CLI, the anchormaintenance command and the nightly input ------
ACTIONS = ("decay", "compact", "retention", "export", "verify", "restore")


@dataclass
class StepResult:
    action: str
    detail: str
    file: Optional[str] = None


def run_step(
    memory: Optional[Memory],
    action: str,
    *,
    now: float,
    dry_run: bool = False,
    destination: Optional[Destination] = None,
    export_retention_days: Optional[float] = None,
    retention: DriftRetention = DEFAULT_RETENTION,
    data: Optional[bytes] = None,
    source: str = "",
) -> StepResult:
    """Run one maintenance step; raises (and writes nothing more) when it fails.

    ``export`` needs ``destination``; ``verify`` and ``restore`` need the
    export's bytes in ``data`` (``source`` names it in the detail).
    """
    if action == "decay":
        return StepResult(action, decay(_opened(memory, action), now, dry_run=dry_run).summary())
    if action == "compact":
        removed = compact(_opened(memory, action), now, dry_run=dry_run)
        verb, suffix = (
            ("would remove", " [dry run: nothing written]") if dry_run else ("removed", "")
        )
        return StepResult(
            action,
            f"compact: {verb} {removed} feedback entr(ies) no longer affecting any weight{suffix}",
        )
    if action == "retention":
        return StepResult(
            action, apply_retention(_opened(memory, action), now, retention, dry_run=dry_run)
        )
    if action == "export":
        if dry_run:
            manifest = verify_export(
                build_export(_opened(memory, action).store, now), documents=False
            )["manifest"]
            return StepResult(action, "would export " + _counts(manifest))
        if destination is None:
            raise InputError("export needs a destination")
        result = export(
            _opened(memory, action).store,
            destination,
            now=now,
            retention_days=export_retention_days,
        )
        return StepResult(
            action,
            f"exported {_counts(result.counts)} ({result.size} bytes); "
            f"pruned {len(result.pruned)} old export(s)",
            file=result.location,
        )
    if action in ("verify", "restore"):
        if data is None:
            raise InputError(f"{action} needs an export file: anchor-memory/<time>.json.gz")
        document = verify_export(data)
        if action == "restore" and not dry_run:
            counts = restore_export(_opened(memory, action).store, data)
            return StepResult(action, "restored " + _counts(counts), file=source)
        detail = (
            f"verified {_counts(document['manifest'])}: {source or 'the file'} is a complete "
            f"Anchor export from {document['created']}"
        )
        if action == "restore":
            detail += " [dry run: nothing restored]"
        return StepResult(action, detail, file=source)
    raise InputError(f"unknown maintenance action {action!r}; use one of {', '.join(ACTIONS)}")


def _counts(counts: Mapping[str, Any]) -> str:
    """``name=count, ...`` from counts or from a manifest (``{"count": n, ...}`` values)."""
    return ", ".join(
        f"{name}={entry['count'] if isinstance(entry, Mapping) else entry}"
        for name, entry in counts.items()
    )


def _opened(memory: Optional[Memory], action: str) -> Memory:
    """The memory a step writes or reads; only ``verify`` runs without one."""
    if memory is None:
        raise InputError(f"{action} needs an open memory")
    return memory
