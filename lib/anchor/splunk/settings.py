"""The app's settings as the setup page sees them: read without secrets, validated, written.

Plain settings go to ``anchor.conf`` ``[llm]`` and the maintenance input's
stanza; secrets (the LLM API key, the webhook URL, the OSS key pair) go to
storage/passwords (realm ``anchor``). Reading never returns a secret, only
whether it is set. Everything is validated before anything is written, so a
bad value writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import parse_qsl, urlsplit

from splunklib import binding

from anchor.alert import check_webhook_url
from anchor.errors import AnchorError, InputError
from anchor.llm import LLMConfig, LLMError
from anchor.splunk.kvstore import APP, OWNER, connect, splunkd_content
from anchor.splunk.maintenance_input import validate_settings as validate_maintenance
from anchor.splunk.secrets import REALM, stored_secrets

LLM_PATH = "configs/conf-anchor/llm"
INPUT_PATH = "data/inputs/anchor_maintenance/nightly"
SECRETS = ("llm_api_key", "webhook_url", "oss_access_key_id", "oss_access_key_secret")
LLM_KEYS = ("url", "model", "timeout_s", "api_key")
MAINTENANCE_KEYS = (
    "destination",
    "local_dir",
    "oss_bucket",
    "oss_endpoint",
    "oss_prefix",
    "oss_access_key_id",
    "oss_access_key_secret",
)


@dataclass
class SettingsUpdate:
    llm: Optional[dict[str, str]] = None
    maintenance: Optional[dict[str, str]] = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


def _optional(splunkd_uri: str, token: str, path: str) -> dict[str, Any]:
    try:
        return splunkd_content(splunkd_uri, token, f"/servicesNS/{OWNER}/{APP}/{path}")
    except binding.HTTPError as exc:
        if exc.status == 404:
            return {}
        raise AnchorError(f"cannot read {path}: splunkd answered HTTP {exc.status}") from None


# Query parameters that carry a credential in the URLs of LLM gateways (``?key=``, ``?sig=``).
_SECRET_PARAMS = re.compile(
    r"(^|[_-])(key|apikey|token|secret|password|passwd|sig|signature|auth|authorization|code)$",
    re.IGNORECASE,
)


def url_credentials(url: str) -> Optional[str]:
    """What credential ``url`` carries (``user:password@`` or a secret-looking parameter), if any.

    Such a URL would sit in anchor.conf in clear and come back from GET settings; the key belongs
    in ``llm.api_key``, which goes to storage/passwords.
    """
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return "a user name or password before the host"
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_PARAMS.search(name):
            return f"the query parameter {name!r}"
    return "a fragment" if parts.fragment else None


def _shown_url(url: str) -> str:
    """A stored URL as GET settings may show it: one that carries a credential is withheld."""
    return (
        "(withheld: it carries a credential; set it again without one)"
        if url_credentials(url)
        else url
    )


def read_settings(splunkd_uri: str, token: str) -> dict[str, Any]:
    """Everything the setup page shows; secrets only as ``*_set`` booleans."""
    llm = _optional(splunkd_uri, token, LLM_PATH)
    nightly = _optional(splunkd_uri, token, INPUT_PATH)
    present = {name for name, value in stored_secrets(splunkd_uri, token).items() if value}
    return {
        "llm": {
            "url": _shown_url(llm.get("url") or ""),
            "model": llm.get("model") or "",
            "timeout_s": float(llm.get("timeout_s") or 30),
            "api_key_set": "llm_api_key" in present,
        },
        "webhook_url_set": "webhook_url" in present,
        "maintenance": {
            **{k: nightly.get(k) or "" for k in MAINTENANCE_KEYS[:5]},
            "oss_credentials_set": {"oss_access_key_id", "oss_access_key_secret"} <= present,
        },
    }


def _text(section: Mapping[str, Any], key: str, where: str) -> Optional[str]:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise InputError(f"{where}.{key} must be a string")
    return str(value).strip()


def _only(section: Any, allowed: tuple[str, ...], where: str) -> Mapping[str, Any]:
    if not isinstance(section, Mapping):
        raise InputError(f"{where} must be a JSON object")
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise InputError(f"unknown setting {where}.{unknown[0]}; known: {', '.join(allowed)}")
    return section


def validate_update(body: Any) -> SettingsUpdate:
    """Check a setup request; raise ``InputError`` naming the first bad value."""
    body = _only(body, ("llm", "webhook_url", "maintenance"), "settings")
    update = SettingsUpdate()
    if "llm" in body:
        llm = _only(body["llm"], LLM_KEYS, "llm")
        url, model = _text(llm, "url", "llm") or "", _text(llm, "model", "llm") or ""
        timeout = _text(llm, "timeout_s", "llm") or "30"
        try:
            seconds = float(timeout)
        except ValueError:
            raise InputError("llm.timeout_s must be a number of seconds") from None
        if not 1 <= seconds <= 300:
            raise InputError("llm.timeout_s must be between 1 and 300 seconds")
        carried = url_credentials(url)
        if carried:
            raise InputError(
                f"llm.url carries a credential ({carried}): put the key in llm.api_key, "
                "which is stored as a secret"
            )
        if url or model:
            try:
                LLMConfig(url, model)
            except LLMError as error:
                raise InputError(f"llm: {error}") from None
        update.llm = {"url": url, "model": model, "timeout_s": f"{seconds:g}"}
        key = _text(llm, "api_key", "llm")
        if key:
            update.secrets["llm_api_key"] = key
    if "webhook_url" in body:
        webhook = _text(body, "webhook_url", "settings")
        if webhook:
            check_webhook_url(webhook)
            update.secrets["webhook_url"] = webhook
    if "maintenance" in body:
        section = _only(body["maintenance"], MAINTENANCE_KEYS, "maintenance")
        plain = {k: _text(section, k, "maintenance") or "" for k in MAINTENANCE_KEYS[:5]}
        plain = {k: v for k, v in plain.items() if v}
        try:
            validate_maintenance(plain)
        except AnchorError as error:
            raise InputError(f"maintenance: {error}") from None
        update.maintenance = plain
        for name in ("oss_access_key_id", "oss_access_key_secret"):
            value = _text(section, name, "maintenance")
            if value:
                update.secrets[name] = value
    return update


def _store_secret(service: Any, name: str, value: str) -> None:
    try:
        service.post("storage/passwords", body={"name": name, "password": value, "realm": REALM})
    except binding.HTTPError as exc:
        if exc.status != 409:
            raise
        service.post(f"storage/passwords/{REALM}:{name}:", body={"password": value})


def apply_update(splunkd_uri: str, token: str, update: SettingsUpdate) -> list[str]:
    """Write a validated update with ``token`` (the handler's system token); returns what changed."""
    service = connect(splunkd_uri, token)
    changed = []
    try:
        if update.llm is not None:
            # As a form body: a ``url`` keyword would collide with splunklib's own argument.
            service.post(LLM_PATH, body=dict(update.llm))
            changed.append("llm")
        if update.maintenance:
            service.post(INPUT_PATH, body=dict(update.maintenance))
            changed.append("maintenance")
        for name, value in update.secrets.items():
            _store_secret(service, name, value)
            changed.append(name)
        # The first save completes the app's setup: Splunk stops sending admins here.
        service.post(f"apps/local/{APP}", body={"configured": "1"})
    except binding.HTTPError as exc:
        # Only the status: splunkd's message could echo a submitted value.
        raise AnchorError(
            f"saving the settings failed after {', '.join(changed) or 'nothing'}: "
            f"splunkd answered HTTP {exc.status}"
        ) from None
    return changed
