"""Figures, tables and PDF reports of rnnprobe studies.

* :func:`write_report`: a study directory in, ``report.pdf`` (plus PNG figures
  and CSV/Markdown tables) out;
* figure functions ``plot_<quantity>(data, *, ax=None | fig=None) -> Axes | Figure``
  that draw analysis frames (from :mod:`analysis`) and compute nothing;
* :func:`plot_lags`: G(k) or g(k) of your own models' trajectories, one line per label
  (it runs the probes itself);
* :data:`ARCH_PALETTE`, the one colour per architecture every figure uses, and
  :func:`report_style`;
* :func:`format_table`, :func:`to_markdown`, :func:`table_pages` for tables;
* the training study's pages (``training_pages``): :func:`plot_training_curves`,
  :func:`plot_gradient_profiles`, :func:`plot_training_measures`, :func:`plot_weight_norms`, :func:`plot_samples`;
* the theory study's report pages (``prediction_pages``): :func:`plot_theory_prediction`
  (and its panels :func:`plot_theory_profile`, :func:`plot_theory_scatter`, :func:`plot_theory_scores`);
* the attention study's pages (``attention_pages``): :func:`plot_accuracy_against_length`,
  :func:`plot_gradient_paths`, :func:`plot_attention_maps`.

Nothing here calls ``plt.show()``; figures are pyplot-free and render with Agg.

Examples
--------
>>> from rnnprobe import reports
>>> reports.ARCH_PALETTE["lstm"]
'#d55e00'
"""

from rnnprobe.reports.figures import (METRIC_LABELS, plot_bounds, plot_chi1, plot_gradient_decay, plot_gradient_decay_panels,
                             plot_memory_capacity, plot_memory_heatmap, plot_pascanu)
from rnnprobe.reports.lags import plot_lags
from rnnprobe.reports.palette import ARCH_PALETTE, REPORT_RC, arch_color, report_style, variant_palette
from rnnprobe.reports.report import STUDY_QUESTIONS, StudyData, analyse, load_study, write_report
from rnnprobe.reports.spectra import plot_depth_isometry, plot_jacobian_spectra, plot_lyapunov_spectra, plot_weight_spectra
from rnnprobe.reports.tables import COLUMN_LABELS, format_table, format_value, table_pages, to_markdown
from rnnprobe.reports.training_pages import (plot_gradient_profiles, plot_samples, plot_training_curves,
                                             plot_training_measures, plot_weight_norms)
from rnnprobe.reports.prediction_pages import (plot_theory_prediction, plot_theory_profile, plot_theory_scatter, plot_theory_scores,
                            theory_palette)
from rnnprobe.reports.attention_pages import plot_accuracy_against_length, plot_attention_maps, plot_gradient_paths

__all__ = [
    "write_report", "load_study", "analyse", "StudyData", "STUDY_QUESTIONS",
    "plot_gradient_decay", "plot_gradient_decay_panels", "plot_bounds", "plot_memory_heatmap",
    "plot_memory_capacity", "plot_pascanu", "plot_chi1", "plot_lags",
    "plot_weight_spectra", "plot_lyapunov_spectra", "plot_depth_isometry", "plot_jacobian_spectra",
    "ARCH_PALETTE", "arch_color", "variant_palette", "report_style", "REPORT_RC", "METRIC_LABELS",
    "format_table", "format_value", "to_markdown", "table_pages", "COLUMN_LABELS",
    "plot_theory_profile", "plot_theory_scatter", "plot_theory_scores", "plot_theory_prediction", "theory_palette",
    "plot_training_curves", "plot_gradient_profiles", "plot_training_measures", "plot_weight_norms", "plot_samples",
    "plot_accuracy_against_length", "plot_gradient_paths", "plot_attention_maps",
]
