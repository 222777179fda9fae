#!/usr/bin/env python3
"""Compare the Stable ABI audit of `wheelfix show --json` with `abi3audit --report`.

    compare_abi3.py make OUT_DIR
        builds small violating abi3 wheels with `cc` (ELF extensions that use
        Python symbols outside the Stable ABI, or added after the tag's version).

    compare_abi3.py compare WHEELFIX ABI3AUDIT WHEEL...
        runs both tools on each wheel, compares the sets of (extension file name,
        symbol) violations, times both and prints a table with the ratio.
        Exits 1 on a difference.

abi3audit reports a symbol that is not in the Stable ABI in `non_abi3_symbols` and
one added after the wheel's version in `future_abi3_objects`; wheelfix reports both
as `audit` entries of kind `abi3` (`added` null or the version). Extensions are
compared by file name, as abi3audit names them.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(path, files):
    """A wheel at `path` holding `files` (name -> bytes) plus dist-info."""
    base = os.path.basename(path)[: -len(".whl")]
    name, version, py, abi, plat = base.split("-")
    dist_info = f"{name}-{version}.dist-info"
    files = dict(files)
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: compare_abi3\nRoot-Is-Purelib: false\nTag: {py}-{abi}-{plat}\n"
    ).encode()
    record = [record_line(n, d) for n, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)


def extension(tmp, module, calls):
    """An ELF extension `PyInit_<module>` that calls each of `calls`."""
    src = os.path.join(tmp, f"{module}.c")
    out = os.path.join(tmp, f"{module}.so")
    with open(src, "w") as f:
        f.writelines(f"void *{c}(void);\n" for c in calls)
        f.write(f"void *PyInit_{module}(void) {{\n")
        f.writelines(f"    {c}();\n" for c in calls)
        f.write("    return 0;\n}\n")
    subprocess.run(["cc", "-O1", "-fPIC", "-shared", "-o", out, src], check=True)
    with open(out, "rb") as f:
        return f.read()


# (wheel name, {extension: called functions})
VIOLATORS = [
    # not in the Stable ABI at all, and a private one
    ("unstable-1.0-cp38-abi3-linux_x86_64.whl", {"unstable/_a.abi3.so": ["PyList_New", "_PyObject_GetDictPtr", "PyFrame_GetLineNumber"]}),
    # added after 3.7: PyUnicode_AsUTF8AndSize (3.10), PyType_FromModuleAndSpec (3.10), Py_NewRef (3.10)
    ("toonew-1.0-cp37-abi3-linux_x86_64.whl", {"toonew/_b.abi3.so": ["PyUnicode_AsUTF8AndSize", "PyType_FromModuleAndSpec", "Py_NewRef", "PyLong_FromLong"]}),
    # two extensions, one clean
    ("mixed-1.0-cp39-abi3-linux_x86_64.whl", {"mixed/_c.abi3.so": ["PyObject_CallNoArgs"], "mixed/_d.abi3.so": ["PyEval_GetFrame", "_Py_Dealloc", "PyErr_GetRaisedException"]}),
    # clean
    ("clean-1.0-cp38-abi3-linux_x86_64.whl", {"clean/_e.abi3.so": ["PyList_New", "Py_IncRef", "PyType_FromSpec"]}),
]


def make(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for wheel, exts in VIOLATORS:
            files = {}
            for name, calls in exts.items():
                files[name] = extension(tmp, os.path.basename(name).split(".")[0], calls)
            write_wheel(os.path.join(out_dir, wheel), files)
            print(os.path.join(out_dir, wheel))


def theirs(abi3audit, wheel):
    t = time.perf_counter()
    p = subprocess.run([abi3audit, "--verbose", "--report", wheel], capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if not p.stdout.strip().startswith("{"):
        raise SystemExit(f"abi3audit failed on {wheel}: {p.stderr[-2000:]}")
    doc = json.loads(p.stdout[p.stdout.index("{"):])
    found = set()
    for spec in doc["specs"].values():
        for so in spec.get("wheel", []):
            r = so["result"]
            found |= {(so["name"], s) for s in r["non_abi3_symbols"]}
            found |= {(so["name"], s) for s in r["future_abi3_objects"]}
    return found, elapsed


def ours(wheelfix, wheel):
    t = time.perf_counter()
    p = subprocess.run([wheelfix, "show", "--json", wheel], capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode not in (0, 1):
        raise SystemExit(f"wheelfix failed on {wheel}: {p.stderr}")
    doc = json.loads(p.stdout)["wheels"][0]
    found = {(a["file"].rsplit("/", 1)[-1], a["symbol"]) for a in doc["audit"] if a["kind"] == "abi3"}
    return found, elapsed


def compare(wheelfix, abi3audit, wheels):
    status = 0
    total_ours = total_theirs = 0.0
    print(f"{'wheel':<78} {'found':>5} {'same':>5} {'abi3audit':>10} {'wheelfix':>9} {'ratio':>6}")
    for w in wheels:
        t_found, t_time = theirs(abi3audit, w)
        o_found, o_time = ours(wheelfix, w)
        total_ours += o_time
        total_theirs += t_time
        same = t_found == o_found
        print(f"{os.path.basename(w)[:78]:<78} {len(o_found):>5} {'yes' if same else 'NO':>5} "
              f"{t_time:>9.3f}s {o_time:>8.3f}s {t_time / max(o_time, 1e-6):>5.0f}x")
        if not same:
            status = 1
            for x in sorted(t_found - o_found):
                print(f"    only abi3audit: {x[0]} {x[1]}")
            for x in sorted(o_found - t_found):
                print(f"    only wheelfix:  {x[0]} {x[1]}")
    print(f"total: abi3audit {total_theirs:.2f}s, wheelfix {total_ours:.2f}s, "
          f"wheelfix is {total_theirs / max(total_ours, 1e-6):.0f}x faster")
    return status


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
        return 0
    if len(sys.argv) >= 5 and sys.argv[1] == "compare":
        return compare(sys.argv[2], sys.argv[3], sys.argv[4:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
