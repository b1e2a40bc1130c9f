"""Keras private names that keras_mtl needs, one small function each.

Checked against Keras 3.15.1 (TensorFlow backend). When Keras moves, this
is the only module to mend; `tests/test_private_api.py` keeps the rest of
the package from reaching past Keras's public API.
"""

from typing import Any

import keras


def untrack(layer: keras.layers.Layer, value: Any) -> None:
    """Stops `layer` from tracking `value` (a layer, metric or variable
    it held in an attribute), so its variables leave `layer.weights`.

    Why private: Keras tracks whatever is assigned to a layer attribute
    (`Layer.__setattr__` -> `layer._tracker.track`), but reassigning the
    attribute keeps the old object tracked and `del` only untracks bare
    variables; `Tracker.untrack` has no public route.

    Checked against: Keras 3.15.1.
    """
    layer._tracker.untrack(value)


def loss_tracker(model: keras.Model) -> keras.metrics.Metric | None:
    """The `Mean` metric that reports `loss` in `model`'s logs (None
    before `compile`).

    Why private: a custom `train_step` must update it as Keras's own step
    does, and `Trainer` exposes it only as `model._loss_tracker` (it is
    also somewhere in `model.metrics`, but not at a documented place).

    Checked against: Keras 3.15.1.
    """
    return model._loss_tracker


def nested_layers(layer: keras.layers.Layer, include_self: bool = False,
                  recursive: bool = True) -> list[keras.layers.Layer]:
    """The layers tracked inside `layer` (depth first, each once).

    Why private: `Model.layers` lists only a model's top-level layers and
    a plain `Layer` has no public list of the layers it holds; Keras uses
    `Layer._flatten_layers` itself to collect metrics and seed generators.

    Checked against: Keras 3.15.1.
    """
    return list(layer._flatten_layers(include_self=include_self,
                                      recursive=recursive))


def seed_generators(layer: keras.layers.Layer) -> list[Any]:
    """The `keras.random.SeedGenerator`s that `layer` itself tracks (not
    those of the layers inside it); empty when it has none.

    Why private: Keras leaves seed-generator state out of `.keras` and
    `.weights.h5` files and offers no public list of a layer's
    generators; an exact resume must save their states itself.

    Checked against: Keras 3.15.1.
    """
    return list(getattr(layer, "_seed_generators", None) or [])


def model_strategy(model: keras.Model) -> Any:
    """The `tf.distribute` strategy `model` was created under, or None
    when it was created outside any strategy scope.

    Why private: the public `model.distribute_strategy` falls back to the
    current (default) strategy, so it cannot tell the two cases apart;
    Keras keeps the strategy of creation in `model._distribute_strategy`.

    Checked against: Keras 3.15.1 (TensorFlow backend).
    """
    return getattr(model, "_distribute_strategy", None)


def keras_history(tensor: Any) -> Any:
    """The `(operation, node_index, tensor_index)` record of the layer
    call that produced symbolic `tensor`, or None for a tensor that no
    layer produced.

    Why private: `KerasTensor` exposes the layer that made it only as
    `tensor._keras_history`; walking a Functional graph (which layers feed
    which task) and naming a model's inputs by their `Input` layers need
    it.

    Checked against: Keras 3.15.1.
    """
    return getattr(tensor, "_keras_history", None)


def inbound_node(operation: Any, node_index: int) -> Any:
    """Node `node_index` of `operation` (a layer): the call that consumed
    `node.input_tensors` and produced its outputs.

    Why private: Keras 3 has no public accessor for a layer's call nodes
    (`Operation._inbound_nodes`); `keras_history` gives the index.

    Checked against: Keras 3.15.1.
    """
    return operation._inbound_nodes[node_index]


class SymbolicBuildHook(keras.Model):
    """A `keras.Model` base that chooses the batch Keras builds it from.

    Under a `tf.distribute` strategy, Keras's TensorFlow trainer builds the
    model symbolically from the first batch of `fit` before the first step
    (`_maybe_symbolic_build`), reducing the whole nested batch in one
    `strategy.reduce` call. A subclass overrides `symbolic_build_batch` to
    supply that batch itself (e.g. reduced leaf by leaf, which
    `MultiWorkerMirroredStrategy` needs).

    Why private: the build step is `TensorFlowTrainer._maybe_symbolic_build`
    and Keras has no public hook before it; this class is the one place
    that overrides it.

    Checked against: Keras 3.15.1 (TensorFlow backend).
    """

    def symbolic_build_batch(self, epoch_iterator: Any) -> Any:
        """The batch to build from, read off Keras's epoch iterator, or
        None to let Keras read it. Called only when the model was created
        under a strategy. The default lets Keras read it."""
        return None

    def _maybe_symbolic_build(self, iterator: Any = None,
                              data_batch: Any = None) -> None:
        if iterator is not None and model_strategy(self) is not None:
            batch = self.symbolic_build_batch(iterator)
            if batch is not None:
                iterator, data_batch = None, batch
        super()._maybe_symbolic_build(iterator=iterator,
                                      data_batch=data_batch)


def initial_epoch(model: keras.Model) -> int:
    """The epoch the running (or next) `fit` of `model` starts from.

    Why private: `fit(initial_epoch=...)` keeps it as `model._initial_epoch`
    for callbacks, and Keras's own `BackupAndRestore` writes it there to
    resume; there is no public attribute.

    Checked against: Keras 3.15.1.
    """
    return int(getattr(model, "_initial_epoch", None) or 0)


def set_initial_epoch(model: keras.Model, epoch: int) -> None:
    """Makes the `fit` that is starting resume at `epoch` (from a callback's
    `on_train_begin`, as Keras's own `BackupAndRestore` does).

    Why private: see `initial_epoch`.

    Checked against: Keras 3.15.1.
    """
    model._initial_epoch = int(epoch)


class BackupAndRestoreHooks(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` with its private state behind
    public names, for a subclass that writes its own backups.

    - `save_backup()` is called whenever Keras would save (end of epoch or
      every `save_freq` batches); the default writes Keras's own backup.
    - `last_batch_seen`, `current_epoch` (settable) and
      `count_batch(batch)` (Keras's batch counter: True when a backup is
      due) read and drive Keras's schedule.

    Why private: Keras implements the schedule in
    `BackupAndRestore._save_model`, `_should_save_on_batch`,
    `_last_batch_seen` and `_current_epoch` and offers no public hook.

    Checked against: Keras 3.15.1.
    """

    @property
    def last_batch_seen(self) -> int:
        return int(self._last_batch_seen)

    @property
    def current_epoch(self) -> int:
        return int(self._current_epoch)

    @current_epoch.setter
    def current_epoch(self, epoch: int) -> None:
        self._current_epoch = int(epoch)

    def count_batch(self, batch: int) -> bool:
        """Counts `batch` toward `save_freq`; True when a backup is due."""
        return bool(self._should_save_on_batch(batch))

    def save_backup(self) -> None:
        """Writes a backup; override to write another kind."""
        keras.callbacks.BackupAndRestore._save_model(self)

    def _save_model(self) -> None:
        self.save_backup()
