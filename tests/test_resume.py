"""Interrupted and resumed training equals uninterrupted training.

A model with dropout, DWA (epoch-level loss history) and GradVac (EMA
similarity targets and a seeded random order) trains 3 epochs of 8 steps.
It is interrupted by an exception in the middle of epoch 1 and resumed
(a) with `keras.callbacks.BackupAndRestore` saving each epoch, (b) with
`keras_mtl.callbacks.BackupAndRestore` saving every 3 steps, so that it
resumes mid-epoch, and (c) from a `.keras` file written after epoch 2.
Every variable of the model, the optimizer, the weighting and the
aggregator must end equal to the uninterrupted run's within 1e-6.

`enable_op_determinism()` is process-wide, so the runs happen in a
subprocess (this file run as a script).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

STEPS, EPOCHS, BATCH = 8, 3, 8


def _worker() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    import keras_mtl

    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 6)).astype("float32")
    y = {"a": (rng.random((STEPS * BATCH, 1)) > 0.5).astype("float32"),
         "b": rng.normal(size=(STEPS * BATCH, 1)).astype("float32")}

    def make() -> keras_mtl.MultiTaskModel:
        keras.utils.set_random_seed(0)
        model = keras_mtl.build(
            keras.Input((6,)), [keras_mtl.Task("a", "binary"),
                                keras_mtl.Task("b", "regression")],
            trunk=(8,), dropout=0.2)
        model.compile(keras.optimizers.Adam(0.01), weighting="dwa",
                      aggregator=keras_mtl.aggregators.GradVac(seed=3))
        return model

    def fit(model, callbacks=(), **kwargs):
        return model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0,
                         shuffle=False, callbacks=list(callbacks), **kwargs)

    def state(model) -> list:
        return [np.asarray(v.numpy()) for v in
                model.weights + model.optimizer.variables]

    class Interrupt(keras.callbacks.Callback):
        """Raises once, after step `batch` of epoch 1."""

        def __init__(self, batch=4):
            super().__init__()
            self.epoch, self.fired, self.batch = 0, False, batch

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if not self.fired and (self.epoch, batch) == (1, self.batch):
                self.fired = True
                raise KeyboardInterrupt("simulated crash")

    reference = make()
    history = fit(reference)
    expected = state(reference)
    report = {"names": [v.path for v in reference.weights
                        + reference.optimizer.variables]}

    def gaps(model) -> list:
        return [float(np.max(np.abs(a - b))) if a.size else 0.0
                for a, b in zip(state(model), expected)]

    cases = {"keras_epoch": (keras.callbacks.BackupAndRestore, "epoch"),
             "keras_mtl_steps": (keras_mtl.callbacks.BackupAndRestore, 3)}
    for case, (cls, freq) in cases.items():
        backup = tempfile.mkdtemp()
        try:
            fit(make(), [cls(backup, save_freq=freq), Interrupt()])
        except KeyboardInterrupt:
            pass
        resumed = make()  # a fresh process would rebuild the model
        resumed_history = fit(resumed, [cls(backup, save_freq=freq)])
        report[case] = gaps(resumed)
        report[case + "_dwa_loss"] = resumed_history.history["b_loss"][-1]
    report["reference_dwa_loss"] = history.history["b_loss"][-1]

    # Interrupted again in the resumed epoch, after its first backup: the
    # backup must record epoch 1 (Keras's records epoch 0 there).
    backup = tempfile.mkdtemp()
    for batch in (4, 6):
        try:
            fit(make(), [keras_mtl.callbacks.BackupAndRestore(
                backup, save_freq=3), Interrupt(batch)])
        except KeyboardInterrupt:
            pass
    resumed = make()
    fit(resumed, [keras_mtl.callbacks.BackupAndRestore(backup, save_freq=3)])
    report["keras_mtl_twice"] = gaps(resumed)

    path = os.path.join(tempfile.mkdtemp(), "model.keras")
    model = make()
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, shuffle=False)
    model.save(path)
    loaded = keras.saving.load_model(path)
    fit(loaded, initial_epoch=2)
    report["keras_file"] = gaps(loaded)
    print("RESULT " + json.dumps(report))


def test_resumed_training_equals_uninterrupted_training():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, check=False,
        timeout=300, env=env)
    lines = [line for line in done.stdout.splitlines()
             if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr[-3000:]
    report = json.loads(lines[-1][len("RESULT "):])
    names = report["names"]
    assert any("gradvac" in n for n in names)
    assert any("dwa" in n for n in names)
    for case in ("keras_epoch", "keras_mtl_steps", "keras_mtl_twice",
                 "keras_file"):
        worst = max(report[case])
        where = names[int(np.argmax(report[case]))]
        assert worst <= 1e-6, f"{case}: {where} differs by {worst}"
    # DWA read the same epoch logs as the uninterrupted run.
    assert report["keras_mtl_steps_dwa_loss"] == report["reference_dwa_loss"]


def test_backup_callback_config_round_trip(tmp_path):
    import keras

    import keras_mtl

    callback = keras_mtl.callbacks.BackupAndRestore(
        str(tmp_path), save_freq=5, double_checkpoint=True)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(callback))
    assert isinstance(restored, keras_mtl.callbacks.BackupAndRestore)
    assert restored.get_config() == callback.get_config()


if __name__ == "__main__":
    _worker()
