import sys

from anchor.cli import main

sys.exit(main())
