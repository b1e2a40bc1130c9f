"""Malformed uses of the public API fail early, with the exception type
Keras users expect and a message that names the offending value and the
fix; none crashes deep inside TensorFlow with an unrelated error.

Each case is `(call, exception type, [phrases naming the value],
[phrases naming the fix])`.
"""

import os
import tempfile

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl import aggregators
from keras_mtl import data
from keras_mtl import export
from keras_mtl import tuning
from keras_mtl import weightings

TASKS = [keras_mtl.Task("a", "binary"), keras_mtl.Task("b", "regression")]
N = 16


def _inputs():
    return keras.Input((6,), name="features")


def _model(tasks=TASKS):
    return keras_mtl.build(_inputs(), tasks, trunk=(4,))


def _compile(**kwargs):
    _model().compile("adam", **kwargs)


def _x():
    return np.random.default_rng(0).normal(size=(N, 6)).astype("float32")


def _y(**changes):
    rng = np.random.default_rng(1)
    y = {"a": (rng.random((N, 1)) > 0.5).astype("float32"),
         "b": rng.normal(size=(N, 1)).astype("float32")}
    y.update(changes)
    return {k: v for k, v in y.items() if v is not None}


def _fit(y, model=None, **kwargs):
    model = model or _model()
    model.compile("adam")
    model.fit(_x(), y, epochs=1, batch_size=8, verbose=0, **kwargs)


def _hypermodel(**kwargs):
    return tuning.MultiTaskHyperModel(_inputs(), TASKS, trunk=(4,),
                                      **kwargs)


def _export_path():
    return os.path.join(tempfile.mkdtemp(), "export")


def _existing_path():
    path = _export_path()
    os.makedirs(path)
    open(os.path.join(path, "model.tflite"), "w").close()
    return path


def _task_dataset():
    return tf.data.Dataset.from_tensor_slices((_x(), _y()["a"]))


MULTICLASS = [keras_mtl.Task("a", "binary"),
              keras_mtl.Task("k", "multiclass", num_classes=3)]

