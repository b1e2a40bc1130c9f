"""The gradient engine of the training step (moved).

It lives in `keras_mtl.training.engine`; this module keeps its names at
their first address.
"""

from keras_mtl.training.engine import MODES
from keras_mtl.training.engine import GradientEngine
from keras_mtl.training.engine import resolve_mode

__all__ = ["MODES", "GradientEngine", "resolve_mode"]
