"""Multi-task data: generators, loaders and dataset helpers."""

from keras_mtl.data.adult import load_adult
from keras_mtl.data.census import load_census_income
from keras_mtl.data.digits import load_multidigits
from keras_mtl.data.multimnist import load_multi_fashion
from keras_mtl.data.multimnist import load_multi_fashion_mnist
from keras_mtl.data.multimnist import load_multi_mnist
from keras_mtl.data.multimnist import read_idx
from keras_mtl.data.partial import hide_labels
from keras_mtl.data.partial import label_masks
from keras_mtl.data.partial import label_rates
from keras_mtl.data.partial import labels_from_table
from keras_mtl.data.partial import sample_weights_from_masks
from keras_mtl.data.sampling import from_task_datasets
from keras_mtl.data.sampling import sampling_probabilities
from keras_mtl.data.synthetic import synthetic_mmoe
from keras_mtl.data.tfds_tasks import load_celeb_a
from keras_mtl.data.tfds_tasks import load_dsprites
from keras_mtl.data.tfds_tasks import load_movielens
from keras_mtl.data.tfds_tasks import load_shapes3d
from keras_mtl.data.yeast import load_yeast

__all__ = [
    "from_task_datasets",
    "hide_labels",
    "label_masks",
    "label_rates",
    "labels_from_table",
    "load_adult",
    "load_celeb_a",
    "load_census_income",
    "load_dsprites",
    "load_movielens",
    "load_multi_fashion",
    "load_multi_fashion_mnist",
    "load_multi_mnist",
    "load_multidigits",
    "load_shapes3d",
    "load_yeast",
    "read_idx",
    "sample_weights_from_masks",
    "sampling_probabilities",
    "synthetic_mmoe",
]
