"""Small pieces of dense linear algebra that the aggregators' solvers
share: the machine epsilon of a dtype (the scale of every tolerance),
`Q` restricted to a support (the systems that Lawson-Hanson, support
enumeration and CAGrad's homotopy solve) and the eigenvalues of their
pseudo-inverses."""

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


def pseudo_inverse_values(values: Tensor, rcond: float) -> Tensor:
    """`1 / λ` for the eigenvalues `λ` (`[..., n]`, sorted as `eigh`
    returns them, the largest last) above `rcond` times the largest, 0
    for the others: the eigenvalues of the pseudo-inverse.

    A system is then solved as `V (Λ⁺ (Vᵀ b))`, never through the matrix
    `V Λ⁺ Vᵀ`: on an eigenvalue of 1e-11 that matrix holds entries near
    1e11, and its product with `b` rounds them into every direction,
    the stiff ones included, where a residual of `eps · 1e11` appears.
    """
    keep = values > rcond * values[..., -1:]
    return ops.where(keep, 1.0 / ops.where(keep, values, 1.0), 0.0)
