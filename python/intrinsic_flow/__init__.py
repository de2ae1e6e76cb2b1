"""intrinsic-flow: conservation laws, intrinsic-dynamics criteria and flows of z = phi(theta).

The default backend runs on the C++ core (Eigen + OpenMP); ``intrinsic_flow.reference`` is the
same API in plain NumPy.
"""
from . import _core
from ._checks import positive_int as _positive_int
from ._config import config
from ._rank import RankInfo, numerical_rank, singular_gap
from .geometry import *  # noqa: F401,F403
from .geometry import __all__ as _geometry_all
from .models import DAGReLUNet, LinearNet, ReLUNet
from .polynomial import PolynomialMap  # noqa: F401
from .neural_ode import LinearNeuralODE

# One module per topic, each listing its public names in __all__. The modules are bound first:
# criteria and scan export functions of their own name, which the star imports then bind.
from . import criteria as _criteria, flows as _flows, lie as _lie, losses, scan as _scan  # noqa: E402
from .criteria import *  # noqa: E402,F401,F403
from .flows import *  # noqa: E402,F401,F403
from .lie import *  # noqa: E402,F401,F403
from .scan import *  # noqa: E402,F401,F403

__version__ = "0.1.0"


def build_info() -> dict:
    """The core in use: ``{"eigen": version, "openmp": bool, "threads": int, "cpu": level,
    "cpu_levels": [levels], "simd": str, "version": str}``.

    ``cpu`` is the instruction-set level of the core module imported ("baseline", "avx2",
    "avx512" or "native"; the environment variable INTRINSIC_FLOW_CPU chooses it, by default the
    best this CPU supports); ``cpu_levels`` lists the levels built and usable on this CPU, lowest
    first; ``simd`` the vector instruction sets Eigen uses in that module.
    """
    info = dict(_core.build_info())
    info["cpu_levels"] = list(_core._levels)
    info["version"] = __version__
    return info


def set_num_threads(n: int) -> None:
    """Threads used by the core's parallel loops (default: OMP_NUM_THREADS or all cores).

    Results never depend on it: work is split over independent samples.
    """
    _core.set_num_threads(_positive_int(n, "n"))


__all__ = ["ReLUNet", "LinearNet", "DAGReLUNet", "LinearNeuralODE", "RankInfo", "numerical_rank", "singular_gap", "config",
           "build_info", "set_num_threads", "losses", *_geometry_all,
           *_criteria.__all__, *_flows.__all__, *_lie.__all__, *_scan.__all__]
