"""Distributed search with Keras Tuner's own chief/worker mode.

Keras Tuner runs one *chief* process, which holds the oracle and answers
gRPC requests, and any number of *workers*, which ask it for trials, train
them and report back. Each process runs the same script; three environment
variables give each its role:

```
KERASTUNER_ORACLE_IP     address of the chief's server (here 127.0.0.1
                         by default: nothing listens beyond this machine)
KERASTUNER_ORACLE_PORT   its port
KERASTUNER_TUNER_ID      "chief" for the chief, a distinct id per worker
                         ("tuner0", "tuner1", ...)
```

Keras Tuner's chief waits for every worker it has seen to finish, so a
worker that dies mid-trial leaves it waiting forever. `search` adds the
missing liveness check without changing the protocol: workers send a
heartbeat (a read-only `GetTrial` request) while they run a trial, and the
chief ends a trial whose worker has been silent for `heartbeat_timeout`
seconds as failed (`INVALID`, so another worker retries it when the
tuner's `max_retries_per_trial` allows), forgets that worker, ignores any
late report of that trial, and shuts down once no trial is left. The chief
serves Keras Tuner's own gRPC servicer (`keras_tuner.src.distribute`, as in
keras-tuner 1.4, which pyproject pins) with that bookkeeping added.

Recipe (one script, three processes):

```python
# tune.py
import keras, keras_tuner, keras_mtl
from keras_mtl.tuning import distributed

hypermodel = keras_mtl.tuning.MultiTaskHyperModel(keras.Input((100,)), tasks)
tuner = keras_tuner.RandomSearch(
    hypermodel, objective=keras_mtl.tuning.task_objective("task_1", "loss"),
    max_trials=20, max_retries_per_trial=1, directory="tuning",
    project_name="mmoe", overwrite=distributed.is_chief())
distributed.search(tuner, x, y, validation_data=(x_val, y_val), epochs=5)
```

then either start the processes yourself (one shell each, same folder):

```
KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
    KERASTUNER_TUNER_ID=chief python tune.py
KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
    KERASTUNER_TUNER_ID=tuner0 python tune.py
KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
    KERASTUNER_TUNER_ID=tuner1 python tune.py
```

or let `launch` do it:

```python
with distributed.launch(["python", "tune.py"], num_workers=2) as cluster:
    cluster.wait(timeout=3600)
```

All processes must see the same `directory` (a shared file system across
machines). Only the chief should overwrite it (`overwrite=is_chief()`).
To serve other machines, bind the chief to a reachable address
(`ip="0.0.0.0"` or the host's address) on a trusted network: the gRPC
channel is not authenticated.
"""

import os
import socket
import subprocess
import threading
import time
from concurrent import futures
from typing import Any
from typing import Mapping
from typing import Sequence

import keras_tuner

DEFAULT_IP = "127.0.0.1"
CHIEF_ID = "chief"
_IP = "KERASTUNER_ORACLE_IP"
_PORT = "KERASTUNER_ORACLE_PORT"
_ID = "KERASTUNER_TUNER_ID"


def free_port(ip: str = DEFAULT_IP) -> int:
    """A TCP port that is free on `ip` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


def environment(tuner_id: str, port: int, ip: str = DEFAULT_IP
                ) -> dict[str, str]:
    """The three Keras Tuner variables for one process."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(
            f"Argument `port` must be an int in (0, 65536). Received: "
            f"port={port!r}."
        )
    return {_IP: ip, _PORT: str(port), _ID: str(tuner_id)}


def role() -> str | None:
    """`"chief"`, `"worker"`, or None when not in distributed mode."""
    if _IP not in os.environ:
        return None
    missing = [v for v in (_PORT, _ID) if v not in os.environ]
    if missing:
        raise RuntimeError(
            f"{_IP} is set but {missing} are not. Set all three of {_IP}, "
            f"{_PORT} and {_ID} (see keras_mtl.tuning.distributed)."
        )
    return "chief" if CHIEF_ID in os.environ[_ID] else "worker"


