"""Who may do what, and which memory a command uses.

Commands run as the invoking user: the memory is opened with the user's own
session token, so KV Store's permissions apply to them, and writing commands
also require the ``anchor_write`` capability (authorize.conf grants it to
admin, sc_admin and anchor_admin), checked against splunkd's view of the
current user for a clear message before anything is read.

``ANCHOR_STORE=sqlite:<path>`` is a developer setting: the commands use an
SQLite memory instead of KV Store, and since there is then no splunkd to ask,
capability checks are skipped. Never set it on a production search head.
"""

from __future__ import annotations

import os
from typing import Optional

from anchor.errors import AnchorError
from anchor.memory import Memory
from anchor.store import SQLiteStore

WRITE_CAPABILITY = "anchor_write"
FEEDBACK_CAPABILITY = "anchor_feedback"
CONFIGURE_CAPABILITY = "anchor_configure"
NARRATE_CAPABILITY = "anchor_narrate"
ALERT_CAPABILITY = "anchor_alert"
STORE_SETTING = "ANCHOR_STORE"


class AccessDenied(AnchorError):
    pass


def developer_store() -> Optional[str]:
    """The SQLite path from ``ANCHOR_STORE=sqlite:<path>``, if set."""
    setting = os.environ.get(STORE_SETTING, "")
    if not setting:
        return None
    if not setting.startswith("sqlite:") or len(setting) <= len("sqlite:"):
        raise AnchorError(f"{STORE_SETTING} must look like sqlite:<path>, got {setting!r}")
    return setting[len("sqlite:") :]


def open_memory(splunkd_uri: str, session_key: str) -> Memory:
    path = developer_store()
    if path is not None:
        return Memory(SQLiteStore(path))
    from anchor.splunk.kvstore import open_kvstore

    return Memory(open_kvstore(splunkd_uri, session_key))


def current_capabilities(splunkd_uri: str, session_key: str) -> set[str]:
    from anchor.splunk.kvstore import splunkd_content

    context = splunkd_content(splunkd_uri, session_key, "/services/authentication/current-context")
    return set(context.get("capabilities") or [])


def require_capability(splunkd_uri: str, session_key: str, capability: str) -> None:
    if developer_store() is not None:
        return
    if capability not in current_capabilities(splunkd_uri, session_key):
        raise AccessDenied(
            f"this command writes Anchor's memory and needs the {capability} capability: "
            "ask an admin for the anchor_admin role"
        )
