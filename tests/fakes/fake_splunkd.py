"""A loopback fake of the splunkd REST endpoints Anchor's KV Store backend uses.

LOUDLY: this is NOT splunkd. It models, from Splunk's REST API reference for
``storage/collections/data`` and ``authentication/current-context``, only what
``anchor.splunk.kvstore`` calls through splunklib:

- ``GET    /servicesNS/nobody/anchor/storage/collections/data/<c>`` with
  ``query`` (JSON: equality and ``$lt $lte $gt $gte $ne``), ``sort``
  (``field[:1|-1]`` comma list, most significant first), ``skip``, ``limit``
  (0 or absent: no limit of its own) and ``fields`` (comma list of
  ``name``/``name:1`` to include or ``name:0`` to exclude; ``_key`` is kept
  unless excluded). Two limits of limits.conf ``[kvstore]`` apply as the
  spec describes them: at most ``max_rows_per_query`` rows are returned
  (silently truncated), and an answer larger than ``max_size_per_result_mb``
  is refused with HTTP 400 and splunkd's "Result size too large" message
  (the limit may be fractional here, so tests need not build 50 MB). Which
  of refusing or cutting the answer short a given splunkd version does is
  not documented; ``size_limit = "truncate"`` makes the fake return the
  documents that fit instead, so the client is tested against both. It
  has no indexes: ``accelerated_fields`` only change the real server's speed.
- ``GET/DELETE .../data/<c>/<key>`` (404 with a JSON message when missing).
- ``POST .../data/<c>/batch_save`` (JSON array; more than
  ``max_documents_per_batch_save`` documents is a 400 with splunkd's
  "Request exceeds API limits" message; returns the keys).
- ``DELETE .../data/<c>`` with an optional ``query``.
- ``GET /services/configs/conf-limits/kvstore`` and the ``servicesNS``
  variant: the ``[kvstore]`` limits as an entry's content (strings, as splunkd
  returns conf values).
- ``GET /servicesNS/nobody/anchor/configs/conf-anchor/<stanza>``: the app's
  own settings (``self.conf``), content values as strings; 404 when absent.
  ``POST`` to it updates the stanza's keys with the form fields.
- ``POST .../storage/passwords`` (``name``, ``password``, ``realm``) creates a
  credential (409 when it exists); ``POST .../storage/passwords/<realm>:<name>:``
  (``password``) updates one (404 when missing).
- ``GET/POST /servicesNS/nobody/anchor/data/inputs/anchor_maintenance/<name>``:
  the input stanza's settings (``self.inputs``).
- ``/servicesNS/<user>/anchor/anchor/<endpoint>``: what splunkd does for the
  ``[script:anchor_api]`` stanza of restmap.conf. It builds the persistent
  handler's request document (method, path_info, query pairs, payload,
  session user and token, server.rest_uri, system_authtoken) and calls the
  REAL handler class from ``bin/anchor_rest.py`` in process, returning its
  status and payload. ``Authorization: Bearer <token>`` is accepted as well
  as ``Splunk <token>``, as splunkd does for authentication tokens.
- ``POST .../apps/local/anchor`` with ``configured=1`` marks setup done.
- Several tokens can be valid at once (``add_token``), each with its own user
  and capabilities, as a caller's token and splunkd's system token are;
  ``self.writes`` records which user made each configuration write.
- ``POST /servicesNS/<user>/anchor/search/jobs`` with ``exec_mode=oneshot``
  and ``output_mode=json``: records the search and its parameters in
  ``self.searches`` and answers ``{"results": [...]}`` with the rows in
  ``self.search_results`` cut to ``count``. It does not run SPL.
- ``GET /services/authentication/current-context``: the token's user and
  capabilities.
- ``GET /services/server/info``: ``server_roles`` from ``self.server_roles``
  (a standalone search head by default; ``shc_member``/``shc_captain`` on a
  search head cluster member, as splunkd lists them); ``server_info_status``
  other than 200 makes it answer that error instead.
- ``GET /servicesNS/nobody/anchor/storage/passwords``: stored credentials as
  entries whose content has realm, username and clear_password; like
  splunkd, it answers 403 to a caller without the ``list_storage_passwords``
  capability (the default session has it, as an admin's does).

Every request must carry ``Authorization: Splunk <session key>``; others get
401. It serves HTTPS with a test CA made by ``trustme``; clients must verify
against that CA. ``server_cert=(certificate, key, ca)`` (PEM bytes) serves
another chain instead, e.g. one shaped like splunkd's older default
certificates. Faults can be injected: the next N requests answer 503.
"""

