"""The storage primitive behind Anchor's memory, and its SQLite backend.

Two backends implement ``Store``: ``SQLiteStore`` here (offline CLI, tests)
and the KV Store backend in ``anchor.splunk.kvstore``. Both hold JSON
documents keyed by ``_key`` in four collections. Domain logic (anchors,
drifts, feedback, weights) lives once, in ``anchor.memory``, on top of this
small interface, so both backends behave the same by construction.

Queries are a subset of KV Store's JSON query language, enough for our needs:
``{"field": value}`` for equality and ``{"field": {"$lt": v}}`` with
``$lt``, ``$lte``, ``$gt``, ``$gte``, ``$ne``; several fields are ANDed.

``find`` adds what KV Store's REST API does on the server: a sort (a list
of ``(field, 1 | -1)``), a limit and a projection (``fields``), so a reader
that wants the newest ten drifts of one anchor asks for exactly those and
never pages through a whole collection. ``delete_where`` removes every
matching document in one call (retention).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional, Protocol

from anchor.errors import AnchorError

COLLECTIONS = ("anchor_anchors", "anchor_drifts", "anchor_feedback", "anchor_weights")

# A sort order: (field, 1) ascending or (field, -1) descending, most significant first.
SortSpec = Sequence[tuple[str, int]]


class StoreError(AnchorError):
    """The memory could not be read or written; the message says what to fix."""


class Store(Protocol):
    def get(self, collection: str, key: str) -> Optional[dict]:
        """The document with this ``_key``, or None."""

    def put_many(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """Insert or replace each document by its ``_key`` (required).

        Keys are deterministic, so a retried write is idempotent.
        """

    def scan(self, collection: str, query: Optional[Mapping[str, Any]] = None) -> Iterator[dict]:
        """Every matching document, in ``_key`` order, fetched page by page."""

    def find(
        self,
        collection: str,
        query: Optional[Mapping[str, Any]] = None,
        *,
        sort: Optional[SortSpec] = None,
        skip: int = 0,
        limit: Optional[int] = None,
        fields: Optional[Sequence[str]] = None,
    ) -> Iterator[dict]:
        """Matching documents in ``sort`` order (``_key`` when None), after the first
        ``skip``, at most ``limit``, each with only ``fields`` (plus ``_key``) when
        given. A backend with a server filters, sorts and projects there (KV Store);
        this default does it in process over ``scan``, enough for a small local memory."""
        return iter(
            select(
                self.scan(collection, query), None, sort=sort, skip=skip, limit=limit, fields=fields
            )
        )

    def delete_where(self, collection: str, query: Mapping[str, Any]) -> None:
        """Remove every document matching ``query`` (a non-empty query); this default
        deletes the keys that ``scan`` finds."""
        check_delete_query(query)
        self.delete(collection, [d["_key"] for d in self.scan(collection, query)])

    def delete(self, collection: str, keys: Sequence[str]) -> None:
        """Remove these keys; missing keys are ignored."""

    def close(self) -> None: ...


_OPERATORS = {
    "$lt": lambda a, b: a is not None and a < b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$gt": lambda a, b: a is not None and a > b,
    "$gte": lambda a, b: a is not None and a >= b,
    "$ne": lambda a, b: a != b,
}


def matches(doc: Mapping[str, Any], query: Optional[Mapping[str, Any]]) -> bool:
    """Evaluate the supported KV query subset against one document."""
    if not query:
        return True
    for field, condition in query.items():
        value = doc.get(field)
        if isinstance(condition, Mapping):
            for op, operand in condition.items():
                if op not in _OPERATORS:
                    raise StoreError(f"unsupported query operator {op!r}")
                try:
                    if not _OPERATORS[op](value, operand):
                        return False
                except TypeError:
                    return False
        elif value != condition:
            return False
    return True


def sort_documents(docs: list, sort: SortSpec) -> None:
    """Sort ``docs`` in place as KV Store orders them for ``sort`` (missing values first)."""
    for field, direction in reversed(list(sort)):  # stable sorts, least significant first
        if direction not in (1, -1):
            raise StoreError(f"sort direction must be 1 or -1, got {direction!r}")
        docs.sort(key=_field_rank(field), reverse=direction == -1)


def _field_rank(field: str) -> Callable[[Mapping[str, Any]], tuple]:
    return lambda doc: _rank(doc.get(field))


def _rank(value: Any) -> tuple:
    # Absent/None sorts before numbers, numbers before strings (as BSON orders them).
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (3, value)
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def project(doc: Mapping[str, Any], fields: Optional[Sequence[str]]) -> dict:
    """``doc`` with only ``fields`` and ``_key`` (all of it when ``fields`` is None)."""
    if fields is None:
        return dict(doc)
    return {k: doc[k] for k in ("_key", *fields) if k in doc}


def select(
    docs: Iterable[Mapping[str, Any]],
    query: Optional[Mapping[str, Any]],
    *,
    sort: Optional[SortSpec],
    skip: int = 0,
    limit: Optional[int],
    fields: Optional[Sequence[str]],
) -> list[dict]:
    """Filter, sort, skip, limit and project in memory, as KV Store does on the server."""
    chosen = [doc for doc in docs if matches(doc, query)]
    sort_documents(chosen, sort or [("_key", 1)])
    end = None if limit is None else skip + limit
    return [project(doc, fields) for doc in chosen[skip:end]]


def check_collection(collection: str) -> None:
    if collection not in COLLECTIONS:
        raise StoreError(f"unknown collection {collection!r}; expected one of {COLLECTIONS}")


def check_delete_query(query: Mapping[str, Any]) -> None:
    if not query:
        raise StoreError("delete_where needs a query; refusing to empty a collection")


class SQLiteStore(Store):
    """Documents as JSON text in one SQLite table; safe across processes.

    WAL mode and a busy timeout let many CLI processes append feedback at
    once without losing writes.
    """

    PAGE = 1000

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS docs (collection TEXT NOT NULL, key TEXT NOT NULL,"
                " body TEXT NOT NULL, PRIMARY KEY (collection, key))"
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the memory database {path}: {exc}") from exc

    def get(self, collection: str, key: str) -> Optional[dict]:
        check_collection(collection)
        row = self._db.execute(
            "SELECT body FROM docs WHERE collection = ? AND key = ?", (collection, key)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put_many(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> None:
        check_collection(collection)
        rows = []
        for doc in docs:
            key = doc.get("_key")
            if not isinstance(key, str) or not key:
                raise StoreError("every document needs a non-empty string _key")
            rows.append((collection, key, json.dumps(doc, sort_keys=True)))
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT OR REPLACE INTO docs (collection, key, body) VALUES (?, ?, ?)", rows
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the memory database {self.path}: {exc}") from exc

    def scan(self, collection: str, query: Optional[Mapping[str, Any]] = None) -> Iterator[dict]:
        check_collection(collection)
        last = ""
        while True:
            rows = self._db.execute(
                "SELECT key, body FROM docs WHERE collection = ? AND key > ? ORDER BY key LIMIT ?",
                (collection, last, self.PAGE),
            ).fetchall()
            for _key, body in rows:
                doc = json.loads(body)
                if matches(doc, query):
                    yield doc
            if len(rows) < self.PAGE:
                return
            last = rows[-1][0]

    def delete(self, collection: str, keys: Sequence[str]) -> None:
        check_collection(collection)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "DELETE FROM docs WHERE collection = ? AND key = ?", [(collection, k) for k in keys]
            )

    def close(self) -> None:
        self._db.close()
