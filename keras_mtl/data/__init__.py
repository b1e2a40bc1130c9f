"""Multi-task data: generators, loaders and dataset helpers."""

from keras_mtl.data.digits import load_multidigits
from keras_mtl.data.sampling import from_task_datasets
from keras_mtl.data.sampling import sampling_probabilities
from keras_mtl.data.synthetic import synthetic_mmoe

__all__ = [
    "from_task_datasets",
    "load_multidigits",
    "sampling_probabilities",
    "synthetic_mmoe",
]
