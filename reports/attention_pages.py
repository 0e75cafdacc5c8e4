"""The attention study's report pages: accuracy against length, gradient paths against distance, attention maps.

Figures (``plot_<quantity>(data, *, fig=None) -> Figure``; they draw analysis frames of
:mod:`rnnprobe.analysis.attention` and compute nothing):

* :func:`plot_accuracy_against_length`: the "asking too much" curve, one panel per task;
* :func:`plot_gradient_paths`: the gradient at each source position against its distance from
  the output, through the attention and through the recurrence (top), and at the source
  embeddings for every model (bottom);
* :func:`plot_attention_maps`: the attention weights of a few evaluation sequences, one row per
  model, with the aligned positions marked.

Captions (:func:`accuracy_caption`, :func:`gradient_caption`, :func:`attention_caption`) read
their numbers off the same frames; :func:`figure_specs`, :func:`summary_display`,
:data:`METHODS` and :data:`REFERENCES` are what :func:`rnnprobe.reports.write_report` assembles.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"model": ["none", "none", "dot", "dot"], "task": "reverse", "length": [5, 40, 5, 40],
...     "vocab": 8, "train_steps": 600, "n_seeds": 2, "token_accuracy": [0.93, 0.22, 0.98, 0.28],
...     "token_accuracy_min": [0.9, 0.2, 0.97, 0.25], "token_accuracy_max": [0.95, 0.25, 0.99, 0.3]})
>>> fig = plot_accuracy_against_length(table)
>>> [ax.get_title() for ax in fig.axes]
['reverse']
>>> accuracy_finding(table)
'reverse: no attention 0.93 → 0.22, dot attention 0.98 → 0.28'
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from rnnprobe.analysis.attention import model_order
from rnnprobe.reports._plotting import check_frame, new_figure, panel_grid
from rnnprobe.reports.captions import _g

__all__ = ["plot_accuracy_against_length", "plot_gradient_paths", "plot_attention_maps", "accuracy_finding",
           "accuracy_caption", "gradient_caption", "attention_caption", "figure_specs", "summary_display",
           "summary_note", "MODEL_COLOURS", "MODEL_LABELS", "METHODS", "REFERENCES"]

#: one colour per model (colour-blind safe, seaborn's colorblind palette); unknown models are grey
MODEL_COLOURS = {"none": "#d55e00", "none-nofeedback": "#ca9161", "dot": "#0173b2", "dot-nofeedback": "#029e73",
                 "bilinear": "#56b4e9", "bilinear-nofeedback": "#12711c", "transformer": "#cc78bc"}
#: how figures and tables name the models
MODEL_LABELS = {"none": "no attention", "dot": "dot attention", "bilinear": "bilinear attention",
                "none-nofeedback": "no attention, no feedback", "dot-nofeedback": "dot attention, no feedback",
                "bilinear-nofeedback": "bilinear attention, no feedback", "transformer": "transformer"}
_PATH_STYLES = {"attention": "-", "recurrence": "--", "total": ":", "source": "-"}
_PATH_LABELS = {"attention": "through attention", "recurrence": "through recurrence (decoder start)",
                "total": "total", "source": "at the source embeddings"}


def _label(model) -> str:
    return MODEL_LABELS.get(str(model), str(model))


def _colour(model) -> str:
    return MODEL_COLOURS.get(str(model), "#949494")


def _tasks(frame: pd.DataFrame) -> list[str]:
    order = [t for t in ("copy", "reverse") if t in set(frame["task"])]
    return order + sorted(t for t in frame["task"].unique() if t not in order)


def _pct(x) -> str:
    return "–" if x is None or not np.isfinite(float(x)) else f"{100 * float(x):.0f}%"


def _num(x) -> str:
    return _g(float(x), 2)


# ----------------------------------------------------------------------------------------------- figures
def plot_accuracy_against_length(table: pd.DataFrame, *, fig=None, measure: str = "token_accuracy"):
    """Accuracy against the source length, one panel per task, one line per model (band: range over seeds).

    Parameters
    ----------
    table : DataFrame
        :func:`rnnprobe.analysis.accuracy_table`.
    fig : Figure or SubFigure, optional
    measure : str
        The accuracy to draw (``token_accuracy``, ``sequence_accuracy``, ``teacher_forced_accuracy``).

    Returns
    -------
    Figure or SubFigure
    """
    check_frame(table, ["model", "task", "length", measure], name="table", hint="analysis.accuracy_table")
    fig = new_figure(fig, (10.0, 4.5))
    tasks = _tasks(table)
    axes = panel_grid(fig, len(tasks), max_cols=2, sharex=True, sharey=True)
    lengths = sorted(pd.to_numeric(table["length"]).unique())
    for ax, task in zip(axes, tasks):
        part = table[table["task"] == task]
        for model in model_order(part["model"]):
            rows = part[part["model"] == model].sort_values("length")
            x, y = rows["length"].astype(float), rows[measure].astype(float)
            ax.plot(x, y, marker="o", ms=4, color=_colour(model), label=_label(model))
            lo, hi = f"{measure}_min", f"{measure}_max"
            if lo in rows and hi in rows and (rows[hi] > rows[lo]).any():
                ax.fill_between(x, rows[lo].astype(float), rows[hi].astype(float), color=_colour(model), alpha=0.18,
                                lw=0)
        if "vocab" in part and part["vocab"].nunique() == 1 and measure != "sequence_accuracy":
            chance = 1.0 / float(part["vocab"].iloc[0])
            ax.axhline(chance, color="0.45", ls=":", lw=1.0)
            ax.annotate(f"chance 1/V = {chance:.2g}", (0.01, chance), xycoords=("axes fraction", "data"),
                        xytext=(2, 3), textcoords="offset points", fontsize=8, color="0.35")
        ax.set_title(task)
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [f"{n:g}" for n in lengths])
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.04)
        ax.set_xlabel("source length T")
    axes[0].set_ylabel({"token_accuracy": "greedy token accuracy", "sequence_accuracy": "sequence accuracy",
                        "teacher_forced_accuracy": "teacher-forced token accuracy"}.get(measure, measure))
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), frameon=False)
    return fig


def plot_gradient_paths(profile: pd.DataFrame, *, fig=None):
    """Gradient norms against the source–target distance: by path (top row), at the source embeddings (bottom).

    Parameters
    ----------
    profile : DataFrame
        :func:`rnnprobe.analysis.gradient_by_distance` at one length per task (the figure draws every
        row it is given).
    fig : Figure or SubFigure, optional

    Returns
    -------
    Figure or SubFigure
    """
    check_frame(profile, ["model", "task", "length", "path", "distance", "median"], name="profile",
                hint="analysis.gradient_by_distance")
    fig = new_figure(fig, (10.0, 7.0))
    tasks = _tasks(profile)
    split = profile[profile["path"].isin(["attention", "recurrence"])]
    rows = [r for r, part in (("paths", split), ("source", profile[profile["path"] == "source"])) if not part.empty]
    grid = fig.subplots(len(rows), len(tasks), squeeze=False, sharex="col")
    for i, row in enumerate(rows):
        for j, task in enumerate(tasks):
            ax = grid[i, j]
            part = profile[profile["task"] == task]
            part = part[part["path"].isin(["attention", "recurrence"])] if row == "paths" else part[part["path"] == "source"]
            for model in model_order(part["model"]):
                for path in ("attention", "recurrence", "source"):
                    curve = part[(part["model"] == model) & (part["path"] == path)].sort_values("distance")
                    curve = curve[curve["median"] > 0]
                    if curve.empty:
                        continue
                    x = curve["distance"].astype(float)
                    ax.plot(x, curve["median"].astype(float), color=_colour(model), ls=_PATH_STYLES[path], lw=1.5)
                    if (curve["high"] > curve["low"]).any():
                        ax.fill_between(x, curve["low"].astype(float), curve["high"].astype(float),
                                        color=_colour(model), alpha=0.12, lw=0)
            ax.set_yscale("log")
            if i == len(rows) - 1:
                ax.set_xlabel("distance d = T − t + s (steps)")
            T = sorted(part["length"].unique()) if not part.empty else []
            ax.set_title(f"{task}, T = {', '.join(f'{t:g}' for t in T)}" if i == 0 else "")
            if j == 0:
                ax.set_ylabel("‖∂L_s/∂s_t‖ at encoder state s_t" if row == "paths" else "‖∂L_s/∂x_t‖ at source embedding")
    models = model_order(profile["model"])
    handles = [Line2D([], [], color=_colour(m), lw=2, label=_label(m)) for m in models]
    if "paths" in rows:
        handles += [Line2D([], [], color="0.3", ls=_PATH_STYLES[p], label=_PATH_LABELS[p])
                    for p in ("attention", "recurrence")]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), frameon=False)
    return fig


def _ticks(n: int) -> list[int]:
    """Positions 0 … n − 1 every few steps, the last one too unless it would crowd its neighbour."""
    step = max(1, n // 4)
    ticks = list(range(0, n, step))
    if n - 1 - ticks[-1] >= max(2, step // 2):
        ticks.append(n - 1)
    return ticks


def plot_attention_maps(maps: pd.DataFrame, *, fig=None, max_examples: int = 3):
    """Attention weights as heatmaps: one row per model, one column per example (rows s, columns t).

    The aligned source position of each target position (copy: t = s; reverse: t = T − 1 − s) is
    outlined in white.

    Parameters
    ----------
    maps : DataFrame
        :func:`rnnprobe.analysis.attention_maps` for one task and one length.
    fig : Figure or SubFigure, optional
    max_examples : int
        Columns at most.

    Returns
    -------
    Figure or SubFigure
    """
    check_frame(maps, ["model", "task", "example", "target_position", "source_position", "weight", "aligned"],
                name="maps", hint="analysis.attention_maps")
    fig = new_figure(fig, (9.0, 8.0))
    models = model_order(maps["model"])
    examples = sorted(maps["example"].unique())[:max_examples]
    grid = fig.subplots(len(models), len(examples), squeeze=False)
    image = None
    for i, model in enumerate(models):
        for j, example in enumerate(examples):
            ax = grid[i, j]
            cells = maps[(maps["model"] == model) & (maps["example"] == example)]
            S = int(cells["target_position"].max()) + 1
            T = int(cells["source_position"].max()) + 1
            matrix = np.full((S, T), np.nan)
            matrix[cells["target_position"].astype(int), cells["source_position"].astype(int)] = cells["weight"]
            image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="equal", interpolation="nearest")
            for _, c in cells[cells["aligned"].astype(bool)].iterrows():
                ax.add_patch(Rectangle((c["source_position"] - 0.5, c["target_position"] - 0.5), 1, 1, fill=False,
                                       ec="white", lw=0.9))
            ax.set_xticks(_ticks(T))
            ax.set_yticks(_ticks(S))
            ax.grid(False)
            ax.tick_params(labelsize=8, length=2)
            if i == 0:
                ax.set_title(f"example {int(example)}", fontsize=10)
            if i == len(models) - 1:
                ax.set_xlabel("source position t", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{_label(model)}\ntarget position s", fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, ax=grid.ravel().tolist(), shrink=0.6, location="right")
        bar.set_label(r"weight $\alpha_{t,s}$")
    return fig


# ----------------------------------------------------------------------------------------------- captions
def _ends(table: pd.DataFrame, task: str, model: str, measure: str = "token_accuracy"):
    rows = table[(table["task"] == task) & (table["model"] == model)].sort_values("length")
    return (None, None) if rows.empty else (rows.iloc[0], rows.iloc[-1])


def accuracy_finding(table: pd.DataFrame, measure: str = "token_accuracy") -> str:
    """'reverse: no attention 0.93 → 0.22, …': each model's accuracy at the shortest and longest length."""
    parts = []
    for task in _tasks(table):
        part = table[table["task"] == task]
        models = []
        for model in model_order(part["model"]):
            first, last = _ends(part, task, model, measure)
            models.append(f"{_label(model)} {_g(first[measure], 2)} → {_g(last[measure], 2)}")
        parts.append(f"{task}: " + ", ".join(models))
    return "; ".join(parts)


