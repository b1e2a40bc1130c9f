"""The chief: Keras Tuner's oracle server with liveness bookkeeping.

Keras Tuner 1.4.8's chief waits forever for a worker that died mid-trial.
The servicer here records when each trial was last heard of (any request
naming it, heartbeats included); `run_chief` ends trials silent for
`heartbeat_timeout` seconds as failed and stops once no trial is left.
It subclasses Keras Tuner's own servicer, reached through
`keras_mtl._compat.keras_tuner` (it lives in `keras_tuner.src.distribute`,
as in keras-tuner 1.4, which pyproject pins): Keras Tuner has no public
API for it.
"""

import os
import threading
import time
from concurrent import futures
from typing import Any

import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from keras_mtl._compat.keras_tuner import oracle_service
from keras_mtl._compat.keras_tuner import oracle_service_grpc
from keras_mtl._compat.keras_tuner import oracle_servicer_class
from keras_mtl.tuning.distributed.roles import ORACLE_IP
from keras_mtl.tuning.distributed.roles import ORACLE_PORT


def _servicer_class() -> type:
    service = oracle_service()

    class WatchedServicer(oracle_servicer_class()):  # type: ignore[misc]
        """Keras Tuner's servicer, recording when each trial was last
        heard of and ignoring reports of trials declared lost."""

        def __init__(self, oracle: Any) -> None:
            super().__init__(oracle)
            self.last_seen: dict[str, float] = {}
            self.lost: set[str] = set()
            self.lock = threading.Lock()

        def touch(self, trial_id: str) -> None:
            with self.lock:
                self.last_seen[trial_id] = time.monotonic()

        def CreateTrial(self, request: Any, context: Any) -> Any:
            response = super().CreateTrial(request, context)
            trial = self.oracle.ongoing_trials.get(request.tuner_id)
            if trial is not None:
                with self.lock:
                    self.lost.discard(trial.trial_id)
                self.touch(trial.trial_id)
            return response

        def GetTrial(self, request: Any, context: Any) -> Any:
            if request.trial_id not in self.lost:
                self.touch(request.trial_id)
            return super().GetTrial(request, context)

        def UpdateTrial(self, request: Any, context: Any) -> Any:
            if request.trial_id in self.lost:
                trial = self.oracle.get_trial(request.trial_id)
                return service.UpdateTrialResponse(trial=trial.to_proto())
            self.touch(request.trial_id)
            return super().UpdateTrial(request, context)

        def EndTrial(self, request: Any, context: Any) -> Any:
            if request.trial.trial_id in self.lost:
                return service.EndTrialResponse()
            response = super().EndTrial(request, context)
            with self.lock:
                self.last_seen.pop(request.trial.trial_id, None)
            return response

    return WatchedServicer


@keras_tuner.synchronized
def _end_lost_trials(oracle: Any, servicer: Any, timeout: float) -> list:
    """Ends the trials whose worker has been silent for `timeout` s."""
    now = time.monotonic()
    ended = []
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        seen = servicer.last_seen.get(trial.trial_id, now)
        if trial.trial_id not in servicer.last_seen:
            servicer.touch(trial.trial_id)
        if now - seen <= timeout:
            continue
        with servicer.lock:
            servicer.lost.add(trial.trial_id)
            servicer.last_seen.pop(trial.trial_id, None)
        oracle.tuner_ids.discard(tuner_id)
        # INVALID sends the trial to another worker when the tuner allows
        # retries; with no worker left it could never run: FAILED.
        trial.status = (TrialStatus.INVALID if oracle.tuner_ids
                        else TrialStatus.FAILED)
        trial.message = (
            f"Worker {tuner_id!r} sent no heartbeat for {now - seen:.1f} s "
            f"(heartbeat_timeout={timeout}); the trial was ended as lost.")
        try:
            oracle.end_trial(trial)
        except RuntimeError as error:
            # Too many consecutive failures: Keras Tuner's own limit.
            trial.message += f" {error}"
        ended.append((tuner_id, trial.trial_id))
    return ended


def run_chief(tuner: keras_tuner.Tuner, heartbeat_timeout: float = 30.0,
              grace: float = 5.0, poll: float = 0.2) -> None:
    """Serves the tuner's oracle until the search is over.

    The search is over when the oracle has stopped handing out trials
    (max_trials reached or space exhausted) and no trial is running; the
    chief then waits up to `grace` seconds for the workers it knows to
    collect their stop signal.

    Args:
        tuner: The chief's tuner (its oracle is served).
        heartbeat_timeout: Seconds of silence after which a running trial
            is ended as lost.
        grace: Seconds to wait for known workers after the last trial.
        poll: Seconds between checks.
    """
    import grpc

    if heartbeat_timeout <= 0:
        raise ValueError(
            "Argument `heartbeat_timeout` must be > 0. Received: "
            f"heartbeat_timeout={heartbeat_timeout}."
        )
    oracle = tuner.oracle
    tuner.save()
    servicer = _servicer_class()(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    oracle_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = f"{os.environ[ORACLE_IP]}:{os.environ[ORACLE_PORT]}"
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(
            f"The chief could not listen on {address}. Pick a free port "
            "(keras_mtl.tuning.distributed.free_port())."
        )
    server.start()
    stopped_at = None
    try:
        while True:
            time.sleep(poll)
            for tuner_id, trial_id in _end_lost_trials(
                    oracle, servicer, heartbeat_timeout):
                print(f"[chief] worker {tuner_id} lost; trial {trial_id} "
                      "ended as failed.", flush=True)
            if not servicer.stop_triggered or oracle.ongoing_trials:
                continue
            if not oracle.tuner_ids:
                break
            stopped_at = stopped_at or time.monotonic()
            if time.monotonic() - stopped_at > grace:
                break
    finally:
        server.stop(grace=1.0)
        oracle.save()
