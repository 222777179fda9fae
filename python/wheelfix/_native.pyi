"""Types of ``wheelfix._native``, the compiled module (see ``docs/python.md``).

Keyword arguments are the command's flags (``--lib-path`` is ``lib_path``).
A path is a ``str`` or an ``os.PathLike``; a list argument takes a sequence
of them or a single one. Results are the documents the command prints with
``--json`` (``docs/json.md``).
"""

import os
import pathlib
from typing import Dict, List, Literal, Optional, Sequence, Tuple, TypedDict, Union

StrPath = Union[str, "os.PathLike[str]"]
"""A path: ``str`` or ``os.PathLike``."""
Paths = Union[StrPath, Sequence[StrPath]]
"""One path or a sequence of them."""
Strs = Union[str, Sequence[str]]
"""One string or a sequence of them."""

__version__: str
SHOW_SCHEMA_VERSION: int
CHECK_SCHEMA_VERSION: int

class Blocker(TypedDict, total=False):
    """Why a tag is out of reach (``kind`` says which fields are set)."""

    kind: Literal["symbol_version", "blacklisted", "library", "isa", "python_abi", "macos_version", "machine"]
    file: str
    lib: str
    version: str
    symbol: str
    name: str
    level: int
    arch: str
    found: str

class TagsInfo(TypedDict):
    """The platform tags of the file name, and the best a repair gives."""

    input: List[str]
    best: List[str]

class BinaryInfo(TypedDict, total=False):
    """One ELF, Mach-O or PE file of the wheel."""

    path: str
    format: Literal["elf", "macho", "pe"]
    extension: bool
    needed: List[str]
    arch: Optional[str]
    soname: Optional[str]
    rpath: List[str]
    runpath: List[str]
    interp: Optional[str]
    archs: List[str]
    id: Optional[str]
    rpaths: List[str]
    min_macos: Optional[str]
    machine: Optional[str]
    delay_imports: List[str]

class LibraryInfo(TypedDict):
    """One library a binary depends on, and what becomes of it."""

    name: str
    status: Literal["in-wheel", "bundle", "system", "excluded", "missing"]
    reason: Optional[str]
    path: Optional[str]
    realpath: Optional[str]
    needed_by: List[str]

class IgnoredFile(TypedDict):
    """A binary of another architecture, left out of the Linux verdict."""

    file: str
    arch: str

class LinuxInfo(TypedDict):
    """The Linux verdict (auditwheel's)."""

    libc: Literal["glibc", "musl"]
    arch: str
    current_tag: str
    best_tag: str
    versioned_symbols: Dict[str, List[str]]
    external_libs: Dict[str, Optional[str]]
    policy_upgrades: Dict[str, List[Blocker]]
    ignored: List[IgnoredFile]

class MinVersion(TypedDict):
    """The macOS version one architecture needs, and the file that needs it."""

    version: str
    file: str

class MacosInfo(TypedDict):
    """The macOS verdict (delocate's)."""

    archs: List[str]
    min_versions: Dict[str, MinVersion]
    best_tags: Optional[List[str]]
    error: Optional[str]
    blockers: List[Blocker]

class WindowsInfo(TypedDict):
    """The Windows verdict (delvewheel's)."""

    machine: Optional[int]
    blockers: List[Blocker]

class RepairError(TypedDict):
    """Why ``repair`` with the same options would fail, and what to do."""

    message: str
    hint: Optional[str]

class _WheelName(TypedDict):
    wheel: str

class WheelReport(_WheelName, total=False):
    """One wheel of ``show``: what was found, or ``error`` when it could not be read."""

    error: str
    family: Literal["pure", "linux", "macos", "windows"]
    pure: bool
    needs_repair: bool
    repair_error: Optional[RepairError]
    tags: TagsInfo
    binaries: List[BinaryInfo]
    libraries: List[LibraryInfo]
    linux: LinuxInfo
    macos: MacosInfo
    windows: WindowsInfo
    warnings: List[str]

class ShowReport(TypedDict):
    """The ``show --json`` document."""

    schema_version: int
    wheels: List[WheelReport]

class Problem(TypedDict):
    """One problem ``check`` found; ``wheel`` is ``-`` for the release as a whole."""

    wheel: str
    what: str

class CheckReport(TypedDict):
    """The ``check --json`` document."""

    schema_version: int
    ok: bool
    wheels: List[str]
    problems: List[Problem]

class RepairResult(TypedDict):
    """What ``repair`` did."""

    output: pathlib.Path
    platform_tags: List[str]
    bundled: List[Tuple[str, str]]
    patched: List[str]
    unchanged: bool
    messages: List[str]

class WheelfixError(Exception):
    """A wheel could not be analysed, repaired or checked; ``str()`` is the command's error."""

    hint: Optional[str]

class FileError(WheelfixError):
    """A file could not be read or written."""

    path: str

class WheelError(WheelfixError):
    """The wheel archive or its metadata is malformed."""

