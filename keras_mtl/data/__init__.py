"""Multi-task data: generators, loaders and dataset helpers."""

from keras_mtl.data.digits import load_multidigits
from keras_mtl.data.partial import hide_labels
from keras_mtl.data.partial import label_masks
from keras_mtl.data.partial import label_rates
from keras_mtl.data.partial import labels_from_table
from keras_mtl.data.partial import sample_weights_from_masks
from keras_mtl.data.sampling import from_task_datasets
from keras_mtl.data.sampling import sampling_probabilities
from keras_mtl.data.synthetic import synthetic_mmoe

__all__ = [
    "from_task_datasets",
    "hide_labels",
    "label_masks",
    "label_rates",
    "labels_from_table",
    "load_multidigits",
    "sample_weights_from_masks",
    "sampling_probabilities",
    "synthetic_mmoe",
]
