"""SavedModel and TFLite exports keep every head addressable by task name.

The models have tasks defined in an order that differs from the
alphabetical one (converters return positional outputs sorted by name), a
single input or a dict of inputs, hard sharing or MMoE. Exported artifacts
are shared across tests (module-scoped fixtures): TFLite conversion is the
slow part.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import keras_mtl
from keras_mtl import export
from keras_mtl.weightings.base import Weighting

TASKS = (
    ("zeta", dict(kind="binary")),
    ("mid", dict(kind="multiclass", num_classes=3)),
    ("alpha", dict(kind="regression")),
    ("beta", dict(kind="multilabel", num_labels=2)),
)


def make_tasks(count=4):
    return [keras_mtl.Task(name, **kwargs) for name, kwargs in TASKS[:count]]


def make_data(inputs, num_samples, seed):
    """Inputs matching `inputs` and labels that depend on them."""
    rng = np.random.default_rng(seed)
    x = {name: rng.normal(size=(num_samples,) + shape).astype("float32")
         for name, shape in inputs.items()}
    first = next(iter(x.values()))
    y = {
        "zeta": (first[:, :1] > 0).astype("float32"),
        "mid": np.argmax(first[:, :3], axis=1),
        "alpha": 2.0 * first[:, 1:2],
        "beta": (first[:, 2:4] > 0).astype("float32"),
    }
    return x, y


class LearnedWeighting(Weighting):
    """A weighting with a variable: it must not reach the export."""

    def build(self, input_shape):
        self.log_weights = self.add_weight(
            shape=input_shape, initializer="zeros", name="log_weights")

    def call(self, losses, training=False):
        return ops.exp(-self.log_weights)


def hand_built_mmoe(inputs, tasks, num_experts=3):
    """MMoE from Dense layers, for when no MMoE builder is registered."""
    x = inputs
    experts = [keras.layers.Dense(16, activation="relu",
                                  name=f"expert_{i}")(x)
               for i in range(num_experts)]
    stacked = keras.layers.Reshape((num_experts, 16), name="experts")(
        keras.layers.Concatenate(name="expert_concat")(experts))
    outputs = {}
    for task in tasks:
        gate = keras.layers.Dense(num_experts, activation="softmax",
                                  name=f"{task.name}_gate")(x)
        mixed = keras.layers.Dot(axes=(1, 1), name=f"{task.name}_mix")(
            [gate, stacked])
        outputs[task.name] = task.build_head(mixed)
    return keras_mtl.MultiTaskModel(inputs, outputs, tasks=tasks,
                                    name="mmoe")


def build_model(kind):
    tasks = make_tasks()
    if kind == "dict":
        shapes = {"num": (12,), "cat": (5,)}
        inputs = {k: keras.Input(s, name=k) for k, s in shapes.items()}
        model = keras_mtl.build(inputs, tasks, trunk=(32, 16), dropout=0.1)
    elif kind == "mmoe":
        shapes = {"features": (10,)}
        inputs = keras.Input((10,), name="features")
        if "mmoe" in keras_mtl.builders.ARCHITECTURES:
            model = keras_mtl.build(inputs, tasks, architecture="mmoe",
                                    num_experts=3, expert_units=(16,))
        else:
            model = hand_built_mmoe(inputs, tasks)
    else:
        # Input 40 x 64 units: big enough for dynamic-range quantization
        # (it leaves tensors under 1024 elements in float).
        shapes = {"features": (40,)}
        inputs = keras.Input((40,), name="features")
        model = keras_mtl.build(inputs, tasks, trunk=(64, 32), dropout=0.2)
    x, y = make_data(shapes, 96, seed=1)
    feed = x if kind == "dict" else x[next(iter(x))]
    # Eager: six steps run faster than one trace of the step, and the
    # export does not depend on how the model was trained.
    model.compile(keras.optimizers.Adam(1e-2), weighting=LearnedWeighting(),
                  run_eagerly=True)
    model.fit(feed, y, epochs=2, batch_size=32, verbose=0)
    return model, shapes


def fresh_inputs(model, shapes, seed=7, num_samples=40):
    x, y = make_data(shapes, num_samples, seed)
    return (x if isinstance(model.input, dict) else x[next(iter(x))]), y


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`{kind: (model, shapes, bundle)}`: one bundle per model kind."""
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("exports")
    result = {}
    for kind in ("hard", "dict", "mmoe"):
        model, shapes = build_model(kind)
        x, y = fresh_inputs(model, shapes, seed=3, num_samples=96)
        quantizations = ("dynamic", "float16", "int8") if kind == "hard" \
            else ()
        bundle = export.export_all(
            model, folder / kind, sample_inputs=x, labels=y,
            quantizations=quantizations)
        result[kind] = (model, shapes, bundle)
    return result


