"""The ``wheelfix`` console script: runs the native command in-process."""

import sys

from wheelfix import main


def run() -> None:
    """Entry point of the ``wheelfix`` command installed by pip."""
    sys.exit(main())
