#!/usr/bin/env python
"""Splunk entry point for `anchorshow`: the logic lives in lib/anchor."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from splunklib.searchcommands import dispatch

from anchor.splunk.commands import AnchorShowCommand

dispatch(AnchorShowCommand, sys.argv, sys.stdin, sys.stdout, __name__)
