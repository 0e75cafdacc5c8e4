"""The results schema: every column, metric and summary field a study writes, declared once.

Studies write these names, analysis reads them, reports label them, and
``docs/results.md`` documents each one (a test holds the document to this
module). This module imports nothing heavier than the standard library (no
torch, no pandas), so that every layer can import it.

A run directory (``rnnprobe study NAME --out DIR`` or
``rnnprobe.studies.run(NAME, out=DIR)``) holds :data:`RESULTS_FILE`,
:data:`SUMMARY_FILE`, :data:`META_FILE` and the point store :data:`POINTS_DIR`.

* ``results.csv``: the grid columns (:data:`GRID_COLUMNS`, then the study's
  extra grid columns, :data:`EXTRA_GRID_COLUMNS`), ``point_id``, then
  :data:`ROW_COLUMNS`; one row per grid point × lag / layer / index × metric
  (:data:`METRICS`, and for the ``theory`` study :data:`CHECK_METRICS`);
* ``summary.csv``: the grid columns, ``point_id``, then the scalar fields
  (:data:`SUMMARY_FIELDS`, for the ``theory`` study also
  :data:`CHECK_SUMMARY_FIELDS`); one row per grid point.

Both tables depend only on the grid, the dtype and the device: two runs write
them byte for byte the same. What varies between runs (the time each point
took, :data:`ELAPSED`) is in ``meta.json``.

The ``training`` study adds a row column before ``value`` (``step``,
:data:`EXTRA_ROW_COLUMNS`), writes the metrics of the probe monitor
(:data:`MONITOR_METRICS`; its own are :data:`TRAINING_METRICS`) and
:data:`TRAINING_SUMMARY_FIELDS`, keeps each point's checkpoints in
:data:`WORK_DIR` and writes its text samples to a side table, ``samples.csv``
(:data:`EXTRA_TABLES`).

Studies emit measurements only: the statistics and verdicts of the ``theory``
study's checks (critical values, tolerances, pass/fail) are computed by
:mod:`rnnprobe.analysis.prediction_checks`.

Examples
--------
>>> from rnnprobe import schema
>>> list(schema.GRID_COLUMNS)
['study', 'arch', 'hidden', 'length', 'depth', 'gain', 'seed']
>>> list(schema.ROW_COLUMNS)
['metric', 'lag', 'layer', 'index', 'block', 'value']
>>> schema.point_file_name("vanishing:arch=gru,gain=1.0")
'vanishing_arch=gru,gain=1.0.json'
"""

from __future__ import annotations

import re

__all__ = [
    "RESULTS_FILE", "SUMMARY_FILE", "META_FILE", "POINTS_DIR", "TABLE_FILES", "point_file_name",
    "GRID_COLUMNS", "CORE_AXES", "EXTRA_GRID_COLUMNS", "POINT_ID", "ROW_COLUMNS", "RESULT_COLUMNS",
    "METRICS", "SUMMARY_FIELDS", "ELAPSED", "SUMMARY_COLUMNS",
    "CHECK_KEYS", "CHECK_PARAMETERS", "CHECK_METRICS", "CHECK_SUMMARY_FIELDS",
    "WORK_DIR", "EXTRA_ROW_COLUMNS", "EXTRA_TABLES", "table_file_name",
    "MONITOR_COLUMNS", "MONITOR_METRICS", "TRAINING_METRICS", "TRAINING_SUMMARY_FIELDS", "SAMPLE_COLUMNS",
    "TABLE_TEXT_COLUMNS", "ATTENTION_METRICS", "ATTENTION_SUMMARY_FIELDS",
]

# --------------------------------------------------------------------------- files
#: the tidy table, one row per grid point x lag / layer / index x metric
RESULTS_FILE = "results.csv"
#: one row per grid point
SUMMARY_FILE = "summary.csv"
#: configuration, grid, versions, host, timings, column meanings
META_FILE = "meta.json"
#: the point store: one JSON file per finished grid point, and ``_run.json``
POINTS_DIR = "points"
#: the files a run writes into its directory besides :data:`POINTS_DIR` (and a study's side tables,
#: :data:`EXTRA_TABLES`, each in :func:`table_file_name`)
TABLE_FILES = (RESULTS_FILE, SUMMARY_FILE, META_FILE)
#: per-point work directories of studies that keep files while a point runs (the training study's
#: checkpoints): ``WORK_DIR/<point file name without .json>/``; kept after the point is done
WORK_DIR = "work"


