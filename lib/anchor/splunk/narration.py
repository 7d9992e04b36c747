"""The LLM narrator for ``anchorcompare narrate=true|deep=true``, set up from the app's settings.

Settings come from ``anchor.conf`` ``[llm]`` (``url``, ``model``,
``timeout_s``), read through splunkd as the invoking user; the API key
comes from storage/passwords (realm ``anchor``, name ``llm_api_key``).
Anything missing or invalid gives the offline narrator with the reason, so
a comparison never fails because of narration. SPL asked for by a deep
investigation runs through splunkd's oneshot search as the invoking user,
after the SPL guard, with a row cap and a time cap.
"""

from __future__ import annotations

from typing import Optional

from splunklib import binding

from anchor.errors import AnchorError
from anchor.investigate import SEARCH_SECONDS, SearchRunner, Toolbox, deep_narrator
from anchor.llm import LLMClient, LLMConfig, LLMError
from anchor.memory import Memory
from anchor.narrate import llm_narrator, unavailable_narrator
from anchor.operations import Narrator
from anchor.splguard import require_safe_spl
from anchor.splunk.kvstore import splunkd_content
from anchor.splunk.search import run_oneshot
from anchor.splunk.secrets import read_secret

SETTINGS_PATH = "/servicesNS/nobody/anchor/configs/conf-anchor/llm"
KEY_NAME = "llm_api_key"


def read_llm_config(splunkd_uri: str, session_key: str) -> LLMConfig:
    """The configured LLM; raises ``AnchorError`` saying what to set when it is not usable."""
    try:
        content = splunkd_content(splunkd_uri, session_key, SETTINGS_PATH)
    except binding.HTTPError as exc:
        raise AnchorError(
            f"the [llm] settings could not be read (HTTP {exc.status}); set them on the setup page"
        ) from None
    url, model = (content.get("url") or "").strip(), (content.get("model") or "").strip()
    if not url or not model:
        raise AnchorError("no LLM is configured: set url and model in [llm] on the setup page")
    try:
        timeout = float(content.get("timeout_s") or 30)
    except ValueError:
        raise AnchorError("[llm] timeout_s must be a number of seconds") from None
    key = read_secret(splunkd_uri, session_key, KEY_NAME) or ""
    return LLMConfig(url, model, api_key=key, timeout_s=timeout)


def oneshot_runner(splunkd_uri: str, session_key: str, user: str) -> SearchRunner:
    """Run read-only SPL as ``user`` (their token, their namespace), capped in rows and time."""

    def run(query: str, earliest: str, latest: str, max_rows: int, max_seconds: float) -> list:
        require_safe_spl(query)  # the guard again at the edge: nothing unchecked reaches splunkd
        return run_oneshot(
            splunkd_uri, session_key, user, f"{query.strip()} | head {int(max_rows)}",
            earliest=earliest, latest=latest, max_rows=max_rows, max_seconds=max_seconds,
        )  # fmt: skip

    return run


def search_narrator(
    splunkd_uri: str,
    session_key: str,
    user: str,
    memory: Memory,
    *,
    deep: bool,
    config: Optional[LLMConfig] = None,
) -> Narrator:
    """The narrator for one compare: LLM (plain or deep) when configured, else offline with why."""
    try:
        config = config or read_llm_config(splunkd_uri, session_key)
    except (AnchorError, LLMError) as error:
        return unavailable_narrator(f"LLM not used: {error}")
    client = LLMClient(config)
    if not deep:
        return llm_narrator(client)
    toolbox = Toolbox(
        memory,
        run_search=oneshot_runner(splunkd_uri, session_key, user),
        search_seconds=SEARCH_SECONDS,
    )
    return deep_narrator(client, toolbox)
