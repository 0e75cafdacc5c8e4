"""The training study's report pages: loss curves, G(k) over training, memory and λ₁ against the step, samples.

Figure functions take the frames of :mod:`rnnprobe.analysis.training` and draw
them (one colour per architecture, flossed runs dashed); caption functions read
their numbers off the same frames, so a caption always states what its figure
shows. :func:`figure_specs`, :func:`summary_display` and :data:`METHODS` are what
:func:`rnnprobe.reports.write_report` assembles into the study's PDF.

Examples
--------
>>> import pandas as pd
>>> curves = pd.DataFrame({"arch": "gru", "variant": "gru", "metric": "val_bits_per_char", "step": [0, 100],
...                        "median": [7.3, 3.1], "low": [7.3, 3.1], "high": [7.3, 3.1], "n_seeds": 1})
>>> fig = plot_training_curves(curves)
>>> [ax.get_ylabel() for ax in fig.axes]
['validation cross-entropy (bits/char)']
>>> curves_caption(curves)[:60]
'Cross-entropy on the validation text (the last 10% of the co'
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.transforms import ScaledTranslation

from rnnprobe.reports._plotting import check_frame, new_figure, palette_of, panel_grid, tidy_log_axis, variant_order
from rnnprobe.reports.palette import arch_color
from rnnprobe.reports.tables import format_value

__all__ = ["plot_training_curves", "plot_gradient_profiles", "plot_training_measures", "plot_weight_norms",
           "plot_samples", "curves_caption", "profiles_caption", "measures_caption", "weight_norms_caption",
           "samples_caption", "figure_specs", "summary_display", "summary_note", "METHODS", "REFERENCES"]

_CURVE_LABELS = {"val_bits_per_char": "validation cross-entropy (bits/char)",
                 "train_bits_per_char": "training cross-entropy (bits/char)"}
_MEASURE_LABELS = {"memory_threshold": "memory threshold (steps)", "memory_efold": "e-folding time (steps)",
                   "lyapunov_exponent": "λ₁ (per step)", "sigma_max": "σ_max (largest block)",
                   "val_bits_per_char": "validation bits/char"}
_STAGE_SHADES = {"initialisation": 0.55, "middle": 0.3, "end": 0.0}


def _flossed(variant: str) -> bool:
    return "flossed" in variant


def _style(variant: str) -> str:
    return "--" if _flossed(variant) else "-"


def _colours(data: pd.DataFrame) -> dict:
    """Variant -> colour: the architecture's own colour (a flossed run is told apart by its dashes)."""
    out = {}
    for v in variant_order(data):
        arch = str(data.loc[data["variant"].astype(str) == v, "arch"].iloc[0]) if "arch" in data else v
        try:
            out[v] = arch_color(arch)
        except Exception:  # noqa: BLE001 - an unknown label: the variant palette's colour
            out[v] = palette_of(data)[v]
    return out


def _handles(colours: dict) -> list:
    return [Line2D([], [], color=c, linestyle=_style(v), label=v) for v, c in colours.items()]


def _line(ax, curve, x, colour, style, *, band=True, **kw):
    curve = curve.sort_values(x)
    xs, ys = curve[x].to_numpy(float), curve["median"].to_numpy(float)
    ax.plot(xs, ys, color=colour, linestyle=style, **kw)
    if band and {"low", "high", "n_seeds"} <= set(curve) and curve["n_seeds"].max() > 1:
        ax.fill_between(xs, curve["low"].to_numpy(float), curve["high"].to_numpy(float), color=colour, alpha=0.15,
                        linewidth=0)


def _shade(colour: str, amount: float) -> tuple:
    from matplotlib.colors import to_rgb

    return tuple(c + (1.0 - c) * amount for c in to_rgb(colour))