def table_file_name(table: str) -> str:
    """The file of a study's side table (:data:`EXTRA_TABLES`): ``'<table>.csv'``."""
    return f"{table}.csv"


def point_file_name(point_id: str) -> str:
    """The file of a grid point in :data:`POINTS_DIR`: its ``point_id`` with every
    character other than letters, digits and ``=.,+_-`` replaced by ``_``, plus ``.json``."""
    return re.sub(r"[^A-Za-z0-9=.,+_-]", "_", point_id) + ".json"


# --------------------------------------------------------------------------- grid columns
#: grid columns every table has, in this order (a study's extra grid columns follow)
GRID_COLUMNS = {
    "study": "name of the study (str)",
    "arch": "architecture name, as in rnnprobe.architectures (str; depth study also 'stacked-rnn'; attention "
            "study: the encoder's and decoder's recurrent core, empty for the transformer)",
    "hidden": "hidden size n (the width for feed-forward stacks; the attention study's transformer: d_model) (int)",
    "length": "sequence length T (int); empty for feed-forward depth rows",
    "depth": "number of layers L (int; depth study only, empty otherwise)",
    "gain": "gain of the matrices acting on the state (float; see the study's init)",
    "seed": "seed of the weights, the inputs and the readout (int)",
}
#: the grid axes every study may sweep (the grid columns but ``study``)
CORE_AXES = tuple(c for c in GRID_COLUMNS if c != "study")

#: extra grid columns the built-in studies add (a study declares which it has, in its ``EXTRA_AXES``)
EXTRA_GRID_COLUMNS = {
    "init": "initialisation scheme of the matrices acting on the state (rnnprobe.init)",
    "forget_bias": "LSTM forget-gate bias b_f (lstm rows without chrono; empty otherwise)",
    "update_bias": "GRU update-gate bias b_z (gru and gru-torch rows; empty otherwise)",
    "chrono": "T_max of the LSTM's chrono initialisation (lstm rows with chrono; empty otherwise)",
    "prediction": "theory study: the prediction checked (meanfield, pascanu, isometry, capacity, paths, gates, "
                  "diagonal, memory_curse)",
    "setting": "theory study: the parameter setting of the check (its parameters are in the other grid columns)",
    "quantity": "theory study: the quantity compared (e.g. chi1, lambda_variance, mc_lag)",
    "nonlinearity": "theory study: the nonlinearity φ of mlp, resmlp and dense settings",
    "bias_std": "theory study: σ_b, the standard deviation of the biases",
    "alpha": "theory study: α, the residual branch scale of resmlp",
    "floss": "training study: gradient flossing, how many top Lyapunov exponents are pushed towards 0 "
             "(0: plain training; vanilla cores only, empty for gated ones)",
    "train_steps": "training and attention studies: optimizer (Adam) updates of the training run (int; attention: "
                   "one batch of 32 fresh sequences each)",
    "chars": "training study: characters of the default corpus used (its first ones; the last 10% validate)",
    "model": "attention study: the sequence model: encoder–decoder with attention 'none', 'dot' or 'bilinear' "
             "(suffix '-nofeedback': the decoder reads BOS at every step, not its previous output), or 'transformer' "
             "(one causal transformer layer over [source; target])",
    "task": "attention study: 'copy' or 'reverse' (the target is the source, or the source reversed)",
    "vocab": "attention study: number of source symbols V (uniform random sources)",
}

POINT_ID = {"point_id": "string key of the grid point, stable across runs: '<study>:axis=value,...'"}

