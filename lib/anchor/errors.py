"""User-facing errors: each message is one line that says what to fix.

The CLI turns any ``AnchorError`` into exit status 2; the Splunk commands
turn it into a search error message instead of a traceback.
"""

from __future__ import annotations


class AnchorError(Exception):
    """Base of every error a user can fix by changing input or configuration."""


class InputError(AnchorError, ValueError):
    """Bad input: a file, a name, an option value."""


class NotFound(AnchorError, LookupError):
    """An anchor, drift or signal that is not in memory."""


class NoEvents(InputError):
    """An offline input with no events at all: most likely a wrong file or format.

    (In Splunk an empty window is data, a silent source, and is compared.)"""


class NoCoverage(InputError):
    """The input holds none of the anchor's sourcetypes: likely the wrong input or format.

    The CLI exits with its own status (4) for it, so scripts can tell it apart.
    """