# --------------------------------------------------------------------------- figures
def plot_training_curves(curves: pd.DataFrame, *, fig=None):
    """Validation (and training) cross-entropy against the step, one line per run.

    Parameters
    ----------
    curves : DataFrame
        From :func:`rnnprobe.analysis.training_curves`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_frame(curves, ["variant", "metric", "step", "median"], name="curves",
                hint="use analysis.training_curves(results)")
    fig = new_figure(fig, figsize=(10.0, 4.2))
    metrics = [m for m in ("val_bits_per_char", "train_bits_per_char") if (curves["metric"] == m).any()]
    axes = panel_grid(fig, len(metrics), max_cols=2, sharey=True)
    colours = _colours(curves)
    for ax, metric in zip(axes, metrics):
        part = curves[curves["metric"] == metric]
        for v, curve in part.groupby("variant", sort=False):
            _line(ax, curve, "step", colours[str(v)], _style(str(v)))
        ax.set_xlabel("training step")
        ax.set_ylabel(_CURVE_LABELS[metric])
    # the initial cross-entropy (about log2 of the vocabulary) would flatten the rest: the axis starts after it
    first = curves["step"].min()
    later = curves.loc[curves["step"] > first, ["median", "low", "high"]].to_numpy(float)
    start = curves.loc[(curves["step"] == first) & (curves["metric"] == "val_bits_per_char"), "median"]
    if later.size and np.isfinite(later).any() and len(start) and start.max() > 1.25 * np.nanmax(later):
        lo, hi = np.nanmin(later), np.nanmax(later)
        span = (hi - lo) or 0.1 * max(abs(hi), 1.0)
        axes[0].set_ylim(lo - 0.05 * span, hi + 0.08 * span)
        axes[0].text(0.98, 0.98, f"step {int(first)}: {start.min():.2f}–{start.max():.2f} bits/char (off scale)",
                     transform=axes[0].transAxes, ha="right", va="top", fontsize=8, color="0.35")
    fig.legend(handles=_handles(colours), loc="outside lower center", ncols=min(4, len(colours)), title="run")
    return fig


def plot_gradient_profiles(profiles: pd.DataFrame, *, fig=None, max_cols: int = 2):
    """G(k) against the lag at the initialisation, the middle and the end of training, one panel per run.

    Parameters
    ----------
    profiles : DataFrame
        From :func:`rnnprobe.analysis.gradient_profiles`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_frame(profiles, ["variant", "stage", "step", "lag", "median"], name="profiles",
                hint="use analysis.gradient_profiles(results)")
    fig = new_figure(fig, figsize=(10.0, 7.0))
    variants = variant_order(profiles)
    axes = panel_grid(fig, len(variants), max_cols=max_cols, sharex=True, sharey=True)
    colours = _colours(profiles)
    lowest = np.inf
    for ax, v in zip(axes, variants):
        part = profiles[profiles["variant"].astype(str) == v]
        for stage, curve in part.groupby("stage", sort=False):
            curve = curve[curve["median"] > 0]
            if curve.empty:
                continue
            lowest = min(lowest, float(curve["median"].min()))
            _line(ax, curve, "lag", _shade(colours[v], _STAGE_SHADES.get(str(stage), 0.0)), "-",
                  label=f"{stage} (step {int(curve['step'].iloc[0])})", linewidth=1.8)
        ax.set_yscale("log")
        ax.set_title(v, fontsize=10.5)
        ax.legend(loc="lower left", fontsize=8, frameon=True, framealpha=0.85)
    if np.isfinite(lowest):
        tidy_log_axis(axes[0])
    for ax in axes:
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("G(k) = ‖∂s_T/∂s_(T−k)‖₂")
        if ax.get_subplotspec().is_last_row():
            ax.set_xlabel("lag k (steps back from the last state)")
    return fig


