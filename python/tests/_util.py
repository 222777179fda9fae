"""Shared by the tests: where the repository is, the demo wheel, a JSON Schema check."""

import json
import os
import pathlib
import subprocess
import sys
from typing import Any, List

ROOT = pathlib.Path(os.environ.get("WHEELFIX_ROOT", pathlib.Path(__file__).resolve().parents[2]))
DEMO = ROOT / "fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl"
DEMO_LIB = ROOT / "fixtures/demo/lib"
# the `wheelfix` console script of the environment running the tests
WHEELFIX = str(pathlib.Path(sys.executable).with_name("wheelfix"))


def command(*args: str) -> "subprocess.CompletedProcess[str]":
    """Runs the installed `wheelfix` command."""
    env = dict(os.environ, NO_COLOR="1")
    env.pop("LD_LIBRARY_PATH", None)
    return subprocess.run([WHEELFIX, *args], capture_output=True, text=True, env=env)


def schema(name: str) -> Any:
    return json.loads((ROOT / "schema" / f"{name}.schema.json").read_text())


def check_schema(sch: Any, value: Any, root: Any = None, at: str = "$") -> None:
    """Raises AssertionError when `value` does not follow `sch` (the subset the
    project's schemas use: type, const, enum, required, properties,
    additionalProperties, items, $ref to #/$defs/…)."""
    root = sch if root is None else root
    if "$ref" in sch:
        name = sch["$ref"].split("/")[-1]
        return check_schema(root["$defs"][name], value, root, at)
    kinds = {
        "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    }
    if "type" in sch:
        types: List[str] = sch["type"] if isinstance(sch["type"], list) else [sch["type"]]

        def fits(t: str) -> bool:
            if t == "integer":
                return isinstance(value, int) and not isinstance(value, bool)
            return isinstance(value, kinds[t])

        assert any(fits(t) for t in types), f"{at}: expected {types}, got {value!r}"
    if "const" in sch:
        assert value == sch["const"], f"{at}: expected {sch['const']!r}, got {value!r}"
    if "enum" in sch:
        assert value in sch["enum"], f"{at}: {value!r} not in {sch['enum']}"
    if isinstance(value, dict):
        for key in sch.get("required", []):
            assert key in value, f"{at}: missing {key!r}"
        props = sch.get("properties", {})
        extra = sch.get("additionalProperties")
        for key, v in value.items():
            if key in props:
                check_schema(props[key], v, root, f"{at}.{key}")
            elif extra is False:
                raise AssertionError(f"{at}: unexpected {key!r}")
            elif isinstance(extra, dict):
                check_schema(extra, v, root, f"{at}.{key}")
    if isinstance(value, list) and "items" in sch:
        for i, v in enumerate(value):
            check_schema(sch["items"], v, root, f"{at}[{i}]")
    return None
