"""Keras Tuner private names that keras_mtl needs, one small function each.

keras_mtl's distributed tuning serves Keras Tuner's own gRPC oracle with
heartbeats added (Keras Tuner's chief waits forever for a worker that
died mid-trial). The gRPC protocol lives in `keras_tuner.src`; nothing of
it is exported. Checked against Keras Tuner 1.4.8 (the package pins
`keras-tuner<1.5` for this reason).
"""

from typing import Any


def oracle_service() -> Any:
    """The module of the oracle service's protobuf messages
    (`GetTrialRequest`, `UpdateTrialResponse`, `EndTrialResponse`, ...).

    Why private: Keras Tuner builds its gRPC messages in
    `keras_tuner.src.protos`, which is not exported.

    Checked against: Keras Tuner 1.4.8.
    """
    from keras_tuner.src import protos

    return protos.get_service()


def oracle_service_grpc() -> Any:
    """The generated gRPC module of the oracle service
    (`OracleStub`, `add_OracleServicer_to_server`).

    Why private: as `oracle_service`, it is reachable only through
    `keras_tuner.src.protos`.

    Checked against: Keras Tuner 1.4.8.
    """
    from keras_tuner.src import protos

    return protos.get_service_grpc()


def oracle_servicer_class() -> type:
    """Keras Tuner's chief-side gRPC servicer class, `OracleServicer(oracle)`,
    to subclass (its methods `CreateTrial`, `GetTrial`, `UpdateTrial`,
    `EndTrial` answer the workers; `stop_triggered` says the search is
    over).

    Why private: the chief's servicer lives in
    `keras_tuner.src.distribute.oracle_chief`; the public
    `keras_tuner` starts it only inside `Tuner.search` with no hook for
    heartbeats.

    Checked against: Keras Tuner 1.4.8.
    """
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    return OracleServicer


def local_oracle(oracle: Any) -> Any:
    """The oracle object that holds the trials: `oracle` itself, or the
    local oracle that a worker's `OracleClient` wraps.

    Why private: in a worker process `tuner.oracle` is an `OracleClient`
    that forwards only a few attributes to the chief; its local copy
    (with `trials`) is `OracleClient._oracle`.

    Checked against: Keras Tuner 1.4.8.
    """
    return getattr(oracle, "_oracle", oracle)
