"""The NumPy reference backend: the ground truth, same API as ``intrinsic_flow``, no compiled code."""
from .._rank import RankInfo, numerical_rank, singular_gap
from ..models import DAGReLUNet, LinearNet, ReLUNet
from ..polynomial import PolynomialMap  # noqa: F401
from ..neural_ode import LinearNeuralODE
from .geometry import *  # noqa: F401,F403
from .geometry import __all__ as _geometry_all
from . import criteria as _criteria, flows as _flows, lie as _lie  # bound before criteria() shadows its module
from .criteria import *  # noqa: F401,F403
from .flows import *  # noqa: F401,F403
from .lie import *  # noqa: F401,F403

__all__ = ["ReLUNet", "LinearNet", "DAGReLUNet", "LinearNeuralODE", "RankInfo", "numerical_rank", "singular_gap", *_geometry_all,
           *_criteria.__all__, *_flows.__all__, *_lie.__all__]
