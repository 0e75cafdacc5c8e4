"""One colour per architecture, used by every figure; the report's matplotlib style.

:data:`ARCH_PALETTE` is the single definition of the colours: the architectures of
:data:`rnnprobe.architectures`, in registration order, take the colours of
:data:`ARCH_COLOURS` in order (colour-blind safe, from seaborn's ``colorblind`` and
``dark`` palettes), so an architecture registered later takes the next free colour
and every existing one keeps its own. Labels a study draws that are not registry
architectures (``stacked-rnn``) have fixed colours in :data:`EXTRA_LABELS`.
Variants of one architecture (e.g. LSTMs with different forget-gate biases) get
shades of its colour, light to dark, so the family stays recognisable.

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
from collections.abc import Iterator, Mapping

import matplotlib
import matplotlib.colors as mcolors

from rnnprobe.models.registry import architectures

__all__ = ["ARCH_PALETTE", "ARCH_COLOURS", "EXTRA_LABELS", "arch_color", "variant_palette", "GAIN_LINESTYLES",
           "linestyle_for", "REPORT_RC", "report_style"]

#: The colours architectures take, in registration order: vanilla-tanh blue, vanilla-relu orange,
#: vanilla-sigmoid olive, vanilla-linear grey, gru green, gru-torch light green, lstm vermilion, residual
#: wine, dense dark brown; the stacks mlp sky blue, resmlp dark purple, densemlp dark red; then the
#: architectures registered after them (lru cyan, s4d indigo, s6 dark green, mingru pink, minlstm rust,
#: unitary violet, in the order they are registered; then teal, magenta and gold for the next ones, and for
#: labels that are not architectures). Chosen from the colour-blind-safe sets of Okabe & Ito,
#: Paul Tol and seaborn so that the architectures one study draws together stay apart in normal vision and
#: in simulated protanopia, deuteranopia and tritanopia (CIELAB ΔE ≥ 15 for the vanishing and memory
#: studies' recurrent nets, ≥ 35 for the depth study's stacks; tests/test_palette.py). Past the end, tints
#: of the same colours, in order.
ARCH_COLOURS = ("#0173b2", "#e69f00", "#999933", "#949494", "#029e73", "#80ba5a", "#d55e00", "#aa3377", "#592f0d",
                "#56b4e9", "#591e71", "#8c0800",
                "#33bbee", "#332288", "#117733", "#cc79a7", "#b1400d", "#7f3c8d",
                "#009988", "#ee3377", "#ddaa33")

#: Labels studies draw that are not registry architectures, with their own colours (not in ARCH_COLOURS).
EXTRA_LABELS = {
    "stacked-rnn": "#de8f05",   # orange: stacked vanilla RNN layers probed through depth (depth study)
}


def _tint(colour: str, amount: float) -> str:
    rgb = mcolors.to_rgb(colour)
    return mcolors.to_hex(tuple(c + (1.0 - c) * amount for c in rgb))


def _nth_colour(i: int) -> str:
    rounds, k = divmod(i, len(ARCH_COLOURS))
    return ARCH_COLOURS[k] if rounds == 0 else _tint(ARCH_COLOURS[k], 1.0 - 0.6**rounds)


class _ArchPalette(Mapping):
    """Architecture name -> colour (hex): the registry's names in order, then :data:`EXTRA_LABELS`.

    Read from :data:`rnnprobe.architectures` at every lookup, so an architecture
    registered at run time has its colour at once.
    """

    def _colours(self) -> dict[str, str]:
        out = {name: _nth_colour(i) for i, name in enumerate(architectures)}
        out.update((k, v) for k, v in EXTRA_LABELS.items() if k not in out)
        return out

    def __getitem__(self, name: str) -> str:
        return self._colours()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._colours())

    def __len__(self) -> int:
        return len(self._colours())

    def __repr__(self) -> str:
        return f"ARCH_PALETTE({self._colours()!r})"


#: Architecture name -> colour (hex). Defined once, from the registry; every figure uses it.
ARCH_PALETTE: Mapping[str, str] = _ArchPalette()


def arch_color(name: str) -> str:
    """The colour of an architecture (for an unknown name, a stable one among the colours no architecture takes)."""
    name = str(name)
    palette = ARCH_PALETTE._colours()
    if name in palette:
        return palette[name]
    taken = set(palette.values())
    spare = [c for c in ARCH_COLOURS if c not in taken] or list(ARCH_COLOURS)
    digest = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    return spare[digest % len(spare)]


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
