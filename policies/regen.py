#!/usr/bin/env python3
"""Regenerate wheelfix's platform data files from installed reference tools.

Usage:
    python3 -m venv venv && venv/bin/pip install 'auditwheel==6.8.*' 'delvewheel==1.13.*'
    python3 policies/regen.py venv/lib/python3.X/site-packages [OUTPUT_DIR]

SITE_PACKAGES is the directory that holds the installed `auditwheel` and
`delvewheel` packages. Only facts are taken from them (policy names, symbol
versions, library and DLL names); the files are written in wheelfix's own
canonical layout so that diffs between releases stay small and readable:

* manylinux-policy.json / musllinux-policy.json: auditwheel's schema (a list of
  policies), keys sorted, every list sorted and written on one line.
* windows-system-dlls.json: DLL names Windows provides, lowercase and sorted;
  names present on every architecture are listed once under "all", the rest
  under their architecture.

Nothing from the reference packages is executed: delvewheel's list module is
read with `ast.literal_eval`.
"""

import ast
import json
import pathlib
import re
import sys


def dist_version(site: pathlib.Path, dist: str) -> str:
    """Version of an installed distribution, from its dist-info directory name."""
    for d in sorted(site.glob(f"{dist}-*.dist-info")):
        return d.name[len(dist) + 1 : -len(".dist-info")]
    sys.exit(f"regen.py: {dist} is not installed in {site}")


def version_key(v: str):
    """Sort key for dotted versions: numeric parts compare as numbers."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[._]", v)]


def dump_list(items) -> str:
    return json.dumps(list(items))


def render_policy(p: dict) -> str:
    """One policy as canonical JSON text, indented by two spaces."""
    out = ["  {"]
    out.append(f'    "aliases": {dump_list(sorted(p["aliases"]))},')
    if p["blacklist"]:
        out.append('    "blacklist": {')
        libs = sorted(p["blacklist"])
        for i, lib in enumerate(libs):
            sep = "," if i + 1 < len(libs) else ""
            out.append(f"      {json.dumps(lib)}: {dump_list(sorted(p['blacklist'][lib]))}{sep}")
        out.append("    },")
    else:
        out.append('    "blacklist": {},')
    out.append(f'    "lib_whitelist": {dump_list(sorted(p["lib_whitelist"]))},')
    out.append(f'    "name": {json.dumps(p["name"])},')
    out.append(f'    "priority": {int(p["priority"])},')
    arches = sorted(p["symbol_versions"])
    if arches:
        out.append('    "symbol_versions": {')
        for i, arch in enumerate(arches):
            prefixes = sorted(p["symbol_versions"][arch])
            if not prefixes:
                out.append(f"      {json.dumps(arch)}: {{}}" + ("," if i + 1 < len(arches) else ""))
                continue
            out.append(f"      {json.dumps(arch)}: {{")
            for j, prefix in enumerate(prefixes):
                versions = sorted(p["symbol_versions"][arch][prefix], key=version_key)
                sep = "," if j + 1 < len(prefixes) else ""
                out.append(f"        {json.dumps(prefix)}: {dump_list(versions)}{sep}")
            out.append("      }" + ("," if i + 1 < len(arches) else ""))
        out.append("    }")
    else:
        out.append('    "symbol_versions": {}')
    out.append("  }")
    return "\n".join(out)


def write_policies(src: pathlib.Path, dst: pathlib.Path) -> None:
    policies = json.loads(src.read_text())
    policies.sort(key=lambda p: (p["priority"] != 0, -p["priority"]))
    text = "[\n" + ",\n".join(render_policy(p) for p in policies) + "\n]\n"
    # The canonical text must describe exactly the same facts.
    assert canonical(json.loads(text)) == canonical(policies), src
    dst.write_text(text)


def canonical(policies):
    return sorted(
        (
            p["name"],
            tuple(sorted(p["aliases"])),
            p["priority"],
            tuple(sorted((a, tuple(sorted((k, tuple(sorted(v))) for k, v in m.items())))
                         for a, m in p["symbol_versions"].items())),
            tuple(sorted(p["lib_whitelist"])),
            tuple(sorted((k, tuple(sorted(v))) for k, v in p["blacklist"].items())),
        )
        for p in policies
    )


def read_dll_sets(path: pathlib.Path) -> dict:
    """The `ignore_names_<arch>` set literals of delvewheel's `_dll_list.py`."""
    tree = ast.parse(path.read_text())
    sets = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.startswith("ignore_names_"):
                sets[name[len("ignore_names_"):]] = {s.lower() for s in ast.literal_eval(node.value)}
    if set(sets) != {"x86", "x64", "arm64"}:
        sys.exit(f"regen.py: unexpected DLL lists in {path}: {sorted(sets)}")
    return sets


def wrap_names(names, indent: str, width: int = 118) -> str:
    lines, line = [], ""
    for n in names:
        item = json.dumps(n) + ","
        if line and len(indent) + len(line) + 1 + len(item) > width:
            lines.append(indent + line)
            line = item
        else:
            line = f"{line} {item}" if line else item
    if line:
        lines.append(indent + line)
    text = "\n".join(lines)
    return text[:-1] if text.endswith(",") else text


def write_windows(src: pathlib.Path, dst: pathlib.Path, source: str) -> None:
    sets = read_dll_sets(src)
    common = sets["x86"] & sets["x64"] & sets["arm64"]
    parts = [f'  "source": {json.dumps(source)}']
    for key, names in [("all", common)] + [(a, sets[a] - common) for a in ("x86", "x64", "arm64")]:
        parts.append(f'  "{key}": [\n{wrap_names(sorted(names), "    ")}\n  ]')
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    data = json.loads(text)
    for arch in ("x86", "x64", "arm64"):
        assert set(data["all"]) | set(data[arch]) == sets[arch], arch
    dst.write_text(text)


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    site = pathlib.Path(sys.argv[1])
    out = pathlib.Path(sys.argv[2]) if len(sys.argv) == 3 else pathlib.Path(__file__).resolve().parent
    aw = dist_version(site, "auditwheel")
    dw = dist_version(site, "delvewheel")
    for libc in ("manylinux", "musllinux"):
        write_policies(site / "auditwheel" / "policy" / f"{libc}-policy.json", out / f"{libc}-policy.json")
    write_windows(site / "delvewheel" / "_dll_list.py", out / "windows-system-dlls.json", f"delvewheel {dw}")
    print(f"auditwheel {aw}, delvewheel {dw}: wrote {out}")


if __name__ == "__main__":
    main()
