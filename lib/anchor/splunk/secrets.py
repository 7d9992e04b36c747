"""Secrets from Splunk's storage/passwords (realm ``anchor``), read as the running user.

Names used by Anchor: ``oss_access_key_id``, ``oss_access_key_secret``,
``llm_api_key``, ``webhook_url``. Values are returned to the caller only;
nothing here logs or repeats them.
"""

from __future__ import annotations

import json
from typing import Optional

from anchor.errors import AnchorError
from anchor.splunk.kvstore import splunkd_get

REALM = "anchor"


def read_secret(splunkd_uri: str, session_key: str, name: str) -> Optional[str]:
    text = splunkd_get(
        splunkd_uri, session_key, "/servicesNS/nobody/anchor/storage/passwords", count=0
    )
    try:
        entries = json.loads(text)["entry"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AnchorError(f"splunkd's storage/passwords answer was not understood: {exc}") from None
    for entry in entries:
        content = entry.get("content", {})
        if content.get("realm") == REALM and content.get("username") == name:
            return content.get("clear_password")
    return None
