#!/usr/bin/env bash
# Side by side with the anchor: delocate 0.13 (`delocate-wheel`, `delocate-listdeps`,
# `delocate-merge`, run on Linux through the crossfix shims) and `wheelfix repair`/`merge`
# on the same wheels built from fixtures/macho. Compares the copied library names, install
# ids and names, rpaths (read with llvm-objdump --macho) and tags; checks every signature
# wheelfix wrote with cdverify.py; times both (median of 5). Exits non-zero on any difference
# that is not one of the documented ones (docs/macos.md).
#
#   scripts/anchors-macos.sh [REPO_ROOT] [SHARED_DIR]
#
# Needs python3 (venv + pip: delocate, repairwheel from PyPI) and LLVM 14's Mach-O tools
# (Debian package `llvm`; installed with apt-get when missing and running as root).
set -euo pipefail
ROOT=$(cd "${1:-$(git rev-parse --show-toplevel)}" && pwd)
SHARED=$(cd "${2:-$ROOT/../shared}" && pwd)
CF=$SHARED/tools/crossfix
WORK=$ROOT/target/anchors-macos
LLVM=/usr/lib/llvm-14/bin

if [ ! -x "$LLVM/llvm-objdump" ] || [ ! -x "$LLVM/llvm-lipo" ] || [ ! -x "$LLVM/llvm-install-name-tool" ]; then
  echo "== installing llvm (llvm-objdump, llvm-lipo, llvm-install-name-tool)"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends llvm >/dev/null
fi

rm -rf "$WORK/run"
mkdir -p "$WORK/run"
if [ ! -x "$WORK/venv/bin/delocate-wheel" ] || [ ! -x "$WORK/venv/bin/repairwheel" ]; then
  echo "== venv with delocate and repairwheel"
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check delocate repairwheel
fi
V=$WORK/venv/bin
echo "delocate $("$V/python" -c 'import delocate; print(delocate.__version__)')"

# The shims find cdverify.py and the signer's venv beside themselves (`venv-rw`), and log
# next to themselves: the shared copy is read-only and has no venv, so use a copy.
rm -rf "$WORK/crossfix"
mkdir -p "$WORK/crossfix"
cp -r "$CF/shims" "$CF/macho" "$WORK/crossfix/"
chmod -R u+w "$WORK/crossfix"
ln -s "$WORK/venv" "$WORK/crossfix/venv-rw"
rm -f "$WORK/crossfix/shims/install_name_tool"
ln -s "$LLVM/llvm-install-name-tool" "$WORK/crossfix/shims/install_name_tool"
chmod +x "$WORK/crossfix/shims/"*
export CODESIGN_SHIM_LOG=$WORK/run/codesign.log
SHIMPATH=$WORK/crossfix/shims:$PATH

echo "== building wheelfix (release)"
(cd "$ROOT" && cargo build --release --quiet)
WF=$ROOT/target/release/wheelfix

# ---------------------------------------------------------------- fixture wheels
FX=$ROOT/fixtures/macho
R=$WORK/run
EXT=ext.cpython-312-darwin.so
mkdir -p "$R/wheels" "$R/lib"
mkwheel() { # NAME TAG EXT_SOURCE
  mkdir -p "$R/wheels/$1"
  python3 "$CF/makewheel.py" "$R/wheels/$1" fakepkg 1.0 "cp312-cp312-$2" "$3:fakepkg/$EXT" >/dev/null
}
libdir() { # NAME LIBFOO LIBBAR
  mkdir -p "$R/lib/$1"
  cp "$2" "$R/lib/$1/libfoo.dylib"
  cp "$3" "$R/lib/$1/libbar.dylib"
}
"$LLVM/llvm-lipo" -create "$FX/arm64/deps/libbar.dylib" "$FX/x86_64/deps/libbar.dylib" -output "$R/libbar-universal2.dylib"
mkwheel arm64 macosx_11_0_arm64 "$FX/arm64/$EXT"
libdir arm64 "$FX/arm64/deps/libfoo.dylib" "$FX/arm64/deps/libbar.dylib"
mkwheel x86_64 macosx_11_0_x86_64 "$FX/x86_64/$EXT"
libdir x86_64 "$FX/x86_64/deps/libfoo.dylib" "$FX/x86_64/deps/libbar.dylib"
mkwheel universal2 macosx_11_0_universal2 "$FX/universal2/$EXT"
libdir universal2 "$FX/universal2/deps/libfoo.dylib" "$R/libbar-universal2.dylib"
mkwheel arm64-13 macosx_11_0_arm64 "$FX/arm64/$EXT"
libdir arm64-13 "$FX/arm64-13/deps/libfoo.dylib" "$FX/arm64/deps/libbar.dylib"
CASES="arm64 x86_64 universal2 arm64-13"

