"""TensorFlow Datasets with several labels per example, as named tasks.

Each loader returns `(dataset, tasks)`: a `tf.data.Dataset` of
`(inputs, {task: label})` examples (unbatched) and the matching
`keras_mtl.Task` list, ready for `keras_mtl.build(...)` and `model.fit(
dataset.batch(64), ...)`.

```
celeb_a     40 binary face attributes       ("5_o_Clock_Shadow" becomes
                                             five_o_clock_shadow)
dsprites    5 latent factors, multiclass    shape(3) scale(6) orientation(40)
                                             x_position(32) y_position(32)
shapes3d    6 latent factors, multiclass    floor_hue wall_hue object_hue(10)
                                             scale(8) shape(4) orientation(15)
movielens   rating (regression, 1-5) and liked (binary, rating >= 4)
            from (user_id, movie_id) strings
```

The data come from `tensorflow_datasets` (`tfds.load`), downloaded or
prepared in `data_dir` as usual; tests run them offline under
`tfds.testing.mock_data`.
"""

import re
from typing import Any
from typing import Sequence

import tensorflow as tf

from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_task_name

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven",
           "eight", "nine")

DSPRITES_FACTORS = ("shape", "scale", "orientation", "x_position",
                    "y_position")
SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape",
                    "orientation")


def task_name(raw: str) -> str:
    """A dataset's label name as a task name (`^[a-z][a-z0-9_]*$`).

    Lower case, runs of other characters become `_`, and a leading digit is
    spelled out: `"5_o_Clock_Shadow"` -> `"five_o_clock_shadow"`.
    """
    name = re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_")
    if name and name[0].isdigit():
        name = _DIGITS[int(name[0])] + name[1:]
    return validate_task_name(name)


def _load(name: str, split: str, data_dir: str | None, download: bool,
          shuffle_files: bool) -> tuple[tf.data.Dataset, Any]:
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if download:
        builder.download_and_prepare()
    dataset = builder.as_dataset(split=split, shuffle_files=shuffle_files)
    return dataset, builder.info


def _image(image: tf.Tensor, image_size: Sequence[int] | None) -> tf.Tensor:
    image = tf.cast(image, tf.float32) / 255.0
    if image_size is not None:
        image = tf.image.resize(image, tuple(image_size), antialias=True)
    return image


def _select(all_names: Sequence[str], chosen: Sequence[str] | None,
            what: str) -> list[str]:
    if chosen is None:
        return list(all_names)
    unknown = sorted(set(chosen) - set(all_names))
    if unknown:
        raise ValueError(
            f"Unknown {what} {unknown}. Known: {list(all_names)}.")
    return list(chosen)


def load_celeb_a(
    split: str = "train",
    attributes: Sequence[str] | None = None,
    image_size: Sequence[int] | None = (64, 64),
    data_dir: str | None = None,
    download: bool = True,
    shuffle_files: bool = False,
) -> tuple[tf.data.Dataset, list[Task]]:
    """CelebA's binary attributes as tasks (Sener & Koltun's 40 tasks).

    Args:
        split: A TFDS split (`"train"`, `"validation"`, `"test"`).
        attributes: Raw attribute names to keep (default: all 40).
        image_size: Resize images to this `(height, width)`, or None to
            keep 218x178. Pixels are float32 in [0, 1].
        data_dir: TFDS data directory.
        download: Download and prepare when needed.
        shuffle_files: As in `tfds.load`.

    Returns:
        `(dataset of (image, {task: int32 0/1}), [Task(..., "binary")])`.

    References:
    - Liu, Luo, Wang, Tang (2015). Deep Learning Face Attributes in the
      Wild. ICCV. arXiv:1411.7766.
    - Sener, Koltun (2018). Multi-Task Learning as Multi-Objective
      Optimization. NeurIPS. arXiv:1810.04650.
    """
    dataset, info = _load("celeb_a", split, data_dir, download,
                          shuffle_files)
    raw = _select(list(info.features["attributes"].keys()), attributes,
                  "CelebA attributes")
    names = [task_name(a) for a in raw]

    def convert(example):
        labels = {n: tf.cast(example["attributes"][a], tf.int32)
                  for n, a in zip(names, raw)}
        return _image(example["image"], image_size), labels

    tasks = [Task(n, "binary") for n in names]
    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE), tasks


