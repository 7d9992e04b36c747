#!/usr/bin/env python
"""A do-nothing streaming command on the same splunklib: the chunked protocol's floor.

Not part of the app (it is not in commands.conf and not packaged); the
protocol benchmark compares Anchor's map phase with it.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from splunklib.searchcommands import Configuration, StreamingCommand, dispatch


@Configuration()
class PassThroughCommand(StreamingCommand):
    def stream(self, records):
        yield from records


dispatch(PassThroughCommand, sys.argv, sys.stdin, sys.stdout, __name__)