def accuracy_caption(table: pd.DataFrame) -> str:
    """The accuracy figure's caption, with the measured accuracies at the shortest and longest length."""
    lengths = sorted(pd.to_numeric(table["length"]).unique())
    steps = "/".join(f"{s:g}" for s in sorted(table["train_steps"].unique())) if "train_steps" in table else "?"
    seeds = int(table["n_seeds"].max()) if "n_seeds" in table else 1
    text = (f"Share of target symbols right when each model decodes greedily (feeding back its own outputs) on 256 fresh "
            f"sequences, after {steps} training steps, against the source length T (log scale); "
            + (f"medians over {seeds} seeds, bands the range. " if seeds > 1 else "one seed. ")
            + f"From T = {lengths[0]:g} to T = {lengths[-1]:g}: {accuracy_finding(table)}.")
    gaps = []
    if "teacher_forced_accuracy" in table:
        longest = table[pd.to_numeric(table["length"]) == lengths[-1]]
        for _, r in longest.iterrows():
            if np.isfinite(r["teacher_forced_accuracy"]) and r["teacher_forced_accuracy"] - r["token_accuracy"] >= 0.2:
                gaps.append(f"{_label(r['model'])} on {r['task']} ({_g(r['teacher_forced_accuracy'], 2)} against "
                            f"{_g(r['token_accuracy'], 2)})")
    if gaps:
        text += (f" At T = {lengths[-1]:g} teacher forcing (the true previous symbol fed in) scores far higher than "
                 "greedy decoding for " + ", ".join(gaps) + ": one wrong symbol derails the rest.")
    if "final_loss" in table:
        longest = table[pd.to_numeric(table["length"]) == lengths[-1]]
        unconverged = longest[longest["final_loss"] > 0.1]
        if not unconverged.empty:
            text += (f" Training had not converged at T = {lengths[-1]:g} for "
                     + ", ".join(f"{_label(r['model'])} on {r['task']} (loss {_g(r['final_loss'], 2)} nats/symbol)"
                                 for _, r in unconverged.iterrows())
                     + ": more steps may lift those curves; the figure measures this budget.")
    return text


