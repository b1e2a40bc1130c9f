"""The `keras-mtl` command line: export and inspect."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.cli import main


def _command(name="keras-mtl"):
    """The installed entry point, else `python -m keras_mtl.cli`."""
    found = shutil.which(name)
    return [found] if found else [sys.executable, "-m", "keras_mtl.cli"]


def _run(args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A trained `.keras` MultiTaskModel and an `.npz` of samples."""
    folder = tmp_path_factory.mktemp("cli")
    tasks = [keras_mtl.Task("zeta", "binary"),
             keras_mtl.Task("alpha", "regression"),
             keras_mtl.Task("mid", "multiclass", num_classes=3)]
    model = keras_mtl.build(keras.Input((40,), name="features"), tasks,
                            trunk=(32,))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 40)).astype("float32")
    y = {"zeta": (x[:, :1] > 0).astype("float32"), "alpha": x[:, 1:2],
         "mid": np.argmax(x[:, :3], axis=1)}
    # Eager: two steps of training run faster than one trace of the step,
    # and the export does not depend on how the model was trained.
    model.compile("adam", run_eagerly=True)
    model.fit(x, y, epochs=1, verbose=0)
    path = folder / "model.keras"
    model.save(path)
    np.savez(folder / "samples.npz", x=x, **y)
    return folder, model


