"""wheelfix: repair Python wheels for Linux, macOS and Windows.

The functions run the native library in-process (no subprocess) and return
plain Python values::

    import wheelfix
    report = wheelfix.analyze("dist/pkg-1.0-cp312-cp312-linux_x86_64.whl")
    out = wheelfix.repair("dist/pkg-1.0-cp312-cp312-linux_x86_64.whl", "wheelhouse")
    print(out["output"], out["bundled"])
    gate = wheelfix.check("wheelhouse", expect_python=["cp310-cp313"])

Errors raise :class:`WheelfixError` with the same one-line message the
command prints (and a ``hint:`` line when there is something to do).
"""

from __future__ import annotations

import os
import sys

from wheelfix import _native

# typing and pathlib are imported only where needed: the `wheelfix` command
# imports this package, and its start-up time is the command's
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Optional, Sequence, Union

    PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["WheelfixError", "analyze", "repair", "check", "main", "__version__"]

__version__: str = _native.__version__
WheelfixError = _native.WheelfixError


def _paths(values: Iterable[PathLike]) -> list:
    return [os.fspath(v) for v in values]


def analyze(
    wheel: PathLike,
    *,
    lib_path: Sequence[PathLike] = (),
    exclude: Sequence[str] = (),
    sysroot: Optional[PathLike] = None,
    ldpaths: Optional[Sequence[PathLike]] = None,
) -> dict:
    """Analyse a wheel: the document ``wheelfix show --json`` prints, as a dict."""
    return _native.analyze(
        os.fspath(wheel),
        lib_path=_paths(lib_path),
        exclude=list(exclude),
        sysroot=None if sysroot is None else os.fspath(sysroot),
        ldpaths=None if ldpaths is None else _paths(ldpaths),
    )


def repair(wheel: PathLike, wheel_dir: PathLike = "wheelhouse", **options: Any) -> dict:
    """Repair a wheel into ``wheel_dir``.

    Returns ``{"output": Path, "platform_tags": [...], "bundled": [(source, entry), ...],
    "patched": [...], "unchanged": bool, "messages": [...]}``. Keyword options:
    ``plat``, ``lib_path``, ``exclude``, ``sysroot``, ``ldpaths``, ``lib_sdir``,
    ``only_plat``, ``strip``, ``allow_pure``, ``require_archs``, ``no_mangle``,
    ``no_mangle_all`` (the command's flags of the same names).
    """
    for key in ("lib_path", "ldpaths"):
        if options.get(key) is not None:
            options[key] = _paths(options[key])
    if options.get("sysroot") is not None:
        options["sysroot"] = os.fspath(options["sysroot"])
    import pathlib

    result = _native.repair(os.fspath(wheel), os.fspath(wheel_dir), **options)
    result["output"] = pathlib.Path(result["output"])
    return result


def check(
    directory: PathLike,
    *,
    expect_python: Sequence[str] = (),
    expect_platform: Sequence[str] = (),
    lib_path: Sequence[PathLike] = (),
) -> dict:
    """Check a wheelhouse before upload: ``{"ok": bool, "wheels": [...], "problems": [...]}``."""
    return _native.check(
        os.fspath(directory),
        expect_python=list(expect_python),
        expect_platform=list(expect_platform),
        lib_path=_paths(lib_path),
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``wheelfix`` command in this process; returns its exit code."""
    sys.stdout.flush()
    sys.stderr.flush()
    return _native.main(list(sys.argv[1:] if argv is None else argv))