# --------------------------------------------------------------------------- results.csv
#: the per-row columns of results.csv, after the grid columns and point_id
ROW_COLUMNS = {
    "metric": "name of the measured quantity (see METRICS)",
    "lag": "lag k = T - t >= 1 (time metrics; empty otherwise)",
    "layer": "layer l = 0 .. L-1 (depth metrics; empty otherwise)",
    "index": "index i >= 0 of a singular value or Lyapunov exponent (empty otherwise)",
    "block": "weight block, e.g. 'W_h', 'U_z', 'W_hf' (weight_singular_value; the training study's sigma_max), or "
             "the parameter group of the training study's parameter_gradient_norm; empty otherwise",
    "value": "the measured value, natural units (float)",
}
#: row columns a study may add (its ``EXTRA_ROW_COLUMNS``), written between ``block`` and ``value``
EXTRA_ROW_COLUMNS = {
    "step": "training study: the weights after this many optimizer updates (int; 0 is the initialisation)",
    "target_position": "attention study: target position s = 0 … T-1, the decoder's output index (attention and "
                       "gradient rows; empty otherwise)",
    "source_position": "attention study: source position t = 0 … T-1 (attention and gradient rows; empty otherwise)",
    "example": "attention study: which evaluation sequence (0, 1, …) an attention_weight row shows (empty otherwise)",
}
#: results.csv's columns for a study without extra grid or row columns
RESULT_COLUMNS = {**GRID_COLUMNS, **POINT_ID, **ROW_COLUMNS}

#: the metrics of the vanishing, depth and memory studies
METRICS = {
    "jacobian_norm": "time: G(k) = ||ds_T/ds_{T-k}||_2 per lag; depth: ||ds_L/ds_l||_2 per layer",
    "gradient_norm": "time: g(k) = ||dL/ds_{T-k}|| per lag; depth: ||dL/ds_l|| per layer "
                     "(L: a fixed random unit readout of the final hidden vector, seeded by seed)",
    "bound_jacobian": "||dL/ds_T|| * G(k) per lag (an upper bound on gradient_norm)",
    "bound_product": "B_prod(k) = ||dL/ds_T|| * prod_{s=T-k}^{T-1} ||J_s||_2 per lag",
    "bound_weight": "the lecture's B_W(k) = ||dL/ds_T|| * ||W_h||_2^k * prod ||D_s||_2 per lag (vanilla RNNs only)",
    "memory_capacity_lag": "MC_k for the delay k >= 1: squared correlation, on held-out samples, of the linear readout "
                           "of u(t-k) from h(t), the state that has just read u(t) (memory study)",
    "weight_singular_value": "singular values of each recurrent weight block (with block), decreasing",
    "lyapunov_exponent": "Lyapunov exponents lambda_i along the trajectory, per step, decreasing",
    "jacobian_singular_value": "depth: singular values of the input-output Jacobian ds_L/dx, decreasing",
    "clv_angle": "minimum angle (radians) between span(v_1..v_s) and span(v_s+1..v_k) of the covariant Lyapunov "
                 "vectors at the state t = T - lag (s: the positive exponents, at least 1; k = s + 8, at most the "
                 "directions no step annihilates); at most 50 states of the window, evenly spaced (vanishing study)",
}

