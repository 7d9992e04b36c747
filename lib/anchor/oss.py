"""Alibaba Cloud OSS over ``requests``: the transport behind OSS exports.

The ``oss2`` SDK pulls compiled dependencies, which a Splunk app cannot ship,
so the few calls Anchor needs are written here: PutObject (with
``x-oss-server-side-encryption: AES256`` and ``Content-MD5``), multipart
upload for large objects (aborted on any failure, so no partial object is
left), GetObject, ListObjects (paged) and DeleteObject, all signed with OSS's
header signature (V1, HMAC-SHA1). The tests check every signature against
``oss2`` for the same request. TLS verification is always on. Requests follow
the policy of ``anchor.httpclient``: GET, PUT and DELETE are retried on 429,
5xx and dropped connections; the multipart POSTs (initiate, complete) only
when the connection was refused, since nothing was sent. The secret is never
put in a message, a log line or a repr.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Optional
from urllib.parse import quote, urlsplit

from anchor import httpclient
from anchor.errors import AnchorError

if TYPE_CHECKING:
    import requests

SUBRESOURCES = frozenset(
    {"acl", "uploads", "uploadId", "partNumber", "location", "delete", "tagging"}
)
BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
MIN_PART = 100 * 1024


class OSSError(AnchorError):
    def __init__(
        self, message: str, *, status: Optional[int] = None, code: str = "", request_id: str = ""
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.request_id = status, code, request_id


@dataclass
class OSSConfig:
    endpoint: str
    bucket: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    prefix: str = "anchor-memory/"
    security_token: Optional[str] = field(default=None, repr=False)
    ca_bundle: Optional[str] = None
    multipart_threshold: int = 16 * 1024 * 1024
    part_size: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        if not BUCKET.fullmatch(self.bucket or ""):
            raise OSSError(
                f"invalid OSS bucket name {self.bucket!r}: 3-63 lowercase letters, digits or '-', "
                "not starting or ending with '-'"
            )
        endpoint = self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}"
        try:
            httpclient.check_url(endpoint, "the OSS endpoint")
        except httpclient.UnsafeURL as error:
            raise OSSError(str(error)) from None
        self.endpoint = endpoint.rstrip("/")
        if self.prefix.startswith("/"):
            raise OSSError("the OSS prefix must not start with '/'")
        if not self.access_key_id or not self.access_key_secret:
            raise OSSError("OSS credentials are missing: set them on Anchor's setup page")
        self.part_size = max(self.part_size, MIN_PART)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: str


def string_to_sign(
    method: str,
    headers: Mapping[str, str],
    bucket: str,
    key: str,
    params: Mapping[str, Optional[str]],
) -> str:
    lower = {k.lower(): v for k, v in headers.items()}
    oss_headers = "".join(
        f"{k}:{lower[k]}\n" for k in sorted(k for k in lower if k.startswith("x-oss-"))
    )
    subresources = sorted((k, v) for k, v in params.items() if k in SUBRESOURCES)
    resource = f"/{bucket}/{key}"
    if subresources:
        resource += "?" + "&".join(k if v in (None, "") else f"{k}={v}" for k, v in subresources)
    return "\n".join(
        [
            method,
            lower.get("content-md5", ""),
            lower.get("content-type", ""),
            lower.get("date", ""),
            oss_headers + resource,
        ]
    )


def sign(secret: str, text: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    ).decode()


class OSSClient:
    RETRIES = 2

    def __init__(self, config: OSSConfig) -> None:
        self.config = config
        policy = httpclient.RetryPolicy(attempts=self.RETRIES + 1, backoff=0.2)
        self.session = httpclient.session(policy, ca_bundle=config.ca_bundle)

    def _url(self, key: str) -> str:
        parts = urlsplit(self.config.endpoint)
        if httpclient.is_loopback(self.config.endpoint):  # test hosts: path-style addressing
            return f"{self.config.endpoint}/{self.config.bucket}/{quote(key, safe='/')}"
        return f"{parts.scheme}://{self.config.bucket}.{parts.netloc}/{quote(key, safe='/')}"

    def request(
        self,
        method: str,
        key: str = "",
        *,
        params: Optional[dict] = None,
        data: bytes = b"",
        headers: Optional[dict] = None,
    ) -> requests.Response:
        params = params or {}
        # Signed once: a retry resends the same Date, well within OSS's 15-minute allowance.
        signed = dict(headers or {})
        signed["Date"] = formatdate(usegmt=True)
        if self.config.security_token:
            signed["x-oss-security-token"] = self.config.security_token
        text = string_to_sign(method, signed, self.config.bucket, key, params)
        signed["Authorization"] = (
            f"OSS {self.config.access_key_id}:{sign(self.config.access_key_secret, text)}"
        )
        try:
            response = self.session.request(
                method,
                self._url(key),
                params=dict(params),
                data=data,
                headers=signed,
                timeout=60,
            )
        except httpclient.RequestFailed as exc:
            raise OSSError(f"OSS {method} {key or '/'} failed: {exc.kind}") from None
        if response.status_code >= 300:
            raise self._error(method, key, response)
        return response

    @staticmethod
    def _error(method: str, key: str, response: requests.Response) -> OSSError:
        code = request_id = message = ""
        try:
            root = ET.fromstring(response.content)
            code = root.findtext("Code") or ""
            message = root.findtext("Message") or ""
            request_id = root.findtext("RequestId") or ""
        except ET.ParseError:
            pass
        return OSSError(
            f"OSS {method} {key or '/'} answered {response.status_code} {code}: {message}".strip(),
            status=response.status_code,
            code=code,
            request_id=request_id,
        )

    def put_object(self, key: str, data: bytes, *, content_type: str = "application/gzip") -> None:
        if len(data) > self.config.multipart_threshold:
            return self._multipart(key, data, content_type)
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        self.request(
            "PUT",
            key,
            data=data,
            headers={
                "Content-Type": content_type,
                "Content-MD5": md5,
                "x-oss-server-side-encryption": "AES256",
            },
        )
        return None

    def _multipart(self, key: str, data: bytes, content_type: str) -> None:
        started = self.request(
            "POST",
            key,
            params={"uploads": ""},
            headers={"Content-Type": content_type, "x-oss-server-side-encryption": "AES256"},
        )
        upload_id = ET.fromstring(started.content).findtext("UploadId") or ""
        try:
            parts = []
            for number, start in enumerate(range(0, len(data), self.config.part_size), 1):
                chunk = data[start : start + self.config.part_size]
                md5 = base64.b64encode(hashlib.md5(chunk).digest()).decode()
                response = self.request(
                    "PUT",
                    key,
                    params={"partNumber": str(number), "uploadId": upload_id},
                    data=chunk,
                    headers={"Content-MD5": md5},
                )
                parts.append((number, response.headers.get("ETag", "")))
            body = (
                "<CompleteMultipartUpload>"
                + "".join(
                    f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
                    for n, etag in parts
                )
                + "</CompleteMultipartUpload>"
            )
            self.request(
                "POST",
                key,
                params={"uploadId": upload_id},
                data=body.encode(),
                headers={"Content-Type": "application/xml"},
            )
        except OSSError:
            with contextlib.suppress(OSSError):
                self.request("DELETE", key, params={"uploadId": upload_id})
            raise

    def get_object(self, key: str) -> bytes:
        return self.request("GET", key).content

    def delete_object(self, key: str) -> None:
        self.request("DELETE", key)

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        found, marker = [], ""
        while True:
            params = {"prefix": prefix, "max-keys": "1000"}
            if marker:
                params["marker"] = marker
            root = ET.fromstring(self.request("GET", "", params=params).content)
            for item in root.findall("Contents"):
                found.append(
                    ObjectInfo(
                        item.findtext("Key") or "",
                        int(item.findtext("Size") or 0),
                        item.findtext("LastModified") or "",
                    )
                )
            if (root.findtext("IsTruncated") or "false") != "true":
                return found
            marker = root.findtext("NextMarker") or (found[-1].key if found else "")


class OSSDestination:
    """The maintenance ``Destination`` on OSS: objects appear only when complete."""

    def __init__(self, client: OSSClient) -> None:
        self.client = client

    def put(self, name: str, data: bytes) -> str:
        self.client.put_object(name, data)
        return f"oss://{self.client.config.bucket}/{name}"

    def names(self) -> list[str]:
        return sorted(o.key for o in self.client.list_objects(self.client.config.prefix))

    def delete(self, name: str) -> None:
        self.client.delete_object(name)

    def get(self, name: str) -> bytes:
        return self.client.get_object(name)