def plot_training_measures(measures: pd.DataFrame, *, fig=None,
                           which=("memory_threshold", "memory_efold", "lyapunov_exponent")):
    """Memory length and λ₁ (or any of :data:`rnnprobe.analysis.TRAINING_MEASURES`) against the step.

    Parameters
    ----------
    measures : DataFrame
        From :func:`rnnprobe.analysis.training_measures`.
    which : sequence of str
        The measures, one panel each.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_frame(measures, ["variant", "measure", "step", "median"], name="measures",
                hint="use analysis.training_measures(results)")
    fig = new_figure(fig, figsize=(10.0, 4.0))
    which = [m for m in which if (measures["measure"] == m).any()]
    axes = panel_grid(fig, len(which), max_cols=3, sharex=True)
    colours = _colours(measures)
    for ax, m in zip(axes, which):
        part = measures[measures["measure"] == m]
        for v, curve in part.groupby("variant", sort=False):
            curve = curve[np.isfinite(curve["median"].astype(float))]
            _line(ax, curve, "step", colours[str(v)], _style(str(v)), marker="o", markersize=2.5)
        if m == "lyapunov_exponent":
            ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_title(_MEASURE_LABELS.get(m, m), fontsize=10.5)
        ax.set_xlabel("training step")
    fig.legend(handles=_handles(colours), loc="outside lower center", ncols=min(4, len(colours)), title="run")
    return fig


def plot_weight_norms(norms: pd.DataFrame, *, fig=None, max_cols: int = 2):
    """σ_max of every recurrent weight block against the step, one panel per run.

    Parameters
    ----------
    norms : DataFrame
        From :func:`rnnprobe.analysis.weight_norms`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_frame(norms, ["variant", "block", "step", "median"], name="norms", hint="use analysis.weight_norms(results)")
    fig = new_figure(fig, figsize=(10.0, 6.5))
    variants = variant_order(norms)
    axes = panel_grid(fig, len(variants), max_cols=max_cols, sharex=True, sharey=True)
    colours = _colours(norms)
    styles = ("-", "--", "-.", ":")
    for ax, v in zip(axes, variants):
        part = norms[norms["variant"].astype(str) == v]
        blocks = list(dict.fromkeys(part["block"].astype(str)))
        for i, (block, curve) in enumerate(part.groupby("block", sort=False)):
            _line(ax, curve, "step", _shade(colours[v], 0.45 * i / max(1, len(blocks) - 1)), styles[i % 4],
                  label=str(block))
        ax.set_title(v, fontsize=10.5)
        # one row of blocks above the curves, in head room kept free for it (loc="best" hid a curve)
        ax.legend(loc="upper center", ncol=max(1, len(blocks)), fontsize=8, frameon=False, handlelength=2.2,
                  columnspacing=1.2, borderaxespad=0.3)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("σ_max of the block")
        if ax.get_subplotspec().is_last_row():
            ax.set_xlabel("training step")
    lows = [norms[c].to_numpy(float) for c in ("median", "low") if c in norms]
    highs = [norms[c].to_numpy(float) for c in ("median", "high") if c in norms]
    lo, hi = float(np.nanmin(np.concatenate(lows))), float(np.nanmax(np.concatenate(highs)))
    if math.isfinite(lo) and math.isfinite(hi):
        span = max(hi - lo, 0.02 * max(abs(hi), 1e-12))
        for ax in axes:                       # the curves in the lower 78 %, the legend's row above them
            ax.set_ylim(lo - 0.04 * span, lo + span / 0.78)
    return fig


def _printable(text: str) -> str:
    """Sample text as it can be drawn: tabs as spaces, other control characters as '·'."""
    text = text.replace("\t", "    ")
    return "".join(ch if ch == "\n" or ch.isprintable() else "·" for ch in text)


def _sample_lines(text: str, width: int, max_lines: int) -> list[str]:
    lines = []
    for raw in _printable(text).split("\n"):
        lines += textwrap.wrap(raw, width=width, replace_whitespace=False, drop_whitespace=False) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + ["…"]
    return lines