# --------------------------------------------------------------------------- summary.csv
#: the scalar fields of summary.csv (vanishing, depth, memory), in column order
SUMMARY_FIELDS = {
    "memory_threshold": "largest lag k with G(k) >= eps (int)",
    "memory_threshold_censored": "True when every lag up to T passes (the memory is at least T) (bool)",
    "memory_efold": "e-folding time -1/slope of a Theil-Sen fit of log G(k) on k (float, inf when not decaying)",
    "efold_slope": "slope of that fit, per step (natural log)",
    "efold_slope_low": "lower end of the slope's 95% confidence interval",
    "efold_slope_high": "upper end of the slope's 95% confidence interval",
    "lyapunov_exponent": "top Lyapunov exponent lambda_1 along the trajectory, per step",
    "lyapunov_time": "-1/lambda_1 when lambda_1 < 0, else inf (steps)",
    "sigma_max": "largest spectral norm over the recurrent weight blocks",
    "spectral_radius": "spectral radius of the block with the largest spectral norm (empty if not square)",
    "gamma": "sup|sigma'| of the nonlinearity where the Pascanu verdict applies",
    "pascanu": "Pascanu et al. (2013) verdict: 'vanishing' | 'inconclusive' | 'not applicable'",
    "bound_holds": "whether g <= ||dL/ds_T|| G <= B_prod <= B_W held at every lag/layer (bool)",
    "eps": "threshold of memory_threshold",
    "memory_capacity": "Jaeger's linear memory capacity sum_{k>=1} MC_k, readouts scored on held-out samples "
                       "(memory study)",
    "log_sv_mean": "mean of the log singular values of the input-output Jacobian (depth study)",
    "log_sv_std": "standard deviation of those log singular values: 0 is an isometry (depth study)",
    "max_singular_value": "largest singular value of the input-output Jacobian (depth study)",
    "min_singular_value": "smallest singular value of the input-output Jacobian (depth study)",
    "clv_min_angle": "minimum over every state of the window of the clv_angle (radians; empty where the covariant "
                     "vectors are undefined) (vanishing study)",
}
#: the seconds a grid point took: in meta.json (``timings.points``), not in summary.csv, which would then differ
#: between two runs (summary.csv files of earlier versions have it as their last column)
ELAPSED = {"elapsed_s": "wall seconds spent on the grid point (meta.json: timings.points, point_id -> seconds)"}
#: summary.csv's columns for a study without extra grid columns or fields
SUMMARY_COLUMNS = {**GRID_COLUMNS, **POINT_ID, **SUMMARY_FIELDS}

# --------------------------------------------------------------------------- the theory study's checks
#: one check = one prediction x setting x quantity (grid columns of the theory study)
CHECK_KEYS = ("prediction", "setting", "quantity")
#: grid columns that hold a check's parameters
CHECK_PARAMETERS = ("arch", "hidden", "length", "depth", "gain", "init", "nonlinearity", "bias_std", "alpha",
                    "forget_bias", "update_bias", "chrono")
#: the per-index metrics of a check (results.csv of the theory study)
CHECK_METRICS = {
    "predicted": "theory study: the prediction at this finite size (mean over the point's replicates)",
    "measured": "theory study: rnnprobe's measurement, mean over the point's replicates",
    "standard_error": "theory study: standard error of the mean of measured - predicted (0: an exact identity)",
    "allowance": "theory study: systematic part of the tolerance (neglected finite-size terms, rounding)",
    "limit": "theory study: the published large-size value, where it differs from predicted",
}
#: a check's scalar fields (summary.csv of the theory study)
CHECK_SUMMARY_FIELDS = {
    "relation": "theory study: 'equal' (|measured - predicted| within tolerance) or 'at most' (an upper bound)",
    "replicates": "theory study: independent replicates (networks or input sequences) averaged at the point",
    "dof": "theory study: degrees of freedom of standard_error (replicates - 1; inf when exact)",
    "reference": "theory study: where the prediction comes from",
    "tolerance_basis": "theory study: how the tolerance is justified",
}