CASES = {
    # Builders and tasks.
    "unknown_architecture": (
        lambda: keras_mtl.build(_inputs(), TASKS, architecture="hardd"),
        ValueError, ["'hardd'"], ["'mmoe'", "Available"]),
    "negative_trunk_width": (
        lambda: keras_mtl.build(_inputs(), TASKS, trunk=(4, -2)),
        ValueError, ["-2"], [">= 1"]),
    "trunk_as_string": (
        lambda: keras_mtl.build(_inputs(), TASKS, trunk="abc"),
        TypeError, ["str"], ["tuple of Dense widths"]),
    "sharing_depth_too_deep": (
        lambda: keras_mtl.build(_inputs(), TASKS, trunk=(4, 4),
                                sharing_depth=5),
        ValueError, ["sharing_depth=5"], ["[0, 2]"]),
    "inputs_not_keras_input": (
        lambda: keras_mtl.build(_x(), TASKS),
        TypeError, ["ndarray"], ["keras.Input("]),
    "zero_experts": (
        lambda: keras_mtl.build(_inputs(), TASKS, architecture="mmoe",
                                num_experts=0),
        ValueError, ["num_experts=0"], [">= 1"]),
    "task_name_upper_case": (
        lambda: keras_mtl.Task("Income", "binary"),
        ValueError, ["'Income'"], ["'income'"]),
    "task_kind_typo": (
        lambda: keras_mtl.Task("a", "binaryy"),
        ValueError, ["'binaryy'"], ["'binary'"]),
    "multiclass_without_classes": (
        lambda: keras_mtl.Task("a", "multiclass"),
        ValueError, ["num_classes=None"], ["int >= 2"]),
    "no_tasks": (
        lambda: keras_mtl.build(_inputs(), []),
        ValueError, ["empty"], ["keras_mtl.Task("]),
    "duplicate_tasks": (
        lambda: keras_mtl.build(_inputs(), [keras_mtl.Task("a", "binary"),
                                            keras_mtl.Task("a", "binary")]),
        ValueError, ["['a']"], ["distinct name"]),
    "task_as_string": (
        lambda: keras_mtl.build(_inputs(), ["a", "b"]),
        TypeError, ["'a'"], ["keras_mtl.Task(name"]),
    # Compile.
    "loss_for_unknown_task": (
        lambda: _compile(loss={"c": "mse"}),
        ValueError, ["['c']"], ["['a', 'b']"]),
    "unknown_weighting": (
        lambda: _compile(weighting="nope"),
        ValueError, ["'nope'"], ["'uncertainty'"]),
    "unknown_aggregator": (
        lambda: _compile(aggregator="nope"),
        ValueError, ["'nope'"], ["'upgrad'"]),
    "unknown_aggregation_mode": (
        lambda: _compile(aggregator="upgrad", aggregation_mode="bogus"),
        ValueError, ["'bogus'"], ["'jacobian'"]),
    "negative_loss_weight": (
        lambda: _compile(loss_weights={"a": -1.0}),
        ValueError, ["-1.0"], [">= 0"]),
    "loss_weights_as_list": (
        lambda: _compile(loss_weights=[1.0, 2.0]),
        TypeError, ["[1.0, 2.0]"], ["{task_name: float}"]),
    "loss_weights_and_weighting": (
        lambda: _compile(loss_weights={"a": 1.0}, weighting="dwa"),
        ValueError, ["`loss_weights` or `weighting`"], ["StaticWeighting"]),
    "learning_rate_for_unknown_task": (
        lambda: _compile(task_learning_rates={"z": 2.0}),
        ValueError, ["['z']"], ["['a', 'b']"]),
    "unknown_nonfinite_policy": (
        lambda: _compile(on_nonfinite="ignore"),
        ValueError, ["'ignore'"], ["'drop_task'"]),
    "metrics_as_list": (
        lambda: _compile(metrics=["accuracy"]),
        TypeError, ["list"], ["{task_name: [metrics]}"]),
    "metric_typo": (
        lambda: _compile(metrics={"a": ["accurracy"]}),
        ValueError, ["'accurracy'"], ["'accuracy'"]),
    "static_weight_for_unknown_task": (
        lambda: _compile(weighting=weightings.StaticWeighting({"zz": 1.0})),
        ValueError, ["['zz']"], ["['a', 'b']"]),
    # Data given to fit.
    "labels_not_a_dict": (
        lambda: _fit(_y()["a"]),
        ValueError, ["shape (16, 1)"], ["y={'a': ..., 'b': ...}"]),
    "labels_missing_a_task": (
        lambda: _fit(_y(b=None)),
        ValueError, ["no entry for task(s) ['b']"], ["-1 for class labels"]),
    "labels_for_unknown_task": (
        lambda: _fit(_y(c=_y()["a"])),
        ValueError, ["unknown task(s) ['c']"], ["Fix the keys"]),
    "binary_label_out_of_range": (
        lambda: _fit(_y(a=np.full((N, 1), 2.0, "float32"))),
        ValueError, ["2.0 at index (0, 0)"], ["missing_label"]),
    "class_index_out_of_range": (
        lambda: _fit({"a": _y()["a"], "k": np.full((N,), 5)},
                     model=_model(MULTICLASS)),
        ValueError, ["5.0 at index (0,)", "num_classes=3"],
        ["raise `num_classes`"]),
    "string_labels": (
        lambda: _fit(_y(a=np.array(["yes"] * N))),
        TypeError, ["<U3", "['yes']"], ["StringLookup"]),
    "sample_weight_for_unknown_task": (
        lambda: _fit(_y(), sample_weight={"z": np.ones(N)}),
        ValueError, ["['z']"], ["Fix the keys"]),
    "label_shape_mismatch": (
        lambda: _fit(_y(a=np.zeros((N, 3), "float32"))),
        ValueError, ["(batch, 3)"], ["labels of shape (batch, 1)"]),
    # Weighting and aggregator hyperparameters.
    "dwa_temperature": (
        lambda: weightings.DWA(temperature=0),
        ValueError, ["temperature=0"], ["> 0"]),
    "gradnorm_alpha": (
        lambda: weightings.GradNorm(alpha=-1),
        ValueError, ["alpha=-1"], [">= 0"]),
    "famo_learning_rate": (
        lambda: weightings.FAMO(learning_rate=-1),
        ValueError, ["learning_rate=-1"], ["> 0"]),
    "uncertainty_initial": (
        lambda: weightings.UncertaintyWeighting(initial_log_variance="x"),
        TypeError, ["initial_log_variance='x'"], ["dict {task: float}"]),
    "rlw_distribution": (
        lambda: weightings.RLW(distribution="bogus"),
        ValueError, ["'bogus'"], ["'dirichlet'"]),
    "weighting_identifier": (
        lambda: weightings.get(123),
        TypeError, ["123"], ["'uncertainty'"]),
    "cagrad_c": (
        lambda: aggregators.CAGrad(c=-1),
        ValueError, ["c=-1"], [">= 0"]),
    "gradvac_beta": (
        lambda: aggregators.GradVac(beta=2),
        ValueError, ["beta=2"], ["(0, 1]"]),
    "graddrop_leak": (
        lambda: aggregators.GradDrop(leak=2),
        ValueError, ["leak=2"], ["[0, 1]"]),
    "aggregator_on_a_vector": (
        lambda: aggregators.UPGrad()(np.ones((3,), "float32")),
        ValueError, ["shape (3,)"], ["keras.ops.stack("]),
    # Export.
    "unknown_quantization": (
        lambda: export.export_tflite(_model(), _export_path(),
                                     quantization="int3"),
        ValueError, ["'int3'"], ["'dynamic'"]),
    "export_a_plain_keras_model": (
        lambda: export.export_tflite(keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(1)]), _export_path()),
        TypeError, ["Sequential"], ["keras_mtl.build("]),
    "load_missing_tflite": (
        lambda: export.load_tflite("/nonexistent/model.tflite"),
        FileNotFoundError, ["/nonexistent/model.tflite"],
        ["export_tflite(model, path)"]),
    "sample_inputs_wrong_shape": (
        lambda: export.export_saved_model(
            _model(), _export_path(), sample_inputs=np.zeros((4, 5))),
        ValueError, ["(4, 5)"], ["(batch,) + (6,)"]),
    "export_over_existing_files": (
        lambda: export.export_saved_model(_model(), _existing_path()),
        FileExistsError, ["already exists"], ["overwrite=True"]),
    # Tuning search spaces.
    "tuning_unknown_architecture": (
        lambda: _hypermodel(architectures=["nope"]).build(
            keras_tuner.HyperParameters()),
        ValueError, ["['nope']"], ["'hard'"]),
    "tuning_sharing_depths": (
        lambda: _hypermodel(sharing_depths=(3, 1)),
        ValueError, ["(3, 1)"], ["0 <= min <= max <= 1"]),
    "tuning_learning_rate_range": (
        lambda: _hypermodel(learning_rate=(1e-2, 1e-4)),
        ValueError, ["(0.01, 0.0001)"], ["0 < min <= max"]),
    "tuning_negative_learning_rate": (
        lambda: _hypermodel(learning_rate=-1.0),
        ValueError, ["learning_rate=-1.0"], ["float > 0"]),
    "tuning_method_argument_typo": (
        lambda: _hypermodel(method_ranges={"dwa": {"temprature": (1, 2)}}),
        ValueError, ["['temprature']"], ["['temperature']"]),
    "tuning_widths": (
        lambda: _hypermodel(widths="big"),
        ValueError, ["widths='big'"], ["widths=[32, 64, 128]"]),
    "tuning_reversed_option_range": (
        lambda: _hypermodel(architectures=["mmoe"],
                            option_ranges={"num_experts": (4, 2)}).build(
            keras_tuner.HyperParameters()),
        ValueError, ["(4, 2)", "'num_experts'"], ["Swap the bounds"]),
    "tuning_objective_not_logged": (
        lambda: tuning.validate_objective(tuning.objective("val_c_loss"),
                                          ["val_a_loss", "val_b_loss"]),
        ValueError, ["['val_c_loss']"], ["did you mean"]),
    "tuning_direction": (
        lambda: tuning.objective("val_a_loss", direction="up"),
        ValueError, ["direction='up'"], ["'min' or 'max'"]),
    # Data helpers and callbacks.
    "synthetic_no_samples": (
        lambda: data.synthetic_mmoe(0, 0.5),
        ValueError, ["num_samples=0"], ["positive int"]),
    "synthetic_correlation": (
        lambda: data.synthetic_mmoe(100, 2.0),
        ValueError, ["correlation=2.0"], ["[-1, 1]"]),
    "task_datasets_empty": (
        lambda: data.from_task_datasets({}, batch_size=8),
        ValueError, ["{}"], ["{task_name: tf.data.Dataset}"]),
    "task_datasets_sampling": (
        lambda: data.from_task_datasets({"a": _task_dataset()},
                                        sampling="bogus", batch_size=8),
        ValueError, ["'bogus'"], ["'proportional'"]),
    "task_datasets_batch_size": (
        lambda: data.from_task_datasets({"a": _task_dataset()},
                                        batch_size=0),
        ValueError, ["batch_size=0"], ["positive int"]),
    "task_schedule_strategy": (
        lambda: keras_mtl.callbacks.TaskSchedule(strategy="bogus"),
        ValueError, ["'bogus'"], ["'round_robin'"]),
}


