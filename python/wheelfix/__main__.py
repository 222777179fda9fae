"""``python -m wheelfix``: the command."""

import sys

from wheelfix import main

if __name__ == "__main__":
    sys.exit(main())
