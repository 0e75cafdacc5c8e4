"""rnnprobe: measure how gradients and memory travel through recurrent networks.

The public API (see the README for a tour):

* architectures: :data:`architectures`, :func:`build`, :func:`adapt`, :class:`CellAdapter`;
* a forward pass: :func:`record` → :class:`Trajectory`;
* probes: :func:`jacobian_norms`, :func:`jacobian_singular_values`,
  :func:`jacobian_product`, :func:`gradient_norms`, :func:`gradient_bounds`,
  :func:`weight_spectrum`, :func:`memory_length`, :func:`lyapunov_spectrum`,
  :func:`memory_capacity`.

Importing rnnprobe is light: torch, numpy and scipy, never pandas or matplotlib.
"""

from rnnprobe.capacity import MemoryCapacity, memory_capacity
from rnnprobe.errors import InvalidArgument, RnnProbeError
from rnnprobe.gradients import GradientBounds, gradient_bounds, gradient_norms, step_norms
from rnnprobe.init import INIT_SCHEMES, init_matrix
from rnnprobe.lyapunov import lyapunov_spectrum, trajectory_lyapunov_spectrum
from rnnprobe.memory import MemoryLength, memory_length
from rnnprobe.models import (
    GRU,
    LSTM,
    MLP,
    ArchitectureSpec,
    CellAdapter,
    DenseMLP,
    DenseRNN,
    ResidualRNN,
    ResMLP,
    StepModel,
    TorchGRU,
    VanillaRNN,
    adapt,
    architectures,
    build,
)
from rnnprobe.nonlinearities import NONLINEARITIES
from rnnprobe.products import jacobian_norms, jacobian_product, jacobian_singular_values
from rnnprobe.spectrum import BlockSpectrum, WeightSpectrum, weight_spectrum
from rnnprobe.trajectory import Trajectory, record

__version__ = "0.1.0"

__all__ = [
    # errors
    "RnnProbeError", "InvalidArgument",
    # architectures
    "architectures", "build", "adapt", "CellAdapter", "ArchitectureSpec", "StepModel",
    "VanillaRNN", "ResidualRNN", "DenseRNN", "GRU", "TorchGRU", "LSTM", "MLP", "ResMLP", "DenseMLP",
    "INIT_SCHEMES", "init_matrix", "NONLINEARITIES",
    # trajectories
    "Trajectory", "record",
    # probes
    "jacobian_norms", "jacobian_singular_values", "jacobian_product",
    "gradient_norms", "gradient_bounds", "GradientBounds", "step_norms",
    "weight_spectrum", "WeightSpectrum", "BlockSpectrum",
    "memory_length", "MemoryLength",
    "lyapunov_spectrum", "trajectory_lyapunov_spectrum",
    "memory_capacity", "MemoryCapacity",
]
