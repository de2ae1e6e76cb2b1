"""CPU dispatch: every core module built (baseline, AVX2, AVX-512) gives the numbers of the default
one; INTRINSIC_FLOW_CPU forces a level, and a bad value is a clear error; the baseline module runs
on a CPU without AVX (qemu-x86_64 -cpu Nehalem)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import intrinsic_flow as itf
from intrinsic_flow import _core

# Prints the level in use and a few results on a small ReLU net, as JSON.
SCRIPT = r"""
import json
import numpy as np
import intrinsic_flow as itf
from intrinsic_flow.losses import LiftedQuadratic

net = itf.ReLUNet([2, 3, 2], bias="hidden")
theta = net.init(0)
flow = itf.gradient_flow(net, theta, LiftedQuadratic(np.linspace(-1.0, 1.0, net.n_lifted)), 0.5, n_steps=40)
print(json.dumps({
    "cpu": itf.build_info()["cpu"],
    "simd": itf.build_info()["simd"],
    "lift": itf.lift(net, theta).tolist(),
    "lift_jacobian": itf.lift_jacobian(net, theta).tolist(),
    "rank_lift": int(itf.rank_lift(net, theta)),
    "flow": flow.theta[-1].tolist(),
}))
"""


def _run(env_level=None, prefix=(), timeout=120):
    env = dict(os.environ)
    env.pop("INTRINSIC_FLOW_CPU", None)
    if prefix:  # an emulated CPU: NumPy's OpenBLAS must not run kernels forced for the host's
        env["OPENBLAS_CORETYPE"] = "Nehalem"
    if env_level is not None:
        env["INTRINSIC_FLOW_CPU"] = env_level
    return subprocess.run([*prefix, sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _results(env_level=None, prefix=()):
    done = _run(env_level, prefix)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_same_numbers(a, b):
    assert a["rank_lift"] == b["rank_lift"]
    for key in ("lift", "lift_jacobian", "flow"):
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.fixture(scope="module")
def default_results():
    return _results()


def test_build_info_reports_the_level_in_use():
    info = itf.build_info()
    assert info["cpu"] in ("baseline", "avx2", "avx512", "native")
    assert info["cpu"] in info["cpu_levels"]
    # Without INTRINSIC_FLOW_CPU the highest usable level is chosen.
    if not os.environ.get("INTRINSIC_FLOW_CPU"):
        assert info["cpu"] == info["cpu_levels"][-1]
    # The compiled module reports its own level: the loader imported the one it says.
    assert _core.build_info()["cpu"] == info["cpu"] == _core._level


@pytest.mark.parametrize("level", ["baseline", "avx2", "avx512"])
def test_each_level_gives_the_numbers_of_the_default(level, default_results):
    if level not in _core._levels:
        pytest.skip(f"{level} is not built or not supported by this CPU")
    forced = _results(level)
    assert forced["cpu"] == level
    simd = set(forced["simd"].split(", "))
    assert ("AVX2" in simd and "FMA" in simd) == (level != "baseline")
    assert ("AVX512" in simd) == (level == "avx512")
    _assert_same_numbers(forced, default_results)


@pytest.mark.parametrize("value", ["avx3", "AVX-512", "sse2", "1"])
def test_unknown_level_is_a_clear_error(value):
    done = _run(value)
    assert done.returncode != 0
    assert f"ValueError: INTRINSIC_FLOW_CPU={value!r} is not a CPU level; accepted: auto, baseline, avx2, avx512, native" \
        in done.stderr
    assert "Segmentation" not in done.stderr


def test_level_names_are_case_insensitive_and_auto_is_the_default(default_results):
    assert _results("auto")["cpu"] == default_results["cpu"]
    built = _core._levels[0]  # a source install builds only this machine's level
    assert _results(f" {built.capitalize()} ")["cpu"] == built


def test_choice_rules():
    choose = _core._choose
    assert choose(None, ["baseline", "avx2", "avx512"], ["baseline", "avx2"]) == "avx2"
    assert choose("", ["baseline", "avx2"], ["baseline", "avx2", "avx512"]) == "avx2"
    assert choose(None, ["native"], ["baseline"]) == "native"
    with pytest.raises(ImportError, match=r"INTRINSIC_FLOW_CPU='avx512': this CPU \(or its operating system\) "
                                          r"does not support avx512; usable on this CPU: baseline, avx2"):
        choose("avx512", ["baseline", "avx2", "avx512"], ["baseline", "avx2"])
    with pytest.raises(ImportError, match="INTRINSIC_FLOW_CPU='avx2': this installation has no avx2 core module; "
                                          "built: baseline"):
        choose("avx2", ["baseline"], ["baseline", "avx2"])
    with pytest.raises(ImportError, match="no core module this CPU can run"):
        choose(None, ["avx512"], ["baseline"])
    with pytest.raises(ValueError, match=r"INTRINSIC_FLOW_CPU='x' is not a CPU level"):
        choose("x", ["baseline"], ["baseline"])


def test_cpu_levels_are_ordered_and_start_with_baseline():
    from intrinsic_flow import _cpu

    levels = _cpu.supported_levels()
    assert levels[0] == "baseline"
    assert levels == [level for level in ("baseline", "avx2", "avx512") if level in levels]


QEMU = shutil.which("qemu-x86_64")


@pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 (Debian package qemu-user) is not installed")
@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64", reason="x86-64 Linux only")
def test_baseline_module_under_a_cpu_without_avx(default_results):
    """Nehalem has SSE4.2 but no AVX: the loader must pick the baseline module, which must not use
    any newer instruction (it would die with SIGILL) and must give the numbers of the default one."""
    if "baseline" not in _core._levels:
        pytest.skip("the baseline module is not built")
    emulated = _results(prefix=(QEMU, "-cpu", "Nehalem"))
    assert emulated["cpu"] == "baseline" and "AVX" not in emulated["simd"]
    _assert_same_numbers(emulated, default_results)
    refused = _run("avx2", prefix=(QEMU, "-cpu", "Nehalem"))
    assert refused.returncode != 0 and "does not support avx2" in refused.stderr


def test_core_classes_are_named_after_the_loader():
    """Pickled by reference as intrinsic_flow._core.X, so another machine resolves its own level."""
    import pickle

    assert _core.Lifting.__module__ == "intrinsic_flow._core"
    assert pickle.loads(pickle.dumps(_core.PathGraph)) is _core.PathGraph
