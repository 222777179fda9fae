#!/usr/bin/env python3
"""Compare `wheelfix show --json` with `auditwheel show --json` on one wheel.

Usage: compare_show.py [--lib-path DIR] [--accept DOC] [--result FILE] WHEELFIX AUDITWHEEL WHEEL

Checked properties (their short names are the ones docs/conformance.md uses):
  tag       the tag the wheel is consistent with as it is (ours `linux.current_tag`,
            auditwheel's `overall_tag`)
  symbols   the versioned symbols per system library
  external  the external libraries to bundle, by soname, with their resolved paths
            (for a wheel that needs repair, compared with auditwheel's
            `policy_upgrades[<our best tag>].libs_to_eliminate` too)
  best      the tag a repair aims at (ours `linux.best_tag`, auditwheel's `sym_tag` when
            its libraries to eliminate can all be bundled)

`--lib-path DIR` is given to wheelfix as `--lib-path` and to auditwheel as
`LD_LIBRARY_PATH` (absolute). A difference listed in DOC (default
docs/conformance.md next to this script) as a line
    - `show PROPERTY WHEEL-GLOB` ... reason
is reported as `known` and accepted; any other one makes the exit status 1.
`--result FILE` appends one tab-separated line: wheel, status, our time, their time.
"""
import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def accepted(doc, kind):
    """(property, glob) pairs documented as accepted differences of `kind` (show/repair)."""
    out = []
    try:
        text = open(doc, encoding="utf-8").read()
    except OSError:
        return out
    for m in re.finditer(r"^- `" + kind + r" (\S+) (\S+)`", text, re.M):
        out.append((m.group(1), m.group(2)))
    return out


def run(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return p, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-path")
    ap.add_argument("--accept", default=os.path.join(HERE, "..", "docs", "conformance.md"))
    ap.add_argument("--result")
    ap.add_argument("wheelfix")
    ap.add_argument("auditwheel")
    ap.add_argument("wheel")
    a = ap.parse_args()
    name = os.path.basename(a.wheel)
    extra, env = [], dict(os.environ)
    if a.lib_path:
        lib = os.path.abspath(a.lib_path)
        extra = ["--lib-path", lib]
        env["LD_LIBRARY_PATH"] = lib
    known = accepted(a.accept, "show")

    def result(status, t_wf=0.0, t_aw=0.0):
        if a.result:
            with open(a.result, "a", encoding="utf-8") as f:
                f.write(f"{name}\t{status}\t{t_wf:.2f}\t{t_aw:.2f}\n")

    wf, t_wf = run([a.wheelfix, "show", "--json", *extra, a.wheel])
    if wf.returncode not in (0, 1):
        print(f"FAIL wheelfix exited {wf.returncode}: {wf.stderr.strip()}")
        result("FAIL")
        return 1
    aw, t_aw = run([a.auditwheel, "show", "--json", a.wheel], env=env)
    if aw.returncode != 0:
        print(f"FAIL auditwheel exited {aw.returncode}: {aw.stderr.strip()[-300:]}")
        result("FAIL", t_wf)
        return 1
    ours = json.loads(wf.stdout)["wheels"][0]["linux"]
    theirs = json.loads(aw.stdout)
    failures = documented = 0

    def check(prop, what, x, y):
        nonlocal failures, documented
        if x == y:
            print(f"ok    {what}: {x!r}"[:300])
            return
        if any(p == prop and fnmatch.fnmatch(name, g) for p, g in known):
            documented += 1
            print(f"known {what} (docs/conformance.md): wheelfix={x!r} auditwheel={y!r}"[:600])
            return
        failures += 1
        print(f"FAIL  {what}: wheelfix={x!r} auditwheel={y!r}")

    print(f"# {name}  (wheelfix {t_wf:.2f}s, auditwheel {t_aw:.2f}s)")
    check("tag", "tag as it is", ours["current_tag"], theirs["overall_tag"])
    ours_syms = {k: sorted(v) for k, v in ours["versioned_symbols"].items()}
    theirs_syms = {k: sorted(v) for k, v in theirs["versioned_symbols"].items()}
    check("symbols", "versioned symbols", ours_syms, theirs_syms)

    def real(p):
        return os.path.realpath(p) if p else None

    # auditwheel lists the libraries the wheel's own binaries need from outside; ours are
    # those to bundle for the repair target: the same set unless the target excludes some
    our_ext = {k: real(v) for k, v in ours["external_libs"].items()}
    their_ext = {k: real(v) for k, v in theirs["external_libs"].items()}
    check("external", "external libraries", our_ext, their_ext)
    if ours["current_tag"] != ours["best_tag"]:
        # the wheel needs repair: the libraries auditwheel would eliminate for our target
        up = theirs["policy_upgrades"].get(ours["best_tag"], {})
        check("external", f"libraries to eliminate for {ours['best_tag']}",
              sorted(our_ext), sorted(up.get("libs_to_eliminate", [])))
        check("best", "repair target", ours["best_tag"], theirs["sym_tag"])
    status = "FAIL" if failures else ("known" if documented else "same")
    result(status, t_wf, t_aw)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
