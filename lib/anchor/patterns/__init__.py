"""Log templates: a stable pattern id and a readable template for each message.

Public interface (used by events, fingerprint, the CLI and ``anchorpattern``):

- ``split_raw(line)``: strip a raw line's header (timestamp, level, pid,
  component) and return its parts.
- ``message_of(record)``: the human message of a structured (JSON) record.
- ``template_of(message)``: ``Template(pattern_id, template)``, deterministic
  across processes.
"""

from __future__ import annotations

from anchor.patterns.header import RawParts, split_raw
from anchor.patterns.mask import Template, message_of, template_of

__all__ = ["RawParts", "Template", "message_of", "split_raw", "template_of"]
