#!/usr/bin/env python
"""Splunk entry point for Anchor's REST API (restmap.conf [script:anchor_api]): logic in lib/anchor."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from anchor.splunk.rest import handle

try:
    from splunk.persistconn.application import PersistentServerConnectionApplication
except ImportError:  # outside splunkd (tests): the base class only stores nothing

    class PersistentServerConnectionApplication:  # type: ignore[no-redef]
        def __init__(self) -> None:
            pass


class AnchorRestHandler(PersistentServerConnectionApplication):
    """splunkd calls ``handle`` with the request as a JSON string."""

    def __init__(self, command_line=None, command_arg=None):
        super().__init__()

    def handle(self, in_string):
        try:
            raw = json.loads(in_string)
        except ValueError:
            response = {"status": 400, "payload": {"error": "the request document is not JSON"}}
        else:
            response = handle(raw)
        if "content_type" in response:  # a page (the drift report), sent as it is
            return {
                "status": response["status"],
                "payload": response["payload"],
                "headers": {"Content-Type": response["content_type"]},
            }
        return {
            "status": response["status"],
            "payload": json.dumps(response["payload"], default=str),
            "headers": {"Content-Type": "application/json"},
        }
