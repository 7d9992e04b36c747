"""A loopback fake of the Alibaba Cloud OSS REST API subset Anchor uses.

LOUDLY: this is NOT OSS. Modelled on OSS's documented REST API: PutObject,
GetObject, DeleteObject, ListObjects (``prefix``, ``marker``, ``max-keys``,
``IsTruncated``/``NextMarker``), InitiateMultipartUpload (``?uploads``),
UploadPart (``?partNumber&uploadId``), CompleteMultipartUpload and
AbortMultipartUpload (``DELETE ?uploadId``), path-style addressing
(``/<bucket>/<key>``). Every request's V1 header signature is recomputed here,
independently of the client, and a mismatch gets OSS's 403
``SignatureDoesNotMatch`` XML error; ``Content-MD5`` is checked. Served over
HTTPS with a ``trustme`` test CA. Faults: ``fail_next`` 500s, ``fail_part``
makes one UploadPart fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
from typing import Optional
from urllib.parse import parse_qsl, unquote, urlsplit

import trustme

from fakes.loopback import LoopbackFake, send

SIGNED_SUBRESOURCES = {"acl", "uploads", "uploadId", "partNumber", "location", "delete", "tagging"}


class FakeOSS(LoopbackFake):
    def __init__(self, bucket: str, key_id: str, secret: str) -> None:
        self.bucket, self.key_id, self.secret = bucket, key_id, secret
        self.objects: dict[str, bytes] = {}
        self.uploads: dict[str, dict[int, bytes]] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.fail_next = 0
        self.fail_part: Optional[int] = None
        self.ca = trustme.CA()

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        return context

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ca_file(self, folder) -> str:
        path = f"{folder}/fake-oss-ca.pem"
        self.ca.cert_pem.write_to_path(path)
        return path

    def _reply(
        self, handler, status: int, body: bytes = b"", headers: Optional[dict] = None
    ) -> None:
        send(handler, status, body, headers)

    def _error(self, handler, status: int, code: str, message: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>fake-request</RequestId></Error>"
        ).encode()
        self._reply(handler, status, body, {"Content-Type": "application/xml"})

    def _expected_signature(self, method: str, headers, bucket: str, key: str, params: dict) -> str:
        oss = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-oss-"))
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in oss)
        sub = sorted((k, v) for k, v in params.items() if k in SIGNED_SUBRESOURCES)
        resource = f"/{bucket}/{key}" + (
            "?" + "&".join(f"{k}={v}" if v else k for k, v in sub) if sub else ""
        )
        text = "\n".join(
            [
                method,
                headers.get("Content-MD5", ""),
                headers.get("Content-Type", ""),
                headers.get("Date", ""),
                canonical_headers + resource,
            ]
        )
        digest = hmac.new(self.secret.encode(), text.encode(), hashlib.sha1).digest()
        return f"OSS {self.key_id}:{base64.b64encode(digest).decode()}"

    def handle(self, handler) -> None:
        method = handler.command
        parts = urlsplit(handler.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self.requests.append((method, key, params))
        if self.fail_next > 0:
            self.fail_next -= 1
            return self._error(handler, 500, "InternalError", "injected failure")
        if bucket != self.bucket:
            return self._error(handler, 404, "NoSuchBucket", "The specified bucket does not exist.")
        if handler.headers.get("Authorization") != self._expected_signature(
            method, handler.headers, bucket, key, params
        ):
            return self._error(
                handler,
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        md5 = handler.headers.get("Content-MD5")
        if md5 and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            return self._error(
                handler, 400, "InvalidDigest", "The Content-MD5 you specified is not valid."
            )
        if method == "POST" and "uploads" in params:
            upload_id = f"upload{len(self.uploads) + 1}"
            self.uploads[upload_id] = {}
            return self._reply(
                handler,
                200,
                f"<InitiateMultipartUploadResult><UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>".encode(),
            )
        if "uploadId" in params:
            parts_of = self.uploads.get(params["uploadId"])
            if parts_of is None:
                return self._error(
                    handler, 404, "NoSuchUpload", "The specified upload does not exist."
                )
            if method == "PUT":
                number = int(params["partNumber"])
                if number == self.fail_part:
                    return self._error(handler, 400, "InvalidPart", "injected part failure")
                parts_of[number] = body
                return self._reply(
                    handler, 200, headers={"ETag": f'"{hashlib.md5(body).hexdigest().upper()}"'}
                )
            if method == "POST":
                self.objects[key] = b"".join(parts_of[n] for n in sorted(parts_of))
                del self.uploads[params["uploadId"]]
                return self._reply(handler, 200, b"<CompleteMultipartUploadResult/>")
            if method == "DELETE":
                del self.uploads[params["uploadId"]]
                return self._reply(handler, 204)
        if method == "PUT":
            if handler.headers.get("x-oss-server-side-encryption") != "AES256":
                return self._error(
                    handler, 400, "InvalidEncryptionAlgorithmError", "SSE header missing"
                )
            self.objects[key] = body
            return self._reply(handler, 200, headers={"ETag": '"x"'})
        if method == "GET" and key:
            if key not in self.objects:
                return self._error(handler, 404, "NoSuchKey", "The specified key does not exist.")
            return self._reply(handler, 200, self.objects[key])
        if method == "DELETE":
            self.objects.pop(key, None)
            return self._reply(handler, 204)
        if method == "GET":
            names = sorted(
                k
                for k in self.objects
                if k.startswith(params.get("prefix", "")) and k > params.get("marker", "")
            )
            limit = int(params.get("max-keys", 1000))
            shown, truncated = names[:limit], len(names) > limit
            contents = "".join(
                f"<Contents><Key>{k}</Key><Size>{len(self.objects[k])}</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>"
                for k in shown
            )
            marker = f"<NextMarker>{shown[-1]}</NextMarker>" if truncated else ""
            return self._reply(
                handler,
                200,
                f"<ListBucketResult><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{marker}{contents}</ListBucketResult>".encode(),
            )
        return self._error(handler, 405, "MethodNotAllowed", "not modelled")
