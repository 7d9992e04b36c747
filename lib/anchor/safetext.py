"""Log-derived text made safe for the channel it is shown in.

Log lines are written by whoever can reach the logged service, so their text is
hostile until shown otherwise: on a terminal an ESC sequence can rewrite the
screen or the title, and in Slack ``<!channel>`` pings everyone and
``<https://evil|click>`` hides a link behind harmless words.
"""

from __future__ import annotations

import re

# C0 and C1 controls (newline and tab kept: they lay out our own output) and the
# bidirectional overrides that make text read differently from what it is.
_TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def printable(text: str) -> str:
    """``text`` with terminal control characters replaced by U+FFFD."""
    return _TERMINAL.sub("\ufffd", text)


def slack_escape(text: str) -> str:
    """``text`` escaped as Slack's message format asks (only ``&``, ``<`` and ``>``)."""
    return text.translate(_SLACK)
