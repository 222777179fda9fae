#!/usr/bin/env bash
# Windows repair against the anchor (delvewheel), with tools `cargo test` does not need.
#
#   (a) A venv with delvewheel; the same fixture wheels (fixtures/pe: mingw x86_64/i686,
#       lld-link x64 with a delay-loaded import, lld-link arm64) are repaired by
#       `delvewheel repair --add-path deps` and `wheelfix repair --add-path deps`:
#       same DLLs vendored under the same mangled names, tags unchanged, both
#       __init__.py patches parse (ast) and add the DLL directory; `delvewheel show`
#       and `wheelfix show --json` agree on what is copied; both timed (median of 5).
#   (b) llvm-readobj --coff-imports on every repaired binary: the mangled names.
#   (c) wine: the repaired x64 wheels, unpacked into a site dir without the original
#       DLL directory, load with fixtures/pe/loader.exe -d <site>/<dist>.libs;
#       the unrepaired extension fails with error 126.
#
# Usage: scripts/anchors-windows.sh [REPO_ROOT]
# Env: WHEELFIX_BIN (default: builds target/release/wheelfix), DELVEWHEEL_VERSION (1.13.2),
#      WHEELFIX_REQUIRE_WINE=0 to allow running without wine (default: wine is installed and required).
set -euo pipefail
root=$(cd "${1:-$(git rev-parse --show-toplevel)}" && pwd)
fx=$root/fixtures/pe
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

apt_install() { # PACKAGES...
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || true
  fi
}
command -v llvm-readobj >/dev/null || command -v llvm-readobj-14 >/dev/null || apt_install llvm
if ! command -v wine >/dev/null && [ "${WHEELFIX_REQUIRE_WINE:-1}" = 1 ]; then
  apt_install wine wine64
fi

# ------------------------------------------------------------------ tools
if [ -n "${WHEELFIX_BIN:-}" ]; then
  wf=$WHEELFIX_BIN
else
  (cd "$root" && cargo build --quiet --release --bin wheelfix)
  wf=$root/target/release/wheelfix
