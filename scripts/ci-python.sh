#!/usr/bin/env bash
# The Python package end to end, from a clean machine:
#   1. build the wheel with maturin (pyproject.toml) in a fresh venv;
#   2. repair it with the wheelfix it contains (installed in a bootstrap venv);
#   3. install the repaired wheel into a fresh venv and, from there, run
#      `wheelfix --version`, a real repair, the cibuildwheel lines of docs/ci.md
#      exactly as written, the Python API, progress on a terminal, completions,
#      and the SBOM of a wheel that grafts Debian's libffi.so.8.
# Usage: scripts/ci-python.sh REPO_ROOT
# Needs python3 (venv, pip), cc, and network access to PyPI and crates.io.
set -euo pipefail

ROOT=$(cd "${1:?usage: scripts/ci-python.sh REPO_ROOT}" && pwd)
W="$ROOT/target/ci-python"
rm -rf "$W/dist" "$W/wheelhouse" "$W/scratch" "$W/boot" "$W/venv-test"
mkdir -p "$W/dist" "$W/wheelhouse" "$W/scratch"

passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*" >&2; failed=$((failed + 1)); }
check() { # check "what" command...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

# 1. build
if [ ! -x "$W/venv-build/bin/maturin" ]; then
    python3 -m venv "$W/venv-build"
    "$W/venv-build/bin/pip" install -q "maturin>=1.5,<2"
fi
t0=$(date +%s)
cd "$ROOT" # maturin reads ./pyproject.toml
CARGO_TARGET_DIR="$W/target" "$W/venv-build/bin/maturin" build --release --compatibility linux --auditwheel skip \
    -o "$W/dist" 2>&1 | tail -n 3
echo "maturin build: $(($(date +%s) - t0)) s"
raw=$(ls "$W"/dist/wheelfix-*.whl)
echo "built: $(basename "$raw") ($(stat -c %s "$raw") bytes)"

# 2. repair it with itself
python3 -m venv "$W/boot"
"$W/boot/bin/pip" install -q --no-index "$raw"
"$W/boot/bin/wheelfix" repair "$raw" -w "$W/wheelhouse" >"$W/scratch/self-repair.out"
fixed=$(cat "$W/scratch/self-repair.out")
echo "repaired: $(basename "$fixed")"
check "self-repair gives a manylinux tag" grep -q manylinux <<<"$fixed"
check "the repaired wheel passes wheelfix check" "$W/boot/bin/wheelfix" -q check "$W/wheelhouse"
check "wheelfix check takes the wheel file itself" "$W/boot/bin/wheelfix" -q check "$fixed"
# and auditwheel, independently, agrees it is a manylinux wheel
"$W/boot/bin/pip" install -q "auditwheel>=6"
"$W/boot/bin/auditwheel" show "$fixed" >"$W/scratch/auditwheel-show.log" 2>&1 || true
cat "$W/scratch/auditwheel-show.log"
# (auditwheel wraps its lines: join them before reading the tag)
aw_tag=$(tr -s '\n ' '  ' <"$W/scratch/auditwheel-show.log" |
    sed -n 's/.*consistent with the following platform tag: "\([^"]*\)".*/\1/p')
check "auditwheel show agrees with wheelfix's tag (${aw_tag:-none})" \
    bash -c '[[ "$1" == manylinux_* && "$2" == *"$1"* ]]' _ "$aw_tag" "$(basename "$fixed")"

# 3. a fresh venv with the repaired wheel
python3 -m venv "$W/venv-test"
"$W/venv-test/bin/pip" install -q --no-index "$fixed"
WF="$W/venv-test/bin/wheelfix"
PY="$W/venv-test/bin/python"
want_version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
check "wheelfix --version" test "$("$WF" --version)" = "wheelfix $want_version"
check "python -m wheelfix --version" test "$("$PY" -m wheelfix --version)" = "wheelfix $want_version"

# a real repair: the demo wheel and its two libraries
out=$("$WF" -q repair "$ROOT/fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl" \
    --lib-path "$ROOT/fixtures/demo/lib" -w "$W/scratch/demo")
check "demo repaired to manylinux" grep -q 'demo-0.1-cp311-cp311-manylinux' <<<"$out"
check "demo wheel holds the grafted libraries" \
    "$PY" -c 'import sys, zipfile; n = zipfile.ZipFile(sys.argv[1]).namelist(); assert sum(x.startswith("demo.libs/") for x in n) == 2, n' "$out"

# the cibuildwheel lines of docs/ci.md, exactly as written (Linux line on this host)
line=$(sed -n '/^\[tool.cibuildwheel.linux\]/,/^\[/s/^repair-wheel-command = "\(.*\)"$/\1/p' "$ROOT/docs/ci.md")
echo "cibuildwheel line: $line"
cmd=${line//\{wheel\}/"'$ROOT/fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl'"}
cmd=${cmd//\{dest_dir\}/"'$W/scratch/cibw'"}
check "cibuildwheel linux line" env PATH="$W/venv-test/bin:$PATH" LD_LIBRARY_PATH="$ROOT/fixtures/demo/lib" sh -c "$cmd"
check "cibuildwheel line wrote a manylinux wheel" compgen -G "$W/scratch/cibw/demo-0.1-cp311-cp311-manylinux*.whl"

# the Python API, in-process
"$PY" - "$ROOT" "$W/scratch/api" <<'EOF' && ok "python API: analyze, repair, check, errors" || bad "python API"
import pathlib, sys, threading
import wheelfix
root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
demo = root / "fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl"
lib = root / "fixtures/demo/lib"
doc = wheelfix.analyze(demo, lib_path=[lib])
assert isinstance(doc, dict), type(doc)
assert doc["needs_repair"] is True and doc["linux"]["best_tag"].startswith("manylinux_2_"), doc["linux"]
res = wheelfix.repair(demo, out, lib_path=[lib])
assert isinstance(res["output"], pathlib.Path) and res["output"].is_file(), res
assert len(res["bundled"]) == 2 and all(e.startswith("demo.libs/") for _, e in res["bundled"]), res
gate = wheelfix.check(out)
assert gate["ok"] is True and gate["wheels"] == [res["output"].name], gate
try:
    wheelfix.repair(demo, out / "x")
except wheelfix.WheelfixError as e:
    assert "libdemo" in str(e) and "hint:" in str(e), str(e)
else:
    raise AssertionError("a missing library must raise WheelfixError")
# the GIL is released: two repairs from threads both finish
results = []
ts = [threading.Thread(target=lambda i=i: results.append(wheelfix.repair(demo, out / f"t{i}", lib_path=[lib]))) for i in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
assert len(results) == 2
assert wheelfix.main(["--version"]) == 0
print("python API:", res["output"].name, res["platform_tags"])
EOF

# the Python test suite (python/tests), run against the installed package
check "python tests (API, docs/python.md examples, closed pipe)" \
    env WHEELFIX_ROOT="$ROOT" "$PY" -m unittest discover -s "$ROOT/python/tests" -p 'test_*.py' -v

# types: the stub and py.typed are shipped; a good script passes mypy --strict, a bad one fails
"$W/venv-test/bin/pip" install -q "mypy>=1.8"
check "mypy --strict passes python/tests/typing_ok.py" \
    "$W/venv-test/bin/mypy" --strict --no-incremental "$ROOT/python/tests/typing_ok.py"
"$W/venv-test/bin/mypy" --strict --no-incremental "$ROOT/python/tests/typing_bad.py" >"$W/scratch/mypy-bad.log" 2>&1 || true
check "mypy --strict rejects plat=5" grep -q 'typing_bad.py:6: error: .*"plat".*\[arg-type\]' "$W/scratch/mypy-bad.log"
check "mypy --strict rejects bogus_option=True" grep -q 'typing_bad.py:7: error: .*"bogus_option".*\[call-arg\]' "$W/scratch/mypy-bad.log"
cat "$W/scratch/mypy-bad.log"

# progress on a terminal only (script(1) gives the command a pty)
if command -v script >/dev/null; then
    d1="$ROOT/fixtures/demo/demo-0.1-cp311-cp311-linux_x86_64.whl"
    script -qec "NO_COLOR=1 '$WF' repair '$d1' '$d1' --lib-path '$ROOT/fixtures/demo/lib' -w '$W/scratch/tty'" /dev/null \
        >"$W/scratch/tty.log" 2>&1 || true
    check "progress [1/2] shown on a terminal" grep -q '\[1/2\]' "$W/scratch/tty.log"
    NO_COLOR=1 "$WF" repair "$d1" "$d1" --lib-path "$ROOT/fixtures/demo/lib" -w "$W/scratch/pipe" 2>"$W/scratch/pipe.log" >/dev/null
    check "no progress on a pipe" bash -c "! grep -q '\[1/2\]' '$W/scratch/pipe.log'"
else
    bad "script(1) missing: cannot test progress on a terminal"
fi

# completions parse, the man page renders
"$WF" completions bash >"$W/scratch/wheelfix.bash"
check "bash completion parses" bash -n "$W/scratch/wheelfix.bash"
"$WF" man >"$W/scratch/wheelfix.1"
check "man page has a title line" grep -q '^\.TH wheelfix 1' "$W/scratch/wheelfix.1"

# SBOM of a wheel that grafts a Debian library: an extension linked with libffi.so.8
ffi=$(ldconfig -p | sed -n 's/.*libffi\.so\.8 (libc6,x86-64) => \(.*\)$/\1/p' | head -n 1)
if [ -z "$ffi" ]; then
    bad "libffi.so.8 is not installed (apt-get install libffi8)"
else
    mkdir -p "$W/scratch/ffi/ffipkg"
    cat >"$W/scratch/ffi/ext.c" <<'EOF'
void ffi_call(void);
void *PyInit_ext(void) { return (void *)ffi_call; }
EOF
    cc -shared -fPIC -O1 -o "$W/scratch/ffi/ffipkg/ext.so" "$W/scratch/ffi/ext.c" "$ffi"
    "$PY" - "$W/scratch/ffi" <<'EOF'
import base64, hashlib, pathlib, sys, zipfile
d = pathlib.Path(sys.argv[1])
name = "ffipkg-1.0-cp311-cp311-linux_x86_64.whl"
files = {
    "ffipkg/__init__.py": b"",
    "ffipkg/ext.so": (d / "ffipkg/ext.so").read_bytes(),
    "ffipkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: ffipkg\nVersion: 1.0\n",
    "ffipkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: ci\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n",
}
record = "".join(
    f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()},{len(b)}\n"
    for n, b in files.items()) + "ffipkg-1.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(d / name, "w", zipfile.ZIP_DEFLATED) as z:
    for n, b in files.items():
        z.writestr(n, b)
    z.writestr("ffipkg-1.0.dist-info/RECORD", record)
EOF
    ffiwheel=$("$WF" -q repair "$W/scratch/ffi/ffipkg-1.0-cp311-cp311-linux_x86_64.whl" -w "$W/scratch/ffi/out")
    real=$(readlink -f "$ffi")
    deb_ver=$(dpkg-query -W -f '${Version}' "libffi8:$(dpkg --print-architecture)")
    deb_arch=$(dpkg --print-architecture)
    distro=$(. /etc/os-release && echo "$ID")
    sha=$(sha256sum "$real" | cut -d' ' -f1)
    "$PY" - "$ffiwheel" "$distro" "$deb_ver" "$deb_arch" "$sha" <<'EOF' &&
import json, sys, zipfile, urllib.parse
wheel, distro, version, arch, sha = sys.argv[1:]
q = lambda s: urllib.parse.quote(s, safe="")
z = zipfile.ZipFile(wheel)
doc = json.loads(z.read("ffipkg-1.0.dist-info/sboms/wheelfix.cdx.json"))
assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.4", doc
name = wheel.rsplit("/", 1)[-1]
assert doc["metadata"]["component"]["purl"] == "pkg:pypi/ffipkg@1.0?file_name=" + urllib.parse.quote(name, safe=""), doc["metadata"]
libs = doc["components"][1:]
assert len(libs) == 1, libs
c = libs[0]
want = f"pkg:deb/{q(distro)}/libffi8@{q(version)}?arch={q(arch)}"
assert c["purl"] == want, (c["purl"], want)
assert c["name"] == "libffi8", c
assert c["hashes"] == [{"alg": "SHA-256", "content": sha}], c
grafted = [p["value"] for p in c["properties"] if p["name"] == "wheelfix:grafted-as"][0]
assert grafted in z.namelist(), grafted
print("SBOM component:", c["purl"], grafted)
EOF
    ok "SBOM names Debian's libffi8 with version, arch and hash" || bad "SBOM of a libffi wheel"
fi

echo "ci-python: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
