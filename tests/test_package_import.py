"""`import keras_mtl`: no side effects, heavy parts on first use, one
clear error under a backend other than TensorFlow."""

import json
import os
import subprocess
import sys

import keras
import pytest

import keras_mtl

_PROBE = """
import json, os, sys
import keras_mtl
heavy = ("keras_tuner", "ai_edge_litert", "tensorflow_datasets",
         "keras_mtl.tuning", "keras_mtl.export", "keras_mtl.data")
before = [m for m in heavy if m in sys.modules]
backend = os.environ.get("KERAS_BACKEND")
keras_mtl.tuning.MultiTaskHyperModel, keras_mtl.export.export_all
print(json.dumps({"before": before, "backend": backend,
                  "after": [m for m in heavy if m in sys.modules]}))
"""


def test_import_is_lazy_and_leaves_the_environment_alone():
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [root] + [p for p in [env.get("PYTHONPATH")] if p])
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == []
    assert result["backend"] is None
    assert {"keras_tuner", "ai_edge_litert", "keras_mtl.tuning",
            "keras_mtl.export"} <= set(result["after"])


def test_public_api_is_listed_and_moved_modules_warn():
    assert sorted(dir(keras_mtl)) == sorted(keras_mtl.__all__)
    for name in keras_mtl.__all__:
        assert getattr(keras_mtl, name) is not None
    with pytest.warns(DeprecationWarning, match="keras_mtl.reporting"):
        moved = keras_mtl.plotting
    assert moved.plot_task_trajectories is \
        keras_mtl.reporting.plot_task_trajectories
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        keras_mtl.nope


def test_another_backend_is_a_clear_error_at_first_use(monkeypatch):
    built = keras_mtl.build(keras.Input((3,)),
                            [keras_mtl.Task("a", kind="binary")])
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match=r"TensorFlow backend.*'jax'"):
        keras_mtl.build(keras.Input((3,)),
                        [keras_mtl.Task("a", kind="binary")])
    with pytest.raises(RuntimeError, match="KERAS_BACKEND=tensorflow"):
        built.compile("adam")
