#!/usr/bin/env bash
# Installs the repaired demo wheel into a fresh venv and imports it, with the
# libraries it was built against out of reach: they must come from demo.libs.
# Usage: scripts/e2e-demo.sh WHEELHOUSE
set -euo pipefail
house=$1
wheel=$(ls "$house"/demo-0.1-*manylinux*.whl)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-index "$wheel"
# the original library directory is not on any search path; LD_DEBUG shows where they load from
out=$(cd "$work" && LD_DEBUG=libs "$work/venv/bin/python" -c 'import demo; print("answer", demo.answer())' 2>"$work/ld.log")
echo "$out"
[ "$out" = "answer 42" ] || { echo "unexpected output: $out"; exit 1; }
grep -E 'calling init: .*/demo\.libs/libdemocore-[0-9a-f]{8}\.so\.1' "$work/ld.log" >/dev/null \
  || { echo "libdemocore was not loaded from demo.libs"; grep demo "$work/ld.log"; exit 1; }
grep -E 'calling init: .*/demo\.libs/libdemoutil-[0-9a-f]{8}\.so\.1' "$work/ld.log" >/dev/null \
  || { echo "libdemoutil was not loaded from demo.libs"; exit 1; }
# and the unrepaired wheel does not import
python3 -m venv "$work/venv2"
"$work/venv2/bin/pip" install --quiet --no-index "$(dirname "$0")/../fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl"
if (cd "$work" && "$work/venv2/bin/python" -c 'import demo' 2>/dev/null); then
  echo "the unrepaired demo wheel imported: the check proves nothing"; exit 1
fi
echo "e2e: repaired demo wheel imports, libraries loaded from demo.libs; unrepaired wheel fails"