class BinaryError(WheelfixError):
    """A binary in the wheel could not be parsed."""

class PatchError(WheelfixError):
    """A binary could not be rewritten safely."""

class PolicyError(WheelfixError):
    """A policy file is malformed or lacks the requested tag."""

class MissingLibrary(WheelfixError):
    """A library that must be bundled was not found."""

    library: str
    needed_by: str
    wheel: str

class CorruptLibrary(MissingLibrary):
    """A library that must be bundled was found only as a file that does not parse."""

    path: str

class CannotRepair(WheelfixError):
    """The wheel cannot be repaired to what was asked."""

    wheel: str

class UsageError(WheelfixError):
    """An option is unknown, refused or contradicts another."""

class CheckFailed(WheelfixError):
    """``check(..., raise_on_problems=True)`` found problems."""

    report: CheckReport

def analyze(
    wheel: StrPath,
    *,
    lib_path: Optional[Paths] = None,
    sysroot: Optional[StrPath] = None,
    ldpaths: Optional[Paths] = None,
    policy: Optional[StrPath] = None,
    exclude: Optional[Strs] = None,
    disable_isa_ext_check: bool = False,
    executable_path: Optional[StrPath] = None,
    allow_pure_python_wheel: bool = False,
    ignore_existing: bool = False,
    analyze_existing: bool = False,
    analyze_existing_exes: bool = False,
    site_packages: Optional[Paths] = None,
) -> WheelReport:
    """Analyse one wheel: its object of the ``show --json`` document."""

def show(
    wheels: Paths,
    *,
    lib_path: Optional[Paths] = None,
    sysroot: Optional[StrPath] = None,
    ldpaths: Optional[Paths] = None,
    policy: Optional[StrPath] = None,
    exclude: Optional[Strs] = None,
    disable_isa_ext_check: bool = False,
    executable_path: Optional[StrPath] = None,
    allow_pure_python_wheel: bool = False,
    ignore_existing: bool = False,
    analyze_existing: bool = False,
    analyze_existing_exes: bool = False,
    site_packages: Optional[Paths] = None,
    verify: bool = False,
) -> ShowReport:
    """Analyse wheels: the ``show --json`` document. Like the command, a huge
    ELF file is read only at its start and its end unless ``verify``."""

def repair(
    wheel: StrPath,
    wheel_dir: StrPath = "wheelhouse",
    *,
    plat: Optional[str] = None,
    only_plat: bool = False,
    lib_sdir: Optional[str] = None,
    strip: bool = False,
    zip_compression_level: Optional[int] = None,
    keep_rpaths: bool = False,
    no_update_tags: bool = False,
    require_archs: Optional[Strs] = None,
    check_archs: bool = False,
    ignore_missing_dependencies: bool = False,
    sanitize_rpaths: bool = True,
    require_target_macos_version: Optional[str] = None,
    no_mangle: Optional[Strs] = None,
    no_mangle_all: bool = False,
    include: Optional[Paths] = None,
    namespace_pkg: Optional[Strs] = None,
    lib_path: Optional[Paths] = None,
    sysroot: Optional[StrPath] = None,
    ldpaths: Optional[Paths] = None,
    policy: Optional[StrPath] = None,
    exclude: Optional[Strs] = None,
    disable_isa_ext_check: bool = False,
    executable_path: Optional[StrPath] = None,
    allow_pure_python_wheel: bool = False,
    ignore_existing: bool = False,
    analyze_existing: bool = False,
    analyze_existing_exes: bool = False,
    site_packages: Optional[Paths] = None,
    allow_abi3_violations: bool = False,
    allow_exec_stack: bool = False,
    no_add_requires: bool = False,
    no_licenses: bool = False,
) -> RepairResult:
    """Repair one wheel into ``wheel_dir``."""

def check(
    inputs: Paths,
    *,
    expect_python: Optional[Strs] = None,
    expect_platform: Optional[Strs] = None,
    raise_on_problems: bool = False,
    lib_path: Optional[Paths] = None,
    sysroot: Optional[StrPath] = None,
    ldpaths: Optional[Paths] = None,
    policy: Optional[StrPath] = None,
    exclude: Optional[Strs] = None,
    disable_isa_ext_check: bool = False,
    executable_path: Optional[StrPath] = None,
    allow_pure_python_wheel: bool = False,
    ignore_existing: bool = False,
    analyze_existing: bool = False,
    analyze_existing_exes: bool = False,
    site_packages: Optional[Paths] = None,
) -> CheckReport:
    """Check the wheels of a release: the ``check --json`` document."""

def expand_python_range(spec: str) -> List[str]:
    """``cp310-cp312`` as ``["cp310", "cp311", "cp312"]``, as ``check --expect-python`` expands it."""

def main(argv: Sequence[StrPath]) -> int:
    """Run the ``wheelfix`` command with ``argv`` (without the program name); its exit code."""