def plot_samples(samples: pd.DataFrame, *, fig=None, bits: pd.DataFrame | None = None, width: int = 96,
                 max_lines: int = 9):
    """The text samples of one or more runs as monospaced text, one block per run and stage.

    Parameters
    ----------
    samples : DataFrame
        From :func:`rnnprobe.analysis.sample_table`.
    bits : DataFrame, optional
        From :func:`rnnprobe.analysis.training_curves`: the validation bits/char
        at each sample's step is shown beside it.
    width, max_lines : int
        Characters per line and lines per sample (longer samples are cut with '…').

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_frame(samples, ["variant", "stage", "step", "text"], name="samples",
                hint="use analysis.sample_table(samples, results)")
    fig = new_figure(fig, figsize=(10.0, 10.0))
    colours = _colours(samples)
    blocks = []
    for v, part in samples.groupby("variant", sort=False):
        blocks.append(("head", str(v), colours[str(v)]))
        for _, r in part.iterrows():
            label = f"{r['stage']}, step {int(r['step'])}"
            if bits is not None and not bits.empty:
                b = bits[(bits["variant"] == v) & (bits["metric"] == "val_bits_per_char") & (bits["step"] == r["step"])]
                if not b.empty:
                    label += f" ({float(b['median'].iloc[0]):.2f} bits/char)"
            blocks.append(("label", label, "0.3"))
            blocks.append(("text", _sample_lines(str(r["text"]), width, max_lines), "0.1"))
    ax = fig.add_subplot()          # an empty axes, so that the page's layout places the text like a plot
    ax.axis("off")
    # Positions are offsets in points from the top of the axes, and the fonts are scaled so that the whole
    # column fits the figure's height: a sample's lines then never run into the next label, whatever the page.
    size, spacing = 7.4, 1.15
    pitch = spacing * size                        # points per line of a sample at full size (matplotlib's pitch)
    advance = {"head": 2.0 * pitch, "label": 1.45 * pitch}
    needed = sum(advance.get(kind, (len(content) + 0.5) * pitch) for kind, content, _ in blocks)
    root = getattr(fig, "figure", None) or fig
    available = 0.85 * fig.bbox.height * 72.0 / root.dpi      # a page's layout may still shrink the figure a bit
    scale = min(1.0, available / needed) if needed > 0 else 1.0
    y = 0.0
    for kind, content, colour in blocks:
        at = ax.transAxes + ScaledTranslation(0.0, -y / 72.0, root.dpi_scale_trans)
        kw = dict(transform=at, va="top", color=colour, parse_math=False)
        if kind == "head":
            ax.text(0.0, 1.0, content, fontsize=10.5 * scale, weight="bold", **kw)
        elif kind == "label":
            ax.text(0.01, 1.0, content, fontsize=8.5 * scale, style="italic", **kw)
        else:
            ax.text(0.03, 1.0, "\n".join(content), fontsize=size * scale, family="DejaVu Sans Mono",
                    linespacing=spacing, **kw)
        y += advance.get(kind, (len(content) + 0.5) * pitch) * scale
    return fig


# --------------------------------------------------------------------------- captions
def _v(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{float(x):.{digits}g}"


def _join(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""


def _end_values(frame: pd.DataFrame, measure_col: str, measure: str) -> pd.DataFrame:
    part = frame[frame[measure_col] == measure]
    return part.sort_values("step").groupby("variant", sort=False).agg(
        first=("median", "first"), last=("median", "last"), step=("step", "last"))


def curves_caption(curves: pd.DataFrame) -> str:
    """Caption of the loss curves: bits/char at the start and the end per run, the best run, flossing's cost."""
    seeds = int(curves["n_seeds"].max()) if "n_seeds" in curves else 1
    text = ("Cross-entropy on the validation text (the last 10% of the corpus, at most 20 000 characters) and on the "
            "training batches (mean since the previous checkpoint), in bits per character, against the training step "
            f"(median over {seeds} seed{'s' if seeds > 1 else ''}; dashed: flossed). ")
    ends = _end_values(curves, "metric", "val_bits_per_char")
    if ends.empty:
        return text
    parts = [f"{v} {_v(r['first'], 3)} → {_v(r['last'], 3)}" for v, r in ends.iterrows()]
    best = ends["last"].idxmin()
    text += (f"Finding: after {int(ends['step'].max())} steps the validation cross-entropy fell from its value at "
             f"initialisation to the end as " + _join(parts) + f" bits/char; {best} ends lowest.")
    val, train = (curves[curves["metric"] == m] for m in ("val_bits_per_char", "train_bits_per_char"))
    rising, falling = [], True
    for v, g in val.groupby("variant", sort=False):
        g = g.sort_values("step")
        low = g.loc[g["median"].idxmin()]
        if g["median"].iloc[-1] - low["median"] >= 0.02 and low["step"] < g["step"].max():
            rising.append(f"{v} (lowest {low['median']:.3g} at step {int(low['step'])})")
            t = train[train["variant"] == v].sort_values("step")
            before, end = t[t["step"] <= low["step"]]["median"], t["median"]
            falling &= bool(len(before)) and float(end.iloc[-1]) < float(before.iloc[-1])
    if rising:
        text += " The validation cross-entropy rose again after its lowest value for " + _join(rising)
        text += (", while the training cross-entropy kept falling: overfitting to the training text." if falling
                 else ".")
    flossed = [v for v in ends.index if _flossed(v)]
    for v in flossed:
        plain = v.split(" flossed")[0]
        if plain in ends.index:
            diff = ends.loc[v, "last"] - ends.loc[plain, "last"]
            if abs(diff) < 0.005:
                text += " Flossing changes the final value by less than 0.005 bits/char against the same core."
            else:
                text += (f" Flossing {'costs' if diff > 0 else 'gains'} {abs(diff):.2f} bits/char against the same "
                         "core trained without it.")
    return text


