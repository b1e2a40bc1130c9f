"""The closed-form task covariance of multi-task relationship learning.

For task parameter vectors stacked as the columns of `W` (`[P, T]`),
Zhang & Yeung (2010) learn the task covariance `Ω` jointly with `W`:

```
min_{W, Ω}  Σ_t L_t(w_t) + λ tr(W Ω⁻¹ Wᵀ)    s.t.  Ω ⪰ 0, tr(Ω) = 1
Ω* = (Wᵀ W)^{1/2} / tr((Wᵀ W)^{1/2})     (the Ω-step, in closed form)
tr(W Ω*⁻¹ Wᵀ) = (tr (Wᵀ W)^{1/2})² = ||W||_*²
```

Here `W` holds the deviations of the columns from their mean (the mean
column is the shared part, left free, as the Laplacian of a fixed
relation matrix leaves it free). Those deviations live in the `T - 1`
dimensional subspace orthogonal to the all-ones vector, so the update is
computed there, in an orthonormal basis `Q` (`[T, T - 1]`), where their
Gram matrix is generically invertible; `Ω = Q Ω_c Qᵀ` has trace 1 and
rows summing to 0. `epsilon` (relative to the mean eigenvalue) keeps
`Ω_c` invertible, as the `εI` term of Zhang & Yeung's update does.

References:
- Zhang, Yeung (2010). A Convex Formulation for Learning Task
  Relationships in Multi-Task Learning. UAI. arXiv:1203.3536.
- Long, Cao, Wang, Yu (2017). Learning Multiple Tasks with Multilinear
  Relationship Networks. NeurIPS. arXiv:1506.02117.
- Evgeniou, Pontil (2004). Regularized Multi-Task Learning. KDD
  (task parameters as a shared mean plus task deviations).
"""

import numpy as np
import tensorflow as tf

from keras_mtl.types import Tensor


def centered_basis(num_tasks: int) -> np.ndarray:
    """An orthonormal `[T, T - 1]` basis of the vectors summing to 0
    (Helmert's contrasts)."""
    basis = np.zeros((num_tasks, num_tasks - 1))
    for k in range(1, num_tasks):
        basis[:k, k - 1] = 1.0
        basis[k, k - 1] = -float(k)
        basis[:, k - 1] /= np.linalg.norm(basis[:, k - 1])
    return basis


def closed_form_covariance(
    gram: Tensor, epsilon: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The Ω-step on a `[K, K]` Gram matrix of task parameters.

    Args:
        gram: `[K, K]` Gram matrix `Wᵀ W` (float32), gradient stopped.
        epsilon: float > 0, relative eigenvalue floor.

    Returns:
        `(omega, omega_inverse, finite)`: `Ω` (trace 1), `Ω⁻¹` and a
        boolean scalar, False when `gram` holds NaN or Inf (then `Ω` and
        `Ω⁻¹` are the identity-based fallback and must not be stored:
        `tf.linalg.eigh` raises on non-finite input, so it never sees it).
    """
    size = tf.shape(gram)[0]
    eye = tf.eye(size, dtype=gram.dtype)
    finite = tf.reduce_all(tf.math.is_finite(gram))
    gram = tf.where(finite, (gram + tf.transpose(gram)) / 2.0, eye)
    eigenvalues, vectors = tf.linalg.eigh(gram)
    floor = epsilon * tf.maximum(
        tf.reduce_mean(tf.maximum(eigenvalues, 0.0)), 1e-30)
    roots = tf.sqrt(tf.maximum(eigenvalues, 0.0) + floor)
    total = tf.reduce_sum(roots)
    omega = tf.matmul(vectors * (roots / total)[None, :], vectors,
                      transpose_b=True)
    inverse = tf.matmul(vectors * (total / roots)[None, :], vectors,
                        transpose_b=True)
    return omega, inverse, finite


def deviation_penalty(
    columns: list, basis: np.ndarray, epsilon: float
) -> tuple[Tensor, Tensor, Tensor]:
    """`tr(W Ω⁻¹ Wᵀ)` on the columns' deviations, with Ω in closed form.

    Args:
        columns: Per task, the list of its column's weights (same shapes).
        basis: `centered_basis(T)`.
        epsilon: Relative eigenvalue floor.

    Returns:
        `(penalty, omega, finite)`: the penalty (strength not included;
        non-finite when the weights are), the `[T, T]` covariance `Ω`
        (trace 1) and whether it may be stored.
    """
    rows = [tf.concat([tf.reshape(tf.cast(w, tf.float32), [-1])
                       for w in weights], axis=0) for weights in columns]
    basis = tf.constant(basis, tf.float32)
    deviations = tf.matmul(basis, tf.stack(rows), transpose_a=True)
    gram = tf.matmul(deviations, deviations, transpose_b=True)
    omega_c, inverse, finite = closed_form_covariance(
        tf.stop_gradient(gram), epsilon)
    omega = tf.matmul(tf.matmul(basis, omega_c), basis, transpose_b=True)
    penalty = tf.where(finite, tf.reduce_sum(inverse * gram),
                       tf.linalg.trace(gram))  # NaN/Inf stays visible
    return penalty, omega, finite
