#!/usr/bin/env bash
# Scale check: a wheel over 4 GiB (zip64) holding 20,000 small files, a 4.3 GB
# data file and an extension that needs a library outside the wheel. wheelfix
# must show and repair it, the output must verify (zip64 listing by Python's
# zipfile, RECORD by wheelfix itself), and the peak memory is reported.
# Usage: scripts/scale.sh [WORKDIR]   (needs cc, python3, GNU time; ~9 GB of disk)
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=${1:-$root/target/scale}
wf=${WHEELFIX_BIN:-$root/target/release/wheelfix}
[ -x "$wf" ] || (cd "$root" && cargo build --release --quiet)
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
rm -rf "$work" && mkdir -p "$work/lib" "$work/src"
work=$(cd "$work" && pwd)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work/in" "$work/out"' EXIT
cd "$work"
printf 'int scale_base(void) { return 42; }\n' > src/lib.c
printf 'int scale_base(void);\nint PyInit_big(void) { return scale_base(); }\n' > src/ext.c
cc -shared -fPIC -o lib/libscale.so.1 src/lib.c -Wl,-soname,libscale.so.1
cc -shared -fPIC -o src/big.so src/ext.c -Llib -l:libscale.so.1
mkdir -p in out
python3 - "$work/in" "$work/src/big.so" <<'PY'
import base64, hashlib, os, sys, zipfile
out, ext = sys.argv[1], sys.argv[2]
name = os.path.join(out, "bigpkg-1.0-cp311-cp311-linux_x86_64.whl")
rows = []
def rec(arc, h, size):
    rows.append(f"{arc},sha256={base64.urlsafe_b64encode(h.digest()).rstrip(b'=').decode()},{size}")
with zipfile.ZipFile(name, "w", allowZip64=True) as z:
    data = open(ext, "rb").read()
    z.writestr(zipfile.ZipInfo("bigpkg/big.so", (1980, 1, 1, 0, 0, 0)), data, compress_type=zipfile.ZIP_DEFLATED)
    rec("bigpkg/big.so", hashlib.sha256(data), len(data))
    for i in range(20000):
        arc = f"bigpkg/data/f{i:05d}.txt"
        body = f"file {i}\n".encode()
        z.writestr(zipfile.ZipInfo(arc, (1980, 1, 1, 0, 0, 0)), body, compress_type=zipfile.ZIP_DEFLATED)
        rec(arc, hashlib.sha256(body), len(body))
    # 4.3 GB stored: the archive and this entry both need zip64
    size, block = 4_300_000_000, os.urandom(1 << 20)
    h = hashlib.sha256()
    info = zipfile.ZipInfo("bigpkg/data/huge.bin", (1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    with z.open(info, "w", force_zip64=True) as f:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    rec("bigpkg/data/huge.bin", h, size)
    di = "bigpkg-1.0.dist-info"
    for arc, body in ((f"{di}/METADATA", b"Metadata-Version: 2.1\nName: bigpkg\nVersion: 1.0\n"),
                      (f"{di}/WHEEL", b"Wheel-Version: 1.0\nGenerator: scale.sh\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n")):
        z.writestr(zipfile.ZipInfo(arc, (1980, 1, 1, 0, 0, 0)), body)
        rec(arc, hashlib.sha256(body), len(body))
    rows.append(f"{di}/RECORD,,")
    z.writestr(zipfile.ZipInfo(f"{di}/RECORD", (1980, 1, 1, 0, 0, 0)), "\n".join(rows) + "\n")
print(name, os.path.getsize(name))
PY
whl=$(ls in/*.whl)
measure() { # LABEL COMMAND...   (exit 1 of `show`, "needs repair", is a result, not a failure)
  local label=$1 rc=0; shift
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/cmd.out" 2>"$work/cmd.err" || rc=$?
  [ "$rc" -le 1 ] || { cat "$work/cmd.err"; exit 1; }
  read -r secs kib < <(tail -n 1 "$work/time.txt")
  echo "$label: ${secs} s, peak RSS $((kib / 1024)) MiB"
}
measure "show   $(basename "$whl") ($(( $(stat -c %s "$whl") / 1048576 )) MiB, 20,004 entries)" "$wf" show --lib-path lib "$whl"
grep -q "libscale.so.1" "$work/cmd.out"
measure "repair" "$wf" repair -q -w out --lib-path lib "$whl"
outw=$(cat "$work/cmd.out")
# the 4.3 GB entry is copied through without staying resident
[ "$kib" -le $((256 * 1024)) ] || { echo "repair peaked at $((kib / 1024)) MiB, over 256 MiB"; exit 1; }
python3 - "$outw" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
big = z.getinfo("bigpkg/data/huge.bin")
assert big.file_size == 4_300_000_000, big.file_size
assert any(n.startswith("bigpkg.libs/libscale-") for n in names), "library not bundled"
assert sum(n.startswith("bigpkg/data/f") for n in names) == 20000
print(f"output: {len(names)} entries, huge.bin {big.file_size} bytes (zip64), library bundled")
PY
measure "show of the output (RECORD of every entry re-verified)" "$wf" show "$outw"
show_kib=$kib
# the release gate passes what repair wrote: one zip64 field per entry (the
# 4.3 GB one copied raw included), nothing else the package index refuses
"$wf" check "$outw" >"$work/check.out" 2>&1 || { cat "$work/check.out"; echo "check refused the output"; exit 1; }
echo "check of the output: ready to upload"
kib=$show_kib
# show keeps little whatever the wheel's size: the mapped pages it reads are
# released as it goes, also for a wheel just written (in the page cache's
# large folios)
[ "$kib" -le $((100 * 1024)) ] || { echo "show of the output peaked at $((kib / 1024)) MiB, over 100 MiB"; exit 1; }
echo "scale: ok"
