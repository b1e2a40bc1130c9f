"""One dataset per task, mixed into batches that carry every task's labels.

Each task often comes with its own inputs and its own size (LibMTL#44:
"one dataset per task"). `from_task_datasets` draws examples from the task
datasets at chosen rates and batches them together; every example carries
the labels of every task, with the absent ones masked by the foundation's
missing-label convention (per-task `sample_weight` 0 by default, or the
sentinel -1 / NaN), so one `MultiTaskModel` trains on all of them and each
task's loss is the mean over the examples that carry its label.

Sampling rates, for task sizes `N_t` and `T` tasks:

```
proportional   p_t = N_t / sum_s N_s
uniform        p_t = 1 / T
temperature    p_t = N_t^(1/tau) / sum_s N_s^(1/tau)        (tau >= 1 flattens)
annealed       p_t = N_t^a_e / sum_s N_s^a_e,
               a_e = 1 - (1 - final_alpha) * e / (E - 1)    (epoch e of E)
exhaustive     every example of every task exactly once per epoch
```

Epoch: `steps_per_epoch` batches, by default `ceil(sum_t N_t / batch_size)`,
so that one epoch holds as many examples as all task datasets together.
In each epoch, task `t` gets exactly `round(p_t * examples_per_epoch)`
examples (largest remainders; at least one for every task with `p_t > 0`,
so no task is starved), in a seeded random order. Each task's examples come
from an endless stream over its dataset, reshuffled on every pass, that
carries on from one epoch to the next: small tasks cycle, large ones are
seen in full before any example repeats. The rates are computed in
`keras_mtl.data.sampling_rates` (re-exported here).
"""

import math
from typing import Any
from typing import Mapping

import numpy as np
import tensorflow as tf

from keras_mtl.data.sampling_rates import SAMPLINGS  # noqa: F401
from keras_mtl.data.sampling_rates import allocate
from keras_mtl.data.sampling_rates import dataset_sizes
from keras_mtl.data.sampling_rates import epoch_steps
from keras_mtl.data.sampling_rates import sampling_probabilities
from keras_mtl.tasks import validate_task_name

BATCH_MODES = ("mixed", "per_task")
MISSING_MODES = ("sample_weight", "sentinel")


def _split_element(name: str, spec: Any) -> tuple[Any, Any, Any]:
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ValueError(
            f"Task {name!r}: each task dataset must yield single examples "
            "(inputs, label) or (inputs, label, sample_weight). Received "
            f"an element spec of {spec!r}."
        )
    label = spec[1]
    if isinstance(label, Mapping):
        if set(label) != {name}:
            raise ValueError(
                f"Task {name!r}: a dict label must hold only this task's "
                f"label, keyed {name!r}. Received keys {sorted(label)}."
            )
        label = label[name]
    if not isinstance(label, tf.TensorSpec):
        raise ValueError(
            f"Task {name!r}: the label must be one tensor per example. "
            f"Received: {label!r}."
        )
    if not label.shape.is_fully_defined():
        raise ValueError(
            f"Task {name!r}: the label shape {label.shape} is not fully "
            "defined, so absent labels of this task cannot be filled in. "
            "Give the label a static shape (e.g. with tf.ensure_shape)."
        )
    return spec[0], label, spec[2] if len(spec) == 3 else None


def _fill(spec: tf.TensorSpec, missing: str) -> tf.Tensor:
    if missing == "sentinel":
        if spec.dtype.is_floating:
            return tf.fill(spec.shape, tf.constant(math.nan, spec.dtype))
        if spec.dtype.is_integer:
            return tf.fill(spec.shape, tf.constant(-1, spec.dtype))
        raise ValueError(
            f"Labels of dtype {spec.dtype.name} have no missing-label "
            "sentinel. Use missing='sample_weight'."
        )
    return tf.zeros(spec.shape, spec.dtype)


