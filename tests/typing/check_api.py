"""User code that mypy --strict must accept (tests/test_typing.py): every public function of
``intrinsic_flow`` called once, its result bound to a variable of the documented type. It is
type-checked only; the behaviour is tested elsewhere."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
import intrinsic_flow.results
from intrinsic_flow.losses import LiftedQuadratic, Regression


def geometry(model: itf.ReLUNet, theta: NDArray[np.float64]) -> None:
    thetas = np.stack([theta, theta])
    z: NDArray[np.float64] = itf.lift(model, theta)
    jac: NDArray[np.float64] = itf.lift_jacobian(model, theta)
    metric: NDArray[np.float64] = itf.metric(model, theta)
    moved: NDArray[np.float64] = itf.metric_derivative(model, theta, theta)
    back: NDArray[np.float64] = itf.lift_vjp(model, theta, z)
    forward: NDArray[np.float64] = itf.lift_jvp(model, theta, theta)
    laws: NDArray[np.float64] = itf.conserved(model, theta)
    laws_jac: NDArray[np.float64] = itf.conserved_jacobian(model, theta)
    gram: NDArray[np.float64] = itf.lift_gram(model, theta) + itf.joint_gram(model, theta)
    info: itf.RankInfo = itf.rank_info(model, theta, "joint")
    ranks: int = itf.rank_lift(model, theta) + itf.rank_joint(model, theta, rtol=1e-10) + info.rank
    batches = [itf.lift_batch(model, thetas), itf.lift_jacobian_batch(model, thetas), itf.metric_batch(model, thetas),
               itf.lift_vjp_batch(model, thetas, np.stack([z, z])), itf.lift_jvp_batch(model, thetas, thetas),
               itf.conserved_batch(model, thetas), itf.conserved_jacobian_batch(model, thetas),
               itf.lift_gram_batch(model, thetas)]
    batch_ranks: NDArray[np.int64] = itf.rank_lift_batch(model, thetas, method="exact") + itf.rank_joint_batch(model, thetas)
    reference_z: NDArray[np.float64] = ref.lift(model, theta)
    print(jac, metric, moved, back, forward, laws, laws_jac, gram, ranks, batches, batch_ranks, reference_z)


def criteria(model: itf.ReLUNet, theta: NDArray[np.float64]) -> bool:
    found: itf.Criteria = itf.criteria(model, theta, inclusion_tol=1e-8)
    found_list: list[itf.Criteria] = itf.criteria_batch(model, np.stack([theta, theta]))
    balanced: NDArray[np.float64] = itf.balanced_representative(model, theta)
    reference_found: itf.Criteria = ref.criteria(model, theta)
    print(found_list, balanced, itf.INCLUSION_TOL)
    return found.recoverable and reference_found.kernel_inclusion


def laws(model: itf.LinearNet) -> int:
    trace: itf.LieTrace = itf.lie_trace(model, seed=1)
    complete: bool = itf.known_laws_complete(model)
    poly = itf.PolynomialMap([{(1, 1): 1}], 2)
    found: itf.PolynomialLaws = itf.polynomial_laws(poly, 2)
    print(trace.dims_by_depth, complete, found.n_independent, itf.LIE_MAX_WORK)
    return itf.count_conservation_laws(model, exact=False) + trace.n_laws


def flows(model: itf.LinearNet, theta: NDArray[np.float64]) -> float:
    loss = LiftedQuadratic(np.zeros(model.n_lifted))
    flow: itf.Trajectory = itf.gradient_flow(model, theta, loss, 1.0, method="rk45", rtol=1e-6)
    steps: itf.Trajectory = itf.gradient_descent(model, theta, loss, 0.01, 10)
    data = Regression(np.ones((4, 2)), np.ones((4, 2)))
    fitted: itf.Trajectory = itf.gradient_flow(model, theta, data, 0.5, n_steps=10, save_at=[0.0, 0.5])
    kernel: NDArray[np.float64] = itf.intrinsic_metric(model, flow.z[0], flow.h[0])
    intrinsic: itf.Trajectory = itf.intrinsic_flow(model, flow.z[0], flow.h[0], loss, 1.0)
    compared: itf.FlowComparison = itf.compare_flows(model, theta, loss, 1.0, n_steps=100)
    print(steps.loss, fitted.z, kernel, intrinsic.t, compared.gaps, itf.FlowError.__name__)
    return compared.max_relative_gap


def scan() -> itf.ScanSummary:
    result: itf.ScanResult = itf.scan([itf.ReLUNet([2, 2, 1]), itf.DAGReLUNet(1, 1, [(0, 1), (1, 2)])], 4,
                                      init=["gaussian", "sparse:0.5"], progress=False)
    return result.summary()


def ranks_and_settings() -> int:
    info: itf.RankInfo = itf.singular_gap(np.eye(3))
    itf.set_num_threads(1)
    itf.config.max_bytes = 2**30
    build: dict[str, object] = itf.build_info()
    node = itf.LinearNeuralODE(2, 4)
    theta: NDArray[np.float64] = node.init(0, "relaxed_balanced", lam=1.0)
    trajectory_type: type[intrinsic_flow.results.Trajectory] = itf.Trajectory
    print(build, theta, trajectory_type)
    return itf.numerical_rank(np.eye(2), rtol=1e-12) + info.rank


if __name__ == "__main__":
    net = itf.ReLUNet([2, 3, 1], bias="hidden")
    geometry(net, net.init(0))
    print(criteria(net, net.init(0)), laws(itf.LinearNet([2, 2, 2])), scan(), ranks_and_settings())
    linear = itf.LinearNet([2, 2, 2])
    print(flows(linear, linear.init(0, "relaxed_balanced", lambdas=0.5)))
