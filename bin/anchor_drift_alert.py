#!/usr/bin/env python
"""Splunk entry point for the `anchor_drift` alert action: the logic lives in lib/anchor."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from anchor.splunk.alert_action import main

if __name__ == "__main__":
    sys.exit(main(sys.argv, sys.stdin, sys.stderr))
