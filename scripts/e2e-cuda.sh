#!/usr/bin/env bash
# A library another wheel provides, end to end, without a GPU: a small CPython
# extension linked against the CUDA runtime of `nvidia-cuda-runtime-cu12` is
# repaired with --site-packages (linked, not bundled; Requires-Dist added),
# installed offline into a fresh venv together with the provider's wheel, and
# imported; it calls cudaRuntimeGetVersion(), which needs no driver.
#
#   scripts/e2e-cuda.sh [REPO_ROOT]
#
# WHEELFIX_BIN: the wheelfix to test (default: REPO_ROOT/target/release/wheelfix,
# built when absent). E2E_CUDA_WHEEL: a provider wheel already on disk (the
# default downloads it from PyPI with pip). Work files go to target/e2e-cuda.
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
bin=${WHEELFIX_BIN:-$root/target/release/wheelfix}
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
work=$root/target/e2e-cuda
rm -rf "$work"
mkdir -p "$work/dl" "$work/build/lib" "$work/src/cudaext" "$work/house"
fail() { echo "e2e-cuda: $*" >&2; exit 1; }

echo "-- the provider: nvidia-cuda-runtime-cu12, installed into a site-packages"
python3 -m venv "$work/tools"
pip=$work/tools/bin/pip
if [ -n "${E2E_CUDA_WHEEL:-}" ]; then
  cp "$E2E_CUDA_WHEEL" "$work/dl/"
else
  "$pip" download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    --dest "$work/dl" nvidia-cuda-runtime-cu12
fi
provider_whl=$(ls "$work"/dl/nvidia_cuda_runtime_cu12-*.whl)
"$pip" install --quiet --no-deps --no-index --target "$work/site" "$provider_whl"
info=$(ls -d "$work"/site/nvidia_cuda_runtime_cu12-*.dist-info)
version=$(sed -n 's/^Version: *//p' "$info/METADATA" | head -1)
cudart=$work/site/nvidia/cuda_runtime/lib/libcudart.so.12
[ -f "$cudart" ] || fail "no libcudart.so.12 in the provider's wheel"
echo "nvidia-cuda-runtime-cu12 $version"

echo "-- the extension: links libcudart.so.12 with an absolute build RPATH"
# the build machine's copy of the runtime, where the linker found it
cp "$cudart" "$work/build/lib/"
py=$work/tools/bin/python
include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
pytag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
cat >"$work/src/cudaext.c" <<'EOF'
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* from cuda_runtime_api.h: cudaError_t is an enum, 0 is cudaSuccess */
int cudaRuntimeGetVersion(int *runtimeVersion);

static PyObject *runtime_version(PyObject *self, PyObject *args) {
    int version = 0;
    int err = cudaRuntimeGetVersion(&version);
    if (err != 0) {
        PyErr_Format(PyExc_RuntimeError, "cudaRuntimeGetVersion failed: %d", err);
        return NULL;
    }
    return PyLong_FromLong(version);
}