FAMILIES = {
    "builders": ("unknown_architecture", "negative_trunk_width",
                 "trunk_as_string", "sharing_depth_too_deep",
                 "inputs_not_keras_input", "zero_experts",
                 "task_name_upper_case", "task_kind_typo",
                 "multiclass_without_classes", "no_tasks",
                 "duplicate_tasks", "task_as_string"),
    "compile": ("loss_for_unknown_task", "unknown_weighting",
                "unknown_aggregator", "unknown_aggregation_mode",
                "negative_loss_weight", "loss_weights_as_list",
                "loss_weights_and_weighting",
                "learning_rate_for_unknown_task",
                "unknown_nonfinite_policy", "metrics_as_list", "metric_typo",
                "static_weight_for_unknown_task"),
    "fit_data": ("labels_not_a_dict", "labels_missing_a_task",
                 "labels_for_unknown_task", "binary_label_out_of_range",
                 "class_index_out_of_range", "string_labels",
                 "sample_weight_for_unknown_task", "label_shape_mismatch"),
    "hyperparameters": ("dwa_temperature", "gradnorm_alpha",
                        "famo_learning_rate", "uncertainty_initial",
                        "rlw_distribution", "weighting_identifier",
                        "cagrad_c", "gradvac_beta", "graddrop_leak",
                        "aggregator_on_a_vector"),
    "export": ("unknown_quantization", "export_a_plain_keras_model",
               "load_missing_tflite", "sample_inputs_wrong_shape",
               "export_over_existing_files"),
    "tuning": ("tuning_unknown_architecture", "tuning_sharing_depths",
               "tuning_learning_rate_range", "tuning_negative_learning_rate",
               "tuning_method_argument_typo", "tuning_widths",
               "tuning_reversed_option_range", "tuning_objective_not_logged",
               "tuning_direction"),
    "data_and_callbacks": ("synthetic_no_samples", "synthetic_correlation",
                           "task_datasets_empty", "task_datasets_sampling",
                           "task_datasets_batch_size",
                           "task_schedule_strategy"),
}


