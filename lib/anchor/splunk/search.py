"""Run one search through splunkd as a given user: a oneshot job, capped in rows and time.

Used by the deep investigation's ``run_spl`` tool and the REST ``compare``
endpoint. The caller's token and namespace are used, so the user's own
index permissions and search quotas apply.
"""

from __future__ import annotations

import json
from typing import Any

from splunklib import binding

from anchor.errors import AnchorError
from anchor.splunk.kvstore import APP, connect


def as_search(query: str) -> str:
    """A query as splunkd's jobs endpoint wants it: a leading ``search`` unless it starts with ``|``."""
    text = query.strip()
    if text.startswith("|") or text.split(None, 1)[0].lower() == "search":
        return text
    return "search " + text


def run_oneshot(
    splunkd_uri: str,
    session_key: str,
    user: str,
    query: str,
    *,
    earliest: str,
    latest: str,
    max_rows: int,
    max_seconds: float,
) -> list[dict[str, Any]]:
    """The first ``max_rows`` result rows of ``query``; raises ``AnchorError`` on failure."""
    service = connect(splunkd_uri, session_key, timeout=max_seconds + 10)
    try:
        response = service.post(
            "search/jobs",
            owner=user,
            app=APP,
            search=as_search(query),
            exec_mode="oneshot",
            output_mode="json",
            count=int(max_rows),
            earliest_time=earliest,
            latest_time=latest,
            max_time=int(max_seconds),
        )
        data = json.loads(response.body.read().decode("utf-8"))
    except binding.HTTPError as exc:
        raise AnchorError(f"the search failed: splunkd answered HTTP {exc.status}") from None
    except (OSError, ValueError) as exc:
        raise AnchorError(f"the search failed ({type(exc).__name__}: {exc})") from None
    rows = data.get("results") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise AnchorError("splunkd's search answer had no results list")
    return rows[:max_rows]
