"""The TLS context for talking to splunkd: trust what splunkd itself trusts.

splunkd's certificate chain is whatever ``server.conf`` ``[sslConfig]``
names: ``sslRootCAPath`` (and, in older layouts, ``caCertFile`` under
``caPath``). It is read with Splunk's documented precedence for global
settings: ``etc/system/local``, then each app's ``local``, then each app's
``default`` (apps in ASCII order, first wins), then ``etc/system/default``.
Without any, Splunk's own ``$SPLUNK_HOME/etc/auth/cacert.pem``. The
``ANCHOR_SPLUNKD_CA`` environment variable, when set, names the file
instead (for tests and unusual installs). The system CAs stay trusted too.

Verification stays on. Python 3.13's default context adds
``VERIFY_X509_STRICT``, which rejects certificates older tools made (for
example without an Authority Key Identifier), as splunkd's default
certificates often are; that flag is cleared for this context only, so the
chain and its signatures are still checked. Only for a loopback splunkd
(the usual case for a search command) is the host name check relaxed,
because splunkd's default certificate names no host.
"""

from __future__ import annotations

import functools
import hashlib
import os
import ssl
from collections.abc import Iterator
from typing import Optional

from anchor.httpclient import is_loopback
from anchor.store import StoreError

CA_SETTING = "ANCHOR_SPLUNKD_CA"


def _conf_settings(path: str, stanza: str) -> dict[str, str]:
    """``key = value`` pairs of one stanza of a .conf file (empty if the file or stanza is missing)."""
    found: dict[str, str] = {}
    current = None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                if text.startswith("[") and text.endswith("]"):
                    current = text[1:-1].strip()
                elif current == stanza and "=" in text:
                    key, _, value = text.partition("=")
                    found.setdefault(key.strip(), value.strip())
    except OSError:
        return {}
    return found


def _server_conf_files(splunk_home: str) -> Iterator[str]:
    """server.conf files in Splunk's precedence order for global settings, highest first."""
    etc = os.path.join(splunk_home, "etc")
    yield os.path.join(etc, "system", "local", "server.conf")
    try:
        apps = sorted(os.listdir(os.path.join(etc, "apps")))
    except OSError:
        apps = []
    for layer in ("local", "default"):
        for app in apps:
            yield os.path.join(etc, "apps", app, layer, "server.conf")
    yield os.path.join(etc, "system", "default", "server.conf")


def _expand(value: str, splunk_home: str) -> str:
    return value.replace("$SPLUNK_HOME", splunk_home).replace("${SPLUNK_HOME}", splunk_home)


def splunkd_ca_file(splunk_home: Optional[str], override: Optional[str] = None) -> Optional[str]:
    """The CA bundle splunkd's certificate chains to, or None if none can be found."""
    if override:
        return override
    if not splunk_home:
        return None
    settings: dict[str, str] = {}
    for path in _server_conf_files(splunk_home):
        for key, value in _conf_settings(path, "sslConfig").items():
            settings.setdefault(key, value)
    candidates = []
    if settings.get("sslRootCAPath"):
        candidates.append(_expand(settings["sslRootCAPath"], splunk_home))
    if settings.get("caCertFile"):
        folder = _expand(settings.get("caPath") or "$SPLUNK_HOME/etc/auth", splunk_home)
        candidates.append(os.path.join(folder, _expand(settings["caCertFile"], splunk_home)))
    candidates.append(os.path.join(splunk_home, "etc", "auth", "cacert.pem"))
    return next((path for path in candidates if os.path.isfile(path)), None)


def splunkd_context(splunkd_uri: str) -> ssl.SSLContext:
    """A verifying context that trusts the system CAs plus splunkd's own CA.

    Shared by the connections of this process (do not change it): loading the
    system CAs takes tens of milliseconds, and the REST handler, a persistent
    process, would pay that on every request. A CA file whose content changes
    (a renewed CA) gets a new context.
    """
    bundle = splunkd_ca_file(os.environ.get("SPLUNK_HOME"), os.environ.get(CA_SETTING))
    digest = None
    if bundle:
        try:
            with open(bundle, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            bundle = None  # named but absent: the system CAs alone, as before
    return _verifying_context(bundle, digest, is_loopback(splunkd_uri))


@functools.lru_cache(maxsize=8)
def _verifying_context(
    bundle: Optional[str], digest: Optional[str], loopback: bool
) -> ssl.SSLContext:
    """The context for one CA file (``digest``, of its content, only keys the cache).
    A file that cannot be loaded raises, and is tried again on the next call."""
    context = ssl.create_default_context()
    if bundle:
        try:
            context.load_verify_locations(bundle)
        except (ssl.SSLError, OSError) as error:
            raise StoreError(
                f"the CA file {bundle} (for splunkd's certificate) could not be loaded: {error}"
            ) from None
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    context.verify_flags &= ~strict  # splunkd's own, often older, certificates: see above
    if loopback:
        context.check_hostname = False  # the chain is still verified (CERT_REQUIRED)
    return context
