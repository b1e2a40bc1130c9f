"""Multi-worker start-up workarounds (moved).

They live in `keras_mtl.training.multi_worker`; this module keeps the
names at their first address.
"""

from keras_mtl.training.multi_worker import first_batch_for_build
from keras_mtl.training.multi_worker import step_logs

__all__ = ["first_batch_for_build", "step_logs"]
