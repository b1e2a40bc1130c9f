"""`keras_mtl.callbacks.BackupAndRestore`: atomic, verified checkpoints.

Issue 15, failure 11: the weights were written before the metadata (a
kill between the two trained batches twice), and a truncated, deleted or
altered file of a backup resumed silently from the wrong place or failed
with a raw `zipfile.BadZipFile`. Here a crash at every moment of a save
resumes exactly, and every damaged file stops training with an error that
names the file and says how to start over. The SIGKILL test is in
`test_backup_kill.py`.
"""

import os
import shutil
import warnings

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl.callbacks import _checkpoint_files
from keras_mtl.callbacks import backup_and_restore

STEPS, BATCH, EPOCHS = 6, 4, 2  # 12 steps in all.


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 3)).astype("float32")
    y = {"a": rng.normal(size=(STEPS * BATCH, 1)).astype("float32"),
         "b": rng.normal(size=(STEPS * BATCH, 1)).astype("float32")}
    return x, y


def _model():
    keras.utils.set_random_seed(0)
    model = keras_mtl.build(
        keras.Input((3,)), [keras_mtl.Task("a", "regression"),
                            keras_mtl.Task("b", "regression")], trunk=(4,))
    model.compile(keras.optimizers.Adam(0.01), weighting="uncertainty")
    return model


def _fit(model, callbacks=()):
    x, y = _data()
    return model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0,
                     shuffle=False, callbacks=list(callbacks))


def _state(model):
    return [keras.ops.convert_to_numpy(v) for v in
            model.weights + model.optimizer.variables]


class _Interrupt(keras.callbacks.Callback):
    """Raises once, after step `batch` of epoch `epoch`."""

    def __init__(self, epoch=1, batch=2):
        super().__init__()
        self.at, self.epoch = (epoch, batch), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt("simulated crash")


class _Look(keras.callbacks.Callback):
    """Records the backup folder's entries when the first batch starts."""

    seen: list = []

    def __init__(self, backup):
        super().__init__()
        self.backup = backup
        _Look.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        if not _Look.seen:
            _Look.seen = sorted(os.listdir(self.backup))


@pytest.fixture(scope="module")
def reference():
    model = _model()
    _fit(model)
    return _state(model)


def _assert_equal_to(reference, model):
    assert int(model.optimizer.iterations.numpy()) == STEPS * EPOCHS
    for ours, theirs in zip(_state(model), reference):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def _interrupted_backup(directory, **options):
    """A backup left by a run stopped after step 2 of epoch 1."""
    backup = str(directory)
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [keras_mtl.callbacks.BackupAndRestore(
            backup, save_freq=2, **options), _Interrupt()])
    return backup


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """One interrupted backup, copied by the tests that alter it."""
    return _interrupted_backup(tmp_path_factory.mktemp("ckpt") / "backup")


def test_crash_after_the_weights_are_written_trains_no_batch_twice(
        tmp_path, monkeypatch, reference):
    # The old callback wrote the weights of step 4, was killed before the
    # metadata of step 4 and resumed after step 2: 14 steps instead of 12.
    original = keras.Model.save_weights
    calls = []

    def save_then_crash(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed after writing the weights")

    backup = str(tmp_path / "backup")
    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "save_weights", save_then_crash)
        with pytest.raises(KeyboardInterrupt):
            _fit(_model(), [keras_mtl.callbacks.BackupAndRestore(
                backup, save_freq=2)])
    resumed = _model()
    _fit(resumed, [keras_mtl.callbacks.BackupAndRestore(backup, save_freq=2)])
    _assert_equal_to(reference, resumed)
    assert not os.path.exists(backup)  # Deleted after training.


