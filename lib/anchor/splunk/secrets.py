"""Secrets from Splunk's storage/passwords (realm ``anchor``), read as the running user.

Names used by Anchor: ``oss_access_key_id``, ``oss_access_key_secret``,
``llm_api_key``, ``webhook_url``. Values are returned to the caller only;
nothing here logs or repeats them.
"""

from __future__ import annotations

from typing import Optional

from anchor.splunk.kvstore import splunkd_entries

REALM = "anchor"


def stored_secrets(splunkd_uri: str, session_key: str) -> dict[str, str]:
    """Anchor's credentials (realm ``anchor``) by name, as the running user may read them."""
    entries = splunkd_entries(
        splunkd_uri, session_key, "/servicesNS/nobody/anchor/storage/passwords", count=0
    )
    found = {}
    for entry in entries:
        content = entry.get("content") or {}
        if content.get("realm") == REALM and content.get("username"):
            found[content["username"]] = content.get("clear_password") or ""
    return found


def read_secret(splunkd_uri: str, session_key: str, name: str) -> Optional[str]:
    return stored_secrets(splunkd_uri, session_key).get(name)
