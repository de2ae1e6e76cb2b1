"""The NumPy reference backend: the ground truth, same API as ``intrinsic_flow``, no compiled code.
Every public name is imported here by name; the paper modules (``parsimony``, ``symmetries``,
``parameterizations``) load on first attribute access."""
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type checker sees the function: the module below is callable as it
    from .criteria import criteria
else:  # a module that is also its main function (_callable_module)
    from . import criteria
from .. import _lazy
from .._rank import numerical_rank, singular_gap
from ..models import DAGReLUNet, LinearNet, ReLUNet, SharedReLUNet
from ..neural_ode import LinearNeuralODE
from ..polynomial import PolynomialMap, polynomial_laws
from ..results import (RankInfo, Criteria, INCLUSION_TOL, LieTrace, PolynomialLaws, Trajectory,
                       FlowComparison, FlowError)
from .criteria import balanced_representative, criteria_batch
from .flows import (gradient_flow, gradient_descent, intrinsic_metric, intrinsic_flow, compare_flows)
from .geometry import (lift, lift_jacobian, metric, metric_derivative, lift_vjp, lift_jvp, conserved,
                       conserved_jacobian, lift_gram, joint_gram, rank_info, rank_lift, rank_joint,
                       lift_batch, lift_jacobian_batch, lift_vjp_batch, lift_jvp_batch, metric_batch,
                       conserved_batch, conserved_jacobian_batch, lift_gram_batch, rank_lift_batch,
                       rank_joint_batch, path_norm)
from .lie import LIE_MAX_WORK, count_conservation_laws, known_laws_complete, lie_trace

__all__ = ["ReLUNet", "DAGReLUNet", "SharedReLUNet", "LinearNet", "LinearNeuralODE", "RankInfo", "numerical_rank",
           "singular_gap", "lift", "path_norm", "lift_jacobian", "metric", "metric_derivative", "lift_vjp", "lift_jvp",
           "conserved", "conserved_jacobian", "lift_gram", "joint_gram", "rank_info", "rank_lift",
           "rank_joint", "lift_batch", "lift_jacobian_batch", "lift_vjp_batch", "lift_jvp_batch",
           "metric_batch", "conserved_batch", "conserved_jacobian_batch", "lift_gram_batch",
           "rank_lift_batch", "rank_joint_batch", "Criteria", "criteria", "criteria_batch",
           "balanced_representative", "INCLUSION_TOL", "gradient_flow", "gradient_descent",
           "intrinsic_metric", "intrinsic_flow", "compare_flows", "Trajectory", "FlowComparison",
           "FlowError", "LIE_MAX_WORK", "LieTrace", "lie_trace", "count_conservation_laws",
           "known_laws_complete", "polynomial_laws", "PolynomialMap", "PolynomialLaws"]

# Loaded when first asked for (PEP 562): the package does not import them up front.
__getattr__, __dir__ = _lazy.attach(__name__, {
    "criteria", "flows", "geometry", "lie", "lifting", "linear", "neural_ode", "parameterizations",
    "parsimony", "symmetries"
}, globals())
