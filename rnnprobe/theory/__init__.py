"""Published theory as numbers rnnprobe's measurements can be held to.

One module per theory; every function is pure (numpy/scipy quadrature) and
documented with the quantity its prediction is about (docs/theory.md has the
derivations, references and tolerances):

* :mod:`~rnnprobe.theory.meanfield` — mean-field signal propagation (Poole et al.
  2016; Schoenholz et al. 2017): length map, q*, χ₁, depth scales, correlation
  map, order-to-chaos line, finite-width growth of ‖Jv‖²;
* :mod:`~rnnprobe.theory.pascanu` — the (γσ_max)^k bound (Pascanu et al. 2013)
  and the instances that attain it;
* :mod:`~rnnprobe.theory.isometry` — moments of the squared singular values of
  deep Jacobians (Pennington, Schoenholz & Ganguli 2017);
* :mod:`~rnnprobe.theory.capacity` — linear memory capacity (Jaeger 2001) and the
  held-out estimator's expected value;
* :mod:`~rnnprobe.theory.ensembles` — residual nets as ensembles of paths
  (Veit, Wilber & Belongie 2016); the probe is :func:`rnnprobe.paths.path_lengths`;
* :mod:`~rnnprobe.theory.gates` — timescales set by gate biases (LSTM forget
  gate, GRU update gate, chrono init of Tallec & Ollivier 2018);
* :mod:`~rnnprobe.theory.diagonal` — linear diagonal recurrences: exact G(k), the
  LRU ring's spread of timescales (Orvieto et al. 2023), decay rates of input-gated
  units (minGRU/minLSTM, Feng et al. 2024) and S6's selective forgetting factors;
* :mod:`~rnnprobe.theory.memory_curse` — state variance and parameter sensitivity of
  ``h = λh + γx`` (the curse of memory, Zucchet & Orvieto 2024).

Examples
--------
>>> from rnnprobe import theory
>>> round(theory.chi1(2.0, 0.0, "relu"), 12), theory.path_length_distribution(2).tolist()
(2.0, [0.25, 0.5, 0.25])
"""

from rnnprobe.theory.capacity import (
    LinearMemoryCapacity,
    expected_heldout_capacity,
    krylov_rank,
    linear_memory_capacity,
    predicted_memory_capacity,
    reservoir_matrices,
)
from rnnprobe.theory.diagonal import (
    diagonal_efold_time,
    diagonal_jacobian_norms,
    gated_efold_time,
    mingru_decay_rate,
    minlstm_decay_rate,
    ring_modulus_cdf,
    ring_timescale_cdf,
    ring_timescale_quantile,
    order_statistic_mean,
    selective_decay_rate,
    selective_factor_cdf,
    selective_factor_quantile,
    softplus_mean,
)
from rnnprobe.theory.ensembles import (
    elementary_symmetric,
    path_length_distribution,
    path_length_weights,
    residual_branch_gains,
    residual_length_iterates,
)
from rnnprobe.theory.gates import (
    GRU_CONVENTIONS,
    bias_for_forgetting_time,
    chrono_efold_cdf,
    chrono_forgetting_times,
    efold_time,
    forgetting_time,
    gate_factor,
    gru_origin_jacobian,
    gru_origin_jacobian_norms,
    lstm_origin_jacobian_norms,
)
from rnnprobe.theory.isometry import (
    WEIGHT_ENSEMBLES,
    SpectrumMoments,
    critical_point,
    derivative_moments,
    ginibre_product_moments,
    jacobian_spectrum_moments,
    orthogonal_product_moments,
)
from rnnprobe.theory.meanfield import (
    LayerGrowth,
    MeanField,
    chi1,
    chi_c,
    correlation_fixed_point,
    correlation_iterates,
    correlation_map,
    critical_sigma_w,
    depth_scale,
    fixed_point,
    layer_growth,
    length_iterates,
    length_map,
    mean_field,
    order_to_chaos_line,
)
from rnnprobe.theory.memory_curse import NORMALIZATIONS, PARAMETRIZATIONS, lambda_sensitivity, state_variance
from rnnprobe.theory.pascanu import (
    GAMMA_POINTS,
    is_normaloid,
    pascanu_attained,
    pascanu_bound,
    pascanu_tight_model,
    trajectory_pascanu_bound,
)

__all__ = [
    # mean field
    "MeanField", "LayerGrowth", "mean_field", "length_map", "length_iterates", "fixed_point", "chi1",
    "depth_scale", "correlation_map", "correlation_iterates", "correlation_fixed_point", "chi_c",
    "critical_sigma_w", "order_to_chaos_line", "layer_growth",
    # Pascanu
    "pascanu_bound", "trajectory_pascanu_bound", "is_normaloid", "pascanu_attained", "pascanu_tight_model",
    "GAMMA_POINTS",
    # dynamical isometry
    "SpectrumMoments", "WEIGHT_ENSEMBLES", "ginibre_product_moments", "orthogonal_product_moments",
    "jacobian_spectrum_moments", "critical_point", "derivative_moments",
    # memory capacity
    "LinearMemoryCapacity", "linear_memory_capacity", "krylov_rank", "reservoir_matrices",
    "predicted_memory_capacity", "expected_heldout_capacity",
    # residual ensembles
    "path_length_distribution", "elementary_symmetric", "path_length_weights", "residual_length_iterates",
    "residual_branch_gains",
    # gates
    "gate_factor", "forgetting_time", "efold_time", "bias_for_forgetting_time", "chrono_forgetting_times",
    "chrono_efold_cdf", "lstm_origin_jacobian_norms", "gru_origin_jacobian", "gru_origin_jacobian_norms",
    "GRU_CONVENTIONS",
    # diagonal recurrences
    "diagonal_jacobian_norms", "diagonal_efold_time", "ring_modulus_cdf", "ring_timescale_cdf",
    "ring_timescale_quantile", "softplus_mean", "mingru_decay_rate", "minlstm_decay_rate", "selective_decay_rate",
    "selective_factor_cdf", "selective_factor_quantile", "order_statistic_mean", "gated_efold_time",
    # the curse of memory
    "state_variance", "lambda_sensitivity", "NORMALIZATIONS", "PARAMETRIZATIONS",
]
