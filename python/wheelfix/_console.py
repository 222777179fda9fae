"""The ``wheelfix`` console script: runs the native command in-process."""

import os
import sys

from wheelfix import main


def run() -> None:
    """Entry point of the ``wheelfix`` command installed by pip.

    A reader that goes away (``wheelfix completions zsh | head -3``) ends the
    command quietly, as it ends the Rust binary; Ctrl-C exits 130 without a
    traceback.
    """
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null first
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 141
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
