"""The architecture palette: the architectures one study draws together stay apart, also for colour-blind readers.

Distances are CIELAB ΔE (CIE 1976) between the sRGB colours, in normal vision and
after the simulations of protanopia, deuteranopia and tritanopia of Machado,
Oliveira & Fernandes (2009, IEEE TVCG 15(6), severity 1.0 matrices, applied to
linear RGB). Lines of ΔE ≥ 15 are told apart at a glance; the old palette had
ΔE 11.7 (dense brown against residual pink, tritanopia) and 12.6 (vanilla-relu
orange against lstm vermilion, deuteranopia).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from rnnprobe.reports.palette import ARCH_PALETTE, EXTRA_LABELS, arch_color

SIMULATIONS = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _lab(colour, simulation) -> np.ndarray:
    c = np.asarray(to_rgb(colour))
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    linear = np.clip(SIMULATIONS[simulation] @ linear, 0.0, 1.0)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    t = xyz / np.array([0.9505, 1.0, 1.089])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _closest(names) -> tuple[float, str, str, str]:
    return min((float(np.linalg.norm(_lab(arch_color(a), s) - _lab(arch_color(b), s))), s, a, b)
               for a, b in itertools.combinations(names, 2) for s in SIMULATIONS)


def test_the_lab_conversion_against_known_values():
    np.testing.assert_allclose(_lab("white", "normal"), [100.0, 0.0, 0.0], atol=0.05)
    np.testing.assert_allclose(_lab("#ff0000", "normal"), [53.24, 80.09, 67.20], atol=0.1)    # sRGB red
    gray = _lab("#777777", "normal")
    for s in SIMULATIONS:                                  # the simulations leave greys grey
        np.testing.assert_allclose(_lab("#777777", s), gray, atol=0.6)


@pytest.mark.parametrize("names, at_least", [
    (("vanilla-tanh", "vanilla-relu", "gru", "gru-torch", "lstm", "residual", "dense", "lru", "mingru"), 15.0),  # vanishing
    (("vanilla-tanh", "gru", "gru-torch", "lstm", "residual", "dense"), 15.0),                  # memory study
    (("mlp", "resmlp", "densemlp", "stacked-rnn"), 35.0),                                       # depth study
])
def test_architectures_drawn_together_are_apart_in_every_vision(names, at_least):
    distance, simulation, a, b = _closest(names)
    assert distance >= at_least, (a, b, simulation, distance)


def test_one_colour_per_name_and_the_registry_order():
    colours = [ARCH_PALETTE[n] for n in ARCH_PALETTE]
    assert len(set(colours)) == len(colours)
    assert ARCH_PALETTE["vanilla-tanh"] == "#0173b2" and ARCH_PALETTE["lstm"] == "#d55e00"
    assert EXTRA_LABELS["stacked-rnn"] == ARCH_PALETTE["stacked-rnn"]