from __future__ import annotations

import json
import ssl
import threading
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

from anchor.store import matches, sort_documents
from fakes.loopback import LoopbackFake, send

COLLECTIONS = ("anchor_anchors", "anchor_drifts", "anchor_feedback", "anchor_weights")


class FakeSplunkd(LoopbackFake):
    def __init__(
        self,
        *,
        session_key: str = "fake-session-key",
        user: str = "admin",
        capabilities: tuple[str, ...] = (
            "anchor_write",
            "anchor_feedback",
            "list_storage_passwords",
        ),
        max_rows_per_query: int = 50000,
        max_documents_per_batch_save: int = 1000,
        max_size_per_result_mb: float = 50,
        server_cert: Optional[tuple[bytes, bytes, bytes]] = None,
    ) -> None:
        self.server_cert = server_cert
        self.session_key = session_key
        self.user = user
        self.capabilities = list(capabilities)
        self.limits = {
            "max_rows_per_query": max_rows_per_query,
            "max_documents_per_batch_save": max_documents_per_batch_save,
            "max_size_per_batch_save_mb": 50,
            "max_size_per_result_mb": max_size_per_result_mb,
        }
        self.data: dict[str, dict[str, dict]] = {c: {} for c in COLLECTIONS}
        self.requests: list[tuple[str, str]] = []
        self.passwords: dict[str, str] = {}
        self.conf: dict[str, dict[str, str]] = {}
        self.searches: list[dict[str, str]] = []
        self.search_results: list[dict[str, Any]] = []
        self.fail_next = 0
        self.answered_bytes = 0  # bytes of KV Store query answers sent
        self.size_limit = "refuse"  # or "truncate": see the module docstring
        self.server_roles = ["indexer", "license_manager", "kv_store", "search_head"]
        self.server_info_status = 200
        self.tokens: dict[str, tuple[str, list[str]]] = {}
        self.inputs: dict[str, dict[str, str]] = {}
        self.app_configured = False
        self.writes: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.ca = trustme.CA()

    def add_token(self, key: str, user: str, capabilities: tuple[str, ...] = ()) -> None:
        self.tokens[key] = (user, list(capabilities))

    # -- lifecycle ---------------------------------------------------------
    methods = ("GET", "POST", "DELETE")

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.server_cert is None:
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        else:
            with (
                trustme.Blob(self.server_cert[0]).tempfile() as cert,
                trustme.Blob(self.server_cert[1]).tempfile() as key,
            ):
                context.load_cert_chain(cert, key)
        return context

    def handle(self, handler) -> None:
        self._handle(handler, handler.command)

    @property
    def uri(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ca_file(self, folder) -> str:
        path = f"{folder}/fake-splunkd-ca.pem"
        if self.server_cert is None:
            self.ca.cert_pem.write_to_path(path)
        else:
            with open(path, "wb") as handle:
                handle.write(self.server_cert[2])
        return path

    # -- request handling --------------------------------------------------
    system_token: Optional[str] = None

    def _record_write(self, caller: str, path: str, form: dict) -> None:
        with self.lock:
            self.writes.append((caller, path, dict(form)))

    def _dispatch_rest(self, handler, method, path, form, body, caller, token) -> None:
        import importlib.util
        from pathlib import Path

        script = Path(__file__).resolve().parents[2] / "bin" / "anchor_rest.py"
        spec = importlib.util.spec_from_file_location("anchor_rest_fake_dispatch", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        is_json = "application/json" in (handler.headers.get("Content-Type") or "")
        document = {
            "method": method,
            "path_info": path.split("/anchor/anchor/", 1)[1],
            "query": [[k, v] for k, v in form.items()] if method == "GET" else [],
            "form": [] if is_json or method == "GET" else [[k, v] for k, v in form.items()],
            "payload": body.decode("utf-8") if is_json else "",
            "session": {"user": caller, "authtoken": token},
            "server": {"rest_uri": self.uri},
        }
        if self.system_token:
            document["system_authtoken"] = self.system_token
        answer = module.AnchorRestHandler("", "").handle(json.dumps(document))
        send(handler, answer["status"], answer["payload"].encode("utf-8"), answer["headers"])

    def _reply(self, handler, status: int, body: Any) -> None:
        payload = json.dumps(body).encode("utf-8")
        send(handler, status, payload, {"Content-Type": "application/json"})

    def _error(self, handler, status: int, text: str) -> None:
        self._reply(handler, status, {"messages": [{"type": "ERROR", "text": text}]})

    def _handle(self, handler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if (
            method in ("POST", "DELETE")
            and body
            and "application/json" not in (handler.headers.get("Content-Type") or "")
        ):
            params.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
        with self.lock:
            self.requests.append((method, path))
            if self.fail_next > 0:
                self.fail_next -= 1
                return self._error(
                    handler, 503, "KV Store is initializing. Please try again later."
                )
        tokens = {self.session_key: (self.user, self.capabilities), **self.tokens}
        auth = handler.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        token = token if scheme in ("Splunk", "Bearer") else None
        if token not in tokens:
            return self._error(handler, 401, "call not properly authenticated")
        caller, capabilities = tokens[token]
        if path.endswith("/authentication/current-context"):
            return self._reply(
                handler,
                200,
                {
                    "entry": [
                        {
                            "name": "tokens",
                            "content": {"username": caller, "capabilities": capabilities},
                        }
                    ]
                },
            )
        if path.endswith("/server/info"):
            if self.server_info_status != 200:
                return self._error(handler, self.server_info_status, "Internal server error")
            content = {"server_roles": list(self.server_roles), "serverName": "sh1"}
            return self._reply(
                handler, 200, {"entry": [{"name": "server-info", "content": content}]}
            )
        form = {k: v for k, v in params.items() if k != "output_mode"}
        if "/anchor/anchor/" in path:
            return self._dispatch_rest(handler, method, path, form, body, caller, token)
        if method == "POST" and "/storage/passwords" in path:
            self._record_write(caller, path, dict.fromkeys(form, "***"))
            if path.endswith("/storage/passwords"):
                if form.get("name") in self.passwords:
                    return self._error(
                        handler, 409, f"An object with name={form.get('name')} already exists"
                    )
                self.passwords[form["name"]] = form["password"]
                return self._reply(handler, 201, {"entry": [{"name": f"anchor:{form['name']}:"}]})
            name = path.rsplit("/", 1)[-1].split(":")[1]
            if name not in self.passwords:
                return self._error(handler, 404, f"Could not find object id=anchor:{name}:")
            self.passwords[name] = form["password"]
            return self._reply(handler, 200, {"entry": [{"name": f"anchor:{name}:"}]})
        if path.endswith("/apps/local/anchor") and method == "POST":
            self._record_write(caller, path, form)
            self.app_configured = form.get("configured") == "1"
            return self._reply(handler, 200, {"entry": [{"name": "anchor"}]})
        if "/data/inputs/anchor_maintenance/" in path:
            name = path.rsplit("/", 1)[-1]
            if method == "POST":
                self._record_write(caller, path, form)
                self.inputs.setdefault(name, {}).update(form)
            if name not in self.inputs:
                return self._error(handler, 404, f"Could not find object id={name}")
            return self._reply(
                handler, 200, {"entry": [{"name": name, "content": self.inputs[name]}]}
            )
        if path.endswith("/storage/passwords"):
            if "list_storage_passwords" not in capabilities:
                return self._error(
                    handler,
                    403,
                    f"You (user={caller}) do not have permission to perform this "
                    "operation (requires capability: list_storage_passwords).",
                )
            return self._reply(
                handler,
                200,
                {
                    "entry": [
                        {
                            "name": f"anchor:{name}:",
                            "content": {
                                "realm": "anchor",
                                "username": name,
                                "clear_password": value,
                            },
                        }
                        for name, value in self.passwords.items()
                    ]
                },
            )
        if path.endswith("/configs/conf-limits/kvstore"):
            return self._reply(
                handler,
                200,
                {
                    "entry": [
                        {"name": "kvstore", "content": {k: str(v) for k, v in self.limits.items()}}
                    ]
                },
            )
        if "/configs/conf-anchor/" in path:
            stanza = path.rsplit("/", 1)[-1]
            if method == "POST":
                self._record_write(caller, path, form)
                self.conf.setdefault(stanza, {}).update(form)
            if stanza not in self.conf:
                return self._error(handler, 404, f"Could not find object id={stanza}")
            content = {k: str(v) for k, v in self.conf[stanza].items()}
            return self._reply(handler, 200, {"entry": [{"name": stanza, "content": content}]})
        if path.endswith("/search/jobs") and method == "POST":
            if params.get("exec_mode") != "oneshot" or params.get("output_mode") != "json":
                return self._error(handler, 400, "this fake only answers oneshot JSON searches")
            with self.lock:
                self.searches.append({**params, "path": path})
            count = int(params.get("count") or 100)
            return self._reply(handler, 200, {"results": self.search_results[:count]})
        prefix = "/servicesNS/nobody/anchor/storage/collections/data/"
        if not path.startswith(prefix):
            return self._error(handler, 404, f"unknown path {path}")
        rest = path[len(prefix) :].strip("/").split("/", 1)
        collection = rest[0]
        if collection not in self.data:
            return self._error(handler, 404, f"Collection: {collection} not found")
        item = rest[1] if len(rest) > 1 else None
        store = self.data[collection]
        with self.lock:
            if item == "batch_save" and method == "POST":
                docs = json.loads(body)
                if len(docs) > self.limits["max_documents_per_batch_save"]:
                    return self._error(
                        handler,
                        400,
                        "Request exceeds API limits - see limits.conf for details. "
                        f"(Too many documents for a single batch save, max={self.limits['max_documents_per_batch_save']})",
                    )
                keys = []
                for doc in docs:
                    key = doc.get("_key") or f"auto{len(store)}"
                    store[key] = {**doc, "_key": key, "_user": "nobody"}
                    keys.append(key)
                return self._reply(handler, 200, keys)
            if item is not None:
                if method == "GET":
                    if item not in store:
                        return self._error(handler, 404, f"Could not find object id={item}")
                    return self._reply(handler, 200, store[item])
                if method == "DELETE":
                    if store.pop(item, None) is None:
                        return self._error(handler, 404, f"Could not find object id={item}")
                    return self._reply(handler, 200, {})
                return self._error(handler, 405, "method not allowed")
            query = json.loads(params["query"]) if params.get("query") else None
            chosen = [doc for doc in store.values() if matches(doc, query)]
            if method == "DELETE":
                for doc in chosen:
                    del store[doc["_key"]]
                return self._reply(handler, 200, {})
            if method != "GET":
                return self._error(handler, 405, "method not allowed")
            order = [
                (name, -1 if direction == "-1" else 1)
                for name, _, direction in (
                    part.partition(":") for part in (params.get("sort") or "_key").split(",")
                )
            ]
            sort_documents(chosen, order)
            skip = int(params.get("skip") or 0)
            limit = int(params.get("limit") or 0) or self.limits["max_rows_per_query"]
            limit = min(limit, self.limits["max_rows_per_query"])
            page = [_project(doc, params.get("fields")) for doc in chosen[skip : skip + limit]]
            answer = json.dumps(page).encode("utf-8")
            cap = self.limits["max_size_per_result_mb"] * 1024 * 1024
            while self.size_limit == "truncate" and len(answer) > cap and page:
                page.pop()
                answer = json.dumps(page).encode("utf-8")
            if len(answer) > cap:
                return self._error(
                    handler,
                    400,
                    "Result size too large, max_size_per_result_mb="
                    f"{self.limits['max_size_per_result_mb']}, Consider applying a skip and/or limit.",
                )
            self.answered_bytes += len(answer)
            return send(handler, 200, answer, {"Content-Type": "application/json"})


def _project(doc: dict, fields: Optional[str]) -> dict:
    """KV Store's ``fields`` projection: include-list (``a,b`` or ``a:1``) or exclude-list (``a:0``)."""
    if not fields:
        return doc
    spec = {}
    for part in fields.split(","):
        name, _, flag = part.strip().partition(":")
        spec[name] = flag != "0"
    if any(spec.values()):
        keep = {name for name, on in spec.items() if on}
        if spec.get("_key", True):
            keep.add("_key")
        return {k: v for k, v in doc.items() if k in keep}
    return {k: v for k, v in doc.items() if spec.get(k, True)}
