"""The NumPy reference backend: the ground truth, same API as ``intrinsic_flow``, no compiled code."""
from .._rank import RankInfo, numerical_rank, singular_gap
from ..models import DAGReLUNet, LinearNet, ReLUNet
from ..neural_ode import LinearNeuralODE
from .geometry import *  # noqa: F401,F403
from .geometry import __all__ as _geometry_all
from .criteria import *  # noqa: F401,F403
from .flows import *  # noqa: F401,F403
from .lie import *  # noqa: F401,F403
from . import criteria as _criteria, flows as _flows, lie as _lie

__all__ = ["ReLUNet", "LinearNet", "DAGReLUNet", "LinearNeuralODE", "RankInfo", "numerical_rank", "singular_gap", *_geometry_all,
           *_criteria.__all__, *_flows.__all__, *_lie.__all__]
