"""Import every entry point of a built Anchor package as if Python were built against OpenSSL 1.0.2.

    python -I -S tests/old_openssl_probe.py <app dir>

Splunk 9.x's Python links OpenSSL 1.0.2 (FIPS). ``ssl`` is made to report that
version BEFORE anything else is imported, then this imports, from the
package's own ``lib/``: every ``bin/*.py`` module (without running it), every
module of the ``anchor`` package (which covers what commands import lazily,
such as narration for ``narrate=true`` and the deep investigation), the
vendored requests and urllib3, and runs the modular input's ``--scheme``,
one request through the REST handler and one retried request through
``anchor.httpclient`` (urllib3's ``Retry`` as the vendored 1.26 has it). Prints a JSON report; exit 1 if
anything failed. A test helper, not part of the package.
"""

import ssl

ssl.OPENSSL_VERSION_INFO = (1, 0, 2, 20, 15)
ssl.OPENSSL_VERSION = "OpenSSL 1.0.2zk-fips  3 Sep 2024"

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import runpy  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402


def last_line(error):
    return traceback.format_exception_only(type(error), error)[-1].strip()


def main():
    app = os.path.abspath(sys.argv[1])
    lib = os.path.join(app, "lib")
    sys.path.insert(0, lib)
    done, failed = [], {}

    def attempt(name, action):
        try:
            action()
            done.append(name)
        except BaseException as error:  # SystemExit too: an entry point must not exit on import
            failed[name] = last_line(error)

    def load_script(path):
        spec = importlib.util.spec_from_file_location("entry_" + os.path.basename(path)[:-3], path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))

    bin_dir = os.path.join(app, "bin")
    for script in sorted(os.listdir(bin_dir)):
        path = os.path.join(bin_dir, script)
        if script.endswith(".py"):
            attempt("bin/" + script, lambda p=path: load_script(p))
    for name in (
        "urllib3",
        "requests",
        "splunklib.client",
        "splunklib.searchcommands",
        "splunklib.modularinput",
        "anchor",
    ):
        attempt(name, lambda n=name: importlib.import_module(n))
    # Every module file, walked on disk: anchor.splunk has no __init__.py, so pkgutil skips it.
    for folder, _, files in sorted(os.walk(os.path.join(lib, "anchor"))):
        for file in sorted(files):
            if not file.endswith(".py") or file == "__main__.py":
                continue  # __main__ is the offline CLI's entry point: importing it runs the CLI
            parts = os.path.relpath(os.path.join(folder, file[:-3]), lib).split(os.sep)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            attempt(name, lambda n=name: importlib.import_module(n))

    def scheme():
        # splunklib's EventWriter bound sys.stdout when it was imported: capture the descriptor.
        sys.argv = [os.path.join(bin_dir, "anchor_maintenance.py"), "--scheme"]
        saved = os.dup(1)
        with tempfile.TemporaryFile() as capture:
            sys.stdout.flush()
            os.dup2(capture.fileno(), 1)
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
            except SystemExit as exit:
                if exit.code not in (0, None):
                    raise
            finally:
                sys.stdout.flush()
                os.dup2(saved, 1)
                os.close(saved)
            capture.seek(0)
            if b"<scheme>" not in capture.read():
                raise AssertionError("--scheme printed no <scheme> document")

    attempt("anchor_maintenance.py --scheme", scheme)

    def rest():
        spec = importlib.util.spec_from_file_location(
            "anchor_rest_probe", os.path.join(bin_dir, "anchor_rest.py")
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        answer = module.AnchorRestHandler("", "").handle(
            json.dumps({"method": "GET", "path_info": "anchors"})
        )
        if answer["status"] != 401:  # no session: refused before any network call
            raise AssertionError(f"the REST handler answered {answer}")

    attempt("anchor_rest.AnchorRestHandler.handle", rest)

    def retried_request():
        # The one HTTP policy on the vendored urllib3: a 503, a wait, then a 200.
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        from anchor import httpclient

        answers = [503, 200]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(answers.pop(0))
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = HTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits up to one interval (default 0.5 s).
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        waits = []
        try:
            http = httpclient.session(httpclient.RetryPolicy(sleep=waits.append))
            status = http.get(f"http://127.0.0.1:{server.server_address[1]}/", timeout=30)
        finally:
            server.shutdown()
            server.server_close()
        if status.status_code != 200 or waits != [0.5] or answers:
            raise AssertionError(f"retry: HTTP {status.status_code}, waits {waits}")

    attempt("anchor.httpclient retried request", retried_request)
    urllib3 = sys.modules.get("urllib3")
    report = {
        "openssl": ssl.OPENSSL_VERSION,
        "urllib3": getattr(urllib3, "__version__", None),
        "urllib3_from": getattr(urllib3, "__file__", None),
        "imported": done,
        "failed": failed,
    }
    print(json.dumps(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