def _at(curve: pd.DataFrame, which: str) -> pd.Series:
    curve = curve.sort_values("distance")
    return curve.iloc[0] if which == "first" else curve.iloc[-1]


def _factor(near: float, far: float) -> str:
    """' (1/260 of it)' when the far value is much smaller."""
    ratio = near / far if far > 0 else np.inf
    if not 3 <= ratio < np.inf:
        return ""
    return f" (1/{ratio:.0f} of it)" if ratio < 1e4 else f" (1/{ratio:.2g} of it)"


def gradient_caption(profile: pd.DataFrame) -> str:
    """The gradient figure's caption: how each path's gradient changes from the nearest to the farthest source."""
    parts = []
    for task in _tasks(profile):
        part = profile[profile["task"] == task]
        T = int(part["length"].max())
        models = model_order(part["model"])
        sentences = []
        rec = [(m, part[(part["model"] == m) & (part["path"] == "recurrence")]) for m in models]
        rec = [(m, c) for m, c in rec if not c.empty]
        if rec:
            d0, d1 = int(rec[0][1]["distance"].min()), int(rec[0][1]["distance"].max())
            sentences.append(f"through the recurrence from d = {d0} to d = {d1}, " + ", ".join(
                f"{_label(m)} {_num(_at(c, 'first')['median'])} → {_num(_at(c, 'last')['median'])}"
                f"{_factor(_at(c, 'first')['median'], _at(c, 'last')['median'])}" for m, c in rec))
        att = [(m, part[(part["model"] == m) & (part["path"] == "attention")]) for m in models]
        att = [(m, c) for m, c in att if not c.empty]
        if att:
            sentences.append("through the attention, over all distances, " + ", ".join(
                f"{_label(m)} {_num(c['median'].min())}–{_num(c['median'].max())} (largest at d = "
                f"{int(c.loc[c['median'].idxmax(), 'distance'])})" for m, c in att))
        src = [(m, part[(part["model"] == m) & (part["path"] == "source")]) for m in models if m == "transformer"]
        src = [(m, c) for m, c in src if not c.empty]
        if src:
            sentences.append(", ".join(f"at the {_label(m)}'s source embeddings {_num(c['median'].min())}–"
                                       f"{_num(c['median'].max())}" for m, c in src))
        parts.append(f"{task} (T = {T}): " + "; ".join(sentences))
    aligned = ("For copy every aligned pair (t = s) sits at d = T; for reverse the aligned pairs (t = T − 1 − s) "
               "spread over d = 1, 3, …, 2T − 1. ")
    return ("The gradient of L_s = uᵀy_s (a fixed random unit readout u of the logits at target position s) reaching "
            "source position t, against their distance d = T − t + s: the recurrent steps from the encoder state s_t "
            "through the decoder's start state to d_s (for the transformer, the positions between t and the position "
            "that predicts s). Top: at the encoder states, split by the bridge the gradient crossed "
            "(attention_path_split; solid: through the attention, dashed: through the decoder's start state and back "
            "along the encoder, the only path without attention). Bottom: at the source embeddings, every model. Each "
            "curve: the median over the (s, t) pairs at that distance of the mean norm over 16 evaluation sequences"
            + (", then the median over seeds (band: range)" if profile["n_seeds"].max() > 1 else " (one seed)")
            + ", at the longest length. " + aligned + "Measured: " + ". ".join(parts) + ".")


