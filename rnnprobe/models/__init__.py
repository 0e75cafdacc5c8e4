"""Architectures: one step of a chain, with its step Jacobian."""

from rnnprobe.models.adapters import CellAdapter, LayerAdapter, adapt
from rnnprobe.models.base import FeedForwardModel, RecurrentModel, StepModel
from rnnprobe.models.feedforward import MLP, DenseMLP, ResMLP
from rnnprobe.models.gated import GRU, LSTM, TorchGRU
from rnnprobe.models.registry import ArchitectureSpec, architectures, build
from rnnprobe.models.vanilla import DenseRNN, ResidualRNN, VanillaRNN

__all__ = [
    "StepModel", "RecurrentModel", "FeedForwardModel",
    "VanillaRNN", "ResidualRNN", "DenseRNN", "GRU", "TorchGRU", "LSTM",
    "MLP", "ResMLP", "DenseMLP",
    "adapt", "LayerAdapter", "CellAdapter",
    "ArchitectureSpec", "architectures", "build",
]