def is_chief() -> bool:
    """True in the chief process (and outside distributed mode, where the
    only process plays both roles)."""
    return role() in (None, "chief")


# ----------------------------------------------------------------------
# Chief.


def _servicer_class() -> type:
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    service = protos.get_service()

    class WatchedServicer(OracleServicer):
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
    from keras_tuner.src.engine import trial as trial_module

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
        trial.status = (trial_module.TrialStatus.INVALID if oracle.tuner_ids
                        else trial_module.TrialStatus.FAILED)
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
    from keras_tuner.src import protos

    if heartbeat_timeout <= 0:
        raise ValueError(
            "Argument `heartbeat_timeout` must be > 0. Received: "
            f"heartbeat_timeout={heartbeat_timeout}."
        )
    oracle = tuner.oracle
    tuner.save()
    servicer = _servicer_class()(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = f"{os.environ[_IP]}:{os.environ[_PORT]}"
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


# ----------------------------------------------------------------------
# Workers.


class _Heartbeat:
    """Sends `GetTrial(trial_id)` to the chief every `interval` seconds
    while a trial runs."""

    def __init__(self, interval: float) -> None:
        import grpc
        from keras_tuner.src import protos

        self.interval = interval
        self.request = protos.get_service().GetTrialRequest
        channel = grpc.insecure_channel(
            f"{os.environ[_IP]}:{os.environ[_PORT]}")
        self.stub = protos.get_service_grpc().OracleStub(channel)
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


def search(tuner: keras_tuner.Tuner, *fit_args: Any,
           heartbeat_interval: float = 2.0,
           heartbeat_timeout: float = 30.0,
           grace: float = 5.0, **fit_kwargs: Any) -> None:
    """`tuner.search(...)` in any role, with worker liveness checks.

    Outside distributed mode this is `tuner.search`. In the chief it
    serves the oracle (`run_chief`); in a worker it runs
    `tuner.search` while sending heartbeats during each trial.

    Args:
        tuner: A Keras Tuner tuner built in this process.
        *fit_args, **fit_kwargs: The arguments of `tuner.search`.
        heartbeat_interval: Seconds between a worker's heartbeats.
        heartbeat_timeout: Seconds of silence after which the chief ends a
            trial as lost; keep it several times `heartbeat_interval`.
        grace: Seconds the chief waits for workers after the last trial.
    """
    current = role()
    if current is None:
        tuner.search(*fit_args, **fit_kwargs)
        return
    if heartbeat_timeout <= heartbeat_interval:
        raise ValueError(
            "Argument `heartbeat_timeout` must exceed `heartbeat_interval`. "
            f"Received: heartbeat_timeout={heartbeat_timeout}, "
            f"heartbeat_interval={heartbeat_interval}."
        )
    if current == "chief":
        if "verbose" in fit_kwargs:
            tuner.oracle.verbose = fit_kwargs["verbose"]
        run_chief(tuner, heartbeat_timeout=heartbeat_timeout, grace=grace)
        return
    heartbeat = _Heartbeat(heartbeat_interval)
    on_trial_begin, on_trial_end = tuner.on_trial_begin, tuner.on_trial_end

    def begin(trial: Any) -> None:
        heartbeat.start(trial.trial_id)
        on_trial_begin(trial)

    def end(trial: Any) -> None:
        # Stop beating before the trial is ended at the chief.
        heartbeat.stop()
        on_trial_end(trial)

    tuner.on_trial_begin = begin
    tuner.on_trial_end = end
    try:
        tuner.search(*fit_args, **fit_kwargs)
    finally:
        heartbeat.stop()
        tuner.on_trial_begin = on_trial_begin
        tuner.on_trial_end = on_trial_end


# ----------------------------------------------------------------------
# Launching.


class Cluster:
    """A chief and its workers running as subprocesses (see `launch`).

    Attributes:
        chief: The chief's `subprocess.Popen`.
        workers: The workers' `subprocess.Popen`s, by tuner id.
        port: The chief's port.
        ip: The chief's address.
    """

    def __init__(self, chief: subprocess.Popen,
                 workers: dict[str, subprocess.Popen], ip: str,
                 port: int) -> None:
        self.chief = chief
        self.workers = workers
        self.ip = ip
        self.port = port

    def wait(self, timeout: float | None = None,
             worker_grace: float = 30.0, chief_grace: float = 60.0,
             poll: float = 0.2) -> int:
        """Waits for the chief, then for the workers; returns the chief's
        exit code.

        Args:
            timeout: Seconds to wait for the chief (None: no limit). On
                timeout every process is stopped and
                `subprocess.TimeoutExpired` is raised.
            worker_grace: Seconds the workers get to exit after the chief;
                then they are killed.
            chief_grace: Seconds the chief gets to finish once every worker
                has exited (it ends the trials they left); then every
                process is stopped and RuntimeError is raised.
            poll: Seconds between checks.
        """
        start = time.monotonic()
        workers_gone_at = None
        while self.chief.poll() is None:
            now = time.monotonic()
            if timeout is not None and now - start > timeout:
                self.terminate()
                raise subprocess.TimeoutExpired(self.chief.args, timeout)
            if all(p.poll() is not None for p in self.workers.values()):
                workers_gone_at = workers_gone_at or now
                if now - workers_gone_at > chief_grace:
                    self.terminate()
                    raise RuntimeError(
                        "Every worker has exited but the chief did not "
                        f"finish within {chief_grace} s; stopped it. Check "
                        "the workers' output for errors."
                    )
            time.sleep(poll)
        code = self.chief.returncode
        deadline = time.monotonic() + worker_grace
        for process in self.workers.values():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return code

    def terminate(self) -> None:
        """Stops every process still running."""
        for process in [self.chief, *self.workers.values()]:
            if process.poll() is None:
                process.kill()
                process.wait()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.terminate()


def launch(command: Sequence[str], num_workers: int = 2,
           ip: str = DEFAULT_IP, port: int | None = None,
           env: Mapping[str, str] | None = None,
           worker_env: Mapping[str, Mapping[str, str]] | None = None,
           cwd: str | os.PathLike | None = None,
           stdout: Any = None, stderr: Any = None) -> Cluster:
    """Starts a chief and `num_workers` workers running `command`.

    Args:
        command: The program and arguments each process runs, e.g.
            `[sys.executable, "tune.py"]`; it calls
            `keras_mtl.tuning.distributed.search`.
        num_workers: Number of workers (ids `tuner0`, `tuner1`, ...).
        ip: The chief's address (default 127.0.0.1: this machine only).
        port: The chief's port (default: a free one).
        env: Extra environment variables for every process.
        worker_env: Extra variables per worker id.
        cwd: Working directory of the processes.
        stdout, stderr: As in `subprocess.Popen` (default: inherited).

    Returns:
        A `Cluster`; call `wait(timeout)` on it.
    """
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(
            "Argument `num_workers` must be an int >= 1. Received: "
            f"num_workers={num_workers!r}."
        )
    port = free_port(ip) if port is None else port
    base = {**os.environ, **dict(env or {})}

    def start(tuner_id: str, extra: Mapping[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            list(command), cwd=cwd, stdout=stdout, stderr=stderr,
            env={**base, **dict(extra), **environment(tuner_id, port, ip)})

    chief = start(CHIEF_ID, {})
    workers = {}
    try:
        for i in range(num_workers):
            tuner_id = f"tuner{i}"
            workers[tuner_id] = start(
                tuner_id, (worker_env or {}).get(tuner_id, {}))
    except Exception:
        Cluster(chief, workers, ip, port).terminate()
        raise
    return Cluster(chief, workers, ip, port)


__all__ = [
    "CHIEF_ID",
    "Cluster",
    "DEFAULT_IP",
    "environment",
    "free_port",
    "is_chief",
    "launch",
    "role",
    "run_chief",
    "search",
]