# ---------------------------------------------------------------- helpers
median5() { # COMMAND... : prints the median wall time of 5 runs, in ms
  local ts=()
  for _ in 1 2 3 4 5; do
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s%N)
    ts+=($(((e - s) / 1000000)))
  done
  printf '%s\n' "${ts[@]}" | sort -n | sed -n 3p
}

# Dumps every Mach-O file of an unpacked wheel as JSON: per file, per arch: id, dylibs, rpaths.
cat >"$R/dump.py" <<'EOF'
import json, os, subprocess, sys
root, objdump = sys.argv[1], sys.argv[2]
out = {}
for d, _, files in os.walk(root):
    for f in sorted(files):
        p = os.path.join(d, f)
        with open(p, "rb") as fh:
            magic = fh.read(4)
        if magic not in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\xce\xfa\xed\xfe"):
            continue
        text = subprocess.run([objdump, "--macho", "--arch=all", "--private-headers", p],
                              capture_output=True, text=True, check=True).stdout
        archs, cur, cmd = {}, None, None
        for line in text.splitlines():
            s = line.strip()
            if " (architecture " in line and line.endswith("):"):
                cur = archs.setdefault(line.rsplit("(architecture ", 1)[1][:-2], {"id": None, "dylibs": [], "rpaths": []})
            elif s.startswith("cmd "):
                cmd = s.split()[1]
                if cur is None:
                    cur = archs.setdefault("thin", {"id": None, "dylibs": [], "rpaths": []})
            elif s.startswith("name ") and cmd == "LC_ID_DYLIB":
                cur["id"] = s.split()[1]
            elif s.startswith("name ") and cmd in ("LC_LOAD_DYLIB", "LC_LOAD_WEAK_DYLIB", "LC_REEXPORT_DYLIB"):
                cur["dylibs"].append(s.split()[1])
            elif s.startswith("path ") and cmd == "LC_RPATH":
                cur["rpaths"].append(s.split()[1])
        if "thin" in archs:
            h = subprocess.run([objdump, "--macho", "--private-header", p], capture_output=True, text=True).stdout
            arch = "arm64" if "ARM64" in h else "x86_64" if "X86_64" in h else "thin"
            archs = {arch: archs["thin"]}
        out[os.path.relpath(p, root)] = archs
json.dump(out, sys.stdout, indent=1, sort_keys=True)
EOF

# Compares two dumps; prints a table and the differences (the documented ones marked).
cat >"$R/compare.py" <<'EOF'
import json, sys
name, a_path, b_path = sys.argv[1:4]
a, b = json.load(open(a_path)), json.load(open(b_path))
bad = 0
print(f"  {'file':42} {'arch':7} {'id (same for both unless shown)':44} dylibs / rpaths")
for f in sorted(set(a) | set(b)):
    if f not in a or f not in b:
        print(f"  DIFF {f}: only in {'delocate' if f in a else 'wheelfix'}")
        bad += 1
        continue
    for arch in sorted(set(a[f]) | set(b[f])):
        x, y = a[f].get(arch), b[f].get(arch)
        if x != y:
            print(f"  DIFF {f} [{arch}]: delocate {x} != wheelfix {y}")
            bad += 1
        else:
            deps = ", ".join(d for d in x["dylibs"] if not d.startswith("/usr/lib/"))
            print(f"  {f:42} {arch:7} {str(x['id']):44} {deps or '-'} / {', '.join(x['rpaths']) or '-'}")
sys.exit(1 if bad else 0)
EOF

fail=0
note() { echo "  $*"; }
unz() { rm -rf "$2" && mkdir -p "$2" && (cd "$2" && python3 -m zipfile -e "$1" .); }

