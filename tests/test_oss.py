"""OSS transport: signatures agree with oss2; round trips against a loopback fake OSS over verified TLS."""

from __future__ import annotations

import logging

import oss2
import pytest
from fakes.fake_oss import FakeOSS

from anchor import maintenance
from anchor.memory import Memory
from anchor.oss import OSSClient, OSSConfig, OSSDestination, OSSError, sign, string_to_sign
from anchor.store import SQLiteStore

SECRET = "s3cr3t-ABCDEFG-do-not-leak"
DATE = "Wed, 25 Nov 2026 03:00:00 GMT"


@pytest.mark.parametrize(
    "method, key, params, headers",
    [
        (
            "PUT",
            "anchor-memory/20261125T030000Z.json.gz",
            {},
            {
                "Content-Type": "application/gzip",
                "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
                "x-oss-server-side-encryption": "AES256",
            },
        ),
        ("GET", "anchor-memory/a.json.gz", {}, {}),
        ("DELETE", "anchor-memory/a.json.gz", {}, {}),
        (
            "GET",
            "",
            {"prefix": "anchor-memory/", "marker": "anchor-memory/a", "max-keys": "1000"},
            {},
        ),
        (
            "POST",
            "big.json.gz",
            {"uploads": ""},
            {"Content-Type": "application/gzip", "x-oss-server-side-encryption": "AES256"},
        ),
        (
            "PUT",
            "big.json.gz",
            {"partNumber": "2", "uploadId": "0004B9894A22E5B1888A1E29F823****"},
            {"Content-MD5": "abc=="},
        ),
        (
            "POST",
            "big.json.gz",
            {"uploadId": "0004B9894A22E5B1888A1E29F823****"},
            {"Content-Type": "application/xml"},
        ),
    ],
)
def test_signatures_match_oss2(monkeypatch, method, key, params, headers):
    monkeypatch.setattr(oss2.utils, "http_date", lambda *a: DATE)
    request = oss2.http.Request(
        method,
        "https://bucket-1.oss-cn-hangzhou.aliyuncs.com/" + key,
        params=dict(params),
        headers=dict(headers),
    )
    oss2.Auth("AKID", SECRET)._sign_request(request, "bucket-1", key)
    ours = sign(SECRET, string_to_sign(method, {**headers, "Date": DATE}, "bucket-1", key, params))
    assert request.headers["authorization"] == f"OSS AKID:{ours}"


@pytest.fixture
def fake(tmp_path):
    with FakeOSS("anchor-backups", "AKID", SECRET) as server:
        server.ca_path = server.ca_file(tmp_path)
        yield server


def client(fake, **overrides):
    config = OSSConfig(
        endpoint=fake.endpoint,
        bucket="anchor-backups",
        access_key_id="AKID",
        access_key_secret=overrides.pop("secret", SECRET),
        ca_bundle=fake.ca_path,
        **overrides,
    )
    return OSSClient(config)


def test_put_get_list_delete_with_server_side_encryption(fake):
    oss = client(fake)
    oss.put_object("anchor-memory/a.json.gz", b"hello")
    assert oss.get_object("anchor-memory/a.json.gz") == b"hello"
    assert [o.key for o in oss.list_objects("anchor-memory/")] == ["anchor-memory/a.json.gz"]
    oss.delete_object("anchor-memory/a.json.gz")
    assert fake.objects == {}


def test_multipart_upload_and_abort_on_failure(fake):
    oss = client(fake, multipart_threshold=150 * 1024, part_size=100 * 1024)
    data = bytes(range(256)) * 1600  # 400 KB: four parts
    oss.put_object("anchor-memory/big.json.gz", data)
    assert fake.objects["anchor-memory/big.json.gz"] == data
    assert sum(1 for r in fake.requests if "partNumber" in r[2]) == 4
    fake.fail_part = 3
    with pytest.raises(OSSError, match="InvalidPart"):
        oss.put_object("anchor-memory/broken.json.gz", data)
    assert "anchor-memory/broken.json.gz" not in fake.objects
    assert fake.uploads == {}  # aborted: nothing half-written remains


def test_list_pages_and_transient_errors_are_retried(fake):
    oss = client(fake)
    for i in range(5):
        fake.objects[f"anchor-memory/{i}.json.gz"] = b"x"
    fake.fail_next = 1
    names = [o.key for o in oss.list_objects("anchor-memory/")]
    assert len(names) == 5


def test_wrong_secret_is_a_clear_error_that_never_shows_the_secret(fake, caplog):
    caplog.set_level(logging.DEBUG)
    oss = client(fake, secret="wrong-" + SECRET)
    with pytest.raises(OSSError) as error:
        oss.put_object("anchor-memory/a.json.gz", b"x")
    assert "SignatureDoesNotMatch" in str(error.value)
    assert (
        SECRET not in str(error.value)
        and SECRET not in repr(oss.config)
        and SECRET not in caplog.text
    )


def test_untrusted_certificate_is_refused(fake):
    config = OSSConfig(
        endpoint=fake.endpoint,
        bucket="anchor-backups",
        access_key_id="AKID",
        access_key_secret=SECRET,
    )
    with pytest.raises(OSSError, match="SSLError"):
        OSSClient(config).get_object("x")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"bucket": "Bad_Bucket"}, "invalid OSS bucket name"),
        ({"endpoint": "http://oss-cn-hangzhou.aliyuncs.com"}, "must use https"),
        ({"prefix": "/abs"}, "must not start with"),
        ({"access_key_id": ""}, "credentials are missing"),
    ],
)
def test_configuration_is_validated(overrides, message):
    settings = {
        "endpoint": "oss-cn-hangzhou.aliyuncs.com",
        "bucket": "anchor-backups",
        "access_key_id": "AKID",
        "access_key_secret": SECRET,
        **overrides,
    }
    with pytest.raises(OSSError, match=message):
        OSSConfig(**settings)


def test_export_and_restore_through_oss(fake, tmp_path, demo_files):
    from anchor import operations
    from anchor.events import read_events
    from anchor.fingerprint import Fingerprint

    memory = Memory(SQLiteStore(str(tmp_path / "m.db")))
    operations.capture(
        memory,
        "base",
        Fingerprint().add_all(read_events([str(demo_files["calm"])])),
        user="u",
        now=1_800_000_000.0,
    )
    destination = OSSDestination(client(fake))
    result = maintenance.export(memory.store, destination, now=1_800_000_000.0, retention_days=30)
    assert result.location == f"oss://anchor-backups/{result.name}"
    fresh = Memory(SQLiteStore(str(tmp_path / "fresh.db")))
    maintenance.restore_export(fresh.store, destination.get(result.name))
    assert [a["name"] for a in fresh.anchors()] == ["base"]


def test_unreachable_destination_fails_clearly_and_deletes_nothing(tmp_path):
    import socket

    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = OSSConfig(
        endpoint=f"https://127.0.0.1:{port}",
        bucket="anchor-backups",
        access_key_id="AKID",
        access_key_secret=SECRET,
    )
    memory = Memory(SQLiteStore(str(tmp_path / "m.db")))
    memory.store.put_many("anchor_drifts", [{"_key": "d1", "drift_id": "d1", "created": 1.0}])
    with pytest.raises(OSSError, match="ConnectionError"):
        maintenance.export(
            memory.store, OSSDestination(OSSClient(config)), now=1_800_000_000.0, retention_days=1
        )
    assert memory.store.get("anchor_drifts", "d1") is not None
