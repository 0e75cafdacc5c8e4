"""rnnprobe: measure how gradients and memory travel through recurrent networks.

The public API (see the README for a tour):

* architectures: :data:`architectures`, :func:`build`, :func:`adapt`, :class:`CellAdapter`,
  every public name of :mod:`rnnprobe.models` (its model classes included);
* a forward pass: :func:`record` → :class:`Trajectory`;
* probes: :func:`jacobian_norms`, :func:`jacobian_singular_values`,
  :func:`jacobian_product`, :func:`gradient_norms`, :func:`gradient_bounds`,
  :func:`weight_spectrum`, :func:`memory_length`, :func:`lyapunov_spectrum`,
  :func:`covariant_lyapunov_vectors`, :func:`memory_capacity`, :func:`path_lengths`,
  :func:`block_singular_values` (per unit, for diagonal recurrences), :func:`parameter_sensitivity`;
* what sets the decay of gradients, by cause: :func:`diagnose` → :class:`Diagnosis`;
* during training: :class:`ProbeMonitor`, and gradient flossing (:func:`lyapunov_exponents`,
  :func:`flossing_loss`); the char-RNN: the subpackage :mod:`rnnprobe.sequence`;
* published theory to compare with: the subpackage :mod:`rnnprobe.theory`;
* beyond chains: :func:`input_gradient_norms`, :func:`input_jacobian_norms` for any sequence
  model; the encoder–decoder with attention, causal self-attention, copy/reverse tasks and the
  attention/recurrence path split in the subpackage :mod:`rnnprobe.attention`;
* studies (sweeps over a grid) from Python: :func:`rnnprobe.studies.run`, whose
  tables follow :mod:`rnnprobe.schema` (analysis: :mod:`rnnprobe.analysis`,
  reports: :mod:`rnnprobe.reports`; these load pandas and matplotlib when used);
* for your own tests: :mod:`rnnprobe.strategies` (hypothesis) and :mod:`rnnprobe.testing`.

Importing rnnprobe is light: torch, numpy and scipy, never pandas or matplotlib.
The public names are loaded on first use (PEP 562), so that ``import rnnprobe.cli``
(the command line) does not pay for importing torch: ``rnnprobe --help`` answers at once.

Examples
--------
>>> import rnnprobe
>>> "record" in rnnprobe.__all__ and callable(rnnprobe.record)
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rnnprobe import models as _models    # light: rnnprobe.models loads its own names lazily too

__version__ = "0.1.0"

# public name -> the submodule that defines it (loaded on first attribute access)
_EXPORTS = {
    # errors
    "RnnProbeError": "rnnprobe.errors",
    "InvalidArgument": "rnnprobe.errors",
    # architectures: every public name of rnnprobe.models (one list, there)
    **{name: "rnnprobe.models" for name in _models.__all__},
    "INIT_SCHEMES": "rnnprobe.init",
    "init_matrix": "rnnprobe.init",
    "NONLINEARITIES": "rnnprobe.nonlinearities",
    # trajectories
    "Trajectory": "rnnprobe.trajectory",
    "record": "rnnprobe.trajectory",
    # probes
    "jacobian_norms": "rnnprobe.products",
    "jacobian_singular_values": "rnnprobe.products",
    "jacobian_product": "rnnprobe.products",
    "gradient_norms": "rnnprobe.gradients",
    "gradient_bounds": "rnnprobe.gradients",
    "GradientBounds": "rnnprobe.gradients",
    "step_norms": "rnnprobe.gradients",
    "weight_spectrum": "rnnprobe.spectrum",
    "WeightSpectrum": "rnnprobe.spectrum",
    "BlockSpectrum": "rnnprobe.spectrum",
    "memory_length": "rnnprobe.memory",
    "MemoryLength": "rnnprobe.memory",
    "lyapunov_spectrum": "rnnprobe.lyapunov",
    "trajectory_lyapunov_spectrum": "rnnprobe.lyapunov",
    "covariant_lyapunov_vectors": "rnnprobe.clv",
    "trajectory_covariant_lyapunov_vectors": "rnnprobe.clv",
    "CovariantLyapunovVectors": "rnnprobe.clv",
    "memory_capacity": "rnnprobe.capacity",
    "MemoryCapacity": "rnnprobe.capacity",
    "CapacityResolutionWarning": "rnnprobe.capacity",
    "path_lengths": "rnnprobe.paths",
    "PathLengths": "rnnprobe.paths",
    "parameter_sensitivity": "rnnprobe.sensitivity",
    "block_singular_values": "rnnprobe.blocks",
    # what sets the decay: the diagnosis
    "diagnose": "rnnprobe.diagnosis",
    "Diagnosis": "rnnprobe.diagnosis",
    # beyond chains: input gradients of any sequence model; attention (rnnprobe.attention)
    "input_gradient_norms": "rnnprobe.input_gradients",
    "input_jacobian_norms": "rnnprobe.input_gradients",
    "EncoderDecoder": "rnnprobe.attention",
    "CausalSelfAttention": "rnnprobe.attention",
    "CausalTransformer": "rnnprobe.attention",
    "SequenceTask": "rnnprobe.attention",
    "dot_attention": "rnnprobe.attention",
    "attention_path_split": "rnnprobe.attention",
    "PathSplit": "rnnprobe.attention",
    "train_seq2seq": "rnnprobe.attention",
    "evaluate_seq2seq": "rnnprobe.attention",
    "alignment_accuracy": "rnnprobe.attention",
    # training: the monitor and gradient flossing
    "ProbeMonitor": "rnnprobe.monitor",
    "lyapunov_exponents": "rnnprobe.flossing",
    "flossing_loss": "rnnprobe.flossing",
}

__all__ = [
    # errors
    "RnnProbeError", "InvalidArgument",
    # architectures
    *_models.__all__,
    "INIT_SCHEMES", "init_matrix", "NONLINEARITIES",
    # trajectories
    "Trajectory", "record",
    # probes
    "jacobian_norms", "jacobian_singular_values", "jacobian_product",
    "gradient_norms", "gradient_bounds", "GradientBounds", "step_norms",
    "weight_spectrum", "WeightSpectrum", "BlockSpectrum",
    "memory_length", "MemoryLength",
    "lyapunov_spectrum", "trajectory_lyapunov_spectrum",
    "covariant_lyapunov_vectors", "trajectory_covariant_lyapunov_vectors", "CovariantLyapunovVectors",
    "memory_capacity", "MemoryCapacity", "CapacityResolutionWarning",
    "path_lengths", "PathLengths",
    "parameter_sensitivity", "block_singular_values",
    "diagnose", "Diagnosis",
    # beyond chains
    "input_gradient_norms", "input_jacobian_norms",
    "EncoderDecoder", "CausalSelfAttention", "CausalTransformer", "SequenceTask", "dot_attention",
    "attention_path_split", "PathSplit", "train_seq2seq", "evaluate_seq2seq", "alignment_accuracy",
    # training: the monitor and gradient flossing
    "ProbeMonitor", "lyapunov_exponents", "flossing_loss",
]


def __getattr__(name: str):
    """Load a public name (or a submodule) on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value          # later lookups skip __getattr__
        return value
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from rnnprobe.attention import (CausalSelfAttention, CausalTransformer, EncoderDecoder, PathSplit,
                                    SequenceTask, alignment_accuracy, attention_path_split, dot_attention,
                                    evaluate_seq2seq, train_seq2seq)
    from rnnprobe.capacity import CapacityResolutionWarning, MemoryCapacity, memory_capacity
    from rnnprobe.clv import (CovariantLyapunovVectors, covariant_lyapunov_vectors,
                              trajectory_covariant_lyapunov_vectors)
    from rnnprobe.diagnosis import Diagnosis, diagnose
    from rnnprobe.errors import InvalidArgument, RnnProbeError
    from rnnprobe.flossing import flossing_loss, lyapunov_exponents
    from rnnprobe.gradients import GradientBounds, gradient_bounds, gradient_norms, step_norms
    from rnnprobe.init import INIT_SCHEMES, init_matrix
    from rnnprobe.input_gradients import input_gradient_norms, input_jacobian_norms
    from rnnprobe.lyapunov import lyapunov_spectrum, trajectory_lyapunov_spectrum
    from rnnprobe.memory import MemoryLength, memory_length
    from rnnprobe.models import *  # noqa: F403 - every name of rnnprobe.models.__all__
    from rnnprobe.monitor import ProbeMonitor
    from rnnprobe.nonlinearities import NONLINEARITIES
    from rnnprobe.blocks import block_singular_values
    from rnnprobe.paths import PathLengths, path_lengths
    from rnnprobe.sensitivity import parameter_sensitivity
    from rnnprobe.products import jacobian_norms, jacobian_product, jacobian_singular_values
    from rnnprobe.spectrum import BlockSpectrum, WeightSpectrum, weight_spectrum
    from rnnprobe.trajectory import Trajectory, record