def _damage(path, how):
    if how == "deleted":
        os.remove(path)
        return
    with open(path, "rb") as f:
        data = f.read()
    if how == "truncated":
        data = data[: len(data) // 2]
    else:  # One byte changed, same size.
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 0x01]) \
            + data[middle + 1:]
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("how", ["deleted", "truncated", "altered"])
def test_every_damaged_file_stops_training_with_its_name_and_the_fix(
        tmp_path, how, interrupted):
    backup = interrupted
    files = sorted(os.path.relpath(os.path.join(root, name), backup)
                   for root, _, names in os.walk(backup) for name in names)
    assert len(files) >= 3, files
    model = _model()
    silent = []
    for file in files:
        copy = str(tmp_path / f"copy_{len(silent)}_{file.replace('/', '_')}")
        shutil.copytree(backup, copy)
        _damage(os.path.join(copy, file), how)
        try:
            _fit(model, [keras_mtl.callbacks.BackupAndRestore(
                copy, save_freq=2)])
        except Exception as error:  # noqa: BLE001 - the message is tested
            message = str(error)
            if not (os.path.basename(file) in message
                    and f"Delete the folder {copy!r}" in message):
                silent.append(f"{file}: unclear error {error!r}")
        else:
            silent.append(f"{file}: training went on")
    assert not silent, f"{how} files: " + "; ".join(silent)


def test_damaged_latest_with_double_checkpoint_resumes_from_the_previous(
        tmp_path, reference):
    backup = _interrupted_backup(tmp_path / "backup", double_checkpoint=True)
    pointer = _checkpoint_files._read_pointer(backup)
    assert pointer["previous"] is not None
    _damage(os.path.join(backup, pointer["latest"], "model.weights.h5"),
            "truncated")
    resumed = _model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(resumed, [keras_mtl.callbacks.BackupAndRestore(
            backup, save_freq=2, double_checkpoint=True), _Look(backup)])
    messages = [str(w.message) for w in caught]
    assert any("model.weights.h5" in m and pointer["previous"] in m
               for m in messages), messages
    # Both folders the pointer names survive the start-up clean-up.
    assert _Look.seen == sorted(["checkpoint.json", pointer["latest"],
                                 pointer["previous"]])
    _assert_equal_to(reference, resumed)


def test_a_backup_without_a_manifest_is_refused(tmp_path):
    backup = str(tmp_path / "keras_backup")
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [keras.callbacks.BackupAndRestore(backup),
                        _Interrupt()])
    with pytest.raises(keras_mtl.callbacks.CheckpointError,
                       match="cannot be verified"):
        _fit(_model(), [keras_mtl.callbacks.BackupAndRestore(backup)])


def test_leftovers_of_interrupted_saves_are_removed(tmp_path, reference,
                                                   interrupted):
    backup = str(tmp_path / "backup")
    shutil.copytree(interrupted, backup)
    os.makedirs(os.path.join(backup, ".tmp-partial"))
    with open(os.path.join(backup, ".tmp-partial", "model.weights.h5"),
              "wb") as f:
        f.write(b"half a file")
    # A complete folder that the pointer never reached.
    latest = _checkpoint_files._read_pointer(
        backup)["latest"]
    shutil.copytree(os.path.join(backup, latest),
                    os.path.join(backup, "ckpt-999999"))
    resumed = _model()
    _fit(resumed, [keras_mtl.callbacks.BackupAndRestore(backup, save_freq=2),
                   _Look(backup)])
    assert _Look.seen == ["checkpoint.json", latest]
    _assert_equal_to(reference, resumed)


def test_a_kill_while_the_backup_is_deleted_leaves_nothing_to_resume(
        tmp_path, monkeypatch, interrupted):
    backup = str(tmp_path / "backup")
    shutil.copytree(interrupted, backup)
    model = _model()

    def crash(path, *args, **kwargs):
        raise KeyboardInterrupt("killed while deleting the backup")

    def delete_and_crash(path):
        with monkeypatch.context() as inner:
            inner.setattr(shutil, "rmtree", crash)
            _checkpoint_files.delete_backup(path)

    with monkeypatch.context() as patch:
        patch.setattr(backup_and_restore, "delete_backup", delete_and_crash)
        with pytest.raises(KeyboardInterrupt):
            _fit(model, [keras_mtl.callbacks.BackupAndRestore(
                backup, save_freq=2)])
    assert int(model.optimizer.iterations.numpy()) == STEPS * EPOCHS
    # Training had finished: the next run starts over, as after a
    # completed run, instead of resuming from a half-deleted folder.
    assert os.path.isdir(backup)
    assert _checkpoint_files.read_checkpoint(backup) is None
    assert not os.path.exists(backup)
