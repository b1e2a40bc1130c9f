"""Exports and their runners accept the arrays `fit` and `predict` accept
(issue 18): `(N,)` for an input of shape `(1,)`, as Keras does."""

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl import export


def scalar_input_model():
    """Inputs the way TFRS-style models come: one scalar per feature."""
    inputs = {"age": keras.Input((1,), name="age"),
              "features": keras.Input((4,), name="features")}
    h = keras.layers.Concatenate(name="concat")(
        [inputs["age"], inputs["features"]])
    h = keras.layers.Dense(8, activation="relu", name="trunk")(h)
    tasks = [keras_mtl.Task("ctr", "binary"),
             keras_mtl.Task("spend", "regression")]
    outputs = {t.name: t.build_head(h) for t in tasks}
    return keras_mtl.MultiTaskModel(inputs, outputs, tasks=tasks)


def flat_inputs(num_samples=64, seed=0):
    rng = np.random.default_rng(seed)
    return {"age": rng.normal(size=(num_samples,)).astype("float32"),
            "features": rng.normal(size=(num_samples, 4)).astype("float32")}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    model = scalar_input_model()
    x = flat_inputs()
    y = {"ctr": (x["age"] > 0).astype("float32"), "spend": x["age"]}
    model.compile("adam")
    model.fit(x, y, epochs=1, verbose=0)  # fit takes (N,) arrays
    # So does predict; afterwards Keras's cached predict function fails
    # on (N, 1) arrays, so verification must not reuse it.
    model.predict(x, verbose=0)
    # The user code that failed: "has shape (64,); the model expects
    # (batch,) + (1,)".
    result = export.export_all(model, tmp_path_factory.mktemp("inputs") /
                               "bundle", sample_inputs=x, quantizations=())
    return model, result


def test_export_all_accepts_what_fit_accepts(bundle):
    _, result = bundle
    assert result.passed
    assert result["saved_model"].report.inputs_source != "drawn"


@pytest.mark.parametrize("artifact", ["tflite", "saved_model"])
def test_runners_accept_rank_one_arrays(bundle, artifact):
    model, result = bundle
    runner = export.load(result[artifact].path)
    x = flat_inputs(num_samples=10, seed=1)
    expected = model.predict(x, verbose=0)
    got = runner(x)
    for task in model.task_names:
        np.testing.assert_allclose(got[task], expected[task], atol=1e-5)
    # (N, 1) and (N,) give the same outputs.
    again = runner({**x, "age": x["age"][:, None]})
    for task in model.task_names:
        np.testing.assert_array_equal(again[task], got[task])


def test_runner_shape_errors_name_the_input(bundle):
    _, result = bundle
    runner = export.load_tflite(result["tflite"].path)
    x = flat_inputs(num_samples=10)
    with pytest.raises(ValueError, match=r"'features' has shape \(10, 3\)"
                       r".*\(batch,\) \+ \(4,\)"):
        runner({**x, "features": x["features"][:, :3]})
    with pytest.raises(ValueError, match="different numbers of samples"):
        runner({**x, "age": x["age"][:4]})


def test_sample_inputs_of_a_wrong_shape_still_refused(bundle, tmp_path):
    model, _ = bundle
    x = flat_inputs()
    with pytest.raises(ValueError, match=r"'age' has shape \(64, 2\)"):
        export.export_saved_model(
            model, tmp_path / "sm",
            sample_inputs={**x, "age": np.zeros((64, 2), "float32")})
    assert not list(tmp_path.iterdir())


def test_interpreter_failures_are_explained(bundle, monkeypatch):
    """Shapes the signature accepts can still fail inside the interpreter
    (e.g. two dynamic sizes that must agree): the error names the file,
    the shapes given and the shapes the signature takes."""
    _, result = bundle
    runner = export.load_tflite(result["tflite"].path)

    def fail(**inputs):
        raise RuntimeError("concatenation.cc:... Node number 3 (CONCAT) "
                           "failed to prepare.")

    monkeypatch.setattr(runner, "_runner", fail)
    with pytest.raises(export.ExportError,
                       match=r"'age': \(10, 1\).*signature takes.*Node "
                             r"number 3"):
        runner(flat_inputs(num_samples=10))
