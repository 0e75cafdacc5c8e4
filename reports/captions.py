"""Figure captions that state what a figure shows and its main measured finding, in numbers.

Each function takes analysis frames and returns one paragraph. The numbers are
read off the frames (medians over seeds, at the study's longest horizon), so a
caption always matches the data it sits under.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"arch": ["vanilla-tanh", "lstm"], "variant": ["vanilla-tanh", "lstm"], "gain": 1.0,
...     "length": 50, "metric": "gradient_norm", "slope": [-0.16, -0.024], "efold": [6.3, 41.0]})
>>> efold_finding(table)
'at gain 1 the fitted e-folding time is 6.3 steps for vanilla-tanh and 41 for lstm'
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rnnprobe.analysis import nearest_gain, with_variant
from rnnprobe.reports._plotting import MAX_CURVES, facets, is_depth
from rnnprobe.reports.tables import format_value

__all__ = [
    "efold_finding", "decay_caption", "bounds_caption", "heatmap_caption", "capacity_caption",
    "weight_spectra_caption", "lyapunov_caption", "hyperbolicity_caption", "pascanu_caption", "chi1_caption", "isometry_caption",
    "jacobian_spectra_caption", "THEORY_INTROS", "theory_clause", "theory_caption",
]


def _v(x, unit: str = "") -> str:
    s = format_value(x)
    return s + (f" {unit}" if unit and s not in ("–", "∞") else "")


def _join(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _label(row) -> str:
    return str(row["variant"]) if "variant" in row and isinstance(row["variant"], str) else str(row["arch"])


def _horizon(frame: pd.DataFrame) -> str:
    for col, sym in (("depth", "L"), ("length", "T")):
        if col in frame and frame[col].notna().any():
            vals = sorted(pd.to_numeric(frame[col], errors="coerce").dropna().unique())
            return f"{sym} = " + (f"{vals[0]:g}" if len(vals) == 1 else f"{vals[0]:g}–{vals[-1]:g}")
    return ""


def _unit(frame: pd.DataFrame) -> str:
    return "layers" if is_depth(frame) else "steps"


def efold_finding(table: pd.DataFrame, *, gain=None) -> str:
    """'at gain 1 the fitted e-folding time is 6.3 steps for vanilla-tanh and 41 for lstm' from a decay table."""
    if table.empty:
        return ""
    if "variant" not in table and "arch" in table:
        table = with_variant(table)              # 'lstm b_f=4', not a bare 'lstm' for each forget bias
    g = nearest_gain(table) if gain is None else gain
    rows = table[np.isclose(table["gain"].astype(float), g)] if not math.isnan(g) else table
    unit = _unit(table)
    parts = []
    for i, (_, r) in enumerate(rows.iterrows()):
        value = "∞ (no decay)" if not np.isfinite(r["efold"]) else _v(r["efold"], unit if i == 0 else "")
        parts.append(f"{value} for {_label(r)}")
    return f"at gain {g:g} the fitted e-folding time is " + _join(parts)


def _exploding(table: pd.DataFrame) -> str:
    if table.empty or "slope_low" not in table:
        return ""
    if "variant" not in table and "arch" in table:
        table = with_variant(table)
    grow = table[table["slope_low"] > 0]
    if grow.empty:
        return ""
    top = grow.loc[grow["slope"].idxmax()]
    unit = "layer" if _unit(table) == "layers" else "step"
    factor = math.exp(top["slope"])
    factor_text = f"{factor:.4f}" if factor < 1.01 else f"{factor:.3g}"
    return (f"{len(grow)} of {len(table)} architecture × gain settings grow instead (fit interval above 0); the fastest, "
            f"{_label(top)} at gain {top['gain']:g}, by a factor {factor_text} per {unit}")


def _rows_text(frame: pd.DataFrame, curves=None) -> str:
    """', rows: …' when the figure splits its variants over rows of panels (reports._plotting.facets)."""
    groups = facets(frame, curves=curves)
    if len(groups) <= 1:
        return ""
    if groups[0][0]:
        option = groups[0][0].split("=")[0]
        return f", one row per {option}"
    return f", the variants split over {len(groups)} rows (at most {MAX_CURVES} curves per panel)"


def decay_caption(profile: pd.DataFrame, table: pd.DataFrame, *, metric: str) -> str:
    """Caption of the gradient-decay figure."""
    what = {"gradient_norm": "Gradient norm g(k) = ‖∂L/∂h_(T−k)‖ for a fixed random unit readout L = uᵀh_T",
            "jacobian_norm": "Jacobian-product norm G(k) = ‖∂h_T/∂h_(T−k)‖₂"}.get(metric, metric)
    if _unit(profile) == "layers":
        what = {"gradient_norm": "Gradient norm ‖∂L/∂s_l‖ at layer l for a fixed random unit readout of the output",
                "jacobian_norm": "Jacobian-product norm ‖∂s_L/∂s_l‖₂"}.get(metric, metric)
        axis = "against the number of layers L − l between layer l and the output"
    else:
        axis = "against the lag k"
    seeds = int(profile["n_seeds"].max()) if "n_seeds" in profile else 1
    text = (f"{what}, {axis}, at {_horizon(profile)} (median over {seeds} seed{'s' if seeds > 1 else ''}"
            f"{'; shaded: range over seeds' if seeds > 1 else ''}), one panel per gain{_rows_text(profile)}, log scale, "
            "each panel with its own y range. "
            "A straight falling line is geometric vanishing, a rising one explosion. ")
    if "median" in profile:
        under = profile[pd.to_numeric(profile["median"], errors="coerce") <= 0]
        if not under.empty:
            names = list(dict.fromkeys(map(str, under["variant"] if "variant" in under else under["arch"])))
            text += (f"Lines that end at a panel's lower edge ({_join(names)}) fell below 10⁻³⁰⁸ there, where float64 "
                     "(results.csv) reads 0; their decay goes on, as the fitted rates say. ")
    finding = efold_finding(table)
    explode = _exploding(table)
    sentences = [s for s in (finding, explode) if s]
    if sentences:
        text += "Finding: " + "; ".join(sentences) + " (Theil–Sen fit of the log norm against the steps)."
    return text


def bounds_caption(selected: pd.DataFrame, tightness: pd.DataFrame) -> str:
    """Caption of the bounds figure: over-estimates at the longest lag, and whether the chain held."""
    first = selected.iloc[0]
    where = f"gain {first['gain']:g}" + (f", seed {int(first['seed'])}" if "seed" in selected else "") + \
        (f", {_horizon(selected)}" if _horizon(selected) else "")
    text = ("The true gradient norm g(k) (solid) and its upper bounds ‖∂L/∂h_T‖·G(k) (dash-dot), "
            "B_prod(k) = ‖∂L/∂h_T‖ ∏‖J_s‖₂ (dashed) and, for vanilla RNNs, the lecture's "
            f"B_W(k) = ‖∂L/∂h_T‖ ‖W_h‖₂^k ∏‖D_s‖₂ (dotted), one grid point per architecture ({where}); log scale. ")
    key = "variant" if "variant" in selected else "arch"
    last = selected.loc[selected.groupby(key, sort=False)["steps"].idxmax()]
    parts = []
    for _, r in last.iterrows():
        piece = f"{_label(r)} {_v(r.get('ratio_product'))}"
        if "ratio_weight" in r and np.isfinite(r["ratio_weight"]):
            piece += f" (B_W: {_v(r['ratio_weight'])})"
        parts.append(piece)
    text += f"Finding: at the longest lag B_prod over-estimates g by a factor {_join(parts)}"
    if "holds" in tightness and len(tightness):
        held = int(tightness["holds"].astype(bool).sum())
        text += f"; the chain g ≤ ‖∂L/∂h_T‖G ≤ B_prod ≤ B_W held at {held} of {len(tightness)} (grid point, lag) pairs"
    return text + "."


def _spectral_clause(spectral: pd.DataFrame | None) -> str:
    """'for lru, ... −1/log ρ ... to within 1e-9 at all 30 grid points' from :func:`rnnprobe.analysis.spectral_memory`."""
    if spectral is None or spectral.empty:
        return ""
    parts = []
    for arch, rows in spectral.groupby("arch", sort=False):
        err = rows["rel_error"].astype(float)
        finite = np.isfinite(rows["predicted_efold"].astype(float))
        n = len(rows)
        parts.append(f"{_v(float(err.max()))} for {arch} ({n} grid point{'s' if n != 1 else ''}, "
                     f"{int(finite.sum())} with ρ < 1)")
    return ("the diagonal recurrences with fixed factors forget as their spectrum predicts: the e-folding time is "
            "−1/log ρ (ρ = max|λ_j|, the spectral radius of the step Jacobian; ∞ for ρ ≥ 1) to within a relative "
            "error of " + _join(parts))


def heatmap_caption(grid: pd.DataFrame, table: pd.DataFrame, marks: pd.DataFrame | None = None,
                    spectral: pd.DataFrame | None = None) -> str:
    """Caption of the memory heatmap: the longest and shortest memory, where it never decays, its marks, and
    (with ``spectral``, from :func:`rnnprobe.analysis.spectral_memory`) the diagonal recurrences against −1/log ρ."""
    measure = grid.attrs.get("measure", "memory_efold")
    name = {"memory_efold": "e-folding time of G (−1/slope of log G against the lag)",
            "memory_threshold": "threshold length (largest lag with G ≥ ε)",
            "lyapunov_time": "Lyapunov time −1/λ₁"}.get(measure, measure)
    horizon = ", ".join(f"{h:g}" for h in grid.attrs.get("horizon", []))
    seeds = int(table["n_seeds"].max()) if "n_seeds" in table and len(table) else 1
    spread = (f", with the range over the {seeds} seeds under it where they differ" if seeds > 1 else "")
    text = (f"Memory length per architecture and gain: the {name}, in steps, median over seeds{spread}, at "
            f"T = {horizon}; ∞ (hatched) means no decay was measured. ")
    if marks is not None:
        flat = marks.to_numpy().ravel().astype(str)
        n_dagger, n_star = sum("†" in m for m in flat), sum("*" in m for m in flat)
        text += (f"† (here {n_dagger} of {flat.size} cells): at some seed the e-folding time, the Lyapunov time −1/λ₁ "
                 "and the threshold disagree beyond their uncertainty (rates apart by more than 10% + 2/T, or the "
                 "threshold not within a factor 2 of ln(1/ε) e-folding times; Table 3). * (here "
                 f"{n_star} cells): at some seed T < 5 memory times, too short a horizon to measure this memory. ")
    stacked = grid.stack().rename("v").reset_index()
    finite = stacked[np.isfinite(stacked["v"])]
    parts = []
    if not finite.empty:
        hi, lo = finite.loc[finite["v"].idxmax()], finite.loc[finite["v"].idxmin()]
        parts.append(f"the longest finite memory is {_v(hi['v'], 'steps')} ({hi.iloc[0]} at gain {float(hi.iloc[1]):g}), "
                     f"the shortest {_v(lo['v'], 'steps')} ({lo.iloc[0]} at gain {float(lo.iloc[1]):g})")
    never = [str(i) for i, row in grid.iterrows() if np.isposinf(row.to_numpy(float)).all()]
    if never:
        parts.append(f"{_join(never)} never decay{'s' if len(never) == 1 else ''} at any gain")
    spectral_text = _spectral_clause(spectral)
    if spectral_text:
        parts.append(spectral_text)
    if parts:
        text += "Finding: " + "; ".join(parts) + "."
    return text


def capacity_caption(profile: pd.DataFrame, table: pd.DataFrame) -> str:
    """Caption of the memory-capacity figure: total capacity per variant against the state size."""
    text = ("Linear memory capacity per delay (Jaeger 2001): MC_k is the squared correlation between u(t − k) and "
            "its linear readout from h(t), the state that has just read u(t), for i.i.d. uniform inputs; the "
            "readouts are fitted on 80% of the driven sequence and scored on the held-out 20%, so a forgotten delay "
            "reads 0. The capacity MC = Σ_(k≥1) MC_k (the same-step term MC_0 is not counted) is the area under a "
            f"curve and at most N − MC_0 up to sampling error. One panel per gain{_rows_text(profile)}. ")
    if "memory_capacity" in table and table["memory_capacity"].notna().any():
        if "variant" not in table and "arch" in table:
            table = with_variant(table)
        g = nearest_gain(table)
        rows = table[np.isclose(table["gain"].astype(float), g)].dropna(subset=["memory_capacity"])
        rows = rows.sort_values("memory_capacity", ascending=False)
        n = f" of N = {int(rows['hidden'].iloc[0])}" if "hidden" in rows and rows["hidden"].notna().any() else ""
        parts = [f"{_label(r)} {_v(r['memory_capacity'])}" for _, r in rows.iterrows()]
        text += f"Finding: at gain {g:g} the total capacity{n} is " + _join(parts) + "."
    return text


def _blocks(frame: pd.DataFrame) -> int:
    return max(1, frame["block"].astype(object).where(frame["block"].notna(), "").nunique()) if "block" in frame else 1


def weight_spectra_caption(spectra: pd.DataFrame, summary: pd.DataFrame | None) -> str:
    """Caption of the W_h spectra figure: σ_max per gain, and how often the Pascanu condition holds."""
    text = ("Singular values of the recurrent weight matrices (W_h, and every gate block of GRU/LSTM, one line "
            f"style per block) in decreasing order, median over seeds, one panel per gain{_rows_text(spectra, _blocks)}; "
            "log scale, each panel with its own y range. The dashed "
            "line σ = 1 is the Pascanu threshold 1/γ for tanh and ReLU. ")
    if summary is not None and "sigma_max" in summary and summary["sigma_max"].notna().any():
        by_gain = summary.groupby("gain")["sigma_max"].median()
        parts = [f"{_v(v)} at gain {g:g}" for g, v in by_gain.items()]
        text += "Finding: the median σ_max (largest block) is " + _join(parts)
        if "pascanu" in summary:
            applicable = summary[summary["pascanu"] != "not applicable"]
            if len(applicable):
                n = int((applicable["pascanu"] == "vanishing").sum())
                text += (f"; the sufficient condition σ_max < 1/γ holds at {n} of {len(applicable)} grid points "
                         "where it applies")
        text += "."
    return text


def lyapunov_caption(spectra: pd.DataFrame, summary: pd.DataFrame | None) -> str:
    """Caption of the Lyapunov figure: how often λ₁ < 0, the largest λ₁, the −∞ exponents."""
    text = ("Lyapunov spectra λ_1 ≥ λ_2 ≥ … per step (QR re-orthonormalisation along the trajectory), median over "
            f"seeds, against the relative index; one panel per gain{_rows_text(spectra)}. λ₁ < 0: every perturbation of the state dies out, "
            "by exp(λ₁) per step. ")
    parts = []
    if summary is not None and "lyapunov_exponent" in summary and summary["lyapunov_exponent"].notna().any():
        lam = summary["lyapunov_exponent"].astype(float)
        parts.append(f"λ₁ < 0 at {int((lam < 0).sum())} of {int(lam.notna().sum())} grid points")
        top = summary.loc[lam.idxmax()]
        parts.append(f"the largest λ₁ is {_v(top['lyapunov_exponent'])} ({top['arch']} at gain {top['gain']:g})")
    if "n_infinite" in spectra and spectra["n_infinite"].sum() > 0:
        bad = spectra[spectra["n_infinite"] > 0]
        parts.append(f"{int(bad['n_infinite'].sum())} exponents were −∞ (units stuck at zero: "
                     f"{_join(sorted(set(bad['variant'].astype(str))))}) and are not drawn")
    if parts:
        text += "Finding: " + "; ".join(parts) + "."
    return text


def hyperbolicity_caption(angles: pd.DataFrame, summary: pd.DataFrame | None) -> str:
    """Caption of the hyperbolicity figure: the smallest angles at the gain closest to 1, and overall."""
    seeds = int(angles["seed"].nunique()) if "seed" in angles else 1
    text = ("Hyperbolicity along the trajectory: the minimum angle between the span of the unstable covariant "
            "Lyapunov vectors (those with λ_i > 0; the leading vector v_1 when none is positive) and the span of the "
            "next 8, the leading stable ones (Ginelli et al. 2007), in degrees on a log scale, against the time step t, "
            f"at {_horizon(angles)}; median over {seeds} seed{'s' if seeds > 1 else ''}"
            f"{' (shaded: range)' if seeds > 1 else ''}, at most 50 states of the window per run; one panel per gain"
            f"{_rows_text(angles)}. 90°: the growing and shrinking directions stay orthogonal; near 0: a "
            "near-tangency, where a perturbation can pass between them. ")
    parts = []
    if summary is not None and "clv_min_angle" in summary and summary["clv_min_angle"].notna().any():
        s = summary[summary["clv_min_angle"].notna()]
        if "length" in s:
            s = s[s["length"] == s["length"].max()]
        g = nearest_gain(s)
        at = s[np.isclose(s["gain"].astype(float), g)].groupby("arch", sort=False)["clv_min_angle"].median()
        at = at.reindex([a for a in dict.fromkeys(angles["arch"].astype(str)) if a in at.index])
        shown = [f"{np.degrees(v):.2g}° for {a}" for a, v in at.items()]
        if shown:
            parts.append(f"at gain {g:g} the smallest angle over the whole window (median over seeds) is "
                         + _join(shown))
        low = s.loc[s["clv_min_angle"].idxmin()]
        parts.append(f"the smallest of all is {np.degrees(low['clv_min_angle']):.2g}° ({low['arch']} at gain "
                     f"{low['gain']:g}, seed {int(low['seed'])})")
    if parts:
        text += "Finding: " + "; ".join(parts) + "."
    return text


def pascanu_caption(agreement: pd.DataFrame, crosstab: pd.DataFrame) -> str:
    """Caption of the Pascanu figure: agreement of the verdict with the measured slopes."""
    archs = _join(sorted(set(agreement.loc[np.isfinite(agreement["gamma_sigma_max"].astype(float)), "arch"].astype(str))))
    text = ("The Pascanu et al. (2013) condition tested: measured slope of log G per step (95% interval) against "
            f"γσ_max of the recurrent (or layer) weights, for the architectures whose step Jacobian is D·W ({archs}). "
            "Left of the line γσ_max = 1 (shaded) gradients must vanish (slope < 0); right of it they may vanish or "
            "explode. ")
    parts = []
    if "vanishing" in crosstab.index:
        r = crosstab.loc["vanishing"]
        parts.append(f"{int(r['vanishing'])} of {int(r['total'])} points with the verdict 'vanishing' decayed "
                     f"(agreement {format_value(r['agreement'], 'agreement')})")
    if "inconclusive" in crosstab.index:
        r = crosstab.loc["inconclusive"]
        parts.append(f"of {int(r['total'])} 'inconclusive' points {int(r['vanishing'])} vanished anyway, "
                     f"{int(r['neutral'])} were neutral and {int(r['exploding'])} exploded: σ_max ≥ 1/γ is necessary "
                     "for explosion, not sufficient")
    if parts:
        text += "Finding: " + "; ".join(parts) + "."
    return text


def chi1_caption(comparison: pd.DataFrame) -> str:
    """Caption of the χ₁ figure: the size of the error, where it is largest."""
    text = ("Mean-field theory against measurement: the predicted per-step growth χ₁ = σ_w² E[φ′(√q* z)²] of the "
            "mean squared gradient (Poole et al. 2016; Schoenholz et al. 2017) against the measured one, "
            "exp(slope of log mean-over-seeds g² against the steps); log–log, the dashed diagonal is agreement. ")
    data = comparison.dropna(subset=["relative_error"])
    if not data.empty:
        hcol = next((c for c in ("depth", "length") if c in data and data[c].notna().any()), None)
        if hcol:
            data = data[data[hcol] == data[hcol].max()]
        err = data["relative_error"].abs()
        worst = data.loc[err.idxmax()]
        n = f" (width n = {int(data['hidden'].iloc[0])})" if "hidden" in data else ""
        text += (f"Finding: at the largest horizon{n} the median |measured/predicted − 1| is "
                 f"{100 * err.median():.0f}%; the largest, {100 * err.max():.0f}%, is {worst['arch']} at gain "
                 f"{worst['gain']:g} (predicted {_v(worst['chi1_predicted'])}, measured {_v(worst['chi1_measured'])}). "
                 "Mean-field theory is exact only for infinite width and fresh weights at every step.")
    return text


def isometry_caption(table: pd.DataFrame) -> str:
    """Caption of the depth-isometry figure: the numbers at the largest depth, and the closest to isometry."""
    rows_text = " (one row each per initialisation)" if "init" in table and table["init"].nunique() > 1 else ""
    text = ("How far the input–output Jacobian ∂s_L/∂s_0 is from an isometry, against depth L, one column per gain: "
            f"mean (upper rows) and standard deviation (lower rows) of the log singular values{rows_text}; 0 on both "
            "is an isometry. Error bars: spread over seeds. Each panel has its own y range. ")
    if table.empty:
        return text
    deepest = table[table["depth"] == table["depth"].max()]
    g = nearest_gain(deepest)
    rows = deepest[np.isclose(deepest["gain"].astype(float), g)]
    parts = [f"{_init_label(r)} {_v(r['log_sv_mean'])} ± {_v(r['log_sv_std'])}" for _, r in rows.iterrows()]
    text += (f"Finding: at L = {deepest['depth'].max():g} and gain {g:g}, mean ± std of log s is " + _join(parts))
    if "isometry_distance" in rows and rows["isometry_distance"].notna().any():
        best = rows.loc[rows["isometry_distance"].idxmin()]
        text += f"; {_init_label(best)} stays closest to isometry (RMS log s = {_v(best['isometry_distance'])})"
    return text + "."


def _init_label(row) -> str:
    """The label of a row, with its initialisation when the row has one: 'mlp (orthogonal)'."""
    init = row.get("init") if hasattr(row, "get") else None
    return _label(row) + (f" ({init})" if isinstance(init, str) and init else "")


def _exp_text(log_value: float) -> str:
    return format_value(math.exp(log_value)) if log_value < 700 else f"e^{log_value:.0f}"


def jacobian_spectra_caption(spectra: pd.DataFrame, table: pd.DataFrame) -> str:
    """Caption of the Jacobian-spectra figure: the condition number at the largest depth."""
    g = nearest_gain(spectra)
    rows_text = (", one row of panels per initialisation" if "init" in spectra and spectra["init"].nunique() > 1
                 else "")
    text = (f"Singular values of the input–output Jacobian ∂s_L/∂s_0 at every depth (light to dark: shallow to deep), "
            f"gain {g:g}, median over seeds{rows_text}; log scale, each panel with its own y range (the spectra span "
            "from none to hundreds of decades); the dashed line s = 1 is isometry. ")
    if not table.empty and "log_condition" in table:
        deepest = table[(table["depth"] == table["depth"].max()) & np.isclose(table["gain"].astype(float), g)]
        parts = [f"{_init_label(r)} {_exp_text(r['log_condition'])}" for _, r in deepest.iterrows()
                 if np.isfinite(r["log_condition"])]
        if parts:
            text += f"Finding: at L = {table['depth'].max():g} the condition number s_max/s_min is " + _join(parts) + "."
    return text


# ----------------------------------------------------------------------------------------------- theory study
#: what each theory page shows (the formula, the measurement, the panels); the checks' numbers follow
THEORY_INTROS = {
    "meanfield": (
        "Mean-field signal propagation in random mlp stacks (W_ij ~ N(0, σ_w²/n), b_i ~ N(0, σ_b²), drawn afresh per "
        "layer; Poole et al. 2016, Schoenholz et al. 2017), in the ordered, critical and chaotic phases of tanh and "
        "ReLU. q_l panel: the pre-activation variance (1/n)Σh_i² per layer, started at 4q* (q₁ = 1 without a fixed "
        "point), against the length map q_(l+1) = σ_w² E φ(√q_l z)² + σ_b² (lines). χ₁ panel: ‖J_l‖_F²/n = E_v‖J_l v‖² "
        "of rnnprobe's step Jacobians at q*, averaged over the layers, against χ₁ = σ_w² E φ′(√q* z)² with its "
        "O(1/n) correction (hollow markers: against the n → ∞ value)."),
    "pascanu": (
        "The Pascanu et al. (2013) bound G(k) = ‖∂h_T/∂h_(T−k)‖₂ ≤ (γσ_max)^k for vanilla RNNs (γ = sup|φ′|, σ_max "
        "from rnnprobe.weight_spectrum), G from rnnprobe.jacobian_norms. Tight instances (W = gQ orthogonal, held at a "
        "fixed point where |φ′| = γ; dots: measured, lines: (γg)^k) must attain it at every lag; random Gaussian "
        "networks (gain 1.4, σ_b = 0.3, N(0, 1) inputs; dotted lines: their bounds) must stay below it."),
    "isometry": (
        "Dynamical isometry (Pennington, Schoenholz & Ganguli 2017): mean and per-network variance of the squared "
        "singular values λ of the input–output Jacobian ∂s_L/∂s_0 (rnnprobe.jacobian_product) of depth-6 mlp stacks. "
        "Linear Gaussian: exact finite-n moments from the Wishart recursion (hollow: PSG's n → ∞ mean 1, variance L); "
        "linear orthogonal: every λ = g^(2L); tanh on the critical line (σ_b = 0.3), Gaussian against orthogonal "
        "weights: mean χ₁^L = 1 (with its finite-width drift), variance L(μ₂/μ₁² − 1 + v_W), v_W = 1 or 0."),
    "capacity": (
        "Linear memory capacity (Jaeger 2001) of linear reservoirs: rnnprobe.memory_capacity (10 000 samples of "
        "u ~ U(−1, 1): readouts fitted on 8000, scored on 2000 held out; delays k = 0 … 4N, k = 0 the same-step "
        "input) against the closed form of the same reservoir (Lyapunov equation; dashed: n → ∞; solid: carried "
        "through the held-out estimator's expected value). Full Krylov rank gives Σ_(k≥0) MC_k = N and Jaeger's "
        "Σ_(k≥1) MC_k = N − MC_0; the krylov-rank-3 reservoir (5 units, repeated eigenvalues) reaches 3; "
        "dense-readout reads 4 of 8 state coordinates."),
    "paths": (
        "Residual networks as ensembles of paths (Veit, Wilber & Belongie 2016), from rnnprobe.paths.path_lengths, "
        "which splits ∂s_L/∂s_0 = Σ_m P[m] by the number m of branches a path takes. path share: with identical "
        "linear branches αM, ‖P[m]‖_F/‖(αM)^m‖_F counts the paths, normalised against Binomial(L, ½). E‖gᵀP[m]‖²: "
        "‖P[m]‖_F²/n (the squared gradient of a random unit readout carried by the length-m paths) against "
        "e_m(g_1 … g_L), g_l = α²σ_w² E φ′(√q_l z)²; α²σ_w² = 1 is Veit's Binomial(L, ½) (log scale)."),
    "gates": (
        "Gate-bias timescales at the origin (Gers et al. 2000; Tallec & Ollivier 2018; Cho et al. 2014). factor: the "
        "per-step retention, LSTM c→c diagonal of the step Jacobian at zero input and state (recurrent weights "
        "orthogonal, gain 1), GRU ‖J_t‖₂ with U = 0 (both conventions), against σ(b_f), σ(b_z); e-fold: "
        "rnnprobe.memory_length(...).efold with zero recurrent weights against −1/log σ(b); forgetting time: "
        "Σ_k G(k)/G(1) over T steps against (1 − a^T)/(1 − a) (hollow: the lecture's 1/(1 − σ(b_f)) = 1 + exp(b_f)); "
        "decile: per-unit forgetting times 1/(1 − f_i) of a chrono LSTM (T_max = 60, 256 units) against U(2, 60)."),
    "diagonal": (
        "Diagonal recurrences, whose step Jacobians are diagonal (2×2 blocks for the LRU) and measured on rnnprobe's "
        "O(T·n) path. G(k): an LRU (ring 0.6–0.97) and an S4D against max_j|λ_j|^k, with their fitted e-folding "
        "times against −1/log max|λ| (Orvieto et al. 2023). decile: the order statistics of the per-unit timescales "
        "−1/log|λ_j| of a 1000-unit LRU (ring 0.5–0.99) against the mean order statistics of the ring's law. rate: "
        "per unit, −(1/T)·log of its Jacobian product over T N(0, 1) inputs — minGRU ∏(1 − z_t), minLSTM ∏ f'_t "
        "(Feng et al. 2024), S6 ∏ exp(Δ_t A) (Gu & Dao 2023) — against the rate from the Gaussian law of the gate "
        "(Δ) pre-activation; S6's decile: the order statistics of one unit's per-step factor over T inputs: the "
        "Jacobian's spectrum moves with the input (selection)."),
    "memory_curse": (
        "The curse of memory (Zucchet & Orvieto 2024): for h_t = λh_(t−1) + γx_t with white N(0, 1) input, the mean "
        "of h_T² and of (∂h_T/∂θ)² over 8 × 1000 sequences (rnnprobe.parameter_sensitivity) against the finite-T "
        "sums (hollow: the stationary 1/(1 − λ²) and (1 + λ²)/(1 − λ²)³). linear: a one-unit vanilla-linear RNN, "
        "θ = λ; lru-plain: a one-unit real LRU without normalisation (γ = 1), θ = ν (λ = exp(−e^ν)); lru: with the "
        "LRU's γ = √(1 − λ²), which holds E h² at 1 for every λ while the sensitivity still grows as λ → 1 — "
        "slower for θ = ν."),
}

_KIND_WORD = {"lag": "lags", "layer": "layers", "index": "indices"}
_INDEX_NAMES = {"q": "layer", "G": "lag", "mc_lag": "lag", "path_share": "m =", "path_norm2": "m =",
                "forgetting_time_quantile": "decile", "timescale_order": "decile", "factor_order": "decile",
                "decay_rate": "unit"}


def _g(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–" if x is None or math.isnan(x) else ("∞" if x > 0 else "−∞")
    x = float(x)
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def _signed(x) -> str:
    return ("+" if float(x) > 0 else "") + _g(x, 2) if math.isfinite(float(x)) else _g(x)


def theory_clause(row, *, short: str | None = None) -> str:
    """One check in words: predicted, measured (± std over seeds), error, tolerance, and where (worst index).

    Examples
    --------
    >>> row = dict(setting="tanh-ordered", quantity="chi1", index_kind="", position=0, n_indices=1,
    ...            predicted=0.6996, measured=0.7002, measured_std=0.002, limit=0.7004, error=0.0006,
    ...            tolerance=0.0024, relation="equal", n_seeds=5, seeds_passed=5, passed=True)
    >>> theory_clause(row, short="χ₁")
    'χ₁: predicted 0.6996 (n → ∞: 0.7004), measured 0.7002 ± 0.002, error +0.0006, tolerance 0.0024'
    """
    get = row.get if hasattr(row, "get") else (lambda k, d=None: row[k] if k in row else d)
    short = short or str(get("quantity"))
    kind = str(get("index_kind", "") or "")
    n_idx = int(get("n_indices", 1) or 1)
    if get("relation") == "at most":
        ratio = get("measured_to_bound")
        return (f"{short} ≤ bound at all {n_idx} {_KIND_WORD.get(kind, 'indices')} of every network "
                f"(largest measured/bound {_g(ratio, 3)})")
    where = ""
    if kind and n_idx > 1:
        name = _INDEX_NAMES.get(str(get("quantity")), kind)
        where = f" (worst of {n_idx} {_KIND_WORD.get(kind, 'indices')}: {name} {_g(get('position'))})"
    text = f"{short}{where}: predicted {_g(get('predicted'))}"
    limit = get("limit")
    if limit is not None and isinstance(limit, (int, float)) and math.isfinite(float(limit)) and \
            not math.isclose(float(limit), float(get("predicted")), rel_tol=1e-9, abs_tol=0.0):
        text += f" (n → ∞: {_g(limit)})"
    text += f", measured {_g(get('measured'))}"
    std = get("measured_std")
    if std is not None and isinstance(std, (int, float)) and math.isfinite(float(std)) and int(get("n_seeds", 1)) > 1:
        text += f" ± {_g(std, 2)}"
    text += f", error {_signed(get('error'))}, tolerance {_g(get('tolerance'), 2)}"
    seeds, passed = get("n_seeds"), get("seeds_passed")
    if seeds is not None and passed is not None and int(passed) < int(seeds):
        text += f" ({int(passed)} of {int(seeds)} seeds pass alone)"
    return text


def _all_exact(checks: pd.DataFrame) -> bool:
    """Whether every check is an exact identity: 'equal', tolerance below 1e-6 of the value (rounding only)."""
    if "relation" in checks and (checks["relation"] == "at most").any():
        return False
    tol = checks["tolerance"].to_numpy(float)
    scale = np.maximum(np.abs(checks["predicted"].to_numpy(float)), 1e-300)
    return bool(np.all(tol <= 1e-6 * scale))


def theory_caption(prediction: str, summary: pd.DataFrame, labels: dict | None = None) -> str:
    """Caption of a theory page: what is shown, then every check of the page with its numbers and verdict.

    Parameters
    ----------
    prediction : str
        The prediction (``meanfield``, ``pascanu``, …).
    summary : DataFrame
        :func:`analysis.check_summary` rows of the checks on the page.
    labels : dict, optional
        Quantity -> short name in the text.
    """
    labels = labels or {}
    seeds = int(summary["n_seeds"].max()) if "n_seeds" in summary and len(summary) else 0
    intro = THEORY_INTROS.get(prediction, f"Prediction {prediction!r} against rnnprobe's measurement.")
    text = (intro + " Markers: means over seeds (bars: their range); bottom: every check's error as a fraction of its "
            "tolerance, c·pooled s.e. + allowance (Methods: Statistics). ")
    parts = []
    for setting, g in summary.groupby("setting", sort=False):
        verdict = "pass" if g["passed"].astype(bool).all() else "FAIL"
        if _all_exact(g):
            values = ", ".join(f"{labels.get(r['quantity'], r['quantity'])} {_g(r['predicted'])}" for _, r in g.iterrows())
            worst = float(np.nanmax(np.abs(g["error"].to_numpy(float))))
            tol = float(np.nanmin(g["tolerance"].to_numpy(float)))
            parts.append(f"{setting} — {values}: measured = predicted to {_g(worst, 2)} (exact identities; "
                         f"tolerance ≥ {_g(tol, 2)}, float64 rounding): {verdict}")
            continue
        clauses = [theory_clause(r, short=labels.get(r["quantity"], r["quantity"])) for _, r in g.iterrows()]
        parts.append(f"{setting} — " + "; ".join(clauses) + f": {verdict}")
    n_pass = int(summary["passed"].astype(bool).sum())
    text += f"Checks ({seeds} seed{'s' if seeds != 1 else ''}; ± the standard deviation over seeds): " + \
        ". ".join(parts) + ". "
    if n_pass == len(summary):
        text += f"Verdict: all {len(summary)} checks pass."
    else:
        failing = ", ".join(f"{r['setting']} {r['quantity']}" for _, r in summary[~summary["passed"].astype(bool)].iterrows())
        text += f"Verdict: {n_pass} of {len(summary)} checks pass; failing: {failing}."
    return text