# ---------------------------------------------------------------- repair, side by side
for c in $CASES; do
  echo "== $c"
  whl=$(ls "$R/wheels/$c"/*.whl)
  # delocate-listdeps --all vs wheelfix show --json
  PATH=$SHIMPATH DYLD_LIBRARY_PATH=$R/lib/$c "$V/delocate-listdeps" --all "$whl" | sort >"$R/$c.listdeps"
  "$WF" show --json --lib-path "$R/lib/$c" "$whl" >"$R/$c.show.json" || true
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["wheels"][0]
for lib in d["libraries"]:
    print(lib["realpath"] or lib["name"])' "$R/$c.show.json" | sort >"$R/$c.show"
  if diff -u "$R/$c.listdeps" "$R/$c.show" >/dev/null; then
    note "listdeps: same $(wc -l <"$R/$c.show") libraries: $(xargs -n1 basename <"$R/$c.show" | tr '\n' ' ')"
  else
    note "DIFF listdeps:"; diff -u "$R/$c.listdeps" "$R/$c.show" || true; fail=1
  fi

  PATH=$SHIMPATH DYLD_LIBRARY_PATH=$R/lib/$c "$V/delocate-wheel" -w "$R/delocate/$c" "$whl" >"$R/$c.delocate.log" 2>&1 \
    || { note "delocate-wheel failed:"; cat "$R/$c.delocate.log"; fail=1; continue; }
  "$WF" repair -q -w "$R/wheelfix/$c" --lib-path "$R/lib/$c" "$whl" >/dev/null \
    || { note "wheelfix repair failed"; fail=1; continue; }
  dw=$(ls "$R/delocate/$c"/*.whl)
  ww=$(ls "$R/wheelfix/$c"/*.whl)
  if [ "$(basename "$dw")" = "$(basename "$ww")" ]; then note "name: $(basename "$ww") (both)"
  else note "DIFF name: delocate $(basename "$dw"), wheelfix $(basename "$ww")"; fail=1; fi
  unz "$dw" "$R/x-delocate-$c"
  unz "$ww" "$R/x-wheelfix-$c"
  dtag=$(grep '^Tag:' "$R/x-delocate-$c"/*.dist-info/WHEEL)
  wtag=$(grep '^Tag:' "$R/x-wheelfix-$c"/*.dist-info/WHEEL)
  if [ "$dtag" = "$wtag" ]; then note "WHEEL $wtag (both)"; else note "DIFF WHEEL: $dtag / $wtag"; fail=1; fi
  dl=$(cd "$R/x-delocate-$c" && find . -path '*.dylibs/*' -type f | sort | tr '\n' ' ')
  wl=$(cd "$R/x-wheelfix-$c" && find . -path '*.dylibs/*' -type f | sort | tr '\n' ' ')
  if [ "$dl" = "$wl" ]; then note "copied: $wl(both)"; else note "DIFF copied: delocate $dl/ wheelfix $wl"; fail=1; fi
  python3 "$R/dump.py" "$R/x-delocate-$c" "$LLVM/llvm-objdump" >"$R/$c.delocate.json"
  python3 "$R/dump.py" "$R/x-wheelfix-$c" "$LLVM/llvm-objdump" >"$R/$c.wheelfix.json"
  python3 "$R/compare.py" "$c" "$R/$c.delocate.json" "$R/$c.wheelfix.json" || fail=1
  # signatures: every arm64 slice wheelfix wrote verifies; x86_64 slices stay unsigned
  # (documented difference: delocate runs `codesign --sign -` on every file it changes)
  sigs=$(python3 "$WORK/crossfix/macho/cdverify.py" $(find "$R/x-wheelfix-$c" -name '*.so' -o -name '*.dylib') 2>&1 || true)
  if echo "$sigs" | grep -q INVALID || echo "$sigs" | grep '\[arm64\]' | grep -vq ': OK'; then
    note "DIFF signatures:"; echo "$sigs"; fail=1
  else
    note "signatures (cdverify.py): $(echo "$sigs" | grep -c ': OK$') slices OK, $(echo "$sigs" | grep -c UNSIGNED) x86_64 slices unsigned"
  fi
  td=$(PATH=$SHIMPATH DYLD_LIBRARY_PATH=$R/lib/$c median5 "$V/delocate-wheel" -w "$R/t-delocate" "$whl")
  tw=$(median5 "$WF" repair -q -w "$R/t-wheelfix" --lib-path "$R/lib/$c" "$whl")
  note "time (median of 5): delocate-wheel ${td} ms, wheelfix ${tw} ms, ratio $(python3 -c "print(f'{$td/max($tw,1):.0f}x')")"

  # repairwheel (pure Python, no shims): same libraries, names, ids, references and tag;
  # it keeps every LC_RPATH (documented difference), so rpaths are left out of the comparison
  PATH=/usr/bin:/bin "$V/repairwheel" -o "$R/repairwheel/$c" -l "$R/lib/$c" "$whl" >"$R/$c.repairwheel.log" 2>&1 \
    || { note "repairwheel failed:"; cat "$R/$c.repairwheel.log"; fail=1; continue; }
  rw=$(ls "$R/repairwheel/$c"/*.whl)
  if [ "$(basename "$rw")" = "$(basename "$ww")" ]; then note "repairwheel name: $(basename "$rw") (same)"
  else note "DIFF repairwheel name: $(basename "$rw")"; fail=1; fi
  unz "$rw" "$R/x-repairwheel-$c"
  rl=$(cd "$R/x-repairwheel-$c" && find . -path '*.dylibs/*' -type f | sort | tr '\n' ' ')
  if [ "$rl" = "$wl" ]; then note "repairwheel copied: $rl(same)"; else note "DIFF repairwheel copied: $rl"; fail=1; fi
  python3 "$R/dump.py" "$R/x-repairwheel-$c" "$LLVM/llvm-objdump" >"$R/$c.repairwheel.json"
  python3 - "$R/$c.repairwheel.json" "$R/$c.wheelfix.json" <<'PY' || fail=1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
strip = lambda d: {f: {arch: {"id": v["id"], "dylibs": v["dylibs"]} for arch, v in archs.items()} for f, archs in d.items()}
if strip(a) != strip(b):
    print("  DIFF repairwheel ids/references:", json.dumps(strip(a)), json.dumps(strip(b)))
    sys.exit(1)
print(f"  repairwheel: same ids and references in {len(a)} Mach-O files (rpaths: repairwheel keeps them)")
PY
  tr=$(PATH=/usr/bin:/bin median5 "$V/repairwheel" -o "$R/t-repairwheel" -l "$R/lib/$c" "$whl")
  note "time (median of 5): repairwheel ${tr} ms, wheelfix ${tw} ms, ratio $(python3 -c "print(f'{$tr/max($tw,1):.0f}x')")"
done

# ---------------------------------------------------------------- the deployment target
echo "== arm64-13 with MACOSX_DEPLOYMENT_TARGET=11.0"
whl=$(ls "$R/wheels/arm64-13"/*.whl)
PATH=$SHIMPATH MACOSX_DEPLOYMENT_TARGET=11.0 DYLD_LIBRARY_PATH=$R/lib/arm64-13 "$V/delocate-wheel" -w "$R/dt-d" "$whl" \
  >"$R/dt.delocate.log" 2>&1 && { note "DIFF: delocate accepted"; fail=1; }
MACOSX_DEPLOYMENT_TARGET=11.0 "$WF" repair -w "$R/dt-w" --lib-path "$R/lib/arm64-13" "$whl" >"$R/dt.wheelfix.log" 2>&1 \
  && { note "DIFF: wheelfix accepted"; fail=1; }
if grep -q "has a minimum target of 13.0" "$R/dt.delocate.log" && grep -q "has a minimum target of 13.0" "$R/dt.wheelfix.log"; then
  note "both refuse: $(grep -m1 'Library dependencies' "$R/dt.wheelfix.log")"
else
  note "DIFF refusal:"; cat "$R/dt.delocate.log" "$R/dt.wheelfix.log"; fail=1
fi

# ---------------------------------------------------------------- merge
echo "== merge arm64 + x86_64 (repaired wheels)"
a=$(ls "$R/wheelfix/arm64"/*.whl)
x=$(ls "$R/wheelfix/x86_64"/*.whl)
PATH=$SHIMPATH "$V/delocate-merge" -w "$R/merge-d" "$a" "$x" >"$R/merge.delocate.log" 2>&1 \
  || { note "delocate-merge failed:"; cat "$R/merge.delocate.log"; fail=1; }
"$WF" merge -q -w "$R/merge-w" "$a" "$x" >/dev/null || { note "wheelfix merge failed"; fail=1; }
dm=$(ls "$R/merge-d"/*.whl 2>/dev/null || true)
wm=$(ls "$R/merge-w"/*.whl 2>/dev/null || true)
if [ -n "$dm" ] && [ "$(basename "$dm")" = "$(basename "$wm")" ]; then note "name: $(basename "$wm") (both)"
else note "DIFF merge name: delocate ${dm##*/}, wheelfix ${wm##*/}"; fail=1; fi
if [ -n "$dm" ] && [ -n "$wm" ]; then
  unz "$dm" "$R/x-merge-d"
  unz "$wm" "$R/x-merge-w"
  python3 "$R/dump.py" "$R/x-merge-d" "$LLVM/llvm-objdump" >"$R/merge.delocate.json"
  python3 "$R/dump.py" "$R/x-merge-w" "$LLVM/llvm-objdump" >"$R/merge.wheelfix.json"
  python3 "$R/compare.py" merge "$R/merge.delocate.json" "$R/merge.wheelfix.json" || fail=1
  td=$(PATH=$SHIMPATH median5 "$V/delocate-merge" -w "$R/t-merge-d" "$a" "$x")
  tw=$(median5 "$WF" merge -q -w "$R/t-merge-w" "$a" "$x")
  note "time (median of 5): delocate-merge ${td} ms, wheelfix merge ${tw} ms, ratio $(python3 -c "print(f'{$td/max($tw,1):.0f}x')")"
fi

if [ $fail = 0 ]; then echo "anchors-macos: no unexplained difference"; else echo "anchors-macos: DIFFERENCES found"; fi
exit $fail