def _prepare(
    datasets: Mapping[str, tf.data.Dataset], missing: str
) -> dict[str, tf.data.Dataset]:
    """Maps each task's examples to `(x, {all labels}[, {all weights}])`."""
    names = list(datasets)
    parts = {n: _split_element(n, datasets[n].element_spec) for n in names}
    first = names[0]
    x_spec = parts[first][0]
    for n in names[1:]:
        try:
            tf.nest.assert_same_structure(x_spec, parts[n][0])
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"Tasks {first!r} and {n!r} yield inputs of different "
                f"structure ({x_spec!r} vs {parts[n][0]!r}). All task "
                "datasets must feed the same model inputs."
            ) from error
        for a, b in zip(tf.nest.flatten(x_spec), tf.nest.flatten(parts[n][0])):
            if a.dtype != b.dtype:
                raise ValueError(
                    f"Tasks {first!r} and {n!r} yield inputs of different "
                    f"dtypes ({a.dtype.name} vs {b.dtype.name}). Cast them "
                    "to one dtype with ds.map(...)."
                )
    label_specs = {n: parts[n][1] for n in names}
    has_weights = any(parts[n][2] is not None for n in names)
    emit_weights = missing == "sample_weight" or has_weights

    def make(name: str):
        def to_joint(*element):
            x, y = element[0], element[1]
            if isinstance(y, Mapping):
                y = y[name]
            labels, weights = {}, {}
            for other in names:
                if other == name:
                    labels[other] = y
                    w = element[2] if len(element) == 3 else 1.0
                    weights[other] = tf.cast(w, tf.float32)
                else:
                    labels[other] = _fill(label_specs[other], missing)
                    weights[other] = tf.constant(0.0, tf.float32)
            if emit_weights:
                return x, labels, weights
            return x, labels
        return to_joint

    return {n: datasets[n].map(make(n), num_parallel_calls=tf.data.AUTOTUNE,
                               deterministic=True) for n in names}


def _choices(counts: tf.Tensor, seed: tf.Tensor) -> tf.data.Dataset:
    """One epoch of task ids: task `t` exactly `counts[t]` times, shuffled
    by a stateless function of `seed`."""
    choices = tf.repeat(tf.range(tf.shape(counts)[0], dtype=tf.int64),
                        counts)
    order = tf.argsort(tf.random.stateless_uniform(
        tf.shape(choices), seed=seed))
    return tf.data.Dataset.from_tensor_slices(tf.gather(choices, order))


def _streams(
    sources: list[tf.data.Dataset], seed: int, batch_size: int,
    per_task: bool, shuffle_buffer: int,
) -> list[tf.data.Dataset]:
    """Endless per-task streams, reshuffled on every pass over a task."""
    streams = []
    for t, source in enumerate(sources):
        stream = source
        if shuffle_buffer > 1:
            stream = stream.shuffle(
                shuffle_buffer, seed=(seed * 1_000_003 + t) % (2**31),
                reshuffle_each_iteration=True)
        stream = stream.repeat()
        if per_task:
            stream = stream.batch(batch_size, drop_remainder=True)
        streams.append(stream)
    return streams


