"""Assemble a study's PDF report, with its figures as PNG and its tables as CSV and Markdown.

:func:`write_report` reads ``results.csv``, ``summary.csv`` and ``meta.json``
from a study directory (:mod:`rnnprobe.schema`; ``docs/results.md``), or takes
them from a run held in memory, runs the analysis, and writes

* ``report.pdf``: a title page (study, dates, configuration, versions, contents),
  the summary table, one page per figure with a caption that states what it
  shows and the main measured finding in numbers, the analysis tables, and a
  methods page (definitions and formulas);
* ``figures/<name>.png`` beside the PDF;
* ``tables/<name>.csv`` (full precision) and ``tables/<name>.md`` (as printed).

A report adapts to the metrics present: each figure and table appears only when
its data exists (the vanishing, depth and memory studies record different
metrics), and a section that cannot be drawn is listed on the title page with
the reason instead of failing the report.

Examples
--------
A study directory with only a summary still gets a report (the figures that
need per-lag results are left out):

>>> import tempfile, pathlib, pandas as pd
>>> study = pathlib.Path(tempfile.mkdtemp())
>>> pd.DataFrame({"study": "memory", "arch": ["vanilla-tanh", "lstm"], "hidden": 8, "length": 50, "gain": 1.0,
...     "seed": 0, "memory_threshold": [12, 50], "memory_efold": [3.2, 41.0]}).to_csv(study / "summary.csv", index=False)
>>> pdf = write_report(study)
>>> pdf.name, sorted(p.name for p in (study / "figures").iterdir())
('report.pdf', ['memory_heatmap.png'])
"""

from __future__ import annotations

import csv
import json
import os
import platform
import tempfile
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from rnnprobe import analysis, schema
from rnnprobe._atomic import UMASK, atomic_write
from rnnprobe.reports import attention_pages, captions, training_pages
from rnnprobe.reports._plotting import facets, is_depth
from rnnprobe.reports.figures import (plot_bounds, plot_chi1, plot_gradient_decay_panels, plot_memory_capacity_panels,
                             plot_memory_heatmap, plot_pascanu)
from rnnprobe.reports.lyapunov import plot_hyperbolicity
from rnnprobe.reports._metrics import shared_pdf_text_metrics
from rnnprobe.reports._pngs import PngRenderer
from rnnprobe.reports.palette import report_style
from rnnprobe.reports.spectra import _n_blocks, plot_depth_isometry, plot_jacobian_spectra, plot_lyapunov_spectra, plot_weight_spectra
from rnnprobe.reports.tables import A4, format_table, table_pages, to_markdown
from rnnprobe.reports.prediction_pages import INDEX_NAMES, PREDICTION_TITLES, QUANTITY_LABELS, plot_theory_prediction
from rnnprobe.errors import InvalidArgument

__all__ = ["StudyData", "load_study", "analyse", "build_report", "BuiltReport", "write_report", "STUDY_QUESTIONS"]


#: The question each known study answers (shown on the title page).
STUDY_QUESTIONS = {
    "vanishing": "How fast do gradients vanish or explode through time, per architecture, sequence length and gain?",
    "depth": "Do deep plain, residual and dense stacks keep the input–output Jacobian close to an isometry as depth grows?",
    "memory": "How long do recurrent architectures remember, and how do the LSTM forget-gate and GRU update-gate "
              "biases change it?",
    "theory": "Do rnnprobe's measurements agree with published theory: mean-field propagation, the Pascanu bound, "
              "dynamical isometry, memory capacity, residual path ensembles and gate timescales?",
    "training": "How do gradient flow and memory change while a char-RNN learns, for vanilla tanh, GRU and LSTM "
                "cores and a flossed vanilla RNN?",
    "attention": "Does attention cure 'asking the network too much': accuracy, gradient paths and alignments of "
                 "encoder–decoders with and without attention and of a causal transformer, on copy and reversal "
                 "against length?",
}