def attention_caption(maps: pd.DataFrame, table: pd.DataFrame) -> str:
    """A heatmap page's caption: the alignment shares of each model at the maps' length, median over seeds."""
    task = str(maps["task"].iloc[0])
    T = int(maps["length"].iloc[0])
    where = "the anti-diagonal t = T − 1 − s" if task == "reverse" else "the diagonal t = s"
    shifted = "t = T − s" if task == "reverse" else "t = s + 1"
    rows = table[(table["task"] == task) & (pd.to_numeric(table["length"]) == T)] if not table.empty else table
    seeds = int(rows["n_seeds"].max()) if "n_seeds" in rows and not rows.empty else 1
    clauses = []
    for model in model_order(maps["model"]):
        r = rows[rows["model"] == model]
        if r.empty or "alignment_accuracy" not in r:
            continue
        r = r.iloc[0]
        clauses.append(f"{_label(model)} {_pct(r['alignment_accuracy'])} on it and {_pct(r['alignment_shifted'])} "
                       f"one position later ({shifted})")
    text = (f"Attention weights α_(t,s) of {task} at T = {T} for the first evaluation sequences (teacher-forced; "
            f"seed {int(maps['seed'].min())}): row s is target position s, column t source position t; white squares "
            f"mark the aligned positions, {where}. Largest weight of each row, over 256 evaluation sequences and "
            f"target positions{' (median over seeds)' if seeds > 1 else ''}: " + "; ".join(clauses) + ".")
    if "transformer" in set(maps["model"]):
        tr = maps[maps["model"] == "transformer"]
        mass = tr.groupby(["example", "target_position"])["weight"].sum()
        text += (f" The transformer's rows show its one layer's head-averaged weights on the source positions only; "
                 f"they hold {_pct(mass.mean())} of each row's weight on average here (the rest falls on the decoder "
                 "positions).")
    dot = rows[rows["model"] == "dot"]
    if (task == "reverse" and not dot.empty and "alignment_shifted" in dot
            and dot["alignment_shifted"].iloc[0] > dot["alignment_accuracy"].iloc[0]):
        text += (" A decoder that reads its previous output (dot attention, with feedback) can find the next symbol by "
                 "content: having just emitted x_(T−s), it attends to e_(T−s), the encoder state that read it and still "
                 "holds x_(T−1−s) — the alignment one position later; without feedback the decoder's queries can "
                 "only encode the position.")
    return text


