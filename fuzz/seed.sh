#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs taken from fixtures/ (the
# corpora are not committed). Idempotent; safe to run before every session.
# The rewrite_* targets read a 4-byte edit plan before the binary: each
# fixture is seeded with a few plans (flags, pick, name lengths).
set -euo pipefail
root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
corpus="$root/fuzz/corpus"
fx="$root/fixtures"

seed() { # target file...
    local t="$1"
    shift
    mkdir -p "$corpus/$t"
    for f in "$@"; do
        [ -f "$f" ] || continue
        cp "$f" "$corpus/$t/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
    done
}

seed_planned() { # target file...
    local t="$1"
    shift
    mkdir -p "$corpus/$t"
    for f in "$@"; do
        [ -f "$f" ] || continue
        local base
        base="seed-$(basename "$(dirname "$f")")-$(basename "$f")"
        # plans: every edit with short names; rename only; every edit with long names
        for plan in '\x1f\x00\x05\x07' '\x02\x01\x10\x20' '\x1f\x02\xf0\xe8' '\x8f\x03\x00\x01'; do
            { printf "$plan"; cat "$f"; } >"$corpus/$t/$base-$(printf '%s' "$plan" | tr -d '\\')"
        done
    done
}

elf=("$fx"/elf/prebuilt/*.so "$fx"/demo/lib/*.so.*)
macho=()
while IFS= read -r f; do macho+=("$f"); done < <(find "$fx/macho" -type f \( -name '*.so' -o -name '*.dylib' \) | sort)
pe=()
while IFS= read -r f; do pe+=("$f"); done < <(find "$fx/pe" -type f \( -name '*.pyd' -o -name '*.dll' -o -name '*.exe' \) | sort)

seed parse_elf "${elf[@]}"
seed parse_macho "${macho[@]}"
seed parse_pe "${pe[@]}"
seed wheel_open "$fx"/demo/*.whl
# a few more shapes of wheel (stored entries, directories, zip64 records, a
# .data directory), when python3 is there to write them
if command -v python3 >/dev/null; then
    python3 - "$corpus/wheel_open" <<'PY'
import base64, hashlib, sys, zipfile
out = sys.argv[1]
def row(name, data):
    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={h},{len(data)}\n"
wheel = b"Wheel-Version: 1.0\nGenerator: seed\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n"
files = [("demo/", b""), ("demo/__init__.py", b"x = 1\n"), ("demo/m.so", bytes(range(256)) * 8),
         ("demo-0.1.data/scripts/run", b"#!python\n"), ("demo-0.1.dist-info/WHEEL", wheel)]
for label, method, zip64 in [("stored", zipfile.ZIP_STORED, False), ("zip64", zipfile.ZIP_DEFLATED, True)]:
    with zipfile.ZipFile(f"{out}/seed-{label}.whl", "w", method) as z:
        record = ""
        for name, data in files:
            if name.endswith("/"):
                z.writestr(name, data)
                continue
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            with z.open(info, "w", force_zip64=zip64) as f:
                f.write(data)
            record += row(name, data)
        record += "demo-0.1.dist-info/RECORD,,\n"
        z.writestr("demo-0.1.dist-info/RECORD", record)
PY
else
    echo "python3 not found: wheel_open is seeded with the demo wheel only"
fi
seed_planned rewrite_elf "${elf[@]}"
seed_planned rewrite_macho "${macho[@]}"
seed_planned rewrite_pe "${pe[@]}"
# splice: the same 4-byte plans in front of a few binaries (the body is both
# a hostile deflate stream and the content that gets deflated and patched)
seed_planned splice "${elf[@]:0:2}" "${pe[@]:0:1}"
for t in "$corpus"/*; do
    echo "$(basename "$t"): $(find "$t" -type f | wc -l) inputs"
done
