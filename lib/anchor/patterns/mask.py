"""Mask the variable parts of a message into a readable, stable template.

A token (whitespace-separated) that contains a digit is a variable: it is
masked by type (``<UUID>``, ``<IP>``, ``<HEX>``, ``<NUM>``, else ``<*>``);
absolute paths are ``<PATH>``. In ``key=value`` pairs the key is a constant
and the value a variable. Words without digits are kept, so templates stay
readable. The pattern id is a hash of the template's shape (its text with
every mask counted as one): the same in every process and independent of any
other line. Where one id is seen with differently typed masks, the
fingerprint shows the lexicographically smallest text, whatever the order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple, Optional

from anchor.patterns.header import ZEROS

MESSAGE_FIELDS = ("message", "msg", "log", "text", "event", "description")


class Template(NamedTuple):
    pattern_id: str
    template: str


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?")
_HEX = re.compile(r"0x[0-9a-fA-F]+|(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}")
_NUM = re.compile(r"[-+]?\d+(?:[.,]\d+)*(ms)?")
_KEY_VALUE = re.compile(r"(?<![^\s,;({\[])([A-Za-z_][\w.-]{0,40})=(?!<)([^\s,;)}\]]+)")
_PATH_TOKEN = re.compile(r"(?<![^\s(\[\"'=])/[^\s/<>]+/[^\s<>]*")
_DIGIT_TOKEN = re.compile(r"[^\s<>]*\d[^\s<>]*")
_EDGE = re.compile(r"([\[({\"']*)(.*?)([\])}\"',;:.]*)")
_ANY_MASK = re.compile(r"<(?:UUID|IP|HEX|NUM|PATH|\*)>")


def _type_of(core: str) -> str:
    if core.count(".") == 3 and _IP.fullmatch(core):
        return "<IP>"
    number = _NUM.fullmatch(core)
    if number:
        return "<NUM>ms" if number.group(1) else "<NUM>"
    if _UUID.fullmatch(core):
        return "<UUID>"
    if len(core) >= 6 and _HEX.fullmatch(core):
        return "<HEX>"
    return "<*>"


@lru_cache(maxsize=65536)
def _masked(token: str) -> str:
    head, core, tail = _EDGE.fullmatch(token).groups()
    return f"{head}{_type_of(core)}{tail}" if core else token


def _mask_token(match: re.Match) -> str:
    # Messages arrive with digits zeroed, so token shapes repeat and hit the cache.
    return _masked(match.group(0))


def message_of(record: Mapping[str, Any]) -> Optional[str]:
    for name in MESSAGE_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def pattern_id_of(template: str) -> str:
    """The id of a template's shape: masks of every type count as one, so a
    variable that is sometimes all digits and sometimes hex stays one pattern."""
    shape = _ANY_MASK.sub("<*>", template)
    return hashlib.blake2b(shape.encode("utf-8"), digest_size=8).hexdigest()


def template_of(message: str) -> Template:
    """The template of a message.

    Masking depends only on which characters are digits, never on their
    values, so messages that differ only in digits share one cached result:
    the key replaces every ASCII digit with 0, keeping lengths.
    """
    return template_of_shape(message.translate(ZEROS))


@lru_cache(maxsize=65536)
def template_of_shape(message: str) -> Template:
    """The template of a message whose digits are already zeroed (see ``template_of``)."""
    text = _KEY_VALUE.sub(r"\1=<*>", message)
    text = _PATH_TOKEN.sub("<PATH>", text)
    text = _DIGIT_TOKEN.sub(_mask_token, text)
    text = " ".join(text.split())
    return Template(pattern_id_of(text), text)


def clear_template_cache() -> None:
    """Forget cached templates (benchmarks measure cold runs)."""
    template_of_shape.cache_clear()
    _masked.cache_clear()
