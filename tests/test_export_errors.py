"""Bad input to `keras_mtl.export`: clear errors that say what to do."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl import export


@keras.saving.register_keras_serializable(package="tests_export")
class MatrixInverseLayer(keras.layers.Layer):
    """Inverts 2x2 blocks: `MatrixInverse` has no TFLite builtin kernel."""

    def call(self, x):
        batch = tf.shape(x)[0]
        blocks = tf.reshape(x[:, :4], (batch, 2, 2)) + 3.0 * tf.eye(2)
        inverse = tf.reshape(tf.linalg.inv(blocks), (batch, 4))
        return tf.concat([inverse, x[:, 4:]], axis=1)


def small_model(odd_layer=False):
    tasks = [keras_mtl.Task("zeta", "binary"),
             keras_mtl.Task("alpha", "regression"),
             keras_mtl.Task("mid", "multiclass", num_classes=3)]
    inputs = keras.Input((8,), name="features")
    h = keras.layers.Dense(8, name="trunk")(inputs)
    if odd_layer:
        h = MatrixInverseLayer(name="odd_layer")(h)
    outputs = {t.name: t.build_head(h) for t in tasks}
    return keras_mtl.MultiTaskModel(inputs, outputs, tasks=tasks)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A model and its SavedModel export, verified on drawn inputs."""
    model = small_model()
    path = tmp_path_factory.mktemp("errors") / "model"
    result = export.export_saved_model(model, path)
    return model, result


def test_drawn_inputs_verify_when_none_given(saved_model):
    _, result = saved_model
    assert result.report.inputs_source == "drawn"
    assert result.report.passed
    assert (result.path / "saved_model.pb").is_file()


def test_verify_on_a_dataset_reads_its_labels(saved_model):
    model, result = saved_model
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8)).astype("float32")
    y = {"zeta": (x[:, :1] > 0).astype("float32"), "alpha": x[:, 1:2],
         "mid": np.argmax(x[:, :3], axis=1)}
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    loaded = export.load_saved_model(result.path)
    report = export.verify_export(model, loaded, data, quantization="dynamic")
    assert report.num_samples == 20
    assert report.metric_reference == "labels"
    assert set(report.tasks["zeta"].metrics) == {"accuracy", "auc"}
    # The same float SavedModel, so every metric is unchanged.
    for check in report.tasks.values():
        for metric in check.metrics:
            assert check.change(metric) == pytest.approx(0.0, abs=1e-6)


def test_existing_path_refused_unless_overwrite(saved_model):
    model, result = saved_model
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export.export_saved_model(model, result.path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export.export_all(model, result.path.parent)
    again = export.export_saved_model(model, result.path, overwrite=True)
    assert again.report.passed


def test_overwrite_never_deletes_other_folders(tmp_path):
    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "todo.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="will not delete"):
        export.export_saved_model(small_model(), keep, overwrite=True)
    with pytest.raises(FileExistsError, match="will not delete"):
        export.export_all(small_model(), keep, overwrite=True)
    assert (keep / "todo.txt").read_text() == "mine"


def test_not_a_multitask_model(tmp_path):
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    for function in (export.export_saved_model, export.export_all):
        with pytest.raises(TypeError, match="MultiTaskModel"):
            function(plain, tmp_path / "plain")
    with pytest.raises(TypeError, match="keras_mtl.build"):
        export.export_tflite(plain, tmp_path / "plain.tflite")
    assert not list(tmp_path.iterdir())


def test_argument_checks(tmp_path):
    model = small_model()
    with pytest.raises(ValueError, match="quantization"):
        export.export_tflite(model, tmp_path / "m.tflite", "int4")
    with pytest.raises(ValueError, match=".tflite"):
        export.export_tflite(model, tmp_path / "m.lite")
    with pytest.raises(ValueError, match="representative_data"):
        export.export_tflite(model, tmp_path / "m.tflite", "int8")
    with pytest.raises(ValueError, match="expects"):
        export.export_saved_model(model, tmp_path / "sm",
                                  sample_inputs=np.zeros((4, 7)))
    with pytest.raises(ValueError, match="unknown task"):
        export.export_tflite(model, tmp_path / "m.tflite",
                             sample_inputs=np.zeros((4, 8)),
                             labels={"gamma": np.zeros(4)})
    assert not list(tmp_path.iterdir())


def test_unsupported_layer_is_named_with_select_tf_ops_hint(tmp_path):
    model = small_model(odd_layer=True)
    path = tmp_path / "odd.tflite"
    with pytest.raises(export.ExportError) as info:
        export.export_tflite(model, path)
    assert info.value.layers == ("odd_layer",)
    assert "MatrixInverse" in info.value.ops
    assert "'odd_layer'" in str(info.value)
    assert "select_tf_ops=True" in str(info.value)
    assert not path.exists()

    # With TF Select ops it converts; the Python LiteRT interpreter has no
    # Flex delegate, so only the signature names can be checked.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = export.export_tflite(model, path, select_tf_ops=True)
    assert result.report is None
    assert any("Flex" in str(w.message) for w in caught)
    info = export.inspect_export(path)
    outputs = info["signatures"]["serving_default"]["outputs"]
    assert [o["name"] for o in outputs] == ["alpha", "mid", "zeta"]
    with pytest.raises(export.ExportError, match="Flex"):
        export.load_tflite(path)(np.zeros((2, 8), "float32"))


def test_misnamed_outputs_fail_verification(tmp_path):
    """A SavedModel exported with positional outputs is refused."""
    model = small_model()
    plain = keras.Model(model.input, list(model.output.values()))
    path = tmp_path / "positional"
    plain.export(str(path), format="tf_saved_model", verbose=False)
    with pytest.raises(export.ExportVerificationError,
                       match="not the task names") as info:
        export.verify_export(model, export.load_saved_model(path))
    assert set(info.value.tasks) >= {"alpha", "mid", "zeta"}


def test_inspect_unknown_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*\\.keras"):
        export.inspect_export(tmp_path / "nothing")
    (tmp_path / "notes").mkdir()
    with pytest.raises(FileNotFoundError, match="without saved_model.pb"):
        export.inspect_export(tmp_path / "notes")
    (tmp_path / "model.h5").write_text("")
    with pytest.raises(FileNotFoundError, match="'.h5' is neither"):
        export.inspect_export(tmp_path / "model.h5")
