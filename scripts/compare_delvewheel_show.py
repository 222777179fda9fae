#!/usr/bin/env python3
"""Compare `wheelfix show --json` with `delvewheel show` on one Windows wheel, then
check that `wheelfix repair` of it is a no-op, next to `delvewheel repair`.

Usage: compare_delvewheel_show.py [--accept DOC] [--result FILE] WHEELFIX DELVEWHEEL WHEEL

delvewheel stops at "delvewheel X has already repaired this wheel" for a wheel it
repaired; its view of such a wheel is then taken from a copy without the
`<dist-info>/DELVEWHEEL` marker, shown with `--ignore-existing` (DLLs in the wheel are
found there), which is what the runtime patch makes Windows do. We show the wheel
itself: the marker is what tells us the libs directory is on the DLL search path.

Checked properties (their short names are the ones docs/conformance.md uses):
  copied   "will be copied into the wheel" vs our libraries with status bundle
           (a "(Error: Not Found)" entry vs our status missing)
  inwheel  "already in the wheel" vs our libraries with status in-wheel (by file name)
  system   "assumed to be present in the end user's environment" vs our status system
           (names compared without regard to case, as Windows does)
  noop     `wheelfix repair` exits 0 and writes a wheel with the same file name and
           byte-identical entries (RECORD compared as a set of rows)
  repair   `delvewheel repair` of the same wheel also vendors nothing and keeps the name

A difference listed in DOC (default docs/conformance.md) as a line
    - `windows PROPERTY WHEEL-GLOB` ... reason
is reported as `known`; any other one makes the exit status 1.
`--result FILE` appends: wheel, status, our show time, delvewheel show time, our repair
time, delvewheel repair time (s), and a note.
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare_listdeps import Checker, accepted, noop, run  # noqa: E402


def parse_show(text):
    """delvewheel show's sections → {'copied': {name: found?}, 'inwheel': set, 'system': set}."""
    out = {"copied": {}, "inwheel": set(), "system": set()}
    section = None
    for line in text.splitlines():
        if line.startswith("The following DLLs will be copied"):
            section = "copied"
        elif line.startswith("The following DLLs are already in the wheel"):
            section = "inwheel"
        elif line.startswith("The following DLLs are assumed to be present"):
            section = "system"
        elif line.startswith("    ") and section and line.strip() != "None":
            m = re.match(r"\s+(\S+)(?: \((.*)\))?$", line)
            if not m:
                continue
            dll = m.group(1).lower()
            if section == "copied":
                out["copied"][dll] = m.group(2) != "Error: Not Found"
            else:
                out[section].add(dll)
        elif line and not line.startswith(" "):
            section = None
    return out


def without_marker(wheel, out_dir):
    """A copy of `wheel` without `<dist-info>/DELVEWHEEL` (and its RECORD row)."""
    dest = os.path.join(out_dir, os.path.basename(wheel))
    with zipfile.ZipFile(wheel) as z, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as o:
        for info in z.infolist():
            if info.filename.endswith(".dist-info/DELVEWHEEL"):
                continue
            data = z.read(info.filename)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(r + b"\n" for r in data.splitlines() if b".dist-info/DELVEWHEEL," not in r)
            o.writestr(info, data)
    return dest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accept", default=os.path.join(HERE, "..", "docs", "conformance.md"))
    ap.add_argument("--result")
    ap.add_argument("wheelfix")
    ap.add_argument("delvewheel")
    ap.add_argument("wheel")
    a = ap.parse_args()
    name = os.path.basename(a.wheel)
    known = accepted(a.accept, "windows")
    check = Checker(name, known, 400)
    notes = []

    tmp = tempfile.mkdtemp(prefix="cmp-delvewheel-")
    try:
        wf, t_wf = run([a.wheelfix, "show", "--json", a.wheel])
        dv, t_dv = run([a.delvewheel, "show", a.wheel])
        already = "has already repaired this wheel" in dv.stdout
        if already:
            copy = without_marker(a.wheel, tmp)
            dv, t2 = run([a.delvewheel, "show", "--ignore-existing", copy])
            t_dv += t2
            notes.append("delvewheel-repaired")
        print(f"# {name}  (wheelfix show {t_wf:.2f}s, delvewheel show {t_dv:.2f}s"
              f"{'; delvewheel: already repaired, compared on a copy without the marker with --ignore-existing' if already else ''})")
        if wf.returncode not in (0, 1) or dv.returncode != 0:
            check("show", "both show", False, f"wheelfix exit {wf.returncode} ({wf.stderr.strip()[-200:]}), "
                  f"delvewheel exit {dv.returncode} ({dv.stderr.strip()[-300:]})")
        else:
            doc, theirs = json.loads(wf.stdout)["wheels"][0], parse_show(dv.stdout)

            def ours(*status):
                return {lib["name"].lower() for lib in doc["libraries"] if lib["status"] in status}

            want = {k for k, found in theirs["copied"].items() if found}
            lost = {k for k, found in theirs["copied"].items() if not found}
            check("copied", "DLLs to copy", (ours("bundle"), ours("missing")) == (want, lost),
                  f"wheelfix bundle {sorted(ours('bundle'))} missing {sorted(ours('missing'))}; "
                  f"delvewheel copies {sorted(want)} not found {sorted(lost)}")
            inwheel = {os.path.basename(n) for n in ours("in-wheel")}
            check("inwheel", "DLLs already in the wheel", inwheel == theirs["inwheel"], f"{sorted(inwheel)}"
                  if inwheel == theirs["inwheel"] else f"wheelfix {sorted(inwheel)}, delvewheel {sorted(theirs['inwheel'])}")
            sysd = ours("system")
            check("system", "DLLs assumed present", sysd == theirs["system"], f"{len(sysd)} DLLs"
                  if sysd == theirs["system"] else
                  f"only delvewheel {sorted(theirs['system'] - sysd)}, only wheelfix {sorted(sysd - theirs['system'])}")
            notes.append(f"{len(inwheel)} in-wheel, {len(sysd)} system DLLs")

        # re-repair
        rp, t_rp = run([a.wheelfix, "repair", "-w", os.path.join(tmp, "wf"), a.wheel])
        message = "has already repaired this wheel" if already else "nothing to change"
        same, how = noop(rp, rp.stdout.strip(), a.wheel, message)
        check("noop", "wheelfix repair is a no-op", same, how)
        dr, t_dr = run([a.delvewheel, "repair", "-w", os.path.join(tmp, "dv"), a.wheel])
        outs = os.listdir(os.path.join(tmp, "dv")) if os.path.isdir(os.path.join(tmp, "dv")) else []
        said = ("already repaired" if "has already repaired" in dr.stdout + dr.stderr else
                "no external dependencies are needed" if "no external dependencies are needed" in dr.stdout + dr.stderr
                else (dr.stdout + dr.stderr).strip()[-200:])
        ok = dr.returncode == 0 and (outs == [name] or (already and not outs))
        check("repair", "delvewheel repair of the same wheel", ok,
              f"{said}; wrote {outs or 'nothing'}" if ok else f"exit {dr.returncode}: {said}; wrote {outs}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if a.result:
        with open(a.result, "a", encoding="utf-8") as f:
            f.write(f"{name}\t{check.status()}\t{t_wf:.2f}\t{t_dv:.2f}\t{t_rp:.2f}\t{t_dr:.2f}\t{'; '.join(notes)}\n")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