def from_task_datasets(
    datasets: Mapping[str, tf.data.Dataset],
    sampling: str | Mapping[str, float] = "proportional",
    batch_size: int = 32,
    seed: int | None = None,
    *,
    temperature: float = 2.0,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    final_alpha: float = 0.2,
    batch_mode: str = "mixed",
    missing: str = "sample_weight",
    shuffle_buffer: int = 10_000,
    sizes: Mapping[str, int] | None = None,
) -> tf.data.Dataset:
    """Mixes one dataset per task into multi-task batches.

    Each task dataset yields single examples `(inputs, label)` or `(inputs,
    label, sample_weight)`; all of them feed the same model inputs. The
    result yields `(inputs, {task: labels}, {task: sample_weights})`: the
    task an example came from has its label and weight, every other task
    the weight 0 (and a zero label) so that `MultiTaskModel` leaves it out
    of that task's loss and metrics. With `missing="sentinel"` the absent
    labels are -1 (integer labels) or NaN (float labels) instead, the
    foundation's sentinels.

    Epochs and determinism:

    - `epochs=None` (default): one pass over the returned dataset is one
      epoch of `steps_per_epoch` batches; every new pass (each epoch of
      `model.fit(ds, epochs=E)`) draws a new order from a seeded stream,
      so runs with the same `seed` (and global seed) repeat exactly.
    - `epochs=E`: the dataset holds `E` epochs in one pass, a pure
      function of `seed` (and the global seed); train with
      `model.fit(ds, epochs=E, steps_per_epoch=steps)`. Annealed sampling
      needs this form, since its rates change with the epoch.
    - `sampling="exhaustive"`: every example of every task exactly once
      per pass (in a seeded, reshuffled order; for validation sets).

    Args:
        datasets: dict `{task: tf.data.Dataset}` of single examples.
        sampling: `"proportional"`, `"uniform"`, `"temperature"`,
            `"annealed"`, `"exhaustive"`, or a dict `{task: weight}`.
        batch_size: int. Examples per batch.
        seed: Optional int. Seeds the task draws and the per-task shuffles.
        temperature: float. The `tau` of temperature sampling.
        epochs: Optional int. See "Epochs and determinism".
        steps_per_epoch: Optional int. Batches per epoch; defaults to
            `ceil(sum of task sizes / batch_size)`.
        final_alpha: float. The last epoch's exponent in annealed sampling.
        batch_mode: `"mixed"` (each example drawn independently, so a batch
            mixes tasks) or `"per_task"` (each batch from one task, drawn at
            the task rates, as in MT-DNN and Stickland & Murray).
        missing: `"sample_weight"` or `"sentinel"` (see above).
        shuffle_buffer: int. Per-task shuffle buffer (0 or 1: no shuffle).
        sizes: Optional dict `{task: size}` for datasets whose cardinality
            is unknown.

    Returns:
        A `tf.data.Dataset` of batches.

    Example:

    ```python
    ds = keras_mtl.data.from_task_datasets(
        {"income": income_ds, "never_married": marital_ds},
        sampling="temperature", temperature=2.0, batch_size=64, seed=0)
    model.fit(ds, epochs=5)
    ```

    References:
    - Liu, He, Chen, Gao (2019). Multi-Task Deep Neural Networks for
      Natural Language Understanding. ACL. arXiv:1901.11504.
    - Stickland, Murray (2019). BERT and PALs. ICML. arXiv:1902.02671.
    """
    if not isinstance(datasets, Mapping) or not datasets:
        raise ValueError(
            "Argument `datasets` must be a non-empty dict {task_name: "
            f"tf.data.Dataset}}. Received: {datasets!r}."
        )
    for name in datasets:
        validate_task_name(name)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            "Argument `batch_size` must be a positive int. Received: "
            f"batch_size={batch_size!r}.")
    if batch_mode not in BATCH_MODES:
        raise ValueError(
            f"Argument `batch_mode` must be one of {BATCH_MODES}. Received: "
            f"batch_mode={batch_mode!r}.")
    if missing not in MISSING_MODES:
        raise ValueError(
            f"Argument `missing` must be one of {MISSING_MODES}. Received: "
            f"missing={missing!r}.")
    for arg, value in (("epochs", epochs),
                       ("steps_per_epoch", steps_per_epoch)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(
                f"Argument `{arg}` must be a positive int or None. "
                f"Received: {arg}={value!r}.")
    names = list(datasets)
    sizes = dict(sizes) if sizes is not None else dataset_sizes(datasets)
    if set(sizes) != set(names):
        raise ValueError(
            f"Argument `sizes` must have one entry per task {names}. "
            f"Received keys {sorted(sizes)}.")
    sizes = {n: int(sizes[n]) for n in names}
    empty = [n for n in names if sizes[n] < 1]
    if empty:
        raise ValueError(
            f"Task(s) {empty} have empty datasets. Remove them or give "
            "them examples.")
    # Validates the rates (and annealing arguments) early.
    probabilities = [sampling_probabilities(
        sizes, sampling, temperature=temperature, epoch=e, epochs=epochs,
        final_alpha=final_alpha) for e in range(epochs or 1)]
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    prepared = _prepare(datasets, missing)
    sources = [prepared[n] for n in names]

    if sampling == "exhaustive":
        joined = sources[0]
        for source in sources[1:]:
            joined = joined.concatenate(source)
        total = sum(sizes.values())
        joined = joined.shuffle(total, seed=seed,
                                reshuffle_each_iteration=True)
        out = joined.batch(batch_size)
        if epochs is not None:
            out = out.repeat(epochs)
        return out.prefetch(tf.data.AUTOTUNE)

    per_task = batch_mode == "per_task"
    steps = steps_per_epoch or epoch_steps(sizes, batch_size)
    draws = steps if per_task else steps * batch_size
    counts = np.stack([allocate(p, draws) for p in probabilities])

    seed_tensor = tf.constant(seed, tf.int64)
    if epochs is None:
        counts_0 = tf.constant(counts[0])
        # A new random value on every pass: each pass is a new epoch.
        choices = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True).take(1).flat_map(
            lambda r: _choices(counts_0, tf.stack([seed_tensor, r])))
        total_batches = steps
    else:
        all_counts = tf.constant(counts)
        choices = tf.data.Dataset.range(epochs).flat_map(
            lambda e: _choices(all_counts[e], tf.stack([seed_tensor, e])))
        total_batches = steps * epochs
    out = tf.data.Dataset.choose_from_datasets(
        _streams(sources, seed, batch_size, per_task, int(shuffle_buffer)),
        choices)
    if not per_task:
        out = out.batch(batch_size, drop_remainder=True)
    out = out.apply(tf.data.experimental.assert_cardinality(total_batches))
    return out.prefetch(tf.data.AUTOTUNE)