# ----------------------------------------------------------------------------------------------- the report
def figure_specs(frames: dict) -> list[dict]:
    """The attention report's figures: ``name``, ``title``, ``caption``, ``draw(container)``, ``size``."""
    specs = []
    table = frames.get("attention_accuracy")
    if table is not None and not table.empty:
        specs.append(dict(name="attention_accuracy", title="Accuracy against sequence length", caption=accuracy_caption(table),
                          draw=lambda c, t=table: plot_accuracy_against_length(t, fig=c), size=(10.0, 4.8)))
    profile = frames.get("attention_gradients")
    if profile is not None and not profile.empty:
        longest = profile[pd.to_numeric(profile["length"]) ==
                          profile.groupby("task")["length"].transform("max")]
        specs.append(dict(name="attention_gradients", title="Gradient paths against distance",
                          caption=gradient_caption(longest),
                          draw=lambda c, p=longest: plot_gradient_paths(p, fig=c), size=(10.0, 8.0)))
    maps = frames.get("attention_maps")
    if maps is not None and not maps.empty:
        for task in sorted(maps["task"].unique(), key=lambda t: (t != "reverse", t)):
            part = maps[maps["task"] == task]
            n_models = part["model"].nunique()
            specs.append(dict(name=f"attention_maps_{task}", title=f"Attention weights: {task}",
                              caption=attention_caption(part, table if table is not None else pd.DataFrame()),
                              draw=lambda c, m=part: plot_attention_maps(m, fig=c),
                              size=(9.0, 9.0 * (2.3 * n_models + 0.6) / 10.9)))   # the page's plot: 2.3 in a row
    return specs