def test_export_in_subprocess_then_inspect(model_file, capsys):
    folder, model = model_file
    result = _run(_command() + [
        "export", "model.keras", "--format", "tflite", "--quantize",
        "dynamic", "--data", "samples.npz", "--out", "out/heads"], folder)
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout
    for task in model.task_names:
        assert task in result.stdout
    assert "auc" in result.stdout and "mae" in result.stdout
    assert (folder / "out" / "heads.tflite").is_file()

    # One subprocess is enough to prove the entry point; inspect in-process.
    tflite = folder / "out" / "heads.tflite"
    # The README's pair: `--out saved_models/NAME` wrote NAME.tflite, and
    # `keras-mtl inspect saved_models/NAME` reads it.
    assert main(["inspect", str(folder / "out" / "heads"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(tflite)
    assert main(["inspect", str(tflite), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    signature = info["signatures"]["serving_default"]
    assert [o["name"] for o in signature["outputs"]] == ["alpha", "mid",
                                                         "zeta"]
    assert signature["inputs"] == [
        {"name": "features", "shape": [None, 40], "dtype": "float32"}]
    assert info["quantization"] == "dynamic"
    assert info["size_bytes"] == tflite.stat().st_size


def test_export_all_in_process(model_file, capsys):
    folder, model = model_file
    out = folder / "bundle"
    args = ["export", str(folder / "model.keras"), "--format", "all",
            "--data", str(folder / "samples.npz"), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "saved_model" in printed and "model.tflite" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "export.json", "model.tflite", "saved_model"]
    assert main(["inspect", str(out / "saved_model")]) == 0
    text = capsys.readouterr().out
    for task in model.task_names:
        assert task in text
    assert "[multiclass]" in text and "parameters" in text
    # The bundle folder itself: every artifact, tasks with their kinds.
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "export_all bundle" in text and "model.tflite" in text
    assert "saved_model" in text and "zeta [binary]" in text
    # Refused without --overwrite, and the message says how to fix it.
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_bad_arguments_fail_cleanly(model_file, capsys):
    folder, _ = model_file
    assert main(["export", str(folder / "model.keras"), "--quantize",
                 "int8", "--out", str(folder / "q")]) == 1
    assert "--format tflite" in capsys.readouterr().err
    assert main(["export", str(folder / "model.keras"), "--format",
                 "tflite", "--quantize", "int8",
                 "--out", str(folder / "q")]) == 1
    assert "representative_data" in capsys.readouterr().err
    assert main(["export", str(folder / "missing.keras"), "--out",
                 str(folder / "q")]) == 1
    assert "No model file" in capsys.readouterr().err
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    plain.save(folder / "plain.keras")
    assert main(["export", str(folder / "plain.keras"), "--out",
                 str(folder / "q")]) == 1
    assert "MultiTaskModel" in capsys.readouterr().err
    assert main(["inspect", str(folder / "nothing")]) == 1
    assert not (folder / "q").exists()


def _compiled_model_file(folder, trunk=None):
    tasks = [keras_mtl.Task("ctr", "binary"),
             keras_mtl.Task("age", "regression"),
             keras_mtl.Task("mid", "multiclass", num_classes=3,
                            head_units=(4,))]
    inputs = keras.Input((5,), name="features")
    model = keras_mtl.build(inputs, tasks, trunk=trunk or (8,))
    model.compile("adam", weighting="uncertainty", aggregator="pcgrad",
                  on_nonfinite="skip_step")
    path = folder / "compiled.keras"
    model.save(path)
    return model, path


def test_inspect_keras_file(tmp_path, capsys):
    model, path = _compiled_model_file(tmp_path)
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "keras"
    tasks = {t["name"]: t for t in info["tasks"]}
    assert list(tasks) == ["ctr", "age", "mid"]
    assert tasks["ctr"]["kind"] == "binary"
    assert tasks["ctr"]["loss"] == "binary_crossentropy"
    assert tasks["ctr"]["metrics"] == ["auc", "accuracy"]
    assert tasks["mid"]["head"] == "default"
    assert tasks["mid"]["options"]["num_classes"] == 3
    assert [layer["name"] for layer in info["shared_layers"]] == [
        layer.name for layer in model.shared_layers]
    for task, layers in model.task_layers.items():
        assert [(x["name"], x["parameters"]) for x in
                info["task_layers"][task]] == [
            (layer.name, layer.count_params()) for layer in layers]
    counted = sum(x["parameters"] for x in info["shared_layers"]) + sum(
        x["parameters"] for layers in info["task_layers"].values()
        for x in layers)
    # The network's parameters (the weighting's own variables are not).
    assert counted == info["parameters"] == sum(
        layer.count_params() for layer in model.layers)
    setup = info["compile"]
    assert setup["weighting"].startswith("UncertaintyWeighting")
    assert setup["aggregator"].startswith("PCGrad")
    assert setup["on_nonfinite"] == "skip_step"
    assert setup["optimizer"].startswith("Adam")

    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    for needle in ("shared layers", "ctr layers", "mid_head_0",
                   "aggregator:", "PCGrad", "on_nonfinite:", "skip_step",
                   "binary_crossentropy"):
        assert needle in text


def test_inspect_keras_file_runs_no_lambda(tmp_path, capsys):
    """safe_mode: a Lambda's bytecode is refused, not run; the tasks and
    compile setup are still read from the config."""
    trunk = keras.Sequential([keras.layers.Dense(8),
                              keras.layers.Lambda(lambda t: t * 2.0)])
    _, path = _compiled_model_file(tmp_path, trunk=trunk)
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "layers: not read" in text and "--import" in text
    assert "ctr" in text and "PCGrad" in text


def _side_effect_saved_model(folder):
    """A SavedModel whose init op writes a file when the model loads."""
    marker = folder / "init_op_ran.txt"

    class SideEffect(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[],
                                          shared_name="side_effect")

        def _initialize(self):
            tf.io.write_file(str(marker), "init op ran")

    module = tf.Module()
    module.side = SideEffect()
    module.w = tf.Variable(tf.ones((3, 2)))

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32,
                                                name="x")])
    def serve(x):
        return {"task": tf.matmul(x, module.w)}

    module.serve = serve
    path = folder / "crafted"
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": serve.get_concrete_function()})
    return path, marker


def test_inspect_never_runs_a_saved_model(tmp_path, capsys):
    path, marker = _side_effect_saved_model(tmp_path)
    assert not marker.exists()
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert not marker.exists()
    signature = info["signatures"]["serving_default"]
    assert signature["inputs"] == [
        {"name": "x", "shape": [None, 3], "dtype": "float32"}]
    assert signature["outputs"] == [
        {"name": "task", "shape": [None, 2], "dtype": "float32"}]
    assert info["variables"] == 1 and info["parameters"] == 6
    # The crafted model really has the side effect: loading runs it.
    tf.saved_model.load(str(path))
    assert marker.read_text() == "init op ran"


def test_load_resolves_names_and_refuses_bundles(model_file, tmp_path):
    from keras_mtl import export

    _, model = model_file
    bundle = export.export_all(model, tmp_path / "bundle", quantizations=())
    with pytest.raises(ValueError, match="model.tflite"):
        export.load(bundle.path)
    (tmp_path / "bundle" / "model.tflite").rename(tmp_path / "heads.tflite")
    runner = export.load(tmp_path / "heads")
    assert runner.path == tmp_path / "heads.tflite"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export.inspect_export(tmp_path / "nothing")


def test_inspect_uncompiled_keras_file_and_other_models(tmp_path, capsys):
    model = keras_mtl.build(keras.Input((3,), name="x"),
                            [keras_mtl.Task("a", "binary")], trunk=(4,))
    model.save(tmp_path / "raw.keras")
    assert main(["inspect", str(tmp_path / "raw.keras")]) == 0
    assert "compile: not compiled when saved" in capsys.readouterr().out
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    plain.save(tmp_path / "plain.keras")
    assert main(["inspect", str(tmp_path / "plain.keras")]) == 1
    assert "not a keras_mtl MultiTaskModel" in capsys.readouterr().err
