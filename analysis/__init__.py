"""Tidy pandas tables from the studies' raw results: fits, memory tables, theory comparisons.

Every function is pure: DataFrames in (``results.csv`` / ``summary.csv`` as
pandas reads them, or a :class:`rnnprobe.studies.StudyResult`'s frames; the
columns are :mod:`rnnprobe.schema`'s, documented in ``docs/results.md``), a
DataFrame out; no plotting, no I/O.

* decay rates: :func:`fit_log_linear`, :func:`decay_fits`, :func:`decay_table`;
* memory: :func:`memory_table`, :func:`memory_grid`, :func:`memory_agreement`, :func:`spectral_memory`
  (diagonal recurrences against −1/log ρ);
* bounds: :func:`bound_tightness`, :func:`bound_tightness_summary`, :func:`bound_tightness_table`;
* Pascanu et al. (2013): :func:`pascanu_agreement`, :func:`pascanu_crosstab`;
* depth: :func:`isometry_points`, :func:`isometry_table`;
* curves over seeds: :func:`lag_profile`, :func:`spectrum_profile`;
* the χ₁ comparison with mean-field theory, for the other studies (``chi1``): :func:`chi1_comparison`,
  :func:`predicted_chi1`;
* the theory study's checks, their tolerances and verdicts (``prediction_checks``): :func:`check_points`,
  :func:`pool_checks`, :func:`check_summary`, :func:`check_settings`, :func:`check_tolerances`,
  :func:`critical_value`;
* the training study (``training``): :func:`is_training`, :func:`training_curves`, :func:`gradient_profiles`,
  :func:`training_measures`, :func:`weight_norms`, :func:`training_table`, :func:`sample_table`;
* the attention study (``attention``): :func:`accuracy_table`, :func:`gradient_by_distance`,
  :func:`attention_maps`, :func:`is_attention`;
* the headline table: :func:`summary_table`;
* picking representative points: :func:`select_points`, :func:`nearest_gain`; labels: :func:`with_variant`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from rnnprobe import analysis
>>> k = np.arange(1, 41)
>>> results = pd.DataFrame({"arch": "vanilla-tanh", "gain": 0.9, "seed": 0,
...     "metric": "jacobian_norm", "lag": k, "value": np.exp(-k / 6.3)})
>>> round(float(analysis.decay_fits(results)["efold"].iloc[0]), 6)
6.3
"""

from rnnprobe.analysis._frames import (BASE_GRID_COLUMNS, arch_order, grid_columns, nearest_gain, select_points, with_steps,
                              with_variant)
from rnnprobe.analysis.bounds import bound_tightness, bound_tightness_summary, bound_tightness_table
from rnnprobe.analysis.fits import FIT_METHODS, decay_fits, decay_table, fit_log_linear
from rnnprobe.analysis.isometry import ISOMETRY_MEASURES, isometry_points, isometry_table
from rnnprobe.analysis.memory import MEMORY_MEASURES, memory_agreement, memory_grid, memory_table, spectral_memory
from rnnprobe.analysis.pascanu import MEASURED_OUTCOMES, VERDICTS, measured_outcome, pascanu_agreement, pascanu_crosstab
from rnnprobe.analysis.profiles import clv_angle_series, lag_profile, spectrum_profile
from rnnprobe.analysis.summary import SUMMARY_MEASURES, summary_table
from rnnprobe.analysis.chi1 import MEANFIELD_ARCHS, chi1_comparison, predicted_chi1
from rnnprobe.analysis.training import (STAGES, TRAINING_MEASURES, gradient_profiles, is_training, sample_table,
                                       stage_steps, training_curves, training_measures, training_table, weight_norms,
                                       with_run_label)
from rnnprobe.analysis.prediction_checks import (SIGNIFICANCE, check_points, check_settings, check_summary, check_tolerances,
                                             critical_value, is_theory, pool_checks, setting_label)
from rnnprobe.analysis.attention import accuracy_table, attention_maps, gradient_by_distance, is_attention

__all__ = [
    "grid_columns", "BASE_GRID_COLUMNS", "with_steps", "with_variant", "arch_order", "nearest_gain", "select_points",
    "fit_log_linear", "decay_fits", "decay_table", "FIT_METHODS",
    "memory_table", "memory_grid", "memory_agreement", "MEMORY_MEASURES", "spectral_memory",
    "bound_tightness", "bound_tightness_summary", "bound_tightness_table",
    "pascanu_agreement", "pascanu_crosstab", "measured_outcome", "VERDICTS", "MEASURED_OUTCOMES",
    "isometry_points", "isometry_table", "ISOMETRY_MEASURES",
    "lag_profile", "clv_angle_series", "spectrum_profile",
    "chi1_comparison", "predicted_chi1", "MEANFIELD_ARCHS",
    "check_points", "pool_checks", "check_summary", "check_settings", "check_tolerances", "setting_label",
    "is_theory", "critical_value", "SIGNIFICANCE",
    "summary_table", "SUMMARY_MEASURES",
    "is_training", "with_run_label", "training_curves", "stage_steps", "gradient_profiles", "training_measures",
    "weight_norms", "training_table", "sample_table", "STAGES", "TRAINING_MEASURES",
    "accuracy_table", "gradient_by_distance", "attention_maps", "is_attention",
]