def test_task_order_differs_from_alphabetical():
    names = [name for name, _ in TASKS]
    assert names != sorted(names)


@pytest.mark.parametrize("kind", ["hard", "dict", "mmoe"])
def test_outputs_by_task_name_equal_keras(exported, kind):
    model, shapes, bundle = exported[kind]
    x, _ = fresh_inputs(model, shapes)
    want = model.predict(x, verbose=0)
    for artifact in ("saved_model", "tflite"):
        loaded = export.load(bundle[artifact].path)
        assert sorted(loaded.output_names) == sorted(model.task_names)
        assert sorted(loaded.input_names) == sorted(shapes)
        got = loaded(x)
        for task in model.task_names:
            assert got[task].shape == want[task].shape, (artifact, task)
            np.testing.assert_allclose(got[task], want[task], atol=1e-5,
                                       rtol=1e-5, err_msg=f"{artifact} {task}")
        # The verification that ran at export time agrees.
        report = bundle[artifact].report
        assert report.passed and report.inputs_source == "given"
        assert list(report.tasks) == list(model.task_names)
        assert report.num_samples == 96
        for check in report.tasks.values():
            assert check.within_tolerance and check.max_abs_diff <= 1e-5
            assert check.metrics == {}


def test_dict_inputs_keep_their_names(exported):
    _, _, bundle = exported["dict"]
    info = export.inspect_export(bundle["tflite"].path)
    inputs = info["signatures"]["serving_default"]["inputs"]
    assert {i["name"]: i["shape"] for i in inputs} == {
        "cat": [None, 5], "num": [None, 12]}


@pytest.mark.parametrize("quantization,tolerance",
                         [("dynamic", 0.1), ("float16", 5e-3)])
def test_dynamic_and_float16_stay_close(exported, quantization, tolerance):
    model, shapes, bundle = exported["hard"]
    result = bundle[f"tflite_{quantization}"]
    assert result.size_bytes < bundle["tflite"].size_bytes
    assert export.inspect_export(result.path)["quantization"] == quantization
    x, _ = fresh_inputs(model, shapes)
    want = model.predict(x, verbose=0)
    got = export.load_tflite(result.path)(x)
    for task in model.task_names:
        assert np.abs(got[task] - want[task]).max() < tolerance, task
    report = result.report
    assert report.metric_reference == "labels"
    for check in report.tasks.values():
        for metric, (before, after) in check.metrics.items():
            if metric != "mae":
                assert abs(after - before) <= 0.1, (check.task, metric)


def test_int8_runs_and_reports_metric_change(exported):
    model, shapes, bundle = exported["hard"]
    result = bundle["tflite_int8"]
    assert export.inspect_export(result.path)["quantization"] == "int8"
    report = result.report
    assert report.quantization == "int8"
    assert report.metric_reference == "labels"
    expected = {"zeta": {"accuracy", "auc"}, "mid": {"accuracy"},
                "alpha": {"mae"}, "beta": {"accuracy", "auc"}}
    for task, metrics in expected.items():
        check = report.tasks[task]
        assert set(check.metrics) == metrics
        for metric in metrics:
            before, after = check.metrics[metric]
            assert np.isfinite(before) and np.isfinite(after)
            assert check.change(metric) == pytest.approx(after - before)
    text = str(result)
    assert "int8" in text and "accuracy" in text and "mae" in text
    x, _ = fresh_inputs(model, shapes)
    got = export.load_tflite(result.path)(x)
    assert sorted(got) == sorted(model.task_names)


