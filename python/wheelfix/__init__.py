"""wheelfix: repair Python wheels for Linux, macOS and Windows.

The functions run the native library in-process (no subprocess). Keyword
arguments are the command's flags (``--lib-path`` is ``lib_path``); results
are the documents ``wheelfix show --json`` and ``check --json`` print::

    import wheelfix
    doc = wheelfix.analyze("dist/pkg-1.0-cp312-cp312-linux_x86_64.whl")
    out = wheelfix.repair("dist/pkg-1.0-cp312-cp312-linux_x86_64.whl", "wheelhouse")
    print(out["output"], out["bundled"])
    gate = wheelfix.check("wheelhouse", expect_python="cp310-cp313")

Errors raise a subclass of :class:`WheelfixError` (``MissingLibrary``,
``CannotRepair``, ``FileError``, …) whose ``str()`` is the command's error
line, followed by a ``hint:`` line when there is something to do.
"""

from __future__ import annotations

import sys

from wheelfix import _native
from wheelfix._native import (
    CHECK_SCHEMA_VERSION,
    SHOW_SCHEMA_VERSION,
    BinaryError,
    CannotRepair,
    CheckFailed,
    CorruptLibrary,
    FileError,
    MissingLibrary,
    PatchError,
    PolicyError,
    UsageError,
    WheelError,
    WheelfixError,
    __version__,
    analyze,
    check,
    expand_python_range,
    repair,
    show,
)

# typing is imported only for type checkers: the `wheelfix` command imports
# this package, and its start-up time is the command's
TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from typing import Optional, Sequence, Union

__all__ = [
    "WheelfixError",
    "FileError",
    "WheelError",
    "BinaryError",
    "PatchError",
    "PolicyError",
    "MissingLibrary",
    "CorruptLibrary",
    "CannotRepair",
    "UsageError",
    "CheckFailed",
    "analyze",
    "show",
    "repair",
    "check",
    "expand_python_range",
    "main",
    "SHOW_SCHEMA_VERSION",
    "CHECK_SCHEMA_VERSION",
    "__version__",
]


def main(argv: Optional[Sequence[Union[str, "os.PathLike[str]"]]] = None) -> int:
    """Run the ``wheelfix`` command in this process; returns its exit code."""
    sys.stdout.flush()
    sys.stderr.flush()
    return _native.main(list(sys.argv[1:] if argv is None else argv))
