"""Anchor: memory for on-call engineers.

The engine is pure Python (3.9+) with no Splunk dependency; only
``anchor.splunk`` imports splunklib. Data flows one way:
events -> Fingerprint -> diff() -> ranked Signals -> memory -> narration.
"""

__version__ = "0.1.0"
