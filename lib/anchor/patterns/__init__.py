"""Log templates: a stable pattern id and a readable template for each message.

Public interface (used by events, fingerprint, the CLI and ``anchorpattern``):

- ``split_raw(line)``: strip a raw line's header (timestamp, level, pid,
  component) and return its parts.
- ``message_of(record)``: the human message of a structured (JSON) record.
- ``template_of(message)``: ``Template(pattern_id, template)``, deterministic
  across processes.
- ``split_template(line, limit)``: both at once for a raw line, sharing the
  digit-blind shape of the line (the per-event fast path).

A second stage, ``anchor.patterns.merge``, works on a whole table of
templates (word-valued variables, learned header columns) where the table is
whole: capture's reduce, compare, ``anchor patterns``.
"""

from __future__ import annotations

from typing import Optional

from anchor.patterns.header import (
    CACHE_ENTRIES,
    SHAPE_CACHE_CHARS,
    RawParts,
    digit_shape,
    peel_shape,
    split_raw,
    timestamp_at,
)
from anchor.patterns.mask import Template, digits_may_matter, message_of, template_of

__all__ = ["RawParts", "Template", "message_of", "split_raw", "split_template", "template_of"]


def split_template(line: str, limit: int) -> tuple[RawParts, Template]:
    """``split_raw(line)`` with the message cut to ``limit`` characters, and its template.

    Equal to ``template_of(split_raw(line).message[:limit])``: the digit shape
    keeps every length, so the message's shape is a slice of the line's.
    """
    text = line.rstrip("\r\n")
    shape = digit_shape(text)
    known = _split_by_shape.get(shape)
    if known is not None and known[4] == limit:
        stamp_format, start, level, template, _ = known
        message = text[start:].strip()[:limit]
    else:
        stamp_format, start, level = peel_shape(shape)
        message = text[start:].strip()[:limit]
        template = template_of(message, shape=shape[start:].strip()[:limit])
        if _worth_keeping(shape):
            if len(_split_by_shape) >= CACHE_ENTRIES:
                _split_by_shape.clear()
            _split_by_shape[shape] = (stamp_format, start, level, template, limit)
    stamp = timestamp_at(text, stamp_format) if stamp_format is not None else None
    return _new_parts(RawParts, (stamp, level, message)), template


# What split_template found for a line's digit shape: lines that differ only in digits
# have the same header, level and template (the header and template caches further on
# would answer the same, one lookup each). Cleared when full, as the time caches are.
_split_by_shape: dict[str, tuple[Optional[int], int, Optional[str], Template, int]] = {}


def _worth_keeping(shape: str) -> bool:
    # Not a long line (its shape would be a large key), not a shape whose lines' templates
    # may depend on digit values (see ``digits_may_matter``), and not a line holding a UUID
    # (four hyphens): random UUIDs make such a line's shape new each time, and single-use
    # entries would crowd out the rest. (template_of still caches their templates.)
    return len(shape) <= SHAPE_CACHE_CHARS and shape.count("-") < 4 and not digits_may_matter(shape)


# ``RawParts(...)`` without the Python-level ``__new__`` namedtuple generates (once per event).
_new_parts = tuple.__new__