@dataclass(frozen=True)
class StudyData:
    """The three files of a study directory (any of them may be missing), and its side tables (``samples``)."""

    directory: Path
    results: pd.DataFrame | None
    summary: pd.DataFrame | None
    meta: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The study's name (meta.json, else the tables' ``study`` column, else the directory)."""
        if self.meta.get("study"):
            return str(self.meta["study"])
        for frame in (self.summary, self.results):
            if frame is not None and "study" in frame and frame["study"].notna().any():
                return str(frame["study"].dropna().iloc[0])
        return self.directory.name


#: columns a table must have to be read as a study's (the rest of the schema is optional: tables made by hand,
#: older runs, other studies)
_REQUIRED_COLUMNS = {schema.RESULTS_FILE: ("metric", "value"), schema.SUMMARY_FILE: ("arch",)}


def _read_table(path: Path) -> pd.DataFrame:
    """A study table; :class:`InvalidArgument` naming the file when it is empty, binary, truncated or not the schema's."""
    name = path.name

    def bad(why: str):
        return InvalidArgument(f"results_dir holds a damaged {name}: {str(path)!r} {why}; rerun the study into this "
                               "directory to rewrite it (it resumes from its points/)")

    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(max(size - 65536, 0))
            tail = fh.read()
    except OSError as exc:
        raise bad(f"cannot be read ({exc.strerror or exc})") from None
    if size == 0 or not tail.strip():
        raise bad("is empty")
    if b"\0" in tail:
        raise bad("holds binary data (NUL bytes), not CSV text")
    if not tail.endswith(b"\n"):
        raise bad("is truncated (its last line is cut off)")
    try:
        frame = pd.read_csv(path, low_memory=False)
    except UnicodeDecodeError:
        raise bad("is not UTF-8 text (binary data?)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise bad(f"is not a CSV table ({str(exc).strip().splitlines()[0]})") from None
    missing = [c for c in _REQUIRED_COLUMNS.get(name, ()) if c not in frame.columns]
    if missing:
        raise bad(f"lacks the column(s) {', '.join(missing)} (its columns: {', '.join(map(str, frame.columns[:8]))})")
    last = tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
    if len(frame) and last.count(b'"') % 2 == 0 and len(next(iter(csv.reader([last.decode("utf-8", "replace")])), [])) != len(frame.columns):
        raise bad(f"is truncated or damaged (its last line has not the {len(frame.columns)} fields of its header)")
    if "value" in frame and len(frame) and not pd.api.types.is_numeric_dtype(frame["value"]):
        raise bad("has a column 'value' that is not all numbers")
    return frame


def load_study(results_dir) -> StudyData:
    """Read ``results.csv``, ``summary.csv`` and ``meta.json`` from a study directory.

    Raises
    ------
    InvalidArgument
        When the directory does not exist or holds neither CSV file, or a CSV
        file is damaged (empty, binary, truncated, not a table, lacking the
        schema's key columns); the message names the file.
    """
    directory = Path(results_dir)
    if not directory.is_dir():
        raise InvalidArgument(f"results_dir must be a study output directory; got {str(results_dir)!r}, "
                              "which is not a directory (run `rnnprobe study NAME --out DIR` first)")
    results_file, summary_file = directory / schema.RESULTS_FILE, directory / schema.SUMMARY_FILE
    results = _read_table(results_file) if results_file.exists() else None
    summary = _read_table(summary_file) if summary_file.exists() else None
    if results is None and summary is None:
        raise InvalidArgument(f"results_dir must contain results.csv or summary.csv; got {str(results_dir)!r} "
                              f"with {sorted(p.name for p in directory.iterdir())[:10]}")
    meta = {}
    if (directory / schema.META_FILE).exists():
        try:
            meta = json.loads((directory / schema.META_FILE).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            warnings.warn(f"meta.json in {directory} is not valid JSON ({exc}); the title page will lack it",
                          stacklevel=2)
    meta = meta if isinstance(meta, dict) else {}
    tables = {}
    for table in dict.fromkeys([*(meta.get("tables") or {}), *schema.EXTRA_TABLES]):
        path = directory / schema.table_file_name(str(table))
        if path.is_file():
            verbatim = schema.TABLE_TEXT_COLUMNS.get(str(table), ())   # '', 'NA', 'nan' are text there
            header = pd.read_csv(path, nrows=0).columns
            tables[str(table)] = pd.read_csv(path, low_memory=False, keep_default_na=False,
                                             na_values={c: [""] for c in header if c not in verbatim})
    return StudyData(directory, results, summary, meta, tables)


def _config_value(meta: dict, *keys, default=None):
    for scope in (meta.get("config") or {}, meta.get("grid") or {}, meta):
        for k in keys:
            if isinstance(scope, dict) and scope.get(k) is not None:
                return scope[k]
    return default


def _input_variance(meta: dict) -> float | None:
    """v_x for the mean-field comparison of recurrent nets, when meta.json says what the inputs were."""
    v = _config_value(meta, "input_variance")
    if v is not None:
        return float(v)
    std = _config_value(meta, "input_std")
    gain = _config_value(meta, "input_gain", default=1.0)
    if std is not None:
        return float(gain) ** 2 * float(std) ** 2
    return None


def analyse(study: StudyData) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Run every analysis the study's metrics allow.

    Returns
    -------
    frames : dict of str -> DataFrame
        Empty frames where a metric is absent.
    skipped : list of str
        One line per analysis that failed (with its reason).
    """
    R, S, meta = study.results, study.summary, study.meta
    frames: dict[str, pd.DataFrame] = {}
    skipped: list[str] = []

    def run(name: str, fn: Callable[[], pd.DataFrame]):
        try:
            frames[name] = fn()
        except Exception as exc:  # a report must survive one analysis failing; say which and why
            frames[name] = pd.DataFrame()
            skipped.append(f"{name}: {type(exc).__name__}: {exc}")
            warnings.warn(f"report section {name!r} skipped: {exc}", stacklevel=2)

    empty = pd.DataFrame
    if analysis.is_training(R):
        # the training study: curves against the training step; the other analyses would mix the steps
        run("training_curves", lambda: analysis.training_curves(R))
        run("gradient_profiles", lambda: analysis.gradient_profiles(R))
        run("training_measures", lambda: analysis.training_measures(R))
        run("weight_norms", lambda: analysis.weight_norms(R))
        run("training_table", lambda: analysis.training_table(R))
        if "samples" in study.tables:
            run("samples", lambda: analysis.sample_table(study.tables["samples"], R))
        return frames, skipped
    if R is not None and analysis.is_theory(R):
        # the theory study: predictions against measurements; the other analyses have nothing to read
        run("theory_checks", lambda: analysis.pool_checks(R, S))
        run("theory_summary", lambda: analysis.check_summary(frames["theory_checks"])
            if not frames["theory_checks"].empty else empty())
        if S is not None and "tolerance_basis" in S:
            run("theory_settings", lambda: analysis.check_settings(S))
            run("theory_tolerances", lambda: analysis.check_tolerances(S))
        return frames, skipped
    if analysis.is_attention(R) or analysis.is_attention(S):
        # the attention study: accuracy, gradient paths, attention maps; the chain analyses have nothing to read
        if S is not None:
            run("attention_accuracy", lambda: analysis.accuracy_table(S))
        if R is not None:
            run("attention_gradients", lambda: analysis.gradient_by_distance(R))
            run("attention_maps", lambda: analysis.attention_maps(R))
        return frames, skipped
    if R is not None:
        run("tightness", lambda: analysis.bound_tightness(R))
    if S is not None:
        run("summary", lambda: analysis.summary_table(S, R, tightness=frames.get("tightness")))
        run("memory", lambda: analysis.memory_table(S)
            if any(m in S and S[m].notna().any() for m in analysis.MEMORY_MEASURES) else empty())
    if R is not None:
        run("fits_G", lambda: analysis.decay_fits(R, "jacobian_norm"))
        run("fits_g", lambda: analysis.decay_fits(R, "gradient_norm"))
        run("decay", lambda: analysis.decay_table(pd.concat([f for f in (frames["fits_G"], frames["fits_g"])
                                                             if not f.empty]))
            if not (frames["fits_G"].empty and frames["fits_g"].empty) else empty())
        run("profile_g", lambda: analysis.lag_profile(R, "gradient_norm"))
        run("profile_G", lambda: analysis.lag_profile(R, "jacobian_norm"))
        run("tightness_points", lambda: analysis.bound_tightness_summary(frames["tightness"])
            if not frames["tightness"].empty else empty())
        run("bounds", lambda: analysis.bound_tightness_table(frames["tightness_points"])
            if not frames["tightness_points"].empty else empty())
        run("capacity_profile", lambda: analysis.lag_profile(R, "memory_capacity_lag"))
        run("weight_spectra", lambda: analysis.spectrum_profile(R, "weight_singular_value"))
        run("lyapunov_spectra", lambda: analysis.spectrum_profile(R, "lyapunov_exponent"))
        run("jacobian_spectra", lambda: analysis.spectrum_profile(R, "jacobian_singular_value", horizon=None))
        run("clv_angles", lambda: analysis.clv_angle_series(R))
        run("chi1", lambda: analysis.chi1_comparison(R, sigma_b=float(_config_value(meta, "bias_std", default=0.0)),
                                                     input_variance=_input_variance(meta)))
    run("isometry", lambda: analysis.isometry_table(R, S))
    if S is not None and "pascanu" in S:
        has_slopes = {"efold_slope_low", "efold_slope_high"} <= set(S.columns) and S["efold_slope_high"].notna().any()
        fits = None if has_slopes else frames.get("fits_G")
        if has_slopes or (fits is not None and not fits.empty):
            run("pascanu_points", lambda: analysis.pascanu_agreement(S, fits))
            run("pascanu", lambda: analysis.pascanu_crosstab(frames["pascanu_points"]))
    if "memory_efold" in frames.get("memory", empty()):
        run("memory_grid", lambda: analysis.memory_grid(frames["memory"], "memory_efold"))
        if "spectral_radius" in S:
            run("spectral_memory", lambda: analysis.spectral_memory(S))
    return frames, skipped


@dataclass
class _Item:
    kind: str                     # 'figure' or 'table'
    name: str                     # file stem
    title: str
    caption: str = ""
    draw: Callable | None = None  # figure: draw(container Figure/SubFigure)
    frame: pd.DataFrame | None = None
    display: pd.DataFrame | None = None
    n_keys: int = 2
    in_pdf: bool = True
    size: tuple = (10.0, 5.5)
    max_cell_chars: int = 28


def _nonempty(frames, name) -> bool:
    f = frames.get(name)
    return f is not None and not f.empty


def _panels_size(frame: pd.DataFrame, curves=None) -> tuple[float, float]:
    """Size of a figure of one panel per gain, with rows when its variants are split (:func:`facets`)."""
    rows = len(facets(frame, curves=curves))
    if rows == 1:
        n_gains = frame["gain"].nunique() if "gain" in frame else 1
        rows = -(-n_gains // 3)
    return (11.0, 1.0 + 2.6 * rows) if rows > 1 else (11.0, 4.8)


def _merge_identical_variants(spectra: pd.DataFrame) -> pd.DataFrame:
    """Variants of one architecture whose curves are identical (a gate bias leaves the weights alone) drawn once,
    labelled by the architecture."""
    if "variant" not in spectra or "arch" not in spectra:
        return spectra
    keys = [c for c in ("gain", "block", "index") if c in spectra]
    parts = []
    for arch, d in spectra.groupby("arch", sort=False):
        variants = list(dict.fromkeys(d["variant"].astype(str)))
        curves = [d[d["variant"].astype(str) == v].sort_values(keys)["median"].to_numpy(float) for v in variants]
        if len(variants) > 1 and all(len(c) == len(curves[0]) and np.array_equal(c, curves[0], equal_nan=True)
                                     for c in curves[1:]):
            first = d[d["variant"].astype(str) == variants[0]]
            parts.append(first.assign(variant=f"{arch} (all {len(variants)} variants)"))
        else:
            parts.append(d)
    return pd.concat(parts, ignore_index=True)


#: heat-map marks of the memory checks (analysis.memory_agreement)
MEMORY_MARKS = {"measures_agree": "†", "horizon_ok": "*"}


def _memory_grid_extras(table: pd.DataFrame, measure: str):
    """The range over seeds of a memory grid, and its marks: † measures disagree, * horizon too short (any seed)."""
    low = high = marks = None
    if f"{measure}_min" in table and f"{measure}_max" in table:
        low = analysis.memory_grid(table, f"{measure}_min")
        high = analysis.memory_grid(table, f"{measure}_max")
    flags = [c for c in MEMORY_MARKS if c in table and table[c].notna().any()]
    if flags:
        parts = [analysis.memory_grid(table, c).map(lambda v, c=c: MEMORY_MARKS[c] if v < 1 else "") for c in flags]
        marks = parts[0]
        for p in parts[1:]:
            marks = marks + p
    return low, high, marks


def _figure_items(study: StudyData, frames) -> list[_Item]:
    items = []
    S = study.summary
    prof_name = "profile_g" if _nonempty(frames, "profile_g") else "profile_G"
    if _nonempty(frames, prof_name):
        metric = "gradient_norm" if prof_name == "profile_g" else "jacobian_norm"
        profile = frames[prof_name]
        decay = frames.get("decay", pd.DataFrame())
        table = decay[decay["metric"] == metric] if "metric" in decay else decay
        items.append(_Item("figure", "gradient_decay",
                           "Gradient norm through depth" if is_depth(profile) else "Gradient norm against the lag",
                           captions.decay_caption(profile, table, metric=metric),
                           lambda c, p=profile: plot_gradient_decay_panels(p, fig=c), size=_panels_size(profile)))
    if _nonempty(frames, "tightness"):
        selected = analysis.select_points(analysis.with_variant(frames["tightness"]))
        if selected["variant"].nunique() > 9:        # one variant per architecture: a page holds 9 panels
            first = selected.drop_duplicates("arch")["variant"]
            selected = selected[selected["variant"].isin(first)]
        if not selected.empty:
            items.append(_Item("figure", "bounds", "True gradient against its bounds",
                               captions.bounds_caption(selected, frames["tightness"]),
                               lambda c, t=selected: plot_bounds(t, fig=c),
                               size=(11.0, 1.5 + 2.5 * -(-selected["variant"].nunique() // 3))))
    if _nonempty(frames, "memory_grid") and np.isfinite(frames["memory_grid"].to_numpy(float)).any():
        grid = frames["memory_grid"]         # (not when no e-folding time is finite: T = 1 measures none)
        low, high, marks = _memory_grid_extras(frames["memory"], "memory_efold")
        items.append(_Item("figure", "memory_heatmap", "Memory length against gain",
                           captions.heatmap_caption(grid, frames["memory"], marks, frames.get("spectral_memory")),
                           lambda c, g=grid, lo=low, hi=high, m=marks: plot_memory_heatmap(
                               g, ax=c.add_subplot(), low=lo, high=hi, marks=m),
                           size=(2.5 + 1.2 * grid.shape[1], 1.5 + 0.5 * grid.shape[0])))
    if _nonempty(frames, "capacity_profile"):
        items.append(_Item("figure", "memory_capacity", "Memory capacity per lag",
                           captions.capacity_caption(frames["capacity_profile"], frames.get("memory", pd.DataFrame())),
                           lambda c, p=frames["capacity_profile"]: plot_memory_capacity_panels(p, fig=c),
                           size=_panels_size(frames["capacity_profile"])))
    if _nonempty(frames, "pascanu_points"):
        pts = frames["pascanu_points"]
        if np.isfinite(pts["gamma_sigma_max"].astype(float)).any() and np.isfinite(pts["slope"].astype(float)).any():
            items.append(_Item("figure", "pascanu", "The Pascanu condition against measurement",
                               captions.pascanu_caption(pts, frames["pascanu"]),
                               lambda c, a=pts: plot_pascanu(a, ax=c.add_subplot()), size=(8.0, 5.5)))
    if _nonempty(frames, "weight_spectra"):
        weights = _merge_identical_variants(frames["weight_spectra"])
        items.append(_Item("figure", "weight_spectra", "Singular values of the recurrent weights",
                           captions.weight_spectra_caption(weights, S),
                           lambda c, s=weights: plot_weight_spectra(s, fig=c), size=_panels_size(weights, _n_blocks)))
    if _nonempty(frames, "lyapunov_spectra"):
        items.append(_Item("figure", "lyapunov_spectra", "Lyapunov spectra",
                           captions.lyapunov_caption(frames["lyapunov_spectra"], S),
                           lambda c, s=frames["lyapunov_spectra"]: plot_lyapunov_spectra(s, fig=c),
                           size=_panels_size(frames["lyapunov_spectra"])))
    if _nonempty(frames, "clv_angles"):
        angles = frames["clv_angles"]
        items.append(_Item("figure", "hyperbolicity", "Angle between the unstable and stable directions",
                           captions.hyperbolicity_caption(angles, S),
                           lambda c, a=angles: plot_hyperbolicity(a, fig=c), size=_panels_size(angles)))
    if _nonempty(frames, "isometry") and "depth" in frames["isometry"] and frames["isometry"]["depth"].notna().any():
        items.append(_Item("figure", "depth_isometry", "Distance from isometry against depth",
                           captions.isometry_caption(frames["isometry"]),
                           lambda c, t=frames["isometry"]: plot_depth_isometry(t, fig=c),
                           size=(11.0, 1.2 + 2.0 * 2 * max(1, frames["isometry"].get("init", pd.Series([0])).nunique()))))
    if _nonempty(frames, "jacobian_spectra"):
        spectra = analysis.select_points(frames["jacobian_spectra"], seed=None, horizon=None)
        items.append(_Item("figure", "jacobian_spectra", "Input–output Jacobian spectra through depth",
                           captions.jacobian_spectra_caption(spectra, frames.get("isometry", pd.DataFrame())),
                           lambda c, s=spectra: plot_jacobian_spectra(s, fig=c),
                           size=(11.0, 1.2 + 2.6 * max(1, spectra.get("init", pd.Series([0])).nunique()))))
    if _nonempty(frames, "chi1") and _positive_chi1(frames["chi1"]):
        items.append(_Item("figure", "chi1", "Mean-field theory against measurement",
                           captions.chi1_caption(frames["chi1"]),
                           lambda c, t=frames["chi1"]: plot_chi1(t, ax=c.add_subplot()), size=(7.0, 6.0)))
    return items


def _positive_chi1(comparison: pd.DataFrame) -> bool:
    """Whether any row has a positive predicted and measured χ₁ (none when every T = 1: no slope is measured)."""
    if not {"chi1_predicted", "chi1_measured"} <= set(comparison.columns):
        return False
    predicted = pd.to_numeric(comparison["chi1_predicted"], errors="coerce")
    measured = pd.to_numeric(comparison["chi1_measured"], errors="coerce")
    return bool(((predicted > 0) & (measured > 0)).any())


_RANGES = {
    "slope": ("slope_low", "slope_high", "ci"),
    "chi1_measured": ("chi1_low", "chi1_high", "ci"),
    "efold": ("efold_min", "efold_max"),
    **{m: (f"{m}_min", f"{m}_max") for m in ("memory_threshold", "memory_efold", "lyapunov_time", "memory_capacity")},
}

_TABLE_SPECS = [
    # name, title, note, display columns (None: all), n_keys, in_pdf
    ("decay", "Decay-rate fits",
     "Theil–Sen fit of the log norm against the steps per grid point (95% confidence interval of the slope, Sen 1968), "
     "medians over seeds at the longest horizon; metric jacobian_norm is G(k), gradient_norm is g(k). e-fold = −1/slope "
     "(∞ when the norm does not decay); factor per step = exp(slope).",
     ["arch", "variant", "gain", "length", "depth", "metric", "n_seeds", "slope", "slope_low", "slope_high", "efold",
      "efold_min", "efold_max", "growth_per_step"], 3, True),
    ("memory", "Memory lengths",
     "Per architecture × gain × sequence length: medians over seeds, with the min and max over seeds. Threshold: the "
     "largest lag with G ≥ ε (censored share: seeds where every lag passed, so the memory is at least T); e-fold: "
     "−1/slope of log G; Lyapunov time −1/λ₁; MC: linear memory capacity. measures agree: share of seeds whose "
     "e-folding and Lyapunov times agree within 10% of the larger rate + 2/T (+ the fit's 95% interval) and whose "
     "threshold lies within a factor 2 of ln(1/ε) e-folding times; T ≥ 5τ: share of seeds whose horizon T spans at "
     "least 5 memory times τ (else no fit over T lags resolves the memory).",
     None, 3, True),
    ("bounds", "Bound tightness",
     "How much each upper bound over-estimates the true gradient norm g, medians over seeds at the longest sequence "
     "length: at the longest lag (k = T) and the median over lags. 'chain holds' is the share of seeds for which "
     "g ≤ ‖∂L/∂h_T‖G ≤ B_prod ≤ B_W held at every lag.",
     None, 3, True),
    ("pascanu", "Pascanu verdict against measurement",
     "Grid points counted by the Pascanu et al. (2013) verdict (rows) and by the measured decay of G (columns: "
     "vanishing when the 95% interval of the slope of log G is below 0, exploding when above, neutral otherwise). "
     "Agreement: the share of 'vanishing' verdicts confirmed by a measured decay (the condition is sufficient, so this "
     "must be 100%). Per-point rows are in tables/pascanu_points.csv.",
     None, 1, True),
    ("pascanu_points", "Pascanu verdict per grid point", "", None, 3, False),
    ("isometry", "Isometry of the input–output Jacobian",
     "Per architecture × depth × gain, means over seeds (± the standard deviation over seeds) of: the mean and standard "
     "deviation of log s_i over the singular values s_i of ∂s_L/∂s_0, log(s_max/s_min), and the RMS of log s_i (the "
     "distance from isometry; 0 for an isometry).",
     ["arch", "gain", "depth", "hidden", "n_seeds", "log_sv_mean", "log_sv_mean_seed_std", "log_sv_std",
      "log_sv_std_seed_std", "log_condition", "isometry_distance"], 3, True),
    ("chi1", "Mean-field χ₁ against measurement",
     "Predicted per-step growth of the mean squared gradient χ₁ (at the fixed point q* of the variance map) against "
     "the measured growth (exp of the slope of log mean g² per step, 95% interval); log error = measured − predicted "
     "log χ₁ per step; ξ = −1/log χ₁ is the depth scale in steps (negative: growth).",
     ["arch", "gain", "length", "depth", "hidden", "phi", "input_variance", "q_star", "chi1_predicted",
      "chi1_measured", "chi1_low", "chi1_high", "relative_error", "error", "depth_scale_predicted",
      "depth_scale_measured"], 3, True),
]


def _display(frame: pd.DataFrame, cols=None) -> tuple[pd.DataFrame, int]:
    """The formatted table of an analysis frame: variant labels, no empty columns, ranges in one cell."""
    data = frame.reset_index() if frame.index.name is not None else frame
    extras = [c for c in analysis.grid_columns(data) if c not in analysis.BASE_GRID_COLUMNS]
    if "arch" in data and "variant" not in data:
        data = analysis.with_variant(data)
    show_variant = "variant" in data and "arch" in data and (data["variant"] != data["arch"]).any()
    columns = [c for c in (cols or data.columns) if c not in ("study", "point_id", "variant")]
    if "arch" in columns:
        columns.insert(columns.index("arch") + 1, "variant")
    if not show_variant:
        columns = [c for c in columns if c != "variant"]
    else:
        columns = [c for c in columns if c not in extras and c != "arch"]   # the variant names them
    columns = [c for c in columns if c in data and (c in ("arch", "variant") or data[c].notna().any())]
    columns = [c for c in columns if not (c in extras and data[c].nunique(dropna=False) == 1)]   # e.g. one init
    if "measured" in columns and (data["measured"] == "undetermined").all():
        columns.remove("measured")
    if "hidden" in columns and data["hidden"].nunique() == 1 and len(data) > 1:
        columns.remove("hidden")
    keys = len([c for c in columns if c in ("arch", "variant", "gain", "length", "depth", "hidden", "metric")])
    ranges = dict(_RANGES)
    if "n_seeds" in data and data["n_seeds"].max() == 1:      # one seed: a range over seeds says nothing
        one_seed = {c: r for c, r in ranges.items() if len(r) == 2}
        columns = [c for c in columns if not any(c in r for r in one_seed.values())]
        ranges = {c: r for c, r in ranges.items() if c not in one_seed}
    return format_table(data, columns=columns, ranges=ranges), max(1, min(keys, 4))


def _table_items(frames) -> list[_Item]:
    items = []
    for name, title, note, cols, _, in_pdf in _TABLE_SPECS:
        if not _nonempty(frames, name):
            continue
        display, n_keys = _display(frames[name], cols)
        items.append(_Item("table", name, title, note, frame=frames[name], display=display, n_keys=n_keys,
                           in_pdf=in_pdf))
    return items


_METHODS = [
    ("Trajectories and lags", "A model runs forward over T steps (a recurrent net through time, a deep stack through its "
     "L layers), giving states s_0 … s_T (h, or [h; c] for LSTM, or the window of past states for the dense RNN). "
     "Lag k = T − t counts steps back from the last state; in the depth study the distance of layer l from the "
     "output is L − l. Step Jacobians J_t = ∂s_(t+1)/∂s_t are analytic (checked against torch.autograd)."),
    ("Jacobian norm", "G(k) = ‖∂h_T/∂h_(T−k)‖₂ = ‖J_(T−1) ⋯ J_(T−k)‖₂ (spectral norm), from one backward sweep whose "
     "product is renormalised at every step (log space, so no horizon under- or overflows)."),
    ("Gradient norm", "g(k) = ‖∂L/∂h_(T−k)‖ for the loss L = uᵀh_T with a fixed random unit vector u, so ‖∂L/∂h_T‖ = 1 "
     "and g(k) = ‖uᵀ J_(T−1) ⋯ J_(T−k)‖."),
    ("Bounds", "g(k) ≤ ‖∂L/∂h_T‖·G(k) ≤ B_prod(k) = ‖∂L/∂h_T‖ ∏_(s=T−k)^(T−1) ‖J_s‖₂ ≤ B_W(k) = ‖∂L/∂h_T‖ ‖W_h‖₂^k "
     "∏ ‖D_s‖₂ with D_s = diag σ′(W_h h_s + W_x x_s + b) (vanilla RNNs; the lecture's bound). The lecture's product "
     "(∏ D_s) W_h^k is valid for norms only: the exact Jacobian interleaves D_s W_h. Tightness = bound / g."),
    ("Pascanu et al. (2013)", "γ = sup|σ′| (1 for tanh and ReLU, 1/4 for the logistic sigmoid). σ_max(W_h) < 1/γ implies "
     "‖J_s‖₂ ≤ γσ_max < 1 at every step, so gradients must vanish geometrically (verdict 'vanishing'); otherwise the "
     "verdict is 'inconclusive' (σ_max ≥ 1/γ is necessary for explosion, not sufficient). Gated, residual and dense "
     "steps are not D·W_h: 'not applicable'. Measured outcome: the 95% interval of the slope of log G against k below 0 "
     "(vanishing), above 0 (exploding), or containing 0 (neutral)."),
    ("Memory length", "threshold: the largest lag with G(k) ≥ ε (censored at T when every lag passes); e-folding time: "
     "−1/slope of the Theil–Sen fit of log G against k (∞ when the slope is ≥ 0); Lyapunov time: −1/λ₁ when λ₁ < 0, "
     "else ∞; linear memory capacity (Jaeger 2001): MC = Σ_(k≥1) MC_k, MC_k the squared correlation between u(t − k) "
     "and its least-squares linear readout from h(t) (the state that has just read u(t)) for i.i.d. inputs "
     "u ~ U(−1, 1), fitted on 80% of the sequence and scored on the held-out 20% (null bias 1/(n_test − 1) removed); "
     "MC ≤ N − MC_0 up to sampling error."),
    ("Lyapunov spectrum", "λ_i = (1/T′) Σ_t log|R_ii(t)| with J_t Q_t = Q_(t+1) R(t) (QR re-orthonormalisation; Benettin "
     "et al. 1980), over the T′ steps after a burn-in of min(200, T/10) steps."),
    ("Decay fits", "log(norm) = a + b·k per grid point by Theil–Sen (median of pairwise slopes; 95% interval from Sen "
     "1968, scipy.stats.theilslopes). Zero norms (log = −∞) are left out. e-folding time −1/b; factor per step e^b."),
    ("Isometry (depth)", "Singular values s_i of the input–output Jacobian ∂s_L/∂s_0; mean and standard deviation of "
     "log s_i, log(s_max/s_min) and RMS log s_i = sqrt(mean² + std²). An isometry has every s_i = 1."),
    ("Mean-field theory", "For W_ij ~ N(0, σ_w²/n), b ~ N(0, σ_b²), inputs adding variance v_x: q* solves "
     "q = σ_w² E[φ(√q z)²] + σ_b² + v_x and χ₁ = σ_w² E[φ′(√q* z)²] (z ~ N(0,1); Gauss–Legendre quadrature; "
     "Poole et al. 2016, Schoenholz et al. 2017). χ₁ predicts the per-step growth of the mean of ‖vᵀJ‖², so the "
     "measurement is exp(slope) of log(mean over seeds of g²) against the steps. Depth scale ξ = −1/log χ₁. "
     "σ_w is the gain. Exact only at infinite width, with fresh weights each step (MLP); recurrent nets reuse W_h."),
    ("Aggregation", "Tables and curves give medians over seeds, with min–max ranges (shaded bands); 'at the longest "
     "horizon' means the largest sequence length T (or depth L) of the grid for that architecture and gain."),
]

_REFERENCES = (
    "Benettin et al. (1980) Meccanica 15; Jaeger (2001) GMD Report 152; Pascanu, Mikolov & Bengio (2013) ICML; "
    "Poole et al. (2016) NeurIPS; Schoenholz et al. (2017) ICLR; Pennington, Schoenholz & Ganguli (2017) NeurIPS; "
    "Sen (1968) JASA 63; Tallec & Ollivier (2018) ICLR; Cho et al. (2014) EMNLP."
)

_WRAP = 100   # characters per line at 9.5 pt on an A4 page with 0.7 in margins


def _wrap(text: str, width: int = _WRAP) -> str:
    return "\n".join(textwrap.fill(p, width=width, break_on_hyphens=False) for p in text.split("\n"))


def _page(title: str | None = None) -> Figure:
    fig = Figure(figsize=A4)
    if title:
        fig.text(0.085, 0.95, title, ha="left", va="top", fontsize=14, weight="bold")
    return fig


def _footer(fig: Figure, text: str) -> None:
    fig.text(0.5, 0.02, text, ha="center", va="bottom", fontsize=7.5, color="0.4")


#: characters per line of a value on the title and configuration pages (9 pt monospace from x = 0.36 of A4)
_VALUE_WRAP = 62


_LINE = 0.0158       # a 9 pt line of the configuration blocks, as a fraction of the A4 page height (13.3 pt)


def _block(fig: Figure, heading: str, pairs, y: float) -> float:
    fig.text(0.085, y, heading, fontsize=12, weight="bold", va="top")
    y -= 0.026
    for k, v in pairs:
        wrapped = textwrap.fill(str(v), width=_VALUE_WRAP)
        fig.text(0.11, y, str(k), fontsize=9, va="top", color="0.25")
        fig.text(0.36, y, wrapped, fontsize=9, va="top", family="DejaVu Sans Mono")
        y -= _LINE * (wrapped.count("\n") + 1) + 0.003
    return y - 0.012


def _title_page(study: StudyData, contents: list[tuple[str, int]], skipped: list[str], title: str | None) -> Figure:
    meta = study.meta
    fig = Figure(figsize=A4)
    fig.text(0.085, 0.93, title or f"rnnprobe report: {study.name} study", fontsize=20, weight="bold", va="top")
    question = meta.get("question") or meta.get("description") or STUDY_QUESTIONS.get(study.name, "")
    y = 0.885
    if question:
        fig.text(0.085, y, _wrap(question, 80), fontsize=11.5, style="italic", va="top", color="0.2")
        y -= 0.028 * (_wrap(question, 80).count("\n") + 1) + 0.015
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    timings = meta.get("timings") or {}
    n_points = meta.get("n_points", len(study.summary) if study.summary is not None else "?")
    lines = [("Study run", str(meta.get("created", "unknown"))), ("Report written", now),
             ("Grid points", str(n_points))]
    if timings.get("total_s") is not None:
        lines.append(("Wall time", f"{float(timings['total_s']):.1f} s"))
    versions = meta.get("versions") or {}
    if versions:
        lines.append(("Versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    lines.append(("Directory", str(study.directory)))
    y = _block(fig, "Run", lines, y)
    fig.text(0.085, y, "Contents", fontsize=12, weight="bold", va="top")
    y -= 0.026
    for name, page in contents:
        fig.text(0.11, y, name, fontsize=9.5, va="top")
        fig.text(0.88, y, str(page), fontsize=9.5, va="top", ha="right")
        y -= 0.0185
    if skipped:
        y -= 0.01
        fig.text(0.085, y, _wrap("Not shown (analysis failed): " + "; ".join(skipped), 100), fontsize=8.5,
                 va="top", color="#8c0800")
    return fig


def _block_height(pairs) -> float:
    return 0.026 + sum(_LINE * (textwrap.fill(str(v), width=_VALUE_WRAP).count("\n") + 1) + 0.003
                       for _, v in pairs) + 0.012


def _configuration_pages(study: StudyData) -> list[Figure]:
    """The grid, options, versions, host and timings, flowing onto further pages when they do not fit one."""
    meta = study.meta
    blocks = []
    grid = meta.get("grid") or {}
    if grid:
        blocks.append(("Grid", [(k, _compact(v)) for k, v in grid.items()]))
    config = {k: v for k, v in (meta.get("config") or {}).items() if k not in grid and v not in (None, [], "")}
    if config:
        blocks.append(("Options", [(k, _compact(v)) for k, v in config.items()]))
    if meta.get("seeds") is not None and "seed" not in grid:
        blocks.append(("Seeds", [("seeds", _compact(meta["seeds"]))]))
    versions = dict(meta.get("versions") or {})
    versions["python (report)"] = platform.python_version()
    blocks.append(("Versions", list(versions.items())))
    host = meta.get("host") or {}
    if host:
        blocks.append(("Host", list(host.items())))
    timings = meta.get("timings") or {}
    if timings:
        blocks.append(("Timings", _timing_lines(timings)))
    pages, y = [_page("Configuration")], 0.905
    for heading, pairs in blocks:
        if y - _block_height(pairs) < 0.05 and y < 0.905:
            pages.append(_page("Configuration (continued)"))
            y = 0.905
        y = _block(pages[-1], heading, pairs, y)
    return pages


def _timing_lines(timings: dict) -> list[tuple[str, str]]:
    """Wall time, and the per-point times summarised (not listed: there may be hundreds)."""
    lines = []
    if timings.get("total_s") is not None:
        lines.append(("total", f"{float(timings['total_s']):.1f} s"))
    points = timings.get("points")
    if isinstance(points, dict) and points:
        values = sorted(float(v) for v in points.values())
        lines.append(("per point", f"{len(values)} points: median {values[len(values) // 2]:.3g} s, "
                                   f"max {values[-1]:.3g} s, sum {sum(values):.1f} s"))
    for key in ("computed", "resumed"):
        if key in timings:
            lines.append((key, str(timings[key])))
    return lines


_MAX_VALUE_CHARS = 95


def _compact(value) -> str:
    if isinstance(value, (list, tuple)):
        text = ", ".join(_compact(v) for v in value)
    elif isinstance(value, dict):
        text = "; ".join(f"{k}={_compact(v)}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def _figure_page(item: _Item, number: int) -> Figure:
    page = Figure(figsize=A4, layout=ConstrainedLayoutEngine(rect=(0.06, 0.04, 0.88, 0.93)))
    width_in = A4[0] * 0.88
    room = A4[1] * 0.93 - 0.7 - 0.05                # below the page title, above the footer
    aspect = item.size[1] / item.size[0]
    plot_h = min(max(width_in * aspect * 1.5, 4.2), 7.0)
    # a long caption shrinks the plot (to 3 in at least), then its own font (to 7.5 pt at least), so it fits
    for fontsize in (9.5, 9.0, 8.5, 8.0, 7.5):
        caption = _wrap(f"Figure {number}. {item.caption}", int(_WRAP * 9.5 / fontsize))
        caption_h = (0.2 * fontsize / 9.5) * (caption.count("\n") + 1) + 0.4
        if 3.0 + caption_h <= room:
            break
    plot_h = max(3.0, min(plot_h, room - caption_h))
    rest = A4[1] * 0.93 - 0.7 - plot_h - caption_h
    top, plot, cap, _ = page.subfigures(4, 1, height_ratios=[0.7, plot_h, caption_h, max(rest, 0.01)])
    top.text(0.02, 0.35, f"Figure {number}: {item.title}", fontsize=14, weight="bold", va="center")
    item.draw(plot)
    cap.text(0.02, 0.97, caption, fontsize=fontsize, va="top", ha="left", linespacing=1.4)
    return page


def _methods_pages(methods=None, references=None) -> list[Figure]:
    """The definitions and formulas, flowing onto further pages when they do not fit one."""
    pages = [_page("Methods")]
    y = 0.915
    for heading, text in (methods or _METHODS) + [("References", references or _REFERENCES)]:
        wrapped = _wrap(text, 108)
        need = 0.018 + 0.0148 * (wrapped.count("\n") + 1) + 0.012
        if y - need < 0.06:
            pages.append(_page("Methods (continued)"))
            y = 0.915
        fig = pages[-1]
        fig.text(0.085, y, heading, fontsize=10.5, weight="bold", va="top")
        fig.text(0.085, y - 0.018, wrapped, fontsize=8.8, va="top", linespacing=1.35)
        y -= need
    return pages


def _atomic_pdf(path: Path, pages: list[Figure], meta_title: str, after_page: Callable[[int], None] | None = None) -> None:
    """Write the pages as one PDF, whole or not at all; ``after_page(i)`` is called once page ``i`` is drawn."""
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".pdf", dir=path.parent)
    os.close(fd)
    try:
        with PdfPages(tmp, metadata={"Title": meta_title, "Creator": "rnnprobe"}) as pdf:
            for i, page in enumerate(pages):
                pdf.savefig(page)
                if after_page is not None:
                    after_page(i)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SUMMARY_NOTES = {
    "memory_threshold": "threshold: the largest lag with G ≥ ε (steps)",
    "memory_efold": "e-fold: −1/slope of log G against the lag (steps; ∞: no decay)",
    "lyapunov_time": "Lyapunov time: −1/λ₁ (steps)",
    "memory_capacity": "MC: linear memory capacity Σ_(k≥1) MC_k, held-out (at most the hidden size)",
    "lyapunov_exponent": "λ₁: the top Lyapunov exponent per step",
    "sigma_max": "σ_max: the largest singular value of the recurrent (or layer) weights",
    "log_sv_mean": "mean and std log s: of the log singular values of the input–output Jacobian (0 and 0 for an "
                   "isometry)",
    "pascanu": "Pascanu verdict (σ_max < 1/γ ⇒ vanishing) and the measured decay of G (see Methods)",
    "ratio_product": "B_prod/g and B_W/g: how much the bounds over-estimate the true gradient at the longest lag",
}


def _summary_note(table: pd.DataFrame) -> str:
    horizon = "depth" if "depth" in table else "sequence length" if "length" in table else "horizon"
    parts = [text for col, text in _SUMMARY_NOTES.items() if col in table]
    return (f"One row per architecture{' variant' if 'variant' in table else ''} and gain at the longest {horizon}; "
            "medians over seeds. " + "; ".join(parts) + ".")


# ----------------------------------------------------------------------------------------------- attention study
_ATTENTION_FRAMES = ("attention_accuracy", "attention_gradients", "attention_maps")


def _attention_items(frames) -> tuple[list[_Item], list[_Item]]:
    """The attention study's figures (reports.attention_pages) and its full tables (files only, not in the PDF)."""
    figures = [_Item("figure", **spec) for spec in attention_pages.figure_specs(frames)]
    tables = [_Item("table", name, title, frame=frames[name], display=format_table(frames[name]), in_pdf=False)
              for name, title in (("attention_gradients", "Gradient norms against distance, by path"),
                                  ("attention_maps", "Attention weights of the example sequences"))
              if _nonempty(frames, name)]
    return figures, tables


# ----------------------------------------------------------------------------------------------- theory study
_THEORY_ORDER = ("meanfield", "pascanu", "isometry", "capacity", "paths", "gates")
_THEORY_PAGE_CHECKS = 14      # more checks than this on one prediction: one page per architecture group


def _theory_groups(summary: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(suffix, settings) pages of one prediction: one page, or one per architecture group when it has many checks."""
    settings = list(dict.fromkeys(summary["setting"].astype(str)))
    if len(summary) <= _THEORY_PAGE_CHECKS or "arch" not in summary:
        return [("", settings)]
    groups: list[tuple[list[str], list[str], int]] = []
    for arch, g in summary.groupby("arch", sort=False):
        names = list(dict.fromkeys(g["setting"].astype(str)))
        if groups and groups[-1][2] + len(g) <= _THEORY_PAGE_CHECKS:
            archs, members, n = groups[-1]
            groups[-1] = (archs + [str(arch)], members + names, n + len(g))
        else:
            groups.append(([str(arch)], names, len(g)))
    return [(" (" + ", ".join(archs) + ")", members) for archs, members, _ in groups]


def _theory_figure_items(frames) -> list[_Item]:
    checks, summary = frames["theory_checks"], frames["theory_summary"]
    labels = {q: v[2] for q, v in QUANTITY_LABELS.items()}
    items = []
    present = list(dict.fromkeys(summary["prediction"].astype(str)))
    for prediction in [p for p in _THEORY_ORDER if p in present] + [p for p in present if p not in _THEORY_ORDER]:
        part = summary[summary["prediction"] == prediction]
        for i, (suffix, settings) in enumerate(_theory_groups(part)):
            s_part = part[part["setting"].astype(str).isin(settings)]
            c_part = checks[(checks["prediction"] == prediction) & checks["setting"].astype(str).isin(settings)]
            n_panels = len(dict.fromkeys(zip(c_part["quantity"], c_part.get("relation", pd.Series("", index=c_part.index)))))
            n_settings = c_part["setting"].nunique()
            legend_rows = -(-(n_settings + 4) // 4)         # as plot_theory_prediction lays out its legend, roughly
            height = 0.19 * legend_rows + 0.15 + 2.6 * ((n_panels + 1) // 2) + 0.17 * len(s_part) + 0.8
            title = PREDICTION_TITLES.get(prediction, prediction) + suffix
            items.append(_Item("figure", f"theory_{prediction}" + (f"_{i + 1}" if suffix else ""), title,
                               captions.theory_caption(prediction, s_part, labels),
                               lambda c, a=c_part, b=s_part: plot_theory_prediction(a, b, fig=c),
                               size=(10.0, height)))
    return items


def _fmt_num(x, digits: int = 4) -> str:
    return captions._g(x, digits)


def _theory_where(row) -> str:
    kind = str(row.get("index_kind", "") or "")
    n = int(row.get("n_indices", 1) or 1)
    if not kind or n <= 1:
        return "–"
    name = INDEX_NAMES.get(str(row.get("quantity")), kind)
    return f"{name} {_fmt_num(row['position'])} (of {n})"


def _theory_summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """Table 1 of a theory report: one row per check, the numbers of its worst index, and the verdict."""
    rows = []
    for _, r in summary.iterrows():
        bound = r.get("relation") == "at most"
        measured = _fmt_num(r["measured"])
        std = r.get("measured_std")
        if std is not None and np.isfinite(std) and int(r.get("n_seeds", 1)) > 1:
            measured += f" ± {_fmt_num(std, 2)}"
        rows.append({
            "prediction": r["prediction"], "setting": r["setting"],
            "quantity": QUANTITY_LABELS.get(r["quantity"], ("", "", r["quantity"]))[2],
            "worst at": _theory_where(r),
            "predicted": ("≤ " if bound else "") + _fmt_num(r["predicted"]),
            "measured\n(± std over seeds)": measured,
            "error": captions._signed(r["error"]) if not bound else "–",
            "tolerance": _fmt_num(r["tolerance"], 2) if not bound else "–",
            "|error| / tol.\n(bound: meas./bound)": _fmt_num(r["measured_to_bound"], 3) if bound
            else _fmt_num(r["error_to_tolerance"], 2),
            "seeds\npassing": f"{int(r['seeds_passed'])}/{int(r['n_seeds'])}" if "seeds_passed" in r else "–",
            "verdict": r["verdict"],
        })
    return pd.DataFrame(rows)


def _theory_summary_note(summary: pd.DataFrame) -> str:
    n = len(summary)
    n_pass = int(summary["passed"].astype(bool).sum())
    seeds = int(summary["n_seeds"].max()) if "n_seeds" in summary else 0
    return (f"Every check of a prediction of rnnprobe.theory against rnnprobe's own measurement, pooled over {seeds} "
            "seeds (each seed: independent networks or input sequences). For checks over many lags, layers or indices "
            "the row shows the worst one (largest |error|/tolerance). Tolerance = c·pooled standard error + allowance "
            "(systematic terms the theory neglects, justified per check in Table 3); c: two-sided critical value at "
            "1e-4 per check, Bonferroni-split over its indices. Upper bounds ('≤') pass when every measurement of every "
            f"seed stays below its bound. {n_pass} of {n} checks pass; if every prediction is right, the chance that "
            f"any check fails by chance is at most {n} × 1e-4 = {n * 1e-4:.2g}.")


def _theory_table_items(frames) -> list[_Item]:
    items = []
    if _nonempty(frames, "theory_settings"):
        t = frames["theory_settings"]
        display = pd.DataFrame({"prediction": t["prediction"], "setting": t["setting"], "parameters": t["parameters"],
                                "quantities": [", ".join(QUANTITY_LABELS.get(q, ("", "", q))[2] for q in qs.split(", "))
                                               for qs in t["quantities"]],
                                "networks per\npoint × seeds": [f"{int(r) if np.isfinite(r) else '–'} × {int(s)}"
                                                                for r, s in zip(t["replicates"].astype(float),
                                                                                t["n_seeds"])]})
        items.append(_Item("table", "theory_settings", "Settings",
                           "The parameters of every setting (σ_w is the gain of mlp and resmlp stacks, g that of "
                           "recurrent nets; n the width, L the depth, T the sequence length), the quantities compared, "
                           "and the replicates: independent networks (or input sequences) per grid point × seeds.",
                           frame=t, display=display, n_keys=2, max_cell_chars=64))
    if _nonempty(frames, "theory_tolerances"):
        t = frames["theory_tolerances"]
        display = pd.DataFrame({"prediction": t["prediction"],
                                "quantity": [QUANTITY_LABELS.get(q, ("", "", q))[2] for q in t["quantity"]],
                                "settings": t["settings"], "tolerance: how it is justified": t["tolerance_basis"]})
        items.append(_Item("table", "theory_tolerances", "Tolerances and their justification",
                           "For each check: the prediction's finite-size terms that are derived are part of the "
                           "prediction; the allowance bounds the terms that are not (docs/theory.md), and c·s.e. covers "
                           "the sampling error of the seeds' replicates.",
                           frame=t, display=display, n_keys=2, max_cell_chars=70))
    if _nonempty(frames, "theory_checks"):
        items.append(_Item("table", "theory_checks", "Every check at every index", "", frame=frames["theory_checks"],
                           display=frames["theory_checks"], in_pdf=False))
    return items


_THEORY_METHODS = [
    ("What is checked", "Each grid point of the theory study is one check (a prediction of rnnprobe.theory, one parameter "
     "setting, one quantity) at one seed. The networks are built by rnnprobe.build and measured with rnnprobe's "
     "probes (recorded states, step Jacobians, jacobian_norms, jacobian_product, weight_spectrum, memory_length, "
     "memory_capacity, paths.path_lengths). 'predicted' is the theory at the finite size used where the finite-size "
     "correction is derived; 'n → ∞' values are the published large-size predictions."),
    ("Mean field (Poole et al. 2016; Schoenholz et al. 2017)", "mlp: s_(l+1) = φ(W_l s_l + b_l), W_ij ~ N(0, σ_w²/n), "
     "b_i ~ N(0, σ_b²). Length map q_(l+1) = σ_w² E[φ(√q_l z)²] + σ_b², fixed point q*; χ₁ = σ_w² E[φ′(√q* z)²] is "
     "the growth per layer of E‖J v‖² (the mean squared singular value ‖J‖_F²/n), not of E log‖J v‖². Finite width "
     "(docs/theory.md §1): E‖J u‖² = χ₁ + θσ_w²ρ(E[φ′²z²] − E φ′²)/n + χ₁′Eδ + ½χ₁″Var δ, with δ = q̂ − q* the "
     "fluctuation of the conditional pre-activation variance (exact for ReLU: σ_w²/2). Gaussian expectations by "
     "composite Gauss–Legendre quadrature (1e-14)."),
    ("Pascanu et al. (2013)", "J_s = D_s W with ‖D_s‖ ≤ γ = sup|φ′| (1 tanh, ReLU, linear; ¼ sigmoid), so "
     "G(k) = ‖J_(T−1) ⋯ J_(T−k)‖₂ ≤ (γσ_max)^k. It is attained at every k when every D_s = γI and W is normaloid "
     "(ρ(W) = ‖W‖₂): pascanu_tight_model uses W = gQ and a bias that holds h* = φ(x₀)·1 fixed with |φ′(x₀)| = γ."),
    ("Dynamical isometry (Pennington, Schoenholz & Ganguli 2017)", "λ: squared singular values of ∂s_L/∂s_0. Linear "
     "Gaussian, exact at width n: with a = E tr B/n, b = E tr B²/n, c = E (tr B)²/n², a_(l+1) = a_l, "
     "b_(l+1) = (1 + 1/n)b_l + c_l, c_(l+1) = c_l + 2b_l/n² (Wishart identities); per-network variance b_L − c_L "
     "(→ L). Orthogonal: λ = g^(2L). Nonlinear, n → ∞ (S-transforms, freeness): mean χ₁^L, variance "
     "χ₁^(2L)·L·(μ₂/μ₁² − 1 + v_W), μ_k = E φ′(√q* z)^(2k), v_W = 1 (Gaussian) or 0 (orthogonal)."),
    ("Memory capacity (Jaeger 2001)", "h(t) = A h(t−1) + w u(t): C = ACAᵀ + σ_u² wwᵀ, MC_k = σ_u²(A^k w)ᵀ C⁺ (A^k w) for "
     "the delay k ≥ 0 (k = 0: the same-step input) and Σ_(k≥0) MC_k = rank C = N for full Krylov rank, so Jaeger's "
     "Σ_(k≥1) MC_k = N − MC_0. rnnprobe.memory_capacity fits least-squares readouts on n_train = 8000 samples and "
     "scores them on n_test = 2000 held out (squared correlation, null bias 1/(n_test − 1) removed). Its mean "
     "(expected_heldout_capacity, Gaussian approximation): training leaves MC_k·E[(1 + 2J)/(r + 2J)], J ~ Poisson(λ/2), "
     "λ = MC_k ν/(1 − MC_k), ν = n_train − r − 2 (≈ MC_k − (1 − MC_k)(r − 1)/ν), and scoring maps m to "
     "1 − (1 − m)₂F₁(1, 1; (n_test + 1)/2; m). Allowance 4(1 − MC_k)/ν + 2MC_k(1 − MC_k)/n_test + (r/ν)² + "
     "1/(n_test − 2) (non-Gaussian and serial terms, calibrated at n_test = 100; the estimator's floor)."),
    ("Residual ensembles (Veit, Wilber & Belongie 2016)", "∂s_L/∂s_0 = ∏(I + B_l) = Σ_m P[m] with "
     "P_(l+1)[m] = P_l[m] + B_l P_l[m−1] (paths through m branches); C(L, m) paths have length m. If E B_l = 0 and "
     "E‖B_l u‖² = g_l‖u‖², E‖gᵀP[m]‖² = e_m(g_1 … g_L)‖g‖² (elementary symmetric polynomials), with "
     "g_l = α²σ_w² E φ′(√q_l z)²; equal gains g give Binomial(L, g/(1 + g)) weights, Veit's Binomial(L, ½) at g = 1."),
    ("Gate timescales (Gers et al. 2000; Tallec & Ollivier 2018; Cho et al. 2014)", "At the origin the LSTM's c→c "
     "block is diag σ(b_f) for any recurrent weights; with zero recurrent weights G(k) = σ(b_f)^k √(1 + σ(b_o)²) "
     "exactly, e-folding time −1/log σ(b_f), forgetting time 1/(1 − σ(b_f)) = 1 + exp(b_f). Chrono init "
     "b_f = log U(1, T_max − 1) makes the forgetting times U(2, T_max). rnnprobe's GRUs (reset before or after the "
     "product) write h' = z h + (1 − z) h̃: factor σ(b_z); Cho et al.'s paper writes (1 − z)h + z h̃, i.e. σ(−b_z)."),
    ("Statistics and verdicts", "Per grid point: R replicates r (networks or input sequences, seeded by seed and r), "
     "paired differences d_r = measured_r − predicted_r; standard error sd(d)/√R with R − 1 degrees of freedom (0 "
     "for exact identities). Pooled over S seeds: error = mean of the d, SE = √(Σ se_i²)/S with Welch–Satterthwaite "
     "degrees of freedom; tolerance = c·SE + allowance, c the two-sided Student t (normal) quantile at significance "
     "1e-4 per check, Bonferroni-split over its m indices. A check passes when |error| ≤ tolerance at every index; an "
     "upper bound when measured ≤ predicted + allowance at every index of every seed. With K checks, the chance that "
     "any fails by chance when every prediction is right is at most K × 1e-4."),
]

_THEORY_REFERENCES = (
    "Cho et al. (2014) EMNLP; Gers, Schmidhuber & Cummins (2000) Neural Computation 12; Jaeger (2001) GMD Report 152; "
    "Pascanu, Mikolov & Bengio (2013) ICML; Pennington, Schoenholz & Ganguli (2017) NeurIPS; Poole, Lahiri, Raghu, "
    "Sohl-Dickstein & Ganguli (2016) NeurIPS; Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017) ICLR; Tallec & "
    "Ollivier (2018) ICLR; Veit, Wilber & Belongie (2016) NeurIPS. Derivations of the finite-size terms: docs/theory.md."
)


@dataclass
class BuiltReport:
    """A report laid out in memory: its pages, and the figures and tables that go beside the PDF."""

    pages: list
    figures: list
    tables: list
    skipped: list
    figure_pages: list = field(default_factory=list)


def build_report(results_dir, *, title: str | None = None) -> BuiltReport:
    """Lay out a study's report in memory (what :func:`write_report` writes), without writing anything.

    Call it inside :func:`report_style` to get the report's fonts.

    Returns
    -------
    BuiltReport
        ``pages`` (A4 Figures, in order), ``figures`` (the figure items: ``name``,
        ``title``, ``caption``, ``size`` and ``draw(figure)``), ``tables`` (every
        table written beside the PDF: ``name``, ``frame``, ``display``) and
        ``skipped`` (analyses that failed, with their reason).
    """
    study = results_dir if isinstance(results_dir, StudyData) else load_study(results_dir)
    frames, skipped = analyse(study)
    theory = _nonempty(frames, "theory_summary")
    training = _nonempty(frames, "training_table")
    attention = not theory and any(_nonempty(frames, k) for k in _ATTENTION_FRAMES)
    footer = f"rnnprobe · {study.name} study"
    summary_pages, summary_title, summary_frame, summary_display = [], "Table 1: Summary", None, None
    if theory:
        figure_items = _theory_figure_items(frames)
        table_items = _theory_table_items(frames)
        summary_frame = frames["theory_summary"]
        summary_title = "Table 1: Every prediction checked"
        summary_display = _theory_summary_display(summary_frame)
        summary_pages = table_pages(summary_display, title=summary_title, note=_theory_summary_note(summary_frame),
                                    n_keys=3, max_cell_chars=40)
    elif training:
        figure_items = [_Item("figure", **spec) for spec in training_pages.figure_specs(frames)]
        table_items = []
        summary_frame = frames["training_table"]
        summary_title = "Table 1: The training runs, from initialisation to the end"
        summary_display = training_pages.summary_display(summary_frame)
        summary_pages = table_pages(summary_display, title=summary_title,
                                    note=training_pages.summary_note(summary_frame), n_keys=1, max_cell_chars=40)
    elif attention:
        figure_items, table_items = _attention_items(frames)
        if _nonempty(frames, "attention_accuracy"):
            summary_frame = frames["attention_accuracy"]
            summary_title = "Table 1: Accuracy and alignment"
            summary_display = attention_pages.summary_display(summary_frame)
            summary_pages = table_pages(summary_display, title=summary_title,
                                        note=attention_pages.summary_note(summary_frame), n_keys=3)
    else:
        figure_items = _figure_items(study, frames)
        table_items = _table_items(frames)
        if _nonempty(frames, "summary"):
            summary_frame = frames["summary"]
            note = _summary_note(summary_frame)
            summary_display, summary_keys = _display(summary_frame)
            summary_pages = table_pages(summary_display, title=summary_title, note=note, n_keys=summary_keys)
    table_page_lists = []
    for i, item in enumerate([t for t in table_items if t.in_pdf], start=2):
        table_page_lists.append((f"Table {i}: {item.title}", table_pages(item.display, title=f"Table {i}: {item.title}",
                                                                        note=item.caption, n_keys=item.n_keys,
                                                                        max_cell_chars=item.max_cell_chars)))
    # page numbers for the contents
    config_pages = _configuration_pages(study)
    contents, page_no = [("Configuration", 2)], 2 + len(config_pages)
    if summary_pages:
        contents.append((summary_title, page_no))
        page_no += len(summary_pages)
    for j, item in enumerate(figure_items, start=1):
        contents.append((f"Figure {j}: {item.title}", page_no))
        page_no += 1
    for name, pages in table_page_lists:
        contents.append((name, page_no))
        page_no += len(pages)
    contents.append(("Methods", page_no))
    pages = [_title_page(study, contents, skipped, title)] + config_pages + summary_pages
    figure_pages = [_figure_page(item, j) for j, item in enumerate(figure_items, start=1)]
    pages += figure_pages
    for _, tp in table_page_lists:
        pages += tp
    if theory:
        pages += _methods_pages(_THEORY_METHODS, _THEORY_REFERENCES)
    elif training:
        pages += _methods_pages(training_pages.METHODS, training_pages.REFERENCES)
    elif attention:
        pages += _methods_pages(attention_pages.METHODS, attention_pages.REFERENCES)
    else:
        pages += _methods_pages()
    for n, page in enumerate(pages, start=1):
        _footer(page, f"{footer} · page {n} of {len(pages)}")
    tables = ([_Item("table", "summary", "Summary", frame=summary_frame, display=summary_display)]
              if summary_pages else []) + table_items
    return BuiltReport(pages, figure_items, tables, skipped, figure_pages)


def write_report(results_dir, output=None, *, png: bool = True, tables: bool = True, dpi: int = 150,
                 title: str | None = None) -> Path:
    """Write a study's PDF report, and its figures (PNG) and tables (CSV, Markdown) beside it.

    Parameters
    ----------
    results_dir : str, Path or StudyData
        A study output directory (``results.csv``, ``summary.csv``, ``meta.json``),
        or the tables themselves (``StudyData``, e.g. from a
        :class:`rnnprobe.studies.StudyResult` held in memory).
    output : str or Path, optional
        The PDF to write (default ``results_dir/report.pdf``); a directory (an
        existing one, or any path not ending in ``.pdf``) means ``output/report.pdf``. Figures go to ``figures/`` and tables to
        ``tables/`` in the PDF's directory.
    png : bool
        Also write every figure as PNG.
    tables : bool
        Also write every table as CSV (full precision) and Markdown (as printed).
    dpi : int
        Resolution of the PNGs.
    title : str, optional
        Title of the report (default "rnnprobe report: <study> study").

    Returns
    -------
    pathlib.Path
        The PDF written.

    Raises
    ------
    InvalidArgument
        When ``results_dir`` is not a study directory.
    """
    study = results_dir if isinstance(results_dir, StudyData) else load_study(results_dir)
    pdf_path = Path(output) if output is not None else study.directory / "report.pdf"
    if pdf_path.is_dir() or pdf_path.suffix.lower() != ".pdf":
        pdf_path = pdf_path / "report.pdf"
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with report_style():
        built = build_report(study, title=title)
        # the PNGs are cut from the figure pages as the PDF laid them out: rendered (in a child process where
        # possible) from when the PDF has drawn its last figure page, while it draws the rest, and written after it
        pngs = PngRenderer(built.figure_pages if png else [], dpi)
        last = max((i for i, page in enumerate(built.pages) if any(page is f for f in built.figure_pages)), default=-1)
        try:
            with shared_pdf_text_metrics():
                _atomic_pdf(pdf_path, built.pages, title or f"rnnprobe report: {study.name} study",
                            after_page=lambda i: pngs.start() if i == last else None)
            if png:
                fig_dir = pdf_path.parent / "figures"
                fig_dir.mkdir(exist_ok=True)
                for item, data in zip(built.figures, pngs.result()):
                    atomic_write(fig_dir / f"{item.name}.png", data)
        finally:
            pngs.close()
        if tables:
            tab_dir = pdf_path.parent / "tables"
            tab_dir.mkdir(exist_ok=True)
            for item in built.tables:
                atomic_write(tab_dir / f"{item.name}.csv", item.frame.to_csv(index=item.frame.index.name is not None))
                atomic_write(tab_dir / f"{item.name}.md", f"# {item.title}\n\n{to_markdown(item.display)}\n")
    return pdf_path

