"""Multi-task data: generators, loaders and dataset helpers."""

from keras_mtl.data.digits import load_multidigits
from keras_mtl.data.synthetic import synthetic_mmoe

__all__ = [
    "load_multidigits",
    "synthetic_mmoe",
]
