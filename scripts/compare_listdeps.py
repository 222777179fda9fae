#!/usr/bin/env python3
"""Compare `wheelfix show --json` with `delocate-listdeps --all --depending` on one
macOS wheel, then check that `wheelfix repair` of it is a no-op (and what
`delocate-wheel` does with the same wheel).

Usage: compare_listdeps.py [--accept DOC] [--result FILE] [--delocate-wheel EXE] [--out DIR]
                           WHEELFIX LISTDEPS WHEEL

delocate runs on Linux through the crossfix shims: the caller puts them first on PATH.

Checked properties (their short names are the ones docs/conformance.md uses):
  deps     the relation (library, file that loads it) over the whole wheel: delocate's keys
           (a wheel path for a library in the wheel, the install name for a system library,
           the real path for one on disk) and their dependents, against our `libraries[]`
           (`path` for status in-wheel, else `realpath` or `name`) and their `needed_by`
  needed   each binary's `needed` names agree with the libraries that list it in `needed_by`
           (same basenames), so the two parts of the document tell the same story
  noop     `wheelfix repair` exits 0, says "nothing to change", and writes a wheel with the
           same file name and byte-identical entries
  retag    the output file name of `delocate-wheel` on the same wheel equals ours (delocate
           recomputes the tag from the binaries, as we do)

A difference listed in DOC (default docs/conformance.md) as a line
    - `macos PROPERTY WHEEL-GLOB` ... reason
is reported as `known`; any other one makes the exit status 1.
`--result FILE` appends one tab-separated line: wheel, status, our show time, delocate-listdeps
time, our repair time, delocate-wheel time (s), and a note.
"""
import argparse
import fnmatch
import json
import os
import shutil
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from compare_show import accepted, run  # noqa: E402


class Checker:
    """Counts the checks of one wheel: each is fine, a difference that
    docs/conformance.md accepts for this wheel (`known`), or a failure."""

    def __init__(self, name, known, width):
        self.name, self.known, self.width = name, known, width
        self.failures = self.documented = 0

    def __call__(self, prop, what, ok, detail):
        if ok:
            print(f"ok    {what}: {detail}"[: self.width])
        elif any(p == prop and fnmatch.fnmatch(self.name, g) for p, g in self.known):
            self.documented += 1
            print(f"known {what} (docs/conformance.md): {detail}"[:800])
        else:
            self.failures += 1
            print(f"FAIL  {what}: {detail}")

    def status(self):
        return "FAIL" if self.failures else ("known" if self.documented else "same")


def parse_listdeps(text):
    """`delocate-listdeps --all --depending` output → {(library, dependent)}."""
    rel, key = set(), None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" ") and line.endswith(":"):
            key = line[:-1]
        elif key is not None:
            rel.add((key, line.strip()))
        else:
            raise ValueError(f"unexpected listdeps line {line!r}")
    return rel


def ours_relation(doc):
    rel = set()
    for lib in doc["libraries"]:
        key = lib["path"] if lib["status"] == "in-wheel" else (lib["realpath"] or lib["name"])
        for by in lib["needed_by"]:
            rel.add((key, by))
    return rel


def needed_consistent(doc):
    """Binaries whose `needed` basenames differ from those of the libraries listing them."""
    bad = []
    for b in doc["binaries"]:
        named = {os.path.basename(n) for n in b["needed"]}
        listed = {os.path.basename(lib["path"] if lib["status"] == "in-wheel" else lib["name"])
                  for lib in doc["libraries"] if b["path"] in lib["needed_by"]}
        if named != listed:
            bad.append((b["path"], sorted(named), sorted(listed)))
    return bad


