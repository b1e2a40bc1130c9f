"""The training step of `MultiTaskModel`, one stage per module.

`step.train_step` reads top to bottom: forward, task losses
(`task_losses`), weighting, gradients and aggregation (`engine`), the
non-finite policy (`nonfinite`), one apply, the transaction
(`transaction`) and the logs (`logs`). `regularizer` holds the
`GradientRegularizer` contract that GREAT implements.
"""

from keras_mtl.training.engine import GradientEngine
from keras_mtl.training.errors import NonFiniteError
from keras_mtl.training.nonfinite import POLICIES
from keras_mtl.training.regularizer import GradientRegularizer
from keras_mtl.training.regularizer import RegularizerInputs

__all__ = ["POLICIES", "GradientEngine", "GradientRegularizer",
           "NonFiniteError", "RegularizerInputs"]
