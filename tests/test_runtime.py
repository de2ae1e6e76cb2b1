"""Runtime: build information, thread control, and input validation that never crashes."""
import os
import subprocess
import sys

import numpy as np
import pytest

import intrinsic_flow as itf
from intrinsic_flow import LinearNet, ReLUNet


def test_build_info_reports_eigen_openmp_threads_and_cpu_level():
    info = itf.build_info()
    assert info["eigen"].startswith("3.4")
    assert isinstance(info["openmp"], bool) and info["threads"] >= 1
    assert info["cpu"] in info["cpu_levels"] and set(info["cpu_levels"]) <= {"baseline", "avx2", "avx512", "native"}
    assert info["simd"] and info["version"] == itf.__version__


def test_threads_follow_OMP_NUM_THREADS():
    code = "import intrinsic_flow as f; print(f.build_info()['threads'])"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize("n", [0, -1, 1.5, "2"])
def test_set_num_threads_rejects_bad_counts(n):
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        itf.set_num_threads(n)


# -- theta --------------------------------------------------------------------------------

@pytest.fixture(params=[ReLUNet([3, 4, 2], bias=True), LinearNet([2, 3, 2])], ids=["relu", "linear"])
def model(request):
    return request.param


def test_wrong_length_of_theta(backend, model):
    with pytest.raises(ValueError, match=rf"theta has shape \({model.n_params - 1},\), expected \(n_params,\) = \({model.n_params},\)"):
        backend.lift(model, np.zeros(model.n_params - 1))
    with pytest.raises(ValueError, match="flat vector"):
        backend.lift_jacobian(model, np.zeros((1, model.n_params)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_theta(backend, model, bad):
    theta = model.init(0)
    theta[1] = bad
    with pytest.raises(ValueError, match=r"theta contains a non-finite value .* at index \(1,\)"):
        backend.metric(model, theta)
    with pytest.raises(ValueError, match=r"thetas contains a non-finite value .* at index \(0, 1\)"):
        backend.lift_batch(model, theta[None, :])


def test_float32_and_non_contiguous_input_are_converted(backend, model):
    theta = model.init(0)
    expected = backend.lift_jacobian(model, theta)
    np.testing.assert_allclose(backend.lift_jacobian(model, theta.astype(np.float32)), expected, rtol=1e-6)
    strided = np.empty(2 * model.n_params)
    strided[::2] = theta
    np.testing.assert_array_equal(backend.lift_jacobian(model, strided[::2]), expected)
    thetas = np.asfortranarray(np.stack([theta, theta]))
    np.testing.assert_array_equal(backend.lift_jacobian_batch(model, thetas)[1], expected)
    np.testing.assert_array_equal(backend.lift(model, list(theta)), backend.lift(model, theta))


def test_bad_batches(backend, model):
    with pytest.raises(ValueError, match=r"thetas must have shape \(B, n_params\)"):
        backend.lift_batch(model, np.zeros((3, model.n_params + 1)))
    with pytest.raises(ValueError, match=r"thetas must have shape \(B, n_params\)"):
        backend.lift_batch(model, np.zeros((0, model.n_params)))


def test_results_over_max_bytes_are_refused_before_allocating(backend, restore_max_bytes):
    net = ReLUNet([8, 64, 64, 1])  # 32768 paths, D = 4672: J would be 1.1 GiB
    restore_max_bytes.max_bytes = 2**30
    with pytest.raises(ValueError, match=r"the Jacobian \(d x D\) would need 1\.1 GiB .* intrinsic_flow\.config\.max_bytes = 1\.0 GiB"):
        backend.lift_jacobian(net, net.init(0))
    with pytest.raises(ValueError, match=r"the metric \(d x d\) and Jacobian would need"):
        backend.metric(net, net.init(0))
    theta = net.init(0)  # drawn first: init refuses a theta beyond max_bytes too
    restore_max_bytes.max_bytes = 1000
    with pytest.raises(ValueError, match=r"the Gram matrix \(D x D\) would need"):
        backend.rank_lift(net, theta)


def test_bad_rtol(backend, model):
    with pytest.raises(ValueError, match="rtol must be a number in"):
        backend.rank_lift(model, model.init(0), rtol=2.0)
    with pytest.raises(ValueError, match="which must be 'lift' or 'joint'"):
        backend.rank_info(model, model.init(0), which="both")


def test_numerical_rank_conventions():
    A = np.diag([1.0, 1e-3, 1e-17])
    assert itf.numerical_rank(A) == 2
    assert itf.numerical_rank(A, rtol=1e-2) == 1
    info = itf.singular_gap(A)
    assert (info.sigma_kept, info.sigma_dropped) == (1e-3, 1e-17)
    with pytest.raises(ValueError, match="A must be a 2-D matrix"):
        itf.numerical_rank(np.zeros(3))


# -- the core validates what it is given, whatever the Python layer does -------------------

def test_core_rejects_malformed_graphs_without_crashing():
    core = itf._core
    with pytest.raises(ValueError, match="cycle"):
        core.PathGraph(4, 1, 1, [0, 1, 2, 1], [1, 2, 1, 3])
    with pytest.raises(ValueError, match="out of range"):
        core.PathGraph(3, 1, 1, [0, 7], [1, 2])
    with pytest.raises(ValueError, match="differ in length"):
        core.PathGraph(3, 1, 1, [0], [1, 2])
    with pytest.raises(ValueError, match="widths must be positive"):
        core.LinearChain([2, 0, 2])


def test_core_rejects_wrong_lengths_and_unprepared_paths():
    graph = itf._core.PathGraph(3, 1, 1, [0, 1], [1, 2])
    with pytest.raises(RuntimeError, match="paths are not enumerated"):
        graph.lift(np.ones(2))
    graph.enumerate_paths(10.0)
    with pytest.raises(ValueError, match="theta has length 3, expected n_params = 2"):
        graph.lift(np.ones(3))
    with pytest.raises(ValueError, match="thetas has 3 columns"):
        graph.lift_batch(np.ones((2, 3)))
    np.testing.assert_array_equal(graph.lift(np.array([2.0, 3.0])), [6.0])


def test_the_core_stub_lists_every_name_of_the_core():
    """python/intrinsic_flow/_core.pyi (typed signatures) must not go stale after a core change."""
    import ast
    import pathlib

    stub = pathlib.Path(itf.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    listed = next(node.value for node in tree.body if isinstance(node, ast.AnnAssign) and node.target.id == "__all__")
    stub_names = {element.value for element in listed.elts}
    core_names = {name for name in dir(itf._core) if not name.startswith("_")}
    assert stub_names == core_names
