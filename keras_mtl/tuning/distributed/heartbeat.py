"""A worker's heartbeat: a read-only `GetTrial` request every few seconds.

The chief (`keras_mtl.tuning.distributed.chief`) counts any request that
names a trial as a sign of life, so the heartbeat needs no change to Keras
Tuner's protocol.
"""

import os
import threading

from keras_mtl._compat.keras_tuner import oracle_service
from keras_mtl._compat.keras_tuner import oracle_service_grpc
from keras_mtl.tuning.distributed.roles import ORACLE_IP
from keras_mtl.tuning.distributed.roles import ORACLE_PORT


class Heartbeat:
    """Sends `GetTrial(trial_id)` to the chief every `interval` seconds
    while a trial runs."""

    def __init__(self, interval: float) -> None:
        import grpc

        self.interval = interval
        self.request = oracle_service().GetTrialRequest
        channel = grpc.insecure_channel(
            f"{os.environ[ORACLE_IP]}:{os.environ[ORACLE_PORT]}")
        self.stub = oracle_service_grpc().OracleStub(channel)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def _run(self, trial_id: str) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.stub.GetTrial(self.request(trial_id=trial_id),
                                   timeout=max(self.interval, 1.0))
            except Exception:  # A missed beat is retried at the next one.
                continue

    def start(self, trial_id: str) -> None:
        self.stop()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(trial_id,), daemon=True,
            name=f"keras_mtl_heartbeat_{trial_id}")
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.stop_event.set()
            self.thread.join()
            self.thread = None