def _latent_factors(
    name: str, factors: Sequence[str], chosen: Sequence[str] | None,
    split: str, kind: str, data_dir: str | None, download: bool,
    shuffle_files: bool, image_size: Sequence[int] | None,
) -> tuple[tf.data.Dataset, list[Task]]:
    if kind not in ("classification", "regression"):
        raise ValueError(
            "Argument `kind` must be 'classification' or 'regression'. "
            f"Received: kind={kind!r}.")
    keep = _select(factors, chosen, f"{name} factors")
    dataset, info = _load(name, split, data_dir, download, shuffle_files)
    if kind == "classification":
        tasks = [Task(f, "multiclass",
                      num_classes=info.features[f"label_{f}"].num_classes)
                 for f in keep]
    else:
        tasks = [Task(f, "regression") for f in keep]

    def convert(example):
        if kind == "classification":
            labels = {f: tf.cast(example[f"label_{f}"], tf.int32)
                      for f in keep}
        else:
            labels = {f: tf.reshape(tf.cast(example[f"value_{f}"],
                                            tf.float32), [1]) for f in keep}
        return _image(example["image"], image_size), labels

    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE), tasks


def load_dsprites(
    split: str = "train",
    factors: Sequence[str] | None = None,
    kind: str = "classification",
    image_size: Sequence[int] | None = None,
    data_dir: str | None = None,
    download: bool = True,
    shuffle_files: bool = False,
) -> tuple[tf.data.Dataset, list[Task]]:
    """dSprites' latent factors as tasks.

    Args:
        split: TFDS split (dSprites has only `"train"`; slice it, e.g.
            `"train[:90%]"`).
        factors: Factors to keep (default all of `DSPRITES_FACTORS`).
        kind: `"classification"` (the discrete factor index; multiclass
            tasks) or `"regression"` (the factor's value).
        image_size, data_dir, download, shuffle_files: See
            `load_celeb_a`.

    Returns:
        `(dataset of (image [64,64,1] in [0, 1], {factor: label}), tasks)`.

    References:
    - Matthey, Higgins, Hassabis, Lerchner (2017). dSprites: Disentanglement
      testing Sprites dataset. github.com/deepmind/dsprites-dataset.
    """
    return _latent_factors("dsprites", DSPRITES_FACTORS, factors, split,
                           kind, data_dir, download, shuffle_files,
                           image_size)


def load_shapes3d(
    split: str = "train",
    factors: Sequence[str] | None = None,
    kind: str = "classification",
    image_size: Sequence[int] | None = None,
    data_dir: str | None = None,
    download: bool = True,
    shuffle_files: bool = False,
) -> tuple[tf.data.Dataset, list[Task]]:
    """3D Shapes' latent factors as tasks (see `load_dsprites`).

    References:
    - Burgess, Kim (2018). 3D Shapes Dataset.
      github.com/deepmind/3dshapes-dataset.
    """
    return _latent_factors("shapes3d", SHAPES3D_FACTORS, factors, split,
                           kind, data_dir, download, shuffle_files,
                           image_size)


def load_movielens(
    config: str = "100k-ratings",
    split: str = "train",
    liked_threshold: float = 4.0,
    features: Sequence[str] = (),
    data_dir: str | None = None,
    download: bool = True,
    shuffle_files: bool = False,
) -> tuple[tf.data.Dataset, list[Task]]:
    """MovieLens ratings as two tasks: `rating` and `liked`.

    Inputs are a dict with the `user_id` and `movie_id` strings (map them
    with `keras.layers.StringLookup` or `Hashing` in the model), plus any
    extra TFDS `features` asked for (e.g. `"user_gender"`,
    `"bucketized_user_age"`, `"user_occupation_label"`).

    Args:
        config: TFDS config, e.g. `"100k-ratings"` or `"1m-ratings"`.
        split: TFDS split (MovieLens has only `"train"`; slice it).
        liked_threshold: `liked = rating >= liked_threshold`.
        features: Extra example keys to pass as inputs.
        data_dir, download, shuffle_files: See `load_celeb_a`.

    Returns:
        `(dataset of ({"user_id", "movie_id", ...}, {"rating": float32
        [1], "liked": int32}), [Task("rating", "regression"),
        Task("liked", "binary")])`.

    References:
    - Harper, Konstan (2015). The MovieLens Datasets: History and Context.
      ACM TiiS 5(4).
    """
    dataset, _ = _load(f"movielens/{config}", split, data_dir, download,
                       shuffle_files)
    keys = ["user_id", "movie_id"] + [f for f in features
                                      if f not in ("user_id", "movie_id")]

    def convert(example):
        missing = [k for k in keys if k not in example]
        if missing:
            raise ValueError(
                f"MovieLens examples have no feature(s) {missing}. Known: "
                f"{sorted(example)}.")
        rating = tf.cast(example["user_rating"], tf.float32)
        inputs = {k: example[k] for k in keys}
        labels = {"rating": tf.reshape(rating, [1]),
                  "liked": tf.cast(rating >= liked_threshold, tf.int32)}
        return inputs, labels

    tasks = [Task("rating", "regression"), Task("liked", "binary")]
    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE), tasks
