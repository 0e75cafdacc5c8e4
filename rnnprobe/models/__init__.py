"""Architectures: one step of a chain, with its step Jacobian.

The public names load on first use (PEP 562), so that ``import rnnprobe`` can
re-export them without importing torch. :data:`_EXPORTS` is their one list:
:mod:`rnnprobe` exports every name in it too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# public name -> the submodule that defines it (loaded on first attribute access)
_EXPORTS = {
    # the abstraction and the families a model declares
    "FAMILIES": "rnnprobe.models.base",
    "StepModel": "rnnprobe.models.base",
    "RecurrentModel": "rnnprobe.models.base",
    "FeedForwardModel": "rnnprobe.models.base",
    # built-in architectures
    "VanillaRNN": "rnnprobe.models.vanilla",
    "ResidualRNN": "rnnprobe.models.vanilla",
    "DenseRNN": "rnnprobe.models.vanilla",
    "GRU": "rnnprobe.models.gated",
    "TorchGRU": "rnnprobe.models.gated",
    "LSTM": "rnnprobe.models.gated",
    "LRU": "rnnprobe.models.lru",
    "S4D": "rnnprobe.models.ssm",
    "S6": "rnnprobe.models.ssm",
    "MinGRU": "rnnprobe.models.mingated",
    "MinLSTM": "rnnprobe.models.mingated",
    "UnitaryRNN": "rnnprobe.models.unitary",
    "MLP": "rnnprobe.models.feedforward",
    "ResMLP": "rnnprobe.models.feedforward",
    "DenseMLP": "rnnprobe.models.feedforward",
    # a user's torch modules
    "adapt": "rnnprobe.models.adapters",
    "LayerAdapter": "rnnprobe.models.adapters",
    "CellAdapter": "rnnprobe.models.adapters",
    "cell_model": "rnnprobe.models.adapters",
    # the registry
    "ArchitectureSpec": "rnnprobe.models.registry",
    "architectures": "rnnprobe.models.registry",
    "build": "rnnprobe.models.registry",
    "register_architecture": "rnnprobe.models.registry",
    "unregister_architecture": "rnnprobe.models.registry",
}

__all__ = list(_EXPORTS)


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
    from rnnprobe.models.adapters import CellAdapter, LayerAdapter, adapt, cell_model
    from rnnprobe.models.base import FAMILIES, FeedForwardModel, RecurrentModel, StepModel
    from rnnprobe.models.feedforward import MLP, DenseMLP, ResMLP
    from rnnprobe.models.gated import GRU, LSTM, TorchGRU
    from rnnprobe.models.lru import LRU
    from rnnprobe.models.mingated import MinGRU, MinLSTM
    from rnnprobe.models.registry import (ArchitectureSpec, architectures, build, register_architecture,
                                          unregister_architecture)
    from rnnprobe.models.ssm import S4D, S6
    from rnnprobe.models.unitary import UnitaryRNN
    from rnnprobe.models.vanilla import DenseRNN, ResidualRNN, VanillaRNN