static PyMethodDef methods[] = {
    {"runtime_version", runtime_version, METH_NOARGS, "The CUDA runtime's version."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cudaext", NULL, -1, methods};

PyMODINIT_FUNC PyInit__cudaext(void) { return PyModule_Create(&module); }
EOF
cc -O1 -fPIC -shared -I"$include" "$work/src/cudaext.c" -o "$work/src/cudaext/_cudaext$suffix" \
  -L"$work/build/lib" -l:libcudart.so.12 -Wl,-rpath,"$work/build/lib"
printf 'from ._cudaext import runtime_version\n' >"$work/src/cudaext/__init__.py"
wheel=$("$py" - "$work" "$pytag" "_cudaext$suffix" <<'EOF'
import base64, hashlib, sys, zipfile
work, tag, ext = sys.argv[1:]
name = f"cudaext-0.1-{tag}-{tag}-linux_x86_64.whl"
di = "cudaext-0.1.dist-info"
files = {
    "cudaext/__init__.py": open(f"{work}/src/cudaext/__init__.py", "rb").read(),
    f"cudaext/{ext}": open(f"{work}/src/cudaext/{ext}", "rb").read(),
    f"{di}/METADATA": b"Metadata-Version: 2.1\nName: cudaext\nVersion: 0.1\n",
    f"{di}/WHEEL": f"Wheel-Version: 1.0\nGenerator: e2e-cuda\nRoot-Is-Purelib: false\nTag: {tag}-{tag}-linux_x86_64\n".encode(),
}
record = ""
for path, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record += f"{path},sha256={digest},{len(data)}\n"
files[f"{di}/RECORD"] = (record + f"{di}/RECORD,,\n").encode()
with zipfile.ZipFile(f"{work}/{name}", "w", zipfile.ZIP_DEFLATED) as z:
    for path, data in files.items():
        info = zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if path.endswith(".so") else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
print(f"{work}/{name}")
EOF
)

echo "-- show, then repair with --site-packages"
code=0
"$bin" show "$wheel" --site-packages "$work/site" >"$work/show.txt" || code=$?
cat "$work/show.txt"
[ "$code" = 1 ] || fail "show exited $code, not 1 (the link to the provider is still to be made)"
grep -F "[provided by nvidia-cuda-runtime-cu12 $version]" "$work/show.txt" >/dev/null || fail "show does not name the provider"
"$bin" repair "$wheel" --site-packages "$work/site" -w "$work/house" 2>"$work/repair.err" >"$work/repair.out" \
  || { cat "$work/repair.err"; fail "repair failed"; }
cat "$work/repair.err"
line="Requires-Dist: nvidia-cuda-runtime-cu12>=$version"
grep -F "warning: added \`$line\` to METADATA" "$work/repair.err" >/dev/null || fail "no warning about the added requirement"
repaired=$(cat "$work/repair.out")
"$py" - "$repaired" "$line" "$work" "$suffix" <<'EOF'
import sys, zipfile
path, line, work, suffix = sys.argv[1:]
z = zipfile.ZipFile(path)
names = z.namelist()
assert not any("libcudart" in n or ".libs/" in n for n in names), f"the runtime was bundled: {names}"
meta = z.read("cudaext-0.1.dist-info/METADATA").decode()
assert line in meta.splitlines(), meta
z.extract(f"cudaext/_cudaext{suffix}", f"{work}/unzipped")
EOF
dynamic=$(readelf -dW "$work/unzipped/cudaext/_cudaext$suffix")
echo "$dynamic" | grep -E 'R(UN)?PATH'
echo "$dynamic" | grep -F '[$ORIGIN/../nvidia/cuda_runtime/lib]' >/dev/null || fail "no \$ORIGIN link to the provider"
if echo "$dynamic" | grep -F "$work/build" >/dev/null; then fail "the build RPATH is still there"; fi

echo "-- installed offline into a fresh venv with the provider, imported, called"
mv "$work/build" "$work/build-gone"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-index --find-links "$work/dl" --find-links "$work/house" cudaext
"$work/venv/bin/pip" show nvidia-cuda-runtime-cu12 >/dev/null || fail "the requirement did not bring the provider"
got=$(cd "$work" && "$work/venv/bin/python" -c 'import cudaext; print(cudaext.runtime_version())')
echo "cudaRuntimeGetVersion() = $got"
[ "$got" -gt 0 ] 2>/dev/null || fail "unexpected version: $got"
# and the unrepaired wheel does not import (its build RPATH is gone)
python3 -m venv "$work/venv2"
"$work/venv2/bin/pip" install --quiet --no-index --no-deps "$wheel"
if (cd "$work" && "$work/venv2/bin/python" -c 'import cudaext' 2>/dev/null); then
  fail "the unrepaired wheel imported: the check proves nothing"
fi
echo "e2e-cuda: linked to nvidia-cuda-runtime-cu12 $version, Requires-Dist added, runtime version $got"