_SUMMARY_COLUMNS = [("model", "model"), ("task", "task"), ("length", "T"), ("token_accuracy", "greedy\ntoken acc."),
                    ("sequence_accuracy", "sequence\nacc."), ("teacher_forced_accuracy", "teacher-forced\ntoken acc."),
                    ("final_loss", "final loss\n(nats/symbol)"), ("alignment_accuracy", "argmax on\naligned t"),
                    ("alignment_shifted", "argmax on\naligned t + 1")]


def summary_display(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 of the attention report: one row per model × task × length, medians over seeds (range)."""
    out = {}
    for col, label in _SUMMARY_COLUMNS:
        if col not in table:
            continue
        if col == "model":
            out[label] = [_label(m) for m in table[col]]
        elif col in ("task",):
            out[label] = table[col].astype(str).tolist()
        elif col == "length":
            out[label] = [f"{int(v)}" for v in table[col]]
        elif col == "final_loss":
            out[label] = [_g(v, 2) if np.isfinite(v) else "–" for v in table[col].astype(float)]
        else:
            cells = []
            for v, lo, hi in zip(table[col], table.get(f"{col}_min", table[col]), table.get(f"{col}_max", table[col])):
                text = _pct(v)
                if text != "–" and _pct(lo) != _pct(hi):
                    text += f" ({_pct(lo)}–{_pct(hi)})"
                cells.append(text)
            out[label] = cells
    return pd.DataFrame(out, index=range(len(table)))


def summary_note(table: pd.DataFrame) -> str:
    """The note under Table 1."""
    seeds = int(table["n_seeds"].max()) if "n_seeds" in table else 1
    return ("One row per model, task and source length T: "
            + (f"medians over {seeds} seeds (range in brackets). " if seeds > 1 else "one seed. ")
            + "Greedy: the model decodes its own outputs; teacher-forced: it reads the true previous symbols. Alignment: the share of target positions whose largest "
            "attention weight falls on the aligned source position t (copy: s; reverse: T − 1 − s), or on the one "
            "after it (teacher-forced, 256 evaluation sequences; the transformer: its head-averaged weights on the "
            "source positions). Loss: training cross-entropy over the last 20 steps.")


METHODS = [
    ("Tasks", "Sources of T symbols drawn uniformly from V symbols (rnnprobe.attention.SequenceTask); the target is the "
     "source (copy) or the source reversed (reverse). Target position s is aligned with source position s (copy) or "
     "T − 1 − s (reverse). Decoders read a start symbol, then the target shifted right (teacher forcing in training)."),
    ("Models", "Encoder–decoder (rnnprobe.attention.EncoderDecoder, Luong et al. 2015): an encoder core reads the source "
     "embeddings into states e_1 … e_T; a decoder core starts from the encoder's last state and gives states d_s. "
     "Without attention the logits are y_s = W d_s + b (everything about the source crossed the encoder's last state: "
     "the lecture's 'asking the network too much'); with attention α_(t,s) = softmax_t(e_tᵀ d_s), c_s = Σ_t α_(t,s) e_t "
     "and y_s = W [d_s; c_s] + b (bilinear: e_tᵀ M d_s). 'no feedback': the decoder reads the start symbol at every step "
     "instead of the previous target symbol. Transformer: one causal TransformerEncoderLayer (post-norm, ReLU, 4 heads, "
     "learned positions) over [source; start symbol, target], the logits read at the target positions."),
    ("Training and accuracy", "Adam on the teacher-forced cross-entropy, one batch of 32 fresh sequences per step drawn "
     "from the seed, learning rate 1e-2 (transformer 3e-3), gradient norm clipped at 1. Accuracy on 256 fresh sequences "
     "(seed 12345): greedy decoding feeds back the model's most likely symbol; teacher forcing reads the true previous "
     "symbol. Sequence accuracy: every symbol right."),
    ("Gradient paths", "L_s = uᵀ y_s with u a fixed random unit vector (from the seed). Every path from an encoder state "
     "s_t to L_s crosses exactly one bridge: the attention (at some e_(t'), t' ≥ t, then back along the encoder) or the "
     "decoder's start state (then back along the whole encoder: T − t + s recurrent steps to d_s). "
     "rnnprobe.attention_path_split gives ∂L_s/∂s_t and its two parts from one forward pass (they sum to the total, "
     "checked in the tests against autograd with the other bridge detached). ‖∂L_s/∂x_t‖ at the source embeddings "
     "(rnnprobe.input_gradient_norms) applies to every model. Norms: mean over 16 evaluation sequences; curves: median "
     "over the (s, t) pairs at each distance d = T − t + s."),
    ("Attention maps", "α_(t,s) of the first three evaluation sequences, teacher-forced, for one seed and the longest "
     "length of at most 16. Alignment share: argmax_t α_(t,s) equal to the aligned position, over all target positions "
     "of 256 sequences."),
]

REFERENCES = ("Bahdanau, Cho & Bengio (2015) ICLR; Luong, Pham & Manning (2015) EMNLP; Sutskever, Vinyals & Le (2014) "
              "NeurIPS; Vaswani et al. (2017) NeurIPS; Pascanu, Mikolov & Bengio (2013) ICML.")
