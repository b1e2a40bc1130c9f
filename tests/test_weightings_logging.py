"""TaskWeightLogger (CSV, TensorBoard, trajectory), the trajectory plot and
the loss-weighting example (quick settings)."""

import csv
import glob
import importlib.util
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.callbacks import TaskWeightLogger
from keras_mtl.reporting import plot_task_trajectories

ROOT = pathlib.Path(__file__).resolve().parents[1]


def scalar_tags(folder):
    tags = set()
    for path in glob.glob(str(folder / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    return tags


def test_logger_writes_csv_tensorboard_and_a_plot(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = {"a": x[:, :1], "b": 2 * x[:, 1:2]}
    tasks = [keras_mtl.Task("a", "regression"),
             keras_mtl.Task("b", "regression")]
    model = keras_mtl.build(keras.Input((4,)), tasks, trunk=(4,))
    model.compile("adam", weighting="dwa", run_eagerly=True)
    logger = TaskWeightLogger(tmp_path / "weights.csv", verbose=1)
    board = keras.callbacks.TensorBoard(str(tmp_path / "logs"))
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                        validation_data=(x, y), callbacks=[logger, board])

    assert logger.trajectory["epoch"] == [0.0, 1.0, 2.0]
    for key in ("a_weight", "b_loss", "val_b_loss"):
        assert logger.trajectory[key] == pytest.approx(history.history[key])
    with open(tmp_path / "weights.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    assert float(rows[2]["b_weight"]) == pytest.approx(
        history.history["b_weight"][2])
    assert "Epoch 3 task weights | a: w=" in capsys.readouterr().out
    assert {"task_weights/a", "task_weights/b", "task_losses/a"} <= (
        scalar_tags(tmp_path / "logs" / "train"))

    single = plot_task_trajectories(history, tmp_path / "one" / "w.png")
    both = plot_task_trajectories(
        {"dwa": history, "logger": logger.trajectory}, tmp_path / "two.png",
        tasks=["b"], title="compare", loss_scale="log")
    for path in (single, both):
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"task\(s\) \['z'\]"):
        plot_task_trajectories(history, tmp_path / "x.png", tasks=["z"])
    with pytest.raises(ValueError, match="loss_scale='cubic'"):
        plot_task_trajectories(history, tmp_path / "x.png",
                               loss_scale="cubic")
    config = logger.get_config()
    assert TaskWeightLogger.from_config(config).get_config() == config


def test_loss_weighting_example_quick(tmp_path, capsys):
    path = ROOT / "examples" / "loss_weighting.py"
    spec = importlib.util.spec_from_file_location("loss_weighting", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / "results" / "weights.png"
    summary = module.main(["--quick", "--strategies", "equal,famo",
                           "--output", str(output)])
    assert summary["plot"] == str(output) and output.stat().st_size > 0
    assert sorted(summary["results"]) == ["equal", "famo"]
    famo = summary["results"]["famo"]["weights"]
    assert sum(famo.values()) == pytest.approx(1.0, rel=1e-5)
    assert "Trajectories written to" in capsys.readouterr().out


@pytest.mark.parametrize("weighting, expected, constant", [
    ("equal", {"a": 1.0, "b": 1.0}, True),
    (keras_mtl.weightings.StaticWeighting({"a": 0.25}, default=2.0),
     {"a": 0.25, "b": 2.0}, True),
    ("uncertainty", None, False),
])
def test_task_weight_logs_the_weights_the_step_used(weighting, expected,
                                                    constant):
    """`<task>_weight` is the epoch mean of the weight: a weight that is a
    constant of the traced step is logged as that constant without a
    per-step update; a learned one is accumulated every step."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = {"a": x[:, :1], "b": 2 * x[:, 1:2]}
    tasks = [keras_mtl.Task("a", "regression"),
             keras_mtl.Task("b", "regression")]
    model = keras_mtl.build(keras.Input((4,)), tasks, trunk=(4,))
    model.compile("adam", weighting=weighting)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    logs = model._hidden.logs
    for i, name in enumerate(("a", "b")):
        assert (logs.task_weight[i].constant is not None) == constant
        values = history.history[f"{name}_weight"]
        if expected is not None:
            np.testing.assert_allclose(values, [expected[name]] * 2)
        else:  # uncertainty: exp(-log variance), learned from 1.0
            assert np.all(np.isfinite(values)) and values[-1] != 1.0
