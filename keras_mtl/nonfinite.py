"""`compile(on_nonfinite=...)`: what a step does about NaN, Inf and overflow.

The policy lives in `keras_mtl.training.nonfinite` (how a step is
judged) and `keras_mtl.training.transaction` (a skipped step changes no
variable; no step writes a non-finite value). This module keeps the public
names at their first address.
"""

from keras_mtl.training.errors import NonFiniteError
from keras_mtl.training.errors import readable_errors
from keras_mtl.training.nonfinite import POLICIES
from keras_mtl.training.nonfinite import check_policy

__all__ = ["POLICIES", "NonFiniteError", "check_policy", "readable_errors"]