def entries(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def noop(proc, written, wheel, message):
    """Is `wheelfix repair`'s output the input again? (ok, detail). The entries must be
    byte-identical, RECORD compared as a set of rows: the writer regenerates RECORD, which
    can reorder its rows (docs/conformance.md)."""
    if proc.returncode != 0 or message not in proc.stderr:
        return False, f"exit {proc.returncode}, no '{message}': {proc.stderr.strip()[-300:]}"
    if os.path.basename(written) != os.path.basename(wheel):
        return False, f"file name changed: {os.path.basename(written)}"
    a, b = entries(wheel), entries(written)
    if set(a) != set(b):
        return False, f"entries differ: only in input {sorted(set(a) - set(b))}, only in output {sorted(set(b) - set(a))}"
    differ = [n for n in a if a[n] != b[n] and not n.endswith(".dist-info/RECORD")]
    rec = [n for n in a if n.endswith(".dist-info/RECORD")]
    rows = all(sorted(filter(None, a[n].splitlines())) == sorted(filter(None, b[n].splitlines())) for n in rec)
    if differ or not rows:
        return False, f"content changed: {differ[:5]}{'' if rows else ' and RECORD rows'}"
    identical = open(wheel, "rb").read() == open(written, "rb").read()
    return True, (f"exit 0, '{message}', same name, {len(a)} entries byte-identical"
                  + ("; the file itself is identical" if identical else
                     "" if all(a[n] == b[n] for n in rec) else "; RECORD rows reordered"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accept", default=os.path.join(HERE, "..", "docs", "conformance.md"))
    ap.add_argument("--result")
    ap.add_argument("--delocate-wheel")
    ap.add_argument("--out")
    ap.add_argument("wheelfix")
    ap.add_argument("listdeps")
    ap.add_argument("wheel")
    a = ap.parse_args()
    name = os.path.basename(a.wheel)
    known = accepted(a.accept, "macos")
    check = Checker(name, known, 300)
    notes = []

    wf, t_wf = run([a.wheelfix, "show", "--json", a.wheel])
    ld, t_ld = run([a.listdeps, "--all", "--depending", a.wheel])
    print(f"# {name}  (wheelfix show {t_wf:.2f}s, delocate-listdeps {t_ld:.2f}s)")
    if wf.returncode not in (0, 1) or ld.returncode != 0:
        print(f"FAIL  wheelfix show exited {wf.returncode} ({wf.stderr.strip()[-300:]}), "
              f"delocate-listdeps exited {ld.returncode} ({ld.stderr.strip()[-300:]})")
        check.failures += 1
        doc = None
    else:
        doc = json.loads(wf.stdout)["wheels"][0]
        theirs, ours = parse_listdeps(ld.stdout), ours_relation(doc)
        libs = len({k for k, _ in ours})
        detail = (f"{libs} libraries, {len(ours)} (library, dependent) pairs"
                  if ours == theirs else
                  f"only delocate: {sorted(theirs - ours)}; only wheelfix: {sorted(ours - theirs)}")
        check("deps", "libraries and dependents", ours == theirs, detail)
        bad = needed_consistent(doc)
        check("needed", "binaries[].needed vs libraries[].needed_by", not bad,
              f"{len(doc['binaries'])} binaries" if not bad else f"{bad[:3]}")
        inwheel = sum(1 for lib in doc["libraries"] if lib["status"] == "in-wheel")
        notes.append(f"{inwheel} in-wheel, {libs - inwheel} system libs")

    # re-repair: a no-op for us; what delocate-wheel does with the same wheel
    out = a.out or tempfile.mkdtemp(prefix="cmp-listdeps-")
    wout, dout = os.path.join(out, "wheelfix"), os.path.join(out, "delocate")
    for d in (wout, dout):
        shutil.rmtree(d, ignore_errors=True)
    rp, t_rp = run([a.wheelfix, "repair", "-w", wout, a.wheel])
    written = rp.stdout.strip()
    same, how = noop(rp, written, a.wheel, "nothing to change")
    check("noop", "wheelfix repair is a no-op", same, how)
    t_dw = 0.0
    if a.delocate_wheel:
        dw, t_dw = run([a.delocate_wheel, "-w", dout, a.wheel])
        dws = sorted(os.listdir(dout)) if os.path.isdir(dout) else []
        if dw.returncode != 0 or len(dws) != 1:
            check("retag", "delocate-wheel output", False, f"exit {dw.returncode}: {dw.stderr.strip()[-300:]}")
        else:
            dname = dws[0]
            check("retag", "file name after repair (delocate-wheel vs wheelfix)", dname == os.path.basename(written),
                  f"{dname} (both; {'unchanged' if dname == name else 'RETAGGED from ' + name})"
                  if dname == os.path.basename(written) else f"delocate {dname}, wheelfix {os.path.basename(written)}")
            before, after = entries(a.wheel), entries(os.path.join(dout, dname))
            changed = sorted(n for n in after if n in before and after[n] != before[n] and not n.endswith(("/RECORD", "/WHEEL")))
            added = sorted(set(after) - set(before))
            notes.append(f"delocate-wheel rewrote {len(changed)} binaries" + (f", added {added}" if added else ""))
            print(f"info  delocate-wheel re-signed/rewrote {len(changed)} files: {changed[:6]}{' …' if len(changed) > 6 else ''}")
    if not a.out:
        shutil.rmtree(out, ignore_errors=True)

    if a.result:
        with open(a.result, "a", encoding="utf-8") as f:
            f.write(f"{name}\t{check.status()}\t{t_wf:.2f}\t{t_ld:.2f}\t{t_rp:.2f}\t{t_dw:.2f}\t{'; '.join(notes)}\n")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
