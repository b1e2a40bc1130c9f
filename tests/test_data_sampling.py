"""Tests of `keras_mtl.data.from_task_datasets`: rates, masks, epochs."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.data import sampling as sampling_module
from keras_mtl.data.sampling import from_task_datasets
from keras_mtl.data.sampling import sampling_probabilities

SIZES = {"big": 900, "mid": 90, "small": 10}


def _task_datasets(sizes=SIZES, float_task=None):
    """Inputs encode (task id, example index); labels are that index."""
    datasets = {}
    for t, (name, n) in enumerate(sizes.items()):
        x = np.stack([np.full(n, t), np.arange(n)], axis=1).astype("float32")
        if name == float_task:
            y = np.arange(n, dtype="float32")[:, None]
        else:
            y = np.arange(n, dtype="int64")
        datasets[name] = tf.data.Dataset.from_tensor_slices((x, y))
    return datasets


def _collect(ds):
    xs, ws, ys = [], {}, {}
    for x, y, w in ds:
        xs.append(x.numpy())
        for k in w:
            ws.setdefault(k, []).append(w[k].numpy())
            ys.setdefault(k, []).append(y[k].numpy())
    return (np.concatenate(xs), {k: np.concatenate(v) for k, v in ws.items()},
            {k: np.concatenate(v) for k, v in ys.items()})


def test_probabilities_match_definitions():
    p = sampling_probabilities(SIZES, "proportional")
    np.testing.assert_allclose(list(p.values()), [0.9, 0.09, 0.01])
    p = sampling_probabilities(SIZES, "uniform")
    np.testing.assert_allclose(list(p.values()), [1 / 3] * 3)
    p = sampling_probabilities(SIZES, "temperature", temperature=2.0)
    root = np.sqrt([900, 90, 10])
    np.testing.assert_allclose(list(p.values()), root / root.sum())
    first = sampling_probabilities(SIZES, "annealed", epoch=0, epochs=5)
    last = sampling_probabilities(SIZES, "annealed", epoch=4, epochs=5)
    np.testing.assert_allclose(list(first.values()), [0.9, 0.09, 0.01])
    power = np.array([900, 90, 10]) ** 0.2
    np.testing.assert_allclose(list(last.values()), power / power.sum())
    p = sampling_probabilities(SIZES, {"big": 1, "mid": 1, "small": 2})
    assert p == {"big": 0.25, "mid": 0.25, "small": 0.5}


@pytest.mark.parametrize("sampling", ["proportional", "uniform",
                                      "temperature"])
def test_epoch_rates_are_exact_and_batches_are_random(sampling):
    batch = 20
    ds = from_task_datasets(_task_datasets(), sampling, batch_size=batch,
                            seed=3)
    x, w, _ = _collect(ds)
    steps = math.ceil(1000 / batch)
    assert len(x) == steps * batch
    expected = sampling_probabilities(SIZES, sampling, temperature=2.0)
    for t, name in enumerate(SIZES):
        share = w[name].mean()
        # Exact allocation: off by less than one draw per task.
        assert abs(share - expected[name]) <= 1.0 / len(x) + 1e-9
        # Weight 1 exactly where the example came from this task.
        np.testing.assert_array_equal(w[name] == 1.0, x[:, 0] == t)
    # Per-batch counts of the big task: hypergeometric around the rate, so
    # a chi-square-like check that batches are not sorted by task.
    counts = w["big"].reshape(steps, batch).sum(axis=1)
    p = expected["big"]
    if 0 < p < 1:
        z = (counts.mean() - batch * p) / math.sqrt(
            batch * p * (1 - p) / steps)
        assert abs(z) < 4
        assert counts.std() > 0


def test_no_task_starved_even_when_tiny():
    sizes = {"huge": 100_000, "tiny": 1}
    datasets = {
        name: tf.data.Dataset.from_tensor_slices(
            (np.zeros((n, 2), "float32"), np.zeros(n, "int64")))
        for name, n in sizes.items()}
    ds = from_task_datasets(datasets, "proportional", batch_size=8, seed=0,
                            steps_per_epoch=5)
    _, w, _ = _collect(ds)
    assert w["tiny"].sum() >= 1


def test_per_task_batches_hold_one_task_at_its_rate():
    ds = from_task_datasets(_task_datasets(), "uniform", batch_size=10,
                            seed=1, batch_mode="per_task", epochs=4)
    owners = []
    for _, _, w in ds:
        owned = [k for k in w if float(w[k].numpy().min()) == 1.0]
        assert len(owned) == 1  # one task per batch
        assert all(float(w[k].numpy().max()) == 0.0 for k in w
                   if k != owned[0])
        owners.append(owned[0])
    assert len(owners) == 4 * 100
    for name in SIZES:
        share = owners.count(name) / len(owners)
        assert abs(share - 1 / 3) < 0.01


def test_labels_come_from_the_source_and_absent_ones_are_masked():
    ds = from_task_datasets(_task_datasets(float_task="mid"), "uniform",
                            batch_size=16, seed=0)
    x, w, y = _collect(ds)
    for t, name in enumerate(SIZES):
        own = x[:, 0] == t
        np.testing.assert_array_equal(
            y[name][own].reshape(-1), x[own, 1])
        assert np.all(y[name][~own] == 0)
        assert np.all(w[name][~own] == 0)
    # Small tasks cycle through all their examples.
    assert set(x[x[:, 0] == 2, 1]) == set(range(10))


def test_sentinel_mode_uses_foundation_sentinels():
    ds = from_task_datasets(_task_datasets(float_task="mid"), "uniform",
                            batch_size=16, seed=0, missing="sentinel")
    assert len(ds.element_spec) == 2
    for x, y in ds.take(3):
        x = x.numpy()
        assert np.all(y["big"].numpy()[x[:, 0] != 0] == -1)
        assert np.all(np.isnan(y["mid"].numpy()[x[:, 0] != 1]))
        assert not np.any(np.isnan(y["mid"].numpy()[x[:, 0] == 1]))


def test_same_seed_same_stream_other_seed_differs():
    def first_two_epochs(seed):
        ds = from_task_datasets(_task_datasets(), "temperature",
                                batch_size=100, seed=seed)
        return [_collect(ds)[0] for _ in range(2)]

    a, b, c = first_two_epochs(5), first_two_epochs(5), first_two_epochs(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])  # each pass is a new epoch
    assert not np.array_equal(a[0], c[0])


def test_epochs_form_is_a_function_of_the_seed():
    def build():
        return from_task_datasets(_task_datasets(), "annealed",
                                  batch_size=50, seed=2, epochs=3)

    ds = build()
    steps = 20
    assert int(ds.cardinality()) == 3 * steps
    x1, w1, _ = _collect(ds)
    x2, _, _ = _collect(build())
    np.testing.assert_array_equal(x1, x2)
    # Annealing moves the small task's share from 1% towards uniform.
    share = w1["small"].reshape(3, -1).mean(axis=1)
    probs = [sampling_probabilities(SIZES, "annealed", epoch=e, epochs=3)
             ["small"] for e in range(3)]
    np.testing.assert_allclose(share, probs, atol=1.0 / (steps * 50))
    assert share[0] < share[1] < share[2]


def test_exhaustive_sees_every_example_once():
    ds = from_task_datasets(_task_datasets(), "exhaustive", batch_size=64,
                            seed=0)
    x, w, _ = _collect(ds)
    assert len(x) == 1000
    assert len({tuple(r) for r in x}) == 1000
    assert sum(v.sum() for v in w.values()) == 1000


def test_custom_epoch_length_and_cardinality():
    ds = from_task_datasets(_task_datasets(), "uniform", batch_size=8,
                            seed=0, steps_per_epoch=7)
    assert int(ds.cardinality()) == 7
    assert sum(1 for _ in ds) == 7
    assert sampling_module.epoch_steps(SIZES, 8) == 125


def test_errors_name_the_problem():
    data = _task_datasets()
    with pytest.raises(ValueError, match="sampling"):
        from_task_datasets(data, "bogus")
    with pytest.raises(ValueError, match="epochs"):
        from_task_datasets(data, "annealed")
    unknown = {"a": tf.data.Dataset.from_tensor_slices(
        (np.zeros((4, 2), "float32"), np.zeros(4, "int64"))).filter(
        lambda x, y: True)}
    with pytest.raises(ValueError, match="'a'.*unknown"):
        from_task_datasets(unknown)
    assert from_task_datasets(unknown, sizes={"a": 4}, batch_size=2) \
        is not None
    with pytest.raises(ValueError, match="Invalid task name"):
        from_task_datasets({"Bad": data["big"]})
    mismatched = dict(data)
    mismatched["mid"] = mismatched["mid"].map(
        lambda x, y: (tf.cast(x, tf.float64), y))
    with pytest.raises(ValueError, match="dtypes"):
        from_task_datasets(mismatched)


def test_model_trains_on_mixture_and_ignores_absent_labels():
    rng = np.random.default_rng(0)
    x_a = rng.normal(size=(200, 4)).astype("float32")
    x_b = rng.normal(size=(60, 4)).astype("float32")
    datasets = {
        "cls": tf.data.Dataset.from_tensor_slices(
            (x_a, (x_a[:, 0] > 0).astype("int64"))),
        "reg": tf.data.Dataset.from_tensor_slices(
            (x_b, x_b[:, 1:2] * 2.0)),
    }
    ds = from_task_datasets(datasets, "uniform", batch_size=16, seed=0)
    tasks = [keras_mtl.Task("cls", "binary"),
             keras_mtl.Task("reg", "regression")]
    model = keras_mtl.build(keras.Input((4,)), tasks, trunk=(16,))
    model.compile(keras.optimizers.Adam(0.01))
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    # A batch that holds only "cls" examples: "reg" contributes nothing.
    x, y, w = next(iter(from_task_datasets(
        {"cls": datasets["cls"], "reg": datasets["reg"]},
        {"cls": 1.0, "reg": 0.0}, batch_size=16, seed=0)))
    assert float(tf.reduce_sum(w["reg"])) == 0.0
    logs = model.evaluate(x, y, sample_weight=w, verbose=0)
    # No labelled "reg" sample: its loss and metrics have no value (NaN,
    # never a perfect-looking 0.0) and the total is the "cls" loss alone.
    assert np.isnan(logs["reg_loss"]) and np.isnan(logs["reg_mae"])
    assert logs["cls_loss"] > 0.0
    assert logs["loss"] == pytest.approx(logs["cls_loss"])