fi
venv=$root/target/anchors-windows-venv
if [ ! -x "$venv/bin/delvewheel" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "delvewheel==${DELVEWHEEL_VERSION:-1.13.2}"
fi
py=$venv/bin/python
dv=$venv/bin/delvewheel

# ------------------------------------------------------------------ helper
cat >"$work/helper.py" <<'EOF'
"""Builds the fixture wheels and compares delvewheel's and wheelfix's outputs."""
import ast, base64, hashlib, io, json, os, re, sys, zipfile

def build(out, name, plat, pyds, init):
    di = f"{name}-0.0.1.dist-info"
    files = {f"{name}/__init__.py": init.encode()}
    for arc, path in pyds:
        files[f"{name}/{arc}"] = open(path, "rb").read()
    files[f"{di}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n".encode()
    files[f"{di}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: anchors\nRoot-Is-Purelib: false\nTag: cp312-cp312-{plat}\n".encode()
    rows = []
    for k, v in files.items():
        h = base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=").decode()
        rows.append(f"{k},sha256={h},{len(v)}")
    rows.append(f"{di}/RECORD,,")
    files[f"{di}/RECORD"] = ("\n".join(rows) + "\n").encode()
    path = os.path.join(out, f"{name}-0.0.1-cp312-cp312-{plat}.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in files.items():
            z.writestr(k, v)
    print(path)

def entries(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}

def compare(dv_whl, wf_whl):
    """Prints one line per check: 'ok: …' or 'FAIL: …'."""
    d, w = entries(dv_whl), entries(wf_whl)
    name = os.path.basename(wf_whl)
    def check(cond, what):
        print(("ok: " if cond else "FAIL: ") + f"{name}: {what}")
    dlls = lambda e: sorted(n for n in e if n.lower().endswith(".dll"))
    check(dlls(d) == dlls(w), f"same DLLs vendored under the same names: {dlls(w)} vs delvewheel {dlls(d)}")
    check(all(re.search(r"-[0-9a-f]{32}\.dll$", n) for n in dlls(w)) and dlls(w), "names mangled")
    check(os.path.basename(dv_whl) == name, "file name (tags) unchanged and equal")
    tags = lambda e: sorted(l for k, v in e.items() if k.endswith(".dist-info/WHEEL") for l in v.decode().splitlines() if l.startswith("Tag:"))
    check(tags(d) == tags(w), f"WHEEL tags equal {tags(w)}")
    for k in sorted(k for k in w if k.endswith(".py")):
        src = w[k]
        try:
            ast.parse(src)
            parsed = True
        except SyntaxError as e:
            parsed = False
        check(parsed, f"{k} parses (ast)")
        text = src.decode()
        both = all(m in text and m in d.get(k, b"").decode() for m in ("# start delvewheel patch", "# end delvewheel patch", "os.add_dll_directory("))
        check(both, f"{k}: both patches carry the markers and add the DLL directory")
        libs = lambda t: re.findall(r"os\.pardir, '([^']+)'", t)
        check(libs(text) == libs(d.get(k, b"").decode()), f"{k}: same DLL directory {libs(text)}")
    rec = [k for k in w if k.endswith(".dist-info/RECORD")][0]
    good = True
    for row in w[rec].decode().splitlines():
        p, h, n = row.rsplit(",", 2)
        if p == rec:
            continue
        want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(w[p]).digest()).rstrip(b"=").decode()
        good &= h == want and int(n) == len(w[p])
    check(good and len(w[rec].decode().splitlines()) == len(w), "RECORD verifies")

def show(dv_text, wf_json):
    copied = set(re.findall(r"^\s+(\S+\.dll) \(", dv_text, re.M))
    doc = json.load(open(wf_json))["wheels"][0]
    ours = {l["name"].lower() for l in doc["libraries"] if l["status"] == "bundle"}
    ok = {c.lower() for c in copied} == ours
    print(("ok: " if ok else "FAIL: ") + f"show: delvewheel copies {sorted(copied)}, wheelfix bundles {sorted(ours)}")

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "build":
        build(sys.argv[2], sys.argv[3], sys.argv[4], [a.split("=", 1) for a in sys.argv[6:]], sys.argv[5])
    elif cmd == "compare":
        compare(sys.argv[2], sys.argv[3])
    elif cmd == "show":
        show(open(sys.argv[2]).read(), sys.argv[3])
EOF
report() { while IFS= read -r line; do case $line in ok:*) ok "${line#ok: }" ;; FAIL:*) bad "${line#FAIL: }" ;; *) echo "$line" ;; esac; done; }

# ------------------------------------------------------------------ (a) delvewheel vs wheelfix
init=$'"""A fixture package."""\nfrom __future__ import annotations\n\nVALUE = 1\n'
mkdir -p "$work/wheels"
declare -A deps
for spec in "mingwpkg mingw-x86_64 win_amd64 ext" "mingw32pkg mingw-i686 win32 ext" \
  "msvcpkg msvc-x64 win_amd64 ext ext_delay" "armpkg msvc-arm64 win_arm64 ext ext_delay"; do
  read -r name set plat pyds <<<"$spec"
  mkdir -p "$work/deps-$name"
  cp "$fx/$set/foo.dll" "$fx/$set/bar.dll" "$work/deps-$name/"
  args=()
  for p in $pyds; do args+=("$p.cp312-$plat.pyd=$fx/$set/$p.pyd"); done
  whl=$("$py" "$work/helper.py" build "$work/wheels" "$name" "$plat" "$init" "${args[@]}")
  deps[$whl]=$work/deps-$name
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ms() { # COMMAND... -> median wall time of 5 runs, in ms
  for _ in 1 2 3 4 5; do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
  done | median
}

