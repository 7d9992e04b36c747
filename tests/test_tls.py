"""TLS to splunkd: trust the CA server.conf names, and splunkd's older certificates on Python 3.13.

The fake splunkd serves, over loopback, a chain shaped like the default
certificates older Splunk tooling made: a CA and a server certificate
without an Authority Key Identifier (built here with ``cryptography``).
X509 strict verification (Python 3.13's default) refuses it; Anchor's
splunkd context still verifies the chain, without the strict flag.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fakes.fake_splunkd import FakeSplunkd

from anchor.splunk.access import current_capabilities
from anchor.splunk.tls import splunkd_ca_file, splunkd_context
from anchor.store import StoreError


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject, issuer, key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )


def old_style_chain():
    """(server certificate, key, CA) in PEM; the server certificate has no Authority Key Identifier."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    usage = {
        k: False
        for k in (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "encipher_only",
            "decipher_only",
        )
    }
    ca = (
        _builder(_name("SplunkCommonCA"), _name("SplunkCommonCA"), ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        _builder(_name("SplunkServerDefaultCert"), _name("SplunkCommonCA"), key)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    assert not [e for e in server.extensions if isinstance(e.value, x509.AuthorityKeyIdentifier)]
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return server.public_bytes(pem), key_pem, ca.public_bytes(pem)


def splunk_home(tmp_path, ca_pem, *, local=True):
    """A $SPLUNK_HOME whose server.conf names the CA where splunkd keeps a custom one."""
    home = tmp_path / "splunk"
    (home / "etc" / "auth" / "mycerts").mkdir(parents=True)
    (home / "etc" / "auth" / "mycerts" / "myCA.pem").write_bytes(ca_pem)
    (home / "etc" / "auth" / "cacert.pem").write_bytes(old_style_chain()[2])  # another CA
    default = home / "etc" / "system" / "default"
    default.mkdir(parents=True)
    (default / "server.conf").write_text(
        "[sslConfig]\nsslRootCAPath = $SPLUNK_HOME/etc/auth/cacert.pem\n"
    )
    if local:
        (home / "etc" / "system" / "local").mkdir(parents=True)
        (home / "etc" / "system" / "local" / "server.conf").write_text(
            "[general]\nserverName = sh1\n\n[sslConfig]\n"
            "sslRootCAPath = $SPLUNK_HOME/etc/auth/mycerts/myCA.pem\n"
        )
    return home


@pytest.fixture(scope="module")
def chain():
    return old_style_chain()


def handshake(context, port):
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        return True


def test_strict_verification_refuses_the_chain_and_ours_accepts_it(chain, tmp_path, monkeypatch):
    home = splunk_home(tmp_path, chain[2])
    monkeypatch.setenv("SPLUNK_HOME", str(home))
    monkeypatch.delenv("ANCHOR_SPLUNKD_CA", raising=False)
    with FakeSplunkd(server_cert=chain) as splunkd:
        port = int(splunkd.uri.rsplit(":", 1)[1])
        strict = ssl.create_default_context(cafile=str(home / "etc/auth/mycerts/myCA.pem"))
        if sys.version_info >= (3, 13):  # there the default context is already strict
            assert strict.verify_flags & ssl.VERIFY_X509_STRICT
        strict.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
        with pytest.raises(ssl.SSLCertVerificationError, match="Authority Key Identifier"):
            handshake(strict, port)
        ours = splunkd_context(splunkd.uri)
        assert ours.verify_mode == ssl.CERT_REQUIRED
        assert not ours.verify_flags & ssl.VERIFY_X509_STRICT
        assert handshake(ours, port)
        # And the whole client path: splunklib over that context, as a command does.
        assert "anchor_write" in current_capabilities(splunkd.uri, splunkd.session_key)


def test_verification_stays_on_for_a_ca_splunkd_does_not_name(chain, tmp_path, monkeypatch):
    home = splunk_home(tmp_path, chain[2], local=False)  # only the default cacert.pem: wrong CA
    monkeypatch.setenv("SPLUNK_HOME", str(home))
    monkeypatch.delenv("ANCHOR_SPLUNKD_CA", raising=False)
    with FakeSplunkd(server_cert=chain) as splunkd, pytest.raises(StoreError, match="not trusted"):
        current_capabilities(splunkd.uri, splunkd.session_key)


def test_the_ca_file_follows_server_conf_precedence(tmp_path):
    home = tmp_path / "home"
    auth = home / "etc" / "auth"
    auth.mkdir(parents=True)
    for name in ("cacert.pem", "app.pem", "old.pem", "local.pem"):
        (auth / name).write_text("x")
    assert splunkd_ca_file(str(home)) == str(auth / "cacert.pem")  # no server.conf: Splunk's own
    assert splunkd_ca_file(str(home), "/explicit/ca.pem") == "/explicit/ca.pem"
    system_default = home / "etc" / "system" / "default"
    system_default.mkdir(parents=True)
    # Older layouts: caCertFile under caPath.
    (system_default / "server.conf").write_text(
        "[sslConfig]\ncaPath = $SPLUNK_HOME/etc/auth\ncaCertFile = old.pem\n"
    )
    assert splunkd_ca_file(str(home)) == str(auth / "old.pem")
    app_default = home / "etc" / "apps" / "certs_app" / "default"
    app_default.mkdir(parents=True)
    (app_default / "server.conf").write_text(
        "[sslConfig]\nsslRootCAPath = $SPLUNK_HOME/etc/auth/app.pem\n"
    )
    assert splunkd_ca_file(str(home)) == str(auth / "app.pem")  # an app beats system/default
    system_local = home / "etc" / "system" / "local"
    system_local.mkdir(parents=True)
    (system_local / "server.conf").write_text(
        "# comment\n[sslConfig]\nsslRootCAPath = $SPLUNK_HOME/etc/auth/local.pem\n"
    )
    assert splunkd_ca_file(str(home)) == str(auth / "local.pem")  # system/local beats all
    (system_local / "server.conf").write_text(
        "[sslConfig]\nsslRootCAPath = $SPLUNK_HOME/etc/auth/missing.pem\n"
    )
    assert splunkd_ca_file(str(home)) == str(auth / "old.pem")  # named but absent: the next


def test_a_ca_file_that_is_not_a_certificate_is_a_clear_error_until_it_is_fixed(
    tmp_path, monkeypatch
):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    monkeypatch.setenv("ANCHOR_SPLUNKD_CA", str(bad))
    with pytest.raises(StoreError, match="could not be loaded"):
        splunkd_context("https://127.0.0.1:8089")
    with FakeSplunkd() as splunkd:  # the failure was not remembered: the fixed file is read
        bad.write_bytes(Path(splunkd.ca_file(tmp_path)).read_bytes())
        assert handshake(splunkd_context(splunkd.uri), splunkd.port)


def test_one_context_per_ca_file_and_a_new_one_when_the_ca_is_renewed(tmp_path, monkeypatch):
    """The context is shared within a process; a renewed CA file is read again, not ignored."""
    ca = tmp_path / "ca.pem"
    monkeypatch.setenv("ANCHOR_SPLUNKD_CA", str(ca))
    monkeypatch.delenv("SPLUNK_HOME", raising=False)
    with FakeSplunkd() as old, FakeSplunkd() as renewed:
        (tmp_path / "old").mkdir()
        (tmp_path / "renewed").mkdir()
        ca.write_bytes(Path(old.ca_file(tmp_path / "old")).read_bytes())
        first = splunkd_context(old.uri)
        assert splunkd_context(old.uri) is first
        assert handshake(first, old.port)
        remote = splunkd_context("https://splunk.example.com:8089")
        assert remote is not first and remote.check_hostname and not first.check_hostname

        ca.write_bytes(Path(renewed.ca_file(tmp_path / "renewed")).read_bytes())
        second = splunkd_context(renewed.uri)
        assert second is not first
        assert handshake(second, renewed.port)
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(second, old.port)
