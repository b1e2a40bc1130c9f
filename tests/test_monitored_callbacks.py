"""Monitoring callbacks infer `mode` from per-task names and check the
monitor before the first epoch (issue 18)."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_mtl
from keras_mtl.callbacks import EarlyStopping
from keras_mtl.callbacks import ModelCheckpoint
from keras_mtl.callbacks import ReduceLROnPlateau
from keras_mtl.callbacks import monitor_mode


def _model(metrics=None):
    tasks = [keras_mtl.Task("ctr", "binary"),
             keras_mtl.Task("age", "regression")]
    model = keras_mtl.build(keras.Input((6,), name="x"), tasks, trunk=(8,))
    # Eager: these tests check the callbacks, not the traced step, and a
    # few steps run faster than one trace.
    model.compile("adam", metrics=metrics, run_eagerly=True)
    return model


def _data(num_samples=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(num_samples, 6)).astype("float32")
    y = {"ctr": (x[:, :1] > 0).astype("float32"), "age": x[:, 1:2]}
    return x, y


class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs += 1


@pytest.fixture(scope="module")
def model():
    return _model(metrics={"ctr": ["auc", keras.metrics.Precision(
        name="prec")]})


@pytest.mark.parametrize("name,mode", [
    ("val_ctr_auc", "max"), ("ctr_auc", "max"), ("val_age_loss", "min"),
    ("val_loss", "min"), ("age_mae", "min"), ("val_age_rmse", "min"),
    # A renamed Keras metric: the metric object says "up".
    ("val_ctr_prec", "max")])
def test_monitor_mode(model, name, mode):
    assert monitor_mode(model, name) == mode


def test_monitor_mode_refusals(model):
    with pytest.raises(ValueError, match=r"does not log.*'val_ctr_auc'"):
        monitor_mode(model, "val_ctr_acu")
    with pytest.raises(ValueError, match="training statistic"):
        monitor_mode(model, "ctr_weight")
    with pytest.raises(ValueError, match="does not log"):  # training only
        monitor_mode(model, "val_ctr_weight")
    with pytest.raises(ValueError, match="compile it first"):
        monitor_mode(keras_mtl.build(
            keras.Input((3,)), [keras_mtl.Task("a", "binary")]), "loss")


def test_keras_own_callback_fails_after_epoch_one():
    """The user code that failed: Keras cannot infer `val_ctr_auc`'s
    direction, and says so only after the first epoch."""
    model, (x, y), counter = _model(), _data(), EpochCounter()
    stop = keras.callbacks.EarlyStopping("val_ctr_auc", patience=2)
    with pytest.raises(ValueError, match="automatically determine"):
        model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0,
                  callbacks=[counter, stop])
    assert counter.epochs == 1


def test_modes_inferred_and_used(tmp_path):
    """One fit drives all three callbacks (and an explicit mode): each
    keeps the best value in the inferred direction."""
    model, (x, y) = _model(), _data()
    stop = EarlyStopping("val_ctr_auc", patience=10)
    plateau = ReduceLROnPlateau("val_age_loss", patience=10)
    best = ModelCheckpoint(str(tmp_path / "best.keras"),
                           monitor="val_ctr_auc", save_best_only=True)
    explicit = EarlyStopping("val_ctr_auc", mode="min", patience=10)
    history = model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0,
                        callbacks=[stop, plateau, best, explicit]).history
    assert stop.mode == "max" and stop.monitor_op is ops.greater
    assert stop.best == pytest.approx(max(history["val_ctr_auc"]))
    assert plateau.mode == "min" and plateau.monitor_op is ops.less
    assert plateau.best == pytest.approx(min(history["val_age_loss"]))
    assert best.mode == "max"
    assert best.best == pytest.approx(max(history["val_ctr_auc"]))
    assert (tmp_path / "best.keras").is_file()
    assert explicit.best == pytest.approx(min(history["val_ctr_auc"]))


@pytest.mark.parametrize("make", [
    lambda: EarlyStopping("val_ctr_acu"),
    lambda: ReduceLROnPlateau("ctr_aux"),
    lambda: ModelCheckpoint("m.keras", monitor="val_lost",
                            save_best_only=True)])
def test_typo_fails_before_the_first_epoch(make):
    model, (x, y), counter = _model(), _data(), EpochCounter()
    with pytest.raises(ValueError, match="Logged names"):
        model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0,
                  callbacks=[counter, make()])
    assert counter.epochs == 0


def test_validation_monitor_without_validation_data():
    model, (x, y) = _model(), _data()
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[EarlyStopping("val_ctr_auc")])


def test_bad_mode_refused():
    with pytest.raises(ValueError, match="mode='maximum'"):
        EarlyStopping("val_ctr_auc", mode="maximum")
