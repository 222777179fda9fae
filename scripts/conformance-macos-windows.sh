#!/usr/bin/env bash
# Conformance of `wheelfix show` and `wheelfix repair` on real macOS and Windows wheels
# from the package index, against delocate (delocate-listdeps, delocate-wheel) and
# delvewheel 1.13.2 (show, repair).
#
# Usage: scripts/conformance-macos-windows.sh [REPO_ROOT] [SHARED_DIR]
#
# - makes a venv under target/conformance-mw with delocate, delvewheel and repairwheel
#   (the codesign shim signs with repairwheel's signer);
# - sets up the crossfix shims for delocate on Linux the way scripts/anchors-macos.sh does
#   (a writable copy of SHARED_DIR/tools/crossfix/shims, install_name_tool → LLVM's);
# - downloads (cached in target/conformance-wheels, about 60 MB) wheels that delocate or
#   delvewheel already repaired, and others that need nothing: macOS x86_64, arm64 and
#   universal2, win_amd64 and win32;
# - macOS: scripts/compare_listdeps.py (show vs delocate-listdeps --all --depending, repair
#   is a no-op, delocate-wheel's file name); Windows: scripts/compare_delvewheel_show.py
#   (show vs delvewheel show, repair is a no-op, delvewheel repair);
# - prints a table with both tools' times. Fails on any difference that
#   docs/conformance.md does not document.
set -euo pipefail
ROOT=$(cd "${1:-$(git rev-parse --show-toplevel)}" && pwd)
SHARED=$(cd "${2:-$ROOT/../shared}" && pwd)
cd "$ROOT"
WORK=$ROOT/target/conformance-mw
cache=$ROOT/target/conformance-wheels
LLVM=/usr/lib/llvm-14/bin

if [ ! -x "$LLVM/llvm-objdump" ] || [ ! -x "$LLVM/llvm-install-name-tool" ]; then
  echo "== installing llvm (llvm-objdump, llvm-install-name-tool for the delocate shims)"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends llvm >/dev/null
fi
venv=$WORK/venv
if [ ! -x "$venv/bin/delocate-listdeps" ] || [ ! -x "$venv/bin/delvewheel" ] || [ ! -x "$venv/bin/repairwheel" ]; then
  echo "== venv with delocate, delvewheel and repairwheel"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check delocate 'delvewheel==1.13.2' repairwheel
fi
"$venv/bin/python" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("delocate", "delvewheel")))'

# the shims log and find the signer's venv beside themselves: use a writable copy
rm -rf "$WORK/crossfix"
mkdir -p "$WORK/crossfix" "$WORK/run"
cp -r "$SHARED/tools/crossfix/shims" "$SHARED/tools/crossfix/macho" "$WORK/crossfix/"
chmod -R u+w "$WORK/crossfix"
ln -s "$venv" "$WORK/crossfix/venv-rw"
rm -f "$WORK/crossfix/shims/install_name_tool"
ln -s "$LLVM/llvm-install-name-tool" "$WORK/crossfix/shims/install_name_tool"
chmod +x "$WORK/crossfix/shims/"*
export CODESIGN_SHIM_LOG=$WORK/run/codesign.log

cargo build --release --quiet
wf=$ROOT/target/release/wheelfix
mkdir -p "$cache"

# name-prefix | platform | requirement
mac=(
  "pillow-11.0.0-cp312-cp312-macosx_10_13_x86_64|macosx_10_13_x86_64|pillow==11.0.0"
  "pillow-11.0.0-cp312-cp312-macosx_11_0_arm64|macosx_11_0_arm64|pillow==11.0.0"
  "numpy-2.1.3-cp312-cp312-macosx_10_13_x86_64|macosx_10_13_x86_64|numpy==2.1.3"
  "numpy-2.1.3-cp312-cp312-macosx_11_0_arm64|macosx_11_0_arm64|numpy==2.1.3"
  "pyzmq-26.2.0-cp312-cp312-macosx_10_15_universal2|macosx_10_15_universal2|pyzmq==26.2.0"
  "kiwisolver-1.4.7-cp312-cp312-macosx_10_9_universal2|macosx_10_9_universal2|kiwisolver==1.4.7"
)
win=(
  "numpy-2.1.3-cp312-cp312-win_amd64|win_amd64|numpy==2.1.3"
  "pillow-11.0.0-cp312-cp312-win_amd64|win_amd64|pillow==11.0.0"
  "pyzmq-26.2.0-cp312-cp312-win_amd64|win_amd64|pyzmq==26.2.0"
  "pyzmq-26.2.0-cp312-cp312-win32|win32|pyzmq==26.2.0"
  "PyYAML-6.0.2-cp312-cp312-win32|win32|pyyaml==6.0.2"
)
fetch() { # SPEC -> path of the cached wheel
  local prefix plat req f
  IFS='|' read -r prefix plat req <<<"$1"
  f=$(ls "$cache/$prefix"*.whl 2>/dev/null | head -1 || true)
  if [ -z "$f" ]; then
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform "$plat" --python-version 3.12 -d "$cache" "$req" >&2
    f=$(ls "$cache/$prefix"*.whl | head -1)
  fi
  echo "$f"
}

results=$WORK/run/results.tsv
: >"$results"
status=0
echo "== macOS: show vs delocate-listdeps --all --depending; repair is a no-op; delocate-wheel's name"
for spec in "${mac[@]}"; do
  f=$(fetch "$spec")
  PATH=$WORK/crossfix/shims:$PATH python3 scripts/compare_listdeps.py --result "$results" \
    --delocate-wheel "$venv/bin/delocate-wheel" --out "$WORK/run/repair" \
    "$wf" "$venv/bin/delocate-listdeps" "$f" || status=1
done
echo "== Windows: show vs delvewheel show; repair is a no-op; delvewheel repair"
for spec in "${win[@]}"; do
  f=$(fetch "$spec")
  python3 scripts/compare_delvewheel_show.py --result "$results" "$wf" "$venv/bin/delvewheel" "$f" || status=1
done

echo
printf '%-58s %-6s %10s %10s %11s %11s  %s\n' wheel result 'wf show' 'anchor' 'wf repair' 'anchor' note
awk -F'\t' '{ printf "%-58s %-6s %9.2fs %9.2fs %10.2fs %10.2fs  %s\n", $1, $2, $3, $4, $5, $6, $7 }' "$results"
echo "(anchor: delocate-listdeps / delocate-wheel for macOS through the crossfix shims, delvewheel show / repair for Windows)"
if [ "$status" = 0 ]; then
  echo "conformance-macos-windows: show and repair agree with delocate and delvewheel (or differ only as documented)"
else
  echo "conformance-macos-windows: undocumented differences (see FAIL lines)"
fi
exit "$status"
