#!/usr/bin/env bash
# Differential test of how wheelfix reads zip archives, against Python's
# zipfile and a streaming walk of the local headers (scripts/zip-differential.py):
# hand-made hostile archives and seeded random mutations of valid wheels; each
# is either read alike by every reader or refused by wheelfix with one line.
#
#   scripts/zip-differential.sh [WHEELFIX] [SEED] [RANDOM_CASES]
#
# WHEELFIX defaults to target/release/wheelfix (built when missing). Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/wheelfix}
seed=${2:-20261205}
count=${3:-500}
if [ ! -x "$bin" ]; then
  cargo build --release
fi
python3 scripts/zip-differential.py "$bin" --seed "$seed" --random "$count"