# --------------------------------------------------------------------------- training (the monitor, the training study)
#: columns of a rnnprobe.ProbeMonitor row, in order (constant context columns come first)
MONITOR_COLUMNS = {
    "step": "training step: the weights after this many optimizer updates (int)",
    "metric": "name of the measured quantity (see MONITOR_METRICS)",
    "lag": "lag k >= 1 (jacobian_norm only; empty otherwise)",
    "layer": "the recurrent layer of the core that was probed (core metrics; empty otherwise)",
    "index": "index i >= 0 of a Lyapunov exponent (empty otherwise)",
    "block": "weight block (sigma_max) or parameter group (parameter_gradient_norm); empty otherwise",
    "value": "the measured value (float)",
}
#: what each metric of the monitor (and of rnnprobe.sequence.train) means
MONITOR_METRICS = {
    "jacobian_norm": "G(k) = ||ds_T/ds_{T-k}||_2 on the probe sequence, per lag, through the core layer",
    "memory_threshold": "largest lag k with G(k) >= eps (steps; T when every lag passes)",
    "memory_efold": "e-folding time -1/slope of a Theil-Sen fit of log G(k) on k (steps; inf when not decaying)",
    "sigma_max": "largest singular value of one recurrent weight block (block names it)",
    "lyapunov_exponent": "top Lyapunov exponents lambda_i along the probe trajectory, per step, decreasing",
    "loss": "the training loss the loop passed to the monitor at this step",
    "parameter_gradient_norm": "L2 norm of the gradient of one parameter group (block: module name, or 'total')",
    "train_loss": "rnnprobe.sequence.train: mean cross-entropy (nats/char) over the steps since the last evaluation",
    "val_bits_per_char": "rnnprobe.sequence.train: cross-entropy on the validation text, bits per character",
    "flossing_loss": "rnnprobe.sequence.train: the gradient-flossing term sum_i lambda_i^2 of the last step",
}
#: the training study's own metrics (results.csv): the monitor's, but those already in METRICS
TRAINING_METRICS = {k: "training study: " + v for k, v in MONITOR_METRICS.items() if k not in METRICS}
#: the training study's own scalar fields (summary.csv)
TRAINING_SUMMARY_FIELDS = {
    "val_bits_per_char": "training study: validation bits per character at the last step",
    "val_bits_per_char_initial": "training study: validation bits per character at step 0 (the initialisation)",
}
#: the columns of the training study's text samples (samples.csv), after the grid columns and point_id
SAMPLE_COLUMNS = {
    "step": "the weights after this many optimizer updates (int)",
    "temperature": "sampling temperature: the logits are divided by it",
    "prime": "the text the model read before sampling",
    "text": "the sampled characters (str; may hold newlines, quoted in the CSV)",
}
#: side tables of text (and numbers) a study may write beside results.csv: name -> its columns
EXTRA_TABLES = {"samples": SAMPLE_COLUMNS}
#: the columns of each side table that hold text and are read verbatim ("", "NA", "nan" are text there, not
#: missing values; in every other column an empty cell is missing)
TABLE_TEXT_COLUMNS = {"samples": ("prime", "text")}
# --------------------------------------------------------------------------- the attention study
#: the attention study's metrics (results.csv), indexed by target_position s and source_position t
ATTENTION_METRICS = {
    "attention_weight": "attention study: α_{t,s}, the weight of source position t in the context of target position s, "
                        "teacher-forced, for one evaluation sequence (example); transformer: its layer's head-averaged "
                        "weight from the decoder position that predicts s onto source position t",
    "path_gradient_total": "attention study: ||dL_s/ds_t||, L_s = u.y_s a fixed random unit readout of the logits at "
                           "target position s, s_t the encoder state after source position t; mean over the gradient "
                           "sequences (encoder–decoders)",
    "path_gradient_attention": "attention study: the part of dL_s/ds_t that crossed the attention (norm, mean over "
                               "the gradient sequences; encoder–decoders with attention)",
    "path_gradient_recurrence": "attention study: the part of dL_s/ds_t that crossed the decoder's start state, the "
                                "encoder's last state (norm, mean over the gradient sequences; encoder–decoders)",
    "source_gradient_norm": "attention study: ||dL_s/dx_t|| at the source embedding x_t, the same readout L_s (every "
                            "model); mean over the gradient sequences",
}
#: the attention study's scalar fields (summary.csv)
ATTENTION_SUMMARY_FIELDS = {
    "token_accuracy": "attention study: share of target symbols right, greedy decoding, fresh evaluation sequences",
    "sequence_accuracy": "attention study: share of evaluation sequences with every symbol right (greedy decoding)",
    "teacher_forced_accuracy": "attention study: share of target symbols right when the decoder reads the true "
                               "previous symbols",
    "final_loss": "attention study: training cross-entropy, nats per symbol, mean over the last 20 steps",
    "alignment_accuracy": "attention study: share of target positions whose largest attention weight is on the aligned "
                          "source position (copy t = s, reverse t = T-1-s); teacher-forced, evaluation sequences",
    "alignment_shifted": "attention study: share of target positions whose largest attention weight is one source "
                         "position after the aligned one (reverse: t = T-s)",
}
