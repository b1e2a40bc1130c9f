"""The `keras-mtl` command line: export and inspect."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

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
    model.compile("adam")
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
