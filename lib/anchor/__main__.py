import sys

from anchor.cli import main

# Guarded: worker processes started by spawn (anchor.parallel) import this module again.
if __name__ == "__main__":
    sys.exit(main())
