#!/usr/bin/env python3
"""Regenerate policies/stable-abi.json, the Stable ABI that abi3 wheels may use.

Usage:
    python3 -m venv venv && venv/bin/pip install abi3info
    python3 policies/regen_stable_abi.py venv/lib/python3.X/site-packages [OUTPUT_DIR]

The facts come from CPython's `Misc/stable_abi.toml`, as packaged on the Python
package index by `abi3info` (which is generated from that file): for every
function and data symbol of the Stable ABI, the Python version that added it,
whether it is part of the ABI only (not the Limited API), and the feature macro
it depends on, if any. The file is written in wheelfix's own layout, sorted, one
symbol a line, so that diffs between releases stay small.
"""

import json
import pathlib
import sys


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    site = pathlib.Path(sys.argv[1])
    out_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) == 3 else pathlib.Path(__file__).parent
    sys.path.insert(0, str(site))
    import abi3info  # noqa: E402  (from the given site-packages)
    from importlib import metadata

    version = metadata.distribution("abi3info").version
    symbols = {}
    for kind, table in (("function", abi3info.FUNCTIONS), ("data", abi3info.DATAS)):
        for sym, item in table.items():
            entry = {"added": f"{item.added.major}.{item.added.minor}", "kind": kind}
            if getattr(item, "abi_only", False):
                entry["abi_only"] = True
            ifdef = getattr(item, "ifdef", None)
            if ifdef:
                entry["ifdef"] = ifdef.name if hasattr(ifdef, "name") else str(ifdef)
            symbols[sym.name] = entry
    lines = ['{', f'  "source": "abi3info {version} (CPython Misc/stable_abi.toml)",', '  "symbols": {']
    names = sorted(symbols)
    for i, name in enumerate(names):
        comma = "," if i + 1 < len(names) else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(symbols[name], sort_keys=True)}{comma}")
    lines += ["  }", "}", ""]
    (out_dir / "stable-abi.json").write_text("\n".join(lines))
    print(f"wrote {len(names)} symbols to {out_dir / 'stable-abi.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