def test_max_degradation_raises_naming_tasks(exported):
    model, shapes, bundle = exported["hard"]
    x, y = fresh_inputs(model, shapes, seed=3, num_samples=96)
    loaded = export.load_tflite(bundle["tflite_int8"].path)
    with pytest.raises(export.ExportVerificationError) as info:
        export.verify_export(model, loaded, x, y, quantization="int8",
                             max_degradation=-1.0)
    assert set(info.value.tasks) == set(model.task_names)
    assert "'alpha'" in str(info.value)


def test_only_inference_variables_are_exported(exported):
    model, _, bundle = exported["hard"]
    view = export.inference_model(model)
    loaded = tf.saved_model.load(str(bundle["saved_model"].path))
    names = sorted(v.name for v in loaded.inference_variables)
    assert names == sorted(v.value.name for v in view.weights)
    state = [v.path for v in model.optimizer.variables] + \
        [v.path for v in model.weighting.variables]
    assert any("log_weights" in p for p in state)
    assert not any("log_weights" in n or "seed_generator" in n
                   or "iteration" in n or "momentum" in n for n in names)
    saved = tf.train.list_variables(
        str(bundle["saved_model"].path / "variables" / "variables"))
    stored = [n for n, _ in saved if n.endswith("VARIABLE_VALUE")]
    assert len(stored) == len(view.weights)
    info = export.inspect_export(bundle["saved_model"].path)
    assert info["parameters"] == view.count_params()
    ops_used = export.inspect_export(bundle["tflite"].path)["ops"]
    assert not any("RANDOM" in op or "MULTINOMIAL" in op for op in ops_used)


def test_mismatch_raises_naming_the_task(exported):
    model, shapes, bundle = exported["hard"]
    loaded = export.load_saved_model(bundle["saved_model"].path)
    x, _ = fresh_inputs(model, shapes)
    head = model.get_layer("alpha")
    original = [w.copy() for w in head.get_weights()]
    try:
        head.set_weights([w + 0.5 for w in original])
        with pytest.raises(export.ExportVerificationError) as info:
            export.verify_export(model, loaded, x)
    finally:
        head.set_weights(original)
    assert info.value.tasks == ("alpha",)
    assert "'alpha'" in str(info.value)
    assert export.verify_export(model, loaded, x).passed


def test_inspect_saved_model_shows_tasks(exported):
    model, _, bundle = exported["mmoe"]
    info = export.inspect_export(bundle["saved_model"].path)
    outputs = info["signatures"]["serving_default"]["outputs"]
    assert [o["name"] for o in outputs] == sorted(model.task_names)
    assert [t["name"] for t in info["tasks"]] == list(model.task_names)
    text = export.format_inspection(info)
    for task in model.task_names:
        assert task in text
    assert "[multiclass]" in text


def test_runtime_rejects_misnamed_inputs(exported):
    _, _, bundle = exported["dict"]
    loaded = export.load_tflite(bundle["tflite"].path)
    with pytest.raises(ValueError, match="missing"):
        loaded({"num": np.zeros((2, 12), "float32")})
    with pytest.raises(ValueError, match="dict"):
        loaded(np.zeros((2, 12), "float32"))


def test_bundle_layout_and_json(exported):
    _, _, bundle = exported["hard"]
    files = sorted(p.name for p in bundle.path.iterdir())
    assert files == ["export.json", "model.tflite", "model_dynamic.tflite",
                     "model_float16.tflite", "model_int8.tflite",
                     "saved_model"]
    assert not [p for p in bundle.path.parent.iterdir()
                if p.name.endswith(".partial")]
