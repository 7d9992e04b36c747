"""Mask the variable parts of a message into a readable, stable template."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

MESSAGE_FIELDS = ("message", "msg", "log", "text", "event", "description")


class Template(NamedTuple):
    pattern_id: str
    template: str


_MASKS = [
    (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "<UUID>",
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<IP>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{12,}\b"), "<HEX>"),
    (re.compile(r"(?<![\w<])/[\w.\-/]+"), "<PATH>"),
    (re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?"), "<NUM>"),
]
_KV_VALUE = re.compile(r"(\b[\w.]+=)(?!<)([^\s,;]+)")


def message_of(record: Mapping[str, Any]) -> Optional[str]:
    for name in MESSAGE_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def pattern_id_of(template: str) -> str:
    return hashlib.blake2b(template.encode("utf-8"), digest_size=8).hexdigest()


def template_of(message: str) -> Template:
    text = message
    for regex, token in _MASKS:
        text = regex.sub(token, text)
    text = _KV_VALUE.sub(r"\1<*>", text)
    text = " ".join(text.split())
    return Template(pattern_id_of(text), text)
