"""Anchor's memory in KV Store, through splunklib, as the invoking user.

A ``KVStore`` is bound to ``owner=nobody, app=anchor`` with the search's own
session token, so KV Store's permissions apply to the user who runs the
command. Reads are paged in ``_key`` order within the server's
``[kvstore]`` limits; writes go through ``batch_save`` in batches that
respect ``max_documents_per_batch_save`` and ``max_size_per_batch_save_mb``.
Keys are deterministic, so retrying a write (``batch_save`` is a POST) is
harmless; transient failures (5xx, dropped connections) are retried with the
backoff of ``anchor.httpclient``'s policy, a bounded number of times.

TLS verification stays on, with the context of ``anchor.splunk.tls``:
the system CAs plus the CA splunkd's server.conf names (``sslRootCAPath``),
or the file named by ``ANCHOR_SPLUNKD_CA``.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from splunklib import binding, client

from anchor.httpclient import RetryPolicy, UnsafeURL, call_with_retries, check_url
from anchor.splunk.tls import splunkd_context
from anchor.store import SortSpec, Store, StoreError, check_collection, check_delete_query

APP = "anchor"
OWNER = "nobody"
RETRIES = 3
RETRY = RetryPolicy(attempts=RETRIES + 1, backoff=0.2)
JSON_HEADERS = [("Content-Type", "application/json")]
MB = 1024 * 1024
# splunkd refuses a query whose answer exceeds max_size_per_result_mb with this text.
TOO_LARGE = "Result size too large"


class _TooLarge(Exception):
    """splunkd refused one page as larger than max_size_per_result_mb."""


@dataclass(frozen=True)
class KVLimits:
    """The ``[kvstore]`` stanza of limits.conf (defaults are Splunk's)."""

    max_rows_per_query: int = 50000
    max_documents_per_batch_save: int = 1000
    max_size_per_batch_save_mb: int = 50
    max_size_per_result_mb: int = 50


def tls_context(splunkd_uri: str) -> ssl.SSLContext:
    return splunkd_context(splunkd_uri)


def connect(
    splunkd_uri: str, session_key: str, *, timeout: Optional[float] = None
) -> client.Service:
    try:
        parts = check_url(splunkd_uri, "the splunkd URI")
    except UnsafeURL as error:
        raise StoreError(str(error)) from None
    context = tls_context(splunkd_uri)
    return client.Service(
        handler=binding.handler(timeout=timeout, verify=True, context=context),
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or 8089,
        token=session_key,
        owner=OWNER,
        app=APP,
        verify=True,
        context=context,
    )


def _transient(error: Exception) -> bool:
    if isinstance(error, binding.HTTPError):
        return error.status >= 500
    return isinstance(
        error, (ConnectionError, socket.timeout, ssl.SSLEOFError, OSError)
    ) and not isinstance(error, ssl.SSLCertVerificationError)


def _describe(error: Exception) -> str:
    if isinstance(error, binding.HTTPError):
        return f"splunkd answered HTTP {error.status} {error.reason}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"splunkd's TLS certificate was not trusted ({error.verify_message}); set ANCHOR_SPLUNKD_CA"
    return f"{type(error).__name__}: {error}"


def _call(action: str, function, *args, **kwargs):
    """Run one splunkd call, retrying transient failures; user errors fail at once."""
    try:
        return call_with_retries(lambda: function(*args, **kwargs), RETRY, _transient)
    except binding.HTTPError as error:
        if error.status == 404:
            raise
        raise StoreError(f"KV Store {action} failed: {_describe(error)}") from None
    except (OSError, socket.timeout) as error:
        raise StoreError(f"KV Store {action} failed: {_describe(error)}") from None


def splunkd_get(splunkd_uri: str, session_key: str, path: str, **query: Any) -> str:
    """GET a splunkd REST path as JSON text (for small reads such as current-context)."""
    service = connect(splunkd_uri, session_key)
    response = _call(f"read of {path}", service.get, path, output_mode="json", **query)
    return response.body.read().decode("utf-8")


def splunkd_entries(splunkd_uri: str, session_key: str, path: str, **query: Any) -> list[dict]:
    """The ``entry`` list of a splunkd REST answer; raises ``StoreError`` if it has none."""
    try:
        entries = json.loads(splunkd_get(splunkd_uri, session_key, path, **query))["entry"]
        if not isinstance(entries, list):
            raise TypeError("entry is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"splunkd's answer from {path} was not understood: {exc}") from None
    return entries


def splunkd_content(splunkd_uri: str, session_key: str, path: str) -> dict[str, Any]:
    """The ``content`` of the first entry of a splunkd REST answer (one stanza, one context)."""
    entries = splunkd_entries(splunkd_uri, session_key, path)
    content = entries[0].get("content") if entries and isinstance(entries[0], dict) else None
    if not isinstance(content, dict):
        raise StoreError(f"splunkd's answer from {path} has no entry content")
    return content


def read_limits(service: client.Service) -> KVLimits:
    """The server's [kvstore] limits, or Splunk's defaults if they cannot be read."""
    try:
        response = service.get(
            "configs/conf-limits/kvstore", owner="nobody", app="system", output_mode="json"
        )
        content = json.loads(response.body.read())["entry"][0]["content"]
    except (binding.HTTPError, ValueError, KeyError, IndexError, OSError):
        return KVLimits()
    defaults = KVLimits()

    def number(name: str) -> int:
        try:
            return max(1, int(float(content.get(name, getattr(defaults, name)))))
        except (TypeError, ValueError):
            return getattr(defaults, name)

    return KVLimits(*(number(name) for name in KVLimits.__dataclass_fields__))


class KVStore(Store):
    """KV Store collections through splunkd's ``storage/collections/data`` REST API."""

    PAGE = 1000

    def __init__(self, service: client.Service, limits: Optional[KVLimits] = None) -> None:
        self.service = service
        self.limits = limits or read_limits(service)

    @staticmethod
    def _path(collection: str, item: str = "") -> str:
        check_collection(collection)
        suffix = "/" + str(binding.UrlEncoded(item, encode_slash=True)) if item else ""
        return f"storage/collections/data/{collection}{suffix}"

    def _json(self, response) -> Any:
        return json.loads(response.body.read().decode("utf-8"))

    def get(self, collection: str, key: str) -> Optional[dict]:
        path = self._path(collection, key)
        try:
            return self._json(_call("read", self.service.get, path, output_mode="json"))
        except binding.HTTPError:
            return None

    def _save(self, collection: str, batch: Sequence[Mapping[str, Any]]) -> None:
        _call(
            "batch save",
            self.service.post,
            self._path(collection, "batch_save"),
            headers=JSON_HEADERS,
            body=json.dumps(list(batch)),
        )

    def put_many(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> None:
        check_collection(collection)
        batch: list[Mapping[str, Any]] = []
        size = 0
        max_bytes = self.limits.max_size_per_batch_save_mb * 1024 * 1024 // 2
        for doc in docs:
            if not isinstance(doc.get("_key"), str) or not doc["_key"]:
                raise StoreError("every document needs a non-empty string _key")
            length = len(json.dumps(doc))
            if batch and (
                len(batch) >= self.limits.max_documents_per_batch_save or size + length > max_bytes
            ):
                self._save(collection, batch)
                batch, size = [], 0
            batch.append(doc)
            size += length
        if batch:
            self._save(collection, batch)

    def scan(self, collection: str, query: Optional[Mapping[str, Any]] = None) -> Iterator[dict]:
        return self.find(collection, query)

    def _page(self, path: str, arguments: Mapping[str, Any]) -> tuple[list, int]:
        """One GET of a query: (documents, size of the answer in bytes)."""

        def get():
            try:
                return self.service.get(path, **arguments)
            except binding.HTTPError as error:
                text = str(error) + repr(getattr(error, "body", b""))
                if error.status < 500 and TOO_LARGE in text:
                    raise _TooLarge() from None
                raise

        body = _call("query", get).body.read()
        return json.loads(body.decode("utf-8")), len(body)

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
        path = self._path(collection)
        order = list(sort or [("_key", 1)])
        if all(name != "_key" for name, _ in order):
            order.append(("_key", 1))  # a total order, so skip-based pages never overlap
        base: dict[str, Any] = {
            "sort": ",".join(f"{name}:{direction}" for name, direction in order),
            "output_mode": "json",
        }
        if query:
            base["query"] = json.dumps(query, separators=(",", ":"))
        if fields is not None:
            base["fields"] = ",".join(f"{name}:1" for name in ("_key", *fields))
        # The first page is modest: nothing is known yet about the documents' size.
        ceiling = max(1, min(self.PAGE, self.limits.max_rows_per_query))
        budget = max(1, int(self.limits.max_size_per_result_mb * MB) // 2)
        page, left = ceiling, limit
        while left is None or left > 0:
            want = page if left is None else min(page, left)
            try:
                rows, size = self._page(path, {**base, "skip": skip, "limit": want})
            except _TooLarge:
                if want == 1:
                    raise StoreError(
                        f"one document of {collection} is larger than the KV Store's "
                        "max_size_per_result_mb: raise it in limits.conf [kvstore]"
                    ) from None
                page = max(1, want // 2)
                continue
            yield from rows
            # A short page ends the query, unless its answer reached the size limit: a
            # server that cuts answers there instead of refusing them has more to give.
            if len(rows) < want and size < 0.9 * self.limits.max_size_per_result_mb * MB:
                return
            skip += len(rows)
            left = None if left is None else left - len(rows)
            # Size the next page from this one: as many documents as fit half the size
            # limit, up to the server's row limit (small projections come in few pages).
            rows_cap = max(1, self.limits.max_rows_per_query)
            page = max(1, min(rows_cap, budget * len(rows) // max(size, 1)))

    def delete_where(self, collection: str, query: Mapping[str, Any]) -> None:
        check_delete_query(query)
        _call(
            "delete",
            self.service.delete,
            self._path(collection),
            query=json.dumps(query, separators=(",", ":")),
        )

    def delete(self, collection: str, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                _call("delete", self.service.delete, self._path(collection, key))
            except binding.HTTPError:
                continue  # already gone

    def close(self) -> None:
        """Nothing to release: the session is the search's, so it is never logged out."""


def open_kvstore(splunkd_uri: str, session_key: str) -> KVStore:
    return KVStore(connect(splunkd_uri, session_key))
