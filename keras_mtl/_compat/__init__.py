"""The one seam between keras_mtl and the private names of its dependencies.

Every private name that keras_mtl uses from Keras, TensorFlow, Keras Tuner
or LiteRT sits behind a small function (or, for a method override, a base
class) in one module per dependency. Each has a docstring saying what it
does, why no public API does it, and which version it was checked
against. The rest of the package imports public APIs and these modules
only; `tests/test_private_api.py` fails when it does not.

This package imports nothing itself: `keras_mtl._compat.keras_tuner` and
`keras_mtl._compat.litert` load their dependency only when imported.

One line per private name: `module.function`: the private name it uses
(checked against).

- `keras.untrack`: `Layer._tracker.untrack` (Keras 3.15.1)
- `keras.loss_tracker`: `Trainer._loss_tracker` (Keras 3.15.1)
- `keras.nested_layers`: `Layer._flatten_layers` (Keras 3.15.1)
- `keras.seed_generators`: `Layer._seed_generators` (Keras 3.15.1)
- `keras.model_strategy`: `TensorFlowTrainer._distribute_strategy`
  (Keras 3.15.1)
- `keras.keras_history`: `KerasTensor._keras_history` (Keras 3.15.1)
- `keras.inbound_node`: `Operation._inbound_nodes` (Keras 3.15.1)
- `keras.SymbolicBuildHook`: overrides
  `TensorFlowTrainer._maybe_symbolic_build` (Keras 3.15.1)
- `keras.initial_epoch`, `keras.set_initial_epoch`: `Model._initial_epoch`
  (Keras 3.15.1)
- `keras.BackupAndRestoreHooks`: overrides `BackupAndRestore._save_model`;
  reads `_last_batch_seen`, `_current_epoch`, `_should_save_on_batch`
  (Keras 3.15.1)
- `tensorflow.strategy_supports_no_merge_call`:
  `tf.__internal__.distribute.strategy_supports_no_merge_call` (TF 2.21.0)
- `tensorflow.in_multi_worker_mode`:
  `CollectiveAllReduceExtended._in_multi_worker_mode` (TF 2.21.0)
- `tensorflow.cond_as_call`: `Operation._set_attr` of the
  `_lower_using_switch_merge` attribute (from
  `tensorflow.core.framework.attr_value_pb2`) (TF 2.21.0)
- `keras_tuner.oracle_service`: `keras_tuner.src.protos.get_service`
  (Keras Tuner 1.4.8)
- `keras_tuner.oracle_service_grpc`:
  `keras_tuner.src.protos.get_service_grpc` (Keras Tuner 1.4.8)
- `keras_tuner.oracle_servicer_class`:
  `keras_tuner.src.distribute.oracle_chief.OracleServicer`
  (Keras Tuner 1.4.8)
- `keras_tuner.local_oracle`: `OracleClient._oracle` (Keras Tuner 1.4.8)
- `litert.ops_details`: `Interpreter._get_ops_details`
  (ai-edge-litert 2.3.0)

Public APIs used instead of private names that the package once used:
`model.input` / `model.output` for a Functional model's
`_inputs_struct` / `_outputs_struct`; `keras_tuner.engine.trial` for
`keras_tuner.src.engine.trial`; an initializer's `get_config()["seed"]`
for `_init_seed`.

`keras_mtl._compat.tensorflow.replica_context` is public API only: the one
helper that answers "which replica context does this training step talk
to", kept beside the other distribution seams.
"""
