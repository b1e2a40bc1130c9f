"""Two small pieces of dense linear algebra that the aggregators' solvers
share: the machine epsilon of a dtype (the scale of every tolerance) and
`Q` restricted to a support (the systems that Lawson-Hanson, support
enumeration and CAGrad's homotopy solve)."""

from typing import Any

import numpy as np
from keras import backend
from keras import ops

from keras_mtl.types import Tensor


def machine_epsilon(dtype: Any) -> float:
    """The machine epsilon of `dtype`."""
    return float(np.finfo(backend.standardize_dtype(dtype)).eps)


def masked_systems(quadratic: Tensor, masks: Tensor) -> Tensor:
    """`Q` restricted to each support (rows of `masks`), identity
    elsewhere: `[S, T, T]`, block diagonal, so that its pseudo-inverse
    holds `pinv(Q_SS)` on the support."""
    outer = masks[:, :, None] * masks[:, None, :]
    eye = ops.eye(quadratic.shape[-1], dtype=quadratic.dtype)
    return outer * quadratic[None] + (1.0 - masks)[:, :, None] * eye[None]
