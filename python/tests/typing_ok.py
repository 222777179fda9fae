"""Type-checked by `mypy --strict` in CI: a publisher's script using the API.
It must pass; `typing_bad.py` must not."""

import pathlib
import sys
from typing import List

import wheelfix


def release(dist: pathlib.Path, libs: pathlib.Path, out: pathlib.Path) -> List[str]:
    written: List[str] = []
    for wheel in sorted(dist.glob("*.whl")):
        report: wheelfix._native.WheelReport = wheelfix.analyze(wheel, lib_path=libs)
        if not report.get("needs_repair", False):
            continue
        linux = report.get("linux")
        if linux is not None:
            print(linux["best_tag"], sorted(linux["external_libs"]))
        try:
            result = wheelfix.repair(wheel, out, lib_path=[libs, "/opt/lib"], exclude="libcuda.so*",
                                     plat="auto", zip_compression_level=6, keep_rpaths=False)
        except wheelfix.MissingLibrary as e:
            print(e.library, e.needed_by, e.hint, file=sys.stderr)
            continue
        except wheelfix.WheelfixError as e:
            print(e, file=sys.stderr)
            continue
        output: pathlib.Path = result["output"]
        written.append(output.name)
        for source, entry in result["bundled"]:
            print(source, "->", entry)
    gate = wheelfix.check([out], expect_python="cp310-cp313", expect_platform=["manylinux_x86_64"])
    for problem in gate["problems"]:
        print(problem["wheel"], problem["what"])
    doc = wheelfix.show(dist)
    versions: int = doc["schema_version"]
    print(versions, len(doc["wheels"]), wheelfix.expand_python_range("cp38-cp39"))
    return written


if __name__ == "__main__":
    release(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]))
    sys.exit(wheelfix.main(["--version"]))