def _problem(case: str) -> str | None:
    """None if `case` fails as it should, else what went wrong."""
    call, exception, values, fixes = CASES[case]
    try:
        call()
    except exception as error:
        message = str(error)
        missing = [p for p in values + fixes if p not in message]
        if missing or "Graph execution error" in message:
            return f"{case}: {missing} not in {message!r}"
        return None
    except Exception as error:  # noqa: BLE001 - reported, not hidden
        return (f"{case}: expected {exception.__name__}, got "
                f"{type(error).__name__}: {error}")
    return f"{case}: no error raised"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_malformed_uses_fail_with_a_clear_message(family):
    problems = [p for p in map(_problem, FAMILIES[family]) if p]
    assert not problems, "\n".join(problems)


def test_the_battery_covers_every_case_and_each_part_of_the_api():
    listed = [case for cases in FAMILIES.values() for case in cases]
    assert sorted(listed) == sorted(CASES)
    assert len(CASES) >= 30


def test_an_infinite_label_or_sample_weight_is_an_error_naming_the_task():
    # NaN marks a missing label or sample; an Inf used to be read the same
    # way and dropped without a word. Datasets skip the up-front array
    # checks, so this is the step's own assertion.
    import keras
    import numpy as np
    import pytest
    import tensorflow as tf

    import keras_mtl

    tasks = [keras_mtl.Task("price", "regression"),
             keras_mtl.Task("click", "binary")]
    model = keras_mtl.build(keras.Input((3,)), tasks, architecture="hard",
                            trunk=(4,))
    model.compile(keras.optimizers.Adam(1e-3))
    x = np.ones((8, 3), "float32")
    y = {"price": np.ones((8, 1), "float32"),
         "click": np.ones((8, 1), "float32")}
    weights = {"price": np.ones(8, "float32"), "click": np.ones(8, "float32")}

    def data(*parts):
        return tf.data.Dataset.from_tensor_slices(parts).batch(8)

    y["price"][2, 0] = np.inf
    with pytest.raises(ValueError, match=r"task 'price' has an infinite "
                                         r"label \(Inf\)"):
        model.fit(data(x, y), verbose=0)
    with pytest.raises(ValueError, match=r"task 'price' has an infinite"):
        model.evaluate(data(x, y), verbose=0)
    y["price"][2, 0] = np.nan  # NaN: missing, trains
    weights["click"][0] = np.inf
    with pytest.raises(ValueError, match=r"task 'click' has an infinite "
                                         r"sample weight"):
        model.fit(data(x, y, weights), verbose=0)
    weights["click"][0] = np.nan  # NaN: that sample left out, trains
    history = model.fit(data(x, y, weights), verbose=0).history
    assert np.isfinite(history["loss"]).all()


def test_inf_labels_in_arrays_are_refused_before_training():
    import keras
    import numpy as np
    import pytest

    import keras_mtl

    tasks = [keras_mtl.Task("price", "regression")]
    model = keras_mtl.build(keras.Input((2,)), tasks, architecture="hard",
                            trunk=(2,))
    model.compile(keras.optimizers.Adam(1e-3))
    y = np.array([[1.0], [-np.inf]], "float32")
    with pytest.raises(ValueError, match=r"Task 'price': labels hold Inf"):
        model.fit(np.ones((2, 2), "float32"), {"price": y}, verbose=0)
