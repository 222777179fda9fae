#!/usr/bin/env python3
"""Compare `wheelfix show --json` with `auditwheel show --json` on one wheel.

Usage: compare_show.py WHEELFIX AUDITWHEEL WHEEL [extra wheelfix args...]
Prints one line per checked property; exits 1 on a difference that is not
documented in docs/conformance.md.
"""
import json
import subprocess
import sys
import time


def run(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return p, time.perf_counter() - t


def main():
    wheelfix, auditwheel, wheel, *extra = sys.argv[1:]
    wf, t_wf = run([wheelfix, "show", "--json", *extra, wheel])
    if wf.returncode not in (0, 1):
        print(f"FAIL wheelfix exited {wf.returncode}: {wf.stderr.strip()}")
        return 1
    aw, t_aw = run([auditwheel, "show", "--json", wheel])
    if aw.returncode != 0:
        print(f"FAIL auditwheel exited {aw.returncode}: {aw.stderr.strip()[-300:]}")
        return 1
    ours = json.loads(wf.stdout)
    theirs = json.loads(aw.stdout)
    failures = 0

    def check(what, a, b):
        nonlocal failures
        ok = a == b
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: wheelfix={a!r} auditwheel={b!r}" if not ok else f"ok   {what}: {a!r}")

    name = wheel.rsplit("/", 1)[-1]
    print(f"# {name}  (wheelfix {t_wf:.2f}s, auditwheel {t_aw:.2f}s)")
    check("tag as it is", ours["linux"]["current_tag"], theirs["overall_tag"])
    ours_syms = {k: sorted(v) for k, v in ours["linux"]["versioned_symbols"].items()}
    theirs_syms = {k: sorted(v) for k, v in theirs["versioned_symbols"].items()}
    check("versioned symbols", ours_syms, theirs_syms)
    # auditwheel lists the libraries to bundle for its overall tag; ours are
    # for the repair target, the same set whenever the wheel needs no repair
    if theirs["overall_tag"] == ours["linux"]["best_tag"]:
        check("external libraries", sorted(ours["linux"]["external_libs"]), sorted(theirs["external_libs"]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