for whl in "$work"/wheels/*.whl; do
  base=$(basename "$whl")
  d=${deps[$whl]}
  rm -rf "$work/dv" "$work/wf"
  if "$dv" repair --add-path "$d" -w "$work/dv" "$whl" >"$work/dv.log" 2>&1; then ok "delvewheel repairs $base"; else bad "delvewheel repair $base"; cat "$work/dv.log"; continue; fi
  if "$wf" repair --add-path "$d" -w "$work/wf" "$whl" >"$work/wf.log" 2>&1; then ok "wheelfix repairs $base"; else bad "wheelfix repair $base"; cat "$work/wf.log"; continue; fi
  "$py" "$work/helper.py" compare "$work/dv/$base" "$work/wf/$base" | report
  "$dv" show --add-path "$d" "$whl" >"$work/dvshow.txt" 2>&1 || true
  "$wf" show --json --add-path "$d" "$whl" >"$work/wfshow.json" || true # exit 1: the wheel needs repair
  "$py" "$work/helper.py" show "$work/dvshow.txt" "$work/wfshow.json" | report
  # a second wheelfix repair of its own output, and of delvewheel's, is a no-op
  again=$("$wf" repair -w "$work/again" "$work/wf/$base" 2>&1 || true)
  again2=$("$wf" repair -w "$work/again2" "$work/dv/$base" 2>&1 || true)
  if grep -q "wheelfix .* has already repaired this wheel" <<<"$again" &&
    grep -q "delvewheel .* has already repaired this wheel" <<<"$again2"; then
    ok "$base: second repair is a no-op (own and delvewheel's output)"
  else
    bad "$base: second repair is not a no-op"
  fi
  tdv=$(time_ms "$dv" repair --add-path "$d" -w "$work/tdv" "$whl")
  twf=$(time_ms "$wf" repair --add-path "$d" -w "$work/twf" "$whl")
  echo "time $base: delvewheel ${tdv} ms, wheelfix ${twf} ms (median of 5)"
  mkdir -p "$work/repaired"
  cp "$work/wf/$base" "$work/repaired/"
done

# ------------------------------------------------------------------ (b) llvm-readobj
readobj=$(command -v llvm-readobj || command -v llvm-readobj-14 || true)
if [ -z "$readobj" ]; then
  bad "llvm-readobj not found (apt-get install llvm)"
else
  for whl in "$work"/repaired/*.whl; do
    x=$work/x/$(basename "$whl" .whl)
    mkdir -p "$x"
    (cd "$x" && "$py" -m zipfile -e "$whl" .)
    while IFS= read -r -d '' bin; do
      rel=${bin#"$x"/}
      names=$("$readobj" --coff-imports "$bin" | sed -n 's/^ *Name: //p')
      case $rel in
        *foo-*.dll) want=bar ;;
        *bar-*.dll) want= ;;
        *) want=foo ;;
      esac
      if [ -z "$want" ]; then
        if grep -qiE '^(foo|bar)' <<<"$names"; then bad "readobj $rel: unexpected $names"; else ok "readobj $rel: no chain import"; fi
      elif grep -qE "^$want-[0-9a-f]{32}\.dll$" <<<"$names" && ! grep -qiE "^$want\.dll$" <<<"$names"; then
        ok "readobj $rel imports $(grep -E "^$want-" <<<"$names" | tr '\n' ' ')"
      else
        bad "readobj $rel: $(tr '\n' ' ' <<<"$names")"
      fi
    done < <(find "$x" -type f \( -name '*.pyd' -o -name '*.dll' \) -print0)
  done
fi

# ------------------------------------------------------------------ (c) wine
if command -v wine >/dev/null; then
  # shellcheck source=../fixtures/pe/wine-load.sh
  . "$fx/wine-load.sh"
  wine_init "$work"
  for name in mingwpkg msvcpkg; do
    whl=$(ls "$work"/repaired/$name-*win_amd64.whl)
    site=$work/site-$name
    mkdir -p "$site"
    (cd "$site" && "$py" -m zipfile -e "$whl" .)
    for pyd in "$site/$name"/*.pyd; do
      wine_load 0 "PyInit_ext() = 42" -d "$site/$name.libs" "$pyd"
      case $pyd in
        *ext_delay*) wine_load 126 "" "$pyd" ;; # loads; the first call to foo() exits 126
        *) wine_load 126 "error 126" "$pyd" ;;
      esac
    done
    orig=$work/orig-$name/$name
    mkdir -p "$orig"
    (cd "$work/orig-$name" && "$py" -m zipfile -e "$work/wheels/$(basename "$whl")" .)
    wine_load 126 "error 126" -d "$site/$name.libs" "$orig/ext.cp312-win_amd64.pyd"
  done
elif [ "${WHEELFIX_REQUIRE_WINE:-1}" = 1 ]; then
  bad "wine is not installed (apt-get install wine wine64)"
else
  echo "wine checks not run (WHEELFIX_REQUIRE_WINE=0)"
fi

echo "anchors-windows: $pass passed, $fail failed"
[ "$fail" = 0 ]