def _g_at(profiles: pd.DataFrame, variant: str, stage: str, lag: int) -> float:
    part = profiles[(profiles["variant"] == variant) & (profiles["stage"] == stage) & (profiles["lag"] == lag)]
    return float(part["median"].iloc[0]) if not part.empty else float("nan")


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sci(x: float) -> str:
    """A number for captions and tables: 0.063, or 3.5·10⁻¹⁰ outside 10⁻³ … 10³."""
    if not np.isfinite(x) or x == 0:
        return _v(x)
    e = int(math.floor(math.log10(abs(x))))
    if -3 <= e <= 3:
        return f"{x:.2g}"
    return f"{x / 10 ** e:.1f}·10" + str(e).translate(_SUPERSCRIPT)


def _ratio(ratio: float) -> str:
    return f"a factor {ratio:.2g}" if ratio < 100 else f"{math.log10(ratio):.0f} orders of magnitude"


def profiles_caption(profiles: pd.DataFrame) -> str:
    """Caption of G(k) over training: G at half the probe length at the three stages per run."""
    T = int(profiles["lag"].max())
    lag = max(1, T // 2)
    steps = profiles.groupby("stage", sort=False)["step"].first()
    text = (f"The gradient-decay curve G(k) = ‖∂s_T/∂s_(T−k)‖₂ of the core on the fixed probe sequence (the first "
            f"{T} validation characters), log scale, at the initialisation, the middle and the end of training (steps "
            + ", ".join(str(int(s)) for s in steps.to_numpy()) + "; darker is later), one panel per run. A straight "
            "falling line is geometric vanishing: the lecture's story, measured as the weights learn. ")
    parts = []
    for v in variant_order(profiles):
        a, b, c = (_g_at(profiles, v, s, lag) for s in ("initialisation", "middle", "end"))
        parts.append(f"{v} {_sci(a)} → {_sci(b)} → {_sci(c)}")
    text += f"Finding: G({lag}) went " + "; ".join(parts) + "."
    ends = {v: _g_at(profiles, v, "end", lag) for v in variant_order(profiles)}
    finite = {v: g for v, g in ends.items() if np.isfinite(g) and g > 0}
    if len(finite) > 1:
        hi, lo = max(finite, key=finite.get), min(finite, key=finite.get)
        text += f" At the end, {hi} keeps G({lag}) {_ratio(finite[hi] / finite[lo])} above {lo}."
        for v in [v for v in finite if _flossed(v)]:
            plain = v.split(" flossed")[0]
            if plain in finite and finite[v] != finite[plain]:
                more = finite[v] > finite[plain]
                ratio = finite[v] / finite[plain] if more else finite[plain] / finite[v]
                text += (f" Flossing leaves G({lag}) {_ratio(ratio)} {'above' if more else 'below'} the same core "
                         "trained without it.")
    return text


def measures_caption(measures: pd.DataFrame) -> str:
    """Caption of memory length and λ₁ against the step: start and end values per run."""
    text = ("Memory length on the probe sequence — threshold (the largest lag with G(k) ≥ 0.01, at most the probe "
            "length) and e-folding time (−1/slope of a Theil–Sen fit of log G against k) — and the top Lyapunov "
            "exponent λ₁ of the core along the probe sequence, against the training step (dashed: flossed). ")
    parts = []
    thr, lam = _end_values(measures, "measure", "memory_threshold"), _end_values(measures, "measure",
                                                                                   "lyapunov_exponent")
    for v in variant_order(measures):
        bits = []
        if v in thr.index:
            bits.append(f"threshold {_v(thr.loc[v, 'first'])} → {_v(thr.loc[v, 'last'])} steps")
        if v in lam.index:
            bits.append(f"λ₁ {lam.loc[v, 'first']:.3f} → {lam.loc[v, 'last']:.3f}")
        if bits:
            parts.append(f"{v}: " + ", ".join(bits))
    if parts:
        text += "Finding, from initialisation to the end: " + "; ".join(parts) + "."
    T = int(measures["length"].max()) if "length" in measures and measures["length"].notna().any() else None
    if T is not None and not thr.empty and (thr["last"] >= T).any():
        text += f" A threshold of {T} is censored at the probe length: every lag passes."
    return text


def weight_norms_caption(norms: pd.DataFrame) -> str:
    """Caption of σ_max against the step: the largest block's growth per run."""
    text = ("Largest singular value σ_max of every recurrent weight block (W_h of a vanilla core; one block per gate "
            "of a GRU or an LSTM) against the training step, one panel per run. ")
    parts = []
    for v in variant_order(norms):
        part = norms[norms["variant"].astype(str) == v]
        ends = part.sort_values("step").groupby("block", sort=False)["median"].agg(["first", "last"])
        if ends.empty:
            continue
        top = ends["last"].idxmax()
        parts.append(f"{v} {top} {ends.loc[top, 'first']:.2f} → {ends.loc[top, 'last']:.2f}")
    if parts:
        text += "Finding, from initialisation to the end, for the block that ends largest: " + "; ".join(parts) + "."
    return text


def samples_caption(samples: pd.DataFrame) -> str:
    """Caption of the samples pages: how they were drawn."""
    t = samples["temperature"].iloc[0] if "temperature" in samples else None
    seed = int(samples["seed"].iloc[0]) if "seed" in samples else 0
    return (f"Text sampled from each run at the initialisation, the middle and the end of training: characters drawn "
            f"one at a time from softmax(logits{'' if t is None else f' / {t:g}'}) after a newline, with seed {seed} "
            "(the same draws at every stage, so the texts differ only by what the weights learned); validation "
            "bits/char at that step in brackets. Control characters are shown as '·'; long samples are cut with '…'. "
            "The corpus is Python source code.")


# --------------------------------------------------------------------------- the report's pages
def figure_specs(frames: dict) -> list[dict]:
    """The training study's figures: dicts with ``name``, ``title``, ``caption``, ``draw``, ``size``."""
    specs = []

    def have(name):
        f = frames.get(name)
        return f is not None and not f.empty

    if have("training_curves"):
        c = frames["training_curves"]
        specs.append(dict(name="loss_curves", title="Loss curves", caption=curves_caption(c),
                          draw=lambda fig, c=c: plot_training_curves(c, fig=fig), size=(10.0, 4.4)))
    if have("gradient_profiles"):
        p = frames["gradient_profiles"]
        specs.append(dict(name="gradient_profiles", title="Gradient decay at initialisation, mid-training and the end",
                          caption=profiles_caption(p), draw=lambda fig, p=p: plot_gradient_profiles(p, fig=fig),
                          size=(10.0, 7.5)))
    if have("training_measures"):
        m = frames["training_measures"]
        specs.append(dict(name="memory_lyapunov", title="Memory length and λ₁ against the training step",
                          caption=measures_caption(m), draw=lambda fig, m=m: plot_training_measures(m, fig=fig),
                          size=(10.0, 4.4)))
    if have("weight_norms"):
        w = frames["weight_norms"]
        specs.append(dict(name="weight_norms", title="σ_max of the recurrent weights against the training step",
                          caption=weight_norms_caption(w), draw=lambda fig, w=w: plot_weight_norms(w, fig=fig),
                          size=(10.0, 7.0)))
    if have("samples"):
        s, bits = frames["samples"], frames.get("training_curves")
        variants = variant_order(s)
        for i in range(0, len(variants), 2):
            group = variants[i:i + 2]
            part = s[s["variant"].astype(str).isin(group)]
            specs.append(dict(name=f"samples_{i // 2 + 1}", title="Text samples: " + " and ".join(group),
                              caption=samples_caption(part),
                              draw=lambda fig, p=part, b=bits: plot_samples(p, fig=fig, bits=b), size=(10.0, 12.0)))
    return specs


_SUMMARY_PAIRS = (("val_bits_per_char", "validation\nbits/char", 3), ("memory_threshold", "memory\nthreshold", 3),
                  ("memory_efold", "e-fold\n(steps)", 3), ("lyapunov_exponent", "λ₁\n(per step)", 3),
                  ("sigma_max", "σ_max\n(largest block)", 3))


def summary_display(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 of the training report: per run, every measure as 'initial → final'."""
    rows = []
    for _, r in table.iterrows():
        row = {"run": r["variant"], "steps": str(int(r["steps_done"]))}
        if "n_seeds" in r and int(r["n_seeds"]) > 1:
            row["seeds"] = str(int(r["n_seeds"]))
        for m, label, digits in _SUMMARY_PAIRS:
            if f"{m}_initial" in r:
                row[label] = f"{format_value(r[f'{m}_initial'])} → {format_value(r[f'{m}_final'])}"
        if "G_lag_initial" in r and "lag" in r:
            row[f"G({int(r['lag'])})"] = f"{_sci(r['G_lag_initial'])} → {_sci(r['G_lag_final'])}"
        rows.append(row)
    return pd.DataFrame(rows)


def summary_note(table: pd.DataFrame) -> str:
    """The note under Table 1."""
    return ("One row per training run, each measure at the initialisation → at the last step (medians over seeds). "
            "Validation bits/char: cross-entropy on the validation text; memory threshold: the largest lag with "
            "G(k) ≥ 0.01 on the probe sequence (at most its length); e-fold: −1/slope of log G(k); λ₁: the top "
            "Lyapunov exponent of the core along the probe sequence; σ_max: the largest singular value over the "
            "recurrent weight blocks; G(k) at half the probe length. Every value at every checkpoint is in "
            "results.csv; the samples in samples.csv.")


METHODS = [
    ("The char-RNN", "Embedding (32 dimensions) → recurrent core → linear readout of the next character's logits: "
     "p(x_(1:T)) = ∏ p(x_t | x_(1:t−1)) (rnnprobe.sequence.CharRNN). The core is the rnnprobe architecture named in "
     "the run (its step looped over time, so the probes see exactly the core that trains): vanilla tanh "
     "h' = tanh(W_h h + W_x x + b); the lecture's GRU (Cho et al. 2014, reset gate before the recurrent product); the "
     "LSTM with state [h; c] and forget-gate bias 1. Weights from the run's init and gain (Gaussian N(0, g²/n) by "
     "default) and seed."),
    ("Training", "Maximum likelihood with truncated backpropagation through time: the training text is cut into 32 "
     "parallel streams; each step reads the next 64 characters of every stream and predicts each next character "
     "(mean cross-entropy), the state carried between chunks and cut from the graph. Adam (learning rate 2·10⁻³), "
     "global gradient-norm clipping at 1, float32. Step s means the weights after s updates."),
    ("Corpus", "The first 'chars' characters of the standard library's own Python sources (rnnprobe.sequence's "
     "default corpus; the files, size and SHA-256 are in each point's work directory, meta.json); the last 10% is the "
     "validation text, of which at most 20 000 characters are evaluated."),
    ("Probes at every checkpoint", "On a fixed probe sequence — the first T validation characters, embedded by the "
     "current embedding, driving a float64 copy of the core from the zero state — rnnprobe.ProbeMonitor records "
     "G(k) = ‖∂s_T/∂s_(T−k)‖₂ at every lag k (one backward sweep over the analytic step Jacobians, in log space), the "
     "memory threshold (largest k with G(k) ≥ 0.01) and e-folding time (−1/slope of a Theil–Sen fit of log G on k), σ_max "
     "of every recurrent weight block, and the top four Lyapunov exponents (QR re-orthonormalisation along the "
     "sequence after a burn-in of T/10 steps). s is h, or [h; c] for the LSTM."),
    ("Gradient flossing (Engelken 2023)", "A flossed run adds 0.1·Σ_(i≤k) λ_i² to the loss at every step: the top k "
     "Lyapunov exponents of the core on the first stream of the batch (64 steps from the zero state), differentiated "
     "through the QR sweep (rnnprobe.flossing_loss). Pushing them towards 0 keeps G(k) from vanishing or exploding."),
    ("Samples", "At every checkpoint 300 characters are drawn one at a time from softmax(logits / 0.8), after a "
     "newline, with a generator seeded by the run's seed: the same draws at every checkpoint, so two samples differ "
     "only by the weights."),
    ("Resuming", "Each run keeps its checkpoint (model.pt), its rows (monitor.csv) and its samples in OUT/work/<point>/; "
     "a killed study started again resumes each unfinished run from its last checkpoint and ends with the weights and "
     "rows of an uninterrupted run."),
]

REFERENCES = ("Benettin et al. (1980) Meccanica 15; Cho et al. (2014) EMNLP; Engelken (2023) NeurIPS (gradient "
              "flossing); Hochreiter & Schmidhuber (1997) Neural Computation 9; Sen (1968) JASA 63.")
