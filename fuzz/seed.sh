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
seed_planned rewrite_elf "${elf[@]}"
seed_planned rewrite_macho "${macho[@]}"
seed_planned rewrite_pe "${pe[@]}"
for t in "$corpus"/*; do
    echo "$(basename "$t"): $(find "$t" -type f | wc -l) inputs"
done
