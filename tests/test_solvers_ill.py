"""Gramians on which `"auto"` was not exact, pinned.

Examples of tests/test_solvers.py's random Gramians (a hypothesis run
without derandomization, then a sweep of seeds 0-99 at T = 2..8 for every
kind and dtype) where the solvers stood further from the exact quadratic
program than the tolerance. Each is listed with its gap before the fix,
as a multiple of the tolerance.

- Min-norm point (MGDA), float64, "ill" Gramians, T = 4..6 (13 of 100
  seeds at T = 6, up to 63x). The enumeration formed each support's
  pseudo-inverse `V Λ⁺ Vᵀ`; on `G + 11ᵀ`, whose small eigenvalues are
  ~1e-11, its entries reach 1e11, and its product with `c` rounded them
  into the stiff direction: a residual of 6e-6 on the exact support
  ({0, 2, 4} at seed 1). Ranked by KKT violation, the wrong support
  {2, 5} (2e-11) won, 4.1e-6 from the optimum in `‖Jᵀα‖`.
- float32: "ill" min-norm points (up to 2.5x) and rank-deficient
  dual-cone projections (up to 4000x). `G + 11ᵀ` in float32 rounds away
  the Gramian's entries below 6e-8, and the exact projections of
  rank-deficient Gramians have weights of ~500 that the float32
  pseudo-inverse lost: the answer was 0.8 ‖Jᵀu‖ away.
- Rank-deficient, float64, T = 8, seed 55 (1.14x): the solver was exact
  (`Jᵀv = 0`, as the reference); the gap came from measuring through the
  Gramian, now through `J` (tests/test_solvers.py).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_solvers import _check_against_enumeration
from test_solvers import _problem_and_jacobian
from test_solvers import exact_min_norm

from keras_mtl.aggregators import _solvers

# (kind, num_tasks, seed, dtype), gap / tolerance before the fix.
FALSIFYING = [
    ("ill", 4, 65, "float64"),  # min-norm 52x
    ("ill", 5, 47, "float64"),  # min-norm 63x
    ("ill", 6, 1, "float64"),  # min-norm 4.1x (the hypothesis example)
    ("ill", 6, 50, "float64"),  # min-norm 31x
    ("ill", 3, 74, "float32"),  # min-norm 2.5x
    ("ill", 5, 64, "float32"),  # min-norm 1.9x
    ("rank_deficient", 4, 55, "float32"),  # dual cone 11x
    ("rank_deficient", 5, 41, "float32"),  # dual cone 15x
    ("rank_deficient", 6, 68, "float32"),  # dual cone 4000x
    ("rank_deficient", 7, 26, "float32"),  # dual cone 6.6x (active set)
    ("rank_deficient", 8, 21, "float32"),  # dual cone 250x (active set)
    ("rank_deficient", 8, 55, "float64"),  # the measurement, 1.1x
]


@pytest.mark.parametrize("kind,num_tasks,seed,dtype", FALSIFYING)
def test_falsifying_examples_match_enumeration(kind, num_tasks, seed, dtype):
    _check_against_enumeration(kind, num_tasks, seed, dtype)


@pytest.mark.parametrize("method", ["enumerate", "active_set"])
def test_min_norm_point_of_the_hypothesis_example_in_a_graph(method):
    # As in the training step: traced. Both methods reach the support
    # {0, 2, 4} and ‖Jᵀα‖² = 9.0e-14 (the wrong support gave 1.7e-11).
    gramian, _, j = _problem_and_jacobian("ill", 6, 1, "float64")
    solve = tf.function(lambda g: _solvers.min_norm_weights(g, method))
    alpha = keras.ops.convert_to_numpy(solve(tf.constant(gramian)))
    factor = j / np.sqrt(gramian.diagonal().max())
    reference = exact_min_norm(gramian / gramian.diagonal().max())
    np.testing.assert_array_equal(alpha > 0.0, [1, 0, 1, 0, 1, 0])
    assert np.linalg.norm((alpha - reference) @ factor) <= 1e-6
    assert np.linalg.norm(alpha @ factor) ** 2 <= 1e-13
