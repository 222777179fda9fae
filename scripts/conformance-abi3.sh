#!/usr/bin/env bash
# Conformance of wheelfix's Stable ABI audit against abi3audit on real abi3 wheels.
#
# Usage: scripts/conformance-abi3.sh REPO_ROOT
#
# - makes a venv under target/conformance-abi3-venv with abi3audit 0.0.26;
# - downloads real abi3 wheels (cached in target/conformance-abi3-wheels, about 75 MB) for
#   Linux, macOS and Windows;
# - makes violating copies: the same wheels renamed to claim `cp32-abi3` (every symbol added
#   after 3.2 is then a violation, on all three formats), and small ELF wheels built with cc
#   (scripts/compare_abi3.py make);
# - runs scripts/compare_abi3.py compare: the (file, symbol) violations of
#   `abi3audit --verbose --report` and `wheelfix show --json` must be the same sets; both
#   are timed and the ratio printed.
set -euo pipefail
root=$(cd "${1:?usage: conformance-abi3.sh REPO_ROOT}" && pwd)
cd "$root"
venv=target/conformance-abi3-venv
cache=target/conformance-abi3-wheels
work=target/conformance-abi3-work
if [ ! -x "$venv/bin/abi3audit" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'abi3audit==0.0.26'
fi
"$venv/bin/abi3audit" --version
cargo build --release --quiet
wf=target/release/wheelfix
mkdir -p "$cache"

# name-prefix  platform  requirement
wheels=(
  "cryptography-50.0.2-cp311-abi3-manylinux_2_28_x86_64|manylinux_2_28_x86_64|cryptography==50.0.2"
  "bcrypt-5.0.0-cp39-abi3-manylinux_2_28_x86_64|manylinux_2_28_x86_64|bcrypt==5.0.0"
  "pynacl-1.6.2-cp38-abi3-manylinux_2_26_x86_64|manylinux_2_28_x86_64|pynacl==1.6.2"
  "nh3-0.3.8-cp39-abi3-manylinux2014_x86_64|manylinux_2_17_x86_64|nh3==0.3.8"
  "safetensors-0.8.0-cp310-abi3-manylinux_2_17_x86_64|manylinux_2_17_x86_64|safetensors==0.8.0"
  "argon2_cffi_bindings-26.2.0-cp310-abi3-manylinux_2_26_x86_64|manylinux_2_28_x86_64|argon2-cffi-bindings==26.2.0"
  "tokenizers-0.23.3-cp310-abi3-manylinux_2_17_x86_64|manylinux_2_17_x86_64|tokenizers==0.23.3"
  "opencv_python_headless-4.12.0.88-cp37-abi3-manylinux2014_x86_64|manylinux2014_x86_64|opencv-python-headless==4.12.0.88"
  "bcrypt-5.0.0-cp39-abi3-macosx_10_12_universal2|macosx_10_12_universal2|bcrypt==5.0.0"
  "nh3-0.3.8-cp39-abi3-macosx_10_12_universal2|macosx_11_0_arm64|nh3==0.3.8"
  "cryptography-50.0.2-cp311-abi3-macosx_11_0_arm64|macosx_11_0_arm64|cryptography==50.0.2"
  "bcrypt-5.0.0-cp39-abi3-win_amd64|win_amd64|bcrypt==5.0.0"
  "nh3-0.3.8-cp39-abi3-win_amd64|win_amd64|nh3==0.3.8"
  "cryptography-50.0.2-cp311-abi3-win_amd64|win_amd64|cryptography==50.0.2"
)
files=()
for spec in "${wheels[@]}"; do
  IFS='|' read -r prefix plat req <<<"$spec"
  f=$(ls "$cache/$prefix"*.whl 2>/dev/null | head -1 || true)
  if [ -z "$f" ]; then
    "$venv/bin/pip" download --quiet --no-deps --only-binary=:all: --platform "$plat" \
      --python-version 3.12 -d "$cache" "$req"
    f=$(ls "$cache/$prefix"*.whl | head -1)
  fi
  files+=("$f")
done

rm -rf "$work"
mkdir -p "$work/retagged"
# the same bytes claiming the first Stable ABI: every later symbol is a violation
for f in "${files[@]}"; do
  b=$(basename "$f")
  cp "$f" "$work/retagged/$(sed -E 's/-cp3[0-9]+-abi3-/-cp32-abi3-/' <<<"$b")"
done
mapfile -t made < <(python3 scripts/compare_abi3.py make "$work/built")

python3 scripts/compare_abi3.py compare "$wf" "$venv/bin/abi3audit" \
  "${files[@]}" "$work"/retagged/*.whl "${made[@]}"
