"""One colour per architecture, used by every figure; the report's matplotlib style.

:data:`ARCH_PALETTE` is the single definition of the colours (colour-blind safe,
from seaborn's ``colorblind`` and ``dark`` palettes). Variants of one
architecture (e.g. LSTMs with different forget-gate biases) get shades of its
colour, light to dark, so the family stays recognisable.

Examples
--------
>>> from rnnprobe.reports.palette import ARCH_PALETTE, arch_color, variant_palette
>>> arch_color("lstm") == ARCH_PALETTE["lstm"]
True
>>> pal = variant_palette(["lstm b_f=0", "lstm b_f=3", "gru"], arch_of={"lstm b_f=0": "lstm", "lstm b_f=3": "lstm", "gru": "gru"})
>>> pal["gru"] == ARCH_PALETTE["gru"], pal["lstm b_f=0"] != pal["lstm b_f=3"]
(True, True)
"""

from __future__ import annotations

import contextlib
import hashlib

import matplotlib
import matplotlib.colors as mcolors

__all__ = ["ARCH_PALETTE", "arch_color", "variant_palette", "GAIN_LINESTYLES", "linestyle_for",
           "REPORT_RC", "report_style"]

_CB = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133", "#56b4e9"]
_DARK = ["#001c7f", "#b1400d", "#12711c", "#8c0800", "#591e71", "#592f0d", "#a23582", "#3c3c3c", "#b8850a", "#006374"]

#: Architecture name -> colour (hex). Defined once; every figure uses it.
ARCH_PALETTE: dict[str, str] = {
    "vanilla-tanh": _CB[0],     # blue
    "vanilla-relu": _CB[1],     # orange
    "vanilla-sigmoid": _CB[8],  # yellow
    "vanilla-linear": _CB[7],   # grey
    "gru": _CB[2],              # green
    "gru-torch": _CB[9],        # sky blue
    "lstm": _CB[3],             # vermilion
    "residual": _CB[4],         # purple
    "dense": _CB[5],            # brown
    "mlp": _DARK[0],            # navy: the plain stack
    "resmlp": _DARK[4],         # dark purple: residual stack (cf. residual)
    "densemlp": _DARK[5],       # dark brown: dense stack (cf. dense)
    "stacked-rnn": _DARK[9],    # dark teal: stacked vanilla RNN layers probed through depth (depth study)
}

_EXTRA = [_CB[6], _DARK[9], _DARK[2], _DARK[8], _DARK[6], _DARK[3], _DARK[7], _DARK[1]]


def arch_color(name: str) -> str:
    """The colour of an architecture (a stable colour from a reserve list for unknown names)."""
    name = str(name)
    if name in ARCH_PALETTE:
        return ARCH_PALETTE[name]
    digest = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    return _EXTRA[digest % len(_EXTRA)]


def variant_palette(variants, arch_of=None) -> dict[str, str]:
    """Colours for variant labels: the architecture's colour, in shades when it has several variants.

    Parameters
    ----------
    variants : iterable of str
        Labels such as ``'lstm b_f=3'``, in display order.
    arch_of : mapping, optional
        Variant -> architecture (default: the label's first word).

    Returns
    -------
    dict
        Variant -> hex colour (exactly :data:`ARCH_PALETTE`'s for a lone variant).
    """
    variants = list(dict.fromkeys(map(str, variants)))
    arch_of = dict(arch_of or {})
    families: dict[str, list[str]] = {}
    for v in variants:
        families.setdefault(str(arch_of.get(v, v.split(" ")[0])), []).append(v)
    out = {}
    for arch, members in families.items():
        base = mcolors.to_rgb(arch_color(arch))
        if len(members) == 1:
            out[members[0]] = arch_color(arch)
            continue
        # from a lighter tint to a darker shade of the same hue
        for i, v in enumerate(members):
            t = -0.45 + 0.85 * i / (len(members) - 1)      # -0.45 (lighter) .. +0.40 (darker)
            target = (1.0, 1.0, 1.0) if t < 0 else (0.0, 0.0, 0.0)
            a = abs(t)
            out[v] = mcolors.to_hex(tuple((1 - a) * c + a * w for c, w in zip(base, target)))
    return out


#: Line styles for the gains of one architecture, lowest gain first.
GAIN_LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]


def linestyle_for(i: int):
    """The i-th line style (cycled)."""
    return GAIN_LINESTYLES[i % len(GAIN_LINESTYLES)]


#: matplotlib rc settings of the reports: readable fonts, light grids, embeddable text.
REPORT_RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8.5,
    "legend.title_fontsize": 9,
    "figure.titlesize": 12,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "pdf.fonttype": 42,        # TrueType: text stays text (searchable, extractable)
    "ps.fonttype": 42,
    "savefig.dpi": 150,
    "figure.dpi": 100,
}


@contextlib.contextmanager
def report_style():
    """Context manager: the reports' matplotlib style (Agg-safe; restores the caller's settings).

    Examples
    --------
    >>> import matplotlib
    >>> with report_style():
    ...     matplotlib.rcParams["pdf.fonttype"]
    42
    """
    with matplotlib.rc_context(REPORT_RC):
        yield
