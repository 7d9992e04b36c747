"""What every fake server here shares: a threaded loopback HTTP(S) server and one way to answer."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, TypeVar

# How often the serving thread checks for shutdown: socketserver's default (0.5 s)
# would make every fake's shutdown wait up to half a second.
POLL_INTERVAL = 0.02


class _Server(ThreadingHTTPServer):
    """A client that hangs up is expected here (a test's timeout, a refused certificate, a
    bare handshake): that is not printed. Any other error in a fake prints its traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def serve(
    handler: type[BaseHTTPRequestHandler], tls: Optional[ssl.SSLContext] = None
) -> ThreadingHTTPServer:
    """Start ``handler`` on 127.0.0.1 (an ephemeral port) in a daemon thread; TLS if given."""
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,), daemon=True).start()
    return server


def stop(server: Optional[ThreadingHTTPServer]) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: Optional[Mapping[str, str]] = None,
) -> None:
    """One complete answer: status, headers, Content-Length and the body."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


Fake = TypeVar("Fake", bound="LoopbackFake")


class LoopbackFake:
    """A fake server's lifecycle: ``with Fake(...) as fake:`` serves it on 127.0.0.1 until the
    block ends. A subclass answers in ``handle`` (``handler.command`` is the method) and gives
    ``tls_context`` to serve HTTPS."""

    methods: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE")
    _server: Optional[ThreadingHTTPServer] = None

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def tls_context(self) -> Optional[ssl.SSLContext]:
        return None

    def __enter__(self: Fake) -> Fake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

        for method in self.methods:
            setattr(Handler, f"do_{method}", lambda handler: fake.handle(handler))
        self._server = serve(Handler, tls=self.tls_context())
        return self

    def __exit__(self, *exc: Any) -> None:
        stop(self._server)

    @property
    def port(self) -> int:
        assert self._server is not None, "use the fake in a with block"
        return self._server.server_address[1]
