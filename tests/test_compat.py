"""Each seam of `keras_mtl._compat` still does what it says on the
installed Keras, TensorFlow, Keras Tuner and LiteRT. When a dependency
moves, the failing test here names the private name to mend."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_mtl._compat import keras as keras_compat
from keras_mtl._compat import keras_tuner as tuner_compat
from keras_mtl._compat import litert as litert_compat
from keras_mtl._compat import tensorflow as tf_compat


def _model(cls=keras.Model):
    inputs = keras.Input((3,), name="features")
    hidden = keras.layers.Dense(4, name="trunk")(inputs)
    hidden = keras.layers.Dropout(0.5, seed=1, name="drop")(hidden)
    return cls(inputs, {"y": keras.layers.Dense(1, name="y")(hidden)})


def test_untrack_removes_the_old_layer_weights():
    holder = keras.layers.Layer()
    holder.inner = keras.layers.Dense(2)
    holder.inner.build((None, 3))
    assert len(holder.weights) == 2
    old = holder.inner
    keras_compat.untrack(holder, old)
    holder.__dict__.pop("inner")
    assert holder.weights == []


def test_loss_tracker_is_the_mean_that_logs_loss():
    model = _model()
    assert keras_compat.loss_tracker(model) is None
    model.compile("sgd", {"y": "mse"})
    tracker = keras_compat.loss_tracker(model)
    assert isinstance(tracker, keras.metrics.Mean) and tracker.name == "loss"
    assert tracker in model.metrics


def test_nested_layers_and_seed_generators():
    outer = keras.Sequential([_model()])
    names = [layer.name for layer in keras_compat.nested_layers(outer)]
    assert {"trunk", "drop", "y"} <= set(names)
    drop = next(layer for layer in keras_compat.nested_layers(outer)
                if layer.name == "drop")
    generators = keras_compat.seed_generators(drop)
    assert len(generators) == 1
    assert isinstance(generators[0], keras.random.SeedGenerator)
    assert keras_compat.seed_generators(keras.layers.Dense(1)) == []


def test_keras_history_and_inbound_node_walk_the_graph():
    model = _model()
    output = model.output["y"]
    operation, node_index, _ = keras_compat.keras_history(output)
    assert operation.name == "y"
    node = keras_compat.inbound_node(operation, node_index)
    (previous,) = node.input_tensors
    assert keras_compat.keras_history(previous).operation.name == "drop"
    assert keras_compat.keras_history(np.zeros(2)) is None


def test_model_strategy_tells_creation_scope():
    assert keras_compat.model_strategy(_model()) is None
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _model()
    assert keras_compat.model_strategy(model) is strategy


def test_symbolic_build_hook_supplies_the_build_batch():
    seen = []

    class Hooked(keras_compat.SymbolicBuildHook):
        def symbolic_build_batch(self, epoch_iterator):
            for _, _, iterator in epoch_iterator:
                batch = next(iterator)
                seen.append(batch)
                return keras.tree.map_structure(
                    lambda v: self.distribute_strategy.reduce(
                        "MEAN", v, axis=None)
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v, batch)
            return None

    x, y = np.zeros((8, 3), "float32"), {"y": np.zeros((8, 1), "float32")}
    plain = _model(Hooked)
    plain.compile("sgd", {"y": "mse"})
    plain.fit(x, y, epochs=1, verbose=0)
    assert seen == []  # outside a strategy Keras builds at tracing
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _model(Hooked)
        model.compile("sgd", {"y": "mse"})
    model.fit(x, y, epochs=1, verbose=0)
    assert len(seen) == 1 and model.built


def test_tensorflow_seams():
    assert isinstance(tf_compat.strategy_supports_no_merge_call(), bool)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert not tf_compat.in_multi_worker_mode(strategy)
    assert not tf_compat.in_multi_worker_mode(tf.distribute.get_strategy())


def test_replica_context_by_replica_count():
    assert tf_compat.replica_context() is None
    assert tf_compat.replica_context(min_replicas=1) is None
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    found = strategy.run(lambda: (
        tf_compat.replica_context() is None,
        tf_compat.replica_context(min_replicas=1) is not None))
    assert found == (True, True)
    with strategy.scope():  # cross-replica context
        assert tf_compat.replica_context(min_replicas=1) is None
    with pytest.raises(ValueError, match="min_replicas"):
        tf_compat.replica_context(min_replicas=0)


def test_keras_tuner_seams():
    service = tuner_compat.oracle_service()
    assert hasattr(service, "GetTrialRequest")
    assert hasattr(tuner_compat.oracle_service_grpc(), "OracleStub")
    servicer = tuner_compat.oracle_servicer_class()
    for method in ("CreateTrial", "GetTrial", "UpdateTrial", "EndTrial"):
        assert callable(getattr(servicer, method))

    class Client:
        _oracle = "local"

    assert tuner_compat.local_oracle(Client()) == "local"
    assert tuner_compat.local_oracle("oracle") == "oracle"


def test_litert_ops_details_lists_op_names():
    from ai_edge_litert.interpreter import Interpreter

    module = tf.Module()
    module.f = tf.function(lambda x: tf.tanh(x) * 2.0,
                           input_signature=[tf.TensorSpec([1, 2])])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.f.get_concrete_function()], module)
    interpreter = Interpreter(model_content=converter.convert())
    ops = litert_compat.ops_details(interpreter)
    assert {"MUL", "TANH"} <= {op["op_name"] for op in ops}
    assert all({"index", "inputs", "outputs"} <= op.keys() for op in ops)


def test_initial_epoch_round_trip():
    model = _model()
    assert keras_compat.initial_epoch(model) == 0
    keras_compat.set_initial_epoch(model, 3)
    assert keras_compat.initial_epoch(model) == 3


def test_backup_and_restore_hooks_follow_keras_schedule(tmp_path):
    saved = []

    class Hooked(keras_compat.BackupAndRestoreHooks):
        def save_backup(self):
            saved.append((self.current_epoch, self.last_batch_seen))

    x, y = np.zeros((8, 3), "float32"), {"y": np.zeros((8, 1), "float32")}
    model = _model()
    model.compile("sgd", {"y": "mse"})
    callback = Hooked(str(tmp_path), save_freq=2)
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[callback])
    # Every second batch of four, in each epoch.
    assert saved == [(0, 1), (0, 3), (1, 1), (1, 3)]
    callback.current_epoch = 5
    assert callback.current_epoch == 5
    counter = keras_compat.BackupAndRestoreHooks(
        str(tmp_path / "count"), save_freq=2)
    assert [counter.count_batch(b) for b in range(4)] == [
        False, True, False, True]
    assert counter.last_batch_seen == 3
    # The default writes Keras's own backup.
    plain = keras_compat.BackupAndRestoreHooks(
        str(tmp_path / "plain"), delete_checkpoint=False)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[plain])
    assert (tmp_path / "plain" / "latest.weights.h5").is_file()
    assert plain.current_epoch == 1
