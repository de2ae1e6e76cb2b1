"""intrinsic-flow: conservation laws, intrinsic-dynamics criteria and flows of z = phi(theta).

The default backend runs on the C++ core (Eigen + OpenMP); ``intrinsic_flow.reference`` is the
same API in plain NumPy. Every public name is imported here by name; the topic modules
(``parsimony``, ``symmetries``, ``parameterizations``, ``torch``, ``reference``, …) load on first
attribute access, so ``import intrinsic_flow`` stays fast.
"""
from typing import TYPE_CHECKING, Any

from . import _core, _lazy, losses, results
if TYPE_CHECKING:  # a type checker sees the functions: the modules below are callable as them
    from .criteria import criteria
    from .scan import scan
else:  # modules that are also their main function (_callable_module)
    from . import criteria, scan
from ._checks import positive_int as _positive_int
from ._config import config
from ._rank import numerical_rank, singular_gap
from .criteria import balanced_representative, criteria_batch
from .flows import (gradient_flow, gradient_descent, intrinsic_metric, intrinsic_flow, compare_flows)
from .geometry import (lift, lift_jacobian, metric, metric_derivative, lift_vjp, lift_jvp, conserved,
                       conserved_jacobian, lift_gram, joint_gram, rank_info, rank_lift, rank_joint,
                       lift_batch, lift_jacobian_batch, lift_vjp_batch, lift_jvp_batch, metric_batch,
                       conserved_batch, conserved_jacobian_batch, lift_gram_batch, rank_lift_batch,
                       rank_joint_batch, path_norm)
from .lie import LIE_MAX_WORK, count_conservation_laws, known_laws_complete, lie_trace
from .models import DAGReLUNet, LinearNet, ReLUNet, SharedReLUNet
from .neural_ode import LinearNeuralODE
from .polynomial import PolynomialMap, polynomial_laws
from .results import (RankInfo, Criteria, INCLUSION_TOL, LieTrace, PolynomialLaws, Trajectory,
                      FlowComparison, FlowError)
from .scan import ScanResult, ScanSummary

__version__ = "0.1.0"


def build_info() -> dict[str, Any]:
    """The core in use: ``{"eigen": version, "openmp": bool, "threads": int, "cpu": level,
    "cpu_levels": [levels], "simd": str, "version": str}``.

    ``cpu`` is the instruction-set level of the core module imported ("baseline", "avx2",
    "avx512" or "native"; the environment variable INTRINSIC_FLOW_CPU chooses it, by default the
    best this CPU supports); ``cpu_levels`` lists the levels built and usable on this CPU, lowest
    first; ``simd`` the vector instruction sets Eigen uses in that module.

    Returns
    -------
    dict
        Keys ``eigen`` (str), ``openmp`` (bool), ``threads`` (int, the current thread count),
        ``cpu`` (str), ``cpu_levels`` (list of str), ``simd`` (str) and ``version`` (str, the
        package version).

    See Also
    --------
    set_num_threads

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> sorted(itf.build_info())
    ['cpu', 'cpu_levels', 'eigen', 'openmp', 'simd', 'threads', 'version']
    >>> itf.build_info()["cpu"] in itf.build_info()["cpu_levels"]
    True
    """
    info = dict(_core.build_info())
    info["cpu_levels"] = list(_core._levels)
    info["version"] = __version__
    return info


def set_num_threads(n: int) -> None:
    """Threads used by the core's parallel loops (default: OMP_NUM_THREADS or all cores).

    Results never depend on it: work is split over independent samples. The setting is
    process-wide; the ``n_threads`` option of ``criteria``, ``scan`` and the conservation-law
    counts overrides it for one call.

    Parameters
    ----------
    n : int
        Number of threads, >= 1.

    Raises
    ------
    ValueError
        When n is not an integer >= 1.

    See Also
    --------
    build_info

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> itf.set_num_threads(2)
    >>> itf.build_info()["threads"]
    2
    """
    _core.set_num_threads(_positive_int(n, "n"))


__all__ = ["ReLUNet", "DAGReLUNet", "SharedReLUNet", "LinearNet", "LinearNeuralODE", "PolynomialMap", "RankInfo",
           "numerical_rank", "singular_gap", "config", "build_info", "set_num_threads", "losses", "lift", "path_norm",
           "lift_jacobian", "metric", "metric_derivative", "lift_vjp", "lift_jvp", "conserved",
           "conserved_jacobian", "lift_gram", "joint_gram", "rank_info", "rank_lift", "rank_joint",
           "lift_batch", "lift_jacobian_batch", "lift_vjp_batch", "lift_jvp_batch", "metric_batch",
           "conserved_batch", "conserved_jacobian_batch", "lift_gram_batch", "rank_lift_batch",
           "rank_joint_batch", "Criteria", "criteria", "criteria_batch", "balanced_representative",
           "INCLUSION_TOL", "gradient_flow", "gradient_descent", "intrinsic_metric", "intrinsic_flow",
           "compare_flows", "Trajectory", "FlowComparison", "FlowError", "LIE_MAX_WORK", "LieTrace",
           "lie_trace", "count_conservation_laws", "known_laws_complete", "polynomial_laws",
           "PolynomialLaws", "scan", "ScanResult", "ScanSummary", "results"]

# Loaded when first asked for (PEP 562): the package does not import them up front.
__getattr__, __dir__ = _lazy.attach(__name__, {
    "cli", "datasets", "flows", "geometry", "inits", "lie", "models", "neural_ode", "parameterizations",
    "parsimony", "polynomial", "reference", "report", "reproductions", "symmetries", "torch"
}, globals())
