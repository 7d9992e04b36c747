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

from anchor.patterns.header import RawParts, digit_shape, peel_shape, split_raw, timestamp_at
from anchor.patterns.mask import Template, message_of, template_of

__all__ = ["RawParts", "Template", "message_of", "split_raw", "split_template", "template_of"]


def split_template(line: str, limit: int) -> tuple[RawParts, Template]:
    """``split_raw(line)`` with the message cut to ``limit`` characters, and its template.

    Equal to ``template_of(split_raw(line).message[:limit])``: the digit shape
    keeps every length, so the message's shape is a slice of the line's.
    """
    text = line.rstrip("\r\n")
    shape = digit_shape(text)
    stamp_format, start, level = peel_shape(shape)
    message = text[start:].strip()[:limit]
    template = template_of(message, shape=shape[start:].strip()[:limit])
    stamp = timestamp_at(text, stamp_format) if stamp_format is not None else None
    return _new_parts(RawParts, (stamp, level, message)), template


# ``RawParts(...)`` without the Python-level ``__new__`` namedtuple generates (once per event).
_new_parts = tuple.__new__
